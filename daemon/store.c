/*  store — divertd's database thread. See store.h. */
#include "store.h"
#include "cache.h"
#include "enrollments.h"
#include "intake.h"
#include "maintenance.h"
#include "referrals.h"
#include "dv_db.h"
#include "dv_log.h"
#include "dv_reply.h"

#define S_BACKOFF_MIN_MS 100
#define S_BACKOFF_MAX_MS 5000
#define S_HEALTH_MS 1000            //  idle connection check, so `ping` tells the truth
#define S_REVOCATION_MS 15000       //  re-read revoked keys at least this often (protocol: 60 s)
#define S_PURGE_MS 86400000         //  purge = daily
#define S_FEED_MS 10                //  the enrollment feed is read this long after it is due:
                                    //  one read for the batches of that time, not one each

typedef struct {
    zsock_t *pipe;
    zloop_t *loop;
    dv_db_t *db;
    dv_cache_t *cache;
    char *decided_by;
    int64_t recheck_ms;
    char *daemon;                   //  daemon_metrics' key, "host:pid"
    char started_at [32];           //  Unix seconds, for daemon_metrics
    char metrics_interval [48];     //  "10000 milliseconds", for daemon_metrics
    bool fatal;                     //  an unknown schema: stay down, the server stops
    bool reported_up, reported_once;
    bool reconnecting;              //  trying at once after losing a connection that was up
    int backoff_ms;
    int reconnect_timer;            //  zloop timer id; 0 when none is pending
    int database_fd;                //  the connection's socket polled, -1 when none
    int64_t used_at;                //  zclock_mono () of the last statement
    //  What notifications (and timers) made due
    bool maintenance_due;
    bool maintenance_all;           //  every program; else those in maintenance_programs
    char maintenance_programs [4096];
    bool revocation_due;
    bool feed_due;
    int feed_timer;                 //  zloop timer id of the coming feed read; 0 when none
    bool purge_due;                 //  purge = daily: at start, then on the purge timer
    //  What the server was last told
    char waitlists [256];
    char *revoked;
    json_t *feed_positions;         //  {"LEAD": seq, ...}: the last enrollment events published
} s_store_t;

static void s_connect (s_store_t *self);

//  ---------------------------------------------------------------------------
//  The pipe protocol (store.h)

int
dv_store_send_batch (zactor_t *store, dv_batch_t *batch)
{
    return zsock_send (store, "sp", "BATCH", batch);
}

int
dv_store_send_metrics (zactor_t *store, char **snapshot_p)
{
    int rc = zsock_send (store, "sp", "METRICS", *snapshot_p);
    if (rc == 0)
        *snapshot_p = NULL;             //  the store frees it
    return rc;
}

int
dv_store_recv (zsock_t *pipe, dv_store_msg_t *msg)
{
    memset (msg, 0, sizeof *msg);
    zmsg_t *frames = zmsg_recv (pipe);
    char *command = frames ? zmsg_popstr (frames) : NULL;
    zframe_t *frame = frames ? zmsg_pop (frames) : NULL;
    bool carries_pointer = command && (streq (command, "DONE") || streq (command, "EVENTS"));
    void *pointer = carries_pointer && frame && zframe_size (frame) == sizeof (void *)
                  ? *(void **) zframe_data (frame) : NULL;
    char *text = !carries_pointer && frame ? zframe_strdup (frame) : NULL;
    int rc = 0;
    if (command && streq (command, "DONE") && pointer)
        *msg = (dv_store_msg_t) { .kind = DV_STORE_DONE, .batch = (dv_batch_t *) pointer };
    else
    if (command && streq (command, "EVENTS") && pointer)
        *msg = (dv_store_msg_t) { .kind = DV_STORE_EVENTS, .events = (json_t *) pointer };
    else
    if (command && streq (command, "WAITLISTS") && text)
        *msg = (dv_store_msg_t) { .kind = DV_STORE_WAITLISTS, .text = text };
    else
    if (command && streq (command, "REVOKED") && text)
        *msg = (dv_store_msg_t) { .kind = DV_STORE_REVOKED, .text = text };
    else
    if (command && streq (command, "FATAL") && text)
        *msg = (dv_store_msg_t) { .kind = DV_STORE_FATAL, .text = text };
    else
    if (command && streq (command, "DB") && text)
        *msg = (dv_store_msg_t) { .kind = DV_STORE_DB, .db_up = streq (text, "up") };
    else
        rc = -1;
    if (msg->text != text)
        free (text);
    free (command);
    zframe_destroy (&frame);
    zmsg_destroy (&frames);
    return rc;
}

