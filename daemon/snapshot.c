/*  snapshot — what one decision transaction sees. See snapshot.h. */
#include "snapshot.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PERMITS_MAX 32

struct _dv_snapshot_t {
    int64_t now_us;
    dv_snap_program_t *programs;
    size_t program_count, program_alloc;
    struct {
        char kind [16];
        char pathway [32];
    } permits [S_PERMITS_MAX];
    size_t permit_count;
    char revoked [S_PERMITS_MAX][33];
    size_t revoked_count;
};

dv_wait_entry_t *
dv_wait_list_add (dv_wait_list_t *list, const dv_wait_entry_t *entry)
{
    if (list->count == list->alloc) {
        list->alloc = list->alloc ? list->alloc * 2 : 64;
        list->entries = realloc (list->entries, list->alloc * sizeof (dv_wait_entry_t));
    }
    list->entries [list->count] = *entry;
    return &list->entries [list->count++];
}

void
dv_wait_list_remove (dv_wait_list_t *list, int64_t id)
{
    for (size_t i = 0; i < list->count; i++)
        if (list->entries [i].id == id) {
            list->entries [i] = list->entries [--list->count];
            return;
        }
}

void
dv_wait_list_clear (dv_wait_list_t *list)
{
    free (list->entries);
    *list = (dv_wait_list_t) { NULL, 0, 0 };
}

dv_snapshot_t *
dv_snapshot_new (int64_t now_us)
{
    dv_snapshot_t *self = calloc (1, sizeof *self);
    self->now_us = now_us;
    return self;
}

void
dv_snapshot_destroy (dv_snapshot_t **self_p)
{
    if (self_p && *self_p) {
        dv_snapshot_t *self = *self_p;
        for (size_t i = 0; i < self->program_count; i++) {
            free (self->programs [i].cms);
            free (self->programs [i].cm_names);
        }
        free (self->programs);
        free (self);
        *self_p = NULL;
    }
}

int64_t
dv_snapshot_now_us (dv_snapshot_t *self)
{
    return self->now_us;
}

dv_snap_program_t *
dv_snapshot_add_program (dv_snapshot_t *self, const dv_program_t *policy, bool is_default,
                         int64_t waitlist_ttl_us, int exits_90d, dv_wait_list_t *waitlist)
{
    if (self->program_count == self->program_alloc) {
        self->program_alloc = self->program_alloc ? self->program_alloc * 2 : 8;
        self->programs = realloc (self->programs, self->program_alloc * sizeof (dv_snap_program_t));
    }
    dv_snap_program_t *program = &self->programs [self->program_count++];
    *program = (dv_snap_program_t) {
        .policy = policy, .is_default = is_default, .waitlist_ttl_us = waitlist_ttl_us,
        .exits_90d = exits_90d, .waitlist = waitlist
    };
    return program;
}

void
dv_snap_program_lock (dv_snap_program_t *program, const dv_cm_t *cms, const char *const *names,
                      size_t count, int waitlist_open)
{
    free (program->cms);
    free (program->cm_names);
    program->cms = calloc (count ? count : 1, sizeof (dv_cm_t));
    program->cm_names = calloc (count ? count : 1, sizeof (char *));
    memcpy (program->cms, cms, count * sizeof (dv_cm_t));
    memcpy (program->cm_names, names, count * sizeof (char *));
    program->cm_count = count;
    program->waitlist_open = waitlist_open;
    program->locked = true;
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
        if (strcmp (self->programs [i].policy->name, name) == 0)
            return &self->programs [i];
    return NULL;
}

dv_snap_program_t *
dv_snapshot_route (dv_snapshot_t *self, dv_housing_t housing)
{
    dv_snap_program_t *fallback = self->program_count ? &self->programs [0] : NULL;
    for (size_t i = 0; i < self->program_count; i++) {
        if (self->programs [i].policy->accepts_housing [housing])
            return &self->programs [i];
        if (self->programs [i].is_default)
            fallback = &self->programs [i];
    }
    return fallback;
}

void
dv_snapshot_permit (dv_snapshot_t *self, const char *kind, const char *pathway)
{
    if (self->permit_count < S_PERMITS_MAX) {
        snprintf (self->permits [self->permit_count].kind, sizeof self->permits [0].kind, "%s", kind);
        snprintf (self->permits [self->permit_count].pathway, sizeof self->permits [0].pathway, "%s", pathway);
        self->permit_count++;
    }
}

bool
dv_snapshot_may_send (dv_snapshot_t *self, const char *kind, const char *pathway)
{
    for (size_t i = 0; i < self->permit_count; i++)
        if (strcmp (self->permits [i].kind, kind) == 0 && strcmp (self->permits [i].pathway, pathway) == 0)
            return true;
    return false;
}

void
dv_snapshot_revoke (dv_snapshot_t *self, const char *source_id)
{
    if (self->revoked_count < S_PERMITS_MAX && !dv_snapshot_revoked (self, source_id))
        snprintf (self->revoked [self->revoked_count++], sizeof self->revoked [0], "%s", source_id);
}

bool
dv_snapshot_revoked (dv_snapshot_t *self, const char *source_id)
{
    for (size_t i = 0; i < self->revoked_count; i++)
        if (strcmp (self->revoked [i], source_id) == 0)
            return true;
    return false;
}

dv_capacity_t
dv_snap_program_capacity (dv_snap_program_t *program)
{
    return dv_policy_capacity (program->policy, program->cms, program->cm_count, program->waitlist_open);
}

void
dv_snap_program_assign (dv_snap_program_t *program, int cm_index, int64_t now_us)
{
    program->cms [cm_index].caseload++;
    program->cms [cm_index].last_assigned = now_us;
}

int
dv_snap_program_wait (dv_snap_program_t *program, const dv_wait_entry_t *entry, int64_t now_us)
{
    dv_wait_entry_t *added = dv_wait_list_add (program->waitlist, entry);
    program->waitlist_open++;
    return dv_waitlist_position (program->policy, program->waitlist->entries, program->waitlist->count,
                                 added, now_us);
}

const dv_wait_entry_t *
dv_snap_program_entry (dv_snap_program_t *program, int64_t entry_id)
{
    for (size_t i = 0; i < program->waitlist->count; i++)
        if (program->waitlist->entries [i].id == entry_id)
            return &program->waitlist->entries [i];
    return NULL;
}
