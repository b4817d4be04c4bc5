/*  dv_client — the DIVERT/1 client library: what divert-submit, divert-watch
    and a C dispatch integration link to.

    A dv_client_t talks to the intake socket over CURVE with a REQ socket and
    the Lazy Pirate pattern: when no reply arrives within the timeout it closes
    the socket, opens a new one and sends the same request again (same
    referral_id, so the daemon answers with the stored decision and
    "replayed": true); when the reply is an `unavailable` error it waits
    (backoff) and sends again. A dv_subscriber_t receives events from the
    decisions socket.

    Several daemons serving one database: every endpoint argument may be a
    comma-separated list ("tcp://a:7461,tcp://b:7461"; spaces around each
    are ignored). A client talks to one of them at a time, the first to
    begin with. When a send gets no reply it moves to the next (round robin)
    and sends the same bytes there, so a resend after a failover is a replay
    on the other daemon, never a second decision; an `unavailable` reply
    moves it on too (a daemon that is stopping says so), without the backoff
    when the next one was not tried yet for this request. It stays with the
    one that answered. A subscriber is connected to one decisions endpoint
    at a time and moves to the next when it has had no connection there for
    a while (the daemon is gone); a tool that follows it asks for what it
    missed (`replay`, `enrollments`) after each move (dv_subscriber_moves).

    A case-management system (a `cms` key) uses the four request helpers
    dv_client_enrollments, dv_client_enrollment, dv_client_transfer and
    dv_client_caseload: each builds its request and sends it with
    dv_client_request(), so it gets the same retries (the same bytes again).

    Keys are CZMQ certificate files (zcert_save format): the server's public
    certificate, and the client's certificate whose secret is in PATH_secret.
*/
#ifndef DV_CLIENT_H
#define DV_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

typedef struct _dv_client_t dv_client_t;
typedef struct _dv_subscriber_t dv_subscriber_t;

//  The most endpoints one list may name.
#define DV_CLIENT_ENDPOINTS_MAX 16

//  Create a client. `endpoint` is one intake endpoint or a comma-separated
//  list of them (one per daemon). Returns NULL if a certificate cannot be
//  loaded or an endpoint is not usable (an empty entry, an unknown
//  transport, more than DV_CLIENT_ENDPOINTS_MAX); then dv_client_last_error()
//  says why (a file name or the endpoint, and the problem).
dv_client_t *
    dv_client_new (const char *endpoint, const char *server_cert_path,
                   const char *client_cert_path);

//  Same, with keys given as Z85 text (40 chars each).
dv_client_t *
    dv_client_new_keys (const char *endpoint, const char *server_public_z85,
                        const char *client_public_z85, const char *client_secret_z85);

void
    dv_client_destroy (dv_client_t **self_p);

//  Milliseconds to wait for each reply (default 5000) and how many times to
//  send in all before giving up (default 3), counting the sends to every
//  endpoint: with several, give at least as many attempts as endpoints.
void
    dv_client_set_timeout (dv_client_t *self, int msecs);
void
    dv_client_set_attempts (dv_client_t *self, int attempts);

//  Send one request object and return the reply object (caller owns it), or
//  NULL when every attempt went unanswered (dv_client_last_error() says so).
//  An `unavailable` reply is retried; when attempts run out the last
//  `unavailable` reply is returned.
json_t *
    dv_client_request (dv_client_t *self, json_t *request);

//  How many sends the last dv_client_request() took (1 = no retry).
int
    dv_client_attempts_used (dv_client_t *self);

//  The endpoint in use: the one that gave the last reply, or where the next
//  request goes. Owned by the client.
const char *
    dv_client_endpoint (dv_client_t *self);

//  Its position in the list given (0 = the first), and how many were given.
int
    dv_client_endpoint_index (dv_client_t *self);
int
    dv_client_endpoint_count (dv_client_t *self);

//  How many times the client moved to another endpoint since it was made.
int
    dv_client_moves (dv_client_t *self);

//  Use endpoint `index` of the list from the next request on (a tool that
//  keeps its client beside a subscriber on the same daemon). An index out
//  of range is ignored.
void
    dv_client_move (dv_client_t *self, int index);

//  Case-management requests (protocol.md, "Case-management systems"). Each
//  builds the request, sends it with dv_client_request() (Lazy Pirate, the
//  same request on every attempt) and returns the reply object (caller owns
//  it): the expected reply or an `error` reply. NULL when no reply came or an
//  argument is missing (dv_client_last_error() says which); nothing is sent
//  then. Optional arguments are left out of the request when NULL (or, for
//  limit, 0).

//  The program's enrollment events with seq > since_seq (>= 0), at most
//  `limit` of them (0 = the daemon's default, 100; at most 500). Ask again
//  with since_seq = the reply's next_seq while its `more` is true.
json_t *
    dv_client_enrollments (dv_client_t *self, const char *program, int64_t since_seq,
                           int limit);

//  Record a change to an enrollment: change is intake_completed, in_the_wind,
//  re_engaged or exited; reason (exited only) and at (RFC 3339) are optional.
json_t *
    dv_client_enrollment (dv_client_t *self, const char *source_id, const char *referral_id,
                          const char *change, const char *reason, const char *at);

