/*  test_decide — the decision core (daemon/decide.h) without PostgreSQL:
    literal snapshots and requests in, verdicts out, table-driven at every
    boundary of policy.md: who may send what, resubmissions, routing,
    eligibility, the person's other referrals, each tier's capacity rule
    with assignment and waitlist places, a batch seeing its own decisions,
    promotion order and where it stops, lifecycle and withdrawal; and the
    waitlist order itself (common/dv_waitlist.h).
*/
#include "decide.h"
#include "dv_waitlist.h"
#include "testlib.h"

#define DAY_US (86400LL * 1000000LL)
#define NOW_US (20779LL * DAY_US + 12LL * 3600 * 1000000)     //  2026-11-22 12:00 UTC

static dv_program_t s_lead, s_colead;
static dv_wait_list_t s_lead_wait, s_colead_wait;

//  A site: LEAD (cap 25, target 20, R1 2, R2 3, areas downtown/belltown,
//  excluded DEAL) with case managers of these caseloads; CO-LEAD (cap 15,
//  target 15) with one case manager; the default pathway permissions.
static dv_snapshot_t *
s_site (const int *lead_loads, size_t count, int colead_load)
{
    static const char *ids [] = { "cm-a", "cm-b", "cm-c", "cm-d" };
    static const char *names [] = { "A. Rivera", "B. Okafor", "C. Nguyen", "D. Haddad" };
    dv_program_defaults (&s_lead, "LEAD");
    s_lead.areas_count = 2;
    snprintf (s_lead.areas [0], sizeof s_lead.areas [0], "downtown");
    snprintf (s_lead.areas [1], sizeof s_lead.areas [1], "belltown");
    s_lead.excluded_count = 1;
    snprintf (s_lead.excluded [0], sizeof s_lead.excluded [0], "DEAL");
    dv_program_defaults (&s_colead, "CO-LEAD");
    dv_snapshot_t *snapshot = dv_snapshot_new (NOW_US);
    dv_snap_program_t *lead = dv_snapshot_add_program (snapshot, &s_lead, true, 30 * DAY_US, 9, &s_lead_wait);
    dv_snap_program_t *colead = dv_snapshot_add_program (snapshot, &s_colead, false, 30 * DAY_US, 0, &s_colead_wait);
    dv_cm_t cms [4];
    for (size_t i = 0; i < count; i++)
        cms [i] = (dv_cm_t) { ids [i], lead_loads [i], (int64_t) i };
    dv_snap_program_lock (lead, cms, names, count, (int) s_lead_wait.count);
    dv_cm_t co = { "cm-co", colead_load, 0 };
    dv_snap_program_lock (colead, &co, names + 3, 1, (int) s_colead_wait.count);
    const char *permits [][2] = {
        { "police", "arrest_diversion" }, { "police", "social_contact" }, { "community", "community" },
        { "court", "pretrial_diversion" }, { "prosecutor", "pretrial_diversion" }
    };
    for (size_t i = 0; i < 5; i++)
        dv_snapshot_permit (snapshot, permits [i][0], permits [i][1]);
    return snapshot;
}

static void
s_reset_waitlists (void)
{
    dv_wait_list_clear (&s_lead_wait);
    dv_wait_list_clear (&s_colead_wait);
}

//  A valid referral request, with `extra` members (JSON object text) set over it.
static dv_request_t *
s_request (const char *pathway, const char *housing, const char *extra)
{
    json_t *root = json_pack ("{s:i, s:s, s:s, s:s, s:s, s:{s:s}, s:s, s:s, s:[s, s], s:b}",
        "v", 1, "type", "referral", "referral_id", "7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f",
        "pathway", pathway, "submitted_at", "2026-11-22T10:00:00Z", "person", "source_person_id", "P-1",
        "area", "downtown", "housing", housing, "behavioral_health", "substance_use", "mental_health",
        "consent", 1);
    if (strcmp (pathway, "arrest_diversion") == 0 || strcmp (pathway, "pretrial_diversion") == 0)
        json_object_set_new (root, "offense", json_pack ("{s:s}", "code", "POSS"));
    if (extra) {
        json_t *more = json_loads (extra, 0, NULL);
        json_object_update (root, more);
        json_decref (more);
    }
    char *text = json_dumps (root, JSON_COMPACT);
    dv_request_t *request = dv_request_new (text, strlen (text));
    free (text);
    json_decref (root);
    return request;
}

