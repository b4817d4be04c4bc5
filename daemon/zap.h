/*  zap — divertd's ZAP handler (ZeroMQ RFC 27), a CZMQ actor with its own
    database connection.

    Every CURVE handshake on the intake and decisions sockets asks it whether
    the client's public key is registered and not revoked (divert.source,
    divert.monitor, divert.cms). It answers from PostgreSQL at the moment of the
    handshake, so a revocation applies to new connections at once; while the
    database is unreachable it answers from the keys it last saw. Admitted
    connections carry the User-Id "<kind>:<id>" (e.g. "police:spd",
    "monitor:ops", "cms:lead-cms"): that, never a message field, says who
    the sender is. A case-management key's connections also carry the
    property X-Programs ("CO-LEAD,LEAD"): the programs whose enrollment
    feed it may subscribe to (read at the handshake).

    The actor binds inproc://zeromq.zap.01 before it signals that it is ready,
    so no socket accepts a handshake without it.
*/
#ifndef DV_ZAP_H
#define DV_ZAP_H

#include <czmq.h>

//  The ZAP metadata property naming a case-management key's programs
#define DV_ZAP_PROGRAMS "X-Programs"

//  zactor_new (dv_zap_actor, (void *) conninfo)
void
    dv_zap_actor (zsock_t *pipe, void *conninfo);

#endif
