/*  dv_config — divertd's ZPL config file and durations. See dv_config.h. */
#include "dv_config.h"
#include "dv_log.h"
#include "dv_zpl.h"
#include <czmq.h>
#include <errno.h>
#include <limits.h>

void
dv_config_defaults (dv_config_t *config)
{
    memset (config, 0, sizeof *config);
    snprintf (config->intake, sizeof config->intake, "tcp://*:7461");
    snprintf (config->decisions, sizeof config->decisions, "tcp://*:7462");
    snprintf (config->server_cert, sizeof config->server_cert, "/etc/divert/server.cert");
    config->max_message_size = 65536;
    config->waitlist_recheck_ms = 60000;
    config->metrics_interval_ms = 10000;
    config->batch_max = 256;
    config->queue_max = 10000;
    snprintf (config->log, sizeof config->log, "auto");
    snprintf (config->log_level, sizeof config->log_level, "info");
    snprintf (config->purge, sizeof config->purge, "off");
}

int64_t
dv_duration_parse (const char *text)
{
    if (!text || !isdigit ((unsigned char) *text))
        return -1;
    errno = 0;
    char *end;
    long long value = strtoll (text, &end, 10);
    if (errno || value < 0)
        return -1;
    struct { const char *unit; int64_t msecs; } units [] = {
        { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 }
    };
    for (size_t i = 0; i < sizeof units / sizeof units [0]; i++)
        if (strcmp (end, units [i].unit) == 0) {
            if (value > INT64_MAX / units [i].msecs)
                return -1;
            return value * units [i].msecs;
        }
    return -1;
}

void
dv_duration_format (int64_t msecs, char *buffer, size_t size)
{
    if (msecs > 0 && msecs % 86400000 == 0)
        snprintf (buffer, size, "%lldd", (long long) (msecs / 86400000));
    else
    if (msecs > 0 && msecs % 3600000 == 0)
        snprintf (buffer, size, "%lldh", (long long) (msecs / 3600000));
    else
    if (msecs > 0 && msecs % 60000 == 0)
        snprintf (buffer, size, "%lldm", (long long) (msecs / 60000));
    else
    if (msecs % 1000 == 0)
        snprintf (buffer, size, "%llds", (long long) (msecs / 1000));
    else
        snprintf (buffer, size, "%lldms", (long long) msecs);
}

//  Every key the file may hold; anything else is a mistake worth refusing.
static const char *s_known [] = {
    "divertd", "divertd/intake", "divertd/decisions", "divertd/server_cert",
    "divertd/max_message_size", "divertd/waitlist_recheck", "divertd/batch_max",
    "divertd/queue_max", "divertd/log", "divertd/log_level", "divertd/purge", "divertd/metrics_interval",
    "database", "database/conninfo",
    NULL
};

static int
s_load_values (dv_config_t *c, zconfig_t *root, char *e, size_t es)
{
    if (dv_zpl_copy (root, "divertd/intake", c->intake, sizeof c->intake, e, es)
    ||  dv_zpl_copy (root, "divertd/decisions", c->decisions, sizeof c->decisions, e, es)
    ||  dv_zpl_copy (root, "divertd/server_cert", c->server_cert, sizeof c->server_cert, e, es)
    ||  dv_zpl_copy (root, "divertd/log", c->log, sizeof c->log, e, es)
    ||  dv_zpl_copy (root, "divertd/log_level", c->log_level, sizeof c->log_level, e, es)
    ||  dv_zpl_copy (root, "divertd/purge", c->purge, sizeof c->purge, e, es)
    ||  dv_zpl_copy (root, "database/conninfo", c->conninfo, sizeof c->conninfo, e, es)
    ||  dv_zpl_integer (root, "divertd/max_message_size", 1024, 16 * 1024 * 1024, &c->max_message_size, e, es)
    ||  dv_zpl_integer (root, "divertd/batch_max", 1, 10000, &c->batch_max, e, es)
    ||  dv_zpl_integer (root, "divertd/queue_max", 1, 1000000, &c->queue_max, e, es))
        return -1;
    const char *recheck = zconfig_get (root, "divertd/waitlist_recheck", NULL);
    if (recheck) {
        c->waitlist_recheck_ms = dv_duration_parse (recheck);
        if (c->waitlist_recheck_ms < 100) {
            snprintf (e, es, "'divertd/waitlist_recheck' must be a duration of at least 100ms, like 60s");
            return -1;
        }
    }
    const char *metrics = zconfig_get (root, "divertd/metrics_interval", NULL);
    if (metrics) {
        c->metrics_interval_ms = dv_duration_parse (metrics);
        if (c->metrics_interval_ms < 1000 || c->metrics_interval_ms > 3600000) {
            snprintf (e, es, "'divertd/metrics_interval' must be a duration from 1s to 1h, like 10s");
            return -1;
        }
    }
    if (!dv_log_mode_known (c->log)) {
        snprintf (e, es, "'divertd/log' must be auto, journal or stderr");
        return -1;
    }
    if (dv_log_level (c->log_level) < 0) {
        snprintf (e, es, "'divertd/log_level' must be debug, info, notice or warning");
        return -1;
    }
    if (strcmp (c->purge, "off") && strcmp (c->purge, "daily")) {
        snprintf (e, es, "'divertd/purge' must be off or daily");
        return -1;
    }
    return 0;
}

//  Check and apply a parsed tree over *config; `source` names the file (or
//  "config text") in the message. Destroys the tree.
static int
s_apply (dv_config_t *config, zconfig_t **root_p, const char *source,
         char *error, size_t error_size)
{
    char problem [512] = "";
    dv_config_t loaded = *config;
    int rc = dv_zpl_check_keys (*root_p, "", s_known, problem, sizeof problem);
    if (rc == 0)
        rc = s_load_values (&loaded, *root_p, problem, sizeof problem);
    zconfig_destroy (root_p);
    if (rc) {
        snprintf (error, error_size, "%s: %s", source, problem);
        return -1;
    }
    *config = loaded;
    return 0;
}

int
dv_config_load (dv_config_t *config, const char *path, char *error, size_t error_size)
{
    if (!zsys_file_exists (path)) {
        snprintf (error, error_size, "%s: cannot read the config file", path);
        return -1;
    }
    zconfig_t *root = zconfig_load (path);
    if (!root) {
        snprintf (error, error_size, "%s: not a valid ZPL config file (check indentation: 4 spaces per level)", path);
        return -1;
    }
    return s_apply (config, &root, path, error, error_size);
}

int
dv_config_load_string (dv_config_t *config, const char *text, char *error, size_t error_size)
{
    zconfig_t *root = text? zconfig_str_load (text): NULL;
    if (!root) {
        snprintf (error, error_size, "config text: not valid ZPL (check indentation: 4 spaces per level)");
        return -1;
    }
    return s_apply (config, &root, "config text", error, error_size);
}
