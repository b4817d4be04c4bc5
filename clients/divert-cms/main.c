/*  divert-cms — a case-management system's bridge to divertd (protocol.md,
    "Case-management systems"): the enrollment feed with the referrals the
    case managers need (assignments, watch), and the changes a case manager
    makes (enroll, transfer), plus the caseload for reconciliation.

    This file parses the command line (options may come before or after the
    command; each command takes only its own), checks it against the
    command table, and runs the command (one file each). Every request goes
    through the client library: Lazy Pirate with the same bytes, and backoff
    on `unavailable`, so a change sent again is answered with
    "replayed": true, never recorded twice. --endpoint may list several
    intake endpoints (one per daemon on the same database): a request that
    gets no reply, or `unavailable`, goes to the next with the same bytes.

    Exit status: 0 done (also when divertd replayed it), 2 refused by divertd
    (an error reply: invalid, not_found, conflict, forbidden), 3 no reply,
    `unavailable` after every attempt, internal or another failure, 64 usage.
*/
#include "cms.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#ifndef DIVERT_VERSION
#   define DIVERT_VERSION "unknown"
#endif

//  The options that belong to one command or another
#define OPT_PROGRAM     (1 << 0)
#define OPT_SINCE       (1 << 1)
#define OPT_LIMIT       (1 << 2)
#define OPT_REASON      (1 << 3)
#define OPT_AT          (1 << 4)
#define OPT_DECISIONS   (1 << 5)
#define OPT_COUNT       (1 << 6)
#define OPT_TIMEOUT_MS  (1 << 7)

typedef struct {
    const char *name;
    int (*run) (cms_t *self);
    int operands;               //  how many positional arguments
    const char *synopsis;       //  for "enroll wants SOURCE_ID REFERRAL_ID CHANGE"
    int allowed;                //  OPT_* it takes
    int required;               //  OPT_* it must have
} command_t;

static const command_t s_commands [] = {
    { "assignments", cms_assignments, 0, "--program P", OPT_PROGRAM | OPT_SINCE | OPT_LIMIT,
      OPT_PROGRAM },
    { "enroll", cms_enroll, 3, "SOURCE_ID REFERRAL_ID CHANGE", OPT_REASON | OPT_AT, 0 },
    { "transfer", cms_transfer, 3, "SOURCE_ID REFERRAL_ID CASE_MANAGER", 0, 0 },
    { "caseload", cms_caseload, 1, "PROGRAM", 0, 0 },
    { "watch", cms_watch, 0, "--program P", OPT_PROGRAM | OPT_SINCE | OPT_DECISIONS
      | OPT_COUNT | OPT_TIMEOUT_MS, OPT_PROGRAM },
    { NULL, NULL, 0, NULL, 0, 0 }
};

static const char *s_option_names [] = {
    "--program", "--since", "--limit", "--reason", "--at", "--decisions", "--count",
    "--timeout-ms"
};

