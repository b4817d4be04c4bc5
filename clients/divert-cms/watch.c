/*  watch — `divert-cms watch --program P [--since SEQ] [--decisions E2]
    [--count N] [--timeout-ms MS]`: the program's enrollment events as they
    come, from topic `enrollment.<P>` on the decisions socket.

    PUB is best-effort and the feed is the source of truth: seq counts per
    program with no gaps, so when an event arrives with seq > last + 1 the
    missing ones are asked for with `enrollments` on the intake socket and
    printed first, in order, marked "(replayed)". Events with seq <= last
    are duplicates and skipped. Published events carry no personal data, so
    a live `assigned` event is fetched with `enrollments` too (the same
    request that fills a gap, one event further): it is printed, as live,
    with the referral the case manager needs, as `assignments` prints it.

    With --since SEQ everything after SEQ is printed first (page by page);
    the subscription is made before that, so nothing committed meanwhile is
    lost. Runs until SIGINT/SIGTERM, --count events, or --timeout-ms without
    one; then the seq to resume from (cms_print_next_seq), when known. A gap
    that could not be filled is said on stderr at once, and the exit status
    is then that failure's, even though watching went on.

    Several daemons on one database: --endpoint (and --decisions) may list
    one endpoint per daemon, in the same order (pairs). The subscriber moves
    to the next pair when it has had no connection for --timeout (the
    daemon is gone), the client when a request gets no reply; the other
    follows (s_follow), and what was published meanwhile is asked for with
    `enrollments` since the last seq printed (every daemon publishes the
    whole feed, so a move loses only what came while there was no
    connection). Each move is said on stderr. After --timeout without an
    event it asks (s_probe: `enrollments` since the last seq, or `ping`),
    which finds a daemon that no longer answers though its connection is
    open.
*/
#include "cms.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define FILL_LIMIT  500         //  events per `enrollments` request (the most)
#define SLICE_MS    250         //  how often the loop looks for a move

typedef struct {
    cms_t *cms;
    const char *program;
    dv_subscriber_t *subscriber;
    int moves;                  //  the subscriber's moves followed so far
    long long last;             //  last seq printed, or --since; -1 = none yet
    long long printed;
    bool finished;              //  --count reached
    int status;                 //  the worst failure so far
} watch_t;

//  The decisions endpoints next to a list of intake endpoints: each the
//  same with the port number plus 1. NULL when one has no port number.

static char *
s_decisions_from (const char *endpoints)
{
    size_t size = strlen (endpoints) + 16 * DV_CLIENT_ENDPOINTS_MAX;
    char *decisions = calloc (1, size);
    const char *entry = endpoints;
    while (decisions) {
        const char *comma = strchr (entry, ',');
        size_t length = comma ? (size_t) (comma - entry) : strlen (entry);
        while (length && entry [length - 1] == ' ')
            length--;
        const char *colon = memrchr (entry, ':', length);
        char *end;
        errno = 0;
        long port = colon ? strtol (colon + 1, &end, 10) : 0;
        size_t used = strlen (decisions);
        //  (a port one digit longer per entry: the room added above)
        if (!colon || colon [1] == '/' || errno || end == colon + 1
        ||  end != entry + length || port < 1 || port > 65534 || used + length + 8 > size) {
            free (decisions);
            return NULL;
        }
        snprintf (decisions + used, size - used, "%s%.*s:%ld", used ? "," : "",
                  (int) (colon - entry), entry, port + 1);
        if (!comma)
            break;
        entry = comma + 1;
    }
    return decisions;
}

//  How many entries a comma-separated list has.

static int
s_list_count (const char *list)
{
    int count = 1;
    for (const char *c = list; *c; c++)
        count += *c == ',';
    return count;
}

//  Print an event unless it is a duplicate, and remember its seq.

static void
s_emit (watch_t *self, json_t *event, bool replayed)
{
    long long seq = cms_int (event, "seq");
    if (self->finished || seq <= self->last)
        return;
    self->last = seq;
    if (self->cms->options->json)
        cms_print_json (event);
    else
        cms_event_print (event, replayed);
    if (self->cms->options->count && ++self->printed >= self->cms->options->count)
        self->finished = true;
}

//  Print the events with since < seq <= until, asked for with `enrollments`
//  page by page; the one with seq `live` is printed as live, the others as
//  replayed. Returns the exit status of the requests.

static int
s_fill (watch_t *self, long long since, long long until, long long live)
{
    dv_client_t *client = cms_client (self->cms);
    if (!client)
        return CMS_FAILED;
    while (since < until && !self->finished && !dv_interrupted ()) {
        long long wanted = until - since;
        json_t *reply = dv_client_enrollments (client, self->program, since,
                                               wanted < FILL_LIMIT ? (int) wanted : FILL_LIMIT);
        int status = cms_reply_status ("watch", reply, "enrollments");
        if (status != CMS_DONE) {
            json_decref (reply);
            return status;
        }
        long long high = since;
        size_t index;
        json_t *event;
        json_array_foreach (json_object_get (reply, "events"), index, event) {
            long long seq = cms_int (event, "seq");
            if (seq <= since || seq > until)
                continue;
            s_emit (self, event, seq != live);
            if (seq > high)
                high = seq;
        }
        bool more = json_is_true (json_object_get (reply, "more"));
        json_decref (reply);
        if (!more || high == since)
            break;
        since = high;
    }
    return CMS_DONE;
}

