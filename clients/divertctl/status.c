/*  status — `divertctl status [--json]`: per program, the case managers and
    their caseloads (bars for people), the average against the target, the
    paced and free slots and reserves (dv_policy_capacity, exactly as divertd
    computes them), the waitlist, the staffing gap (dv_policy_staffing_gap),
    and how many divertd processes are connected to this database (each
    daemon holds a "divertd" connection plus a "divertd-zap" one for key
    checks: daemons counts the former, daemon_connections both).
    Everything is read in one REPEATABLE READ snapshot.
*/
#include "divertctl.h"
#include "dv_program.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_BAR_MAX 40

static const char *s_live_sql =
    "SELECT json_build_object("
    " 'programs', COALESCE((SELECT json_object_agg(p.name, json_build_object("
    "   'cms', COALESCE((SELECT json_agg(json_build_object('id', c.id, 'name', c.name, 'area', c.area,"
    "            'caseload', c.caseload, 'active', c.active) ORDER BY c.id)"
    "          FROM case_manager c WHERE c.program = p.name AND (c.active OR c.caseload > 0)), '[]'),"
    "   'waitlist', (SELECT count(*) FROM waitlist_entry w WHERE w.program = p.name AND w.state = 'open'),"
    "   'waitlist_next_expiry', (SELECT s_rfc3339(min(waitlist_expires_at(w))) FROM waitlist_entry w"
    "          WHERE w.program = p.name AND w.state = 'open'),"
    "   'waitlist_next_expiry_seconds', (SELECT extract(epoch FROM min(waitlist_expires_at(w)) - now())::bigint"
    "          FROM waitlist_entry w WHERE w.program = p.name AND w.state = 'open'),"
    "   'enrollments', (SELECT json_build_object("
    "            'pending_intake', count(*) FILTER (WHERE status = 'pending_intake'),"
    "            'active', count(*) FILTER (WHERE status = 'active'),"
    "            'in_the_wind', count(*) FILTER (WHERE status = 'in_the_wind'))"
    "          FROM enrollment e WHERE e.program = p.name AND e.status <> 'exited')))"
    "   FROM program p), '{}'),"
    " 'outreach_staff', (SELECT count(*) FROM outreach_staff WHERE active),"
    " 'daemons', (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    "             AND application_name LIKE 'divertd%' AND application_name NOT LIKE 'divertd-zap%'),"
    " 'daemon_connections', (SELECT count(*) FROM pg_stat_activity"
    "             WHERE datname = current_database() AND application_name LIKE 'divertd%'))";

//  One program's live figures, computed as divertd computes them.
typedef struct {
    dv_program_t policy;
    dv_capacity_t capacity;
    double average;
    int gap;
} s_figures_t;

static void
s_compute (json_t *policy, json_t *live, s_figures_t *f)
{
    dv_program_load (&f->policy, policy);
    json_t *cms = json_object_get (live, "cms");
    dv_cm_t *list = calloc (json_array_size (cms) + 1, sizeof *list);
    size_t n = 0, index;
    json_t *cm;
    json_array_foreach (cms, index, cm)
        if (list && json_is_true (json_object_get (cm, "active"))) {
            list [n].id = ctl_str (cm, "id");
            list [n].caseload = ctl_int (cm, "caseload");
            list [n++].last_assigned = 0;
        }
    int waitlist = ctl_int (live, "waitlist");
    f->capacity = dv_policy_capacity (&f->policy, list, n, waitlist);
    f->average = n ? round (100.0 * f->capacity.total / (double) n) / 100.0 : 0.0;
    f->gap = dv_policy_staffing_gap (&f->policy, f->capacity.total, waitlist, (int) n);
    free (list);
}

static json_t *
s_program_json (json_t *policy, json_t *live, const s_figures_t *f)
{
    json_t *cms = json_array (), *inactive = json_array ();
    size_t index;
    json_t *cm;
    json_array_foreach (json_object_get (live, "cms"), index, cm)
        json_array_append_new (json_is_true (json_object_get (cm, "active")) ? cms : inactive,
            json_pack ("{s:s, s:s, s:i, s:O}", "id", ctl_str (cm, "id"), "name", ctl_str (cm, "name"),
                       "caseload", ctl_int (cm, "caseload"), "area", json_object_get (cm, "area")));
    const dv_capacity_t *c = &f->capacity;
    json_t *out = json_pack ("{s:s, s:i, s:i, s:o, s:i, s:f, s:i, s:i, s:i, s:i, s:i, s:i}",
        "name", ctl_str (policy, "name"), "hard_cap", f->policy.hard_cap, "target_avg", f->policy.target_avg,
        "case_managers", cms, "total", c->total, "average", f->average, "free", c->free,
        "waitlist", c->waitlist, "staffing_gap", f->gap, "n", c->n, "paced", c->paced, "max_load", c->max_load);
    json_object_set_new (out, "open_slots", json_integer (c->open_slots));
    json_object_set (out, "funded", json_object_get (policy, "funded"));
    json_object_set (out, "pacing_margin", json_object_get (policy, "pacing_margin"));
    json_object_set_new (out, "reserve_tier1", json_integer (f->policy.reserve_tier1));
    json_object_set_new (out, "reserve_tier2", json_integer (f->policy.reserve_tier2));
    json_object_set_new (out, "waitlist_cap", json_integer (f->policy.waitlist_cap));
    json_object_set (out, "waitlist_next_expiry", json_object_get (live, "waitlist_next_expiry"));
    json_object_set (out, "enrollments", json_object_get (live, "enrollments"));
    json_object_set_new (out, "inactive_case_managers", inactive);
    json_object_set_new (out, "policy_version", json_integer (f->policy.version));
    return out;
}


