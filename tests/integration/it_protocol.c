/*  it_protocol — DIVERT/1 over real CURVE sockets against the real divertd:
    idempotent resubmission and conflict, keys (unknown refused, revoked
    refused, pathway not permitted), invalid input answered while the daemon
    keeps serving, status / replay / ping, events on the decisions socket
    (topic, seq, no personal data, own topic only), DEALER pipelining.
*/
#include "itest.h"
#include "testlib.h"

static itest_t *t;
static dv_client_t *police, *community;

TEST (idempotent_resubmit_and_conflict)
{
    json_t *request = itest_referral ("arrest_diversion", "unsheltered");
    json_object_set_new (request, "request_id", json_string ("first"));
    json_t *first = dv_client_request (police, request);
    CHECK_STR (itest_str (first, "decision"), "accept");
    CHECK (json_is_false (json_object_get (first, "replayed")));
    CHECK_STR (itest_str (first, "request_id"), "first");
    //  Same content, another request_id: the stored decision, replayed
    json_object_set_new (request, "request_id", json_string ("again"));
    json_t *again = dv_client_request (police, request);
    CHECK_STR (itest_str (again, "decision"), "accept");
    CHECK (json_is_true (json_object_get (again, "replayed")));
    CHECK_STR (itest_str (again, "request_id"), "again");
    CHECK_INT (json_integer_value (json_object_get (again, "seq")), json_integer_value (json_object_get (first, "seq")));
    CHECK_STR (itest_str (json_object_get (again, "case_manager"), "id"), itest_str (json_object_get (first, "case_manager"), "id"));
    CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM divert.enrollment"), 1);
    //  Same referral_id, different content: conflict, nothing changes
    json_object_set_new (request, "area", json_string ("uptown"));
    json_t *conflict = dv_client_request (police, request);
    CHECK_STR (itest_str (conflict, "type"), "error");
    CHECK_STR (itest_str (conflict, "code"), "conflict");
    CHECK (json_is_false (json_object_get (conflict, "retry")));
    CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM divert.decision_event"), 1);
    //  Another source may use the same referral_id: it is theirs
    json_object_set_new (request, "pathway", json_string ("community"));
    json_object_del (request, "offense");
    json_t *other = dv_client_request (community, request);
    CHECK_STR (itest_str (other, "type"), "decision");
    CHECK (json_is_false (json_object_get (other, "replayed")));
    json_decref (request); json_decref (first); json_decref (again); json_decref (conflict); json_decref (other);
}

TEST (pathway_not_permitted)
{
    json_t *reply = itest_ask (community, itest_referral ("arrest_diversion", "unsheltered"));
    CHECK_STR (itest_str (reply, "code"), "forbidden");
    json_decref (reply);
    reply = itest_ask (police, itest_referral ("pretrial_diversion", "unsheltered"));
    CHECK_STR (itest_str (reply, "code"), "forbidden");
    json_decref (reply);
    //  Even a message claiming another source changes nothing: unknown field
    json_t *request = itest_referral ("arrest_diversion", "unsheltered");
    json_object_set_new (request, "source_id", json_string ("court"));
    reply = itest_ask (community, request);
    CHECK_STR (itest_str (reply, "code"), "invalid");
    json_decref (reply);
}

TEST (invalid_input_answered_and_daemon_serves_on)
{
    const char *frames [] = {
        "not json at all", "[1,2,3]", "42", "{\"v\":1,\"type\":\"referral\"}",
        "{\"v\":2,\"type\":\"ping\"}", "{\"v\":1,\"type\":\"ping\",\"colour\":\"red\"}", "\xff\xfe{}"
    };
    const char *codes [] = { "invalid", "invalid", "invalid", "invalid", "unsupported_version", "invalid", "invalid" };
    for (size_t i = 0; i < sizeof frames / sizeof frames [0]; i++) {
        char *text = dv_client_request_raw (police, frames [i], strlen (frames [i]));
        json_t *reply = text ? json_loads (text, 0, NULL) : NULL;
        CHECKF (reply && streq (itest_str (reply, "code"), codes [i]), "frame %zu: %s", i, text ? text : "(no reply)");
        free (text);
        json_decref (reply);
    }
    //  An impossible date names the field
    json_t *request = itest_referral ("arrest_diversion", "unsheltered");
    json_object_set_new (request, "person", json_pack ("{s:s, s:s}", "last_name", "Doe", "dob", "1981-02-30"));
    json_t *reply = itest_ask (police, request);
    CHECK_STR (itest_str (reply, "code"), "invalid");
    CHECK_STR (itest_str (json_array_get (json_object_get (reply, "errors"), 0), "field"), "person.dob");
    json_decref (reply);
    //  ... and the daemon still decides
    reply = itest_ask (police, itest_referral ("arrest_diversion", "unsheltered"));
    CHECK_STR (itest_str (reply, "type"), "decision");
    json_decref (reply);
}

