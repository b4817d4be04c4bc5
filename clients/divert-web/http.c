/*  http — divert-web's HTTP side, on libmicrohttpd: where it listens
    (HTTPS with a certificate; plain HTTP only on a loopback address or a
    Unix socket for a reverse proxy, anything else is refused), one thread
    per connection (a Server-Sent Events stream may wait), bounded request
    bodies, the security headers on every response, the static files, and
    the handover of /api/ requests to routes.c and of /metrics to metrics.c.
*/
#include "web.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sodium.h>
#include <unistd.h>

//  No inline script or style, nothing from elsewhere, no framing.
#define S_CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " \
              "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

//  --------------------------------------------------------------------------
//  Responses

static void
s_set_response (web_request_t *req, int status, struct MHD_Response *response)
{
    if (req->response)
        MHD_destroy_response (req->response);
    req->response = response;
    req->status = status;
}

void
web_reply_response (web_request_t *req, int status, struct MHD_Response *response)
{
    s_set_response (req, status, response);
}

void
web_reply_json (web_request_t *req, int status, json_t *body)
{
    char *text = body ? json_dumps (body, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref (body);
    if (!text) {
        text = strdup ("{\"error\":\"internal error\"}");
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    struct MHD_Response *response = MHD_create_response_from_buffer (strlen (text), text,
                                                                      MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header (response, "Content-Type", "application/json; charset=utf-8");
    MHD_add_response_header (response, "Cache-Control", "no-store");
    s_set_response (req, status, response);
}

void
web_reply_errors (web_request_t *req, int status, const char *message, json_t *errors)
{
    json_t *body = json_pack ("{s:s}", "error", message);
    if (errors)
        json_object_set_new (body, "errors", errors);
    web_reply_json (req, status, body);
}

void
web_reply_error (web_request_t *req, int status, const char *message)
{
    web_reply_errors (req, status, message, NULL);
}

const char *
web_arg (web_request_t *req, const char *name)
{
    return MHD_lookup_connection_value (req->connection, MHD_GET_ARGUMENT_KIND, name);
}

const char *
web_header (web_request_t *req, const char *name)
{
    return MHD_lookup_connection_value (req->connection, MHD_HEADER_KIND, name);
}

//  The headers every response carries.
static void
s_security_headers (web_request_t *req)
{
    struct MHD_Response *r = req->response;
    MHD_add_response_header (r, "Content-Security-Policy", S_CSP);
    MHD_add_response_header (r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header (r, "X-Frame-Options", "DENY");
    MHD_add_response_header (r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header (r, "Cross-Origin-Opener-Policy", "same-origin");
    MHD_add_response_header (r, "Cross-Origin-Resource-Policy", "same-origin");
    MHD_add_response_header (r, "Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()");
    if (req->web->tls)
        MHD_add_response_header (r, "Strict-Transport-Security", "max-age=31536000");
    if (req->set_cookie)
        MHD_add_response_header (r, "Set-Cookie", req->set_cookie);
}

//  A static file, or a plain 404.
static void
s_static (web_request_t *req)
{
    const char *data, *type;
    size_t size;
    if (!streq (req->method, "GET") && !streq (req->method, "HEAD")) {
        web_reply_error (req, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
        MHD_add_response_header (req->response, "Allow", "GET, HEAD");
        return;
    }
    if (!web_files_get (req->web->files, req->path, &data, &size, &type)) {
        struct MHD_Response *response = MHD_create_response_from_buffer (
            strlen ("not found\n"), (void *) "not found\n", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header (response, "Content-Type", "text/plain; charset=utf-8");
        s_set_response (req, MHD_HTTP_NOT_FOUND, response);
        return;
    }
    struct MHD_Response *response = MHD_create_response_from_buffer (size, (void *) data,
                                                                      MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header (response, "Content-Type", type);
    MHD_add_response_header (response, "Cache-Control", "no-cache");
    s_set_response (req, MHD_HTTP_OK, response);
}


//  --------------------------------------------------------------------------
//  One request

//  The client's address: the peer, or behind a trusted proxy (or on our
//  Unix socket, where only a local proxy connects) the last address the
//  proxy appended to X-Forwarded-For.
static void
s_address (web_request_t *req)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info (req->connection,
                                                                   MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *addr = info ? info->client_addr : NULL;
    bool proxied = req->web->config->trusted_proxy || req->web->listen_fd >= 0;
    snprintf (req->address, sizeof req->address, "unknown");
    if (addr && addr->sa_family == AF_INET)
        inet_ntop (AF_INET, &((const struct sockaddr_in *) addr)->sin_addr, req->address, sizeof req->address);
    else
    if (addr && addr->sa_family == AF_INET6)
        inet_ntop (AF_INET6, &((const struct sockaddr_in6 *) addr)->sin6_addr, req->address, sizeof req->address);
    else
        snprintf (req->address, sizeof req->address, "unix");
    const char *forwarded = proxied ? web_header (req, "X-Forwarded-For") : NULL;
    if (forwarded) {
        const char *last = strrchr (forwarded, ',');
        last = last ? last + 1 : forwarded;
        while (*last == ' ')
            last++;
        size_t len = strcspn (last, " ");
        if (len > 0 && len < sizeof req->address
        &&  strspn (last, "0123456789abcdefABCDEF.:") >= len)
            snprintf (req->address, sizeof req->address, "%.*s", (int) len, last);
    }
}

static web_request_t *
s_request_new (web_t *web, struct MHD_Connection *connection, const char *url, const char *method)
{
    web_request_t *req = calloc (1, sizeof *req);
    req->web = web;
    req->connection = connection;
    req->method = method;
    req->path = url;
    req->started = zclock_mono ();
    s_address (req);
    return req;
}

static void
s_request_destroy (web_request_t **req_p)
{
    web_request_t *req = *req_p;
    if (!req)
        return;
    if (req->response)
        MHD_destroy_response (req->response);
    json_decref (req->json);
    json_decref (req->session);
    free (req->body);
    free (req->extra);
    free (req);
    *req_p = NULL;
}

//  Collect the body, at most max_body bytes (the rest is read and dropped,
//  then answered 413).
static void
s_body (web_request_t *req, const char *data, size_t size)
{
    size_t max = (size_t) req->web->config->max_body;
    if (req->body_too_big || req->body_size + size > max) {
        req->body_too_big = true;
        return;
    }
    char *grown = realloc (req->body, req->body_size + size + 1);
    if (!grown) {
        req->body_too_big = true;
        return;
    }
    req->body = grown;
    memcpy (req->body + req->body_size, data, size);
    req->body_size += size;
    req->body [req->body_size] = 0;
}

static enum MHD_Result
s_send (web_request_t *req)
{
    if (!req->response)
        web_reply_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error");
    s_security_headers (req);
    enum MHD_Result rc = MHD_queue_response (req->connection, (unsigned) req->status, req->response);
    if (strncmp (req->path, "/api/", 5) == 0 || strncmp (req->path, "/fhir/", 6) == 0)
        dv_log_fields (req->status >= 500 ? LOG_WARNING : LOG_INFO, NULL, "%s %s %d%s%s %lldms",
                       req->method, req->path, req->status, req->user ? " user=" : "",
                       req->user ? req->user : "", (long long) (zclock_mono () - req->started));
    return rc;
}

static enum MHD_Result
s_access (void *cls, struct MHD_Connection *connection, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void) version;
    web_t *web = (web_t *) cls;
    web_request_t *req = (web_request_t *) *con_cls;
    if (!req) {
        req = s_request_new (web, connection, url, method);
        *con_cls = req;
        //  A body announced as too big is refused before it is read.
        const char *length = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                          MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length && strtoull (length, NULL, 10) > (unsigned long long) web->config->max_body) {
            web_reply_error (req, MHD_HTTP_CONTENT_TOO_LARGE, "the request body is too large");
            return s_send (req);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        s_body (req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->response)
        return MHD_YES;         //  already answered (a body that was too big)
    if (req->body_too_big)
        web_reply_error (req, MHD_HTTP_CONTENT_TOO_LARGE, "the request body is too large");
    else
    if (strncmp (url, "/api/", 5) == 0 || streq (url, "/api"))
        web_routes_dispatch (req);
    else
    if (streq (url, "/metrics"))
        web_metrics (req);
    else
    if (strncmp (url, "/fhir/", 6) == 0 || streq (url, "/fhir"))
        web_fhir_dispatch (req);
    else
        s_static (req);
    return s_send (req);
}

static void
s_completed (void *cls, struct MHD_Connection *connection, void **con_cls,
             enum MHD_RequestTerminationCode code)
{
    (void) cls; (void) connection; (void) code;
    web_request_t *req = (web_request_t *) *con_cls;
    s_request_destroy (&req);
    *con_cls = NULL;
}

static void
s_mhd_log (void *cls, const char *format, va_list args)
{
    (void) cls;
    char line [512];
    vsnprintf (line, sizeof line, format, args);
    line [strcspn (line, "\n")] = 0;
    dv_log_notice ("http: %s", line);
}


//  --------------------------------------------------------------------------
//  Listening

//  Parse HOST:PORT / [V6]:PORT / unix:/path into addr (or path). Returns
//  0, or -1 with a message.
static int
s_parse_listen (const char *listen, struct sockaddr_storage *addr, char *unix_path, size_t path_size,
                char *error, size_t size)
{
    memset (addr, 0, sizeof *addr);
    *unix_path = 0;
    if (strncmp (listen, "unix:", 5) == 0) {
        const char *path = listen + 5;
        if (path [0] != '/' || strlen (path) >= sizeof ((struct sockaddr_un *) 0)->sun_path
        ||  strlen (path) >= path_size) {
            snprintf (error, size, "'divert-web/listen': unix: needs an absolute path of at most 100 characters");
            return -1;
        }
        snprintf (unix_path, path_size, "%s", path);
        return 0;
    }
    char host [256];
    const char *port_text;
    if (listen [0] == '[') {
        const char *close = strchr (listen, ']');
        if (!close || close [1] != ':' || (size_t) (close - listen - 1) >= sizeof host)
            goto bad;
        snprintf (host, sizeof host, "%.*s", (int) (close - listen - 1), listen + 1);
        port_text = close + 2;
    }
    else {
        const char *colon = strrchr (listen, ':');
        if (!colon || (size_t) (colon - listen) >= sizeof host)
            goto bad;
        snprintf (host, sizeof host, "%.*s", (int) (colon - listen), listen);
        port_text = colon + 1;
    }
    char *end;
    long port = strtol (port_text, &end, 10);
    if (*end || end == port_text || port < 1 || port > 65535)
        goto bad;
    if (streq (host, "localhost"))
        snprintf (host, sizeof host, "127.0.0.1");
    struct sockaddr_in *v4 = (struct sockaddr_in *) addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) addr;
    if (inet_pton (AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons ((uint16_t) port);
        return 0;
    }
    if (inet_pton (AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons ((uint16_t) port);
        return 0;
    }
bad:
    snprintf (error, size, "'divert-web/listen' must be HOST:PORT with a numeric address "
              "(127.0.0.1:8461, [::1]:8461, 0.0.0.0:443) or unix:/path");
    return -1;
}

static bool
s_loopback (const struct sockaddr_storage *addr)
{
    if (addr->ss_family == AF_INET)
        return (ntohl (((const struct sockaddr_in *) addr)->sin_addr.s_addr) >> 24) == 127;
    if (addr->ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK (&((const struct sockaddr_in6 *) addr)->sin6_addr);
    return false;
}

//  A listening Unix socket at path (a stale one is replaced).
static int
s_unix_socket (const char *path, char *error, size_t size)
{
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf (addr.sun_path, sizeof addr.sun_path, "%.*s", (int) sizeof addr.sun_path - 1, path);
    struct stat st;
    if (stat (path, &st) == 0 && S_ISSOCK (st.st_mode))
        unlink (path);
    if (fd < 0 || bind (fd, (struct sockaddr *) &addr, sizeof addr) != 0
    ||  chmod (path, 0666) != 0 || listen (fd, 128) != 0) {
        snprintf (error, size, "%s: cannot listen: %s", path, strerror (errno));
        if (fd >= 0)
            close (fd);
        return -1;
    }
    return fd;
}

//  Read a PEM file named in the config (relative: in the keys directory).
static char *
s_pem (web_t *web, const char *name, char *error, size_t size)
{
    char path [1400];
    if (name [0] == '/')
        snprintf (path, sizeof path, "%s", name);
    else
        web_config_key_path (web->config, name, path, sizeof path);
    zchunk_t *chunk = zchunk_slurp (path, 1024 * 1024);
    if (!chunk) {
        snprintf (error, size, "%s: cannot read the TLS file", path);
        return NULL;
    }
    char *text = calloc (1, zchunk_size (chunk) + 1);
    memcpy (text, zchunk_data (chunk), zchunk_size (chunk));
    zchunk_destroy (&chunk);
    return text;
}

int
web_http_start (web_t *web, char *error, size_t size, bool *config_error)
{
    *config_error = true;
    web->listen_fd = -1;
    struct sockaddr_storage addr;
    char unix_path [256];
    if (s_parse_listen (web->config->listen, &addr, unix_path, sizeof unix_path, error, size))
        return -1;
    web->tls = *web->config->tls_cert != 0;
    if (!web->tls && !*unix_path && !s_loopback (&addr)) {
        snprintf (error, size, "'divert-web/listen' is %s: plain HTTP is served only on a loopback "
                  "address or a unix: socket for a reverse proxy; set tls_cert and tls_key for HTTPS",
                  web->config->listen);
        return -1;
    }
    char *cert = NULL, *key = NULL;
    if (web->tls) {
        if (MHD_is_feature_supported (MHD_FEATURE_TLS) != MHD_YES) {
            snprintf (error, size, "this libmicrohttpd has no TLS support");
            return -1;
        }
        cert = s_pem (web, web->config->tls_cert, error, size);
        key = cert ? s_pem (web, web->config->tls_key, error, size) : NULL;
        if (!key) {
            free (cert);
            return -1;
        }
    }
    *config_error = false;
    if (*unix_path && (web->listen_fd = s_unix_socket (unix_path, error, size)) < 0) {
        free (cert);
        free (key);
        return -1;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
                   | MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_USE_POLL;
    if (web->tls)
        flags |= MHD_USE_TLS;
    if (!*unix_path && addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem options [16];
    int n = 0;
    options [n++] = (struct MHD_OptionItem) { MHD_OPTION_CONNECTION_LIMIT, web->config->max_connections, NULL };
    options [n++] = (struct MHD_OptionItem) { MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL };
    options [n++] = (struct MHD_OptionItem) { MHD_OPTION_CONNECTION_TIMEOUT, 60, NULL };
    options [n++] = (struct MHD_OptionItem) { MHD_OPTION_NOTIFY_COMPLETED, (intptr_t) s_completed, NULL };
    options [n++] = (struct MHD_OptionItem) { MHD_OPTION_EXTERNAL_LOGGER, (intptr_t) s_mhd_log, NULL };
    options [n++] = (struct MHD_OptionItem) { MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL };
    if (*unix_path)
        options [n++] = (struct MHD_OptionItem) { MHD_OPTION_LISTEN_SOCKET, web->listen_fd, NULL };
    else {
        options [n++] = (struct MHD_OptionItem) { MHD_OPTION_SOCK_ADDR, 0, &addr };
        options [n++] = (struct MHD_OptionItem) { MHD_OPTION_PER_IP_CONNECTION_LIMIT, 64, NULL };
    }
    if (web->tls) {
        options [n++] = (struct MHD_OptionItem) { MHD_OPTION_HTTPS_MEM_CERT, 0, cert };
        options [n++] = (struct MHD_OptionItem) { MHD_OPTION_HTTPS_MEM_KEY, 0, key };
        options [n++] = (struct MHD_OptionItem) { MHD_OPTION_HTTPS_PRIORITIES, 0,
                                                   (void *) "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2" };
    }
    options [n++] = (struct MHD_OptionItem) { MHD_OPTION_END, 0, NULL };
    web->daemon = MHD_start_daemon (flags, 0, NULL, NULL, s_access, web,
                                    MHD_OPTION_ARRAY, options, MHD_OPTION_END);
    //  libmicrohttpd reads the PEM text at start (into GnuTLS); the key's
    //  copy here is wiped.
    if (key) {
        sodium_memzero (key, strlen (key));
        free (key);
    }
    free (cert);
    if (!web->daemon) {
        snprintf (error, size, "cannot listen on %s (in use, or not allowed)", web->config->listen);
        if (web->listen_fd >= 0)
            close (web->listen_fd);
        web->listen_fd = -1;
        return -1;
    }
    return 0;
}

void
web_http_stop (web_t *web)
{
    if (!web->daemon)
        return;
    //  No new connections; streams end; requests in flight finish.
    MHD_socket listening = MHD_quiesce_daemon (web->daemon);
    web_events_stop (web->events);
    MHD_stop_daemon (web->daemon);
    web->daemon = NULL;
    if (listening != MHD_INVALID_SOCKET)
        close (listening);
    if (web->listen_fd >= 0)
        unlink (web->config->listen + 5);
    web->listen_fd = -1;
}
