/*  fhir_service — each program as a HealthcareService (SDOHCC Healthcare
    Service for Referral Management, HL7 SDOH Clinical Care 3.0.0) with the
    guide's capacity-status extension (SDOHCC-ExtensionHealthcareService
    CapacityStatus: capacityStatus, a code of SDOHCC-ValueSetCapacityStatus,
    and capacityNotes, the numbers behind it in words).

    Capacity is computed as divertd computes it: the program's policy row
    (dv_program_load), its active case managers' caseloads and its waitlist
    length into dv_policy_capacity, then web_fhir_capacity (fhir_status.c)
    for what a new tier-2 referral would get. The profile's other required
    elements: active (true), category US Core sdoh, type (the program's
    model, as text: no code of the guide's service types fits case
    management), name.
*/
#include "web.h"
#include "dv_program.h"

#include <czmq.h>

#define S_CMS_MAX 512

static const char *
s_model (const char *model)
{
    if (model && streq (model, "ICM"))
        return "Intensive Case Management (ICM)";
    if (model && streq (model, "ACT"))
        return "Assertive Community Treatment (ACT)";
    return model ? model : "Case management";
}

static json_t *
s_service (json_t *row, json_t *case_managers, json_t *waitlist)
{
    dv_program_t policy;
    dv_program_load (&policy, row);
    dv_cm_t cms [S_CMS_MAX];
    size_t n = 0, index;
    json_t *cm;
    json_array_foreach (case_managers, index, cm)
        if (n < S_CMS_MAX && streq (json_string_value (json_object_get (cm, "program")), policy.name)) {
            cms [n].id = json_string_value (json_object_get (cm, "id"));
            cms [n].caseload = (int) json_integer_value (json_object_get (cm, "caseload"));
            cms [n++].last_assigned = 0;
        }
    int waiting = (int) json_integer_value (json_object_get (waitlist, policy.name));
    dv_capacity_t capacity = dv_policy_capacity (&policy, cms, n, waiting);
    const char *code = web_fhir_capacity (&policy, &capacity);
    char notes [300];
    snprintf (notes, sizeof notes, "%d free under the pacing line (%d held for arrest diversion), %d waiting; "
              "%d of %d case managers below the hard cap of %d.", capacity.free > 0 ? capacity.free : 0,
              policy.reserve_tier1, waiting, capacity.open_slots, capacity.n, policy.hard_cap);
    json_t *extension = json_pack ("{s:s, s:[{s:s, s:{s:[{s:s, s:s, s:s}]}}, {s:s, s:s}]}",
        "url", WEB_FHIR_CAPACITY_EXTENSION, "extension",
        "url", "capacityStatus", "valueCodeableConcept", "coding", "system", WEB_FHIR_TEMPORARY_CODES,
        "code", code, "display", web_fhir_capacity_display (code),
        "url", "capacityNotes", "valueString", notes);
    return json_pack ("{s:s, s:s, s:{s:[s]}, s:[o], s:b, s:[{s:[{s:s, s:s, s:s}]}], s:[{s:s}], s:s}",
        "resourceType", "HealthcareService", "id", policy.name, "meta", "profile", WEB_FHIR_SERVICE_PROFILE,
        "extension", extension, "active", 1,
        "category", "coding", "system", WEB_FHIR_US_CORE_CATEGORY, "code", "sdoh", "display", "SDOH",
        "type", "text", s_model (json_string_value (json_object_get (row, "model"))), "name", policy.name);
}

json_t *
web_fhir_services (json_t *programs, json_t *case_managers, json_t *waitlist)
{
    json_t *services = json_array ();
    size_t index;
    json_t *row;
    json_array_foreach (programs, index, row)
        json_array_append_new (services, s_service (row, case_managers, waitlist));
    return services;
}
