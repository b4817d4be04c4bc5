/*  itest — shared set-up for the integration tests. See itest.h. */
#include "itest.h"
#include <stdarg.h>
#include <sys/wait.h>

struct _itest_t {
    char tmp [512];
    char bin [512];
    int port_base;
    char server_cert [600];
    char config [ITEST_MAX_DAEMONS][600];
    char log [ITEST_MAX_DAEMONS][600];
    char intake [ITEST_MAX_DAEMONS][64];
    char decisions [ITEST_MAX_DAEMONS][64];
    pid_t pid [ITEST_MAX_DAEMONS];
    char cert [600];
    dv_db_t *db;
};

static const char *
s_env (const char *name, const char *fallback)
{
    const char *value = getenv (name);
    return value && *value ? value : fallback;
}

itest_t *
itest_new (void)
{
    itest_t *self = calloc (1, sizeof *self);
    snprintf (self->tmp, sizeof self->tmp, "%s", s_env ("DIVERT_TMP", "/tmp"));
    snprintf (self->bin, sizeof self->bin, "%s", s_env ("DIVERT_BIN", "build/bin"));
    self->port_base = atoi (s_env ("DIVERT_PORT_BASE", "41000"));
    snprintf (self->server_cert, sizeof self->server_cert, "%s/server.cert", self->tmp);
    if (!zsys_file_exists (self->server_cert))
        itest_ctl (self, "keygen %s", self->server_cert);
    for (int slot = 0; slot < ITEST_MAX_DAEMONS; slot++) {
        snprintf (self->intake [slot], 64, "tcp://127.0.0.1:%d", self->port_base + slot * 2);
        snprintf (self->decisions [slot], 64, "tcp://127.0.0.1:%d", self->port_base + slot * 2 + 1);
        char path [600];
        snprintf (path, sizeof path, "%s/divertd-%d.conf", s_env ("DIVERT_TMP", "/tmp"), slot);
        memcpy (self->config [slot], path, sizeof path);
        snprintf (path, sizeof path, "%s/divertd-%d.log", s_env ("DIVERT_TMP", "/tmp"), slot);
        memcpy (self->log [slot], path, sizeof path);
        FILE *file = fopen (self->config [slot], "w");
        //  The daemon's least-privilege role, when the harness made one. The
        //  divertd section comes last, so itest_config_append adds to it.
        const char *user = getenv ("DIVERT_DAEMON_USER");
        if (user && *user)
            fprintf (file, "database\n    conninfo = \"user=%s\"\n", user);
        fprintf (file, "divertd\n    intake = %s\n    decisions = %s\n    server_cert = %s\n"
                       "    log = stderr\n    waitlist_recheck = 1s\n",
                 self->intake [slot], self->decisions [slot], self->server_cert);
        fclose (file);
    }
    self->db = dv_db_new (NULL, "itest");
    if (dv_db_connect (self->db) != 0)
        fprintf (stderr, "itest: database: %s\n", dv_db_error (self->db));
    return self;
}

void
itest_destroy (itest_t **self_p)
{
    if (self_p && *self_p) {
        itest_t *self = *self_p;
        for (int slot = 0; slot < ITEST_MAX_DAEMONS; slot++)
            if (self->pid [slot] > 0)
                itest_daemon_stop (self, slot, SIGTERM);
        for (int slot = 0; slot < ITEST_MAX_DAEMONS; slot++) {
            FILE *log = fopen (self->log [slot], "r");
            if (!log)
                continue;
            printf ("# --- divertd slot %d log ---\n", slot);
            char line [2048];
            while (fgets (line, sizeof line, log))
                printf ("# %s", line);
            fclose (log);
        }
        dv_db_destroy (&self->db);
        free (self);
        *self_p = NULL;
    }
}

int
itest_ctl (itest_t *self, const char *format, ...)
{
    char args [2048], command [2600];
    va_list list;
    va_start (list, format);
    vsnprintf (args, sizeof args, format, list);
    va_end (list);
    //  As an operator (least privilege) when the harness made such a role
    const char *user = getenv ("DIVERT_OPERATOR_USER");
    if (user && *user)
        snprintf (command, sizeof command, "PGUSER=%s %s/divertctl %s 2>&1", user, self->bin, args);
    else
        snprintf (command, sizeof command, "%s/divertctl %s 2>&1", self->bin, args);
    fflush (stdout);
    int status = system (command);
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128;
}

