/*  snapshot — what one decision transaction sees, as typed values: the
    transaction's clock, every program's policy and open waitlist, and, for
    the programs the transaction locked, their active case managers and the
    waitlist length read under the lock; and which pathways each kind of
    source may send.

    divertd builds one from its cache (cache.h) and the rows it read under
    the locks (intake.c, maintenance.c); the unit tests build one from
    literals. Decisions (decide.h) read it and keep it current as they are
    made: an accept raises a caseload, a new waitlist entry joins the list,
    so a later referral of the same batch sees them.
*/
#ifndef DV_SNAPSHOT_H
#define DV_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dv_policy.h"
#include "dv_waitlist.h"

//  A program's open waitlist (growable; the cache owns the daemon's).
typedef struct {
    dv_wait_entry_t *entries;
    size_t count, alloc;
} dv_wait_list_t;

//  Append an entry; returns it.
dv_wait_entry_t *
    dv_wait_list_add (dv_wait_list_t *list, const dv_wait_entry_t *entry);
//  Remove the entry with this id (no-op when absent).
void
    dv_wait_list_remove (dv_wait_list_t *list, int64_t id);
void
    dv_wait_list_clear (dv_wait_list_t *list);

typedef struct {
    const dv_program_t *policy;   //  borrowed
    bool is_default;              //  where a housing no program takes goes
    int64_t waitlist_ttl_us;
    int exits_90d;                //  the wait band's rate
    dv_wait_list_t *waitlist;     //  borrowed; decisions add to it
    //  Locked programs only (locked is false otherwise):
    bool locked;
    dv_cm_t *cms;                 //  active case managers (owned copy)
    const char **cm_names;        //  their names, same order (owned copy of the pointers)
    size_t cm_count;
    int waitlist_open;            //  the program's waitlist length, read under the lock
} dv_snap_program_t;

typedef struct _dv_snapshot_t dv_snapshot_t;

dv_snapshot_t *
    dv_snapshot_new (int64_t now_us);
void
    dv_snapshot_destroy (dv_snapshot_t **self_p);

int64_t
    dv_snapshot_now_us (dv_snapshot_t *self);

//  Add a program (policy and waitlist borrowed: they must outlive the snapshot).
dv_snap_program_t *
    dv_snapshot_add_program (dv_snapshot_t *self, const dv_program_t *policy, bool is_default,
                             int64_t waitlist_ttl_us, int exits_90d, dv_wait_list_t *waitlist);

//  The program's case managers and waitlist length, read under its lock
//  (copied; the strings are borrowed). Marks it locked.
void
    dv_snap_program_lock (dv_snap_program_t *program, const dv_cm_t *cms, const char *const *names,
                          size_t count, int waitlist_open);

size_t
    dv_snapshot_program_count (dv_snapshot_t *self);
dv_snap_program_t *
    dv_snapshot_program (dv_snapshot_t *self, size_t index);
dv_snap_program_t *
    dv_snapshot_program_named (dv_snapshot_t *self, const char *name);

//  The program a referral with this housing goes to: the first added that
//  accepts the housing, else the default program (else the first).
dv_snap_program_t *
    dv_snapshot_route (dv_snapshot_t *self, dv_housing_t housing);

//  Which pathways a kind of source may send (policy.md §1).
void
    dv_snapshot_permit (dv_snapshot_t *self, const char *kind, const char *pathway);
bool
    dv_snapshot_may_send (dv_snapshot_t *self, const char *kind, const char *pathway);

//  A source whose key is revoked (read under its lock): its referrals are refused.
void
    dv_snapshot_revoke (dv_snapshot_t *self, const char *source_id);
bool
    dv_snapshot_revoked (dv_snapshot_t *self, const char *source_id);

//  The capacity a decision of this (locked) program sees now.
dv_capacity_t
    dv_snap_program_capacity (dv_snap_program_t *program);

//  Record an accept against case manager `cm_index` (caseload + 1).
void
    dv_snap_program_assign (dv_snap_program_t *program, int cm_index, int64_t now_us);

//  Add a waitlist entry (its id chosen by the caller); returns its 1-based
//  position in waitlist order.
int
    dv_snap_program_wait (dv_snap_program_t *program, const dv_wait_entry_t *entry, int64_t now_us);

//  The open entry with this id, or NULL.
const dv_wait_entry_t *
    dv_snap_program_entry (dv_snap_program_t *program, int64_t entry_id);

#endif