static const char *s_usage =
"usage: divert-cms --endpoint E --server-key F --cert F [--timeout MS]\n"
"                  [--attempts N] [--json] COMMAND ...\n"
"\n"
"A case-management system's bridge to divertd (with a key from `divertctl\n"
"cms add`): the enrollment feed, with the referral of each assignment, and\n"
"the changes case managers make.\n"
"\n"
"Commands:\n"
"  assignments --program P [--since SEQ] [--limit N]\n"
"        print the program's enrollment events after SEQ (default 0), asking\n"
"        N at a time (1..500, default 100) until there are no more; an\n"
"        `assigned` event comes with the referral: person, date of birth,\n"
"        area, housing, needs, offense, intake due, contact, notes. Ends with\n"
"        the seq to resume from: \"next_seq N\" on stderr (with --json, a\n"
"        last line {\"next_seq\":N} on stdout); give it as --since next time\n"
"  enroll SOURCE_ID REFERRAL_ID CHANGE [--reason R] [--at TIME]\n"
"        record a change: intake_completed, in_the_wind, re_engaged, or\n"
"        exited with --reason graduated, moved, declined_services,\n"
"        incarcerated, deceased or other; TIME is RFC 3339 (default: now)\n"
"  transfer SOURCE_ID REFERRAL_ID CASE_MANAGER\n"
"        move an open enrollment to another case manager of its program\n"
"  caseload PROGRAM\n"
"        the open caseload by case manager (no personal data), at a seq\n"
"  watch --program P [--since SEQ] [--decisions E2] [--count N] [--timeout-ms MS]\n"
"        print enrollment events as they come; a gap in seq is filled with\n"
"        `enrollments` (marked \"(replayed)\"), and an `assigned` event is\n"
"        fetched with its referral; --since SEQ prints what follows SEQ\n"
"        first. Stops on SIGINT/SIGTERM, after N events, or after MS\n"
"        milliseconds without one; then the seq to resume from, as above.\n"
"        With several daemons it moves to the next when its own is gone, and\n"
"        asks for what it missed with `enrollments`\n"
"\n"
"  --endpoint E     intake endpoint, e.g. tcp://divert.example.org:7461, or\n"
"                   several, comma-separated (one per daemon on the same\n"
"                   database): when one gives no reply the same request goes\n"
"                   to the next\n"
"  --server-key F   the daemon's public certificate (zcert file)\n"
"  --cert F         this case-management key's certificate; its secret key\n"
"                   is in F_secret\n"
"  --timeout MS     wait this long for each reply (default 5000); watch also\n"
"                   moves to the next daemon after this long without a\n"
"                   connection to its decisions socket\n"
"  --attempts N     send at most N times in all (default 3), to any of the\n"
"                   endpoints; a request that gets no reply, or an\n"
"                   `unavailable` error, is sent again with the same bytes\n"
"  --json           print events, and the replies of enroll, transfer and\n"
"                   caseload (error replies too), as JSON lines\n"
"  --decisions E2   (watch) decisions endpoint(s), as many as E and in the\n"
"                   same order; default: each of E with its port number\n"
"                   plus 1 (tcp://host:7461 -> tcp://host:7462)\n"
"\n"
"Exit status: 0 done (also when divertd replayed it), 2 refused by divertd\n"
"(invalid, not_found, conflict, forbidden), 3 no reply, unavailable after\n"
"every attempt, or another failure, 64 usage.\n";


//  --------------------------------------------------------------------------
//  Command line

int
cms_usage_error (const char *message)
{
    if (message)
        fprintf (stderr, "divert-cms: %s\n", message);
    fputs (s_usage, stderr);
    return CMS_USAGE;
}

static bool
s_parse_number (const char *text, long long min, long long max, long long *value)
{
    char *end;
    errno = 0;
    long long number = strtoll (text, &end, 10);
    if (errno || end == text || *end || number < min || number > max)
        return false;
    *value = number;
    return true;
}

//  The options and operands; `seen` gets the OPT_* given. Returns -1 when
//  they parse, else the exit status.

static int
s_options_parse (cms_options_t *options, int *seen, int argc, char *argv [])
{
    static struct option longopts [] = {
        { "endpoint",   required_argument, NULL, 'e' },
        { "server-key", required_argument, NULL, 's' },
        { "cert",       required_argument, NULL, 'c' },
        { "timeout",    required_argument, NULL, 't' },
        { "attempts",   required_argument, NULL, 'a' },
        { "json",       no_argument,       NULL, 'j' },
        { "program",    required_argument, NULL, 'p' },
        { "since",      required_argument, NULL, 'S' },
        { "limit",      required_argument, NULL, 'l' },
        { "reason",     required_argument, NULL, 'r' },
        { "at",         required_argument, NULL, 'A' },
        { "decisions",  required_argument, NULL, 'd' },
        { "count",      required_argument, NULL, 'n' },
        { "timeout-ms", required_argument, NULL, 'T' },
        { "help",       no_argument,       NULL, 'h' },
        { "version",    no_argument,       NULL, 'V' },
        { NULL, 0, NULL, 0 }
    };
    *options = (cms_options_t) { .since = -1, .timeout = 5000, .attempts = 3 };
    *seen = 0;
    long long number;
    int opt;
    while ((opt = getopt_long (argc, argv, "hV", longopts, NULL)) != -1) {
        switch (opt) {
            case 'e': options->endpoint = optarg; break;
            case 's': options->server_key = optarg; break;
            case 'c': options->cert = optarg; break;
            case 'j': options->json = true; break;
            case 'p': options->program = optarg; *seen |= OPT_PROGRAM; break;
            case 'r': options->reason = optarg; *seen |= OPT_REASON; break;
            case 'A': options->at = optarg; *seen |= OPT_AT; break;
            case 'd': options->decisions = optarg; *seen |= OPT_DECISIONS; break;
            case 't':
                if (!s_parse_number (optarg, 1, 1000000, &number))
                    return cms_usage_error ("--timeout wants milliseconds (a positive number)");
                options->timeout = (int) number;
                break;
            case 'a':
                if (!s_parse_number (optarg, 1, 1000000, &number))
                    return cms_usage_error ("--attempts wants a positive number");
                options->attempts = (int) number;
                break;
            case 'S':
                if (!s_parse_number (optarg, 0, LLONG_MAX, &options->since))
                    return cms_usage_error ("--since wants a seq number (0 or more)");
                *seen |= OPT_SINCE;
                break;
            case 'l':
                if (!s_parse_number (optarg, 1, 500, &number))
                    return cms_usage_error ("--limit wants a number of events from 1 to 500");
                options->limit = (int) number;
                *seen |= OPT_LIMIT;
                break;
            case 'n':
                if (!s_parse_number (optarg, 1, LLONG_MAX, &options->count))
                    return cms_usage_error ("--count wants a positive number");
                *seen |= OPT_COUNT;
                break;
            case 'T':
                if (!s_parse_number (optarg, 1, INT_MAX, &number))
                    return cms_usage_error ("--timeout-ms wants milliseconds (a positive number)");
                options->timeout_ms = (int) number;
                *seen |= OPT_TIMEOUT_MS;
                break;
            case 'h': fputs (s_usage, stdout); return 0;
            case 'V': printf ("divert-cms %s\n", DIVERT_VERSION); return 0;
            default:  return cms_usage_error (NULL);
        }
    }
    if (optind < argc)
        options->command = argv [optind++];
    options->operands = argc - optind;
    options->operand = argv + optind;
    return -1;
}

