/*  store — divertd's database thread. See store.h. */
#include "store.h"
#include "decide.h"
#include "enrollments.h"
#include "job.h"
#include "dv_db.h"
#include "dv_log.h"
#include "dv_reply.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define HEALTH_CHECK_MS 1000    //  idle connection check, so `ping` tells the truth
#define REVOCATION_MS 15000     //  re-read revoked keys at least this often (protocol: 60 s)
#define PURGE_MS 86400000       //  purge = daily
#define PURGE_RETRY_MS 3600000  //  after a failed purge

typedef struct {
    zsock_t *pipe;
    dv_db_t *db;
    char *decided_by;
    bool reported_up;           //  what the server was last told
    bool reported_once;
    int backoff_ms;
    int64_t next_attempt;       //  zclock_mono() of the next connect attempt
    bool fatal;
    int64_t recheck_ms;
    int64_t next_maintenance;   //  zclock_mono() of the next timed re-check
    bool maintenance_due;       //  a notification (or reconnect) asked for one
    char waitlists [256];       //  last "LEAD 17, CO-LEAD 3" told to the server
    int64_t next_revocation;    //  zclock_mono() of the next timed read of revoked keys
    bool revocation_due;        //  a notification (or reconnect) asked for one
    char *revoked;              //  the revoked identities last told to the server (NULL: none yet)
    bool feed_due;              //  an enrollment change was committed: publish the feed
    json_t *feed_positions;     //  {"LEAD": seq, ...}: the last enrollment events published
    bool purge_daily;           //  config purge = daily
    int64_t next_purge;         //  zclock_mono() of the next purge (0: after connecting)
} s_store_t;

typedef enum { S_OK, S_RETRY, S_FAILED } s_result_t;

//  Tell the server each program's waitlist length when it changed (STATUS=).
static void
s_report_waitlists (s_store_t *self, dv_snapshot_t *snapshot)
{
    char text [256] = "";
    size_t used = 0;
    for (size_t i = 0; i < dv_snapshot_program_count (snapshot) && used < sizeof text; i++) {
        dv_snap_program_t *program = dv_snapshot_program (snapshot, i);
        int n = snprintf (text + used, sizeof text - used, "%s%s %zu", i ? ", " : "",
                          program->policy.name, program->wait_count);
        used += n > 0 ? (size_t) n : 0;
    }
    if (strcmp (text, self->waitlists) != 0) {
        snprintf (self->waitlists, sizeof self->waitlists, "%s", text);
        zsock_send (self->pipe, "ss", "WAITLISTS", text);
    }
}

static void
s_report (s_store_t *self, bool up)
{
    if (self->reported_once && self->reported_up == up)
        return;
    self->reported_once = true;
    self->reported_up = up;
    zsock_send (self->pipe, "ss", "DB", up ? "up" : "down");
}

static void
s_connect (s_store_t *self)
{
    if (dv_db_connect (self->db) == 0) {
        int version = dv_db_schema_version (self->db);
        const char *params [] = { self->decided_by };
        PGresult *actor = NULL;
        if (version == DV_SCHEMA_VERSION && dv_db_command (self->db, "LISTEN divert_capacity") == 0
        &&  dv_db_command (self->db, "LISTEN divert_revocation") == 0
        &&  dv_db_command (self->db, "LISTEN divert_enrollment") == 0
            //  Who made an enrollment change (the feed's actor): this daemon
        &&  (actor = dv_db_exec (self->db, "SELECT set_config('divert.actor', $1, false)", 1, params))) {
            PQclear (actor);
            self->backoff_ms = BACKOFF_MIN_MS;
            self->maintenance_due = true;       //  whatever changed while we were away
            self->revocation_due = true;
            self->feed_due = true;
            dv_log_notice ("database connected (schema version %d)", version);
            s_report (self, true);
            return;
        }
        if (version >= 0 && version != DV_SCHEMA_VERSION) {
            char message [200];
            if (version == 0)
                snprintf (message, sizeof message,
                          "the database has no divert schema: run `divertctl migrate`");
            else
                snprintf (message, sizeof message,
                          "the database schema is version %d but this divertd needs version %d: %s",
                          version, DV_SCHEMA_VERSION,
                          version < DV_SCHEMA_VERSION ? "run `divertctl migrate`" : "upgrade divertd");
            self->fatal = true;
            dv_db_disconnect (self->db);
            zsock_send (self->pipe, "ss", "FATAL", message);
            return;
        }
    }
    if (!self->reported_once || self->reported_up)
        dv_log_warning ("database unreachable: %s (retrying)", dv_db_error (self->db));
    dv_db_disconnect (self->db);
    s_report (self, false);
    self->next_attempt = zclock_mono () + self->backoff_ms;
    self->backoff_ms = self->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : self->backoff_ms * 2;
}

