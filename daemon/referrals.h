/*  referrals — a source's requests about its own referrals (protocol.md):
    `status` (the latest decision, a waitlist place under the current
    policy), `replay` (its events after a seq; a monitor names the source)
    and `withdraw` (a transaction like intake's: find and lock the referral
    and its program (divert.withdraw_target), dv_decide_withdraw, record,
    COMMIT, then the event is published). Run by the store on its
    connection; each sets the job's reply, unless the database failed.
*/
#ifndef DV_REFERRALS_H
#define DV_REFERRALS_H

#include "cache.h"
#include "dv_db.h"
#include "job.h"

void
    dv_referrals_status (dv_db_t *db, dv_job_t *job);
void
    dv_referrals_replay (dv_db_t *db, dv_job_t *job);
//  Appends the published event to `events` ([{"topic", "event"}]).
void
    dv_referrals_withdraw (dv_db_t *db, dv_cache_t *cache, const char *decided_by, dv_job_t *job, json_t *events);

#endif
