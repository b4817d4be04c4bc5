/*  migrate — `divertctl migrate`: applies the numbered migrations
    (sql/NNN_name.sql) that divert.schema_migration doesn't record yet, each
    file in one transaction together with its record, under an advisory lock
    so that two operators (or two hosts) migrating at once can't interleave.
    Re-running is a no-op. The newest file must be the schema version this
    build was compiled for (DV_SCHEMA_VERSION), else the SQL directory and the
    binaries come from different releases and nothing is applied.
*/
#include <limits.h>
#include <unistd.h>
#include "divertctl.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_LOCK_KEY "7021845116"     //  pg_advisory_xact_lock key of migrate
#define S_MAX_FILES 512
#define S_NAME_MAX 256

typedef struct {
    int version;
    char name [S_NAME_MAX];
} s_file_t;

static bool
s_is_dir (const char *path)
{
    struct stat st;
    return path && *path && stat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

//  The migrations installed beside this binary: <bin>/../share/divert/sql
//  (so an installation works wherever PREFIX put it).
static const char *
s_installed_dir (void)
{
    static char path [PATH_MAX];
    char exe [PATH_MAX];
    ssize_t size = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    if (size <= 0)
        return NULL;
    exe [size] = 0;
    char *slash = strrchr (exe, '/');
    if (!slash)
        return NULL;
    *slash = 0;
    snprintf (path, sizeof path, "%.*s/../share/divert/sql", (int) (sizeof path - 32), exe);
    return s_is_dir (path) ? path : NULL;
}

//  --sql-dir, else $DIVERT_SQL_DIR, else the installed directory beside the
//  binary, else the configured PREFIX's, else ./sql.
static const char *
s_sql_dir (ctl_t *ctl)
{
    if (ctl->sql_dir)
        return ctl->sql_dir;
    const char *env = getenv ("DIVERT_SQL_DIR");
    if (env && *env)
        return env;
    const char *installed = s_installed_dir ();
    if (installed)
        return installed;
#ifdef DIVERT_SQLDIR
    if (s_is_dir (DIVERT_SQLDIR))
        return DIVERT_SQLDIR;
#endif
    return s_is_dir ("sql") ? "sql" : NULL;
}

static int
s_compare (const void *a, const void *b)
{
    return ((const s_file_t *) a)->version - ((const s_file_t *) b)->version;
}

//  Version of a migration file name NNN_*.sql, or -1.
static int
s_version_of (const char *name)
{
    size_t len = strlen (name);
    size_t digits = strspn (name, "0123456789");
    if (digits == 0 || digits > 6 || name [digits] != '_' || len < digits + 5
    ||  strcmp (name + len - 4, ".sql") != 0 || len >= S_NAME_MAX)
        return -1;
    return atoi (name);
}

//  The migration files of dir, sorted by version. Returns the count or -1.
static int
s_list_files (const char *dir, s_file_t *files)
{
    DIR *handle = opendir (dir);
    if (!handle)
        return ctl_fail ("cannot read the migrations directory %s", dir), -1;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir (handle)) && count < S_MAX_FILES) {
        int version = s_version_of (entry->d_name);
        if (version < 0)
            continue;
        files [count].version = version;
        snprintf (files [count].name, sizeof files [count].name, "%s", entry->d_name);
        count++;
    }
    closedir (handle);
    qsort (files, count, sizeof files [0], s_compare);
    for (int index = 1; index < count; index++)
        if (files [index].version == files [index - 1].version)
            return ctl_fail ("%s and %s have the same version number in %s",
                             files [index - 1].name, files [index].name, dir), -1;
    return count;
}

static char *
s_read_file (const char *dir, const char *name)
{
    char path [4096];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *file = fopen (path, "rb");
    if (!file) {
        ctl_fail ("cannot read %s", path);
        return NULL;
    }
    fseek (file, 0, SEEK_END);
    long size = ftell (file);
    rewind (file);
    char *text = size >= 0 ? malloc ((size_t) size + 1) : NULL;
    if (text && fread (text, 1, (size_t) size, file) == (size_t) size)
        text [size] = 0;
    else {
        free (text);
        text = NULL;
        ctl_fail ("cannot read %s", path);
    }
    fclose (file);
    return text;
}

//  Run a whole script (several statements) with the simple query protocol.
static int
s_run_script (dv_db_t *db, const char *name, const char *text)
{
    PGresult *result = PQexec (dv_db_conn (db), text);
    ExecStatusType status = result ? PQresultStatus (result) : PGRES_FATAL_ERROR;
    int rc = 0;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        const char *message = result ? PQresultErrorField (result, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        ctl_fail ("migration %s failed, nothing of it was applied: %s", name,
                  message ? message : PQerrorMessage (dv_db_conn (db)));
        rc = -1;
    }
    PQclear (result);
    return rc;
}