TEST (unknown_key_refused)
{
    zcert_t *stranger = zcert_new ();
    zcert_t *server = zcert_load (itest_server_cert (t));
    dv_client_t *client = dv_client_new_keys (itest_intake (t, 0), zcert_public_txt (server),
                                 zcert_public_txt (stranger), zcert_secret_txt (stranger));
    dv_client_set_timeout (client, 700);
    dv_client_set_attempts (client, 1);
    json_t *ping = json_pack ("{s:i, s:s}", "v", 1, "type", "ping");
    json_t *reply = dv_client_request (client, ping);
    CHECK (reply == NULL);
    json_decref (reply);
    json_decref (ping);
    dv_client_destroy (&client);
    zcert_destroy (&server);
    zcert_destroy (&stranger);
}

TEST (revoked_key_refused)
{
    itest_add_source (t, "gone", "police");
    dv_client_t *client = itest_client (t, "gone", 0);
    json_t *reply = itest_ask (client, itest_referral ("social_contact", "unsheltered"));
    CHECK_STR (itest_str (reply, "type"), "decision");
    json_decref (reply);
    CHECK_INT (itest_ctl (t, "source revoke gone >/dev/null"), 0);
    //  The open connection: refused at once
    reply = itest_ask (client, itest_referral ("social_contact", "unsheltered"));
    CHECK_STR (itest_str (reply, "code"), "forbidden");
    json_decref (reply);
    dv_client_destroy (&client);
    //  A new connection: refused in the handshake
    client = itest_client (t, "gone", 0);
    dv_client_set_timeout (client, 700);
    dv_client_set_attempts (client, 1);
    reply = itest_ask (client, json_pack ("{s:i, s:s}", "v", 1, "type", "ping"));
    CHECK (reply == NULL);
    json_decref (reply);
    dv_client_destroy (&client);
}

TEST (status_and_replay)
{
    json_t *request = itest_referral ("social_contact", "unsheltered");
    char referral_id [64];
    snprintf (referral_id, sizeof referral_id, "%s", itest_str (request, "referral_id"));
    json_t *decision = itest_ask (police, request);
    //  Own referral: the latest decision
    json_t *status = itest_ask (police, json_pack ("{s:i, s:s, s:s}", "v", 1, "type", "status", "referral_id", referral_id));
    CHECK_STR (itest_str (status, "type"), "decision");
    CHECK_INT (json_integer_value (json_object_get (status, "seq")), json_integer_value (json_object_get (decision, "seq")));
    json_decref (status);
    //  Another source's: not_found, as if it did not exist
    status = itest_ask (community, json_pack ("{s:i, s:s, s:s}", "v", 1, "type", "status", "referral_id", referral_id));
    CHECK_STR (itest_str (status, "code"), "not_found");
    json_decref (status);
    //  Replay: own events in seq order, paged
    json_t *replay = itest_ask (police, json_pack ("{s:i, s:s, s:i, s:i}", "v", 1, "type", "replay", "since_seq", 0, "limit", 2));
    json_t *events = json_object_get (replay, "events");
    CHECK_INT (json_array_size (events), 2);
    CHECK_INT (json_integer_value (json_object_get (json_array_get (events, 0), "seq")), 1);
    CHECK_INT (json_integer_value (json_object_get (json_array_get (events, 1), "seq")), 2);
    CHECK (json_is_true (json_object_get (replay, "more")));
    CHECK_INT (json_integer_value (json_object_get (replay, "next_seq")), 2);
    CHECK_STR (itest_str (json_array_get (events, 0), "source_id"), "spd");
    json_decref (replay);
    replay = itest_ask (police, json_pack ("{s:i, s:s, s:I}", "v", 1, "type", "replay", "since_seq",
                                           json_integer_value (json_object_get (decision, "seq")) - 1));
    CHECK_INT (json_array_size (json_object_get (replay, "events")), 1);
    CHECK (json_is_false (json_object_get (replay, "more")));
    CHECK_STR (itest_str (json_array_get (json_object_get (replay, "events"), 0), "referral_id"), referral_id);
    json_decref (replay);
    //  A source can't replay another's events
    replay = itest_ask (community, json_pack ("{s:i, s:s, s:i, s:s}", "v", 1, "type", "replay", "since_seq", 0, "source_id", "spd"));
    CHECK_STR (itest_str (replay, "code"), "forbidden");
    json_decref (replay);
    json_decref (decision);
}

TEST (ping)
{
    json_t *reply = itest_ask (police, json_pack ("{s:i, s:s, s:s}", "v", 1, "type", "ping", "request_id", "p1"));
    CHECK_STR (itest_str (reply, "type"), "pong");
    CHECK_STR (itest_str (reply, "db"), "up");
    CHECK_STR (itest_str (reply, "version"), DIVERT_VERSION);
    CHECK_STR (itest_str (reply, "request_id"), "p1");
    json_decref (reply);
}