void
dv_store_msg_clear (dv_store_msg_t *msg)
{
    free (msg->text);
    json_decref (msg->events);
    dv_batch_destroy (&msg->batch);
    memset (msg, 0, sizeof *msg);
}

static void
s_send_text (s_store_t *self, const char *command, const char *text)
{
    zsock_send (self->pipe, "ss", command, text);
}

static void
s_send_events (s_store_t *self, json_t *events)
{
    if (json_array_size (events) > 0)
        zsock_send (self->pipe, "sp", "EVENTS", events);        //  the server frees them
    else
        json_decref (events);
}

//  ---------------------------------------------------------------------------
//  The connection

static void
s_report (s_store_t *self, bool up)
{
    if (self->reported_once && self->reported_up == up)
        return;
    self->reported_once = true;
    self->reported_up = up;
    s_send_text (self, "DB", up ? "up" : "down");
}

static int
s_on_reconnect_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    s_store_t *self = (s_store_t *) arg;
    self->reconnect_timer = 0;
    if (!dv_db_connected (self->db) && !self->fatal)
        s_connect (self);
    return 0;
}

static int s_on_database (zloop_t *loop, zmq_pollitem_t *item, void *arg);

static void
s_poll_database (s_store_t *self, bool poll)
{
    if (self->database_fd >= 0) {
        zmq_pollitem_t item = { NULL, self->database_fd, ZMQ_POLLIN, 0 };
        zloop_poller_end (self->loop, &item);
        self->database_fd = -1;
    }
    if (poll && dv_db_connected (self->db)) {
        self->database_fd = PQsocket (dv_db_conn (self->db));
        zmq_pollitem_t item = { NULL, self->database_fd, ZMQ_POLLIN, 0 };
        zloop_poller (self->loop, &item, s_on_database, self);
    }
}

//  The connection is gone. One that was up (a terminated backend, a
//  restarted pooler, a primary that moved) is tried again at once, so the
//  server tells no client `unavailable` for a gap it can't see; when that
//  fails, or it was down already: say so, try again after the backoff.
static void
s_disconnected (s_store_t *self, const char *why)
{
    bool was_up = !self->reported_once || self->reported_up;
    if (was_up && !self->reconnecting)
        dv_log_warning ("database %s: %s (retrying)", why, dv_db_error (self->db));
    dv_db_disconnect (self->db);
    s_poll_database (self, false);
    if (was_up && self->reported_once && !self->reconnecting && !self->fatal) {
        self->reconnecting = true;
        s_connect (self);               //  a failure comes back here, below
        self->reconnecting = false;
        return;
    }
    s_report (self, false);
    if (!self->reconnect_timer && !self->fatal)
        self->reconnect_timer = zloop_timer (self->loop, (size_t) self->backoff_ms, 1, s_on_reconnect_timer, self);
    self->backoff_ms = self->backoff_ms * 2 > S_BACKOFF_MAX_MS ? S_BACKOFF_MAX_MS : self->backoff_ms * 2;
}

static void
s_fatal_schema (s_store_t *self, int version)
{
    char message [200];
    if (version == 0)
        snprintf (message, sizeof message, "the database has no divert schema: run `divertctl migrate`");
    else
        snprintf (message, sizeof message, "the database schema is version %d but this divertd needs version %d: %s",
                  version, DV_SCHEMA_VERSION, version < DV_SCHEMA_VERSION ? "run `divertctl migrate`" : "upgrade divertd");
    self->fatal = true;
    dv_db_disconnect (self->db);
    s_send_text (self, "FATAL", message);
}

