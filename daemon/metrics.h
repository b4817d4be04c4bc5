/*  metrics — divertd's process counters for Prometheus, correct from the
    moment divertd starts (they start at zero with the process, and a
    restart is a new daemon with counters of its own):

      decisions            by decision and reason: every decision this
                           divertd recorded (replies to referrals and
                           withdrawals, promotions, expiries, lapses),
                           counted from the events it publishes after COMMIT
      enrollment changes   by change: those this divertd recorded, its own
                           (assigned, lapses, term ends, withdrawals) and a
                           case-management system's requests it answered
      decision latency     seconds from reading a referral to sending its
                           decision (new or replayed), a histogram
      batch size           requests per batch the database thread answered,
                           a histogram

    The event loop (server.c) counts; every metrics_interval it hands a
    snapshot (JSON, dv_metrics_snapshot) to the database thread (store.c),
    which writes it to divert.daemon_metrics (sql/012_metrics.sql), where
    divert-web's /metrics reads it. Pure: no database, no sockets, no clock
    but the one a caller reads (dv_metrics_now_us).
*/
#ifndef DV_METRICS_H
#define DV_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct _dv_metrics_t dv_metrics_t;

dv_metrics_t *
    dv_metrics_new (void);
void
    dv_metrics_destroy (dv_metrics_t **self_p);

//  A decision this daemon recorded ("accept", "accepted"), once each.
void
    dv_metrics_decision (dv_metrics_t *self, const char *decision, const char *reason);

//  An enrollment change this daemon recorded ("assigned", "exited" ...).
void
    dv_metrics_enrollment_change (dv_metrics_t *self, const char *change);

//  A referral answered with a decision, `seconds` after it was read.
void
    dv_metrics_latency (dv_metrics_t *self, double seconds);

//  A batch of `size` requests answered by the database thread.
void
    dv_metrics_batch (dv_metrics_t *self, size_t size);

//  The counters as JSON text (caller frees):
//    {"decisions": {"accept": {"accepted": 3}, ...},
//     "enrollment_changes": {"assigned": 3, ...},
//     "decision_latency_seconds": {"buckets": [[0.001, 0], [0.0025, 1], ...],
//                                  "sum": 0.0123, "count": 4},
//     "batch_size": {"buckets": [[1, 2], [2, 3], ...], "sum": 9, "count": 4}}
//  Histogram buckets are [upper bound, cumulative count], bounds rising;
//  "count" is the +Inf bucket.
char *
    dv_metrics_snapshot (dv_metrics_t *self);

//  A monotonic clock in microseconds (for latencies).
int64_t
    dv_metrics_now_us (void);

#endif
