/*  dv_reply — every DIVERT/1 frame divertd builds about a decision, in one
    place: error and pong replies, the `decision` reply (stored with its event
    and sent as stored, so a resubmission gets exactly what was first told),
    and the decision event as published and replayed (protocol.md "Replies",
    "Events"). Times are RFC 3339 in UTC with milliseconds. Nothing here
    takes personal data.
*/
#ifndef DV_REPLY_H
#define DV_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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

//  One decision as told: the reply to its referral and what is stored with
//  its event. Optional members are NULL / 0 when absent.
typedef struct {
    const char *referral_id;      //  the source's UUID
    int64_t seq;                  //  the source's event seq
    const char *decision;         //  accept, waitlist, decline, withdrawn, lapsed
    const char *reason;
    const char *program;
    const char *cm_id;            //  accept: the case manager
    const char *cm_name;
    int tier;                     //  0: not stated
    int score;
    json_t *waitlist;             //  waitlist: {position, estimate, expires_at} (borrowed)
    int64_t decided_us;           //  when (microseconds since the epoch)
} dv_decision_reply_t;

//  {"v":1,"type":"decision","referral_id","seq","decision","reason","program"?,
//   "case_manager"?:{"id","name"},"priority":{"tier","score"},"waitlist"?,
//   "decided_at","replayed":false}
json_t *
    dv_reply_decision (const dv_decision_reply_t *decision);

//  A waitlist reply's place: {"position","estimate","expires_at"}.
json_t *
    dv_reply_waitlist (int position, const char *estimate, int64_t expires_us);

//  One decision event (protocol.md "Events"), and its topic.
typedef struct {
    const char *source_kind;      //  for the topic
    const char *source_id;
    int64_t seq;
    const char *referral_id;
    const char *decision;
    const char *reason;
    const char *program;          //  NULL: null
    int tier;                     //  0: null
    bool from_waitlist;
    int64_t at_us;
} dv_event_t;

//  {"v":1,"type":"event","source_id","seq","referral_id","decision","reason",
//   "program","tier","from_waitlist","at"}
json_t *
    dv_reply_event (const dv_event_t *event);

//  "decision.<kind>.<id>" (caller frees)
char *
    dv_reply_event_topic (const dv_event_t *event);

//  RFC 3339 in UTC with milliseconds ("2026-11-22T18:04:05.113Z"), as
//  PostgreSQL's divert.s_rfc3339 writes it.
void
    dv_reply_time (int64_t us, char *buffer, size_t size);

//  Encode a JSON value as one compact frame; caller frees the string.
char *
    dv_reply_encode (json_t *reply);

#endif
