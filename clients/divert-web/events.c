/*  events — live updates for divert-web's pages.

    One thread subscribes to divertd's decisions socket with the monitor
    key (every topic: decision.* and enrollment.*) and keeps the latest
    events in a ring. Each open page holds a Server-Sent Events stream
    (GET /api/events) that sends the events its user may see, filtered
    here, on the server:

      partner        decisions about its own source's referrals
      case_manager   decisions and enrollment changes of people assigned to
                     them (the case manager of a decision event is looked up
                     in the database: events don't carry it)
      program        every decision and enrollment change
      admin          nothing

    Events carry no personal data (protocol.md), and the pages treat them
    as "something changed": they fetch the view again, through the
    database functions that check what the user may see. A stream that
    fell behind the ring gets "resync". Every 15 s a stream sends a
    keep-alive and checks that its session is still live (without resetting
    the idle timeout); a stream whose session ended, or a stopping server,
    ends it.

    Several daemons (divert/decisions lists one endpoint per daemon): each
    divertd publishes only the decisions it made itself, so no one socket
    carries them all, and a subscriber that moves from daemon to daemon
    would miss what the others decide. The thread holds one subscriber per
    daemon instead, each on that daemon's endpoint alone (ZeroMQ connects
    again by itself when the daemon is back; heartbeats notice a lost
    host), and merges what they hear into the one ring. Every daemon
    publishes the enrollment feed: an event heard already, by (program,
    seq) for enrollment events and (source, seq) for decisions, is dropped,
    so a page gets each once (the last S_SEEN keys are remembered; copies
    arrive within moments of each other). When a subscriber loses its
    connection, or gets one (again), something may have been missed: what
    was published while it had none, or what a daemon that died had
    committed but not yet published. Every stream then gets "resync" and
    its page fetches the view again. Which daemons are connected is what
    /api/health reports (web_events_daemons).
*/
#include "web.h"
#include "dv_client.h"

#include <czmq.h>
#include <errno.h>
#include <time.h>

#define S_RING 512
#define S_KEEPALIVE_MS 15000
#define S_BLOCK (32 * 1024)
#define S_SEEN 4096             //  event keys remembered to drop copies
#define S_POLL_MS 250           //  the longest a connection change waits to be noticed
#define S_BURST 256             //  events read from one daemon before the next one's
#define S_RETRY_MS 5000         //  between attempts to make a subscriber

typedef struct {
    uint64_t index;
    char kind [16];             //  "decision", "enrollment" or "resync"
    char source_id [40];
    char program [40];
    char case_manager [72];
    char *json;
} s_event_t;

//  One daemon's decisions socket
typedef struct {
    char endpoint [256];
    dv_subscriber_t *subscriber;    //  the subscriber thread's
    int64_t retry_at;               //  when to try making it again (zclock_mono)
    bool warned;
    int connects;                   //  dv_subscriber_connects, as last seen
    bool connected;                 //  as last seen (under the hub's lock)
    int64_t since;                  //  when that changed (zclock_mono; under the lock)
} s_daemon_t;

struct _web_events_t {
    web_t *web;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    s_event_t ring [S_RING];
    uint64_t next;              //  index the next event gets
    uint64_t received;          //  events taken (STATUS=)
    volatile bool stopping;
    s_daemon_t daemons [DV_CLIENT_ENDPOINTS_MAX];
    int daemon_count;
    //  the subscriber thread's: keys of the events heard last
    zhashx_t *seen;
    char *seen_keys [S_SEEN];
    uint64_t seen_next;
};

typedef struct {
    web_events_t *hub;
    char role [16];
    char source_id [40];
    char case_manager [72];
    char token_hash [WEB_HASH_SIZE];
    uint64_t cursor;
    bool hello_sent;
    int64_t last_check;
} s_stream_t;


//  --------------------------------------------------------------------------
//  The subscriber thread

static void
s_copy (char *target, size_t size, const char *value)
{
    snprintf (target, size, "%s", value ? value : "");
}

//  The case manager a decision event concerns (its enrollment's), or "".
static void
s_case_manager (dv_db_t *db, const char *source, const char *referral, char *cm, size_t size)
{
    *cm = 0;
    if (!db || !source || !referral)
        return;
    if (!dv_db_connected (db) && dv_db_connect (db) != 0)
        return;
    const char *params [] = { source, referral };
    PGresult *result = dv_db_exec (db, "SELECT case_manager_id FROM divert.web_referrals"
                                       " WHERE source_id = $1 AND referral_id = lower($2)", 2, params);
    if (result && PQntuples (result) == 1 && !PQgetisnull (result, 0, 0))
        s_copy (cm, size, PQgetvalue (result, 0, 0));
    if (result)
        PQclear (result);
}

