/*  dv_client — the DIVERT/1 client library (see dv_client.h for the contract).

    A dv_client_t holds the client certificate, the server's public key and
    one REQ socket to the intake endpoint. dv_client_request() is the Lazy
    Pirate loop: send the compact JSON frame, poll for the reply up to the
    timeout, and on silence throw the socket away, open a fresh one and send
    the same bytes again; an `unavailable` error is retried after a backoff
    (200 ms doubling to 2 s). Every send counts toward the attempts.

    The case-management helpers (dv_client_enrollments and the others) only
    build a request object and hand it to dv_client_request().

    Several endpoints: the list is split once (s_endpoints_parse) and each
    entry checked by connecting a throwaway socket to it, so a typo in the
    second one is an error at once, not at the first failover. The client
    keeps the index of the endpoint in use; a send without a reply, or an
    `unavailable` reply, moves it to the next (s_client_move: the socket is
    dropped and the next exchange opens one there).

    A dv_subscriber_t is a CURVE SUB socket on one decisions endpoint; each
    event is two frames, [topic, json]. A ZeroMQ socket monitor (an inproc
    PAIR) tells it when the CURVE handshake succeeded and when the
    connection closed, and ZMTP heartbeats close a connection to a host
    that stopped answering (ZeroMQ then connects again by itself), so
    dv_subscriber_connected() and dv_subscriber_connects() can say whether
    it hears a daemon and when it connected again after a gap. With several
    endpoints dv_subscriber_recv() moves to the next endpoint once there was
    no connection for the failover delay.

    The last error is kept per thread, so a C integration can use one client
    per thread without the messages mixing.
*/
#include "dv_client.h"

#include <czmq.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DV_CLIENT_TIMEOUT_DEFAULT   5000
#define DV_CLIENT_ATTEMPTS_DEFAULT  3
#define DV_BACKOFF_FIRST_MS         200
#define DV_BACKOFF_MAX_MS           2000
#define DV_FAILOVER_DEFAULT         5000
#define DV_HEARTBEAT_IVL            1000
#define DV_HEARTBEAT_TIMEOUT        3000

struct _dv_client_t {
    char **endpoints;           //  intake endpoints, as listed
    int count;                  //  how many
    int current;                //  index of the one in use
    int moves;                  //  times it moved to another one
    char server_public [41];    //  server public key, Z85
    zcert_t *cert;              //  client certificate, with secret key
    zsock_t *sock;              //  current REQ socket (NULL after a failure)
    int timeout;                //  msecs to wait for each reply
    int attempts;               //  sends in all before giving up
    int attempts_used;          //  sends the last request took
};

struct _dv_subscriber_t {
    char **endpoints;           //  decisions endpoints, as listed
    int count;                  //  how many
    int current;                //  index of the one in use
    int moves;                  //  times it moved to another one
    char server_public [41];    //  server public key, Z85
    zcert_t *cert;              //  client certificate, to connect again
    char *topic;                //  the subscription
    zsock_t *sock;              //  SUB socket
    zsock_t *monitor;           //  its connection events
    zpoller_t *poller;          //  polls sock and monitor
    bool up;                    //  a CURVE connection to the current endpoint is open
    int connects;               //  CURVE connections made since it was created
    int64_t down_since;         //  when there was last none (zclock_mono)
    int failover;               //  msecs without one before moving on
};

static _Thread_local char s_last_error [512];


//  --------------------------------------------------------------------------
//  Record why the last call failed

static void
s_set_error (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (s_last_error, sizeof (s_last_error), format, args);
    va_end (args);
}

const char *
dv_client_last_error (void)
{
    return s_last_error;
}

bool
dv_interrupted (void)
{
    return zsys_interrupted != 0;
}


//  --------------------------------------------------------------------------
//  Certificates

//  Parse one ZPL file. (Not zconfig_load: it leaks when the syntax is bad.)

static zconfig_t *
s_config_load (const char *path)
{
    zchunk_t *chunk = zchunk_slurp (path, 64 * 1024);
    if (!chunk)
        return NULL;
    zconfig_t *config = zconfig_chunk_load (chunk);
    zchunk_destroy (&chunk);
    return config;
}

//  Load a certificate file the way zcert_load does (PATH_secret, which has
//  both keys, when it is there; else PATH), or set a clear error and return
//  NULL. A certificate without a secret key has a secret of all zeros.

