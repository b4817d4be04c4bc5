/*  metrics — GET /metrics: divert for Prometheus, in the text exposition
    format (exposition.c), Content-Type text/plain; version=0.0.4.

    Who may read it (divert-web.conf, divert-web/metrics):
      loopback  (default) a client at 127.0.0.0/8 or ::1, no login; behind a
                proxy (trusted_proxy, or the Unix socket) the address the
                proxy gives in X-Forwarded-For, and none given is refused
      login     a logged-in session of role program or admin, or the HTTP
                Basic credentials of such a user (Prometheus' basic_auth),
                checked like a login: same password hashes, same throttling
                (a wrong password counts as a failed login), but no session
      off       404
    Refused: 401 (with WWW-Authenticate: Basic), 403 or 429, a one-line text.

    What it shows, one snapshot (one statement) of the database:
      per divertd (label daemon="host:pid"), its process counters as it last
      wrote them (daemon/metrics.h, divert.web_daemon_metrics of
      sql/012_metrics.sql: daemons silent for three intervals are left out):
        divert_decisions_total{daemon,decision,reason}      counter
        divert_enrollment_changes_total{daemon,change}      counter
        divert_decision_latency_seconds{daemon}             histogram
        divert_batch_size{daemon}                           histogram
        divert_daemon_start_time_seconds{daemon}            gauge
      and at scrape time:
        divert_database_up                                  gauge (divert-web's own read)
        divert_daemons                                      gauge
        divert_notification_queue_usage                     gauge (pg_notification_queue_usage)
        divert_caseload{program,case_manager}               gauge
        divert_caseload_cap{program,case_manager}           gauge (the program's hard cap)
        divert_waitlist_length{program}                     gauge
    While the database can't be read the answer is still 200, with
    divert_database_up 0 and nothing else. Labels hold ids and codes only
    (case manager ids are staff ids), never a referral's content.
*/
#include "web.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <czmq.h>
#include <sodium.h>
#include <strings.h>

#define S_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define S_REALM "Basic realm=\"divert metrics\", charset=\"UTF-8\""

//  One snapshot of everything the gauges and the daemons' series need.
static const char *s_sql =
    "SELECT json_build_object("
    " 'programs', (SELECT COALESCE(json_agg(json_build_object('name', p.name, 'hard_cap', p.hard_cap,"
    "      'waitlist', (SELECT count(*) FROM divert.web_waitlist w WHERE w.program = p.name)) ORDER BY p.name), '[]')"
    "      FROM divert.web_programs p),"
    " 'case_managers', (SELECT COALESCE(json_agg(json_build_object('id', c.id, 'program', c.program,"
    "      'caseload', c.caseload) ORDER BY c.program, c.id), '[]')"
    "      FROM divert.web_case_managers c WHERE c.active OR c.caseload > 0),"
    " 'daemons', (SELECT COALESCE(json_agg(json_build_object('daemon', d.daemon,"
    "      'started', extract(epoch FROM d.started_at), 'metrics', d.metrics) ORDER BY d.daemon), '[]')"
    "      FROM divert.web_daemon_metrics d),"
    " 'queue_usage', pg_notification_queue_usage())";

