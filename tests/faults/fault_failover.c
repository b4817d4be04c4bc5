/*  fault_failover — the machine running PostgreSQL's primary is lost under
    load, and its standby takes over (README, "Running in production": the
    two-machine shape).

    Each case builds its own pair with tests/faults/pg_pair.sh (the harness's
    cluster is not used): a primary, the divert database migrated on it with
    `divertctl migrate`, the least-privilege login roles, and a streaming
    standby made with pg_basebackup, two servers on unix sockets in
    DIVERT_TMP with two of the test's own port numbers. divertd (slot 0)
    runs on libpq's multi-host conninfo, host=A,B port=PA,PB
    target_session_attrs=read-write, as the daemon role; the tools
    (divertctl, the audit's own connections) find the primary the same way
    through PGHOST, PGPORT and PGTARGETSESSIONATTRS.

    Load: six Lazy Pirate clients of three sources (1.5 s timeout, 20 sends,
    backoff on `unavailable`) without pause, some sending the same referral
    at once, and a case-management system walking the accepted through
    their enrollment changes (audit_cms). Mid-load the primary's postmaster
    and every process of it are SIGKILLed (the machine is gone), 0.7 s after
    the standby stopped receiving (its WAL sender stalled, as on a slow or
    broken network: the window an asynchronous standby loses); a moment
    later the standby is promoted with `pg_ctl promote` (what
    pg_auto_failover or Patroni do). divertd must keep running, say so
    (ping: db down; STATUS=db DOWN), answer `unavailable` meanwhile, find
    the new primary by itself and decide again. Full (make faults): three
    switches, the lost machine rebuilt as the new standby each time.

    Then, with the load stopped: a slot is freed on the new primary
    (divertctl discharge) and a waitlisted referral must be promoted within
    seconds, although divertd's re-check timer is ten minutes: only its
    LISTEN, re-established on the new primary, can do that.

    The audit (audit.h), against the new primary: every told referral
    decided once as told; every acknowledged enrollment change once; both
    seqs gap-free; caps held; every published event committed.

    Synchronous standby (synchronous_standby_names = '*'): all of it holds.
    Asynchronous (''): COMMIT returns before the standby has the commit, so
    the switch can lose what clients were told. That loss is measured and
    printed (LOST ..., the FIGURES lines, "async loss"), not failed; what
    must hold still holds on what survived: nothing decided twice, caps,
    seqs gap-free, the service back, promotions resumed.
*/
#include "audit.h"
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static itest_t *t;
#define S_STALL_MS 700          //  the standby gets nothing for this long before the loss

//  The two servers: dir [i]/run is the socket directory of port [i]
typedef struct {
    char dir [2][700];
    int port [2];
    int primary;                //  which one is the primary now
    bool sync;
} s_pair_t;

