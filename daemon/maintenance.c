/*  maintenance — lifecycle and promotion transactions. See maintenance.h. */
#include "maintenance.h"
#include "decide.h"
#include "record.h"
#include "dv_log.h"
#include <string.h>

#define S_PROMOTIONS_MAX 1000           //  per program per pass

static void
s_rollback (dv_db_t *db)
{
    if (dv_db_connected (db))
        dv_db_command (db, "ROLLBACK");
}

//  Add an element to a PostgreSQL array literal in buffer (once).
static void
s_array_add (char *buffer, size_t size, const char *element)
{
    char quoted [80];
    snprintf (quoted, sizeof quoted, "\"%s\"", element);
    if (strstr (buffer, quoted))
        return;
    size_t used = strlen (buffer);
    if (used == 0)
        snprintf (buffer, size, "{%s}", quoted);
    else
    if (used + strlen (quoted) + 2 < size)
        snprintf (buffer + used - 1, size - used + 1, ",%s}", quoted);
}

//  Lock these sources; give their seqs to the record. The transaction's
//  clock comes from program_lock (the programs are locked already).
static PGresult *
s_lock (dv_db_t *db, dv_record_t **record, const char *decided_by, const char *programs, const char *sources)
{
    const char *p [] = { programs }, *s [] = { sources };
    dv_db_stmt_t statements [2] = {
        { DV_PROGRAM_LOCK_SQL, 1, p },
        { "SELECT id, last_seq FROM divert.source_lock($1::text[])", 1, s }
    };
    PGresult *results [2];
    if (dv_db_pipeline (db, 2, statements, results) != 0)
        return NULL;
    int64_t now_us = PQntuples (results [0]) ? dv_db_int64 (results [0], 0, DV_LOCKED_NOW_US) : 0;
    *record = dv_record_new (decided_by, now_us);
    for (int row = 0; row < PQntuples (results [1]); row++)
        dv_record_source (*record, PQgetvalue (results [1], row, 0), dv_db_int64 (results [1], row, 1));
    PQclear (results [1]);
    return results [0];
}

//  ---------------------------------------------------------------------------
//  Lifecycle

//  One due row of lifecycle_due: kind, program, enrollment_id, entry_id,
//  referral_row, source_id, source_kind, referral_id, tier, score.
static void
s_lifecycle_row (dv_record_t *record, PGresult *due, int row, dv_cache_t *cache)
{
    const char *kind = PQgetvalue (due, row, 0), *program = PQgetvalue (due, row, 1);
    int64_t enrollment = dv_db_int64 (due, row, 2), entry = dv_db_int64 (due, row, 3), referral_row = dv_db_int64 (due, row, 4);
    dv_outcome_t outcome;
    bool told = false;
    if (!dv_decide_lifecycle (kind, &outcome, &told))
        return;
    if (strcmp (kind, "expiry") == 0) {
        //  The entry closes once, whatever number of referrals wait on it
        if (row == 0 || dv_db_int64 (due, row - 1, 3) != entry) {
            dv_record_waitlist_close (record, entry, "expired");
            dv_record_program (record, program);
            dv_cached_program_t *cached = dv_cache_program_named (cache, program);
            if (cached)
                dv_wait_list_remove (&cached->waitlist, entry);
        }
        dv_record_referral_state (record, referral_row, "declined");
    }
    else {
        dv_record_enrollment_exit (record, enrollment, strcmp (kind, "lapse") == 0 ? "intake_lapsed" : "term_ended");
        dv_record_referral_state (record, referral_row, strcmp (kind, "lapse") == 0 ? "lapsed" : "exited");
    }
    if (told) {
        dv_record_event_t event = {
            .source_id = PQgetvalue (due, row, 5), .source_kind = PQgetvalue (due, row, 6),
            .referral_row = referral_row, .referral_id = PQgetvalue (due, row, 7), .outcome = outcome,
            .program = program, .tier = (int) dv_db_int64 (due, row, 8), .score = (int) dv_db_int64 (due, row, 9)
        };
        dv_record_event (record, &event);
    }
}