static void
s_text (web_request_t *req, int status, const char *text)
{
    char *body = zsys_sprintf ("%s\n", text);
    struct MHD_Response *response = MHD_create_response_from_buffer (strlen (body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header (response, "Content-Type", "text/plain; charset=utf-8");
    MHD_add_response_header (response, "Cache-Control", "no-store");
    web_reply_response (req, status, response);
}

//  ---------------------------------------------------------------------------
//  Who may read it

static bool
s_loopback (const char *address)
{
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton (AF_INET, address, &v4) == 1)
        return (ntohl (v4.s_addr) >> 24) == 127;
    if (inet_pton (AF_INET6, address, &v6) == 1)
        return IN6_IS_ADDR_LOOPBACK (&v6)
            || (IN6_IS_ADDR_V4MAPPED (&v6) && v6.s6_addr [12] == 127);
    return false;
}

static bool
s_may_read (const char *role)
{
    return role && (streq (role, "program") || streq (role, "admin"));
}

static void
s_unauthorized (web_request_t *req, const char *text)
{
    s_text (req, MHD_HTTP_UNAUTHORIZED, text);
    MHD_add_response_header (req->response, "WWW-Authenticate", S_REALM);
}

static void
s_retry_after (web_request_t *req, json_int_t seconds)
{
    char text [32];
    snprintf (text, sizeof text, "%lld", (long long) seconds);
    s_text (req, MHD_HTTP_TOO_MANY_REQUESTS, "too many failed logins: wait, then try again");
    MHD_add_response_header (req->response, "Retry-After", text);
}

//  A wrong password counts as a failed login (divert.web_login_finish),
//  toward the same locks.
static void
s_basic_failed (web_request_t *req, const char *name)
{
    const web_config_t *c = req->web->config;
    char user_limit [16], address_limit [16], window [40], lockout [40];
    snprintf (user_limit, sizeof user_limit, "%d", c->login_user_failures);
    snprintf (address_limit, sizeof address_limit, "%d", c->login_address_failures);
    snprintf (window, sizeof window, "%lld milliseconds", (long long) c->login_window_ms);
    snprintf (lockout, sizeof lockout, "%lld milliseconds", (long long) c->login_lockout_ms);
    const char *params [] = { name, req->address, user_limit, address_limit, window, lockout };
    json_t *result = web_pool_json (req->web->pool,
        "SELECT divert.web_login_finish($1, $2, false, NULL, NULL, '0 seconds', '0 seconds', $3::int, $4::int,"
        " $5::interval, $6::interval)", 6, params);
    json_t *retry = json_object_get (result, "retry_after");
    dv_log_notice ("metrics: wrong credentials for a user name, address=%s%s", req->address,
                   json_is_integer (retry) ? " (now locked)" : "");
    if (json_is_integer (retry))
        s_retry_after (req, json_integer_value (retry));
    else
        s_unauthorized (req, "wrong user name or password");
    json_decref (result);
}

//  Authorization: Basic base64(name:password). True when it names a user of
//  role program or admin with that password; else a response is set.
static bool
s_basic (web_request_t *req, const char *credentials)
{
    unsigned char decoded [400];
    size_t size = 0;
    const char *encoded = credentials + 6;
    while (*encoded == ' ')
        encoded++;
    if (sodium_base642bin (decoded, sizeof decoded - 1, encoded, strlen (encoded), NULL, &size, NULL,
                           sodium_base64_VARIANT_ORIGINAL) != 0 || size == 0) {
        s_unauthorized (req, "the Authorization header is not Basic base64(name:password)");
        return false;
    }
    decoded [size] = 0;
    char *colon = memchr (decoded, ':', size);
    char name [65];
    size_t length = colon ? (size_t) (colon - (char *) decoded) : 0;
    const char *password = colon ? colon + 1 : "";
    if (!colon || length == 0 || length >= sizeof name || strlen ((char *) decoded) != size
    ||  !*password || strlen (password) > WEB_PASSWORD_MAX) {
        sodium_memzero (decoded, sizeof decoded);
        s_unauthorized (req, "give a user name and password");
        return false;
    }
    for (size_t i = 0; i < length; i++)
        name [i] = (char) tolower (decoded [i]);
    name [length] = 0;
    const char *params [] = { name, req->address };
    json_t *check = web_pool_json (req->web->pool, "SELECT divert.web_basic_check($1, $2)", 2, params);
    bool ok = false;
    if (!json_is_object (check))
        s_text (req, MHD_HTTP_SERVICE_UNAVAILABLE, "the database is unavailable: the credentials can't be checked");
    else
    if (json_object_get (check, "retry_after"))
        s_retry_after (req, json_integer_value (json_object_get (check, "retry_after")));
    else
    if (!web_auth_verify (json_string_value (json_object_get (check, "hash")), password))
        s_basic_failed (req, name);
    else
    if (!s_may_read (json_string_value (json_object_get (check, "role"))))
        s_text (req, MHD_HTTP_FORBIDDEN, "forbidden: the metrics are for users of role program or admin");
    else
        ok = true;
    sodium_memzero (decoded, sizeof decoded);
    json_decref (check);
    return ok;
}

//  The `metrics` setting decides; false with a response set when refused.
static bool
s_admitted (web_request_t *req)
{
    const char *mode = req->web->config->metrics;
    if (streq (mode, "loopback")) {
        if (s_loopback (req->address))
            return true;
        s_text (req, MHD_HTTP_FORBIDDEN, "forbidden: the metrics are served only to loopback clients"
                                         " (127.0.0.1, ::1); see 'metrics' in divert-web.conf");
        return false;
    }
    //  login: a session, else HTTP Basic
    web_session_from_cookie (req);
    if (req->session) {
        if (s_may_read (req->role))
            return true;
        s_text (req, MHD_HTTP_FORBIDDEN, "forbidden: the metrics are for users of role program or admin");
        return false;
    }
    const char *credentials = web_header (req, "Authorization");
    if (credentials && strncasecmp (credentials, "Basic ", 6) == 0)
        return s_basic (req, credentials);
    if (*req->token_hash && !web_pool_up (req->web->pool))
        s_text (req, MHD_HTTP_SERVICE_UNAVAILABLE, "the database is unavailable: the session can't be checked");
    else
        s_unauthorized (req, "log in (a program or admin user), or send that user's HTTP Basic credentials");
    return false;
}

//  ---------------------------------------------------------------------------
//  The series

//  Each daemon's counters and histograms, family by family.
static void
s_daemons (web_expo_t *expo, json_t *daemons)
{
    size_t index;
    json_t *row;
    web_expo_family (expo, "divert_daemon_start_time_seconds", "gauge",
                     "When the divertd process started, in seconds since the epoch.");
    json_array_foreach (daemons, index, row) {
        const char *labels [] = { "daemon", json_string_value (json_object_get (row, "daemon")), NULL };
        if (json_is_number (json_object_get (row, "started")))
            web_expo_sample (expo, "divert_daemon_start_time_seconds", labels,
                             json_number_value (json_object_get (row, "started")));
    }
    web_expo_family (expo, "divert_decisions_total", "counter",
                     "Decisions the divertd process recorded (replies, promotions, expiries, lapses, withdrawals), "
                     "by decision and reason.");
    json_array_foreach (daemons, index, row) {
        const char *decision, *reason;
        json_t *reasons, *count;
        json_object_foreach (json_object_get (json_object_get (row, "metrics"), "decisions"), decision, reasons)
            json_object_foreach (reasons, reason, count)
                if (json_is_integer (count) && json_integer_value (count) >= 0) {
                    const char *labels [] = { "daemon", json_string_value (json_object_get (row, "daemon")),
                                              "decision", decision, "reason", reason, NULL };
                    web_expo_sample (expo, "divert_decisions_total", labels, (double) json_integer_value (count));
                }
    }
    web_expo_family (expo, "divert_enrollment_changes_total", "counter",
                     "Enrollment changes the divertd process recorded (its own and case-management systems'), "
                     "by change.");
    json_array_foreach (daemons, index, row) {
        const char *change;
        json_t *count;
        json_object_foreach (json_object_get (json_object_get (row, "metrics"), "enrollment_changes"), change, count)
            if (json_is_integer (count) && json_integer_value (count) >= 0) {
                const char *labels [] = { "daemon", json_string_value (json_object_get (row, "daemon")),
                                          "change", change, NULL };
                web_expo_sample (expo, "divert_enrollment_changes_total", labels, (double) json_integer_value (count));
            }
    }
    const char *histograms [][4] = {
        { "divert_decision_latency_seconds", "decision_latency_seconds",
          "Seconds from divertd reading a referral to sending its decision." },
        { "divert_batch_size", "batch_size", "Requests in each batch divertd's database thread answered." }
    };
    for (size_t h = 0; h < sizeof histograms / sizeof histograms [0]; h++) {
        web_expo_family (expo, histograms [h][0], "histogram", histograms [h][2]);
        json_array_foreach (daemons, index, row) {
            const char *labels [] = { "daemon", json_string_value (json_object_get (row, "daemon")), NULL };
            if (web_expo_histogram (expo, histograms [h][0], labels,
                                    json_object_get (json_object_get (row, "metrics"), histograms [h][1])) != 0)
                dv_log_warning ("metrics: daemon %s wrote no valid %s histogram", labels [1], histograms [h][1]);
        }
    }
}

//  Caseloads, caps and waitlists, as the database has them now.
static void
s_programs (web_expo_t *expo, json_t *data)
{
    size_t index;
    json_t *row;
    json_t *caps = json_object ();
    json_array_foreach (json_object_get (data, "programs"), index, row)
        json_object_set (caps, json_string_value (json_object_get (row, "name")), json_object_get (row, "hard_cap"));
    web_expo_family (expo, "divert_caseload", "gauge",
                     "People on a case manager's caseload (pending intake, active, in the wind).");
    json_array_foreach (json_object_get (data, "case_managers"), index, row) {
        const char *labels [] = { "program", json_string_value (json_object_get (row, "program")),
                                  "case_manager", json_string_value (json_object_get (row, "id")), NULL };
        web_expo_sample (expo, "divert_caseload", labels, json_number_value (json_object_get (row, "caseload")));
    }
    web_expo_family (expo, "divert_caseload_cap", "gauge",
                     "The hard cap on a case manager's caseload (the program's policy).");
    json_array_foreach (json_object_get (data, "case_managers"), index, row) {
        const char *program = json_string_value (json_object_get (row, "program"));
        const char *labels [] = { "program", program, "case_manager", json_string_value (json_object_get (row, "id")),
                                  NULL };
        json_t *cap = program ? json_object_get (caps, program) : NULL;
        if (json_is_number (cap))
            web_expo_sample (expo, "divert_caseload_cap", labels, json_number_value (cap));
    }
    web_expo_family (expo, "divert_waitlist_length", "gauge", "People waiting on a program's waitlist.");
    json_array_foreach (json_object_get (data, "programs"), index, row) {
        const char *labels [] = { "program", json_string_value (json_object_get (row, "name")), NULL };
        web_expo_sample (expo, "divert_waitlist_length", labels, json_number_value (json_object_get (row, "waitlist")));
    }
    json_decref (caps);
}

void
web_metrics (web_request_t *req)
{
    if (!streq (req->method, "GET") && !streq (req->method, "HEAD")) {
        s_text (req, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
        MHD_add_response_header (req->response, "Allow", "GET, HEAD");
        return;
    }
    if (streq (req->web->config->metrics, "off")) {
        s_text (req, MHD_HTTP_NOT_FOUND, "not found: the metrics are off ('metrics' in divert-web.conf)");
        return;
    }
    if (!s_admitted (req))
        return;
    json_t *data = web_pool_json (req->web->pool, s_sql, 0, NULL);
    bool up = json_is_object (data);
    web_expo_t *expo = web_expo_new ();
    web_expo_family (expo, "divert_database_up", "gauge",
                     "1 when divert-web could read the database for this scrape, else 0 (and no other series).");
    web_expo_sample (expo, "divert_database_up", NULL, up ? 1 : 0);
    if (up) {
        json_t *daemons = json_object_get (data, "daemons");
        web_expo_family (expo, "divert_notification_queue_usage", "gauge",
                         "The fraction of PostgreSQL's LISTEN/NOTIFY queue in use (pg_notification_queue_usage).");
        web_expo_sample (expo, "divert_notification_queue_usage", NULL,
                         json_number_value (json_object_get (data, "queue_usage")));
        web_expo_family (expo, "divert_daemons", "gauge",
                         "divertd processes that wrote their counters within three of their intervals.");
        web_expo_sample (expo, "divert_daemons", NULL, (double) json_array_size (daemons));
        s_daemons (expo, daemons);
        s_programs (expo, data);
    }
    json_decref (data);
    const char *text = web_expo_text (expo);
    struct MHD_Response *response = MHD_create_response_from_buffer (strlen (text), strdup (text),
                                                                      MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header (response, "Content-Type", S_CONTENT_TYPE);
    MHD_add_response_header (response, "Cache-Control", "no-store");
    web_reply_response (req, MHD_HTTP_OK, response);
    web_expo_destroy (&expo);
}
