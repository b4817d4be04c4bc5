/*  dv_policy — the decision rules of shared/spec/policy.md as pure functions.

    Eligibility (§2), tier and priority score (§3), the per-tier capacity rule,
    case-manager assignment and the staffing signal (§4), the waitlist wait
    band (§5) and the wire names of decisions and reason codes (§7).

    Nothing here does I/O, reads a clock or keeps state: every input is an
    argument, so the daemon can call these inside the database transaction
    that locks the caseloads, and tests/unit/test_policy.c can pin every
    boundary. This file deliberately does not depend on dv_request.c (only on
    the types of dv_request.h).
*/
#ifndef _GNU_SOURCE
#   define _GNU_SOURCE          //  strnlen
#endif
#include "dv_policy.h"

#include <assert.h>
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <string.h>

//  Tolerance for floating-point products that should be whole numbers
//  (e.g. 100 * (1 - 0.10) is 89.99999999999999 in binary).
#define S_EPSILON 1e-9

static const char *s_decision_names [] = {
    "accept", "waitlist", "decline", "withdrawn", "lapsed"
};

//  Same order as dv_reason_t (policy.md §7).
static const char *s_reason_names [DV_REASON_COUNT] = {
    "accepted",
    "accepted_from_waitlist",
    "at_capacity",
    "waitlist_full",
    "reserved_for_priority",
    "outside_service_area",
    "no_behavioral_health_need",
    "not_unsheltered",
    "excluded_offense",
    "already_enrolled",
    "linked_to_pending",
    "waitlist_expired",
    "withdrawn",
    "intake_lapsed",
    "no_consent"
};


//  --------------------------------------------------------------------------
//  Small helpers

//  Copy src into dst (of dst_size bytes), truncating, always terminated.
static void
s_copy_string (char *dst, size_t dst_size, const char *src)
{
    if (dst_size == 0)
        return;
    size_t len = src? strnlen (src, dst_size - 1): 0;
    if (len)
        memcpy (dst, src, len);
    dst [len] = '\0';
}

//  Case-insensitive ASCII equality; NULL equals nothing.
static bool
s_equal_nocase (const char *a, const char *b)
{
    if (!a || !b)
        return false;
    while (*a && *b) {
        if (tolower ((unsigned char) *a) != tolower ((unsigned char) *b))
            return false;
        a++;
        b++;
    }
    return *a == *b;
}

static long long
s_clamp (long long value, long long low, long long high)
{
    return value < low? low: value > high? high: value;
}

//  min(value * each, max) for value >= 0 without overflow; value < 0 is 0.
static int
s_capped_product (int value, int each, int max)
{
    if (value <= 0 || each <= 0 || max <= 0)
        return 0;
    long long product = (long long) value * (long long) each;
    return (int) (product < max? product: max);
}

//  floor (funded * (1 - margin)), robust to binary rounding, never negative.
static int
s_funded_pace (int funded, double margin)
{
    double line = floor ((double) funded * (1.0 - margin) + S_EPSILON);
    if (!(line > 0))            //  also a NaN margin
        return 0;
    if (line >= (double) INT_MAX)
        return INT_MAX;
    return (int) line;
}

static bool
s_is_consent_pathway (dv_pathway_t pathway)
{
    return pathway == DV_PATHWAY_COMMUNITY || pathway == DV_PATHWAY_SOCIAL_CONTACT;
}

static bool
s_in_service_area (const dv_program_t *program, const char *area)
{
    if (program->areas_count <= 0)
        return true;            //  the whole jurisdiction
    if (!area)
        return false;
    int count = program->areas_count < DV_MAX_LIST? program->areas_count: DV_MAX_LIST;
    for (int index = 0; index < count; index++)
        if (strcmp (program->areas [index], area) == 0)
            return true;
    return false;
}

static bool
s_offense_excluded (const dv_program_t *program, const char *offense_code)
{
    if (!offense_code)
        return false;
    int count = program->excluded_count < DV_MAX_LIST? program->excluded_count: DV_MAX_LIST;
    for (int index = 0; index < count; index++)
        if (s_equal_nocase (program->excluded [index], offense_code))
            return true;
    return false;
}

static dv_outcome_t
s_outcome (dv_decision_t decision, dv_reason_t reason)
{
    dv_outcome_t outcome = { decision, reason };
    return outcome;
}

//  Not accepted, may wait: waitlist at_capacity unless the list is full.
static dv_outcome_t
s_waitlist_or_full (const dv_program_t *program, const dv_capacity_t *capacity)
{
    if (capacity->waitlist >= program->waitlist_cap)
        return s_outcome (DV_DECISION_DECLINE, DV_REASON_WAITLIST_FULL);
    return s_outcome (DV_DECISION_WAITLIST, DV_REASON_AT_CAPACITY);
}