int
itest_sql (itest_t *self, const char *sql)
{
    if (!dv_db_connected (self->db))
        dv_db_connect (self->db);
    int rc = dv_db_command (self->db, sql);
    if (rc)
        printf ("  sql error: %s\n", dv_db_error (self->db));
    return rc;
}

char *
itest_sql_value (itest_t *self, const char *sql)
{
    if (!dv_db_connected (self->db))
        dv_db_connect (self->db);
    PGresult *result = dv_db_exec (self->db, sql, 0, NULL);
    if (!result && !dv_db_connected (self->db) && dv_db_connect (self->db) == 0)
        result = dv_db_exec (self->db, sql, 0, NULL);     //  the server was restarted
    if (!result) {
        printf ("  sql error: %s\n", dv_db_error (self->db));
        return NULL;
    }
    char *value = PQntuples (result) > 0 && !PQgetisnull (result, 0, 0)
                ? strdup (PQgetvalue (result, 0, 0)) : NULL;
    PQclear (result);
    return value;
}

long
itest_sql_long (itest_t *self, const char *sql)
{
    char *value = itest_sql_value (self, sql);
    long number = value ? atol (value) : -1;
    free (value);
    return number;
}

const char *
itest_sql_error (itest_t *self)
{
    const char *error = dv_db_error (self->db);
    return error ? error : "";
}

const char *
itest_cert (itest_t *self, const char *id)
{
    snprintf (self->cert, sizeof self->cert, "%s/%s.cert", self->tmp, id);
    return self->cert;
}

void
itest_add_source (itest_t *self, const char *id, const char *kind)
{
    itest_ctl (self, "source add %s --kind %s --name 'Test %s' --cert-out %s >/dev/null",
               id, kind, id, itest_cert (self, id));
}

void
itest_add_monitor (itest_t *self, const char *id)
{
    itest_ctl (self, "monitor add %s --cert-out %s >/dev/null", id, itest_cert (self, id));
}

void
itest_add_cms (itest_t *self, const char *id, const char *programs)
{
    itest_ctl (self, "cms add %s --programs %s --name 'CMS %s' --cert-out %s >/dev/null",
               id, programs, id, itest_cert (self, id));
}

void
itest_add_cm (itest_t *self, const char *id, const char *program)
{
    itest_ctl (self, "cm add %s --program %s --name 'CM %s' >/dev/null", id, program, id);
}

void
itest_config_append (itest_t *self, int slot, const char *line)
{
    FILE *file = fopen (self->config [slot], "a");
    fprintf (file, "%s\n", line);
    fclose (file);
}

const char *itest_intake (itest_t *self, int slot) { return self->intake [slot]; }
const char *itest_daemon_log (itest_t *self, int slot) { return self->log [slot]; }
int itest_daemon_pid (itest_t *self, int slot) { return self->pid [slot] > 0 ? self->pid [slot] : 0; }
const char *itest_decisions (itest_t *self, int slot) { return self->decisions [slot]; }
const char *itest_server_cert (itest_t *self) { return self->server_cert; }
const char *itest_tmp (itest_t *self) { return self->tmp; }

dv_client_t *
itest_client (itest_t *self, const char *id, int slot)
{
    char cert [600];
    snprintf (cert, sizeof cert, "%s/%s.cert", self->tmp, id);
    dv_client_t *client = dv_client_new (self->intake [slot], self->server_cert, cert);
    if (client) {
        dv_client_set_timeout (client, 3000);
        dv_client_set_attempts (client, 3);
    }
    return client;
}

