/*  waitlist — `divertctl waitlist [PROGRAM] [--json]`: the open waitlist
    entries in the order divertd promotes them (policy.md §3, §5): tier
    ascending, then the effective score descending (the stored score plus
    aging: score_aging_per_day per full day waited, at most score_aging_max,
    clamped to 100), then the time received. Shows the referral's UUID and
    source, never who the person is.
*/
#include "divertctl.h"

#include <stdio.h>
#include <string.h>

static const char *s_waitlist_sql =
    "SELECT COALESCE(json_agg(json_build_object('program', x.program, 'position', x.position,"
    "   'referral_id', x.referral_id, 'source_id', x.source_id, 'tier', x.tier, 'score', x.effective,"
    "   'base_score', x.score, 'aging', x.aging, 'received_at', s_rfc3339(x.received_at),"
    "   'waited_seconds', x.waited, 'expires_at', s_rfc3339(x.expires_at), 'expires_in_seconds', x.expires_in)"
    "   ORDER BY x.is_default DESC, x.program, x.position), '[]')"
    " FROM (SELECT w.program, p.is_default, r.referral_id, r.source_id, w.tier, w.score, a.aging, e.effective,"
    "         w.received_at, waitlist_expires_at(w) AS expires_at,"
    "         extract(epoch FROM now() - w.received_at)::bigint AS waited,"
    "         extract(epoch FROM waitlist_expires_at(w) - now())::bigint AS expires_in,"
    "         row_number() OVER (PARTITION BY w.program"
    "                            ORDER BY w.tier, e.effective DESC, w.received_at, w.id) AS position"
    "       FROM waitlist_entry w JOIN program p ON p.name = w.program JOIN referral r ON r.id = w.referral_id"
    "       CROSS JOIN LATERAL (SELECT GREATEST(0, LEAST(p.score_aging_max, p.score_aging_per_day"
    "           * floor(extract(epoch FROM now() - w.received_at) / 86400)::int)) AS aging) a"
    "       CROSS JOIN LATERAL (SELECT LEAST(100, w.score + a.aging) AS effective) e"
    "       WHERE w.state = 'open' AND ($1::text IS NULL OR w.program = $1)) x";

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
    const char *params [] = { program };
    json_t *entries = ctl_json (db, s_waitlist_sql, 1, params);
    if (!entries)
        return CTL_FAIL;
    if (opts [0].value)
        return ctl_print_json (json_pack ("{s:o}", "waitlist", entries));
    s_print (entries, program);
    json_decref (entries);
    return CTL_OK;
}
