/*  record — one decision transaction's writes, gathered as C decides and
    written by divert.record() (sql/008) with one statement per table: new
    persons, referrals, waitlist entries and enrollments, state changes, and
    the decision events with the replies stored with them (dv_reply.h), each
    source's seq continued gap-free from the value read under its lock
    (divert.source_lock). After COMMIT the replies go to the referrers and
    the events (dv_record_published) are published.
*/
#ifndef DV_RECORD_H
#define DV_RECORD_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "cache.h"
#include "dv_db.h"
#include "dv_policy.h"

typedef struct _dv_record_t dv_record_t;

dv_record_t *
    dv_record_new (const char *decided_by, int64_t now_us);
void
    dv_record_destroy (dv_record_t **self_p);

//  A source whose seq this transaction continues: its last seq, read under
//  its lock. A decision event of another source can't be recorded.
void
    dv_record_source (dv_record_t *self, const char *id, int64_t last_seq);
//  A program whose waitlist counters the write returns (touched).
void
    dv_record_program (dv_record_t *self, const char *name);

void
    dv_record_person (dv_record_t *self, int64_t id, const char *source_id, const char *spid,
                      const char *first, const char *last, const char *dob);
void
    dv_record_referral (dv_record_t *self, int64_t id, const char *source_id, const char *referral_id,
                        int64_t person_id, const char *pathway, int tier, int score, const char *program,
                        const char *submitted_at, json_t *payload, const char *digest, const char *state,
                        int64_t waitlist_entry_id);
void
    dv_record_waitlist_new (dv_record_t *self, int64_t id, const char *program, int64_t person_id,
                            int64_t referral_row, int tier, int score);
//  A linked referral's priority for an open entry (kept only when better).
void
    dv_record_waitlist_bump (dv_record_t *self, int64_t id, int tier, int score);
//  promoted | expired | withdrawn
void
    dv_record_waitlist_close (dv_record_t *self, int64_t id, const char *state);
//  Another referral linked to the entry becomes the one it belongs to.
void
    dv_record_waitlist_primary (dv_record_t *self, int64_t id, int64_t referral_row);
void
    dv_record_referral_state (dv_record_t *self, int64_t referral_row, const char *state);
void
    dv_record_enrollment_new (dv_record_t *self, int64_t referral_row, int64_t person_id, const char *program,
                              const char *case_manager);
void
    dv_record_enrollment_exit (dv_record_t *self, int64_t enrollment_id, const char *reason);

//  One decision event and the reply stored with it.
typedef struct {
    const char *source_id;
    const char *source_kind;
    int64_t referral_row;
    const char *referral_id;      //  the source's UUID
    dv_outcome_t outcome;
    const char *program;
    const char *cm_id;            //  accept
    const char *cm_name;
    int tier;                     //  0: none
    int score;
    json_t *components;           //  taken (may be NULL)
    json_t *capacity;             //  taken (may be NULL)
    bool from_waitlist;
    int policy_version;           //  0: none
    json_t *waitlist;             //  waitlist: the reply's place (borrowed)
} dv_record_event_t;

//  Record one decision event with its source's next seq. Returns the reply
//  (borrowed, valid until the record is destroyed); NULL when the source was
//  not given with dv_record_source.
json_t *
    dv_record_event (dv_record_t *self, const dv_record_event_t *event);

//  The capacity a decision saw, as stored with its event (policy.md §6).
json_t *
    dv_record_capacity (const dv_program_t *policy, const dv_capacity_t *capacity);
//  A score's components, as stored with its event.
json_t *
    dv_record_components (const dv_score_t *score);

//  How many decision events, and whether there is anything to write.
size_t
    dv_record_event_count (dv_record_t *self);
bool
    dv_record_empty (dv_record_t *self);

//  The argument of divert.record() (borrowed).
json_t *
    dv_record_batch (dv_record_t *self);

//  Round trip 2 of a decision transaction: divert.record() (when there is
//  anything to write) and COMMIT, pipelined. Then the cache has the touched
//  programs' waitlist counters, and their case managers as `decided` (the
//  transaction's snapshot) left them when only this transaction changed
//  them (NULL: a transaction whose changes the snapshot does not mirror).
//  Returns 0, or -1 (nothing was recorded; the caller rolls back).
int
    dv_record_commit (dv_record_t *self, dv_db_t *db, dv_cache_t *cache, dv_snapshot_t *decided);

//  [{"topic", "event"}...] to publish after COMMIT (borrowed).
json_t *
    dv_record_published (dv_record_t *self);

#endif
