/*  dv_db — one PostgreSQL connection (libpq) as divertd and divertctl use it:
    conninfo or libpq's PG* environment, short connect timeout, TCP
    keepalives, a statement timeout, and helpers that return NULL with a clear
    error instead of a half-checked PGresult. dv_db_connected() turns false
    when the server goes away, so the caller can reconnect with backoff.
*/
#ifndef DV_DB_H
#define DV_DB_H

#include <stdbool.h>
#include <stdint.h>
#include <libpq-fe.h>
#include <jansson.h>

//  The schema version this build knows: the number of sql/NNN_*.sql files.
#define DV_SCHEMA_VERSION 16

typedef struct _dv_db_t dv_db_t;

//  conninfo may be NULL or "" (then libpq's PG* environment variables apply).
dv_db_t *
    dv_db_new (const char *conninfo, const char *application_name);
void
    dv_db_destroy (dv_db_t **self_p);

//  Connect (or reconnect). Returns 0 or -1 with dv_db_error().
int
    dv_db_connect (dv_db_t *self);
void
    dv_db_disconnect (dv_db_t *self);
bool
    dv_db_connected (dv_db_t *self);
PGconn *
    dv_db_conn (dv_db_t *self);

//  The last error: a failed statement's primary message only (no DETAIL or
//  CONTEXT, which can quote a row's personal data; no localized severity),
//  or libpq's message when the connection failed.
const char *
    dv_db_error (dv_db_t *self);
//  From now on, statements with parameters are prepared once per connection
//  (a named statement: the server parses and plans them once) and run
//  prepared after that. For a connection that runs the same statements
//  again and again (divertd's store); off by default.
void
    dv_db_prepare_statements (dv_db_t *self, bool prepare);

//  The SQLSTATE of the last failed statement, or "" (e.g. "23514" check_violation).
const char *
    dv_db_sqlstate (dv_db_t *self);

//  Run one statement with text parameters. Returns the result (caller
//  PQclear()s it) when it succeeded, else NULL with dv_db_error(). A failure
//  that means the connection is gone (no SQLSTATE, class 08, 57P) also
//  disconnects, so dv_db_connected() turns false and the caller reconnects.
PGresult *
    dv_db_exec (dv_db_t *self, const char *sql, int nparams, const char *const *params);

//  One statement of a pipeline.
typedef struct {
    const char *sql;
    int nparams;
    const char *const *params;
} dv_db_stmt_t;

//  Run statements in one round trip (libpq's pipeline mode): all are sent,
//  then every result read. results [i] gets statement i's result when it
//  succeeded (caller PQclear()s it), else NULL. Returns 0 when all
//  succeeded, else -1 with dv_db_error() / dv_db_sqlstate() of the first
//  failure (the ones after it in the same transaction are aborted). A
//  connection-class failure disconnects, as dv_db_exec does.
int
    dv_db_pipeline (dv_db_t *self, size_t count, const dv_db_stmt_t *statements, PGresult **results);

//  Run a statement that returns no rows; 0 or -1.
int
    dv_db_command (dv_db_t *self, const char *sql);

//  Run a statement that returns one value of type json/jsonb and parse it.
//  Returns the JSON (caller decrefs) or NULL with dv_db_error().
json_t *
    dv_db_json (dv_db_t *self, const char *sql, int nparams, const char *const *params);

//  A result's value as an integer; NULL is 0.
int64_t
    dv_db_int64 (const PGresult *result, int row, int column);

//  The schema version recorded by divertctl migrate: 0 when divert is not
//  installed in this database, -1 on error.
int
    dv_db_schema_version (dv_db_t *self);

#endif