//  Decide one request as a source of `kind`; the verdict into *verdict.
static void
s_decide (dv_snapshot_t *snapshot, const char *kind, dv_request_t *request, const dv_lookup_t *lookup,
          int64_t entry_id, dv_verdict_t *verdict)
{
    dv_lookup_t none = { 0 };
    CHECKF (dv_request_valid (request), "the request is valid: %s", dv_request_error_message (request));
    dv_decide_referral (snapshot, "src", kind, dv_request_referral (request), dv_request_digest (request),
                        lookup ? lookup : &none, entry_id, verdict);
}

//  ---------------------------------------------------------------------------

typedef struct {
    const char *label;
    const char *kind;
    const char *pathway;
    const char *housing;
    const char *extra;            //  members over the base request
    int loads [4];                //  LEAD caseloads (cm-a..cm-d); -1 ends
    int colead_load;
    int waiting;                  //  LEAD waitlist length before
    const char *decision;         //  expected (or "error:<code>" / "replayed")
    const char *reason;
    const char *program;
    const char *cm;               //  accept: who
    int position;                 //  waitlist: where
} row_t;

static const row_t s_rows [] = {
    //  1. who may send what
    { "police may send arrest_diversion", "police", "arrest_diversion", "unsheltered", NULL, { 3, -1 }, 0, 0, "accept", "accepted", "LEAD", "cm-a", 0 },
    { "community may not send arrest_diversion", "community", "arrest_diversion", "unsheltered", NULL, { 3, -1 }, 0, 0, "error:forbidden", NULL, NULL, NULL, 0 },
    { "court may not send community", "court", "community", "unsheltered", NULL, { 3, -1 }, 0, 0, "error:forbidden", NULL, NULL, NULL, 0 },
    { "a monitor kind sends nothing", "monitor", "pretrial_diversion", "unsheltered", NULL, { 3, -1 }, 0, 0, "error:forbidden", NULL, NULL, NULL, 0 },
    { "a revoked key sends nothing", "revoked", "arrest_diversion", "unsheltered", NULL, { 3, -1 }, 0, 0, "error:forbidden", NULL, NULL, NULL, 0 },
    //  3. routing
    { "hotel goes to CO-LEAD", "police", "arrest_diversion", "hotel", NULL, { 3, -1 }, 4, 0, "accept", "accepted", "CO-LEAD", "cm-co", 0 },
    { "sheltered goes to the default program, out of scope", "police", "arrest_diversion", "sheltered", NULL, { 3, -1 }, 0, 0, "decline", "not_unsheltered", "LEAD", NULL, 0 },
    { "unknown housing is out of scope by default", "police", "arrest_diversion", "unknown", NULL, { 3, -1 }, 0, 0, "decline", "not_unsheltered", "LEAD", NULL, 0 },
    //  4. eligibility, in policy order
    { "outside the service area", "police", "arrest_diversion", "unsheltered", "{\"area\":\"harbor\"}", { 3, -1 }, 0, 0, "decline", "outside_service_area", "LEAD", NULL, 0 },
    { "no behavioral-health need", "police", "arrest_diversion", "unsheltered", "{\"behavioral_health\":[]}", { 3, -1 }, 0, 0, "decline", "no_behavioral_health_need", "LEAD", NULL, 0 },
    { "an excluded offense", "police", "arrest_diversion", "unsheltered", "{\"offense\":{\"code\":\"DEAL\"}}", { 3, -1 }, 0, 0, "decline", "excluded_offense", "LEAD", NULL, 0 },
    { "community without consent", "community", "community", "unsheltered", "{\"consent\":false}", { 3, -1 }, 0, 0, "decline", "no_consent", "LEAD", NULL, 0 },
    { "consent is checked first", "community", "community", "unsheltered", "{\"consent\":false,\"area\":\"harbor\"}", { 3, -1 }, 0, 0, "decline", "no_consent", "LEAD", NULL, 0 },
    { "arrest diversion needs no consent", "police", "arrest_diversion", "unsheltered", "{\"consent\":false}", { 3, -1 }, 0, 0, "accept", "accepted", "LEAD", "cm-a", 0 },
    //  5. tier 1: a case manager below the hard cap is enough
    { "tier 1 at 24/25 fits", "police", "arrest_diversion", "unsheltered", NULL, { 24, 25, -1 }, 0, 0, "accept", "accepted", "LEAD", "cm-a", 0 },
    { "tier 1 past the average, below the cap", "police", "arrest_diversion", "unsheltered", NULL, { 24, 24, -1 }, 0, 0, "accept", "accepted", "LEAD", "cm-a", 0 },
    { "tier 1 when everyone is at 25", "police", "arrest_diversion", "unsheltered", NULL, { 25, 25, -1 }, 0, 0, "decline", "at_capacity", "LEAD", NULL, 0 },
    { "the lowest caseload is assigned", "police", "arrest_diversion", "unsheltered", NULL, { 9, 4, 7, -1 }, 0, 0, "accept", "accepted", "LEAD", "cm-b", 0 },
    { "a tie goes to the oldest assignment", "police", "arrest_diversion", "unsheltered", NULL, { 5, 4, 4, -1 }, 0, 0, "accept", "accepted", "LEAD", "cm-b", 0 },
    //  tier 2: free - 1 >= R1 (2): paced 40 for two case managers
    { "tier 2 with free 3 fits", "police", "social_contact", "unsheltered", NULL, { 20, 17, -1 }, 0, 0, "accept", "accepted", "LEAD", "cm-b", 0 },
    { "tier 2 with free 2 waits", "police", "social_contact", "unsheltered", NULL, { 20, 18, -1 }, 0, 0, "waitlist", "at_capacity", "LEAD", NULL, 1 },
    { "tier 2 waits behind two of tier 1", "community", "community", "unsheltered", NULL, { 20, 18, -1 }, 0, 2, "waitlist", "at_capacity", "LEAD", NULL, 3 },
    { "tier 2 with a full waitlist", "community", "community", "unsheltered", NULL, { 20, 18, -1 }, 0, 200, "decline", "waitlist_full", "LEAD", NULL, 0 },
    //  tier 3: free - 1 >= R1 + R2 (5)
    { "tier 3 with free 6 fits", "court", "pretrial_diversion", "unsheltered", NULL, { 20, 14, -1 }, 0, 0, "accept", "accepted", "LEAD", "cm-b", 0 },
    { "tier 3 with free 5 is held back", "court", "pretrial_diversion", "unsheltered", NULL, { 20, 15, -1 }, 0, 0, "decline", "reserved_for_priority", "LEAD", NULL, 0 },
    { "CO-LEAD tier 1 at 14/15", "police", "arrest_diversion", "hotel", NULL, { 3, -1 }, 14, 0, "accept", "accepted", "CO-LEAD", "cm-co", 0 },
    { "CO-LEAD tier 1 at 15/15", "police", "arrest_diversion", "hotel", NULL, { 3, -1 }, 15, 0, "decline", "at_capacity", "CO-LEAD", NULL, 0 },
};

