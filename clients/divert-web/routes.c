/*  routes — the API of divert-web and the checks every request passes, on
    the server, in this order:

      1. the route exists (404) and takes this method (405);
      2. a POST carries JSON (415) from this origin (403), within max_body (413);
      3. the session cookie names a live session (401), unless the route is
         open (login, health);
      4. the session's role is the route's (403): a partner reaches only
         /api/partner/, a case manager /api/cm/, and so on (the reports,
         /api/program/report*, are for program managers and admins);
      5. a POST other than login carries the session's CSRF token in
         X-CSRF-Token (403);
      6. the body is a JSON object (400).

    Then the handler, which scopes every read to what the user is bound to
    (the source, the case manager) through the database functions.
*/
#include "web.h"

#include <ctype.h>
#include <czmq.h>
#include <string.h>
#include <strings.h>

typedef enum {
    S_OPEN,                     //  no session needed
    S_ANY,                      //  any logged-in user
    S_PARTNER,
    S_CM,
    S_PROGRAM,
    S_ADMIN,
    S_REPORTS                   //  program managers and admins
} s_access_t;

typedef struct {
    const char *method;
    const char *path;
    s_access_t access;
    void (*handler) (web_request_t *req);
} s_route_t;

static const s_route_t s_routes [] = {
    { "POST", "/api/login", S_OPEN, web_login },
    { "GET", "/api/health", S_OPEN, web_health },
    { "POST", "/api/logout", S_ANY, web_logout },
    { "GET", "/api/me", S_ANY, web_me },
    { "GET", "/api/events", S_ANY, web_events_stream },
    { "GET", "/api/partner/form", S_PARTNER, web_partner_form },
    { "GET", "/api/partner/referrals", S_PARTNER, web_partner_list },
    { "POST", "/api/partner/referrals", S_PARTNER, web_partner_submit },
    { "GET", "/api/partner/referral", S_PARTNER, web_partner_details },
    { "POST", "/api/partner/withdraw", S_PARTNER, web_partner_withdraw },
    { "GET", "/api/cm/people", S_CM, web_cm_people },
    { "GET", "/api/cm/person", S_CM, web_cm_person },
    { "POST", "/api/cm/enrollment", S_CM, web_cm_enrollment },
    { "GET", "/api/program/dashboard", S_PROGRAM, web_program_dashboard },
    { "GET", "/api/program/decisions", S_PROGRAM, web_program_decisions },
    { "GET", "/api/program/explain", S_PROGRAM, web_program_explain },
    { "GET", "/api/program/report", S_REPORTS, web_program_report },
    { "GET", "/api/program/report.csv", S_REPORTS, web_program_report_csv },
    { "GET", "/api/admin/users", S_ADMIN, web_admin_users },
    { "POST", "/api/admin/users", S_ADMIN, web_admin_add },
    { "POST", "/api/admin/passwd", S_ADMIN, web_admin_passwd },
    { "POST", "/api/admin/disable", S_ADMIN, web_admin_disable },
    { "POST", "/api/admin/enable", S_ADMIN, web_admin_enable },
};

//  The roles each access admits, separated by spaces.
static const char *s_roles [] = { NULL, NULL, "partner", "case_manager", "program", "admin", "program admin" };

static bool
s_role_in (const char *role, const char *roles)
{
    size_t len = role ? strlen (role) : 0;
    while (len && *roles) {
        size_t word = strcspn (roles, " ");
        if (word == len && strncmp (roles, role, len) == 0)
            return true;
        roles += word;
        roles += strspn (roles, " ");
    }
    return false;
}

//  Find the route; sets *known_path when the path exists with another method.
static const s_route_t *
s_find (web_request_t *req, bool *known_path, char *allow, size_t size)
{
    *known_path = false;
    *allow = 0;
    const char *method = streq (req->method, "HEAD") ? "GET" : req->method;
    for (size_t i = 0; i < sizeof s_routes / sizeof s_routes [0]; i++)
        if (streq (s_routes [i].path, req->path)) {
            if (streq (s_routes [i].method, method))
                return &s_routes [i];
            *known_path = true;
            snprintf (allow + strlen (allow), size - strlen (allow), "%s%s", *allow ? ", " : "",
                      s_routes [i].method);
        }
    return NULL;
}

//  A POST from a page of another site can't carry this: JSON, and (when the
//  browser says where it comes from) our own origin.
static bool
s_same_origin (web_request_t *req)
{
    const char *origin = web_header (req, "Origin");
    if (!origin)
        return true;
    const char *host = web_header (req, "Host");
    const char *rest = strstr (origin, "://");
    return host && rest && streq (rest + 3, host);
}

static bool
s_is_json (web_request_t *req)
{
    const char *type = web_header (req, "Content-Type");
    return type && strncasecmp (type, "application/json", 16) == 0
        && (type [16] == 0 || type [16] == ';' || type [16] == ' ');
}

