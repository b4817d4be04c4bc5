/*  divert-watch — print decision events from divertd's decisions socket as
    they come, and fill gaps with `replay` (operations.md "Clients").

    PUB is best-effort and replay is the source of truth (protocol.md
    "Events"): seq counts per source with no gaps, so when an event arrives
    with seq > last + 1 the missing ones are asked for on the intake socket
    (`replay` since last) and printed, in order and marked as replayed,
    before the live one. Events with seq <= last are duplicates and are
    skipped. With --since SEQ, everything after SEQ is replayed first (page
    by page while "more" is true), then it goes live; the subscription is
    made before that, so nothing committed meanwhile is lost.

    Several daemons on one database: --endpoint and --intake may list one
    endpoint per daemon, in the same order (pairs). The subscriber is on one
    pair's decisions socket and moves to the next when it has had no
    connection for --timeout (the daemon is gone); the replay client moves
    when a request gets no reply. Either way the other follows, so both stay
    on one pair (s_follow), and what was published while the watcher had no
    connection is then replayed since the last seq it printed of each source
    (s_catch_up). Each move is said on stderr. After --timeout without an
    event the watcher asks (s_probe): that finds a daemon that no longer
    answers though its connection is open, and the decisions of the other
    daemons, which only they publish.

    Runs until SIGINT/SIGTERM (exit 0), or --count events were printed, or
    --timeout-ms passed with no event.
*/
#include "dv_client.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef DIVERT_VERSION
#   define DIVERT_VERSION "unknown"
#endif

#define EXIT_FAILED     3
#define EXIT_USAGE      64
#define REPLAY_LIMIT    1000
#define SLICE_MS        250     //  how often the loop looks for a move

typedef struct {
    const char *endpoint;       //  decisions endpoint
    const char *server_key;
    const char *cert;
    const char *intake;         //  intake endpoint, when given
    const char *source;         //  only this source_id
    long long since;            //  replay after this seq first, if >= 0
    long long count;            //  stop after this many events, if > 0
    int timeout_ms;             //  stop after this long idle, if > 0
    int timeout;                //  msecs per reply; also before moving on
    int attempts;               //  sends per replay request
    bool json;
} options_t;

typedef struct {
    options_t *options;
    char *intake;               //  intake endpoint(s), one per decisions endpoint
    dv_subscriber_t *subscriber;
    int moves;                  //  the subscriber's moves followed so far
    dv_client_t *client;        //  intake, for replay
    json_t *last;               //  source_id -> last seq printed
    bool name_source;           //  replay needs "source_id" (operator key)
    long long printed;
    bool finished;              //  --count reached
} watch_t;

static const char *s_usage =
"usage: divert-watch --endpoint E --server-key F --cert F [--intake E2]\n"
"                    [--since SEQ] [--source ID] [--json] [--count N]\n"
"                    [--timeout-ms MS] [--timeout MS] [--attempts N]\n"
"\n"
"Print decision events from divertd as they come. A gap in an event's seq\n"
"is filled by asking the intake socket to replay the missing events; they\n"
"are printed in order, marked \"replayed\", before the live one.\n"
"\n"
"  --endpoint E     decisions endpoint, e.g. tcp://divert.example.org:7462, or\n"
"                   several, comma-separated (one per daemon on the same\n"
"                   database): without a connection to one for --timeout,\n"
"                   it moves to the next and replays what it missed\n"
"  --server-key F   the daemon's public certificate (zcert file)\n"
"  --cert F         this key's certificate; its secret key is in F_secret\n"
"  --intake E2      intake endpoint(s) for replay requests, as many as E and\n"
"                   in the same order; default: each of E with its port\n"
"                   number minus 1 (tcp://host:7462 -> tcp://host:7461)\n"
"  --since SEQ      first replay every event after SEQ, then go live\n"
"  --source ID      only events of this source (an operator key may watch\n"
"                   any source; replay requests then name it)\n"
"  --json           print each event as its raw JSON line\n"
"  --count N        exit after printing N events\n"
"  --timeout-ms MS  exit when no event came for MS milliseconds\n"
"  --timeout MS     wait this long for each replay reply, and this long\n"
"                   without a connection before moving on (default 5000)\n"
"  --attempts N     send a replay request at most N times in all, to any of\n"
"                   the intake endpoints (default 3)\n"
"\n"
"Exit status: 0 (also on SIGINT/SIGTERM), 3 error, 64 usage.\n";