static void
s_failed (watch_t *self, int status)
{
    if (status > self->status)
        self->status = status;
}

//  A live event: fill the gap before it (and fetch it when it is an
//  `assigned` event, for its referral), then print it.

static void
s_live (void *arg, json_t *event)
{
    watch_t *self = (watch_t *) arg;
    if (strcmp (cms_str (event, "type"), "enrollment_event") != 0
    ||  strcmp (cms_str (event, "program"), self->program) != 0)
        return;                 //  e.g. enrollment.LEAD2 matches enrollment.LEAD
    long long seq = cms_int (event, "seq");
    if (seq < 1 || seq <= self->last)
        return;                 //  a duplicate
    long long from = self->last >= 0 ? self->last : seq - 1;
    long long until = seq - 1;
    if (strcmp (cms_str (event, "change"), "assigned") == 0
    &&  !json_object_get (event, "referral"))
        until = seq;
    if (until > from) {
        int status = s_fill (self, from, until, seq);
        s_failed (self, status);
        if (self->last < seq - 1 && !self->finished && !dv_interrupted ()) {
            fprintf (stderr, "divert-cms: watch: seq %lld..%lld missing%s\n",
                     self->last >= 0 ? self->last + 1 : from + 1, seq - 1,
                     status == CMS_DONE ? " (enrollments did not return them)" : "");
            if (status == CMS_DONE)
                s_failed (self, CMS_FAILED);
        }
    }
    s_emit (self, event, false);
}

//  Silence, with several daemons, is a question: ask for what came after
//  the last seq printed (or, knowing none, ping). A daemon that no longer
//  answers is left for the next, and s_follow moves the subscriber too.

static void
s_probe (void *arg)
{
    watch_t *self = (watch_t *) arg;
    if (self->last >= 0) {
        s_failed (self, s_fill (self, self->last, LLONG_MAX, -1));
        return;
    }
    json_t *ping = json_pack ("{s:i, s:s}", "v", 1, "type", "ping");
    json_t *reply = dv_client_request (self->cms->client, ping);
    if (!reply && !dv_interrupted ())
        fprintf (stderr, "divert-cms: watch: ping: %s\n", dv_client_last_error ());
    json_decref (reply);
    json_decref (ping);
}

//  Keep the subscriber and the client on one daemon: when one of them
//  moved, the other follows, and what was published meanwhile is asked for
//  (which can move the client again: a few rounds at most).

static void
s_follow (void *arg)
{
    watch_t *self = (watch_t *) arg;
    dv_client_t *client = self->cms->client;
    for (int round = 0; round < 3 && !self->finished && !dv_interrupted (); round++) {
        int index = dv_subscriber_endpoint_index (self->subscriber);
        if (dv_subscriber_moves (self->subscriber) != self->moves) {
            if (client)
                dv_client_move (client, index);
        }
        else
        if (client && dv_client_endpoint_index (client) != index)
            dv_subscriber_move (self->subscriber, dv_client_endpoint_index (client));
        else
            return;
        self->moves = dv_subscriber_moves (self->subscriber);
        fprintf (stderr, "divert-cms: watch: moved to %s; asking for what was missed\n",
                 dv_subscriber_endpoint (self->subscriber));
        if (self->last >= 0)
            s_failed (self, s_fill (self, self->last, LLONG_MAX, -1));
    }
}

//  Receive and print live events until done.

static void
s_run (watch_t *self)
{
    dv_subscriber_loop_t loop = {
        SLICE_MS, self->cms->options->timeout_ms, self->cms->options->timeout, s_live, s_probe, s_follow,
        &self->printed, &self->finished, self
    };
    dv_subscriber_run (self->subscriber, &loop);
}

int
cms_watch (cms_t *self)
{
    cms_options_t *options = self->options;
    char *decisions = options->decisions ? strdup (options->decisions)
                                         : s_decisions_from (options->endpoint);
    if (!decisions)
        return cms_usage_error ("cannot derive the decisions endpoint from --endpoint "
                                "(no port number); give --decisions");
    if (s_list_count (decisions) != s_list_count (options->endpoint)) {
        free (decisions);
        return cms_usage_error ("--decisions must name as many endpoints as --endpoint, "
                                "in the same order");
    }
    watch_t watch = { .cms = self, .program = options->program, .last = options->since };
    //  Subscribe first, so events committed during the replay are queued
    char *topic = NULL;
    if (asprintf (&topic, "enrollment.%s", options->program) < 0)
        topic = NULL;
    watch.subscriber = topic ? dv_subscriber_new (decisions, options->server_key,
                                                  options->cert, topic) : NULL;
    free (topic);
    free (decisions);
    if (!watch.subscriber) {
        fprintf (stderr, "divert-cms: watch: %s\n", dv_client_last_error ());
        return CMS_FAILED;
    }
    dv_subscriber_set_failover (watch.subscriber, options->timeout);
    //  The client now, on the same daemon as the subscriber (the first)
    if (!cms_client (self)) {
        dv_subscriber_destroy (&watch.subscriber);
        return CMS_FAILED;
    }
    if (options->since >= 0)
        watch.status = s_fill (&watch, options->since, LLONG_MAX, -1);
    if (watch.status == CMS_DONE)
        s_run (&watch);
    if (watch.last >= 0)
        cms_print_next_seq (self, watch.last);
    dv_subscriber_destroy (&watch.subscriber);
    return watch.status;
}
