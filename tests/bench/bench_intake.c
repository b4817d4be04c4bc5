/*  bench_intake — decisions per second and latency percentiles of a running
    divertd, over real CURVE sockets (tests/harness/bench.sh runs it).

    Closed loop (default): each client thread is a DEALER with up to
    `inflight` referrals outstanding; latency is send -> reply.
    Open loop (--rate R): each client thread sends on a fixed schedule
    (R referrals/s in all, the clients' schedules interleaved) without ever
    waiting for a reply; latency is from the scheduled send time to the
    reply, so a sender that fell behind can't hide the wait (the line shows
    how far behind its schedule any send went).

    Every referral is a new person (source person id, last name and date of
    birth all unique to this run), unsheltered, downtown, both needs, three
    in four arrest_diversion (tier 1) and one in four social_contact (tier 2).
    Clients take the certificates given round-robin (client i sends as
    certs [i % count]). Connections are made and their CURVE handshakes done
    (a ping each) before the clock starts.

    bench_intake --intake E --server-cert F --certs F[,F...] --clients N
                 --inflight N --total N --label TEXT [--rate R] [--tsv FILE]

    Prints one line:
      LABEL  N decisions in S s = R/s  latency ms p50 .. p95 .. p99 .. max ..  errors N  (mix)
    and with --tsv appends "label done seconds rate p50 p95 p99 max errors
    accept waitlist decline lag_ms" (tab-separated, ms) to FILE.
    Exit status 1 when any request got no decision (error reply or timeout).
*/
#include <czmq.h>
#include <jansson.h>
#include <getopt.h>
#include <pthread.h>

#define S_REPLY_TIMEOUT_MS 30000    //  no reply for this long: give up on the rest

typedef struct {
    const char *intake, *server_cert, *client_cert;
    const char *run;                //  this run's unique tag (in person ids)
    int index;                      //  client number
    int inflight, count;
    double rate;                    //  open loop: this client's referrals/s (0: closed loop)
    double phase;                   //  open loop: offset of its schedule, in periods
    pthread_barrier_t *ready;       //  every client connected
    int64_t *start_us;              //  the common start, set after the barrier
    int64_t *latency_us;            //  one per answered request
    int done, errors, accepts, waitlists, declines;
    int64_t max_lag_us;             //  open loop: the latest a send went out after its time
    bool connected;
} s_client_t;

static int s_errors_shown;          //  the first few error replies are printed

static int64_t
s_now_us (void)
{
    return zclock_usecs ();
}

//  One referral, unique to this run, client and number.
static char *
s_referral (s_client_t *c, int n)
{
    char spid [64], last [64], dob [16], request_id [16];
    snprintf (spid, sizeof spid, "B-%s-%d-%d", c->run, c->index, n);
    snprintf (last, sizeof last, "Bench%s%dx%d", c->run, c->index, n);
    snprintf (dob, sizeof dob, "19%02d-%02d-%02d", 40 + n % 60, 1 + n % 12, 1 + n % 28);
    snprintf (request_id, sizeof request_id, "%d", n);
    zuuid_t *uuid = zuuid_new ();
    bool arrest = n % 4 != 0;
    json_t *request = json_pack (
        "{s:i, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:s, s:s, s:[s, s], s:b, s:i}",
        "v", 1, "type", "referral", "request_id", request_id,
        "referral_id", zuuid_str_canonical (uuid),
        "pathway", arrest ? "arrest_diversion" : "social_contact",
        "submitted_at", "2026-11-22T18:04:05Z",
        "person", "source_person_id", spid, "first_name", "Jo", "last_name", last, "dob", dob,
        "area", "downtown", "housing", "unsheltered",
        "behavioral_health", "substance_use", "mental_health", "consent", 1,
        "prior_contacts_12m", n % 7);
    if (arrest)
        json_object_set_new (request, "offense", json_pack ("{s:s}", "code", "VUCSA-POSS"));
    char *text = json_dumps (request, JSON_COMPACT);
    json_decref (request);
    zuuid_destroy (&uuid);
    return text;
}

static zsock_t *
s_connect (s_client_t *c)
{
    zcert_t *cert = zcert_load (c->client_cert);
    zcert_t *server = zcert_load (c->server_cert);
    if (!cert || !server) {
        fprintf (stderr, "bench_intake: cannot read %s or %s\n", c->client_cert, c->server_cert);
        zcert_destroy (&cert);
        zcert_destroy (&server);
        return NULL;
    }
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zcert_apply (cert, dealer);
    zsock_set_curve_serverkey (dealer, zcert_public_txt (server));
    zsock_set_rcvtimeo (dealer, S_REPLY_TIMEOUT_MS);
    zsock_set_sndhwm (dealer, 0);
    zsock_set_rcvhwm (dealer, 0);
    zsock_connect (dealer, "%s", c->intake);
    zcert_destroy (&cert);
    zcert_destroy (&server);
    //  The handshake (and ZAP) before the clock starts: one ping.
    zsock_send (dealer, "zs", "{\"v\":1,\"type\":\"ping\"}");
    char *text = NULL;
    if (zsock_recv (dealer, "zs", &text) == -1 || !text || !strstr (text, "\"pong\"")) {
        fprintf (stderr, "bench_intake: client %d: no pong from %s: %s\n", c->index, c->intake,
                 text ? text : "timeout");
        free (text);
        zsock_destroy (&dealer);
        return NULL;
    }
    free (text);
    return dealer;
}

