/*  record — one decision transaction's writes. See record.h. */
#include "record.h"
#include "dv_reply.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char id [33];
    int64_t last_seq;
} s_source_t;

struct _dv_record_t {
    json_t *batch;                //  the argument of divert.record()
    json_t *published;            //  [{"topic", "event"}]
    json_t *replies;              //  keeps the replies alive for the borrowers
    int64_t now_us;
    s_source_t *sources;
    size_t source_count, source_alloc;
    size_t events;
};

dv_record_t *
dv_record_new (const char *decided_by, int64_t now_us)
{
    dv_record_t *self = calloc (1, sizeof *self);
    self->batch = json_pack ("{s:s, s:[]}", "decided_by", decided_by, "programs");
    self->published = json_array ();
    self->replies = json_array ();
    self->now_us = now_us;
    return self;
}

void
dv_record_destroy (dv_record_t **self_p)
{
    if (self_p && *self_p) {
        dv_record_t *self = *self_p;
        json_decref (self->batch);
        json_decref (self->published);
        json_decref (self->replies);
        free (self->sources);
        free (self);
        *self_p = NULL;
    }
}

//  Append a row (taken) to the batch's array `table`.
static void
s_row (dv_record_t *self, const char *table, json_t *row)
{
    json_t *rows = json_object_get (self->batch, table);
    if (!rows) {
        rows = json_array ();
        json_object_set_new (self->batch, table, rows);
    }
    json_array_append_new (rows, row);
}

void
dv_record_source (dv_record_t *self, const char *id, int64_t last_seq)
{
    if (self->source_count == self->source_alloc) {
        self->source_alloc = self->source_alloc ? self->source_alloc * 2 : 8;
        self->sources = realloc (self->sources, self->source_alloc * sizeof (s_source_t));
    }
    s_source_t *source = &self->sources [self->source_count++];
    snprintf (source->id, sizeof source->id, "%s", id);
    source->last_seq = last_seq;
}

void
dv_record_program (dv_record_t *self, const char *name)
{
    json_t *programs = json_object_get (self->batch, "programs");
    size_t index;
    json_t *known;
    json_array_foreach (programs, index, known)
        if (strcmp (json_string_value (known), name) == 0)
            return;
    json_array_append_new (programs, json_string (name));
}

void
dv_record_person (dv_record_t *self, int64_t id, const char *source_id, const char *spid,
                  const char *first, const char *last, const char *dob)
{
    s_row (self, "persons", json_pack ("{s:I, s:s, s:s?, s:s?, s:s?, s:s?}", "id", (json_int_t) id,
                                       "source_id", source_id, "spid", spid, "first", first,
                                       "last", last, "dob", dob));
}

void
dv_record_referral (dv_record_t *self, int64_t id, const char *source_id, const char *referral_id,
                    int64_t person_id, const char *pathway, int tier, int score, const char *program,
                    const char *submitted_at, json_t *payload, const char *digest, const char *state,
                    int64_t waitlist_entry_id)
{
    json_t *row = json_pack ("{s:I, s:s, s:s, s:I, s:s, s:i, s:i, s:s?, s:s, s:O, s:s, s:s}",
                             "id", (json_int_t) id, "source_id", source_id, "referral_id", referral_id,
                             "person_id", (json_int_t) person_id, "pathway", pathway, "tier", tier,
                             "score", score, "program", program, "submitted_at", submitted_at,
                             "payload", payload, "digest", digest, "state", state);
    if (waitlist_entry_id)
        json_object_set_new (row, "waitlist_entry_id", json_integer (waitlist_entry_id));
    s_row (self, "referrals", row);
}

void
dv_record_waitlist_new (dv_record_t *self, int64_t id, const char *program, int64_t person_id,
                        int64_t referral_row, int tier, int score)
{
    s_row (self, "waitlist_new", json_pack ("{s:I, s:s, s:I, s:I, s:i, s:i}", "id", (json_int_t) id,
                                            "program", program, "person_id", (json_int_t) person_id,
                                            "referral_id", (json_int_t) referral_row, "tier", tier, "score", score));
    dv_record_program (self, program);
}

void
dv_record_waitlist_bump (dv_record_t *self, int64_t id, int tier, int score)
{
    s_row (self, "waitlist_bump", json_pack ("{s:I, s:i, s:i}", "id", (json_int_t) id, "tier", tier, "score", score));
}

void
dv_record_waitlist_close (dv_record_t *self, int64_t id, const char *state)
{
    s_row (self, "waitlist_close", json_pack ("{s:I, s:s}", "id", (json_int_t) id, "state", state));
}

void
dv_record_waitlist_primary (dv_record_t *self, int64_t id, int64_t referral_row)
{
    s_row (self, "waitlist_primary", json_pack ("{s:I, s:I}", "id", (json_int_t) id,
                                                "referral_id", (json_int_t) referral_row));
}

void
dv_record_referral_state (dv_record_t *self, int64_t referral_row, const char *state)
{
    s_row (self, "referral_states", json_pack ("{s:I, s:s}", "id", (json_int_t) referral_row, "state", state));
}

void
dv_record_enrollment_new (dv_record_t *self, int64_t referral_row, int64_t person_id, const char *program,
                          const char *case_manager)
{
    s_row (self, "enrollments_new", json_pack ("{s:I, s:I, s:s, s:s}", "referral_id", (json_int_t) referral_row,
                                               "person_id", (json_int_t) person_id, "program", program,
                                               "case_manager", case_manager));
}