//  True when the tier's accept condition holds against the snapshot.
static bool
s_tier_fits (const dv_program_t *program, int tier, const dv_capacity_t *capacity)
{
    if (capacity->open_slots <= 0)
        return false;           //  the invariant: nobody past H
    long long spare = (long long) capacity->free - 1;
    if (tier == 1)
        return true;            //  may use the reserve, may pass A
    if (tier == 2)
        return spare >= (long long) program->reserve_tier1;
    return spare >= (long long) program->reserve_tier1 + program->reserve_tier2;
}

//  True when candidate a should be assigned before b (both under the cap).
static bool
s_assign_before (const dv_cm_t *a, const dv_cm_t *b)
{
    if (a->caseload != b->caseload)
        return a->caseload < b->caseload;
    if (a->last_assigned != b->last_assigned)
        return a->last_assigned < b->last_assigned;
    return strcmp (a->id? a->id: "", b->id? b->id: "") < 0;
}


//  --------------------------------------------------------------------------
//  Program defaults (policy.md §1, §3, §4)

void
dv_program_defaults (dv_program_t *program, const char *name)
{
    assert (program);
    memset (program, 0, sizeof (*program));
    s_copy_string (program->name, sizeof (program->name), name? name: "LEAD");
    program->hard_cap = 25;
    program->target_avg = 20;
    program->funded = -1;
    program->pacing_margin = 0.10;
    program->reserve_tier1 = 2;
    program->reserve_tier2 = 3;
    program->waitlist_cap = 200;
    program->pretrial_overflow_waitlist = false;
    program->accepts_housing [DV_HOUSING_UNSHELTERED] = true;
    program->areas_count = 0;
    program->excluded_count = 0;
    program->base [DV_PATHWAY_ARREST_DIVERSION] = 60;
    program->base [DV_PATHWAY_SOCIAL_CONTACT] = 40;
    program->base [DV_PATHWAY_COMMUNITY] = 40;
    program->base [DV_PATHWAY_PRETRIAL_DIVERSION] = 20;
    program->acuity_both = 10;
    program->acuity_one = 5;
    program->contact_each = 2;
    program->contact_max = 10;
    program->aging_per_day = 1;
    program->aging_max = 20;
    program->version = 1;

    if (strcmp (program->name, "CO-LEAD") == 0) {
        program->hard_cap = 15;
        program->target_avg = 15;
        program->accepts_housing [DV_HOUSING_UNSHELTERED] = false;
        program->accepts_housing [DV_HOUSING_HOTEL] = true;
    }
}


//  --------------------------------------------------------------------------
//  Capacity snapshot (policy.md §4)

dv_capacity_t
dv_policy_capacity (const dv_program_t *program, const dv_cm_t *cms, size_t cm_count,
                    int waitlist_length)
{
    assert (program);
    assert (cms || cm_count == 0);
    dv_capacity_t capacity;
    memset (&capacity, 0, sizeof (capacity));

    long long total = 0;
    for (size_t index = 0; index < cm_count; index++) {
        int load = cms [index].caseload;
        total += load;
        if (index == 0 || load > capacity.max_load)
            capacity.max_load = load;
        if (load < program->hard_cap)
            capacity.open_slots++;
    }
    capacity.n = (int) cm_count;
    capacity.total = (int) s_clamp (total, INT_MIN, INT_MAX);

    long long paced = (long long) cm_count * program->target_avg;
    if (program->funded >= 0) {
        long long funded_pace = s_funded_pace (program->funded, program->pacing_margin);
        if (funded_pace < paced)
            paced = funded_pace;
    }
    capacity.paced = (int) s_clamp (paced, INT_MIN, INT_MAX);
    capacity.free = (int) s_clamp (paced - total, INT_MIN, INT_MAX);
    capacity.waitlist = waitlist_length;
    return capacity;
}


//  --------------------------------------------------------------------------
//  Tier and score (policy.md §1, §3)

int
dv_policy_tier (dv_pathway_t pathway)
{
    switch (pathway) {
        case DV_PATHWAY_ARREST_DIVERSION:
            return 1;
        case DV_PATHWAY_SOCIAL_CONTACT:
        case DV_PATHWAY_COMMUNITY:
            return 2;
        case DV_PATHWAY_PRETRIAL_DIVERSION:
            return 3;
        default:
            return 0;           //  not a pathway
    }
}

int
dv_policy_aging (const dv_program_t *program, int days_waited)
{
    return s_capped_product (days_waited, program->aging_per_day, program->aging_max);
}

dv_score_t
dv_policy_score (const dv_program_t *program, dv_pathway_t pathway, bool substance_use,
                 bool mental_health, int prior_contacts_12m, int days_waited)
{
    assert (program);
    dv_score_t score;
    memset (&score, 0, sizeof (score));

    if ((int) pathway >= 0 && pathway < DV_PATHWAY_COUNT)
        score.pathway = program->base [pathway];
    if (substance_use && mental_health)
        score.acuity = program->acuity_both;
    else
    if (substance_use || mental_health)
        score.acuity = program->acuity_one;
    score.contacts = s_capped_product (prior_contacts_12m, program->contact_each,
                                       program->contact_max);
    score.aging = dv_policy_aging (program, days_waited);

    long long sum = (long long) score.pathway + score.acuity + score.contacts + score.aging;
    score.total = (int) s_clamp (sum, 0, 100);
    return score;
}


