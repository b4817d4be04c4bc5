/*  intake — one transaction for a batch of referrals. See intake.h. */
#include "intake.h"
#include "decide.h"
#include "record.h"
#include "dv_log.h"
#include "dv_reply.h"
#include <string.h>

#define S_POLICY_TRIES 3        //  a policy that changes under a batch: reload, decide again

//  Statements of round trip 1, in order (results [S_...]).
enum { S_BEGIN, S_PROGRAMS, S_SOURCES, S_LOOKUP, S_IDS, S_READS };

typedef struct {
    dv_db_t *db;
    dv_cache_t *cache;
    dv_job_t **jobs;              //  the jobs still without a reply
    size_t count;
    PGresult *results [S_READS];
    json_t **earlier;             //  parsed earlier replies, per job
    dv_lookup_t *lookups;
    dv_snapshot_t *snapshot;
    char programs [2048];         //  {"LEAD","CO-LEAD"}: the programs routed to
    char sources [2048];          //  {"spd"}: the senders
} s_intake_t;

static const char *
s_text (PGresult *result, int row, int column)
{
    return PQgetisnull (result, row, column) ? NULL : PQgetvalue (result, row, column);
}

//  Add a quoted element to a PostgreSQL array literal being built in buffer
//  (ids and program names: letters, digits, '-', '_' only).
static void
s_array_add (char *buffer, size_t size, const char *element)
{
    char quoted [80];
    snprintf (quoted, sizeof quoted, "\"%s\"", element);
    if (strstr (buffer, quoted))
        return;
    size_t used = strlen (buffer);
    if (used == 0)
        snprintf (buffer, size, "{%s}", quoted);
    else
    if (used + strlen (quoted) + 2 < size)
        snprintf (buffer + used - 1, size - used + 1, ",%s}", quoted);
}

//  The programs the batch's referrals are routed to, and its senders.
static void
s_plan (s_intake_t *self)
{
    dv_snapshot_t *routing = dv_cache_snapshot (self->cache, 0);
    self->programs [0] = self->sources [0] = 0;
    for (size_t i = 0; i < self->count; i++) {
        const dv_referral_t *r = dv_request_referral (self->jobs [i]->request);
        dv_snap_program_t *program = dv_snapshot_route (routing, r->housing);
        if (program)
            s_array_add (self->programs, sizeof self->programs, program->policy->name);
        s_array_add (self->sources, sizeof self->sources, self->jobs [i]->sender.id);
    }
    dv_snapshot_destroy (&routing);
}

static json_t *
s_lookup_keys (s_intake_t *self)
{
    json_t *keys = json_array ();
    for (size_t i = 0; i < self->count; i++) {
        const dv_referral_t *r = dv_request_referral (self->jobs [i]->request);
        json_array_append_new (keys, json_pack ("{s:s, s:s, s:s?, s:s?, s:s?}", "source", self->jobs [i]->sender.id,
                                                "referral_id", r->referral_id, "spid", r->source_person_id,
                                                "last", r->last_name, "dob", r->dob));
    }
    return keys;
}

//  Round trip 1. Returns 0, or -1 (database error).
static int
s_read (s_intake_t *self)
{
    json_t *keys = s_lookup_keys (self);
    char *keys_text = json_dumps (keys, JSON_COMPACT);
    json_decref (keys);
    char n [16];
    snprintf (n, sizeof n, "%zu", self->count);
    const char *programs [] = { self->programs }, *sources [] = { self->sources };
    const char *lookup [] = { keys_text }, *ids [] = { n };
    dv_db_stmt_t statements [S_READS] = {
        [S_BEGIN] = { "BEGIN", 0, NULL },
        [S_PROGRAMS] = { DV_PROGRAM_LOCK_SQL, 1, programs },
        [S_SOURCES] = { "SELECT id, last_seq, revoked FROM divert.source_lock($1::text[])", 1, sources },
        [S_LOOKUP] = { "SELECT ord, earlier_digest, earlier_reply, person_id, enrolled_program, waitlist_id,"
                       " waitlist_program, waitlist_tier, waitlist_score FROM divert.intake_lookup($1::jsonb)",
                       1, lookup },
        [S_IDS] = { "SELECT person_id, referral_id, waitlist_id FROM divert.new_ids($1::int)", 1, ids }
    };
    int rc = dv_db_pipeline (self->db, S_READS, statements, self->results);
    free (keys_text);
    return rc;
}

