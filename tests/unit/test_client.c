/*  test_client — unit tests for the client library (common/dv_client.c) that
    need no daemon.

    A fake server runs as a CZMQ actor: a CURVE ROUTER (or PUB) bound to
    tcp://127.0.0.1 on a random port, with a server keypair made here. It
    has no ZAP handler, so every CURVE client is let in. Its mode says how it
    treats each request (answer, drop the first, say `unavailable` once, ...)
    and it keeps the frames it received, so the tests can prove that Lazy
    Pirate sends the same bytes again.

    Failover: two fakes stand for two daemons (one silent, or saying
    `unavailable`, or gone), and a client or subscriber given both
    endpoints must move to the other one, sending the same bytes there.
*/
#include "dv_client.h"
#include "testlib.h"

#include <czmq.h>
#include <unistd.h>

#define DECISION "{\"v\":1,\"type\":\"decision\",\"referral_id\":\"7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f\"," \
                 "\"seq\":42,\"decision\":\"accept\",\"reason\":\"accepted\",\"program\":\"LEAD\"," \
                 "\"replayed\":false}"
#define UNAVAILABLE "{\"v\":1,\"type\":\"error\",\"code\":\"unavailable\",\"message\":\"database down\"," \
                    "\"retry\":true}"
#define EVENT "{\"v\":1,\"type\":\"event\",\"source_id\":\"spd\",\"seq\":%d,\"decision\":\"accept\"}"
#define MAX_FRAMES 16

typedef enum {
    FAKE_ANSWER,                //  answer every request with DECISION
    FAKE_DROP_FIRST,            //  ignore the first request, answer the rest
    FAKE_UNAVAILABLE_ONCE,      //  UNAVAILABLE first, then DECISION
    FAKE_UNAVAILABLE_ALWAYS,    //  UNAVAILABLE every time
    FAKE_SILENT,                //  never answer
    FAKE_GARBAGE,               //  answer with something that is not JSON
    FAKE_PUBLISH                //  a PUB socket sending events until stopped
} fake_mode_t;

typedef struct {
    fake_mode_t mode;
    int seq;                    //  FAKE_PUBLISH: the seq of its event (7)
    zcert_t *cert;              //  server keypair (read only in the actor)
    int port;                   //  where the actor bound
    int received;               //  requests seen
    char *frames [MAX_FRAMES];  //  their bodies
    int64_t times [MAX_FRAMES]; //  when each arrived (zclock_mono)
    zactor_t *actor;
} fake_t;

static zcert_t *s_server_cert;
static zcert_t *s_client_cert;
static char s_dir [64];
static char s_server_path [128];        //  public server certificate
static char s_client_path [128];        //  client certificate + _secret
static char s_public_only_path [128];   //  client certificate without _secret
static char s_junk_path [128];          //  a file that is no certificate


//  --------------------------------------------------------------------------
//  The fake server

static const char *
s_fake_answer (fake_t *self, int index)
{
    switch (self->mode) {
        case FAKE_ANSWER:             return DECISION;
        case FAKE_DROP_FIRST:         return index == 0 ? NULL : DECISION;
        case FAKE_UNAVAILABLE_ONCE:   return index == 0 ? UNAVAILABLE : DECISION;
        case FAKE_UNAVAILABLE_ALWAYS: return UNAVAILABLE;
        case FAKE_GARBAGE:            return "<html>this is not JSON</html>";
        default:                      return NULL;
    }
}

static void
s_fake_serve (fake_t *self, zsock_t *router)
{
    zmsg_t *msg = zmsg_recv (router);
    if (!msg)
        return;
    zframe_t *identity = zmsg_pop (msg);
    zframe_t *delimiter = zmsg_pop (msg);
    char *body = zmsg_popstr (msg);
    zmsg_destroy (&msg);

    int index = self->received++;
    const char *answer = s_fake_answer (self, index);
    if (index < MAX_FRAMES) {
        self->frames [index] = body;
        self->times [index] = zclock_mono ();
        body = NULL;
    }
    free (body);
    if (answer) {
        zmsg_t *reply = zmsg_new ();
        zmsg_append (reply, &identity);
        zmsg_append (reply, &delimiter);
        zmsg_addstr (reply, answer);
        zmsg_send (&reply, router);
    }
    zframe_destroy (&identity);
    zframe_destroy (&delimiter);
}

static void
s_fake_publish (fake_t *self, zsock_t *pub)
{
    zstr_sendm (pub, "decision.police.spd");
    zstr_send (pub, "not JSON at all");         //  must be skipped
    zstr_sendm (pub, "decision.police.spd");
    zstr_sendf (pub, EVENT, self->seq);
}

static void
s_fake_actor (zsock_t *pipe, void *args)
{
    fake_t *self = (fake_t *) args;
    zsock_t *sock = zsock_new (self->mode == FAKE_PUBLISH ? ZMQ_PUB : ZMQ_ROUTER);
    zcert_apply (self->cert, sock);
    zsock_set_curve_server (sock, 1);
    zsock_set_linger (sock, 0);
    if (self->port)         //  a port given: bind there again
        self->port = zsock_bind (sock, "tcp://127.0.0.1:%d", self->port);
    else
        self->port = zsock_bind (sock, "tcp://127.0.0.1:*");
    zsock_signal (pipe, 0);

    zpoller_t *poller = zpoller_new (pipe, sock, NULL);
    while (true) {
        void *which = zpoller_wait (poller, 50);
        if (which == pipe) {
            char *command = zstr_recv (pipe);
            free (command);     //  $TERM
            break;
        }
        if (which == sock)
            s_fake_serve (self, sock);
        else
        if (zpoller_terminated (poller))
            break;
        else
        if (self->mode == FAKE_PUBLISH)
            s_fake_publish (self, sock);
    }
    zpoller_destroy (&poller);
    zsock_destroy (&sock);
}

//  A fake publishing events with this seq, or serving requests

static fake_t *
s_fake_new_seq (fake_mode_t mode, int seq)
{
    fake_t *self = (fake_t *) zmalloc (sizeof (fake_t));
    self->mode = mode;
    self->seq = seq;
    self->cert = s_server_cert;
    self->actor = zactor_new (s_fake_actor, self);
    return self;
}

//  A fake publishing events with this seq on this port (one that a fake
//  used before: a daemon that comes back)

