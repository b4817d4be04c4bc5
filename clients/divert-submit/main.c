/*  divert-submit — send referrals to divertd's intake socket and print the
    decisions (operations.md "Clients").

    The input is one JSON request (possibly pretty-printed), a JSON array of
    requests, or JSON lines (one request per line, blank lines skipped).
    "v":1 and "type":"referral" are filled in when missing. Each request goes
    through dv_client_request(): Lazy Pirate with the same bytes, and backoff
    on `unavailable`, so a resent referral is answered with the stored
    decision ("replayed": true), never decided twice. With several intake
    endpoints (--endpoint a,b: one per daemon on the same database) a
    request that gets no reply, or `unavailable`, is sent to the next one;
    each move is said on stderr.

    Output: one line per request on stdout (for people, or the raw reply with
    --json); with many requests, progress on stderr when it is a terminal and
    a summary on stderr at the end. Exit status: 0 accept, 1 waitlist,
    2 decline / withdrawn / lapsed, 3 error or no reply; with many requests
    the highest; 64 for a usage error.
*/
#include "dv_client.h"

#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef DIVERT_VERSION
#   define DIVERT_VERSION "unknown"
#endif

#define EXIT_ACCEPT     0
#define EXIT_WAITLIST   1
#define EXIT_DECLINE    2
#define EXIT_FAILED     3
#define EXIT_USAGE      64

typedef struct {
    const char *endpoint;
    const char *server_key;
    const char *cert;
    const char *input;          //  file name, "-" for stdin
    int timeout;                //  msecs per attempt
    int attempts;
    bool quiet;
    bool json;
} options_t;

typedef struct {
    options_t *options;
    dv_client_t *client;
    int total;                  //  requests in the input
    int done;
    int accept, waitlist, decline, withdrawn, lapsed, error, other;
    int retried, replayed;
    int moves;                  //  the client's moves already said
    int worst;                  //  exit status so far
    bool progress;              //  progress line shown on stderr
    bool stdout_tty;            //  stdout shares the terminal with it
    bool stopped;               //  interrupted
} submit_t;

static const char *s_usage =
"usage: divert-submit --endpoint E --server-key F --cert F [--timeout MS]\n"
"                     [--attempts N] [--json] [--quiet] [FILE.json|-]\n"
"\n"
"Send referrals to divertd's intake socket and print each decision.\n"
"FILE holds one JSON request (pretty-printed is fine), an array of them, or\n"
"JSON lines (one request per line). No FILE or \"-\" reads stdin.\n"
"\"v\":1 and \"type\":\"referral\" are added when missing.\n"
"\n"
"  --endpoint E     intake endpoint, e.g. tcp://divert.example.org:7461, or\n"
"                   several, comma-separated (one per daemon on the same\n"
"                   database): when one gives no reply the same request goes\n"
"                   to the next\n"
"  --server-key F   the daemon's public certificate (zcert file)\n"
"  --cert F         this source's certificate; its secret key is in F_secret\n"
"  --timeout MS     wait this long for each reply (default 5000)\n"
"  --attempts N     send at most N times in all (default 3), to any of the\n"
"                   endpoints; a request that gets no reply, or an\n"
"                   `unavailable` error, is sent again with the same bytes\n"
"  --json           print each reply as one JSON line instead\n"
"  --quiet          print nothing; only the exit status tells\n"
"\n"
"Exit status: 0 accept, 1 waitlist, 2 decline (or withdrawn, lapsed),\n"
"3 error or no reply; with many requests, the highest of these; 64 usage.\n";


//  --------------------------------------------------------------------------
//  Command line

static bool
s_streq (const char *a, const char *b)
{
    return strcmp (a, b) == 0;
}

static int
s_usage_error (const char *message)
{
    if (message)
        fprintf (stderr, "divert-submit: %s\n", message);
    fputs (s_usage, stderr);
    return EXIT_USAGE;
}

