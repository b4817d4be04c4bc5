/*  it_cms — the case-management side of DIVERT/1 (protocol.md, "Case-
    management systems") over real CURVE sockets, with the real divertd:
    keys and what each kind may send, the enrollment feed (the referral on
    `assigned` events, the delivery recorded for audit, paging), a key
    confined to its programs, every transition and every refusal, idempotent
    replays, transfer, caseload at a feed position, an exit promoting the
    waitlist at once, subscriptions narrowed to the key's programs, the feed
    gap-free with two daemons, and revocation.
*/
#include "itest.h"
#include "testlib.h"

static itest_t *t;
static dv_client_t *police, *community, *lead_cms, *all_cms, *ops;

static json_t *
s_enrollment (dv_client_t *client, const char *source, const char *referral_id, const char *change,
              const char *reason, const char *at)
{
    json_t *request = json_pack ("{s:i, s:s, s:s, s:s, s:s}", "v", 1, "type", "enrollment",
                                 "source_id", source, "referral_id", referral_id, "change", change);
    if (reason)
        json_object_set_new (request, "reason", json_string (reason));
    if (at)
        json_object_set_new (request, "at", json_string (at));
    return itest_ask (client, request);
}

static json_t *
s_feed (dv_client_t *client, const char *program, long since, int limit)
{
    json_t *request = json_pack ("{s:i, s:s, s:s, s:I}", "v", 1, "type", "enrollments",
                                 "program", program, "since_seq", (json_int_t) since);
    if (limit)
        json_object_set_new (request, "limit", json_integer (limit));
    return itest_ask (client, request);
}

static json_t *
s_transfer (dv_client_t *client, const char *source, const char *referral_id, const char *cm)
{
    return itest_ask (client, json_pack ("{s:i, s:s, s:s, s:s, s:s}", "v", 1, "type", "transfer",
                                         "source_id", source, "referral_id", referral_id, "case_manager", cm));
}

//  A referral that is accepted (or whatever `expect`); returns its id.
static char *
s_referral (dv_client_t *client, const char *pathway, const char *housing, const char *expect)
{
    json_t *request = itest_referral (pathway, housing);
    char *id = strdup (itest_str (request, "referral_id"));
    json_t *reply = itest_ask (client, request);
    CHECKF (streq (itest_str (reply, "decision"), expect), "%s referral: %s (%s), expected %s",
            pathway, itest_str (reply, "decision"), itest_str (reply, "reason"), expect);
    json_decref (reply);
    return id;
}

static long
s_sql_long (const char *format, const char *argument)
{
    char sql [600];
    snprintf (sql, sizeof sql, format, argument);
    return itest_sql_long (t, sql);
}

static char *
s_sql_text (const char *format, const char *argument)
{
    char sql [600];
    snprintf (sql, sizeof sql, format, argument);
    return itest_sql_value (t, sql);
}

//  The enrollment's status in the database
static char *
s_status (const char *referral_id)
{
    return s_sql_text ("SELECT e.status FROM divert.enrollment e JOIN divert.referral r ON r.id = e.referral_id"
                       " WHERE r.referral_id = '%s'", referral_id);
}

TEST (what_each_key_may_send)
{
    json_t *reply = itest_ask (lead_cms, itest_referral ("arrest_diversion", "unsheltered"));
    CHECK_STR (itest_str (reply, "code"), "forbidden");
    json_decref (reply);
    reply = itest_ask (lead_cms, json_pack ("{s:i, s:s, s:I}", "v", 1, "type", "replay", "since_seq", (json_int_t) 0));
    CHECK_STR (itest_str (reply, "code"), "forbidden");
    json_decref (reply);
    reply = itest_ask (lead_cms, json_pack ("{s:i, s:s}", "v", 1, "type", "ping"));
    CHECK_STR (itest_str (reply, "type"), "pong");
    json_decref (reply);
    reply = s_feed (police, "LEAD", 0, 0);
    CHECK_STR (itest_str (reply, "code"), "forbidden");
    json_decref (reply);
    reply = itest_ask (ops, json_pack ("{s:i, s:s, s:s}", "v", 1, "type", "caseload", "program", "LEAD"));
    CHECK_STR (itest_str (reply, "code"), "forbidden");
    json_decref (reply);
    reply = s_transfer (community, "spd", "00000000-0000-4000-8000-000000000000", "cm-b");
    CHECK_STR (itest_str (reply, "code"), "forbidden");
    json_decref (reply);
}

