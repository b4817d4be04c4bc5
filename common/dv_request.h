/*  dv_request — DIVERT/1 requests: parse one request frame and validate it
    exactly as shared/spec/protocol.md's field tables say.

    A request is parsed once, by dv_request_new(). The result is either valid
    (dv_request_valid() is true) and its fields can be read, or invalid and it
    carries the error code ("invalid" or "unsupported_version"), a one-line
    message, and a list of {field, problem} pairs. Invalid input never crashes
    and never yields a partly-valid request.

    Personal data (names, dates of birth, notes, contacts, offense descriptions)
    is held only inside the request; nothing here logs or prints it. Problems
    name the field and the rule, never the value that was sent.

    Field paths in problems: members of nested objects are joined with dots
    ("person.dob", "offense.code", "contact.callback"); array elements carry
    a zero-based index ("behavioral_health[1]"). A cross-field rule names the
    object ("person": needs source_person_id, or both last_name and dob).
    Unknown keys are named as sent when at most 64 characters, else
    "(long field name)". unsupported_version carries one problem on "v".
*/
#ifndef DV_REQUEST_H
#define DV_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

typedef enum {
    DV_REQ_REFERRAL = 0,
    DV_REQ_STATUS,
    DV_REQ_WITHDRAW,
    DV_REQ_REPLAY,
    DV_REQ_PING,
    DV_REQ_ENROLLMENTS,         //  case-management requests (protocol.md,
    DV_REQ_ENROLLMENT,          //  "Case-management systems")
    DV_REQ_TRANSFER,
    DV_REQ_CASELOAD
} dv_req_type_t;

typedef enum {
    DV_PATHWAY_ARREST_DIVERSION = 0,
    DV_PATHWAY_SOCIAL_CONTACT,
    DV_PATHWAY_COMMUNITY,
    DV_PATHWAY_PRETRIAL_DIVERSION,
    DV_PATHWAY_COUNT
} dv_pathway_t;

typedef enum {
    DV_HOUSING_UNSHELTERED = 0,
    DV_HOUSING_HOTEL,
    DV_HOUSING_SHELTERED,
    DV_HOUSING_HOUSED,
    DV_HOUSING_UNKNOWN,
    DV_HOUSING_COUNT
} dv_housing_t;

//  A validated referral. Strings point into the request and live as long as it.
//  Optional strings are NULL when absent.
typedef struct {
    const char *referral_id;          //  lower-case canonical UUID text
    dv_pathway_t pathway;
    const char *submitted_at;         //  as sent (validated RFC 3339)
    const char *source_person_id;     //  NULL or non-empty
    const char *first_name;
    const char *last_name;
    const char *dob;                  //  YYYY-MM-DD, a real date, not in the future
    const char *area;
    dv_housing_t housing;
    bool substance_use;
    bool mental_health;
    const char *offense_code;         //  NULL when no offense was given
    int prior_contacts_12m;           //  0 when absent
    bool consent;                     //  false when absent
} dv_referral_t;

typedef struct _dv_request_t dv_request_t;

//  An invalid request lists at most this many problems; its message counts
//  them all ("57 fields are invalid (the first 20 are listed)").
#define DV_REQUEST_MAX_PROBLEMS 20

//  Parse and validate one frame. Never returns NULL (except on out-of-memory).
dv_request_t *
    dv_request_new (const void *data, size_t size);

void
    dv_request_destroy (dv_request_t **self_p);

bool
    dv_request_valid (dv_request_t *self);

//  "invalid" or "unsupported_version" when not valid; NULL when valid.
const char *
    dv_request_error_code (dv_request_t *self);

//  One line, e.g. "2 fields are invalid" or "not JSON: ..." (never a value sent).
const char *
    dv_request_error_message (dv_request_t *self);

//  Borrowed JSON array of {"field": ..., "problem": ...}; empty when valid.
json_t *
    dv_request_errors (dv_request_t *self);

//  Valid requests only.
dv_req_type_t
    dv_request_type (dv_request_t *self);

//  The request_id when one was sent and is a string of at most 64 chars,
//  also on invalid requests (so the error reply can echo it); else NULL.
const char *
    dv_request_request_id (dv_request_t *self);

//  The referral_id, lower-cased, when it is a well-formed UUID (also on
//  invalid requests, so the error reply can echo it); else NULL (never echo
//  what might be personal data).
const char *
    dv_request_referral_id (dv_request_t *self);

//  DV_REQ_REFERRAL only: the validated fields.
const dv_referral_t *
    dv_request_referral (dv_request_t *self);

//  DV_REQ_REFERRAL only: the referral's content as a JSON object, without
//  "v", "type" and "request_id" and with referral_id in lower case (borrowed),
//  and the lower-case hex SHA-1 (40 chars) of its canonical form (sorted keys,
//  compact, ASCII), used to tell a resubmission from a conflict. NULL otherwise.
json_t *
    dv_request_payload (dv_request_t *self);
const char *
    dv_request_digest (dv_request_t *self);

//  DV_REQ_WITHDRAW: the reason text; DV_REQ_ENROLLMENT: the exit reason
//  (graduated ... other, only with change exited). NULL if absent.
const char *
    dv_request_reason (dv_request_t *self);

//  DV_REQ_REPLAY and DV_REQ_ENROLLMENTS: since_seq (>= 0) and limit
//  (default 100; at most 1000 for replay, 500 for enrollments).
//  DV_REQ_REPLAY: the optional "source_id" an operator monitor uses to name
//  a source; DV_REQ_ENROLLMENT and DV_REQ_TRANSFER: the referral's source.
//  NULL if absent.
int64_t
    dv_request_since_seq (dv_request_t *self);
int
    dv_request_limit (dv_request_t *self);
const char *
    dv_request_source_id (dv_request_t *self);

//  DV_REQ_ENROLLMENTS and DV_REQ_CASELOAD: the program.
const char *
    dv_request_program (dv_request_t *self);
//  DV_REQ_ENROLLMENT: the change (intake_completed, in_the_wind,
//  re_engaged, exited) and when it happened (RFC 3339 as sent, or NULL).
const char *
    dv_request_change (dv_request_t *self);
const char *
    dv_request_at (dv_request_t *self);
//  DV_REQ_TRANSFER: the case manager to move the enrollment to.
const char *
    dv_request_case_manager (dv_request_t *self);

//  Names for the enums, as on the wire.
const char *
    dv_pathway_name (dv_pathway_t pathway);
const char *
    dv_housing_name (dv_housing_t housing);
//  Every housing value as on the wire, NULL-terminated, in dv_housing_t order.
const char *const *
    dv_housing_names (void);
//  Returns -1 when the name is not a pathway / housing value.
int
    dv_pathway_from_name (const char *name);
int
    dv_housing_from_name (const char *name);

//  Override "today" for the dob-not-in-future rule (tests); 0 = use the clock.
//  Value is days since 1970-01-01 (UTC).
void
    dv_request_set_today (int64_t days_since_epoch);

#endif