//  Read one reply; false when none came in time.
static bool
s_receive (s_client_t *c, zsock_t *dealer, const int64_t *due_us)
{
    char *text = NULL;
    if (zsock_recv (dealer, "zs", &text) == -1)
        return false;
    int64_t now = s_now_us ();
    json_t *reply = json_loads (text ? text : "", 0, NULL);
    const char *id = json_string_value (json_object_get (reply, "request_id"));
    const char *decision = json_string_value (json_object_get (reply, "decision"));
    int n = id ? atoi (id) : -1;
    if (decision && n >= 0 && n < c->count) {
        c->latency_us [c->done++] = now - due_us [n];
        if (streq (decision, "accept"))
            c->accepts++;
        else
        if (streq (decision, "waitlist"))
            c->waitlists++;
        else
            c->declines++;
    }
    else {
        c->errors++;
        if (__atomic_fetch_add (&s_errors_shown, 1, __ATOMIC_RELAXED) < 3)
            fprintf (stderr, "bench_intake: client %d: %s\n", c->index, text ? text : "(empty)");
    }
    json_decref (reply);
    free (text);
    return true;
}

//  Closed loop: keep `inflight` outstanding.
static void
s_closed_loop (s_client_t *c, zsock_t *dealer, int64_t *due_us)
{
    int sent = 0;
    while (c->done + c->errors < c->count) {
        while (sent < c->count && sent - (c->done + c->errors) < c->inflight) {
            char *text = s_referral (c, sent);
            due_us [sent++] = s_now_us ();
            zsock_send (dealer, "zs", text);
            free (text);
        }
        if (!s_receive (c, dealer, due_us))
            break;
    }
}

//  Open loop: send each referral at its time, whatever the replies do.
static void
s_open_loop (s_client_t *c, zsock_t *dealer, int64_t *due_us)
{
    double period_us = 1e6 / c->rate;
    for (int i = 0; i < c->count; i++)
        due_us [i] = *c->start_us + (int64_t) ((i + c->phase) * period_us);
    int sent = 0;
    int64_t last_reply = s_now_us ();
    while (c->done + c->errors < c->count) {
        int64_t now = s_now_us ();
        while (sent < c->count && due_us [sent] <= now) {
            char *text = s_referral (c, sent);
            int64_t lag = s_now_us () - due_us [sent];
            if (lag > c->max_lag_us)
                c->max_lag_us = lag;
            sent++;
            zsock_send (dealer, "zs", text);
            free (text);
            now = s_now_us ();
        }
        int64_t wait_us = sent < c->count ? due_us [sent] - now : 100000;
        zmq_pollitem_t item = { zsock_resolve (dealer), 0, ZMQ_POLLIN, 0 };
        int rc = zmq_poll (&item, 1, wait_us > 0 ? (long) ((wait_us + 999) / 1000) : 0);
        if (rc == -1 && zmq_errno () != EINTR)
            break;
        if (rc > 0 && (item.revents & ZMQ_POLLIN)) {
            s_receive (c, dealer, due_us);
            last_reply = s_now_us ();
        }
        else
        if (sent == c->count && s_now_us () - last_reply > S_REPLY_TIMEOUT_MS * 1000LL)
            break;
    }
}

static void *
s_run (void *arg)
{
    s_client_t *c = (s_client_t *) arg;
    zsock_t *dealer = s_connect (c);
    c->connected = dealer != NULL;
    pthread_barrier_wait (c->ready);
    //  The main thread sets the start between the two barriers.
    pthread_barrier_wait (c->ready);
    if (dealer) {
        int64_t *due_us = calloc (c->count, sizeof (int64_t));
        if (c->rate > 0)
            s_open_loop (c, dealer, due_us);
        else
            s_closed_loop (c, dealer, due_us);
        free (due_us);
        zsock_destroy (&dealer);
    }
    return NULL;
}