static int
s_lifecycle (dv_db_t *db, dv_cache_t *cache, const char *decided_by, json_t *events)
{
    if (dv_db_command (db, "BEGIN"))
        return -1;
    PGresult *due = dv_db_exec (db, "SELECT kind, program, enrollment_id, entry_id, referral_row, source_id,"
                                    " source_kind, referral_id, tier, score FROM divert.lifecycle_due()", 0, NULL);
    if (!due || PQntuples (due) == 0) {
        PQclear (due);
        return due && dv_db_command (db, "COMMIT") == 0 ? 0 : (s_rollback (db), -1);
    }
    char programs [4096] = "", sources [4096] = "";
    for (int row = 0; row < PQntuples (due); row++) {
        s_array_add (programs, sizeof programs, PQgetvalue (due, row, 1));
        s_array_add (sources, sizeof sources, PQgetvalue (due, row, 5));
    }
    dv_record_t *record = NULL;
    PGresult *locked = s_lock (db, &record, decided_by, programs, sources);
    int made = -1;
    if (locked) {
        for (int row = 0; row < PQntuples (due); row++)
            s_lifecycle_row (record, due, row, cache);
        if (dv_record_commit (record, db, cache, NULL) == 0) {
            json_array_extend (events, dv_record_published (record));
            made = (int) dv_record_event_count (record);
        }
    }
    if (made < 0) {
        s_rollback (db);
        //  The cached waitlists may have lost expired entries: read them again
        dv_cache_forget (cache);
    }
    PQclear (locked);
    PQclear (due);
    dv_record_destroy (&record);
    return made;
}

//  ---------------------------------------------------------------------------
//  Promotion

//  Each promoted entry's referrals (waitlist_linked rows: entry_id,
//  referral_row, source_id, source_kind, referral_id, person_id, primary,
//  tier, score, components): an enrollment for the entry's own referral, an
//  accept for each.
static void
s_promotion_rows (dv_record_t *record, dv_snap_program_t *program, const dv_promotion_t *promotions,
                  size_t count, PGresult *linked)
{
    for (int row = 0; row < PQntuples (linked); row++) {
        int64_t entry = dv_db_int64 (linked, row, 0), referral_row = dv_db_int64 (linked, row, 1);
        const dv_promotion_t *p = NULL;
        for (size_t i = 0; i < count && !p; i++)
            if (promotions [i].entry_id == entry)
                p = &promotions [i];
        if (!p)
            continue;
        const char *cm = program->cms [p->cm_index].id;
        if (PQgetvalue (linked, row, 6) [0] == 't') {
            dv_record_waitlist_close (record, entry, "promoted");
            dv_record_enrollment_new (record, referral_row, dv_db_int64 (linked, row, 5), program->policy->name, cm);
        }
        dv_record_referral_state (record, referral_row, "accepted");
        //  Its intake components, plus the aging it earned on the list
        json_t *components = json_loads (PQgetisnull (linked, row, 9) ? "{}" : PQgetvalue (linked, row, 9), 0, NULL);
        if (!components)
            components = json_object ();
        json_object_set_new (components, "aging", json_integer (p->aging));
        int score = (int) dv_db_int64 (linked, row, 8) + p->aging;
        dv_record_event_t event = {
            .source_id = PQgetvalue (linked, row, 2), .source_kind = PQgetvalue (linked, row, 3),
            .referral_row = referral_row, .referral_id = PQgetvalue (linked, row, 4),
            .outcome = { DV_DECISION_ACCEPT, DV_REASON_ACCEPTED_FROM_WAITLIST }, .program = program->policy->name,
            .cm_id = cm, .cm_name = program->cm_names [p->cm_index], .tier = (int) dv_db_int64 (linked, row, 7),
            .score = score > 100 ? 100 : score, .components = components,
            .capacity = dv_record_capacity (program->policy, &p->capacity), .from_waitlist = true,
            .policy_version = program->policy->version
        };
        dv_record_event (record, &event);
    }
}

//  The promotions of every locked program with people waiting; their entry
//  ids into `entries` ({1,2}). Returns how many.
static size_t
s_promote (dv_snapshot_t *snapshot, dv_promotion_t **made, size_t *made_count, char *entries, size_t size)
{
    size_t total = 0;
    for (size_t i = 0; i < dv_snapshot_program_count (snapshot); i++) {
        dv_snap_program_t *program = dv_snapshot_program (snapshot, i);
        made [i] = calloc (S_PROMOTIONS_MAX, sizeof (dv_promotion_t));
        made_count [i] = program->locked && program->waitlist_open > 0
                       ? dv_decide_promotions (program, dv_snapshot_now_us (snapshot), made [i], S_PROMOTIONS_MAX) : 0;
        for (size_t k = 0; k < made_count [i]; k++) {
            char id [24];
            snprintf (id, sizeof id, "%lld", (long long) made [i][k].entry_id);
            size_t used = strlen (entries);
            if (used + strlen (id) + 3 < size)
                snprintf (entries + (used ? used - 1 : 0), size - (used ? used - 1 : 0), "%s%s}", used ? "," : "{", id);
        }
        total += made_count [i];
    }
    return total;
}

