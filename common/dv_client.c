/*  dv_client — the DIVERT/1 client library (see dv_client.h for the contract).

    A dv_client_t holds the client certificate, the server's public key and
    one REQ socket to the intake endpoint. dv_client_request() is the Lazy
    Pirate loop: send the compact JSON frame, poll for the reply up to the
    timeout, and on silence throw the socket away, open a fresh one and send
    the same bytes again; an `unavailable` error is retried after a backoff
    (200 ms doubling to 2 s). Every send counts toward the attempts.

    The case-management helpers (dv_client_enrollments and the others) only
    build a request object and hand it to dv_client_request().

    A dv_subscriber_t is a CURVE SUB socket on the decisions endpoint; each
    event is two frames, [topic, json].

    The last error is kept per thread, so a C integration can use one client
    per thread without the messages mixing.
*/
#include "dv_client.h"

#include <czmq.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DV_CLIENT_TIMEOUT_DEFAULT   5000
#define DV_CLIENT_ATTEMPTS_DEFAULT  3
#define DV_BACKOFF_FIRST_MS         200
#define DV_BACKOFF_MAX_MS           2000

struct _dv_client_t {
    char *endpoint;             //  intake endpoint
    char server_public [41];    //  server public key, Z85
    zcert_t *cert;              //  client certificate, with secret key
    zsock_t *sock;              //  current REQ socket (NULL after a failure)
    int timeout;                //  msecs to wait for each reply
    int attempts;               //  sends in all before giving up
    int attempts_used;          //  sends the last request took
};

struct _dv_subscriber_t {
    zsock_t *sock;              //  SUB socket
    zpoller_t *poller;          //  polls sock
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
//  A CURVE client socket of the given type, connected to endpoint

static zsock_t *
s_socket_new (int type, zcert_t *cert, const char *server_public,
              const char *endpoint)
{
    zsock_t *sock = zsock_new (type);
    if (!sock) {
        s_set_error ("cannot create socket: %s", zmq_strerror (zmq_errno ()));
        return NULL;
    }
    zsock_set_linger (sock, 0);
    zcert_apply (cert, sock);
    zsock_set_curve_serverkey (sock, server_public);
    if (zsock_connect (sock, "%s", endpoint) != 0) {
        s_set_error ("%s: cannot connect: %s", endpoint, zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
    }
    return sock;
}


//  --------------------------------------------------------------------------
//  Client

static dv_client_t *
s_client_new (const char *endpoint, zcert_t *cert, const char *server_public)
{
    if (!cert)
        return NULL;
    if (!endpoint || !*endpoint) {
        s_set_error ("no endpoint given");
        zcert_destroy (&cert);
        return NULL;
    }
    dv_client_t *self = (dv_client_t *) zmalloc (sizeof (dv_client_t));
    self->endpoint = strdup (endpoint);
    self->cert = cert;
    snprintf (self->server_public, sizeof (self->server_public), "%s", server_public);
    self->timeout = DV_CLIENT_TIMEOUT_DEFAULT;
    self->attempts = DV_CLIENT_ATTEMPTS_DEFAULT;
    self->sock = s_socket_new (ZMQ_REQ, cert, server_public, endpoint);
    if (!self->sock)
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
    free (self->endpoint);
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

//  Make sure there is a fresh REQ socket.

static bool
s_client_connect (dv_client_t *self)
{
    if (!self->sock)
        self->sock = s_socket_new (ZMQ_REQ, self->cert, self->server_public,
                                   self->endpoint);
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
        s_set_error ("%s: send failed: %s", self->endpoint, zmq_strerror (zmq_errno ()));
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
            s_set_error ("%s: interrupted", self->endpoint);
        else
            s_set_error ("no reply from %s after 1 attempt", self->endpoint);
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
        s_set_error ("%s: reply is not JSON (%s)", self->endpoint, error.text);
    else
    if (!json_is_object (reply)) {
        s_set_error ("%s: reply is not a JSON object", self->endpoint);
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
    int backoff = DV_BACKOFF_FIRST_MS;
    self->attempts_used = 0;

    while (self->attempts_used < self->attempts && !zsys_interrupted) {
        if (reply) {            //  the last one was `unavailable`
            s_backoff (backoff);
            backoff = backoff * 2 > DV_BACKOFF_MAX_MS? DV_BACKOFF_MAX_MS: backoff * 2;
            if (zsys_interrupted)
                break;
        }
        self->attempts_used++;
        char *text = s_client_exchange (self, frame, size);
        if (!text)
            continue;           //  Lazy Pirate: new socket, same bytes
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
        if (zsys_interrupted)
            s_set_error ("%s: interrupted", self->endpoint);
        else
            s_set_error ("no reply from %s after %d attempt%s", self->endpoint,
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

static dv_subscriber_t *
s_subscriber_new (const char *endpoint, zcert_t *cert, const char *server_public,
                  const char *topic)
{
    if (!cert)
        return NULL;
    if (!endpoint || !*endpoint) {
        s_set_error ("no endpoint given");
        zcert_destroy (&cert);
        return NULL;
    }
    zsock_t *sock = s_socket_new (ZMQ_SUB, cert, server_public, endpoint);
    zcert_destroy (&cert);
    if (!sock)
        return NULL;
    zsock_set_subscribe (sock, topic ? topic : "");
    dv_subscriber_t *self = (dv_subscriber_t *) zmalloc (sizeof (dv_subscriber_t));
    self->sock = sock;
    self->poller = zpoller_new (sock, NULL);
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
    zpoller_destroy (&self->poller);
    zsock_destroy (&self->sock);
    free (self);
    *self_p = NULL;
}

void *
dv_subscriber_sock (dv_subscriber_t *self)
{
    return self ? self->sock : NULL;
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

json_t *
dv_subscriber_recv (dv_subscriber_t *self, int msecs, char **topic_p)
{
    if (topic_p)
        *topic_p = NULL;
    if (!self)
        return NULL;
    int64_t deadline = msecs < 0 ? -1 : zclock_mono () + msecs;
    while (true) {
        int wait = -1;
        if (deadline >= 0) {
            int64_t left = deadline - zclock_mono ();
            wait = left > 0 ? (int) left : 0;
        }
        if (!zpoller_wait (self->poller, wait)) {
            s_set_error (zpoller_terminated (self->poller) ? "interrupted" : "timed out");
            return NULL;
        }
        json_t *event = s_subscriber_read (self, topic_p);
        if (event)
            return event;       //  else a malformed message: skip it
    }
}