TEST (feed_delivers_assignments_and_records_it)
{
    char *first = s_referral (police, "arrest_diversion", "unsheltered", "accept");
    json_t *request = itest_referral ("arrest_diversion", "unsheltered");
    json_object_set_new (request, "person", json_pack ("{s:s, s:s, s:s}", "first_name", "Marisol",
                                                       "last_name", "Okonkwo", "dob", "1984-07-09"));
    json_object_set_new (request, "notes", json_string ("sleeps near the library"));
    char *second = strdup (itest_str (request, "referral_id"));
    json_decref (itest_ask (police, request));

    json_t *reply = s_feed (lead_cms, "LEAD", 0, 0);
    CHECK_STR (itest_str (reply, "type"), "enrollments");
    json_t *events = json_object_get (reply, "events");
    CHECK_INT (json_array_size (events), 2);
    json_t *event = json_array_get (events, 1);
    CHECK_INT (json_integer_value (json_object_get (json_array_get (events, 0), "seq")), 1);
    CHECK_INT (json_integer_value (json_object_get (event, "seq")), 2);
    CHECK_STR (itest_str (event, "change"), "assigned");
    CHECK_STR (itest_str (event, "status"), "pending_intake");
    CHECK_STR (itest_str (event, "referral_id"), second);
    CHECK_STR (itest_str (event, "source_id"), "spd");
    json_t *referral = json_object_get (event, "referral");
    CHECK_STR (itest_str (json_object_get (referral, "person"), "last_name"), "Okonkwo");
    CHECK_STR (itest_str (referral, "notes"), "sleeps near the library");
    CHECK_STR (itest_str (referral, "pathway"), "arrest_diversion");
    CHECK (json_object_get (referral, "request_id") == NULL);
    CHECK (json_is_string (json_object_get (event, "intake_due")));
    CHECK_INT (json_integer_value (json_object_get (reply, "next_seq")), 2);
    CHECK (json_is_false (json_object_get (reply, "more")));
    json_decref (reply);
    //  Each delivery of personal data is recorded: key, referral, time
    CHECK_INT (s_sql_long ("SELECT count(*) FROM divert.disclosure d JOIN divert.referral r ON r.id = d.referral_id"
                           " WHERE d.actor_kind = 'cms' AND d.actor_id = 'lead-cms' AND r.referral_id = '%s'", second), 1);
    //  Pages
    reply = s_feed (lead_cms, "LEAD", 0, 1);
    CHECK_INT (json_array_size (json_object_get (reply, "events")), 1);
    CHECK_INT (json_integer_value (json_object_get (reply, "next_seq")), 1);
    CHECK (json_is_true (json_object_get (reply, "more")));
    json_decref (reply);
    CHECK_INT (s_sql_long ("SELECT count(*) FROM divert.disclosure d JOIN divert.referral r ON r.id = d.referral_id"
                           " WHERE r.referral_id = '%s'", first), 2);
    //  The assignment's actor is the daemon
    char *actor = s_sql_text ("SELECT ev.actor FROM divert.enrollment_event ev JOIN divert.referral r ON r.id = ev.referral_id"
                              " WHERE r.referral_id = '%s'", second);
    CHECKF (actor && strncmp (actor, "divertd@", 8) == 0, "actor %s", actor);
    free (actor);
    //  Never personal data in the log (the feed reply is the one place it goes)
    free (first); free (second);
}

TEST (a_key_sees_only_its_programs)
{
    char *hotel = s_referral (police, "arrest_diversion", "hotel", "accept");       //  CO-LEAD
    json_t *reply = s_feed (lead_cms, "CO-LEAD", 0, 0);
    CHECK_STR (itest_str (reply, "code"), "not_found");
    json_decref (reply);
    reply = itest_ask (lead_cms, json_pack ("{s:i, s:s, s:s}", "v", 1, "type", "caseload", "program", "CO-LEAD"));
    CHECK_STR (itest_str (reply, "code"), "not_found");
    json_decref (reply);
    reply = s_enrollment (lead_cms, "spd", hotel, "intake_completed", NULL, NULL);
    CHECK_STR (itest_str (reply, "code"), "not_found");
    json_decref (reply);
    char *status = s_status (hotel);
    CHECK_STR (status, "pending_intake");
    free (status);
    reply = s_enrollment (lead_cms, "spd", "00000000-0000-4000-8000-000000000000", "intake_completed", NULL, NULL);
    CHECK_STR (itest_str (reply, "code"), "not_found");
    json_decref (reply);
    //  The key for both programs may
    reply = s_enrollment (all_cms, "spd", hotel, "intake_completed", NULL, NULL);
    CHECK_STR (itest_str (reply, "status"), "active");
    CHECK_STR (itest_str (reply, "program"), "CO-LEAD");
    json_decref (reply);
    free (hotel);
}

