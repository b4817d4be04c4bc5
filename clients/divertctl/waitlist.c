/*  waitlist — `divertctl waitlist [PROGRAM] [--json]`: the open waitlist
    entries in the order divertd promotes them, as common/dv_waitlist.h
    defines it (the one home of that order): tier ascending, then the score
    with aging descending, then the time received. Shows the referral's
    UUID and source, never who the person is; the expiry is under the
    program's current time-to-live (divert.waitlist_expires_at).
*/
#include "divertctl.h"
#include "dv_program.h"
#include "dv_waitlist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Every open entry, unordered, with what its line shows.
static const char *s_entries_sql =
    "SELECT COALESCE(json_agg(json_build_object('program', w.program, 'id', w.id,"
    "   'referral_id', r.referral_id, 'source_id', r.source_id, 'tier', w.tier, 'base_score', w.score,"
    "   'received_us', s_us(w.received_at), 'received_at', s_rfc3339(w.received_at),"
    "   'waited_seconds', extract(epoch FROM now() - w.received_at)::bigint,"
    "   'expires_at', s_rfc3339(waitlist_expires_at(w)),"
    "   'expires_in_seconds', extract(epoch FROM waitlist_expires_at(w) - now())::bigint)), '[]'),"
    "   s_us(now())"
    " FROM waitlist_entry w JOIN referral r ON r.id = w.referral_id"
    " WHERE w.state = 'open' AND ($1::text IS NULL OR w.program = $1)";

//  One program's entries (of all), in waitlist order, with position, score
//  and aging: appended to `out`.
static void
s_order_program (json_t *policy_row, json_t *all, int64_t now_us, json_t *out)
{
    dv_program_t policy;
    dv_program_load (&policy, policy_row);
    json_t *mine = json_array ();
    size_t index;
    json_t *entry;
    json_array_foreach (all, index, entry)
        if (strcmp (ctl_str (entry, "program"), policy.name) == 0)
            json_array_append (mine, entry);
    size_t count = json_array_size (mine);
    dv_wait_entry_t *entries = calloc (count + 1, sizeof *entries);
    size_t *order = calloc (count + 1, sizeof *order);
    json_array_foreach (mine, index, entry)
        entries [index] = (dv_wait_entry_t) {
            json_integer_value (json_object_get (entry, "id")), ctl_int (entry, "tier"),
            ctl_int (entry, "base_score"), json_integer_value (json_object_get (entry, "received_us"))
        };
    dv_waitlist_order (&policy, entries, count, now_us, order);
    for (size_t k = 0; k < count; k++) {
        json_t *line = json_deep_copy (json_array_get (mine, order [k]));
        int score = dv_waitlist_score (&policy, &entries [order [k]], now_us);
        json_object_set_new (line, "position", json_integer ((json_int_t) k + 1));
        json_object_set_new (line, "score", json_integer (score));
        json_object_set_new (line, "aging", json_integer (dv_waitlist_aging (&policy, &entries [order [k]], now_us)));
        json_object_del (line, "id");
        json_object_del (line, "received_us");
        json_array_append_new (out, line);
    }
    free (entries);
    free (order);
    json_decref (mine);
}

//  The waitlist (of one program or all, the default program first).
static json_t *
s_waitlist (dv_db_t *db, const char *program)
{
    json_t *programs = ctl_programs_json (db, program);
    const char *params [] = { program };
    PGresult *result = programs ? ctl_exec (db, s_entries_sql, 1, params) : NULL;
    if (!result) {
        json_decref (programs);
        return NULL;
    }
    json_t *all = json_loads (PQgetvalue (result, 0, 0), 0, NULL);
    int64_t now_us = strtoll (PQgetvalue (result, 0, 1), NULL, 10);
    PQclear (result);
    json_t *out = json_array ();
    size_t index;
    json_t *policy_row;
    json_array_foreach (programs, index, policy_row)
        s_order_program (policy_row, all, now_us, out);
    json_decref (all);
    json_decref (programs);
    return out;
}

static int
s_check_program (dv_db_t *db, const char *name)
{
    const char *params [] = { name };
    PGresult *result = ctl_exec (db, "SELECT 1 FROM program WHERE name = $1", 1, params);
    if (!result)
        return CTL_FAIL;
    int rc = PQntuples (result) ? CTL_OK : ctl_fail ("no program named %s", name);
    PQclear (result);
    return rc;
}

static void
s_print_entry (json_t *entry)
{
    char waited [32], expires [40], score [32];
    ctl_format_age (json_integer_value (json_object_get (entry, "waited_seconds")), waited, sizeof waited);
    json_int_t left = json_integer_value (json_object_get (entry, "expires_in_seconds"));
    if (left > 0) {
        strcpy (expires, "in ");
        ctl_format_age (left, expires + 3, sizeof expires - 3);
    }
    else
        snprintf (expires, sizeof expires, "now (due)");
    if (ctl_int (entry, "aging") > 0)
        snprintf (score, sizeof score, "%d (%d+%d aging)", ctl_int (entry, "score"),
                  ctl_int (entry, "base_score"), ctl_int (entry, "aging"));
    else
        snprintf (score, sizeof score, "%d", ctl_int (entry, "score"));
    printf ("  %4d  %-36s  %-16s  %4d  %-18s  %-9s  %s\n", ctl_int (entry, "position"),
            ctl_str (entry, "referral_id"), ctl_str (entry, "source_id"), ctl_int (entry, "tier"),
            score, waited, expires);
}

static void
s_print (json_t *entries, const char *program)
{
    const char *current = "";
    size_t index;
    json_t *entry;
    json_array_foreach (entries, index, entry) {
        if (strcmp (current, ctl_str (entry, "program"))) {
            current = ctl_str (entry, "program");
            printf ("%s%s waitlist, in promotion order\n", index ? "\n" : "", current);
            printf ("  %4s  %-36s  %-16s  %4s  %-18s  %-9s  %s\n", "pos", "referral", "source", "tier",
                    "score", "waited", "expires");
        }
        s_print_entry (entry);
    }
    if (json_array_size (entries) == 0)
        printf ("%s%sthe waitlist is empty\n", program ? program : "", program ? ": " : "");
}

int
ctl_waitlist (ctl_t *ctl, int argc, char **argv)
{
    ctl_opt_t opts [] = { { "--json", false, NULL }, { NULL, false, NULL } };
    const char *pos [1];
    int npos;
    if (ctl_parse ("waitlist", argc, argv, 1, opts, pos, 1, &npos))
        return CTL_USAGE;
    const char *program = npos ? pos [0] : NULL;
    dv_db_t *db = ctl_db (ctl);
    if (!db || (program && s_check_program (db, program)))
        return CTL_FAIL;
    json_t *entries = s_waitlist (db, program);
    if (!entries)
        return CTL_FAIL;
    if (opts [0].value)
        return ctl_print_json (json_pack ("{s:o}", "waitlist", entries));
    s_print (entries, program);
    json_decref (entries);
    return CTL_OK;
}
