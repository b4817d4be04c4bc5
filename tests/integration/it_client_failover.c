/*  it_client_failover — the clients move between two daemons on one
    database when one is killed under load.

    Two divertd (slots 0 and 1, "A" and "B"). Every client is given both,
    A first: four divert-submit processes (--endpoint A,B) send referrals,
    divert-watch (--endpoint A,B, --since 0) prints one source's events,
    divert-cms watch (--endpoint A,B, --since 0) prints the LEAD enrollment
    feed, and a thread runs divert-cms enroll (--endpoint A,B) on accepted
    referrals one after the other. When a third of the referrals are
    decided, A is killed with SIGKILL.

    Then:
    - every submitter got a decision for every referral, said it moved to
      B, and every referral has exactly one first decision in the database,
      the one its submitter was told (a resend after the failover that A
      had recorded is a replay); both daemons decided some;
    - one submitter's whole file sent again through A,B (A still dead) is
      answered from B, every reply `replayed` with the decision first told,
      and nothing new is recorded;
    - every enroll exited 0 and each enrollment has exactly one
      intake_completed change; one sent again is `replayed`;
    - divert-watch and divert-cms watch said they moved to B, and printed
      every seq from 1 to the last one in the database exactly once, in
      order, some of them "(replayed)": what was published while they had
      no connection, asked for after the move.

    The second case: A started again, divert-watch on A,B (so on A), the
    referrals sent through B only. A publishes none of them: the watcher
    prints them anyway, replayed after --timeout of silence, and stays on
    A. Then A is stopped (SIGSTOP: its connections stay open, it answers
    nothing): the watcher leaves it for B and prints what follows.
*/
#include "itest.h"
#include "testlib.h"
#include <fcntl.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

#define SUBMITTERS      4
#define PER_SUBMITTER   50
#define ENROLLS_MAX     64

static itest_t *t;
static char s_intakes [160];            //  "A,B" intake endpoints
static char s_decisions [160];          //  "A,B" decisions endpoints
static char s_bin [512];


//  --------------------------------------------------------------------------
//  Processes and files

//  Run argv with stdout and stderr to files; returns the pid.

static pid_t
s_spawn (const char *out, const char *err, char *const argv [])
{
    fflush (stdout);
    pid_t pid = fork ();
    if (pid == 0) {
        int fd = open (out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0)
            dup2 (fd, STDOUT_FILENO);
        fd = open (err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0)
            dup2 (fd, STDERR_FILENO);
        execv (argv [0], argv);
        _exit (127);
    }
    return pid;
}

//  Its exit status within msecs; else it is killed and -1 returned.

static int
s_wait (pid_t pid, int msecs)
{
    int status = 0;
    for (int waited = 0; waited < msecs; waited += 50) {
        if (waitpid (pid, &status, WNOHANG) == pid)
            return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
        zclock_sleep (50);
    }
    kill (pid, SIGKILL);
    waitpid (pid, &status, 0);
    return -1;
}

static char *
s_slurp (const char *path)
{
    zchunk_t *chunk = zchunk_slurp (path, 0);
    char *text = chunk ? strndup ((char *) zchunk_data (chunk), zchunk_size (chunk)) : strdup ("");
    zchunk_destroy (&chunk);
    return text;
}

static void
s_path (char *buffer, size_t size, const char *name)
{
    snprintf (buffer, size, "%s/%s", itest_tmp (t), name);
}

//  Print a file into the test log (when a check about it failed).

static void
s_show (const char *label, const char *path)
{
    char *text = s_slurp (path);
    printf ("# --- %s (%s) ---\n", label, path);
    char *line = text, *next;
    for (int lines = 0; line && *line && lines < 60; line = next, lines++) {
        next = strchr (line, '\n');
        if (next)
            *next++ = 0;
        printf ("#   %s\n", line);
    }
    free (text);
}


//  --------------------------------------------------------------------------
//  Submitters

