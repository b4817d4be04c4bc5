/*  subscribers — who is at the other end of each connection of the
    decisions socket, so that revoking a key can close its subscriptions.

    An XPUB in manual mode can change the subscriptions of only the
    connection that sent the last message, so a subscriber whose key is
    revoked while it listens can't be unsubscribed later; its connection must
    be closed. libzmq gives each received subscription its connection's file
    descriptor (ZMQ_SRCFD) and the ZAP User-Id ("kind:id"). The server notes
    both for every subscription; on a revocation it asks for the key's
    connections to be cut: shutdown(2) on each noted descriptor that is still
    the same socket (same inode as when noted: a descriptor libzmq closed and
    reused for another connection is left alone), after which libzmq's I/O
    thread sees the end of the stream and closes the connection itself. The
    client reconnects and the ZAP handler refuses the revoked key.

    Notes are kept by descriptor number (a reused number replaces its note),
    so they take at most one entry per descriptor the process ever had open.
*/
#ifndef DV_SUBSCRIBERS_H
#define DV_SUBSCRIBERS_H

#include <stddef.h>

typedef struct _dv_subscribers_t dv_subscribers_t;

dv_subscribers_t *
    dv_subscribers_new (void);
void
    dv_subscribers_destroy (dv_subscribers_t **self_p);

//  The connection on fd authenticated as user_id. Returns 0, or -1 when fd
//  is not an open socket (then it can't be told apart: don't subscribe it).
int
    dv_subscribers_note (dv_subscribers_t *self, int fd, const char *user_id);

//  Close every noted connection of user_id that is still open, and forget
//  them. Returns how many were closed.
size_t
    dv_subscribers_cut (dv_subscribers_t *self, const char *user_id);

#endif