//  Run a shell command (printf-style); its exit status.
static int
s_sh (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

static int
s_sh (const char *format, ...)
{
    char command [2048];
    va_list args;
    va_start (args, format);
    vsnprintf (command, sizeof command, format, args);
    va_end (args);
    fflush (stdout);
    int status = system (command);
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128;
}

//  ---------------------------------------------------------------------------
//  What "systemd" is told (NOTIFY_SOCKET): the STATUS= lines, printed when
//  the database part changes, so the log shows what an operator sees.

static int s_notify = -1;
static atomic_int s_notify_stop;
static pthread_t s_notify_thread;
static char s_status [256];     //  the last STATUS= line
static int s_status_changes;
static pthread_mutex_t s_status_lock = PTHREAD_MUTEX_INITIALIZER;

static void *
s_notify_run (void *arg)
{
    (void) arg;
    while (!atomic_load (&s_notify_stop)) {
        char buffer [512];
        ssize_t size = recv (s_notify, buffer, sizeof buffer - 1, 0);
        if (size <= 0)
            continue;
        buffer [size] = 0;
        char *status = strstr (buffer, "STATUS=");
        if (!status)
            continue;
        status += 7;
        status [strcspn (status, "\n")] = 0;
        pthread_mutex_lock (&s_status_lock);
        bool changed = strncmp (s_status, status, 7) != 0;      //  "db up ·" / "db DOWN"
        snprintf (s_status, sizeof s_status, "%s", status);
        if (changed) {
            s_status_changes++;
            printf ("# %6ld ms STATUS=%s\n", audit_ms (), status);
            fflush (stdout);
        }
        pthread_mutex_unlock (&s_status_lock);
    }
    return NULL;
}

static void
s_notify_start (const char *tmp)
{
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    int length = snprintf (address.sun_path, sizeof address.sun_path, "%s/notify.sock", tmp);
    if (length < 0 || (size_t) length >= sizeof address.sun_path)
        printf ("# %s/notify.sock is too long for a unix socket\n", tmp);
    unlink (address.sun_path);
    s_notify = socket (AF_UNIX, SOCK_DGRAM, 0);
    struct timeval timeout = { 0, 100000 };
    setsockopt (s_notify, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (bind (s_notify, (struct sockaddr *) &address, sizeof address) != 0)
        printf ("# cannot bind %s: %s\n", address.sun_path, strerror (errno));
    setenv ("NOTIFY_SOCKET", address.sun_path, 1);
    s_status [0] = 0;
    s_status_changes = 0;
    atomic_store (&s_notify_stop, 0);
    pthread_create (&s_notify_thread, NULL, s_notify_run, NULL);
}

static void
s_notify_stop_listening (void)
{
    atomic_store (&s_notify_stop, 1);
    pthread_join (s_notify_thread, NULL);
    close (s_notify);
    unsetenv ("NOTIFY_SOCKET");
}

static bool
s_status_says (const char *prefix, int msecs)
{
    int64_t deadline = zclock_mono () + msecs;
    do {
        pthread_mutex_lock (&s_status_lock);
        bool says = strncmp (s_status, prefix, strlen (prefix)) == 0;
        pthread_mutex_unlock (&s_status_lock);
        if (says)
            return true;
        zclock_sleep (20);
    } while (zclock_mono () < deadline);
    return false;
}

//  ---------------------------------------------------------------------------
//  The pair

//  Build the pair and the site; returns false when it could not be built.
static bool
s_pair_up (s_pair_t *pair, const char *tmp, int port_base, bool sync)
{
    memset (pair, 0, sizeof *pair);
    pair->sync = sync;
    for (int i = 0; i < 2; i++) {
        snprintf (pair->dir [i], sizeof pair->dir [i], "%s/pg-%c", tmp, 'a' + i);
        pair->port [i] = port_base + 16 + i;
    }
    const char *bin = getenv ("DIVERT_BIN");
    if (s_sh ("tests/faults/pg_pair.sh primary %s %d", pair->dir [0], pair->port [0]))
        return false;
    //  The schema by its owner, then the login roles (as the harness does)
    if (s_sh ("PGHOST=%s/run PGPORT=%d PGUSER=postgres PGDATABASE=divert %s/divertctl migrate >/dev/null",
              pair->dir [0], pair->port [0], bin))
        return false;
    const char *roles [][2] = { { "DIVERT_DAEMON_USER", "divert_daemon" },
                                { "DIVERT_OPERATOR_USER", "divert_operator" } };
    for (int i = 0; i < 2; i++) {
        const char *user = getenv (roles [i][0]);
        if (user && *user
        &&  s_sh ("psql -X -q -h %s/run -p %d -U postgres -d postgres -c 'CREATE ROLE \"%s\" LOGIN IN ROLE %s'",
                  pair->dir [0], pair->port [0], user, roles [i][1]))
            return false;
    }
    if (s_sh ("tests/faults/pg_pair.sh standby %s %d %s %d %s", pair->dir [1], pair->port [1],
              pair->dir [0], pair->port [0], sync ? "sync" : "async"))
        return false;
    pair->primary = 0;
    //  Every tool of this process and its children finds the primary as divertd does
    char hosts [1500], ports [32];
    snprintf (hosts, sizeof hosts, "%s/run,%s/run", pair->dir [0], pair->dir [1]);
    snprintf (ports, sizeof ports, "%d,%d", pair->port [0], pair->port [1]);
    setenv ("PGHOST", hosts, 1);
    setenv ("PGPORT", ports, 1);
    setenv ("PGDATABASE", "divert", 1);
    setenv ("PGUSER", "postgres", 1);
    setenv ("PGTARGETSESSIONATTRS", "read-write", 1);
    return true;
}

//  divertd's config for slot 0: the multi-host conninfo of the two-machine
//  shape, and a re-check timer too slow to hide a lost LISTEN.
static void
s_write_config (s_pair_t *pair)
{
    char path [600];
    snprintf (path, sizeof path, "%s/divertd-0.conf", itest_tmp (t));
    FILE *file = fopen (path, "w");
    const char *user = getenv ("DIVERT_DAEMON_USER");
    fprintf (file, "divertd\n    intake = %s\n    decisions = %s\n    server_cert = %s\n    log = stderr\n"
                   "    waitlist_recheck = 600s\n"
                   "database\n    conninfo = \"host=%s/run,%s/run port=%d,%d dbname=divert"
                   " target_session_attrs=read-write%s%s\"\n",
             itest_intake (t, 0), itest_decisions (t, 0), itest_server_cert (t),
             pair->dir [0], pair->dir [1], pair->port [0], pair->port [1],
             user && *user ? " user=" : "", user && *user ? user : "");
    fclose (file);
}

//  Stop here: a switch failed, so nothing after it can be trusted (and the
//  clients would wait minutes for a database that will not come). Counts
//  this case as failed and ends the test.
static void
s_abandon (s_pair_t *pair, const char *why)
{
    printf ("  FAIL %s: abandoned (the audit cannot run)\n", why);
    if (itest_daemon_pid (t, 0))
        itest_daemon_stop (t, 0, SIGKILL);
    for (int i = 0; i < 2; i++)
        s_sh ("tests/faults/pg_pair.sh stop %s", pair->dir [i]);
    printf ("not ok - %s\n%s: %d passed, %d failed\n", why, testlib_name, testlib_passed, testlib_failed + 1);
    fflush (stdout);
    _exit (1);
}

//  The primary's machine is lost; the standby is promoted. Then, in full
//  runs, the lost machine comes back as the new standby.
static void
s_switch (s_pair_t *pair, audit_t *audit, int number, bool rebuild)
{
    int old = pair->primary, new = 1 - old;
    //  The standby falls behind first (a slow or broken network): a
    //  synchronous COMMIT waits, an asynchronous one is told done
    if (s_sh ("tests/faults/pg_pair.sh stall %s", pair->dir [old]))
        s_abandon (pair, "could not stall the WAL sender");
    printf ("# %6ld ms switch %d: the standby gets nothing more from the primary\n", audit_ms (), number);
    zclock_sleep (S_STALL_MS);
    if (s_sh ("tests/faults/pg_pair.sh crash %s", pair->dir [old]))
        s_abandon (pair, "could not kill the primary");
    int64_t lost = zclock_mono ();
    printf ("# %6ld ms switch %d: the primary (%s) is lost, %ld decided so far\n",
            audit_ms (), number, pair->dir [old], audit_decided (audit));
    bool saw_down = itest_wait_db (t, "ops", 0, "down", 3000);
    printf ("# %6ld ms switch %d: ping says db %s\n", audit_ms (), number, saw_down ? "down" : "up (not yet noticed)");
    CHECKF (saw_down, "switch %d: divertd did not notice the database went away", number);
    CHECKF (s_status_says ("db DOWN", 2000), "switch %d: STATUS= does not say the database is down", number);
    //  The time automation takes to decide the primary is gone
    zclock_sleep (audit_random_ms (500, 1500));
    CHECKF (audit_daemon_alive (t, 0), "switch %d: divertd exited while there was no primary", number);
    if (s_sh ("tests/faults/pg_pair.sh promote %s", pair->dir [new]))
        s_abandon (pair, "pg_ctl promote failed");
    int64_t promoted = zclock_mono ();
    pair->primary = new;
    printf ("# %6ld ms switch %d: the standby (%s) is promoted\n", audit_ms (), number, pair->dir [new]);
    if (!itest_wait_db (t, "ops", 0, "up", 20000))
        s_abandon (pair, "divertd did not find the new primary within 20 s");
    int64_t up = zclock_mono ();
    printf ("# %6ld ms switch %d: ping says db up: %lld ms after the promotion, %lld ms after the loss\n",
            audit_ms (), number, (long long) (up - promoted), (long long) (up - lost));
    CHECKF (s_status_says ("db up", 2000), "switch %d: STATUS= does not say the database is up", number);
    if (rebuild) {
        if (s_sh ("tests/faults/pg_pair.sh standby %s %d %s %d %s", pair->dir [old], pair->port [old],
                  pair->dir [new], pair->port [new], pair->sync ? "sync" : "async"))
            s_abandon (pair, "the lost machine could not be rebuilt as the standby");
        printf ("# %6ld ms switch %d: %s rebuilt as the new standby\n", audit_ms (), number, pair->dir [old]);
    }
}

//  How many decisions so far were promotions from a waitlist.
static long
s_promoted (void)
{
    return itest_sql_long (t, "SELECT count(*) FROM divert.decision_event WHERE reason = 'accepted_from_waitlist'");
}

//  Wait (up to 10 s) until divertd's promotions settle: none for 500 ms.
//  After a switch its reconnect pass promotes whom the load's exits made
//  room for; until then LEAD may hold nobody and still have people waiting.
static void
s_promotions_settle (void)
{
    long seen = -1;
    int64_t since = zclock_mono (), began = since;
    while (zclock_mono () - since < 500 && zclock_mono () - began < 10000) {
        long now = s_promoted ();
        if (now != seen) {
            seen = now;
            since = zclock_mono ();
        }
        zclock_sleep (50);
    }
}

//  After the switch, with the load and the enrollment changes stopped: free
//  a slot on the new primary and see a waitlisted referral promoted by
//  divertd within `msecs`.
static bool
s_promotion_resumes (audit_t *audit, int msecs)
{
    s_promotions_settle ();
    //  Someone waiting in LEAD whom one free place admits: tier 2 or 1 (a
    //  tier 3 needs two, LEAD holds one ahead of pretrial). The load leaves
    //  LEAD full and people waiting; if none of them is such, community
    //  referrals until one waits.
    for (int i = 0; i < 40 && itest_sql_long (t, "SELECT count(*) FROM divert.waitlist_entry"
                                                 " WHERE program = 'LEAD' AND state = 'open' AND tier <= 2") == 0; i++) {
        size_t index = audit_referral (audit, "cmty", "community", "unsheltered");
        dv_client_t *client = audit_client (audit, "cmty", 0, 5000, 3);
        json_t *reply = dv_client_request (client, audit_request (audit, index));
        audit_record (audit, index, reply, dv_client_attempts_used (client), false);
        json_decref (reply);
        dv_client_destroy (&client);
    }
    s_promotions_settle ();
    long before = s_promoted ();
    char *id = itest_sql_value (t,
        "SELECT r.referral_id FROM divert.referral r JOIN divert.enrollment e ON e.referral_id = r.id"
        " WHERE e.status <> 'exited' AND e.program = 'LEAD' ORDER BY e.id LIMIT 1");
    if (!id || before < 0) {
        printf ("# %6ld ms no open LEAD enrollment to discharge (%s), or the count failed (%ld)\n",
                audit_ms (), id ? id : "none", before);
        printf ("#   LEAD now: %ld open enrollments, %ld waiting (%ld of tier 1 or 2)\n",
                itest_sql_long (t, "SELECT count(*) FROM divert.enrollment WHERE program = 'LEAD' AND status <> 'exited'"),
                itest_sql_long (t, "SELECT count(*) FROM divert.waitlist_entry WHERE program = 'LEAD' AND state = 'open'"),
                itest_sql_long (t, "SELECT count(*) FROM divert.waitlist_entry WHERE program = 'LEAD' AND state = 'open'"
                                   " AND tier <= 2"));
        free (id);
        return false;
    }
    int64_t freed = zclock_mono ();
    int rc = itest_ctl (t, "discharge %s --reason moved >/dev/null", id);
    free (id);
    if (rc != 0) {
        printf ("# %6ld ms divertctl discharge failed (exit %d)\n", audit_ms (), rc);
        return false;
    }
    long after = before;
    while (after <= before && zclock_mono () - freed < msecs) {
        zclock_sleep (50);
        after = s_promoted ();
    }
    printf ("# %6ld ms a slot freed on the new primary: %ld promoted from the waitlist after %lld ms\n",
            audit_ms (), after - before, (long long) (zclock_mono () - freed));
    return after > before;
}

//  ---------------------------------------------------------------------------

static void
s_scenario (bool sync)
{
    const char *label = sync ? "failover-sync" : "failover-async";
    char tmp [600];
    snprintf (tmp, sizeof tmp, "%s/%s", getenv ("DIVERT_TMP"), sync ? "sync" : "async");
    mkdir (tmp, 0777);
    chmod (tmp, 0777);
    s_pair_t pair;
    bool built = s_pair_up (&pair, tmp, atoi (getenv ("DIVERT_PORT_BASE")), sync);
    CHECKF (built, "%s: the primary and standby could not be built", label);
    if (!built)
        return;
    //  This case's own files (keys, configs, logs)
    setenv ("DIVERT_TMP", tmp, 1);
    t = itest_new ();
    s_write_config (&pair);
    audit_site (t);
    s_notify_start (tmp);
    bool started = itest_daemon_start (t, 0) > 0;
    CHECKF (started, "%s: divertd did not start", label);
    if (started) {
        int switches = AUDIT_SIZE (1, 3);
        audit_expect_loss (!sync);
        audit_t *audit = audit_new (t);
        audit_events_t *events = audit_events_start (audit, 0);
        audit_loadset_t load;
        audit_loadset_start (&load, audit, 6, 0, -1, 1500, 20, 0, 4);
        audit_cms_t *changes = audit_cms_start (t, 0);
        for (int number = 1; number <= switches; number++) {
            long before = audit_decided (audit);
            CHECKF (audit_wait_progress (audit, before, AUDIT_SIZE (60, 300), 60000),
                    "switch %d: no progress before it (%ld decided)", number, audit_decided (audit));
            zclock_sleep (audit_random_ms (100, 600));
            s_switch (&pair, audit, number, number < switches);
            audit_churn (t, 3);
        }
        long before = audit_decided (audit);
        CHECKF (audit_wait_progress (audit, before, AUDIT_SIZE (60, 300), 60000),
                "no progress after the switch (%ld decided)", audit_decided (audit) - before);
        audit_loadset_stop (&load);
        audit_cms_stop (changes);       //  its exits would free places too
        CHECKF (s_promotion_resumes (audit, 8000),
                "%s: no promotion from the waitlist after a slot was freed on the new primary", label);
        CHECK (audit_daemon_alive (t, 0));
        audit_figures_t figures = audit_finish (audit, 0, label, &events, &changes);
        CHECKF (audit->errors_unavailable + audit->retried > 0, "%s: no client saw the database go away", label);
        if (!sync)
            printf ("# async loss: %ld of %ld referrals told a decision were lost in the switch"
                    " (%ld of them decided again since)\n", figures.lost, figures.decided, figures.redecided);
        //  Promotions resumed, by divertd, after the last switch
        CHECK (itest_sql_long (t, "SELECT count(*) FROM divert.decision_event WHERE reason = 'accepted_from_waitlist'"
                                  " AND decided_by LIKE 'divertd@%'") > 0);
        audit_destroy (&audit);
        audit_expect_loss (false);
        CHECK_INT (itest_daemon_stop (t, 0, SIGTERM), 0);
    }
    s_notify_stop_listening ();
    itest_destroy (&t);
    for (int i = 0; i < 2; i++)
        s_sh ("tests/faults/pg_pair.sh stop %s", pair.dir [i]);
}

TEST (synchronous_standby_loses_nothing)
{
    s_scenario (true);
}

TEST (asynchronous_standby_measured)
{
    s_scenario (false);
}

int
main (void)
{
    TESTLIB_BEGIN ("fault_failover");
    zsys_init ();
    if (!getenv ("DIVERT_TMP") || !getenv ("DIVERT_PORT_BASE") || !getenv ("DIVERT_BIN")) {
        printf ("fault_failover: run from tests/harness/run-all.sh (DIVERT_TMP, DIVERT_PORT_BASE, DIVERT_BIN)\n");
        return 1;
    }
    char *base = strdup (getenv ("DIVERT_TMP"));
    RUN (synchronous_standby_loses_nothing);
    setenv ("DIVERT_TMP", base, 1);
    RUN (asynchronous_standby_measured);
    free (base);
    return TESTLIB_END ();
}
