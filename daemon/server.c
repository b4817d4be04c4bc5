/*  server — divertd's event loop. See server.h. */
#include "server.h"
#include "job.h"
#include "metrics.h"
#include "outbox.h"
#include "stats.h"
#include "store.h"
#include "subscribers.h"
#include "zap.h"
#include "dv_log.h"
#include "dv_reply.h"
#include "dv_request.h"
#include <czmq.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>

struct _dv_server_t {
    dv_config_t config;
    char *config_path;
    zloop_t *loop;
    zsock_t *intake;            //  ROUTER, CURVE server
    dv_outbox_t *outbox;        //  its replies, none lost to a slow reader
    int outbox_timer;           //  sending what waits in the outbox (0: none)
    zsock_t *decisions;         //  XPUB (manual), CURVE server
    zactor_t *zap;
    zactor_t *store;
    zlistx_t *queue;            //  dv_job_t * waiting for the store
    bool store_busy;            //  a batch is with the store
    bool db_up;
    bool ready;                 //  READY=1 sent
    bool stopping;              //  SIGTERM: answer what is in flight, take nothing new
    int exit_code;
    int signal_fd;
    char decided_by [128];
    dv_stats_t *stats;          //  behind STATUS=
    dv_metrics_t *metrics;      //  the process counters for Prometheus (metrics.h)
    char daemon [120];          //  "host:pid": the metrics' daemon label
    int64_t started_at;         //  Unix seconds
    zhashx_t *queued;           //  sender id -> requests queued or with the store
    int drain_timer;            //  stopping: the last moment to answer stragglers
    int reply_hwm;              //  the intake socket's send high-water mark, per client
    zhashx_t *revoked;          //  identities ("kind:id") of revoked keys, from the store
    bool revoked_known;         //  the store has sent them once
    dv_subscribers_t *subscribers;  //  decisions-socket connections by key
};

#define S_DRAIN_MSECS 300       //  SIGTERM: answer what is still in the socket, then go
#define S_SENDER_MAX 1000       //  requests one sender may have waiting (fairness)
#define S_OUTBOX_LIMIT (32 * 1024 * 1024)   //  bytes of unread replies one client may have
#define S_OUTBOX_MSECS 10       //  how often waiting replies are tried again

//  Requests waiting per sender, so one flooding client can't take the queue.
static size_t
s_queued_for (dv_server_t *self, const char *sender)
{
    return (size_t) (uintptr_t) zhashx_lookup (self->queued, sender);
}

static void
s_count_queued (dv_server_t *self, const char *sender, int delta)
{
    size_t count = s_queued_for (self, sender) + delta;
    if (count == 0)
        zhashx_delete (self->queued, sender);
    else
        zhashx_update (self->queued, sender, (void *) (uintptr_t) count);
}

//  ---------------------------------------------------------------------------
//  Replies

static int
s_outbox_timer (zloop_t *loop, int timer_id, void *arg)
{
    dv_server_t *self = (dv_server_t *) arg;
    if (dv_outbox_flush (self->outbox) == 0) {
        zloop_timer_end (loop, timer_id);
        self->outbox_timer = 0;
    }
    return 0;
}

//  Send a reply on the envelope; takes the routing id (*routing_id_p = NULL).
//  A client slow to read has it sent when it reads (outbox.h).
static void
s_send_reply (dv_server_t *self, zframe_t **routing_id_p, json_t *reply)
{
    char *text = dv_reply_encode (reply);
    dv_outbox_send (self->outbox, routing_id_p, text ? text : "{}");
    free (text);
    if (dv_outbox_waiting (self->outbox) > 0 && !self->outbox_timer && self->loop)
        self->outbox_timer = zloop_timer (self->loop, S_OUTBOX_MSECS, 0, s_outbox_timer, self);
}

static void
s_send_error (dv_server_t *self, zframe_t **routing_id_p, dv_request_t *request,
              const char *code, const char *message)
{
    json_t *reply = dv_reply_error (request ? dv_request_request_id (request) : NULL,
                                    request ? dv_request_referral_id (request) : NULL,
                                    code, message, NULL);
    s_send_reply (self, routing_id_p, reply);
    json_decref (reply);
}

//  Log one answered job: ids and codes only, never personal data.
static void
s_log_reply (dv_server_t *self, dv_job_t *job)
{
    const char *type = json_string_value (json_object_get (job->reply, "type"));
    dv_log_fields_t fields = {
        .referral_id = dv_request_referral_id (job->request),
        .source_id = job->sender.id
    };
    if (type && streq (type, "decision")) {
        fields.decision = json_string_value (json_object_get (job->reply, "decision"));
        fields.reason = json_string_value (json_object_get (job->reply, "reason"));
        fields.seq = json_integer_value (json_object_get (job->reply, "seq"));
        bool replayed = json_is_true (json_object_get (job->reply, "replayed"));
        if (dv_request_type (job->request) == DV_REQ_REFERRAL && !replayed && fields.decision)
            dv_stats_decided (self->stats, fields.decision, time (NULL));
        dv_log_fields (LOG_INFO, &fields, "%s", replayed ? "replayed" : "decided");
    }
    else
    if (type && streq (type, "error")) {
        fields.reason = json_string_value (json_object_get (job->reply, "code"));
        dv_log_fields (LOG_NOTICE, &fields, "error reply");
    }
}

