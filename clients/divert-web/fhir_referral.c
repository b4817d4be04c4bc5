/*  fhir_referral — one referral as FHIR resources (HL7 SDOH Clinical Care
    3.0.0, FHIR R4), from the facts of divert.web_fhir_referral(s)
    (sql/013_fhir.sql), and a source as the Organization they name:

      Task (SDOHCC Task For Referral Management): id the referral's row id;
        status, businessStatus, statusReason from web_fhir_status; intent
        order; code task-code#fulfill; focus the ServiceRequest (and its
        referral_id); for the person, as a pseudonym only; authoredOn when
        divert received the referral; lastModified its latest decision or
        enrollment change; requester the source; owner the program;
        priority urgent for tier 1 (arrest diversion), else routine.
      ServiceRequest (SDOHCC ServiceRequest): the same id; identifier the
        source's referral_id (urn:uuid:, assigned by the source); status
        active | completed | revoked (web_fhir_status); intent order;
        category US Core sdoh; code SNOMED CT 464001000124109 "Referral to
        case manager"; subject the pseudonym; authoredOn the source's
        submitted_at; requester the source; performer the program.
      Organization (US Core Organization): a source, id its source id with
        '_' written '.'; name, and active while its key is not revoked.

    The person is never named: Task.for and ServiceRequest.subject are a
    Patient reference by identifier only (urn:uuid: of a per-referral
    pseudonym), with no display. Nothing of the referral's payload (names,
    date of birth, contact, notes, offense, area, housing) is used here.
*/
#include "web.h"

#include <czmq.h>

static const char *
s_str (json_t *facts, const char *key)
{
    return json_string_value (json_object_get (facts, key));
}

void
web_fhir_source_ref (const char *source_id, char *id, size_t size)
{
    snprintf (id, size, "%s", source_id ? source_id : "");
    for (char *c = id; *c; c++)
        if (*c == '_')
            *c = '.';
}

static json_t *
s_meta (json_t *facts, const char *profile)
{
    return json_pack ("{s:s*, s:[s]}", "lastUpdated", s_str (facts, "last_modified"), "profile", profile);
}

//  The person the referral is about: a pseudonym, nothing else.
static json_t *
s_subject (json_t *facts)
{
    char value [64];
    snprintf (value, sizeof value, "urn:uuid:%s", s_str (facts, "subject") ? s_str (facts, "subject") : "");
    return json_pack ("{s:s, s:{s:s, s:s}}", "type", "Patient",
                      "identifier", "system", "urn:ietf:rfc:3986", "value", value);
}

static json_t *
s_requester (json_t *facts)
{
    char id [80], reference [96];
    web_fhir_source_ref (s_str (facts, "source_id"), id, sizeof id);
    snprintf (reference, sizeof reference, "Organization/%s", id);
    return json_pack ("{s:s, s:s*}", "reference", reference, "display", s_str (facts, "source_name"));
}

//  The program (or NULL when the referral has none).
static json_t *
s_program (json_t *facts)
{
    const char *program = s_str (facts, "program");
    if (!program)
        return NULL;
    char reference [64];
    snprintf (reference, sizeof reference, "HealthcareService/%s", program);
    return json_pack ("{s:s, s:s}", "reference", reference, "display", program);
}

static json_t *
s_referral_identifier (json_t *facts)
{
    char value [64];
    snprintf (value, sizeof value, "urn:uuid:%s", s_str (facts, "referral_id") ? s_str (facts, "referral_id") : "");
    return json_pack ("{s:s, s:s, s:o}", "system", "urn:ietf:rfc:3986", "value", value, "assigner", s_requester (facts));
}

static web_fhir_status_t
s_status (json_t *facts)
{
    return web_fhir_status (s_str (facts, "state"), s_str (facts, "reason"), s_str (facts, "enrollment_status"),
                            s_str (facts, "exit_reason"));
}