void
web_session_from_cookie (web_request_t *req)
{
    web_session_load (req, MHD_lookup_connection_value (req->connection, MHD_COOKIE_KIND, "divert_session"));
}

void
web_session_load (web_request_t *req, const char *token)
{
    if (!token || strlen (token) != WEB_TOKEN_SIZE - 1)
        return;
    web_auth_token_hash (token, req->token_hash);
    const char *params [] = { req->token_hash };
    json_t *session = web_pool_json (req->web->pool, "SELECT divert.web_session($1)", 1, params);
    if (json_is_object (session)) {
        req->session = session;
        req->user = json_string_value (json_object_get (session, "name"));
        req->role = json_string_value (json_object_get (session, "role"));
    }
    else
        json_decref (session);
}

const char *
web_session_str (web_request_t *req, const char *path)
{
    //  "source.id", "case_manager.program", "csrf" ...
    json_t *node = req->session;
    char key [64];
    while (node && *path) {
        size_t len = strcspn (path, ".");
        snprintf (key, sizeof key, "%.*s", (int) len, path);
        node = json_object_get (node, key);
        path += len + (path [len] == '.');
    }
    return json_string_value (node);
}

void
web_routes_dispatch (web_request_t *req)
{
    bool known_path;
    char allow [64];
    const s_route_t *route = s_find (req, &known_path, allow, sizeof allow);
    if (!route) {
        if (known_path) {
            web_reply_error (req, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
            MHD_add_response_header (req->response, "Allow", allow);
        }
        else
            web_reply_error (req, MHD_HTTP_NOT_FOUND, "no such API");
        return;
    }
    bool post = streq (route->method, "POST");
    if (post && !s_is_json (req)) {
        web_reply_error (req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "send JSON (Content-Type: application/json)");
        return;
    }
    if (post && !s_same_origin (req)) {
        web_reply_error (req, MHD_HTTP_FORBIDDEN, "cross-origin request refused");
        return;
    }
    if (route->access != S_OPEN) {
        web_session_from_cookie (req);
        if (!req->session) {
            if (!web_pool_up (req->web->pool) && *req->token_hash)
                web_reply_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "the database is unavailable; try again shortly");
            else
                web_reply_error (req, MHD_HTTP_UNAUTHORIZED, "please log in");
            return;
        }
        const char *needed = s_roles [route->access];
        if (needed && !s_role_in (req->role, needed)) {
            web_reply_error (req, MHD_HTTP_FORBIDDEN, "forbidden: this is not part of your desk");
            return;
        }
        if (post) {
            const char *sent = web_header (req, "X-CSRF-Token");
            const char *csrf = web_session_str (req, "csrf");
            if (!sent || !csrf || !web_auth_equal (sent, csrf)) {
                web_reply_error (req, MHD_HTTP_FORBIDDEN, "missing or wrong CSRF token: reload the page");
                return;
            }
        }
    }
    if (post) {
        json_error_t error;
        req->json = req->body ? json_loadb (req->body, req->body_size, JSON_REJECT_DUPLICATES, &error) : NULL;
        if (!json_is_object (req->json)) {
            web_reply_error (req, MHD_HTTP_BAD_REQUEST, req->json ? "the body must be a JSON object"
                                                                  : "the body is not valid JSON");
            return;
        }
    }
    route->handler (req);
}

bool
web_is_uuid (const char *text)
{
    if (!text || strlen (text) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? text [i] != '-' : !isxdigit ((unsigned char) text [i]))
            return false;
    }
    return true;
}

bool
web_is_source_id (const char *text)
{
    size_t len = text ? strlen (text) : 0;
    return len >= 1 && len <= 32 && (islower ((unsigned char) text [0]) || isdigit ((unsigned char) text [0]))
        && strspn (text, "abcdefghijklmnopqrstuvwxyz0123456789_-") == len;
}

void
web_reply_divert_error (web_request_t *req, json_t *reply, const char *no_reply)
{
    if (!reply) {
        web_reply_error (req, MHD_HTTP_GATEWAY_TIMEOUT, no_reply);
        return;
    }
    const char *code = json_string_value (json_object_get (reply, "code"));
    const char *message = json_string_value (json_object_get (reply, "message"));
    json_t *errors = json_object_get (reply, "errors");
    int status = MHD_HTTP_BAD_GATEWAY;
    if (code && streq (code, "invalid"))
        status = MHD_HTTP_UNPROCESSABLE_CONTENT;
    else
    if (code && streq (code, "forbidden"))
        status = MHD_HTTP_FORBIDDEN;
    else
    if (code && streq (code, "not_found"))
        status = MHD_HTTP_NOT_FOUND;
    else
    if (code && streq (code, "conflict"))
        status = MHD_HTTP_CONFLICT;
    else
    if (code && streq (code, "unavailable"))
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
    json_t *body = json_pack ("{s:s, s:s}", "error", message ? message : "divert refused the request",
                              "code", code ? code : "error");
    if (json_is_array (errors))
        json_object_set (body, "errors", errors);
    web_reply_json (req, status, body);
}
