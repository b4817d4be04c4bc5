/*  test_fhir — divert-web's one mapping of divert's states to FHIR codes
    (clients/divert-web/fhir_status.c): every referral state, enrollment
    status and exit reason to Task.status, businessStatus, statusReason and
    ServiceRequest.status; and a program's capacity status at the
    boundaries of the tier-2 capacity rule (policy.md §4).
*/
#include "web.h"
#include "testlib.h"

typedef struct {
    const char *label;
    const char *state, *reason, *enrollment, *exit_reason;
    const char *status, *business, *status_reason, *request;
} s_row_t;

static const s_row_t s_rows [] = {
    //  label                    state         reason                  enrollment        exit_reason
    { "waitlisted",              "waitlisted", "at_capacity",          NULL,             NULL,
      "accepted", "waitlisted", NULL, "active" },
    { "linked to a waiting one", "waitlisted", "linked_to_pending",    NULL,             NULL,
      "accepted", "waitlisted", NULL, "active" },
    { "accepted",                "accepted",   "accepted",             "pending_intake", NULL,
      "accepted", "intake pending", NULL, "active" },
    { "promoted",                "accepted",   "accepted_from_waitlist", "pending_intake", NULL,
      "accepted", "intake pending", NULL, "active" },
    { "intake completed",        "accepted",   "accepted",             "active",         NULL,
      "in-progress", "active", NULL, "active" },
    { "in the wind",             "accepted",   "accepted",             "in_the_wind",    NULL,
      "in-progress", "in the wind", NULL, "active" },
    { "graduated",               "exited",     "accepted",             "exited",         "graduated",
      "completed", "discharged", "graduated", "completed" },
    { "moved",                   "exited",     "accepted",             "exited",         "moved",
      "completed", "discharged", "moved away", "completed" },
    { "term ended",              "exited",     "accepted",             "exited",         "term_ended",
      "completed", "discharged", "term ended", "completed" },
    { "deceased",                "exited",     "accepted",             "exited",         "deceased",
      "completed", "discharged", "deceased", "completed" },
    { "intake lapsed",           "lapsed",     "intake_lapsed",        "exited",         "intake_lapsed",
      "failed", "intake lapsed", "intake was not completed in time", "revoked" },
    { "withdrawn after accept",  "withdrawn",  "withdrawn",            "exited",         "withdrawn",
      "cancelled", "withdrawn", "withdrawn by the referrer", "revoked" },
    { "withdrawn from waitlist", "withdrawn",  "withdrawn",            NULL,             NULL,
      "cancelled", "withdrawn", "withdrawn by the referrer", "revoked" },
    { "waitlist expired",        "declined",   "waitlist_expired",     NULL,             NULL,
      "cancelled", "waitlist expired", "the referral waited longer than the waitlist allows", "revoked" },
    { "declined at capacity",    "declined",   "at_capacity",          NULL,             NULL,
      "rejected", "declined", "the program is full for now", "revoked" },
    { "declined: area",          "declined",   "outside_service_area", NULL,             NULL,
      "rejected", "declined", "outside the service area", "revoked" },
    { "declined: consent",       "declined",   "no_consent",           NULL,             NULL,
      "rejected", "declined", "the person's consent to the referral is required", "revoked" },
    { "declined: enrolled",      "declined",   "already_enrolled",     NULL,             NULL,
      "rejected", "declined", "the person is already enrolled in a program", "revoked" },
    { "declined: reserve",       "declined",   "reserved_for_priority", NULL,            NULL,
      "rejected", "declined", "the free places are held for police and community referrals", "revoked" },
    { "declined: list full",     "declined",   "waitlist_full",        NULL,             NULL,
      "rejected", "declined", "the waitlist is full", "revoked" },
    { "lapsed, no enrollment",   "lapsed",     "intake_lapsed",        NULL,             NULL,
      "failed", "intake lapsed", "intake was not completed in time", "revoked" },
    { "accepted, not in view",   "accepted",   "accepted",             NULL,             NULL,
      "accepted", NULL, NULL, "active" },
};

//  The statuses the guide's SDOHCC-ValueSetReferralTaskStatus allows
//  (FHIR task-status without ready and received).
static bool
s_allowed (const char *status)
{
    static const char *allowed [] = { "draft", "requested", "accepted", "rejected", "cancelled", "on-hold",
                                      "in-progress", "failed", "completed", "entered-in-error", NULL };
    for (int i = 0; status && allowed [i]; i++)
        if (strcmp (status, allowed [i]) == 0)
            return true;
    return false;
}

static bool
s_same (const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp (a, b) == 0);
}