//  ---------------------------------------------------------------------------
//  systemd

static void
s_update_status (dv_server_t *self)
{
    char *status = dv_stats_status (self->stats, self->db_up, zlistx_size (self->queue),
                                    self->stopping, time (NULL));
    sd_notifyf (0, "STATUS=%s", status);
    zstr_free (&status);
}

static int
s_watchdog_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    dv_server_t *self = (dv_server_t *) arg;
    sd_notify (0, "WATCHDOG=1");
    s_update_status (self);
    return 0;
}

//  The process counters to the store, which writes them to the database
//  (every metrics_interval, and once more when divertd stops).
static void
s_send_metrics (dv_server_t *self)
{
    char *snapshot = dv_metrics_snapshot (self->metrics);
    if (snapshot && dv_store_send_metrics (self->store, &snapshot) != 0)
        dv_log_warning ("cannot hand the metrics to the database thread");
    free (snapshot);
}

static int
s_metrics_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    s_send_metrics ((dv_server_t *) arg);
    return 0;
}

//  ---------------------------------------------------------------------------
//  Batches to and from the store

//  Keys that must not appear twice in one batch: the same referral, or the
//  same person, is decided in the next batch, after the first is recorded.
static bool
s_collides (zhashx_t *seen, dv_job_t *job)
{
    if (dv_request_type (job->request) != DV_REQ_REFERRAL)
        return false;
    const dv_referral_t *r = dv_request_referral (job->request);
    char keys [3][256];
    int count = 0;
    snprintf (keys [count++], sizeof keys [0], "r|%s|%s", job->sender.id, r->referral_id);
    if (r->source_person_id)
        snprintf (keys [count++], sizeof keys [0], "p|%s|%s", job->sender.id, r->source_person_id);
    if (r->last_name && r->dob) {
        int len = snprintf (keys [count], sizeof keys [0], "n|%s|%s", r->dob, r->last_name);
        for (int i = 0; i < len && i < (int) sizeof keys [0]; i++)
            keys [count][i] = (char) tolower ((unsigned char) keys [count][i]);
        count++;
    }
    for (int i = 0; i < count; i++)
        if (zhashx_lookup (seen, keys [i]))
            return true;
    for (int i = 0; i < count; i++)
        zhashx_insert (seen, keys [i], (void *) 1);
    return false;
}

//  A batch takes requests in rounds: in each, every sender with work waiting
//  gets up to this many more, so a sender with a thousand waiting can't make
//  everyone else wait behind them, and a sender alone still fills the batch
//  (up to batch_max: a bigger transaction costs less per decision).
#define S_SENDER_ROUND 32
//  Room kept in a client's reply pipe beyond one batch's replies (answers
//  given at once: errors, pongs).
#define S_REPLY_SLACK 64

static size_t
s_taken (zhashx_t *taken, dv_job_t *job)
{
    return (size_t) (uintptr_t) zhashx_lookup (taken, job->sender.user_id);
}

//  One pass over the queue taking what the round allows; returns how many.
static size_t
s_take_round (dv_server_t *self, dv_batch_t *batch, zhashx_t *seen, zhashx_t *taken, size_t cap)
{
    size_t count = 0;
    size_t most = (size_t) (self->reply_hwm - S_REPLY_SLACK);
    cap = cap < most ? cap : most;
    dv_job_t *job = (dv_job_t *) zlistx_first (self->queue);
    while (job && batch->count < (size_t) self->config.batch_max) {
        void *cursor = zlistx_cursor (self->queue);
        dv_job_t *next = (dv_job_t *) zlistx_next (self->queue);
        size_t from_sender = s_taken (taken, job);
        if (from_sender < cap && !s_collides (seen, job)) {
            zhashx_update (taken, job->sender.user_id, (void *) (uintptr_t) (from_sender + 1));
            zlistx_detach (self->queue, cursor);
            dv_batch_add (batch, job);
            count++;
        }
        job = next;
    }
    return count;
}

