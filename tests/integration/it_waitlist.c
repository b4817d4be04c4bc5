/*  it_waitlist — live capacity (policy.md §1, §5) with the real daemon:
    promotion in order the moment a slot frees (and the latency of it),
    promotion after the daemon's database connections were killed, exactly
    one promotion with two daemons, a Co-LEAD term ending, waitlist expiry,
    a lapsed intake vs an active enrollment, and the withdraw rules.

    Durations are configured in seconds (waitlist_recheck = 1s) so the whole
    test takes seconds, not days.
*/
#include "itest.h"
#include "testlib.h"

static itest_t *t;
static dv_client_t *police, *community;
static dv_subscriber_t *events;        //  a monitor's view of every event

//  Wait for the event with this reason about this referral (others, like its
//  own first decision, are skipped).
static json_t *
s_event_for (const char *referral_id, const char *reason, int msecs)
{
    int64_t deadline = zclock_mono () + msecs;
    while (zclock_mono () < deadline) {
        json_t *event = dv_subscriber_recv (events, (int) (deadline - zclock_mono ()), NULL);
        if (event && streq (itest_str (event, "referral_id"), referral_id) && streq (itest_str (event, "reason"), reason))
            return event;
        json_decref (event);
    }
    return NULL;
}

static char *
s_referral_with (dv_client_t *client, const char *pathway, const char *housing, int contacts,
                 const char *expect, json_t **reply_p)
{
    json_t *request = itest_referral (pathway, housing);
    json_object_set_new (request, "prior_contacts_12m", json_integer (contacts));
    char *id = strdup (itest_str (request, "referral_id"));
    json_t *reply = itest_ask (client, request);
    CHECKF (streq (itest_str (reply, "decision"), expect), "%s referral: %s, expected %s",
            pathway, itest_str (reply, "decision"), expect);
    if (reply_p)
        *reply_p = reply;
    else
        json_decref (reply);
    return id;
}

static void
s_discharge (const char *referral_id)
{
    CHECK_INT (itest_ctl (t, "discharge %s --reason graduated >/dev/null", referral_id), 0);
}

TEST (promotion_in_order_and_fast)
{
    //  LEAD: one case manager, room for 3; tier-2 rule free - 1 >= R1 = 0
    char *accepted [3];
    for (int i = 0; i < 3; i++)
        accepted [i] = s_referral_with (police, "arrest_diversion", "unsheltered", 0, "accept", NULL);
    //  Three waiting, all tier 2: scores 50 (community), 60 (social, 5 contacts), 54 (social, 2)
    char *a = s_referral_with (community, "community", "unsheltered", 0, "waitlist", NULL);
    json_t *reply = NULL;
    char *b = s_referral_with (police, "social_contact", "unsheltered", 5, "waitlist", &reply);
    CHECK_INT (json_integer_value (json_object_get (json_object_get (reply, "waitlist"), "position")), 1);
    json_decref (reply);
    char *c = s_referral_with (police, "social_contact", "unsheltered", 2, "waitlist", &reply);
    CHECK_INT (json_integer_value (json_object_get (json_object_get (reply, "waitlist"), "position")), 2);
    json_decref (reply);

    //  A slot frees: the head (b, score 60) is accepted, and the referrer hears it
    int64_t start = zclock_usecs ();
    s_discharge (accepted [0]);
    json_t *event = s_event_for (b, "accepted_from_waitlist", 5000);
    int64_t latency_us = zclock_usecs () - start;
    CHECK (event != NULL);
    CHECK_STR (itest_str (event, "decision"), "accept");
    CHECK_STR (itest_str (event, "reason"), "accepted_from_waitlist");
    CHECK (json_is_true (json_object_get (event, "from_waitlist")));
    printf ("# promotion event %.1f ms after the discharge command started (includes divertctl)\n",
            latency_us / 1000.0);
    json_decref (event);
    //  status now says accept
    reply = itest_ask (police, json_pack ("{s:i, s:s, s:s}", "v", 1, "type", "status", "referral_id", b));
    CHECK_STR (itest_str (reply, "decision"), "accept");
    CHECK_STR (itest_str (json_object_get (reply, "case_manager"), "id"), "cm-lead");
    json_decref (reply);
    //  Next: c (54) before a (50)
    s_discharge (accepted [1]);
    event = s_event_for (c, "accepted_from_waitlist", 5000);
    CHECK_STR (itest_str (event, "reason"), "accepted_from_waitlist");
    json_decref (event);
    CHECK_INT (itest_sql_long (t, "SELECT caseload FROM divert.case_manager WHERE id = 'cm-lead'"), 3);
    CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM divert.waitlist_entry WHERE state = 'open' AND program = 'LEAD'"), 1);
    //  Promotion timing with SQL alone (no divertctl start-up): commit -> event
    char sql [300];
    snprintf (sql, sizeof sql, "UPDATE divert.enrollment SET status = 'exited', exited_at = now(), exit_reason = 'moved'"
                               " WHERE referral_id = (SELECT id FROM divert.referral WHERE referral_id = '%s')", accepted [2]);
    start = zclock_usecs ();
    itest_sql (t, sql);
    event = s_event_for (a, "accepted_from_waitlist", 5000);
    latency_us = zclock_usecs () - start;
    CHECK_STR (itest_str (event, "reason"), "accepted_from_waitlist");
    printf ("# promotion event %.1f ms after the capacity-freeing commit\n", latency_us / 1000.0);
    json_decref (event);
    for (int i = 0; i < 3; i++)
        free (accepted [i]);
    free (a); free (b); free (c);
}

