/*  cache — what divertd keeps in memory between transactions, so a batch
    reads only what it touches: every program's policy (one policy
    generation, sql/008 policy_generation), which pathways each kind of
    source may send, each program's open waitlist (at its waitlist_version,
    sql/008 program_stat), its active case managers (at its staff_version)
    and its recent exit rate.

    It is checked, not trusted: a transaction that decides locks its
    programs and reads their generation and waitlist versions under the lock
    (program_lock); a policy of another generation is reloaded and the batch
    decided again, a waitlist of another version is reloaded before it is
    used, and so are the case managers of a program whose staff version is
    not the cache's (program_case_managers).
    After a COMMIT the cache keeps the case managers as the transaction's
    decisions left them only when the database says nobody else changed
    them (staff_base); a transaction that fails marks what it touched stale.
    Owned by the store thread.
*/
#ifndef DV_CACHE_H
#define DV_CACHE_H

#include "dv_db.h"
#include "snapshot.h"

typedef struct {
    dv_program_t policy;
    bool is_default;
    int64_t waitlist_ttl_us;
    int exits_90d;
    int waitlist_open;            //  the waitlist's length, as last read (STATUS=)
    dv_wait_list_t waitlist;      //  the open entries, as of waitlist_version
    int64_t waitlist_version;     //  -1: not loaded (or stale)
    dv_cm_t *cms;                 //  its active case managers (ids owned), in id order
    char **cm_names;              //  their names (owned), same order
    size_t cm_count;
    int64_t staff_version;        //  of cms; -1: not loaded (or stale)
} dv_cached_program_t;

typedef struct _dv_cache_t dv_cache_t;

dv_cache_t *
    dv_cache_new (void);
void
    dv_cache_destroy (dv_cache_t **self_p);

//  (Re)load every program's policy and the pathway permissions. Waitlists of
//  programs that remain are kept. Returns 0, or -1 (database error).
int
    dv_cache_load_policy (dv_cache_t *self, dv_db_t *db);
//  The policy generation loaded (0: none yet).
int64_t
    dv_cache_generation (dv_cache_t *self);

size_t
    dv_cache_program_count (dv_cache_t *self);
dv_cached_program_t *
    dv_cache_program (dv_cache_t *self, size_t index);
dv_cached_program_t *
    dv_cache_program_named (dv_cache_t *self, const char *name);

//  program_lock's rows as divertd reads them (sql/015), one home for its
//  columns: DV_LOCKED_* are their indexes.
#define DV_PROGRAM_LOCK_SQL "SELECT name, policy_version, waitlist_open, waitlist_version, generation, now_us," \
                            " staff_version FROM divert.program_lock($1::text[])"
enum {
    DV_LOCKED_NAME, DV_LOCKED_POLICY_VERSION, DV_LOCKED_WAITLIST_OPEN, DV_LOCKED_WAITLIST_VERSION,
    DV_LOCKED_GENERATION, DV_LOCKED_NOW_US, DV_LOCKED_STAFF_VERSION
};

//  The program of program_lock's row `row`, made current and locked in the
//  snapshot: its case managers (program_case_managers) and open waitlist
//  read again unless the cache has them at the versions read under the
//  lock, then the snapshot's program locked with them (it borrows the case
//  managers' strings until they are read again) and the waitlist length.
//  Returns 0; 1 when the cache or the snapshot does not know the program
//  (its policy is stale); -1 on a database error (what failed is marked
//  stale).
int
    dv_cache_lock (dv_cache_t *self, dv_db_t *db, dv_snapshot_t *snapshot, PGresult *locked, int row);

//  After a COMMIT that left the program's staff at staff_version, bumped
//  first from staff_base: when staff_base is the version the transaction
//  read, only it changed them, and `decided` (the snapshot's program, as its
//  decisions left it, or NULL) is now the truth; else the case managers are
//  read again next time.
void
    dv_cache_commit_staff (dv_cached_program_t *cached, const dv_snap_program_t *decided,
                           int64_t staff_version, int64_t staff_base);

//  Forget every program's case managers and waitlist, so both are read again
//  (a transaction that failed; a new connection, maybe to another server:
//  after a failover its versions need not mean what the cached ones did).
void
    dv_cache_forget (dv_cache_t *self);

//  Re-read every program's exits of the last 90 days and waitlist length.
//  Returns 0 or -1.
int
    dv_cache_load_counts (dv_cache_t *self, dv_db_t *db);

//  "LEAD 17, CO-LEAD 3": each program's waitlist length (STATUS=).
void
    dv_cache_waitlists_text (dv_cache_t *self, char *buffer, size_t size);

//  A snapshot of every cached program (policy and waitlist borrowed from the
//  cache) with the pathway permissions, at now_us. None is locked yet.
dv_snapshot_t *
    dv_cache_snapshot (dv_cache_t *self, int64_t now_us);

#endif
