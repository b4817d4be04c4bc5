/*  referrals — status, replay and withdraw. See referrals.h. */
#include "referrals.h"
#include "decide.h"
#include "record.h"
#include "dv_reply.h"
#include <string.h>

void
dv_referrals_status (dv_db_t *db, dv_job_t *job)
{
    const char *params [] = { job->sender.id, dv_request_referral_id (job->request) };
    PGresult *result = dv_db_exec (db, "SELECT divert.status_reply($1, $2)", 2, params);
    if (!result)
        return;
    if (PQntuples (result) == 1 && !PQgetisnull (result, 0, 0)) {
        json_t *stored = json_loads (PQgetvalue (result, 0, 0), 0, NULL);
        job->reply = dv_reply_for_request (stored, dv_request_request_id (job->request), false);
        json_decref (stored);
    }
    else
        dv_job_fail (job, "not_found", "no referral with this referral_id from this source");
    PQclear (result);
}

void
dv_referrals_replay (dv_db_t *db, dv_job_t *job)
{
    const char *source = dv_request_source_id (job->request);
    if (!job->sender.monitor) {
        if (source && strcmp (source, job->sender.id) != 0) {
            dv_job_fail (job, "forbidden", "a source may replay only its own events");
            return;
        }
        source = job->sender.id;
    }
    else
    if (!source) {
        dv_job_fail (job, "invalid", "a monitor key must name the source with source_id");
        return;
    }
    char since [32], limit [32];
    snprintf (since, sizeof since, "%lld", (long long) dv_request_since_seq (job->request));
    snprintf (limit, sizeof limit, "%d", dv_request_limit (job->request) + 1);
    const char *params [] = { source, since, limit };
    PGresult *result = dv_db_exec (db, "SELECT source_id, seq, referral_id, decision, reason, program, tier,"
                                       " from_waitlist, at_us FROM divert.events_after($1, $2::bigint, $3::int)",
                                   3, params);
    if (!result)
        return;
    int rows = PQntuples (result), limit_n = dv_request_limit (job->request);
    json_t *events = json_array ();
    json_int_t next = dv_request_since_seq (job->request);
    for (int row = 0; row < rows && row < limit_n; row++) {
        dv_event_t event = {
            NULL, PQgetvalue (result, row, 0), dv_db_int64 (result, row, 1), PQgetvalue (result, row, 2),
            PQgetvalue (result, row, 3), PQgetvalue (result, row, 4),
            PQgetisnull (result, row, 5) ? NULL : PQgetvalue (result, row, 5), (int) dv_db_int64 (result, row, 6),
            PQgetvalue (result, row, 7) [0] == 't', dv_db_int64 (result, row, 8)
        };
        json_array_append_new (events, dv_reply_event (&event));
        next = event.seq;
    }
    PQclear (result);
    job->reply = json_pack ("{s:i, s:s, s:o, s:I, s:b}", "v", 1, "type", "replay",
                            "events", events, "next_seq", next, "more", rows > limit_n);
    const char *request_id = dv_request_request_id (job->request);
    if (request_id)
        json_object_set_new (job->reply, "request_id", json_string (request_id));
}

