/*  test_metrics — the pure parts of the Prometheus metrics: divertd's
    process counters (daemon/metrics.c: histogram buckets at their bounds,
    the snapshot's cumulative counts, sum and count, counters by label) and
    divert-web's text exposition (clients/divert-web/exposition.c: escaping
    of label values and HELP text, numbers, histograms from a snapshot and
    the refusal of snapshots that are not histograms).
*/
#include "metrics.h"
#include "web.h"
#include "testlib.h"

#include <czmq.h>
#include <math.h>

static json_t *
s_snapshot (dv_metrics_t *metrics)
{
    char *text = dv_metrics_snapshot (metrics);
    json_t *snapshot = text ? json_loads (text, 0, NULL) : NULL;
    free (text);
    return snapshot;
}

//  The cumulative count of the bucket with upper bound `le`, or -1.
static long long
s_bucket (json_t *histogram, double le)
{
    size_t index;
    json_t *bucket;
    json_array_foreach (json_object_get (histogram, "buckets"), index, bucket)
        if (json_number_value (json_array_get (bucket, 0)) == le)
            return (long long) json_integer_value (json_array_get (bucket, 1));
    return -1;
}

TEST (latency_buckets_at_their_bounds)
{
    dv_metrics_t *metrics = dv_metrics_new ();
    dv_metrics_latency (metrics, 0.001);        //  le is inclusive: the first bucket
    dv_metrics_latency (metrics, 0.0010001);    //  the next one
    dv_metrics_latency (metrics, 0.0);
    dv_metrics_latency (metrics, -1);           //  a clock step back counts as 0
    dv_metrics_latency (metrics, 10);           //  the last bound
    dv_metrics_latency (metrics, 11);           //  beyond every bound: +Inf only
    json_t *snapshot = s_snapshot (metrics);
    json_t *latency = json_object_get (snapshot, "decision_latency_seconds");
    CHECK_INT (s_bucket (latency, 0.001), 3);
    CHECK_INT (s_bucket (latency, 0.0025), 4);
    CHECK_INT (s_bucket (latency, 5), 4);
    CHECK_INT (s_bucket (latency, 10), 5);
    CHECK_INT (json_integer_value (json_object_get (latency, "count")), 6);
    CHECKF (fabs (json_number_value (json_object_get (latency, "sum")) - 21.0020001) < 1e-9, "sum %g",
            json_number_value (json_object_get (latency, "sum")));
    //  Bounds rise, counts never fall
    double previous_bound = -1;
    long long previous_count = 0;
    size_t index;
    json_t *bucket;
    json_array_foreach (json_object_get (latency, "buckets"), index, bucket) {
        CHECK (json_number_value (json_array_get (bucket, 0)) > previous_bound);
        CHECK (json_integer_value (json_array_get (bucket, 1)) >= previous_count);
        previous_bound = json_number_value (json_array_get (bucket, 0));
        previous_count = json_integer_value (json_array_get (bucket, 1));
    }
    json_decref (snapshot);
    dv_metrics_destroy (&metrics);
    CHECK (metrics == NULL);
}