//  The locked programs: the generation the cache must have, their case
//  managers and waitlists synced, and the snapshot built. Returns 1 when the
//  cache's policy is stale (reload and decide again), 0 when ready, -1 on a
//  database error.
static int
s_snapshot (s_intake_t *self)
{
    PGresult *locked = self->results [S_PROGRAMS];
    int rows = PQntuples (locked);
    if (rows == 0 || dv_db_int64 (locked, 0, DV_LOCKED_GENERATION) != dv_cache_generation (self->cache))
        return 1;
    self->snapshot = dv_cache_snapshot (self->cache, dv_db_int64 (locked, 0, DV_LOCKED_NOW_US));
    for (int row = 0; row < rows; row++) {
        int ready = dv_cache_lock (self->cache, self->db, self->snapshot, locked, row);
        if (ready != 0)
            return ready;
    }
    return 0;
}

//  What intake_lookup said of each job's referral.
static void
s_lookups (s_intake_t *self)
{
    PGresult *result = self->results [S_LOOKUP];
    self->lookups = calloc (self->count + 1, sizeof (dv_lookup_t));
    self->earlier = calloc (self->count + 1, sizeof (json_t *));
    for (int row = 0; row < PQntuples (result) && (size_t) row < self->count; row++) {
        size_t i = (size_t) dv_db_int64 (result, row, 0) - 1;
        if (i >= self->count)
            continue;
        const char *reply = s_text (result, row, 2);
        self->earlier [i] = reply ? json_loads (reply, 0, NULL) : NULL;
        self->lookups [i] = (dv_lookup_t) {
            s_text (result, row, 1), self->earlier [i], dv_db_int64 (result, row, 3), s_text (result, row, 4),
            dv_db_int64 (result, row, 5), s_text (result, row, 6), (int) dv_db_int64 (result, row, 7),
            (int) dv_db_int64 (result, row, 8)
        };
    }
}

//  A decided referral's rows and event; returns its reply (borrowed from record).
static json_t *
s_record_decision (s_intake_t *self, dv_record_t *record, size_t i, dv_intake_report_t *report)
{
    dv_job_t *job = self->jobs [i];
    const dv_referral_t *r = dv_request_referral (job->request);
    const dv_verdict_t *v = &job->verdict;
    const dv_lookup_t *lookup = &self->lookups [i];
    PGresult *ids = self->results [S_IDS];
    int64_t person = lookup->person_id ? lookup->person_id : dv_db_int64 (ids, (int) i, 0);
    int64_t referral_row = dv_db_int64 (ids, (int) i, 1);
    const char *program = v->program->policy->name;
    bool waitlist = v->outcome.decision == DV_DECISION_WAITLIST;
    bool accept = v->outcome.decision == DV_DECISION_ACCEPT;
    if (!lookup->person_id)
        dv_record_person (record, person, job->sender.id, r->source_person_id, r->first_name, r->last_name, r->dob);
    dv_record_referral (record, referral_row, job->sender.id, r->referral_id, person, dv_pathway_name (r->pathway),
                        v->tier, v->score.total, program, r->submitted_at, dv_request_payload (job->request),
                        dv_request_digest (job->request), accept ? "accepted" : waitlist ? "waitlisted" : "declined",
                        waitlist ? v->entry_id : 0);
    if (waitlist && v->entry_new)
        dv_record_waitlist_new (record, v->entry_id, program, person, referral_row, v->tier, v->score.total);
    else
    if (waitlist) {
        //  Linked: the entry keeps the better of the two priorities
        report->linked = true;
        if (v->tier < lookup->waitlist_tier || (v->tier == lookup->waitlist_tier && v->score.total > lookup->waitlist_score)) {
            dv_record_waitlist_bump (record, v->entry_id, v->tier, v->score.total);
            dv_record_program (record, program);
        }
    }
    if (accept)
        dv_record_enrollment_new (record, referral_row, person, program, v->program->cms [v->cm_index].id);
    json_t *place = waitlist ? dv_reply_waitlist (v->position, v->estimate, v->expires_us) : NULL;
    dv_record_event_t event = {
        .source_id = job->sender.id, .source_kind = job->sender.kind, .referral_row = referral_row,
        .referral_id = r->referral_id, .outcome = v->outcome, .program = program,
        .cm_id = accept ? v->program->cms [v->cm_index].id : NULL,
        .cm_name = accept ? v->program->cm_names [v->cm_index] : NULL,
        .tier = v->tier, .score = v->score.total, .components = dv_record_components (&v->score),
        .capacity = dv_record_capacity (v->program->policy, &v->capacity),
        .policy_version = v->program->policy->version, .waitlist = place
    };
    json_t *reply = dv_record_event (record, &event);
    json_decref (place);
    return reply;
}

