/*  it_caps — the default hard caps, end to end: one LEAD case manager takes
    25 arrest diversions and declines the 26th (at_capacity); one CO-LEAD case
    manager takes 15 and declines the 16th. The database agrees: 25 and 15.
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
    CHECK_INT (itest_daemon_stop (t, 0, SIGTERM), 0);
    itest_destroy (&t);
    return TESTLIB_END ();
}
