/*  cache — divertd's policy and waitlists between transactions. See cache.h. */
#include "cache.h"
#include "dv_log.h"
#include "dv_program.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PERMITS_MAX 32

struct _dv_cache_t {
    int64_t generation;
    dv_cached_program_t *programs;
    size_t program_count;
    char permits [S_PERMITS_MAX][2][32];    //  (kind, pathway)
    size_t permit_count;
};

dv_cache_t *
dv_cache_new (void)
{
    return calloc (1, sizeof (dv_cache_t));
}

static void
s_free_staff (dv_cached_program_t *program)
{
    for (size_t i = 0; i < program->cm_count; i++) {
        free ((char *) program->cms [i].id);
        free (program->cm_names [i]);
    }
    free (program->cms);
    free (program->cm_names);
    program->cms = NULL;
    program->cm_names = NULL;
    program->cm_count = 0;
    program->staff_version = -1;
}

static void
s_free_programs (dv_cached_program_t *programs, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        dv_wait_list_clear (&programs [i].waitlist);
        s_free_staff (&programs [i]);
    }
    free (programs);
}

void
dv_cache_destroy (dv_cache_t **self_p)
{
    if (self_p && *self_p) {
        dv_cache_t *self = *self_p;
        s_free_programs (self->programs, self->program_count);
        free (self);
        *self_p = NULL;
    }
}

//  One row of policy_rows(): (generation, program json, waitlist_ttl_us)
static bool
s_load_program (dv_cached_program_t *program, PGresult *result, int row)
{
    json_t *json = json_loads (PQgetvalue (result, row, 1), 0, NULL);
    if (!json_is_object (json)) {
        json_decref (json);
        return false;
    }
    dv_program_load (&program->policy, json);
    program->is_default = json_is_true (json_object_get (json, "is_default"));
    program->waitlist_ttl_us = strtoll (PQgetvalue (result, row, 2), NULL, 10);
    program->waitlist_version = -1;
    program->staff_version = -1;
    json_decref (json);
    return true;
}

static int
s_load_permits (dv_cache_t *self, dv_db_t *db)
{
    PGresult *result = dv_db_exec (db, "SELECT kind, pathway FROM divert.pathway_rows()", 0, NULL);
    if (!result)
        return -1;
    self->permit_count = 0;
    for (int row = 0; row < PQntuples (result) && self->permit_count < S_PERMITS_MAX; row++, self->permit_count++) {
        snprintf (self->permits [self->permit_count][0], 32, "%s", PQgetvalue (result, row, 0));
        snprintf (self->permits [self->permit_count][1], 32, "%s", PQgetvalue (result, row, 1));
    }
    PQclear (result);
    return 0;
}

int
dv_cache_load_policy (dv_cache_t *self, dv_db_t *db)
{
    PGresult *result = dv_db_exec (db, "SELECT generation, program, waitlist_ttl_us FROM divert.policy_rows()", 0, NULL);
    if (!result)
        return -1;
    size_t count = (size_t) PQntuples (result);
    dv_cached_program_t *programs = calloc (count ? count : 1, sizeof (dv_cached_program_t));
    bool ok = count > 0;
    for (size_t i = 0; ok && i < count; i++) {
        ok = s_load_program (&programs [i], result, (int) i);
        //  Keep what is known of a program that remains
        dv_cached_program_t *known = ok ? dv_cache_program_named (self, programs [i].policy.name) : NULL;
        if (known) {
            programs [i].waitlist = known->waitlist;
            programs [i].waitlist_version = known->waitlist_version;
            programs [i].exits_90d = known->exits_90d;
            programs [i].waitlist_open = known->waitlist_open;
            known->waitlist = (dv_wait_list_t) { NULL, 0, 0 };
            programs [i].cms = known->cms;
            programs [i].cm_names = known->cm_names;
            programs [i].cm_count = known->cm_count;
            programs [i].staff_version = known->staff_version;
            known->cms = NULL, known->cm_names = NULL, known->cm_count = 0;
        }
    }
    int64_t generation = count ? strtoll (PQgetvalue (result, 0, 0), NULL, 10) : 0;
    PQclear (result);
    if (!ok || s_load_permits (self, db) != 0) {
        if (!ok)
            dv_log_warning ("the program policy could not be read");
        s_free_programs (programs, count);
        return -1;
    }
    s_free_programs (self->programs, self->program_count);
    self->programs = programs;
    self->program_count = count;
    self->generation = generation;
    return 0;
}

