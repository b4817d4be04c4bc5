/*  dv_waitlist — the order of a program's waitlist. See dv_waitlist.h. */
#include "dv_waitlist.h"
#include <stdlib.h>

#define S_DAY_US (86400LL * 1000000LL)

int
dv_waitlist_aging (const dv_program_t *program, const dv_wait_entry_t *entry, int64_t now_us)
{
    int64_t days = (now_us - entry->received_us) / S_DAY_US;
    return dv_policy_aging (program, days > 100000 ? 100000 : (int) days);
}

int
dv_waitlist_score (const dv_program_t *program, const dv_wait_entry_t *entry, int64_t now_us)
{
    int score = entry->score + dv_waitlist_aging (program, entry, now_us);
    return score > 100 ? 100 : score;
}

bool
dv_waitlist_before (const dv_program_t *program, const dv_wait_entry_t *a, const dv_wait_entry_t *b,
                    int64_t now_us)
{
    if (a->tier != b->tier)
        return a->tier < b->tier;
    int sa = dv_waitlist_score (program, a, now_us);
    int sb = dv_waitlist_score (program, b, now_us);
    if (sa != sb)
        return sa > sb;
    if (a->received_us != b->received_us)
        return a->received_us < b->received_us;
    //  An entry not yet recorded (id 0) comes after the recorded ones
    return a->id != 0 && (b->id == 0 || a->id < b->id);
}

//  qsort has no context argument: the comparison's program and clock.
typedef struct {
    const dv_program_t *program;
    const dv_wait_entry_t *entries;
    int64_t now_us;
} s_sort_t;

static _Thread_local s_sort_t s_sort;

static int
s_compare (const void *a, const void *b)
{
    const dv_wait_entry_t *ea = &s_sort.entries [*(const size_t *) a];
    const dv_wait_entry_t *eb = &s_sort.entries [*(const size_t *) b];
    if (dv_waitlist_before (s_sort.program, ea, eb, s_sort.now_us))
        return -1;
    return dv_waitlist_before (s_sort.program, eb, ea, s_sort.now_us) ? 1 : 0;
}

void
dv_waitlist_order (const dv_program_t *program, const dv_wait_entry_t *entries, size_t count,
                   int64_t now_us, size_t *order)
{
    for (size_t i = 0; i < count; i++)
        order [i] = i;
    s_sort = (s_sort_t) { program, entries, now_us };
    qsort (order, count, sizeof order [0], s_compare);
}

int
dv_waitlist_position (const dv_program_t *program, const dv_wait_entry_t *entries, size_t count,
                      const dv_wait_entry_t *entry, int64_t now_us)
{
    int position = 1;
    for (size_t i = 0; i < count; i++)
        if (&entries [i] != entry && !(entry->id && entries [i].id == entry->id)
        &&  dv_waitlist_before (program, &entries [i], entry, now_us))
            position++;
    return position;
}
