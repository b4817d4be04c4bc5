/*  program — the program manager's dashboard: per program, each case
    manager's caseload against the hard cap and the pacing line, free slots
    and reserves, the staffing gap, the waitlist in order (waitlist.c) with ages and wait
    bands; today's decisions; `explain` for any referral. No personal data:
    it reads only the views of sql/010_web.sql, and computes capacity with
    the same functions as divertd and divertctl (dv_policy, dv_program).
*/
#include "web.h"
#include "dv_policy.h"
#include "dv_program.h"

#include <czmq.h>
#include <math.h>

//  One snapshot (one statement) of everything the dashboard shows.
static const char *s_dashboard_sql =
    "SELECT json_build_object("
    " 'programs', (SELECT COALESCE(json_agg(to_json(p) ORDER BY p.is_default DESC, p.name), '[]') FROM divert.web_programs p),"
    " 'case_managers', (SELECT COALESCE(json_agg(json_build_object('id', c.id, 'program', c.program, 'name', c.name,"
    "      'active', c.active, 'caseload', c.caseload, 'pending_intake', c.pending_intake, 'active_count', c.active_count,"
    "      'in_the_wind', c.in_the_wind) ORDER BY c.id), '[]')"
    "      FROM divert.web_case_managers c WHERE c.active OR c.caseload > 0),"
    " 'waitlist', " WEB_WAITLIST_SQL ", 'now_us', " WEB_NOW_US_SQL ","
    " 'exits', (SELECT json_object_agg(x.program, x.exits_90d) FROM divert.web_program_exits x),"
    " 'today', (SELECT json_build_object('accept', count(*) FILTER (WHERE d.decision = 'accept'),"
    "      'waitlist', count(*) FILTER (WHERE d.decision = 'waitlist'),"
    "      'decline', count(*) FILTER (WHERE d.decision = 'decline'), 'all', count(*))"
    "      FROM divert.web_decisions d WHERE d.at >= date_trunc('day', now())),"
    " 'at', divert.s_rfc3339(now()))";

static json_t *
s_program (json_t *row, json_t *all_cms, json_t *all_waiting, json_t *exits)
{
    dv_program_t policy;
    dv_program_load (&policy, row);
    json_t *cms = json_array ();
    dv_cm_t list [512];
    size_t n = 0, index;
    json_t *cm;
    json_t *enrollments = json_pack ("{s:i, s:i, s:i}", "pending_intake", 0, "active", 0, "in_the_wind", 0);
    json_array_foreach (all_cms, index, cm) {
        if (!streq (json_string_value (json_object_get (cm, "program")), policy.name))
            continue;
        json_array_append (cms, cm);
        const char *counts [][2] = { { "pending_intake", "pending_intake" }, { "active", "active_count" },
                                     { "in_the_wind", "in_the_wind" } };
        for (int i = 0; i < 3; i++)
            json_object_set_new (enrollments, counts [i][0], json_integer (
                json_integer_value (json_object_get (enrollments, counts [i][0]))
                + json_integer_value (json_object_get (cm, counts [i][1]))));
        if (json_is_true (json_object_get (cm, "active")) && n < sizeof list / sizeof list [0]) {
            list [n].id = json_string_value (json_object_get (cm, "id"));
            list [n].caseload = (int) json_integer_value (json_object_get (cm, "caseload"));
            list [n++].last_assigned = 0;
        }
    }
    double per_day = (double) json_integer_value (json_object_get (exits, policy.name)) / 90.0;
    json_t *waiting = json_array ();
    json_t *entry;
    json_array_foreach (all_waiting, index, entry) {
        if (!streq (json_string_value (json_object_get (entry, "program")), policy.name))
            continue;
        json_t *copy = json_deep_copy (entry);
        json_object_set_new (copy, "band", json_string (dv_policy_wait_band (
            (int) json_integer_value (json_object_get (entry, "position")), per_day)));
        json_array_append_new (waiting, copy);
    }
    int waitlisted = (int) json_array_size (waiting);
    dv_capacity_t c = dv_policy_capacity (&policy, list, n, waitlisted);
    json_t *out = json_pack ("{s:s, s:O, s:i, s:i, s:f, s:O, s:i, s:i, s:i}",
        "name", policy.name, "model", json_object_get (row, "model"), "hard_cap", policy.hard_cap,
        "target_avg", policy.target_avg, "pacing_margin", policy.pacing_margin,
        "funded", json_object_get (row, "funded"), "reserve_tier1", policy.reserve_tier1,
        "reserve_tier2", policy.reserve_tier2, "waitlist_cap", policy.waitlist_cap);
    json_object_set_new (out, "pacing_line", json_real (round (policy.target_avg * (1.0 - policy.pacing_margin) * 10.0) / 10.0));
    json_object_set_new (out, "n", json_integer (c.n));
    json_object_set_new (out, "total", json_integer (c.total));
    json_object_set_new (out, "average", json_real (c.n ? round (100.0 * c.total / c.n) / 100.0 : 0.0));
    json_object_set_new (out, "paced", json_integer (c.paced));
    json_object_set_new (out, "free", json_integer (c.free));
    json_object_set_new (out, "open_slots", json_integer (c.open_slots));
    json_object_set_new (out, "max_load", json_integer (c.max_load));
    json_object_set_new (out, "staffing_gap", json_integer (dv_policy_staffing_gap (&policy, c.total, waitlisted, (int) n)));
    json_object_set_new (out, "exits_90d", json_integer ((json_int_t) (per_day * 90.0 + 0.5)));
    json_object_set_new (out, "enrollments", enrollments);
    json_object_set_new (out, "case_managers", cms);
    json_object_set_new (out, "waitlist", waiting);
    json_object_set_new (out, "policy_version", json_integer (policy.version));
    return out;
}

