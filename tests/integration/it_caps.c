/*  it_caps — the default hard caps, end to end: one LEAD case manager takes
    25 arrest diversions and declines the 26th (at_capacity); one CO-LEAD case
    manager takes 15 and declines the 16th. The database agrees: 25 and 15.
    And the database's own guards on new enrollments, whoever writes them
    (sql/015's triggers): no case manager of another program, none inactive,
    none above the hard cap; a statement with one bad row raises no
    caseload; one with several good rows raises each and gives them
    consecutive feed seqs in enrollment order.
*/
#include "itest.h"
#include "testlib.h"

static itest_t *t;

static void
s_fill (dv_client_t *police, const char *housing, int cap, const char *program)
{
    int accepted = 0;
    for (int i = 0; i < cap; i++) {
        json_t *request = itest_referral ("arrest_diversion", housing);
        json_t *reply = NULL;
        char *decision = itest_decide (police, request, &reply);
        if (streq (decision, "accept")
        &&  streq (json_string_value (json_object_get (reply, "program")), program))
            accepted++;
        free (decision);
        json_decref (reply);
        json_decref (request);
    }
    CHECK_INT (accepted, cap);
    json_t *request = itest_referral ("arrest_diversion", housing);
    json_t *reply = NULL;
    char *decision = itest_decide (police, request, &reply);
    CHECK_STR (decision, "decline");
    CHECK_STR (json_string_value (json_object_get (reply, "reason")), "at_capacity");
    CHECK_STR (json_string_value (json_object_get (reply, "program")), program);
    free (decision);
    json_decref (reply);
    json_decref (request);
}

TEST (lead_hard_cap_25)
{
    dv_client_t *police = itest_client (t, "spd", 0);
    s_fill (police, "unsheltered", 25, "LEAD");
    CHECK_INT (itest_sql_long (t, "SELECT caseload FROM divert.case_manager WHERE id = 'cm-lead'"), 25);
    dv_client_destroy (&police);
}

TEST (co_lead_hard_cap_15)
{
    dv_client_t *police = itest_client (t, "spd", 0);
    s_fill (police, "hotel", 15, "CO-LEAD");
    CHECK_INT (itest_sql_long (t, "SELECT caseload FROM divert.case_manager WHERE id = 'cm-co'"), 15);
    dv_client_destroy (&police);
}

TEST (a_freed_slot_is_used_again)
{
    //  Discharge one LEAD enrollment: the next arrest diversion fits again
    char *referral = itest_sql_value (t, "SELECT r.referral_id FROM divert.referral r JOIN divert.enrollment e"
                                         " ON e.referral_id = r.id WHERE e.program = 'LEAD' LIMIT 1");
    CHECK_INT (itest_ctl (t, "discharge %s --reason moved >/dev/null", referral), 0);
    free (referral);
    CHECK_INT (itest_sql_long (t, "SELECT caseload FROM divert.case_manager WHERE id = 'cm-lead'"), 24);
    dv_client_t *police = itest_client (t, "spd", 0);
    json_t *request = itest_referral ("arrest_diversion", "unsheltered");
    char *decision = itest_decide (police, request, NULL);
    CHECK_STR (decision, "accept");
    free (decision);
    json_decref (request);
    CHECK_INT (itest_sql_long (t, "SELECT caseload FROM divert.case_manager WHERE id = 'cm-lead'"), 25);
    dv_client_destroy (&police);
}

//  INSERT enrollments for these (referral row, case manager) pairs, in LEAD.
static int
s_enroll (const char *rows)
{
    char sql [1024];
    snprintf (sql, sizeof sql,
              "INSERT INTO divert.enrollment (referral_id, person_id, program, case_manager_id, intake_due_at)"
              " SELECT r.id, r.person_id, 'LEAD', x.cm, now() + interval '30 days'"
              " FROM (VALUES %s) AS x(referral, cm) JOIN divert.referral r ON r.id = x.referral", rows);
    return itest_sql (t, sql);
}

static void
s_check_error (const char *expected)
{
    const char *error = itest_sql_error (t);
    CHECKF (strstr (error, expected) != NULL, "error \"%s\" does not say \"%s\"", error, expected);
}

