/*  bench_intake — decisions per second and latency percentiles of a running
    divertd, over real CURVE sockets. Each client thread is a DEALER with up
    to `inflight` referrals outstanding; latency is send -> reply.

    bench_intake INTAKE SERVER_CERT CLIENT_CERT CLIENTS INFLIGHT TOTAL LABEL
*/
#include "itest.h"
#include <pthread.h>

typedef struct {
    const char *intake, *server_cert, *client_cert;
    int inflight, count;
    int64_t *latency_us;          //  one per request
    int done, errors;
} s_client_t;

static int64_t
s_now_us (void)
{
    return zclock_usecs ();
}

static void *
s_run (void *arg)
{
    s_client_t *c = (s_client_t *) arg;
    zcert_t *cert = zcert_load (c->client_cert);
    zcert_t *server = zcert_load (c->server_cert);
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zcert_apply (cert, dealer);
    zsock_set_curve_serverkey (dealer, zcert_public_txt (server));
    zsock_set_rcvtimeo (dealer, 30000);
    zsock_connect (dealer, "%s", c->intake);
    int64_t *sent_at = calloc (c->count, sizeof (int64_t));
    int sent = 0;
    while (c->done + c->errors < c->count) {
        while (sent < c->count && sent - (c->done + c->errors) < c->inflight) {
            json_t *request = itest_referral (sent % 4 ? "arrest_diversion" : "social_contact", "unsheltered");
            char id [16];
            snprintf (id, sizeof id, "%d", sent);
            json_object_set_new (request, "request_id", json_string (id));
            char *text = json_dumps (request, JSON_COMPACT);
            sent_at [sent++] = s_now_us ();
            zsock_send (dealer, "zs", text);
            free (text);
            json_decref (request);
        }
        char *text = NULL;
        if (zsock_recv (dealer, "zs", &text) == -1)
            break;
        json_t *reply = json_loads (text, 0, NULL);
        const char *id = json_string_value (json_object_get (reply, "request_id"));
        if (id && json_object_get (reply, "decision")) {
            c->latency_us [c->done++] = s_now_us () - sent_at [atoi (id)];
        }
        else
            c->errors++;
        json_decref (reply);
        free (text);
    }
    free (sent_at);
    zsock_destroy (&dealer);
    zcert_destroy (&cert);
    zcert_destroy (&server);
    return NULL;
}

static int
s_compare (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

int
main (int argc, char *argv [])
{
    if (argc != 8) {
        fprintf (stderr, "usage: bench_intake INTAKE SERVER_CERT CLIENT_CERT CLIENTS INFLIGHT TOTAL LABEL\n");
        return 64;
    }
    zsys_init ();               //  before any thread touches CZMQ
    int clients = atoi (argv [4]), inflight = atoi (argv [5]), total = atoi (argv [6]);
    s_client_t *c = calloc (clients, sizeof *c);
    pthread_t *threads = calloc (clients, sizeof *threads);
    int64_t start = s_now_us ();
    for (int i = 0; i < clients; i++) {
        c [i] = (s_client_t) { argv [1], argv [2], argv [3], inflight, total / clients, NULL, 0, 0 };
        c [i].latency_us = calloc (c [i].count, sizeof (int64_t));
        pthread_create (&threads [i], NULL, s_run, &c [i]);
    }
    int64_t *all = calloc (total, sizeof (int64_t));
    int done = 0, errors = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join (threads [i], NULL);
        memcpy (all + done, c [i].latency_us, c [i].done * sizeof (int64_t));
        done += c [i].done;
        errors += c [i].errors;
        free (c [i].latency_us);
    }
    double seconds = (s_now_us () - start) / 1e6;
    qsort (all, done, sizeof (int64_t), s_compare);
    #define PCT(p) (done ? all [(int) ((done - 1) * (p))] / 1000.0 : 0)
    printf ("%-34s %6d decisions in %6.2f s = %7.0f/s   latency ms p50 %6.2f  p95 %6.2f  p99 %6.2f  max %6.2f   errors %d\n",
            argv [7], done, seconds, done / seconds, PCT (0.50), PCT (0.95), PCT (0.99), PCT (1.0), errors);
    free (all);
    free (c);
    free (threads);
    return errors ? 1 : 0;
}