//  One parameter of JSON text to a function returning jsonb.
static json_t *
s_call (s_store_t *self, const char *sql, json_t *argument)
{
    char *text = json_dumps (argument, JSON_COMPACT);
    const char *params [] = { text };
    json_t *result = dv_db_json (self->db, sql, 1, params);
    free (text);
    return result;
}

static void
s_rollback (s_store_t *self)
{
    if (dv_db_connected (self->db))
        dv_db_command (self->db, "ROLLBACK");
}

//  Attach the committed replies and queue their events for publishing.
static void
s_deliver (dv_batch_t *batch, dv_job_t **jobs, const size_t *item_job, json_t *recorded)
{
    size_t index;
    json_t *row;
    json_array_foreach (recorded, index, row) {
        dv_job_t *job = jobs [item_job [index]];
        job->reply = dv_reply_for_request (json_object_get (row, "reply"),
                                           dv_request_request_id (job->request), false);
        json_array_append_new (batch->events, json_pack ("{s:O, s:O}",
            "topic", json_object_get (row, "topic"), "event", json_object_get (row, "event")));
    }
}

//  All of a batch's referrals in one transaction.
static s_result_t
s_intake (s_store_t *self, dv_batch_t *batch, dv_job_t **jobs, size_t count)
{
    int64_t t0 = zclock_usecs ();
    json_t *keys = dv_decide_keys (jobs, count);
    if (dv_db_command (self->db, "BEGIN")) {
        json_decref (keys);
        return S_FAILED;
    }
    json_t *snapshot_json = s_call (self, "SELECT divert.batch_begin($1::jsonb)", keys);
    json_decref (keys);
    dv_snapshot_t *snapshot = snapshot_json ? dv_snapshot_new (snapshot_json) : NULL;
    if (!snapshot) {
        s_rollback (self);
        return S_FAILED;
    }
    int64_t t1 = zclock_usecs ();
    size_t *item_job = calloc (count, sizeof (size_t));
    json_t *items = dv_decide_batch (snapshot, jobs, count, item_job);
    int64_t t2 = zclock_usecs ();
    json_t *recorded = NULL;
    s_result_t result = S_OK;
    if (json_array_size (items) > 0) {
        json_t *argument = json_pack ("{s:s, s:O}", "decided_by", self->decided_by, "items", items);
        recorded = s_call (self, "SELECT divert.batch_record($1::jsonb)", argument);
        json_decref (argument);
        if (!recorded || json_array_size (recorded) != json_array_size (items))
            result = strcmp (dv_db_sqlstate (self->db), "23514") == 0
                  || strcmp (dv_db_sqlstate (self->db), "40001") == 0
                  || strcmp (dv_db_sqlstate (self->db), "23505") == 0? S_RETRY: S_FAILED;
    }
    int64_t t3 = zclock_usecs ();
    if (result == S_OK && dv_db_command (self->db, "COMMIT"))
        result = S_FAILED;
    dv_log_debug ("batch of %zu: snapshot %.1f ms, decide %.1f ms, record %.1f ms, commit %.1f ms",
                  count, (t1 - t0) / 1e3, (t2 - t1) / 1e3, (t3 - t2) / 1e3, (zclock_usecs () - t3) / 1e3);
    if (result == S_OK) {
        s_deliver (batch, jobs, item_job, recorded);
        s_report_waitlists (self, snapshot);
        //  A referral linked to a waitlisted one may have raised the entry's
        //  priority (say to tier 1): look at the waitlist again now.
        size_t index;
        json_t *item;
        json_array_foreach (items, index, item)
            if (json_is_integer (json_object_get (item, "waitlist_link")))
                self->maintenance_due = true;
    }
    else {
        dv_log_warning ("intake transaction failed: %s (SQLSTATE %s)", dv_db_error (self->db),
                        *dv_db_sqlstate (self->db) ? dv_db_sqlstate (self->db) : "none");
        s_rollback (self);
    }
    json_decref (recorded);
    json_decref (items);
    free (item_job);
    dv_snapshot_destroy (&snapshot);
    return result;
}