static zcert_t *
s_cert_load (const char *path)
{
    if (!path || !*path) {
        s_set_error ("no certificate file given");
        return NULL;
    }
    struct stat st;
    if (stat (path, &st) != 0 || access (path, R_OK) != 0) {
        s_set_error ("%s: %s", path, strerror (errno));
        return NULL;
    }
    if (!S_ISREG (st.st_mode)) {
        s_set_error ("%s: not a regular file", path);
        return NULL;
    }
    char *secret_path = zsys_sprintf ("%s_secret", path);
    zconfig_t *config = s_config_load (secret_path);
    zstr_free (&secret_path);
    if (!config)
        config = s_config_load (path);

    const char *public_txt = config ? zconfig_get (config, "/curve/public-key", NULL) : NULL;
    const char *secret_txt = config ? zconfig_get (config, "/curve/secret-key", NULL) : NULL;
    byte public_key [32] = { 0 };
    byte secret_key [32] = { 0 };
    zcert_t *cert = NULL;
    if (public_txt && strlen (public_txt) == 40 && zmq_z85_decode (public_key, public_txt)) {
        if (secret_txt && strlen (secret_txt) == 40)
            if (!zmq_z85_decode (secret_key, secret_txt))
                memset (secret_key, 0, sizeof (secret_key));
        cert = zcert_new_from (public_key, secret_key);
    }
    else
        s_set_error ("%s: not a CURVE certificate (no valid curve public-key)", path);
    zconfig_destroy (&config);
    return cert;
}

static bool
s_cert_has_secret (zcert_t *cert)
{
    const byte *secret = zcert_secret_key (cert);
    for (int i = 0; i < 32; i++)
        if (secret [i])
            return true;
    return false;
}

//  Load the server's public key and the client's full certificate.

static zcert_t *
s_certs_load (const char *server_cert_path, const char *client_cert_path,
              char *server_public)
{
    zcert_t *server = s_cert_load (server_cert_path);
    if (!server)
        return NULL;
    snprintf (server_public, 41, "%s", zcert_public_txt (server));
    zcert_destroy (&server);

    zcert_t *client = s_cert_load (client_cert_path);
    if (client && !s_cert_has_secret (client)) {
        s_set_error ("%s_secret: no secret key (is this the right certificate?)",
                     client_cert_path);
        zcert_destroy (&client);
    }
    return client;
}

//  Decode one Z85 key (40 chars) into 32 bytes.

static bool
s_key_decode (const char *label, const char *z85, byte *key)
{
    if (!z85 || strlen (z85) != 40 || !zmq_z85_decode (key, z85)) {
        s_set_error ("%s: not a Z85 CURVE key (40 characters)", label);
        return false;
    }
    return true;
}

//  Certificate from Z85 text, or NULL with an error.

static zcert_t *
s_cert_from_keys (const char *server_public_z85, const char *client_public_z85,
                  const char *client_secret_z85, char *server_public)
{
    byte server_key [32], public_key [32], secret_key [32];
    if (!s_key_decode ("server public key", server_public_z85, server_key)
    ||  !s_key_decode ("client public key", client_public_z85, public_key)
    ||  !s_key_decode ("client secret key", client_secret_z85, secret_key))
        return NULL;
    snprintf (server_public, 41, "%s", server_public_z85);
    return zcert_new_from (public_key, secret_key);
}


//  --------------------------------------------------------------------------
//  A CURVE client socket of the given type, not connected yet

static zsock_t *
s_socket_make (int type, zcert_t *cert, const char *server_public)
{
    zsock_t *sock = zsock_new (type);
    if (!sock) {
        s_set_error ("cannot create socket: %s", zmq_strerror (zmq_errno ()));
        return NULL;
    }
    zsock_set_linger (sock, 0);
    zcert_apply (cert, sock);
    zsock_set_curve_serverkey (sock, server_public);
    return sock;
}

//  Connect it to endpoint, or destroy it with an error.

static bool
s_socket_connect (zsock_t **sock_p, const char *endpoint)
{
    if (zsock_connect (*sock_p, "%s", endpoint) == 0)
        return true;
    s_set_error ("%s: cannot connect: %s", endpoint, zmq_strerror (zmq_errno ()));
    zsock_destroy (sock_p);
    return false;
}