TEST (promotion_after_connections_killed)
{
    char *waiting = s_referral_with (community, "community", "unsheltered", 0, "waitlist", NULL);
    //  Kill every connection the daemon has, then free a slot at once
    itest_sql (t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'divertd%'");
    char *victim = itest_sql_value (t, "SELECT r.referral_id FROM divert.referral r JOIN divert.enrollment e ON e.referral_id = r.id"
                                       " WHERE e.status <> 'exited' AND e.program = 'LEAD' LIMIT 1");
    s_discharge (victim);
    json_t *event = s_event_for (waiting, "accepted_from_waitlist", 8000);
    CHECK (event != NULL);
    CHECK_STR (itest_str (event, "reason"), "accepted_from_waitlist");
    json_decref (event);
    free (victim);
    free (waiting);
}

TEST (two_daemons_promote_once)
{
    CHECK (itest_daemon_start (t, 1) > 0);
    char *w1 = s_referral_with (community, "community", "unsheltered", 0, "waitlist", NULL);
    char *w2 = s_referral_with (community, "community", "unsheltered", 0, "waitlist", NULL);
    itest_sql (t, "UPDATE divert.enrollment SET status = 'exited', exited_at = now(), exit_reason = 'moved'"
                  " WHERE id IN (SELECT id FROM divert.enrollment WHERE status <> 'exited' AND program = 'LEAD' LIMIT 2)");
    //  Either daemon may win each promotion and publishes it on its own
    //  socket: the database says whether both happened
    char sql [400];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM divert.decision_event e JOIN divert.referral r ON r.id = e.referral_id"
                               " WHERE e.from_waitlist AND r.referral_id IN ('%s', '%s')", w1, w2);
    long promoted = 0;
    for (int i = 0; i < 50 && promoted < 2; i++) {
        promoted = itest_sql_long (t, sql);
        if (promoted < 2)
            zclock_sleep (100);
    }
    CHECK_INT (promoted, 2);
    zclock_sleep (1500);            //  both daemons' timers have run since
    CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM (SELECT referral_id FROM divert.decision_event WHERE from_waitlist"
                                  " GROUP BY referral_id HAVING count(*) > 1) d"), 0);
    CHECK_INT (itest_sql_long (t, "SELECT max(caseload) FROM divert.case_manager"), 3);
    CHECK_INT (itest_daemon_stop (t, 1, SIGTERM), 0);
    free (w1); free (w2);
}

TEST (co_lead_term_ends_and_waitlist_expires)
{
    //  CO-LEAD: room for one, a 3 s term
    itest_sql (t, "UPDATE divert.program SET hard_cap = 1, target_avg = 1, reserve_tier1 = 0, reserve_tier2 = 0,"
                  " term = '3 seconds' WHERE name = 'CO-LEAD'");
    char *first = s_referral_with (police, "arrest_diversion", "hotel", 0, "accept", NULL);
    char *next = s_referral_with (community, "community", "hotel", 0, "waitlist", NULL);
    json_t *event = s_event_for (next, "accepted_from_waitlist", 8000);      //  the term ends, the slot frees
    CHECK_STR (itest_str (event, "reason"), "accepted_from_waitlist");
    json_decref (event);
    char sql [300];
    snprintf (sql, sizeof sql, "SELECT exit_reason FROM divert.enrollment e JOIN divert.referral r ON r.id = e.referral_id"
                               " WHERE r.referral_id = '%s'", first);
    char *reason = itest_sql_value (t, sql);
    CHECK_STR (reason, "term_ended");
    free (reason);
    //  Expiry: a 2 s time-to-live, no room (a long term now)
    CHECK_INT (itest_ctl (t, "program set CO-LEAD --term 120d --waitlist-ttl 2s >/dev/null"), 0);
    itest_sql (t, "UPDATE divert.enrollment SET ends_at = now() + interval '120 days' WHERE status <> 'exited' AND program = 'CO-LEAD'");
    char *late = s_referral_with (community, "community", "hotel", 0, "waitlist", NULL);
    event = s_event_for (late, "waitlist_expired", 8000);
    CHECK_STR (itest_str (event, "decision"), "decline");
    CHECK_STR (itest_str (event, "reason"), "waitlist_expired");
    json_decref (event);
    free (first); free (next); free (late);
}

