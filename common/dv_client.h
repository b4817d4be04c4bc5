/*  dv_client — the DIVERT/1 client library: what divert-submit, divert-watch
    and a C dispatch integration link to.

    A dv_client_t talks to the intake socket over CURVE with a REQ socket and
    the Lazy Pirate pattern: when no reply arrives within the timeout it closes
    the socket, opens a new one and sends the same request again (same
    referral_id, so the daemon answers with the stored decision and
    "replayed": true); when the reply is an `unavailable` error it waits
    (backoff) and sends again. A dv_subscriber_t receives events from the
    decisions socket.

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

//  Create a client. Returns NULL if a certificate cannot be loaded; then
//  dv_client_last_error() says why (a file name and the problem).
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
//  send in all before giving up (default 3).
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

//  Send raw bytes as the request frame, one attempt, and return the reply
//  frame as a string (caller frees), or NULL on timeout. For tests and tools.
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
//  NULL on timeout or interrupt.
json_t *
    dv_subscriber_recv (dv_subscriber_t *self, int msecs, char **topic_p);

//  The underlying zsock_t *, to poll it alongside other sockets.
void *
    dv_subscriber_sock (dv_subscriber_t *self);

#endif