//  --------------------------------------------------------------------------
//  Eligibility (policy.md §2, §7 no_consent)

dv_reason_t
dv_policy_eligibility (const dv_program_t *program, const dv_referral_t *referral)
{
    assert (program);
    assert (referral);
    if (s_is_consent_pathway (referral->pathway) && !referral->consent)
        return DV_REASON_NO_CONSENT;
    if (!s_in_service_area (program, referral->area))
        return DV_REASON_OUTSIDE_SERVICE_AREA;
    if (!referral->substance_use && !referral->mental_health)
        return DV_REASON_NO_BEHAVIORAL_HEALTH_NEED;
    if ((int) referral->housing < 0 || referral->housing >= DV_HOUSING_COUNT
    ||  !program->accepts_housing [referral->housing])
        return DV_REASON_NOT_UNSHELTERED;
    if (s_offense_excluded (program, referral->offense_code))
        return DV_REASON_EXCLUDED_OFFENSE;
    return DV_REASON_NONE;
}


//  --------------------------------------------------------------------------
//  Capacity rule per tier (policy.md §4, §5 promotion)
//  A tier other than 1 or 2 gets the strictest rule (tier 3).

dv_outcome_t
dv_policy_capacity_rule (const dv_program_t *program, int tier, const dv_capacity_t *capacity,
                         bool promoting)
{
    assert (program);
    assert (capacity);
    bool fits = s_tier_fits (program, tier, capacity);

    if (promoting) {
        if (fits)
            return s_outcome (DV_DECISION_ACCEPT, DV_REASON_ACCEPTED_FROM_WAITLIST);
        return s_outcome (DV_DECISION_WAITLIST, DV_REASON_AT_CAPACITY);
    }
    if (fits)
        return s_outcome (DV_DECISION_ACCEPT, DV_REASON_ACCEPTED);
    if (tier == 1)
        return s_outcome (DV_DECISION_DECLINE, DV_REASON_AT_CAPACITY);
    if (tier == 2 || program->pretrial_overflow_waitlist)
        return s_waitlist_or_full (program, capacity);
    return s_outcome (DV_DECISION_DECLINE, DV_REASON_RESERVED_FOR_PRIORITY);
}


//  --------------------------------------------------------------------------
//  Assignment (policy.md §4)

int
dv_policy_assign (const dv_program_t *program, const dv_cm_t *cms, size_t cm_count)
{
    assert (program);
    assert (cms || cm_count == 0);
    int best = -1;
    for (size_t index = 0; index < cm_count && index <= (size_t) INT_MAX; index++) {
        if (cms [index].caseload >= program->hard_cap)
            continue;
        if (best < 0 || s_assign_before (&cms [index], &cms [best]))
            best = (int) index;
    }
    return best;
}


//  --------------------------------------------------------------------------
//  Staffing signal (policy.md §4). With no pacing line (A * (1 - m) <= 0)
//  there is no meaningful count to add, so the gap is 0.

int
dv_policy_staffing_gap (const dv_program_t *program, int total, int waitlisted, int n)
{
    assert (program);
    double line = (double) program->target_avg * (1.0 - program->pacing_margin);
    if (!(line > S_EPSILON))    //  also a NaN margin
        return 0;
    double demand = (double) total + (double) waitlisted;
    if (demand <= 0)
        return 0;
    double needed = ceil (demand / line - S_EPSILON);
    double gap = needed - (double) n;
    if (!(gap > 0))
        return 0;
    if (gap >= (double) INT_MAX)
        return INT_MAX;
    return (int) gap;
}


//  --------------------------------------------------------------------------
//  Wait band (policy.md §5)

const char *
dv_policy_wait_band (int position, double exits_per_day)
{
    if (!(exits_per_day > 0))   //  also catches NaN
        return "undetermined";
    if (position <= 0)
        return "under_1_month";
    double days = (double) position / exits_per_day;
    if (days < 30)
        return "under_1_month";
    if (days <= 90)
        return "1_to_3_months";
    return "over_3_months";
}


//  --------------------------------------------------------------------------
//  Wire names (policy.md §7)

const char *
dv_decision_name (dv_decision_t decision)
{
    int count = (int) (sizeof (s_decision_names) / sizeof (s_decision_names [0]));
    if ((int) decision < 0 || (int) decision >= count)
        return NULL;
    return s_decision_names [decision];
}

const char *
dv_reason_name (dv_reason_t reason)
{
    if ((int) reason < 0 || reason >= DV_REASON_COUNT)
        return NULL;
    return s_reason_names [reason];
}

int
dv_reason_from_name (const char *name)
{
    if (!name)
        return -1;
    for (int index = 0; index < DV_REASON_COUNT; index++)
        if (strcmp (s_reason_names [index], name) == 0)
            return index;
    return -1;
}
