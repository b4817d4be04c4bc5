/*  cm — the case-manager desk: "my people" (pending intakes with the days
    left before the intake window closes, active, in the wind), one
    person's details, and what the case manager records: intake completed,
    in the wind, re-engaged, discharged with a reason.

    Reads go through the database functions that check the case manager is
    the one the person is assigned to and record the disclosure. Changes go
    to divertd as DIVERT/1 `enrollment` requests with the case-management
    key (protocol.md, "Case-management systems"), after the same check.
*/
#include "web.h"

#include <czmq.h>

static const char *s_changes [] = { "intake_completed", "in_the_wind", "re_engaged", "exited", NULL };
static const char *s_exit_reasons [] = {
    "graduated", "moved", "declined_services", "incarcerated", "deceased", "other", NULL
};

static bool
s_listed (const char **list, const char *value)
{
    for (int i = 0; value && list [i]; i++)
        if (streq (list [i], value))
            return true;
    return false;
}

void
web_cm_people (web_request_t *req)
{
    const char *params [] = { req->token_hash };
    json_t *people = web_pool_json (req->web->pool, "SELECT divert.web_cm_people($1)", 1, params);
    if (!json_is_array (people)) {
        json_decref (people);
        web_reply_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "the list is unavailable; try again shortly");
        return;
    }
    web_reply_json (req, MHD_HTTP_OK, json_pack ("{s:o, s:O, s:b}", "people", people,
        "case_manager", json_object_get (req->session, "case_manager"),
        "can_record", web_divert_has_key (req->web->divert, "cms")));
}

void
web_cm_person (web_request_t *req)
{
    const char *source = web_arg (req, "source");
    const char *id = web_arg (req, "id");
    if (!web_is_source_id (source) || !web_is_uuid (id)) {
        web_reply_errors (req, MHD_HTTP_UNPROCESSABLE_CONTENT, "which person?",
            json_pack ("[{s:s, s:s}]", "field", web_is_source_id (source) ? "id" : "source",
                       "problem", web_is_source_id (source) ? "a referral_id (UUID)" : "a source id"));
        return;
    }
    const char *params [] = { req->token_hash, source, id };
    json_t *details = web_pool_json (req->web->pool, "SELECT divert.web_referral_details($1, $2, $3)", 3, params);
    if (!details) {
        web_reply_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "the database is unavailable; try again shortly");
        return;
    }
    if (!json_is_object (details)) {
        json_decref (details);
        web_reply_error (req, MHD_HTTP_NOT_FOUND, "no such person among yours");
        return;
    }
    web_reply_json (req, MHD_HTTP_OK, details);
}

//  The request's problems, or NULL when it is well-formed.
static json_t *
s_check (json_t *body, const char **source, const char **id, const char **change, const char **reason)
{
    json_t *errors = json_array ();
    const char *key;
    json_t *value;
    json_object_foreach (body, key, value)
        if (!streq (key, "source_id") && !streq (key, "referral_id") && !streq (key, "change") && !streq (key, "reason"))
            json_array_append_new (errors, json_pack ("{s:s, s:s}", "field", strlen (key) <= 64 ? key : "(long field name)",
                                                      "problem", "unknown field"));
    *source = json_string_value (json_object_get (body, "source_id"));
    *id = json_string_value (json_object_get (body, "referral_id"));
    *change = json_string_value (json_object_get (body, "change"));
    *reason = json_string_value (json_object_get (body, "reason"));
    if (!web_is_source_id (*source))
        json_array_append_new (errors, json_pack ("{s:s, s:s}", "field", "source_id", "problem", "a source id"));
    if (!web_is_uuid (*id))
        json_array_append_new (errors, json_pack ("{s:s, s:s}", "field", "referral_id", "problem", "a referral_id (UUID)"));
    if (!s_listed (s_changes, *change))
        json_array_append_new (errors, json_pack ("{s:s, s:s}", "field", "change",
            "problem", "intake_completed, in_the_wind, re_engaged or exited"));
    else
    if (streq (*change, "exited") && !s_listed (s_exit_reasons, *reason))
        json_array_append_new (errors, json_pack ("{s:s, s:s}", "field", "reason",
            "problem", "required to discharge: graduated, moved, declined_services, incarcerated, deceased or other"));
    else
    if (!streq (*change, "exited") && json_object_get (body, "reason") && !json_is_null (json_object_get (body, "reason")))
        json_array_append_new (errors, json_pack ("{s:s, s:s}", "field", "reason", "problem", "only with exited"));
    if (json_array_size (errors))
        return errors;
    json_decref (errors);
    return NULL;
}

void
web_cm_enrollment (web_request_t *req)
{
    const char *source, *id, *change, *reason;
    json_t *errors = s_check (req->json, &source, &id, &change, &reason);
    if (errors) {
        web_reply_errors (req, MHD_HTTP_UNPROCESSABLE_CONTENT, "the change is not complete", errors);
        return;
    }
    const char *params [] = { req->token_hash, source, id };
    json_t *current = web_pool_json (req->web->pool, "SELECT divert.web_cm_enrollment($1, $2, $3)", 3, params);
    if (!current) {
        web_reply_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "the database is unavailable; try again shortly");
        return;
    }
    if (!json_is_object (current)) {
        json_decref (current);
        web_reply_error (req, MHD_HTTP_NOT_FOUND, "no such person among yours");
        return;
    }
    json_decref (current);
    if (!web_divert_has_key (req->web->divert, "cms")) {
        web_reply_error (req, MHD_HTTP_SERVICE_UNAVAILABLE,
                         "this desk has no case-management key: ask the operator to configure one");
        return;
    }
    json_t *request = json_pack ("{s:i, s:s, s:s, s:s, s:s, s:s}", "v", 1, "type", "enrollment",
                                 "request_id", "web", "source_id", source, "referral_id", id, "change", change);
    if (streq (change, "exited"))
        json_object_set_new (request, "reason", json_string (reason));
    char error [512];
    json_t *reply = web_divert_request (req->web->divert, "cms", request, error, sizeof error);
    json_decref (request);
    const char *type = json_string_value (json_object_get (reply, "type"));
    if (type && streq (type, "enrollment")) {
        const char *status = json_string_value (json_object_get (reply, "status"));
        dv_log_fields_t fields = { .source_id = source, .referral_id = id };
        dv_log_fields (LOG_INFO, &fields, "enrollment %s recorded by user %s: now %s", change, req->user,
                       status ? status : "?");
        char *summary = web_words_enrollment (status, streq (change, "exited") ? reason : NULL);
        web_reply_json (req, MHD_HTTP_OK, json_pack ("{s:O, s:s}", "enrollment", reply, "summary", summary));
        free (summary);
    }
    else
        web_reply_divert_error (req, reply, "divert did not answer: try again (the same change is recorded once)");
    json_decref (reply);
}
