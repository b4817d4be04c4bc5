/*  fault_postgres — PostgreSQL restarted under load, with a fast and with an
    immediate shutdown (the harness's own private cluster, itest_pg_ctl).

    Six Lazy Pirate clients (1.5 s timeout, 20 sends, backoff on
    `unavailable`) send referrals without pause, some the same one at once.
    PostgreSQL is stopped at a random moment, stays down a moment, and is
    started again; divertd must answer `unavailable` meanwhile (nothing
    recorded), never exit, reconnect by itself, and decide again. Right
    after each restart a client whose key never connected before sends one
    request on one socket: it must be admitted (any reply). Reduced:
    one fast and one immediate restart; full: three of each, alternating.

    Then the audit (audit.h). An immediate shutdown may lose the answer to a
    COMMIT that did happen: the client's resend must get it back as replayed.
*/
#include "audit.h"

static itest_t *t;
#define S_NEW_KEYS 6        //  sources whose key first connects after a restart

TEST (postgres_restarted_under_load)
{
    int restarts = AUDIT_SIZE (2, 6);
    audit_t *audit = audit_new (t);
    audit_events_t *events = audit_events_start (audit, 0);
    audit_loadset_t load;
    audit_loadset_start (&load, audit, 6, 0, -1, 1500, 20, 0, 4);
    audit_cms_t *changes = audit_cms_start (t, 0);
    for (int restart = 0; restart < restarts; restart++) {
        const char *mode = restart % 2 ? "stop-immediate" : "stop";
        long before = audit_decided (audit);
        CHECKF (audit_wait_progress (audit, before, 20, 30000),
                "restart %d: no progress (%ld decided)", restart + 1, audit_decided (audit));
        zclock_sleep (audit_random_ms (100, 800));
        CHECKF (itest_pg_ctl (t, mode) == 0, "restart %d: pg_ctl %s failed", restart + 1, mode);
        printf ("# %6ld ms restart %d: PostgreSQL %s with %ld decided so far\n",
                audit_ms (), restart + 1, mode, audit_decided (audit));
        zclock_sleep (audit_random_ms (300, 1000));
        CHECKF (audit_daemon_alive (t, 0), "restart %d: divertd exited while PostgreSQL was down", restart + 1);
        CHECKF (itest_pg_ctl (t, "start") == 0, "restart %d: PostgreSQL did not start again", restart + 1);
        int64_t started = zclock_mono ();
        //  A client whose key never connected before is admitted once
        //  PostgreSQL is back: one socket, one send, any reply will do
        //  (a decision, or `unavailable` while divertd reconnects)
        if (restart < S_NEW_KEYS) {
            char source [32];
            snprintf (source, sizeof source, "pgnew%02d", restart);
            size_t index = audit_referral (audit, source, "community", "unsheltered");
            dv_client_t *client = audit_client (audit, source, 0, 5000, 1);
            json_t *reply = dv_client_request (client, audit_request (audit, index));
            CHECKF (reply != NULL, "restart %d: a new client (%s) was not answered within 5 s: %s",
                    restart + 1, source, dv_client_last_error ());
            audit_record (audit, index, reply, 1, false);
            json_decref (reply);
            dv_client_destroy (&client);
        }
        CHECKF (itest_wait_db (t, "ops", 0, "up", 20000), "restart %d: divertd did not reconnect within 20 s", restart + 1);
        printf ("# %6ld ms restart %d: divertd answers with the database up %lld ms after PostgreSQL was back\n",
                audit_ms (), restart + 1, (long long) (zclock_mono () - started));
        audit_churn (t, 3);
    }
    long before = audit_decided (audit);
    CHECK (audit_wait_progress (audit, before, 20, 30000));
    audit_loadset_stop (&load);
    CHECK (audit_daemon_alive (t, 0));
    audit_finish (audit, 0, "postgres-restart", &events, &changes);
    //  It told the truth while PostgreSQL was down
    CHECKF (audit->errors_unavailable + audit->retried > 0, "no client saw the database go away");
    audit_destroy (&audit);
}

//  Sources whose key first connects after a restart
static void
s_setup (itest_t *site)
{
    for (int i = 0; i < AUDIT_SIZE (2, S_NEW_KEYS); i++) {
        char source [32];
        snprintf (source, sizeof source, "pgnew%02d", i);
        itest_add_source (site, source, "community");
    }
}

AUDIT_MAIN ("fault_postgres", t, s_setup, postgres_restarted_under_load, true)