//  status: the latest decision on one of the sender's own referrals.
static void
s_status (s_store_t *self, dv_job_t *job)
{
    const char *params [] = { job->sender.id, dv_request_referral_id (job->request) };
    PGresult *result = dv_db_exec (self->db,
        "SELECT s.revoked_at IS NOT NULL, divert.status_reply(s.id, $2)"
        "  FROM source s WHERE s.id = $1", 2, params);
    if (!result)
        return;
    if (PQntuples (result) == 1 && PQgetvalue (result, 0, 0) [0] == 't')
        dv_job_fail (job, "forbidden", "this key is no longer registered; contact the program's operator");
    else
    if (PQntuples (result) == 1 && !PQgetisnull (result, 0, 1)) {
        json_t *stored = json_loads (PQgetvalue (result, 0, 1), 0, NULL);
        job->reply = dv_reply_for_request (stored, dv_request_request_id (job->request), false);
        json_decref (stored);
    }
    else
        dv_job_fail (job, "not_found", "no referral with this referral_id from this source");
    PQclear (result);
}

//  replay: the sender's own events after since_seq (a monitor names the source).
static void
s_replay (s_store_t *self, dv_job_t *job)
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
    PGresult *result = dv_db_exec (self->db,
        "SELECT divert.event_wire(e) FROM decision_event e"
        " WHERE e.source_id = $1 AND e.seq > $2::bigint ORDER BY e.seq LIMIT $3::int", 3, params);
    if (!result)
        return;
    int rows = PQntuples (result);
    int limit_n = dv_request_limit (job->request);
    json_t *events = json_array ();
    json_int_t next = dv_request_since_seq (job->request);
    for (int i = 0; i < rows && i < limit_n; i++) {
        json_t *event = json_loads (PQgetvalue (result, i, 0), 0, NULL);
        next = json_integer_value (json_object_get (event, "seq"));
        json_array_append_new (events, event);
    }
    PQclear (result);
    job->reply = json_pack ("{s:i, s:s, s:o, s:I, s:b}", "v", 1, "type", "replay",
                            "events", events, "next_seq", next, "more", rows > limit_n);
    const char *request_id = dv_request_request_id (job->request);
    if (request_id)
        json_object_set_new (job->reply, "request_id", json_string (request_id));
}

//  Queue {topic, event} of published rows for the server.
static void
s_collect (json_t *events, json_t *published)
{
    size_t index;
    json_t *row;
    json_array_foreach (published, index, row)
        json_array_append_new (events, json_pack ("{s:O, s:O}", "topic", json_object_get (row, "topic"),
                                                  "event", json_object_get (row, "event")));
}

//  withdraw: one of the sender's own referrals, waitlisted or pending intake.
static void
s_withdraw (s_store_t *self, dv_batch_t *batch, dv_job_t *job)
{
    const char *params [] = { job->sender.id, dv_request_referral_id (job->request), self->decided_by };
    json_t *result = dv_db_json (self->db, "SELECT divert.withdraw($1, $2, $3)", 3, params);
    if (!result)
        return;
    const char *error = json_string_value (json_object_get (result, "error"));
    if (error)
        dv_job_fail (job, error, json_string_value (json_object_get (result, "message")));
    else {
        job->reply = dv_reply_for_request (json_object_get (result, "reply"),
                                           dv_request_request_id (job->request), false);
        json_t *rows = json_pack ("[O]", result);
        s_collect (batch->events, rows);
        json_decref (rows);
    }
    json_decref (result);
}

