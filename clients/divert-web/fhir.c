/*  fhir — divert-web's FHIR R4 endpoint, read-only, under /fhir/:

      GET /fhir/metadata                      the CapabilityStatement (open, like /api/health)
      GET /fhir/Task?_lastUpdated=gt...       the user's referrals as Tasks, a searchset Bundle
      GET /fhir/Task/{id}                     one referral's Task
      GET /fhir/ServiceRequest/{id}           one referral as the request its source sent
      GET /fhir/HealthcareService[/{name}]    programs with their capacity status
      GET /fhir/Organization/{id}             a source

    Everything but metadata needs a live session: the divert_session cookie
    of /api/login, or its token as `Authorization: Bearer TOKEN`. Each
    read is scoped by the database functions of sql/013_fhir.sql (program
    and admin see every referral, a partner its source's, a case manager
    the people assigned to them); a referral outside them is 404, as if it
    did not exist. No personal data is in any resource.

    Task search takes `_lastUpdated` with gt, ge, lt or le and a full
    instant (at most one lower and one upper bound), `_count` (default 50,
    at most 500) and `_cursor` (from a next link: the last entry's
    lastModified in milliseconds and id); entries come in (lastModified,
    id) order. Any other parameter, prefix or value is a 400. Responses are
    application/fhir+json; errors are OperationOutcome.
*/
#include "web.h"

#include <ctype.h>
#include <czmq.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define S_CONTENT_TYPE "application/fhir+json; fhirVersion=4.0"
#define S_COUNT_DEFAULT 50
#define S_COUNT_MAX 500

//  --------------------------------------------------------------------------
//  Responses

