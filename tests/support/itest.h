/*  itest — what the integration tests share: a site in a fresh database
    (made with the real divertctl), real divertd processes, and real CURVE
    clients. Reads the environment tests/harness/run-all.sh gives each test:
    PG*, DIVERT_BIN, DIVERT_SQL_DIR, DIVERT_TMP, DIVERT_PORT_BASE.
*/
#ifndef ITEST_H
#define ITEST_H

#include <czmq.h>
#include <jansson.h>
#include "dv_client.h"
#include "dv_db.h"

#define ITEST_MAX_DAEMONS 4

typedef struct _itest_t itest_t;

//  Set up: server keypair, config files (one per daemon slot, own ports).
itest_t *
    itest_new (void);
void
    itest_destroy (itest_t **self_p);

//  Run divertctl with these arguments (printf-style, shell words); returns
//  its exit status. Output goes to the test log.
int
    itest_ctl (itest_t *self, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

//  Run SQL (no result) / one value as text (caller frees; NULL on error).
int
    itest_sql (itest_t *self, const char *sql);
char *
    itest_sql_value (itest_t *self, const char *sql);
long
    itest_sql_long (itest_t *self, const char *sql);
//  The error of the last failed statement (primary message), "" if none.
const char *
    itest_sql_error (itest_t *self);

//  Register a source / monitor with divertctl; its cert is DIVERT_TMP/<id>.cert.
void
    itest_add_source (itest_t *self, const char *id, const char *kind);
void
    itest_add_monitor (itest_t *self, const char *id);
void
    itest_add_cm (itest_t *self, const char *id, const char *program);
//  Register a case-management key for programs ("LEAD,CO-LEAD"); its cert
//  is DIVERT_TMP/<id>.cert.
void
    itest_add_cms (itest_t *self, const char *id, const char *programs);

//  Start daemon `slot` (0..3) and wait until it answers ping with db up.
//  Returns its pid, or -1.
int
    itest_daemon_start (itest_t *self, int slot);
//  Signal it and wait for it to exit; returns its exit status (or 128+sig).
int
    itest_daemon_stop (itest_t *self, int slot, int signum);
//  The file daemon `slot`'s stderr goes to (appended across restarts;
//  itest_destroy prints every daemon log into the test output).
const char *
    itest_daemon_log (itest_t *self, int slot);
//  The pid of daemon `slot` (0 when not running).
int
    itest_daemon_pid (itest_t *self, int slot);
const char *
    itest_intake (itest_t *self, int slot);
const char *
    itest_decisions (itest_t *self, int slot);
const char *
    itest_cert (itest_t *self, const char *id);     //  DIVERT_TMP/<id>.cert
const char *
    itest_server_cert (itest_t *self);
const char *
    itest_tmp (itest_t *self);
//  Append a line to daemon slot's config file before it starts (e.g. to
//  point it at another database).
void
    itest_config_append (itest_t *self, int slot, const char *line);

//  A client for a registered key, on daemon `slot`'s intake.
dv_client_t *
    itest_client (itest_t *self, const char *id, int slot);

//  A raw CURVE DEALER for a registered key on daemon `slot`'s intake (receive
//  timeout 10 s): for pipelining and malformed envelopes. A request is sent
//  as zsock_send (dealer, "zs", json) and read with zsock_recv (dealer, "zs", &text).
zsock_t *
    itest_dealer (itest_t *self, const char *id, int slot);

//  Ping daemon `slot` with the key `id` until the reply says the database is
//  `state` ("up" or "down") or msecs pass. True when it did.
bool
    itest_wait_db (itest_t *self, const char *id, int slot, const char *state, int msecs);

//  Send `count` requests on a DEALER (itest_dealer) without reading, each
//  with request_id "<i>": make (i, arg) builds request i (taken), or NULL
//  for itest_referral (arrest_diversion and social_contact in turn).
//  Returns how many were sent.
int
    itest_dealer_send (zsock_t *dealer, int count, json_t *(*make) (int i, void *arg), void *arg);

//  What `count` replies read from a DEALER said: decisions, and errors by code.
typedef struct {
    int received;
    int decided;
    int unavailable;            //  with retry: true
    int internal;
    int other;                  //  any other reply
} itest_tally_t;

//  Read up to `count` replies (until one is not read in the socket's receive
//  timeout), tally them, and call each (i, reply, arg) for every one (may be
//  NULL; the reply is borrowed).
itest_tally_t
    itest_dealer_tally (zsock_t *dealer, int count, void (*each) (int i, json_t *reply, void *arg), void *arg);

//  A referral request; fields may be overridden afterwards with json_object_set.
//  pathway e.g. "arrest_diversion"; a fresh UUID and a unique person each time.
json_t *
    itest_referral (const char *pathway, const char *housing);

//  Send a request (taking it: it is freed) and return the reply (caller
//  owns it), or NULL when no reply came.
json_t *
    itest_ask (dv_client_t *client, json_t *request);

//  A string member of a reply, or "(none)" (so checks can print it).
const char *
    itest_str (json_t *object, const char *key);

//  Send and return the reply's "decision" (or "error:<code>"), caller frees.
char *
    itest_decide (dv_client_t *client, json_t *request, json_t **reply_p);

//  The PostgreSQL cluster's data directory and pg_ctl, to stop and start it
//  (only the harness's own private cluster).
int
    itest_pg_ctl (itest_t *self, const char *action);

#endif
