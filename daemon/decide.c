/*  decide — where divertd makes each intake decision. See decide.h. */
#include "decide.h"
#include "dv_reply.h"
#include <string.h>

json_t *
dv_decide_keys (dv_job_t **jobs, size_t count)
{
    json_t *sources = json_array ();
    json_t *referrals = json_array ();
    json_t *persons = json_array ();
    for (size_t i = 0; i < count; i++) {
        const dv_referral_t *r = dv_request_referral (jobs [i]->request);
        const char *source = jobs [i]->sender.id;
        json_array_append_new (sources, json_string (source));
        json_array_append_new (referrals, json_pack ("{s:s, s:s}", "source", source,
                                                     "referral_id", r->referral_id));
        json_array_append_new (persons, json_pack ("{s:s, s:s?, s:s?, s:s?}", "source", source,
                                                   "spid", r->source_person_id,
                                                   "last", r->last_name, "dob", r->dob));
    }
    return json_pack ("{s:o, s:o, s:o}", "sources", sources, "referrals", referrals,
                      "persons", persons);
}

//  Steps 1 and 2: may this key send this, and is it a resubmission?
//  Returns true when the job was answered here.
static bool
s_answer_without_deciding (dv_snapshot_t *snapshot, dv_job_t *job)
{
    const dv_referral_t *r = dv_request_referral (job->request);
    json_t *source = dv_snapshot_source (snapshot, job->sender.id);
    if (!source || json_is_true (json_object_get (source, "revoked"))) {
        dv_job_fail (job, "forbidden", "this key is no longer registered; contact the program's operator");
        return true;
    }
    bool permitted = false;
    size_t index;
    json_t *pathway;
    json_array_foreach (json_object_get (source, "pathways"), index, pathway)
        if (strcmp (json_string_value (pathway), dv_pathway_name (r->pathway)) == 0)
            permitted = true;
    if (!permitted) {
        char message [160];
        snprintf (message, sizeof message, "a %s source may not send %s referrals",
                  job->sender.kind, dv_pathway_name (r->pathway));
        dv_job_fail (job, "forbidden", message);
        return true;
    }
    json_t *earlier = dv_snapshot_referral (snapshot, job->sender.id, r->referral_id);
    if (earlier) {
        const char *digest = json_string_value (json_object_get (earlier, "digest"));
        json_t *stored = json_object_get (earlier, "first_reply");
        if (digest && strcmp (digest, dv_request_digest (job->request)) == 0 && json_is_object (stored))
            job->reply = dv_reply_for_request (stored, dv_request_request_id (job->request), true);
        else
            dv_job_fail (job, "conflict",
                           "this referral_id was already sent with different content; use a new referral_id");
        return true;
    }
    return false;
}

//  The capacity a decision saw, stored with it (policy.md §6).
static json_t *
s_capacity_json (const dv_program_t *policy, const dv_capacity_t *c)
{
    return json_pack ("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}",
                      "n", c->n, "total", c->total, "max_load", c->max_load, "paced", c->paced,
                      "free", c->free, "open_slots", c->open_slots, "waitlist", c->waitlist,
                      "hard_cap", policy->hard_cap, "target_avg", policy->target_avg,
                      "reserve_tier1", policy->reserve_tier1, "reserve_tier2", policy->reserve_tier2);
}

