/*  fhir_metadata — divert-web's CapabilityStatement (GET /fhir/metadata):
    what this FHIR R4 server does, for clients to discover. Read-only:
    Task (read, search by _lastUpdated), ServiceRequest (read),
    HealthcareService (read, search: every program with its capacity
    status), Organization (read); JSON only; the profiles of HL7 SDOH
    Clinical Care each resource claims.
*/
#include "web.h"

//  When this statement last changed (CapabilityStatement.date).
#define S_DATE "2026-12-02"

static json_t *
s_interactions (bool search)
{
    json_t *list = json_pack ("[{s:s}]", "code", "read");
    if (search)
        json_array_append_new (list, json_pack ("{s:s}", "code", "search-type"));
    return list;
}

static json_t *
s_resource (const char *type, const char *profile, bool search)
{
    return json_pack ("{s:s, s:[s], s:o, s:b, s:s, s:s}", "type", type, "supportedProfile", profile,
                      "interaction", s_interactions (search), "readHistory", 0, "versioning", "no-version",
                      "conditionalRead", "not-supported");
}

json_t *
web_fhir_capability (const char *base)
{
    json_t *task = s_resource ("Task", WEB_FHIR_TASK_PROFILE, true);
    json_object_set_new (task, "searchParam", json_pack ("[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:s}]",
        "name", "_lastUpdated", "definition", "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
        "type", "date", "documentation", "Task.lastModified, with gt, ge, lt or le and a full instant; "
        "at most one lower and one upper bound. Results in (lastModified, id) order.",
        "name", "_count", "type", "number", "documentation", "entries per page: default 50, at most 500"));
    json_t *resources = json_pack ("[o, o, o, o]", task,
        s_resource ("ServiceRequest", WEB_FHIR_REQUEST_PROFILE, false),
        s_resource ("HealthcareService", WEB_FHIR_SERVICE_PROFILE, true),
        s_resource ("Organization", WEB_FHIR_ORGANIZATION_PROFILE, false));
    json_t *rest = json_pack ("{s:s, s:s, s:{s:b, s:s}, s:o}", "mode", "server",
        "documentation", "Read-only. Referrals as SDOHCC Task and ServiceRequest, programs with their capacity "
        "status; no personal data: the person is a per-referral pseudonym.",
        "security", "cors", 0, "description", "A divert-web session: POST /api/login, then the divert_session "
        "cookie or its token as 'Authorization: Bearer'. Each user sees what their role may: program and admin "
        "every referral, a partner its source's, a case manager the people assigned to them.",
        "resource", resources);
    return json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s}, s:s, s:[s, s], s:[s], s:[o]}",
        "resourceType", "CapabilityStatement", "status", "active", "date", S_DATE, "publisher", "divert",
        "kind", "instance", "fhirVersion", "4.0.1",
        "software", "name", "divert-web", "version", DIVERT_VERSION,
        "implementation", "description", "divert: LEAD / Co-LEAD referral intake (read-only FHIR)", "url", base,
        "name", "DivertWeb",
        "format", "application/fhir+json", "json",
        "implementationGuide", WEB_FHIR_SDOHCC "/ImplementationGuide/hl7.fhir.us.sdoh-clinicalcare",
        "rest", rest);
}
