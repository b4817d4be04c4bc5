/*  metrics — divertd's process counters. See metrics.h. */
#include "metrics.h"
#include <czmq.h>
#include <jansson.h>
#include <time.h>

//  Upper bounds (le) of the histograms' buckets; +Inf is implied.
static const double s_latency_bounds [] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};
static const double s_batch_bounds [] = {
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192
};
#define S_BUCKETS_MAX 16

typedef struct {
    const double *bounds;
    size_t bound_count;
    uint64_t in_bucket [S_BUCKETS_MAX];     //  observations <= bounds [i] and > bounds [i - 1]
    uint64_t count;                         //  every observation (the +Inf bucket)
    double sum;
} s_histogram_t;

struct _dv_metrics_t {
    json_t *decisions;                      //  {"accept": {"accepted": n}}
    json_t *enrollment_changes;             //  {"assigned": n}
    s_histogram_t latency;
    s_histogram_t batch;
};

dv_metrics_t *
dv_metrics_new (void)
{
    dv_metrics_t *self = calloc (1, sizeof *self);
    assert (self);
    self->decisions = json_object ();
    self->enrollment_changes = json_object ();
    self->latency.bounds = s_latency_bounds;
    self->latency.bound_count = sizeof s_latency_bounds / sizeof s_latency_bounds [0];
    self->batch.bounds = s_batch_bounds;
    self->batch.bound_count = sizeof s_batch_bounds / sizeof s_batch_bounds [0];
    assert (self->latency.bound_count <= S_BUCKETS_MAX && self->batch.bound_count <= S_BUCKETS_MAX);
    return self;
}

void
dv_metrics_destroy (dv_metrics_t **self_p)
{
    if (self_p && *self_p) {
        dv_metrics_t *self = *self_p;
        json_decref (self->decisions);
        json_decref (self->enrollment_changes);
        free (self);
        *self_p = NULL;
    }
}

//  counts [key] += 1
static void
s_count (json_t *counts, const char *key)
{
    json_t *count = json_object_get (counts, key);
    if (count)
        json_integer_set (count, json_integer_value (count) + 1);
    else
        json_object_set_new (counts, key, json_integer (1));
}

void
dv_metrics_decision (dv_metrics_t *self, const char *decision, const char *reason)
{
    decision = decision && *decision ? decision : "unknown";
    json_t *reasons = json_object_get (self->decisions, decision);
    if (!reasons) {
        reasons = json_object ();
        json_object_set_new (self->decisions, decision, reasons);
    }
    s_count (reasons, reason && *reason ? reason : "unknown");
}

void
dv_metrics_enrollment_change (dv_metrics_t *self, const char *change)
{
    s_count (self->enrollment_changes, change && *change ? change : "unknown");
}

static void
s_observe (s_histogram_t *histogram, double value)
{
    for (size_t i = 0; i < histogram->bound_count; i++)
        if (value <= histogram->bounds [i]) {
            histogram->in_bucket [i]++;
            break;
        }
    histogram->count++;
    histogram->sum += value;
}

void
dv_metrics_latency (dv_metrics_t *self, double seconds)
{
    s_observe (&self->latency, seconds < 0 ? 0 : seconds);
}

void
dv_metrics_batch (dv_metrics_t *self, size_t size)
{
    s_observe (&self->batch, (double) size);
}

static json_t *
s_histogram_json (const s_histogram_t *histogram, bool whole_sum)
{
    json_t *buckets = json_array ();
    uint64_t cumulative = 0;
    for (size_t i = 0; i < histogram->bound_count; i++) {
        cumulative += histogram->in_bucket [i];
        json_array_append_new (buckets, json_pack ("[f, I]", histogram->bounds [i], (json_int_t) cumulative));
    }
    return json_pack ("{s:o, s:o, s:I}", "buckets", buckets,
                      "sum", whole_sum ? json_integer ((json_int_t) histogram->sum) : json_real (histogram->sum),
                      "count", (json_int_t) histogram->count);
}

char *
dv_metrics_snapshot (dv_metrics_t *self)
{
    json_t *snapshot = json_pack ("{s:O, s:O, s:o, s:o}",
        "decisions", self->decisions, "enrollment_changes", self->enrollment_changes,
        "decision_latency_seconds", s_histogram_json (&self->latency, false),
        "batch_size", s_histogram_json (&self->batch, true));
    char *text = json_dumps (snapshot, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref (snapshot);
    return text;
}

int64_t
dv_metrics_now_us (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000000 + now.tv_nsec / 1000;
}