typedef struct {
    char input [600], out [600], err [600];
    const char *source;
    char ids [PER_SUBMITTER][40];       //  referral ids, lower case
    pid_t pid;
    int status;
} submitter_t;

static submitter_t s_submitters [SUBMITTERS];

static void
s_write_input (submitter_t *self, int index)
{
    self->source = index % 2 ? "kcpd" : "spd";
    char name [64];
    snprintf (name, sizeof name, "refs-%d.jsonl", index);
    s_path (self->input, sizeof self->input, name);
    FILE *file = fopen (self->input, "w");
    for (int i = 0; i < PER_SUBMITTER; i++) {
        json_t *referral = itest_referral (i % 5 == 4 ? "social_contact" : "arrest_diversion",
                                           "unsheltered");
        snprintf (self->ids [i], sizeof self->ids [i], "%s",
                  json_string_value (json_object_get (referral, "referral_id")));
        for (char *c = self->ids [i]; *c; c++)
            *c = (char) tolower ((unsigned char) *c);
        char *line = json_dumps (referral, JSON_COMPACT);
        fprintf (file, "%s\n", line);
        free (line);
        json_decref (referral);
    }
    fclose (file);
}

static pid_t
s_submit (submitter_t *self, const char *out, const char *err)
{
    char cert [600];
    snprintf (cert, sizeof cert, "%s", itest_cert (t, self->source));
    char path [600];
    snprintf (path, sizeof path, "%s/divert-submit", s_bin);
    char *argv [] = { path, "--endpoint", s_intakes, "--server-key", (char *) itest_server_cert (t),
                      "--cert", cert, "--timeout", "800", "--attempts", "6", "--json",
                      self->input, NULL };
    return s_spawn (out, err, argv);
}

//  What a submitter was told: referral id -> the reply (JSON lines).

static int
s_replies (const char *path, zhashx_t *told)
{
    char *text = s_slurp (path);
    int count = 0;
    char *line = text, *next;
    for (; line && *line; line = next) {
        next = strchr (line, '\n');
        if (next)
            *next++ = 0;
        json_t *reply = json_loads (line, 0, NULL);
        const char *id = json_string_value (json_object_get (reply, "referral_id"));
        if (id && streq (itest_str (reply, "type"), "decision")) {
            char key [40];
            snprintf (key, sizeof key, "%s", id);
            for (char *c = key; *c; c++)
                *c = (char) tolower ((unsigned char) *c);
            zhashx_update (told, key, json_incref (reply));
            count++;
        }
        else
            printf ("  not a decision: %s\n", line);
        json_decref (reply);
    }
    free (text);
    return count;
}

static void
s_reply_free (void **item)
{
    json_t *reply = (json_t *) *item;
    json_decref (reply);
    *item = NULL;
}


//  --------------------------------------------------------------------------
//  Enrolls, one after the other in a thread, until told to stop

typedef struct {
    char source [32], referral [40];
    int status;
    bool replayed;
    bool before_kill;
} enroll_t;

static enroll_t s_enrolls [ENROLLS_MAX];
static int s_enroll_count;
static atomic_int s_enroll_stop;
static atomic_int s_enrolls_after;      //  enrolls begun after the kill, done
static atomic_int s_killed;

//  divert-cms enroll SOURCE REFERRAL intake_completed through A,B; the
//  exit status, and whether the reply said replayed.

static int
s_enroll (const char *source, const char *referral, const char *tag, bool *replayed)
{
    char out [600], err [600], path [600], cert [600], name [80];
    snprintf (name, sizeof name, "enroll-%s.out", tag);
    s_path (out, sizeof out, name);
    snprintf (name, sizeof name, "enroll-%s.err", tag);
    s_path (err, sizeof err, name);
    snprintf (path, sizeof path, "%s/divert-cms", s_bin);
    snprintf (cert, sizeof cert, "%s/records.cert", itest_tmp (t));
    char *argv [] = { path, "--endpoint", s_intakes, "--server-key", (char *) itest_server_cert (t),
                      "--cert", cert, "--timeout", "800", "--attempts", "6", "--json",
                      "enroll", (char *) source, (char *) referral, "intake_completed", NULL };
    int status = s_wait (s_spawn (out, err, argv), 20000);
    char *text = s_slurp (out);
    json_t *reply = json_loads (text, 0, NULL);
    *replayed = json_is_true (json_object_get (reply, "replayed"));
    if (status != 0) {
        s_show ("divert-cms enroll stdout", out);
        s_show ("divert-cms enroll stderr", err);
    }
    json_decref (reply);
    free (text);
    return status;
}