static void
s_dispatch (dv_server_t *self)
{
    if (self->store_busy || zlistx_size (self->queue) == 0)
        return;
    dv_batch_t *batch = dv_batch_new ((size_t) self->config.batch_max);
    zhashx_t *seen = zhashx_new ();
    zhashx_t *taken = zhashx_new ();
    for (size_t cap = S_SENDER_ROUND; batch->count < (size_t) self->config.batch_max; cap += S_SENDER_ROUND)
        if (s_take_round (self, batch, seen, taken, cap) == 0)
            break;
    zhashx_destroy (&seen);
    zhashx_destroy (&taken);
    self->store_busy = true;
    dv_store_send_batch (self->store, batch);
}

//  What a reply tells the process counters (metrics.h), once it is sent:
//  a referral's decision latency; a case-management system's enrollment
//  change recorded here (divertd's own changes are counted from the feed).
static void
s_count_reply (dv_server_t *self, dv_job_t *job)
{
    const char *type = json_string_value (json_object_get (job->reply, "type"));
    dv_req_type_t request = dv_request_type (job->request);
    if (request == DV_REQ_REFERRAL && type && streq (type, "decision"))
        dv_metrics_latency (self->metrics, (dv_metrics_now_us () - job->received_us) / 1e6);
    else
    if ((request == DV_REQ_ENROLLMENT || request == DV_REQ_TRANSFER) && type && streq (type, "enrollment")
    &&  !json_is_true (json_object_get (job->reply, "replayed")))
        dv_metrics_enrollment_change (self->metrics, request == DV_REQ_TRANSFER ? "transferred"
                                                                               : dv_request_change (job->request));
}

//  Publish committed events, and count what this daemon recorded: every
//  decision event here is one of its own; an enrollment event is its own
//  when the feed says so ("own": made by this daemon's connection).
static void
s_publish (dv_server_t *self, json_t *events)
{
    size_t index;
    json_t *entry;
    json_array_foreach (events, index, entry) {
        json_t *wire = json_object_get (entry, "event");
        const char *type = json_string_value (json_object_get (wire, "type"));
        if (type && streq (type, "event"))
            dv_metrics_decision (self->metrics, json_string_value (json_object_get (wire, "decision")),
                                 json_string_value (json_object_get (wire, "reason")));
        else
        if (type && streq (type, "enrollment_event") && json_is_true (json_object_get (entry, "own")))
            dv_metrics_enrollment_change (self->metrics, json_string_value (json_object_get (wire, "change")));
        char *event = json_dumps (wire, JSON_COMPACT);
        zstr_sendm (self->decisions, json_string_value (json_object_get (entry, "topic")));
        zstr_send (self->decisions, event);
        free (event);
    }
}

//  ---------------------------------------------------------------------------
//  Revocation (protocol.md: a revoked key's open connections lose everything
//  within 60 s). The store sends the identities of every revoked key when
//  they change; from then on every request of such a key is `forbidden`, and
//  its subscriber connections are closed here (the client's reconnect is
//  refused by the ZAP handler). Intake connections stay open: the client
//  gets `forbidden` for each request, which is what the protocol promises.

static bool
s_is_revoked (dv_server_t *self, const char *user_id)
{
    return user_id && zhashx_lookup (self->revoked, user_id) != NULL;
}

//  text: "kind:id" one a line, the whole set.
static void
s_set_revoked (dv_server_t *self, const char *text)
{
    zhashx_t *revoked = zhashx_new ();
    char *copy = strdup (text), *rest = NULL;
    for (char *user_id = strtok_r (copy, "\n", &rest); user_id; user_id = strtok_r (NULL, "\n", &rest)) {
        zhashx_insert (revoked, user_id, (void *) 1);
        if (zhashx_lookup (self->revoked, user_id))
            continue;
        size_t cut = dv_subscribers_cut (self->subscribers, user_id);
        if (self->revoked_known || cut > 0)
            dv_log_notice ("key %s revoked: its requests are refused, %zu subscriber connection(s) closed",
                           user_id, cut);
    }
    for (void *item = zhashx_first (self->revoked); item; item = zhashx_next (self->revoked)) {
        const char *user_id = (const char *) zhashx_cursor (self->revoked);
        if (!zhashx_lookup (revoked, user_id))
            dv_log_notice ("key %s is no longer revoked", user_id);
    }
    if (!self->revoked_known)
        dv_log_info ("%zu revoked key(s) known", zhashx_size (revoked));
    self->revoked_known = true;
    zhashx_destroy (&self->revoked);
    self->revoked = revoked;
    free (copy);
}

//  One message of the store (store.h), each with its handler.

//  A batch back, answered: the next goes to the store first, so the store
//  decides it while this one's replies and events go out.
static void
s_store_done (dv_server_t *self, dv_batch_t *batch)
{
    self->store_busy = false;
    s_dispatch (self);
    dv_metrics_batch (self->metrics, batch->count);
    for (size_t i = 0; i < batch->count; i++) {
        dv_job_t *job = batch->jobs [i];
        s_count_queued (self, job->sender.user_id, -1);
        s_log_reply (self, job);
        s_send_reply (self, &job->routing_id, job->reply);
        s_count_reply (self, job);
    }
    s_publish (self, batch->events);
}