//  Decide every job; REFUSED and REPLAYED are answered now, DECIDED ones get
//  their rows in `record` and their replies in `told`.
static void
s_decide (s_intake_t *self, dv_record_t *record, json_t **told, dv_intake_report_t *report)
{
    PGresult *sources = self->results [S_SOURCES], *locked = self->results [S_PROGRAMS];
    for (int row = 0; row < PQntuples (sources); row++) {
        dv_record_source (record, PQgetvalue (sources, row, 0), dv_db_int64 (sources, row, 1));
        if (PQgetvalue (sources, row, 2) [0] == 't')
            dv_snapshot_revoke (self->snapshot, PQgetvalue (sources, row, 0));
    }
    for (int row = 0; row < PQntuples (locked); row++)
        dv_record_program (record, PQgetvalue (locked, row, 0));
    for (size_t i = 0; i < self->count; i++) {
        dv_job_t *job = self->jobs [i];
        const dv_referral_t *r = dv_request_referral (job->request);
        dv_decide_referral (self->snapshot, job->sender.id, job->sender.kind, r, dv_request_digest (job->request),
                            &self->lookups [i],
                            dv_db_int64 (self->results [S_IDS], (int) i, 2), &job->verdict);
        if (job->verdict.kind == DV_VERDICT_REFUSED)
            dv_job_fail (job, job->verdict.error_code, job->verdict.error_message);
        else
        if (job->verdict.kind == DV_VERDICT_REPLAYED)
            job->reply = dv_reply_for_request (self->lookups [i].earlier_reply, dv_request_request_id (job->request), true);
        else
            told [i] = s_record_decision (self, record, i, report);
    }
}

//  Roll back; a database failure (failed) is logged first: the ROLLBACK
//  clears it.
static void
s_rollback (s_intake_t *self, bool failed)
{
    if (failed && dv_db_connected (self->db))
        dv_log_warning ("intake transaction failed: %s (SQLSTATE %s)", dv_db_error (self->db),
                        *dv_db_sqlstate (self->db) ? dv_db_sqlstate (self->db) : "none");
    if (dv_db_connected (self->db))
        dv_db_command (self->db, "ROLLBACK");
    //  Waitlists and case managers the decisions changed in memory: read them again
    PGresult *locked = self->results [S_PROGRAMS];
    for (int row = 0; locked && row < PQntuples (locked); row++) {
        dv_cached_program_t *cached = dv_cache_program_named (self->cache, PQgetvalue (locked, row, 0));
        if (cached)
            cached->waitlist_version = cached->staff_version = -1;
    }
}

