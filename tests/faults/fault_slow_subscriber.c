/*  fault_slow_subscriber — subscribers that stop reading must not slow the
    intake, and divertd's memory must stay bounded.

    Pipelined clients (DEALER, 32 referrals in flight each) send runs of
    referrals while one monitor subscriber reads every event:
    1. a run with no other subscriber;
    2. seven more monitor subscribers (SUB on everything, a tiny kernel
       receive buffer and high-water mark, so their backlog stays in
       divertd) read until they are live, then stop reading for good; a run
       in three parts goes through (full: 24000 events, well past the
       decisions socket's high-water mark);
    3. they go away; a run like the first.
    The rate with subscribers stalled must be at least half the mean of the
    runs before and after (relative, so the machine's speed and load drift
    do not matter; full: the last third too, past the high-water mark).
    The reading subscriber must still get (nearly) every event. divertd's
    VmRSS, sampled throughout, must grow by less than 64 MB while they
    stall; full: the stalled ones could read fewer events than were
    published (past the high-water mark PUB drops rather than blocks or
    queues without end), and the last third adds less than 8 MB.

    divertd runs with a small ASan quarantine in this scenario, so VmRSS
    follows live memory rather than freed blocks held in quarantine.

    Then the audit (audit.h) of every referral sent.
*/
#include "audit.h"

static itest_t *t;

//  Subscribers: monitor SUB sockets on every event, with a tiny kernel
//  receive buffer and high-water mark, so when one stops reading its
//  backlog stays in divertd. One thread reads them all until a socket is
//  told to stall; from then on nothing reads it.
#define S_SUBSCRIBERS 8

typedef struct {
    zsock_t *subs [S_SUBSCRIBERS];
    atomic_int stalled [S_SUBSCRIBERS];
    atomic_long events [S_SUBSCRIBERS];
    atomic_int stop;
} s_subs_t;

static zsock_t *
s_subscriber_new (void)
{
    zcert_t *cert = zcert_load (itest_cert (t, "ops"));
    zcert_t *server = zcert_load (itest_server_cert (t));
    zsock_t *sub = zsock_new (ZMQ_SUB);
    zsock_set_linger (sub, 0);
    zsock_set_rcvbuf (sub, 4096);
    zsock_set_rcvhwm (sub, 10);
    zcert_apply (cert, sub);
    zsock_set_curve_serverkey (sub, zcert_public_txt (server));
    zsock_set_subscribe (sub, "");
    zsock_connect (sub, "%s", itest_decisions (t, 0));
    zcert_destroy (&cert);
    zcert_destroy (&server);
    return sub;
}

static void *
s_subs_run (void *arg)
{
    s_subs_t *subs = (s_subs_t *) arg;
    while (!atomic_load (&subs->stop)) {
        zmq_pollitem_t items [S_SUBSCRIBERS];
        int map [S_SUBSCRIBERS], count = 0;
        for (int i = 0; i < S_SUBSCRIBERS; i++)
            if (!atomic_load (&subs->stalled [i])) {
                items [count] = (zmq_pollitem_t) { zsock_resolve (subs->subs [i]), 0, ZMQ_POLLIN, 0 };
                map [count++] = i;
            }
        if (zmq_poll (items, count, 50) <= 0)
            continue;
        for (int k = 0; k < count; k++)
            if (items [k].revents & ZMQ_POLLIN) {
                zmsg_t *msg = zmsg_recv (subs->subs [map [k]]);
                if (msg)
                    atomic_fetch_add (&subs->events [map [k]], 1);
                zmsg_destroy (&msg);
            }
    }
    return NULL;
}

//  Sample divertd's VmRSS while a run goes on (in its own thread).
typedef struct {
    int pid;
    atomic_int stop;
    long max_kb;
} s_sampler_t;

static void *
s_sampler_run (void *arg)
{
    s_sampler_t *sampler = (s_sampler_t *) arg;
    while (!atomic_load (&sampler->stop)) {
        long kb = audit_rss_kb (sampler->pid);
        if (kb > sampler->max_kb)
            sampler->max_kb = kb;
        zclock_sleep (50);
    }
    return NULL;
}

