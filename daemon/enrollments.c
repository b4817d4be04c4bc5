/*  enrollments — the case-management requests and the enrollment feed.
    See enrollments.h. */
#include "enrollments.h"
#include "dv_log.h"
#include "dv_reply.h"

#define S_FEED_PAGE "1000"          //  events read per query when publishing

//  The SQL function's answer to the reply: {"error", "message", "errors"?}
//  is an error reply; {"reply": ...} or a reply object itself is the reply.
static void
s_answer (dv_job_t *job, json_t *outcome)
{
    const char *error = json_string_value (json_object_get (outcome, "error"));
    const char *request_id = dv_request_request_id (job->request);
    json_decref (job->reply);
    if (error)
        job->reply = dv_reply_error (request_id, dv_request_referral_id (job->request), error,
                                     json_string_value (json_object_get (outcome, "message")),
                                     json_object_get (outcome, "errors"));
    else {
        json_t *reply = json_object_get (outcome, "reply");
        job->reply = json_deep_copy (reply ? reply : outcome);
        if (request_id)
            json_object_set_new (job->reply, "request_id", json_string (request_id));
    }
}

void
dv_enrollments_answer (dv_db_t *db, dv_job_t *job)
{
    dv_request_t *request = job->request;
    char since [32], limit [32];
    snprintf (since, sizeof since, "%lld", (long long) dv_request_since_seq (request));
    snprintf (limit, sizeof limit, "%d", dv_request_limit (request));
    const char *cms = job->sender.id;
    json_t *outcome = NULL;
    switch (dv_request_type (request)) {
        case DV_REQ_ENROLLMENTS: {
            const char *params [] = { cms, dv_request_program (request), since, limit };
            outcome = dv_db_json (db, "SELECT divert.cms_enrollments($1, $2, $3::bigint, $4::int)", 4, params);
            break;
        }
        case DV_REQ_ENROLLMENT: {
            const char *params [] = { cms, dv_request_source_id (request), dv_request_referral_id (request),
                                      dv_request_change (request), dv_request_reason (request),
                                      dv_request_at (request) };
            outcome = dv_db_json (db, "SELECT divert.cms_enrollment($1, $2, $3, $4, $5, $6::timestamptz)",
                                  6, params);
            break;
        }
        case DV_REQ_TRANSFER: {
            const char *params [] = { cms, dv_request_source_id (request), dv_request_referral_id (request),
                                      dv_request_case_manager (request) };
            outcome = dv_db_json (db, "SELECT divert.cms_transfer($1, $2, $3, $4)", 4, params);
            break;
        }
        case DV_REQ_CASELOAD: {
            const char *params [] = { cms, dv_request_program (request) };
            outcome = dv_db_json (db, "SELECT divert.cms_caseload($1, $2)", 2, params);
            break;
        }
        default:
            dv_job_fail (job, "internal", "not a case-management request");
            return;
    }
    if (outcome)
        s_answer (job, outcome);
    else
    if (dv_db_connected (db)) {
        dv_log_fields_t fields = { .source_id = job->sender.id, .referral_id = dv_request_referral_id (request) };
        dv_log_fields (LOG_WARNING, &fields, "case-management request failed: %s (SQLSTATE %s)",
                       dv_db_error (db), *dv_db_sqlstate (db) ? dv_db_sqlstate (db) : "none");
        dv_job_fail (job, "internal", "the change could not be recorded; nothing was recorded, send the same request again");
    }
    json_decref (outcome);
}

json_t *
dv_enrollments_feed (dv_db_t *db, json_t **positions_p)
{
    json_t *events = json_array ();
    bool more = true;
    while (more) {
        char *positions = *positions_p ? json_dumps (*positions_p, JSON_COMPACT) : strdup ("{}");
        const char *params [] = { positions, S_FEED_PAGE };
        json_t *page = dv_db_json (db, "SELECT divert.enrollment_feed_after($1::jsonb, $2::int)", 2, params);
        free (positions);
        if (!page) {
            dv_log_warning ("cannot read the enrollment feed: %s", dv_db_error (db));
            json_decref (events);
            return NULL;
        }
        json_array_extend (events, json_object_get (page, "events"));
        json_decref (*positions_p);
        *positions_p = json_incref (json_object_get (page, "positions"));
        more = json_is_true (json_object_get (page, "more"));
        json_decref (page);
    }
    return events;
}