static fake_t *
s_fake_new_at (fake_mode_t mode, int seq, int port)
{
    fake_t *self = (fake_t *) zmalloc (sizeof (fake_t));
    self->mode = mode;
    self->seq = seq;
    self->cert = s_server_cert;
    self->port = port;
    self->actor = zactor_new (s_fake_actor, self);
    return self;
}

static fake_t *
s_fake_new (fake_mode_t mode)
{
    return s_fake_new_seq (mode, 7);
}

static char *
s_fake_endpoint (fake_t *self)
{
    return zsys_sprintf ("tcp://127.0.0.1:%d", self->port);
}

static void
s_fake_destroy (fake_t **self_p)
{
    fake_t *self = *self_p;
    zactor_destroy (&self->actor);
    for (int i = 0; i < MAX_FRAMES; i++)
        free (self->frames [i]);
    free (self);
    *self_p = NULL;
}

//  A client for the fake server, from the certificate files.

static dv_client_t *
s_client_for (fake_t *fake, int timeout, int attempts)
{
    char *endpoint = s_fake_endpoint (fake);
    dv_client_t *client = dv_client_new (endpoint, s_server_path, s_client_path);
    zstr_free (&endpoint);
    if (client) {
        dv_client_set_timeout (client, timeout);
        dv_client_set_attempts (client, attempts);
    }
    return client;
}

static json_t *
s_referral (void)
{
    return json_pack ("{s:i, s:s, s:s, s:s, s:s}",
                      "v", 1, "type", "referral",
                      "referral_id", "7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f",
                      "pathway", "arrest_diversion",
                      "submitted_at", "2026-11-22T18:04:05Z");
}

static const char *
s_get_str (json_t *object, const char *key)
{
    return json_string_value (json_object_get (object, key));
}


//  --------------------------------------------------------------------------
//  Certificates

TEST (missing_client_cert_is_null_with_reason)
{
    dv_client_t *client = dv_client_new ("tcp://127.0.0.1:7461", s_server_path,
                                         "/nonexistent/dir/client.cert");
    CHECK (client == NULL);
    const char *error = dv_client_last_error ();
    CHECKF (strstr (error, "/nonexistent/dir/client.cert"), "error = \"%s\"", error);
    CHECKF (strstr (error, "No such file"), "error = \"%s\"", error);
}

TEST (missing_server_cert_is_null_with_reason)
{
    dv_client_t *client = dv_client_new ("tcp://127.0.0.1:7461", "/nonexistent/server.cert",
                                         s_client_path);
    CHECK (client == NULL);
    const char *error = dv_client_last_error ();
    CHECKF (strstr (error, "/nonexistent/server.cert: No such file"), "error = \"%s\"", error);
}

TEST (client_cert_without_secret_is_refused)
{
    dv_client_t *client = dv_client_new ("tcp://127.0.0.1:7461", s_server_path,
                                         s_public_only_path);
    CHECK (client == NULL);
    char expected [256];
    snprintf (expected, sizeof (expected),
              "%s_secret: no secret key (is this the right certificate?)", s_public_only_path);
    CHECK_STR (dv_client_last_error (), expected);
}

TEST (junk_file_is_not_a_certificate)
{
    dv_client_t *client = dv_client_new ("tcp://127.0.0.1:7461", s_junk_path, s_client_path);
    CHECK (client == NULL);
    const char *error = dv_client_last_error ();
    CHECKF (strstr (error, s_junk_path) && strstr (error, "not a CURVE certificate"),
            "error = \"%s\"", error);
}

TEST (directory_is_not_a_certificate)
{
    dv_client_t *client = dv_client_new ("tcp://127.0.0.1:7461", s_server_path, s_dir);
    CHECK (client == NULL);
    CHECKF (strstr (dv_client_last_error (), "not a regular file"),
            "error = \"%s\"", dv_client_last_error ());
}

TEST (public_server_cert_is_enough)
{
    dv_client_t *client = dv_client_new ("tcp://127.0.0.1:7461", s_server_path, s_client_path);
    CHECK (client != NULL);
    dv_client_destroy (&client);
    CHECK (client == NULL);
    dv_client_destroy (&client);        //  idempotent
}

TEST (bad_keys_and_endpoint_are_refused)
{
    dv_client_t *client = dv_client_new_keys ("tcp://127.0.0.1:7461", "short",
                                              zcert_public_txt (s_client_cert),
                                              zcert_secret_txt (s_client_cert));
    CHECK (client == NULL);
    CHECKF (strstr (dv_client_last_error (), "server public key"),
            "error = \"%s\"", dv_client_last_error ());

    client = dv_client_new ("no-such-transport://x", s_server_path, s_client_path);
    CHECK (client == NULL);
    CHECKF (strstr (dv_client_last_error (), "no-such-transport://x: cannot connect"),
            "error = \"%s\"", dv_client_last_error ());

    client = dv_client_new (NULL, s_server_path, s_client_path);
    CHECK (client == NULL);
}


//  --------------------------------------------------------------------------
//  Requests

TEST (answered_first_time)
{
    fake_t *fake = s_fake_new (FAKE_ANSWER);
    dv_client_t *client = s_client_for (fake, 2000, 3);
    CHECK (client != NULL);
    json_t *request = s_referral ();
    for (int round = 0; round < 2; round++) {       //  the socket is reused
        json_t *reply = dv_client_request (client, request);
        CHECKF (reply != NULL, "%s", dv_client_last_error ());
        CHECK_STR (s_get_str (reply, "decision"), "accept");
        CHECK_INT (dv_client_attempts_used (client), 1);
        json_decref (reply);
    }
    dv_client_destroy (&client);
    json_decref (request);
    CHECK_INT (fake->received, 2);
    s_fake_destroy (&fake);
}

TEST (lazy_pirate_resends_the_same_bytes)
{
    fake_t *fake = s_fake_new (FAKE_DROP_FIRST);
    dv_client_t *client = s_client_for (fake, 500, 3);
    json_t *request = s_referral ();
    json_t *reply = dv_client_request (client, request);
    CHECKF (reply != NULL, "%s", dv_client_last_error ());
    CHECK_STR (s_get_str (reply, "type"), "decision");
    CHECK_INT (json_integer_value (json_object_get (reply, "seq")), 42);
    CHECK_INT (dv_client_attempts_used (client), 2);

    char *expected = json_dumps (request, JSON_COMPACT);
    CHECK_INT (fake->received, 2);
    CHECK_STR (fake->frames [0], expected);
    CHECK_STR (fake->frames [1], expected);
    //  the resend waited for the timeout
    CHECKF (fake->times [1] - fake->times [0] >= 450, "resent after %lld ms",
            (long long) (fake->times [1] - fake->times [0]));
    free (expected);
    json_decref (reply);
    json_decref (request);
    dv_client_destroy (&client);
    s_fake_destroy (&fake);
}