static void *
s_enroller (void *arg)
{
    (void) arg;
    PGconn *conn = PQconnectdb ("application_name=it_client_failover");
    while (!atomic_load (&s_enroll_stop) && s_enroll_count < ENROLLS_MAX
       &&  PQstatus (conn) == CONNECTION_OK) {
        PGresult *result = PQexec (conn,
            "SELECT r.source_id, lower(r.referral_id) FROM divert.referral r"
            "  JOIN divert.enrollment e ON e.referral_id = r.id"
            " WHERE e.status = 'pending_intake' ORDER BY random() LIMIT 1");
        if (PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1) {
            enroll_t *enroll = &s_enrolls [s_enroll_count];
            snprintf (enroll->source, sizeof enroll->source, "%s", PQgetvalue (result, 0, 0));
            snprintf (enroll->referral, sizeof enroll->referral, "%s", PQgetvalue (result, 0, 1));
            enroll->before_kill = !atomic_load (&s_killed);
            char tag [16];
            snprintf (tag, sizeof tag, "%d", s_enroll_count);
            enroll->status = s_enroll (enroll->source, enroll->referral, tag, &enroll->replayed);
            s_enroll_count++;
            if (!enroll->before_kill)
                atomic_fetch_add (&s_enrolls_after, 1);
        }
        else
            zclock_sleep (100);
        PQclear (result);
    }
    PQfinish (conn);
    return NULL;
}


//  --------------------------------------------------------------------------
//  Watchers: the seq of each "seq N  ..." line, in order

typedef struct {
    long seqs [4096];
    int count;
    int replayed;               //  lines marked "(replayed)"
} seqs_t;

static void
s_seqs (const char *path, seqs_t *seqs)
{
    memset (seqs, 0, sizeof *seqs);
    char *text = s_slurp (path);
    char *line = text, *next;
    for (; line && *line; line = next) {
        next = strchr (line, '\n');
        if (next)
            *next++ = 0;
        if (strncmp (line, "seq ", 4) != 0 || seqs->count == 4096)
            continue;
        seqs->seqs [seqs->count++] = atol (line + 4);
        seqs->replayed += strstr (line, "(replayed)") != NULL;
    }
    free (text);
}

//  Wait until the watcher printed `last` (up to msecs), then SIGTERM it;
//  returns its exit status.

static int
s_watch_finish (pid_t pid, const char *out, long last, int msecs)
{
    seqs_t *seqs = malloc (sizeof (seqs_t));
    for (int waited = 0; waited < msecs; waited += 200) {
        s_seqs (out, seqs);
        if (seqs->count && seqs->seqs [seqs->count - 1] >= last)
            break;
        zclock_sleep (200);
    }
    free (seqs);
    kill (pid, SIGTERM);
    return s_wait (pid, 10000);
}

//  Every seq 1..last once, in order; some replayed.

static void
s_check_gap_free (const char *what, const char *out, long last)
{
    seqs_t *seqs = malloc (sizeof (seqs_t));
    s_seqs (out, seqs);
    bool in_order = seqs->count == last;
    for (int i = 0; i < seqs->count && in_order; i++)
        in_order = seqs->seqs [i] == i + 1;
    CHECKF (in_order, "%s printed %d seqs, expected 1..%ld once each in order", what, seqs->count, last);
    CHECKF (seqs->replayed > 0, "%s replayed nothing after the move", what);
    printf ("# %s: %d events, %d of them replayed\n", what, seqs->count, seqs->replayed);
    if (!in_order)
        s_show (what, out);
    free (seqs);
}