void
dv_record_enrollment_exit (dv_record_t *self, int64_t enrollment_id, const char *reason)
{
    s_row (self, "enrollments_exit", json_pack ("{s:I, s:s}", "id", (json_int_t) enrollment_id, "reason", reason));
}

static s_source_t *
s_source (dv_record_t *self, const char *id)
{
    for (size_t i = 0; i < self->source_count; i++)
        if (strcmp (self->sources [i].id, id) == 0)
            return &self->sources [i];
    return NULL;
}

json_t *
dv_record_event (dv_record_t *self, const dv_record_event_t *e)
{
    s_source_t *source = s_source (self, e->source_id);
    if (!source) {
        json_decref (e->components);
        json_decref (e->capacity);
        return NULL;
    }
    int64_t seq = ++source->last_seq;
    const char *decision = dv_decision_name (e->outcome.decision);
    const char *reason = dv_reason_name (e->outcome.reason);
    dv_decision_reply_t told = {
        e->referral_id, seq, decision, reason, e->program, e->cm_id, e->cm_name, e->tier, e->score,
        e->waitlist, self->now_us
    };
    json_t *reply = dv_reply_decision (&told);
    json_array_append_new (self->replies, reply);
    json_t *row = json_pack ("{s:s, s:I, s:I, s:s, s:s, s:s?, s:s?, s:b, s:O}",
                             "source_id", e->source_id, "seq", (json_int_t) seq,
                             "referral_id", (json_int_t) e->referral_row, "decision", decision, "reason", reason,
                             "program", e->program, "case_manager", e->cm_id, "from_waitlist", e->from_waitlist,
                             "reply", reply);
    if (e->tier) {
        json_object_set_new (row, "tier", json_integer (e->tier));
        json_object_set_new (row, "score", json_integer (e->score));
    }
    if (e->components)
        json_object_set_new (row, "components", e->components);
    if (e->capacity)
        json_object_set_new (row, "capacity", e->capacity);
    if (e->policy_version)
        json_object_set_new (row, "policy_version", json_integer (e->policy_version));
    s_row (self, "events", row);
    //  Published after COMMIT
    dv_event_t wire = {
        e->source_kind, e->source_id, seq, e->referral_id, decision, reason, e->program, e->tier,
        e->from_waitlist, self->now_us
    };
    char *topic = dv_reply_event_topic (&wire);
    json_array_append_new (self->published, json_pack ("{s:s, s:o}", "topic", topic, "event", dv_reply_event (&wire)));
    free (topic);
    self->events++;
    return reply;
}

json_t *
dv_record_capacity (const dv_program_t *policy, const dv_capacity_t *c)
{
    return json_pack ("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}",
                      "n", c->n, "total", c->total, "max_load", c->max_load, "paced", c->paced,
                      "free", c->free, "open_slots", c->open_slots, "waitlist", c->waitlist,
                      "hard_cap", policy->hard_cap, "target_avg", policy->target_avg,
                      "reserve_tier1", policy->reserve_tier1, "reserve_tier2", policy->reserve_tier2);
}

json_t *
dv_record_components (const dv_score_t *score)
{
    return json_pack ("{s:i, s:i, s:i, s:i}", "pathway", score->pathway, "acuity", score->acuity,
                      "contacts", score->contacts, "aging", score->aging);
}

size_t
dv_record_event_count (dv_record_t *self)
{
    return self->events;
}

bool
dv_record_empty (dv_record_t *self)
{
    //  decided_by and programs are always there
    return json_object_size (self->batch) <= 2;
}

json_t *
dv_record_batch (dv_record_t *self)
{
    json_t *sources = json_array ();
    for (size_t i = 0; i < self->source_count; i++)
        json_array_append_new (sources, json_pack ("{s:s, s:I}", "id", self->sources [i].id,
                                                   "last_seq", (json_int_t) self->sources [i].last_seq));
    json_object_set_new (self->batch, "sources", sources);
    return self->batch;
}

json_t *
dv_record_published (dv_record_t *self)
{
    return self->published;
}

int
dv_record_commit (dv_record_t *self, dv_db_t *db, dv_cache_t *cache, dv_snapshot_t *decided)
{
    char *batch = dv_record_empty (self) ? NULL : json_dumps (dv_record_batch (self), JSON_COMPACT);
    const char *params [] = { batch };
    dv_db_stmt_t statements [2] = {
        { "SELECT program, waitlist_open, waitlist_version, staff_version, staff_base"
          " FROM divert.record($1::jsonb)", 1, params },
        { "COMMIT", 0, NULL }
    };
    PGresult *results [2] = { NULL, NULL };
    int rc = batch ? dv_db_pipeline (db, 2, statements, results)
                   : dv_db_pipeline (db, 1, statements + 1, results + 1);
    free (batch);
    for (int row = 0; rc == 0 && results [0] && row < PQntuples (results [0]); row++) {
        dv_cached_program_t *cached = dv_cache_program_named (cache, PQgetvalue (results [0], row, 0));
        if (cached) {
            cached->waitlist_open = atoi (PQgetvalue (results [0], row, 1));
            cached->waitlist_version = strtoll (PQgetvalue (results [0], row, 2), NULL, 10);
            dv_cache_commit_staff (cached, decided ? dv_snapshot_program_named (decided, cached->policy.name) : NULL,
                                   strtoll (PQgetvalue (results [0], row, 3), NULL, 10),
                                   strtoll (PQgetvalue (results [0], row, 4), NULL, 10));
        }
    }
    PQclear (results [0]);
    PQclear (results [1]);
    return rc;
}
