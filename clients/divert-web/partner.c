/*  partner — the partner desk: a community partner's (or any source's)
    outreach worker submits a referral, sees the decision at once in words,
    follows its own referrals live, and may withdraw one.

    The source is the one the user is bound to (the session), never a field
    of the request: the referral goes to divertd with that source's own key.
    The form's fields are those of protocol.md's `referral`; divert-web
    checks them with the same codec as divertd (dv_request) and answers
    422 with one problem per field, named as in protocol.md (person.dob,
    offense.code ...), before anything is sent.
*/
#include "web.h"
#include "dv_policy.h"
#include "dv_request.h"

#include <czmq.h>
#include <sodium.h>
#include <time.h>

#define S_LIST_MAX "200"

//  Form fields and the protocol's names (contact keys the page offers).
static const char *s_fields [] = {
    "referral_id", "submitted_at", "pathway", "person", "area", "housing", "behavioral_health", "offense",
    "prior_contacts_12m", "consent", "contact", "notes", NULL
};
static const char *s_person_fields [] = { "source_person_id", "first_name", "last_name", "dob", NULL };
static const char *s_offense_fields [] = { "code", "description", NULL };
static const char *s_contact_fields [] = { "worker", "callback", NULL };

static bool
s_listed (const char **list, const char *key)
{
    for (int i = 0; list [i]; i++)
        if (streq (list [i], key))
            return true;
    return false;
}

static void
s_problem (json_t *errors, const char *field, const char *problem)
{
    json_array_append_new (errors, json_pack ("{s:s, s:s}", "field", field, "problem", problem));
}

//  A string member, trimmed of surrounding spaces, or NULL when absent or
//  blank. A member that is there but not a string is a problem.
static char *
s_text (json_t *object, const char *key, const char *field, json_t *errors)
{
    json_t *value = json_object_get (object, key);
    if (!value || json_is_null (value))
        return NULL;
    if (!json_is_string (value)) {
        s_problem (errors, field, "must be text");
        return NULL;
    }
    const char *text = json_string_value (value);
    while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
        text++;
    size_t len = strlen (text);
    while (len > 0 && (text [len - 1] == ' ' || text [len - 1] == '\t'
                    || text [len - 1] == '\n' || text [len - 1] == '\r'))
        len--;
    return len ? zsys_sprintf ("%.*s", (int) len, text) : NULL;
}

static void
s_set_text (json_t *target, const char *key, char *text)
{
    if (text)
        json_object_set_new (target, key, json_string (text));
    free (text);
}

//  A nested object of text fields (person, offense, contact); unknown keys
//  are problems.
static json_t *
s_object (json_t *form, const char *key, const char **allowed, json_t *errors)
{
    json_t *value = json_object_get (form, key);
    if (!value || json_is_null (value))
        return NULL;
    if (!json_is_object (value)) {
        s_problem (errors, key, "must be an object");
        return NULL;
    }
    json_t *out = json_object ();
    const char *member;
    json_t *item;
    json_object_foreach (value, member, item) {
        char field [160];
        snprintf (field, sizeof field, "%s.%.64s", key, member);
        if (!s_listed (allowed, member))
            s_problem (errors, strlen (member) <= 64 ? field : key, "unknown field");
        else
            s_set_text (out, member, s_text (value, member, field, errors));
    }
    if (json_object_size (out) == 0) {
        json_decref (out);
        return NULL;
    }
    return out;
}