//  `waiting` LEAD entries of tier 1, older than any new one
static void
s_fill_waitlist (int waiting)
{
    s_reset_waitlists ();
    for (int i = 0; i < waiting; i++) {
        dv_wait_entry_t entry = { 1000 + i, 1, 60, NOW_US - DAY_US };
        dv_wait_list_add (&s_lead_wait, &entry);
    }
}

TEST (test_rows)
{
    for (size_t i = 0; i < sizeof s_rows / sizeof s_rows [0]; i++) {
        const row_t *r = &s_rows [i];
        size_t count = 0;
        while (count < 4 && r->loads [count] >= 0)
            count++;
        s_fill_waitlist (r->waiting);
        dv_snapshot_t *snapshot = s_site (r->loads, count, r->colead_load);
        dv_request_t *request = s_request (r->pathway, r->housing, r->extra);
        dv_verdict_t v;
        //  "revoked": a police key revoked under its lock
        if (strcmp (r->kind, "revoked") == 0)
            dv_snapshot_revoke (snapshot, "src");
        s_decide (snapshot, strcmp (r->kind, "revoked") ? r->kind : "police", request, NULL, 77, &v);
        char got [64];
        if (v.kind == DV_VERDICT_REFUSED)
            snprintf (got, sizeof got, "error:%s", v.error_code);
        else
            snprintf (got, sizeof got, "%s", v.kind == DV_VERDICT_REPLAYED ? "replayed" : dv_decision_name (v.outcome.decision));
        CHECKF (strcmp (got, r->decision) == 0, "%s: %s, expected %s", r->label, got, r->decision);
        if (v.kind == DV_VERDICT_DECIDED) {
            CHECKF (strcmp (dv_reason_name (v.outcome.reason), r->reason) == 0, "%s: reason %s",
                    r->label, dv_reason_name (v.outcome.reason));
            CHECKF (strcmp (v.program->policy->name, r->program) == 0, "%s: program %s", r->label, v.program->policy->name);
            CHECKF (r->cm ? v.cm_index >= 0 && strcmp (v.program->cms [v.cm_index].id, r->cm) == 0 : v.cm_index < 0,
                    "%s: case manager %s", r->label, v.cm_index >= 0 ? v.program->cms [v.cm_index].id : "none");
            if (r->cm) {
                int before = r->loads [v.cm_index];
                CHECKF (v.program->cms [v.cm_index].caseload == (strcmp (r->program, "LEAD") ? r->colead_load : before) + 1,
                        "%s: the snapshot counts the accept", r->label);
            }
            CHECKF (v.position == r->position, "%s: position %d, expected %d", r->label, v.position, r->position);
            if (r->position) {
                CHECK (v.entry_new && v.entry_id == 77);
                CHECK_INT (v.expires_us, NOW_US + 30 * DAY_US);
                CHECK_STR (v.estimate, dv_policy_wait_band (r->position, 9 / 90.0));
            }
        }
        dv_request_destroy (&request);
        dv_snapshot_destroy (&snapshot);
    }
    s_reset_waitlists ();
}

