/*  decide — every decision divertd makes. See decide.h. */
#include "decide.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Steps 1 and 2: may this kind of source send this, and is it a resubmission?
//  True when the verdict is made here.
static bool
s_answer_without_deciding (dv_snapshot_t *snapshot, const char *sender_id, const char *sender_kind,
                           const dv_referral_t *r, const char *digest, const dv_lookup_t *lookup,
                           dv_verdict_t *verdict)
{
    const char *pathway = dv_pathway_name (r->pathway);
    if (dv_snapshot_revoked (snapshot, sender_id)) {
        verdict->kind = DV_VERDICT_REFUSED;
        verdict->error_code = "forbidden";
        snprintf (verdict->error_message, sizeof verdict->error_message,
                  "this key was revoked; contact the program's operator");
        return true;
    }
    if (!dv_snapshot_may_send (snapshot, sender_kind, pathway)) {
        verdict->kind = DV_VERDICT_REFUSED;
        verdict->error_code = "forbidden";
        snprintf (verdict->error_message, sizeof verdict->error_message,
                  "a %s source may not send %s referrals", sender_kind, pathway);
        return true;
    }
    if (lookup->earlier_digest) {
        if (strcmp (lookup->earlier_digest, digest) == 0 && json_is_object (lookup->earlier_reply))
            verdict->kind = DV_VERDICT_REPLAYED;
        else {
            verdict->kind = DV_VERDICT_REFUSED;
            verdict->error_code = "conflict";
            snprintf (verdict->error_message, sizeof verdict->error_message,
                      "this referral_id was already sent with different content; use a new referral_id");
        }
        return true;
    }
    return false;
}

//  A waitlist place: position, band from the program's recent exit rate,
//  expiry under the current time-to-live.
static void
s_place (dv_verdict_t *verdict, dv_snap_program_t *program, int position, int64_t received_us)
{
    verdict->position = position ? position : 1;
    verdict->estimate = dv_policy_wait_band (verdict->position, program->exits_90d / 90.0);
    verdict->expires_us = received_us + program->waitlist_ttl_us;
}

//  Step 4's person checks: already enrolled, or linked to the person's open
//  waitlist entry. True when one applies.
static bool
s_person_checks (dv_snapshot_t *snapshot, const dv_lookup_t *lookup, dv_verdict_t *verdict)
{
    int64_t now = dv_snapshot_now_us (snapshot);
    if (lookup->enrolled_program) {
        verdict->outcome = (dv_outcome_t) { DV_DECISION_DECLINE, DV_REASON_ALREADY_ENROLLED };
        dv_snap_program_t *enrolled = dv_snapshot_program_named (snapshot, lookup->enrolled_program);
        if (enrolled)
            verdict->program = enrolled;
        return true;
    }
    if (lookup->waitlist_id) {
        dv_snap_program_t *waiting = dv_snapshot_program_named (snapshot, lookup->waitlist_program);
        if (waiting)
            verdict->program = waiting;
        verdict->outcome = (dv_outcome_t) { DV_DECISION_WAITLIST, DV_REASON_LINKED_TO_PENDING };
        verdict->entry_id = lookup->waitlist_id;
        //  The entry expires under the current policy from when it was made
        const dv_wait_entry_t *entry = dv_snap_program_entry (verdict->program, lookup->waitlist_id);
        int position = entry ? dv_waitlist_position (verdict->program->policy, verdict->program->waitlist->entries,
                                                     verdict->program->waitlist->count, entry, now) : 1;
        s_place (verdict, verdict->program, position, entry ? entry->received_us : now);
        return true;
    }
    return false;
}