TEST (test_task_status)
{
    for (size_t i = 0; i < sizeof s_rows / sizeof s_rows [0]; i++) {
        const s_row_t *row = &s_rows [i];
        web_fhir_status_t got = web_fhir_status (row->state, row->reason, row->enrollment, row->exit_reason);
        CHECKF (s_same (got.status, row->status), "%s: status %s, expected %s", row->label, got.status, row->status);
        CHECKF (s_same (got.business, row->business), "%s: businessStatus %s, expected %s", row->label,
                got.business ? got.business : "(none)", row->business ? row->business : "(none)");
        CHECKF (s_same (got.reason, row->status_reason), "%s: statusReason %s, expected %s", row->label,
                got.reason ? got.reason : "(none)", row->status_reason ? row->status_reason : "(none)");
        CHECKF (s_same (got.request_status, row->request), "%s: ServiceRequest.status %s, expected %s", row->label,
                got.request_status, row->request);
        CHECKF (s_allowed (got.status), "%s: %s is not in SDOHCC-ValueSetReferralTaskStatus", row->label, got.status);
        //  The guide: rejected, cancelled, on-hold and failed should carry statusReason.text
        bool ended = !strcmp (got.status, "rejected") || !strcmp (got.status, "cancelled")
                  || !strcmp (got.status, "failed") || !strcmp (got.status, "on-hold");
        CHECKF (!ended || (got.reason && *got.reason), "%s: %s without statusReason.text", row->label, got.status);
    }
}

TEST (test_task_status_unknown)
{
    //  Nothing known is still a valid status, never NULL
    web_fhir_status_t got = web_fhir_status (NULL, NULL, NULL, NULL);
    CHECK_STR (got.status, "accepted");
    CHECK_STR (got.request_status, "active");
    got = web_fhir_status ("exited", NULL, "exited", NULL);
    CHECK_STR (got.status, "completed");
    CHECK_STR (got.reason, "no reason recorded");
}

//  A program of two case managers with these caseloads and this waitlist.
static const char *
s_capacity (dv_program_t *program, int a, int b, int waiting)
{
    dv_cm_t cms [2] = { { "cm-a", a, 0 }, { "cm-b", b, 0 } };
    dv_capacity_t capacity = dv_policy_capacity (program, cms, 2, waiting);
    return web_fhir_capacity (program, &capacity);
}

TEST (test_capacity_status)
{
    //  LEAD defaults: hard cap 25, target 20, reserve_tier1 2: paced 40 for two.
    dv_program_t lead;
    dv_program_defaults (&lead, "LEAD");
    CHECK_STR (s_capacity (&lead, 0, 0, 0), "capacity");
    //  T = 37: free 3, free - 1 = 2 >= R1: a tier-2 referral is accepted
    CHECK_STR (s_capacity (&lead, 19, 18, 0), "capacity");
    //  T = 38: free 2, free - 1 = 1 < R1: it would wait
    CHECK_STR (s_capacity (&lead, 19, 19, 0), "waitlist");
    CHECK_STR (s_capacity (&lead, 19, 19, 5), "waitlist");
    //  Everyone at the hard cap: no room even below the pacing line
    lead.target_avg = 30;
    CHECK_STR (s_capacity (&lead, 25, 25, 0), "waitlist");
    lead.target_avg = 20;
    //  The waitlist at its cap: a new referral is declined
    CHECK_STR (s_capacity (&lead, 19, 19, 200), "no-capacity");
    lead.waitlist_cap = 0;
    CHECK_STR (s_capacity (&lead, 19, 19, 0), "no-capacity");
    CHECK_STR (s_capacity (&lead, 0, 0, 0), "capacity");
    //  No case managers at all
    dv_capacity_t none = dv_policy_capacity (&lead, NULL, 0, 0);
    CHECK_STR (web_fhir_capacity (&lead, &none), "no-capacity");
    lead.waitlist_cap = 200;
    none = dv_policy_capacity (&lead, NULL, 0, 0);
    CHECK_STR (web_fhir_capacity (&lead, &none), "waitlist");
    CHECK_STR (web_fhir_capacity_display ("capacity"), "Has Capacity");
    CHECK_STR (web_fhir_capacity_display ("waitlist"), "No Capacity - Has Waitlist");
    CHECK_STR (web_fhir_capacity_display ("no-capacity"), "No Capacity");
}

int
main (void)
{
    TESTLIB_BEGIN ("test_fhir");
    RUN (test_task_status);
    RUN (test_task_status_unknown);
    RUN (test_capacity_status);
    return TESTLIB_END ();
}
