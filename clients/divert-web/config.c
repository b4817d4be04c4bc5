/*  config — divert-web's configuration file (ZPL, like divertd's; see
    divert-web(8) and deploy/divert-web.conf). A misspelt or repeated key is
    refused, never ignored; every value is checked here, so a bad file stops
    divert-web at start with one line naming the key (exit 78).

    Several divertd on one database: `divert/intake` and `divert/decisions`
    are comma-separated lists with one endpoint per daemon, paired by
    position (the Nth intake and the Nth decisions endpoint are one
    daemon's), checked with the client library's rules (dv_client.h: no
    empty entry, at most DV_CLIENT_ENDPOINTS_MAX) and each entry's form.
*/
#include "web.h"
#include "dv_config.h"
#include "dv_log.h"
#include "dv_zpl.h"
#include "dv_client.h"

#include <czmq.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>

void
web_config_defaults (web_config_t *c)
{
    memset (c, 0, sizeof *c);
    snprintf (c->listen, sizeof c->listen, "127.0.0.1:8461");
    snprintf (c->static_dir, sizeof c->static_dir, "/usr/share/divert/web");
    c->session_idle_ms = 30 * 60000;
    c->session_max_ms = 12 * 3600000;
    c->login_user_failures = 5;
    c->login_address_failures = 20;
    c->login_window_ms = 15 * 60000;
    c->login_lockout_ms = 5 * 60000;
    c->max_body = 65536;
    c->max_connections = 256;
    c->db_connections = 4;
    snprintf (c->log, sizeof c->log, "auto");
    snprintf (c->log_level, sizeof c->log_level, "info");
    snprintf (c->metrics, sizeof c->metrics, "loopback");
    snprintf (c->intake, sizeof c->intake, "tcp://127.0.0.1:7461");
    snprintf (c->decisions, sizeof c->decisions, "tcp://127.0.0.1:7462");
    snprintf (c->keys, sizeof c->keys, "/etc/divert/web");
    snprintf (c->monitor_cert, sizeof c->monitor_cert, "monitor.cert");
    snprintf (c->cms_cert, sizeof c->cms_cert, "cms.cert");
    c->divert_timeout_ms = 5000;
    c->daemons = 1;
}

static const char *s_known [] = {
    "divert-web", "divert-web/listen", "divert-web/tls_cert", "divert-web/tls_key",
    "divert-web/static_dir", "divert-web/trusted_proxy", "divert-web/session_idle",
    "divert-web/session_max", "divert-web/login_user_failures", "divert-web/login_address_failures",
    "divert-web/login_window", "divert-web/login_lockout", "divert-web/max_body",
    "divert-web/max_connections", "divert-web/db_connections", "divert-web/log", "divert-web/log_level",
    "divert-web/metrics",
    "divert", "divert/intake", "divert/decisions", "divert/keys", "divert/monitor_cert",
    "divert/cms_cert", "divert/timeout",
    "database", "database/conninfo",
    NULL
};

static int
s_duration (zconfig_t *root, const char *path, int64_t low, int64_t *target, char *error, size_t esize)
{
    const char *value = zconfig_get (root, path, NULL);
    if (!value)
        return 0;
    int64_t msecs = dv_duration_parse (value);
    if (msecs < low || msecs > (int64_t) 366 * 86400000) {
        char minimum [32];
        dv_duration_format (low, minimum, sizeof minimum);
        snprintf (error, esize, "'%s' must be a duration of at least %s and at most 366d, like 30m", path, minimum);
        return -1;
    }
    *target = msecs;
    return 0;
}

static int
s_boolean (zconfig_t *root, const char *path, bool *target, char *error, size_t esize)
{
    const char *value = zconfig_get (root, path, NULL);
    if (!value)
        return 0;
    if (streq (value, "true") || streq (value, "yes") || streq (value, "1"))
        *target = true;
    else
    if (streq (value, "false") || streq (value, "no") || streq (value, "0"))
        *target = false;
    else {
        snprintf (error, esize, "'%s' must be true or false", path);
        return -1;
    }
    return 0;
}

//  A key file name: no directory parts.
static bool
s_plain_name (const char *name)
{
    return *name && !strchr (name, '/') && !streq (name, ".") && !streq (name, "..");
}