void
dv_decide_referral (dv_snapshot_t *snapshot, const char *sender_id, const char *sender_kind,
                    const dv_referral_t *r, const char *digest, const dv_lookup_t *lookup,
                    int64_t new_entry_id, dv_verdict_t *verdict)
{
    memset (verdict, 0, sizeof *verdict);
    verdict->cm_index = -1;
    if (s_answer_without_deciding (snapshot, sender_id, sender_kind, r, digest, lookup, verdict))
        return;
    verdict->kind = DV_VERDICT_DECIDED;
    //  Step 3: routing, tier, score
    dv_snap_program_t *program = verdict->program = dv_snapshot_route (snapshot, r->housing);
    assert (program && program->locked);
    verdict->tier = dv_policy_tier (r->pathway);
    verdict->score = dv_policy_score (program->policy, r->pathway, r->substance_use, r->mental_health,
                                      r->prior_contacts_12m, 0);
    verdict->capacity = dv_snap_program_capacity (program);
    //  Step 4: eligibility, then the person's other referrals
    dv_reason_t reason = dv_policy_eligibility (program->policy, r);
    if (reason != DV_REASON_NONE) {
        verdict->outcome = (dv_outcome_t) { DV_DECISION_DECLINE, reason };
        return;
    }
    if (s_person_checks (snapshot, lookup, verdict))
        return;
    //  Step 5: the tier's capacity rule
    int64_t now = dv_snapshot_now_us (snapshot);
    verdict->outcome = dv_policy_capacity_rule (program->policy, verdict->tier, &verdict->capacity, false);
    if (verdict->outcome.decision == DV_DECISION_ACCEPT) {
        verdict->cm_index = dv_policy_assign (program->policy, program->cms, program->cm_count);
        assert (verdict->cm_index >= 0);        //  the capacity rule saw an open slot
        dv_snap_program_assign (program, verdict->cm_index, now);
    }
    else
    if (verdict->outcome.decision == DV_DECISION_WAITLIST) {
        dv_wait_entry_t entry = { new_entry_id, verdict->tier, verdict->score.total, now };
        verdict->entry_id = new_entry_id;
        verdict->entry_new = true;
        s_place (verdict, program, dv_snap_program_wait (program, &entry, now), now);
    }
}

size_t
dv_decide_promotions (dv_snap_program_t *program, int64_t now_us, dv_promotion_t *out, size_t max)
{
    size_t count = program->waitlist->count, made = 0;
    size_t *order = calloc (count + 1, sizeof (size_t));
    dv_wait_entry_t *entries = calloc (count + 1, sizeof (dv_wait_entry_t));
    memcpy (entries, program->waitlist->entries, count * sizeof (dv_wait_entry_t));
    dv_waitlist_order (program->policy, entries, count, now_us, order);
    for (size_t k = 0; k < count && made < max; k++) {
        const dv_wait_entry_t *entry = &entries [order [k]];
        dv_capacity_t capacity = dv_snap_program_capacity (program);
        dv_outcome_t outcome = dv_policy_capacity_rule (program->policy, entry->tier, &capacity, true);
        if (outcome.decision != DV_DECISION_ACCEPT)
            break;
        int cm = dv_policy_assign (program->policy, program->cms, program->cm_count);
        assert (cm >= 0);
        dv_snap_program_assign (program, cm, now_us);
        out [made++] = (dv_promotion_t) {
            entry->id, cm, dv_waitlist_score (program->policy, entry, now_us) - entry->score, capacity
        };
        dv_wait_list_remove (program->waitlist, entry->id);
        program->waitlist_open--;
    }
    free (order);
    free (entries);
    return made;
}

bool
dv_decide_lifecycle (const char *kind, dv_outcome_t *outcome, bool *told)
{
    *told = true;
    if (strcmp (kind, "lapse") == 0)
        *outcome = (dv_outcome_t) { DV_DECISION_LAPSED, DV_REASON_INTAKE_LAPSED };
    else
    if (strcmp (kind, "expiry") == 0)
        *outcome = (dv_outcome_t) { DV_DECISION_DECLINE, DV_REASON_WAITLIST_EXPIRED };
    else
    if (strcmp (kind, "term_end") == 0)
        *told = false;                  //  the slot frees; the referrer is not told
    else
        return false;
    return true;
}

bool
dv_decide_withdraw (const char *referral_state, const char *enrollment_status, dv_outcome_t *outcome,
                    const char **message)
{
    bool waiting = strcmp (referral_state, "waitlisted") == 0;
    bool pending = strcmp (referral_state, "accepted") == 0 && enrollment_status
                && strcmp (enrollment_status, "pending_intake") == 0;
    if (!waiting && !pending) {
        *message = "only a waitlisted referral, or an accepted one still pending intake, can be withdrawn";
        return false;
    }
    *outcome = (dv_outcome_t) { DV_DECISION_WITHDRAWN, DV_REASON_WITHDRAWN };
    return true;
}
