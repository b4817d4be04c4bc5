/*  dv_waitlist — the order of a program's waitlist (policy.md §3, §5), the
    one place it is defined: tier ascending, then the score with aging
    descending, then the time received ascending (then the entry id, so the
    order is total). divertd promotes in this order and tells a waitlisted
    referral its position in it; `divertctl waitlist` lists it in it.

    Pure: no I/O, no clock (the time is passed in), unit-tested in
    tests/unit/test_policy.c.
*/
#ifndef DV_WAITLIST_H
#define DV_WAITLIST_H

#include <stddef.h>
#include <stdint.h>
#include "dv_policy.h"

//  One open waitlist entry.
typedef struct {
    int64_t id;                   //  0 for an entry not yet recorded
    int tier;
    int score;                    //  the best base score of its referrals (no aging)
    int64_t received_us;          //  microseconds since the epoch
} dv_wait_entry_t;

//  The aging the entry has earned at now_us (dv_policy_aging, per full day
//  waited), and its score: its base score plus that aging, at most 100.
int
    dv_waitlist_aging (const dv_program_t *program, const dv_wait_entry_t *entry, int64_t now_us);
int
    dv_waitlist_score (const dv_program_t *program, const dv_wait_entry_t *entry, int64_t now_us);

//  True when a goes before b.
bool
    dv_waitlist_before (const dv_program_t *program, const dv_wait_entry_t *a, const dv_wait_entry_t *b,
                        int64_t now_us);

//  Fill order [0..count) with the indices of entries in waitlist order.
void
    dv_waitlist_order (const dv_program_t *program, const dv_wait_entry_t *entries, size_t count,
                       int64_t now_us, size_t *order);

//  The 1-based position `entry` would have among entries (entry itself, if
//  it is one of them, is not counted twice).
int
    dv_waitlist_position (const dv_program_t *program, const dv_wait_entry_t *entries, size_t count,
                          const dv_wait_entry_t *entry, int64_t now_us);

#endif