zsock_t *
itest_dealer (itest_t *self, const char *id, int slot)
{
    char cert_path [600];
    snprintf (cert_path, sizeof cert_path, "%s/%s.cert", self->tmp, id);
    zcert_t *client = zcert_load (cert_path);
    zcert_t *server = zcert_load (self->server_cert);
    if (!client || !server) {
        zcert_destroy (&client);
        zcert_destroy (&server);
        return NULL;
    }
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zcert_apply (client, dealer);
    zsock_set_curve_serverkey (dealer, zcert_public_txt (server));
    zsock_set_rcvtimeo (dealer, 10000);
    zsock_set_linger (dealer, 0);
    zsock_connect (dealer, "%s", self->intake [slot]);
    zcert_destroy (&client);
    zcert_destroy (&server);
    return dealer;
}

//  Ping until the database is `state`, msecs at most; stop early when the
//  process `pid` (> 0) has exited.
static bool
s_wait_db (itest_t *self, const char *id, int slot, const char *state, int msecs, int pid)
{
    dv_client_t *client = itest_client (self, id, slot);
    dv_client_set_timeout (client, 500);
    dv_client_set_attempts (client, 1);
    json_t *ping = json_pack ("{s:i, s:s}", "v", 1, "type", "ping");
    bool says = false;
    int64_t deadline = zclock_mono () + msecs;
    while (!says && zclock_mono () < deadline) {
        int status;
        if (pid > 0 && waitpid (pid, &status, WNOHANG) == pid) {
            self->pid [slot] = 0;
            break;
        }
        json_t *reply = dv_client_request (client, ping);
        const char *db = json_string_value (json_object_get (reply, "db"));
        says = db && streq (db, state);
        json_decref (reply);
        if (!says)
            zclock_sleep (50);
    }
    json_decref (ping);
    dv_client_destroy (&client);
    return says;
}

bool
itest_wait_db (itest_t *self, const char *id, int slot, const char *state, int msecs)
{
    return s_wait_db (self, id, slot, state, msecs, 0);
}

int
itest_daemon_start (itest_t *self, int slot)
{
    fflush (stdout);
    pid_t pid = fork ();
    if (pid == 0) {
        FILE *log = fopen (self->log [slot], "a");
        if (log)
            dup2 (fileno (log), STDERR_FILENO);
        char path [600];
        snprintf (path, sizeof path, "%s/divertd", self->bin);
        execl (path, "divertd", "-c", self->config [slot], "-f", (char *) NULL);
        _exit (127);
    }
    self->pid [slot] = pid;
    //  Ready when a monitor ping says the database is up.
    char monitor [600];
    snprintf (monitor, sizeof monitor, "%s/itest-monitor.cert", self->tmp);
    if (!zsys_file_exists (monitor))
        itest_ctl (self, "monitor add itest-monitor --cert-out %s >/dev/null", monitor);
    bool up = s_wait_db (self, "itest-monitor", slot, "up", 10000, pid);
    if (!up) {                  //  say why, in the test's own log
        printf ("# divertd slot %d did not become ready; its log:\n", slot);
        fflush (stdout);
        char command [800];
        snprintf (command, sizeof command, "sed 's/^/#   /' %s | tail -n 20", self->log [slot]);
        if (system (command) != 0)
            printf ("#   (no log)\n");
    }
    return up ? pid : -1;
}