//  Move an open enrollment to another case manager of the same program.
json_t *
    dv_client_transfer (dv_client_t *self, const char *source_id, const char *referral_id,
                        const char *case_manager);

//  The program's open caseload, without personal data, at a feed position.
json_t *
    dv_client_caseload (dv_client_t *self, const char *program);

//  Send raw bytes as the request frame, one attempt to the endpoint in use
//  (it does not move), and return the reply frame as a string (caller
//  frees), or NULL on timeout. For tests and tools.
char *
    dv_client_request_raw (dv_client_t *self, const void *data, size_t size);

const char *
    dv_client_last_error (void);

//  True once SIGINT or SIGTERM has arrived (CZMQ's signal handler, installed
//  when the first socket is made). dv_client_request and dv_subscriber_recv
//  then return NULL at once, so a tool can finish cleanly.
bool
    dv_interrupted (void);

//  Subscriber: connect to the decisions socket and subscribe to `topic`
//  (a prefix such as "decision." or "decision.police.spd"; "" for everything).
//  `endpoint` may be a comma-separated list, as for dv_client_new: the
//  subscriber is connected to the first, and moves to the next (round robin)
//  when it has had no CURVE connection to the one in use for the failover
//  delay (dv_subscriber_set_failover). It notices a daemon that is gone
//  when the connection closes (a killed process) or when ZeroMQ heartbeats
//  go unanswered (a lost host); with one endpoint ZeroMQ connects to it
//  again by itself.
dv_subscriber_t *
    dv_subscriber_new (const char *endpoint, const char *server_cert_path,
                       const char *client_cert_path, const char *topic);
//  Same, with keys given as Z85 text (40 chars each).
dv_subscriber_t *
    dv_subscriber_new_keys (const char *endpoint, const char *server_public_z85,
                            const char *client_public_z85, const char *client_secret_z85,
                            const char *topic);
void
    dv_subscriber_destroy (dv_subscriber_t **self_p);

//  Wait up to msecs (-1 = forever) for one event. Returns the event object
//  (caller owns) and, if topic_p is not NULL, its topic (caller frees), or
//  NULL on timeout or interrupt. With several endpoints, this is where the
//  subscriber moves: events published while it had no connection are not
//  delivered, so a caller that must see every event checks
//  dv_subscriber_moves() after each call (a short msecs lets it notice
//  soon) and asks for what it missed.
json_t *
    dv_subscriber_recv (dv_subscriber_t *self, int msecs, char **topic_p);

//  Milliseconds without a connection to the endpoint in use before moving
//  to the next (default 5000; only with several endpoints).
void
    dv_subscriber_set_failover (dv_subscriber_t *self, int msecs);

//  The endpoint in use, its position in the list, how many were given, and
//  how many times the subscriber moved, as for the client.
const char *
    dv_subscriber_endpoint (dv_subscriber_t *self);
int
    dv_subscriber_endpoint_index (dv_subscriber_t *self);
int
    dv_subscriber_endpoint_count (dv_subscriber_t *self);
int
    dv_subscriber_moves (dv_subscriber_t *self);

//  A watch loop over a subscriber, as divert-watch and `divert-cms watch`
//  run it: each event goes to on_event; with several endpoints, after
//  quiet_ms without one, on_quiet (ask the daemons, which notices one that
//  is gone); after every wait, after (follow a move, fill a gap). Waits are
//  cut in slices of slice_ms, so a move is followed soon. It returns on
//  SIGINT/SIGTERM, when *finished turns true, or when timeout_ms (> 0)
//  passes without an event and without *progress (a count the callbacks
//  raise, e.g. of events printed) changing.
typedef struct {
    int slice_ms;
    int timeout_ms;
    int quiet_ms;
    void (*on_event) (void *arg, json_t *event);
    void (*on_quiet) (void *arg);
    void (*after) (void *arg);
    const long long *progress;
    const bool *finished;
    void *arg;
} dv_subscriber_loop_t;
void
    dv_subscriber_run (dv_subscriber_t *self, const dv_subscriber_loop_t *loop);

//  Whether a CURVE connection to the endpoint in use is open, and how many
//  were made since the subscriber was created (one more after each
//  reconnect), as of the last dv_subscriber_recv() (which reads the
//  connection events: call it, with msecs 0 if need be, before asking).
//  Events published while there was none are not delivered: a caller
//  that must see every event asks for what it missed when connects grows.
bool
    dv_subscriber_connected (dv_subscriber_t *self);
int
    dv_subscriber_connects (dv_subscriber_t *self);

//  Connect to endpoint `index` of the list now (a new socket with the same
//  subscription), e.g. to follow a client that moved. Counts as a move
//  when it is another endpoint; an index out of range is ignored.
void
    dv_subscriber_move (dv_subscriber_t *self, int index);

//  The underlying zsock_t *, to poll it alongside other sockets. A move
//  replaces it: get it again after dv_subscriber_moves() changed.
void *
    dv_subscriber_sock (dv_subscriber_t *self);

#endif
