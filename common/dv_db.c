/*  dv_db — one PostgreSQL connection with clear errors. See dv_db.h. */
#include "dv_db.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PREPARED_MAX 64        //  named statements kept per connection

struct _dv_db_t {
    char *conninfo;
    char *application_name;
    PGconn *conn;
    char error [512];
    char sqlstate [6];
    bool prepare;                   //  dv_db_prepare_statements
    char *prepared [S_PREPARED_MAX];    //  SQL of statement "dv<i>" on this connection
    size_t prepared_count;
};

static void
s_set_error (dv_db_t *self, const char *message)
{
    snprintf (self->error, sizeof self->error, "%s", message ? message : "unknown error");
    size_t len = strlen (self->error);
    while (len > 0 && (self->error [len - 1] == '\n' || self->error [len - 1] == ' '))
        self->error [--len] = 0;
}

dv_db_t *
dv_db_new (const char *conninfo, const char *application_name)
{
    dv_db_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->conninfo = strdup (conninfo ? conninfo : "");
    self->application_name = strdup (application_name ? application_name : "divert");
    return self;
}

void
dv_db_destroy (dv_db_t **self_p)
{
    if (self_p && *self_p) {
        dv_db_t *self = *self_p;
        dv_db_disconnect (self);
        free (self->conninfo);
        free (self->application_name);
        free (self);
        *self_p = NULL;
    }
}

int
dv_db_connect (dv_db_t *self)
{
    dv_db_disconnect (self);
    //  Defaults first: libpq lets later keywords (the expanded conninfo) override them.
    const char *keys [] = { "connect_timeout", "keepalives_idle", "keepalives_interval",
                            "keepalives_count", "application_name", "dbname", NULL };
    const char *values [] = { "5", "10", "5", "3", self->application_name,
                              *self->conninfo ? self->conninfo : NULL, NULL };
    if (!*self->conninfo)
        keys [5] = NULL;
    self->conn = PQconnectdbParams (keys, values, 1);
    if (!self->conn || PQstatus (self->conn) != CONNECTION_OK) {
        s_set_error (self, self->conn ? PQerrorMessage (self->conn) : "out of memory");
        dv_db_disconnect (self);
        return -1;
    }
    //  Bound how long any statement may hold a lock (a stuck statement must
    //  not hold every program's row lock forever).
    //  Short OLTP statements: JIT compilation only adds latency.
    if (dv_db_command (self, "SET statement_timeout = '15s'")
    ||  dv_db_command (self, "SET jit = off")
    ||  dv_db_command (self, "SET search_path = divert, pg_catalog")) {
        dv_db_disconnect (self);
        return -1;
    }
    return 0;
}

void
dv_db_disconnect (dv_db_t *self)
{
    if (self->conn) {
        PQfinish (self->conn);
        self->conn = NULL;
    }
    //  Named statements belong to the connection
    for (size_t i = 0; i < self->prepared_count; i++)
        free (self->prepared [i]);
    self->prepared_count = 0;
}

void
dv_db_prepare_statements (dv_db_t *self, bool prepare)
{
    self->prepare = prepare;
}

//  The name of sql's prepared statement on this connection, preparing it the
//  first time; NULL to run it unnamed (not preparing, no parameters, the
//  cache full, or the server refused to prepare it: then the unnamed run
//  says why).
static const char *
s_prepared (dv_db_t *self, const char *sql, int nparams, char *name, size_t size)
{
    if (!self->prepare || nparams == 0)
        return NULL;
    size_t i = 0;
    while (i < self->prepared_count && strcmp (self->prepared [i], sql) != 0)
        i++;
    snprintf (name, size, "dv%zu", i);
    if (i < self->prepared_count)
        return name;
    if (i == S_PREPARED_MAX)
        return NULL;
    PGresult *result = PQprepare (self->conn, name, sql, nparams, NULL);
    bool prepared = result && PQresultStatus (result) == PGRES_COMMAND_OK;
    PQclear (result);
    if (!prepared)
        return NULL;
    self->prepared [self->prepared_count++] = strdup (sql);
    return name;
}

bool
dv_db_connected (dv_db_t *self)
{
    return self->conn && PQstatus (self->conn) == CONNECTION_OK;
}

PGconn *
dv_db_conn (dv_db_t *self)
{
    return self->conn;
}

const char *
dv_db_error (dv_db_t *self)
{
    return self->error;
}

const char *
dv_db_sqlstate (dv_db_t *self)
{
    return self->sqlstate;
}

