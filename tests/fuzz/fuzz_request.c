/*  fuzz_request — libFuzzer target over the DIVERT/1 request codec.

    One input is one request frame. It goes through dv_request_new(), every
    accessor, the payload/digest, and the error reply divertd would send
    (dv_reply_error + dv_reply_encode). Besides the sanitizers, the target
    checks the codec's documented promises and aborts when one breaks:
    - valid <=> no error code, no message, empty errors;
    - an invalid request has code "invalid" or "unsupported_version", a
      message, and errors that are {field: string, problem: string}; the
      message counts them; unsupported_version has one problem, on "v";
    - request_id is at most 64 characters; referral_id is lower-case UUID;
    - a valid referral has a payload without the envelope, a 40-char lower-
      case hex digest, known enum values, and sending its payload again
      (with a new envelope) gives a valid referral with the same digest;
    - the reply frame is JSON that parses back.
    Built and run by tests/fuzz/run.sh.
*/
#include "dv_request.h"
#include "dv_reply.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) \
    do { if (!(cond)) { \
        fprintf (stderr, "fuzz_request: check failed at line %d: %s\n", __LINE__, #cond); \
        abort (); } } while (0)

static size_t
s_chars (const char *text)
{
    size_t chars = 0;
    for (; *text; text++)
        if (((unsigned char) *text & 0xC0) != 0x80)
            chars++;
    return chars;
}

static void
s_check_uuid_lower (const char *text)
{
    CHECK (strlen (text) == 36);
    for (int index = 0; index < 36; index++) {
        if (index == 8 || index == 13 || index == 18 || index == 23)
            CHECK (text [index] == '-');
        else
            CHECK (isxdigit ((unsigned char) text [index]) && !isupper ((unsigned char) text [index]));
    }
}

//  Encode the reply divertd would send and make sure it is JSON again
static void
s_check_reply (json_t *reply)
{
    CHECK (reply);
    char *frame = dv_reply_encode (reply);
    CHECK (frame);
    json_error_t error;
    json_t *back = json_loads (frame, JSON_REJECT_DUPLICATES, &error);
    CHECK (back && json_equal (back, reply));
    json_decref (back);
    free (frame);
}

static void
s_check_referral (dv_request_t *request)
{
    const dv_referral_t *referral = dv_request_referral (request);
    CHECK (referral);
    CHECK (referral->referral_id == dv_request_referral_id (request));
    s_check_uuid_lower (referral->referral_id);
    CHECK (dv_pathway_name (referral->pathway));
    CHECK (dv_pathway_from_name (dv_pathway_name (referral->pathway)) == (int) referral->pathway);
    CHECK (dv_housing_name (referral->housing));
    CHECK (dv_housing_from_name (dv_housing_name (referral->housing)) == (int) referral->housing);
    CHECK (referral->submitted_at && referral->area);
    CHECK (s_chars (referral->area) >= 1 && s_chars (referral->area) <= 64);
    CHECK (referral->source_person_id || (referral->last_name && referral->dob));
    if (referral->dob)
        CHECK (strlen (referral->dob) == 10);
    if (referral->pathway == DV_PATHWAY_ARREST_DIVERSION
    ||  referral->pathway == DV_PATHWAY_PRETRIAL_DIVERSION)
        CHECK (referral->offense_code);
    if (referral->offense_code)
        CHECK (s_chars (referral->offense_code) >= 1 && s_chars (referral->offense_code) <= 32);
    CHECK (referral->prior_contacts_12m >= 0 && referral->prior_contacts_12m <= 1000);

    json_t *payload = dv_request_payload (request);
    CHECK (json_is_object (payload));
    CHECK (!json_object_get (payload, "v") && !json_object_get (payload, "type")
        && !json_object_get (payload, "request_id"));
    CHECK (json_is_string (json_object_get (payload, "referral_id")));
    CHECK (strcmp (json_string_value (json_object_get (payload, "referral_id")),
                   referral->referral_id) == 0);
    const char *digest = dv_request_digest (request);
    CHECK (digest && strlen (digest) == 40);
    for (int index = 0; index < 40; index++)
        CHECK (isxdigit ((unsigned char) digest [index]) && !isupper ((unsigned char) digest [index]));

    //  The same content sent again is the same referral (resubmission, not conflict)
    json_t *again = json_deep_copy (payload);
    CHECK (again);
    json_object_set_new (again, "v", json_integer (1));
    json_object_set_new (again, "type", json_string ("referral"));
    json_object_set_new (again, "request_id", json_string ("fuzz-again"));
    char *frame = json_dumps (again, JSON_COMPACT);
    CHECK (frame);
    dv_request_t *second = dv_request_new (frame, strlen (frame));
    CHECK (second && dv_request_valid (second));
    CHECK (strcmp (dv_request_digest (second), digest) == 0);
    CHECK (json_equal (dv_request_payload (second), payload));
    dv_request_destroy (&second);
    free (frame);
    json_decref (again);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc; (void) argv;
    //  A fixed "today" (2026-01-01) so that a run is reproducible
    dv_request_set_today (20454);
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    dv_request_t *request = dv_request_new (data, size);
    CHECK (request);

    bool valid = dv_request_valid (request);
    const char *code = dv_request_error_code (request);
    const char *message = dv_request_error_message (request);
    json_t *errors = dv_request_errors (request);
    CHECK (json_is_array (errors));
    const char *request_id = dv_request_request_id (request);
    const char *referral_id = dv_request_referral_id (request);
    if (request_id)
        CHECK (s_chars (request_id) <= 64);
    if (referral_id)
        s_check_uuid_lower (referral_id);

    if (valid) {
        CHECK (!code && !message && json_array_size (errors) == 0);
        dv_req_type_t type = dv_request_type (request);
        CHECK (type >= DV_REQ_REFERRAL && type <= DV_REQ_PING);
        if (type == DV_REQ_REFERRAL)
            s_check_referral (request);
        else {
            CHECK (!dv_request_referral (request));
            CHECK (!dv_request_payload (request) && !dv_request_digest (request));
        }
        if (type == DV_REQ_STATUS || type == DV_REQ_WITHDRAW)
            CHECK (referral_id);
        const char *reason = dv_request_reason (request);
        if (reason)
            CHECK (type == DV_REQ_WITHDRAW && s_chars (reason) <= 500);
        if (type == DV_REQ_REPLAY) {
            CHECK (dv_request_since_seq (request) >= 0);
            CHECK (dv_request_limit (request) >= 1 && dv_request_limit (request) <= 1000);
            const char *source_id = dv_request_source_id (request);
            if (source_id)
                CHECK (s_chars (source_id) >= 1 && s_chars (source_id) <= 32);
        }
        if (type == DV_REQ_PING) {
            json_t *pong = dv_reply_pong (size & 1);
            s_check_reply (pong);
            json_decref (pong);
        }
        //  A stored reply handed back for this request
        json_t *stored = json_pack ("{s:i, s:s, s:s}", "v", 1, "type", "decision",
                                    "decision", "accept");
        json_t *reply = dv_reply_for_request (stored, request_id, true);
        s_check_reply (reply);
        json_decref (reply);
        json_decref (stored);
    }
    else {
        CHECK (code && message && *message);
        CHECK (strcmp (code, "invalid") == 0 || strcmp (code, "unsupported_version") == 0);
        CHECK (!dv_request_referral (request));
        CHECK (!dv_request_payload (request) && !dv_request_digest (request));
        size_t count = json_array_size (errors);
        if (strcmp (code, "unsupported_version") == 0)
            CHECK (count == 1 && strcmp (json_string_value (json_object_get (
                   json_array_get (errors, 0), "field")), "v") == 0);
        else
        if (count) {
            //  The message counts the problems; at most DV_REQUEST_MAX_PROBLEMS are listed
            CHECK (count <= DV_REQUEST_MAX_PROBLEMS);
            char expected [96];
            size_t total = 0;
            CHECK (sscanf (message, "%zu", &total) == 1 && total >= count);
            if (total > DV_REQUEST_MAX_PROBLEMS)
                snprintf (expected, sizeof expected, "%zu fields are invalid (the first %d are listed)",
                          total, DV_REQUEST_MAX_PROBLEMS);
            else
                snprintf (expected, sizeof expected, total == 1? "1 field is invalid"
                                                               : "%zu fields are invalid", total);
            CHECK (total == count || total > DV_REQUEST_MAX_PROBLEMS);
            CHECK (strcmp (message, expected) == 0);
        }
        size_t index;
        json_t *item;
        json_array_foreach (errors, index, item) {
            CHECK (json_is_object (item) && json_object_size (item) == 2);
            CHECK (json_is_string (json_object_get (item, "field")));
            CHECK (json_is_string (json_object_get (item, "problem")));
        }
        //  The reply divertd sends for it
        json_t *reply = dv_reply_error (request_id, referral_id, code, message,
                                        json_array_size (errors)? errors: NULL);
        s_check_reply (reply);
        json_decref (reply);
    }
    dv_request_destroy (&request);
    CHECK (request == NULL);
    return 0;
}