//  --------------------------------------------------------------------------
//  The scenario

TEST (one_daemon_killed_under_load)
{
    char watch_out [600], watch_err [600], cms_out [600], cms_err [600];
    s_path (watch_out, sizeof watch_out, "watch.out");
    s_path (watch_err, sizeof watch_err, "watch.err");
    s_path (cms_out, sizeof cms_out, "cms-watch.out");
    s_path (cms_err, sizeof cms_err, "cms-watch.err");

    //  The watchers, from the start of both feeds
    char path [600], cert [600], records [600];
    snprintf (path, sizeof path, "%s/divert-watch", s_bin);
    snprintf (cert, sizeof cert, "%s", itest_cert (t, "spd"));
    char *watch_argv [] = { path, "--endpoint", s_decisions, "--server-key", (char *) itest_server_cert (t),
                            "--cert", cert, "--since", "0", "--timeout", "2000", "--attempts", "4", NULL };
    pid_t watch = s_spawn (watch_out, watch_err, watch_argv);
    char cms_path [600];
    snprintf (cms_path, sizeof cms_path, "%s/divert-cms", s_bin);
    snprintf (records, sizeof records, "%s", itest_cert (t, "records"));
    char *cms_argv [] = { cms_path, "--endpoint", s_intakes, "--server-key", (char *) itest_server_cert (t),
                          "--cert", records, "--timeout", "2000", "--attempts", "4",
                          "watch", "--program", "LEAD", "--since", "0", NULL };
    pid_t cms_watch = s_spawn (cms_out, cms_err, cms_argv);

    //  The load
    for (int i = 0; i < SUBMITTERS; i++) {
        submitter_t *self = &s_submitters [i];
        s_write_input (self, i);
        char name [64];
        snprintf (name, sizeof name, "submit-%d.out", i);
        s_path (self->out, sizeof self->out, name);
        snprintf (name, sizeof name, "submit-%d.err", i);
        s_path (self->err, sizeof self->err, name);
    }
    for (int i = 0; i < SUBMITTERS; i++)
        s_submitters [i].pid = s_submit (&s_submitters [i], s_submitters [i].out, s_submitters [i].err);
    pthread_t enroller;
    pthread_create (&enroller, NULL, s_enroller, NULL);

    //  A third decided: A is killed
    long total = SUBMITTERS * PER_SUBMITTER;
    long decided = 0;
    for (int waited = 0; waited < 30000 && decided < total / 3; waited += 20) {
        decided = itest_sql_long (t, "SELECT count(*) FROM divert.decision_event");
        zclock_sleep (20);
    }
    CHECKF (decided >= total / 3 && decided < total, "%ld of %ld decided when A was to be killed",
            decided, total);
    atomic_store (&s_killed, 1);
    CHECK_INT (itest_daemon_stop (t, 0, SIGKILL), 128 + SIGKILL);
    printf ("# A killed with %ld of %ld referrals decided\n", decided, total);

    //  Every submitter finishes through B
    for (int i = 0; i < SUBMITTERS; i++) {
        submitter_t *self = &s_submitters [i];
        self->status = s_wait (self->pid, 40000);
        CHECKF (self->status >= 0 && self->status <= 2, "submitter %d exited %d", i, self->status);
        char *err = s_slurp (self->err);
        char moved [256];
        snprintf (moved, sizeof moved, "moved to %s", itest_intake (t, 1));
        CHECKF (strstr (err, moved), "submitter %d did not say \"%s\"", i, moved);
        if (self->status < 0 || self->status > 2 || !strstr (err, moved))
            s_show ("submitter stderr", self->err);
        free (err);
    }
    //  At least two enrolls sent to A,B while A is dead
    for (int waited = 0; waited < 15000 && atomic_load (&s_enrolls_after) < 2; waited += 50)
        zclock_sleep (50);
    atomic_store (&s_enroll_stop, 1);
    pthread_join (enroller, NULL);

    //  What each was told is what the database holds, once
    zhashx_t *told = zhashx_new ();
    zhashx_set_destructor (told, s_reply_free);
    int replies = 0;
    for (int i = 0; i < SUBMITTERS; i++)
        replies += s_replies (s_submitters [i].out, told);
    CHECK_INT (replies, total);
    long replayed = 0;
    for (json_t *reply = (json_t *) zhashx_first (told); reply; reply = (json_t *) zhashx_next (told))
        replayed += json_is_true (json_object_get (reply, "replayed"));
    CHECK_INT (itest_sql_long (t,
        "SELECT count(*) FROM (SELECT r.id FROM divert.referral r"
        "  LEFT JOIN divert.decision_event e ON e.referral_id = r.id"
        "   AND e.decision IN ('accept', 'waitlist', 'decline') AND NOT e.from_waitlist"
        " GROUP BY r.id HAVING count(e.id) <> 1) twice"), 0);
    CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM divert.referral"), total);
    int mismatched = 0;
    for (int i = 0; i < SUBMITTERS; i++)
        for (int k = 0; k < PER_SUBMITTER; k++) {
            const char *id = s_submitters [i].ids [k];
            json_t *reply = (json_t *) zhashx_lookup (told, id);
            char sql [400];
            snprintf (sql, sizeof sql,
                      "SELECT e.decision || ' ' || e.seq FROM divert.decision_event e"
                      "  JOIN divert.referral r ON r.id = e.referral_id"
                      " WHERE lower(r.referral_id) = '%s' ORDER BY e.id LIMIT 1", id);
            char *stored = itest_sql_value (t, sql);
            char expected [64];
            snprintf (expected, sizeof expected, "%s %lld", itest_str (reply, "decision"),
                      (long long) json_integer_value (json_object_get (reply, "seq")));
            if (!reply || !stored || !streq (stored, expected)) {
                if (mismatched++ < 5)
                    printf ("  %s: told %s, stored %s\n", id, reply ? expected : "nothing",
                            stored ? stored : "nothing");
            }
            free (stored);
        }
    CHECK_INT (mismatched, 0);
    CHECK_INT (itest_sql_long (t, "SELECT count(DISTINCT decided_by) FROM divert.decision_event"
                                  " WHERE decided_by LIKE 'divertd@%'"), 2);
    printf ("FIGURES failover: %ld referrals, %ld decided before the kill, %ld replies replayed\n",
            total, decided, replayed);

    //  A whole file again, A still dead: every reply a replay from B
    long events = itest_sql_long (t, "SELECT count(*) FROM divert.decision_event");
    char again_out [600], again_err [600];
    s_path (again_out, sizeof again_out, "again.out");
    s_path (again_err, sizeof again_err, "again.err");
    int status = s_wait (s_submit (&s_submitters [0], again_out, again_err), 30000);
    CHECKF (status >= 0 && status <= 2, "the resend exited %d", status);
    zhashx_t *again = zhashx_new ();
    zhashx_set_destructor (again, s_reply_free);
    CHECK_INT (s_replies (again_out, again), PER_SUBMITTER);
    int fresh = 0, differ = 0;
    for (int k = 0; k < PER_SUBMITTER; k++) {
        json_t *first = (json_t *) zhashx_lookup (told, s_submitters [0].ids [k]);
        json_t *second = (json_t *) zhashx_lookup (again, s_submitters [0].ids [k]);
        fresh += !json_is_true (json_object_get (second, "replayed"));
        differ += !first || !second
               || !streq (itest_str (first, "decision"), itest_str (second, "decision"))
               || json_integer_value (json_object_get (first, "seq"))
               != json_integer_value (json_object_get (second, "seq"));
    }
    CHECK_INT (fresh, 0);
    CHECK_INT (differ, 0);
    CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM divert.decision_event"), events);
    char *err = s_slurp (again_err);
    char moved [256];
    snprintf (moved, sizeof moved, "moved to %s", itest_intake (t, 1));
    CHECKF (strstr (err, moved), "the resend did not say \"%s\"", moved);
    free (err);
    zhashx_destroy (&again);
    zhashx_destroy (&told);

    //  The enrollment changes: each recorded once, whichever daemon
    int enrolled = 0, after_kill = 0;
    for (int i = 0; i < s_enroll_count; i++) {
        CHECKF (s_enrolls [i].status == 0, "enroll %d (%s) exited %d", i, s_enrolls [i].referral,
                s_enrolls [i].status);
        enrolled += s_enrolls [i].status == 0;
        after_kill += !s_enrolls [i].before_kill;
    }
    printf ("# %d enrolls, %d of them begun after the kill\n", s_enroll_count, after_kill);
    CHECKF (after_kill >= 2, "%d enrolls, %d after the kill", s_enroll_count, after_kill);
    CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM (SELECT enrollment_id FROM divert.enrollment_event"
                                  " WHERE change = 'intake_completed' GROUP BY enrollment_id"
                                  " HAVING count(*) > 1) twice"), 0);
    CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM divert.enrollment_event"
                                  " WHERE change = 'intake_completed'"), enrolled);
    if (s_enroll_count > 0) {
        bool again_replayed = false;
        CHECK_INT (s_enroll (s_enrolls [0].source, s_enrolls [0].referral, "again", &again_replayed), 0);
        CHECK (again_replayed);
        CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM divert.enrollment_event"
                                      " WHERE change = 'intake_completed'"), enrolled);
    }

    //  The watchers: moved, and gap-free
    long last_spd = itest_sql_long (t, "SELECT max(seq) FROM divert.decision_event WHERE source_id = 'spd'");
    long last_lead = itest_sql_long (t, "SELECT max(seq) FROM divert.enrollment_event WHERE program = 'LEAD'");
    CHECK_INT (s_watch_finish (watch, watch_out, last_spd, 20000), 0);
    CHECK_INT (s_watch_finish (cms_watch, cms_out, last_lead, 20000), 0);
    s_check_gap_free ("divert-watch", watch_out, last_spd);
    s_check_gap_free ("divert-cms watch", cms_out, last_lead);
    err = s_slurp (watch_err);
    snprintf (moved, sizeof moved, "moved to %s", itest_decisions (t, 1));
    CHECKF (strstr (err, moved), "divert-watch did not say \"%s\"", moved);
    free (err);
    err = s_slurp (cms_err);
    CHECKF (strstr (err, moved), "divert-cms watch did not say \"%s\"", moved);
    free (err);
    s_show ("divert-watch stderr", watch_err);
    s_show ("divert-cms watch stderr", cms_err);
}

