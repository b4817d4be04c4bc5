/*  enrollment — the operator's changes to an enrollment, the manual
    equivalents of a case-management system's requests (protocol.md,
    "Case-management systems"):

      enrollment set REFERRAL_ID active|in_the_wind   intake completed, gone
                                                      "in the wind", re-engaged
      discharge REFERRAL_ID --reason R                the enrollment exits; its
                                                      slot frees at once
      transfer REFERRAL_ID CM                         to another case manager
                                                      of the program, never
                                                      above the hard cap

    Each goes through divert.enrollment_change / enrollment_transfer
    (sql/006_case_management.sql), the same functions the cms requests use:
    one transition table, one feed event per change with this operator as
    its actor, published by divertd like every other change.
*/
#include "divertctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The exit reasons an operator may give (policy.md §1; divert itself
//  records intake_lapsed, term_ended and withdrawn).
static const char *s_exit_reasons [] = {
    "graduated", "moved", "declined_services", "incarcerated", "deceased", "other", NULL
};

//  Why a referral has no enrollment: its state (declined, waitlisted ...).
static int
s_no_enrollment (dv_db_t *db, const char *uuid, int64_t rid)
{
    char id [32];
    snprintf (id, sizeof id, "%lld", (long long) rid);
    const char *params [] = { id };
    PGresult *result = ctl_exec (db, "SELECT state FROM referral WHERE id = $1::bigint", 1, params);
    if (result)
        ctl_fail ("referral %s has no enrollment (the referral is %s)", uuid,
                  PQntuples (result) ? PQgetvalue (result, 0, 0) : "gone");
    PQclear (result);
    return CTL_FAIL;
}

//  The enrollment of referral rid as {status, program, case_manager,
//  exit_reason, exited_at, caseload, hard_cap}, or NULL (none).
static json_t *
s_enrollment (dv_db_t *db, int64_t rid)
{
    char id [32];
    snprintf (id, sizeof id, "%lld", (long long) rid);
    const char *params [] = { id };
    PGresult *result = ctl_exec (db,
        "SELECT json_build_object('status', e.status, 'program', e.program, 'case_manager', e.case_manager_id,"
        "       'exit_reason', e.exit_reason, 'exited_at', s_rfc3339(e.exited_at),"
        "       'caseload', c.caseload, 'hard_cap', p.hard_cap)"
        "  FROM enrollment e JOIN case_manager c ON c.id = e.case_manager_id"
        "  JOIN program p ON p.name = e.program WHERE e.referral_id = $1::bigint", 1, params);
    json_t *row = result && PQntuples (result) ? json_loads (PQgetvalue (result, 0, 0), 0, NULL) : NULL;
    PQclear (result);
    return row;
}

//  Run enrollment_change or enrollment_transfer for referral rid with this
//  operator as the actor; prints a refusal. Returns the reply or NULL.
static json_t *
s_apply (dv_db_t *db, const char *sql, int64_t rid, const char *a, const char *b)
{
    char id [32];
    snprintf (id, sizeof id, "%lld", (long long) rid);
    const char *params [] = { id, a, b };
    json_t *outcome = ctl_json (db, sql, b ? 3 : 2, params);
    if (!outcome)
        return NULL;
    const char *error = ctl_str (outcome, "error");
    json_t *reply = NULL;
    if (error)
        ctl_fail ("%s", ctl_str (outcome, "message"));
    else
        reply = json_incref (json_object_get (outcome, "reply"));
    json_decref (outcome);
    return reply;
}

static const char *s_change_sql =
    "SELECT divert.enrollment_change(r.source_id, r.referral_id, $2, $3, NULL, 'divertctl:' || session_user)"
    "  FROM referral r WHERE r.id = $1::bigint";
static const char *s_change_sql_no_reason =
    "SELECT divert.enrollment_change(r.source_id, r.referral_id, $2, NULL, NULL, 'divertctl:' || session_user)"
    "  FROM referral r WHERE r.id = $1::bigint";

static const char *s_transfer_sql =
    "SELECT divert.enrollment_transfer(r.source_id, r.referral_id, $2, 'divertctl:' || session_user)"
    "  FROM referral r WHERE r.id = $1::bigint";

//  Find the referral and its enrollment; NULL after printing why not.
static json_t *
s_find (ctl_t *ctl, const char *uuid, const char *source, dv_db_t **db_p, int64_t *rid_p)
{
    dv_db_t *db = *db_p = ctl_db (ctl);
    if (!db)
        return NULL;
    int64_t rid = *rid_p = ctl_find_referral (db, uuid, source, NULL, 0);
    if (rid <= 0)
        return NULL;
    json_t *enrollment = s_enrollment (db, rid);
    if (!enrollment)
        s_no_enrollment (db, uuid, rid);
    return enrollment;
}

