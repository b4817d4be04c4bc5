/*  divert-web — the web interface of divert: its internal interface.

    divert-web is a DIVERT/1 client like any other (clients/divert-web/):
    the partner desk submits with that partner's source key, the case-manager
    desk with a case-management key, the program dashboard listens with a
    monitor key. It reads PostgreSQL only as the divert_web role: views
    without personal data, and SECURITY DEFINER functions that check the
    session and record every disclosure (sql/010_web.sql). The C side
    produces JSON only; the pages in static/ render it with DOM APIs.

    One file per concept:
      main.c        options, start, signals, systemd notify, housekeeping
      config.c      the ZPL configuration (web_config_t)
      pool.c        a small pool of PostgreSQL connections (web_pool_t)
      divert.c      DIVERT/1 clients, one per key, lazily loaded (web_divert_t)
      events.c      the decisions subscribers (one per divertd) and Server-Sent Events (web_events_t)
      auth.c        passwords (argon2id), tokens, login throttling, sessions
      http.c        libmicrohttpd: listening, TLS, requests, bodies, headers
      routes.c      the API's route table and its checks (session, role, CSRF)
      login.c       /api/login, /api/logout, /api/me, /api/health
      partner.c     the partner desk's API
      cm.c          the case-manager desk's API
      program.c     the program dashboard's API
      report.c      the report pages' API: divert.report as JSON and CSV
      admin.c       users and roles
      words.c       decisions in words
      metrics.c     /metrics for Prometheus: who may read it, what it reads
      exposition.c  the Prometheus text format (web_expo_t)
      files.c       the static files, loaded at start
      fhir.c        /fhir/: FHIR R4 read and search, bundles, OperationOutcome
      fhir_status.c divert's states as FHIR codes (Task.status, capacity status)
      fhir_referral.c  a referral as Task and ServiceRequest; a source as Organization
      fhir_service.c   a program as HealthcareService with its capacity status
      fhir_metadata.c  the CapabilityStatement
*/
#ifndef DIVERT_WEB_H
#define DIVERT_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <jansson.h>
#include <microhttpd.h>
#include "dv_db.h"
#include "dv_log.h"
#include "dv_policy.h"

#define WEB_EX_CONFIG 78        //  sysexits.h EX_CONFIG: a configuration error

//  --------------------------------------------------------------------------
//  Configuration (config.c)

typedef struct {
    //  divert-web section
    char listen [512];              //  HOST:PORT, [V6]:PORT or unix:/path (default 127.0.0.1:8461)
    char tls_cert [1024];           //  PEM certificate chain; HTTPS when set (with tls_key)
    char tls_key [1024];            //  PEM private key
    char static_dir [1024];         //  the pages (default /usr/share/divert/web)
    bool trusted_proxy;             //  take the client address from X-Forwarded-For
    int64_t session_idle_ms;        //  idle timeout (default 30m)
    int64_t session_max_ms;         //  absolute lifetime (default 12h)
    int login_user_failures;        //  failures per user name before a lock (default 5)
    int login_address_failures;     //  failures per address before a lock (default 20)
    int64_t login_window_ms;        //  failures count within this window (default 15m)
    int64_t login_lockout_ms;       //  how long a lock lasts (default 5m)
    int max_body;                   //  bytes in a request body (default 65536)
    int max_connections;            //  open connections (default 256)
    int db_connections;             //  PostgreSQL connections (default 4)
    char log [16];                  //  auto | journal | stderr
    char log_level [16];            //  debug | info | notice | warning
    char metrics [16];              //  /metrics: loopback (default) | login | off
    //  divert section
    char intake [4096];             //  divertd's intake endpoints (a list: one per daemon)
    char decisions [4096];          //  divertd's decisions endpoints (the same daemons, in order)
    int daemons;                    //  how many (entries of each list)
    char keys [1024];               //  directory: server.cert, monitor.cert, cms.cert, <source>.cert
    char monitor_cert [256];        //  file name in keys (default monitor.cert)
    char cms_cert [256];            //  file name in keys (default cms.cert; optional)
    int64_t divert_timeout_ms;      //  per attempt (default 5s)
    //  database section
    char conninfo [1024];
} web_config_t;

void
    web_config_defaults (web_config_t *config);