static void
s_store_db (dv_server_t *self, bool up)
{
    self->db_up = up;
    if (self->db_up && !self->ready) {
        self->ready = true;
        dv_log_notice ("ready: intake %s, decisions %s", self->config.intake, self->config.decisions);
        sd_notify (0, "READY=1");
    }
    s_update_status (self);
}

static int
s_store_ready (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    dv_server_t *self = (dv_server_t *) arg;
    dv_store_msg_t msg;
    if (dv_store_recv (reader, &msg) != 0)
        return 0;
    int rc = 0;
    switch (msg.kind) {
        case DV_STORE_DONE:      s_store_done (self, msg.batch); break;
        case DV_STORE_EVENTS:    s_publish (self, msg.events); break;
        case DV_STORE_WAITLISTS: dv_stats_set_waitlists (self->stats, msg.text); break;
        case DV_STORE_REVOKED:   s_set_revoked (self, msg.text); break;
        case DV_STORE_DB:        s_store_db (self, msg.db_up); break;
        case DV_STORE_FATAL:
            dv_log_error ("%s", msg.text);
            self->exit_code = 1;
            rc = -1;
            break;
    }
    dv_store_msg_clear (&msg);
    return rc;
}

//  ---------------------------------------------------------------------------
//  Intake

//  The sender, from the connection's ZAP User-Id ("kind:id"). False when
//  there is none (never expected: ZAP admits only registered keys).
static bool
s_sender (const char *user_id, dv_sender_t *sender)
{
    const char *colon = user_id ? strchr (user_id, ':') : NULL;
    if (!colon || colon == user_id || (size_t) (colon - user_id) >= sizeof sender->kind
    ||  strlen (colon + 1) == 0 || strlen (colon + 1) >= sizeof sender->id)
        return false;
    memset (sender, 0, sizeof *sender);
    snprintf (sender->user_id, sizeof sender->user_id, "%s", user_id);
    memcpy (sender->kind, user_id, colon - user_id);
    snprintf (sender->id, sizeof sender->id, "%s", colon + 1);
    sender->monitor = streq (sender->kind, "monitor");
    sender->cms = streq (sender->kind, "cms");
    return true;
}

//  What each kind of key may ask (protocol.md): a source its referrals and
//  its own events; a monitor replay (and subscriptions); a case-management
//  key the enrollment requests (and ping, answered before this). NULL when
//  permitted, else why not.
static const char *
s_not_permitted (const dv_sender_t *sender, dv_req_type_t type)
{
    bool cms_request = type == DV_REQ_ENROLLMENTS || type == DV_REQ_ENROLLMENT
                    || type == DV_REQ_TRANSFER || type == DV_REQ_CASELOAD;
    if (sender->monitor)
        return type == DV_REQ_REPLAY ? NULL : "a monitor key may only replay and subscribe";
    if (sender->cms)
        return cms_request ? NULL
             : "a case-management key may only send ping, enrollments, enrollment, transfer and caseload";
    return cms_request ? "only a case-management key may send this request" : NULL;
}

//  An invalid request is logged by field name and problem, never by value.
static void
s_log_problems (dv_log_fields_t *fields, dv_request_t *request)
{
    char problems [600] = "";
    size_t index, used = 0;
    json_t *problem;
    json_array_foreach (dv_request_errors (request), index, problem) {
        if (used >= sizeof problems - 1)
            break;
        //  contact's keys are the client's own words: never logged
        const char *field = json_string_value (json_object_get (problem, "field"));
        if (field && strncmp (field, "contact.", 8) == 0)
            field = "contact.*";
        int n = snprintf (problems + used, sizeof problems - used, "%s%s: %s", index ? "; " : "",
                          field, json_string_value (json_object_get (problem, "problem")));
        used += n > 0 ? (size_t) n : 0;
    }
    dv_log_fields (LOG_NOTICE, fields, "invalid request: %s%s%s", dv_request_error_message (request),
                   *problems ? " — " : "", problems);
}

