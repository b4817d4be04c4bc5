/*  dv_policy — the decision rules of shared/spec/policy.md as pure functions.

    No I/O, no clock, no database: every input is passed in, so each rule is
    unit-tested at its boundaries (tests/unit/test_policy.c). The daemon
    (daemon/decide.c) loads a program's policy and live caseloads from
    PostgreSQL, inside the transaction that locks them, and asks these
    functions what to do.

    The rules, in the order daemon/decide.c applies them:
      1. eligibility   -> decline with a reason code (policy.md §2)
      2. tier + score  -> the priority stored with the decision (§3)
      3. capacity rule -> accept / waitlist / decline per tier (§4)
      4. assignment    -> the case manager with the lowest caseload (§4)
*/
#ifndef DV_POLICY_H
#define DV_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dv_request.h"

typedef enum {
    DV_DECISION_ACCEPT = 0,
    DV_DECISION_WAITLIST,
    DV_DECISION_DECLINE,
    DV_DECISION_WITHDRAWN,
    DV_DECISION_LAPSED
} dv_decision_t;

//  The closed list of policy.md §7, in that order.
typedef enum {
    DV_REASON_ACCEPTED = 0,
    DV_REASON_ACCEPTED_FROM_WAITLIST,
    DV_REASON_AT_CAPACITY,
    DV_REASON_WAITLIST_FULL,
    DV_REASON_RESERVED_FOR_PRIORITY,
    DV_REASON_OUTSIDE_SERVICE_AREA,
    DV_REASON_NO_BEHAVIORAL_HEALTH_NEED,
    DV_REASON_NOT_UNSHELTERED,
    DV_REASON_EXCLUDED_OFFENSE,
    DV_REASON_ALREADY_ENROLLED,
    DV_REASON_LINKED_TO_PENDING,
    DV_REASON_WAITLIST_EXPIRED,
    DV_REASON_WITHDRAWN,
    DV_REASON_INTAKE_LAPSED,
    DV_REASON_NO_CONSENT,
    DV_REASON_COUNT,
    DV_REASON_NONE = -1            //  "no objection" from a check
} dv_reason_t;

#define DV_MAX_LIST 64             //  areas / excluded offenses per program

//  One program's site policy, as stored in PostgreSQL (table divert.program).
typedef struct {
    char name [33];
    int hard_cap;                  //  H
    int target_avg;                //  A
    int funded;                    //  F, or -1 when not set
    double pacing_margin;          //  m
    int reserve_tier1;             //  R1
    int reserve_tier2;             //  R2
    int waitlist_cap;
    bool pretrial_overflow_waitlist;    //  tier 3 without reserve: waitlist (true) or decline
    bool accepts_housing [DV_HOUSING_COUNT];
    int areas_count;               //  0 = the whole jurisdiction
    char areas [DV_MAX_LIST][65];
    int excluded_count;
    char excluded [DV_MAX_LIST][33];
    //  Score weights (policy.md §3)
    int base [DV_PATHWAY_COUNT];   //  60, 40, 40, 20
    int acuity_both;               //  10
    int acuity_one;                //  5
    int contact_each;              //  2
    int contact_max;               //  10
    int aging_per_day;             //  1
    int aging_max;                 //  20
    int version;                   //  policy_version, stored with each decision
} dv_program_t;

//  Fill with policy.md's defaults for LEAD (hard cap 25, target 20, accepts
//  unsheltered). Callers then override what the database says.
void
    dv_program_defaults (dv_program_t *program, const char *name);

//  One active case manager of a program.
typedef struct {
    const char *id;
    int caseload;                  //  L_i
    int64_t last_assigned;         //  any monotonic time unit; 0 = never
} dv_cm_t;

//  The capacity a decision saw (stored with it, policy.md §6).
typedef struct {
    int n;                         //  active case managers
    int total;                     //  T
    int max_load;                  //  max L_i (0 when n == 0)
    int paced;                     //  min(n*A, floor(F*(1-m))) or n*A
    int free;                      //  paced - T (may be negative)
    int open_slots;                //  number of case managers with L_i < H
    int waitlist;                  //  current waitlist length of the program
} dv_capacity_t;

dv_capacity_t
    dv_policy_capacity (const dv_program_t *program, const dv_cm_t *cms, size_t cm_count,
                        int waitlist_length);

//  Score components (policy.md §3); total is clamped to 0..100.
typedef struct {
    int pathway;
    int acuity;
    int contacts;
    int aging;
    int total;
} dv_score_t;

int
    dv_policy_tier (dv_pathway_t pathway);

dv_score_t
    dv_policy_score (const dv_program_t *program, dv_pathway_t pathway, bool substance_use,
                     bool mental_health, int prior_contacts_12m, int days_waited);

//  The aging component alone: aging_per_day per full day waited, at most
//  aging_max (days < 0 count as 0). dv_policy_score uses it; the daemon
//  orders a waitlist by base score + this.
int
    dv_policy_aging (const dv_program_t *program, int days_waited);

//  Eligibility checks of policy.md §2 that need only the referral and the
//  program, in this order: consent (community/social_contact need consent true),
//  service area, behavioral-health need, housing, excluded offense.
//  Returns DV_REASON_NONE when eligible. (already_enrolled and linked_to_pending
//  need the database and are applied by the daemon after these.)
dv_reason_t
    dv_policy_eligibility (const dv_program_t *program, const dv_referral_t *referral);

//  The capacity rule of policy.md §4 for one tier against a snapshot.
//  For tier 1: accept if some L_i < H, else decline at_capacity.
//  For tier 2: accept if some L_i < H and free - 1 >= R1; else waitlist
//  at_capacity, or decline waitlist_full when waitlist >= waitlist_cap.
//  For tier 3: accept if some L_i < H and free - 1 >= R1 + R2; else decline
//  reserved_for_priority (or waitlist at_capacity if pretrial_overflow_waitlist,
//  decline waitlist_full when the waitlist is full).
//  `promoting` is true when re-evaluating a waitlisted entry: then the result
//  is only accept (reason accepted_from_waitlist) or "stay" (waitlist, at_capacity).
typedef struct {
    dv_decision_t decision;
    dv_reason_t reason;
} dv_outcome_t;

dv_outcome_t
    dv_policy_capacity_rule (const dv_program_t *program, int tier, const dv_capacity_t *capacity,
                             bool promoting);

//  The case manager to assign: the lowest caseload below the hard cap; ties go
//  to the oldest last assignment (0 = never, oldest of all), then lowest id
//  (strcmp). Returns the index, or -1 when everyone is at the cap.
int
    dv_policy_assign (const dv_program_t *program, const dv_cm_t *cms, size_t cm_count);

//  max(0, ceil((T + waitlisted) / (A * (1 - m))) - n)
int
    dv_policy_staffing_gap (const dv_program_t *program, int total, int waitlisted, int n);

//  Wait band for a waitlist position given the program's recent exit rate
//  (exits per day over the recent window): expected days = position / rate;
//  < 30 "under_1_month", <= 90 "1_to_3_months", else "over_3_months";
//  rate <= 0 "undetermined".
const char *
    dv_policy_wait_band (int position, double exits_per_day);

//  Names as on the wire; from_name returns -1 when unknown.
const char *
    dv_decision_name (dv_decision_t decision);
const char *
    dv_reason_name (dv_reason_t reason);
int
    dv_reason_from_name (const char *name);

#endif