//  Load a ZPL file over the defaults; 0, or -1 with one line in `error`.
int
    web_config_load (web_config_t *config, const char *path, char *error, size_t size);
//  Where a file named in the keys directory is: KEYS/NAME, or when KEYS is
//  relative and $CREDENTIALS_DIRECTORY is set, the credential KEYS_NAME
//  there (systemd's LoadCredential= of a directory names each file so).
void
    web_config_key_path (const web_config_t *config, const char *name, char *path, size_t size);
//  Entry `index` (0 = the first) of a comma-separated endpoint list such as
//  config->decisions, trimmed; false when there is none.
bool
    web_config_endpoint (const char *list, int index, char *endpoint, size_t size);


//  --------------------------------------------------------------------------
//  PostgreSQL connections (pool.c)

typedef struct _web_pool_t web_pool_t;

web_pool_t *
    web_pool_new (const char *conninfo, int size);
void
    web_pool_destroy (web_pool_t **self_p);
//  A connected dv_db_t for this thread (wait up to msecs), or NULL when the
//  database can't be reached or every connection stays busy.
dv_db_t *
    web_pool_get (web_pool_t *self, int msecs);
void
    web_pool_put (web_pool_t *self, dv_db_t *db);
//  Whether the last connection attempt succeeded.
bool
    web_pool_up (web_pool_t *self);

//  Run one statement returning one json/jsonb value on a pooled connection.
//  Returns the value (caller decrefs; JSON null comes back as json_null()),
//  or NULL when the database failed (logged, without the parameters).
json_t *
    web_pool_json (web_pool_t *self, const char *sql, int nparams, const char *const *params);


//  --------------------------------------------------------------------------
//  The waitlists in promotion order (waitlist.c)

typedef struct _web_t web_t;

//  The open entries (divert.web_waitlist) as one JSON array, and the
//  database's clock in microseconds: fragments of a statement that also
//  reads the programs, so all are one snapshot.
#define WEB_WAITLIST_SQL \
    "(SELECT COALESCE(json_agg(json_build_object('id', w.id, 'program', w.program," \
    " 'referral_id', w.referral_id, 'source_id', w.source_id, 'tier', w.tier, 'base_score', w.base_score," \
    " 'received_us', w.received_us, 'waited_seconds', w.waited_seconds," \
    " 'expires_in_seconds', w.expires_in_seconds) ORDER BY w.id), '[]') FROM divert.web_waitlist w)"
#define WEB_NOW_US_SQL "(extract(epoch FROM now()) * 1000000)::bigint"

//  Entries of every program (rows of divert.web_programs) in promotion
//  order (dv_waitlist), program by program, each with its position, aging
//  and score. A new array.
json_t *
    web_waitlist_order (json_t *programs, json_t *entries, int64_t now_us);
//  The same from a statement of its own; NULL when the database failed.
json_t *
    web_waitlist_ordered (web_t *web);
//  The entry with this id in an ordered array, or NULL.
json_t *
    web_waitlist_find (json_t *ordered, json_int_t entry_id);


//  --------------------------------------------------------------------------
//  DIVERT/1 clients (divert.c)

typedef struct _web_divert_t web_divert_t;
typedef struct _web_events_t web_events_t;

web_divert_t *
    web_divert_new (const web_config_t *config);
void
    web_divert_destroy (web_divert_t **self_p);
//  Whether KEY.cert can be loaded from the keys directory ("cms", a source id).
bool
    web_divert_has_key (web_divert_t *self, const char *key);
//  Send one request with the key KEY (a source id, "cms" or "monitor") and
//  return the reply (caller owns), or NULL with a message in `error` when
//  there is no such key or divertd did not answer.
json_t *
    web_divert_request (web_divert_t *self, const char *key, json_t *request,
                        char *error, size_t size);
//  Forget every client (SIGHUP: keys are read again on next use).
void
    web_divert_flush (web_divert_t *self);
//  With several daemons: before each request, a client whose daemon has
//  been unreachable for a moment (events: its decisions socket) goes to
//  one that is connected, instead of waiting a timeout to learn it.
void
    web_divert_watch (web_divert_t *self, web_events_t *events);


//  --------------------------------------------------------------------------
//  Live events (events.c)

typedef struct _web_events_t web_events_t;