//  One maintenance transaction: lifecycle, then promotion. Returns the
//  committed events (caller owns), or NULL when nothing was committed.
static json_t *
s_maintain_once (s_store_t *self)
{
    if (dv_db_command (self->db, "BEGIN"))
        return NULL;
    const char *params [] = { self->decided_by };
    json_t *events = json_array ();
    json_t *lifecycle = dv_db_json (self->db, "SELECT divert.lifecycle($1)", 1, params);
    json_t *empty = json_object ();
    json_t *snapshot_json = lifecycle ? s_call (self, "SELECT divert.batch_begin($1::jsonb)", empty) : NULL;
    json_decref (empty);
    dv_snapshot_t *snapshot = snapshot_json ? dv_snapshot_new (snapshot_json) : NULL;
    json_t *items = snapshot ? dv_decide_promotions (snapshot) : NULL;
    json_t *promoted = NULL;
    if (items && json_array_size (items) > 0) {
        json_t *argument = json_pack ("{s:s, s:O}", "decided_by", self->decided_by, "items", items);
        promoted = s_call (self, "SELECT divert.batch_promote($1::jsonb)", argument);
        json_decref (argument);
    }
    bool ok = snapshot && (json_array_size (items) == 0 || promoted)
           && dv_db_command (self->db, "COMMIT") == 0;
    if (ok) {
        s_collect (events, lifecycle);
        s_collect (events, promoted);
        s_report_waitlists (self, snapshot);
    }
    else {
        dv_log_warning ("waitlist maintenance failed: %s (SQLSTATE %s)", dv_db_error (self->db),
                        *dv_db_sqlstate (self->db) ? dv_db_sqlstate (self->db) : "none");
        s_rollback (self);
        json_decref (events);
        events = NULL;
    }
    json_decref (lifecycle);
    json_decref (promoted);
    json_decref (items);
    dv_snapshot_destroy (&snapshot);
    return events;
}

static void
s_maintain (s_store_t *self)
{
    self->maintenance_due = false;
    self->next_maintenance = zclock_mono () + self->recheck_ms;
    json_t *events = s_maintain_once (self);
    if (events && json_array_size (events) > 0) {
        dv_log_info ("waitlist maintenance: %zu later decision(s)", json_array_size (events));
        zsock_send (self->pipe, "sp", "EVENTS", events);     //  the server publishes and frees them
    }
    else
        json_decref (events);
}

//  The daily purge of personal data past the site's retention (one
//  statement: divert.purge keeps the rules and records the run).
static void
s_purge (s_store_t *self)
{
    const char *params [] = { self->decided_by };
    json_t *run = dv_db_json (self->db,
        "SELECT jsonb_build_object('id', r -> 'purge_id', 'referrals', jsonb_array_length(r -> 'referrals'),"
        " 'persons', r -> 'persons') FROM divert.purge($1, false) AS r", 1, params);
    self->next_purge = zclock_mono () + (run ? PURGE_MS : PURGE_RETRY_MS);
    if (run)
        dv_log_notice ("purge %lld: the personal data of %lld referral(s) and %lld person(s) past the retention"
                       " was removed", (long long) json_integer_value (json_object_get (run, "id")),
                       (long long) json_integer_value (json_object_get (run, "referrals")),
                       (long long) json_integer_value (json_object_get (run, "persons")));
    else
        dv_log_warning ("the daily purge failed (again in an hour): %s (SQLSTATE %s)", dv_db_error (self->db),
                        *dv_db_sqlstate (self->db) ? dv_db_sqlstate (self->db) : "none");
    json_decref (run);
}

//  Publish the enrollment events committed since the last ones published,
//  by whoever made them (enrollments.h).
static void
s_publish_feed (s_store_t *self)
{
    self->feed_due = false;
    json_t *events = dv_enrollments_feed (self->db, &self->feed_positions);
    if (events && json_array_size (events) > 0)
        zsock_send (self->pipe, "sp", "EVENTS", events);     //  the server publishes and frees them
    else
        json_decref (events);
}