//  The command, checked against its row of the table; NULL after a usage
//  error (*status says which).

static const command_t *
s_command_check (cms_options_t *options, int seen, int *status)
{
    char message [256];
    *status = CMS_USAGE;
    if (!options->command) {
        cms_usage_error ("a command is required");
        return NULL;
    }
    const command_t *command = s_commands;
    while (command->name && strcmp (command->name, options->command) != 0)
        command++;
    if (!command->name) {
        cms_usage_error ("unknown command (assignments, enroll, transfer, caseload, watch)");
        return NULL;
    }
    for (int bit = 0; bit < (int) (sizeof (s_option_names) / sizeof (s_option_names [0])); bit++) {
        if ((seen & (1 << bit)) && !(command->allowed & (1 << bit)))
            snprintf (message, sizeof (message), "%s does not go with %s",
                      s_option_names [bit], command->name);
        else
        if ((command->required & (1 << bit)) && !(seen & (1 << bit)))
            snprintf (message, sizeof (message), "%s wants %s", command->name,
                      s_option_names [bit]);
        else
            continue;
        cms_usage_error (message);
        return NULL;
    }
    bool empty = false;
    for (int i = 0; i < options->operands; i++)
        empty |= !*options->operand [i];
    if (options->operands != command->operands || empty
    ||  (options->program && !*options->program)) {
        snprintf (message, sizeof (message), "%s wants %s", command->name, command->synopsis);
        cms_usage_error (message);
        return NULL;
    }
    if (!options->endpoint)
        cms_usage_error ("--endpoint is required");
    else
    if (!options->server_key)
        cms_usage_error ("--server-key is required");
    else
    if (!options->cert)
        cms_usage_error ("--cert is required");
    else {
        *status = CMS_DONE;
        return command;
    }
    return NULL;
}


//  --------------------------------------------------------------------------
//  Main

dv_client_t *
cms_client (cms_t *self)
{
    if (!self->client) {
        self->client = dv_client_new (self->options->endpoint, self->options->server_key,
                                      self->options->cert);
        if (!self->client) {
            fprintf (stderr, "divert-cms: %s\n", dv_client_last_error ());
            return NULL;
        }
        dv_client_set_timeout (self->client, self->options->timeout);
        dv_client_set_attempts (self->client, self->options->attempts);
    }
    return self->client;
}

int
main (int argc, char *argv [])
{
    cms_options_t options;
    int seen;
    int status = s_options_parse (&options, &seen, argc, argv);
    if (status >= 0)
        return status;
    const command_t *command = s_command_check (&options, seen, &status);
    if (!command)
        return status;

    cms_t self = { .options = &options };
    status = command->run (&self);
    dv_client_destroy (&self.client);
    return status;
}