//  Starts the subscriber thread (monitor key, every topic).
web_events_t *
    web_events_new (web_t *web);
void
    web_events_destroy (web_events_t **self_p);
//  Wake every stream so it ends (shutdown).
void
    web_events_stop (web_events_t *self);
//  A Server-Sent Events response for this session's user (session is the
//  web_session() object; token_hash re-checks it while the stream is open).
struct MHD_Response *
    web_events_response (web_events_t *self, json_t *session, const char *token_hash);
//  Events received so far (STATUS=).
uint64_t
    web_events_count (web_events_t *self);
//  Each divertd's decisions socket (divert/decisions, in order), for
//  /api/health: [{"daemon": 1, "connected": true, "seconds": 12}], where
//  seconds is how long it has been so. A new array.
json_t *
    web_events_daemons (web_events_t *self);
//  Whether divertd `index` (0 = the first of the lists) has a connection to
//  its decisions socket, and in *msecs (when not NULL) for how long that
//  has been so. False for an index out of range.
bool
    web_events_connected (web_events_t *self, int index, int64_t *msecs);


//  --------------------------------------------------------------------------
//  Passwords, tokens and logins (auth.c)

#define WEB_PASSWORD_MIN 10
#define WEB_PASSWORD_MAX 256
#define WEB_TOKEN_SIZE 44           //  43 characters of base64url + NUL
#define WEB_HASH_SIZE 65            //  64 hex characters + NUL

//  Once at start: libsodium, and the dummy hash that unknown users are
//  checked against (so they take as long). 0 or -1.
int
    web_auth_init (int max_parallel);
//  argon2id (crypto_pwhash_str, interactive limits) into hash (>= 128
//  bytes); at most max_parallel at once. 0, or -1 (out of memory).
int
    web_auth_hash_password (const char *password, char *hash, size_t size);
//  True when password matches hash; hash NULL checks the dummy (false).
bool
    web_auth_verify (const char *hash, const char *password);
//  A new random 256-bit token as base64url, and the hex SHA-256 of a token.
void
    web_auth_new_token (char token [WEB_TOKEN_SIZE]);
void
    web_auth_token_hash (const char *token, char hash [WEB_HASH_SIZE]);
//  Compare two strings in constant time (for equal lengths).
bool
    web_auth_equal (const char *a, const char *b);
//  Password rules: NULL when acceptable, else the problem.
const char *
    web_auth_password_problem (const char *password);


//  --------------------------------------------------------------------------
//  The server and one request (http.c)

struct _web_t {
    web_config_t *config;
    web_pool_t *pool;
    web_divert_t *divert;
    web_events_t *events;
    struct _web_files_t *files;
    struct MHD_Daemon *daemon;
    int listen_fd;                  //  a unix socket we made, else -1
    bool tls;
    volatile int stopping;
};

typedef struct {
    web_t *web;
    struct MHD_Connection *connection;
    const char *method;
    const char *path;
    char address [64];              //  the client, for throttling
    char *body;                     //  the request body (NUL-terminated)
    size_t body_size;
    bool body_too_big;
    json_t *json;                   //  the parsed body (POST)
    char token_hash [WEB_HASH_SIZE];    //  of the session cookie ("" without one)
    json_t *session;                //  web_session() of the cookie, or NULL
    const char *user;               //  the session's user name
    const char *role;               //  partner | case_manager | program | admin
    int status;                     //  of the response, for the log
    struct MHD_Response *response;
    const char *set_cookie;         //  a Set-Cookie header to add (static text or owned by extra)
    char *extra;                    //  freed with the request
    int64_t started;
} web_request_t;

//  Parse the listen address, load TLS, start libmicrohttpd. 0, or -1 with
//  `error` and *config_error true when the configuration is at fault.
int
    web_http_start (web_t *web, char *error, size_t size, bool *config_error);
void
    web_http_stop (web_t *web);

//  Responses: the handler sets one; JSON bodies are stolen (decref'd).
void
    web_reply_json (web_request_t *req, int status, json_t *body);
//  Any other response (the events stream)
void
    web_reply_response (web_request_t *req, int status, struct MHD_Response *response);
//  {"error": message} with optional {"errors": [...]}
void
    web_reply_error (web_request_t *req, int status, const char *message);
