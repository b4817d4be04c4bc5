/*  report — the program manager's report pages' API: the figures of
    `divertctl report` (divert.report, sql/011_reports.sql, computes each
    one, once, from the history; no personal data) as JSON for the page to
    draw, and one figure as CSV to download, in the format divertctl writes
    (common/dv_report.c, the one home of it).

      GET /api/program/report?program=&from=&to=&by=         the report's JSON
      GET /api/program/report.csv?figure=NAME&program=&...   one figure, CSV

    For program managers and admins. program: a program's name, or empty
    for all; from, to: days as YYYY-MM-DD, in the database's time zone (to
    defaults to today, a later day is taken as today; from to 29 days
    before to); by: day (default), week, month or all. Each bad argument is
    named in a 422 before the report is computed, and so is a report of
    more than DV_REPORT_MAX_PERIODS periods or more than 10 years.
*/
#include "web.h"
#include "dv_report.h"

#include <czmq.h>
#include <string.h>

//  What the arguments are checked against, read in one statement.
static const char *s_scope_sql =
    "SELECT json_build_object('today', current_date,"
    " 'programs', (SELECT COALESCE(json_agg(p.name ORDER BY p.name), '[]') FROM divert.web_programs p),"
    " 'figures', (SELECT COALESCE(json_agg(f.name), '[]') FROM divert.report_figures() f))";

static const char *s_report_sql =
    "SELECT divert.report($1, $2::date, $3::date, $4, string_to_array($5, ','))";

typedef struct {
    const char *program;            //  NULL: every program
    const char *from, *to;          //  as sent (NULL: the default)
    const char *by;
    const char *figure;             //  CSV: the one figure
    char from_day [11], to_day [11];    //  the period, resolved
} s_query_t;

//  A non-empty argument, or NULL.
static const char *
s_arg (web_request_t *req, const char *name)
{
    const char *value = web_arg (req, name);
    return value && *value ? value : NULL;
}

static void
s_problem (json_t *errors, const char *field, const char *problem)
{
    json_array_append_new (errors, json_pack ("{s:s, s:s}", "field", field, "problem", problem));
}

//  Whether `name` is one of the strings of `list`; else `choices` gets them
//  ("a, b, c").
static bool
s_listed (json_t *list, const char *name, char *choices, size_t size)
{
    size_t index;
    json_t *item;
    *choices = 0;
    json_array_foreach (list, index, item) {
        if (streq (json_string_value (item), name))
            return true;
        size_t used = strlen (choices);
        snprintf (choices + used, size - used, "%s%s", used ? ", " : "", json_string_value (item));
    }
    return false;
}

//  The arguments as sent: their form. Problems go into errors.
static void
s_check_form (web_request_t *req, s_query_t *q, bool csv, json_t *errors)
{
    q->program = s_arg (req, "program");
    q->from = s_arg (req, "from");
    q->to = s_arg (req, "to");
    q->by = s_arg (req, "by");
    q->figure = s_arg (req, "figure");
    if (!q->by)
        q->by = "day";
    if (q->program && (strlen (q->program) > 64 || strpbrk (q->program, "\r\n")))
        s_problem (errors, "program", "no such program");
    if (q->from && !dv_report_day (q->from, NULL))
        s_problem (errors, "from", "a day as YYYY-MM-DD (2026-03-01)");
    if (q->to && !dv_report_day (q->to, NULL))
        s_problem (errors, "to", "a day as YYYY-MM-DD (2026-03-31)");
    if (dv_report_periods (0, 0, q->by) < 0)
        s_problem (errors, "by", "day, week, month or all");
    if (csv && !q->figure)
        s_problem (errors, "figure", "required: the figure to download");
    else
    if (csv && (strlen (q->figure) > 64 || strspn (q->figure, "abcdefghijklmnopqrstuvwxyz_") != strlen (q->figure)))
        s_problem (errors, "figure", "no such figure");
}