TEST (unavailable_is_retried_after_backoff)
{
    fake_t *fake = s_fake_new (FAKE_UNAVAILABLE_ONCE);
    dv_client_t *client = s_client_for (fake, 2000, 3);
    json_t *request = s_referral ();
    json_t *reply = dv_client_request (client, request);
    CHECKF (reply != NULL, "%s", dv_client_last_error ());
    CHECK_STR (s_get_str (reply, "type"), "decision");
    CHECK_INT (dv_client_attempts_used (client), 2);
    CHECK_INT (fake->received, 2);
    if (fake->received == 2) {
        CHECK_STR (fake->frames [0], fake->frames [1]);
        CHECKF (fake->times [1] - fake->times [0] >= 190, "backoff %lld ms",
                (long long) (fake->times [1] - fake->times [0]));
    }
    json_decref (reply);
    json_decref (request);
    dv_client_destroy (&client);
    s_fake_destroy (&fake);
}

TEST (unavailable_every_time_returns_the_last_one)
{
    fake_t *fake = s_fake_new (FAKE_UNAVAILABLE_ALWAYS);
    dv_client_t *client = s_client_for (fake, 2000, 3);
    json_t *request = s_referral ();
    int64_t start = zclock_mono ();
    json_t *reply = dv_client_request (client, request);
    int64_t elapsed = zclock_mono () - start;
    CHECKF (reply != NULL, "%s", dv_client_last_error ());
    CHECK_STR (s_get_str (reply, "type"), "error");
    CHECK_STR (s_get_str (reply, "code"), "unavailable");
    CHECK_INT (dv_client_attempts_used (client), 3);
    CHECK_INT (fake->received, 3);
    //  200 + 400 ms of backoff, none after the last attempt
    CHECKF (elapsed >= 590 && elapsed < 1500, "took %lld ms", (long long) elapsed);
    json_decref (reply);
    json_decref (request);
    dv_client_destroy (&client);
    s_fake_destroy (&fake);
}

TEST (no_reply_gives_up_after_attempts)
{
    fake_t *fake = s_fake_new (FAKE_SILENT);
    dv_client_t *client = s_client_for (fake, 200, 2);
    json_t *request = s_referral ();
    json_t *reply = dv_client_request (client, request);
    CHECK (reply == NULL);
    CHECK_INT (dv_client_attempts_used (client), 2);
    char *endpoint = s_fake_endpoint (fake);
    char expected [128];
    snprintf (expected, sizeof (expected), "no reply from %s after 2 attempts", endpoint);
    CHECK_STR (dv_client_last_error (), expected);
    CHECK_INT (fake->received, 2);
    zstr_free (&endpoint);
    json_decref (request);
    dv_client_destroy (&client);
    s_fake_destroy (&fake);
}

TEST (no_server_at_all_gives_up)
{
    //  nothing listens on the port the fake had
    fake_t *fake = s_fake_new (FAKE_SILENT);
    char *endpoint = s_fake_endpoint (fake);
    s_fake_destroy (&fake);
    dv_client_t *client = dv_client_new (endpoint, s_server_path, s_client_path);
    CHECK (client != NULL);             //  connecting is asynchronous
    dv_client_set_timeout (client, 100);
    dv_client_set_attempts (client, 1);
    json_t *request = s_referral ();
    CHECK (dv_client_request (client, request) == NULL);
    char expected [128];
    snprintf (expected, sizeof (expected), "no reply from %s after 1 attempt", endpoint);
    CHECK_STR (dv_client_last_error (), expected);
    json_decref (request);
    dv_client_destroy (&client);
    zstr_free (&endpoint);
}

TEST (non_json_reply_is_an_error)
{
    fake_t *fake = s_fake_new (FAKE_GARBAGE);
    dv_client_t *client = s_client_for (fake, 2000, 3);
    json_t *request = s_referral ();
    json_t *reply = dv_client_request (client, request);
    CHECK (reply == NULL);
    CHECKF (strstr (dv_client_last_error (), "reply is not JSON"),
            "error = \"%s\"", dv_client_last_error ());
    CHECK_INT (dv_client_attempts_used (client), 1);
    json_decref (request);
    dv_client_destroy (&client);
    s_fake_destroy (&fake);
}

TEST (raw_request_sends_the_bytes_given)
{
    fake_t *fake = s_fake_new (FAKE_GARBAGE);
    char *endpoint = s_fake_endpoint (fake);
    dv_client_t *client = dv_client_new_keys (endpoint, zcert_public_txt (s_server_cert),
                                              zcert_public_txt (s_client_cert),
                                              zcert_secret_txt (s_client_cert));
    CHECKF (client != NULL, "%s", dv_client_last_error ());
    dv_client_set_timeout (client, 2000);
    char *reply = dv_client_request_raw (client, "{\"v\":1,", 7);
    CHECK_STR (reply, "<html>this is not JSON</html>");
    CHECK_STR (fake->frames [0], "{\"v\":1,");
    free (reply);
    dv_client_destroy (&client);
    zstr_free (&endpoint);
    s_fake_destroy (&fake);
}

TEST (raw_request_times_out_then_recovers)
{
    fake_t *fake = s_fake_new (FAKE_DROP_FIRST);
    dv_client_t *client = s_client_for (fake, 300, 3);
    char *reply = dv_client_request_raw (client, "x", 1);
    CHECK (reply == NULL);
    reply = dv_client_request_raw (client, "y", 1);    //  a fresh socket
    CHECK_STR (reply, DECISION);
    free (reply);
    dv_client_destroy (&client);
    s_fake_destroy (&fake);
}


//  --------------------------------------------------------------------------
//  Case-management requests

#define CMS_UUID "7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f"

//  The frame the fake received as `index` is exactly `expected` (JSON text):
//  the same fields with the same values, nothing more.