static void
s_reply (web_request_t *req, int status, json_t *resource)
{
    char *text = resource ? json_dumps (resource, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref (resource);
    if (!text) {
        text = strdup ("{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"fatal\","
                       "\"code\":\"exception\",\"diagnostics\":\"internal error\"}]}");
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    struct MHD_Response *response = MHD_create_response_from_buffer (strlen (text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header (response, "Content-Type", S_CONTENT_TYPE);
    MHD_add_response_header (response, "Cache-Control", "no-store");
    web_reply_response (req, status, response);
}

//  An OperationOutcome with one issue (code: FHIR's issue-type).
static void
s_outcome (web_request_t *req, int status, const char *code, const char *diagnostics)
{
    s_reply (req, status, json_pack ("{s:s, s:[{s:s, s:s, s:s}]}", "resourceType", "OperationOutcome",
        "issue", "severity", status >= 500 ? "fatal" : "error", "code", code, "diagnostics", diagnostics));
}

static void
s_unavailable (web_request_t *req)
{
    s_outcome (req, MHD_HTTP_SERVICE_UNAVAILABLE, "transient", "the database is unavailable; try again shortly");
}


//  --------------------------------------------------------------------------
//  The request

//  The server's FHIR base, for fullUrl and links: this server as the
//  client addressed it (Host; the scheme it spoke, or behind our proxy
//  the one X-Forwarded-Proto names).
static void
s_base (web_request_t *req, char *base, size_t size)
{
    const char *host = web_header (req, "Host");
    if (!host || !*host || strlen (host) > 255 || strspn (host, "abcdefghijklmnopqrstuvwxyz"
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") != strlen (host))
        host = "localhost";
    const char *scheme = req->web->tls ? "https" : "http";
    const char *proto = web_header (req, "X-Forwarded-Proto");
    if (!req->web->tls && (req->web->config->trusted_proxy || req->web->listen_fd >= 0)
    &&  proto && strcasecmp (proto, "https") == 0)
        scheme = "https";
    snprintf (base, size, "%s://%s/fhir", scheme, host);
}

//  _format may ask for JSON only; an Accept that excludes JSON is 406.
static bool
s_json_wanted (web_request_t *req)
{
    const char *format = web_arg (req, "_format");
    if (format) {
        static const char *json [] = { "json", "application/json", "application/fhir+json",
                                       "application/json+fhir", NULL };
        for (int i = 0; json [i]; i++)
            if (strncasecmp (format, json [i], strlen (json [i])) == 0
            &&  (format [strlen (json [i])] == 0 || format [strlen (json [i])] == ';'))
                return true;
        return false;
    }
    const char *accept = web_header (req, "Accept");
    return !accept || !*accept || strcasestr (accept, "json") || strstr (accept, "*/*")
        || strcasestr (accept, "application/*");
}

//  The session, from the cookie or a bearer token.
static void
s_session (web_request_t *req)
{
    const char *authorization = web_header (req, "Authorization");
    if (authorization && strncasecmp (authorization, "Bearer ", 7) == 0) {
        const char *token = authorization + 7;
        while (*token == ' ')
            token++;
        web_session_load (req, token);
    }
    else
        web_session_from_cookie (req);
}

//  A FHIR id ([A-Za-z0-9-.]{1,64}).
static bool
s_is_id (const char *id)
{
    size_t len = strlen (id);
    return len >= 1 && len <= 64 && strspn (id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                               "0123456789-.") == len;
}

//  A referral's id: digits only, at most 18.
static bool
s_is_row_id (const char *id)
{
    size_t len = strlen (id);
    return len >= 1 && len <= 18 && strspn (id, "0123456789") == len;
}


//  --------------------------------------------------------------------------
//  Task search: parameters

typedef struct {
    const char *since;              //  a lower bound (instant) or NULL
    bool since_inclusive;
    const char *until;              //  an upper bound or NULL
    bool until_inclusive;
    char since_text [48], until_text [48];
    int count;
    char after_ms [24], after_id [24];  //  the cursor, "" without one
    char problem [200];             //  the first problem, "" when none
} s_search_t;

//  Whether YYYY-MM-DDThh:mm:ss (digits checked) is a real date and time
//  (a leap second :60 is one, as in FHIR's instant).
static bool
s_calendar (const char *text)
{
    int year = atoi (text), month = atoi (text + 5), day = atoi (text + 8);
    int hour = atoi (text + 11), minute = atoi (text + 14), second = atoi (text + 17);
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
        return false;
    struct tm tm = { .tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day };
    time_t at = timegm (&tm);
    struct tm back;
    return gmtime_r (&at, &back) && back.tm_mday == day && back.tm_mon == month - 1;
}

//  A full instant: YYYY-MM-DDThh:mm:ss[.fraction](Z|+hh:mm|-hh:mm). A '+'
//  that reached us as a space (an unencoded plus in a URL) is put back.
static bool
s_instant (const char *text, char *out, size_t size)
{
    size_t len = strlen (text);
    if (len < 20 || len >= size)
        return false;
    memcpy (out, text, len + 1);
    static const char *shape = "dddd-dd-ddTdd:dd:dd";
    for (int i = 0; shape [i]; i++)
        if (shape [i] == 'd' ? !isdigit ((unsigned char) out [i]) : out [i] != shape [i])
            return false;
    size_t i = 19;
    if (out [i] == '.') {
        size_t digits = strspn (out + i + 1, "0123456789");
        if (digits < 1 || digits > 9)
            return false;
        i += 1 + digits;
    }
    if (!s_calendar (out))
        return false;
    if (out [i] == 'Z')
        return out [i + 1] == 0;
    if (out [i] == ' ')
        out [i] = '+';
    return (out [i] == '+' || out [i] == '-') && strlen (out + i) == 6
        && isdigit ((unsigned char) out [i + 1]) && isdigit ((unsigned char) out [i + 2]) && out [i + 3] == ':'
        && isdigit ((unsigned char) out [i + 4]) && isdigit ((unsigned char) out [i + 5])
        && atoi (out + i + 1) <= 14 && atoi (out + i + 4) <= 59;
}

static void
s_last_updated (s_search_t *search, const char *value)
{
    if (!value || strlen (value) < 3) {
        snprintf (search->problem, sizeof search->problem, "_lastUpdated needs a prefix and an instant, e.g. gt2026-01-31T00:00:00Z");
        return;
    }
    bool lower = strncmp (value, "gt", 2) == 0 || strncmp (value, "ge", 2) == 0;
    bool upper = strncmp (value, "lt", 2) == 0 || strncmp (value, "le", 2) == 0;
    if (!lower && !upper) {
        snprintf (search->problem, sizeof search->problem,
                  "_lastUpdated takes the prefixes gt, ge, lt and le (e.g. gt2026-01-31T00:00:00Z)");
        return;
    }
    if ((lower && search->since) || (upper && search->until)) {
        snprintf (search->problem, sizeof search->problem,
                  "_lastUpdated may have one lower bound (gt, ge) and one upper bound (lt, le)");
        return;
    }
    char *out = lower ? search->since_text : search->until_text;
    if (!s_instant (value + 2, out, sizeof search->since_text)) {
        snprintf (search->problem, sizeof search->problem,
                  "_lastUpdated needs a full instant with its time zone, e.g. gt2026-01-31T00:00:00Z");
        return;
    }
    if (lower) {
        search->since = out;
        search->since_inclusive = value [1] == 'e';
    }
    else {
        search->until = out;
        search->until_inclusive = value [1] == 'e';
    }
}

static enum MHD_Result
s_search_arg (void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void) kind;
    s_search_t *search = (s_search_t *) cls;
    if (*search->problem)
        return MHD_NO;
    if (streq (key, "_lastUpdated"))
        s_last_updated (search, value);
    else
    if (streq (key, "_count")) {
        size_t len = value ? strlen (value) : 0;
        if (len < 1 || len > 6 || strspn (value, "0123456789") != len)
            snprintf (search->problem, sizeof search->problem, "_count is a whole number from 0 to %d", S_COUNT_MAX);
        else
            search->count = atoi (value) > S_COUNT_MAX ? S_COUNT_MAX : atoi (value);
    }
    else
    if (streq (key, "_cursor")) {
        const char *dot = value ? strchr (value, '.') : NULL;
        size_t ms = dot ? (size_t) (dot - value) : 0;
        if (!dot || ms < 1 || ms > 15 || strspn (value, "0123456789") != ms
        ||  strlen (dot + 1) < 1 || strlen (dot + 1) > 18 || strspn (dot + 1, "0123456789") != strlen (dot + 1))
            snprintf (search->problem, sizeof search->problem, "_cursor is not one this server made: "
                      "follow the next link of a searchset");
        else {
            snprintf (search->after_ms, sizeof search->after_ms, "%.*s", (int) ms, value);
            snprintf (search->after_id, sizeof search->after_id, "%s", dot + 1);
        }
    }
    else
    if (!streq (key, "_format"))
        snprintf (search->problem, sizeof search->problem, "unknown search parameter '%.64s': Task takes "
                  "_lastUpdated, _count and _cursor", key);
    return MHD_YES;
}

//  value with everything but unreserved characters and ':' percent-encoded
static void
s_encode (const char *value, char *out, size_t size)
{
    size_t used = 0;
    for (const char *c = value; *c && used + 4 < size; c++)
        if (isalnum ((unsigned char) *c) || strchr ("-._~:", *c))
            out [used++] = *c;
        else
            used += (size_t) snprintf (out + used, size - used, "%%%02X", (unsigned char) *c);
    out [used] = 0;
}

//  The search's URL (with a cursor, or none).
static void
s_search_url (const char *base, const s_search_t *search, const char *after_ms, const char *after_id,
              char *url, size_t size)
{
    char since [96] = "", until [96] = "", cursor [64] = "";
    if (search->since)
        snprintf (since, sizeof since, "_lastUpdated=%s", search->since_inclusive ? "ge" : "gt");
    if (search->since)
        s_encode (search->since, since + strlen (since), sizeof since - strlen (since));
    if (search->until)
        snprintf (until, sizeof until, "_lastUpdated=%s", search->until_inclusive ? "le" : "lt");
    if (search->until)
        s_encode (search->until, until + strlen (until), sizeof until - strlen (until));
    if (after_ms && *after_ms)
        snprintf (cursor, sizeof cursor, "&_cursor=%s.%s", after_ms, after_id);
    snprintf (url, size, "%s/Task?%s%s%s%s_count=%d%s", base, since, *since ? "&" : "",
              until, *until ? "&" : "", search->count, cursor);
}

//  --------------------------------------------------------------------------
//  Handlers

static void
s_task_search (web_request_t *req, const char *base)
{
    s_search_t search = { .count = S_COUNT_DEFAULT };
    MHD_get_connection_values (req->connection, MHD_GET_ARGUMENT_KIND, s_search_arg, &search);
    if (*search.problem) {
        s_outcome (req, MHD_HTTP_BAD_REQUEST, "invalid", search.problem);
        return;
    }
    char count [16];
    snprintf (count, sizeof count, "%d", search.count);
    const char *params [] = {
        req->token_hash, search.since, search.since_inclusive ? "true" : "false",
        search.until, search.until_inclusive ? "true" : "false",
        *search.after_ms ? search.after_ms : NULL, *search.after_id ? search.after_id : NULL, count
    };
    json_t *found = web_pool_json (req->web->pool,
        "SELECT divert.web_fhir_referrals($1, $2::timestamptz, $3::boolean, $4::timestamptz, $5::boolean,"
        " $6::bigint, $7::bigint, $8::int)", 8, params);
    if (!json_is_object (found)) {
        json_decref (found);
        s_unavailable (req);
        return;
    }
    json_t *facts = json_object_get (found, "entries");
    json_t *entries = json_array ();
    char url [1024], last_ms [24] = "", last_id [24] = "";
    size_t index;
    json_t *row;
    json_array_foreach (facts, index, row) {
        if (index >= (size_t) search.count)
            break;
        json_t *task = web_fhir_task (row);
        snprintf (url, sizeof url, "%s/Task/%s", base, json_string_value (json_object_get (task, "id")));
        json_array_append_new (entries, json_pack ("{s:s, s:o, s:{s:s}}", "fullUrl", url, "resource", task,
                                                   "search", "mode", "match"));
        snprintf (last_ms, sizeof last_ms, "%" JSON_INTEGER_FORMAT,
                  json_integer_value (json_object_get (row, "last_modified_ms")));
        snprintf (last_id, sizeof last_id, "%" JSON_INTEGER_FORMAT, json_integer_value (json_object_get (row, "id")));
    }
    json_t *links = json_array ();
    s_search_url (base, &search, search.after_ms, search.after_id, url, sizeof url);
    json_array_append_new (links, json_pack ("{s:s, s:s}", "relation", "self", "url", url));
    if (json_array_size (facts) > (size_t) search.count && search.count > 0) {
        s_search_url (base, &search, last_ms, last_id, url, sizeof url);
        json_array_append_new (links, json_pack ("{s:s, s:s}", "relation", "next", "url", url));
    }
    json_t *bundle = json_pack ("{s:s, s:s, s:O, s:o}", "resourceType", "Bundle", "type", "searchset",
                                "total", json_object_get (found, "total"), "link", links);
    //  FHIR has no empty arrays: no entries, no entry element
    if (json_array_size (entries))
        json_object_set (bundle, "entry", entries);
    json_decref (entries);
    json_decref (found);
    s_reply (req, MHD_HTTP_OK, bundle);
}

//  One referral's facts, or a 404/503 reply and NULL.
static json_t *
s_referral (web_request_t *req, const char *type, const char *id)
{
    if (!s_is_row_id (id)) {
        s_outcome (req, MHD_HTTP_NOT_FOUND, "not-found", type);
        return NULL;
    }
    const char *params [] = { req->token_hash, id };
    json_t *facts = web_pool_json (req->web->pool, "SELECT divert.web_fhir_referral($1, $2::bigint)", 2, params);
    if (!facts)
        s_unavailable (req);
    else
    if (!json_is_object (facts)) {
        json_decref (facts);
        facts = NULL;
        s_outcome (req, MHD_HTTP_NOT_FOUND, "not-found", type);
    }
    return facts;
}

static void
s_task_read (web_request_t *req, const char *id)
{
    json_t *facts = s_referral (req, "no such Task", id);
    if (facts) {
        s_reply (req, MHD_HTTP_OK, web_fhir_task (facts));
        json_decref (facts);
    }
}

static void
s_request_read (web_request_t *req, const char *id)
{
    json_t *facts = s_referral (req, "no such ServiceRequest", id);
    if (facts) {
        s_reply (req, MHD_HTTP_OK, web_fhir_service_request (facts));
        json_decref (facts);
    }
}

//  Every program with its capacity, in one snapshot, as divertd computes it.
static json_t *
s_services (web_request_t *req)
{
    json_t *data = web_pool_json (req->web->pool,
        "SELECT json_build_object("
        " 'programs', (SELECT COALESCE(json_agg(to_json(p) ORDER BY p.name), '[]') FROM divert.web_programs p),"
        " 'case_managers', (SELECT COALESCE(json_agg(json_build_object('program', c.program, 'id', c.id,"
        "      'caseload', c.caseload) ORDER BY c.id), '[]') FROM divert.web_case_managers c WHERE c.active),"
        " 'waitlist', (SELECT COALESCE(json_object_agg(w.program, w.n), '{}') FROM"
        "      (SELECT program, count(*) AS n FROM divert.web_waitlist GROUP BY program) w),"
        " 'at', divert.s_rfc3339(now()))", 0, NULL);
    if (!json_is_object (data)) {
        json_decref (data);
        return NULL;
    }
    json_t *services = web_fhir_services (json_object_get (data, "programs"), json_object_get (data, "case_managers"),
                                          json_object_get (data, "waitlist"));
    size_t index;
    json_t *service;
    json_array_foreach (services, index, service)
        json_object_set (json_object_get (service, "meta"), "lastUpdated", json_object_get (data, "at"));
    json_decref (data);
    return services;
}

static void
s_service (web_request_t *req, const char *base, const char *id)
{
    json_t *services = s_services (req);
    if (!services) {
        s_unavailable (req);
        return;
    }
    if (id) {
        json_t *found = NULL;
        size_t index;
        json_t *service;
        json_array_foreach (services, index, service)
            if (streq (json_string_value (json_object_get (service, "id")), id))
                found = json_incref (service);
        json_decref (services);
        if (found)
            s_reply (req, MHD_HTTP_OK, found);
        else
            s_outcome (req, MHD_HTTP_NOT_FOUND, "not-found", "no such HealthcareService");
        return;
    }
    json_t *entries = json_array ();
    size_t index;
    json_t *service;
    char url [512];
    json_array_foreach (services, index, service) {
        snprintf (url, sizeof url, "%s/HealthcareService/%s", base, json_string_value (json_object_get (service, "id")));
        json_array_append_new (entries, json_pack ("{s:s, s:O, s:{s:s}}", "fullUrl", url, "resource", service,
                                                   "search", "mode", "match"));
    }
    snprintf (url, sizeof url, "%s/HealthcareService", base);
    json_t *bundle = json_pack ("{s:s, s:s, s:I, s:[{s:s, s:s}]}", "resourceType", "Bundle", "type", "searchset",
        "total", (json_int_t) json_array_size (services), "link", "relation", "self", "url", url);
    if (json_array_size (entries))
        json_object_set (bundle, "entry", entries);
    json_decref (entries);
    json_decref (services);
    s_reply (req, MHD_HTTP_OK, bundle);
}

static void
s_organization (web_request_t *req, const char *id)
{
    //  Organization ids are source ids with '_' written '.'
    char source [80];
    snprintf (source, sizeof source, "%s", id);
    for (char *c = source; *c; c++)
        if (*c == '.')
            *c = '_';
    if (!web_is_source_id (source)) {
        s_outcome (req, MHD_HTTP_NOT_FOUND, "not-found", "no such Organization");
        return;
    }
    const char *params [] = { req->token_hash, source };
    json_t *row = web_pool_json (req->web->pool, "SELECT divert.web_fhir_source($1, $2)", 2, params);
    if (!row)
        s_unavailable (req);
    else
    if (!json_is_object (row))
        s_outcome (req, MHD_HTTP_NOT_FOUND, "not-found", "no such Organization");
    else
        s_reply (req, MHD_HTTP_OK, web_fhir_organization (row));
    json_decref (row);
}


//  --------------------------------------------------------------------------
//  Dispatch

//  Only _format for reads and HealthcareService search.
static enum MHD_Result
s_plain_arg (void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void) kind; (void) value;
    char *problem = (char *) cls;
    if (!*problem && !streq (key, "_format"))
        snprintf (problem, 200, "unknown parameter '%.64s'", key);
    return MHD_YES;
}

void
web_fhir_dispatch (web_request_t *req)
{
    if (!streq (req->method, "GET") && !streq (req->method, "HEAD")) {
        s_outcome (req, MHD_HTTP_METHOD_NOT_ALLOWED, "not-supported", "this FHIR endpoint is read-only (GET)");
        MHD_add_response_header (req->response, "Allow", "GET, HEAD");
        return;
    }
    if (!s_json_wanted (req)) {
        s_outcome (req, MHD_HTTP_NOT_ACCEPTABLE, "not-supported", "only JSON (application/fhir+json) is served");
        return;
    }
    char base [400];
    s_base (req, base, sizeof base);
    //  /fhir/TYPE or /fhir/TYPE/ID, nothing deeper
    char type [40] = "", id [80] = "";
    const char *path = req->path + 5;
    if (*path == '/')
        path++;
    size_t type_len = strcspn (path, "/");
    const char *rest = path + type_len;
    bool has_id = *rest == '/';
    if (type_len == 0 || type_len >= sizeof type || (has_id && (strlen (rest + 1) >= sizeof id
    ||  strchr (rest + 1, '/') || !s_is_id (rest + 1)))) {
        s_outcome (req, MHD_HTTP_NOT_FOUND, "not-found", "no such FHIR resource or operation here");
        return;
    }
    snprintf (type, sizeof type, "%.*s", (int) type_len, path);
    if (has_id)
        snprintf (id, sizeof id, "%s", rest + 1);
    if (streq (type, "metadata") && !has_id) {
        s_reply (req, MHD_HTTP_OK, web_fhir_capability (base));
        return;
    }
    bool known = streq (type, "Task") || streq (type, "ServiceRequest") || streq (type, "HealthcareService")
              || streq (type, "Organization");
    if (!known) {
        s_outcome (req, MHD_HTTP_NOT_FOUND, "not-supported",
                   "this server serves Task, ServiceRequest, HealthcareService and Organization (see /fhir/metadata)");
        return;
    }
    s_session (req);
    if (!req->session) {
        if (!web_pool_up (req->web->pool) && *req->token_hash)
            s_unavailable (req);
        else {
            s_outcome (req, MHD_HTTP_UNAUTHORIZED, "login",
                       "log in first (POST /api/login), then send the divert_session cookie or its token as a bearer token");
            MHD_add_response_header (req->response, "WWW-Authenticate", "Bearer realm=\"divert\"");
        }
        return;
    }
    if (streq (type, "Task") && !has_id) {
        s_task_search (req, base);
        return;
    }
    char problem [200] = "";
    MHD_get_connection_values (req->connection, MHD_GET_ARGUMENT_KIND, s_plain_arg, problem);
    if (*problem) {
        s_outcome (req, MHD_HTTP_BAD_REQUEST, "invalid", problem);
        return;
    }
    if (streq (type, "HealthcareService"))
        s_service (req, base, has_id ? id : NULL);
    else
    if (!has_id)
        s_outcome (req, MHD_HTTP_NOT_FOUND, "not-supported", "search is supported for Task and HealthcareService only");
    else
    if (streq (type, "Task"))
        s_task_read (req, id);
    else
    if (streq (type, "ServiceRequest"))
        s_request_read (req, id);
    else
        s_organization (req, id);
}