static void
s_handle_request (dv_server_t *self, zframe_t **routing_id_p, zframe_t *body)
{
    int64_t received_us = dv_metrics_now_us ();
    dv_sender_t sender;
    const char *user_id = zframe_meta (body, "User-Id");
    if (!s_sender (user_id, &sender)) {
        s_send_error (self, routing_id_p, NULL, "forbidden", "this connection has no registered key");
        return;
    }
    dv_request_t *request = dv_request_new (zframe_data (body), zframe_size (body));
    const char *refusal = NULL, *code = NULL;
    if (s_is_revoked (self, user_id)) {
        //  Every request, valid or not, ping included
        dv_log_fields_t fields = { .source_id = sender.id, .reason = "forbidden" };
        dv_log_fields (LOG_NOTICE, &fields, "refused a request: key %s was revoked", user_id);
        code = "forbidden", refusal = "this key was revoked; contact the program's operator";
    }
    else
    if (!dv_request_valid (request)) {
        json_t *reply = dv_reply_error (dv_request_request_id (request), dv_request_referral_id (request),
                                        dv_request_error_code (request),
                                        dv_request_error_message (request), dv_request_errors (request));
        dv_log_fields_t fields = { .source_id = sender.id, .reason = dv_request_error_code (request) };
        s_log_problems (&fields, request);
        s_send_reply (self, routing_id_p, reply);
        json_decref (reply);
    }
    else
    if (dv_request_type (request) == DV_REQ_PING) {
        json_t *reply = dv_reply_pong (self->db_up);
        const char *request_id = dv_request_request_id (request);
        if (request_id)
            json_object_set_new (reply, "request_id", json_string (request_id));
        s_send_reply (self, routing_id_p, reply);
        json_decref (reply);
    }
    else
    if (self->stopping)
        code = "unavailable", refusal = "divertd is shutting down; nothing was recorded, send the same request again later";
    else
    if (!self->db_up)
        code = "unavailable", refusal = "the database is unreachable; nothing was recorded, send the same request again later";
    else
    if (zlistx_size (self->queue) >= (size_t) self->config.queue_max)
        code = "unavailable", refusal = "divertd is overloaded; nothing was recorded, send the same request again later";
    else
    if (s_queued_for (self, sender.user_id) >= S_SENDER_MAX)
        code = "unavailable", refusal = "too many requests from this key are waiting; nothing was recorded, send it again later";
    else
    if ((refusal = s_not_permitted (&sender, dv_request_type (request))))
        code = "forbidden";
    else {
        dv_job_t *job = dv_job_new (routing_id_p, &request, &sender);
        job->received_us = received_us;
        zlistx_add_end (self->queue, job);
        s_count_queued (self, sender.user_id, +1);
        s_dispatch (self);
    }
    if (refusal)
        s_send_error (self, routing_id_p, request, code, refusal);
    dv_request_destroy (&request);
}

static int
s_intake_ready (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    dv_server_t *self = (dv_server_t *) arg;
    zmsg_t *msg = zmsg_recv (reader);
    if (!msg)
        return 0;
    zframe_t *routing_id = zmsg_pop (msg);
    zframe_t *delimiter = zmsg_first (msg);
    if (zmsg_size (msg) != 2 || zframe_size (delimiter) != 0) {
        //  A DEALER must send an empty frame, then one JSON frame (protocol.md).
        json_t *reply = dv_reply_error (NULL, NULL, "invalid",
            "a request is an empty delimiter frame and then one JSON frame", NULL);
        s_send_reply (self, &routing_id, reply);
        json_decref (reply);
    }
    else
        s_handle_request (self, &routing_id, zmsg_last (msg));
    zframe_destroy (&routing_id);       //  if nothing took it
    zmsg_destroy (&msg);
    return 0;
}

//  ---------------------------------------------------------------------------
//  Subscriptions: a source's key gets its own topic, a case-management key
//  its programs' enrollment feeds, a monitor's anything.

//  The topics a subscription may have, into `topics` (empty: refused). A
//  monitor's key: what it asked for. A source's key: only its own topic
//  decision.<kind>.<id>. A case-management key: enrollment.<program> of
//  each of its programs (`programs`, from the handshake). A request for
//  anything broader that contains permitted topics ("", "decision.",
//  "enrollment.") is narrowed to exactly those. (Source ids of a kind, and
//  program names, never begin with one another, the database sees to that,
//  so ZeroMQ's prefix match on a permitted topic reaches nothing else.)
static void
s_permitted_topics (const dv_sender_t *sender, const char *programs, const char *topic, size_t size,
                    zlistx_t *topics)
{
    if (sender->monitor) {
        zlistx_add_end (topics, strndup (topic, size));
        return;
    }
    char *own [32] = { NULL };
    size_t count = 0;
    if (sender->cms) {
        char *list = strdup (programs ? programs : "");
        for (char *save = NULL, *program = strtok_r (list, ",", &save); program && count < 32;
             program = strtok_r (NULL, ",", &save))
            own [count++] = zsys_sprintf ("enrollment.%s", program);
        free (list);
    }
    else
        own [count++] = zsys_sprintf ("decision.%s.%s", sender->kind, sender->id);
    for (size_t i = 0; i < count; i++) {
        if (size <= strlen (own [i]) && memcmp (topic, own [i], size) == 0)
            zlistx_add_end (topics, own [i]);
        else
            zstr_free (&own [i]);
    }
}