int64_t
dv_cache_generation (dv_cache_t *self)
{
    return self->generation;
}

size_t
dv_cache_program_count (dv_cache_t *self)
{
    return self->program_count;
}

dv_cached_program_t *
dv_cache_program (dv_cache_t *self, size_t index)
{
    return index < self->program_count ? &self->programs [index] : NULL;
}

dv_cached_program_t *
dv_cache_program_named (dv_cache_t *self, const char *name)
{
    for (size_t i = 0; name && i < self->program_count; i++)
        if (strcmp (self->programs [i].policy.name, name) == 0)
            return &self->programs [i];
    return NULL;
}

//  Load one program's open waitlist unless the cache has `version` already.
//  Returns 0, or -1 (database error: the list is marked stale).
static int
s_sync_waitlist (dv_db_t *db, dv_cached_program_t *program, int64_t version)
{
    if (program->waitlist_version == version && version >= 0)
        return 0;
    const char *params [] = { program->policy.name };
    PGresult *result = dv_db_exec (db, "SELECT id, tier, score, received_us, version"
                                       " FROM divert.program_waitlist($1)", 1, params);
    program->waitlist_version = -1;
    if (!result)
        return -1;
    program->waitlist.count = 0;
    for (int row = 0; row < PQntuples (result); row++) {
        dv_wait_entry_t entry = {
            strtoll (PQgetvalue (result, row, 0), NULL, 10), atoi (PQgetvalue (result, row, 1)),
            atoi (PQgetvalue (result, row, 2)), strtoll (PQgetvalue (result, row, 3), NULL, 10)
        };
        dv_wait_list_add (&program->waitlist, &entry);
    }
    //  The version read with the rows (an empty list: the one asked for)
    program->waitlist_version = PQntuples (result) ? strtoll (PQgetvalue (result, 0, 4), NULL, 10) : version;
    PQclear (result);
    return 0;
}

//  Read one program's active case managers again (program_case_managers)
//  unless the cache has them at `version`. Its rows: (id, name, caseload,
//  last_assigned_us, staff_version), in id order; a program without any is
//  one row with id NULL, for the version. Returns 0, or -1 (database error:
//  the staff is marked stale).
static int
s_sync_staff (dv_db_t *db, dv_cached_program_t *program, int64_t version)
{
    if (program->staff_version == version && version >= 0)
        return 0;
    const char *params [] = { program->policy.name };
    PGresult *rows = dv_db_exec (db, "SELECT id, name, caseload, last_assigned_us, staff_version"
                                     " FROM divert.program_case_managers($1)", 1, params);
    if (!rows) {
        program->staff_version = -1;
        return -1;
    }
    s_free_staff (program);
    int count = PQntuples (rows);
    program->cms = calloc ((size_t) count + 1, sizeof (dv_cm_t));
    program->cm_names = calloc ((size_t) count + 1, sizeof (char *));
    for (int row = 0; row < count; row++) {
        if (PQgetisnull (rows, row, 0))
            continue;
        program->cms [program->cm_count] = (dv_cm_t) {
            strdup (PQgetvalue (rows, row, 0)), atoi (PQgetvalue (rows, row, 2)),
            strtoll (PQgetvalue (rows, row, 3), NULL, 10)
        };
        program->cm_names [program->cm_count++] = strdup (PQgetvalue (rows, row, 1));
    }
    program->staff_version = count ? strtoll (PQgetvalue (rows, 0, 4), NULL, 10) : version;
    PQclear (rows);
    return 0;
}