//  --------------------------------------------------------------------------
//  Command line

static int
s_usage_error (const char *message)
{
    if (message)
        fprintf (stderr, "divert-watch: %s\n", message);
    fputs (s_usage, stderr);
    return EXIT_USAGE;
}

static bool
s_parse_number (const char *text, long long min, long long *value)
{
    char *end;
    errno = 0;
    long long number = strtoll (text, &end, 10);
    if (errno || end == text || *end || number < min)
        return false;
    *value = number;
    return true;
}

//  Returns -1 when the options are good, else the exit status.

static int
s_options_parse (options_t *options, int argc, char *argv [])
{
    static struct option longopts [] = {
        { "endpoint",   required_argument, NULL, 'e' },
        { "server-key", required_argument, NULL, 's' },
        { "cert",       required_argument, NULL, 'c' },
        { "intake",     required_argument, NULL, 'i' },
        { "since",      required_argument, NULL, 'S' },
        { "source",     required_argument, NULL, 'o' },
        { "json",       no_argument,       NULL, 'j' },
        { "count",      required_argument, NULL, 'n' },
        { "timeout-ms", required_argument, NULL, 't' },
        { "timeout",    required_argument, NULL, 'T' },
        { "attempts",   required_argument, NULL, 'a' },
        { "help",       no_argument,       NULL, 'h' },
        { "version",    no_argument,       NULL, 'V' },
        { NULL, 0, NULL, 0 }
    };
    *options = (options_t) { .since = -1, .timeout = 5000, .attempts = 3 };
    long long number;
    int opt;
    while ((opt = getopt_long (argc, argv, "hV", longopts, NULL)) != -1) {
        switch (opt) {
            case 'e': options->endpoint = optarg; break;
            case 's': options->server_key = optarg; break;
            case 'c': options->cert = optarg; break;
            case 'i': options->intake = optarg; break;
            case 'o': options->source = optarg; break;
            case 'j': options->json = true; break;
            case 'S':
                if (!s_parse_number (optarg, 0, &options->since))
                    return s_usage_error ("--since wants a seq number (0 or more)");
                break;
            case 'n':
                if (!s_parse_number (optarg, 1, &options->count))
                    return s_usage_error ("--count wants a positive number");
                break;
            case 't':
                if (!s_parse_number (optarg, 1, &number) || number > INT_MAX)
                    return s_usage_error ("--timeout-ms wants milliseconds (a positive number)");
                options->timeout_ms = (int) number;
                break;
            case 'T':
                if (!s_parse_number (optarg, 1, &number) || number > 1000000)
                    return s_usage_error ("--timeout wants milliseconds (a positive number)");
                options->timeout = (int) number;
                break;
            case 'a':
                if (!s_parse_number (optarg, 1, &number) || number > 1000000)
                    return s_usage_error ("--attempts wants a positive number");
                options->attempts = (int) number;
                break;
            case 'h': fputs (s_usage, stdout); return 0;
            case 'V': printf ("divert-watch %s\n", DIVERT_VERSION); return 0;
            default:  return s_usage_error (NULL);
        }
    }
    if (optind < argc)
        return s_usage_error ("unexpected argument");
    if (!options->endpoint)
        return s_usage_error ("--endpoint is required");
    if (!options->server_key)
        return s_usage_error ("--server-key is required");
    if (!options->cert)
        return s_usage_error ("--cert is required");
    return -1;
}

//  The intake endpoints next to a list of decisions endpoints: each the
//  same with the port number minus 1. NULL when one has no port number.

