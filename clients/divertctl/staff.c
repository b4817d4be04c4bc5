/*  staff — `cm add|deactivate|list` and `outreach add|deactivate|list`.
    Case managers carry a caseload in one program; `cm add` on an inactive
    case manager brings them back (their caseload is what the enrollments
    say: the database derives it). Outreach staff carry no caseload and never
    count toward capacity.
*/
#include "divertctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_STAFF_ID_RULE "1-64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"

static int
s_check_staff_id (const char *id)
{
    if (!ctl_valid_id (id, 64, "._-", false))
        return ctl_fail ("'%s' is not a valid staff id: " S_STAFF_ID_RULE, id);
    return CTL_OK;
}

static int
s_check_name (const char *name)
{
    if (!name || !*name || strlen (name) > 200)
        return ctl_fail ("--name must be 1 to 200 characters");
    return CTL_OK;
}

//  The program's hard cap, or -1 after an error (unknown program included).
static int
s_program_cap (dv_db_t *db, const char *program)
{
    const char *params [] = { program };
    PGresult *result = ctl_exec (db, "SELECT hard_cap FROM program WHERE name = $1", 1, params);
    if (!result)
        return -1;
    int cap = PQntuples (result) ? atoi (PQgetvalue (result, 0, 0)) : -1;
    PQclear (result);
    if (cap < 0)
        ctl_fail ("no program named %s (see divertctl program show)", program);
    return cap;
}


//  --------------------------------------------------------------------------
//  Case managers

static int
s_cm_add (dv_db_t *db, const char *id, ctl_opt_t *opts)
{
    const char *program = ctl_opt (opts, "--program"), *name = ctl_opt (opts, "--name");
    const char *area = ctl_opt (opts, "--area");
    if (!program || !name)
        return ctl_usage ("cm add: --program and --name are required");
    if (s_check_name (name))
        return CTL_FAIL;
    int cap = s_program_cap (db, program);
    if (cap < 0)
        return CTL_FAIL;
    const char *params [] = { id, program, name, area };
    //  Insert, or bring back an inactive case manager; an active one is left alone.
    PGresult *result = ctl_exec (db,
        "INSERT INTO case_manager AS c (id, program, name, area) VALUES ($1, $2, $3, NULLIF($4, ''))"
        " ON CONFLICT (id) DO UPDATE SET active = true, program = EXCLUDED.program, name = EXCLUDED.name,"
        "   area = CASE WHEN $4::text IS NULL THEN c.area ELSE EXCLUDED.area END"
        "   WHERE NOT c.active"
        " RETURNING caseload, (xmax <> 0) AS returned", 4, params);
    if (!result)
        return CTL_FAIL;
    int rc = CTL_OK;
    if (PQntuples (result) == 0)
        rc = ctl_fail ("case manager %s already exists and is active", id);
    else
    if (PQgetvalue (result, 0, 1) [0] == 't')
        printf ("case manager %s is back in %s (caseload %s/%d)\n", id, program, PQgetvalue (result, 0, 0), cap);
    else
        printf ("case manager %s added to %s (caseload 0/%d)\n", id, program, cap);
    PQclear (result);
    return rc;
}

static int
s_cm_deactivate (dv_db_t *db, const char *id)
{
    const char *params [] = { id };
    PGresult *result = ctl_exec (db,
        "UPDATE case_manager c SET active = false FROM case_manager old"
        " WHERE c.id = $1 AND old.id = c.id RETURNING old.active, c.caseload, c.program", 1, params);
    if (!result)
        return CTL_FAIL;
    int rc = CTL_OK;
    if (PQntuples (result) == 0)
        rc = ctl_fail ("no case manager %s", id);
    else
    if (PQgetvalue (result, 0, 0) [0] == 'f')
        printf ("case manager %s was already inactive\n", id);
    else {
        int caseload = atoi (PQgetvalue (result, 0, 1));
        printf ("case manager %s deactivated in %s: no new assignments", id, PQgetvalue (result, 0, 2));
        if (caseload > 0)
            printf ("; the %d people they hold stay assigned to them until discharged", caseload);
        printf ("\n");
    }
    PQclear (result);
    return rc;
}

static int
s_cm_list (dv_db_t *db, const char *program, bool json)
{
    if (program && s_program_cap (db, program) < 0)
        return CTL_FAIL;
    const char *params [] = { program };
    json_t *rows = ctl_json (db,
        "SELECT COALESCE(json_agg(json_build_object('id', c.id, 'program', c.program, 'name', c.name,"
        " 'area', c.area, 'active', c.active, 'caseload', c.caseload, 'hard_cap', p.hard_cap,"
        " 'last_assigned_at', s_rfc3339(c.last_assigned_at)) ORDER BY p.is_default DESC, c.program, c.id), '[]')"
        " FROM case_manager c JOIN program p ON p.name = c.program"
        " WHERE $1::text IS NULL OR c.program = $1", 1, params);
    if (!rows)
        return CTL_FAIL;
    if (json)
        return ctl_print_json (json_pack ("{s:o}", "case_managers", rows));
    if (json_array_size (rows) == 0)
        printf ("(no case managers)\n");
    size_t index;
    json_t *row;
    json_array_foreach (rows, index, row) {
        const char *area = ctl_str (row, "area");
        printf ("%-16s %-10s %-24s %-8s %3d/%d%s%s\n", ctl_str (row, "id"), ctl_str (row, "program"),
                ctl_str (row, "name"), json_is_true (json_object_get (row, "active")) ? "active" : "inactive",
                ctl_int (row, "caseload"), ctl_int (row, "hard_cap"), area ? "  area " : "", area ? area : "");
    }
    json_decref (rows);
    return CTL_OK;
}