static bool
s_parse_count (const char *text, int *value)
{
    char *end;
    errno = 0;
    long number = strtol (text, &end, 10);
    if (errno || end == text || *end || number < 1 || number > 1000000)
        return false;
    *value = (int) number;
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
        { "timeout",    required_argument, NULL, 't' },
        { "attempts",   required_argument, NULL, 'a' },
        { "json",       no_argument,       NULL, 'j' },
        { "quiet",      no_argument,       NULL, 'q' },
        { "help",       no_argument,       NULL, 'h' },
        { "version",    no_argument,       NULL, 'V' },
        { NULL, 0, NULL, 0 }
    };
    *options = (options_t) { .timeout = 5000, .attempts = 3, .input = "-" };
    int opt;
    while ((opt = getopt_long (argc, argv, "hV", longopts, NULL)) != -1) {
        switch (opt) {
            case 'e': options->endpoint = optarg; break;
            case 's': options->server_key = optarg; break;
            case 'c': options->cert = optarg; break;
            case 'j': options->json = true; break;
            case 'q': options->quiet = true; break;
            case 't':
                if (!s_parse_count (optarg, &options->timeout))
                    return s_usage_error ("--timeout wants milliseconds (a positive number)");
                break;
            case 'a':
                if (!s_parse_count (optarg, &options->attempts))
                    return s_usage_error ("--attempts wants a positive number");
                break;
            case 'h': fputs (s_usage, stdout); return 0;
            case 'V': printf ("divert-submit %s\n", DIVERT_VERSION); return 0;
            default:  return s_usage_error (NULL);
        }
    }
    if (optind < argc)
        options->input = argv [optind++];
    if (optind < argc)
        return s_usage_error ("one input file at most");
    if (!options->endpoint)
        return s_usage_error ("--endpoint is required");
    if (!options->server_key)
        return s_usage_error ("--server-key is required");
    if (!options->cert)
        return s_usage_error ("--cert is required");
    return -1;
}


//  --------------------------------------------------------------------------
//  Input

//  Read a whole file ("-" = stdin); NULL with a message on stderr if not.

static char *
s_slurp (const char *path, size_t *size_p)
{
    bool is_stdin = s_streq (path, "-");
    FILE *file = is_stdin ? stdin : fopen (path, "rb");
    if (!file) {
        fprintf (stderr, "divert-submit: %s: %s\n", path, strerror (errno));
        return NULL;
    }
    size_t size = 0, room = 64 * 1024;
    char *data = malloc (room + 1);
    size_t got;
    while (data && (got = fread (data + size, 1, room - size, file)) > 0) {
        size += got;
        if (size == room) {
            room *= 2;
            char *bigger = realloc (data, room + 1);
            if (!bigger)
                free (data);
            data = bigger;
        }
    }
    if (data && ferror (file)) {
        fprintf (stderr, "divert-submit: %s: %s\n", is_stdin ? "stdin" : path,
                 strerror (errno));
        free (data);
        data = NULL;
    }
    if (!is_stdin)
        fclose (file);
    if (data) {
        data [size] = 0;
        *size_p = size;
    }
    return data;
}

static bool
s_blank (const char *text, size_t size)
{
    for (size_t i = 0; i < size; i++)
        if (text [i] != ' ' && text [i] != '\t' && text [i] != '\r' && text [i] != '\n')
            return false;
    return true;
}

//  True when the input is JSON lines rather than one JSON document: the
//  whole text has data after the first value, or it does not parse but its
//  first non-blank line does (a bad line further down).

static bool
s_is_json_lines (const char *data, size_t size, json_error_t *error)
{
    if (json_error_code (error) == json_error_end_of_input_expected)
        return true;
    const char *line = data, *end = data + size;
    while (line < end) {
        const char *eol = memchr (line, '\n', end - line);
        size_t length = eol ? (size_t) (eol - line) : (size_t) (end - line);
        if (!s_blank (line, length)) {
            if (!eol || s_blank (eol, end - eol))
                return false;           //  one line only: it is the document
            json_t *first = json_loadb (line, length, 0, NULL);
            bool lines = first != NULL;
            json_decref (first);
            return lines;
        }
        line += length + 1;
    }
    return false;
}


//  --------------------------------------------------------------------------
//  Output

static void
s_progress_clear (submit_t *self)
{
    if (self->progress) {
        fputs ("\r\033[K", stderr);
        self->progress = false;
    }
}

//  Before a line on stdout: clear the progress line if they share a screen.

static void
s_progress_hide (submit_t *self)
{
    if (self->progress && self->stdout_tty) {
        fputs ("\r\033[K", stderr);
        self->progress = false;
    }
}