int
ctl_enrollment (ctl_t *ctl, int argc, char **argv)
{
    ctl_opt_t opts [] = { { "--source", true, NULL }, { NULL, false, NULL } };
    const char *pos [3];
    int npos;
    if (ctl_parse ("enrollment", argc, argv, 1, opts, pos, 3, &npos))
        return CTL_USAGE;
    if (npos != 3 || strcmp (pos [0], "set"))
        return ctl_usage ("enrollment: use enrollment set REFERRAL_ID active|in_the_wind [--source S]");
    const char *status = pos [2];
    if (strcmp (status, "active") && strcmp (status, "in_the_wind"))
        return ctl_fail ("the status must be active or in_the_wind, not '%s' (use discharge to end an enrollment)",
                         status);
    dv_db_t *db;
    int64_t rid;
    json_t *enrollment = s_find (ctl, pos [1], ctl_opt (opts, "--source"), &db, &rid);
    if (!enrollment)
        return CTL_FAIL;
    //  The change that leads to the status asked for, from where it is now
    const char *was = ctl_str (enrollment, "status");
    const char *change = strcmp (status, "in_the_wind") == 0 ? "in_the_wind"
                       : strcmp (was, "in_the_wind") == 0 ? "re_engaged" : "intake_completed";
    int rc = CTL_FAIL;
    if (strcmp (was, status) == 0) {
        printf ("referral %s: enrollment in %s with %s is already %s\n", pos [1],
                ctl_str (enrollment, "program"), ctl_str (enrollment, "case_manager"), status);
        rc = CTL_OK;
    }
    else {
        json_t *reply = s_apply (db, s_change_sql_no_reason, rid, change, NULL);
        if (reply) {
            printf ("referral %s: enrollment in %s with %s is now %s (was %s; %s, feed seq %d)\n", pos [1],
                    ctl_str (reply, "program"), ctl_str (reply, "case_manager"), ctl_str (reply, "status"),
                    was, change, ctl_int (reply, "seq"));
            rc = CTL_OK;
        }
        json_decref (reply);
    }
    json_decref (enrollment);
    return rc;
}

static bool
s_valid_reason (const char *reason)
{
    for (int i = 0; s_exit_reasons [i]; i++)
        if (strcmp (reason, s_exit_reasons [i]) == 0)
            return true;
    return false;
}

int
ctl_discharge (ctl_t *ctl, int argc, char **argv)
{
    ctl_opt_t opts [] = { { "--source", true, NULL }, { "--reason", true, NULL }, { NULL, false, NULL } };
    const char *pos [1];
    int npos;
    if (ctl_parse ("discharge", argc, argv, 1, opts, pos, 1, &npos))
        return CTL_USAGE;
    const char *reason = ctl_opt (opts, "--reason");
    if (npos != 1 || !reason)
        return ctl_usage ("discharge: use discharge REFERRAL_ID --reason R [--source S]"
                          " (R: graduated, moved, declined_services, incarcerated, deceased or other)");
    if (!s_valid_reason (reason))
        return ctl_fail ("--reason must be graduated, moved, declined_services, incarcerated, deceased or other,"
                         " not '%s'", reason);
    dv_db_t *db;
    int64_t rid;
    json_t *enrollment = s_find (ctl, pos [0], ctl_opt (opts, "--source"), &db, &rid);
    if (!enrollment)
        return CTL_FAIL;
    int rc = CTL_FAIL;
    if (strcmp (ctl_str (enrollment, "status"), "exited") == 0)
        ctl_fail ("the enrollment of referral %s already exited (%s, %s)", pos [0],
                  ctl_str (enrollment, "exit_reason"), ctl_str (enrollment, "exited_at"));
    else {
        json_t *reply = s_apply (db, s_change_sql, rid, "exited", reason);
        json_t *now = reply ? s_enrollment (db, rid) : NULL;
        if (now) {
            printf ("referral %s: the enrollment in %s exited (%s); %s now holds %d/%d\n", pos [0],
                    ctl_str (now, "program"), reason, ctl_str (now, "case_manager"),
                    ctl_int (now, "caseload"), ctl_int (now, "hard_cap"));
            rc = CTL_OK;
        }
        json_decref (now);
        json_decref (reply);
    }
    json_decref (enrollment);
    return rc;
}

int
ctl_transfer (ctl_t *ctl, int argc, char **argv)
{
    ctl_opt_t opts [] = { { "--source", true, NULL }, { NULL, false, NULL } };
    const char *pos [2];
    int npos;
    if (ctl_parse ("transfer", argc, argv, 1, opts, pos, 2, &npos))
        return CTL_USAGE;
    if (npos != 2)
        return ctl_usage ("transfer: use transfer REFERRAL_ID CASE_MANAGER [--source S]");
    dv_db_t *db;
    int64_t rid;
    json_t *enrollment = s_find (ctl, pos [0], ctl_opt (opts, "--source"), &db, &rid);
    if (!enrollment)
        return CTL_FAIL;
    int rc = CTL_FAIL;
    json_t *reply = s_apply (db, s_transfer_sql, rid, pos [1], NULL);
    json_t *now = reply ? s_enrollment (db, rid) : NULL;
    if (now && json_is_true (json_object_get (reply, "replayed"))) {
        printf ("referral %s: the enrollment in %s is already with %s\n", pos [0],
                ctl_str (now, "program"), ctl_str (now, "case_manager"));
        rc = CTL_OK;
    }
    else
    if (now) {
        printf ("referral %s: the enrollment in %s moved from %s to %s, who now holds %d/%d\n", pos [0],
                ctl_str (now, "program"), ctl_str (enrollment, "case_manager"), ctl_str (now, "case_manager"),
                ctl_int (now, "caseload"), ctl_int (now, "hard_cap"));
        rc = CTL_OK;
    }
    json_decref (now);
    json_decref (reply);
    json_decref (enrollment);
    return rc;
}
