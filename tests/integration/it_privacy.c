/*  it_privacy — no personal data leaves divertd through its log when the
    database refuses a row that holds a person. PostgreSQL's full error text
    has a DETAIL line "Failing row contains (...)" with the person's names
    and date of birth; divertd must log only the primary message and the
    SQLSTATE, and the referrer gets `internal` with no database text at all.
*/
#include "itest.h"
#include "testlib.h"

static itest_t *t;

static char *
s_read_file (const char *path)
{
    zfile_t *file = zfile_new (NULL, path);
    char *text = NULL;
    if (file && zfile_input (file) == 0) {
        zchunk_t *chunk = zfile_read (file, zfile_cursize (file), 0);
        text = zchunk_strdup (chunk);
        zchunk_destroy (&chunk);
    }
    zfile_destroy (&file);
    return text ? text : strdup ("");
}

TEST (refused_person_row_is_not_logged)
{
    //  The database now refuses persons with this first name (a stand-in for
    //  any row-level refusal: a constraint added by a site, a trigger).
    CHECK_INT (itest_sql (t, "ALTER TABLE divert.person ADD CONSTRAINT test_refused"
                             " CHECK (first_name IS DISTINCT FROM 'Zelphinia')"), 0);
    dv_client_t *police = itest_client (t, "spd", 0);
    json_t *request = itest_referral ("arrest_diversion", "unsheltered");
    json_object_set_new (request, "person", json_pack ("{s:s, s:s, s:s}", "first_name", "Zelphinia",
                                                       "last_name", "Quarrington", "dob", "1977-03-14"));
    json_object_set_new (request, "notes", json_string ("Secretnote at the pier"));
    json_t *reply = itest_ask (police, request);
    CHECK_STR (itest_str (reply, "type"), "error");
    CHECK_STR (itest_str (reply, "code"), "internal");
    char *text = json_dumps (reply, 0);
    CHECKF (!strstr (text, "Zelphinia") && !strstr (text, "Quarrington") && !strstr (text, "1977-03-14"),
            "reply: %s", text);
    free (text);
    json_decref (reply);
    dv_client_destroy (&police);

    char *log = s_read_file (itest_daemon_log (t, 0));
    CHECKF (strstr (log, "23514") != NULL, "the refusal is logged with its SQLSTATE: %s", log);
    CHECKF (strstr (log, "test_refused") != NULL, "and its primary message: %s", log);
    CHECK (strstr (log, "Zelphinia") == NULL);
    CHECK (strstr (log, "Quarrington") == NULL);
    CHECK (strstr (log, "1977-03-14") == NULL);
    CHECK (strstr (log, "Secretnote") == NULL);
    CHECK (strstr (log, "Failing row") == NULL);
    CHECK (strstr (log, "DETAIL") == NULL);
    free (log);
    CHECK_INT (itest_sql (t, "ALTER TABLE divert.person DROP CONSTRAINT test_refused"), 0);
}

int
main (void)
{
    TESTLIB_BEGIN ("it_privacy");
    t = itest_new ();
    itest_add_source (t, "spd", "police");
    itest_add_cm (t, "cm-lead", "LEAD");
    if (itest_daemon_start (t, 0) < 0) {
        printf ("divertd did not start\n");
        return 1;
    }
    RUN (refused_person_row_is_not_logged);
    CHECK_INT (itest_daemon_stop (t, 0, SIGTERM), 0);
    itest_destroy (&t);
    return TESTLIB_END ();
}