int
ctl_cm (ctl_t *ctl, int argc, char **argv)
{
    ctl_opt_t opts [] = {
        { "--program", true, NULL }, { "--name", true, NULL }, { "--area", true, NULL },
        { "--json", false, NULL }, { NULL, false, NULL } };
    const char *pos [2];
    int npos;
    if (ctl_parse ("cm", argc, argv, 1, opts, pos, 2, &npos))
        return CTL_USAGE;
    const char *verb = npos ? pos [0] : "";
    bool list = strcmp (verb, "list") == 0;
    if (list ? npos != 1 : npos != 2 || (strcmp (verb, "add") && strcmp (verb, "deactivate")))
        return ctl_usage ("cm: use cm add ID --program P --name NAME, cm deactivate ID or cm list");
    if (!list && s_check_staff_id (pos [1]))
        return CTL_FAIL;
    dv_db_t *db = ctl_db (ctl);
    if (!db)
        return CTL_FAIL;
    if (list)
        return s_cm_list (db, ctl_opt (opts, "--program"), ctl_opt (opts, "--json") != NULL);
    if (strcmp (verb, "deactivate") == 0)
        return s_cm_deactivate (db, pos [1]);
    return s_cm_add (db, pos [1], opts);
}


//  --------------------------------------------------------------------------
//  Outreach staff

static int
s_outreach_add (dv_db_t *db, const char *id, const char *name)
{
    if (!name)
        return ctl_usage ("outreach add: --name is required");
    if (s_check_name (name))
        return CTL_FAIL;
    const char *params [] = { id, name };
    PGresult *result = ctl_exec (db,
        "INSERT INTO outreach_staff AS o (id, name) VALUES ($1, $2)"
        " ON CONFLICT (id) DO UPDATE SET active = true, name = EXCLUDED.name WHERE NOT o.active"
        " RETURNING (xmax <> 0)", 2, params);
    if (!result)
        return CTL_FAIL;
    int rc = CTL_OK;
    if (PQntuples (result) == 0)
        rc = ctl_fail ("outreach staff %s already exists and is active", id);
    else
        printf ("outreach staff %s %s (no caseload)\n", id,
                PQgetvalue (result, 0, 0) [0] == 't' ? "is back" : "added");
    PQclear (result);
    return rc;
}

static int
s_outreach_deactivate (dv_db_t *db, const char *id)
{
    const char *params [] = { id };
    PGresult *result = ctl_exec (db,
        "UPDATE outreach_staff o SET active = false FROM outreach_staff old"
        " WHERE o.id = $1 AND old.id = o.id RETURNING old.active", 1, params);
    if (!result)
        return CTL_FAIL;
    int rc = CTL_OK;
    if (PQntuples (result) == 0)
        rc = ctl_fail ("no outreach staff %s", id);
    else
        printf ("outreach staff %s %s\n", id,
                PQgetvalue (result, 0, 0) [0] == 't' ? "deactivated" : "was already inactive");
    PQclear (result);
    return rc;
}

static int
s_outreach_list (dv_db_t *db, bool json)
{
    json_t *rows = ctl_json (db,
        "SELECT COALESCE(json_agg(json_build_object('id', id, 'name', name, 'active', active)"
        " ORDER BY id), '[]') FROM outreach_staff", 0, NULL);
    if (!rows)
        return CTL_FAIL;
    if (json)
        return ctl_print_json (json_pack ("{s:o}", "outreach", rows));
    if (json_array_size (rows) == 0)
        printf ("(no outreach staff)\n");
    size_t index;
    json_t *row;
    json_array_foreach (rows, index, row)
        printf ("%-16s %-24s %s\n", ctl_str (row, "id"), ctl_str (row, "name"),
                json_is_true (json_object_get (row, "active")) ? "active" : "inactive");
    json_decref (rows);
    return CTL_OK;
}

int
ctl_outreach (ctl_t *ctl, int argc, char **argv)
{
    ctl_opt_t opts [] = { { "--name", true, NULL }, { "--json", false, NULL }, { NULL, false, NULL } };
    const char *pos [2];
    int npos;
    if (ctl_parse ("outreach", argc, argv, 1, opts, pos, 2, &npos))
        return CTL_USAGE;
    const char *verb = npos ? pos [0] : "";
    bool list = strcmp (verb, "list") == 0;
    if (list ? npos != 1 : npos != 2 || (strcmp (verb, "add") && strcmp (verb, "deactivate")))
        return ctl_usage ("outreach: use outreach add ID --name NAME, outreach deactivate ID or outreach list");
    if (!list && s_check_staff_id (pos [1]))
        return CTL_FAIL;
    dv_db_t *db = ctl_db (ctl);
    if (!db)
        return CTL_FAIL;
    if (list)
        return s_outreach_list (db, ctl_opt (opts, "--json") != NULL);
    if (strcmp (verb, "deactivate") == 0)
        return s_outreach_deactivate (db, pos [1]);
    return s_outreach_add (db, pos [1], ctl_opt (opts, "--name"));
}