TEST (batch_sizes_and_counters)
{
    dv_metrics_t *metrics = dv_metrics_new ();
    json_t *empty = s_snapshot (metrics);
    CHECK_INT (json_integer_value (json_object_get (json_object_get (empty, "batch_size"), "count")), 0);
    CHECK_INT (json_object_size (json_object_get (empty, "decisions")), 0);
    json_decref (empty);
    size_t sizes [] = { 1, 1, 2, 3, 256, 10000 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes [0]; i++)
        dv_metrics_batch (metrics, sizes [i]);
    for (int i = 0; i < 3; i++)
        dv_metrics_decision (metrics, "accept", "accepted");
    dv_metrics_decision (metrics, "waitlist", "at_capacity");
    dv_metrics_decision (metrics, "decline", "at_capacity");
    dv_metrics_decision (metrics, NULL, "");
    dv_metrics_enrollment_change (metrics, "assigned");
    dv_metrics_enrollment_change (metrics, "assigned");
    dv_metrics_enrollment_change (metrics, "exited");
    json_t *snapshot = s_snapshot (metrics);
    json_t *batch = json_object_get (snapshot, "batch_size");
    CHECK_INT (s_bucket (batch, 1), 2);
    CHECK_INT (s_bucket (batch, 2), 3);
    CHECK_INT (s_bucket (batch, 4), 4);
    CHECK_INT (s_bucket (batch, 256), 5);
    CHECK_INT (s_bucket (batch, 8192), 5);
    CHECK_INT (json_integer_value (json_object_get (batch, "count")), 6);
    CHECK_INT (json_integer_value (json_object_get (batch, "sum")), 10263);
    json_t *decisions = json_object_get (snapshot, "decisions");
    CHECK_INT (json_integer_value (json_object_get (json_object_get (decisions, "accept"), "accepted")), 3);
    CHECK_INT (json_integer_value (json_object_get (json_object_get (decisions, "waitlist"), "at_capacity")), 1);
    CHECK_INT (json_integer_value (json_object_get (json_object_get (decisions, "decline"), "at_capacity")), 1);
    CHECK_INT (json_integer_value (json_object_get (json_object_get (decisions, "unknown"), "unknown")), 1);
    json_t *changes = json_object_get (snapshot, "enrollment_changes");
    CHECK_INT (json_integer_value (json_object_get (changes, "assigned")), 2);
    CHECK_INT (json_integer_value (json_object_get (changes, "exited")), 1);
    CHECK_INT (json_object_size (changes), 2);
    json_decref (snapshot);
    dv_metrics_destroy (&metrics);
}

TEST (numbers)
{
    struct { double value; const char *text; } rows [] = {
        { 0, "0" }, { 3, "3" }, { 0.1, "0.1" }, { 0.001, "0.001" }, { 0.0025, "0.0025" },
        { 1234567, "1234567" }, { 10, "10" }, { 1e14, "100000000000000" }, { 1e21, "1e+21" }, { 1e-5, "1e-05" },
        { 0.0001, "0.0001" }, { -0.0, "-0" }, { -2.5, "-2.5" }, { 1.0 / 3, "0.3333333333333333" },
        { INFINITY, "+Inf" }, { -INFINITY, "-Inf" }, { NAN, "NaN" }
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        char text [40];
        web_expo_number (rows [i].value, text, sizeof text);
        CHECKF (streq (text, rows [i].text), "%s for %s", text, rows [i].text);
        if (isfinite (rows [i].value))
            CHECKF (strtod (text, NULL) == rows [i].value, "%s reads back", text);
    }
}

TEST (families_samples_escaping)
{
    web_expo_t *expo = web_expo_new ();
    CHECK_STR (web_expo_text (expo), "");
    web_expo_family (expo, "divert_x_total", "counter", "A \\ backslash and\na newline.");
    const char *labels [] = { "daemon", "host\"a\\b\nc:1", "reason", "", NULL };
    web_expo_sample (expo, "divert_x_total", labels, 42);
    web_expo_sample (expo, "divert_x_total", NULL, 0.5);
    const char *none [] = { NULL };
    web_expo_sample (expo, "divert_x_total", none, 7);
    CHECK_STR (web_expo_text (expo),
               "# HELP divert_x_total A \\\\ backslash and\\na newline.\n"
               "# TYPE divert_x_total counter\n"
               "divert_x_total{daemon=\"host\\\"a\\\\b\\nc:1\",reason=\"\"} 42\n"
               "divert_x_total 0.5\n"
               "divert_x_total 7\n");
    web_expo_destroy (&expo);
    CHECK (expo == NULL);
}

