/*  db — divertctl's database access on top of dv_db: connect once with the
    same conninfo rules as divertd, check the schema version, turn libpq's
    multi-line messages into one clear line, and find a referral by the
    UUID its source chose (stored in lower case, found in any case: a UUID
    pasted from an e-mail may be upper case).
*/
#include "divertctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
s_check_schema (dv_db_t *db)
{
    int version = dv_db_schema_version (db);
    if (version < 0)
        return ctl_db_fail (db);
    if (version == 0)
        return ctl_fail ("divert is not installed in this database: run 'divertctl migrate' first");
    if (version < DV_SCHEMA_VERSION)
        return ctl_fail ("the database schema is version %d, this divertctl needs %d: run 'divertctl migrate'",
                         version, DV_SCHEMA_VERSION);
    if (version > DV_SCHEMA_VERSION)
        return ctl_fail ("the database schema is version %d, newer than this divertctl (%d): upgrade divertctl",
                         version, DV_SCHEMA_VERSION);
    return CTL_OK;
}

dv_db_t *
ctl_db_raw (ctl_t *ctl)
{
    if (ctl->db)
        return ctl->db;
    dv_db_t *db = dv_db_new (ctl->conninfo, "divertctl");
    if (!db) {
        ctl_fail ("out of memory");
        return NULL;
    }
    if (dv_db_connect (db)) {
        ctl_fail ("cannot connect to the database: %s", ctl_db_message (db));
        dv_db_destroy (&db);
        return NULL;
    }
    //  Notices ("already exists, skipping") are noise for an operator.
    dv_db_command (db, "SET client_min_messages = warning");
    ctl->db = db;
    return db;
}

dv_db_t *
ctl_db (ctl_t *ctl)
{
    bool fresh = ctl->db == NULL;
    dv_db_t *db = ctl_db_raw (ctl);
    if (db && fresh && s_check_schema (db) != CTL_OK) {
        dv_db_destroy (&ctl->db);
        return NULL;
    }
    return db;
}

const char *
ctl_db_message (dv_db_t *db)
{
    //  dv_db_error is the primary message of a failed statement (no
    //  localized "ERROR:", no DETAIL), or libpq's text when the connection
    //  failed: one line, without our own "divert: " prefix.
    static char line [512];
    const char *text = dv_db_error (db);
    if (strncmp (text, "divert: ", 8) == 0)
        text += 8;
    size_t len = 0;
    bool space = false;
    for (const char *c = text; *c && len < sizeof line - 1; c++) {
        bool blank = *c == '\n' || *c == '\t' || *c == ' ';
        if (blank && space)
            continue;
        line [len++] = blank ? ' ' : *c;
        space = blank;
    }
    while (len > 0 && line [len - 1] == ' ')
        len--;
    line [len] = 0;
    return line;
}

int
ctl_db_fail (dv_db_t *db)
{
    return ctl_fail ("%s", ctl_db_message (db));
}

PGresult *
ctl_exec (dv_db_t *db, const char *sql, int nparams, const char *const *params)
{
    PGresult *result = dv_db_exec (db, sql, nparams, params);
    if (!result)
        ctl_db_fail (db);
    return result;
}

json_t *
ctl_json (dv_db_t *db, const char *sql, int nparams, const char *const *params)
{
    json_t *json = dv_db_json (db, sql, nparams, params);
    if (!json)
        ctl_db_fail (db);
    return json;
}

int
ctl_command (dv_db_t *db, const char *sql)
{
    if (dv_db_command (db, sql)) {
        ctl_db_fail (db);
        return -1;
    }
    return 0;
}

void
ctl_rollback (dv_db_t *db)
{
    if (dv_db_connected (db))
        dv_db_command (db, "ROLLBACK");
}

static int64_t
s_referral_not_found (const char *uuid, const char *source)
{
    if (source)
        ctl_fail ("no referral %s from source %s", uuid, source);
    else
        ctl_fail ("no referral %s", uuid);
    return 0;
}

int64_t
ctl_find_referral (dv_db_t *db, const char *uuid, const char *source,
                   char *source_out, size_t source_size)
{
    const char *params [] = { uuid, source };
    PGresult *result = ctl_exec (db,
        "SELECT id, source_id FROM divert.referral"
        " WHERE referral_id = lower($1) AND ($2::text IS NULL OR source_id = $2) ORDER BY source_id",
        2, params);
    if (!result)
        return 0;
    int rows = PQntuples (result);
    int64_t id = 0;
    if (rows == 0)
        s_referral_not_found (uuid, source);
    else
    if (rows > 1) {
        char sources [256] = "";
        for (int row = 0; row < rows && strlen (sources) < 200; row++)
            snprintf (sources + strlen (sources), sizeof sources - strlen (sources), "%s%s",
                      row ? ", " : "", PQgetvalue (result, row, 1));
        ctl_fail ("referral %s was sent by %d sources (%s): say which with --source", uuid, rows, sources);
    }
    else {
        id = strtoll (PQgetvalue (result, 0, 0), NULL, 10);
        if (source_out)
            snprintf (source_out, source_size, "%s", PQgetvalue (result, 0, 1));
    }
    PQclear (result);
    return id;
}