static void
s_check_frame (fake_t *fake, int index, const char *expected)
{
    CHECKF (fake->received > index, "only %d requests arrived", fake->received);
    if (fake->received <= index)
        return;
    json_t *got = json_loads (fake->frames [index], 0, NULL);
    json_t *want = json_loads (expected, 0, NULL);
    CHECKF (want != NULL, "bad expected JSON %s", expected);
    CHECKF (got && want && json_equal (got, want), "request %d = %s, expected %s",
            index, fake->frames [index], expected);
    json_decref (got);
    json_decref (want);
}

TEST (cms_requests_have_the_contract_shapes)
{
    fake_t *fake = s_fake_new (FAKE_ANSWER);
    dv_client_t *client = s_client_for (fake, 2000, 3);
    json_t *reply = dv_client_enrollments (client, "LEAD", 40, 250);
    CHECKF (reply != NULL, "%s", dv_client_last_error ());
    CHECK_STR (s_get_str (reply, "type"), "decision");        //  the reply, as it came
    json_decref (reply);
    json_decref (dv_client_enrollment (client, "spd", CMS_UUID, "exited", "graduated",
                                       "2026-11-30T17:02:11Z"));
    json_decref (dv_client_transfer (client, "spd", CMS_UUID, "cm-9"));
    json_decref (dv_client_caseload (client, "CO-LEAD"));
    CHECK_INT (fake->received, 4);
    s_check_frame (fake, 0, "{\"v\":1,\"type\":\"enrollments\",\"program\":\"LEAD\","
                            "\"since_seq\":40,\"limit\":250}");
    s_check_frame (fake, 1, "{\"v\":1,\"type\":\"enrollment\",\"source_id\":\"spd\","
                            "\"referral_id\":\"" CMS_UUID "\",\"change\":\"exited\","
                            "\"reason\":\"graduated\",\"at\":\"2026-11-30T17:02:11Z\"}");
    s_check_frame (fake, 2, "{\"v\":1,\"type\":\"transfer\",\"source_id\":\"spd\","
                            "\"referral_id\":\"" CMS_UUID "\",\"case_manager\":\"cm-9\"}");
    s_check_frame (fake, 3, "{\"v\":1,\"type\":\"caseload\",\"program\":\"CO-LEAD\"}");
    dv_client_destroy (&client);
    s_fake_destroy (&fake);
}

TEST (cms_optional_fields_are_left_out)
{
    fake_t *fake = s_fake_new (FAKE_ANSWER);
    dv_client_t *client = s_client_for (fake, 2000, 3);
    json_decref (dv_client_enrollments (client, "LEAD", 0, 0));
    json_decref (dv_client_enrollment (client, "spd", CMS_UUID, "intake_completed", NULL, NULL));
    json_decref (dv_client_enrollment (client, "spd", CMS_UUID, "in_the_wind", NULL,
                                       "2026-11-30T17:02:11-08:00"));
    CHECK_INT (fake->received, 3);
    s_check_frame (fake, 0, "{\"v\":1,\"type\":\"enrollments\",\"program\":\"LEAD\",\"since_seq\":0}");
    s_check_frame (fake, 1, "{\"v\":1,\"type\":\"enrollment\",\"source_id\":\"spd\","
                            "\"referral_id\":\"" CMS_UUID "\",\"change\":\"intake_completed\"}");
    s_check_frame (fake, 2, "{\"v\":1,\"type\":\"enrollment\",\"source_id\":\"spd\","
                            "\"referral_id\":\"" CMS_UUID "\",\"change\":\"in_the_wind\","
                            "\"at\":\"2026-11-30T17:02:11-08:00\"}");
    dv_client_destroy (&client);
    s_fake_destroy (&fake);
}

TEST (cms_request_is_resent_with_the_same_bytes)
{
    fake_t *fake = s_fake_new (FAKE_DROP_FIRST);
    dv_client_t *client = s_client_for (fake, 500, 3);
    json_t *reply = dv_client_enrollment (client, "spd", CMS_UUID, "exited", "moved", NULL);
    CHECKF (reply != NULL, "%s", dv_client_last_error ());
    CHECK_INT (dv_client_attempts_used (client), 2);
    CHECK_INT (fake->received, 2);
    if (fake->received == 2)
        CHECK_STR (fake->frames [0], fake->frames [1]);
    s_check_frame (fake, 1, "{\"v\":1,\"type\":\"enrollment\",\"source_id\":\"spd\","
                            "\"referral_id\":\"" CMS_UUID "\",\"change\":\"exited\","
                            "\"reason\":\"moved\"}");
    json_decref (reply);
    dv_client_destroy (&client);
    s_fake_destroy (&fake);
}

TEST (cms_unavailable_is_retried_and_silence_gives_up)
{
    fake_t *fake = s_fake_new (FAKE_UNAVAILABLE_ONCE);
    dv_client_t *client = s_client_for (fake, 2000, 3);
    json_t *reply = dv_client_transfer (client, "spd", CMS_UUID, "cm-9");
    CHECKF (reply != NULL, "%s", dv_client_last_error ());
    CHECK_STR (s_get_str (reply, "type"), "decision");
    CHECK_INT (dv_client_attempts_used (client), 2);
    CHECK_INT (fake->received, 2);
    if (fake->received == 2)
        CHECK_STR (fake->frames [0], fake->frames [1]);
    json_decref (reply);
    dv_client_destroy (&client);
    s_fake_destroy (&fake);

    fake = s_fake_new (FAKE_SILENT);
    client = s_client_for (fake, 200, 2);
    CHECK (dv_client_caseload (client, "LEAD") == NULL);
    CHECK_INT (dv_client_attempts_used (client), 2);
    CHECKF (strstr (dv_client_last_error (), "after 2 attempts"),
            "error = \"%s\"", dv_client_last_error ());
    CHECK_INT (fake->received, 2);
    if (fake->received == 2)
        CHECK_STR (fake->frames [0], fake->frames [1]);
    dv_client_destroy (&client);
    s_fake_destroy (&fake);
}