static int
s_compare (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

static void
s_usage (void)
{
    fprintf (stderr, "usage: bench_intake --intake E --server-cert F --certs F[,F...] --clients N"
                     " --inflight N --total N --label TEXT [--rate R] [--tsv FILE]\n");
    exit (64);
}

int
main (int argc, char *argv [])
{
    const char *intake = NULL, *server_cert = NULL, *certs = NULL, *label = NULL, *tsv = NULL;
    int clients = 0, inflight = 1, total = 0;
    double rate = 0;
    struct option options [] = {
        { "intake", required_argument, NULL, 'i' }, { "server-cert", required_argument, NULL, 's' },
        { "certs", required_argument, NULL, 'c' }, { "clients", required_argument, NULL, 'n' },
        { "inflight", required_argument, NULL, 'f' }, { "total", required_argument, NULL, 't' },
        { "label", required_argument, NULL, 'l' }, { "rate", required_argument, NULL, 'r' },
        { "tsv", required_argument, NULL, 'o' }, { NULL, 0, NULL, 0 }
    };
    int option;
    while ((option = getopt_long (argc, argv, "", options, NULL)) != -1) {
        switch (option) {
            case 'i': intake = optarg; break;
            case 's': server_cert = optarg; break;
            case 'c': certs = optarg; break;
            case 'n': clients = atoi (optarg); break;
            case 'f': inflight = atoi (optarg); break;
            case 't': total = atoi (optarg); break;
            case 'l': label = optarg; break;
            case 'r': rate = atof (optarg); break;
            case 'o': tsv = optarg; break;
            default: s_usage ();
        }
    }
    if (!intake || !server_cert || !certs || !label || clients < 1 || inflight < 1
    ||  total < clients || rate < 0 || optind != argc)
        s_usage ();
    zsys_init ();               //  before any thread touches CZMQ
    zsys_set_linger (0);

    char *cert_list = strdup (certs);
    char *cert [256];
    int cert_count = 0;
    char *rest = NULL;
    for (char *f = strtok_r (cert_list, ",", &rest); f && cert_count < 256; f = strtok_r (NULL, ",", &rest))
        cert [cert_count++] = f;
    zuuid_t *uuid = zuuid_new ();
    char run [9];
    snprintf (run, sizeof run, "%.8s", zuuid_str (uuid));
    zuuid_destroy (&uuid);

    s_client_t *c = calloc (clients, sizeof *c);
    pthread_t *threads = calloc (clients, sizeof *threads);
    pthread_barrier_t ready;
    pthread_barrier_init (&ready, NULL, clients + 1);
    int64_t start = 0;
    for (int i = 0; i < clients; i++) {
        c [i] = (s_client_t) {
            .intake = intake, .server_cert = server_cert, .client_cert = cert [i % cert_count],
            .run = run, .index = i, .inflight = inflight,
            .count = total / clients + (i < total % clients),
            .rate = rate / clients, .phase = (double) i / clients,
            .ready = &ready, .start_us = &start
        };
        c [i].latency_us = calloc (c [i].count, sizeof (int64_t));
        pthread_create (&threads [i], NULL, s_run, &c [i]);
    }
    pthread_barrier_wait (&ready);          //  all connected (or failed)
    start = s_now_us () + 10000;            //  open loop: the schedule starts in 10 ms
    int64_t clock_start = s_now_us ();
    pthread_barrier_wait (&ready);
    int64_t *all = calloc (total, sizeof (int64_t));
    int done = 0, errors = 0, accepts = 0, waitlists = 0, declines = 0;
    int64_t max_lag = 0;
    bool connected = true;
    for (int i = 0; i < clients; i++) {
        pthread_join (threads [i], NULL);
        memcpy (all + done, c [i].latency_us, c [i].done * sizeof (int64_t));
        done += c [i].done;
        errors += c [i].errors + (c [i].count - c [i].done - c [i].errors);
        accepts += c [i].accepts;
        waitlists += c [i].waitlists;
        declines += c [i].declines;
        max_lag = c [i].max_lag_us > max_lag ? c [i].max_lag_us : max_lag;
        connected = connected && c [i].connected;
        free (c [i].latency_us);
    }
    double seconds = (s_now_us () - (rate > 0 ? start : clock_start)) / 1e6;
    qsort (all, done, sizeof (int64_t), s_compare);
    #define PCT(p) (done ? all [(int) ((done - 1) * (p))] / 1000.0 : 0)
    char mix [96];
    if (accepts == done)
        snprintf (mix, sizeof mix, "all accept");
    else
        snprintf (mix, sizeof mix, "accept %d, waitlist %d, decline %d", accepts, waitlists, declines);
    char lag [48] = "";
    if (rate > 0)
        snprintf (lag, sizeof lag, ", sends <= %.1f ms late", max_lag / 1000.0);
    printf ("%-34s %6d decisions in %6.2f s = %7.0f/s   latency ms p50 %6.2f  p95 %6.2f  p99 %6.2f  max %7.2f   errors %d  (%s%s)\n",
            label, done, seconds, done / seconds, PCT (0.50), PCT (0.95), PCT (0.99), PCT (1.0), errors, mix, lag);
    fflush (stdout);
    if (tsv) {
        FILE *file = fopen (tsv, "a");
        if (file) {
            fprintf (file, "%s\t%d\t%.3f\t%.1f\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t%d\t%d\t%d\t%.3f\n",
                     label, done, seconds, done / seconds, PCT (0.50), PCT (0.95), PCT (0.99), PCT (1.0),
                     errors, accepts, waitlists, declines, max_lag / 1000.0);
            fclose (file);
        }
    }
    free (all);
    free (c);
    free (threads);
    free (cert_list);
    pthread_barrier_destroy (&ready);
    return errors || !connected ? 1 : 0;
}