//  Connect, check the schema, LISTEN, say who makes the enrollment changes
//  (the feed's actor), load the cache; everything is due after a reconnect.
static void
s_connect (s_store_t *self)
{
    if (dv_db_connect (self->db) != 0) {
        s_disconnected (self, "unreachable");
        return;
    }
    int version = dv_db_schema_version (self->db);
    if (version >= 0 && version != DV_SCHEMA_VERSION) {
        s_fatal_schema (self, version);
        return;
    }
    const char *params [] = { self->decided_by };
    PGresult *actor = NULL;
    if (version < 0 || dv_db_command (self->db, "LISTEN divert_capacity")
    ||  dv_db_command (self->db, "LISTEN divert_revocation") || dv_db_command (self->db, "LISTEN divert_enrollment")
    ||  !(actor = dv_db_exec (self->db, "SELECT set_config('divert.actor', $1, false)", 1, params))
    ||  dv_cache_load_policy (self->cache, self->db) || dv_cache_load_counts (self->cache, self->db)) {
        PQclear (actor);
        s_disconnected (self, "unreachable");
        return;
    }
    PQclear (actor);
    dv_cache_forget (self->cache);      //  maybe another server now (a promoted standby)
    self->backoff_ms = S_BACKOFF_MIN_MS;
    self->maintenance_due = self->maintenance_all = true;   //  whatever changed while we were away
    self->revocation_due = self->feed_due = true;
    self->used_at = zclock_mono ();
    dv_log_notice ("database connected (schema version %d)", version);
    s_poll_database (self, true);
    s_report (self, true);
}

//  ---------------------------------------------------------------------------
//  Work made due by notifications and timers

static void
s_report_waitlists (s_store_t *self)
{
    char text [256];
    dv_cache_waitlists_text (self->cache, text, sizeof text);
    if (strcmp (text, self->waitlists) != 0) {
        snprintf (self->waitlists, sizeof self->waitlists, "%s", text);
        s_send_text (self, "WAITLISTS", text);
    }
}

static void
s_maintain (s_store_t *self)
{
    self->maintenance_due = false;
    json_t *events = json_array ();
    int made = dv_maintenance_run (self->db, self->cache, self->decided_by,
                                   self->maintenance_all ? NULL : self->maintenance_programs, events);
    self->maintenance_all = false;
    self->maintenance_programs [0] = 0;
    if (made < 0)
        dv_log_warning ("waitlist maintenance failed: %s (SQLSTATE %s)", dv_db_error (self->db),
                        *dv_db_sqlstate (self->db) ? dv_db_sqlstate (self->db) : "none");
    else
    if (made > 0)
        dv_log_info ("waitlist maintenance: %d later decision(s)", made);
    s_send_events (self, events);
    s_report_waitlists (self);
}

//  Read the identities of every revoked key ("kind:id", one a line, sorted)
//  and tell the server when they changed. On failure the server keeps the
//  set it has, and the next timer or reconnect reads it again.
static void
s_read_revoked (s_store_t *self)
{
    self->revocation_due = false;
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
        s_send_text (self, "REVOKED", text);
    }
    PQclear (result);
}

//  Publish the enrollment events committed since the last ones published,
//  by whoever made them (enrollments.h).
static void
s_publish_feed (s_store_t *self)
{
    self->feed_due = false;
    json_t *events = dv_enrollments_feed (self->db, &self->feed_positions);
    if (events)
        s_send_events (self, events);
}

//  After any use of the connection: a connection lost meanwhile (any
//  statement can find that out, dv_db.h) is said, no longer polled, and
//  tried again later.
static void
s_settle (s_store_t *self)
{
    if (dv_db_connected (self->db))
        self->used_at = zclock_mono ();
    else
    if (self->database_fd >= 0)
        s_disconnected (self, "connection lost");
}

