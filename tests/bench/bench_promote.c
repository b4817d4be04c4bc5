/*  bench_promote — how long a freed slot takes to become a published
    promotion (tests/harness/bench.sh runs it against a running divertd).

    A monitor key subscribes to every decision event. Then, COUNT times
    (after one untimed warm-up): discharge one open enrollment of PROGRAM
    through the same SQL divertctl uses (divert.enrollment_change, as the
    libpq PG* environment's user, autocommit), take the time the COMMIT
    returned, and wait for the next event accepting a referral from that
    program's waitlist (reason accepted_from_waitlist). The figure is
    commit -> event arrival. The program's policy must be such that each
    freed slot promotes one waiting referral (bench.sh's site: CO-LEAD two
    slots short of its paced line, tier 2 waiting).

    bench_promote --decisions E --server-cert F --cert MONITOR_CERT
                  --program NAME --count N --label TEXT [--tsv FILE]

    Prints "LABEL  N promotions  latency ms p50 .. p95 .. p99 .. max .." and
    with --tsv appends "label count p50 p95 p99 max" (tab-separated, ms).
    Exit status 1 when a promotion did not arrive within 10 s.
*/
#include <czmq.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <getopt.h>

#define S_EVENT_TIMEOUT_MS 10000

static int64_t
s_now_us (void)
{
    return zclock_usecs ();
}

static zsock_t *
s_subscribe (const char *endpoint, const char *server_cert, const char *client_cert)
{
    zcert_t *cert = zcert_load (client_cert);
    zcert_t *server = zcert_load (server_cert);
    if (!cert || !server) {
        fprintf (stderr, "bench_promote: cannot read %s or %s\n", client_cert, server_cert);
        zcert_destroy (&cert);
        zcert_destroy (&server);
        return NULL;
    }
    zsock_t *sub = zsock_new (ZMQ_SUB);
    zcert_apply (cert, sub);
    zsock_set_curve_serverkey (sub, zcert_public_txt (server));
    zsock_set_subscribe (sub, "decision.");
    zsock_connect (sub, "%s", endpoint);
    zcert_destroy (&cert);
    zcert_destroy (&server);
    return sub;
}

//  Discharge one enrollment; returns the time the COMMIT returned, or 0.
static int64_t
s_discharge (PGconn *conn, const char *source, const char *referral)
{
    const char *params [] = { source, referral };
    PGresult *result = PQexecParams (conn,
        "SELECT divert.enrollment_change($1, $2, 'exited', 'graduated', NULL, 'bench')",
        2, NULL, params, NULL, NULL, 0);
    int64_t committed = s_now_us ();
    bool ok = PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1
           && strstr (PQgetvalue (result, 0, 0), "\"reply\"");
    if (!ok)
        fprintf (stderr, "bench_promote: discharge of %s/%s failed: %s%s\n", source, referral,
                 PQresultErrorMessage (result),
                 PQresultStatus (result) == PGRES_TUPLES_OK ? PQgetvalue (result, 0, 0) : "");
    PQclear (result);
    return ok ? committed : 0;
}

static const char *
s_member (json_t *object, const char *key)
{
    const char *value = json_string_value (json_object_get (object, key));
    return value ? value : "";
}

//  Wait for the next promotion out of `program`; returns its arrival time, or 0.
static int64_t
s_promotion (zsock_t *sub, const char *program)
{
    int64_t deadline = s_now_us () + S_EVENT_TIMEOUT_MS * 1000LL;
    while (s_now_us () < deadline) {
        zsock_set_rcvtimeo (sub, (int) ((deadline - s_now_us ()) / 1000) + 1);
        char *topic = NULL, *text = NULL;
        if (zsock_recv (sub, "ss", &topic, &text) == -1)
            return 0;
        int64_t arrived = s_now_us ();
        json_t *event = json_loads (text ? text : "", 0, NULL);
        bool promoted = streq (s_member (event, "reason"), "accepted_from_waitlist")
                     && streq (s_member (event, "program"), program);
        json_decref (event);
        free (topic);
        free (text);
        if (promoted)
            return arrived;
    }
    return 0;
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
    fprintf (stderr, "usage: bench_promote --decisions E --server-cert F --cert F --program NAME"
                     " --count N --label TEXT [--tsv FILE]\n");
    exit (64);
}

