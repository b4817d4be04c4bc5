/*  exposition — Prometheus' text exposition format (version 0.0.4), as
    /metrics (metrics.c) writes it: a family's "# HELP name text" and
    "# TYPE name type" lines, then its samples "name{label="value",...} value",
    one a line, each family's together. Label values are escaped (\\, \",
    \n), HELP text too (\\, \n); numbers are whole numbers in digits or
    the shortest text that reads back the same, or +Inf, -Inf, NaN.
    Histograms come from divertd's snapshots (daemon/metrics.h) and are
    checked before a line is written: rising bounds, cumulative counts that
    never fall, +Inf equal to the count.
    Pure: no database, no HTTP.
*/
#include "web.h"

#include <czmq.h>
#include <math.h>

#define S_LABELS_MAX 8          //  label pairs in one sample (le included)

struct _web_expo_t {
    char *text;
    size_t used, size;
};

web_expo_t *
web_expo_new (void)
{
    web_expo_t *self = calloc (1, sizeof *self);
    assert (self);
    self->size = 4096;
    self->text = calloc (1, self->size);
    assert (self->text);
    return self;
}

void
web_expo_destroy (web_expo_t **self_p)
{
    if (self_p && *self_p) {
        free ((*self_p)->text);
        free (*self_p);
        *self_p = NULL;
    }
}

static void
s_append (web_expo_t *self, const char *data, size_t length)
{
    if (self->used + length + 1 > self->size) {
        while (self->used + length + 1 > self->size)
            self->size *= 2;
        self->text = realloc (self->text, self->size);
        assert (self->text);
    }
    memcpy (self->text + self->used, data, length);
    self->used += length;
    self->text [self->used] = 0;
}

static void
s_puts (web_expo_t *self, const char *text)
{
    s_append (self, text, strlen (text));
}

//  text with backslash and newline escaped, and the double quote too in a
//  label value (in_label).
static void
s_escaped (web_expo_t *self, const char *text, bool in_label)
{
    for (const char *c = text; *c; c++) {
        if (*c == '\\')
            s_puts (self, "\\\\");
        else
        if (*c == '\n')
            s_puts (self, "\\n");
        else
        if (*c == '"' && in_label)
            s_puts (self, "\\\"");
        else
            s_append (self, c, 1);
    }
}

void
web_expo_number (double value, char *text, size_t size)
{
    if (isnan (value))
        snprintf (text, size, "NaN");
    else
    if (isinf (value))
        snprintf (text, size, value > 0 ? "+Inf" : "-Inf");
    else
    if (value == floor (value) && fabs (value) < 1e15)
        snprintf (text, size, "%.0f", value);       //  10, not 1e+01
    else
        for (int precision = 1; precision <= 17; precision++) {
            snprintf (text, size, "%.*g", precision, value);
            if (strtod (text, NULL) == value)
                break;
        }
}

void
web_expo_family (web_expo_t *self, const char *name, const char *type, const char *help)
{
    s_puts (self, "# HELP ");
    s_puts (self, name);
    s_puts (self, " ");
    s_escaped (self, help, false);
    s_puts (self, "\n# TYPE ");
    s_puts (self, name);
    s_puts (self, " ");
    s_puts (self, type);
    s_puts (self, "\n");
}

void
web_expo_sample (web_expo_t *self, const char *name, const char *const *labels, double value)
{
    s_puts (self, name);
    for (size_t i = 0; labels && labels [i]; i += 2) {
        s_puts (self, i == 0 ? "{" : ",");
        s_puts (self, labels [i]);
        s_puts (self, "=\"");
        s_escaped (self, labels [i + 1] ? labels [i + 1] : "", true);
        s_puts (self, "\"");
    }
    if (labels && labels [0])
        s_puts (self, "}");
    char number [40];
    web_expo_number (value, number, sizeof number);
    s_puts (self, " ");
    s_puts (self, number);
    s_puts (self, "\n");
}

//  A count: a whole number >= 0 (JSON integer).
static bool
s_count (json_t *value, json_int_t *count)
{
    *count = json_integer_value (value);
    return json_is_integer (value) && *count >= 0;
}

//  The snapshot holds a histogram: bounds rising and finite, cumulative
//  counts never falling and never above the count, a numeric sum.
static bool
s_valid_histogram (json_t *histogram)
{
    json_t *buckets = json_object_get (histogram, "buckets");
    json_int_t count, previous_count = 0;
    double previous_bound = -INFINITY;
    if (!json_is_array (buckets) || !json_is_number (json_object_get (histogram, "sum"))
    ||  !s_count (json_object_get (histogram, "count"), &count))
        return false;
    size_t index;
    json_t *bucket;
    json_array_foreach (buckets, index, bucket) {
        json_int_t cumulative;
        json_t *bound = json_array_get (bucket, 0);
        if (!json_is_array (bucket) || json_array_size (bucket) != 2 || !json_is_number (bound)
        ||  !isfinite (json_number_value (bound)) || json_number_value (bound) <= previous_bound
        ||  !s_count (json_array_get (bucket, 1), &cumulative) || cumulative < previous_count
        ||  cumulative > count)
            return false;
        previous_bound = json_number_value (bound);
        previous_count = cumulative;
    }
    return true;
}

int
web_expo_histogram (web_expo_t *self, const char *name, const char *const *labels, json_t *histogram)
{
    if (!s_valid_histogram (histogram))
        return -1;
    //  The sample's labels, then le
    const char *with_le [2 * S_LABELS_MAX + 1] = { NULL };
    size_t used = 0;
    for (; labels && labels [used] && used < 2 * (S_LABELS_MAX - 1); used += 2) {
        with_le [used] = labels [used];
        with_le [used + 1] = labels [used + 1];
    }
    char bucket_name [128], bound [40];
    snprintf (bucket_name, sizeof bucket_name, "%s_bucket", name);
    with_le [used] = "le";
    with_le [used + 1] = bound;
    size_t index;
    json_t *bucket;
    json_array_foreach (json_object_get (histogram, "buckets"), index, bucket) {
        web_expo_number (json_number_value (json_array_get (bucket, 0)), bound, sizeof bound);
        web_expo_sample (self, bucket_name, with_le, (double) json_integer_value (json_array_get (bucket, 1)));
    }
    double count = (double) json_integer_value (json_object_get (histogram, "count"));
    snprintf (bound, sizeof bound, "+Inf");
    web_expo_sample (self, bucket_name, with_le, count);
    char other_name [128];
    snprintf (other_name, sizeof other_name, "%s_sum", name);
    web_expo_sample (self, other_name, labels, json_number_value (json_object_get (histogram, "sum")));
    snprintf (other_name, sizeof other_name, "%s_count", name);
    web_expo_sample (self, other_name, labels, count);
    return 0;
}

const char *
web_expo_text (web_expo_t *self)
{
    return self->text;
}