//  The highest recorded version, -1 on error. Creates the bookkeeping table.
static int
s_bootstrap (dv_db_t *db)
{
    if (ctl_command (db, "BEGIN"))
        return -1;
    PGresult *result = NULL;
    if (ctl_command (db, "SELECT pg_advisory_xact_lock(" S_LOCK_KEY ")")
    ||  ctl_command (db, "CREATE SCHEMA IF NOT EXISTS divert")
    ||  ctl_command (db, "CREATE TABLE IF NOT EXISTS divert.schema_migration ("
                         " version int PRIMARY KEY, name text NOT NULL,"
                         " applied_at timestamptz NOT NULL DEFAULT now())")
    ||  !(result = ctl_exec (db, "SELECT COALESCE(max(version), 0) FROM divert.schema_migration", 0, NULL))
    ||  ctl_command (db, "COMMIT")) {
        PQclear (result);
        ctl_rollback (db);
        return -1;
    }
    int version = atoi (PQgetvalue (result, 0, 0));
    PQclear (result);
    return version;
}

//  Apply one file unless (under the lock) it is already recorded.
//  Returns 1 applied, 0 already there, -1 error.
static int
s_apply (dv_db_t *db, const char *dir, const s_file_t *file)
{
    char version [16];
    snprintf (version, sizeof version, "%d", file->version);
    const char *params [] = { version, file->name };
    PGresult *result = NULL;
    char *text = NULL;
    int rc = -1;
    if (ctl_command (db, "BEGIN")
    ||  ctl_command (db, "SELECT pg_advisory_xact_lock(" S_LOCK_KEY ")")
    ||  ctl_command (db, "SET LOCAL statement_timeout = 0")
    ||  !(result = ctl_exec (db, "SELECT 1 FROM divert.schema_migration WHERE version = $1::int", 1, params)))
        goto done;
    if (PQntuples (result) > 0) {
        rc = ctl_command (db, "COMMIT") ? -1 : 0;
        goto done;
    }
    if (!(text = s_read_file (dir, file->name))
    ||  s_run_script (db, file->name, text))
        goto done;
    PQclear (result);
    result = ctl_exec (db, "INSERT INTO divert.schema_migration (version, name) VALUES ($1::int, $2)",
                       2, params);
    if (result && ctl_command (db, "COMMIT") == 0)
        rc = 1;
done:
    if (rc < 0)
        ctl_rollback (db);
    PQclear (result);
    free (text);
    return rc;
}

static int
s_migrate (dv_db_t *db, const char *dir, const s_file_t *files, int count)
{
    int recorded = s_bootstrap (db);
    if (recorded < 0)
        return CTL_FAIL;
    int newest = files [count - 1].version;
    if (recorded > newest)
        return ctl_fail ("the database is at schema version %d, newer than the migrations in %s (%d):"
                         " this divertctl is too old for it", recorded, dir, newest);
    int applied = 0;
    for (int index = 0; index < count; index++) {
        int rc = s_apply (db, dir, &files [index]);
        if (rc < 0)
            return CTL_FAIL;
        if (rc > 0) {
            printf ("applied %s (version %d)\n", files [index].name, files [index].version);
            applied++;
        }
    }
    if (applied)
        printf ("schema is now at version %d\n", newest);
    else
        printf ("schema is up to date (version %d)\n", newest);
    return CTL_OK;
}

int
ctl_migrate (ctl_t *ctl, int argc, char **argv)
{
    ctl_opt_t opts [] = { { NULL, false, NULL } };
    const char *pos [1];
    int npos;
    if (ctl_parse ("migrate", argc, argv, 1, opts, pos, 0, &npos))
        return CTL_USAGE;
    const char *dir = s_sql_dir (ctl);
    if (!dir)
        return ctl_fail ("no migrations directory: give --sql-dir DIR or set DIVERT_SQL_DIR");
    s_file_t *files = calloc (S_MAX_FILES, sizeof *files);
    if (!files)
        return ctl_fail ("out of memory");
    int count = s_list_files (dir, files);
    int rc = CTL_FAIL;
    if (count == 0)
        ctl_fail ("no migrations (NNN_name.sql) in %s", dir);
    else
    if (count > 0 && files [count - 1].version != DV_SCHEMA_VERSION)
        ctl_fail ("%s holds migrations up to version %d but this divertctl was built for schema version %d:"
                  " use the sql directory of the same release", dir, files [count - 1].version,
                  DV_SCHEMA_VERSION);
    else
    if (count > 0) {
        dv_db_t *db = ctl_db_raw (ctl);
        if (db)
            rc = s_migrate (db, dir, files, count);
    }
    free (files);
    return rc;
}
