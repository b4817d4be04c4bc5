/*  fault_terminate — pg_terminate_backend of divertd's database connections
    under load (the store's and the ZAP handler's), again and again.

    Six Lazy Pirate clients send referrals without pause, some the same one
    at once. At random moments every backend whose application_name begins
    with "divertd" is terminated (mid-transaction or idle): reduced 6 times,
    full 20. divertd must reconnect by itself, and a batch whose COMMIT
    outcome it could not learn must never be decided twice.

    Then the audit (audit.h).
*/
#include "audit.h"

static itest_t *t;
#define S_NEW_KEYS 7        //  sources whose key first connects after a termination

TEST (backends_terminated_under_load)
{
    int rounds = AUDIT_SIZE (6, 20);
    audit_t *audit = audit_new (t);
    audit_events_t *events = audit_events_start (audit, 0);
    audit_loadset_t load;
    audit_loadset_start (&load, audit, 6, 0, -1, 1500, 20, 0, 4);
    long terminated = 0;
    for (int round = 0; round < rounds; round++) {
        long before = audit_decided (audit);
        CHECKF (audit_wait_progress (audit, before, 10, 30000),
                "round %d: no progress (%ld decided)", round + 1, audit_decided (audit));
        zclock_sleep (audit_random_ms (0, 400));
        long count = audit_pg_long (
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name LIKE 'divertd%' AND datname = current_database()");
        CHECKF (count >= 1, "round %d: no divertd backend to terminate (%ld)", round + 1, count);
        terminated += count > 0 ? count : 0;
        printf ("# %6ld ms round %d: terminated %ld backend(s) with %ld decided so far\n",
                audit_ms (), round + 1, count, audit_decided (audit));
        if (round % 3 == 2)
            audit_churn (t, 3);
        //  A key that never connected before is admitted right away (the
        //  ZAP handler's connection may be the one just terminated)
        if (round % 3 == 0 && round / 3 < S_NEW_KEYS) {
            char source [32];
            snprintf (source, sizeof source, "late%02d", round / 3);
            size_t index = audit_referral (audit, source, "community", "unsheltered");
            dv_client_t *client = audit_client (audit, source, 0, 3000, 1);
            json_t *reply = dv_client_request (client, audit_request (audit, index));
            CHECKF (reply && json_object_get (reply, "decision"),
                    "round %d: a new client (%s) got no decision in one 3 s attempt: %s", round + 1, source,
                    reply ? json_string_value (json_object_get (reply, "code")) : dv_client_last_error ());
            audit_record (audit, index, reply, 1, false);
            json_decref (reply);
            dv_client_destroy (&client);
        }
    }
    long before = audit_decided (audit);
    CHECK (audit_wait_progress (audit, before, 20, 30000));
    audit_loadset_stop (&load);
    CHECK (audit_daemon_alive (t, 0));
    audit_finish (audit, 0, "terminate-backend", &events, NULL);
    printf ("# %ld backends terminated; divertd logged %d lost connection(s), %d failed transaction(s)\n",
            terminated, audit_log_count (t, 0, "connection lost"), audit_log_count (t, 0, "transaction failed"));
    audit_destroy (&audit);
}

//  Sources whose key first connects between terminations
static void
s_setup (itest_t *site)
{
    for (int i = 0; i < AUDIT_SIZE (2, S_NEW_KEYS); i++) {
        char source [32];
        snprintf (source, sizeof source, "late%02d", i);
        itest_add_source (site, source, "community");
    }
}

AUDIT_MAIN ("fault_terminate", t, s_setup, backends_terminated_under_load, true)
