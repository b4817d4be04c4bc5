/*  it_tiers — policy.md §2-4 end to end: real divertd, real PostgreSQL, real
    CURVE clients. Each decision and reason per tier, the R1 / R1+R2 reserve
    boundaries, assignment to the lowest caseload, every eligibility reason,
    CO-LEAD routing, and the hard cap held in the database.

    LEAD is shrunk so every boundary is a few referrals away: 2 case managers,
    hard cap 4, target 3 (paced = 6), R1 = 1, R2 = 1. Then free = 6 - T and:
      tier 3 accepted while free - 1 >= 2  (T <= 3)
      tier 2 accepted while free - 1 >= 1  (T <= 4)
      tier 1 accepted while someone is under 4 (T <= 7)
*/
#include "itest.h"
#include "testlib.h"

static itest_t *t;
static dv_client_t *police, *community, *court;

static char *
s_send (dv_client_t *client, json_t *request, json_t **reply_p)
{
    char *decision = itest_decide (client, request, reply_p);
    json_decref (request);
    return decision;
}

static const char *
s_reason (json_t *reply)
{
    const char *reason = json_string_value (json_object_get (reply, "reason"));
    return reason ? reason : "(none)";
}

//  Send one referral and check decision + reason.
static void
s_expect (dv_client_t *client, json_t *request, const char *decision, const char *reason,
          const char *label)
{
    json_t *reply = NULL;
    char *got = s_send (client, request, &reply);
    CHECKF (streq (got, decision) && streq (s_reason (reply), reason),
            "%s: got %s/%s, expected %s/%s", label, got, s_reason (reply), decision, reason);
    free (got);
    json_decref (reply);
}

TEST (tier3_reserve_boundary)
{
    //  T = 0..3: free - 1 = 5, 4, 3, 2 >= R1 + R2 = 2: accepted
    for (int i = 0; i < 4; i++)
        s_expect (court, itest_referral ("pretrial_diversion", "unsheltered"), "accept", "accepted",
                  "pretrial while free - 1 >= R1 + R2");
    //  T = 4: free - 1 = 1 < 2
    s_expect (court, itest_referral ("pretrial_diversion", "unsheltered"), "decline",
              "reserved_for_priority", "pretrial when free - 1 = R1 + R2 - 1");
    CHECK_INT (itest_sql_long (t, "SELECT sum(caseload) FROM divert.case_manager WHERE program = 'LEAD'"), 4);
    //  Assignment went to the lowest caseload: 2 and 2
    CHECK_INT (itest_sql_long (t, "SELECT max(caseload) FROM divert.case_manager WHERE program = 'LEAD'"), 2);
}

TEST (tier2_reserve_boundary)
{
    //  T = 4: free - 1 = 1 = R1: accepted
    s_expect (community, itest_referral ("community", "unsheltered"), "accept", "accepted",
              "community when free - 1 = R1");
    //  T = 5: free - 1 = 0 < R1: waitlisted, with position and band
    json_t *reply = NULL;
    char *got = s_send (community, itest_referral ("community", "unsheltered"), &reply);
    CHECK_STR (got, "waitlist");
    CHECK_STR (s_reason (reply), "at_capacity");
    json_t *waitlist = json_object_get (reply, "waitlist");
    CHECK_INT (json_integer_value (json_object_get (waitlist, "position")), 1);
    CHECK_STR (json_string_value (json_object_get (waitlist, "estimate")), "undetermined");
    CHECK (json_is_string (json_object_get (waitlist, "expires_at")));
    CHECK (json_object_get (reply, "case_manager") == NULL);
    free (got);
    json_decref (reply);
    //  social_contact is tier 2 as well
    s_expect (police, itest_referral ("social_contact", "unsheltered"), "waitlist", "at_capacity",
              "social contact when free - 1 < R1");
}

TEST (tier1_uses_reserve_up_to_hard_cap)
{
    //  T = 5 (3, 2): arrest diversions fill to 4 each, past the target average
    for (int i = 0; i < 3; i++) {
        json_t *reply = NULL;
        char *got = s_send (police, itest_referral ("arrest_diversion", "unsheltered"), &reply);
        CHECK_STR (got, "accept");
        json_t *cm = json_object_get (reply, "case_manager");
        CHECK (json_is_string (json_object_get (cm, "id")));
        const char *name = json_string_value (json_object_get (cm, "name"));
        CHECKF (name && strncmp (name, "CM cm-", 6) == 0, "case manager name %s", name ? name : "(none)");
        CHECK_INT (json_integer_value (json_object_get (json_object_get (reply, "priority"), "tier")), 1);
        free (got);
        json_decref (reply);
    }
    //  Everyone at 4 = H: the officer proceeds as without LEAD
    s_expect (police, itest_referral ("arrest_diversion", "unsheltered"), "decline", "at_capacity",
              "arrest when every case manager is at the hard cap");
    CHECK_INT (itest_sql_long (t, "SELECT max(caseload) FROM divert.case_manager"), 4);
    CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM divert.enrollment e JOIN divert.case_manager c"
                                  " ON c.id = e.case_manager_id WHERE e.status <> 'exited'"
                                  " GROUP BY c.id ORDER BY 1 DESC LIMIT 1"), 4);
}

