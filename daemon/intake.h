/*  intake — one transaction for a batch of referrals (decide.h follows a
    referral's whole path).

    Round trip 1, pipelined: BEGIN; lock the programs the batch is routed to
    (in name order) and its sources (divert.program_lock, source_lock); read
    what the database knows of each referral's ids and person
    (intake_lookup), and ids for new rows. A program whose case managers or
    waitlist changed since the cache read them (program_lock's versions)
    has them read again (cache.h). Then,
    in C: the snapshot (snapshot.h) from the cache (cache.h) and those rows,
    a verdict for each referral (dv_decide_referral), the writes and the
    replies (record.h). Round trip 2, pipelined: divert.record(), COMMIT.
    Nothing of a batch whose transaction failed is kept: its jobs stay
    unanswered and the cache's waitlists it touched are reloaded.
*/
#ifndef DV_INTAKE_H
#define DV_INTAKE_H

#include "cache.h"
#include "dv_db.h"
#include "job.h"

typedef enum {
    DV_INTAKE_OK,                 //  committed: every job has its reply, batch->events the events
    DV_INTAKE_RETRY,              //  refused for a reason a new attempt may not meet (a race)
    DV_INTAKE_FAILED              //  refused (maybe by one referral), or the database went away
} dv_intake_result_t;

//  What one committed batch did, for the store's bookkeeping.
typedef struct {
    bool linked;                  //  a referral was linked to a waitlist entry (priority may rise)
    int64_t lock_us, decide_us, record_us;
} dv_intake_report_t;

//  Decide and record these referral jobs (count >= 1) in one transaction.
dv_intake_result_t
    dv_intake_run (dv_db_t *db, dv_cache_t *cache, const char *decided_by, dv_batch_t *batch,
                   dv_job_t **jobs, size_t count, dv_intake_report_t *report);

#endif