TEST (every_transition)
{
    char *id = s_referral (police, "arrest_diversion", "unsheltered", "accept");
    struct {
        const char *change, *reason, *expect_status, *expect_code, *message_has;
    } rows [] = {
        { "in_the_wind", NULL, NULL, "conflict", "the enrollment is pending_intake" },
        { "re_engaged", NULL, NULL, "conflict", "the enrollment is pending_intake" },
        { "intake_completed", NULL, "active", NULL, NULL },
        { "intake_completed", NULL, "active", NULL, NULL },          //  replayed
        { "re_engaged", NULL, NULL, "conflict", "the enrollment is active" },
        { "in_the_wind", NULL, "in_the_wind", NULL, NULL },
        { "intake_completed", NULL, NULL, "conflict", "the enrollment is in_the_wind" },
        { "re_engaged", NULL, "active", NULL, NULL },
        { "in_the_wind", NULL, "in_the_wind", NULL, NULL },          //  in the wind again
        { "exited", "graduated", "exited", NULL, NULL },
        { "exited", "graduated", "exited", NULL, NULL },             //  replayed
        { "exited", "moved", NULL, "conflict", "the enrollment is exited" },
        { "intake_completed", NULL, NULL, "conflict", "the enrollment is exited" },
    };
    long seq_before = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        json_t *reply = s_enrollment (lead_cms, "spd", id, rows [i].change, rows [i].reason, NULL);
        if (rows [i].expect_code) {
            CHECKF (streq (itest_str (reply, "code"), rows [i].expect_code), "row %zu %s: %s", i,
                    rows [i].change, itest_str (reply, "code"));
            CHECKF (strstr (itest_str (reply, "message"), rows [i].message_has), "row %zu: %s", i,
                    itest_str (reply, "message"));
        }
        else {
            CHECKF (streq (itest_str (reply, "status"), rows [i].expect_status), "row %zu %s: %s (%s)", i,
                    rows [i].change, itest_str (reply, "status"), itest_str (reply, "message"));
            long seq = (long) json_integer_value (json_object_get (reply, "seq"));
            bool replayed = json_is_true (json_object_get (reply, "replayed"));
            bool repeat = i > 0 && streq (rows [i - 1].change, rows [i].change) && !rows [i - 1].expect_code;
            CHECKF (replayed == repeat, "row %zu: replayed %d", i, replayed);
            CHECKF (repeat ? seq == seq_before : seq > seq_before, "row %zu: seq %ld after %ld", i, seq, seq_before);
            seq_before = seq;
            CHECK (json_is_string (json_object_get (reply, "case_manager")));
        }
        json_decref (reply);
    }
    //  The history: one event per change, with its actor, in order
    char *history = s_sql_text ("SELECT string_agg(ev.change || '/' || COALESCE(ev.reason, '-') || '/' || ev.actor, ','"
                                " ORDER BY ev.seq) FROM divert.enrollment_event ev JOIN divert.referral r"
                                " ON r.id = ev.referral_id WHERE r.referral_id = '%s' AND ev.change <> 'assigned'", id);
    CHECK_STR (history, "intake_completed/-/cms:lead-cms,in_the_wind/-/cms:lead-cms,re_engaged/-/cms:lead-cms,"
                        "in_the_wind/-/cms:lead-cms,exited/graduated/cms:lead-cms");
    free (history);
    char *state = s_sql_text ("SELECT state FROM divert.referral WHERE referral_id = '%s'", id);
    CHECK_STR (state, "exited");
    free (state);
    free (id);
}