//  One (un)subscription. XPUB manual mode: the option applies to the
//  connection it came from. (CZMQ's zsock_set_subscribe is for SUB sockets.)
static void
s_subscription (dv_server_t *self, const char *user_id, const char *programs, bool subscribe,
                const char *topic, size_t size, int fd)
{
    dv_sender_t sender;
    if (!s_sender (user_id, &sender))
        return;
    void *handle = zsock_resolve (self->decisions);
    dv_log_fields_t fields = { .source_id = sender.id };
    if (subscribe) {
        //  Every subscriber is noted, so revoking its key can close it; one
        //  that can't be told apart from others gets nothing.
        if (dv_subscribers_note (self->subscribers, fd, user_id) != 0) {
            dv_log_fields (LOG_WARNING, &fields, "refused a subscription: its connection is unknown (no source fd)");
            return;
        }
        //  Connected just before the revocation reached us: close it now.
        if (s_is_revoked (self, user_id)) {
            dv_subscribers_cut (self->subscribers, user_id);
            dv_log_fields (LOG_NOTICE, &fields, "closed a subscriber connection: key %s was revoked", user_id);
            return;
        }
    }
    zlistx_t *topics = zlistx_new ();
    zlistx_set_destructor (topics, (zlistx_destructor_fn *) zstr_free);
    s_permitted_topics (&sender, programs, topic, size, topics);
    for (char *permitted = (char *) zlistx_first (topics); permitted; permitted = (char *) zlistx_next (topics))
        zmq_setsockopt (handle, subscribe ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE, permitted, strlen (permitted));
    if (subscribe && zlistx_size (topics) == 0)
        dv_log_fields (LOG_WARNING, &fields, "refused a subscription to events this key may not see");
    zlistx_destroy (&topics);
}

//  Read with libzmq itself, not CZMQ: a subscription's source fd (ZMQ_SRCFD)
//  is only on the zmq_msg_t.
static int
s_decisions_ready (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    dv_server_t *self = (dv_server_t *) arg;
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    if (zmq_msg_recv (&msg, zsock_resolve (reader), ZMQ_DONTWAIT) >= 0) {
        const byte *data = (const byte *) zmq_msg_data (&msg);
        size_t size = zmq_msg_size (&msg);
        if (size >= 1 && (data [0] == 0 || data [0] == 1))
            s_subscription (self, zmq_msg_gets (&msg, "User-Id"), zmq_msg_gets (&msg, DV_ZAP_PROGRAMS), data [0] == 1,
                            (const char *) data + 1, size - 1, zmq_msg_get (&msg, ZMQ_SRCFD));
    }
    zmq_msg_close (&msg);
    return 0;
}

//  ---------------------------------------------------------------------------
//  Signals: SIGTERM/SIGINT stop gracefully, SIGHUP reloads.

int
dv_server_load_config (dv_config_t *config, const char *path, char *error, size_t size)
{
    if (dv_config_load (config, path, error, size) != 0)
        return -1;
    char *message = NULL;
    PQconninfoOption *options = PQconninfoParse (config->conninfo, &message);
    if (!options) {
        //  libpq's reason names the bad keyword or syntax, never a password
        char *line = message ? message : "out of memory";
        line [strcspn (line, "\n")] = 0;
        snprintf (error, size, "%s: database/conninfo is not a libpq connection string: %s", path, line);
        PQfreemem (message);
        return -1;
    }
    PQconninfoFree (options);
    return 0;
}

static void
s_reload (dv_server_t *self)
{
    sd_notifyf (0, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long) (zclock_usecs ()));
    dv_config_t fresh;
    dv_config_defaults (&fresh);
    char error [1200];
    if (self->config_path && dv_server_load_config (&fresh, self->config_path, error, sizeof error) != 0)
        dv_log_error ("reload refused, keeping the running configuration: %s", error);
    else {
        //  Endpoints and the server key need a restart; the rest applies now.
        self->config.batch_max = fresh.batch_max;
        self->config.queue_max = fresh.queue_max;
        self->config.waitlist_recheck_ms = fresh.waitlist_recheck_ms;
        dv_log_init ("divertd", fresh.log, dv_log_level (fresh.log_level));
        dv_log_notice ("configuration reloaded");
    }
    sd_notify (0, "READY=1");
}

//  Stopping: once nothing is queued or with the store, keep answering
//  `unavailable` to what is still arriving for a moment, then end the loop.
static int
s_stop_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    dv_server_t *self = (dv_server_t *) arg;
    if (self->store_busy || zlistx_size (self->queue) > 0) {
        self->drain_timer = 0;
        return 0;
    }
    self->drain_timer += 50;
    return self->drain_timer >= S_DRAIN_MSECS ? -1 : 0;
}