//  One run of `count` referrals per client; returns decisions per second.
static double
s_run (audit_t *audit, const char *label, int clients, int count, long *max_rss_kb)
{
    long before = audit_decided (audit);
    s_sampler_t sampler = { .pid = itest_daemon_pid (t, 0), .max_kb = audit_rss_kb (itest_daemon_pid (t, 0)) };
    atomic_init (&sampler.stop, 0);
    pthread_t thread;
    pthread_create (&thread, NULL, s_sampler_run, &sampler);
    double seconds = audit_pipeline (audit, 0, clients, 32, count);
    atomic_store (&sampler.stop, 1);
    pthread_join (thread, NULL);
    long decided = audit_decided (audit) - before;
    double rate = decided / seconds;
    printf ("# %6ld ms %s: %ld decisions in %.2f s = %.0f/s, divertd VmRSS max %ld kB\n",
            audit_ms (), label, decided, seconds, rate, sampler.max_kb);
    CHECKF (decided == (long) clients * count, "%s: %ld of %d decided", label, decided, clients * count);
    if (max_rss_kb)
        *max_rss_kb = sampler.max_kb;
    return rate;
}

//  Wait until every subscriber not stalled got an event (one referral's
//  event reaches them all), or report which never did.
static bool
s_live (audit_t *audit, s_subs_t *subs, int from, int to)
{
    long before [S_SUBSCRIBERS];
    for (int i = from; i < to; i++)
        before [i] = subs->events [i];
    for (int attempt = 0; attempt < 50; attempt++) {
        s_run (audit, "probe", 1, 1, NULL);
        zclock_sleep (100);
        bool live = true;
        for (int i = from; i < to; i++)
            live = live && subs->events [i] > before [i];
        if (live)
            return true;
    }
    return false;
}