//  The expiry date of a waitlisted referral as SQL computes it from its
//  entry: received_at + interval (caller frees).
static char *
s_expiry (const char *referral_id, const char *interval)
{
    char sql [500];
    snprintf (sql, sizeof sql, "SELECT divert.s_rfc3339(w.received_at + interval '%s')"
                               " FROM divert.waitlist_entry w JOIN divert.referral r ON r.waitlist_entry_id = w.id"
                               " WHERE r.referral_id = '%s'", interval, referral_id);
    return itest_sql_value (t, sql);
}

//  The expires_at divertctl waitlist --json shows for this referral (caller frees).
static char *
s_listed_expiry (const char *program, const char *referral_id)
{
    char path [600];
    snprintf (path, sizeof path, "%s/waitlist.json", itest_tmp (t));
    CHECK_INT (itest_ctl (t, "waitlist %s --json >%s", program, path), 0);
    json_t *listing = json_load_file (path, 0, NULL);
    char *expires = NULL;
    size_t index;
    json_t *entry;
    json_array_foreach (json_object_get (listing, "waitlist"), index, entry)
        if (streq (itest_str (entry, "referral_id"), referral_id))
            expires = strdup (itest_str (entry, "expires_at"));
    json_decref (listing);
    return expires;
}

TEST (ttl_change_applies_to_those_waiting)
{
    //  A program with room for one, full
    itest_sql (t, "INSERT INTO divert.program (name, accepts_housing, hard_cap, target_avg, reserve_tier1, reserve_tier2)"
                  " VALUES ('TTL', '{housed}', 1, 1, 0, 0)");
    itest_add_cm (t, "cm-ttl", "TTL");
    char *full = s_referral_with (police, "arrest_diversion", "housed", 0, "accept", NULL);
    //  Waiting under the default 30 days; shortening the TTL to 2 s expires it
    json_t *reply = NULL;
    char *early = s_referral_with (community, "community", "housed", 0, "waitlist", &reply);
    char *expected = s_expiry (early, "30 days");
    CHECK_STR (itest_str (json_object_get (reply, "waitlist"), "expires_at"), expected);
    json_decref (reply);
    free (expected);
    CHECK_INT (itest_ctl (t, "program set TTL --waitlist-ttl 2s >/dev/null"), 0);
    json_t *event = s_event_for (early, "waitlist_expired", 8000);
    CHECK_STR (itest_str (event, "decision"), "decline");
    json_decref (event);
    //  Waiting under 2 s; lengthening the TTL to 30 days keeps it
    char *late = s_referral_with (community, "community", "housed", 0, "waitlist", &reply);
    expected = s_expiry (late, "2 seconds");
    CHECK_STR (itest_str (json_object_get (reply, "waitlist"), "expires_at"), expected);
    json_decref (reply);
    free (expected);
    CHECK_INT (itest_ctl (t, "program set TTL --waitlist-ttl 30d >/dev/null"), 0);
    event = s_event_for (late, "waitlist_expired", 4000);
    CHECK (event == NULL);
    json_decref (event);
    char sql [300];
    snprintf (sql, sizeof sql, "SELECT state FROM divert.referral WHERE referral_id = '%s'", late);
    char *state = itest_sql_value (t, sql);
    CHECK_STR (state, "waitlisted");
    free (state);
    //  status and divertctl waitlist show the date under the current policy
    expected = s_expiry (late, "30 days");
    json_t *status = itest_ask (community, json_pack ("{s:i, s:s, s:s}", "v", 1, "type", "status", "referral_id", late));
    CHECK_STR (itest_str (json_object_get (status, "waitlist"), "expires_at"), expected);
    json_decref (status);
    char *listed = s_listed_expiry ("TTL", late);
    CHECK_STR (listed, expected);
    free (listed);
    free (expected);
    free (full); free (early); free (late);
}