static void
s_progress_show (submit_t *self)
{
    if (self->total > 1 && !self->options->quiet && isatty (STDERR_FILENO)) {
        fprintf (stderr, "\r[%d/%d]", self->done, self->total);
        fflush (stderr);
        self->progress = true;
    }
}

//  Print one line for people (or stay silent with --quiet).

static void
s_say (submit_t *self, const char *referral_id, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_say (submit_t *self, const char *referral_id, const char *format, ...)
{
    if (self->options->quiet)
        return;
    s_progress_hide (self);
    printf ("%-8.8s  ", referral_id && *referral_id ? referral_id : "-");
    va_list args;
    va_start (args, format);
    vprintf (format, args);
    va_end (args);
    putchar ('\n');
    fflush (stdout);
}

static const char *
s_str (json_t *object, const char *key)
{
    const char *value = json_string_value (json_object_get (object, key));
    return value ? value : "";
}

static long long
s_int (json_t *object, const char *key)
{
    return json_integer_value (json_object_get (object, key));
}

//  "accept    LEAD  cm-7 (A. Rivera)  tier 1 score 76"

static void
s_format_accept (json_t *reply, char *buffer, size_t size)
{
    json_t *manager = json_object_get (reply, "case_manager");
    json_t *priority = json_object_get (reply, "priority");
    int used = snprintf (buffer, size, "%s", s_str (reply, "program"));
    if (manager && used < (int) size)
        used += snprintf (buffer + used, size - used, "  %s (%s)",
                          s_str (manager, "id"), s_str (manager, "name"));
    if (priority && used < (int) size)
        snprintf (buffer + used, size - used, "  tier %lld score %lld",
                  s_int (priority, "tier"), s_int (priority, "score"));
}

//  "(person.dob: not a date (YYYY-MM-DD); colour: unknown field)"

static void
s_format_errors (json_t *errors, char *buffer, size_t size)
{
    *buffer = 0;
    size_t index;
    json_t *entry;
    int used = 0;
    json_array_foreach (errors, index, entry) {
        if (used >= (int) size)
            break;
        used += snprintf (buffer + used, size - used, "%s%s: %s",
                          index ? "; " : " (", s_str (entry, "field"), s_str (entry, "problem"));
    }
    if (used > 0 && used + 1 < (int) size)
        strcat (buffer, ")");
}

//  What a reply says, for counting and the exit status.

typedef enum {
    OUTCOME_ACCEPT, OUTCOME_WAITLIST, OUTCOME_DECLINE, OUTCOME_WITHDRAWN,
    OUTCOME_LAPSED, OUTCOME_ERROR, OUTCOME_OTHER
} outcome_t;

static outcome_t
s_outcome (json_t *reply)
{
    const char *type = s_str (reply, "type");
    const char *decision = s_str (reply, "decision");
    if (s_streq (type, "error"))
        return OUTCOME_ERROR;
    if (!s_streq (type, "decision"))
        return OUTCOME_OTHER;
    if (s_streq (decision, "accept"))
        return OUTCOME_ACCEPT;
    if (s_streq (decision, "waitlist"))
        return OUTCOME_WAITLIST;
    if (s_streq (decision, "withdrawn"))
        return OUTCOME_WITHDRAWN;
    if (s_streq (decision, "lapsed"))
        return OUTCOME_LAPSED;
    return OUTCOME_DECLINE;
}

//  Count an outcome and return its exit status.

static int
s_tally (submit_t *self, outcome_t outcome)
{
    switch (outcome) {
        case OUTCOME_ACCEPT:    self->accept++;    return EXIT_ACCEPT;
        case OUTCOME_WAITLIST:  self->waitlist++;  return EXIT_WAITLIST;
        case OUTCOME_DECLINE:   self->decline++;   return EXIT_DECLINE;
        case OUTCOME_WITHDRAWN: self->withdrawn++; return EXIT_DECLINE;
        case OUTCOME_LAPSED:    self->lapsed++;    return EXIT_DECLINE;
        case OUTCOME_OTHER:     self->other++;     return EXIT_ACCEPT;
        default:                self->error++;     return EXIT_FAILED;
    }
}

//  One line for people about a reply.

static void
s_print_reply (submit_t *self, json_t *reply, outcome_t outcome, const char *referral_id)
{
    const char *replayed = json_is_true (json_object_get (reply, "replayed")) ? "  replayed" : "";
    char detail [1024];
    if (outcome == OUTCOME_ACCEPT) {
        s_format_accept (reply, detail, sizeof (detail));
        s_say (self, referral_id, "accept    %s%s", detail, replayed);
    }
    else
    if (outcome == OUTCOME_WAITLIST) {
        json_t *waitlist = json_object_get (reply, "waitlist");
        s_say (self, referral_id, "waitlist  position %lld (%s)%s",
               s_int (waitlist, "position"), s_str (waitlist, "estimate"), replayed);
    }
    else
    if (outcome == OUTCOME_ERROR) {
        s_format_errors (json_object_get (reply, "errors"), detail, sizeof (detail));
        s_say (self, referral_id, "error %s: %s%s", s_str (reply, "code"),
               s_str (reply, "message"), detail);
    }
    else
    if (outcome == OUTCOME_OTHER) {
        char *text = json_dumps (reply, JSON_COMPACT);
        s_say (self, referral_id, "%s", text ? text : "?");
        free (text);
    }
    else
        s_say (self, referral_id, "%-8s  %s%s", s_str (reply, "decision"),
               s_str (reply, "reason"), replayed);
}

static void
s_print_json (submit_t *self, json_t *reply)
{
    if (self->options->quiet)
        return;
    s_progress_hide (self);
    char *text = json_dumps (reply, JSON_COMPACT);
    puts (text ? text : "null");
    fflush (stdout);
    free (text);
}

//  A request that was not sent or not answered: say why, count an error.

static void
s_failed (submit_t *self, const char *referral_id, const char *why)
{
    if (self->options->json) {
        if (!self->options->quiet) {
            s_progress_clear (self);
            fprintf (stderr, "divert-submit: %s%s%s\n", referral_id ? referral_id : "",
                     referral_id ? ": " : "", why);
        }
    }
    else
        s_say (self, referral_id, "error %s", why);
    int status = s_tally (self, OUTCOME_ERROR);
    if (status > self->worst)
        self->worst = status;
}

static void
s_summary (submit_t *self)
{
    s_progress_clear (self);
    if (self->total < 2 || self->options->quiet)
        return;
    fprintf (stderr, "%d sent: %d accept, %d waitlist, %d decline", self->done,
             self->accept, self->waitlist, self->decline);
    if (self->withdrawn)
        fprintf (stderr, ", %d withdrawn", self->withdrawn);
    if (self->lapsed)
        fprintf (stderr, ", %d lapsed", self->lapsed);
    if (self->other)
        fprintf (stderr, ", %d other", self->other);
    fprintf (stderr, ", %d error; %d retried, %d replayed%s\n", self->error,
             self->retried, self->replayed, self->stopped ? " (interrupted)" : "");
}


//  --------------------------------------------------------------------------
//  Sending

//  Say on stderr when the client moved to another daemon.

static void
s_moved (submit_t *self)
{
    int moves = dv_client_moves (self->client);
    if (moves != self->moves && !self->options->quiet) {
        s_progress_clear (self);
        fprintf (stderr, "divert-submit: moved to %s\n", dv_client_endpoint (self->client));
    }
    self->moves = moves;
}

//  Send one request (takes ownership) and print what came back.

static void
s_submit (submit_t *self, json_t *request)
{
    if (!json_object_get (request, "v"))
        json_object_set_new (request, "v", json_integer (1));
    if (!json_object_get (request, "type"))
        json_object_set_new (request, "type", json_string ("referral"));
    const char *referral_id = json_string_value (json_object_get (request, "referral_id"));

    json_t *reply = dv_client_request (self->client, request);
    if (dv_client_attempts_used (self->client) > 1)
        self->retried++;
    s_moved (self);
    if (!reply && dv_interrupted ())
        self->stopped = true;
    else
    if (!reply)
        s_failed (self, referral_id, dv_client_last_error ());
    else {
        outcome_t outcome = s_outcome (reply);
        const char *reply_id = json_string_value (json_object_get (reply, "referral_id"));
        if (json_is_true (json_object_get (reply, "replayed")))
            self->replayed++;
        if (self->options->json)
            s_print_json (self, reply);
        else
            s_print_reply (self, reply, outcome, reply_id ? reply_id : referral_id);
        int status = s_tally (self, outcome);
        if (status > self->worst)
            self->worst = status;
    }
    if (!self->stopped)
        self->done++;
    json_decref (reply);
    json_decref (request);
    s_progress_show (self);
}

//  One item of the input: a request object, or a problem to report.

static void
s_item (submit_t *self, json_t *item, const char *where)
{
    if (self->stopped)
        json_decref (item);
    else
    if (json_is_object (item))
        s_submit (self, item);
    else {
        char why [256];
        snprintf (why, sizeof (why), "input: %s: not a JSON object", where);
        json_decref (item);
        s_failed (self, NULL, why);
        self->done++;
        s_progress_show (self);
    }
}

//  One line of JSON lines input.

static void
s_line (submit_t *self, const char *line, size_t length, int number)
{
    json_error_t error;
    json_t *item = json_loadb (line, length, 0, &error);
    char where [64];
    snprintf (where, sizeof (where), "line %d", number);
    if (item)
        s_item (self, item, where);
    else {
        char why [256];
        snprintf (why, sizeof (why), "input: line %d: not JSON (%s)", number, error.text);
        s_failed (self, NULL, why);
        self->done++;
        s_progress_show (self);
    }
}

//  JSON lines: one request per non-blank line.

static void
s_submit_lines (submit_t *self, const char *data, size_t size)
{
    const char *line = data, *end = data + size;
    for (int pass = 0; pass < 2; pass++) {          //  count, then send
        int number = 0;
        for (line = data; line < end && !self->stopped; line++) {
            const char *eol = memchr (line, '\n', end - line);
            size_t length = eol ? (size_t) (eol - line) : (size_t) (end - line);
            number++;
            if (!s_blank (line, length)) {
                if (pass == 0)
                    self->total++;
                else
                    s_line (self, line, length, number);
            }
            line += length;
        }
    }
}

//  The whole input: one request, an array of them, or JSON lines.
//  Returns false (with a message) when it cannot be read at all.

static bool
s_submit_input (submit_t *self, const char *data, size_t size, const char *name)
{
    json_error_t error;
    json_t *document = json_loadb (data, size, 0, &error);
    if (json_is_array (document) && json_array_size (document) == 0) {
        fprintf (stderr, "divert-submit: %s: an empty array, no request in it\n", name);
        json_decref (document);
        return false;
    }
    if (json_is_array (document)) {
        self->total = (int) json_array_size (document);
        size_t index;
        json_t *item;
        json_array_foreach (document, index, item) {
            char where [64];
            snprintf (where, sizeof (where), "item %zu", index + 1);
            s_item (self, json_incref (item), where);
        }
        json_decref (document);
    }
    else
    if (document) {
        self->total = 1;
        s_item (self, document, "the document");
    }
    else
    if (s_is_json_lines (data, size, &error))
        s_submit_lines (self, data, size);
    else {
        if (s_blank (data, size))
            fprintf (stderr, "divert-submit: %s: no request in it\n", name);
        else
            fprintf (stderr, "divert-submit: %s:%d:%d: not JSON: %s\n", name,
                     error.line, error.column, error.text);
        return false;
    }
    return true;
}

int
main (int argc, char *argv [])
{
    options_t options;
    int status = s_options_parse (&options, argc, argv);
    if (status >= 0)
        return status;

    size_t size = 0;
    char *data = s_slurp (options.input, &size);
    if (!data)
        return EXIT_FAILED;

    submit_t self = { .options = &options, .stdout_tty = isatty (STDOUT_FILENO) };
    self.client = dv_client_new (options.endpoint, options.server_key, options.cert);
    if (!self.client) {
        fprintf (stderr, "divert-submit: %s\n", dv_client_last_error ());
        free (data);
        return EXIT_FAILED;
    }
    dv_client_set_timeout (self.client, options.timeout);
    dv_client_set_attempts (self.client, options.attempts);

    const char *name = s_streq (options.input, "-") ? "stdin" : options.input;
    if (!s_submit_input (&self, data, size, name))
        self.worst = EXIT_FAILED;
    if (self.stopped && self.worst < EXIT_FAILED)
        self.worst = EXIT_FAILED;       //  not everything was sent
    s_summary (&self);

    dv_client_destroy (&self.client);
    free (data);
    return self.worst;
}