//  Send `count` referrals from spd through daemon `slot` only.

static void
s_decide_through (int slot, int count)
{
    dv_client_t *client = itest_client (t, "spd", slot);
    for (int i = 0; i < count; i++) {
        json_t *request = itest_referral ("arrest_diversion", "unsheltered");
        char *decision = itest_decide (client, request, NULL);
        json_decref (request);
        CHECKF (!strstr (decision, "error") && !streq (decision, "no-reply"), "through %d: %s", slot, decision);
        free (decision);
    }
    dv_client_destroy (&client);
}

TEST (watch_follows_decisions_made_elsewhere_and_leaves_a_hung_daemon)
{
    CHECKF (itest_daemon_start (t, 0) > 0, "A did not start again");
    long since = itest_sql_long (t, "SELECT max(seq) FROM divert.decision_event WHERE source_id = 'spd'");
    char out [600], err [600], path [600], cert [600], from [32];
    s_path (out, sizeof out, "watch2.out");
    s_path (err, sizeof err, "watch2.err");
    snprintf (path, sizeof path, "%s/divert-watch", s_bin);
    snprintf (cert, sizeof cert, "%s", itest_cert (t, "spd"));
    snprintf (from, sizeof from, "%ld", since);
    char *argv [] = { path, "--endpoint", s_decisions, "--server-key", (char *) itest_server_cert (t),
                      "--cert", cert, "--since", from, "--timeout", "1000", "--attempts", "3", NULL };
    pid_t watch = s_spawn (out, err, argv);
    zclock_sleep (500);

    //  Decided through B, published on B only: printed after a second of silence
    s_decide_through (1, 2);
    seqs_t *seqs = malloc (sizeof (seqs_t));
    for (int waited = 0; waited < 8000; waited += 100) {
        s_seqs (out, seqs);
        if (seqs->count >= 2)
            break;
        zclock_sleep (100);
    }
    CHECK_INT (seqs->count, 2);
    CHECK_INT (seqs->replayed, 2);
    char *text = s_slurp (err);
    CHECKF (!strstr (text, "moved"), "the watcher left A, which was there: %s", text);
    free (text);

    //  A hangs: the watcher leaves it for B
    kill (itest_daemon_pid (t, 0), SIGSTOP);
    s_decide_through (1, 2);
    long last = itest_sql_long (t, "SELECT max(seq) FROM divert.decision_event WHERE source_id = 'spd'");
    CHECK_INT (last, since + 4);
    for (int waited = 0; waited < 15000; waited += 100) {
        s_seqs (out, seqs);
        if (seqs->count >= 4)
            break;
        zclock_sleep (100);
    }
    kill (itest_daemon_pid (t, 0), SIGCONT);
    kill (watch, SIGTERM);
    CHECK_INT (s_wait (watch, 10000), 0);
    s_seqs (out, seqs);
    CHECK_INT (seqs->count, 4);
    for (int i = 0; i < seqs->count && i < 4; i++)
        CHECK_INT (seqs->seqs [i], since + 1 + i);
    text = s_slurp (err);
    char moved [256];
    snprintf (moved, sizeof moved, "moved to %s", itest_decisions (t, 1));
    CHECKF (strstr (text, moved), "divert-watch did not say \"%s\"", moved);
    free (text);
    s_show ("divert-watch stdout", out);
    s_show ("divert-watch stderr", err);
    free (seqs);
    CHECK_INT (itest_daemon_stop (t, 0, SIGTERM), 0);
}

