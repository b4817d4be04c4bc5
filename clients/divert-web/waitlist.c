/*  waitlist — the open waitlists in promotion order, for the dashboard and
    the partner's list. The order is dv_waitlist's (common/dv_waitlist.c, the
    one place it is defined, the one divertd promotes in); the database gives
    only the entries (divert.web_waitlist: no personal data) and the
    programs' policy (the aging rate).
*/
#include "web.h"
#include "dv_program.h"
#include "dv_waitlist.h"

#include <czmq.h>

static const char *s_waitlist_sql =
    "SELECT json_build_object("
    " 'programs', (SELECT COALESCE(json_agg(to_json(p) ORDER BY p.name), '[]') FROM divert.web_programs p),"
    " 'entries', " WEB_WAITLIST_SQL ", 'now_us', " WEB_NOW_US_SQL ")";

static dv_wait_entry_t
s_entry (json_t *row)
{
    return (dv_wait_entry_t) {
        .id = json_integer_value (json_object_get (row, "id")),
        .tier = (int) json_integer_value (json_object_get (row, "tier")),
        .score = (int) json_integer_value (json_object_get (row, "base_score")),
        .received_us = json_integer_value (json_object_get (row, "received_us")),
    };
}

//  One program's entries, in order, each with its position, aging and score.
static void
s_order_program (json_t *program_row, json_t *entries, int64_t now_us, json_t *out)
{
    dv_program_t program;
    dv_program_load (&program, program_row);
    size_t count = 0, index;
    json_t *row;
    json_array_foreach (entries, index, row)
        if (streq (json_string_value (json_object_get (row, "program")), program.name))
            count++;
    if (count == 0)
        return;
    json_t **rows = calloc (count, sizeof *rows);
    dv_wait_entry_t *list = calloc (count, sizeof *list);
    size_t *order = calloc (count, sizeof *order);
    if (!rows || !list || !order) {
        free (rows), free (list), free (order);
        return;
    }
    size_t n = 0;
    json_array_foreach (entries, index, row)
        if (streq (json_string_value (json_object_get (row, "program")), program.name)) {
            rows [n] = row;
            list [n++] = s_entry (row);
        }
    dv_waitlist_order (&program, list, count, now_us, order);
    for (size_t i = 0; i < count; i++) {
        json_t *entry = json_deep_copy (rows [order [i]]);
        json_object_set_new (entry, "position", json_integer ((json_int_t) i + 1));
        json_object_set_new (entry, "aging", json_integer (dv_waitlist_aging (&program, &list [order [i]], now_us)));
        json_object_set_new (entry, "score", json_integer (dv_waitlist_score (&program, &list [order [i]], now_us)));
        json_object_del (entry, "received_us");
        json_array_append_new (out, entry);
    }
    free (rows), free (list), free (order);
}

json_t *
web_waitlist_order (json_t *programs, json_t *entries, int64_t now_us)
{
    json_t *out = json_array ();
    size_t index;
    json_t *program;
    json_array_foreach (programs, index, program)
        s_order_program (program, entries, now_us, out);
    return out;
}

json_t *
web_waitlist_ordered (web_t *web)
{
    json_t *data = web_pool_json (web->pool, s_waitlist_sql, 0, NULL);
    json_t *out = json_is_object (data)
        ? web_waitlist_order (json_object_get (data, "programs"), json_object_get (data, "entries"),
                              json_integer_value (json_object_get (data, "now_us")))
        : NULL;
    json_decref (data);
    return out;
}

json_t *
web_waitlist_find (json_t *ordered, json_int_t entry_id)
{
    size_t index;
    json_t *entry;
    json_array_foreach (ordered, index, entry)
        if (json_integer_value (json_object_get (entry, "id")) == entry_id)
            return entry;
    return NULL;
}