//  Entry `index` of a comma-separated endpoint list, spaces around it
//  trimmed, into endpoint; false when there is no such entry (or it is
//  too long for endpoint).
bool
web_config_endpoint (const char *list, int index, char *endpoint, size_t size)
{
    const char *start = list;
    for (int i = 0; i < index && start; i++) {
        start = strchr (start, ',');
        if (start)
            start++;
    }
    if (!start || !size)
        return false;
    const char *end = strchr (start, ',');
    if (!end)
        end = start + strlen (start);
    while (start < end && isspace ((unsigned char) *start))
        start++;
    while (end > start && isspace ((unsigned char) end [-1]))
        end--;
    if ((size_t) (end - start) >= size)
        return false;
    memcpy (endpoint, start, (size_t) (end - start));
    endpoint [end - start] = 0;
    return true;
}

//  An endpoint a client can connect to: tcp://HOST:PORT (a name, an IPv4
//  address or [IPv6]; PORT 1..65535) or ipc://PATH.
static bool
s_endpoint_valid (const char *endpoint)
{
    if (strncmp (endpoint, "ipc://", 6) == 0)
        return endpoint [6] != 0 && !strpbrk (endpoint, " \t");
    if (strncmp (endpoint, "tcp://", 6) != 0)
        return false;
    const char *host = endpoint + 6;
    const char *colon = strrchr (host, ':');
    if (!colon || colon == host || strpbrk (host, " \t*"))
        return false;
    if (*host == '[' && colon [-1] != ']')
        return false;
    char *end;
    errno = 0;
    long port = strtol (colon + 1, &end, 10);
    return !errno && *end == 0 && isdigit ((unsigned char) colon [1]) && port >= 1 && port <= 65535;
}

//  Check one endpoint list (path names its key); its entries in *count.
static int
s_endpoint_list (const char *path, const char *list, int *count, char *error, size_t size)
{
    int entries = 1;
    for (const char *p = list; *p; p++)
        entries += *p == ',';
    if (entries > DV_CLIENT_ENDPOINTS_MAX) {
        snprintf (error, size, "'%s' names %d endpoints; at most %d daemons are served",
                  path, entries, DV_CLIENT_ENDPOINTS_MAX);
        return -1;
    }
    for (int i = 0; i < entries; i++) {
        char endpoint [256];
        if (!web_config_endpoint (list, i, endpoint, sizeof endpoint)) {
            snprintf (error, size, "'%s': endpoint %d of %d is too long", path, i + 1, entries);
            return -1;
        }
        if (!*endpoint) {
            snprintf (error, size, "'%s': endpoint %d of %d is empty (the list is separated by commas)",
                      path, i + 1, entries);
            return -1;
        }
        if (!s_endpoint_valid (endpoint)) {
            snprintf (error, size, "'%s': endpoint %d of %d, \"%.100s\", is not tcp://HOST:PORT or ipc://PATH",
                      path, i + 1, entries, endpoint);
            return -1;
        }
    }
    *count = entries;
    return 0;
}

//  The daemons: as many intake endpoints as decisions endpoints, in pairs.
static int
s_daemons (web_config_t *c, char *e, size_t es)
{
    int intakes, decisions;
    if (s_endpoint_list ("divert/intake", c->intake, &intakes, e, es)
    ||  s_endpoint_list ("divert/decisions", c->decisions, &decisions, e, es))
        return -1;
    if (intakes != decisions) {
        snprintf (e, es, "'divert/intake' names %d endpoint%s and 'divert/decisions' %d: give each daemon's"
                         " intake and decisions endpoints, in the same order", intakes, intakes == 1 ? "" : "s",
                  decisions);
        return -1;
    }
    c->daemons = intakes;
    return 0;
}