//  Both: a CURVE client socket connected to endpoint, or NULL.

static zsock_t *
s_socket_new (int type, zcert_t *cert, const char *server_public,
              const char *endpoint)
{
    zsock_t *sock = s_socket_make (type, cert, server_public);
    if (sock)
        s_socket_connect (&sock, endpoint);
    return sock;
}


//  --------------------------------------------------------------------------
//  Endpoint lists: "tcp://a:7461,tcp://b:7461"

static void
s_endpoints_free (char ***list_p, int count)
{
    char **list = *list_p;
    for (int i = 0; list && i < count; i++)
        free (list [i]);
    free (list);
    *list_p = NULL;
}

//  Split a comma-separated list (spaces around each entry trimmed) into
//  *count_p strings. NULL with an error when there is none, an entry is
//  empty, or there are more than DV_CLIENT_ENDPOINTS_MAX.

static char **
s_endpoints_parse (const char *text, int *count_p)
{
    *count_p = 0;
    if (!text || !*text) {
        s_set_error ("no endpoint given");
        return NULL;
    }
    char **list = (char **) zmalloc (DV_CLIENT_ENDPOINTS_MAX * sizeof (char *));
    int count = 0;
    const char *start = text;
    while (true) {
        const char *end = strchr (start, ',');
        if (!end)
            end = start + strlen (start);
        const char *first = start, *last = end;
        while (first < last && isspace ((unsigned char) *first))
            first++;
        while (last > first && isspace ((unsigned char) last [-1]))
            last--;
        if (first == last || count == DV_CLIENT_ENDPOINTS_MAX) {
            if (first == last)
                s_set_error ("endpoint list \"%s\": entry %d is empty", text, count + 1);
            else
                s_set_error ("endpoint list \"%s\": more than %d endpoints", text,
                             DV_CLIENT_ENDPOINTS_MAX);
            s_endpoints_free (&list, count);
            return NULL;
        }
        list [count++] = strndup (first, (size_t) (last - first));
        if (!*end)
            break;
        start = end + 1;
    }
    *count_p = count;
    return list;
}

//  True when every endpoint after the first can be connected to (a socket
//  of `type` is made and dropped at once), else false with the error of
//  the first that cannot. The first is checked by its real socket.

static bool
s_endpoints_check (char **list, int count, int type, zcert_t *cert, const char *server_public)
{
    for (int i = 1; i < count; i++) {
        zsock_t *sock = s_socket_new (type, cert, server_public, list [i]);
        if (!sock)
            return false;
        zsock_destroy (&sock);
    }
    return true;
}

//  An index in 0..count-1, going round.

static int
s_wrap (int index, int count)
{
    return ((index % count) + count) % count;
}


//  --------------------------------------------------------------------------
//  Client

static dv_client_t *
s_client_new (const char *endpoint, zcert_t *cert, const char *server_public)
{
    if (!cert)
        return NULL;
    int count;
    char **endpoints = s_endpoints_parse (endpoint, &count);
    if (!endpoints) {
        zcert_destroy (&cert);
        return NULL;
    }
    dv_client_t *self = (dv_client_t *) zmalloc (sizeof (dv_client_t));
    self->endpoints = endpoints;
    self->count = count;
    self->cert = cert;
    snprintf (self->server_public, sizeof (self->server_public), "%s", server_public);
    self->timeout = DV_CLIENT_TIMEOUT_DEFAULT;
    self->attempts = DV_CLIENT_ATTEMPTS_DEFAULT;
    self->sock = s_socket_new (ZMQ_REQ, cert, server_public, endpoints [0]);
    if (!self->sock
    ||  !s_endpoints_check (endpoints, count, ZMQ_REQ, cert, server_public))
        dv_client_destroy (&self);
    return self;
}

dv_client_t *
dv_client_new (const char *endpoint, const char *server_cert_path,
               const char *client_cert_path)
{
    char server_public [41] = "";
    zcert_t *cert = s_certs_load (server_cert_path, client_cert_path, server_public);
    return s_client_new (endpoint, cert, server_public);
}

