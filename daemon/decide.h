/*  decide — every place divertd makes a decision, and the pure core of it.

    One referral's path, from socket to reply:
      server.c       s_handle_request answers at once what needs no database:
                     invalid input, ping, a revoked key, what each kind of key
                     may send (s_not_permitted), unavailable (database down,
                     queue full, stopping); queues the rest for the store
      store.c        hands each batch's referrals to intake.c, a source's
                     status/replay/withdraw to referrals.c, a case-management
                     system's requests to enrollments.c
      intake.c       one transaction for a batch of referrals: lock the
                     programs it touches and the sources, read the snapshot
                     (snapshot.h) and what the database knows of each referral
                     (dv_lookup_t), decide each one here (dv_decide_referral),
                     record every row with one statement per table
                     (record.h), COMMIT, then reply and publish
    The decisions, here (pure: no I/O, no clock; tests/unit/test_decide.c):
      dv_decide_referral     1. the sender's key is not revoked and its kind may
                                send this pathway, else error forbidden
                             2. a resubmission: the stored first decision
                                (replayed), or conflict when the content differs
                             3. routing by housing, tier, score (dv_policy_score)
                             4. eligibility (dv_policy_eligibility), then
                                already_enrolled, linked_to_pending
                             5. the tier's capacity rule (dv_policy_capacity_rule)
                                and assignment (dv_policy_assign), or a place on
                                the waitlist (dv_waitlist_position, the wait band,
                                the expiry under the current time-to-live)
      dv_decide_promotions   the head of a program's waitlist in dv_waitlist
                             order, re-applying the capacity rule (promoting);
                             maintenance.c runs it when capacity can have
                             changed (NOTIFY, timer)
      dv_decide_lifecycle    a term that ended, an intake that lapsed, a
                             waitlist entry past its time-to-live (maintenance.c)
      dv_decide_withdraw     a source's withdrawal (referrals.c)
    What PostgreSQL enforces, whoever writes (it decides nothing else):
      015 s_enrollment_caseload (statement-level, 008's made cheaper; it
          replaced 001's row trigger): only active case managers of the
          enrollment's program; 001 s_case_manager_cap: no case manager
          above the hard cap, ever
      005 waitlist_expires_at: a waitlist entry's expiry under the current TTL
      007 enrollment_change, enrollment_transfer: a case-management system's
          (or an operator's) changes to an enrollment; 015 s_enrollment_feed
          (008's) refuses any transition outside the table and records
          every change
*/
#ifndef DV_DECIDE_H
#define DV_DECIDE_H

#include <jansson.h>
#include "dv_policy.h"
#include "dv_request.h"
#include "snapshot.h"

//  What the database knew about one referral's keys (sql/008 intake_lookup).
typedef struct {
    const char *earlier_digest;   //  this (source, referral_id) was sent before: its digest,
    json_t *earlier_reply;        //  and the reply it was first given (borrowed); else NULL
    int64_t person_id;            //  0: a new person
    const char *enrolled_program; //  an open enrollment of the person, or NULL
    int64_t waitlist_id;          //  the person's open waitlist entry, or 0
    const char *waitlist_program;
    int waitlist_tier;
    int waitlist_score;
} dv_lookup_t;

typedef enum {
    DV_VERDICT_REFUSED,           //  an error reply: error_code, error_message
    DV_VERDICT_REPLAYED,          //  the stored first decision (lookup.earlier_reply)
    DV_VERDICT_DECIDED            //  a new decision, to record
} dv_verdict_kind_t;

//  The decision on one referral.
typedef struct {
    dv_verdict_kind_t kind;
    const char *error_code;       //  REFUSED: forbidden | conflict
    char error_message [160];
    dv_outcome_t outcome;         //  DECIDED: decision and reason
    dv_snap_program_t *program;   //  where (for already_enrolled / linked: the person's program)
    int tier;
    dv_score_t score;
    dv_capacity_t capacity;       //  the capacity it saw (policy.md §6)
    int cm_index;                 //  accept: index into program->cms; else -1
    int position;                 //  waitlist: 1-based place in dv_waitlist order
    const char *estimate;         //  waitlist: the wait band
    int64_t expires_us;           //  waitlist: when it expires under the current TTL
    int64_t entry_id;             //  waitlist: its entry (new or the linked one)
    bool entry_new;               //  a new entry (else linked_to_pending)
} dv_verdict_t;

//  Decide one referral sent by source `sender_id` of `sender_kind` against
//  the snapshot (which it updates: an accept raises a caseload, a new
//  waitlist entry joins the list with id new_entry_id). digest: the
//  request's digest.
void
    dv_decide_referral (dv_snapshot_t *snapshot, const char *sender_id, const char *sender_kind,
                        const dv_referral_t *referral, const char *digest, const dv_lookup_t *lookup,
                        int64_t new_entry_id, dv_verdict_t *verdict);

//  One promotion from a waitlist.
typedef struct {
    int64_t entry_id;
    int cm_index;                 //  into program->cms
    int aging;                    //  the points the entry earned waiting
    dv_capacity_t capacity;       //  the capacity it saw
} dv_promotion_t;

//  Promote what fits at the head of a locked program's waitlist: walk it in
//  dv_waitlist order, re-apply the tier's capacity rule (promoting: accept
//  or stay), assign each that fits to the lowest caseload, stop at the first
//  that does not (later entries are of the same or a stricter tier). Updates
//  the program (caseloads, waitlist). Returns how many, at most `max`.
size_t
    dv_decide_promotions (dv_snap_program_t *program, int64_t now_us, dv_promotion_t *out, size_t max);

//  What time made due (sql/008 lifecycle_due kind): "term_end" exits the
//  enrollment with no decision for the referrer (*told false); "lapse" is
//  lapsed / intake_lapsed; "expiry" is decline / waitlist_expired.
//  Returns false for an unknown kind.
bool
    dv_decide_lifecycle (const char *kind, dv_outcome_t *outcome, bool *told);

//  A source withdraws its referral: allowed when it is waitlisted, or
//  accepted with its enrollment still pending intake (withdrawn /
//  withdrawn); else false and *message says why (error conflict).
bool
    dv_decide_withdraw (const char *referral_state, const char *enrollment_status, dv_outcome_t *outcome,
                        const char **message);

#endif