int
main (void)
{
    TESTLIB_BEGIN ("it_client_failover");
    zsys_init ();
    t = itest_new ();
    snprintf (s_bin, sizeof s_bin, "%s", getenv ("DIVERT_BIN") ? getenv ("DIVERT_BIN") : "build/bin");
    snprintf (s_intakes, sizeof s_intakes, "%s,%s", itest_intake (t, 0), itest_intake (t, 1));
    snprintf (s_decisions, sizeof s_decisions, "%s,%s", itest_decisions (t, 0), itest_decisions (t, 1));
    //  Notices and worse only: thousands of decisions would bury a failure
    for (int slot = 0; slot < 2; slot++)
        itest_config_append (t, slot, "    log_level = notice");
    itest_add_source (t, "spd", "police");
    itest_add_source (t, "kcpd", "police");
    itest_add_cms (t, "records", "LEAD");
    //  Room for everyone, so most are accepted and the feed moves
    itest_sql (t, "INSERT INTO divert.case_manager (id, program, name) VALUES"
                  " ('cm-a', 'LEAD', 'CM a'), ('cm-b', 'LEAD', 'CM b')");
    itest_sql (t, "UPDATE divert.program SET hard_cap = 200, target_avg = 200, reserve_tier1 = 0,"
                  " reserve_tier2 = 0 WHERE name = 'LEAD'");
    if (itest_daemon_start (t, 0) < 0 || itest_daemon_start (t, 1) < 0) {
        printf ("divertd did not start\n");
        itest_destroy (&t);
        return 1;
    }
    RUN (one_daemon_killed_under_load);
    RUN (watch_follows_decisions_made_elsewhere_and_leaves_a_hung_daemon);
    CHECK_INT (itest_daemon_stop (t, 1, SIGTERM), 0);
    itest_destroy (&t);
    return TESTLIB_END ();
}