static int
s_signal_ready (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop; (void) item;
    dv_server_t *self = (dv_server_t *) arg;
    struct signalfd_siginfo info;
    if (read (self->signal_fd, &info, sizeof info) != sizeof info)
        return 0;
    if (info.ssi_signo == SIGHUP) {
        s_reload (self);
        return 0;
    }
    if (!self->stopping) {
        self->stopping = true;
        sd_notify (0, "STOPPING=1");
        dv_log_notice ("stopping: answering %zu queued request(s), taking no new ones",
                       zlistx_size (self->queue) + (self->store_busy ? 1 : 0));
        zloop_timer (loop, 50, 0, s_stop_timer, self);
    }
    return 0;
}

//  ---------------------------------------------------------------------------
//  Construction

static zsock_t *
s_bind (int type, zcert_t *cert, const char *endpoint, int max_size, int sndhwm, char *error, size_t size,
        int *status)
{
    zsock_t *sock = zsock_new (type);
    zcert_apply (cert, sock);
    zsock_set_curve_server (sock, 1);
    zsock_set_zap_domain (sock, "divert");
    //  libzmq checks the size of the CURVE-encrypted frame, 33 bytes more than
    //  the JSON in it (MESSAGE command, nonce, MAC): allow exactly max_size.
    zsock_set_maxmsgsize (sock, max_size + 33);
    zsock_set_linger (sock, 1000);
    //  Replies a client doesn't read wait in its pipe: bound how many (a reply
    //  is at most a page of replay events), beyond that they wait in the
    //  outbox (outbox.h). Subscribers that stop reading lose events beyond
    //  it; replay is the truth.
    zsock_set_sndhwm (sock, sndhwm);
    //  Requests not yet read, per connection: at most 100 of max_size each.
    //  (Lossless: beyond it libzmq stops reading that client's TCP socket.)
    zsock_set_rcvhwm (sock, 100);
    if (type == ZMQ_XPUB)
        zsock_set_xpub_manual (sock, 1);
    if (zsock_bind (sock, "%s", endpoint) == -1) {
        int reason = zmq_errno ();
        snprintf (error, size, "cannot bind %s: %s", endpoint, zmq_strerror (reason));
        //  In use or not available now: maybe transient. Anything else is
        //  an endpoint that can't work (a typo, an unknown transport).
        *status = reason == EADDRINUSE || reason == EADDRNOTAVAIL ? 1 : DV_EXIT_CONFIG;
        zsock_destroy (&sock);
    }
    return sock;
}

//  A relative server_cert is looked up in $CREDENTIALS_DIRECTORY (systemd's
//  LoadCredential=), then in the working directory.
static void
s_resolve_cert (dv_config_t *config)
{
    const char *credentials = getenv ("CREDENTIALS_DIRECTORY");
    if (config->server_cert [0] != '/' && credentials && *credentials) {
        char *path = zsys_sprintf ("%s/%s", credentials, config->server_cert);
        if (strlen (path) < sizeof config->server_cert)
            memcpy (config->server_cert, path, strlen (path) + 1);
        zstr_free (&path);
    }
}

static int
s_start_sockets (dv_server_t *self, char *error, size_t size, int *status)
{
    s_resolve_cert (&self->config);
    zcert_t *cert = zcert_load (self->config.server_cert);
    if (!cert || streq (zcert_secret_txt (cert), "0000000000000000000000000000000000000000")) {
        snprintf (error, size, "%s: cannot read the server certificate and its secret (%s_secret)",
                  self->config.server_cert, self->config.server_cert);
        *status = DV_EXIT_CONFIG;
        zcert_destroy (&cert);
        return -1;
    }
    //  A batch's replies to one client go out at once, before the I/O thread
    //  can drain them: the pipe holds a whole batch and some (a reload can't
    //  raise it: s_take_round keeps within it).
    self->reply_hwm = self->config.batch_max + S_REPLY_SLACK > 200 ? self->config.batch_max + S_REPLY_SLACK : 200;
    self->intake = s_bind (ZMQ_ROUTER, cert, self->config.intake, self->config.max_message_size,
                           self->reply_hwm, error, size, status);
    if (self->intake)
        self->outbox = dv_outbox_new (self->intake, S_OUTBOX_LIMIT);
    if (self->intake)
        self->decisions = s_bind (ZMQ_XPUB, cert, self->config.decisions, self->config.max_message_size,
                                  10000, error, size, status);
    zcert_destroy (&cert);
    return self->intake && self->decisions ? 0 : -1;
}

