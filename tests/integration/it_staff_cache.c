/*  it_staff_cache — divertd keeps each program's case managers in memory
    between batches (daemon/cache.h, sql/008 staff_version); every change made
    elsewhere must be seen by the next decision, exactly as if it had read
    them again. Each case is built so a stale copy would assign someone else:
    the lowest caseload wins, ties go to the one assigned longest ago.

    - an operator's transfer between batches (caseloads move);
    - another daemon's accepts between this daemon's batches;
    - a case manager deactivated, and a new one added, between batches;
    - an operator's discharge between batches (a caseload drops).
*/
#include "itest.h"
#include "testlib.h"

static itest_t *t;

//  Accept one arrest diversion through `client`; returns its case manager (caller frees).
static char *
s_accept (dv_client_t *client)
{
    json_t *request = itest_referral ("arrest_diversion", "unsheltered");
    json_t *reply = NULL;
    char *decision = itest_decide (client, request, &reply);
    CHECK_STR (decision, "accept");
    json_t *cm = json_object_get (json_object_get (reply, "case_manager"), "id");
    char *id = strdup (json_is_string (cm) ? json_string_value (cm) : "(none)");
    free (decision);
    json_decref (reply);
    json_decref (request);
    return id;
}

static void
s_expect (dv_client_t *client, const char *expected)
{
    char *cm = s_accept (client);
    CHECK_STR (cm, expected);
    free (cm);
}

//  Start over: every LEAD enrollment exits (operator), so all caseloads are
//  0, and nobody was ever assigned (the tie-break starts from the ids).
static void
s_clear (void)
{
    itest_sql (t, "SELECT divert.enrollment_change(e.source_id, e.referral_id, 'exited', 'moved', NULL, NULL)"
                  "  FROM (SELECT r.source_id, r.referral_id FROM divert.enrollment x"
                  "          JOIN divert.referral r ON r.id = x.referral_id"
                  "         WHERE x.program = 'LEAD' AND x.status <> 'exited') e");
    itest_sql (t, "UPDATE divert.case_manager SET last_assigned_at = NULL WHERE program = 'LEAD'");
    CHECK_INT (itest_sql_long (t, "SELECT sum(caseload) FROM divert.case_manager WHERE program = 'LEAD'"), 0);
}

static char *
s_referral_of (const char *cm)
{
    char sql [256];
    snprintf (sql, sizeof sql, "SELECT r.referral_id FROM divert.enrollment e JOIN divert.referral r"
                               " ON r.id = e.referral_id WHERE e.case_manager_id = '%s' AND e.status <> 'exited'"
                               " ORDER BY e.id LIMIT 1", cm);
    return itest_sql_value (t, sql);
}

TEST (a_transfer_between_batches_is_seen)
{
    s_clear ();
    dv_client_t *police = itest_client (t, "spd", 0);
    s_expect (police, "cm-a");              //  a 1, b 0
    s_expect (police, "cm-b");              //  a 1, b 1
    s_expect (police, "cm-a");              //  a 2, b 1 (a was assigned longest ago)
    char *referral = s_referral_of ("cm-a");
    CHECK_INT (itest_ctl (t, "transfer %s cm-b >/dev/null", referral), 0);
    free (referral);
    //  a 1, b 2: a stale copy (a 2, b 1) would pick b
    s_expect (police, "cm-a");
    dv_client_destroy (&police);
}

TEST (another_daemons_accepts_are_seen)
{
    s_clear ();
    dv_client_t *one = itest_client (t, "spd", 0);
    dv_client_t *two = itest_client (t, "spd", 1);
    s_expect (one, "cm-a");                 //  a 1, b 0
    s_expect (two, "cm-b");                 //  a 1, b 1 (daemon 2 read them fresh)
    //  Daemon 1's copy (a 1, b 0) is stale: b was assigned after a, so a
    s_expect (one, "cm-a");
    s_expect (two, "cm-b");
    s_expect (one, "cm-a");
    CHECK_INT (itest_sql_long (t, "SELECT caseload FROM divert.case_manager WHERE id = 'cm-a'"), 3);
    CHECK_INT (itest_sql_long (t, "SELECT caseload FROM divert.case_manager WHERE id = 'cm-b'"), 2);
    dv_client_destroy (&one);
    dv_client_destroy (&two);
}

TEST (staff_changes_between_batches_are_seen)
{
    s_clear ();
    dv_client_t *police = itest_client (t, "spd", 0);
    s_expect (police, "cm-a");              //  a 1, b 0
    CHECK_INT (itest_ctl (t, "cm deactivate cm-b >/dev/null"), 0);
    s_expect (police, "cm-a");              //  b is gone: a 2
    CHECK_INT (itest_ctl (t, "cm add cm-c --program LEAD --name \"C. New\" >/dev/null"), 0);
    s_expect (police, "cm-c");              //  the new one, caseload 0
    CHECK_INT (itest_ctl (t, "cm add cm-b --program LEAD --name \"B. Back\" >/dev/null"), 0);
    s_expect (police, "cm-b");              //  back, caseload 0
    dv_client_destroy (&police);
    //  Nobody was assigned to an inactive case manager
    CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM divert.enrollment e JOIN divert.case_manager c"
                                  " ON c.id = e.case_manager_id WHERE e.status <> 'exited' AND NOT c.active"), 0);
    CHECK_INT (itest_ctl (t, "cm deactivate cm-c >/dev/null"), 0);
}

TEST (a_discharge_between_batches_is_seen)
{
    s_clear ();
    dv_client_t *police = itest_client (t, "spd", 0);
    s_expect (police, "cm-a");              //  a 1, b 0
    s_expect (police, "cm-b");              //  a 1, b 1
    s_expect (police, "cm-a");              //  a 2, b 1
    s_expect (police, "cm-b");              //  a 2, b 2
    char *referral = s_referral_of ("cm-b");
    CHECK_INT (itest_ctl (t, "discharge %s --reason graduated >/dev/null", referral), 0);
    free (referral);
    //  a 2, b 1: a stale copy (a 2, b 2, a assigned longest ago) would pick a
    s_expect (police, "cm-b");
    dv_client_destroy (&police);
}

int
main (void)
{
    TESTLIB_BEGIN ("it_staff_cache");
    t = itest_new ();
    itest_add_source (t, "spd", "police");
    itest_add_cm (t, "cm-a", "LEAD");
    itest_add_cm (t, "cm-b", "LEAD");
    itest_add_cm (t, "cm-co", "CO-LEAD");
    if (itest_daemon_start (t, 0) < 0 || itest_daemon_start (t, 1) < 0) {
        printf ("divertd did not start\n");
        itest_destroy (&t);
        return 1;
    }
    RUN (a_transfer_between_batches_is_seen);
    RUN (another_daemons_accepts_are_seen);
    RUN (staff_changes_between_batches_are_seen);
    RUN (a_discharge_between_batches_is_seen);
    CHECK_INT (itest_daemon_stop (t, 0, SIGTERM), 0);
    CHECK_INT (itest_daemon_stop (t, 1, SIGTERM), 0);
    itest_destroy (&t);
    return TESTLIB_END ();
}
