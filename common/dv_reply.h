/*  dv_reply — build DIVERT/1 reply and event frames (protocol.md "Replies" and
    "Events"). Every JSON object the daemon sends is made here, so the wire
    shape lives in one file. Nothing here takes personal data.
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

//  A decision reply as stored with its event (protocol.md "decision"), without
//  request_id, seq and decided_at (added when it is recorded and sent):
//  {"v":1,"type":"decision","referral_id","decision","reason","program",
//   "case_manager"?: {"id","name"}, "priority": {"tier","score"},
//   "waitlist"?: {...}, "replayed": false}
//  cm_id NULL leaves out case_manager; waitlist (stolen) may be NULL.
json_t *
    dv_reply_decision (const char *referral_id, const char *decision, const char *reason,
                       const char *program, const char *cm_id, const char *cm_name,
                       int tier, int score, json_t *waitlist);

//  A stored reply made ready to send: a copy with "request_id" (when not
//  NULL) and "replayed" set.
json_t *
    dv_reply_for_request (json_t *stored, const char *request_id, bool replayed);

//  Encode a JSON value as one compact frame; caller frees the string.
char *
    dv_reply_encode (json_t *reply);

#endif