TEST (the_database_guards_new_enrollments)
{
    //  The two declined referrals (the 26th LEAD, the 16th CO-LEAD) are free
    long first = itest_sql_long (t, "SELECT min(id) FROM divert.referral WHERE state = 'declined'");
    long second = itest_sql_long (t, "SELECT max(id) FROM divert.referral WHERE state = 'declined'");
    CHECK (first > 0 && second > first);
    itest_add_cm (t, "cm-lead-2", "LEAD");
    char rows [256];

    snprintf (rows, sizeof rows, "(%ld::bigint, 'cm-co')", first);
    CHECK (s_enroll (rows) != 0);
    s_check_error ("case manager cm-co is in program CO-LEAD, not LEAD");

    snprintf (rows, sizeof rows, "(%ld::bigint, 'cm-lead')", first);
    CHECK (s_enroll (rows) != 0);
    s_check_error ("case manager cm-lead would hold 26 people, above the hard cap of 25 in LEAD");

    CHECK_INT (itest_sql (t, "UPDATE divert.case_manager SET active = false WHERE id = 'cm-lead-2'"), 0);
    snprintf (rows, sizeof rows, "(%ld::bigint, 'cm-lead-2')", first);
    CHECK (s_enroll (rows) != 0);
    s_check_error ("case manager cm-lead-2 is not active");
    CHECK_INT (itest_sql (t, "UPDATE divert.case_manager SET active = true WHERE id = 'cm-lead-2'"), 0);

    //  One good row, one bad: nothing raised
    snprintf (rows, sizeof rows, "(%ld::bigint, 'cm-lead-2'), (%ld, 'cm-co')", first, second);
    CHECK (s_enroll (rows) != 0);
    s_check_error ("case manager cm-co is in program CO-LEAD, not LEAD");
    CHECK_INT (itest_sql_long (t, "SELECT caseload FROM divert.case_manager WHERE id = 'cm-lead-2'"), 0);
    CHECK_INT (itest_sql_long (t, "SELECT caseload FROM divert.case_manager WHERE id = 'cm-co'"), 15);
    CHECK_INT (itest_sql_long (t, "SELECT caseload FROM divert.case_manager WHERE id = 'cm-lead'"), 25);

    //  Two good rows: both counted, both in the feed, in enrollment order
    long before = itest_sql_long (t, "SELECT last_seq FROM divert.enrollment_feed WHERE program = 'LEAD'");
    snprintf (rows, sizeof rows, "(%ld::bigint, 'cm-lead-2'), (%ld, 'cm-lead-2')", second, first);
    CHECK_INT (s_enroll (rows), 0);
    CHECK_INT (itest_sql_long (t, "SELECT caseload FROM divert.case_manager WHERE id = 'cm-lead-2'"), 2);
    CHECK_INT (itest_sql_long (t, "SELECT last_seq FROM divert.enrollment_feed WHERE program = 'LEAD'"), before + 2);
    CHECK_INT (itest_sql_long (t, "SELECT min(seq) FROM divert.enrollment_event"
                                  " WHERE program = 'LEAD' AND case_manager_id = 'cm-lead-2'"), before + 1);
    //  In seq order: the enrollments in id order, each assigned when it began
    char *feed = itest_sql_value (t,
        "SELECT string_agg(concat_ws(':', s.k, s.change, s.status, s.case_manager_id, s.at), ' ' ORDER BY s.seq)"
        " FROM (SELECT v.seq, row_number() OVER (ORDER BY v.enrollment_id) AS k, v.change, v.status,"
        "              v.case_manager_id, CASE WHEN v.at = e.status_since THEN 'at_start' END AS at"
        "         FROM divert.enrollment_event v JOIN divert.enrollment e ON e.id = v.enrollment_id"
        "        WHERE v.program = 'LEAD' AND v.case_manager_id = 'cm-lead-2') s");
    CHECK_STR (feed, "1:assigned:pending_intake:cm-lead-2:at_start 2:assigned:pending_intake:cm-lead-2:at_start");
    free (feed);
}

int
main (void)
{
    TESTLIB_BEGIN ("it_caps");
    t = itest_new ();
    itest_add_source (t, "spd", "police");
    itest_add_cm (t, "cm-lead", "LEAD");
    itest_add_cm (t, "cm-co", "CO-LEAD");
    if (itest_daemon_start (t, 0) < 0) {
        printf ("divertd did not start\n");
        return 1;
    }
    RUN (lead_hard_cap_25);
    RUN (co_lead_hard_cap_15);
    RUN (a_freed_slot_is_used_again);
    RUN (the_database_guards_new_enrollments);
    CHECK_INT (itest_daemon_stop (t, 0, SIGTERM), 0);
    itest_destroy (&t);
    return TESTLIB_END ();
}