//  Read the identities of every revoked key ("kind:id", one a line, sorted)
//  and tell the server when they changed. On failure the server keeps the
//  set it has, and the next timer or reconnect reads it again.
static void
s_read_revoked (s_store_t *self)
{
    self->revocation_due = false;
    self->next_revocation = zclock_mono () + REVOCATION_MS;
    PGresult *result = dv_db_exec (self->db,
        "SELECT COALESCE(string_agg(identity, E'\\n' ORDER BY identity), '') FROM revoked_identity", 0, NULL);
    if (!result) {
        dv_log_warning ("cannot read the revoked keys: %s", dv_db_error (self->db));
        return;
    }
    const char *text = PQgetvalue (result, 0, 0);
    if (!self->revoked || strcmp (self->revoked, text) != 0) {
        free (self->revoked);
        self->revoked = strdup (text);
        zsock_send (self->pipe, "ss", "REVOKED", text);
    }
    PQclear (result);
}

//  What the notifications libpq holds ask for. (A statement's result can
//  bring them too, so this runs after every batch, not only on input.)
static void
s_take_notifies (s_store_t *self)
{
    PGnotify *notify;
    while (dv_db_connected (self->db) && (notify = PQnotifies (dv_db_conn (self->db)))) {
        if (streq (notify->relname, "divert_revocation"))
            self->revocation_due = true;
        else
        if (streq (notify->relname, "divert_enrollment"))
            self->feed_due = true;
        else
            self->maintenance_due = true;
        PQfreemem (notify);
    }
}

//  Read what PostgreSQL sent on the idle connection: notifications, or the
//  end of the connection.
static void
s_database_input (s_store_t *self)
{
    PGconn *conn = dv_db_conn (self->db);
    if (!PQconsumeInput (conn) || PQstatus (conn) != CONNECTION_OK) {
        dv_log_warning ("database connection lost: %s", PQerrorMessage (conn));
        dv_db_disconnect (self->db);
        s_report (self, false);
        return;
    }
    s_take_notifies (self);
}

static void
s_run_batch (s_store_t *self, dv_batch_t *batch)
{
    dv_job_t **referrals = calloc (batch->count, sizeof (dv_job_t *));
    size_t count = 0;
    for (size_t i = 0; i < batch->count && dv_db_connected (self->db); i++) {
        dv_job_t *job = batch->jobs [i];
        switch (dv_request_type (job->request)) {
            case DV_REQ_REFERRAL: referrals [count++] = job; break;
            case DV_REQ_STATUS:   s_status (self, job); break;
            case DV_REQ_REPLAY:   s_replay (self, job); break;
            case DV_REQ_WITHDRAW: s_withdraw (self, batch, job); break;
            case DV_REQ_ENROLLMENTS:
            case DV_REQ_ENROLLMENT:
            case DV_REQ_TRANSFER:
            case DV_REQ_CASELOAD: dv_enrollments_answer (self->db, job); break;
            default:
                dv_job_fail (job, "internal", "this request type is not handled yet");
        }
    }
    if (count > 0 && dv_db_connected (self->db)) {
        s_result_t result = s_intake (self, batch, referrals, count);
        if (result == S_RETRY && dv_db_connected (self->db))
            result = s_intake (self, batch, referrals, count);
        //  Still failing with the database up: one referral may be what the
        //  database refuses. Decide each alone so it can't cost the others.
        if (result != S_OK && count > 1 && dv_db_connected (self->db)) {
            dv_log_warning ("deciding the %zu referrals of a failed batch one by one", count);
            for (size_t i = 0; i < count && dv_db_connected (self->db); i++)
                if (!referrals [i]->reply)
                    s_intake (self, batch, &referrals [i], 1);
        }
    }
    free (referrals);
    if (dv_db_connected (self->db))
        dv_batch_fail (batch, "internal", "the decision could not be recorded; nothing was recorded, send the same request again");
}

