/*  it_watch — divert-watch fills a gap in seq with `replay`.

    Two daemons share the database; the watcher subscribes to daemon 0 only.
    A decision made by daemon 1 is published on daemon 1's socket, so the
    watcher sees seq 1, then seq 3: it must ask `replay` for seq 2 and print
    all three, in order, once each.
*/
#include "itest.h"
#include "testlib.h"

static itest_t *t;

static void
s_submit (int slot)
{
    dv_client_t *client = itest_client (t, "spd", slot);
    json_t *request = itest_referral ("arrest_diversion", "unsheltered");
    char *decision = itest_decide (client, request, NULL);
    CHECK_STR (decision, "accept");
    free (decision);
    json_decref (request);
    dv_client_destroy (&client);
}

TEST (gap_filled_with_replay)
{
    char command [2000];
    snprintf (command, sizeof command,
              "%s/divert-watch --endpoint %s --intake %s --server-key %s --cert %s --json --count 3 --timeout-ms 15000",
              getenv ("DIVERT_BIN"), itest_decisions (t, 0), itest_intake (t, 0), itest_server_cert (t),
              itest_cert (t, "spd"));
    FILE *watch = popen (command, "r");
    zclock_sleep (700);                 //  let it subscribe
    s_submit (0);                       //  seq 1, seen live
    zclock_sleep (300);
    s_submit (1);                       //  seq 2, published elsewhere: missed
    s_submit (0);                       //  seq 3, seen live: the gap shows
    int64_t seqs [8];
    int count = 0;
    char line [4096];
    while (count < 8 && fgets (line, sizeof line, watch)) {
        json_t *event = json_loads (line, 0, NULL);
        if (event)
            seqs [count++] = json_integer_value (json_object_get (event, "seq"));
        json_decref (event);
    }
    CHECK_INT (pclose (watch), 0);
    CHECK_INT (count, 3);
    for (int i = 0; i < count && i < 3; i++)
        CHECK_INT (seqs [i], i + 1);
}

int
main (void)
{
    TESTLIB_BEGIN ("it_watch");
    t = itest_new ();
    itest_add_source (t, "spd", "police");
    itest_add_cm (t, "cm-a", "LEAD");
    if (itest_daemon_start (t, 0) < 0 || itest_daemon_start (t, 1) < 0) {
        printf ("divertd did not start\n");
        return 1;
    }
    RUN (gap_filled_with_replay);
    CHECK_INT (itest_daemon_stop (t, 1, SIGTERM), 0);
    CHECK_INT (itest_daemon_stop (t, 0, SIGTERM), 0);
    itest_destroy (&t);
    return TESTLIB_END ();
}