TEST (cms_missing_arguments_send_nothing)
{
    fake_t *fake = s_fake_new (FAKE_ANSWER);
    dv_client_t *client = s_client_for (fake, 2000, 3);
    CHECK (dv_client_enrollments (client, NULL, 0, 0) == NULL);
    CHECK_STR (dv_client_last_error (), "enrollments: no program given");
    CHECK (dv_client_enrollments (client, "LEAD", -1, 0) == NULL);
    CHECK_STR (dv_client_last_error (), "enrollments: since_seq must not be negative");
    CHECK (dv_client_enrollments (client, "LEAD", 0, -5) == NULL);
    CHECK_STR (dv_client_last_error (), "enrollments: limit must not be negative");
    CHECK (dv_client_enrollment (client, "spd", "", "exited", "moved", NULL) == NULL);
    CHECK_STR (dv_client_last_error (), "enrollment: no referral_id given");
    CHECK (dv_client_enrollment (client, "spd", CMS_UUID, NULL, NULL, NULL) == NULL);
    CHECK_STR (dv_client_last_error (), "enrollment: no change given");
    CHECK (dv_client_transfer (client, NULL, CMS_UUID, "cm-9") == NULL);
    CHECK_STR (dv_client_last_error (), "transfer: no source_id given");
    CHECK (dv_client_transfer (client, "spd", CMS_UUID, "") == NULL);
    CHECK_STR (dv_client_last_error (), "transfer: no case_manager given");
    CHECK (dv_client_caseload (client, "") == NULL);
    CHECK_STR (dv_client_last_error (), "caseload: no program given");
    //  JSON carries UTF-8 text only; the value is not echoed
    CHECK (dv_client_enrollment (client, "spd", CMS_UUID, "exited", "mo\xff" "ved", NULL) == NULL);
    CHECK_STR (dv_client_last_error (), "enrollment: reason is not UTF-8 text");
    CHECK (dv_client_caseload (NULL, "LEAD") == NULL);
    //  a good request still goes through: it is the first one sent
    json_decref (dv_client_caseload (client, "LEAD"));
    CHECK_INT (fake->received, 1);
    s_check_frame (fake, 0, "{\"v\":1,\"type\":\"caseload\",\"program\":\"LEAD\"}");
    dv_client_destroy (&client);
    s_fake_destroy (&fake);
}


//  --------------------------------------------------------------------------
//  Subscriber

TEST (subscriber_receives_events)
{
    fake_t *fake = s_fake_new (FAKE_PUBLISH);
    char *endpoint = s_fake_endpoint (fake);
    dv_subscriber_t *sub = dv_subscriber_new (endpoint, s_server_path, s_client_path,
                                              "decision.");
    CHECKF (sub != NULL, "%s", dv_client_last_error ());
    CHECK (dv_subscriber_sock (sub) != NULL);
    char *topic = NULL;
    json_t *event = dv_subscriber_recv (sub, 3000, &topic);
    CHECKF (event != NULL, "%s", dv_client_last_error ());
    CHECK_STR (topic, "decision.police.spd");
    CHECK_STR (s_get_str (event, "source_id"), "spd");
    CHECK_INT (json_integer_value (json_object_get (event, "seq")), 7);
    json_decref (event);
    free (topic);

    event = dv_subscriber_recv (sub, 3000, NULL);      //  topic not wanted
    CHECK (event != NULL);
    json_decref (event);
    dv_subscriber_destroy (&sub);
    CHECK (sub == NULL);
    zstr_free (&endpoint);
    s_fake_destroy (&fake);
}

TEST (subscriber_gets_only_its_topic)
{
    fake_t *fake = s_fake_new (FAKE_PUBLISH);
    char *endpoint = s_fake_endpoint (fake);
    dv_subscriber_t *sub = dv_subscriber_new_keys (endpoint, zcert_public_txt (s_server_cert),
                                                   zcert_public_txt (s_client_cert),
                                                   zcert_secret_txt (s_client_cert),
                                                   "decision.court.");
    CHECKF (sub != NULL, "%s", dv_client_last_error ());
    char *topic = NULL;
    int64_t start = zclock_mono ();
    json_t *event = dv_subscriber_recv (sub, 400, &topic);
    int64_t elapsed = zclock_mono () - start;
    CHECK (event == NULL);
    CHECK (topic == NULL);
    CHECKF (elapsed >= 390, "returned after %lld ms", (long long) elapsed);
    dv_subscriber_destroy (&sub);
    zstr_free (&endpoint);
    s_fake_destroy (&fake);
}

TEST (subscriber_needs_a_secret_key)
{
    dv_subscriber_t *sub = dv_subscriber_new ("tcp://127.0.0.1:7462", s_server_path,
                                              s_public_only_path, "decision.");
    CHECK (sub == NULL);
    CHECKF (strstr (dv_client_last_error (), "no secret key"),
            "error = \"%s\"", dv_client_last_error ());
}


//  --------------------------------------------------------------------------
//  Several daemons: failover

//  "tcp://127.0.0.1:A,tcp://127.0.0.1:B" (caller frees)

static char *
s_pair_endpoints (fake_t *first, fake_t *second)
{
    return zsys_sprintf ("tcp://127.0.0.1:%d,tcp://127.0.0.1:%d", first->port, second->port);
}

static dv_client_t *
s_client_for_pair (fake_t *first, fake_t *second, int timeout, int attempts)
{
    char *endpoints = s_pair_endpoints (first, second);
    dv_client_t *client = dv_client_new (endpoints, s_server_path, s_client_path);
    zstr_free (&endpoints);
    if (client) {
        dv_client_set_timeout (client, timeout);
        dv_client_set_attempts (client, attempts);
    }
    return client;
}

