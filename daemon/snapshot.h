/*  snapshot — what one intake transaction sees: every program's policy and
    live capacity (case managers, caseloads, open waitlist), the sending
    sources, earlier referrals with the same ids, and the persons referred.

    Parsed from divert.batch_begin()'s JSON (sql/002_intake.sql) while the
    transaction holds every program's row lock, and then kept current in
    memory as the batch's decisions are made (an accept raises a caseload, a
    waitlist entry joins the list) so later referrals in the batch see them.
*/
#ifndef DV_SNAPSHOT_H
#define DV_SNAPSHOT_H

#include <jansson.h>
#include "dv_policy.h"

typedef struct {
    int64_t id;                   //  0 for an entry added in this batch
    int tier;
    int score;                    //  base score (aging is added when ordering)
    int64_t received_us;
} dv_wait_entry_t;

typedef struct {
    dv_program_t policy;
    bool is_default;
    int64_t waitlist_ttl_us;
    int exits_90d;
    size_t cm_count;
    dv_cm_t *cms;                 //  active case managers (ids point into `json`)
    size_t wait_count, wait_alloc;
    dv_wait_entry_t *waitlist;
} dv_snap_program_t;

typedef struct _dv_snapshot_t dv_snapshot_t;

//  Takes ownership of `json`. Returns NULL if it is not the expected shape.
dv_snapshot_t *
    dv_snapshot_new (json_t *json);
void
    dv_snapshot_destroy (dv_snapshot_t **self_p);

int64_t
    dv_snapshot_now_us (dv_snapshot_t *self);

size_t
    dv_snapshot_program_count (dv_snapshot_t *self);
dv_snap_program_t *
    dv_snapshot_program (dv_snapshot_t *self, size_t index);
dv_snap_program_t *
    dv_snapshot_program_named (dv_snapshot_t *self, const char *name);

//  The program a referral with this housing goes to: the first (by name)
//  that accepts the housing, else the default program.
dv_snap_program_t *
    dv_snapshot_route (dv_snapshot_t *self, dv_housing_t housing);

//  A source as the database knows it (NULL if unknown).
json_t *
    dv_snapshot_source (dv_snapshot_t *self, const char *source_id);

//  An earlier referral with this (source, referral_id), or NULL.
json_t *
    dv_snapshot_referral (dv_snapshot_t *self, const char *source_id, const char *referral_id);

//  The index-th person lookup (in the order the keys were given).
json_t *
    dv_snapshot_person (dv_snapshot_t *self, size_t index);

//  Record an accept against case manager `cm_index` (caseload + 1).
void
    dv_snap_program_assign (dv_snap_program_t *program, int cm_index, int64_t now_us);

//  Add a waitlist entry; returns its 1-based position in promotion order.
int
    dv_snap_program_wait (dv_snap_program_t *program, const dv_wait_entry_t *entry, int64_t now_us);

//  The open entry with this id, or NULL.
const dv_wait_entry_t *
    dv_snap_program_entry (dv_snap_program_t *program, int64_t entry_id);

//  1-based position of the entry with this id in promotion order (0 if absent).
int
    dv_snap_program_position (dv_snap_program_t *program, int64_t entry_id, int64_t now_us);

//  The program's waitlist in promotion order (tier, aging-adjusted score,
//  arrival): fills `order` (wait_count entries) with indices into waitlist.
void
    dv_snap_program_order (dv_snap_program_t *program, int64_t now_us, size_t *order);

//  Aging-adjusted score of an entry at time now_us (policy.md §3).
int
    dv_snap_program_effective_score (dv_snap_program_t *program, const dv_wait_entry_t *entry,
                                     int64_t now_us);

#endif