//  Put an item in the ring (it takes item->json) and wake the streams.
static void
s_ring_add (web_events_t *self, s_event_t *item)
{
    pthread_mutex_lock (&self->lock);
    s_event_t *slot = &self->ring [self->next % S_RING];
    free (slot->json);
    item->index = self->next++;
    *slot = *item;
    if (!streq (item->kind, "resync"))
        self->received++;
    pthread_cond_broadcast (&self->changed);
    pthread_mutex_unlock (&self->lock);
}

//  Every stream fetches its view again.
static void
s_resync (web_events_t *self)
{
    s_event_t item;
    memset (&item, 0, sizeof item);
    s_copy (item.kind, sizeof item.kind, "resync");
    item.json = strdup ("{}");
    if (item.json)
        s_ring_add (self, &item);
}

//  Whether this event was heard already (from another daemon); remembers
//  it when not. An event without its seq is never taken for a copy.
static bool
s_heard (web_events_t *self, bool enrollment, json_t *event)
{
    json_t *seq = json_object_get (event, "seq");
    const char *by = json_string_value (json_object_get (event, enrollment ? "program" : "source_id"));
    if (!json_is_integer (seq) || !by)
        return false;
    char key [200];
    snprintf (key, sizeof key, "%c %lld %s", enrollment ? 'e' : 'd', (long long) json_integer_value (seq), by);
    if (zhashx_lookup (self->seen, key))
        return true;
    char **slot = &self->seen_keys [self->seen_next++ % S_SEEN];
    if (*slot) {
        zhashx_delete (self->seen, *slot);
        free (*slot);
    }
    *slot = strdup (key);
    zhashx_insert (self->seen, key, (void *) 1);
    return false;
}