int
main (int argc, char *argv [])
{
    const char *decisions = NULL, *server_cert = NULL, *cert = NULL, *program = NULL;
    const char *label = NULL, *tsv = NULL;
    int count = 0;
    struct option options [] = {
        { "decisions", required_argument, NULL, 'd' }, { "server-cert", required_argument, NULL, 's' },
        { "cert", required_argument, NULL, 'c' }, { "program", required_argument, NULL, 'p' },
        { "count", required_argument, NULL, 'n' }, { "label", required_argument, NULL, 'l' },
        { "tsv", required_argument, NULL, 'o' }, { NULL, 0, NULL, 0 }
    };
    int option;
    while ((option = getopt_long (argc, argv, "", options, NULL)) != -1) {
        switch (option) {
            case 'd': decisions = optarg; break;
            case 's': server_cert = optarg; break;
            case 'c': cert = optarg; break;
            case 'p': program = optarg; break;
            case 'n': count = atoi (optarg); break;
            case 'l': label = optarg; break;
            case 'o': tsv = optarg; break;
            default: s_usage ();
        }
    }
    if (!decisions || !server_cert || !cert || !program || !label || count < 1 || optind != argc)
        s_usage ();
    zsys_init ();
    zsys_set_linger (0);
    PGconn *conn = PQconnectdb ("");
    if (PQstatus (conn) != CONNECTION_OK) {
        fprintf (stderr, "bench_promote: %s", PQerrorMessage (conn));
        return 1;
    }
    //  The open enrollments to discharge, oldest first.
    char limit [16];
    snprintf (limit, sizeof limit, "%d", count + 1);
    const char *params [] = { program, limit };
    PGresult *open = PQexecParams (conn,
        "SELECT r.source_id, r.referral_id FROM divert.enrollment e JOIN divert.referral r ON r.id = e.referral_id"
        " WHERE e.program = $1 AND e.status <> 'exited' ORDER BY e.id LIMIT $2::int",
        2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (open) != PGRES_TUPLES_OK || PQntuples (open) < count + 1) {
        fprintf (stderr, "bench_promote: %s has fewer than %d open enrollments\n", program, count + 1);
        return 1;
    }
    zsock_t *sub = s_subscribe (decisions, server_cert, cert);
    if (!sub)
        return 1;
    zclock_sleep (1000);                    //  the subscription reaches divertd
    int64_t *latency = calloc (count, sizeof (int64_t));
    int done = 0;
    bool failed = false;
    for (int i = 0; i <= count && !failed; i++) {
        int64_t committed = s_discharge (conn, PQgetvalue (open, i, 0), PQgetvalue (open, i, 1));
        int64_t arrived = committed ? s_promotion (sub, program) : 0;
        if (!arrived) {
            if (committed)
                fprintf (stderr, "bench_promote: no promotion out of %s within %d ms\n", program, S_EVENT_TIMEOUT_MS);
            failed = true;
        }
        else
        if (i > 0)                          //  the first is the warm-up
            latency [done++] = arrived - committed;
        zclock_sleep (50);
    }
    qsort (latency, done, sizeof (int64_t), s_compare);
    #define PCT(p) (done ? latency [(int) ((done - 1) * (p))] / 1000.0 : 0)
    printf ("%-34s %6d promotions                   latency ms p50 %6.2f  p95 %6.2f  p99 %6.2f  max %7.2f\n",
            label, done, PCT (0.50), PCT (0.95), PCT (0.99), PCT (1.0));
    if (tsv) {
        FILE *file = fopen (tsv, "a");
        if (file) {
            fprintf (file, "%s\t%d\t%.3f\t%.3f\t%.3f\t%.3f\n", label, done, PCT (0.50), PCT (0.95),
                     PCT (0.99), PCT (1.0));
            fclose (file);
        }
    }
    free (latency);
    PQclear (open);
    PQfinish (conn);
    zsock_destroy (&sub);
    return failed ? 1 : 0;
}