dv_server_t *
dv_server_new (const dv_config_t *config, const char *config_path, char *error, size_t size,
               int *status)
{
    *status = 1;
    dv_server_t *self = calloc (1, sizeof *self);
    assert (self);
    self->config = *config;
    self->config_path = config_path ? strdup (config_path) : NULL;
    self->signal_fd = -1;
    char host [64] = "localhost";
    gethostname (host, sizeof host - 1);
    snprintf (self->decided_by, sizeof self->decided_by, "divertd@%s:%d", host, (int) getpid ());
    snprintf (self->daemon, sizeof self->daemon, "%s:%d", host, (int) getpid ());
    self->started_at = (int64_t) time (NULL);
    self->stats = dv_stats_new ();
    self->metrics = dv_metrics_new ();
    self->queued = zhashx_new ();
    self->revoked = zhashx_new ();
    self->subscribers = dv_subscribers_new ();
    self->queue = zlistx_new ();
    zlistx_set_destructor (self->queue, (zlistx_destructor_fn *) dv_job_destroy);

    //  Signals go to the loop through a signalfd; block them before any
    //  thread starts so every thread inherits the mask.
    sigset_t mask;
    sigemptyset (&mask);
    sigaddset (&mask, SIGTERM);
    sigaddset (&mask, SIGINT);
    sigaddset (&mask, SIGHUP);
    pthread_sigmask (SIG_BLOCK, &mask, NULL);
    self->signal_fd = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

    //  The ZAP handler is bound before any CURVE socket accepts a handshake.
    self->zap = zactor_new (dv_zap_actor, self->config.conninfo);
    if (!self->zap) {
        snprintf (error, size, "cannot start the ZAP handler (is another bound in this process?)");
        dv_server_destroy (&self);
        return NULL;
    }
    if (s_start_sockets (self, error, size, status) != 0) {
        dv_server_destroy (&self);
        return NULL;
    }
    dv_store_args_t args = { self->config.conninfo, self->decided_by, self->config.waitlist_recheck_ms,
                             streq (self->config.purge, "daily"), self->daemon, self->started_at,
                             self->config.metrics_interval_ms };
    self->store = zactor_new (dv_store_actor, &args);
    return self;
}

void
dv_server_destroy (dv_server_t **self_p)
{
    if (self_p && *self_p) {
        dv_server_t *self = *self_p;
        zloop_destroy (&self->loop);
        zactor_destroy (&self->store);
        dv_outbox_destroy (&self->outbox);
        zsock_destroy (&self->intake);
        zsock_destroy (&self->decisions);
        zactor_destroy (&self->zap);
        zlistx_destroy (&self->queue);
        dv_stats_destroy (&self->stats);
        dv_metrics_destroy (&self->metrics);
        zhashx_destroy (&self->queued);
        zhashx_destroy (&self->revoked);
        dv_subscribers_destroy (&self->subscribers);
        if (self->signal_fd >= 0)
            close (self->signal_fd);
        free (self->config_path);
        free (self);
        *self_p = NULL;
    }
}

int
dv_server_run (dv_server_t *self)
{
    self->loop = zloop_new ();
    zloop_set_nonstop (self->loop, true);       //  our signalfd decides when to stop
    zloop_reader (self->loop, self->intake, s_intake_ready, self);
    zloop_reader (self->loop, self->decisions, s_decisions_ready, self);
    zloop_reader (self->loop, zactor_sock (self->store), s_store_ready, self);
    zmq_pollitem_t signals = { NULL, self->signal_fd, ZMQ_POLLIN, 0 };
    zloop_poller (self->loop, &signals, s_signal_ready, self);
    uint64_t watchdog_usec = 0;
    if (sd_watchdog_enabled (0, &watchdog_usec) > 0 && watchdog_usec > 0)
        zloop_timer (self->loop, watchdog_usec / 2000 ? watchdog_usec / 2000 : 1, 0, s_watchdog_timer, self);
    else
        zloop_timer (self->loop, 5000, 0, s_watchdog_timer, self);
    zloop_timer (self->loop, (size_t) self->config.metrics_interval_ms, 0, s_metrics_timer, self);
    zloop_start (self->loop);
    //  Answer anything still queued (only when stopping on a fatal error).
    dv_job_t *job;
    while ((job = (dv_job_t *) zlistx_detach (self->queue, NULL))) {
        s_send_error (self, &job->routing_id, job->request, "unavailable",
                      "divertd is shutting down; nothing was recorded, send the same request again later");
        dv_job_destroy (&job);
    }
    //  Replies still waiting for slow readers: a second more, as long as the
    //  socket's linger
    for (int64_t end = zclock_mono () + 1000; dv_outbox_flush (self->outbox) > 0 && zclock_mono () < end; )
        zclock_sleep (S_OUTBOX_MSECS);
    //  The final counts; the store writes them before it ends (dv_server_destroy)
    s_send_metrics (self);
    dv_log_notice ("stopped");
    return self->exit_code;
}
