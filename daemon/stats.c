/*  stats — divertd's STATUS= line. See stats.h. */
#include "stats.h"
#include <czmq.h>

#define S_WINDOW 60             //  seconds the rate is measured over

struct _dv_stats_t {
    int day;                    //  tm_yday + 1000 * tm_year of the counts below
    unsigned long accept, waitlist, decline, other;
    time_t bucket_time [S_WINDOW];
    unsigned bucket_count [S_WINDOW];
    char waitlists [256];
};

dv_stats_t *
dv_stats_new (void)
{
    dv_stats_t *self = calloc (1, sizeof *self);
    assert (self);
    return self;
}

void
dv_stats_destroy (dv_stats_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

static void
s_roll_day (dv_stats_t *self, time_t now)
{
    struct tm tm;
    localtime_r (&now, &tm);
    int day = tm.tm_yday + 1000 * tm.tm_year;
    if (day != self->day) {
        self->day = day;
        self->accept = self->waitlist = self->decline = self->other = 0;
    }
}

void
dv_stats_decided (dv_stats_t *self, const char *decision, time_t now)
{
    s_roll_day (self, now);
    if (streq (decision, "accept"))        self->accept++;
    else if (streq (decision, "waitlist")) self->waitlist++;
    else if (streq (decision, "decline"))  self->decline++;
    else                                   self->other++;
    int slot = (int) (now % S_WINDOW);
    if (self->bucket_time [slot] != now) {
        self->bucket_time [slot] = now;
        self->bucket_count [slot] = 0;
    }
    self->bucket_count [slot]++;
}

void
dv_stats_set_waitlists (dv_stats_t *self, const char *text)
{
    snprintf (self->waitlists, sizeof self->waitlists, "%s", text ? text : "");
}

char *
dv_stats_status (dv_stats_t *self, bool db_up, size_t queued, bool stopping, time_t now)
{
    s_roll_day (self, now);
    unsigned long recent = 0;
    for (int i = 0; i < S_WINDOW; i++)
        if (now - self->bucket_time [i] < S_WINDOW)
            recent += self->bucket_count [i];
    unsigned long total = self->accept + self->waitlist + self->decline + self->other;
    char queue [40] = "";
    if (queued > 0)
        snprintf (queue, sizeof queue, " · %zu queued", queued);
    return zsys_sprintf ("db %s · %lu decided today (%lu accept · %lu waitlist · %lu decline) · %.1f/s%s%s%s%s",
                         db_up ? "up" : "DOWN (requests get unavailable)", total, self->accept,
                         self->waitlist, self->decline, recent / (double) S_WINDOW,
                         *self->waitlists ? " · waitlist " : "", self->waitlists, queue,
                         stopping ? " · stopping" : "");
}
