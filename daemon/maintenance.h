/*  maintenance — what time and freed capacity decide (policy.md §1, §5),
    run by the store when PostgreSQL says capacity can have changed (NOTIFY
    divert_capacity), on its re-check timer and after every reconnect.

    Two transactions, each: find and lock (sql/008), decide in C (decide.h),
    write with divert.record(), COMMIT, then publish:
      lifecycle   terms that ended, intakes that lapsed, waitlist entries
                  past their program's current time-to-live
                  (divert.lifecycle_due; dv_decide_lifecycle)
      promotion   the head of each program's waitlist that now fits, with
                  every referral linked to a promoted entry accepted
                  (dv_decide_promotions; divert.waitlist_linked)
    Promotion locks only the programs asked for (a NOTIFY names its program;
    the timer asks for all), and works from the cached waitlist.
*/
#ifndef DV_MAINTENANCE_H
#define DV_MAINTENANCE_H

#include <jansson.h>
#include "cache.h"
#include "dv_db.h"

//  Run lifecycle, then promotion in `programs` (a PostgreSQL array literal
//  such as {"LEAD"}; NULL: every program). Appends the committed events to
//  `events` ([{"topic", "event"}...]). Returns how many later decisions were
//  made, or -1 when a transaction failed (nothing of it was kept).
int
    dv_maintenance_run (dv_db_t *db, dv_cache_t *cache, const char *decided_by, const char *programs,
                        json_t *events);

#endif
