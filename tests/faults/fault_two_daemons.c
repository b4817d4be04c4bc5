/*  fault_two_daemons — two divertd on one database under load, one killed
    with SIGKILL mid-burst.

    Each round: both daemons up; six clients, three on each, send a burst
    of referrals (some the same one from two clients at once, possibly
    through different daemons). When a third of the burst is decided, one
    daemon is killed. Its clients get no reply (Lazy Pirate: 1 s timeout,
    2 sends), then send the same request to the other daemon and carry on
    there. The killed daemon is restarted for the next round. Reduced: one
    round; full: three, killing slot 1, 0, 1.

    Then the audit (audit.h): both daemons decided, nothing twice, caps
    (the two daemons share one program's few slots), seq gap-free.
*/
#include "audit.h"

static itest_t *t;

TEST (one_of_two_daemons_killed_mid_burst)
{
    int rounds = AUDIT_SIZE (1, 3);
    int burst = AUDIT_SIZE (45, 150);          //  referrals per client per round
    audit_t *audit = audit_new (t);
    for (int slot = 0; slot < 2; slot++)
        CHECKF (itest_daemon_start (t, slot) > 0, "divertd %d did not start", slot);
    audit_events_t *events [2] = { audit_events_start (audit, 0), audit_events_start (audit, 1) };
    for (int round = 0; round < rounds; round++) {
        int victim = round % 2 ? 0 : 1;
        for (int slot = 0; slot < 2; slot++)
            if (!itest_daemon_pid (t, slot))
                CHECKF (itest_daemon_start (t, slot) > 0, "round %d: divertd %d did not start", round + 1, slot);
        long before = audit_decided (audit);
        audit_loadset_t load;
        audit_loadset_start (&load, audit, 6, 0, 1, 1000, 2, burst, 3);
        CHECKF (audit_wait_progress (audit, before, 6 * burst / 3, 60000),
                "round %d: no progress (%ld decided)", round + 1, audit_decided (audit) - before);
        int pid = itest_daemon_pid (t, victim);
        int status = itest_daemon_stop (t, victim, SIGKILL);
        CHECKF (status == 128 + SIGKILL, "round %d: divertd %d exited %d before SIGKILL", round + 1, victim, status);
        printf ("# %6ld ms round %d: divertd %d (slot %d) killed with %ld of %d decided\n",
                audit_ms (), round + 1, pid, victim, audit_decided (audit) - before, 6 * burst);
        audit_loadset_join (&load);
        int failovers = 0;
        for (int i = 0; i < load.count; i++)
            failovers += load.loads [i].failovers;
        printf ("# %6ld ms round %d: burst done, %d client(s) failed over\n", audit_ms (), round + 1, failovers);
        CHECKF (failovers > 0, "round %d: no client noticed the kill", round + 1);
        CHECKF (audit_daemon_alive (t, 1 - victim), "round %d: the surviving daemon exited", round + 1);
        audit_churn (t, 3);
    }
    int survivor = (rounds - 1) % 2 ? 1 : 0;
    audit_finish (audit, survivor, "two-daemons", &events [0], NULL);
    audit_events_check (&events [1], "two-daemons");
    CHECK_INT (audit_pg_long ("SELECT (count(DISTINCT decided_by) >= 2)::int FROM divert.decision_event"
                              " WHERE decided_by LIKE 'divertd@%'"), 1);
    audit_destroy (&audit);
}

AUDIT_MAIN ("fault_two_daemons", t, NULL, one_of_two_daemons_killed_mid_burst, false)