int
dv_cache_lock (dv_cache_t *self, dv_db_t *db, dv_snapshot_t *snapshot, PGresult *locked, int row)
{
    const char *name = PQgetvalue (locked, row, DV_LOCKED_NAME);
    dv_cached_program_t *cached = dv_cache_program_named (self, name);
    dv_snap_program_t *program = dv_snapshot_program_named (snapshot, name);
    if (!cached || !program)
        return 1;
    if (s_sync_staff (db, cached, dv_db_int64 (locked, row, DV_LOCKED_STAFF_VERSION)) != 0
    ||  s_sync_waitlist (db, cached, dv_db_int64 (locked, row, DV_LOCKED_WAITLIST_VERSION)) != 0)
        return -1;
    //  The snapshot borrows the cached case managers' strings until they are read again
    dv_snap_program_lock (program, cached->cms, (const char *const *) cached->cm_names, cached->cm_count,
                          (int) dv_db_int64 (locked, row, DV_LOCKED_WAITLIST_OPEN));
    return 0;
}

void
dv_cache_commit_staff (dv_cached_program_t *cached, const dv_snap_program_t *decided,
                       int64_t staff_version, int64_t staff_base)
{
    if (cached->staff_version < 0 || staff_version == cached->staff_version)
        return;
    bool mine = decided && decided->locked && decided->cm_count == cached->cm_count
             && staff_base == cached->staff_version;
    if (!mine) {
        cached->staff_version = -1;         //  (a snapshot may still borrow the strings)
        return;
    }
    for (size_t i = 0; i < cached->cm_count; i++) {
        cached->cms [i].caseload = decided->cms [i].caseload;
        cached->cms [i].last_assigned = decided->cms [i].last_assigned;
    }
    cached->staff_version = staff_version;
}

void
dv_cache_forget (dv_cache_t *self)
{
    for (size_t i = 0; i < self->program_count; i++)
        self->programs [i].waitlist_version = self->programs [i].staff_version = -1;
}

int
dv_cache_load_counts (dv_cache_t *self, dv_db_t *db)
{
    PGresult *result = dv_db_exec (db, "SELECT program, exits_90d, waitlist_open FROM divert.program_counts()", 0, NULL);
    if (!result)
        return -1;
    for (int row = 0; row < PQntuples (result); row++) {
        dv_cached_program_t *program = dv_cache_program_named (self, PQgetvalue (result, row, 0));
        if (program) {
            program->exits_90d = atoi (PQgetvalue (result, row, 1));
            program->waitlist_open = atoi (PQgetvalue (result, row, 2));
        }
    }
    PQclear (result);
    return 0;
}

void
dv_cache_waitlists_text (dv_cache_t *self, char *buffer, size_t size)
{
    size_t used = 0;
    buffer [0] = 0;
    for (size_t i = 0; i < self->program_count && used < size; i++) {
        int n = snprintf (buffer + used, size - used, "%s%s %d", i ? ", " : "",
                          self->programs [i].policy.name, self->programs [i].waitlist_open);
        used += n > 0 ? (size_t) n : 0;
    }
}

dv_snapshot_t *
dv_cache_snapshot (dv_cache_t *self, int64_t now_us)
{
    dv_snapshot_t *snapshot = dv_snapshot_new (now_us);
    for (size_t i = 0; i < self->program_count; i++) {
        dv_cached_program_t *p = &self->programs [i];
        dv_snapshot_add_program (snapshot, &p->policy, p->is_default, p->waitlist_ttl_us, p->exits_90d,
                                 &p->waitlist);
    }
    for (size_t i = 0; i < self->permit_count; i++)
        dv_snapshot_permit (snapshot, self->permits [i][0], self->permits [i][1]);
    return snapshot;
}