static void
s_take (web_events_t *self, dv_db_t *db, const char *topic, json_t *event)
{
    s_event_t item;
    memset (&item, 0, sizeof item);
    bool enrollment = strncmp (topic, "enrollment.", 11) == 0;
    if (!enrollment && strncmp (topic, "decision.", 9) != 0)
        return;
    if (s_heard (self, enrollment, event))
        return;
    s_copy (item.kind, sizeof item.kind, enrollment ? "enrollment" : "decision");
    s_copy (item.source_id, sizeof item.source_id, json_string_value (json_object_get (event, "source_id")));
    s_copy (item.program, sizeof item.program, json_string_value (json_object_get (event, "program")));
    if (enrollment)
        s_copy (item.case_manager, sizeof item.case_manager,
                json_string_value (json_object_get (event, "case_manager")));
    else
        s_case_manager (db, item.source_id, json_string_value (json_object_get (event, "referral_id")),
                        item.case_manager, sizeof item.case_manager);
    item.json = json_dumps (event, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (item.json)
        s_ring_add (self, &item);
}

//  Make the subscribers that are missing (their keys could not be read:
//  tried again every S_RETRY_MS). True when one was made.
static bool
s_open (web_events_t *self, const char *server, const char *monitor)
{
    bool made = false;
    for (int i = 0; i < self->daemon_count; i++) {
        s_daemon_t *daemon = &self->daemons [i];
        if (daemon->subscriber || zclock_mono () < daemon->retry_at)
            continue;
        daemon->subscriber = dv_subscriber_new (daemon->endpoint, server, monitor, "");
        if (daemon->subscriber) {
            dv_log_info ("live updates: subscribed to %s", daemon->endpoint);
            made = true;
        }
        else {
            if (!daemon->warned)
                dv_log_warning ("live updates: cannot subscribe to %s with the monitor key: %s",
                                daemon->endpoint, dv_client_last_error ());
            daemon->warned = true;
            daemon->retry_at = zclock_mono () + S_RETRY_MS;
        }
    }
    return made;
}

//  One poller for every subscriber's socket, or NULL when there is none.
static zpoller_t *
s_poller (web_events_t *self)
{
    zpoller_t *poller = NULL;
    for (int i = 0; i < self->daemon_count; i++) {
        void *sock = dv_subscriber_sock (self->daemons [i].subscriber);
        if (!sock)
            continue;
        if (!poller) {
            poller = zpoller_new (sock, NULL);
            if (poller)
                zpoller_set_nonstop (poller, true);
        }
        else
            zpoller_add (poller, sock);
    }
    return poller;
}

//  Whether the daemon's connection changed since last time: then log it,
//  keep it for /api/health, and have every page fetch its view again.
static void
s_watch (web_events_t *self, s_daemon_t *daemon)
{
    bool connected = dv_subscriber_connected (daemon->subscriber);
    int connects = dv_subscriber_connects (daemon->subscriber);
    if (connected == daemon->connected && connects == daemon->connects)
        return;
    if (connects != daemon->connects)
        dv_log_notice ("live updates: connected to %s%s", daemon->endpoint, daemon->connects ? " again" : "");
    if (!connected)
        dv_log_warning ("live updates: lost the connection to %s", daemon->endpoint);
    pthread_mutex_lock (&self->lock);
    daemon->connected = connected;
    daemon->since = zclock_mono ();
    pthread_mutex_unlock (&self->lock);
    daemon->connects = connects;
    s_resync (self);
}

//  What one daemon sent since the last round (at most S_BURST events), then
//  its connection.
static void
s_listen (web_events_t *self, s_daemon_t *daemon, dv_db_t *db)
{
    if (!daemon->subscriber)
        return;
    for (int count = 0; count < S_BURST; count++) {
        char *topic = NULL;
        json_t *event = dv_subscriber_recv (daemon->subscriber, 0, &topic);
        if (event && topic)
            s_take (self, db, topic, event);
        free (topic);
        if (!event)
            break;
        json_decref (event);
    }
    s_watch (self, daemon);
}

static void *
s_subscriber (void *arg)
{
    web_events_t *self = (web_events_t *) arg;
    const web_config_t *config = self->web->config;
    char server [1400], monitor [1400];
    web_config_key_path (config, "server.cert", server, sizeof server);
    web_config_key_path (config, config->monitor_cert, monitor, sizeof monitor);
    dv_db_t *db = dv_db_new (config->conninfo, "divert-web-events");
    zpoller_t *poller = NULL;
    while (!self->stopping) {
        if (s_open (self, server, monitor))
            zpoller_destroy (&poller);
        if (!poller)
            poller = s_poller (self);
        if (poller)
            zpoller_wait (poller, S_POLL_MS);
        else
            zclock_sleep (S_POLL_MS);
        for (int i = 0; i < self->daemon_count && !self->stopping; i++)
            s_listen (self, &self->daemons [i], db);
    }
    zpoller_destroy (&poller);
    for (int i = 0; i < self->daemon_count; i++)
        dv_subscriber_destroy (&self->daemons [i].subscriber);
    dv_db_destroy (&db);
    return NULL;
}

web_events_t *
web_events_new (web_t *web)
{
    web_events_t *self = calloc (1, sizeof *self);
    self->web = web;
    pthread_mutex_init (&self->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&self->changed, &attr);
    pthread_condattr_destroy (&attr);
    self->seen = zhashx_new ();
    for (int i = 0; i < DV_CLIENT_ENDPOINTS_MAX; i++) {
        s_daemon_t *daemon = &self->daemons [i];
        if (!web_config_endpoint (web->config->decisions, i, daemon->endpoint, sizeof daemon->endpoint)
        ||  !*daemon->endpoint)
            break;
        daemon->since = zclock_mono ();
        self->daemon_count++;
    }
    self->started = pthread_create (&self->thread, NULL, s_subscriber, self) == 0;
    return self;
}

void
web_events_stop (web_events_t *self)
{
    if (!self)
        return;
    pthread_mutex_lock (&self->lock);
    self->stopping = true;
    pthread_cond_broadcast (&self->changed);
    pthread_mutex_unlock (&self->lock);
}

void
web_events_destroy (web_events_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    web_events_t *self = *self_p;
    web_events_stop (self);
    if (self->started)
        pthread_join (self->thread, NULL);
    for (int i = 0; i < S_RING; i++)
        free (self->ring [i].json);
    for (int i = 0; i < S_SEEN; i++)
        free (self->seen_keys [i]);
    zhashx_destroy (&self->seen);
    pthread_mutex_destroy (&self->lock);
    pthread_cond_destroy (&self->changed);
    free (self);
    *self_p = NULL;
}

uint64_t
web_events_count (web_events_t *self)
{
    pthread_mutex_lock (&self->lock);
    uint64_t count = self->received;
    pthread_mutex_unlock (&self->lock);
    return count;
}

json_t *
web_events_daemons (web_events_t *self)
{
    json_t *daemons = json_array ();
    if (!self)
        return daemons;
    int64_t now = zclock_mono ();
    pthread_mutex_lock (&self->lock);
    for (int i = 0; i < self->daemon_count; i++)
        json_array_append_new (daemons, json_pack ("{s:i, s:b, s:I}", "daemon", i + 1,
                                                   "connected", self->daemons [i].connected,
                                                   "seconds", (json_int_t) ((now - self->daemons [i].since) / 1000)));
    pthread_mutex_unlock (&self->lock);
    return daemons;
}

bool
web_events_connected (web_events_t *self, int index, int64_t *msecs)
{
    if (!self || index < 0 || index >= self->daemon_count)
        return false;
    pthread_mutex_lock (&self->lock);
    bool connected = self->daemons [index].connected;
    if (msecs)
        *msecs = zclock_mono () - self->daemons [index].since;
    pthread_mutex_unlock (&self->lock);
    return connected;
}


//  --------------------------------------------------------------------------
//  One page's stream

static bool
s_visible (s_stream_t *stream, s_event_t *event)
{
    if (streq (event->kind, "resync"))
        return streq (stream->role, "program") || streq (stream->role, "partner")
            || streq (stream->role, "case_manager");
    if (streq (stream->role, "program"))
        return true;
    if (streq (stream->role, "partner"))
        return streq (event->kind, "decision") && streq (event->source_id, stream->source_id);
    if (streq (stream->role, "case_manager"))
        return *event->case_manager && streq (event->case_manager, stream->case_manager);
    return false;
}

static size_t
s_write (char *buf, size_t max, const char *format, ...) __attribute__ ((format (printf, 3, 4)));

static size_t
s_write (char *buf, size_t max, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    int len = vsnprintf (buf, max, format, args);
    va_end (args);
    return len > 0 && (size_t) len < max ? (size_t) len : 0;
}

static bool
s_session_live (s_stream_t *stream)
{
    const char *params [] = { stream->token_hash };
    json_t *live = web_pool_json (stream->hub->web->pool, "SELECT to_jsonb(divert.web_session_valid($1))", 1, params);
    //  A database that can't answer keeps the stream: the next check decides.
    bool ok = !live || !json_is_false (live);
    json_decref (live);
    return ok;
}

static ssize_t
s_reader (void *cls, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    s_stream_t *stream = (s_stream_t *) cls;
    web_events_t *hub = stream->hub;
    if (!stream->hello_sent) {
        stream->hello_sent = true;
        return (ssize_t) s_write (buf, max, "retry: 3000\nevent: hello\ndata: {}\n\n");
    }
    pthread_mutex_lock (&hub->lock);
    while (true) {
        if (hub->stopping) {
            pthread_mutex_unlock (&hub->lock);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (hub->next > S_RING && stream->cursor < hub->next - S_RING) {
            stream->cursor = hub->next;
            pthread_mutex_unlock (&hub->lock);
            return (ssize_t) s_write (buf, max, "event: resync\ndata: {}\n\n");
        }
        size_t used = 0;
        while (stream->cursor < hub->next) {
            s_event_t *event = &hub->ring [stream->cursor % S_RING];
            if (s_visible (stream, event)) {
                size_t len = s_write (buf + used, max - used, "event: %s\ndata: %s\n\n", event->kind, event->json);
                if (len == 0 && used > 0)
                    break;          //  the rest goes in the next block
                used += len;
            }
            stream->cursor++;
        }
        if (used > 0) {
            pthread_mutex_unlock (&hub->lock);
            return (ssize_t) used;
        }
        int64_t now = zclock_mono ();
        if (now - stream->last_check >= S_KEEPALIVE_MS) {
            pthread_mutex_unlock (&hub->lock);
            stream->last_check = now;
            if (!s_session_live (stream))
                return MHD_CONTENT_READER_END_OF_STREAM;
            return (ssize_t) s_write (buf, max, ": keep-alive\n\n");
        }
        struct timespec until;
        clock_gettime (CLOCK_MONOTONIC, &until);
        int64_t wait = S_KEEPALIVE_MS - (now - stream->last_check);
        until.tv_sec += wait / 1000;
        until.tv_nsec += (long) (wait % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait (&hub->changed, &hub->lock, &until);
    }
}

static void
s_stream_free (void *cls)
{
    free (cls);
}

struct MHD_Response *
web_events_response (web_events_t *self, json_t *session, const char *token_hash)
{
    if (!self || self->stopping)
        return NULL;
    s_stream_t *stream = calloc (1, sizeof *stream);
    stream->hub = self;
    s_copy (stream->role, sizeof stream->role, json_string_value (json_object_get (session, "role")));
    s_copy (stream->source_id, sizeof stream->source_id,
            json_string_value (json_object_get (json_object_get (session, "source"), "id")));
    s_copy (stream->case_manager, sizeof stream->case_manager,
            json_string_value (json_object_get (json_object_get (session, "case_manager"), "id")));
    s_copy (stream->token_hash, sizeof stream->token_hash, token_hash);
    pthread_mutex_lock (&self->lock);
    stream->cursor = self->next;
    pthread_mutex_unlock (&self->lock);
    stream->last_check = zclock_mono ();
    struct MHD_Response *response = MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, S_BLOCK,
                                                                       s_reader, stream, s_stream_free);
    if (!response) {
        free (stream);
        return NULL;
    }
    MHD_add_response_header (response, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header (response, "Cache-Control", "no-store");
    MHD_add_response_header (response, "X-Accel-Buffering", "no");
    return response;
}