TEST (test_resubmission)
{
    int loads [] = { 3 };
    dv_snapshot_t *snapshot = s_site (loads, 1, 0);
    dv_request_t *request = s_request ("arrest_diversion", "unsheltered", NULL);
    json_t *first = json_pack ("{s:s}", "decision", "accept");
    dv_lookup_t same = { .earlier_digest = dv_request_digest (request), .earlier_reply = first };
    dv_verdict_t v;
    s_decide (snapshot, "police", request, &same, 0, &v);
    CHECK_INT (v.kind, DV_VERDICT_REPLAYED);
    CHECK_INT (snapshot ? dv_snapshot_program (snapshot, 0)->cms [0].caseload : 0, 3);      //  nothing decided again
    dv_lookup_t other = { .earlier_digest = "0000000000000000000000000000000000000000", .earlier_reply = first };
    s_decide (snapshot, "police", request, &other, 0, &v);
    CHECK_INT (v.kind, DV_VERDICT_REFUSED);
    CHECK_STR (v.error_code, "conflict");
    json_decref (first);
    dv_request_destroy (&request);
    dv_snapshot_destroy (&snapshot);
}

TEST (test_the_persons_other_referrals)
{
    int loads [] = { 3 };
    s_reset_waitlists ();
    dv_wait_entry_t older = { 41, 2, 45, NOW_US - 2 * DAY_US }, mine = { 42, 2, 40, NOW_US - 10 * DAY_US };
    dv_wait_list_add (&s_lead_wait, &older);
    dv_wait_list_add (&s_lead_wait, &mine);
    dv_snapshot_t *snapshot = s_site (loads, 1, 0);
    dv_request_t *request = s_request ("arrest_diversion", "unsheltered", NULL);
    dv_lookup_t enrolled = { .person_id = 9, .enrolled_program = "CO-LEAD" };
    dv_verdict_t v;
    s_decide (snapshot, "police", request, &enrolled, 0, &v);
    CHECK_STR (dv_reason_name (v.outcome.reason), "already_enrolled");
    CHECK_STR (v.program->policy->name, "CO-LEAD");
    //  Waiting already: linked, the entry's place, expiry from when it was made
    dv_lookup_t waiting = { .person_id = 9, .waitlist_id = 42, .waitlist_program = "LEAD", .waitlist_tier = 2,
                            .waitlist_score = 40 };
    s_decide (snapshot, "police", request, &waiting, 0, &v);
    CHECK_STR (dv_reason_name (v.outcome.reason), "linked_to_pending");
    CHECK_STR (dv_decision_name (v.outcome.decision), "waitlist");
    CHECK (!v.entry_new);
    CHECK_INT (v.entry_id, 42);
    CHECK_INT (v.position, 1);             //  40 + 10 days of aging = 50, ahead of 45 + 2
    CHECK_INT (v.expires_us, NOW_US - 10 * DAY_US + 30 * DAY_US);
    CHECK_INT (dv_snapshot_program (snapshot, 0)->cms [0].caseload, 3);
    //  Eligibility comes first: an ineligible referral is declined, not linked
    dv_request_destroy (&request);
    request = s_request ("arrest_diversion", "unsheltered", "{\"area\":\"harbor\"}");
    s_decide (snapshot, "police", request, &waiting, 0, &v);
    CHECK_STR (dv_reason_name (v.outcome.reason), "outside_service_area");
    dv_request_destroy (&request);
    dv_snapshot_destroy (&snapshot);
    s_reset_waitlists ();
}