TEST (stalled_subscribers_do_not_slow_intake)
{
    int clients = 4;
    int per_client = AUDIT_SIZE (200, 750);         //  referrals per client, runs with none stalled
    int stalled_per_client = AUDIT_SIZE (240, 6000);    //  ... with subscribers stalled (full: past the HWM)
    audit_t *audit = audit_new (t);
    int pid = itest_daemon_pid (t, 0);
    s_run (audit, "warm-up", clients, 50, NULL);

    //  One subscriber that reads throughout
    s_subs_t subs = { 0 };
    subs.subs [0] = s_subscriber_new ();
    atomic_init (&subs.stop, 0);
    for (int i = 0; i < S_SUBSCRIBERS; i++)
        atomic_init (&subs.stalled [i], i > 0);
    pthread_t reader;
    pthread_create (&reader, NULL, s_subs_run, &subs);
    CHECKF (s_live (audit, &subs, 0, 1), "the reading subscriber never got an event");

    //  Before: no subscriber stalled
    double rate_before = s_run (audit, "none stalled", clients, per_client, NULL);

    //  Seven more subscribers: they read until they are live, then stop for good
    for (int i = 1; i < S_SUBSCRIBERS; i++) {
        subs.subs [i] = s_subscriber_new ();
        atomic_store (&subs.stalled [i], 0);
    }
    CHECKF (s_live (audit, &subs, 1, S_SUBSCRIBERS), "the subscribers never got an event");
    for (int i = 1; i < S_SUBSCRIBERS; i++)
        atomic_store (&subs.stalled [i], 1);
    zclock_sleep (200);
    long reader_at = subs.events [0];
    long events_before = audit_pg_long ("SELECT count(*) FROM divert.decision_event");
    //  In thirds: in full the first fills divertd's queues for the stalled
    //  subscribers up to the high-water mark, the last must add little
    long rss_before = audit_rss_kb (pid);
    long rss [3] = { 0 };
    double rate [3], seconds = 0;
    for (int third = 0; third < 3; third++) {
        int count = stalled_per_client / 3;
        char label [64];
        snprintf (label, sizeof label, "stalled, part %d of 3", third + 1);
        rate [third] = s_run (audit, label, clients, count, &rss [third]);
        seconds += clients * count / rate [third];
    }
    double rate_stalled = clients * (stalled_per_client / 3) * 3 / seconds;
    long events = audit_pg_long ("SELECT count(*) FROM divert.decision_event") - events_before;
    zclock_sleep (500);
    long got_reader = subs.events [0] - reader_at;

    //  What the stalled ones can still read: at most what divertd queued
    //  for them (past its high-water mark PUB drops; it never blocks). Then
    //  they go away.
    long backlog_max = 0;
    for (int i = 1; i < S_SUBSCRIBERS; i++) {
        zsock_set_rcvtimeo (subs.subs [i], 300);
        long backlog = 0;
        zmsg_t *msg;
        while ((msg = zmsg_recv (subs.subs [i]))) {
            backlog++;
            zmsg_destroy (&msg);
        }
        if (backlog > backlog_max)
            backlog_max = backlog;
        zsock_destroy (&subs.subs [i]);
    }

    //  After: none stalled again
    double rate_after = s_run (audit, "none stalled again", clients, per_client, NULL);
    atomic_store (&subs.stop, 1);
    pthread_join (reader, NULL);
    zsock_destroy (&subs.subs [0]);

    double rate_alone = (rate_before + rate_after) / 2;
    printf ("# intake %.0f/s before, %.0f/s with %d subscribers stalled (%.0f/s, %.0f/s, %.0f/s by thirds),"
            " %.0f/s after\n", rate_before, rate_stalled, S_SUBSCRIBERS - 1, rate [0], rate [1], rate [2], rate_after);
    printf ("# divertd VmRSS: %ld kB before the stalled run, max %ld / %ld / %ld kB in its thirds\n",
            rss_before, rss [0], rss [1], rss [2]);
    printf ("# the reading subscriber got %ld of %ld events while the others stalled;"
            " a stalled one could read at most %ld of them afterwards\n", got_reader, events, backlog_max);
    CHECKF (rate_stalled * 2 >= rate_alone, "intake slowed from %.0f/s to %.0f/s by stalled subscribers",
            rate_alone, rate_stalled);
    long rss_max = rss [0] > rss [1] ? rss [0] : rss [1];
    rss_max = rss_max > rss [2] ? rss_max : rss [2];
    long growth = rss_max - rss_before;
    CHECKF (growth < 64 * 1024, "divertd grew by %ld kB while subscribers stalled", growth);
    CHECKF (got_reader >= events * 99 / 100, "the reading subscriber got only %ld of %ld events while others stalled",
            got_reader, events);
    if (audit_full ()) {
        //  Past the high-water mark too (the last third is long enough to measure)
        CHECKF (rate [2] * 2 >= rate_alone, "intake slowed from %.0f/s to %.0f/s past the high-water mark",
                rate_alone, rate [2]);
        CHECKF (backlog_max < events, "the run did not pass divertd's high-water mark (%ld of %ld queued)",
                backlog_max, events);
        CHECKF (rss [2] - rss [1] < 8 * 1024,
                "divertd kept growing past the high-water mark: %ld kB in the last third", rss [2] - rss [1]);
    }
    CHECK (audit_daemon_alive (t, 0));
    audit_finish (audit, 0, "slow-subscriber", NULL, NULL);
    audit_destroy (&audit);
}

//  VmRSS should follow live memory, not ASan's quarantine of freed blocks
static void
s_setup (itest_t *site)
{
    (void) site;
    const char *asan = getenv ("ASAN_OPTIONS");
    char options [1024];
    snprintf (options, sizeof options, "%s%squarantine_size_mb=4:thread_local_quarantine_size_kb=64",
              asan ? asan : "", asan && *asan ? ":" : "");
    setenv ("ASAN_OPTIONS", options, 1);
}

AUDIT_MAIN ("fault_slow_subscriber", t, s_setup, stalled_subscribers_do_not_slow_intake, true)