TEST (waitlist_full)
{
    itest_sql (t, "UPDATE divert.program SET waitlist_cap = 3 WHERE name = 'LEAD'");
    //  2 already waiting: one more fits, then the list is full
    s_expect (community, itest_referral ("community", "unsheltered"), "waitlist", "at_capacity",
              "third entry under a cap of 3");
    s_expect (community, itest_referral ("community", "unsheltered"), "decline", "waitlist_full",
              "a fourth entry under a cap of 3");
    //  A pretrial referral with overflow set to waitlist is also refused by the full list
    itest_sql (t, "UPDATE divert.program SET pretrial_overflow = 'waitlist' WHERE name = 'LEAD'");
    s_expect (court, itest_referral ("pretrial_diversion", "unsheltered"), "decline", "waitlist_full",
              "pretrial overflow into a full waitlist");
    itest_sql (t, "UPDATE divert.program SET waitlist_cap = 200 WHERE name = 'LEAD'");
    s_expect (court, itest_referral ("pretrial_diversion", "unsheltered"), "waitlist", "at_capacity",
              "pretrial overflow set to waitlist");
}

TEST (eligibility_reasons)
{
    json_t *r;
    r = itest_referral ("arrest_diversion", "unsheltered");
    json_object_set_new (r, "area", json_string ("harbor"));
    s_expect (police, r, "decline", "outside_service_area", "area outside the program's list");
    r = itest_referral ("arrest_diversion", "unsheltered");
    json_object_set_new (r, "behavioral_health", json_array ());
    s_expect (police, r, "decline", "no_behavioral_health_need", "no behavioral-health need");
    r = itest_referral ("arrest_diversion", "sheltered");
    s_expect (police, r, "decline", "not_unsheltered", "sheltered");
    r = itest_referral ("arrest_diversion", "housed");
    s_expect (police, r, "decline", "not_unsheltered", "housed");
    r = itest_referral ("arrest_diversion", "unsheltered");
    json_object_set_new (r, "offense", json_pack ("{s:s}", "code", "DEAL-PROFIT"));
    s_expect (police, r, "decline", "excluded_offense", "excluded offense");
    r = itest_referral ("community", "unsheltered");
    json_object_set_new (r, "consent", json_false ());
    s_expect (community, r, "decline", "no_consent", "community without consent");
    r = itest_referral ("social_contact", "unsheltered");
    json_object_del (r, "consent");
    s_expect (police, r, "decline", "no_consent", "social contact with consent absent");
    //  Declines change no caseload and leave an event each
    CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM divert.decision_event WHERE decision = 'decline'"
                                  " AND reason IN ('outside_service_area','no_behavioral_health_need',"
                                  "'not_unsheltered','excluded_offense','no_consent')"), 7);
}

TEST (already_enrolled_and_linked)
{
    //  An accepted person (by source_person_id), referred again
    json_t *first = NULL;
    char *id = itest_sql_value (t, "SELECT p.source_person_id FROM divert.person p JOIN divert.enrollment e"
                                   " ON e.person_id = p.id WHERE p.source_id = 'spd' LIMIT 1");
    json_t *r = itest_referral ("social_contact", "unsheltered");
    json_object_set_new (json_object_get (r, "person"), "source_person_id", json_string (id));
    char *got = s_send (police, r, &first);
    CHECK_STR (got, "decline");
    CHECK_STR (s_reason (first), "already_enrolled");
    CHECK_STR (json_string_value (json_object_get (first, "program")), "LEAD");
    free (got); free (id); json_decref (first);

    //  A waitlisted person (by last name + dob), referred again by another source
    r = itest_referral ("community", "unsheltered");
    json_object_set_new (r, "person", json_pack ("{s:s, s:s, s:s}", "first_name", "Jo",
                                                 "last_name", "Waiting", "dob", "1980-02-03"));
    s_expect (community, r, "waitlist", "at_capacity", "first referral of a person");
    r = itest_referral ("social_contact", "unsheltered");
    json_object_set_new (r, "person", json_pack ("{s:s, s:s}", "last_name", "WAITING", "dob", "1980-02-03"));
    json_object_set_new (r, "prior_contacts_12m", json_integer (5));
    s_expect (police, r, "waitlist", "linked_to_pending", "second referral of a waitlisted person");
    CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM divert.waitlist_entry w JOIN divert.person p"
                                  " ON p.id = w.person_id WHERE p.last_name_key = 'waiting' AND w.state = 'open'"), 1);
    //  The entry keeps the better priority (same tier, higher score: 40 + 10 + 10 = 60)
    CHECK_INT (itest_sql_long (t, "SELECT w.score FROM divert.waitlist_entry w JOIN divert.person p"
                                  " ON p.id = w.person_id WHERE p.last_name_key = 'waiting'"), 60);
}

