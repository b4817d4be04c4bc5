/*  util — divertctl's small shared helpers: one-line errors, the option
    parser every command uses, input validation and human formatting.
    (Database helpers are in db.c.)
*/
#include "divertctl.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_vprint (const char *format, va_list args)
{
    char line [1024];
    vsnprintf (line, sizeof line, format, args);
    //  One line, always: fold any newline or tab from a library's message.
    for (char *c = line; *c; c++)
        if (*c == '\n' || *c == '\t' || *c == '\r')
            *c = ' ';
    fprintf (stderr, "divertctl: %s\n", line);
}

int
ctl_fail (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    s_vprint (format, args);
    va_end (args);
    return CTL_FAIL;
}

int
ctl_usage (const char *format, ...)
{
    char line [900];
    va_list args;
    va_start (args, format);
    vsnprintf (line, sizeof line, format, args);
    va_end (args);
    fprintf (stderr, "divertctl: %s (see divertctl --help)\n", line);
    return CTL_USAGE;
}


//  --------------------------------------------------------------------------
//  Options: "--name value", "--name=value", flags; "--" ends options.

static ctl_opt_t *
s_find_opt (ctl_opt_t *opts, const char *name, size_t len)
{
    for (ctl_opt_t *opt = opts; opt && opt->name; opt++)
        if (strlen (opt->name) == len && strncmp (opt->name, name, len) == 0)
            return opt;
    return NULL;
}

static int
s_parse_opt (const char *command, int argc, char **argv, int *index, ctl_opt_t *opts)
{
    const char *arg = argv [*index];
    const char *equals = strchr (arg, '=');
    size_t len = equals ? (size_t) (equals - arg) : strlen (arg);
    ctl_opt_t *opt = s_find_opt (opts, arg, len);
    if (!opt) {
        ctl_usage ("%s: unknown option '%.*s'", command, (int) len, arg);
        return -1;
    }
    if (!opt->has_value) {
        if (equals) {
            ctl_usage ("%s: %s takes no value", command, opt->name);
            return -1;
        }
        opt->value = "";
        return 0;
    }
    if (equals)
        opt->value = equals + 1;
    else
    if (*index + 1 < argc)
        opt->value = argv [++*index];
    else {
        ctl_usage ("%s: %s needs a value", command, opt->name);
        return -1;
    }
    return 0;
}

int
ctl_parse (const char *command, int argc, char **argv, int first,
           ctl_opt_t *opts, const char **pos, int max_pos, int *npos)
{
    *npos = 0;
    bool options_done = false;
    for (int index = first; index < argc; index++) {
        const char *arg = argv [index];
        if (!options_done && strcmp (arg, "--") == 0)
            options_done = true;
        else
        if (!options_done && arg [0] == '-' && arg [1] == '-') {
            if (s_parse_opt (command, argc, argv, &index, opts))
                return -1;
        }
        else
        if (!options_done && arg [0] == '-' && arg [1]) {
            ctl_usage ("%s: unknown option '%s'", command, arg);
            return -1;
        }
        else {
            if (*npos >= max_pos) {
                ctl_usage ("%s: unexpected argument '%s'", command, arg);
                return -1;
            }
            pos [(*npos)++] = arg;
        }
    }
    return 0;
}

const char *
ctl_opt (const ctl_opt_t *opts, const char *name)
{
    for (const ctl_opt_t *opt = opts; opt && opt->name; opt++)
        if (strcmp (opt->name, name) == 0)
            return opt->value;
    return NULL;
}


//  --------------------------------------------------------------------------
//  Validation

int64_t
ctl_number (const char *text, int64_t min, int64_t max)
{
    if (!text || !isdigit ((unsigned char) *text))
        return -1;
    errno = 0;
    char *end;
    long long value = strtoll (text, &end, 10);
    if (errno || *end || value < min || value > max)
        return -1;
    return value;
}

bool
ctl_valid_id (const char *text, size_t max_len, const char *extra, bool lowercase_only)
{
    size_t len = text ? strlen (text) : 0;
    if (len == 0 || len > max_len || !isalnum ((unsigned char) text [0]))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) text [i];
        bool fits = (c < 128 && isalnum (c)) || (i > 0 && strchr (extra, c));
        if (!fits || (lowercase_only && isupper (c)))
            return false;
    }
    return true;
}

bool
ctl_valid_z85_key (const char *text)
{
    static const char *alphabet =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    if (!text || strlen (text) != 40)
        return false;
    for (const char *c = text; *c; c++)
        if (!strchr (alphabet, *c))
            return false;
    return true;
}


//  --------------------------------------------------------------------------
//  Formatting

int
ctl_print_json (json_t *json)
{
    char *text = json_dumps (json, JSON_INDENT (2) | JSON_REAL_PRECISION (10));
    if (text) {
        puts (text);
        free (text);
    }
    json_decref (json);
    return text ? CTL_OK : ctl_fail ("out of memory");
}

void
ctl_format_age (int64_t seconds, char *buffer, size_t size)
{
    if (seconds < 0)
        seconds = 0;
    int64_t days = seconds / 86400, hours = seconds % 86400 / 3600;
    int64_t minutes = seconds % 3600 / 60;
    if (days > 0)
        snprintf (buffer, size, "%lldd %lldh", (long long) days, (long long) hours);
    else
    if (hours > 0)
        snprintf (buffer, size, "%lldh %lldm", (long long) hours, (long long) minutes);
    else
    if (minutes > 0)
        snprintf (buffer, size, "%lldm", (long long) minutes);
    else
        snprintf (buffer, size, "%llds", (long long) seconds);
}

void
ctl_join (json_t *array, const char *empty, char *buffer, size_t size)
{
    size_t used = 0;
    buffer [0] = 0;
    size_t index;
    json_t *item;
    json_array_foreach (array, index, item) {
        int wrote = snprintf (buffer + used, size - used, "%s%s",
                              index ? ", " : "", json_string_value (item) ? json_string_value (item) : "");
        if (wrote < 0 || (size_t) wrote >= size - used)
            break;
        used += (size_t) wrote;
    }
    if (used == 0)
        snprintf (buffer, size, "%s", empty);
}

int
ctl_int_or (json_t *object, const char *key, int fallback)
{
    json_t *value = json_object_get (object, key);
    if (json_is_integer (value))
        return (int) json_integer_value (value);
    if (json_is_real (value))
        return (int) json_real_value (value);
    return fallback;
}

int
ctl_int (json_t *object, const char *key)
{
    return ctl_int_or (object, key, 0);
}

const char *
ctl_str (json_t *object, const char *key)
{
    return json_string_value (json_object_get (object, key));
}
