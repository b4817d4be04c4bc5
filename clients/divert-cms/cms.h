/*  divert-cms — the case-management tool's internal interface: its options,
    the context every command gets, the command entry points (one file per
    concept: assignments.c, enroll.c for enroll and transfer, caseload.c,
    watch.c) and the shared helpers: reply.c (what a reply means for the exit
    status, one-line errors, JSON output) and event.c (an enrollment event
    for people, with the referral an `assigned` event delivers).

    Conventions: a command returns its exit status (CMS_DONE, CMS_REFUSED,
    CMS_FAILED, CMS_USAGE). Errors are one line on stderr and never hold
    personal data; stdout holds what divertd delivered, which for an
    `assigned` event is the referral the case manager needs.
*/
#ifndef DIVERT_CMS_H
#define DIVERT_CMS_H

#include "dv_client.h"

#include <stdbool.h>
#include <stdio.h>

#define CMS_DONE        0       //  done (also when divertd replayed it)
#define CMS_REFUSED     2       //  an error reply: invalid, not_found, conflict, forbidden
#define CMS_FAILED      3       //  no reply, unavailable after every attempt, internal
#define CMS_USAGE       64

typedef struct {
    const char *endpoint;       //  intake endpoint
    const char *server_key;
    const char *cert;
    const char *decisions;      //  watch: decisions endpoint, when given
    const char *program;        //  assignments, watch
    const char *reason;         //  enroll
    const char *at;             //  enroll
    long long since;            //  assignments, watch: -1 when not given
    int limit;                  //  assignments: events per request, 0 = default
    long long count;            //  watch: stop after this many, 0 = no limit
    int timeout_ms;             //  watch: stop after this long idle, 0 = never
    int timeout;                //  msecs per attempt
    int attempts;
    bool json;
    const char *command;        //  assignments, enroll, transfer, caseload, watch
    int operands;               //  the command's positional arguments
    char **operand;
} cms_options_t;

typedef struct {
    cms_options_t *options;
    dv_client_t *client;        //  on the intake endpoint; cms_client() makes it
} cms_t;

//  --------------------------------------------------------------------------
//  Commands

int cms_assignments (cms_t *self);
int cms_enroll (cms_t *self);
int cms_transfer (cms_t *self);
int cms_caseload (cms_t *self);
int cms_watch (cms_t *self);

//  A usage error (main.c): the message and the usage on stderr; CMS_USAGE.
int cms_usage_error (const char *message);

//  The client on the intake endpoint, made on first use (main.c), after a
//  command checked its arguments. NULL after printing why (a certificate
//  cannot be read, a bad endpoint): then the command returns CMS_FAILED.
dv_client_t *cms_client (cms_t *self);

//  --------------------------------------------------------------------------
//  Replies (reply.c)

//  The exit status a reply means for `what` (the command), when `expected`
//  is the reply type asked for: CMS_DONE when it is that, else prints one
//  line on stderr ("divert-cms: what: code: message (field: problem)") and
//  returns CMS_REFUSED or CMS_FAILED. A NULL reply (no reply, interrupted)
//  says dv_client_last_error().
int cms_reply_status (const char *what, json_t *reply, const char *expected);

//  One JSON value as one line on stdout.
void cms_print_json (json_t *value);

//  The seq to resume from, at the end of assignments and watch:
//  "next_seq N" on stderr, or {"next_seq":N} as the last line of stdout
//  with --json.
void cms_print_next_seq (cms_t *self, long long next_seq);

//  Field access that never fails: "" / -1 when absent or of another type.
const char *cms_str (json_t *object, const char *key);
long long cms_int (json_t *object, const char *key);

//  --------------------------------------------------------------------------
//  Events (event.c)

//  One enrollment event for people (a line, and for an `assigned` event that
//  carries it, the referral below it); `replayed` marks one filled in late.
//  Text from the wire is printed with control characters escaped.
void cms_event_print (json_t *event, bool replayed);

//  Text from the wire, with control characters (and backslashes) escaped,
//  so nothing a sender wrote can steer the terminal or forge a line.
void cms_put (FILE *file, const char *text);

#endif