//  The daily purge of personal data past the site's retention (one
//  statement: divert.purge keeps the rules and records the run). A failure
//  waits for the next day's timer.
static void
s_purge (s_store_t *self)
{
    self->purge_due = false;
    const char *params [] = { self->decided_by };
    json_t *run = dv_db_json (self->db,
        "SELECT jsonb_build_object('id', r -> 'purge_id', 'referrals', jsonb_array_length(r -> 'referrals'),"
        " 'persons', r -> 'persons') FROM divert.purge($1, false) AS r", 1, params);
    self->used_at = zclock_mono ();
    if (run)
        dv_log_notice ("purge %lld: the personal data of %lld referral(s) and %lld person(s) past the retention"
                       " was removed", (long long) json_integer_value (json_object_get (run, "id")),
                       (long long) json_integer_value (json_object_get (run, "referrals")),
                       (long long) json_integer_value (json_object_get (run, "persons")));
    else
        dv_log_warning ("the daily purge failed: %s (SQLSTATE %s)", dv_db_error (self->db),
                        *dv_db_sqlstate (self->db) ? dv_db_sqlstate (self->db) : "none");
    json_decref (run);
}

//  The feed read that s_work scheduled.
static int
s_on_feed_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    s_store_t *self = (s_store_t *) arg;
    self->feed_timer = 0;
    if (dv_db_connected (self->db) && self->feed_due) {
        s_publish_feed (self);
        s_settle (self);
    }
    return 0;
}

//  Everything due, while the connection is up: revocations first (the
//  security-relevant change), then maintenance; the feed S_FEED_MS later
//  (a burst's batches commit every few milliseconds, each NOTIFYing: their
//  events are read and published together, off the next batch's way).
static void
s_work (s_store_t *self)
{
    if (dv_db_connected (self->db) && self->revocation_due)
        s_read_revoked (self);
    if (dv_db_connected (self->db) && self->maintenance_due)
        s_maintain (self);
    if (dv_db_connected (self->db) && self->feed_due && !self->feed_timer)
        self->feed_timer = zloop_timer (self->loop, S_FEED_MS, 1, s_on_feed_timer, self);
    if (dv_db_connected (self->db) && self->purge_due)
        s_purge (self);
    s_settle (self);
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
        else {
            //  divert_capacity names the program (payload); else every program
            self->maintenance_due = true;
            char quoted [80];
            snprintf (quoted, sizeof quoted, "\"%s\"", notify->extra);
            size_t used = strlen (self->maintenance_programs);
            if (!*notify->extra || used + strlen (quoted) + 3 >= sizeof self->maintenance_programs)
                self->maintenance_all = true;
            else
            if (!strstr (self->maintenance_programs, quoted))
                snprintf (self->maintenance_programs + (used ? used - 1 : 0),
                          sizeof self->maintenance_programs - (used ? used - 1 : 0), "%s%s}", used ? "," : "{", quoted);
        }
        PQfreemem (notify);
    }
}

//  The process counters (metrics.h) into divert.daemon_metrics, while
//  connected; a failure waits for the next snapshot.
static void
s_write_metrics (s_store_t *self, const char *snapshot)
{
    if (!dv_db_connected (self->db))
        return;
    const char *params [] = { self->daemon, self->started_at, self->metrics_interval, snapshot };
    PGresult *result = dv_db_exec (self->db, "SELECT divert.daemon_metrics_put($1, to_timestamp($2::bigint),"
                                             " $3::interval, $4::jsonb)", 4, params);
    if (!result)
        dv_log_warning ("cannot write the metrics: %s (SQLSTATE %s)", dv_db_error (self->db),
                        *dv_db_sqlstate (self->db) ? dv_db_sqlstate (self->db) : "none");
    PQclear (result);
    s_settle (self);
}

//  ---------------------------------------------------------------------------
//  Batches