void
web_program_dashboard (web_request_t *req)
{
    json_t *data = web_pool_json (req->web->pool, s_dashboard_sql, 0, NULL);
    if (!json_is_object (data)) {
        json_decref (data);
        web_reply_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "the dashboard is unavailable; try again shortly");
        return;
    }
    json_t *waitlist = web_waitlist_order (json_object_get (data, "programs"), json_object_get (data, "waitlist"),
                                           json_integer_value (json_object_get (data, "now_us")));
    json_t *programs = json_array ();
    size_t index;
    json_t *row;
    json_array_foreach (json_object_get (data, "programs"), index, row)
        json_array_append_new (programs, s_program (row, json_object_get (data, "case_managers"),
                                                    waitlist, json_object_get (data, "exits")));
    json_decref (waitlist);
    web_reply_json (req, MHD_HTTP_OK, json_pack ("{s:o, s:O, s:O}", "programs", programs,
                                                 "today", json_object_get (data, "today"),
                                                 "at", json_object_get (data, "at")));
    json_decref (data);
}

static void
s_add_words (json_t *events)
{
    size_t index;
    json_t *event;
    json_array_foreach (events, index, event)
        json_object_set_new (event, "reason_words", json_string (web_words_reason (
            json_string_value (json_object_get (event, "reason")))));
}

void
web_program_decisions (web_request_t *req)
{
    json_t *decisions = web_pool_json (req->web->pool,
        "SELECT COALESCE(json_agg(json_build_object('at', divert.s_rfc3339(d.at), 'source_id', d.source_id,"
        " 'source_name', d.source_name, 'referral_id', d.referral_id, 'seq', d.seq, 'decision', d.decision,"
        " 'reason', d.reason, 'program', d.program, 'case_manager', d.case_manager_name, 'tier', d.tier,"
        " 'score', d.score, 'from_waitlist', d.from_waitlist, 'pathway', d.pathway) ORDER BY d.id DESC), '[]')"
        " FROM (SELECT * FROM divert.web_decisions WHERE at >= date_trunc('day', now()) ORDER BY id DESC LIMIT 200) d",
        0, NULL);
    if (!json_is_array (decisions)) {
        json_decref (decisions);
        web_reply_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "the decisions are unavailable; try again shortly");
        return;
    }
    s_add_words (decisions);
    web_reply_json (req, MHD_HTTP_OK, json_pack ("{s:o}", "decisions", decisions));
}

void
web_program_explain (web_request_t *req)
{
    const char *source = web_arg (req, "source");
    const char *id = web_arg (req, "id");
    if (!web_is_source_id (source) || !web_is_uuid (id)) {
        web_reply_errors (req, MHD_HTTP_UNPROCESSABLE_CONTENT, "which referral?",
            json_pack ("[{s:s, s:s}]", "field", web_is_source_id (source) ? "id" : "source",
                       "problem", web_is_source_id (source) ? "a referral_id (UUID)" : "a source id"));
        return;
    }
    const char *params [] = { source, id };
    json_t *explain = web_pool_json (req->web->pool,
        "SELECT json_build_object('referral', (SELECT json_build_object('source_id', r.source_id,"
        "   'referral_id', r.referral_id, 'pathway', r.pathway, 'tier', r.tier, 'program', r.program,"
        "   'state', r.state, 'received_at', divert.s_rfc3339(r.received_at), 'enrollment_status', r.enrollment_status,"
        "   'case_manager', r.case_manager_id, 'exit_reason', r.exit_reason, 'waitlist_state', r.waitlist_state)"
        "   FROM divert.web_referrals r WHERE r.source_id = $1 AND r.referral_id = lower($2)),"
        " 'events', (SELECT COALESCE(json_agg(json_build_object('seq', d.seq, 'at', divert.s_rfc3339(d.at),"
        "   'decision', d.decision, 'reason', d.reason, 'program', d.program, 'case_manager', d.case_manager_name,"
        "   'tier', d.tier, 'score', d.score, 'components', d.components, 'capacity', d.capacity,"
        "   'from_waitlist', d.from_waitlist, 'policy_version', d.policy_version) ORDER BY d.id), '[]')"
        "   FROM divert.web_decisions d WHERE d.source_id = $1 AND d.referral_id = lower($2)))", 2, params);
    if (!json_is_object (explain)) {
        json_decref (explain);
        web_reply_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "the database is unavailable; try again shortly");
        return;
    }
    if (!json_is_object (json_object_get (explain, "referral"))) {
        json_decref (explain);
        web_reply_error (req, MHD_HTTP_NOT_FOUND, "no such referral");
        return;
    }
    s_add_words (json_object_get (explain, "events"));
    web_reply_json (req, MHD_HTTP_OK, explain);
}
