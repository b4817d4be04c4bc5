/*  it_systemd — divertd as systemd sees it. The test plays systemd's side:
    an AF_UNIX datagram socket in NOTIFY_SOCKET, WATCHDOG_USEC set. It checks
    READY=1 (after the database answered), STATUS= kept current (and saying
    when the database is down), regular WATCHDOG=1 also while the database is
    down, RELOADING=1 then READY=1 on SIGHUP (a bad new config refused, the
    old one kept), and STOPPING=1 with every in-flight request answered and
    exit 0 on SIGTERM.
*/
#include "itest.h"
#include "testlib.h"
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>

static itest_t *t;

//  What the daemon told "systemd", with when.
typedef struct {
    int64_t at;
    char text [512];
} s_note_t;

static s_note_t s_notes [4096];
static int s_note_count;
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static int s_socket = -1;
static volatile int s_stop;

static void *
s_listen (void *arg)
{
    (void) arg;
    while (!s_stop) {
        char buffer [512];
        ssize_t size = recv (s_socket, buffer, sizeof buffer - 1, 0);
        if (size <= 0)
            continue;
        buffer [size] = 0;
        pthread_mutex_lock (&s_lock);
        if (s_note_count < 4096) {
            s_notes [s_note_count].at = zclock_mono ();
            snprintf (s_notes [s_note_count].text, sizeof s_notes [0].text, "%s", buffer);
            s_note_count++;
        }
        pthread_mutex_unlock (&s_lock);
    }
    return NULL;
}

//  Index of the first note at or after `from` containing `line`; -1 if none
//  within msecs.
static int
s_wait_note (int from, const char *line, int msecs)
{
    int64_t deadline = zclock_mono () + msecs;
    do {
        pthread_mutex_lock (&s_lock);
        for (int i = from; i < s_note_count; i++)
            if (strstr (s_notes [i].text, line)) {
                pthread_mutex_unlock (&s_lock);
                return i;
            }
        pthread_mutex_unlock (&s_lock);
        zclock_sleep (20);
    } while (zclock_mono () < deadline);
    return -1;
}

static int
s_count_notes (int from, const char *line)
{
    int count = 0;
    pthread_mutex_lock (&s_lock);
    for (int i = from; i < s_note_count; i++)
        if (strstr (s_notes [i].text, line))
            count++;
    pthread_mutex_unlock (&s_lock);
    return count;
}

static int
s_now_index (void)
{
    pthread_mutex_lock (&s_lock);
    int index = s_note_count;
    pthread_mutex_unlock (&s_lock);
    return index;
}

TEST (ready_status_watchdog)
{
    CHECK (s_wait_note (0, "READY=1", 1000) >= 0);
    int status = s_wait_note (0, "STATUS=db up", 3000);
    CHECK (status >= 0);
    //  WATCHDOG_USEC = 1 s: a ping every half second
    int from = s_now_index ();
    zclock_sleep (2100);
    int pings = s_count_notes (from, "WATCHDOG=1");
    CHECKF (pings >= 3, "%d watchdog pings in 2.1 s", pings);
    //  A decision shows in STATUS=
    dv_client_t *police = itest_client (t, "spd", 0);
    json_t *request = itest_referral ("arrest_diversion", "unsheltered");
    char *decision = itest_decide (police, request, NULL);
    CHECK_STR (decision, "accept");
    free (decision);
    json_decref (request);
    dv_client_destroy (&police);
    CHECK (s_wait_note (from, "1 decided today (1 accept", 2000) >= 0);
    CHECK (s_wait_note (from, "waitlist CO-LEAD 0, LEAD 0", 2000) >= 0);
}

TEST (watchdog_while_database_down)
{
    CHECK_INT (itest_pg_ctl (t, "stop"), 0);
    int from = s_now_index ();
    CHECK (s_wait_note (from, "STATUS=db DOWN", 4000) >= 0);
    int pings_from = s_now_index ();
    zclock_sleep (2100);
    int pings = s_count_notes (pings_from, "WATCHDOG=1");
    CHECKF (pings >= 3, "%d watchdog pings in 2.1 s with the database down", pings);
    CHECK_INT (itest_pg_ctl (t, "start"), 0);
    CHECK (s_wait_note (pings_from, "STATUS=db up", 8000) >= 0);
}