dv_client_t *
dv_client_new_keys (const char *endpoint, const char *server_public_z85,
                    const char *client_public_z85, const char *client_secret_z85)
{
    char server_public [41] = "";
    zcert_t *cert = s_cert_from_keys (server_public_z85, client_public_z85,
                                      client_secret_z85, server_public);
    return s_client_new (endpoint, cert, server_public);
}

void
dv_client_destroy (dv_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dv_client_t *self = *self_p;
    zsock_destroy (&self->sock);
    zcert_destroy (&self->cert);
    s_endpoints_free (&self->endpoints, self->count);
    free (self);
    *self_p = NULL;
}

void
dv_client_set_timeout (dv_client_t *self, int msecs)
{
    if (self && msecs > 0)
        self->timeout = msecs;
}

void
dv_client_set_attempts (dv_client_t *self, int attempts)
{
    if (self && attempts > 0)
        self->attempts = attempts;
}

int
dv_client_attempts_used (dv_client_t *self)
{
    return self ? self->attempts_used : 0;
}

const char *
dv_client_endpoint (dv_client_t *self)
{
    return self ? self->endpoints [self->current] : NULL;
}

int
dv_client_endpoint_index (dv_client_t *self)
{
    return self ? self->current : -1;
}

int
dv_client_endpoint_count (dv_client_t *self)
{
    return self ? self->count : 0;
}

int
dv_client_moves (dv_client_t *self)
{
    return self ? self->moves : 0;
}

//  Use endpoint `index` (going round) from the next exchange on: the
//  socket is dropped, the next exchange connects there.

static void
s_client_move (dv_client_t *self, int index)
{
    index = s_wrap (index, self->count);
    if (index != self->current) {
        self->current = index;
        self->moves++;
        zsock_destroy (&self->sock);
    }
}

void
dv_client_move (dv_client_t *self, int index)
{
    if (self && index >= 0 && index < self->count)
        s_client_move (self, index);
}

//  Make sure there is a fresh REQ socket.

static bool
s_client_connect (dv_client_t *self)
{
    if (!self->sock)
        self->sock = s_socket_new (ZMQ_REQ, self->cert, self->server_public,
                                   self->endpoints [self->current]);
    return self->sock != NULL;
}

//  Send one frame and wait for the reply. Returns the reply text (caller
//  frees) or NULL on timeout/interrupt; after NULL the socket is gone (a REQ
//  socket that is owed a reply cannot send again).

static char *
s_client_exchange (dv_client_t *self, const void *data, size_t size)
{
    if (!s_client_connect (self))
        return NULL;
    zframe_t *frame = zframe_new (data, size);
    if (zframe_send (&frame, self->sock, 0) != 0) {
        zframe_destroy (&frame);
        s_set_error ("%s: send failed: %s", dv_client_endpoint (self),
                     zmq_strerror (zmq_errno ()));
        zsock_destroy (&self->sock);
        return NULL;
    }
    zpoller_t *poller = zpoller_new (self->sock, NULL);
    void *which = zpoller_wait (poller, self->timeout);
    bool interrupted = zpoller_terminated (poller);
    zpoller_destroy (&poller);

    char *reply = NULL;
    if (which) {
        zmsg_t *msg = zmsg_recv (self->sock);
        reply = msg ? zmsg_popstr (msg) : NULL;
        zmsg_destroy (&msg);
    }
    if (!reply) {
        if (interrupted)
            s_set_error ("%s: interrupted", dv_client_endpoint (self));
        else
            s_set_error ("no reply from %s after 1 attempt", dv_client_endpoint (self));
        zsock_destroy (&self->sock);
    }
    return reply;
}

char *
dv_client_request_raw (dv_client_t *self, const void *data, size_t size)
{
    if (!self || (!data && size))
        return NULL;
    self->attempts_used = 1;
    return s_client_exchange (self, data, size);
}

//  Parse a reply frame into a JSON object, or NULL with an error.

static json_t *
s_reply_parse (dv_client_t *self, const char *text)
{
    json_error_t error;
    json_t *reply = json_loads (text, 0, &error);
    if (!reply)
        s_set_error ("%s: reply is not JSON (%s)", dv_client_endpoint (self), error.text);
    else
    if (!json_is_object (reply)) {
        s_set_error ("%s: reply is not a JSON object", dv_client_endpoint (self));
        json_decref (reply);
        reply = NULL;
    }
    return reply;
}

