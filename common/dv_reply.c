/*  dv_reply — build DIVERT/1 reply frames (protocol.md "Replies").

    Each builder returns a new JSON object the caller owns (json_decref), or
    NULL when out of memory. dv_reply_encode turns one into the compact text
    of a single frame.
*/
#include "dv_reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef DIVERT_VERSION
#   error "DIVERT_VERSION must be defined by the build"
#endif

//  Sets key to a new string when text is not NULL
static void
s_set_optional_string (json_t *object, const char *key, const char *text)
{
    if (text)
        json_object_set_new (object, key, json_string (text));
}

json_t *
dv_reply_error (const char *request_id, const char *referral_id,
                const char *code, const char *message, json_t *errors)
{
    if (!code)
        code = "internal";
    json_t *reply = json_pack ("{s:i, s:s}", "v", 1, "type", "error");
    if (!reply)
        return NULL;
    s_set_optional_string (reply, "request_id", request_id);
    s_set_optional_string (reply, "referral_id", referral_id);
    json_object_set_new (reply, "code", json_string (code));
    json_object_set_new (reply, "message", json_string (message? message: code));
    if (errors)
        json_object_set_new (reply, "errors", json_deep_copy (errors));
    json_object_set_new (reply, "retry", json_boolean (strcmp (code, "unavailable") == 0));
    return reply;
}

json_t *
dv_reply_pong (bool db_up)
{
    return json_pack ("{s:i, s:s, s:s, s:s}", "v", 1, "type", "pong",
                      "db", db_up? "up": "down", "version", DIVERT_VERSION);
}

char *
dv_reply_encode (json_t *reply)
{
    return reply? json_dumps (reply, JSON_COMPACT): NULL;
}

json_t *
dv_reply_for_request (json_t *stored, const char *request_id, bool replayed)
{
    json_t *reply = json_deep_copy (stored);
    if (!reply)
        return NULL;
    if (request_id)
        json_object_set_new (reply, "request_id", json_string (request_id));
    else
        json_object_del (reply, "request_id");
    json_object_set_new (reply, "replayed", json_boolean (replayed));
    return reply;
}

void
dv_reply_time (int64_t us, char *buffer, size_t size)
{
    time_t seconds = (time_t) (us / 1000000);
    int millis = (int) ((us % 1000000) / 1000);
    if (us < 0 && us % 1000000) {          //  floor, as PostgreSQL's to_char does
        seconds--;
        millis = (int) ((1000000 + us % 1000000) / 1000);
    }
    struct tm tm;
    gmtime_r (&seconds, &tm);
    char date [24];
    strftime (date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (buffer, size, "%s.%03dZ", date, millis);
}

json_t *
dv_reply_decision (const dv_decision_reply_t *d)
{
    char decided [32];
    dv_reply_time (d->decided_us, decided, sizeof decided);
    json_t *reply = json_pack ("{s:i, s:s, s:s, s:I, s:s, s:s}", "v", 1, "type", "decision",
                               "referral_id", d->referral_id, "seq", (json_int_t) d->seq,
                               "decision", d->decision, "reason", d->reason);
    if (!reply)
        return NULL;
    s_set_optional_string (reply, "program", d->program);
    if (d->cm_id && strcmp (d->decision, "accept") == 0)
        json_object_set_new (reply, "case_manager", json_pack ("{s:s, s:s}", "id", d->cm_id,
                                                               "name", d->cm_name ? d->cm_name : d->cm_id));
    json_t *priority = json_object ();
    if (d->tier)
        json_object_set_new (priority, "tier", json_integer (d->tier));
    if (d->tier)
        json_object_set_new (priority, "score", json_integer (d->score));
    json_object_set_new (reply, "priority", priority);
    if (d->waitlist && strcmp (d->decision, "waitlist") == 0)
        json_object_set (reply, "waitlist", d->waitlist);
    json_object_set_new (reply, "decided_at", json_string (decided));
    json_object_set_new (reply, "replayed", json_false ());
    return reply;
}

json_t *
dv_reply_event (const dv_event_t *e)
{
    char at [32];
    dv_reply_time (e->at_us, at, sizeof at);
    return json_pack ("{s:i, s:s, s:s, s:I, s:s, s:s, s:s, s:s?, s:o, s:b, s:s}", "v", 1, "type", "event",
                      "source_id", e->source_id, "seq", (json_int_t) e->seq, "referral_id", e->referral_id,
                      "decision", e->decision, "reason", e->reason, "program", e->program,
                      "tier", e->tier ? json_integer (e->tier) : json_null (),
                      "from_waitlist", e->from_waitlist, "at", at);
}

char *
dv_reply_event_topic (const dv_event_t *e)
{
    size_t size = strlen (e->source_kind) + strlen (e->source_id) + 11;
    char *topic = malloc (size);
    if (topic)
        snprintf (topic, size, "decision.%s.%s", e->source_kind, e->source_id);
    return topic;
}

json_t *
dv_reply_waitlist (int position, const char *estimate, int64_t expires_us)
{
    char expires [32];
    dv_reply_time (expires_us, expires, sizeof expires);
    return json_pack ("{s:i, s:s, s:s}", "position", position, "estimate", estimate, "expires_at", expires);
}
