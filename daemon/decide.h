/*  decide — where divertd makes each intake decision.

    For a batch of referral jobs, against a snapshot taken under the
    programs' row locks (snapshot.h), in this order per referral:
      1. the sender's key is still valid and its kind may send this pathway
         (else error `forbidden`);
      2. a referral_id already used by this source: same content -> the
         stored decision, `replayed: true`; different content -> `conflict`;
      3. routing by housing, priority tier and score (dv_policy_score);
      4. eligibility (dv_policy_eligibility), then already_enrolled and
         linked_to_pending from the person lookup;
      5. the tier's capacity rule (dv_policy_capacity_rule) and assignment to
         the lowest caseload (dv_policy_assign).
    Outcomes 1-2 are replied at once (job->reply); 3-5 become items for
    divert.batch_record() and are replied only after COMMIT.
*/
#ifndef DV_DECIDE_H
#define DV_DECIDE_H

#include <jansson.h>
#include "job.h"
#include "snapshot.h"

//  The lookup keys for divert.batch_begin(): sources, referrals and one
//  person entry per job, in job order.
json_t *
    dv_decide_keys (dv_job_t **jobs, size_t count);

//  Decide every job. Returns the items array for divert.batch_record();
//  item_job [k] receives the index of the job item k belongs to.
json_t *
    dv_decide_batch (dv_snapshot_t *snapshot, dv_job_t **jobs, size_t count, size_t *item_job);

//  Promotion (policy.md §5): for every program, walk the waitlist in
//  promotion order and re-apply the tier's capacity rule (promoting: accept
//  or stay); assign each entry that fits to the lowest caseload, stop at the
//  first that does not (later entries are of the same or a stricter tier).
//  Returns the items for divert.batch_promote().
json_t *
    dv_decide_promotions (dv_snapshot_t *snapshot);

#endif