//  A batch's referrals in one transaction; a race is tried once more, and a
//  batch the database still refuses is decided one referral at a time, so
//  one referral it refuses can't cost the others.
static void
s_intake (s_store_t *self, dv_batch_t *batch, dv_job_t **referrals, size_t count)
{
    dv_intake_report_t report;
    dv_intake_result_t result = dv_intake_run (self->db, self->cache, self->decided_by, batch, referrals, count, &report);
    if (result == DV_INTAKE_RETRY && dv_db_connected (self->db))
        result = dv_intake_run (self->db, self->cache, self->decided_by, batch, referrals, count, &report);
    if (result != DV_INTAKE_OK && count > 1 && dv_db_connected (self->db)) {
        dv_log_warning ("deciding the %zu referrals of a failed batch one by one", count);
        for (size_t i = 0; i < count && dv_db_connected (self->db); i++)
            if (!referrals [i]->reply)
                dv_intake_run (self->db, self->cache, self->decided_by, batch, &referrals [i], 1, &report);
    }
    dv_log_debug ("batch of %zu: lock and read %.1f ms, decide %.1f ms, record and commit %.1f ms", count,
                  report.lock_us / 1e3, report.decide_us / 1e3, report.record_us / 1e3);
    //  A linked referral may have raised an entry's priority (say to tier 1)
    if (result == DV_INTAKE_OK && report.linked)
        self->maintenance_due = self->maintenance_all = true;
    s_report_waitlists (self);
}

static void
s_run_batch (s_store_t *self, dv_batch_t *batch)
{
    dv_job_t **referrals = calloc (batch->count + 1, sizeof (dv_job_t *));
    size_t count = 0;
    for (size_t i = 0; i < batch->count && dv_db_connected (self->db); i++) {
        dv_job_t *job = batch->jobs [i];
        if (job->reply)
            continue;
        switch (dv_request_type (job->request)) {
            case DV_REQ_REFERRAL: referrals [count++] = job; break;
            case DV_REQ_STATUS:   dv_referrals_status (self->db, job); break;
            case DV_REQ_REPLAY:   dv_referrals_replay (self->db, job); break;
            case DV_REQ_WITHDRAW: dv_referrals_withdraw (self->db, self->cache, self->decided_by, job, batch->events); break;
            case DV_REQ_ENROLLMENTS:
            case DV_REQ_ENROLLMENT:
            case DV_REQ_TRANSFER:
            case DV_REQ_CASELOAD: dv_enrollments_answer (self->db, job); break;
            default:
                dv_job_fail (job, "internal", "this request type is not handled");
        }
    }
    if (count > 0 && dv_db_connected (self->db))
        s_intake (self, batch, referrals, count);
    free (referrals);
    if (dv_db_connected (self->db))
        dv_batch_fail (batch, "internal", "the decision could not be recorded; nothing was recorded, send the same request again");
}

static void
s_on_batch (s_store_t *self, dv_batch_t *batch)
{
    if (!dv_db_connected (self->db) && !self->fatal && !self->reconnect_timer)
        s_connect (self);
    if (dv_db_connected (self->db)) {
        s_run_batch (self, batch);
        //  A connection that died while idle (say PostgreSQL restarted) is
        //  found by the batch: reconnect once and run what is unanswered
        //  again. Safe even if a COMMIT's outcome was unknown: a
        //  resubmitted referral is found and answered as replayed.
        if (!dv_db_connected (self->db) && !self->fatal) {
            if (self->reconnect_timer) {
                zloop_timer_end (self->loop, self->reconnect_timer);
                self->reconnect_timer = 0;
            }
            s_connect (self);
            if (dv_db_connected (self->db))
                s_run_batch (self, batch);
        }
    }
    if (!dv_db_connected (self->db))
        dv_batch_fail (batch, "unavailable", "the database is unreachable; nothing was recorded, send the same request again later");
    zsock_send (self->pipe, "sp", "DONE", batch);
}

//  ---------------------------------------------------------------------------
//  Loop handlers

