/*  fuzz_config — libFuzzer target over divertd's config parser.

    One input is the text of a config file (ZPL). It goes through
    dv_config_load_string() (CZMQ's zconfig, then our key and value checks)
    over the defaults, and the checks below abort when a promise breaks:
    - failure leaves the config untouched and gives a one-line message;
    - success gives values inside their documented ranges and sets;
    - every string field is NUL-terminated inside its buffer;
    - every setting the file holds is applied: walking zconfig's own tree of
      the same text, each key with a value must be a known setting whose
      value is in the result (nothing is silently ignored).
    zconfig prints each syntax error to stdout; run.sh closes the target's
    stdout (-close_fd_mask=1) so that libFuzzer's own output stays readable.
    The first line of the input is also tried as a duration: when
    dv_duration_parse() accepts it, dv_duration_format() must give text that
    parses back to the same number of milliseconds.
    Built and run by tests/fuzz/run.sh.
*/
#include "dv_config.h"

#include <czmq.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) \
    do { if (!(cond)) { \
        fprintf (stderr, "fuzz_config: check failed at line %d: %s\n", __LINE__, #cond); \
        abort (); } } while (0)

#define TERMINATED(field) (memchr ((field), '\0', sizeof (field)) != NULL)

static void
s_check_duration (const uint8_t *data, size_t size)
{
    size_t length = 0;
    while (length < size && length < 64 && data [length] != '\n')
        length++;
    char text [65];
    memcpy (text, data, length);
    text [length] = '\0';
    int64_t msecs = dv_duration_parse (text);
    CHECK (msecs >= -1);
    if (msecs >= 0) {
        char formatted [32];
        dv_duration_format (msecs, formatted, sizeof formatted);
        CHECK (dv_duration_parse (formatted) == msecs);
    }
}

//  The setting at `path` in config, as text to compare with the file's value
static bool
s_applied (const dv_config_t *config, const char *path, const char *value)
{
    if (streq (path, "divertd/intake"))      return streq (config->intake, value);
    if (streq (path, "divertd/decisions"))   return streq (config->decisions, value);
    if (streq (path, "divertd/server_cert")) return streq (config->server_cert, value);
    if (streq (path, "divertd/log"))         return streq (config->log, value);
    if (streq (path, "divertd/log_level"))   return streq (config->log_level, value);
    if (streq (path, "divertd/purge"))       return streq (config->purge, value);
    if (streq (path, "database/conninfo"))   return streq (config->conninfo, value);
    if (streq (path, "divertd/waitlist_recheck"))
        return dv_duration_parse (value) == config->waitlist_recheck_ms;
    if (streq (path, "divertd/metrics_interval"))
        return dv_duration_parse (value) == config->metrics_interval_ms;
    long number = strtol (value, NULL, 10);
    if (streq (path, "divertd/max_message_size")) return number == config->max_message_size;
    if (streq (path, "divertd/batch_max"))        return number == config->batch_max;
    if (streq (path, "divertd/queue_max"))        return number == config->queue_max;
    //  Sections: a value on "divertd" or "database" itself means nothing
    return streq (path, "divertd") || streq (path, "database");
}

static void
s_check_applied (const dv_config_t *config, zconfig_t *node, const char *prefix)
{
    for (zconfig_t *child = zconfig_child (node); child; child = zconfig_next (child)) {
        char *path = *prefix? zsys_sprintf ("%s/%s", prefix, zconfig_name (child))
                            : strdup (zconfig_name (child));
        CHECK (path);
        const char *value = zconfig_value (child);
        if (value && !zconfig_child (child) && !s_applied (config, path, value)) {
            fprintf (stderr, "fuzz_config: setting '%s' was accepted but not applied\n", path);
            abort ();
        }
        s_check_applied (config, child, path);
        free (path);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_check_duration (data, size);

    //  zconfig reads C text: the input up to its first NUL
    char *text = malloc (size + 1);
    CHECK (text);
    memcpy (text, data, size);
    text [size] = '\0';

    dv_config_t config, defaults;
    dv_config_defaults (&config);
    dv_config_defaults (&defaults);
    char error [300];
    memset (error, 'x', sizeof error);
    int rc = dv_config_load_string (&config, text, error, sizeof error);
    CHECK (rc == 0 || rc == -1);
    if (rc) {
        CHECK (memcmp (&config, &defaults, sizeof config) == 0);
        CHECK (TERMINATED (error) && strlen (error) > 0 && !strchr (error, '\n'));
    }
    else {
        CHECK (TERMINATED (config.intake) && TERMINATED (config.decisions));
        CHECK (TERMINATED (config.server_cert) && TERMINATED (config.conninfo));
        CHECK (TERMINATED (config.log) && TERMINATED (config.log_level) && TERMINATED (config.purge));
        CHECK (!strcmp (config.purge, "off") || !strcmp (config.purge, "daily"));
        CHECK (config.max_message_size >= 1024 && config.max_message_size <= 16 * 1024 * 1024);
        CHECK (config.batch_max >= 1 && config.batch_max <= 10000);
        CHECK (config.queue_max >= 1 && config.queue_max <= 1000000);
        CHECK (config.waitlist_recheck_ms >= 100);
        CHECK (config.metrics_interval_ms >= 1000 && config.metrics_interval_ms <= 3600000);
        CHECK (!strcmp (config.log, "auto") || !strcmp (config.log, "journal")
            || !strcmp (config.log, "stderr"));
        CHECK (!strcmp (config.log_level, "debug") || !strcmp (config.log_level, "info")
            || !strcmp (config.log_level, "notice") || !strcmp (config.log_level, "warning"));
        zconfig_t *tree = zconfig_str_load (text);
        CHECK (tree);
        s_check_applied (&config, tree, "");
        zconfig_destroy (&tree);
        //  Loading the same text again over the result changes nothing
        dv_config_t again = config;
        CHECK (dv_config_load_string (&again, text, error, sizeof error) == 0);
        CHECK (memcmp (&again, &config, sizeof config) == 0);
    }
    free (text);
    return 0;
}