int
itest_daemon_stop (itest_t *self, int slot, int signum)
{
    if (self->pid [slot] <= 0)
        return -1;
    kill (self->pid [slot], signum);
    int status = 0;
    for (int i = 0; i < 300; i++) {         //  30 s at most
        if (waitpid (self->pid [slot], &status, WNOHANG) == self->pid [slot])
            break;
        if (i == 299) {
            kill (self->pid [slot], SIGKILL);
            waitpid (self->pid [slot], &status, 0);
        }
        zclock_sleep (100);
    }
    self->pid [slot] = 0;
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

json_t *
itest_referral (const char *pathway, const char *housing)
{
    static int counter = 0;
    zuuid_t *uuid = zuuid_new ();
    char person [64];
    snprintf (person, sizeof person, "P-%d-%s", ++counter, zuuid_str (uuid) + 24);
    json_t *request = json_pack (
        "{s:i, s:s, s:s, s:s, s:s, s:{s:s}, s:s, s:s, s:[s, s], s:b}",
        "v", 1, "type", "referral", "referral_id", zuuid_str_canonical (uuid),
        "pathway", pathway, "submitted_at", "2026-11-22T18:04:05Z",
        "person", "source_person_id", person,
        "area", "downtown", "housing", housing,
        "behavioral_health", "substance_use", "mental_health", "consent", 1);
    if (streq (pathway, "arrest_diversion") || streq (pathway, "pretrial_diversion"))
        json_object_set_new (request, "offense", json_pack ("{s:s}", "code", "VUCSA-POSS"));
    zuuid_destroy (&uuid);
    return request;
}

json_t *
itest_ask (dv_client_t *client, json_t *request)
{
    json_t *reply = dv_client_request (client, request);
    json_decref (request);
    return reply;
}

const char *
itest_str (json_t *object, const char *key)
{
    const char *value = json_string_value (json_object_get (object, key));
    return value ? value : "(none)";
}

char *
itest_decide (dv_client_t *client, json_t *request, json_t **reply_p)
{
    json_t *reply = dv_client_request (client, request);
    char *result;
    const char *type = json_string_value (json_object_get (reply, "type"));
    if (!reply)
        result = strdup ("no-reply");
    else
    if (type && streq (type, "error")) {
        char text [80];
        snprintf (text, sizeof text, "error:%s", json_string_value (json_object_get (reply, "code")));
        result = strdup (text);
    }
    else {
        const char *decision = json_string_value (json_object_get (reply, "decision"));
        result = strdup (decision ? decision : "?");
    }
    if (reply_p)
        *reply_p = reply;
    else
        json_decref (reply);
    return result;
}

int
itest_pg_ctl (itest_t *self, const char *action)
{
    (void) self;
    //  PGHOST is <cluster>/run; the data directory is <cluster>/data.
    const char *host = getenv ("PGHOST");
    if (!host)
        return -1;
    char cluster [512];
    snprintf (cluster, sizeof cluster, "%s", host);
    char *slash = strrchr (cluster, '/');
    if (slash)
        *slash = 0;
    char command [1200];
    if (streq (action, "stop"))
        snprintf (command, sizeof command, "PGSTOP_MODE=fast tests/harness/pg.sh stop %s", cluster);
    else
    if (streq (action, "stop-immediate"))
        snprintf (command, sizeof command, "PGSTOP_MODE=immediate tests/harness/pg.sh stop %s", cluster);
    else
        snprintf (command, sizeof command, "tests/harness/pg.sh start %s %s", cluster, getenv ("PGPORT"));
    int status = system (command);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

int
itest_dealer_send (zsock_t *dealer, int count, json_t *(*make) (int i, void *arg), void *arg)
{
    int sent = 0;
    for (int i = 0; i < count; i++) {
        json_t *request = make ? make (i, arg)
                               : itest_referral (i % 2 ? "arrest_diversion" : "social_contact", "unsheltered");
        char id [16];
        snprintf (id, sizeof id, "%d", i);
        json_object_set_new (request, "request_id", json_string (id));
        char *text = json_dumps (request, JSON_COMPACT);
        if (zsock_send (dealer, "zs", text) == 0)
            sent++;
        free (text);
        json_decref (request);
    }
    return sent;
}

itest_tally_t
itest_dealer_tally (zsock_t *dealer, int count, void (*each) (int i, json_t *reply, void *arg), void *arg)
{
    itest_tally_t tally = { 0 };
    for (int i = 0; i < count; i++) {
        char *text = NULL;
        if (zsock_recv (dealer, "zs", &text) == -1)
            break;
        json_t *reply = json_loads (text, 0, NULL);
        const char *code = json_string_value (json_object_get (reply, "code"));
        tally.received++;
        if (json_object_get (reply, "decision"))
            tally.decided++;
        else
        if (code && streq (code, "unavailable") && json_is_true (json_object_get (reply, "retry")))
            tally.unavailable++;
        else
        if (code && streq (code, "internal"))
            tally.internal++;
        else
            tally.other++;
        if (each)
            each (i, reply, arg);
        json_decref (reply);
        free (text);
    }
    return tally;
}
