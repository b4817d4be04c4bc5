/*  dv_reply — build DIVERT/1 reply frames (protocol.md "Replies").

    Each builder returns a new JSON object the caller owns (json_decref), or
    NULL when out of memory. dv_reply_encode turns one into the compact text
    of a single frame.
*/
#include "dv_reply.h"

#include <string.h>

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
