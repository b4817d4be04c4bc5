/*  job — one request on its way through divertd, and a batch of them.

    The server (server.c) makes a job for every valid request that needs the
    database, queues it, and hands the store (store.c) a batch of jobs; the
    store decides and records them in one transaction, fills in each job's
    reply and the events to publish, and hands the batch back. Ownership
    moves with the pointer: only one thread touches a batch at a time.
*/
#ifndef DV_JOB_H
#define DV_JOB_H

#include <czmq.h>
#include <jansson.h>
#include "dv_request.h"
#include "decide.h"

//  Who sent a request: from the connection's ZAP User-Id ("kind:id").
typedef struct {
    char user_id [50];       //  "kind:id", unique across every kind of key
    char kind [16];          //  police | community | court | prosecutor | monitor | cms
    char id [33];
    bool monitor;            //  an operator's monitor key
    bool cms;                //  a case-management system's key
} dv_sender_t;

typedef struct {
    zframe_t *routing_id;    //  the intake envelope, to reply on
    dv_request_t *request;
    dv_sender_t sender;
    json_t *reply;           //  set by the store
    dv_verdict_t verdict;    //  a referral: the decision on it (decide.h)
    int64_t received_us;     //  dv_metrics_now_us () when it was read (decision latency)
} dv_job_t;

typedef struct {
    dv_job_t **jobs;
    size_t count;
    json_t *events;          //  [{"topic": ..., "event": {...}}] committed, to publish
} dv_batch_t;

dv_job_t *
    dv_job_new (zframe_t **routing_id_p, dv_request_t **request_p, const dv_sender_t *sender);
void
    dv_job_destroy (dv_job_t **self_p);

dv_batch_t *
    dv_batch_new (size_t capacity);
//  Destroys the jobs too.
void
    dv_batch_destroy (dv_batch_t **self_p);
void
    dv_batch_add (dv_batch_t *self, dv_job_t *job);

//  Answer this job with an error reply (code from protocol.md, one-line message).
void
    dv_job_fail (dv_job_t *self, const char *code, const char *message);

//  Give every job without a reply this error (e.g. "unavailable").
void
    dv_batch_fail (dv_batch_t *self, const char *code, const char *message);

#endif
