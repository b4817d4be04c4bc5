/*  it_startup — divertd refuses to start with one clear log line: exit
    status 78 (EX_CONFIG, which the unit doesn't restart) when its config has
    a bad line, a conninfo libpq can't parse, a key that can't be read or an
    endpoint that is not one; exit status 1 when an endpoint is in use or the
    database schema is one it does not know. A misspelt key is refused
    rather than silently left at its default.
*/
#include "itest.h"
#include "testlib.h"
#include <sys/wait.h>

static itest_t *t;

//  Run divertd with this config text; returns its exit status and leaves
//  its stderr in `log` (caller frees).
static int
s_run (const char *config_text, char **log)
{
    char config [600], output [600];
    snprintf (config, sizeof config, "%s/startup.conf", itest_tmp (t));
    snprintf (output, sizeof output, "%s/startup.log", itest_tmp (t));
    FILE *file = fopen (config, "w");
    fputs (config_text, file);
    fclose (file);
    char command [2000];
    snprintf (command, sizeof command, "timeout 20 %s/divertd -c %s 2>%s", getenv ("DIVERT_BIN"), config, output);
    int status = system (command);
    zfile_t *zfile = zfile_new (NULL, output);
    *log = strdup ("");
    if (zfile_input (zfile) == 0) {
        zchunk_t *chunk = zfile_read (zfile, zfile_cursize (zfile), 0);
        free (*log);
        *log = zchunk_strdup (chunk);
        zchunk_destroy (&chunk);
    }
    zfile_destroy (&zfile);
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128;
}

static char *
s_config (const char *extra)
{
    const char *user = getenv ("DIVERT_DAEMON_USER");
    return zsys_sprintf ("divertd\n    intake = tcp://127.0.0.1:%s\n    decisions = tcp://127.0.0.1:%s\n"
                         "    server_cert = %s\n    log = stderr\n%s%s%s%s",
                         "0", "0", itest_server_cert (t), extra,
                         user ? "database\n    conninfo = \"user=" : "", user ? user : "", user ? "\"\n" : "");
}

TEST (bad_config_line)
{
    char *log = NULL;
    char *config = s_config ("    max_mesage_size = 65536\n");
    CHECK_INT (s_run (config, &log), 78);
    CHECKF (strstr (log, "unknown setting 'divertd/max_mesage_size'") != NULL, "log: %s", log);
    free (log); free (config);
    config = s_config ("    waitlist_recheck = often\n");
    CHECK_INT (s_run (config, &log), 78);
    CHECKF (strstr (log, "waitlist_recheck") && strstr (log, "duration"), "log: %s", log);
    free (log); free (config);
    config = s_config ("    purge = weekly\n");
    CHECK_INT (s_run (config, &log), 78);
    CHECKF (strstr (log, "'divertd/purge' must be off or daily") != NULL, "log: %s", log);
    free (log); free (config);
    config = s_config ("    metrics_interval = 500ms\n");
    CHECK_INT (s_run (config, &log), 78);
    CHECKF (strstr (log, "'divertd/metrics_interval' must be a duration from 1s to 1h") != NULL, "log: %s", log);
    free (log); free (config);
}

TEST (unreadable_key)
{
    char *log = NULL;
    char text [1000];
    snprintf (text, sizeof text, "divertd\n    server_cert = %s/missing.cert\n    log = stderr\n", itest_tmp (t));
    CHECK_INT (s_run (text, &log), 78);
    CHECKF (strstr (log, "missing.cert") && strstr (log, "cannot read the server certificate"), "log: %s", log);
    free (log);
}

TEST (bad_conninfo)
{
    //  A typo in conninfo: refused at once, not "database unreachable" forever
    char *log = NULL;
    char text [1000];
    snprintf (text, sizeof text, "divertd\n    intake = tcp://127.0.0.1:0\n    decisions = tcp://127.0.0.1:0\n"
              "    server_cert = %s\n    log = stderr\ndatabase\n    conninfo = \"dbnmae=divert\"\n",
              itest_server_cert (t));
    CHECK_INT (s_run (text, &log), 78);
    CHECKF (strstr (log, "conninfo") && strstr (log, "dbnmae"), "log: %s", log);
    CHECKF (!strstr (log, "unreachable"), "log: %s", log);
    free (log);
    snprintf (text, sizeof text, "divertd\n    server_cert = %s\n    log = stderr\ndatabase\n"
              "    conninfo = \"host='unterminated\"\n", itest_server_cert (t));
    CHECK_INT (s_run (text, &log), 78);
    CHECKF (strstr (log, "conninfo"), "log: %s", log);
    free (log);
}

TEST (bad_endpoint)
{
    char *log = NULL;
    char *config = zsys_sprintf ("divertd\n    intake = tcpp://127.0.0.1:7461\n    server_cert = %s\n    log = stderr\n",
                                 itest_server_cert (t));
    CHECK_INT (s_run (config, &log), 78);
    CHECKF (strstr (log, "cannot bind tcpp://127.0.0.1:7461"), "log: %s", log);
    free (log);
    zstr_free (&config);
    //  An endpoint in use may be transient: exit 1, systemd retries
    zsock_t *holder = zsock_new (ZMQ_PULL);
    int port = zsock_bind (holder, "tcp://127.0.0.1:*");
    config = zsys_sprintf ("divertd\n    intake = tcp://127.0.0.1:%d\n    decisions = tcp://127.0.0.1:0\n"
                           "    server_cert = %s\n    log = stderr\n", port, itest_server_cert (t));
    CHECK_INT (s_run (config, &log), 1);
    CHECKF (strstr (log, "in use"), "log: %s", log);
    free (log);
    zstr_free (&config);
    zsock_destroy (&holder);
}

TEST (unknown_schema)
{
    char *log = NULL;
    itest_sql (t, "INSERT INTO divert.schema_migration (version, name) VALUES (99, '099_future.sql')");
    char *config = s_config ("");
    CHECK_INT (s_run (config, &log), 1);
    CHECKF (strstr (log, "schema is version 99") && strstr (log, "upgrade divertd"), "log: %s", log);
    itest_sql (t, "DELETE FROM divert.schema_migration WHERE version = 99");
    free (log); free (config);
}

int
main (void)
{
    TESTLIB_BEGIN ("it_startup");
    t = itest_new ();
    RUN (bad_config_line);
    RUN (unreadable_key);
    RUN (bad_conninfo);
    RUN (bad_endpoint);
    RUN (unknown_schema);
    itest_destroy (&t);
    return TESTLIB_END ();
}
