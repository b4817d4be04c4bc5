/*  fault_kill — SIGKILL of divertd under load, restarted each time.

    Six clients (two per source) send referrals without pause; every few
    referrals two clients send the same one at once. Each is a Lazy Pirate
    dv_client: no reply within 1.5 s, it resends the same bytes on a new
    socket, 20 sends in all (enough to span a restart). divertd is killed
    with SIGKILL at a random moment while they run, restarted in the same
    slot, and killed again once it has decided more: 10 times in a row
    (FAULTS=full), 3 times (reduced). Between kills an operator discharges
    a few people so the waitlist moves and later events share the seq.

    Then the audit (audit.h): exactly one first decision per referral, the
    one each client was told; nothing decided twice; caps; seq gap-free.
*/
#include "audit.h"

static itest_t *t;

TEST (sigkill_under_load)
{
    int kills = AUDIT_SIZE (3, 10);
    audit_t *audit = audit_new (t);
    audit_events_t *events = audit_events_start (audit, 0);
    audit_loadset_t load;
    audit_loadset_start (&load, audit, 6, 0, -1, 1500, 20, 0, 4);
    audit_cms_t *changes = audit_cms_start (t, 0);
    for (int kill = 0; kill < kills; kill++) {
        //  Under load: clients were told something since the last restart
        long before = audit_decided (audit);
        CHECKF (audit_wait_progress (audit, before, 20, 30000),
                "kill %d: no progress after the restart (%ld decided)", kill + 1, audit_decided (audit));
        zclock_sleep (audit_random_ms (100, 800));
        int pid = itest_daemon_pid (t, 0);
        int status = itest_daemon_stop (t, 0, SIGKILL);
        CHECKF (status == 128 + SIGKILL, "kill %d: divertd %d exited %d before SIGKILL", kill + 1, pid, status);
        printf ("# %6ld ms kill %d: divertd %d killed with %ld decided so far\n", audit_ms (), kill + 1, pid,
                audit_decided (audit));
        zclock_sleep (audit_random_ms (0, 500));
        CHECKF (itest_daemon_start (t, 0) > 0, "kill %d: divertd did not restart", kill + 1);
        if (kill % 2 == 0)
            audit_churn (t, 3);
    }
    //  Decisions after the last restart too
    long before = audit_decided (audit);
    CHECK (audit_wait_progress (audit, before, 20, 30000));
    audit_loadset_stop (&load);
    audit_finish (audit, 0, "sigkill", &events, &changes);
    CHECK (audit_daemon_alive (t, 0));
    audit_destroy (&audit);
}

AUDIT_MAIN ("fault_kill", t, NULL, sigkill_under_load, true)
