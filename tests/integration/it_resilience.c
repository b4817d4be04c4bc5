/*  it_resilience — the database stopped and started mid-run, and two
    daemons on one database under concurrent load.

    - While PostgreSQL is down: requests get `unavailable` with retry: true
      promptly (no hang), ping says db: down, nothing is half-recorded, the
      daemon does not exit; when it is back the daemon reconnects and the same
      referral_id is decided once.
    - Two daemons, eight concurrent clients, one program with little room:
      no case manager ever above the hard cap, every referral decided exactly
      once, seq gap-free per source.
*/
#include "itest.h"
#include "testlib.h"
#include <pthread.h>

static itest_t *t;

static json_t *
s_ping (dv_client_t *client)
{
    json_t *ping = json_pack ("{s:i, s:s}", "v", 1, "type", "ping");
    json_t *reply = dv_client_request (client, ping);
    json_decref (ping);
    return reply;
}

TEST (database_down_and_back)
{
    dv_client_t *police = itest_client (t, "spd", 0);
    dv_client_set_attempts (police, 1);
    json_t *request = itest_referral ("arrest_diversion", "unsheltered");
    CHECK_INT (itest_pg_ctl (t, "stop"), 0);
    //  ping tells the truth within a couple of seconds
    CHECK (itest_wait_db (t, "spd", 0, "down", 5000));
    int64_t start = zclock_mono ();
    json_t *reply = dv_client_request (police, request);
    int64_t elapsed = zclock_mono () - start;
    CHECK_STR (json_string_value (json_object_get (reply, "code")), "unavailable");
    CHECK (json_is_true (json_object_get (reply, "retry")));
    CHECKF (elapsed < 2000, "unavailable took %lld ms", (long long) elapsed);
    json_decref (reply);
    //  Back up: the daemon reconnects by itself; the same request is decided once
    CHECK_INT (itest_pg_ctl (t, "start"), 0);
    dv_client_set_attempts (police, 20);        //  retries `unavailable` with backoff
    dv_client_set_timeout (police, 3000);
    reply = dv_client_request (police, request);
    CHECK_STR (json_string_value (json_object_get (reply, "decision")), "accept");
    CHECK (json_is_false (json_object_get (reply, "replayed")));
    json_decref (reply);
    char sql [200];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM divert.decision_event e JOIN divert.referral r ON r.id = e.referral_id"
                               " WHERE r.referral_id = '%s'", json_string_value (json_object_get (request, "referral_id")));
    CHECK_INT (itest_sql_long (t, sql), 1);
    json_decref (request);
    json_t *pong = s_ping (police);
    CHECK_STR (json_string_value (json_object_get (pong, "db")), "up");
    json_decref (pong);
    dv_client_destroy (&police);
}

typedef struct {
    int slot;
    const char *source;
    const char *pathway;
    int count;
    int decided;
    int no_reply;
} s_load_t;

static void *
s_load (void *arg)
{
    s_load_t *load = (s_load_t *) arg;
    dv_client_t *client = itest_client (t, load->source, load->slot);
    dv_client_set_attempts (client, 5);
    for (int i = 0; i < load->count; i++) {
        json_t *request = itest_referral (load->pathway, "unsheltered");
        json_t *reply = dv_client_request (client, request);
        if (reply && json_object_get (reply, "decision"))
            load->decided++;
        else
            load->no_reply++;
        json_decref (reply);
        json_decref (request);
    }
    dv_client_destroy (&client);
    return NULL;
}