static int
s_load_values (web_config_t *c, zconfig_t *root, char *e, size_t es)
{
    if (dv_zpl_copy (root, "divert-web/listen", c->listen, sizeof c->listen, e, es)
    ||  dv_zpl_copy (root, "divert-web/tls_cert", c->tls_cert, sizeof c->tls_cert, e, es)
    ||  dv_zpl_copy (root, "divert-web/tls_key", c->tls_key, sizeof c->tls_key, e, es)
    ||  dv_zpl_copy (root, "divert-web/static_dir", c->static_dir, sizeof c->static_dir, e, es)
    ||  s_boolean (root, "divert-web/trusted_proxy", &c->trusted_proxy, e, es)
    ||  s_duration (root, "divert-web/session_idle", 1000, &c->session_idle_ms, e, es)
    ||  s_duration (root, "divert-web/session_max", 1000, &c->session_max_ms, e, es)
    ||  dv_zpl_integer (root, "divert-web/login_user_failures", 1, 1000, &c->login_user_failures, e, es)
    ||  dv_zpl_integer (root, "divert-web/login_address_failures", 1, 100000, &c->login_address_failures, e, es)
    ||  s_duration (root, "divert-web/login_window", 1000, &c->login_window_ms, e, es)
    ||  s_duration (root, "divert-web/login_lockout", 1000, &c->login_lockout_ms, e, es)
    ||  dv_zpl_integer (root, "divert-web/max_body", 1024, 1024 * 1024, &c->max_body, e, es)
    ||  dv_zpl_integer (root, "divert-web/max_connections", 4, 10000, &c->max_connections, e, es)
    ||  dv_zpl_integer (root, "divert-web/db_connections", 1, 64, &c->db_connections, e, es)
    ||  dv_zpl_copy (root, "divert-web/log", c->log, sizeof c->log, e, es)
    ||  dv_zpl_copy (root, "divert-web/log_level", c->log_level, sizeof c->log_level, e, es)
    ||  dv_zpl_copy (root, "divert-web/metrics", c->metrics, sizeof c->metrics, e, es)
    ||  dv_zpl_copy (root, "divert/intake", c->intake, sizeof c->intake, e, es)
    ||  dv_zpl_copy (root, "divert/decisions", c->decisions, sizeof c->decisions, e, es)
    ||  dv_zpl_copy (root, "divert/keys", c->keys, sizeof c->keys, e, es)
    ||  dv_zpl_copy (root, "divert/monitor_cert", c->monitor_cert, sizeof c->monitor_cert, e, es)
    ||  dv_zpl_copy (root, "divert/cms_cert", c->cms_cert, sizeof c->cms_cert, e, es)
    ||  s_duration (root, "divert/timeout", 100, &c->divert_timeout_ms, e, es)
    ||  dv_zpl_copy (root, "database/conninfo", c->conninfo, sizeof c->conninfo, e, es))
        return -1;
    if (!dv_log_mode_known (c->log)) {
        snprintf (e, es, "'divert-web/log' must be auto, journal or stderr");
        return -1;
    }
    if (dv_log_level (c->log_level) < 0) {
        snprintf (e, es, "'divert-web/log_level' must be debug, info, notice or warning");
        return -1;
    }
    if (!streq (c->metrics, "loopback") && !streq (c->metrics, "login") && !streq (c->metrics, "off")) {
        snprintf (e, es, "'divert-web/metrics' must be loopback, login or off");
        return -1;
    }
    if ((*c->tls_cert != 0) != (*c->tls_key != 0)) {
        snprintf (e, es, "'divert-web/tls_cert' and 'divert-web/tls_key' go together: give both or neither");
        return -1;
    }
    if (c->session_max_ms < c->session_idle_ms) {
        snprintf (e, es, "'divert-web/session_max' must not be shorter than 'divert-web/session_idle'");
        return -1;
    }
    if (!s_plain_name (c->monitor_cert) || (*c->cms_cert && !s_plain_name (c->cms_cert))) {
        snprintf (e, es, "'divert/monitor_cert' and 'divert/cms_cert' are file names in 'divert/keys', without '/'");
        return -1;
    }
    if (!*c->keys || !*c->static_dir || !*c->intake || !*c->decisions) {
        snprintf (e, es, "'divert/keys', 'divert/intake', 'divert/decisions' and 'divert-web/static_dir' must not be empty");
        return -1;
    }
    return s_daemons (c, e, es);
}

int
web_config_load (web_config_t *config, const char *path, char *error, size_t size)
{
    if (!zsys_file_exists (path)) {
        snprintf (error, size, "%s: cannot read the config file", path);
        return -1;
    }
    zchunk_t *chunk = zchunk_slurp (path, 1024 * 1024);
    zconfig_t *root = chunk ? zconfig_chunk_load (chunk) : NULL;
    zchunk_destroy (&chunk);
    if (!root) {
        snprintf (error, size, "%s: not a valid ZPL config file (check indentation: 4 spaces per level)", path);
        return -1;
    }
    char problem [512] = "";
    web_config_t loaded = *config;
    int rc = dv_zpl_check_keys (root, "", s_known, problem, sizeof problem);
    if (rc == 0)
        rc = s_load_values (&loaded, root, problem, sizeof problem);
    zconfig_destroy (&root);
    if (rc) {
        snprintf (error, size, "%s: %s", path, problem);
        return -1;
    }
    *config = loaded;
    return 0;
}

void
web_config_key_path (const web_config_t *config, const char *name, char *path, size_t size)
{
    const char *credentials = getenv ("CREDENTIALS_DIRECTORY");
    if (config->keys [0] != '/' && credentials && *credentials)
        snprintf (path, size, "%s/%s_%s", credentials, config->keys, name);
    else
        snprintf (path, size, "%s/%s", config->keys, name);
}
