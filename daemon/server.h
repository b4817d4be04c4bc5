/*  server — divertd's event loop (CZMQ zloop), single-threaded like Redis'
    ae loop: everything that touches a client happens here, and nothing here
    waits on the database.

    It binds the intake ROUTER and the decisions XPUB (both CURVE, keys
    checked by the ZAP actor, zap.c), reads requests, answers what needs no
    database (invalid input, ping, unavailable while the database is down),
    queues the rest and hands the store actor (store.c) one batch at a time:
    everything that arrived while the previous batch was being committed.
    That is the natural batching that lets a burst share commits while a
    lone request costs one transaction. Replies go out when the store hands
    a batch back, after COMMIT; then its events are published.

    Subscriptions on the decisions socket are checked here (XPUB manual
    mode): a source's key gets only its own topic, a monitor's key anything.

    The process counters for Prometheus are counted here (metrics.h): the
    decisions and enrollment changes this daemon recorded, each referral's
    latency from read to reply, each batch's size; every metrics_interval
    (and once more on a clean stop) the store writes a snapshot of them to
    the database, where divert-web's /metrics reads it.

    Revocation reaches open connections here: the store sends the identities
    of every revoked key when they change; every request of a revoked key is
    then `forbidden` (before anything else, ping included) and its subscriber
    connections are closed (subscribers.c).
*/
#ifndef DV_SERVER_H
#define DV_SERVER_H

#include "dv_config.h"

typedef struct _dv_server_t dv_server_t;

//  Exit status for a configuration divertd can't run with (sysexits.h's
//  EX_CONFIG): the unit's RestartPreventExitStatus= stops systemd from
//  restarting it in a loop, since a restart can't fix it.
#define DV_EXIT_CONFIG 78

//  Load the config file over the defaults and check what the file alone
//  can't: database/conninfo must parse (libpq's PQconninfoParse), so a typo
//  is refused at start and on reload instead of looking like a database
//  that is down. Returns 0, or -1 with one line in `error`.
int
    dv_server_load_config (dv_config_t *config, const char *path, char *error, size_t size);

//  Bind the sockets and start the ZAP and store actors. Returns NULL with a
//  one-line message in `error` when something can't start, and the exit
//  status in *status: DV_EXIT_CONFIG for what the config got wrong (an
//  unreadable key, an endpoint that is not one), 1 otherwise (an endpoint
//  in use). `config_path` is re-read on SIGHUP.
dv_server_t *
    dv_server_new (const dv_config_t *config, const char *config_path, char *error, size_t size,
                   int *status);

void
    dv_server_destroy (dv_server_t **self_p);

//  Run until SIGTERM/SIGINT (graceful: in-flight work is answered) or a fatal
//  condition. Returns the process exit status.
int
    dv_server_run (dv_server_t *self);

#endif
