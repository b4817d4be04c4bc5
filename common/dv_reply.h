/*  dv_reply — build the DIVERT/1 replies divertd answers without the database
    (errors, pong) and prepare stored ones for sending. A `decision` reply is
    stored with its event, so it is built where the event is written: SQL
    function divert.s_reply (sql/002_intake.sql). Event frames are built by
    divert.event_wire. Nothing here takes personal data.
*/
#ifndef DV_REPLY_H
#define DV_REPLY_H

#include <stdbool.h>
#include <jansson.h>

//  {"v":1,"type":"error","request_id"?,"referral_id"?,"code","message","errors"?,"retry"}
//  request_id / referral_id / errors may be NULL (then omitted; errors is
//  copied when given). retry is true only for code "unavailable".
json_t *
    dv_reply_error (const char *request_id, const char *referral_id,
                    const char *code, const char *message, json_t *errors);

//  {"v":1,"type":"pong","db":"up"|"down","version":DIVERT_VERSION}
json_t *
    dv_reply_pong (bool db_up);

//  A stored reply made ready to send: a copy with "request_id" (when not
//  NULL) and "replayed" set.
json_t *
    dv_reply_for_request (json_t *stored, const char *request_id, bool replayed);

//  Encode a JSON value as one compact frame; caller frees the string.
char *
    dv_reply_encode (json_t *reply);

#endif