TEST (endpoint_lists_are_checked)
{
    dv_client_t *client = dv_client_new (" tcp://127.0.0.1:7461 ,tcp://127.0.0.1:7463", s_server_path,
                                         s_client_path);
    CHECKF (client != NULL, "%s", dv_client_last_error ());
    CHECK_INT (dv_client_endpoint_count (client), 2);
    CHECK_INT (dv_client_endpoint_index (client), 0);
    CHECK_STR (dv_client_endpoint (client), "tcp://127.0.0.1:7461");
    dv_client_move (client, 1);
    CHECK_STR (dv_client_endpoint (client), "tcp://127.0.0.1:7463");
    dv_client_move (client, 2);                     //  out of range: ignored
    dv_client_move (client, -1);
    CHECK_INT (dv_client_endpoint_index (client), 1);
    CHECK_INT (dv_client_moves (client), 1);
    dv_client_destroy (&client);

    client = dv_client_new ("tcp://127.0.0.1:7461", s_server_path, s_client_path);
    CHECK_INT (dv_client_endpoint_count (client), 1);
    CHECK_STR (dv_client_endpoint (client), "tcp://127.0.0.1:7461");
    dv_client_destroy (&client);

    static const struct {
        const char *list, *error;
    } bad [] = {
        { "tcp://127.0.0.1:7461,,tcp://127.0.0.1:7463",
          "endpoint list \"tcp://127.0.0.1:7461,,tcp://127.0.0.1:7463\": entry 2 is empty" },
        { "tcp://127.0.0.1:7461,", "endpoint list \"tcp://127.0.0.1:7461,\": entry 2 is empty" },
        { " , tcp://127.0.0.1:7461", "endpoint list \" , tcp://127.0.0.1:7461\": entry 1 is empty" },
        { "tcp://127.0.0.1:7461,no-such-transport://x", "no-such-transport://x: cannot connect" },
        { "", "no endpoint given" }
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad [0]); i++) {
        client = dv_client_new (bad [i].list, s_server_path, s_client_path);
        CHECKF (client == NULL, "\"%s\" was taken", bad [i].list);
        dv_client_destroy (&client);
        CHECKF (strstr (dv_client_last_error (), bad [i].error), "\"%s\": error = \"%s\"",
                bad [i].list, dv_client_last_error ());
        dv_subscriber_t *sub = dv_subscriber_new (bad [i].list, s_server_path, s_client_path, "");
        CHECKF (sub == NULL, "subscriber: \"%s\" was taken", bad [i].list);
        dv_subscriber_destroy (&sub);
        CHECKF (strstr (dv_client_last_error (), bad [i].error), "subscriber: \"%s\": error = \"%s\"",
                bad [i].list, dv_client_last_error ());
    }
    //  At most DV_CLIENT_ENDPOINTS_MAX
    char list [1024] = "";
    for (int i = 0; i <= DV_CLIENT_ENDPOINTS_MAX; i++)
        snprintf (list + strlen (list), sizeof (list) - strlen (list), "%stcp://127.0.0.1:%d",
                  i ? "," : "", 7461 + i * 2);
    client = dv_client_new (list, s_server_path, s_client_path);
    CHECK (client == NULL);
    CHECKF (strstr (dv_client_last_error (), "more than 16 endpoints"),
            "error = \"%s\"", dv_client_last_error ());
    dv_client_destroy (&client);
}

TEST (no_reply_moves_to_the_next_daemon_with_the_same_bytes)
{
    fake_t *silent = s_fake_new (FAKE_SILENT);
    fake_t *answer = s_fake_new (FAKE_ANSWER);
    dv_client_t *client = s_client_for_pair (silent, answer, 400, 3);
    CHECKF (client != NULL, "%s", dv_client_last_error ());
    json_t *request = s_referral ();
    json_t *reply = dv_client_request (client, request);
    CHECKF (reply != NULL, "%s", dv_client_last_error ());
    CHECK_STR (s_get_str (reply, "type"), "decision");
    CHECK_INT (dv_client_attempts_used (client), 2);
    char *expected = json_dumps (request, JSON_COMPACT);
    CHECK_INT (silent->received, 1);
    CHECK_INT (answer->received, 1);
    if (silent->received == 1 && answer->received == 1) {
        CHECK_STR (silent->frames [0], expected);
        CHECK_STR (answer->frames [0], expected);
        //  the second daemon was asked once the first one's timeout passed
        CHECKF (answer->times [0] - silent->times [0] >= 350, "moved after %lld ms",
                (long long) (answer->times [0] - silent->times [0]));
    }
    char *second = s_fake_endpoint (answer);
    CHECK_STR (dv_client_endpoint (client), second);
    CHECK_INT (dv_client_endpoint_index (client), 1);
    CHECK_INT (dv_client_moves (client), 1);
    json_decref (reply);

    //  It stays with the one that answered
    reply = dv_client_request (client, request);
    CHECK_STR (s_get_str (reply, "type"), "decision");
    CHECK_INT (dv_client_attempts_used (client), 1);
    CHECK_INT (silent->received, 1);
    CHECK_INT (answer->received, 2);
    CHECK_INT (dv_client_moves (client), 1);
    json_decref (reply);
    free (expected);
    zstr_free (&second);
    json_decref (request);
    dv_client_destroy (&client);
    s_fake_destroy (&silent);
    s_fake_destroy (&answer);
}

TEST (failover_goes_round_to_the_first)
{
    fake_t *answer = s_fake_new (FAKE_ANSWER);
    fake_t *silent = s_fake_new (FAKE_SILENT);
    dv_client_t *client = s_client_for_pair (answer, silent, 300, 3);
    dv_client_move (client, 1);                     //  as if it had moved before
    CHECK_INT (dv_client_moves (client), 1);
    json_t *request = s_referral ();
    json_t *reply = dv_client_request (client, request);
    CHECKF (reply != NULL, "%s", dv_client_last_error ());
    CHECK_INT (dv_client_attempts_used (client), 2);
    CHECK_INT (dv_client_endpoint_index (client), 0);
    CHECK_INT (dv_client_moves (client), 2);
    CHECK_INT (silent->received, 1);
    CHECK_INT (answer->received, 1);
    if (silent->received == 1 && answer->received == 1)
        CHECK_STR (silent->frames [0], answer->frames [0]);
    json_decref (reply);
    json_decref (request);
    dv_client_destroy (&client);
    s_fake_destroy (&answer);
    s_fake_destroy (&silent);
}

TEST (unavailable_moves_on_at_once)
{
    fake_t *stopping = s_fake_new (FAKE_UNAVAILABLE_ALWAYS);
    fake_t *answer = s_fake_new (FAKE_ANSWER);
    dv_client_t *client = s_client_for_pair (stopping, answer, 2000, 3);
    json_t *request = s_referral ();
    int64_t start = zclock_mono ();
    json_t *reply = dv_client_request (client, request);
    int64_t elapsed = zclock_mono () - start;
    CHECKF (reply != NULL, "%s", dv_client_last_error ());
    CHECK_STR (s_get_str (reply, "type"), "decision");
    CHECK_INT (dv_client_attempts_used (client), 2);
    CHECK_INT (dv_client_endpoint_index (client), 1);
    //  no backoff before a daemon this request has not tried
    CHECKF (elapsed < 190, "took %lld ms", (long long) elapsed);
    CHECK_INT (stopping->received, 1);
    CHECK_INT (answer->received, 1);
    if (stopping->received == 1 && answer->received == 1)
        CHECK_STR (stopping->frames [0], answer->frames [0]);
    json_decref (reply);
    json_decref (request);
    dv_client_destroy (&client);
    s_fake_destroy (&stopping);
    s_fake_destroy (&answer);
}

