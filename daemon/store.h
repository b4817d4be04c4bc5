/*  store — divertd's database thread (a CZMQ actor).

    It owns the PostgreSQL connection, so the event loop never blocks on the
    database. The server sends it a batch of jobs; it runs them (one
    transaction for all the batch's referrals, so a burst shares one commit)
    and sends the batch back with every job's reply and the committed events
    to publish. When the database is unreachable it answers `unavailable`
    at once and reconnects with backoff.

    It also keeps capacity live (policy.md §5): it LISTENs on divert_capacity
    and, on a notification, on its re-check timer and after every reconnect,
    runs one maintenance transaction: terms ended, intakes lapsed, waitlist
    entries expired (divert.lifecycle), then promotion of what now fits
    (dv_decide_promotions, divert.batch_promote).

    It keeps revocation live (protocol.md: a revoked key's open connections
    lose everything within 60 s): it LISTENs on divert_revocation and, on a
    notification, after every reconnect and every 15 s, reads the identities
    of every revoked key (view divert.revoked_identity) and tells the server
    when they changed.

    With purge = daily it runs divert.purge (sql/008_retention.sql) after
    connecting and then once a day: the personal data of referrals past the
    site's retention is removed and the run recorded.

    It answers the case-management requests and publishes the enrollment
    feed: it LISTENs on divert_enrollment and, on a notification, after
    every reconnect and on the re-check timer, hands the server every
    program's enrollment events committed since the last it published
    (enrollments.h).

    Pipe messages (zsock_send pictures):
      server -> store   "sp"  "BATCH", dv_batch_t *
      store -> server   "sp"  "DONE", dv_batch_t *
                        "sp"  "EVENTS", json_t * [{"topic", "event"}...]
                              committed, to publish: later decisions
                              (promotions, expiries, lapses) and the
                              enrollment feed (enrollments.h)
                        "ss"  "WAITLISTS", "LEAD 17, CO-LEAD 3" (each
                              program's waitlist length when it changed: STATUS=)
                        "ss"  "REVOKED", the identities of every revoked key,
                              "kind:id" (the ZAP User-Id form) one a line,
                              sorted ("" when none): the whole set, sent
                              when it changed (and first after connecting)
                        "ss"  "DB", "up" | "down"
                        "ss"  "FATAL", message (e.g. an unknown schema version)
*/
#ifndef DV_STORE_H
#define DV_STORE_H

#include <czmq.h>

typedef struct {
    const char *conninfo;       //  libpq conninfo ("" = environment)
    const char *decided_by;     //  recorded with each event, e.g. "divertd@host:pid"
    int64_t recheck_ms;         //  the waitlist re-check timer (config waitlist_recheck)
    bool purge_daily;           //  config purge = daily: divert.purge once a day
} dv_store_args_t;

//  zactor_new (dv_store_actor, &args): args must live until the actor has started.
void
    dv_store_actor (zsock_t *pipe, void *args);

#endif
