/*  login — logging in and out, who am I, health, and the live events
    stream.

    A login is throttled per user name and per address (sql/010_web.sql
    keeps the counts, so every divert-web on the database shares them):
    while either is locked the answer is 429 with Retry-After, before any
    password is checked. A good password opens a session: a random 256-bit
    token in the cookie (HttpOnly; Secure; SameSite=Strict), its SHA-256 in
    the database, a CSRF token the page sends back on every POST.
*/
#include "web.h"

#include <czmq.h>
#include <ctype.h>
#include <sodium.h>
#include <string.h>

static const char *
s_home (const char *role)
{
    if (role && streq (role, "partner"))
        return "/partner.html";
    if (role && streq (role, "case_manager"))
        return "/cm.html";
    if (role && streq (role, "program"))
        return "/program.html";
    if (role && streq (role, "admin"))
        return "/admin.html";
    return "/";
}

//  The session for the page: who, what role, bound to what, the CSRF token.
static json_t *
s_me (web_request_t *req, json_t *session)
{
    json_t *me = json_deep_copy (session);
    const char *role = json_string_value (json_object_get (me, "role"));
    json_object_set_new (me, "home", json_string (s_home (role)));
    if (role && streq (role, "case_manager"))
        json_object_set_new (me, "cms_configured",
                             json_boolean (web_divert_has_key (req->web->divert, "cms")));
    return me;
}

//  The name as typed, for the log, only when it could be a user name (never
//  a password typed into the wrong field, nor anything that breaks a line).
static const char *
s_loggable (const char *name)
{
    size_t len = strlen (name);
    bool plain = len > 0 && len <= 64 && isalnum ((unsigned char) name [0])
              && strspn (name, "abcdefghijklmnopqrstuvwxyz0123456789._-") == len;
    return plain ? name : "(not a user name)";
}

static void
s_interval (int64_t msecs, char *text, size_t size)
{
    snprintf (text, size, "%lld milliseconds", (long long) msecs);
}

static void
s_retry_after (web_request_t *req, json_int_t seconds)
{
    char text [32];
    snprintf (text, sizeof text, "%lld", (long long) seconds);
    web_reply_json (req, MHD_HTTP_TOO_MANY_REQUESTS,
                    json_pack ("{s:s, s:I}", "error", "too many failed logins: wait, then try again",
                               "retry_after", seconds));
    MHD_add_response_header (req->response, "Retry-After", text);
}