static bool
s_reply_is_unavailable (json_t *reply)
{
    const char *type = json_string_value (json_object_get (reply, "type"));
    const char *code = json_string_value (json_object_get (reply, "code"));
    return type && code && streq (type, "error") && streq (code, "unavailable");
}

//  Sleep msecs, waking early on SIGINT/SIGTERM.

static void
s_backoff (int msecs)
{
    int64_t until = zclock_mono () + msecs;
    while (!zsys_interrupted) {
        int64_t left = until - zclock_mono ();
        if (left <= 0)
            break;
        zclock_sleep ((int) (left < 50 ? left : 50));
    }
}

//  "tcp://a:7461, tcp://b:7461": the endpoints marked in `tried`.

static void
s_tried_list (dv_client_t *self, const bool *tried, char *buffer, size_t size)
{
    size_t used = 0;
    *buffer = 0;
    for (int i = 0; i < self->count && used < size; i++)
        if (tried [i])
            used += snprintf (buffer + used, size - used, "%s%s", used ? ", " : "",
                              self->endpoints [i]);
}

json_t *
dv_client_request (dv_client_t *self, json_t *request)
{
    if (!self || !request) {
        s_set_error ("no request given");
        return NULL;
    }
    char *frame = json_dumps (request, JSON_COMPACT);
    if (!frame) {
        s_set_error ("request cannot be encoded as JSON");
        return NULL;
    }
    size_t size = strlen (frame);
    json_t *reply = NULL;
    bool broken = false;        //  a reply came but was not a JSON object
    bool tried [DV_CLIENT_ENDPOINTS_MAX] = { false };
    int backoff = DV_BACKOFF_FIRST_MS;
    self->attempts_used = 0;

    while (self->attempts_used < self->attempts && !zsys_interrupted) {
        if (reply) {            //  the last one was `unavailable`: move on,
            s_client_move (self, self->current + 1);
            if (tried [self->current]) {        //  and wait unless it is new
                s_backoff (backoff);
                backoff = backoff * 2 > DV_BACKOFF_MAX_MS? DV_BACKOFF_MAX_MS: backoff * 2;
            }
            if (zsys_interrupted)
                break;
        }
        self->attempts_used++;
        tried [self->current] = true;
        char *text = s_client_exchange (self, frame, size);
        if (!text) {            //  Lazy Pirate: same bytes, new socket, next endpoint
            s_client_move (self, self->current + 1);
            continue;
        }
        json_t *parsed = s_reply_parse (self, text);
        free (text);
        json_decref (reply);
        reply = parsed;
        if (!reply) {
            broken = true;      //  not worth resending for
            break;
        }
        if (!s_reply_is_unavailable (reply))
            break;
    }
    free (frame);
    if (!reply && !broken) {
        char endpoints [1024];
        s_tried_list (self, tried, endpoints, sizeof (endpoints));
        if (zsys_interrupted)
            s_set_error ("%s: interrupted", dv_client_endpoint (self));
        else
            s_set_error ("no reply from %s after %d attempt%s", endpoints,
                         self->attempts_used, self->attempts_used == 1? "": "s");
    }
    return reply;
}


//  --------------------------------------------------------------------------
//  Case-management requests

//  True when a required argument is there, else sets an error naming it.

static bool
s_given (const char *request, const char *name, const char *value)
{
    if (value && *value)
        return true;
    s_set_error ("%s: no %s given", request, name);
    return false;
}

//  {"v":1,"type":TYPE, name: value, ...} from NULL-terminated name/value
//  pairs; a NULL value leaves its field out. NULL (with an error) when a
//  value is not UTF-8 text, which JSON cannot carry.

static json_t *
s_request_new (const char *type, ...)
{
    json_t *request = json_pack ("{s:i, s:s}", "v", 1, "type", type);
    va_list args;
    va_start (args, type);
    const char *name;
    while (request && (name = va_arg (args, const char *))) {
        const char *value = va_arg (args, const char *);
        if (value && json_object_set_new (request, name, json_string (value)) != 0) {
            s_set_error ("%s: %s is not UTF-8 text", type, name);
            json_decref (request);
            request = NULL;
        }
    }
    va_end (args);
    return request;
}

//  Send a request made here and drop it.