static json_t *
s_waitlist_json (dv_snap_program_t *program, int position, int64_t expires_us)
{
    double rate = program->exits_90d / 90.0;
    //  RFC 3339 in UTC with milliseconds, as divert.s_rfc3339 writes it
    time_t seconds = (time_t) (expires_us / 1000000);
    struct tm tm;
    gmtime_r (&seconds, &tm);
    char date [24], expires [32];
    strftime (date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (expires, sizeof expires, "%s.%03dZ", date, (int) ((expires_us % 1000000) / 1000));
    return json_pack ("{s:i, s:s, s:s}", "position", position,
                      "estimate", dv_policy_wait_band (position, rate), "expires_at", expires);
}

//  One decision being made: what the referral is, where it goes, what it scored.
typedef struct {
    dv_snapshot_t *snapshot;
    dv_job_t *job;
    const dv_referral_t *r;
    json_t *person;                  //  the lookup: person_id, enrolled_program, waitlist
    dv_snap_program_t *program;
    int tier;
    dv_score_t score;
    dv_capacity_t capacity;
    dv_outcome_t outcome;
    int cm_index;                    //  accept: the case manager
    json_t *waitlist_reply;          //  waitlist: position, estimate, expires_at
    json_t *waitlist_link;           //  linked_to_pending: the open entry's id
    bool waitlist_new;
} s_decision_t;

//  Steps 4 and 5: eligibility, the person's other referrals, capacity.
static void
s_decide (s_decision_t *d)
{
    int64_t now = dv_snapshot_now_us (d->snapshot);
    dv_snap_program_t *p = d->program;
    d->cm_index = -1;
    d->capacity = dv_policy_capacity (&p->policy, p->cms, p->cm_count, (int) p->wait_count);
    dv_reason_t reason = dv_policy_eligibility (&p->policy, d->r);
    if (reason != DV_REASON_NONE) {
        d->outcome = (dv_outcome_t) { DV_DECISION_DECLINE, reason };
        return;
    }
    const char *enrolled = json_string_value (json_object_get (d->person, "enrolled_program"));
    json_t *waiting = json_object_get (d->person, "waitlist");
    if (enrolled) {
        d->outcome = (dv_outcome_t) { DV_DECISION_DECLINE, DV_REASON_ALREADY_ENROLLED };
        d->program = dv_snapshot_program_named (d->snapshot, enrolled);
        if (!d->program)
            d->program = p;
        return;
    }
    if (json_is_object (waiting)) {
        dv_snap_program_t *wp = dv_snapshot_program_named (
            d->snapshot, json_string_value (json_object_get (waiting, "program")));
        d->program = wp ? wp : p;
        d->outcome = (dv_outcome_t) { DV_DECISION_WAITLIST, DV_REASON_LINKED_TO_PENDING };
        d->waitlist_link = json_object_get (waiting, "id");
        int64_t entry_id = json_integer_value (d->waitlist_link);
        int position = dv_snap_program_position (d->program, entry_id, now);
        //  The entry expires under the current policy from when it was made
        const dv_wait_entry_t *entry = dv_snap_program_entry (d->program, entry_id);
        d->waitlist_reply = s_waitlist_json (d->program, position ? position : 1,
                                             (entry ? entry->received_us : now) + d->program->waitlist_ttl_us);
        return;
    }
    d->outcome = dv_policy_capacity_rule (&p->policy, d->tier, &d->capacity, false);
    if (d->outcome.decision == DV_DECISION_ACCEPT) {
        d->cm_index = dv_policy_assign (&p->policy, p->cms, p->cm_count);
        assert (d->cm_index >= 0);      //  the capacity rule saw an open slot
        dv_snap_program_assign (p, d->cm_index, now);
    }
    else
    if (d->outcome.decision == DV_DECISION_WAITLIST) {
        d->waitlist_new = true;
        dv_wait_entry_t entry = { 0, d->tier, d->score.total, now };
        int position = dv_snap_program_wait (p, &entry, now);
        d->waitlist_reply = s_waitlist_json (p, position, now + p->waitlist_ttl_us);
    }
}

//  The item divert.batch_record() writes for one decision (the reply is
//  built from it in SQL, divert.s_reply, and stored with the event).
static json_t *
s_item (s_decision_t *d)
{
    const dv_referral_t *r = d->r;
    dv_snap_program_t *p = d->program;
    const char *cm_id = d->cm_index >= 0 ? p->cms [d->cm_index].id : NULL;
    json_t *item = json_pack (
        "{s:s, s:s, s:O, s:{s:s?, s:s?, s:s?, s:s?}, s:s, s:i, s:s, s:s, s:O, s:s,"
        " s:s, s:s, s:s?, s:i, s:{s:i, s:i, s:i, s:i}, s:o, s:i, s:b, s:O?, s:o?}",
        "source", d->job->sender.id,
        "referral_id", r->referral_id,
        "person_id", json_object_get (d->person, "person_id"),
        "person", "spid", r->source_person_id, "first", r->first_name,
                  "last", r->last_name, "dob", r->dob,
        "pathway", dv_pathway_name (r->pathway),
        "tier", d->tier,
        "program", p->policy.name,
        "submitted_at", r->submitted_at,
        "payload", dv_request_payload (d->job->request),
        "digest", dv_request_digest (d->job->request),
        "decision", dv_decision_name (d->outcome.decision),
        "reason", dv_reason_name (d->outcome.reason),
        "case_manager", cm_id,
        "score", d->score.total,
        "components", "pathway", d->score.pathway, "acuity", d->score.acuity,
                      "contacts", d->score.contacts, "aging", d->score.aging,
        "capacity", s_capacity_json (&p->policy, &d->capacity),
        "policy_version", p->policy.version,
        "waitlist_new", d->waitlist_new,
        "waitlist_link", d->waitlist_link,
        "waitlist", d->waitlist_reply);
    return item;
}

json_t *
dv_decide_batch (dv_snapshot_t *snapshot, dv_job_t **jobs, size_t count, size_t *item_job)
{
    json_t *items = json_array ();
    for (size_t i = 0; i < count; i++) {
        if (jobs [i]->reply || s_answer_without_deciding (snapshot, jobs [i]))
            continue;
        s_decision_t d = { .snapshot = snapshot, .job = jobs [i] };
        d.r = dv_request_referral (jobs [i]->request);
        d.person = dv_snapshot_person (snapshot, i);
        d.program = dv_snapshot_route (snapshot, d.r->housing);
        d.tier = dv_policy_tier (d.r->pathway);
        d.score = dv_policy_score (&d.program->policy, d.r->pathway, d.r->substance_use,
                                   d.r->mental_health, d.r->prior_contacts_12m, 0);
        s_decide (&d);
        item_job [json_array_size (items)] = i;
        json_array_append_new (items, s_item (&d));
    }
    return items;
}

//  Promote what fits at the head of one program's waitlist.
static void
s_promote_program (dv_snapshot_t *snapshot, dv_snap_program_t *p, json_t *items)
{
    int64_t now = dv_snapshot_now_us (snapshot);
    size_t *order = calloc (p->wait_count + 1, sizeof (size_t));
    dv_snap_program_order (p, now, order);
    size_t count = p->wait_count;
    for (size_t k = 0; k < count; k++) {
        dv_wait_entry_t *entry = &p->waitlist [order [k]];
        int waiting = (int) (count - k);
        dv_capacity_t capacity = dv_policy_capacity (&p->policy, p->cms, p->cm_count, waiting);
        dv_outcome_t outcome = dv_policy_capacity_rule (&p->policy, entry->tier, &capacity, true);
        if (outcome.decision != DV_DECISION_ACCEPT)
            break;
        int cm = dv_policy_assign (&p->policy, p->cms, p->cm_count);
        assert (cm >= 0);
        dv_snap_program_assign (p, cm, now);
        int score = dv_snap_program_effective_score (p, entry, now);
        //  Each linked referral's event keeps its own intake components,
        //  plus the aging it earned on the list (divert.batch_promote).
        json_array_append_new (items, json_pack (
            "{s:I, s:s, s:i, s:o, s:i}",
            "entry_id", (json_int_t) entry->id,
            "case_manager", p->cms [cm].id,
            "aging", score - entry->score,
            "capacity", s_capacity_json (&p->policy, &capacity),
            "policy_version", p->policy.version));
    }
    free (order);
}

json_t *
dv_decide_promotions (dv_snapshot_t *snapshot)
{
    json_t *items = json_array ();
    for (size_t i = 0; i < dv_snapshot_program_count (snapshot); i++)
        s_promote_program (snapshot, dv_snapshot_program (snapshot, i), items);
    return items;
}
