/*  it_revoke — a revoked key loses everything it had, within 60 s
    (protocol.md, Transport and security).

    A police source (gone) and an operator monitor (watcher) have open
    connections: a REQ on the intake and a SUB on the decisions socket (the
    monitor subscribed to everything). Both are revoked with divertctl while
    those connections stay open. Then, from the open connections, every
    request (ping, replay, withdraw, status, referral) is `forbidden` and
    changes nothing, and neither subscription hears an event published
    afterwards (the revoked source's own later decision, another source's
    referral), while a source (spd) and a monitor (ops) that were not revoked
    keep working. divertd hears of a revocation by NOTIFY, so this normally
    takes a moment; the test allows the 60 s the protocol allows, no more.
    Last, a revocation whose notification never comes (the trigger disabled)
    is found by divertd's 15 s timer.
*/
#include "itest.h"
#include "testlib.h"

static itest_t *t;
static dv_client_t *gone, *watcher, *spd, *ops;                 //  open intake connections
static dv_subscriber_t *gone_sub, *watcher_sub, *spd_sub, *ops_sub;
static char referral [64];      //  gone's accepted referral, still pending intake

static json_t *
s_request (const char *type)
{
    return json_pack ("{s:i, s:s}", "v", 1, "type", type);
}

static json_t *
s_replay (const char *source_id)
{
    json_t *request = json_pack ("{s:i, s:s, s:i}", "v", 1, "type", "replay", "since_seq", 0);
    if (source_id)
        json_object_set_new (request, "source_id", json_string (source_id));
    return request;
}

static json_t *
s_about (const char *type, const char *referral_id)
{
    json_t *request = json_pack ("{s:i, s:s, s:s}", "v", 1, "type", type, "referral_id", referral_id);
    if (streq (type, "withdraw"))
        json_object_set_new (request, "reason", json_string ("changed our mind"));
    return request;
}

//  The reply's error code, or its type when it is not an error (caller frees).
static char *
s_outcome (dv_client_t *client, json_t *request)
{
    json_t *reply = itest_ask (client, request);
    char *outcome = strdup (!reply ? "(no reply)"
                          : streq (itest_str (reply, "type"), "error") ? itest_str (reply, "code")
                          : itest_str (reply, "type"));
    json_decref (reply);
    return outcome;
}

#define CHECK_OUTCOME(client, request, expected) do { \
        char *_outcome = s_outcome ((client), (request)); \
        CHECK_STR (_outcome, (expected)); \
        free (_outcome); \
    } while (0)

static dv_subscriber_t *
s_subscribe (const char *id, const char *topic)
{
    char cert [600];
    snprintf (cert, sizeof cert, "%s", itest_cert (t, id));
    return dv_subscriber_new (itest_decisions (t, 0), itest_server_cert (t), cert, topic);
}

//  Read events until the one that says `decision` about referral_id arrives;
//  false when it didn't come within msecs.
static bool
s_heard (dv_subscriber_t *sub, const char *referral_id, const char *decision, int msecs)
{
    int64_t deadline = zclock_mono () + msecs;
    bool heard = false;
    while (!heard && zclock_mono () < deadline) {
        json_t *event = dv_subscriber_recv (sub, (int) (deadline - zclock_mono ()), NULL);
        if (!event)
            break;
        heard = streq (itest_str (event, "referral_id"), referral_id)
             && streq (itest_str (event, "decision"), decision);
        json_decref (event);
    }
    return heard;
}

//  True when no event at all arrives within msecs.
static bool
s_silent (dv_subscriber_t *sub, int msecs)
{
    char *topic = NULL;
    json_t *event = dv_subscriber_recv (sub, msecs, &topic);
    if (event)
        printf ("  unexpected event on %s: seq %lld\n", topic,
                (long long) json_integer_value (json_object_get (event, "seq")));
    free (topic);
    json_decref (event);
    return event == NULL;
}

//  Read whatever has arrived, until nothing comes for 300 ms.
static void
s_drain (dv_subscriber_t *sub)
{
    json_t *event;
    while ((event = dv_subscriber_recv (sub, 300, NULL)))
        json_decref (event);
}

#define CHECK_EVENT(sub, referral_id, decision) \
        CHECKF (s_heard ((sub), (referral_id), (decision), 5000), "no %s event for %s", (decision), (referral_id))

//  Submit a referral; its referral_id into id (when given) and its decision.
static char *
s_submit (dv_client_t *client, const char *pathway, char *id, size_t size)
{
    json_t *request = itest_referral (pathway, "unsheltered");
    if (id)
        snprintf (id, size, "%s", itest_str (request, "referral_id"));
    char *decision = itest_decide (client, request, NULL);
    json_decref (request);
    return decision;
}

//  A small text file's content (caller frees); "" when unreadable.
static char *
s_read (const char *path)
{
    char *text = calloc (1, 4096);
    FILE *file = fopen (path, "r");
    if (file) {
        size_t size = fread (text, 1, 4095, file);
        text [size] = 0;
        fclose (file);
    }
    return text;
}