static json_t *
s_request_send (dv_client_t *self, json_t *request)
{
    if (!request)
        return NULL;
    json_t *reply = dv_client_request (self, request);
    json_decref (request);
    return reply;
}

json_t *
dv_client_enrollments (dv_client_t *self, const char *program, int64_t since_seq, int limit)
{
    if (!self || !s_given ("enrollments", "program", program))
        return NULL;
    if (since_seq < 0 || limit < 0) {
        s_set_error ("enrollments: %s must not be negative", since_seq < 0? "since_seq": "limit");
        return NULL;
    }
    json_t *request = s_request_new ("enrollments", "program", program, NULL);
    if (request) {
        json_object_set_new (request, "since_seq", json_integer (since_seq));
        if (limit > 0)
            json_object_set_new (request, "limit", json_integer (limit));
    }
    return s_request_send (self, request);
}

json_t *
dv_client_enrollment (dv_client_t *self, const char *source_id, const char *referral_id,
                      const char *change, const char *reason, const char *at)
{
    if (!self
    ||  !s_given ("enrollment", "source_id", source_id)
    ||  !s_given ("enrollment", "referral_id", referral_id)
    ||  !s_given ("enrollment", "change", change))
        return NULL;
    return s_request_send (self, s_request_new ("enrollment",
        "source_id", source_id, "referral_id", referral_id, "change", change,
        "reason", reason, "at", at, NULL));
}

json_t *
dv_client_transfer (dv_client_t *self, const char *source_id, const char *referral_id,
                    const char *case_manager)
{
    if (!self
    ||  !s_given ("transfer", "source_id", source_id)
    ||  !s_given ("transfer", "referral_id", referral_id)
    ||  !s_given ("transfer", "case_manager", case_manager))
        return NULL;
    return s_request_send (self, s_request_new ("transfer",
        "source_id", source_id, "referral_id", referral_id,
        "case_manager", case_manager, NULL));
}

json_t *
dv_client_caseload (dv_client_t *self, const char *program)
{
    if (!self || !s_given ("caseload", "program", program))
        return NULL;
    return s_request_send (self, s_request_new ("caseload", "program", program, NULL));
}


//  --------------------------------------------------------------------------
//  Subscriber

//  Watch the SUB socket's connections: an inproc PAIR receives the events
//  of zmq_socket_monitor. Each monitor needs an endpoint name of its own.

static bool
s_subscriber_monitor (dv_subscriber_t *self)
{
    static int sequence = 0;
    char *name = zsys_sprintf ("inproc://dv-subscriber-%p-%d", (void *) self,
                               __atomic_add_fetch (&sequence, 1, __ATOMIC_RELAXED));
    int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED
               | ZMQ_EVENT_CLOSED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
               | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
    bool ok = zmq_socket_monitor (zsock_resolve (self->sock), name, events) == 0;
    if (ok) {
        self->monitor = zsock_new (ZMQ_PAIR);
        ok = self->monitor && zsock_connect (self->monitor, "%s", name) == 0;
    }
    if (!ok)
        s_set_error ("cannot watch the subscriber's connection: %s", zmq_strerror (zmq_errno ()));
    zstr_free (&name);
    return ok;
}

//  Drop the socket (and its monitor).

static void
s_subscriber_close (dv_subscriber_t *self)
{
    zpoller_destroy (&self->poller);
    if (self->monitor && self->sock)
        zmq_socket_monitor (zsock_resolve (self->sock), NULL, 0);
    zsock_destroy (&self->monitor);
    zsock_destroy (&self->sock);
}

//  A SUB socket on the current endpoint, subscribed; false with an error.
//  The monitor is in place before it connects, so it hears the handshake.

static bool
s_subscriber_open (dv_subscriber_t *self)
{
    self->up = false;
    self->down_since = zclock_mono ();
    self->sock = s_socket_make (ZMQ_SUB, self->cert, self->server_public);
    if (!self->sock)
        return false;
    zsock_set_subscribe (self->sock, self->topic);
    //  A host that stopped answering: the connection closes (and ZeroMQ
    //  connects again, so a host that comes back is heard again)
    zsock_set_heartbeat_ivl (self->sock, DV_HEARTBEAT_IVL);
    zsock_set_heartbeat_timeout (self->sock, DV_HEARTBEAT_TIMEOUT);
    if (!s_subscriber_monitor (self)) {
        s_subscriber_close (self);
        return false;
    }
    if (!s_socket_connect (&self->sock, self->endpoints [self->current])) {
        s_subscriber_close (self);
        return false;
    }
    self->poller = zpoller_new (self->sock, self->monitor, NULL);
    return true;
}