TEST (events_published_without_personal_data)
{
    char cert [600];
    snprintf (cert, sizeof cert, "%s", itest_cert (t, "spd"));
    dv_subscriber_t *own = dv_subscriber_new (itest_decisions (t, 0), itest_server_cert (t), cert, "decision.police.spd");
    dv_subscriber_t *greedy = dv_subscriber_new (itest_decisions (t, 0), itest_server_cert (t), cert, "");
    snprintf (cert, sizeof cert, "%s", itest_cert (t, "ops"));
    dv_subscriber_t *monitor = dv_subscriber_new (itest_decisions (t, 0), itest_server_cert (t), cert, "decision.");
    zclock_sleep (500);                 //  let the subscriptions arrive
    json_t *request = itest_referral ("arrest_diversion", "unsheltered");
    json_object_set_new (request, "person", json_pack ("{s:s, s:s, s:s}", "first_name", "Zelphina",
                                                       "last_name", "Quarrington", "dob", "1977-07-07"));
    json_object_set_new (request, "notes", json_string ("secret-note-xyzzy"));
    json_t *decision = itest_ask (police, request);
    char *topic = NULL;
    json_t *event = dv_subscriber_recv (own, 3000, &topic);
    CHECK (event != NULL);
    CHECK_STR (topic, "decision.police.spd");
    CHECK_STR (itest_str (event, "type"), "event");
    CHECK_INT (json_integer_value (json_object_get (event, "seq")), json_integer_value (json_object_get (decision, "seq")));
    CHECK_STR (itest_str (event, "referral_id"), itest_str (decision, "referral_id"));
    char *text = json_dumps (event, 0);
    CHECK (text && !strstr (text, "Zelphina") && !strstr (text, "Quarrington") && !strstr (text, "1977")
                && !strstr (text, "xyzzy"));
    free (text);
    free (topic);
    json_decref (event);
    //  The monitor sees it too; a source key subscribing to everything gets
    //  its own events only (the subscription is narrowed to its own topic)
    event = dv_subscriber_recv (monitor, 3000, NULL);
    CHECK (event != NULL);
    json_decref (event);
    event = dv_subscriber_recv (greedy, 3000, &topic);
    CHECK_STR (topic, "decision.police.spd");
    json_decref (event);
    free (topic);
    topic = NULL;
    json_t *other = itest_ask (community, itest_referral ("community", "unsheltered"));
    CHECK_STR (itest_str (other, "type"), "decision");
    json_decref (other);
    event = dv_subscriber_recv (monitor, 3000, &topic);
    CHECK_STR (topic, "decision.community.cp");             //  published ...
    json_decref (event);
    free (topic);
    event = dv_subscriber_recv (greedy, 500, NULL);
    CHECK (event == NULL);                                  //  ... but not to the police key
    json_decref (event);
    event = dv_subscriber_recv (own, 200, NULL);
    CHECK (event == NULL);
    json_decref (event);
    json_decref (decision);
    dv_subscriber_destroy (&own);
    dv_subscriber_destroy (&greedy);
    dv_subscriber_destroy (&monitor);
}

//  Which request_ids (0..9) got a decision
static void
s_seen (int i, json_t *reply, void *arg)
{
    (void) i;
    if (streq (itest_str (reply, "type"), "decision"))
        *(int *) arg |= 1 << atoi (itest_str (reply, "request_id"));
}

TEST (dealer_pipelining_and_bad_envelope)
{
    zsock_t *dealer = itest_dealer (t, "spd", 0);
    //  Ten requests in flight, matched by request_id
    CHECK_INT (itest_dealer_send (dealer, 10, NULL, NULL), 10);
    int seen = 0;
    zsock_set_rcvtimeo (dealer, 5000);
    itest_dealer_tally (dealer, 10, s_seen, &seen);
    CHECK_INT (seen, 0x3ff);
    //  A DEALER that forgets the empty frame gets an invalid error, not silence
    zstr_send (dealer, "{\"v\":1,\"type\":\"ping\"}");
    char *empty = NULL, *text = NULL;
    CHECK (zsock_recv (dealer, "ss", &empty, &text) == 0);
    json_t *reply = text ? json_loads (text, 0, NULL) : NULL;
    CHECK_STR (itest_str (reply, "code"), "invalid");
    json_decref (reply);
    free (empty);
    free (text);
    zsock_destroy (&dealer);
}

int
main (void)
{
    TESTLIB_BEGIN ("it_protocol");
    t = itest_new ();
    itest_add_source (t, "spd", "police");
    itest_add_source (t, "cp", "community");
    itest_add_monitor (t, "ops");
    itest_add_cm (t, "cm-a", "LEAD");
    itest_add_cm (t, "cm-b", "LEAD");
    if (itest_daemon_start (t, 0) < 0) {
        printf ("divertd did not start\n");
        return 1;
    }
    police = itest_client (t, "spd", 0);
    community = itest_client (t, "cp", 0);
    RUN (idempotent_resubmit_and_conflict);
    RUN (pathway_not_permitted);
    RUN (invalid_input_answered_and_daemon_serves_on);
    RUN (unknown_key_refused);
    RUN (revoked_key_refused);
    RUN (status_and_replay);
    RUN (ping);
    RUN (events_published_without_personal_data);
    RUN (dealer_pipelining_and_bad_envelope);
    dv_client_destroy (&police);
    dv_client_destroy (&community);
    CHECK_INT (itest_daemon_stop (t, 0, SIGTERM), 0);
    itest_destroy (&t);
    return TESTLIB_END ();
}