TEST (co_lead_routing_and_score)
{
    json_t *reply = NULL;
    json_t *r = itest_referral ("arrest_diversion", "hotel");
    json_object_set_new (r, "prior_contacts_12m", json_integer (3));
    char *got = s_send (police, r, &reply);
    CHECK_STR (got, "accept");
    CHECK_STR (json_string_value (json_object_get (reply, "program")), "CO-LEAD");
    CHECK_STR (json_string_value (json_object_get (json_object_get (reply, "case_manager"), "id")), "cm-co");
    //  60 + 10 + 3*2 = 76, components stored with the event
    CHECK_INT (json_integer_value (json_object_get (json_object_get (reply, "priority"), "score")), 76);
    char sql [300];
    snprintf (sql, sizeof sql, "SELECT components::text FROM divert.decision_event e JOIN divert.referral r"
                               " ON r.id = e.referral_id WHERE r.referral_id = '%s'",
              json_string_value (json_object_get (reply, "referral_id")));
    char *components = itest_sql_value (t, sql);
    CHECK_STR (components, "{\"aging\": 0, \"acuity\": 10, \"pathway\": 60, \"contacts\": 6}");
    free (components);
    //  Co-LEAD terms end: ends_at set from the program's term
    CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM divert.enrollment WHERE program = 'CO-LEAD'"
                                  " AND ends_at > now() + interval '119 days'"), 1);
    free (got);
    json_decref (reply);
}

TEST (events_record_capacity_snapshot)
{
    //  Every decision stored with the capacity it saw; seq gap-free per source
    CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM divert.decision_event WHERE capacity IS NULL"), 0);
    CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM (SELECT source_id, max(seq) = count(*) AS ok"
                                  " FROM divert.decision_event GROUP BY source_id) s WHERE NOT ok"), 0);
    CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM divert.decision_event"
                                  " WHERE capacity ? 'free' AND capacity ? 'max_load' AND capacity ? 'waitlist'"),
               itest_sql_long (t, "SELECT count(*) FROM divert.decision_event"));
}

int
main (void)
{
    TESTLIB_BEGIN ("it_tiers");
    t = itest_new ();
    itest_add_source (t, "spd", "police");
    itest_add_source (t, "cp", "community");
    itest_add_source (t, "court", "court");
    itest_add_cm (t, "cm-a", "LEAD");
    itest_add_cm (t, "cm-b", "LEAD");
    itest_add_cm (t, "cm-co", "CO-LEAD");
    itest_sql (t, "UPDATE divert.program SET hard_cap = 4, target_avg = 3, reserve_tier1 = 1, reserve_tier2 = 1,"
                  " areas = '{downtown,uptown}', excluded_offenses = '{DEAL-PROFIT}' WHERE name = 'LEAD'");
    if (itest_daemon_start (t, 0) < 0) {
        printf ("divertd did not start\n");
        return 1;
    }
    police = itest_client (t, "spd", 0);
    community = itest_client (t, "cp", 0);
    court = itest_client (t, "court", 0);
    RUN (tier3_reserve_boundary);
    RUN (tier2_reserve_boundary);
    RUN (tier1_uses_reserve_up_to_hard_cap);
    RUN (waitlist_full);
    RUN (eligibility_reasons);
    RUN (already_enrolled_and_linked);
    RUN (co_lead_routing_and_score);
    RUN (events_record_capacity_snapshot);
    dv_client_destroy (&police);
    dv_client_destroy (&community);
    dv_client_destroy (&court);
    CHECK_INT (itest_daemon_stop (t, 0, SIGTERM), 0);
    itest_destroy (&t);
    return TESTLIB_END ();
}
