/*  purge — `divertctl purge [--dry-run] [--json]`: removes the personal data
    of referrals past the site's retention (`site set --retention`), through
    divert.purge (sql/009_retention.sql), which keeps the decision events and
    the enrollment history whole, never touches a person with an open case,
    and records the run (`divertctl audit purges` lists them). --dry-run
    only says what would go. Prints referral ids and dates, never the data.
*/
#include "divertctl.h"

#include <stdio.h>
#include <string.h>

static const char *s_purge_sql = "SELECT divert.purge('divertctl:' || session_user, $1::boolean)";

static void
s_print (json_t *run)
{
    bool dry = json_is_true (json_object_get (run, "dry_run"));
    json_t *referrals = json_object_get (run, "referrals");
    size_t count = json_array_size (referrals);
    printf ("%s the personal data of %zu referral%s (%d person%s): last changed before %s"
            " (retention %s)\n", dry ? "would purge" : "purged", count, count == 1 ? "" : "s",
            ctl_int (run, "persons"), ctl_int (run, "persons") == 1 ? "" : "s",
            ctl_str (run, "cutoff"), ctl_str (run, "retention"));
    if (count > 0)
        printf ("  %-16s  %-36s  %-10s  %s\n", "source", "referral", "program", "last change");
    size_t index;
    json_t *referral;
    json_array_foreach (referrals, index, referral) {
        const char *program = ctl_str (referral, "program");
        printf ("  %-16s  %-36s  %-10s  %s\n", ctl_str (referral, "source_id"),
                ctl_str (referral, "referral_id"), program ? program : "-", ctl_str (referral, "last_change"));
    }
    if (dry)
        printf ("nothing was changed (dry run)\n");
    else
        printf ("recorded as purge %lld (divertctl audit purges)\n",
                (long long) json_integer_value (json_object_get (run, "purge_id")));
}

int
ctl_purge (ctl_t *ctl, int argc, char **argv)
{
    ctl_opt_t opts [] = { { "--dry-run", false, NULL }, { "--json", false, NULL }, { NULL, false, NULL } };
    const char *pos [1];
    int npos;
    if (ctl_parse ("purge", argc, argv, 1, opts, pos, 0, &npos))
        return CTL_USAGE;
    dv_db_t *db = ctl_db (ctl);
    if (!db)
        return CTL_FAIL;
    const char *params [] = { ctl_opt (opts, "--dry-run") ? "true" : "false" };
    json_t *run = ctl_json (db, s_purge_sql, 1, params);
    if (!run)
        return CTL_FAIL;
    if (ctl_opt (opts, "--json"))
        return ctl_print_json (run);
    s_print (run);
    json_decref (run);
    return CTL_OK;
}