TEST (open_connections_work_before)
{
    char other [64];
    char *decision = s_submit (gone, "arrest_diversion", referral, sizeof referral);
    CHECK_STR (decision, "accept");
    free (decision);
    CHECK_EVENT (gone_sub, referral, "accept");
    CHECK_EVENT (watcher_sub, referral, "accept");
    CHECK_EVENT (ops_sub, referral, "accept");
    CHECK_OUTCOME (gone, s_request ("ping"), "pong");
    CHECK_OUTCOME (gone, s_replay (NULL), "replay");
    CHECK_OUTCOME (gone, s_about ("status", referral), "decision");
    //  withdraw works too (on another referral: this one stays pending intake)
    decision = s_submit (gone, "arrest_diversion", other, sizeof other);
    CHECK_STR (decision, "accept");
    free (decision);
    CHECK_OUTCOME (gone, s_about ("withdraw", other), "decision");
    CHECK_EVENT (gone_sub, other, "withdrawn");
    CHECK_EVENT (watcher_sub, other, "withdrawn");
    CHECK_OUTCOME (watcher, s_request ("ping"), "pong");
    CHECK_OUTCOME (watcher, s_replay ("gone"), "replay");
    //  Everything heard so far is drained
    CHECK (s_silent (gone_sub, 300));
    s_drain (watcher_sub);      //  a monitor hears the enrollment feed too, a moment later
    s_drain (ops_sub);
}

TEST (revoked_with_connections_open)
{
    char path [700];
    snprintf (path, sizeof path, "%s/revoke.out", itest_tmp (t));
    CHECK_INT (itest_ctl (t, "source revoke gone >%s", path), 0);
    CHECK_INT (itest_ctl (t, "monitor revoke watcher >>%s", path), 0);
    char *said = s_read (path);
    printf ("# divertctl said: %s", said);
    //  divertctl says what happens to connections already open
    CHECK (strstr (said, "source gone revoked: new connections with its key are refused now;"
                         " connections already open get 'forbidden' for every request and lose"
                         " their subscriptions within 60 s"));
    CHECK (strstr (said, "monitor watcher revoked: new connections with its key are refused now;"
                         " connections already open get 'forbidden' for every request and lose"
                         " their subscriptions within 60 s"));
    free (said);

    //  Within 60 s, the open connections' requests are refused
    int64_t start = zclock_mono ();
    bool source_refused = false, monitor_refused = false;
    while (!(source_refused && monitor_refused) && zclock_mono () - start < 60000) {
        char *outcome = s_outcome (gone, s_request ("ping"));
        source_refused = streq (outcome, "forbidden");
        free (outcome);
        outcome = s_outcome (watcher, s_request ("ping"));
        monitor_refused = streq (outcome, "forbidden");
        free (outcome);
        if (!(source_refused && monitor_refused))
            zclock_sleep (50);
    }
    printf ("# refused after %lld ms\n", (long long) (zclock_mono () - start));
    CHECK (source_refused);
    CHECK (monitor_refused);
}

TEST (every_request_forbidden)
{
    //  the source's open connection
    long events = itest_sql_long (t, "SELECT count(*) FROM divert.decision_event WHERE source_id = 'gone'");
    CHECK_OUTCOME (gone, s_request ("ping"), "forbidden");
    CHECK_OUTCOME (gone, s_replay (NULL), "forbidden");
    CHECK_OUTCOME (gone, s_about ("withdraw", referral), "forbidden");
    CHECK_OUTCOME (gone, s_about ("status", referral), "forbidden");
    CHECK_OUTCOME (gone, itest_referral ("arrest_diversion", "unsheltered"), "forbidden");
    //  the same, with a request_id: it is echoed on the refusal
    json_t *request = s_request ("ping");
    json_object_set_new (request, "request_id", json_string ("after-revoke"));
    json_t *reply = itest_ask (gone, request);
    CHECK_STR (itest_str (reply, "code"), "forbidden");
    CHECK_STR (itest_str (reply, "request_id"), "after-revoke");
    CHECK (json_is_false (json_object_get (reply, "retry")));
    json_decref (reply);
    //  the monitor's open connection
    CHECK_OUTCOME (watcher, s_request ("ping"), "forbidden");
    CHECK_OUTCOME (watcher, s_replay ("gone"), "forbidden");
    CHECK_OUTCOME (watcher, s_replay ("spd"), "forbidden");
    CHECK_OUTCOME (watcher, s_about ("withdraw", referral), "forbidden");
    CHECK_OUTCOME (watcher, s_about ("status", referral), "forbidden");
    CHECK_OUTCOME (watcher, itest_referral ("community", "unsheltered"), "forbidden");
    //  nothing changed: the referral is still accepted and pending intake
    char sql [300];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM divert.referral r JOIN divert.enrollment e"
              " ON e.referral_id = r.id WHERE r.source_id = 'gone' AND r.referral_id = '%s'"
              " AND r.state = 'accepted' AND e.status = 'pending_intake'", referral);
    CHECK_INT (itest_sql_long (t, sql), 1);
    CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM divert.decision_event WHERE source_id = 'gone'"), events);
    CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM divert.referral WHERE source_id = 'gone'"), 2);
}