static int
s_on_pipe (zloop_t *loop, zsock_t *pipe, void *arg)
{
    (void) loop;
    s_store_t *self = (s_store_t *) arg;
    char *command = NULL;
    void *pointer = NULL;
    if (zsock_recv (pipe, "sp", &command, &pointer) == -1)
        return -1;
    bool term = streq (command, "$TERM");
    if (!term && streq (command, "BATCH") && pointer) {
        s_on_batch (self, (dv_batch_t *) pointer);
        s_take_notifies (self);
        s_work (self);
    }
    else
    if (!term && streq (command, "METRICS") && pointer) {
        s_write_metrics (self, (const char *) pointer);
        free (pointer);
    }
    else
        s_settle (self);
    free (command);
    return term ? -1 : 0;
}

static int
s_on_database (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop; (void) item;
    s_store_t *self = (s_store_t *) arg;
    PGconn *conn = dv_db_conn (self->db);
    if (!conn || !PQconsumeInput (conn) || PQstatus (conn) != CONNECTION_OK) {
        s_disconnected (self, "connection lost");
        return 0;
    }
    s_take_notifies (self);
    s_work (self);
    return 0;
}

static int
s_on_recheck_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    s_store_t *self = (s_store_t *) arg;
    if (!dv_db_connected (self->db))
        return 0;
    self->maintenance_due = self->maintenance_all = true;
    self->feed_due = true;              //  the timer is the feed's safety net too
    dv_cache_load_counts (self->cache, self->db);
    s_work (self);
    return 0;
}

static int
s_on_revocation_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    s_store_t *self = (s_store_t *) arg;
    self->revocation_due = true;
    s_work (self);
    return 0;
}

static int
s_on_purge_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    s_store_t *self = (s_store_t *) arg;
    self->purge_due = true;
    s_work (self);
    return 0;
}

static int
s_on_health_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    s_store_t *self = (s_store_t *) arg;
    if (dv_db_connected (self->db) && zclock_mono () - self->used_at >= S_HEALTH_MS)
        dv_db_command (self->db, "SELECT 1");
    s_settle (self);
    return 0;
}

void
dv_store_actor (zsock_t *pipe, void *args)
{
    dv_store_args_t *store_args = (dv_store_args_t *) args;
    s_store_t self = { .pipe = pipe, .backoff_ms = S_BACKOFF_MIN_MS, .database_fd = -1 };
    self.db = dv_db_new (store_args->conninfo, "divertd");
    dv_db_prepare_statements (self.db, true);       //  the same few statements, all day
    self.cache = dv_cache_new ();
    self.decided_by = strdup (store_args->decided_by);
    self.recheck_ms = store_args->recheck_ms > 0 ? store_args->recheck_ms : 60000;
    self.daemon = strdup (store_args->daemon ? store_args->daemon : "unknown");
    snprintf (self.started_at, sizeof self.started_at, "%lld", (long long) store_args->started_at);
    snprintf (self.metrics_interval, sizeof self.metrics_interval, "%lld milliseconds",
              (long long) (store_args->metrics_interval_ms > 0 ? store_args->metrics_interval_ms : 10000));
    self.loop = zloop_new ();
    zloop_set_nonstop (self.loop, true);
    zloop_reader (self.loop, pipe, s_on_pipe, &self);
    zloop_timer (self.loop, (size_t) self.recheck_ms, 0, s_on_recheck_timer, &self);
    zloop_timer (self.loop, S_REVOCATION_MS, 0, s_on_revocation_timer, &self);
    zloop_timer (self.loop, S_HEALTH_MS, 0, s_on_health_timer, &self);
    if (store_args->purge_daily) {
        self.purge_due = true;
        zloop_timer (self.loop, S_PURGE_MS, 0, s_on_purge_timer, &self);
    }
    zsock_signal (pipe, 0);
    s_connect (&self);
    s_work (&self);
    zloop_start (self.loop);
    zloop_destroy (&self.loop);
    dv_db_destroy (&self.db);
    dv_cache_destroy (&self.cache);
    free (self.decided_by);
    free (self.daemon);
    free (self.revoked);
    json_decref (self.feed_positions);
}