TEST (histogram_from_a_snapshot)
{
    dv_metrics_t *metrics = dv_metrics_new ();
    dv_metrics_batch (metrics, 1);
    dv_metrics_batch (metrics, 3);
    dv_metrics_batch (metrics, 20000);
    json_t *snapshot = s_snapshot (metrics);
    web_expo_t *expo = web_expo_new ();
    const char *labels [] = { "daemon", "h:1", NULL };
    CHECK_INT (web_expo_histogram (expo, "divert_batch_size", labels, json_object_get (snapshot, "batch_size")), 0);
    const char *text = web_expo_text (expo);
    const char *start = "divert_batch_size_bucket{daemon=\"h:1\",le=\"1\"} 1\n"
                        "divert_batch_size_bucket{daemon=\"h:1\",le=\"2\"} 1\n"
                        "divert_batch_size_bucket{daemon=\"h:1\",le=\"4\"} 2\n";
    CHECKF (strncmp (text, start, strlen (start)) == 0, "%s", text);
    CHECKF (strstr (text, "divert_batch_size_bucket{daemon=\"h:1\",le=\"8192\"} 2\n"
                          "divert_batch_size_bucket{daemon=\"h:1\",le=\"+Inf\"} 3\n"
                          "divert_batch_size_sum{daemon=\"h:1\"} 20004\n"
                          "divert_batch_size_count{daemon=\"h:1\"} 3\n") != NULL, "%s", text);
    //  Exactly the bounds, +Inf, sum and count: 14 + 3 lines
    int lines = 0;
    for (const char *c = text; *c; c++)
        lines += *c == '\n';
    CHECK_INT (lines, 17);
    web_expo_destroy (&expo);
    json_decref (snapshot);
    dv_metrics_destroy (&metrics);
}

TEST (not_histograms_are_refused)
{
    const char *bad [] = {
        "{\"buckets\": [[1, 2], [2, 1]], \"sum\": 3, \"count\": 2}",       //  a count falls
        "{\"buckets\": [[2, 1], [1, 2]], \"sum\": 3, \"count\": 2}",       //  bounds fall
        "{\"buckets\": [[1, 1], [1, 2]], \"sum\": 3, \"count\": 2}",       //  a bound repeats
        "{\"buckets\": [[1, 1], [2, 3]], \"sum\": 3, \"count\": 2}",       //  above the count
        "{\"buckets\": [[1, 1]], \"count\": 2}",                          //  no sum
        "{\"buckets\": [[1, -1]], \"sum\": 0, \"count\": 0}",             //  negative
        "{\"buckets\": [[1, 1.5]], \"sum\": 0, \"count\": 2}",            //  not whole
        "{\"buckets\": [[\"1\", 1]], \"sum\": 0, \"count\": 2}",          //  bound not a number
        "{\"buckets\": [[1]], \"sum\": 0, \"count\": 2}",                 //  not a pair
        "{\"buckets\": {}, \"sum\": 0, \"count\": 2}",
        "[]"
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        json_t *histogram = json_loads (bad [i], 0, NULL);
        CHECKF (histogram != NULL, "%s parses", bad [i]);
        web_expo_t *expo = web_expo_new ();
        CHECKF (web_expo_histogram (expo, "x", NULL, histogram) == -1, "%s is refused", bad [i]);
        CHECKF (streq (web_expo_text (expo), ""), "nothing written for %s", bad [i]);
        web_expo_destroy (&expo);
        json_decref (histogram);
    }
    //  No buckets at all is still a histogram: +Inf, sum and count
    json_t *histogram = json_loads ("{\"buckets\": [], \"sum\": 0.25, \"count\": 1}", 0, NULL);
    web_expo_t *expo = web_expo_new ();
    CHECK_INT (web_expo_histogram (expo, "x", NULL, histogram), 0);
    CHECK_STR (web_expo_text (expo), "x_bucket{le=\"+Inf\"} 1\nx_sum 0.25\nx_count 1\n");
    web_expo_destroy (&expo);
    json_decref (histogram);
}

int
main (void)
{
    TESTLIB_BEGIN ("test_metrics");
    RUN (latency_buckets_at_their_bounds);
    RUN (batch_sizes_and_counters);
    RUN (numbers);
    RUN (families_samples_escaping);
    RUN (histogram_from_a_snapshot);
    RUN (not_histograms_are_refused);
    return TESTLIB_END ();
}
