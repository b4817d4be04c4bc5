/*  snapshot — one intake transaction's view of programs and capacity.
    See snapshot.h. */
#include "snapshot.h"
#include "dv_program.h"
#include <stdlib.h>
#include <string.h>

struct _dv_snapshot_t {
    json_t *json;
    int64_t now_us;
    size_t program_count;
    dv_snap_program_t *programs;
};

static int
s_int (json_t *object, const char *key, int fallback)
{
    json_t *value = json_object_get (object, key);
    return json_is_integer (value) ? (int) json_integer_value (value) : fallback;
}

static void
s_load_program (dv_snap_program_t *p, json_t *j)
{
    json_t *policy = json_object_get (j, "policy");     //  the divert.program row
    dv_program_load (&p->policy, policy);
    p->is_default = json_is_true (json_object_get (policy, "is_default"));
    p->waitlist_ttl_us = json_integer_value (json_object_get (j, "waitlist_ttl_us"));
    p->exits_90d = s_int (j, "exits_90d", 0);
    json_t *cms = json_object_get (j, "cms");
    p->cm_count = json_array_size (cms);
    p->cms = calloc (p->cm_count ? p->cm_count : 1, sizeof (dv_cm_t));
    for (size_t i = 0; i < p->cm_count; i++) {
        json_t *cm = json_array_get (cms, i);
        p->cms [i].id = json_string_value (json_object_get (cm, "id"));
        p->cms [i].caseload = s_int (cm, "caseload", 0);
        p->cms [i].last_assigned = json_integer_value (json_object_get (cm, "last_assigned_us"));
    }
    json_t *waitlist = json_object_get (j, "waitlist");
    p->wait_count = json_array_size (waitlist);
    p->wait_alloc = p->wait_count + 16;
    p->waitlist = calloc (p->wait_alloc, sizeof (dv_wait_entry_t));
    for (size_t i = 0; i < p->wait_count; i++) {
        json_t *w = json_array_get (waitlist, i);
        p->waitlist [i].id = json_integer_value (json_object_get (w, "id"));
        p->waitlist [i].tier = s_int (w, "tier", 3);
        p->waitlist [i].score = s_int (w, "score", 0);
        p->waitlist [i].received_us = json_integer_value (json_object_get (w, "received_us"));
    }
}

dv_snapshot_t *
dv_snapshot_new (json_t *json)
{
    json_t *programs = json_object_get (json, "programs");
    if (!json_is_object (json) || !json_is_array (programs) || json_array_size (programs) == 0) {
        json_decref (json);
        return NULL;
    }
    dv_snapshot_t *self = calloc (1, sizeof *self);
    self->json = json;
    self->now_us = json_integer_value (json_object_get (json, "now_us"));
    self->program_count = json_array_size (programs);
    self->programs = calloc (self->program_count, sizeof (dv_snap_program_t));
    for (size_t i = 0; i < self->program_count; i++)
        s_load_program (&self->programs [i], json_array_get (programs, i));
    return self;
}

void
dv_snapshot_destroy (dv_snapshot_t **self_p)
{
    if (self_p && *self_p) {
        dv_snapshot_t *self = *self_p;
        for (size_t i = 0; i < self->program_count; i++) {
            free (self->programs [i].cms);
            free (self->programs [i].waitlist);
        }
        free (self->programs);
        json_decref (self->json);
        free (self);
        *self_p = NULL;
    }
}

int64_t
dv_snapshot_now_us (dv_snapshot_t *self)
{
    return self->now_us;
}

size_t
dv_snapshot_program_count (dv_snapshot_t *self)
{
    return self->program_count;
}

dv_snap_program_t *
dv_snapshot_program (dv_snapshot_t *self, size_t index)
{
    return index < self->program_count ? &self->programs [index] : NULL;
}

dv_snap_program_t *
dv_snapshot_program_named (dv_snapshot_t *self, const char *name)
{
    for (size_t i = 0; name && i < self->program_count; i++)
        if (strcmp (self->programs [i].policy.name, name) == 0)
            return &self->programs [i];
    return NULL;
}

dv_snap_program_t *
dv_snapshot_route (dv_snapshot_t *self, dv_housing_t housing)
{
    dv_snap_program_t *fallback = &self->programs [0];
    for (size_t i = 0; i < self->program_count; i++) {
        if (self->programs [i].policy.accepts_housing [housing])
            return &self->programs [i];
        if (self->programs [i].is_default)
            fallback = &self->programs [i];
    }
    return fallback;
}