static dv_subscriber_t *
s_subscriber_new (const char *endpoint, zcert_t *cert, const char *server_public,
                  const char *topic)
{
    if (!cert)
        return NULL;
    int count;
    char **endpoints = s_endpoints_parse (endpoint, &count);
    if (!endpoints) {
        zcert_destroy (&cert);
        return NULL;
    }
    dv_subscriber_t *self = (dv_subscriber_t *) zmalloc (sizeof (dv_subscriber_t));
    self->endpoints = endpoints;
    self->count = count;
    self->cert = cert;
    snprintf (self->server_public, sizeof (self->server_public), "%s", server_public);
    self->topic = strdup (topic ? topic : "");
    self->failover = DV_FAILOVER_DEFAULT;
    if (!s_subscriber_open (self)
    ||  !s_endpoints_check (endpoints, count, ZMQ_SUB, cert, server_public))
        dv_subscriber_destroy (&self);
    return self;
}

dv_subscriber_t *
dv_subscriber_new (const char *endpoint, const char *server_cert_path,
                   const char *client_cert_path, const char *topic)
{
    char server_public [41] = "";
    zcert_t *cert = s_certs_load (server_cert_path, client_cert_path, server_public);
    return s_subscriber_new (endpoint, cert, server_public, topic);
}

dv_subscriber_t *
dv_subscriber_new_keys (const char *endpoint, const char *server_public_z85,
                        const char *client_public_z85, const char *client_secret_z85,
                        const char *topic)
{
    char server_public [41] = "";
    zcert_t *cert = s_cert_from_keys (server_public_z85, client_public_z85,
                                      client_secret_z85, server_public);
    return s_subscriber_new (endpoint, cert, server_public, topic);
}

void
dv_subscriber_destroy (dv_subscriber_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dv_subscriber_t *self = *self_p;
    s_subscriber_close (self);
    zcert_destroy (&self->cert);
    s_endpoints_free (&self->endpoints, self->count);
    free (self->topic);
    free (self);
    *self_p = NULL;
}

void *
dv_subscriber_sock (dv_subscriber_t *self)
{
    return self ? self->sock : NULL;
}

void
dv_subscriber_set_failover (dv_subscriber_t *self, int msecs)
{
    if (self && msecs > 0)
        self->failover = msecs;
}

const char *
dv_subscriber_endpoint (dv_subscriber_t *self)
{
    return self ? self->endpoints [self->current] : NULL;
}

int
dv_subscriber_endpoint_index (dv_subscriber_t *self)
{
    return self ? self->current : -1;
}

int
dv_subscriber_endpoint_count (dv_subscriber_t *self)
{
    return self ? self->count : 0;
}

int
dv_subscriber_moves (dv_subscriber_t *self)
{
    return self ? self->moves : 0;
}

bool
dv_subscriber_connected (dv_subscriber_t *self)
{
    return self && self->sock && self->up;
}

int
dv_subscriber_connects (dv_subscriber_t *self)
{
    return self ? self->connects : 0;
}

//  Connect to endpoint `index` (going round) on a new socket. When the
//  socket cannot be made (it could be at creation, so only when memory or
//  file descriptors ran out) the next dv_subscriber_recv tries again.

static void
s_subscriber_move (dv_subscriber_t *self, int index)
{
    index = s_wrap (index, self->count);
    if (index != self->current)
        self->moves++;
    self->current = index;
    s_subscriber_close (self);
    s_subscriber_open (self);
}

void
dv_subscriber_move (dv_subscriber_t *self, int index)
{
    if (self && index >= 0 && index < self->count)
        s_subscriber_move (self, index);
}

//  Read one connection event from the monitor: [event (2 bytes), value
//  (4 bytes)][endpoint]. A handshake that succeeded means up; a closed
//  connection or a failed handshake means down from now.