//  --------------------------------------------------------------------------
//  For people

static void
s_print_bar (const char *id, const char *name, int caseload, int cap, bool active)
{
    int width = cap < S_BAR_MAX ? cap : S_BAR_MAX;
    int filled = cap > 0 ? (int) lround ((double) caseload * width / cap) : 0;
    if (filled > width)
        filled = width;
    if (caseload > 0 && filled == 0)
        filled = 1;
    printf ("  %-14s %-20.20s ", id, name);
    for (int cell = 0; cell < width; cell++)
        fputs (cell < filled ? "\u2588" : "\u2591", stdout);
    printf ("  %d/%d%s\n", caseload, cap, active ? "" : "  (inactive: no new assignments)");
}

static void
s_print_program (json_t *live, const s_figures_t *f)
{
    const dv_program_t *p = &f->policy;
    const dv_capacity_t *c = &f->capacity;
    json_t *held = json_object_get (live, "enrollments");
    printf ("%s (policy version %d)\n", p->name, p->version);
    size_t index;
    json_t *cm;
    json_array_foreach (json_object_get (live, "cms"), index, cm)
        s_print_bar (ctl_str (cm, "id"), ctl_str (cm, "name"), ctl_int (cm, "caseload"), p->hard_cap,
                     json_is_true (json_object_get (cm, "active")));
    if (c->n == 0)
        printf ("  no active case managers\n");
    printf ("  %d case manager%s holding %d (%d pending intake, %d active, %d in the wind);"
            " average %.1f (target %d, hard cap %d)\n",
            c->n, c->n == 1 ? "" : "s", c->total, ctl_int (held, "pending_intake"), ctl_int (held, "active"),
            ctl_int (held, "in_the_wind"), f->average, p->target_avg, p->hard_cap);
    printf ("  paced %d%s, free %d (reserve %d for arrest diversion, %d more ahead of pretrial)\n",
            c->paced, p->funded >= 0 && c->paced < c->n * p->target_avg ? " (limited by funding)" : "", c->free, p->reserve_tier1, p->reserve_tier2);
    printf ("  waitlist %d (cap %d", c->waitlist, p->waitlist_cap);
    json_t *next = json_object_get (live, "waitlist_next_expiry_seconds");
    if (json_is_integer (next) && json_integer_value (next) > 0) {
        char in [32];
        ctl_format_age (json_integer_value (next), in, sizeof in);
        printf (", next expiry in %s", in);
    }
    else
    if (json_is_integer (next))
        printf (", next expiry now (due)");
    printf ("); ");
    if (f->gap > 0)
        printf ("staffing gap %d: add %d case manager%s to stay under the pacing line\n",
                f->gap, f->gap, f->gap == 1 ? "" : "s");
    else
        printf ("staffing gap 0\n");
}

static int
s_report (json_t *programs, json_t *live, bool json)
{
    json_t *out = json_array ();
    size_t index;
    json_t *policy;
    json_array_foreach (programs, index, policy) {
        json_t *figures = json_object_get (json_object_get (live, "programs"), ctl_str (policy, "name"));
        s_figures_t f;
        s_compute (policy, figures, &f);
        if (json)
            json_array_append_new (out, s_program_json (policy, figures, &f));
        else {
            s_print_program (figures, &f);
            printf ("\n");
        }
    }
    int daemons = ctl_int (live, "daemons");
    if (json)
        return ctl_print_json (json_pack ("{s:o, s:i, s:i, s:i}", "programs", out, "daemons", daemons,
                                          "daemon_connections", ctl_int (live, "daemon_connections"),
                                          "outreach_staff", ctl_int (live, "outreach_staff")));
    json_decref (out);
    printf ("outreach staff: %d active\n", ctl_int (live, "outreach_staff"));
    if (daemons > 0)
        printf ("daemons connected: %d\n", daemons);
    else
        printf ("daemons connected: 0 (no divertd is connected to this database)\n");
    return CTL_OK;
}

int
ctl_status (ctl_t *ctl, int argc, char **argv)
{
    ctl_opt_t opts [] = { { "--json", false, NULL }, { NULL, false, NULL } };
    const char *pos [1];
    int npos;
    if (ctl_parse ("status", argc, argv, 1, opts, pos, 0, &npos))
        return CTL_USAGE;
    dv_db_t *db = ctl_db (ctl);
    if (!db || ctl_command (db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        return CTL_FAIL;
    json_t *programs = ctl_programs_json (db, NULL);
    json_t *live = programs ? ctl_json (db, s_live_sql, 0, NULL) : NULL;
    ctl_rollback (db);
    int rc = programs && live ? s_report (programs, live, opts [0].value != NULL) : CTL_FAIL;
    json_decref (programs);
    json_decref (live);
    return rc;
}