json_t *
dv_snapshot_source (dv_snapshot_t *self, const char *source_id)
{
    size_t index;
    json_t *source;
    json_array_foreach (json_object_get (self->json, "sources"), index, source) {
        const char *id = json_string_value (json_object_get (source, "id"));
        if (id && strcmp (id, source_id) == 0)
            return source;
    }
    return NULL;
}

json_t *
dv_snapshot_referral (dv_snapshot_t *self, const char *source_id, const char *referral_id)
{
    size_t index;
    json_t *referral;
    json_array_foreach (json_object_get (self->json, "referrals"), index, referral) {
        const char *source = json_string_value (json_object_get (referral, "source"));
        const char *id = json_string_value (json_object_get (referral, "referral_id"));
        if (source && id && strcmp (source, source_id) == 0 && strcmp (id, referral_id) == 0)
            return referral;
    }
    return NULL;
}

json_t *
dv_snapshot_person (dv_snapshot_t *self, size_t index)
{
    return json_array_get (json_object_get (self->json, "persons"), index);
}

void
dv_snap_program_assign (dv_snap_program_t *program, int cm_index, int64_t now_us)
{
    program->cms [cm_index].caseload++;
    program->cms [cm_index].last_assigned = now_us;
}

int
dv_snap_program_effective_score (dv_snap_program_t *program, const dv_wait_entry_t *entry,
                                 int64_t now_us)
{
    int64_t days = (now_us - entry->received_us) / (86400LL * 1000000LL);
    int score = entry->score + dv_policy_aging (&program->policy, days > 100000 ? 100000 : (int) days);
    return score > 100 ? 100 : score;
}

//  True when a goes before b in promotion order: tier ascending, then
//  aging-adjusted score descending, then received time ascending.
static bool
s_before (dv_snap_program_t *program, const dv_wait_entry_t *a, const dv_wait_entry_t *b,
          int64_t now_us)
{
    if (a->tier != b->tier)
        return a->tier < b->tier;
    int sa = dv_snap_program_effective_score (program, a, now_us);
    int sb = dv_snap_program_effective_score (program, b, now_us);
    if (sa != sb)
        return sa > sb;
    if (a->received_us != b->received_us)
        return a->received_us < b->received_us;
    return a->id != 0 && (b->id == 0 || a->id < b->id);
}

static int
s_position_of (dv_snap_program_t *program, const dv_wait_entry_t *entry, int64_t now_us)
{
    int position = 1;
    for (size_t i = 0; i < program->wait_count; i++)
        if (&program->waitlist [i] != entry && s_before (program, &program->waitlist [i], entry, now_us))
            position++;
    return position;
}

int
dv_snap_program_wait (dv_snap_program_t *program, const dv_wait_entry_t *entry, int64_t now_us)
{
    if (program->wait_count == program->wait_alloc) {
        program->wait_alloc *= 2;
        program->waitlist = realloc (program->waitlist, program->wait_alloc * sizeof (dv_wait_entry_t));
    }
    program->waitlist [program->wait_count] = *entry;
    return s_position_of (program, &program->waitlist [program->wait_count++], now_us);
}

const dv_wait_entry_t *
dv_snap_program_entry (dv_snap_program_t *program, int64_t entry_id)
{
    for (size_t i = 0; i < program->wait_count; i++)
        if (program->waitlist [i].id == entry_id)
            return &program->waitlist [i];
    return NULL;
}

int
dv_snap_program_position (dv_snap_program_t *program, int64_t entry_id, int64_t now_us)
{
    for (size_t i = 0; i < program->wait_count; i++)
        if (program->waitlist [i].id == entry_id)
            return s_position_of (program, &program->waitlist [i], now_us);
    return 0;
}

void
dv_snap_program_order (dv_snap_program_t *program, int64_t now_us, size_t *order)
{
    //  Insertion sort: waitlists are capped (a few hundred entries).
    for (size_t i = 0; i < program->wait_count; i++) {
        size_t j = i;
        while (j > 0 && s_before (program, &program->waitlist [i], &program->waitlist [order [j - 1]], now_us)) {
            order [j] = order [j - 1];
            j--;
        }
        order [j] = i;
    }
}