TEST (lapsed_intake_vs_active)
{
    //  A pilot program for sheltered referrals with a 2 s intake window
    itest_sql (t, "INSERT INTO divert.program (name, accepts_housing, hard_cap, target_avg, intake_window)"
                  " VALUES ('PILOT', '{sheltered}', 5, 5, '2 seconds')");
    itest_add_cm (t, "cm-pilot", "PILOT");
    char *engaged = s_referral_with (police, "arrest_diversion", "sheltered", 0, "accept", NULL);
    char *gone = s_referral_with (police, "arrest_diversion", "sheltered", 0, "accept", NULL);
    CHECK_INT (itest_ctl (t, "enrollment set %s active >/dev/null", engaged), 0);
    json_t *event = s_event_for (gone, "intake_lapsed", 8000);
    CHECK_STR (itest_str (event, "decision"), "lapsed");
    CHECK_STR (itest_str (event, "reason"), "intake_lapsed");
    json_decref (event);
    CHECK_INT (itest_sql_long (t, "SELECT caseload FROM divert.case_manager WHERE id = 'cm-pilot'"), 1);
    json_t *status = itest_ask (police, json_pack ("{s:i, s:s, s:s}", "v", 1, "type", "status", "referral_id", engaged));
    CHECK_STR (itest_str (status, "decision"), "accept");
    json_decref (status);
    free (engaged); free (gone);
}

static json_t *
s_withdraw (dv_client_t *client, const char *referral_id)
{
    return itest_ask (client, json_pack ("{s:i, s:s, s:s, s:s}", "v", 1, "type", "withdraw",
                                      "referral_id", referral_id, "reason", "moved away"));
}

TEST (withdraw_rules)
{
    //  Waitlisted: withdrawn, published
    char *waiting = s_referral_with (community, "community", "unsheltered", 0, "waitlist", NULL);
    json_t *reply = s_withdraw (police, waiting);            //  not the sender's
    CHECK_STR (itest_str (reply, "code"), "not_found");
    json_decref (reply);
    reply = s_withdraw (community, waiting);
    CHECK_STR (itest_str (reply, "decision"), "withdrawn");
    CHECK_STR (itest_str (reply, "reason"), "withdrawn");
    json_decref (reply);
    json_t *event = s_event_for (waiting, "withdrawn", 3000);
    CHECK_STR (itest_str (event, "decision"), "withdrawn");
    json_decref (event);
    reply = s_withdraw (community, waiting);                 //  already withdrawn
    CHECK_STR (itest_str (reply, "code"), "conflict");
    json_decref (reply);
    //  Accepted and pending intake (PILOT has room): withdrawn, slot freed
    char *pending = s_referral_with (police, "arrest_diversion", "sheltered", 0, "accept", NULL);
    long before = itest_sql_long (t, "SELECT caseload FROM divert.case_manager WHERE id = 'cm-pilot'");
    reply = s_withdraw (police, pending);
    CHECK_STR (itest_str (reply, "decision"), "withdrawn");
    json_decref (reply);
    CHECK_INT (itest_sql_long (t, "SELECT caseload FROM divert.case_manager WHERE id = 'cm-pilot'"), before - 1);
    //  Active: conflict
    char *active = s_referral_with (police, "arrest_diversion", "sheltered", 0, "accept", NULL);
    CHECK_INT (itest_ctl (t, "enrollment set %s active >/dev/null", active), 0);
    reply = s_withdraw (police, active);
    CHECK_STR (itest_str (reply, "code"), "conflict");
    json_decref (reply);
    reply = s_withdraw (police, "00000000-0000-4000-8000-000000000000");
    CHECK_STR (itest_str (reply, "code"), "not_found");
    json_decref (reply);
    free (waiting); free (pending); free (active);
}

int
main (void)
{
    TESTLIB_BEGIN ("it_waitlist");
    t = itest_new ();
    itest_add_source (t, "spd", "police");
    itest_add_source (t, "cp", "community");
    itest_add_monitor (t, "ops");
    itest_add_cm (t, "cm-lead", "LEAD");
    itest_add_cm (t, "cm-co", "CO-LEAD");
    itest_sql (t, "UPDATE divert.program SET hard_cap = 3, target_avg = 3, reserve_tier1 = 0, reserve_tier2 = 0"
                  " WHERE name = 'LEAD'");
    if (itest_daemon_start (t, 0) < 0) {
        printf ("divertd did not start\n");
        return 1;
    }
    police = itest_client (t, "spd", 0);
    community = itest_client (t, "cp", 0);
    char cert [600];
    snprintf (cert, sizeof cert, "%s", itest_cert (t, "ops"));
    events = dv_subscriber_new (itest_decisions (t, 0), itest_server_cert (t), cert, "decision.");
    zclock_sleep (300);
    RUN (promotion_in_order_and_fast);
    RUN (promotion_after_connections_killed);
    RUN (two_daemons_promote_once);
    RUN (co_lead_term_ends_and_waitlist_expires);
    RUN (ttl_change_applies_to_those_waiting);
    RUN (lapsed_intake_vs_active);
    RUN (withdraw_rules);
    dv_subscriber_destroy (&events);
    dv_client_destroy (&police);
    dv_client_destroy (&community);
    CHECK_INT (itest_daemon_stop (t, 0, SIGTERM), 0);
    itest_destroy (&t);
    return TESTLIB_END ();
}