void
    web_reply_errors (web_request_t *req, int status, const char *message, json_t *errors);
//  A query-string argument, or NULL.
const char *
    web_arg (web_request_t *req, const char *name);
//  A request header, or NULL.
const char *
    web_header (web_request_t *req, const char *name);
//  Session members
const char *
    web_session_str (web_request_t *req, const char *path);
//  Look up the session of this token (a cookie's or a bearer token's
//  value): sets req->token_hash, and req->session, user and role when it is
//  live (routes.c).
void
    web_session_load (web_request_t *req, const char *token);
//  The same with the session cookie's token.
void
    web_session_from_cookie (web_request_t *req);

//  Dispatch an /api/ request (routes.c); always sets a response.
void
    web_routes_dispatch (web_request_t *req);


//  --------------------------------------------------------------------------
//  Handlers (login.c, partner.c, cm.c, program.c, report.c, admin.c)

void web_login (web_request_t *req);
void web_logout (web_request_t *req);
void web_me (web_request_t *req);
void web_health (web_request_t *req);
void web_events_stream (web_request_t *req);

void web_partner_form (web_request_t *req);
void web_partner_list (web_request_t *req);
void web_partner_submit (web_request_t *req);
void web_partner_details (web_request_t *req);
void web_partner_withdraw (web_request_t *req);

void web_cm_people (web_request_t *req);
void web_cm_person (web_request_t *req);
void web_cm_enrollment (web_request_t *req);

void web_program_dashboard (web_request_t *req);
void web_program_decisions (web_request_t *req);
void web_program_explain (web_request_t *req);
void web_program_report (web_request_t *req);
void web_program_report_csv (web_request_t *req);

void web_admin_users (web_request_t *req);
void web_admin_add (web_request_t *req);
void web_admin_passwd (web_request_t *req);
void web_admin_disable (web_request_t *req);
void web_admin_enable (web_request_t *req);

//  Map a DIVERT/1 error reply (or no reply) to an HTTP response.
void
    web_reply_divert_error (web_request_t *req, json_t *reply, const char *no_reply);
//  A UUID (8-4-4-4-12 hex), any case.
bool
    web_is_uuid (const char *text);
//  A source id as the database allows it.
bool
    web_is_source_id (const char *text);


//  --------------------------------------------------------------------------
//  Words (words.c): what a decision means, for people

//  The decision (a reply, a stored reply or an event) in one sentence,
//  e.g. "Accepted: A. Rivera will contact you." `position` and `band`
//  override the reply's waitlist (-1 / NULL: use the reply's).
char *
    web_words_decision (json_t *decision, int position, const char *band);
const char *
    web_words_reason (const char *reason);
const char *
    web_words_band (const char *band);
//  An enrollment's exit reason ("moved away", "term ended" ...)
const char *
    web_words_exit (const char *reason);
//  An enrollment change in words ("Intake completed: now active.")
char *
    web_words_enrollment (const char *status, const char *reason);


//  --------------------------------------------------------------------------
//  Prometheus (metrics.c, exposition.c)

//  GET /metrics: the text exposition, to whom `metrics` admits.
void
    web_metrics (web_request_t *req);

typedef struct _web_expo_t web_expo_t;

web_expo_t *
    web_expo_new (void);
void
    web_expo_destroy (web_expo_t **self_p);
//  A metric family's "# HELP" and "# TYPE" lines (type: counter, gauge,
//  histogram); its samples follow, before the next family.
void
    web_expo_family (web_expo_t *self, const char *name, const char *type, const char *help);
//  One sample: name{label="value",...} value. labels: name, value pairs
//  ending with NULL (or NULL for none); values are escaped here.
void
    web_expo_sample (web_expo_t *self, const char *name, const char *const *labels, double value);
//  A histogram's samples (name_bucket with le, name_sum, name_count) from
//  divertd's snapshot {"buckets": [[le, cumulative], ...], "sum", "count"}
//  (daemon/metrics.h). 0, or -1 without a line when the snapshot is not
//  a valid histogram (bounds not rising, counts falling, count short).
int
    web_expo_histogram (web_expo_t *self, const char *name, const char *const *labels, json_t *histogram);
//  The text so far (owned by self).
const char *
    web_expo_text (web_expo_t *self);