TEST (bad_input_named)
{
    char *id = s_referral (police, "arrest_diversion", "unsheltered", "accept");
    struct {
        const char *json, *field, *code;
    } rows [] = {
        { "{\"v\":1,\"type\":\"enrollment\",\"source_id\":\"spd\",\"referral_id\":\"%s\",\"change\":\"exited\"}", "reason", "invalid" },
        { "{\"v\":1,\"type\":\"enrollment\",\"source_id\":\"spd\",\"referral_id\":\"%s\",\"change\":\"in_the_wind\",\"reason\":\"moved\"}", "reason", "invalid" },
        { "{\"v\":1,\"type\":\"enrollment\",\"source_id\":\"spd\",\"referral_id\":\"%s\",\"change\":\"exited\",\"reason\":\"bored\"}", "reason", "invalid" },
        { "{\"v\":1,\"type\":\"enrollment\",\"source_id\":\"spd\",\"referral_id\":\"%s\",\"change\":\"graduated\"}", "change", "invalid" },
        { "{\"v\":1,\"type\":\"enrollment\",\"source_id\":\"spd\",\"referral_id\":\"%s\",\"change\":\"intake_completed\",\"at\":\"yesterday\"}", "at", "invalid" },
        { "{\"v\":1,\"type\":\"enrollment\",\"source_id\":\"spd\",\"referral_id\":\"%s\",\"change\":\"intake_completed\",\"at\":\"2099-01-01T00:00:00Z\"}", "at", "invalid" },
        { "{\"v\":1,\"type\":\"enrollment\",\"source_id\":\"spd\",\"referral_id\":\"%s\",\"change\":\"intake_completed\",\"at\":\"2001-01-01T00:00:00Z\"}", "at", "invalid" },
        { "{\"v\":1,\"type\":\"enrollment\",\"source_id\":\"spd\",\"referral_id\":\"not-a-uuid\",\"change\":\"intake_completed\"}", "referral_id", "invalid" },
        { "{\"v\":1,\"type\":\"enrollment\",\"referral_id\":\"%s\",\"change\":\"intake_completed\"}", "source_id", "invalid" },
        { "{\"v\":1,\"type\":\"enrollment\",\"source_id\":\"spd\",\"referral_id\":\"%s\",\"change\":\"intake_completed\",\"colour\":1}", "colour", "invalid" },
        { "{\"v\":1,\"type\":\"enrollments\",\"program\":\"LEAD\",\"since_seq\":-1}", "since_seq", "invalid" },
        { "{\"v\":1,\"type\":\"enrollments\",\"program\":\"LEAD\",\"since_seq\":0,\"limit\":501}", "limit", "invalid" },
        { "{\"v\":1,\"type\":\"enrollments\",\"since_seq\":0}", "program", "invalid" },
        { "{\"v\":1,\"type\":\"transfer\",\"source_id\":\"spd\",\"referral_id\":\"%s\"}", "case_manager", "invalid" },
        { "{\"v\":1,\"type\":\"caseload\",\"program\":7}", "program", "invalid" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        char text [600];
        snprintf (text, sizeof text, rows [i].json, id);
        char *raw = dv_client_request_raw (lead_cms, text, strlen (text));
        json_t *reply = raw ? json_loads (raw, 0, NULL) : NULL;
        CHECKF (streq (itest_str (reply, "code"), rows [i].code), "row %zu: %s", i, raw);
        json_t *errors = json_object_get (reply, "errors");
        CHECKF (streq (itest_str (json_array_get (errors, 0), "field"), rows [i].field), "row %zu: %s", i, raw);
        json_decref (reply);
        free (raw);
    }
    //  None of it changed anything
    char *status = s_status (id);
    CHECK_STR (status, "pending_intake");
    free (status);
    //  A time in the past after the acceptance is kept as when it happened
    char *accepted = s_sql_text ("SELECT divert.s_rfc3339(e.enrolled_at + interval '1 second')"
                                 " FROM divert.enrollment e JOIN divert.referral r ON r.id = e.referral_id"
                                 " WHERE r.referral_id = '%s'", id);
    zclock_sleep (1100);
    json_t *reply = s_enrollment (lead_cms, "spd", id, "intake_completed", NULL, accepted);
    CHECK_STR (itest_str (reply, "status"), "active");
    json_decref (reply);
    char *at = s_sql_text ("SELECT divert.s_rfc3339(ev.at) FROM divert.enrollment_event ev JOIN divert.referral r"
                           " ON r.id = ev.referral_id WHERE r.referral_id = '%s' AND ev.change = 'intake_completed'", id);
    CHECK_STR (at, accepted);
    free (at);
    free (accepted);
    free (id);
}

TEST (transfer_never_above_the_cap)
{
    //  LEAD: cm-a and cm-b, hard cap 3
    itest_sql (t, "UPDATE divert.enrollment SET status = 'exited', exited_at = now(), exit_reason = 'other'"
                  " WHERE status <> 'exited' AND program = 'LEAD'");
    char *ids [4];
    for (int i = 0; i < 4; i++)
        ids [i] = s_referral (police, "arrest_diversion", "unsheltered", "accept");
    //  Two each, by lowest caseload; make cm-b full with a third
    char *on_a = s_sql_text ("SELECT r.referral_id FROM divert.enrollment e JOIN divert.referral r ON r.id = e.referral_id"
                             " WHERE e.case_manager_id = '%s' AND e.status <> 'exited' ORDER BY e.id LIMIT 1", "cm-a");
    json_t *reply = s_transfer (lead_cms, "spd", on_a, "cm-b");
    CHECK_STR (itest_str (reply, "case_manager"), "cm-b");
    CHECK_STR (itest_str (reply, "status"), "pending_intake");
    CHECK (json_is_false (json_object_get (reply, "replayed")));
    json_decref (reply);
    CHECK_INT (itest_sql_long (t, "SELECT caseload FROM divert.case_manager WHERE id = 'cm-b'"), 3);
    reply = s_transfer (lead_cms, "spd", on_a, "cm-b");
    CHECK (json_is_true (json_object_get (reply, "replayed")));
    json_decref (reply);
    char *other = s_sql_text ("SELECT r.referral_id FROM divert.enrollment e JOIN divert.referral r ON r.id = e.referral_id"
                              " WHERE e.case_manager_id = '%s' AND e.status <> 'exited' LIMIT 1", "cm-a");
    reply = s_transfer (lead_cms, "spd", other, "cm-b");
    CHECK_STR (itest_str (reply, "code"), "conflict");
    CHECKF (strstr (itest_str (reply, "message"), "hard cap"), "%s", itest_str (reply, "message"));
    json_decref (reply);
    reply = s_transfer (lead_cms, "spd", other, "cm-co");
    CHECK_STR (itest_str (reply, "code"), "conflict");
    json_decref (reply);
    reply = s_transfer (lead_cms, "spd", other, "cm-nobody");
    CHECK_STR (itest_str (reply, "code"), "not_found");
    json_decref (reply);
    CHECK_INT (itest_sql_long (t, "SELECT max(caseload) FROM divert.case_manager WHERE program = 'LEAD'"), 3);
    //  The transfer's feed event says from whom
    char *from = s_sql_text ("SELECT ev.from_case_manager_id || '>' || ev.case_manager_id FROM divert.enrollment_event ev"
                             " JOIN divert.referral r ON r.id = ev.referral_id WHERE r.referral_id = '%s'"
                             " AND ev.change = 'transferred'", on_a);
    CHECK_STR (from, "cm-a>cm-b");
    free (from);
    free (on_a); free (other);
    for (int i = 0; i < 4; i++)
        free (ids [i]);
}

TEST (caseload_at_a_feed_position)
{
    json_t *reply = itest_ask (lead_cms, json_pack ("{s:i, s:s, s:s}", "v", 1, "type", "caseload", "program", "LEAD"));
    CHECK_STR (itest_str (reply, "type"), "caseload");
    CHECK_INT (json_integer_value (json_object_get (reply, "seq")),
               itest_sql_long (t, "SELECT last_seq FROM divert.enrollment_feed WHERE program = 'LEAD'"));
    json_t *cms = json_object_get (reply, "case_managers");
    CHECK_INT (json_array_size (cms), 2);
    size_t listed = 0, index;
    json_t *cm;
    json_array_foreach (cms, index, cm) {
        listed += json_array_size (json_object_get (cm, "enrollments"));
        json_t *first = json_array_get (json_object_get (cm, "enrollments"), 0);
        if (first) {
            CHECK (json_is_string (json_object_get (first, "since")));
            CHECK (json_object_get (first, "person") == NULL);
        }
    }
    CHECK_INT (listed, itest_sql_long (t, "SELECT count(*) FROM divert.enrollment WHERE program = 'LEAD' AND status <> 'exited'"));
    json_decref (reply);
}

TEST (an_exit_promotes_at_once)
{
    //  LEAD is full (3 + 3 after the transfer test, or fill it now)
    while (itest_sql_long (t, "SELECT count(*) FROM divert.enrollment WHERE program = 'LEAD' AND status <> 'exited'") < 6) {
        char *id = s_referral (police, "arrest_diversion", "unsheltered", "accept");
        free (id);
    }
    //  Either daemon may promote (and publish the decision); both publish the feed
    dv_subscriber_t *events = dv_subscriber_new (itest_decisions (t, 0), itest_server_cert (t),
                                                 itest_cert (t, "ops"), "");
    dv_subscriber_t *events1 = dv_subscriber_new (itest_decisions (t, 1), itest_server_cert (t),
                                                  itest_cert (t, "ops"), "decision.");
    zpoller_t *poller = zpoller_new (dv_subscriber_sock (events), dv_subscriber_sock (events1), NULL);
    zclock_sleep (300);
    char *waiting = s_referral (community, "community", "unsheltered", "waitlist");
    char *leaving = itest_sql_value (t, "SELECT r.referral_id FROM divert.enrollment e JOIN divert.referral r"
                                        " ON r.id = e.referral_id WHERE e.program = 'LEAD' AND e.status <> 'exited' LIMIT 1");
    int64_t start = zclock_mono ();
    json_t *reply = s_enrollment (lead_cms, "spd", leaving, "exited", "moved", NULL);
    CHECK_STR (itest_str (reply, "status"), "exited");
    json_decref (reply);
    bool promoted = false, assigned = false;
    while (zclock_mono () - start < 5000 && !(promoted && assigned)) {
        void *which = zpoller_wait (poller, 500);
        if (!which)
            continue;
        char *topic = NULL;
        json_t *event = dv_subscriber_recv (which == dv_subscriber_sock (events) ? events : events1, 0, &topic);
        if (event && streq (itest_str (event, "referral_id"), waiting)) {
            if (streq (itest_str (event, "reason"), "accepted_from_waitlist"))
                promoted = true;
            if (streq (itest_str (event, "change"), "assigned") && topic && streq (topic, "enrollment.LEAD"))
                assigned = true;
        }
        free (topic);
        json_decref (event);
    }
    CHECK (promoted);
    CHECK (assigned);
    printf ("# promoted %.0f ms after the exit was sent\n", (double) (zclock_mono () - start));
    zpoller_destroy (&poller);
    dv_subscriber_destroy (&events);
    dv_subscriber_destroy (&events1);
    free (waiting); free (leaving);
}

//  Events on a subscription within msecs: counts per topic prefix, and
//  whether enrollment seqs per program came in order without gaps.
typedef struct {
    int enrollment_lead, enrollment_co, decision;
    bool gap_free;
} s_heard_t;

static s_heard_t
s_listen (dv_subscriber_t *sub, int msecs)
{
    s_heard_t heard = { 0, 0, 0, true };
    json_int_t last [2] = { -1, -1 };
    int64_t until = zclock_mono () + msecs;
    while (zclock_mono () < until) {
        char *topic = NULL;
        json_t *event = dv_subscriber_recv (sub, (int) (until - zclock_mono ()), &topic);
        if (event && topic) {
            int which = streq (topic, "enrollment.LEAD") ? 0 : streq (topic, "enrollment.CO-LEAD") ? 1 : -1;
            if (which >= 0) {
                json_int_t seq = json_integer_value (json_object_get (event, "seq"));
                if (last [which] >= 0 && seq != last [which] + 1)
                    heard.gap_free = false;
                last [which] = seq;
                which ? heard.enrollment_co++ : heard.enrollment_lead++;
            }
            else
                heard.decision++;
        }
        free (topic);
        json_decref (event);
    }
    return heard;
}

TEST (subscriptions_narrowed_to_the_keys_programs)
{
    dv_subscriber_t *lead_sub = dv_subscriber_new (itest_decisions (t, 0), itest_server_cert (t),
                                                   itest_cert (t, "lead-cms"), "");
    dv_subscriber_t *co_sub = dv_subscriber_new (itest_decisions (t, 0), itest_server_cert (t),
                                                 itest_cert (t, "co-cms"), "enrollment.");
    dv_subscriber_t *other_sub = dv_subscriber_new (itest_decisions (t, 0), itest_server_cert (t),
                                                    itest_cert (t, "co-cms"), "enrollment.LEAD");
    zclock_sleep (300);
    //  One LEAD change, two CO-LEAD changes (an assignment, an intake)
    char *lead = itest_sql_value (t, "SELECT r.referral_id FROM divert.enrollment e JOIN divert.referral r"
                                     " ON r.id = e.referral_id WHERE e.program = 'LEAD' AND e.status = 'pending_intake' LIMIT 1");
    json_t *reply = s_enrollment (lead_cms, "spd", lead, "intake_completed", NULL, NULL);
    CHECK_STR (itest_str (reply, "status"), "active");
    json_decref (reply);
    char *hotel = s_referral (police, "arrest_diversion", "hotel", "accept");
    reply = s_enrollment (all_cms, "spd", hotel, "intake_completed", NULL, NULL);
    json_decref (reply);
    s_heard_t heard = s_listen (lead_sub, 1500);
    CHECKF (heard.enrollment_lead == 1 && heard.enrollment_co == 0 && heard.decision == 0,
            "lead-cms heard LEAD %d, CO-LEAD %d, decisions %d", heard.enrollment_lead, heard.enrollment_co,
            heard.decision);
    heard = s_listen (co_sub, 500);
    CHECKF (heard.enrollment_co == 2 && heard.enrollment_lead == 0 && heard.decision == 0,
            "co-cms heard LEAD %d, CO-LEAD %d, decisions %d", heard.enrollment_lead, heard.enrollment_co,
            heard.decision);
    CHECK (heard.gap_free);
    heard = s_listen (other_sub, 300);
    CHECKF (heard.enrollment_lead + heard.enrollment_co + heard.decision == 0, "another program's feed was heard");
    dv_subscriber_destroy (&lead_sub);
    dv_subscriber_destroy (&co_sub);
    dv_subscriber_destroy (&other_sub);
    free (lead); free (hotel);
}

//  Two daemons take changes at once; each one's subscribers hear every
//  program's feed in seq order without gaps, and the database's seq is
//  1..N with no gap.
TEST (feed_gap_free_with_two_daemons)
{
    itest_sql (t, "UPDATE divert.program SET hard_cap = 25, target_avg = 25 WHERE name = 'CO-LEAD'");
    dv_subscriber_t *watch [2];
    for (int slot = 0; slot < 2; slot++)
        watch [slot] = dv_subscriber_new (itest_decisions (t, slot), itest_server_cert (t),
                                          itest_cert (t, "ops"), "enrollment.CO-LEAD");
    dv_client_t *cms [2] = { all_cms, itest_client (t, "all-cms", 1) };
    dv_client_t *police1 = itest_client (t, "spd", 1);
    zclock_sleep (300);
    long before = itest_sql_long (t, "SELECT last_seq FROM divert.enrollment_feed WHERE program = 'CO-LEAD'");
    int changes = 0;
    for (int i = 0; i < 12; i++) {
        char *id = s_referral (i % 2 ? police1 : police, "arrest_diversion", "hotel", "accept");
        changes++;
        json_t *reply = s_enrollment (cms [i % 2], "spd", id, "intake_completed", NULL, NULL);
        changes += streq (itest_str (reply, "status"), "active");
        json_decref (reply);
        reply = s_enrollment (cms [(i + 1) % 2], "spd", id, "in_the_wind", NULL, NULL);
        changes += streq (itest_str (reply, "status"), "in_the_wind");
        json_decref (reply);
        free (id);
    }
    for (int slot = 0; slot < 2; slot++) {
        s_heard_t heard = s_listen (watch [slot], 1500);
        CHECKF (heard.enrollment_co == changes, "daemon %d's subscriber heard %d of %d", slot, heard.enrollment_co, changes);
        CHECK (heard.gap_free);
        dv_subscriber_destroy (&watch [slot]);
    }
    CHECK_INT (itest_sql_long (t, "SELECT last_seq FROM divert.enrollment_feed WHERE program = 'CO-LEAD'"), before + changes);
    CHECK_INT (itest_sql_long (t, "SELECT count(*) FROM divert.enrollment_event WHERE program = 'CO-LEAD'"),
               itest_sql_long (t, "SELECT max(seq) FROM divert.enrollment_event WHERE program = 'CO-LEAD'"));
    dv_client_destroy (&cms [1]);
    dv_client_destroy (&police1);
}

//  A case-management key flooding requests it doesn't read is bounded like
//  any sender: beyond 1000 waiting, `unavailable` (retry), and a source's
//  referral meanwhile is decided.
TEST (a_flooding_cms_key_is_bounded)
{
    const int total = 1600;
    zsock_t *flooder = itest_dealer (t, "lead-cms", 0);
    zsock_set_sndhwm (flooder, total + 100);
    zsock_set_rcvhwm (flooder, total + 100);
    //  The handshake first
    zsock_send (flooder, "zs", "{\"v\":1,\"type\":\"ping\"}");
    char *text = NULL;
    CHECK (zsock_recv (flooder, "zs", &text) == 0);
    zstr_free (&text);
    for (int i = 0; i < total; i++)
        zsock_send (flooder, "zs", "{\"v\":1,\"type\":\"caseload\",\"program\":\"LEAD\"}");
    dv_client_t *other = itest_client (t, "spd", 0);
    dv_client_set_timeout (other, 20000);
    dv_client_set_attempts (other, 1);
    int64_t asked = zclock_mono ();
    json_t *reply = itest_ask (other, itest_referral ("arrest_diversion", "hotel"));
    CHECKF (streq (itest_str (reply, "type"), "decision"), "another key's referral during the flood: %s",
            itest_str (reply, "type"));
    printf ("# another key's referral decided in %lld ms during the flood\n", (long long) (zclock_mono () - asked));
    json_decref (reply);
    dv_client_destroy (&other);
    int caseloads = 0, unavailable = 0, other_replies = 0;
    for (int i = 0; i < total; i++) {
        if (zsock_recv (flooder, "zs", &text) != 0)
            break;
        json_t *answer = json_loads (text, 0, NULL);
        if (streq (itest_str (answer, "type"), "caseload"))
            caseloads++;
        else
        if (streq (itest_str (answer, "code"), "unavailable") && json_is_true (json_object_get (answer, "retry")))
            unavailable++;
        else
            other_replies++;
        json_decref (answer);
        zstr_free (&text);
    }
    printf ("# flood of %d caseload requests: %d answered, %d unavailable\n", total, caseloads, unavailable);
    CHECK_INT (caseloads + unavailable, total);
    CHECK_INT (other_replies, 0);
    CHECK (unavailable > 0);
    CHECK (caseloads >= 1000);
    zsock_destroy (&flooder);
}

TEST (a_revoked_cms_key_loses_everything)
{
    dv_subscriber_t *sub = dv_subscriber_new (itest_decisions (t, 0), itest_server_cert (t),
                                              itest_cert (t, "all-cms"), "");
    zclock_sleep (300);
    CHECK_INT (itest_ctl (t, "cms revoke all-cms >/dev/null"), 0);
    int64_t deadline = zclock_mono () + 60000;
    bool forbidden = false;
    while (!forbidden && zclock_mono () < deadline) {
        json_t *reply = s_feed (all_cms, "LEAD", 0, 1);
        forbidden = streq (itest_str (reply, "code"), "forbidden");
        json_decref (reply);
        if (!forbidden)
            zclock_sleep (100);
    }
    CHECK (forbidden);
    char *id = s_referral (police, "arrest_diversion", "hotel", "accept");
    s_heard_t heard = s_listen (sub, 1000);
    CHECK_INT (heard.enrollment_lead + heard.enrollment_co + heard.decision, 0);
    dv_subscriber_destroy (&sub);
    free (id);
}

int
main (void)
{
    TESTLIB_BEGIN ("it_cms");
    t = itest_new ();
    itest_add_source (t, "spd", "police");
    itest_add_source (t, "cp", "community");
    itest_add_monitor (t, "ops");
    itest_add_cms (t, "lead-cms", "LEAD");
    itest_add_cms (t, "co-cms", "CO-LEAD");
    itest_add_cms (t, "all-cms", "LEAD,CO-LEAD");
    itest_add_cm (t, "cm-a", "LEAD");
    itest_add_cm (t, "cm-b", "LEAD");
    itest_add_cm (t, "cm-co", "CO-LEAD");
    itest_sql (t, "UPDATE divert.program SET hard_cap = 3, target_avg = 3, reserve_tier1 = 0, reserve_tier2 = 0"
                  " WHERE name = 'LEAD'");
    if (itest_daemon_start (t, 0) < 0 || itest_daemon_start (t, 1) < 0) {
        printf ("divertd did not start\n");
        return 1;
    }
    police = itest_client (t, "spd", 0);
    community = itest_client (t, "cp", 0);
    lead_cms = itest_client (t, "lead-cms", 0);
    all_cms = itest_client (t, "all-cms", 0);
    ops = itest_client (t, "ops", 0);
    RUN (what_each_key_may_send);
    RUN (feed_delivers_assignments_and_records_it);
    RUN (a_key_sees_only_its_programs);
    RUN (every_transition);
    RUN (bad_input_named);
    RUN (transfer_never_above_the_cap);
    RUN (caseload_at_a_feed_position);
    RUN (an_exit_promotes_at_once);
    RUN (subscriptions_narrowed_to_the_keys_programs);
    RUN (feed_gap_free_with_two_daemons);
    RUN (a_flooding_cms_key_is_bounded);
    RUN (a_revoked_cms_key_loses_everything);
    dv_client_destroy (&police);
    dv_client_destroy (&community);
    dv_client_destroy (&lead_cms);
    dv_client_destroy (&all_cms);
    dv_client_destroy (&ops);
    CHECK_INT (itest_daemon_stop (t, 0, SIGTERM), 0);
    CHECK_INT (itest_daemon_stop (t, 1, SIGTERM), 0);
    itest_destroy (&t);
    return TESTLIB_END ();
}
