/*  store — divertd's database thread (a CZMQ actor on its own zloop).

    It owns the PostgreSQL connection and the cache (cache.h), so the event
    loop never blocks on the database. The server hands it a batch of jobs;
    it answers each (referrals in one transaction, intake.c; a source's
    status/replay/withdraw, referrals.c; a case-management system's requests,
    enrollments.c) and hands the batch back with every reply and the events
    to publish, committed. While the database is unreachable it answers
    `unavailable` at once and reconnects with backoff.

    What it LISTENs for, and its named timers:
      divert_capacity    capacity can have changed in a program: maintenance
                         (maintenance.h: lifecycle, then promotion there)
      divert_revocation  a key was revoked: read the revoked identities
      divert_enrollment  an enrollment changed: publish the feed
      timer reconnect    the next connection attempt (backoff 0.1 s .. 5 s)
      timer recheck      maintenance of every program, the feed, the counts
                         (config waitlist_recheck, default 60 s): a lost
                         notification delays, never loses, a promotion
      timer revocations  the revoked identities every 15 s (protocol: 60 s)
      timer health       an idle connection is checked every second, so
                         `ping` tells the truth
      timer purge        with purge = daily: divert.purge (sql/009_retention.sql)
                         after connecting, then once a day: the personal data
                         past the site's retention is removed, the run recorded
    And on the server's word: METRICS, the process counters (metrics.h),
    written to divert.daemon_metrics (sql/012_metrics.sql) at once while
    connected (the server sends them every metrics_interval, and once more
    when it stops cleanly); dropped while the database is down.

    The pipe protocol, complete (send and receive only through these):
      server -> store   BATCH      a dv_batch_t *, the store's until DONE
                        METRICS    a char * (dv_metrics_snapshot), the store frees it
      store -> server   DONE       the batch back, every job answered
                        EVENTS     json_t * [{"topic","event"}...] committed
                                   later: promotions, expiries, lapses, the
                                   enrollment feed (the server owns it)
                        WAITLISTS  "LEAD 17, CO-LEAD 3" when it changed (STATUS=)
                        REVOKED    every revoked key's identity ("kind:id"),
                                   one a line, sorted, when the set changed
                        DB         the database is up, or down
                        FATAL      a message (an unknown schema version): stop
*/
#ifndef DV_STORE_H
#define DV_STORE_H

#include <czmq.h>
#include <jansson.h>
#include "job.h"

typedef struct {
    const char *conninfo;       //  libpq conninfo ("" = environment)
    const char *decided_by;     //  recorded with each event, e.g. "divertd@host:pid"
    int64_t recheck_ms;         //  the re-check timer (config waitlist_recheck)
    bool purge_daily;           //  config purge = daily
    const char *daemon;         //  daemon_metrics' key, "host:pid"
    int64_t started_at;         //  when divertd started (Unix seconds)
    int64_t metrics_interval_ms;    //  config metrics_interval: how often METRICS comes
} dv_store_args_t;

//  zactor_new (dv_store_actor, &args): args must live until the actor has started.
void
    dv_store_actor (zsock_t *pipe, void *args);

//  server -> store: a batch to answer (the store owns it until DONE).
int
    dv_store_send_batch (zactor_t *store, dv_batch_t *batch);

//  server -> store: the counters to write (takes the text: *snapshot_p = NULL).
int
    dv_store_send_metrics (zactor_t *store, char **snapshot_p);

typedef enum {
    DV_STORE_DONE,
    DV_STORE_EVENTS,
    DV_STORE_WAITLISTS,
    DV_STORE_REVOKED,
    DV_STORE_DB,
    DV_STORE_FATAL
} dv_store_kind_t;

//  store -> server: one message, received with dv_store_recv.
typedef struct {
    dv_store_kind_t kind;
    dv_batch_t *batch;          //  DONE: the receiver owns it
    json_t *events;             //  EVENTS: the receiver owns it
    char *text;                 //  WAITLISTS, REVOKED, FATAL
    bool db_up;                 //  DB
} dv_store_msg_t;

//  Read one message from the store's pipe. Returns 0, or -1 (interrupted,
//  or not a message of this protocol).
int
    dv_store_recv (zsock_t *pipe, dv_store_msg_t *msg);
//  Free what the receiver did not take (text; events and batch if still set).
void
    dv_store_msg_clear (dv_store_msg_t *msg);

#endif