TEST (unavailable_everywhere_backs_off_between_rounds)
{
    fake_t *first = s_fake_new (FAKE_UNAVAILABLE_ALWAYS);
    fake_t *second = s_fake_new (FAKE_UNAVAILABLE_ALWAYS);
    dv_client_t *client = s_client_for_pair (first, second, 2000, 4);
    json_t *request = s_referral ();
    int64_t start = zclock_mono ();
    json_t *reply = dv_client_request (client, request);
    int64_t elapsed = zclock_mono () - start;
    CHECKF (reply != NULL, "%s", dv_client_last_error ());
    CHECK_STR (s_get_str (reply, "code"), "unavailable");
    CHECK_INT (dv_client_attempts_used (client), 4);
    CHECK_INT (first->received, 2);
    CHECK_INT (second->received, 2);
    //  first, second at once; first after 200 ms, second after 400 ms
    CHECKF (elapsed >= 590 && elapsed < 1500, "took %lld ms", (long long) elapsed);
    if (first->received == 2 && second->received == 2) {
        CHECKF (first->times [1] - second->times [0] >= 190, "backoff %lld ms",
                (long long) (first->times [1] - second->times [0]));
        CHECK_STR (first->frames [1], second->frames [1]);
    }
    json_decref (reply);
    json_decref (request);
    dv_client_destroy (&client);
    s_fake_destroy (&first);
    s_fake_destroy (&second);
}

TEST (silence_everywhere_names_every_endpoint)
{
    fake_t *first = s_fake_new (FAKE_SILENT);
    fake_t *second = s_fake_new (FAKE_SILENT);
    dv_client_t *client = s_client_for_pair (first, second, 200, 3);
    json_t *request = s_referral ();
    CHECK (dv_client_request (client, request) == NULL);
    char *one = s_fake_endpoint (first), *two = s_fake_endpoint (second);
    char expected [256];
    snprintf (expected, sizeof (expected), "no reply from %s, %s after 3 attempts", one, two);
    CHECK_STR (dv_client_last_error (), expected);
    CHECK_INT (first->received, 2);
    CHECK_INT (second->received, 1);
    if (first->received == 2 && second->received == 1) {
        CHECK_STR (first->frames [0], second->frames [0]);
        CHECK_STR (first->frames [1], second->frames [0]);
    }
    //  the next request begins where this one would have gone next
    CHECK_INT (dv_client_endpoint_index (client), 1);
    zstr_free (&one);
    zstr_free (&two);
    json_decref (request);
    dv_client_destroy (&client);
    s_fake_destroy (&first);
    s_fake_destroy (&second);
}

//  The seq of the next event within msecs, skipping `skip` (-1 on timeout)

static int
s_next_seq (dv_subscriber_t *sub, int msecs, int skip)
{
    int64_t deadline = zclock_mono () + msecs;
    while (zclock_mono () < deadline) {
        json_t *event = dv_subscriber_recv (sub, (int) (deadline - zclock_mono ()), NULL);
        int seq = event ? (int) json_integer_value (json_object_get (event, "seq")) : -1;
        json_decref (event);
        if (seq != skip)
            return seq;
    }
    return -1;
}

TEST (subscriber_moves_when_its_daemon_is_gone)
{
    fake_t *first = s_fake_new (FAKE_PUBLISH);
    fake_t *second = s_fake_new_seq (FAKE_PUBLISH, 8);
    char *endpoints = s_pair_endpoints (first, second);
    dv_subscriber_t *sub = dv_subscriber_new (endpoints, s_server_path, s_client_path, "decision.");
    CHECKF (sub != NULL, "%s", dv_client_last_error ());
    dv_subscriber_set_failover (sub, 400);
    CHECK_INT (dv_subscriber_endpoint_count (sub), 2);
    CHECK_INT (s_next_seq (sub, 3000, -1), 7);
    CHECK_INT (dv_subscriber_moves (sub), 0);

    //  The first daemon goes away: after 400 ms without it, the second
    int64_t gone = zclock_mono ();
    s_fake_destroy (&first);
    CHECK_INT (s_next_seq (sub, 5000, 7), 8);
    int64_t moved = zclock_mono () - gone;
    CHECKF (moved >= 390 && moved < 3000, "moved after %lld ms", (long long) moved);
    CHECK_INT (dv_subscriber_moves (sub), 1);
    CHECK_INT (dv_subscriber_endpoint_index (sub), 1);
    char *second_endpoint = s_fake_endpoint (second);
    CHECK_STR (dv_subscriber_endpoint (sub), second_endpoint);
    zstr_free (&second_endpoint);

    //  While it is there, the subscriber stays
    CHECK_INT (s_next_seq (sub, 1500, 8), -1);
    CHECK_INT (dv_subscriber_moves (sub), 1);
    dv_subscriber_destroy (&sub);
    zstr_free (&endpoints);
    s_fake_destroy (&second);
}

TEST (subscriber_moves_when_told)
{
    fake_t *first = s_fake_new (FAKE_PUBLISH);
    fake_t *second = s_fake_new_seq (FAKE_PUBLISH, 8);
    char *endpoints = s_pair_endpoints (first, second);
    dv_subscriber_t *sub = dv_subscriber_new_keys (endpoints, zcert_public_txt (s_server_cert),
                                                   zcert_public_txt (s_client_cert),
                                                   zcert_secret_txt (s_client_cert), "decision.");
    CHECKF (sub != NULL, "%s", dv_client_last_error ());
    CHECK_INT (s_next_seq (sub, 3000, -1), 7);
    dv_subscriber_move (sub, 1);
    CHECK_INT (dv_subscriber_moves (sub), 1);
    CHECK (dv_subscriber_sock (sub) != NULL);
    CHECK_INT (s_next_seq (sub, 3000, -1), 8);      //  nothing from the first is left
    dv_subscriber_move (sub, 1);                    //  where it is: no move
    dv_subscriber_move (sub, 5);                    //  out of range: ignored
    CHECK_INT (dv_subscriber_moves (sub), 1);
    CHECK_INT (dv_subscriber_endpoint_index (sub), 1);
    dv_subscriber_destroy (&sub);
    zstr_free (&endpoints);
    s_fake_destroy (&first);
    s_fake_destroy (&second);
}