void
web_login (web_request_t *req)
{
    const char *sent = json_string_value (json_object_get (req->json, "name"));
    const char *password = json_string_value (json_object_get (req->json, "password"));
    json_t *errors = json_array ();
    if (!sent || !*sent || strlen (sent) > 64)
        json_array_append_new (errors, json_pack ("{s:s, s:s}", "field", "name", "problem", "required"));
    if (!password || !*password || strlen (password) > WEB_PASSWORD_MAX)
        json_array_append_new (errors, json_pack ("{s:s, s:s}", "field", "password", "problem", "required"));
    if (json_array_size (errors)) {
        web_reply_errors (req, MHD_HTTP_UNPROCESSABLE_CONTENT, "give your user name and password", errors);
        return;
    }
    json_decref (errors);
    char name [65];
    size_t len = 0;
    for (const char *c = sent; *c && len < sizeof name - 1; c++)
        name [len++] = (char) tolower ((unsigned char) *c);
    name [len] = 0;

    const char *check_params [] = { name, req->address };
    json_t *check = web_pool_json (req->web->pool, "SELECT divert.web_login_check($1, $2)", 2, check_params);
    if (!json_is_object (check)) {
        json_decref (check);
        web_reply_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "the database is unavailable; try again shortly");
        return;
    }
    if (json_object_get (check, "retry_after")) {
        dv_log_notice ("login refused while locked: user=%s address=%s", s_loggable (name), req->address);
        s_retry_after (req, json_integer_value (json_object_get (check, "retry_after")));
        json_decref (check);
        return;
    }
    bool ok = web_auth_verify (json_string_value (json_object_get (check, "hash")), password);
    json_decref (check);

    char token [WEB_TOKEN_SIZE], token_hash [WEB_HASH_SIZE], csrf [WEB_TOKEN_SIZE];
    web_auth_new_token (token);
    web_auth_token_hash (token, token_hash);
    web_auth_new_token (csrf);
    const web_config_t *c = req->web->config;
    char idle [40], lifetime [40], window [40], lockout [40], user_limit [16], address_limit [16];
    s_interval (c->session_idle_ms, idle, sizeof idle);
    s_interval (c->session_max_ms, lifetime, sizeof lifetime);
    s_interval (c->login_window_ms, window, sizeof window);
    s_interval (c->login_lockout_ms, lockout, sizeof lockout);
    snprintf (user_limit, sizeof user_limit, "%d", c->login_user_failures);
    snprintf (address_limit, sizeof address_limit, "%d", c->login_address_failures);
    const char *params [] = { name, req->address, ok ? "true" : "false", token_hash, csrf, idle, lifetime,
                              user_limit, address_limit, window, lockout };
    json_t *result = web_pool_json (req->web->pool,
        "SELECT divert.web_login_finish($1, $2, $3, $4, $5, $6::interval, $7::interval, $8::int, $9::int,"
        " $10::interval, $11::interval)", 11, params);
    if (!json_is_object (result)) {
        json_decref (result);
        web_reply_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "the database is unavailable; try again shortly");
        return;
    }
    if (!ok) {
        json_t *retry = json_object_get (result, "retry_after");
        dv_log_notice ("login failed: user=%s address=%s%s", s_loggable (name), req->address,
                       json_is_integer (retry) ? " (now locked)" : "");
        if (json_is_integer (retry))
            s_retry_after (req, json_integer_value (retry));
        else
            web_reply_error (req, MHD_HTTP_UNAUTHORIZED, "wrong user name or password");
        json_decref (result);
        return;
    }
    dv_log_notice ("login: user=%s address=%s", name, req->address);
    req->extra = zsys_sprintf ("divert_session=%s; Path=/; HttpOnly; Secure; SameSite=Strict", token);
    req->set_cookie = req->extra;
    sodium_memzero (token, sizeof token);
    web_reply_json (req, MHD_HTTP_OK, s_me (req, result));
    json_decref (result);
}

void
web_logout (web_request_t *req)
{
    const char *params [] = { req->token_hash };
    json_decref (web_pool_json (req->web->pool, "SELECT to_jsonb(divert.web_logout($1))", 1, params));
    req->set_cookie = "divert_session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict";
    dv_log_notice ("logout: user=%s", req->user);
    web_reply_json (req, MHD_HTTP_OK, json_pack ("{s:b}", "ok", 1));
}

void
web_me (web_request_t *req)
{
    web_reply_json (req, MHD_HTTP_OK, s_me (req, req->session));
}

void
web_health (web_request_t *req)
{
    json_t *version = web_pool_json (req->web->pool, "SELECT to_jsonb(max(version)) FROM divert.schema_migration", 0, NULL);
    bool db = json_is_integer (version);
    json_decref (version);
    //  Each divertd by its place in the config's lists (not its address:
    //  this answer is for anyone), connected or not; "divertd" sums it up.
    json_t *daemons = web_events_daemons (req->web->events);
    size_t index, connected = 0;
    json_t *daemon;
    json_array_foreach (daemons, index, daemon)
        connected += json_is_true (json_object_get (daemon, "connected"));
    const char *divertd = connected == 0 ? "down" : connected < json_array_size (daemons) ? "partial" : "up";
    web_reply_json (req, db ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                    json_pack ("{s:s, s:s, s:s, s:o}", "db", db ? "up" : "down", "version", DIVERT_VERSION,
                               "divertd", divertd, "daemons", daemons));
}

void
web_events_stream (web_request_t *req)
{
    struct MHD_Response *response = web_events_response (req->web->events, req->session, req->token_hash);
    if (!response) {
        web_reply_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "live updates are not available");
        return;
    }
    web_reply_response (req, MHD_HTTP_OK, response);
}