//  UTC now as RFC 3339.
static void
s_now (char *text, size_t size)
{
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    strftime (text, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

//  A random (version 4) UUID.
static void
s_uuid (char text [37])
{
    unsigned char b [16];
    randombytes_buf (b, sizeof b);
    b [6] = (b [6] & 0x0f) | 0x40;
    b [8] = (b [8] & 0x3f) | 0x80;
    snprintf (text, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
              b [0], b [1], b [2], b [3], b [4], b [5], b [6], b [7], b [8], b [9], b [10], b [11],
              b [12], b [13], b [14], b [15]);
}

//  The DIVERT/1 referral the form describes, or NULL with problems in errors.
static json_t *
s_referral (web_request_t *req, json_t *errors)
{
    json_t *form = req->json;
    const char *key;
    json_t *value;
    json_object_foreach (form, key, value)
        if (!s_listed (s_fields, key))
            s_problem (errors, strlen (key) <= 64 ? key : "(long field name)", "unknown field");

    //  The page sends the time of the first attempt with the referral_id
    //  and keeps both until a decision comes back, so that sending it again
    //  is the same referral (divertd answers a different submitted_at with
    //  `conflict`). Without one, it is now.
    char now [32], uuid [37];
    s_now (now, sizeof now);
    char *submitted = s_text (form, "submitted_at", "submitted_at", errors);
    json_t *request = json_pack ("{s:i, s:s, s:s, s:s}", "v", 1, "type", "referral",
                                 "request_id", "web", "submitted_at", submitted ? submitted : now);
    free (submitted);
    char *referral_id = s_text (form, "referral_id", "referral_id", errors);
    if (!referral_id) {
        s_uuid (uuid);
        referral_id = strdup (uuid);
    }
    s_set_text (request, "referral_id", referral_id);
    s_set_text (request, "pathway", s_text (form, "pathway", "pathway", errors));
    json_t *person = s_object (form, "person", s_person_fields, errors);
    json_object_set_new (request, "person", person ? person : json_object ());
    s_set_text (request, "area", s_text (form, "area", "area", errors));
    s_set_text (request, "housing", s_text (form, "housing", "housing", errors));
    json_t *needs = json_object_get (form, "behavioral_health");
    json_object_set_new (request, "behavioral_health",
                         needs && !json_is_null (needs) ? json_incref (needs) : json_array ());
    json_t *offense = s_object (form, "offense", s_offense_fields, errors);
    if (offense)
        json_object_set_new (request, "offense", offense);
    json_t *contacts = json_object_get (form, "prior_contacts_12m");
    if (contacts && !json_is_null (contacts)) {
        if (json_is_integer (contacts))
            json_object_set (request, "prior_contacts_12m", contacts);
        else
            s_problem (errors, "prior_contacts_12m", "a whole number from 0 to 1000");
    }
    json_t *consent = json_object_get (form, "consent");
    if (json_is_boolean (consent))
        json_object_set (request, "consent", consent);
    else
    if (consent && !json_is_null (consent))
        s_problem (errors, "consent", "must be true or false");
    json_t *contact = s_object (form, "contact", s_contact_fields, errors);
    if (contact)
        json_object_set_new (request, "contact", contact);
    s_set_text (request, "notes", s_text (form, "notes", "notes", errors));
    return request;
}

//  dv_request's checks (protocol.md) on the request; appends its problems.
static void
s_validate (json_t *request, json_t *errors)
{
    char *text = json_dumps (request, JSON_COMPACT);
    dv_request_t *parsed = text ? dv_request_new (text, strlen (text)) : NULL;
    if (parsed && !dv_request_valid (parsed)) {
        size_t index;
        json_t *problem;
        json_array_foreach (dv_request_errors (parsed), index, problem) {
            const char *field = json_string_value (json_object_get (problem, "field"));
            //  Ours, and fine.
            if (field && streq (field, "request_id"))
                continue;
            json_array_append (errors, problem);
        }
    }
    dv_request_destroy (&parsed);
    free (text);
}

static bool
s_pathway_allowed (web_request_t *req, const char *pathway)
{
    json_t *pathways = json_object_get (json_object_get (req->session, "source"), "pathways");
    size_t index;
    json_t *item;
    json_array_foreach (pathways, index, item)
        if (pathway && streq (json_string_value (item), pathway))
            return true;
    return false;
}

//  This server holds no key for the user's source: nothing can be sent.
static void
s_no_key (web_request_t *req, const char *source)
{
    dv_log_fields_t fields = { .source_id = source };
    dv_log_fields (LOG_WARNING, &fields, "no key for this source in the keys directory (user %s)", req->user);
    web_reply_error (req, MHD_HTTP_SERVICE_UNAVAILABLE,
                     "this server has no key for your organisation yet: ask the operator");
}

void
web_partner_submit (web_request_t *req)
{
    const char *source = web_session_str (req, "source.id");
    json_t *errors = json_array ();
    json_t *request = s_referral (req, errors);
    s_validate (request, errors);
    const char *pathway = json_string_value (json_object_get (request, "pathway"));
    if (pathway && dv_pathway_from_name (pathway) >= 0 && !s_pathway_allowed (req, pathway))
        s_problem (errors, "pathway", "your organisation cannot send this kind of referral");
    if (json_array_size (errors)) {
        char message [64];
        snprintf (message, sizeof message, "%zu field%s need%s attention", json_array_size (errors),
                  json_array_size (errors) == 1 ? "" : "s", json_array_size (errors) == 1 ? "s" : "");
        json_decref (request);
        web_reply_errors (req, MHD_HTTP_UNPROCESSABLE_CONTENT, message, errors);
        return;
    }
    json_decref (errors);
    if (!web_divert_has_key (req->web->divert, source)) {
        json_decref (request);
        s_no_key (req, source);
        return;
    }
    char error [512];
    json_t *reply = web_divert_request (req->web->divert, source, request, error, sizeof error);
    const char *referral_id = json_string_value (json_object_get (request, "referral_id"));
    dv_log_fields_t fields = { .source_id = source, .referral_id = referral_id };
    const char *type = json_string_value (json_object_get (reply, "type"));
    if (type && streq (type, "decision")) {
        fields.decision = json_string_value (json_object_get (reply, "decision"));
        fields.reason = json_string_value (json_object_get (reply, "reason"));
        dv_log_fields (LOG_INFO, &fields, "referral submitted by user %s", req->user);
        char *summary = web_words_decision (reply, -1, NULL);
        web_reply_json (req, MHD_HTTP_OK, json_pack ("{s:s, s:O, s:s}", "referral_id", referral_id,
                                                     "decision", reply, "summary", summary));
        free (summary);
    }
    else {
        dv_log_fields (LOG_WARNING, &fields, "referral by user %s not decided: %s", req->user,
                       reply ? json_string_value (json_object_get (reply, "code")) : error);
        web_reply_divert_error (req, reply, "divert did not answer: nothing is lost, submit again "
                                            "(the same referral is sent and decided once)");
    }
    json_decref (reply);
    json_decref (request);
}


//  --------------------------------------------------------------------------
//  The list and the details

//  Words for one row: the latest decision (with today's waitlist position
//  and wait band), then what happened since (the enrollment).
static void
s_describe (json_t *row, json_t *ordered)
{
    json_t *latest = json_object_get (row, "latest");
    json_t *waitlist = json_object_get (row, "waitlist");
    int position = -1;
    if (json_is_object (waitlist)) {
        json_t *entry = web_waitlist_find (ordered, json_integer_value (json_object_get (waitlist, "entry_id")));
        position = entry ? (int) json_integer_value (json_object_get (entry, "position")) : -1;
        json_object_del (waitlist, "entry_id");
        if (position > 0)
            json_object_set_new (waitlist, "position", json_integer (position));
    }
    const char *band = NULL;
    if (position > 0) {
        double per_day = (double) json_integer_value (json_object_get (row, "exits_90d")) / 90.0;
        band = dv_policy_wait_band (position, per_day);
        json_object_set_new (waitlist, "estimate", json_string (band));
    }
    char *summary = web_words_decision (latest, position, band);
    json_object_set_new (row, "summary", json_string (summary));
    free (summary);
    json_t *enrollment = json_object_get (row, "enrollment");
    const char *status = json_string_value (json_object_get (enrollment, "status"));
    if (status) {
        char *words = web_words_enrollment (status, json_string_value (json_object_get (enrollment, "exit_reason")));
        json_object_set_new (row, "enrollment_summary", json_string (words));
        free (words);
    }
    const char *state = json_string_value (json_object_get (row, "state"));
    bool can = state && (streq (state, "waitlisted")
            || (streq (state, "accepted") && status && streq (status, "pending_intake")));
    json_object_set_new (row, "can_withdraw", json_boolean (can));
    json_object_del (row, "exits_90d");
}

void
web_partner_list (web_request_t *req)
{
    const char *params [] = { req->token_hash, S_LIST_MAX };
    json_t *rows = web_pool_json (req->web->pool, "SELECT divert.web_partner_referrals($1, $2::int)", 2, params);
    if (!json_is_array (rows)) {
        json_decref (rows);
        web_reply_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "the list is unavailable; try again shortly");
        return;
    }
    size_t index;
    json_t *row;
    json_t *ordered = NULL;
    json_array_foreach (rows, index, row)
        if (json_is_object (json_object_get (row, "waitlist")) && !ordered)
            ordered = web_waitlist_ordered (req->web);
    json_array_foreach (rows, index, row)
        s_describe (row, ordered);
    json_decref (ordered);
    web_reply_json (req, MHD_HTTP_OK, json_pack ("{s:o}", "referrals", rows));
}

void
web_partner_details (web_request_t *req)
{
    const char *id = web_arg (req, "id");
    if (!web_is_uuid (id)) {
        web_reply_errors (req, MHD_HTTP_UNPROCESSABLE_CONTENT, "which referral?",
                          json_pack ("[{s:s, s:s}]", "field", "id", "problem", "a referral_id (UUID)"));
        return;
    }
    const char *params [] = { req->token_hash, web_session_str (req, "source.id"), id };
    json_t *details = web_pool_json (req->web->pool, "SELECT divert.web_referral_details($1, $2, $3)", 3, params);
    if (!details) {
        web_reply_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "the database is unavailable; try again shortly");
        return;
    }
    if (!json_is_object (details)) {
        json_decref (details);
        web_reply_error (req, MHD_HTTP_NOT_FOUND, "no such referral from your organisation");
        return;
    }
    web_reply_json (req, MHD_HTTP_OK, details);
}