static void
s_release (s_intake_t *self)
{
    for (int i = 0; i < S_READS; i++) {
        PQclear (self->results [i]);
        self->results [i] = NULL;
    }
    for (size_t i = 0; self->earlier && i < self->count; i++)
        json_decref (self->earlier [i]);
    free (self->earlier);
    free (self->lookups);
    self->earlier = NULL;
    self->lookups = NULL;
    dv_snapshot_destroy (&self->snapshot);
}

//  Is the database's refusal one a new attempt may not meet (a race with
//  another writer: the hard cap, a serialization failure, a unique key, a
//  deadlock)?
static dv_intake_result_t
s_failure (dv_db_t *db)
{
    const char *state = dv_db_sqlstate (db);
    if (strcmp (state, "23514") == 0 || strcmp (state, "40001") == 0 || strcmp (state, "23505") == 0
    ||  strcmp (state, "40P01") == 0)
        return DV_INTAKE_RETRY;
    return DV_INTAKE_FAILED;
}

//  One attempt. Returns 1 when the policy must be reloaded first.
static int
s_attempt (s_intake_t *self, const char *decided_by, dv_batch_t *batch, dv_intake_report_t *report,
           dv_intake_result_t *result)
{
    int64_t t0 = zclock_usecs ();
    s_plan (self);
    if (s_read (self) != 0) {
        *result = s_failure (self->db);
        s_rollback (self, true);
        return 0;
    }
    int ready = s_snapshot (self);
    if (ready != 0) {
        *result = DV_INTAKE_FAILED;
        s_rollback (self, ready < 0);
        return ready;
    }
    s_lookups (self);
    int64_t t1 = zclock_usecs ();
    dv_record_t *record = dv_record_new (decided_by, dv_snapshot_now_us (self->snapshot));
    json_t **told = calloc (self->count + 1, sizeof (json_t *));
    s_decide (self, record, told, report);
    int64_t t2 = zclock_usecs ();
    if (dv_record_commit (record, self->db, self->cache, self->snapshot) == 0) {
        for (size_t i = 0; i < self->count; i++)
            if (told [i])
                self->jobs [i]->reply = dv_reply_for_request (told [i], dv_request_request_id (self->jobs [i]->request),
                                                              false);
        json_array_extend (batch->events, dv_record_published (record));
        *result = DV_INTAKE_OK;
    }
    else {
        *result = s_failure (self->db);
        s_rollback (self, true);
        //  Nothing was recorded: what was answered here is asked again
        for (size_t i = 0; i < self->count; i++) {
            json_decref (self->jobs [i]->reply);
            self->jobs [i]->reply = NULL;
        }
    }
    report->lock_us = t1 - t0;
    report->decide_us = t2 - t1;
    report->record_us = zclock_usecs () - t2;
    free (told);
    dv_record_destroy (&record);
    return 0;
}

dv_intake_result_t
dv_intake_run (dv_db_t *db, dv_cache_t *cache, const char *decided_by, dv_batch_t *batch,
               dv_job_t **jobs, size_t count, dv_intake_report_t *report)
{
    memset (report, 0, sizeof *report);
    s_intake_t self = { .db = db, .cache = cache };
    self.jobs = calloc (count + 1, sizeof (dv_job_t *));
    for (size_t i = 0; i < count; i++)
        if (!jobs [i]->reply)
            self.jobs [self.count++] = jobs [i];
    dv_intake_result_t result = DV_INTAKE_OK;
    for (int tries = 0; self.count > 0 && tries < S_POLICY_TRIES; tries++) {
        if (dv_cache_generation (cache) == 0 && dv_cache_load_policy (cache, db) != 0) {
            result = s_failure (db);
            break;
        }
        int again = s_attempt (&self, decided_by, batch, report, &result);
        s_release (&self);
        if (again == 0)
            break;
        //  The policy changed under the batch: reload it and decide again
        if (again < 0 || dv_cache_load_policy (cache, db) != 0) {
            result = DV_INTAKE_FAILED;
            break;
        }
        result = DV_INTAKE_RETRY;
    }
    free (self.jobs);
    return result;
}