TEST (two_daemons_never_exceed_the_cap)
{
    CHECK (itest_daemon_start (t, 1) > 0);
    //  Room for 3 x 5 = 15 people, 8 clients sending 20 each
    itest_sql (t, "UPDATE divert.program SET hard_cap = 5, target_avg = 5 WHERE name = 'LEAD'");
    s_load_t loads [8];
    pthread_t threads [8];
    for (int i = 0; i < 8; i++) {
        loads [i] = (s_load_t) { i % 2, i % 4 < 2 ? "spd" : "kcpd",
                                 i % 3 ? "arrest_diversion" : "social_contact", 20, 0, 0 };
        pthread_create (&threads [i], NULL, s_load, &loads [i]);
    }
    int decided = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join (threads [i], NULL);
        decided += loads [i].decided;
        CHECK_INT (loads [i].no_reply, 0);
    }
    CHECK_INT (decided, 160);
    CHECK_INT (itest_sql_long (t, "SELECT max(caseload) FROM divert.case_manager WHERE program = 'LEAD'"), 5);
    CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM divert.enrollment e JOIN divert.referral r ON r.id = e.referral_id"
                                  " WHERE e.program = 'LEAD' AND r.pathway IN ('arrest_diversion','social_contact')"), 15);
    //  Every referral has exactly one first decision; seq gap-free per source
    CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM divert.referral r WHERE"
                                  " (SELECT count(*) FROM divert.decision_event e WHERE e.referral_id = r.id) <> 1"), 0);
    CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM (SELECT source_id FROM divert.decision_event GROUP BY source_id"
                                  " HAVING max(seq) <> count(*) OR min(seq) <> 1) s"), 0);
    //  Both daemons decided some
    CHECK_INT (itest_sql_long (t, "SELECT count(DISTINCT decided_by) FROM divert.decision_event"), 2);
    CHECK_INT (itest_daemon_stop (t, 1, SIGTERM), 0);
}

//  Referral 10 of the burst is the one the database refuses
static json_t *
s_maybe_poisoned (int i, void *arg)
{
    (void) arg;
    json_t *request = itest_referral ("social_contact", "unsheltered");
    if (i == 10)
        json_object_set_new (request, "area", json_string ("poison"));
    return request;
}

static void
s_poisoned_reply (int i, json_t *reply, void *arg)
{
    (void) i;
    if (streq (itest_str (reply, "code"), "internal") && streq (itest_str (reply, "request_id"), "10"))
        *(int *) arg = 1;
}

TEST (one_refused_referral_costs_no_one_else)
{
    //  The database refuses one referral (a test-only trigger): in a burst
    //  that shares its transaction, every other referral is still decided.
    itest_sql (t, "CREATE FUNCTION divert.poison() RETURNS trigger LANGUAGE plpgsql AS $$"
                  " BEGIN IF NEW.payload ->> 'area' = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF;"
                  " RETURN NEW; END $$");
    itest_sql (t, "CREATE TRIGGER poison BEFORE INSERT ON divert.referral FOR EACH ROW EXECUTE FUNCTION divert.poison()");
    zsock_t *dealer = itest_dealer (t, "spd", 0);
    const int total = 30;
    CHECK_INT (itest_dealer_send (dealer, total, s_maybe_poisoned, NULL), total);
    int poisoned_internal = 0;
    itest_tally_t tally = itest_dealer_tally (dealer, total, s_poisoned_reply, &poisoned_internal);
    int decided = tally.decided, internal = tally.internal;
    CHECK_INT (decided, total - 1);
    CHECK_INT (internal, 1);
    CHECK_INT (poisoned_internal, 1);
    itest_sql (t, "DROP TRIGGER poison ON divert.referral");
    zsock_destroy (&dealer);
}

int
main (void)
{
    TESTLIB_BEGIN ("it_resilience");
    t = itest_new ();
    itest_add_source (t, "spd", "police");
    itest_add_source (t, "kcpd", "police");
    itest_add_cm (t, "cm-a", "LEAD");
    itest_add_cm (t, "cm-b", "LEAD");
    itest_add_cm (t, "cm-c", "LEAD");
    if (itest_daemon_start (t, 0) < 0) {
        printf ("divertd did not start\n");
        return 1;
    }
    RUN (database_down_and_back);
    RUN (two_daemons_never_exceed_the_cap);
    RUN (one_refused_referral_costs_no_one_else);
    CHECK_INT (itest_daemon_stop (t, 0, SIGTERM), 0);
    itest_destroy (&t);
    return TESTLIB_END ();
}