TEST (subscriptions_stop)
{
    //  Another source's referral: the monitor that was not revoked hears it,
    //  the revoked one doesn't
    char id [64];
    char *decision = s_submit (spd, "arrest_diversion", id, sizeof id);
    CHECK_STR (decision, "accept");
    free (decision);
    CHECK_EVENT (ops_sub, id, "accept");
    CHECK_EVENT (spd_sub, id, "accept");
    //  The revoked source's own later decision: its accepted referral's
    //  intake window ends, divert records `lapsed` and publishes it on
    //  decision.police.gone (ops hears it, so it was published)
    char sql [300];
    snprintf (sql, sizeof sql, "UPDATE divert.enrollment SET intake_due_at = now() - interval '1 second'"
              " WHERE referral_id = (SELECT id FROM divert.referral WHERE source_id = 'gone'"
              " AND referral_id = '%s')", referral);
    CHECK_INT (itest_sql (t, sql), 0);
    CHECK_EVENT (ops_sub, referral, "lapsed");
    CHECK (s_silent (watcher_sub, 1000));
    CHECK (s_silent (gone_sub, 500));
}

TEST (others_keep_working)
{
    CHECK_OUTCOME (spd, s_request ("ping"), "pong");
    CHECK_OUTCOME (spd, s_replay (NULL), "replay");
    CHECK_OUTCOME (ops, s_request ("ping"), "pong");
    CHECK_OUTCOME (ops, s_replay ("gone"), "replay");
    char id [64];
    char *decision = s_submit (spd, "social_contact", id, sizeof id);
    CHECK (decision && strncmp (decision, "error:", 6) != 0);
    CHECK_EVENT (spd_sub, id, decision);
    CHECK_EVENT (ops_sub, id, decision);
    free (decision);
    CHECK (s_silent (watcher_sub, 500));
}

//  Without the notification (say it was lost), divertd's timer still finds
//  the revocation well within the 60 s.
TEST (revoked_without_notification)
{
    dv_client_t *late = itest_client (t, "late", 0);
    CHECK_OUTCOME (late, s_request ("ping"), "pong");
    CHECK_INT (itest_sql (t, "ALTER TABLE divert.source DISABLE TRIGGER source_revocation_notify"), 0);
    CHECK_INT (itest_ctl (t, "source revoke late >/dev/null"), 0);
    CHECK_INT (itest_sql (t, "ALTER TABLE divert.source ENABLE TRIGGER source_revocation_notify"), 0);
    int64_t start = zclock_mono ();
    bool refused = false;
    while (!refused && zclock_mono () - start < 60000) {
        char *outcome = s_outcome (late, s_request ("ping"));
        refused = streq (outcome, "forbidden");
        free (outcome);
        if (!refused)
            zclock_sleep (200);
    }
    printf ("# refused after %lld ms without a notification\n", (long long) (zclock_mono () - start));
    CHECK (refused);
    dv_client_destroy (&late);
}

int
main (void)
{
    TESTLIB_BEGIN ("it_revoke");
    t = itest_new ();
    itest_add_source (t, "gone", "police");
    itest_add_source (t, "spd", "police");
    itest_add_source (t, "late", "community");
    itest_add_monitor (t, "watcher");
    itest_add_monitor (t, "ops");
    itest_add_cm (t, "cm-a", "LEAD");
    itest_add_cm (t, "cm-b", "LEAD");
    if (itest_daemon_start (t, 0) < 0) {
        printf ("divertd did not start\n");
        return 1;
    }
    gone = itest_client (t, "gone", 0);
    watcher = itest_client (t, "watcher", 0);
    spd = itest_client (t, "spd", 0);
    ops = itest_client (t, "ops", 0);
    gone_sub = s_subscribe ("gone", "decision.police.gone");
    watcher_sub = s_subscribe ("watcher", "");
    spd_sub = s_subscribe ("spd", "decision.police.spd");
    ops_sub = s_subscribe ("ops", "");
    zclock_sleep (500);                 //  let the subscriptions arrive
    RUN (open_connections_work_before);
    RUN (revoked_with_connections_open);
    RUN (every_request_forbidden);
    RUN (subscriptions_stop);
    RUN (others_keep_working);
    RUN (revoked_without_notification);
    dv_subscriber_destroy (&gone_sub);
    dv_subscriber_destroy (&watcher_sub);
    dv_subscriber_destroy (&spd_sub);
    dv_subscriber_destroy (&ops_sub);
    dv_client_destroy (&gone);
    dv_client_destroy (&watcher);
    dv_client_destroy (&spd);
    dv_client_destroy (&ops);
    CHECK_INT (itest_daemon_stop (t, 0, SIGTERM), 0);
    itest_destroy (&t);
    return TESTLIB_END ();
}