TEST (test_a_batch_sees_its_own_decisions)
{
    //  Two places left before the hard cap, three arrest diversions
    int loads [] = { 24, 24 };
    dv_snapshot_t *snapshot = s_site (loads, 2, 0);
    dv_request_t *request = s_request ("arrest_diversion", "unsheltered", NULL);
    const char *expect [] = { "cm-a", "cm-b", NULL };
    for (int i = 0; i < 3; i++) {
        dv_verdict_t v;
        s_decide (snapshot, "police", request, NULL, 0, &v);
        if (expect [i])
            CHECKF (v.cm_index >= 0 && strcmp (v.program->cms [v.cm_index].id, expect [i]) == 0, "accept %d", i);
        else
            CHECKF (v.outcome.reason == DV_REASON_AT_CAPACITY, "the third: %s", dv_reason_name (v.outcome.reason));
    }
    //  Waitlist places count the batch's own entries
    dv_request_destroy (&request);
    request = s_request ("community", "unsheltered", NULL);
    s_reset_waitlists ();
    dv_snapshot_destroy (&snapshot);
    int full [] = { 20, 18 };
    snapshot = s_site (full, 2, 0);
    for (int i = 0; i < 3; i++) {
        dv_verdict_t v;
        s_decide (snapshot, "community", request, NULL, 100 + i, &v);
        CHECK_INT (v.position, i + 1);
        CHECK_INT (v.capacity.waitlist, i);
    }
    CHECK_INT (s_lead_wait.count, 3);
    dv_request_destroy (&request);
    dv_snapshot_destroy (&snapshot);
    s_reset_waitlists ();
}

TEST (test_promotions)
{
    //  Free 5 (paced 40, 35 held), R1 = 2: tier 2 fits while free - 1 >= 2
    s_reset_waitlists ();
    dv_wait_entry_t entries [] = {
        { 1, 3, 90, NOW_US - 20 * DAY_US },     //  tier 3 last whatever its score
        { 2, 2, 40, NOW_US - 1 * DAY_US },      //  41
        { 3, 2, 45, NOW_US - 10 * DAY_US },     //  55: first
        { 4, 2, 30, NOW_US - 40 * DAY_US },     //  50 (aging capped at 20), older than 5
        { 5, 2, 50, NOW_US - 1000 },            //  50
    };
    for (size_t i = 0; i < 5; i++)
        dv_wait_list_add (&s_lead_wait, &entries [i]);
    int loads [] = { 18, 17 };
    dv_snapshot_t *snapshot = s_site (loads, 2, 0);
    dv_snap_program_t *lead = dv_snapshot_program (snapshot, 0);
    dv_promotion_t made [8];
    size_t count = dv_decide_promotions (lead, NOW_US, made, 8);
    CHECK_INT (count, 3);                        //  free 5, 4, 3 fit; free 2 does not
    int64_t expected [] = { 3, 4, 5 };
    int aging [] = { 10, 20, 0 };
    for (size_t i = 0; i < count && i < 3; i++) {
        CHECKF (made [i].entry_id == expected [i], "promotion %zu: entry %lld", i, (long long) made [i].entry_id);
        CHECKF (made [i].aging == aging [i], "promotion %zu: aging %d", i, made [i].aging);
    }
    CHECK_INT (made [0].cm_index, 1);            //  the lowest caseload first
    CHECK_INT (lead->cms [0].caseload + lead->cms [1].caseload, 38);
    CHECK_INT (s_lead_wait.count, 2);            //  41 and the tier 3 entry wait on
    CHECK_INT (lead->waitlist_open, 2);
    CHECK_INT (dv_decide_promotions (lead, NOW_US, made, 8), 0);
    dv_snapshot_destroy (&snapshot);
    s_reset_waitlists ();
}