//  The arguments against the database (its programs, figures and today),
//  and the period resolved into q->from_day, q->to_day.
static void
s_check_scope (s_query_t *q, bool csv, json_t *scope, json_t *errors)
{
    char choices [1024], problem [1200];
    if (q->program && !s_listed (json_object_get (scope, "programs"), q->program, choices, sizeof choices)) {
        snprintf (problem, sizeof problem, "no such program (%s)", choices);
        s_problem (errors, "program", problem);
    }
    if (csv && q->figure && !s_listed (json_object_get (scope, "figures"), q->figure, choices, sizeof choices)) {
        snprintf (problem, sizeof problem, "no such figure (%s)", choices);
        s_problem (errors, "figure", problem);
    }
    int64_t today, from, to;
    if (!dv_report_day (json_string_value (json_object_get (scope, "today")), &today))
        return;
    to = today;
    if (q->to && dv_report_day (q->to, &to) && to > today)
        to = today;
    from = to - 29;
    if (q->from && dv_report_day (q->from, &from) && from > today) {
        snprintf (problem, sizeof problem, "after today (%s)", json_string_value (json_object_get (scope, "today")));
        s_problem (errors, "from", problem);
        return;
    }
    if (from > to) {
        s_problem (errors, "to", "before the first day (from)");
        return;
    }
    if (to - from > DV_REPORT_MAX_DAYS) {
        s_problem (errors, "from", "a report covers at most 10 years");
        return;
    }
    int64_t periods = dv_report_periods (from, to, q->by);
    if (periods > DV_REPORT_MAX_PERIODS) {
        snprintf (problem, sizeof problem, "%lld periods by %s: a report has at most %d; choose a shorter"
                  " period or longer periods (week, month, all)", (long long) periods, q->by, DV_REPORT_MAX_PERIODS);
        s_problem (errors, "by", problem);
    }
    dv_report_day_text (from, q->from_day);
    dv_report_day_text (to, q->to_day);
}

//  The report for the request's arguments, or NULL after replying.
static json_t *
s_report (web_request_t *req, s_query_t *q, bool csv)
{
    json_t *errors = json_array ();
    s_check_form (req, q, csv, errors);
    if (json_array_size (errors)) {
        web_reply_errors (req, MHD_HTTP_UNPROCESSABLE_CONTENT, "please check the report's settings", errors);
        return NULL;
    }
    dv_db_t *db = web_pool_get (req->web->pool, 10000);
    json_t *scope = db ? dv_db_json (db, s_scope_sql, 0, NULL) : NULL;
    if (!json_is_object (scope)) {
        if (db)
            dv_log_error ("report: cannot read the scope: %.*s", (int) strcspn (dv_db_error (db), "\n"),
                          dv_db_error (db));
        json_decref (scope);
        json_decref (errors);
        web_pool_put (req->web->pool, db);
        web_reply_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "the report is unavailable; try again shortly");
        return NULL;
    }
    s_check_scope (q, csv, scope, errors);
    json_decref (scope);
    if (json_array_size (errors)) {
        web_pool_put (req->web->pool, db);
        web_reply_errors (req, MHD_HTTP_UNPROCESSABLE_CONTENT, "please check the report's settings", errors);
        return NULL;
    }
    json_decref (errors);
    const char *params [] = { q->program, q->from_day, q->to_day, q->by, csv ? q->figure : NULL };
    json_t *report = dv_db_json (db, s_report_sql, 5, params);
    if (!json_is_object (report)) {
        const char *state = dv_db_sqlstate (db), *message = dv_db_error (db);
        int len = (int) strcspn (message, "\n");
        if (streq (state, "P0001") && strncmp (message, "divert: ", 8) == 0) {
            //  divert.report's own refusal: one line meant for people
            char text [256];
            snprintf (text, sizeof text, "%.*s", len - 8, message + 8);
            web_reply_error (req, MHD_HTTP_UNPROCESSABLE_CONTENT, text);
        }
        else
        if (streq (state, "57014"))
            web_reply_error (req, MHD_HTTP_SERVICE_UNAVAILABLE,
                             "the report took too long: choose a shorter period or longer periods");
        else {
            dv_log_error ("report: database error %s: %.*s", state, len, message);
            web_reply_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "the report is unavailable; try again shortly");
        }
        json_decref (report);
        report = NULL;
    }
    web_pool_put (req->web->pool, db);
    return report;
}

void
web_program_report (web_request_t *req)
{
    s_query_t q = { 0 };
    json_t *report = s_report (req, &q, false);
    if (report)
        web_reply_json (req, MHD_HTTP_OK, report);
}

void
web_program_report_csv (web_request_t *req)
{
    s_query_t q = { 0 };
    json_t *report = s_report (req, &q, true);
    if (!report)
        return;
    json_t *figure = json_array_get (json_object_get (report, "figures"), 0);
    char *csv = figure ? dv_report_csv (json_object_get (figure, "columns"), json_object_get (figure, "rows")) : NULL;
    json_decref (report);
    if (!csv) {
        web_reply_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error");
        return;
    }
    struct MHD_Response *response = MHD_create_response_from_buffer (strlen (csv), csv, MHD_RESPMEM_MUST_FREE);
    char disposition [160];
    //  The figure is [a-z_] and a listed one, the days are digits: nothing to escape.
    snprintf (disposition, sizeof disposition, "attachment; filename=\"divert-%s-%s-%s.csv\"",
              q.figure, q.from_day, q.to_day);
    MHD_add_response_header (response, "Content-Type", "text/csv; charset=utf-8");
    MHD_add_response_header (response, "Content-Disposition", disposition);
    MHD_add_response_header (response, "Cache-Control", "no-store");
    web_reply_response (req, MHD_HTTP_OK, response);
}
