/*  enrollment — `enrollment set REFERRAL_ID active|in_the_wind` (intake
    completed, or the person dropped out of contact: both stay on the
    caseload) and `discharge REFERRAL_ID [--reason R]` (the enrollment exits,
    the database trigger frees the case manager's slot, and divertd's
    waitlist promotion can use it).
*/
#include "divertctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Why a referral has no enrollment: its state (declined, waitlisted ...).
static void
s_no_enrollment (dv_db_t *db, const char *uuid, const char *id)
{
    const char *params [] = { id };
    PGresult *result = ctl_exec (db, "SELECT state FROM referral WHERE id = $1::bigint", 1, params);
    if (result)
        ctl_fail ("referral %s has no enrollment (the referral is %s)", uuid,
                  PQntuples (result) ? PQgetvalue (result, 0, 0) : "gone");
    PQclear (result);
}

//  Lock the referral's enrollment; returns the result row
//  (id, status, program, case_manager_id, exited_at, exit_reason)
//  or NULL after printing why there is no open one.
static PGresult *
s_open_enrollment (dv_db_t *db, const char *uuid, int64_t rid)
{
    char id [32];
    snprintf (id, sizeof id, "%lld", (long long) rid);
    const char *params [] = { id };
    PGresult *result = ctl_exec (db,
        "SELECT id, status, program, case_manager_id, s_rfc3339(exited_at), exit_reason"
        " FROM enrollment WHERE referral_id = $1::bigint FOR UPDATE", 1, params);
    if (!result)
        return NULL;
    if (PQntuples (result) == 0)
        s_no_enrollment (db, uuid, id);
    else
    if (strcmp (PQgetvalue (result, 0, 1), "exited") == 0)
        ctl_fail ("the enrollment of referral %s already exited (%s, %s)", uuid,
                  PQgetvalue (result, 0, 5), PQgetvalue (result, 0, 4));
    else
        return result;
    PQclear (result);
    return NULL;
}

//  Common start: parse, connect, find the referral, BEGIN, lock its enrollment.
static PGresult *
s_begin (ctl_t *ctl, const char *uuid, const char *source, dv_db_t **db_p)
{
    dv_db_t *db = *db_p = ctl_db (ctl);
    if (!db)
        return NULL;
    int64_t rid = ctl_find_referral (db, uuid, source, NULL, 0);
    if (rid <= 0 || ctl_command (db, "BEGIN"))
        return NULL;
    PGresult *row = s_open_enrollment (db, uuid, rid);
    if (!row)
        ctl_rollback (db);
    return row;
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
    PGresult *row = s_begin (ctl, pos [1], ctl_opt (opts, "--source"), &db);
    if (!row)
        return CTL_FAIL;
    const char *params [] = { PQgetvalue (row, 0, 0), status };
    PGresult *result = ctl_exec (db, "UPDATE enrollment SET status = $2 WHERE id = $1::bigint", 2, params);
    int rc = CTL_FAIL;
    if (result && ctl_command (db, "COMMIT") == 0) {
        printf ("referral %s: enrollment in %s with %s is now %s (was %s)\n", pos [1],
                PQgetvalue (row, 0, 2), PQgetvalue (row, 0, 3), status, PQgetvalue (row, 0, 1));
        rc = CTL_OK;
    }
    else
        ctl_rollback (db);
    PQclear (result);
    PQclear (row);
    return rc;
}

static bool
s_valid_reason (const char *reason)
{
    size_t len = strlen (reason);
    if (len == 0 || len > 32 || reason [0] < 'a' || reason [0] > 'z')
        return false;
    return strspn (reason, "abcdefghijklmnopqrstuvwxyz0123456789_") == len;
}

//  Exit the enrollment and the referral; returns the case manager's
//  caseload and hard cap as one row, or NULL.
static PGresult *
s_discharge (dv_db_t *db, const char *enrollment, const char *reason)
{
    const char *params [] = { enrollment, reason };
    PGresult *result = ctl_exec (db,
        "WITH e AS (UPDATE enrollment SET status = 'exited', exited_at = now(), exit_reason = $2"
        "           WHERE id = $1::bigint RETURNING referral_id)"
        " UPDATE referral SET state = 'exited' WHERE id = (SELECT referral_id FROM e)", 2, params);
    if (!result)
        return NULL;
    PQclear (result);
    return ctl_exec (db,
        "SELECT c.id, c.caseload, p.hard_cap FROM enrollment e"
        " JOIN case_manager c ON c.id = e.case_manager_id JOIN program p ON p.name = c.program"
        " WHERE e.id = $1::bigint", 1, params);
}

int
ctl_discharge (ctl_t *ctl, int argc, char **argv)
{
    ctl_opt_t opts [] = { { "--source", true, NULL }, { "--reason", true, NULL }, { NULL, false, NULL } };
    const char *pos [1];
    int npos;
    if (ctl_parse ("discharge", argc, argv, 1, opts, pos, 1, &npos))
        return CTL_USAGE;
    if (npos != 1)
        return ctl_usage ("discharge: use discharge REFERRAL_ID [--reason R] [--source S]");
    const char *reason = ctl_opt (opts, "--reason") ? ctl_opt (opts, "--reason") : "discharged";
    if (!s_valid_reason (reason))
        return ctl_fail ("--reason must be a short code (lowercase letters, digits, '_'), like graduated or moved");
    dv_db_t *db;
    PGresult *row = s_begin (ctl, pos [0], ctl_opt (opts, "--source"), &db);
    if (!row)
        return CTL_FAIL;
    PGresult *cm = s_discharge (db, PQgetvalue (row, 0, 0), reason);
    int rc = CTL_FAIL;
    if (cm && ctl_command (db, "COMMIT") == 0) {
        printf ("referral %s: the enrollment in %s exited (%s); %s now holds %s/%s\n", pos [0],
                PQgetvalue (row, 0, 2), reason, PQgetvalue (cm, 0, 0), PQgetvalue (cm, 0, 1),
                PQgetvalue (cm, 0, 2));
        rc = CTL_OK;
    }
    else
        ctl_rollback (db);
    PQclear (cm);
    PQclear (row);
    return rc;
}
