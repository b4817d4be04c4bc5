/*  fhir_status — divert's states in FHIR's codes, the one place they are
    mapped (pure: no database, no I/O; tests/unit/test_fhir.c).

    A referral's Task (SDOHCC Task For Referral Management; its status is
    bound to SDOHCC-ValueSetReferralTaskStatus, FHIR's task-status without
    ready and received) follows the referral and, once accepted, its
    enrollment (for a referral linked to a waitlist entry, the entry's):

      divert                              Task.status   businessStatus     statusReason
      waitlisted                          accepted      waitlisted         -
      accepted, intake pending            accepted      intake pending     -
      intake completed (active)           in-progress   active             -
      in the wind                         in-progress   in the wind        -
      discharged (exited, any reason      completed     discharged         the reason in words
        of the case manager, term ended)
      intake not completed in time        failed        intake lapsed      "intake was not completed in time"
      declined (any reason but expiry)    rejected      declined           the reason in words
      waitlist expired                    cancelled     waitlist expired   "the referral waited longer ..."
      withdrawn by the referrer           cancelled     withdrawn          "withdrawn by the referrer"

    ServiceRequest.status follows the Task: active while the Task is
    accepted or in progress, completed with it, revoked when it was rejected,
    cancelled or failed (the request ended before it was fulfilled).

    A program's capacity status (the guide's capacity-status extension,
    SDOHCC-ValueSetCapacityStatus) is what divertd would do now with a new
    tier-2 referral (community partner, police social contact), by the same
    rule (dv_policy_capacity_rule): accept -> capacity, waitlist ->
    waitlist ("No Capacity - Has Waitlist"), decline (the waitlist is full)
    -> no-capacity.
*/
#include "web.h"

#include <czmq.h>

static web_fhir_status_t
s_status (const char *status, const char *business, const char *reason)
{
    const char *request = streq (status, "completed") ? "completed"
                        : streq (status, "accepted") || streq (status, "in-progress") ? "active"
                        : "revoked";
    return (web_fhir_status_t) { status, business, reason, request };
}

//  An enrollment's status (there is one: the referral was accepted).
static web_fhir_status_t
s_enrolled (const char *enrollment, const char *exit_reason)
{
    if (streq (enrollment, "pending_intake"))
        return s_status ("accepted", "intake pending", NULL);
    if (streq (enrollment, "active"))
        return s_status ("in-progress", "active", NULL);
    if (streq (enrollment, "in_the_wind"))
        return s_status ("in-progress", "in the wind", NULL);
    //  exited
    if (exit_reason && streq (exit_reason, "withdrawn"))
        return s_status ("cancelled", "withdrawn", web_words_reason ("withdrawn"));
    if (exit_reason && streq (exit_reason, "intake_lapsed"))
        return s_status ("failed", "intake lapsed", web_words_reason ("intake_lapsed"));
    return s_status ("completed", "discharged", web_words_exit (exit_reason));
}

web_fhir_status_t
web_fhir_status (const char *state, const char *reason, const char *enrollment, const char *exit_reason)
{
    if (enrollment)
        return s_enrolled (enrollment, exit_reason);
    if (!state)
        state = "";
    if (streq (state, "waitlisted"))
        return s_status ("accepted", "waitlisted", NULL);
    if (streq (state, "withdrawn"))
        return s_status ("cancelled", "withdrawn", web_words_reason ("withdrawn"));
    if (streq (state, "declined") && reason && streq (reason, "waitlist_expired"))
        return s_status ("cancelled", "waitlist expired", web_words_reason (reason));
    if (streq (state, "declined"))
        return s_status ("rejected", "declined", web_words_reason (reason));
    if (streq (state, "lapsed"))
        return s_status ("failed", "intake lapsed", web_words_reason ("intake_lapsed"));
    if (streq (state, "exited"))
        return s_status ("completed", "discharged", web_words_exit (NULL));
    //  accepted (its enrollment not in view) or a state this build does not know
    return s_status ("accepted", NULL, NULL);
}

const char *
web_fhir_capacity (const dv_program_t *program, const dv_capacity_t *capacity)
{
    dv_outcome_t outcome = dv_policy_capacity_rule (program, 2, capacity, false);
    if (outcome.decision == DV_DECISION_ACCEPT)
        return "capacity";
    if (outcome.decision == DV_DECISION_WAITLIST)
        return "waitlist";
    return "no-capacity";
}

const char *
web_fhir_capacity_display (const char *code)
{
    //  The guide's displays (SDOHCC-CodeSystemTemporaryCodes)
    if (code && streq (code, "capacity"))
        return "Has Capacity";
    if (code && streq (code, "waitlist"))
        return "No Capacity - Has Waitlist";
    return "No Capacity";
}