//  withdraw_target row: referral_row, referral_id, state, program, tier,
//  score, entry_id, next_primary, enrollment_id, enrollment_status.
static void
s_withdrawal (dv_record_t *record, dv_job_t *job, PGresult *target, const dv_outcome_t *outcome)
{
    int64_t referral_row = dv_db_int64 (target, 0, 0), entry = dv_db_int64 (target, 0, 6);
    const char *state = PQgetvalue (target, 0, 2), *program = PQgetvalue (target, 0, 3);
    dv_record_referral_state (record, referral_row, "withdrawn");
    if (strcmp (state, "waitlisted") == 0) {
        //  Another referral linked to the same entry keeps it; else it closes
        if (!PQgetisnull (target, 0, 7))
            dv_record_waitlist_primary (record, entry, dv_db_int64 (target, 0, 7));
        else
            dv_record_waitlist_close (record, entry, "withdrawn");
        dv_record_program (record, program);
    }
    else
        dv_record_enrollment_exit (record, dv_db_int64 (target, 0, 8), "withdrawn");
    dv_record_event_t event = {
        .source_id = job->sender.id, .source_kind = job->sender.kind, .referral_row = referral_row,
        .referral_id = PQgetvalue (target, 0, 1), .outcome = *outcome, .program = program,
        .tier = (int) dv_db_int64 (target, 0, 4), .score = (int) dv_db_int64 (target, 0, 5)
    };
    json_t *reply = dv_record_event (record, &event);
    job->reply = dv_reply_for_request (reply, dv_request_request_id (job->request), false);
}

void
dv_referrals_withdraw (dv_db_t *db, dv_cache_t *cache, const char *decided_by, dv_job_t *job, json_t *events)
{
    const char *params [] = { job->sender.id, dv_request_referral_id (job->request) };
    dv_db_stmt_t find [2] = {
        { "BEGIN", 0, NULL },
        { "SELECT referral_row, referral_id, state, program, tier, score, entry_id, next_primary,"
          " enrollment_id, enrollment_status FROM divert.withdraw_target($1, $2)", 2, params }
    };
    PGresult *results [2];
    if (dv_db_pipeline (db, 2, find, results) != 0) {
        if (dv_db_connected (db))
            dv_db_command (db, "ROLLBACK");
        return;
    }
    PQclear (results [0]);
    PGresult *target = results [1];
    dv_outcome_t outcome;
    const char *refusal = NULL;
    if (PQntuples (target) == 0)
        dv_job_fail (job, "not_found", "no referral with this referral_id from this source");
    else
    if (!dv_decide_withdraw (PQgetvalue (target, 0, 2), PQgetisnull (target, 0, 9) ? NULL : PQgetvalue (target, 0, 9),
                             &outcome, &refusal))
        dv_job_fail (job, "conflict", refusal);
    else {
        char program [80], source [80];
        snprintf (program, sizeof program, "{\"%s\"}", PQgetvalue (target, 0, 3));
        snprintf (source, sizeof source, "{\"%s\"}", job->sender.id);
        const char *p [] = { program }, *s [] = { source };
        dv_db_stmt_t lock [2] = {
            { DV_PROGRAM_LOCK_SQL, 1, p },
            { "SELECT id, last_seq FROM divert.source_lock($1::text[])", 1, s }
        };
        PGresult *locked [2];
        dv_record_t *record = NULL;
        if (dv_db_pipeline (db, 2, lock, locked) == 0 && PQntuples (locked [0]) && PQntuples (locked [1])) {
            record = dv_record_new (decided_by, dv_db_int64 (locked [0], 0, DV_LOCKED_NOW_US));
            dv_record_source (record, PQgetvalue (locked [1], 0, 0), dv_db_int64 (locked [1], 0, 1));
            s_withdrawal (record, job, target, &outcome);
            if (dv_record_commit (record, db, cache, NULL) == 0) {
                json_array_extend (events, dv_record_published (record));
                //  The cached waitlist lost (or re-pointed) the entry: read it again
                dv_cached_program_t *cached = dv_cache_program_named (cache, PQgetvalue (target, 0, 3));
                if (cached)
                    cached->waitlist_version = -1;
            }
            else {
                json_decref (job->reply);
                job->reply = NULL;
            }
        }
        PQclear (locked [0]);
        PQclear (locked [1]);
        dv_record_destroy (&record);
    }
    PQclear (target);
    if (!job->reply && dv_db_connected (db))
        dv_db_command (db, "ROLLBACK");
    else
    if (job->reply && strcmp (json_string_value (json_object_get (job->reply, "type")), "error") == 0)
        dv_db_command (db, "ROLLBACK");
}
