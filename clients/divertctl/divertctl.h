/*  divertctl — the operator tool's internal interface: the context every
    command gets, the command entry points (one file per concept), and the
    small shared helpers: util.c (option parsing, errors, validation,
    formatting), db.c (database access), policy.c (program policy).

    Conventions: a command returns its exit status: CTL_OK, CTL_FAIL (an error
    was printed as one line on stderr) or CTL_USAGE (a usage error). Every
    SQL statement is static text; user input only ever travels as a
    parameter. Nothing here prints personal data (person names, dates of
    birth, notes, contacts): queries never select those columns.
*/
#ifndef DIVERTCTL_H
#define DIVERTCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "dv_db.h"
#include "dv_policy.h"

#define CTL_OK      0
#define CTL_FAIL    1
#define CTL_USAGE   64

typedef struct {
    const char *conninfo;       //  -d / --conninfo, NULL = libpq environment
    const char *sql_dir;        //  --sql-dir, NULL = default
    dv_db_t *db;                //  connected on first use
} ctl_t;

//  One option of a command. `name` is "--kind"; flags have has_value false.
//  After parsing, `value` is NULL when absent, the text when given ("" for a flag).
typedef struct {
    const char *name;
    bool has_value;
    const char *value;
} ctl_opt_t;

//  --------------------------------------------------------------------------
//  Commands (argv [0] is the command word)

int ctl_migrate (ctl_t *ctl, int argc, char **argv);
int ctl_keygen (ctl_t *ctl, int argc, char **argv);
int ctl_source (ctl_t *ctl, int argc, char **argv);
int ctl_monitor (ctl_t *ctl, int argc, char **argv);
int ctl_cms (ctl_t *ctl, int argc, char **argv);
int ctl_cm (ctl_t *ctl, int argc, char **argv);
int ctl_outreach (ctl_t *ctl, int argc, char **argv);
int ctl_enrollment (ctl_t *ctl, int argc, char **argv);
int ctl_discharge (ctl_t *ctl, int argc, char **argv);
int ctl_transfer (ctl_t *ctl, int argc, char **argv);
int ctl_program (ctl_t *ctl, int argc, char **argv);
int ctl_status (ctl_t *ctl, int argc, char **argv);
int ctl_waitlist (ctl_t *ctl, int argc, char **argv);
int ctl_explain (ctl_t *ctl, int argc, char **argv);
int ctl_site (ctl_t *ctl, int argc, char **argv);
int ctl_purge (ctl_t *ctl, int argc, char **argv);
int ctl_audit (ctl_t *ctl, int argc, char **argv);
int ctl_user (ctl_t *ctl, int argc, char **argv);

//  --------------------------------------------------------------------------
//  Errors (util.c). Both print "divertctl: ..." as one line on stderr.

int ctl_fail (const char *format, ...) __attribute__ ((format (printf, 1, 2)));
int ctl_usage (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

//  Parse argv [first..argc) into opts (terminated by a NULL name) and up to
//  max_pos positional arguments. Returns 0, or -1 after a usage error was printed.
int ctl_parse (const char *command, int argc, char **argv, int first,
               ctl_opt_t *opts, const char **pos, int max_pos, int *npos);
//  The value of option `name` in opts, or NULL.
const char *ctl_opt (const ctl_opt_t *opts, const char *name);

//  --------------------------------------------------------------------------
//  Database (db.c)

//  Connect (once) and check the schema version; NULL after printing an error.
//  ctl_db_raw doesn't check the schema (for migrate).
dv_db_t *ctl_db (ctl_t *ctl);
dv_db_t *ctl_db_raw (ctl_t *ctl);
//  The last database error as one line, without "ERROR:" and "divert:" prefixes.
const char *ctl_db_message (dv_db_t *db);
//  Print the last database error and return CTL_FAIL.
int ctl_db_fail (dv_db_t *db);
//  Run a statement; on error print it and return NULL.
PGresult *ctl_exec (dv_db_t *db, const char *sql, int nparams, const char *const *params);
json_t *ctl_json (dv_db_t *db, const char *sql, int nparams, const char *const *params);
//  Run a statement without rows (BEGIN, COMMIT ...); 0 or -1 after printing.
int ctl_command (dv_db_t *db, const char *sql);
void ctl_rollback (dv_db_t *db);

//  Find referral UUID (optionally from source). Returns its row id (>0), or 0
//  after printing a clear error. source_out (may be NULL) gets the source id.
int64_t ctl_find_referral (dv_db_t *db, const char *uuid, const char *source,
                           char *source_out, size_t source_size);

//  --------------------------------------------------------------------------
//  Validation and formatting (util.c)

//  Whole non-negative number within [min, max]; -1 when not.
int64_t ctl_number (const char *text, int64_t min, int64_t max);
//  An id of 1..max_len chars, first char alnum, then alnum or `extra` chars;
//  lowercase_only refuses uppercase letters.
bool ctl_valid_id (const char *text, size_t max_len, const char *extra, bool lowercase_only);
//  A CURVE public key in Z85 (40 chars).
bool ctl_valid_z85_key (const char *text);
//  Print a JSON value (pretty) on stdout and release it. Returns CTL_OK.
int ctl_print_json (json_t *json);
//  "3d 4h", "5h 12m", "40m", "12s" (seconds >= 0).
void ctl_format_age (int64_t seconds, char *buffer, size_t size);
//  Join a JSON array of strings with ", " (or `empty` when there are none).
void ctl_join (json_t *array, const char *empty, char *buffer, size_t size);
//  Integer member of an object (0 when missing or null); -1 default via _or.
int ctl_int (json_t *object, const char *key);
int ctl_int_or (json_t *object, const char *key, int fallback);
const char *ctl_str (json_t *object, const char *key);

//  --------------------------------------------------------------------------
//  Program policy (policy.c), shared by program and status

//  Every program (or only `name`) as a JSON array of policy objects, in
//  display order (the default program first). NULL after printing an error.
//  dv_program_load (common/dv_program.h) reads one into a dv_program_t.
json_t *ctl_programs_json (dv_db_t *db, const char *name);
//  `program show`: one program or all, for people or as JSON.
int ctl_program_show (dv_db_t *db, const char *name, bool json);

#endif
