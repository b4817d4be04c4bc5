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

    Revocation reaches open connections here: the store sends the identities
    of every revoked key when they change; every request of a revoked key is
    then `forbidden` (before anything else, ping included) and its subscriber
    connections are closed (subscribers.c).
*/
#ifndef DV_SERVER_H
#define DV_SERVER_H

#include "dv_config.h"

typedef struct _dv_server_t dv_server_t;

//  Bind the sockets and start the ZAP and store actors. Returns NULL with a
//  one-line message in `error` when something can't start (unreadable key,
//  endpoint in use, ...). `config_path` is re-read on SIGHUP.
dv_server_t *
    dv_server_new (const dv_config_t *config, const char *config_path, char *error, size_t size);

void
    dv_server_destroy (dv_server_t **self_p);

//  Run until SIGTERM/SIGINT (graceful: in-flight work is answered) or a fatal
//  condition. Returns the process exit status.
int
    dv_server_run (dv_server_t *self);

#endif