TEST (test_waitlist_order)
{
    dv_program_t lead;
    dv_program_defaults (&lead, "LEAD");
    dv_wait_entry_t entries [] = {
        { 10, 2, 50, NOW_US - 3600LL * 1000000 },      //  50
        { 11, 2, 45, NOW_US - 10 * DAY_US },            //  55
        { 12, 2, 40, NOW_US - 2 * DAY_US },             //  42
        { 13, 2, 30, NOW_US - 40 * DAY_US },            //  50, older than 10
        { 14, 3, 90, NOW_US - 20 * DAY_US },            //  100, tier 3 last
        { 15, 1, 20, NOW_US },                          //  tier 1 first
        { 0, 2, 50, NOW_US - 3600LL * 1000000 },        //  an unrecorded entry after an equal one
    };
    size_t order [7];
    dv_waitlist_order (&lead, entries, 7, NOW_US, order);
    int64_t expected [] = { 15, 11, 13, 10, 0, 12, 14 };
    for (size_t i = 0; i < 7; i++)
        CHECKF (entries [order [i]].id == expected [i], "place %zu: %lld, expected %lld", i + 1,
                (long long) entries [order [i]].id, (long long) expected [i]);
    CHECK_INT (dv_waitlist_score (&lead, &entries [4], NOW_US), 100);
    CHECK_INT (dv_waitlist_aging (&lead, &entries [4], NOW_US), 20);
    CHECK_INT (dv_waitlist_aging (&lead, &entries [0], NOW_US), 0);      //  a full day counts, not an hour
    CHECK_INT (dv_waitlist_position (&lead, entries, 7, &entries [2], NOW_US), 6);
    CHECK_INT (dv_waitlist_position (&lead, entries, 7, &entries [5], NOW_US), 1);
}

TEST (test_lifecycle_and_withdraw)
{
    dv_outcome_t outcome;
    bool told;
    CHECK (dv_decide_lifecycle ("lapse", &outcome, &told) && told);
    CHECK_STR (dv_reason_name (outcome.reason), "intake_lapsed");
    CHECK_STR (dv_decision_name (outcome.decision), "lapsed");
    CHECK (dv_decide_lifecycle ("expiry", &outcome, &told) && told);
    CHECK_STR (dv_reason_name (outcome.reason), "waitlist_expired");
    CHECK_STR (dv_decision_name (outcome.decision), "decline");
    CHECK (dv_decide_lifecycle ("term_end", &outcome, &told) && !told);
    CHECK (!dv_decide_lifecycle ("tomorrow", &outcome, &told));
    const char *message = NULL;
    struct { const char *state, *enrollment; bool allowed; } rows [] = {
        { "waitlisted", NULL, true }, { "accepted", "pending_intake", true }, { "accepted", "active", false },
        { "accepted", "in_the_wind", false }, { "declined", NULL, false }, { "withdrawn", NULL, false },
        { "lapsed", "exited", false }, { "exited", "exited", false }
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        bool allowed = dv_decide_withdraw (rows [i].state, rows [i].enrollment, &outcome, &message);
        CHECKF (allowed == rows [i].allowed, "withdraw from %s/%s", rows [i].state,
                rows [i].enrollment ? rows [i].enrollment : "-");
        if (allowed)
            CHECK_STR (dv_reason_name (outcome.reason), "withdrawn");
    }
}

int
main (void)
{
    TESTLIB_BEGIN ("test_decide");
    dv_request_set_today (20779);
    RUN (test_rows);
    RUN (test_resubmission);
    RUN (test_the_persons_other_referrals);
    RUN (test_a_batch_sees_its_own_decisions);
    RUN (test_promotions);
    RUN (test_waitlist_order);
    RUN (test_lifecycle_and_withdraw);
    return TESTLIB_END ();
}
