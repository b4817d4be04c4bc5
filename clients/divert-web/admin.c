/*  admin — users and roles: list them (with the sources and case
    managers they can be bound to), add one, set a new password, disable
    and enable. The database functions check again that the session is an
    admin's; a new password or disabling ends the user's sessions; an admin
    can't disable their own account. Passwords are hashed here (argon2id)
    and never stored or logged.
*/
#include "web.h"

#include <czmq.h>

//  A reply of the user functions: {"user": ...} or {"error", "field", "message"}.
static void
s_result (web_request_t *req, json_t *result, const char *done)
{
    if (!result) {
        web_reply_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "the database is unavailable; try again shortly");
        return;
    }
    if (json_is_null (result)) {
        json_decref (result);
        web_reply_error (req, MHD_HTTP_FORBIDDEN, "forbidden: this is not part of your desk");
        return;
    }
    const char *error = json_string_value (json_object_get (result, "error"));
    if (error) {
        int status = streq (error, "not_found") ? MHD_HTTP_NOT_FOUND
                   : streq (error, "conflict") ? MHD_HTTP_CONFLICT : MHD_HTTP_UNPROCESSABLE_CONTENT;
        const char *message = json_string_value (json_object_get (result, "message"));
        web_reply_errors (req, status, message ? message : error,
            json_pack ("[{s:O, s:O}]", "field", json_object_get (result, "field"),
                       "problem", json_object_get (result, "message")));
        json_decref (result);
        return;
    }
    dv_log_notice ("admin %s: %s %s", req->user, done,
                   json_string_value (json_object_get (json_object_get (result, "user"), "name")));
    web_reply_json (req, MHD_HTTP_OK, result);
}

static const char *
s_str (web_request_t *req, const char *key)
{
    return json_string_value (json_object_get (req->json, key));
}

void
web_admin_users (web_request_t *req)
{
    const char *params [] = { req->token_hash };
    json_t *users = web_pool_json (req->web->pool, "SELECT divert.web_admin_users($1)", 1, params);
    if (!json_is_object (users)) {
        s_result (req, users, "");
        return;
    }
    web_reply_json (req, MHD_HTTP_OK, users);
}

//  The password's problem as a field error, or NULL when fine.
static json_t *
s_password_errors (const char *password)
{
    const char *problem = web_auth_password_problem (password);
    return problem ? json_pack ("[{s:s, s:s}]", "field", "password", "problem", problem) : NULL;
}

void
web_admin_add (web_request_t *req)
{
    const char *name = s_str (req, "name"), *role = s_str (req, "role");
    const char *binding = s_str (req, "binding"), *password = s_str (req, "password");
    json_t *errors = json_array ();
    if (!name || !*name)
        json_array_append_new (errors, json_pack ("{s:s, s:s}", "field", "name", "problem", "required"));
    if (!role || !*role)
        json_array_append_new (errors, json_pack ("{s:s, s:s}", "field", "role", "problem", "required"));
    json_t *weak = s_password_errors (password);
    if (weak)
        json_array_extend (errors, weak);
    json_decref (weak);
    if (json_array_size (errors)) {
        web_reply_errors (req, MHD_HTTP_UNPROCESSABLE_CONTENT, "the new user is not complete", errors);
        return;
    }
    json_decref (errors);
    char hash [256];
    if (web_auth_hash_password (password, hash, sizeof hash)) {
        web_reply_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "cannot hash the password now; try again");
        return;
    }
    const char *params [] = { req->token_hash, name, role, binding && *binding ? binding : NULL, hash };
    s_result (req, web_pool_json (req->web->pool, "SELECT divert.web_admin_user_add($1, $2, $3, $4, $5)",
                                  5, params), "added user");
}

void
web_admin_passwd (web_request_t *req)
{
    const char *name = s_str (req, "name"), *password = s_str (req, "password");
    json_t *errors = s_password_errors (password);
    if (!name || !*name) {
        errors = errors ? errors : json_array ();
        json_array_append_new (errors, json_pack ("{s:s, s:s}", "field", "name", "problem", "required"));
    }
    if (errors) {
        web_reply_errors (req, MHD_HTTP_UNPROCESSABLE_CONTENT, "the new password is not acceptable", errors);
        return;
    }
    char hash [256];
    if (web_auth_hash_password (password, hash, sizeof hash)) {
        web_reply_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "cannot hash the password now; try again");
        return;
    }
    const char *params [] = { req->token_hash, name, hash };
    s_result (req, web_pool_json (req->web->pool, "SELECT divert.web_admin_user_passwd($1, $2, $3)",
                                  3, params), "set a new password for");
}

static void
s_disabled (web_request_t *req, bool disabled)
{
    const char *name = s_str (req, "name");
    if (!name || !*name) {
        web_reply_errors (req, MHD_HTTP_UNPROCESSABLE_CONTENT, "which user?",
                          json_pack ("[{s:s, s:s}]", "field", "name", "problem", "required"));
        return;
    }
    const char *params [] = { req->token_hash, name, disabled ? "true" : "false" };
    s_result (req, web_pool_json (req->web->pool, "SELECT divert.web_admin_user_disabled($1, $2, $3::boolean)",
                                  3, params), disabled ? "disabled" : "enabled");
}

void
web_admin_disable (web_request_t *req)
{
    s_disabled (req, true);
}

void
web_admin_enable (web_request_t *req)
{
    s_disabled (req, false);
}