static char *
s_intake_from (const char *endpoints)
{
    size_t size = strlen (endpoints) + 1;
    char *intake = calloc (1, size);
    const char *entry = endpoints;
    while (intake) {
        const char *comma = strchr (entry, ',');
        size_t length = comma ? (size_t) (comma - entry) : strlen (entry);
        while (length && entry [length - 1] == ' ')
            length--;
        const char *colon = memrchr (entry, ':', length);
        char *end;
        errno = 0;
        long port = colon ? strtol (colon + 1, &end, 10) : 0;
        if (!colon || colon [1] == '/' || errno || end == colon + 1
        ||  end != entry + length || port < 2 || port > 65535) {
            free (intake);
            return NULL;
        }
        //  the port has as many digits or one fewer, so it fits in `size`
        size_t used = strlen (intake);
        snprintf (intake + used, size - used, "%s%.*s:%ld", used ? "," : "",
                  (int) (colon - entry), entry, port - 1);
        if (!comma)
            break;
        entry = comma + 1;
    }
    return intake;
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


//  --------------------------------------------------------------------------
//  Events

static const char *
s_str (json_t *object, const char *key)
{
    const char *value = json_string_value (json_object_get (object, key));
    return value ? value : "";
}

static long long
s_seq (json_t *event)
{
    json_t *seq = json_object_get (event, "seq");
    return json_is_integer (seq) ? json_integer_value (seq) : -1;
}

//  The last seq printed for a source; with --since, SEQ for a source not
//  seen yet; else -1 (unknown: take the first event as it comes).

static long long
s_last (watch_t *self, const char *source)
{
    json_t *last = json_object_get (self->last, source);
    if (last)
        return json_integer_value (last);
    return self->options->since;
}

//  "seq 42  spd  accept accepted_from_waitlist  LEAD tier 2  7d3f6c1e...  2026-11-22T18:04:05Z"

static void
s_print_people (json_t *event, bool replayed)
{
    printf ("seq %lld  %s  %s %s", s_seq (event), s_str (event, "source_id"),
            s_str (event, "decision"), s_str (event, "reason"));
    if (*s_str (event, "program")) {
        printf ("  %s", s_str (event, "program"));
        if (json_is_integer (json_object_get (event, "tier")))
            printf (" tier %lld", json_integer_value (json_object_get (event, "tier")));
    }
    if (*s_str (event, "referral_id"))
        printf ("  %.8s...", s_str (event, "referral_id"));
    if (*s_str (event, "at"))
        printf ("  %s", s_str (event, "at"));
    printf ("%s\n", replayed ? "  (replayed)" : "");
}

static void
s_print (watch_t *self, json_t *event, bool replayed)
{
    if (self->options->json) {
        char *text = json_dumps (event, JSON_COMPACT);
        if (text)
            puts (text);
        free (text);
    }
    else
        s_print_people (event, replayed);
    fflush (stdout);
}

static bool
s_wanted (watch_t *self, json_t *event)
{
    return !self->options->source
        || strcmp (s_str (event, "source_id"), self->options->source) == 0;
}

//  Print an event unless it is a duplicate, and remember its seq.

static void
s_emit (watch_t *self, json_t *event, bool replayed)
{
    const char *source = s_str (event, "source_id");
    long long seq = s_seq (event);
    if (self->finished || !s_wanted (self, event) || seq <= s_last (self, source))
        return;
    json_object_set_new (self->last, source, json_integer (seq));
    s_print (self, event, replayed);
    if (self->options->count && ++self->printed >= self->options->count)
        self->finished = true;
}


//  --------------------------------------------------------------------------
//  Replay

//  Ask for one page of events after `since`. `source` names the source
//  when the key needs it; NULL lets the daemon use the key's own.

//  The intake client, made on first use, on the same daemon as the
//  subscriber. NULL after saying why.

static dv_client_t *
s_client (watch_t *self)
{
    if (!self->client) {
        self->client = dv_client_new (self->intake, self->options->server_key,
                                      self->options->cert);
        if (!self->client) {
            fprintf (stderr, "divert-watch: %s\n", dv_client_last_error ());
            return NULL;
        }
        dv_client_set_timeout (self->client, self->options->timeout);
        dv_client_set_attempts (self->client, self->options->attempts);
        dv_client_move (self->client, dv_subscriber_endpoint_index (self->subscriber));
    }
    return self->client;
}

static json_t *
s_replay_page (watch_t *self, const char *source, long long since)
{
    if (!s_client (self))
        return NULL;
    json_t *request = json_pack ("{s:i, s:s, s:I, s:i}", "v", 1, "type", "replay",
                                 "since_seq", (json_int_t) since, "limit", REPLAY_LIMIT);
    if (source)
        json_object_set_new (request, "source_id", json_string (source));
    json_t *reply = dv_client_request (self->client, request);
    json_decref (request);
    if (!reply && !dv_interrupted ())
        fprintf (stderr, "divert-watch: replay: %s\n", dv_client_last_error ());
    return reply;
}

//  One page, naming the source when --source says so or when asking
//  without a name was refused (an operator monitor key must name it).

static json_t *
s_replay_ask (watch_t *self, const char *source, long long since)
{
    const char *named = self->options->source ? self->options->source : NULL;
    if (self->name_source)
        named = source;
    json_t *reply = s_replay_page (self, named, since);
    if (reply && !named && source && strcmp (s_str (reply, "type"), "error") == 0) {
        json_decref (reply);
        reply = s_replay_page (self, source, since);
        if (reply && strcmp (s_str (reply, "type"), "replay") == 0)
            self->name_source = true;
    }
    if (reply && strcmp (s_str (reply, "type"), "replay") != 0) {
        fprintf (stderr, "divert-watch: replay: %s: %s\n", s_str (reply, "code"),
                 s_str (reply, "message"));
        json_decref (reply);
        reply = NULL;
    }
    return reply;
}

//  Print the events of `source` (any, if NULL) with since < seq < until,
//  page by page. Returns false if a replay request failed.

static bool
s_replay (watch_t *self, const char *source, long long since, long long until)
{
    while (since < until - 1 && !self->finished && !dv_interrupted ()) {
        json_t *reply = s_replay_ask (self, source, since);
        if (!reply)
            return dv_interrupted ();
        json_t *events = json_object_get (reply, "events");
        bool more = json_is_true (json_object_get (reply, "more"));
        long long high = since;
        size_t index;
        json_t *event;
        json_array_foreach (events, index, event) {
            long long seq = s_seq (event);
            bool ours = !source || strcmp (s_str (event, "source_id"), source) == 0
                     || !*s_str (event, "source_id");
            if (!ours || seq >= until)
                continue;
            if (!*s_str (event, "source_id") && source)
                json_object_set_new (event, "source_id", json_string (source));
            s_emit (self, event, true);
            if (seq > high)
                high = seq;
        }
        json_decref (reply);
        if (!more || high == since)
            break;
        since = high;
    }
    return true;
}

//  A live event: fill the gap before it, then print it.

static void
s_live (void *arg, json_t *event)
{
    watch_t *self = (watch_t *) arg;
    if (!s_wanted (self, event))
        return;
    const char *source = s_str (event, "source_id");
    long long seq = s_seq (event);
    long long last = s_last (self, source);
    if (seq <= last)
        return;                 //  a duplicate
    if (last >= 0 && seq > last + 1) {
        s_replay (self, source, last, seq);
        long long now = s_last (self, source);
        if (now < seq - 1 && !self->finished && !dv_interrupted ())
            fprintf (stderr, "divert-watch: %s: seq %lld..%lld missing (replay did not "
                     "return them)\n", source, now + 1, seq - 1);
    }
    s_emit (self, event, false);
}


//  --------------------------------------------------------------------------
//  Several daemons

//  Print what was published while the watcher had no connection: every
//  event after the last one printed of each source it knows (with --since
//  and none printed yet, after SEQ).

static void
s_catch_up (watch_t *self)
{
    if (json_object_size (self->last) == 0) {
        if (self->options->since >= 0)
            s_replay (self, self->options->source, self->options->since, LLONG_MAX);
        return;
    }
    //  s_replay changes self->last: go over a copy of the sources
    json_t *last = json_deep_copy (self->last);
    const char *source;
    json_t *seq;
    json_object_foreach (last, source, seq) {
        if (self->finished || dv_interrupted ())
            break;
        s_replay (self, source, json_integer_value (seq), LLONG_MAX);
    }
    json_decref (last);
}

//  Silence, with several daemons, is a question: ask the intake side for
//  what came after the last seq printed (a daemon publishes only its own
//  decisions, so those of another one arrive this way), or, knowing none,
//  ping it. A daemon that no longer answers is left for the next
//  (s_follow then moves the subscriber too).

static void
s_probe (void *arg)
{
    watch_t *self = (watch_t *) arg;
    if (json_object_size (self->last) > 0 || self->options->since >= 0) {
        s_catch_up (self);
        return;
    }
    if (!s_client (self))
        return;
    json_t *ping = json_pack ("{s:i, s:s}", "v", 1, "type", "ping");
    json_t *reply = dv_client_request (self->client, ping);
    if (!reply && !dv_interrupted ())
        fprintf (stderr, "divert-watch: ping: %s\n", dv_client_last_error ());
    json_decref (reply);
    json_decref (ping);
}

//  Keep the subscriber and the replay client on one daemon: when one of
//  them moved, the other follows, and what was missed meanwhile is
//  replayed. (A replay can move the client again: a few rounds at most.)

static void
s_follow (void *arg)
{
    watch_t *self = (watch_t *) arg;
    for (int round = 0; round < 3 && !self->finished && !dv_interrupted (); round++) {
        int index = dv_subscriber_endpoint_index (self->subscriber);
        if (dv_subscriber_moves (self->subscriber) != self->moves) {
            if (self->client)
                dv_client_move (self->client, index);
        }
        else
        if (self->client && dv_client_endpoint_index (self->client) != index)
            dv_subscriber_move (self->subscriber, dv_client_endpoint_index (self->client));
        else
            return;
        self->moves = dv_subscriber_moves (self->subscriber);
        fprintf (stderr, "divert-watch: moved to %s; replaying what was missed\n",
                 dv_subscriber_endpoint (self->subscriber));
        s_catch_up (self);
    }
}


//  --------------------------------------------------------------------------
//  Main

static void
s_watch_destroy (watch_t *self)
{
    dv_subscriber_destroy (&self->subscriber);
    dv_client_destroy (&self->client);
    json_decref (self->last);
    free (self->intake);
}

//  Receive and print live events until done; returns the exit status.

static int
s_run (watch_t *self)
{
    dv_subscriber_loop_t loop = {
        SLICE_MS, self->options->timeout_ms, self->options->timeout, s_live, s_probe, s_follow,
        &self->printed, &self->finished, self
    };
    dv_subscriber_run (self->subscriber, &loop);
    return 0;
}

int
main (int argc, char *argv [])
{
    options_t options;
    int status = s_options_parse (&options, argc, argv);
    if (status >= 0)
        return status;

    watch_t self = { .options = &options, .last = json_object () };
    self.intake = options.intake ? strdup (options.intake) : s_intake_from (options.endpoint);
    if (!self.intake) {
        s_watch_destroy (&self);
        return s_usage_error ("cannot derive the intake endpoint from --endpoint "
                              "(no port number); give --intake");
    }
    if (s_list_count (self.intake) != s_list_count (options.endpoint)) {
        s_watch_destroy (&self);
        return s_usage_error ("--intake must name as many endpoints as --endpoint, "
                              "in the same order");
    }
    //  Subscribe first, so events committed during the replay are queued
    self.subscriber = dv_subscriber_new (options.endpoint, options.server_key,
                                         options.cert, "decision.");
    if (!self.subscriber) {
        fprintf (stderr, "divert-watch: %s\n", dv_client_last_error ());
        s_watch_destroy (&self);
        return EXIT_FAILED;
    }
    dv_subscriber_set_failover (self.subscriber, options.timeout);
    status = 0;
    if (options.since >= 0 && !s_replay (&self, options.source, options.since, LLONG_MAX))
        status = EXIT_FAILED;
    if (status == 0)
        status = s_run (&self);
    s_watch_destroy (&self);
    return status;
}