static const char *
s_priority (json_t *facts)
{
    return json_integer_value (json_object_get (facts, "tier")) == 1 ? "urgent" : "routine";
}

json_t *
web_fhir_task (json_t *facts)
{
    char id [24], focus [48];
    snprintf (id, sizeof id, "%" JSON_INTEGER_FORMAT, json_integer_value (json_object_get (facts, "id")));
    snprintf (focus, sizeof focus, "ServiceRequest/%s", id);
    web_fhir_status_t status = s_status (facts);
    json_t *task = json_pack ("{s:s, s:s, s:o, s:s}", "resourceType", "Task", "id", id,
                              "meta", s_meta (facts, WEB_FHIR_TASK_PROFILE), "status", status.status);
    if (status.reason)
        json_object_set_new (task, "statusReason", json_pack ("{s:s}", "text", status.reason));
    if (status.business)
        json_object_set_new (task, "businessStatus", json_pack ("{s:s}", "text", status.business));
    json_object_set_new (task, "intent", json_string ("order"));
    json_object_set_new (task, "priority", json_string (s_priority (facts)));
    json_object_set_new (task, "code", json_pack ("{s:[{s:s, s:s, s:s}]}", "coding",
        "system", "http://hl7.org/fhir/CodeSystem/task-code", "code", "fulfill", "display", "Fulfill the focal request"));
    json_object_set_new (task, "focus", json_pack ("{s:s, s:o}", "reference", focus,
                                                   "identifier", s_referral_identifier (facts)));
    json_object_set_new (task, "for", s_subject (facts));
    json_object_set_new (task, "authoredOn", json_string (s_str (facts, "received_at")));
    json_object_set_new (task, "lastModified", json_string (s_str (facts, "last_modified")));
    json_object_set_new (task, "requester", s_requester (facts));
    json_t *owner = s_program (facts);
    if (owner)
        json_object_set_new (task, "owner", owner);
    return task;
}

json_t *
web_fhir_service_request (json_t *facts)
{
    char id [24];
    snprintf (id, sizeof id, "%" JSON_INTEGER_FORMAT, json_integer_value (json_object_get (facts, "id")));
    web_fhir_status_t status = s_status (facts);
    json_t *request = json_pack ("{s:s, s:s, s:o, s:[o], s:s, s:s}", "resourceType", "ServiceRequest", "id", id,
        "meta", s_meta (facts, WEB_FHIR_REQUEST_PROFILE), "identifier", s_referral_identifier (facts),
        "status", status.request_status, "intent", "order");
    json_object_set_new (request, "category", json_pack ("[{s:[{s:s, s:s, s:s}]}]", "coding",
        "system", WEB_FHIR_US_CORE_CATEGORY, "code", "sdoh", "display", "SDOH"));
    json_object_set_new (request, "priority", json_string (s_priority (facts)));
    json_object_set_new (request, "code", json_pack ("{s:[{s:s, s:s, s:s}], s:s}", "coding",
        "system", "http://snomed.info/sct", "code", "464001000124109", "display", "Referral to case manager",
        "text", "Referral to diversion case management (LEAD / Co-LEAD)"));
    json_object_set_new (request, "subject", s_subject (facts));
    json_object_set_new (request, "authoredOn", json_string (s_str (facts, "submitted_at")));
    json_object_set_new (request, "requester", s_requester (facts));
    json_t *performer = s_program (facts);
    if (performer)
        json_object_set_new (request, "performer", json_pack ("[o]", performer));
    return request;
}

json_t *
web_fhir_organization (json_t *source)
{
    char id [80];
    web_fhir_source_ref (s_str (source, "id"), id, sizeof id);
    return json_pack ("{s:s, s:s, s:{s:[s]}, s:b, s:s*}", "resourceType", "Organization", "id", id,
        "meta", "profile", WEB_FHIR_ORGANIZATION_PROFILE,
        "active", !json_is_true (json_object_get (source, "revoked")), "name", s_str (source, "name"));
}