//  The snapshot of the locked programs with a waitlist: case managers and
//  waitlists (the cache's, read again where stale).
static dv_snapshot_t *
s_promotion_snapshot (dv_db_t *db, dv_cache_t *cache, PGresult *locked)
{
    bool waiting = false;
    for (int row = 0; row < PQntuples (locked); row++)
        waiting = waiting || dv_db_int64 (locked, row, DV_LOCKED_WAITLIST_OPEN) > 0;
    if (!waiting)
        return NULL;
    dv_snapshot_t *snapshot = dv_cache_snapshot (cache, dv_db_int64 (locked, 0, DV_LOCKED_NOW_US));
    for (int row = 0; row < PQntuples (locked); row++)
        if (dv_db_int64 (locked, row, DV_LOCKED_WAITLIST_OPEN) > 0
        &&  dv_cache_lock (cache, db, snapshot, locked, row) < 0) {
            dv_snapshot_destroy (&snapshot);
            return NULL;
        }
    return snapshot;
}

static int
s_promotion (dv_db_t *db, dv_cache_t *cache, const char *decided_by, const char *programs, json_t *events)
{
    if (dv_cache_generation (cache) == 0 && dv_cache_load_policy (cache, db) != 0)
        return -1;
    char all [4096] = "";
    if (!programs) {
        for (size_t i = 0; i < dv_cache_program_count (cache); i++)
            s_array_add (all, sizeof all, dv_cache_program (cache, i)->policy.name);
        programs = all;
    }
    const char *params [] = { programs };
    dv_db_stmt_t statements [2] = {
        { "BEGIN", 0, NULL },
        { DV_PROGRAM_LOCK_SQL, 1, params }
    };
    PGresult *results [2];
    if (dv_db_pipeline (db, 2, statements, results) != 0) {
        s_rollback (db);
        return -1;
    }
    PGresult *locked = results [1];
    PQclear (results [0]);
    if (PQntuples (locked) && dv_db_int64 (locked, 0, DV_LOCKED_GENERATION) != dv_cache_generation (cache)) {
        //  The policy changed: the timer's next pass promotes with the new one
        s_rollback (db);
        PQclear (locked);
        return dv_cache_load_policy (cache, db) == 0 ? 0 : -1;
    }
    dv_snapshot_t *snapshot = s_promotion_snapshot (db, cache, locked);
    size_t program_count = snapshot ? dv_snapshot_program_count (snapshot) : 0;
    dv_promotion_t **made = calloc (program_count + 1, sizeof (dv_promotion_t *));
    size_t *made_count = calloc (program_count + 1, sizeof (size_t));
    char entries [65536] = "";
    size_t total = snapshot ? s_promote (snapshot, made, made_count, entries, sizeof entries) : 0;
    int result = 0;
    if (total == 0)
        result = dv_db_command (db, "COMMIT") == 0 ? 0 : -1;
    else {
        const char *entry_params [] = { entries };
        PGresult *linked = dv_db_exec (db, "SELECT entry_id, referral_row, source_id, source_kind, referral_id,"
                                           " person_id, primary_referral, tier, score, components"
                                           " FROM divert.waitlist_linked($1::bigint[])", 1, entry_params);
        char sources [4096] = "";
        for (int row = 0; linked && row < PQntuples (linked); row++)
            s_array_add (sources, sizeof sources, PQgetvalue (linked, row, 2));
        dv_record_t *record = NULL;
        PGresult *again = linked ? s_lock (db, &record, decided_by, programs, sources) : NULL;
        result = -1;
        if (again) {
            for (size_t i = 0; i < program_count; i++)
                if (made_count [i]) {
                    dv_record_program (record, dv_snapshot_program (snapshot, i)->policy->name);
                    s_promotion_rows (record, dv_snapshot_program (snapshot, i), made [i], made_count [i], linked);
                }
            if (dv_record_commit (record, db, cache, snapshot) == 0) {
                json_array_extend (events, dv_record_published (record));
                result = (int) dv_record_event_count (record);
            }
        }
        PQclear (again);
        PQclear (linked);
        dv_record_destroy (&record);
    }
    if (result < 0) {
        s_rollback (db);
        dv_cache_forget (cache);
    }
    for (size_t i = 0; i < program_count; i++)
        free (made [i]);
    free (made);
    free (made_count);
    dv_snapshot_destroy (&snapshot);
    PQclear (locked);
    return result;
}

int
dv_maintenance_run (dv_db_t *db, dv_cache_t *cache, const char *decided_by, const char *programs, json_t *events)
{
    int lifecycle = s_lifecycle (db, cache, decided_by, events);
    if (lifecycle < 0)
        return -1;
    int promoted = s_promotion (db, cache, decided_by, programs, events);
    return promoted < 0 ? -1 : lifecycle + promoted;
}