static void
s_subscriber_watch (dv_subscriber_t *self)
{
    zmsg_t *msg = zmsg_recv (self->monitor);
    zframe_t *frame = msg ? zmsg_first (msg) : NULL;
    if (frame && zframe_size (frame) >= 2) {
        uint16_t event;
        memcpy (&event, zframe_data (frame), sizeof (event));
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            self->up = true;
            self->connects++;
        }
        else
        if (self->up) {
            self->up = false;
            self->down_since = zclock_mono ();
        }
    }
    zmsg_destroy (&msg);
}

//  Read one [topic, json] message that is waiting; NULL if malformed.

static json_t *
s_subscriber_read (dv_subscriber_t *self, char **topic_p)
{
    zmsg_t *msg = zmsg_recv (self->sock);
    char *topic = msg ? zmsg_popstr (msg) : NULL;
    char *body = msg ? zmsg_popstr (msg) : NULL;
    zmsg_destroy (&msg);

    json_t *event = body ? json_loads (body, 0, NULL) : NULL;
    if (event && !json_is_object (event)) {
        json_decref (event);
        event = NULL;
    }
    if (event && topic_p) {
        *topic_p = topic;
        topic = NULL;
    }
    free (topic);
    free (body);
    return event;
}

//  Milliseconds until the subscriber should move (-1: not while it is
//  connected, or has nowhere to go).

static int64_t
s_subscriber_patience (dv_subscriber_t *self)
{
    if (self->count < 2 || (self->sock && self->up))
        return -1;
    int64_t left = self->down_since + self->failover - zclock_mono ();
    return left > 0 ? left : 0;
}

json_t *
dv_subscriber_recv (dv_subscriber_t *self, int msecs, char **topic_p)
{
    if (topic_p)
        *topic_p = NULL;
    if (!self)
        return NULL;
    int64_t deadline = msecs < 0 ? -1 : zclock_mono () + msecs;
    while (!zsys_interrupted) {
        int64_t patience = s_subscriber_patience (self);
        if (patience == 0) {
            //  What came before the connection was lost, then the next one
            if (self->sock && (zsock_events (self->sock) & ZMQ_POLLIN)) {
                json_t *event = s_subscriber_read (self, topic_p);
                if (event)
                    return event;
                continue;
            }
            s_subscriber_move (self, self->current + 1);
            continue;
        }
        int64_t wait = -1;
        if (deadline >= 0) {
            int64_t left = deadline - zclock_mono ();
            wait = left > 0 ? left : 0;
        }
        if (patience > 0 && (wait < 0 || patience < wait))
            wait = patience;
        void *which = self->poller ? zpoller_wait (self->poller, (int) wait) : NULL;
        if (!self->poller)
            zclock_sleep ((int) (wait < 0 || wait > 100 ? 100 : wait));
        if (which && which == self->monitor)
            s_subscriber_watch (self);
        else
        if (which) {
            json_t *event = s_subscriber_read (self, topic_p);
            if (event)
                return event;   //  else a malformed message: skip it
        }
        else
        if (self->poller && zpoller_terminated (self->poller))
            break;
        else
        if (deadline >= 0 && zclock_mono () >= deadline) {
            s_set_error ("timed out");
            return NULL;
        }
    }
    s_set_error ("interrupted");
    return NULL;
}

void
dv_subscriber_run (dv_subscriber_t *self, const dv_subscriber_loop_t *loop)
{
    int64_t heard = zclock_mono ();     //  the last event or progress, for timeout_ms
    int64_t quiet = heard;              //  the last event or on_quiet
    bool several = dv_subscriber_endpoint_count (self) > 1;
    while (!*loop->finished && !dv_interrupted ()) {
        int wait = loop->slice_ms;
        if (loop->timeout_ms > 0) {
            int64_t left = heard + loop->timeout_ms - zclock_mono ();
            if (left <= 0)
                break;
            if (left < wait)
                wait = (int) left;
        }
        json_t *event = dv_subscriber_recv (self, wait, NULL);
        long long progress = *loop->progress;
        if (event) {
            heard = quiet = zclock_mono ();
            loop->on_event (loop->arg, event);
            json_decref (event);
        }
        else
        if (several && zclock_mono () - quiet >= loop->quiet_ms) {
            loop->on_quiet (loop->arg);
            quiet = zclock_mono ();
        }
        loop->after (loop->arg);
        if (*loop->progress != progress)
            heard = zclock_mono ();
    }
}