TEST (reload)
{
    int from = s_now_index ();
    kill (itest_daemon_pid (t, 0), SIGHUP);
    int reloading = s_wait_note (from, "RELOADING=1", 2000);
    CHECK (reloading >= 0);
    CHECK (reloading >= 0 && strstr (s_notes [reloading].text, "MONOTONIC_USEC="));
    CHECK (s_wait_note (reloading + 1, "READY=1", 2000) > reloading);
    //  A broken config is refused and the running one kept
    char path [600];
    snprintf (path, sizeof path, "%s/divertd-0.conf", itest_tmp (t));
    char *saved = NULL;
    {
        zfile_t *file = zfile_new (NULL, path);
        zfile_input (file);
        zchunk_t *chunk = zfile_read (file, zfile_cursize (file), 0);
        saved = zchunk_strdup (chunk);
        zchunk_destroy (&chunk);
        zfile_destroy (&file);
    }
    FILE *file = fopen (path, "w");
    char *broken = strdup (saved);
    char *log = strstr (broken, "log = stderr");
    CHECK (log != NULL);
    if (log)
        memcpy (log, "log = sometime", 14);      //  not auto, journal or stderr
    fputs (broken, file);
    fclose (file);
    free (broken);
    from = s_now_index ();
    kill (itest_daemon_pid (t, 0), SIGHUP);
    reloading = s_wait_note (from, "RELOADING=1", 2000);
    CHECK (reloading >= 0 && s_wait_note (reloading + 1, "READY=1", 2000) > reloading);
    zclock_sleep (200);
    char command [800];
    snprintf (command, sizeof command, "grep -q 'reload refused' %s", itest_daemon_log (t, 0));
    CHECK_INT (system (command), 0);
    dv_client_t *police = itest_client (t, "spd", 0);
    json_t *ping = json_pack ("{s:i, s:s}", "v", 1, "type", "ping");
    json_t *pong = dv_client_request (police, ping);
    CHECK_STR (json_string_value (json_object_get (pong, "type")), "pong");
    json_decref (pong);
    json_decref (ping);
    dv_client_destroy (&police);
    //  A conninfo libpq can't parse is refused on reload too, by name
    file = fopen (path, "w");
    char *conninfo = strstr (saved, "conninfo = \"");
    if (conninfo)           //  the harness's database section: add the typo to it
        fprintf (file, "%.*sconninfo = \"dbnmae=divert %s", (int) (conninfo - saved), saved, conninfo + 12);
    else
        fprintf (file, "%sdatabase\n    conninfo = \"dbnmae=divert\"\n", saved);
    fclose (file);
    from = s_now_index ();
    kill (itest_daemon_pid (t, 0), SIGHUP);
    reloading = s_wait_note (from, "RELOADING=1", 2000);
    CHECK (reloading >= 0 && s_wait_note (reloading + 1, "READY=1", 2000) > reloading);
    zclock_sleep (200);
    snprintf (command, sizeof command, "grep 'reload refused' %s | grep -q 'conninfo.*dbnmae'",
              itest_daemon_log (t, 0));
    CHECK_INT (system (command), 0);
    file = fopen (path, "w");
    fputs (saved, file);
    fclose (file);
    free (saved);
}

//  The first reply is out: stop while the rest are in flight
static void
s_stop_at_first (int i, json_t *reply, void *arg)
{
    (void) reply; (void) arg;
    if (i == 0) {
        int from = s_now_index ();
        kill (itest_daemon_pid (t, 0), SIGTERM);
        CHECK (s_wait_note (from, "STOPPING=1", 2000) >= 0);
    }
}

TEST (stop_answers_in_flight)
{
    zsock_t *dealer = itest_dealer (t, "spd", 0);
    //  The connection is up (handshake done) before the burst
    zsock_send (dealer, "zs", "{\"v\":1,\"type\":\"ping\"}");
    char *pong = NULL;
    CHECK (zsock_recv (dealer, "zs", &pong) == 0);
    zstr_free (&pong);
    const int total = 200;
    CHECK_INT (itest_dealer_send (dealer, total, NULL, NULL), total);
    itest_tally_t tally = itest_dealer_tally (dealer, total, s_stop_at_first, NULL);
    int decided = tally.decided, unavailable = tally.unavailable, other = tally.other + tally.internal;
    printf ("# SIGTERM with %d requests in flight: %d decided, %d unavailable, %d other\n",
            total, decided, unavailable, other);
    CHECK_INT (decided + unavailable, total);
    CHECK_INT (other, 0);
    CHECK (decided > 0);
    CHECK_INT (itest_daemon_stop (t, 0, SIGTERM), 0);     //  already stopping: exit status
    CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM divert.decision_event"), decided + 1);
    zsock_destroy (&dealer);
}

int
main (void)
{
    TESTLIB_BEGIN ("it_systemd");
    t = itest_new ();
    itest_add_source (t, "spd", "police");
    itest_add_cm (t, "cm-a", "LEAD");
    itest_sql (t, "UPDATE divert.program SET hard_cap = 1000, target_avg = 1000 WHERE name = 'LEAD'");
    char path [600];
    snprintf (path, sizeof path, "%s/notify.sock", itest_tmp (t));
    unlink (path);
    s_socket = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    if (strlen (path) >= sizeof address.sun_path) {
        printf ("socket path too long: %s\n", path);
        return 1;
    }
    memcpy (address.sun_path, path, strlen (path) + 1);
    if (bind (s_socket, (struct sockaddr *) &address, sizeof address) != 0) {
        printf ("cannot bind %s\n", path);
        return 1;
    }
    struct timeval timeout = { 0, 200000 };
    setsockopt (s_socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    pthread_t listener;
    pthread_create (&listener, NULL, s_listen, NULL);
    setenv ("NOTIFY_SOCKET", path, 1);
    setenv ("WATCHDOG_USEC", "1000000", 1);
    int started = itest_daemon_start (t, 0);
    unsetenv ("NOTIFY_SOCKET");
    unsetenv ("WATCHDOG_USEC");
    if (started < 0) {
        printf ("divertd did not start\n");
        return 1;
    }
    RUN (ready_status_watchdog);
    RUN (watchdog_while_database_down);
    RUN (reload);
    RUN (stop_answers_in_flight);
    s_stop = 1;
    pthread_join (listener, NULL);
    close (s_socket);
    itest_destroy (&t);
    return TESTLIB_END ();
}