void
web_partner_withdraw (web_request_t *req)
{
    const char *id = json_string_value (json_object_get (req->json, "referral_id"));
    json_t *reason = json_object_get (req->json, "reason");
    if (!web_is_uuid (id) || (reason && !json_is_string (reason) && !json_is_null (reason))) {
        web_reply_errors (req, MHD_HTTP_UNPROCESSABLE_CONTENT, "which referral?",
                          json_pack ("[{s:s, s:s}]", "field", id ? "reason" : "referral_id",
                                     "problem", id ? "must be text" : "a referral_id (UUID)"));
        return;
    }
    const char *source = web_session_str (req, "source.id");
    if (!web_divert_has_key (req->web->divert, source)) {
        s_no_key (req, source);
        return;
    }
    json_t *request = json_pack ("{s:i, s:s, s:s, s:s}", "v", 1, "type", "withdraw", "request_id", "web",
                                 "referral_id", id);
    if (json_is_string (reason) && json_string_length (reason) > 0)
        json_object_set (request, "reason", reason);
    char error [512];
    json_t *reply = web_divert_request (req->web->divert, source, request, error, sizeof error);
    json_decref (request);
    const char *type = json_string_value (json_object_get (reply, "type"));
    if (type && streq (type, "decision")) {
        dv_log_fields_t fields = { .source_id = source, .referral_id = id, .decision = "withdrawn" };
        dv_log_fields (LOG_INFO, &fields, "referral withdrawn by user %s", req->user);
        char *summary = web_words_decision (reply, -1, NULL);
        web_reply_json (req, MHD_HTTP_OK, json_pack ("{s:O, s:s}", "decision", reply, "summary", summary));
        free (summary);
    }
    else
        web_reply_divert_error (req, reply, "divert did not answer: try again");
    json_decref (reply);
}


//  --------------------------------------------------------------------------
//  What the form offers

void
web_partner_form (web_request_t *req)
{
    json_t *areas = web_pool_json (req->web->pool,
        "SELECT COALESCE(jsonb_agg(DISTINCT a ORDER BY a), '[]') FROM divert.web_programs p, unnest(p.areas) a", 0, NULL);
    json_t *housing = json_array ();
    for (const char *const *name = dv_housing_names (); *name; name++)
        json_array_append_new (housing, json_string (*name));
    json_t *source = json_deep_copy (json_object_get (req->session, "source"));
    json_t *form = json_pack ("{s:o, s:O, s:o, s:[ss], s:[ss], s:o, s:{s:i, s:i, s:i, s:i, s:i, s:i}}",
        "source", source, "pathways", json_object_get (source, "pathways"),
        "housing", housing, "behavioral_health", "substance_use", "mental_health",
        "contact_fields", "worker", "callback",
        "areas", json_is_array (areas) ? areas : (json_decref (areas), json_array ()),
        "limits", "name", 100, "area", 64, "offense_code", 32, "contact", 200, "notes", 2000,
        "prior_contacts_max", 1000);
    web_reply_json (req, MHD_HTTP_OK, form);
}