//  A statement's error as the fields say it, never libpq's formatted text:
//  that text starts with a severity word in the server's language
//  (lc_messages) and carries DETAIL and CONTEXT lines, and a DETAIL can hold
//  the failing row's values ("Failing row contains (...)": names, dates of
//  birth). Only the primary message is kept, and for a data exception
//  (class 22, e.g. "invalid input syntax for type date: \"...\"") not even
//  that, since it quotes the value: its SQLSTATE says what went wrong.
static void
s_set_result_error (dv_db_t *self, const PGresult *result)
{
    const char *state = PQresultErrorField (result, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField (result, PG_DIAG_MESSAGE_PRIMARY);
    snprintf (self->sqlstate, sizeof self->sqlstate, "%s", state ? state : "");
    if (strncmp (self->sqlstate, "22", 2) == 0) {
        char message [80];
        snprintf (message, sizeof message, "the database refused a value (SQLSTATE %s)", self->sqlstate);
        s_set_error (self, message);
    }
    else
        s_set_error (self, primary ? primary : PQresStatus (PQresultStatus (result)));
}

//  After a failure: is the connection gone? (no SQLSTATE, class 08, 57P)
static void
s_check_connection (dv_db_t *self)
{
    if (PQstatus (self->conn) != CONNECTION_OK || self->sqlstate [0] == 0
    ||  strncmp (self->sqlstate, "08", 2) == 0 || strncmp (self->sqlstate, "57P", 3) == 0)
        dv_db_disconnect (self);
}

PGresult *
dv_db_exec (dv_db_t *self, const char *sql, int nparams, const char *const *params)
{
    self->sqlstate [0] = 0;
    if (!self->conn) {
        s_set_error (self, "not connected to the database");
        return NULL;
    }
    char name [16];
    PGresult *result = s_prepared (self, sql, nparams, name, sizeof name)
                     ? PQexecPrepared (self->conn, name, nparams, params, NULL, NULL, 0)
                     : PQexecParams (self->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType status = result ? PQresultStatus (result) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
        return result;
    if (result && PQresultErrorField (result, PG_DIAG_SQLSTATE)) {
        s_set_result_error (self, result);
        PQclear (result);
    }
    else {
        //  No result from the server (the connection failed): libpq's own words
        PQclear (result);
        s_set_error (self, PQerrorMessage (self->conn));
    }
    //  A connection that failed this way is gone, even when libpq still calls
    //  it OK: no SQLSTATE (the server closed it), class 08 (connection
    //  exception) or 57P (the server is shutting down or restarting).
    s_check_connection (self);
    return NULL;
}

int
dv_db_pipeline (dv_db_t *self, size_t count, const dv_db_stmt_t *statements, PGresult **results)
{
    self->sqlstate [0] = 0;
    for (size_t i = 0; i < count; i++)
        results [i] = NULL;
    if (!self->conn) {
        s_set_error (self, "not connected to the database");
        return -1;
    }
    //  Prepared before the pipeline starts (once per connection)
    char names [count][16];
    for (size_t i = 0; i < count; i++)
        if (!s_prepared (self, statements [i].sql, statements [i].nparams, names [i], sizeof names [i]))
            names [i][0] = 0;
    bool sent = PQenterPipelineMode (self->conn) == 1;
    for (size_t i = 0; sent && i < count; i++)
        sent = (names [i][0] ? PQsendQueryPrepared (self->conn, names [i], statements [i].nparams,
                                                    statements [i].params, NULL, NULL, 0)
                             : PQsendQueryParams (self->conn, statements [i].sql, statements [i].nparams, NULL,
                                                  statements [i].params, NULL, NULL, 0)) == 1;
    if (!sent || PQpipelineSync (self->conn) != 1) {
        s_set_error (self, PQerrorMessage (self->conn));
        dv_db_disconnect (self);
        return -1;
    }
    bool failed = false, lost = false;
    for (size_t i = 0; i < count && !lost; i++) {
        PGresult *result = PQgetResult (self->conn);
        if (!result) {
            lost = true;
            break;
        }
        ExecStatusType status = PQresultStatus (result);
        if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
            results [i] = result;
        else {
            if (!failed) {
                if (PQresultErrorField (result, PG_DIAG_SQLSTATE))
                    s_set_result_error (self, result);
                else
                    s_set_error (self, status == PGRES_PIPELINE_ABORTED ? "aborted" : PQerrorMessage (self->conn));
            }
            failed = true;
            PQclear (result);
        }
        //  The end of this statement's results
        while ((result = PQgetResult (self->conn)))
            PQclear (result);
    }
    //  The sync point, then back to normal mode
    PGresult *sync = lost ? NULL : PQgetResult (self->conn);
    if (!sync || PQresultStatus (sync) != PGRES_PIPELINE_SYNC)
        lost = true;
    PQclear (sync);
    if (lost || PQexitPipelineMode (self->conn) != 1) {
        if (!failed)
            s_set_error (self, PQerrorMessage (self->conn));
        for (size_t i = 0; i < count; i++) {
            PQclear (results [i]);
            results [i] = NULL;
        }
        dv_db_disconnect (self);
        return -1;
    }
    if (failed) {
        s_check_connection (self);
        return -1;
    }
    return 0;
}

int
dv_db_command (dv_db_t *self, const char *sql)
{
    PGresult *result = dv_db_exec (self, sql, 0, NULL);
    if (!result)
        return -1;
    PQclear (result);
    return 0;
}

int64_t
dv_db_int64 (const PGresult *result, int row, int column)
{
    return PQgetisnull (result, row, column) ? 0 : strtoll (PQgetvalue (result, row, column), NULL, 10);
}

json_t *
dv_db_json (dv_db_t *self, const char *sql, int nparams, const char *const *params)
{
    PGresult *result = dv_db_exec (self, sql, nparams, params);
    if (!result)
        return NULL;
    json_t *json = NULL;
    if (PQntuples (result) == 1 && PQnfields (result) == 1 && !PQgetisnull (result, 0, 0)) {
        json_error_t error;
        json = json_loads (PQgetvalue (result, 0, 0), JSON_DECODE_ANY, &error);
        if (!json)
            s_set_error (self, "the database returned malformed JSON");
    }
    else
        s_set_error (self, "the database returned no value");
    PQclear (result);
    return json;
}

int
dv_db_schema_version (dv_db_t *self)
{
    PGresult *result = dv_db_exec (self,
        "SELECT to_regclass('divert.schema_migration') IS NOT NULL", 0, NULL);
    if (!result)
        return -1;
    bool installed = PQgetvalue (result, 0, 0) [0] == 't';
    PQclear (result);
    if (!installed)
        return 0;
    result = dv_db_exec (self, "SELECT COALESCE(max(version), 0) FROM divert.schema_migration", 0, NULL);
    if (!result)
        return -1;
    int version = atoi (PQgetvalue (result, 0, 0));
    PQclear (result);
    return version;
}
