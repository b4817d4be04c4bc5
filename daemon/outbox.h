/*  outbox — replies on the intake socket, none lost to a client that is slow
    to read them.

    The intake ROUTER is ZMQ_ROUTER_MANDATORY, and every reply is sent without
    blocking: a reply that finds its client's pipe full (the client has not
    read the last reply_hwm) waits here, in order behind that client's other
    waiting replies, and the loop's timer sends them when the client reads.
    Replies to one client never overtake each other; other clients never
    wait for a slow one. A client that is gone (EHOSTUNREACH) loses its
    waiting replies: it asks again on its new connection (status, replay).

    A client that reads nothing at all can't make the daemon hold replies
    without end: past `limit` bytes waiting for one client, or 4 x `limit`
    for all of them (many connections that read nothing), the waiting
    replies of the client that would go past are dropped and the log says
    how many (never what they said).
*/
#ifndef DV_OUTBOX_H
#define DV_OUTBOX_H

#include <czmq.h>

typedef struct _dv_outbox_t dv_outbox_t;

//  router: the intake socket (this sets ZMQ_ROUTER_MANDATORY on it).
dv_outbox_t *
    dv_outbox_new (zsock_t *router, size_t limit);
void
    dv_outbox_destroy (dv_outbox_t **self_p);

//  Send one reply (`text`, copied) to the client at *routing_id_p, now or
//  once its earlier replies are out. Takes the routing id.
void
    dv_outbox_send (dv_outbox_t *self, zframe_t **routing_id_p, const char *text);

//  Send what is waiting, as far as each client reads. Returns how many
//  replies still wait.
size_t
    dv_outbox_flush (dv_outbox_t *self);

//  Replies waiting, over all clients.
size_t
    dv_outbox_waiting (dv_outbox_t *self);

#endif