TEST (subscriber_with_one_endpoint_stays)
{
    fake_t *fake = s_fake_new (FAKE_PUBLISH);
    char *endpoint = s_fake_endpoint (fake);
    dv_subscriber_t *sub = dv_subscriber_new (endpoint, s_server_path, s_client_path, "decision.");
    dv_subscriber_set_failover (sub, 100);
    CHECK_INT (s_next_seq (sub, 3000, -1), 7);
    s_fake_destroy (&fake);
    CHECK_INT (s_next_seq (sub, 600, 7), -1);
    CHECK_INT (dv_subscriber_moves (sub), 0);
    CHECK_STR (dv_subscriber_endpoint (sub), endpoint);
    dv_subscriber_destroy (&sub);
    zstr_free (&endpoint);
}

//  Whether the subscriber is connected within msecs (reading events, which
//  is where it learns of its connection)

static bool
s_connected_within (dv_subscriber_t *sub, int msecs, bool wanted)
{
    int64_t deadline = zclock_mono () + msecs;
    while (dv_subscriber_connected (sub) != wanted && zclock_mono () < deadline)
        json_decref (dv_subscriber_recv (sub, 50, NULL));
    return dv_subscriber_connected (sub) == wanted;
}

TEST (subscriber_says_when_it_is_connected)
{
    fake_t *fake = s_fake_new (FAKE_PUBLISH);
    int port = fake->port;
    char *endpoint = s_fake_endpoint (fake);
    dv_subscriber_t *sub = dv_subscriber_new (endpoint, s_server_path, s_client_path, "decision.");
    CHECKF (sub != NULL, "%s", dv_client_last_error ());
    CHECK (!dv_subscriber_connected (sub));
    CHECK_INT (dv_subscriber_connects (sub), 0);
    CHECK_INT (s_next_seq (sub, 3000, -1), 7);
    CHECK (dv_subscriber_connected (sub));
    CHECK_INT (dv_subscriber_connects (sub), 1);

    //  The daemon goes: not connected, at once
    s_fake_destroy (&fake);
    CHECK (s_connected_within (sub, 2000, false));
    CHECK_INT (dv_subscriber_connects (sub), 1);

    //  It comes back on the same endpoint: connected again, by itself
    fake = s_fake_new_at (FAKE_PUBLISH, 9, port);
    CHECK_INT (fake->port, port);
    CHECK_INT (s_next_seq (sub, 5000, 7), 9);
    CHECK (dv_subscriber_connected (sub));
    CHECK_INT (dv_subscriber_connects (sub), 2);
    CHECK_INT (dv_subscriber_moves (sub), 0);
    dv_subscriber_destroy (&sub);
    CHECK (!dv_subscriber_connected (NULL));
    CHECK_INT (dv_subscriber_connects (NULL), 0);
    zstr_free (&endpoint);
    s_fake_destroy (&fake);
}


//  --------------------------------------------------------------------------
//  Set-up: keys in a scratch directory

static void
s_setup (void)
{
    snprintf (s_dir, sizeof (s_dir), "/tmp/test_client.XXXXXX");
    if (!mkdtemp (s_dir)) {
        perror ("mkdtemp");
        exit (1);
    }
    s_server_cert = zcert_new ();
    s_client_cert = zcert_new ();
    snprintf (s_server_path, sizeof (s_server_path), "%s/server.cert", s_dir);
    snprintf (s_client_path, sizeof (s_client_path), "%s/client.cert", s_dir);
    snprintf (s_public_only_path, sizeof (s_public_only_path), "%s/public-only.cert", s_dir);
    snprintf (s_junk_path, sizeof (s_junk_path), "%s/junk.cert", s_dir);
    zcert_save_public (s_server_cert, s_server_path);
    zcert_save (s_client_cert, s_client_path);
    zcert_save_public (s_client_cert, s_public_only_path);
    FILE *junk = fopen (s_junk_path, "w");
    if (junk) {
        fputs ("hello, I am not a certificate\n", junk);
        fclose (junk);
    }
}

static void
s_teardown (void)
{
    char secret [160];
    snprintf (secret, sizeof (secret), "%s_secret", s_client_path);
    unlink (s_server_path);
    unlink (s_client_path);
    unlink (secret);
    unlink (s_public_only_path);
    unlink (s_junk_path);
    rmdir (s_dir);
    zcert_destroy (&s_server_cert);
    zcert_destroy (&s_client_cert);
}

int
main (void)
{
    TESTLIB_BEGIN ("test_client");
    s_setup ();
    RUN (missing_client_cert_is_null_with_reason);
    RUN (missing_server_cert_is_null_with_reason);
    RUN (client_cert_without_secret_is_refused);
    RUN (junk_file_is_not_a_certificate);
    RUN (directory_is_not_a_certificate);
    RUN (public_server_cert_is_enough);
    RUN (bad_keys_and_endpoint_are_refused);
    RUN (answered_first_time);
    RUN (lazy_pirate_resends_the_same_bytes);
    RUN (unavailable_is_retried_after_backoff);
    RUN (unavailable_every_time_returns_the_last_one);
    RUN (no_reply_gives_up_after_attempts);
    RUN (no_server_at_all_gives_up);
    RUN (non_json_reply_is_an_error);
    RUN (raw_request_sends_the_bytes_given);
    RUN (raw_request_times_out_then_recovers);
    RUN (cms_requests_have_the_contract_shapes);
    RUN (cms_optional_fields_are_left_out);
    RUN (cms_request_is_resent_with_the_same_bytes);
    RUN (cms_unavailable_is_retried_and_silence_gives_up);
    RUN (cms_missing_arguments_send_nothing);
    RUN (subscriber_receives_events);
    RUN (subscriber_gets_only_its_topic);
    RUN (subscriber_needs_a_secret_key);
    RUN (endpoint_lists_are_checked);
    RUN (no_reply_moves_to_the_next_daemon_with_the_same_bytes);
    RUN (failover_goes_round_to_the_first);
    RUN (unavailable_moves_on_at_once);
    RUN (unavailable_everywhere_backs_off_between_rounds);
    RUN (silence_everywhere_names_every_endpoint);
    RUN (subscriber_moves_when_its_daemon_is_gone);
    RUN (subscriber_moves_when_told);
    RUN (subscriber_with_one_endpoint_stays);
    RUN (subscriber_says_when_it_is_connected);
    s_teardown ();
    return TESTLIB_END ();
}