//  A number as the format wants it: a whole number (below 1e15) in digits,
//  else the shortest text that reads back the same; +Inf, -Inf or NaN.
void
    web_expo_number (double value, char *text, size_t size);


//  --------------------------------------------------------------------------
//  Static files (files.c)

typedef struct _web_files_t web_files_t;

//  Load every page, script, style sheet and image of dir (not recursive).
web_files_t *
    web_files_new (const char *dir, char *error, size_t size);
void
    web_files_destroy (web_files_t **self_p);
//  The file for a URL path ("/" is /index.html), or NULL.
bool
    web_files_get (web_files_t *self, const char *path, const char **data, size_t *size,
                   const char **content_type);



//  --------------------------------------------------------------------------
//  FHIR R4, read-only (fhir*.c): HL7 SDOH Clinical Care's Task and
//  ServiceRequest for each referral, HealthcareService with its capacity
//  status for each program, Organization for each source. No personal data.

#define WEB_FHIR_SDOHCC "http://hl7.org/fhir/us/sdoh-clinicalcare"
#define WEB_FHIR_TASK_PROFILE WEB_FHIR_SDOHCC "/StructureDefinition/SDOHCC-TaskForReferralManagement"
#define WEB_FHIR_REQUEST_PROFILE WEB_FHIR_SDOHCC "/StructureDefinition/SDOHCC-ServiceRequest"
#define WEB_FHIR_SERVICE_PROFILE WEB_FHIR_SDOHCC "/StructureDefinition/SDOHCC-HealthcareServiceForReferralManagement"
#define WEB_FHIR_CAPACITY_EXTENSION WEB_FHIR_SDOHCC "/StructureDefinition/SDOHCC-ExtensionHealthcareServiceCapacityStatus"
#define WEB_FHIR_TEMPORARY_CODES WEB_FHIR_SDOHCC "/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"
#define WEB_FHIR_ORGANIZATION_PROFILE "http://hl7.org/fhir/us/core/StructureDefinition/us-core-organization"
#define WEB_FHIR_US_CORE_CATEGORY "http://hl7.org/fhir/us/core/CodeSystem/us-core-category"

//  Dispatch a /fhir/ request (fhir.c); always sets a response.
void
    web_fhir_dispatch (web_request_t *req);

//  Where a referral is, in FHIR's terms (fhir_status.c): the one mapping of
//  divert's states to Task.status. Texts are static; NULL when absent.
typedef struct {
    const char *status;             //  Task.status
    const char *business;           //  Task.businessStatus.text
    const char *reason;             //  Task.statusReason.text
    const char *request_status;     //  ServiceRequest.status
} web_fhir_status_t;

//  state: referral.state; reason: its latest decision's reason;
//  enrollment / exit_reason: its enrollment's status and exit reason (NULL
//  when it has none).
web_fhir_status_t
    web_fhir_status (const char *state, const char *reason, const char *enrollment,
                     const char *exit_reason);

//  A program's capacity status (the guide's SDOHCC-ValueSetCapacityStatus):
//  what divertd would do now with a new tier-2 referral (community, social
//  contact): accept it "capacity", waitlist it "waitlist" (No Capacity - Has
//  Waitlist), decline it (the waitlist is full) "no-capacity".
const char *
    web_fhir_capacity (const dv_program_t *program, const dv_capacity_t *capacity);
const char *
    web_fhir_capacity_display (const char *code);

//  Resources (fhir_referral.c, fhir_service.c, fhir_metadata.c), built from
//  the facts the database functions return (sql/013_fhir.sql). Each returns
//  a new object.
json_t *
    web_fhir_task (json_t *facts);
json_t *
    web_fhir_service_request (json_t *facts);
json_t *
    web_fhir_organization (json_t *source);
//  Every program (rows of divert.web_programs) as HealthcareService, its
//  capacity from the case managers and waitlist as divertd sees them.
json_t *
    web_fhir_services (json_t *programs, json_t *case_managers, json_t *waitlist);
json_t *
    web_fhir_capability (const char *base);
//  A FHIR id from a source id ('_' is not allowed in ids: it becomes '.').
void
    web_fhir_source_ref (const char *source_id, char *id, size_t size);

#endif