static void
s_handle_pipe (s_store_t *self, bool *terminated)
{
    char *command = NULL;
    void *pointer = NULL;
    if (zsock_recv (self->pipe, "sp", &command, &pointer) == -1) {
        *terminated = true;
        return;
    }
    if (streq (command, "$TERM"))
        *terminated = true;
    else
    if (streq (command, "BATCH")) {
        dv_batch_t *batch = (dv_batch_t *) pointer;
        if (!dv_db_connected (self->db) && !self->fatal && zclock_mono () >= self->next_attempt)
            s_connect (self);
        if (dv_db_connected (self->db)) {
            s_run_batch (self, batch);
            //  A connection that died while idle (say PostgreSQL restarted) is
            //  found by the batch: reconnect once and run what is unanswered
            //  again. Safe even if a COMMIT's outcome was unknown: a
            //  resubmitted referral is found and answered as replayed.
            if (!dv_db_connected (self->db) && !self->fatal) {
                s_connect (self);
                if (dv_db_connected (self->db))
                    s_run_batch (self, batch);
            }
        }
        if (!dv_db_connected (self->db))
            dv_batch_fail (batch, "unavailable", "the database is unreachable; nothing was recorded, send the same request again later");
        zsock_send (self->pipe, "sp", "DONE", batch);
    }
    free (command);
}

//  How long the loop may sleep: until the next reconnect attempt, the next
//  timed re-check or read of revoked keys, or the idle health check.
static int
s_timeout (s_store_t *self)
{
    int64_t now = zclock_mono ();
    int64_t until = now + HEALTH_CHECK_MS;
    if (!self->fatal && !dv_db_connected (self->db))
        until = self->next_attempt;
    else
    if (dv_db_connected (self->db)) {
        if (self->next_maintenance < until)
            until = self->next_maintenance;
        if (self->next_revocation < until)
            until = self->next_revocation;
    }
    return until <= now ? 0 : (int) (until - now);
}

void
dv_store_actor (zsock_t *pipe, void *args)
{
    dv_store_args_t *store_args = (dv_store_args_t *) args;
    s_store_t self = { .pipe = pipe, .backoff_ms = BACKOFF_MIN_MS };
    self.db = dv_db_new (store_args->conninfo, "divertd");
    self.decided_by = strdup (store_args->decided_by);
    self.recheck_ms = store_args->recheck_ms > 0 ? store_args->recheck_ms : 60000;
    self.purge_daily = store_args->purge_daily;
    zsock_signal (pipe, 0);

    bool terminated = false;
    while (!terminated) {
        if (!self.fatal && !dv_db_connected (self.db) && zclock_mono () >= self.next_attempt)
            s_connect (&self);
        //  Revocations first: they are the security-relevant change
        if (dv_db_connected (self.db) && (self.revocation_due || zclock_mono () >= self.next_revocation))
            s_read_revoked (&self);
        if (dv_db_connected (self.db) && (self.maintenance_due || zclock_mono () >= self.next_maintenance)) {
            s_maintain (&self);
            self.feed_due = true;       //  the timer is the feed's safety net too
        }
        if (dv_db_connected (self.db) && self.feed_due)
            s_publish_feed (&self);
        if (self.purge_daily && dv_db_connected (self.db) && zclock_mono () >= self.next_purge)
            s_purge (&self);
        zmq_pollitem_t items [2] = {
            { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 },
            { NULL, dv_db_connected (self.db) ? PQsocket (dv_db_conn (self.db)) : -1, ZMQ_POLLIN, 0 }
        };
        int64_t start = zclock_mono ();
        int rc = zmq_poll (items, items [1].fd >= 0 ? 2 : 1, s_timeout (&self));
        if (rc == -1 && zmq_errno () != EINTR)
            break;
        if (items [0].revents & ZMQ_POLLIN) {
            s_handle_pipe (&self, &terminated);
            s_take_notifies (&self);
        }
        if (!terminated && items [1].fd >= 0 && (items [1].revents & ZMQ_POLLIN) && dv_db_connected (self.db))
            s_database_input (&self);
        else
        if (rc == 0 && zclock_mono () - start >= HEALTH_CHECK_MS && dv_db_connected (self.db)
        &&  dv_db_command (self.db, "SELECT 1") != 0) {
            dv_log_warning ("database connection lost: %s", dv_db_error (self.db));
            dv_db_disconnect (self.db);
            s_report (&self, false);
        }
    }
    dv_db_destroy (&self.db);
    free (self.decided_by);
    free (self.revoked);
    json_decref (self.feed_positions);
}
