/*  stats — the numbers behind divertd's one-line systemd STATUS=: decisions
    today (reset at local midnight) by kind, the rate over the last minute,
    and each program's waitlist length, e.g.
    "db up · 1204 decided today (812 accept · 301 waitlist · 91 decline) · 3.1/s · waitlist LEAD 17, CO-LEAD 3"
*/
#ifndef DV_STATS_H
#define DV_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

typedef struct _dv_stats_t dv_stats_t;

dv_stats_t *
    dv_stats_new (void);
void
    dv_stats_destroy (dv_stats_t **self_p);

//  One decision sent (accept, waitlist, decline, withdrawn, lapsed), at `now`.
void
    dv_stats_decided (dv_stats_t *self, const char *decision, time_t now);

//  "LEAD 17, CO-LEAD 3", as the store last saw the waitlists.
void
    dv_stats_set_waitlists (dv_stats_t *self, const char *text);

//  The STATUS= line (caller frees).
char *
    dv_stats_status (dv_stats_t *self, bool db_up, size_t queued, bool stopping, time_t now);

#endif
