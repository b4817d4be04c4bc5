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
*/
#include "web.h"
#include "dv_client.h"

#include <czmq.h>
#include <errno.h>
#include <time.h>

#define S_RING 512
#define S_KEEPALIVE_MS 15000
#define S_BLOCK (32 * 1024)

typedef struct {
    uint64_t index;
    char kind [16];             //  "decision" or "enrollment"
    char source_id [40];
    char program [40];
    char case_manager [72];
    char *json;
} s_event_t;

struct _web_events_t {
    web_t *web;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    s_event_t ring [S_RING];
    uint64_t next;              //  index the next event gets
    volatile bool stopping;
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

static void
s_publish (web_events_t *self, dv_db_t *db, const char *topic, json_t *event)
{
    s_event_t item;
    memset (&item, 0, sizeof item);
    bool enrollment = strncmp (topic, "enrollment.", 11) == 0;
    if (!enrollment && strncmp (topic, "decision.", 9) != 0)
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
    if (!item.json)
        return;
    pthread_mutex_lock (&self->lock);
    s_event_t *slot = &self->ring [self->next % S_RING];
    free (slot->json);
    item.index = self->next++;
    *slot = item;
    pthread_cond_broadcast (&self->changed);
    pthread_mutex_unlock (&self->lock);
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
    dv_subscriber_t *subscriber = NULL;
    bool warned = false;
    while (!self->stopping) {
        if (!subscriber) {
            subscriber = dv_subscriber_new (config->decisions, server, monitor, "");
            if (!subscriber) {
                if (!warned)
                    dv_log_warning ("live updates: cannot subscribe with the monitor key: %s",
                                    dv_client_last_error ());
                warned = true;
                for (int i = 0; i < 20 && !self->stopping; i++)
                    zclock_sleep (250);
                continue;
            }
            dv_log_info ("live updates: subscribed to %s", config->decisions);
        }
        char *topic = NULL;
        json_t *event = dv_subscriber_recv (subscriber, 250, &topic);
        if (event && topic)
            s_publish (self, db, topic, event);
        json_decref (event);
        free (topic);
    }
    dv_subscriber_destroy (&subscriber);
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
    pthread_mutex_destroy (&self->lock);
    pthread_cond_destroy (&self->changed);
    free (self);
    *self_p = NULL;
}

uint64_t
web_events_count (web_events_t *self)
{
    pthread_mutex_lock (&self->lock);
    uint64_t count = self->next;
    pthread_mutex_unlock (&self->lock);
    return count;
}


//  --------------------------------------------------------------------------
//  One page's stream

static bool
s_visible (s_stream_t *stream, s_event_t *event)
{
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
    stream->cursor = web_events_count (self);
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
