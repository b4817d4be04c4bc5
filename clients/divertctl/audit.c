/*  audit — what happened to personal data:

      audit access [--referral ID] [--user U] [--key K] [--since T] [--json]
          every disclosure of personal data (divert.disclosure): the
          case-management feed's deliveries of a referral (key K) and
          divert-web's views of a person (user U), with who, what and when,
          oldest first; filters combine. T is a date (2026-11-22), a time
          (RFC 3339) or a duration back from now (7d, 12h).
      audit purges [--json]
          every purge run (divertctl purge, divertd's daily purge): who,
          when, under which retention, how many referrals and persons.

    Both list ids, codes and times: never the personal data itself.
*/
#include "divertctl.h"
#include "dv_config.h"

#include <stdio.h>
#include <string.h>

static const char *s_access_sql =
    "SELECT COALESCE(json_agg(json_build_object('at', s_rfc3339(d.at),"
    "   'local_time', to_char(d.at, 'YYYY-MM-DD HH24:MI:SS'), 'actor_kind', d.actor_kind,"
    "   'actor_id', d.actor_id, 'what', d.what, 'source_id', r.source_id, 'referral_id', r.referral_id,"
    "   'purged_at', s_rfc3339(p.at)) ORDER BY d.at, d.id), '[]')"
    " FROM disclosure d JOIN referral r ON r.id = d.referral_id LEFT JOIN purge p ON p.id = r.purge_id"
    " WHERE ($1::text IS NULL OR r.referral_id = lower($1))"
    "   AND ($2::text IS NULL OR (d.actor_kind = 'web' AND d.actor_id = $2))"
    "   AND ($3::text IS NULL OR (d.actor_kind = 'cms' AND d.actor_id = $3))"
    "   AND ($4::timestamptz IS NULL OR d.at >= $4::timestamptz)"
    "   AND ($5::bigint IS NULL OR d.at >= now() - make_interval(secs => $5::bigint / 1000.0))";

static const char *s_purges_sql =
    "SELECT COALESCE(json_agg(json_build_object('id', p.id, 'at', s_rfc3339(p.at),"
    "   'local_time', to_char(p.at, 'YYYY-MM-DD HH24:MI:SS'), 'actor', p.actor,"
    "   'retention', duration_text(p.retention), 'cutoff', s_rfc3339(p.cutoff),"
    "   'referrals', p.referrals, 'persons', p.persons) ORDER BY p.id), '[]')"
    " FROM purge p";

static bool
s_uuid_like (const char *text)
{
    return strlen (text) == 36 && strspn (text, "0123456789abcdefABCDEF-") == 36;
}

//  A time PostgreSQL understands? (Checked first, so a typo gets a clear
//  message rather than a data exception's bare SQLSTATE.)
static int
s_check_time (dv_db_t *db, const char *text)
{
    const char *params [] = { text };
    PGresult *result = dv_db_exec (db, "SELECT $1::timestamptz", 1, params);
    if (result) {
        PQclear (result);
        return CTL_OK;
    }
    if (strncmp (dv_db_sqlstate (db), "22", 2) == 0)
        return ctl_fail ("--since must be a date (2026-11-22), a time (2026-11-22T18:00:00Z) or a duration"
                         " back from now (7d, 12h), not '%s'", text);
    return ctl_db_fail (db);
}

static void
s_print_access (json_t *rows)
{
    size_t count = json_array_size (rows);
    if (count == 0) {
        printf ("no disclosure of personal data recorded (for these filters)\n");
        return;
    }
    printf ("%zu disclosure%s of personal data, oldest first\n", count, count == 1 ? "" : "s");
    printf ("  %-19s  %-24s  %-16s  %-16s  %s\n", "when", "who", "what", "source", "referral");
    size_t index;
    json_t *row;
    json_array_foreach (rows, index, row) {
        char who [80];
        snprintf (who, sizeof who, "%s %s", strcmp (ctl_str (row, "actor_kind"), "cms") == 0 ? "cms key" : "web user",
                  ctl_str (row, "actor_id"));
        printf ("  %-19s  %-24s  %-16s  %-16s  %s%s\n", ctl_str (row, "local_time"), who, ctl_str (row, "what"),
                ctl_str (row, "source_id"), ctl_str (row, "referral_id"),
                ctl_str (row, "purged_at") ? " (purged since)" : "");
    }
}

static int
s_access (dv_db_t *db, ctl_opt_t *opts, bool json)
{
    const char *referral = ctl_opt (opts, "--referral"), *user = ctl_opt (opts, "--user");
    const char *key = ctl_opt (opts, "--key"), *since = ctl_opt (opts, "--since");
    if (referral && !s_uuid_like (referral))
        return ctl_fail ("--referral must be a referral's UUID, not '%s'", referral);
    if (user && !ctl_valid_id (user, 64, "._-", true))
        return ctl_fail ("--user must be a divert-web user name (lower case letters, digits, '.', '_', '-'),"
                         " not '%s'", user);
    if (key && !ctl_valid_id (key, 32, "_-", true))
        return ctl_fail ("--key must be a case-management key id (lower case letters, digits, '_', '-'), not '%s'",
                         key);
    if (user && key)
        return ctl_usage ("audit access: --user (divert-web) and --key (case management) name different actors:"
                          " give one of them");
    char since_ms [32] = "";
    const char *since_time = NULL;
    if (since) {
        int64_t msecs = dv_duration_parse (since);
        if (msecs > 0)
            snprintf (since_ms, sizeof since_ms, "%lld", (long long) msecs);
        else
        if (s_check_time (db, since))
            return CTL_FAIL;
        else
            since_time = since;
    }
    const char *params [] = { referral, user, key, since_time, *since_ms ? since_ms : NULL };
    json_t *rows = ctl_json (db, s_access_sql, 5, params);
    if (!rows)
        return CTL_FAIL;
    if (json)
        return ctl_print_json (rows);
    s_print_access (rows);
    json_decref (rows);
    return CTL_OK;
}

static int
s_purges (dv_db_t *db, bool json)
{
    json_t *rows = ctl_json (db, s_purges_sql, 0, NULL);
    if (!rows)
        return CTL_FAIL;
    if (json)
        return ctl_print_json (rows);
    if (json_array_size (rows) == 0)
        printf ("no purge has run (divertctl purge, or divertd with purge = daily)\n");
    else
        printf ("  %5s  %-19s  %-34s  %-9s  %-24s  %9s  %7s\n", "purge", "when", "by", "retention",
                "last changed before", "referrals", "persons");
    size_t index;
    json_t *row;
    json_array_foreach (rows, index, row)
        printf ("  %5d  %-19s  %-34s  %-9s  %-24s  %9d  %7d\n", ctl_int (row, "id"), ctl_str (row, "local_time"),
                ctl_str (row, "actor"), ctl_str (row, "retention"), ctl_str (row, "cutoff"),
                ctl_int (row, "referrals"), ctl_int (row, "persons"));
    json_decref (rows);
    return CTL_OK;
}

int
ctl_audit (ctl_t *ctl, int argc, char **argv)
{
    ctl_opt_t opts [] = {
        { "--referral", true, NULL }, { "--user", true, NULL }, { "--key", true, NULL },
        { "--since", true, NULL }, { "--json", false, NULL }, { NULL, false, NULL } };
    const char *pos [1];
    int npos;
    if (ctl_parse ("audit", argc, argv, 1, opts, pos, 1, &npos))
        return CTL_USAGE;
    const char *what = npos ? pos [0] : "";
    bool json = ctl_opt (opts, "--json") != NULL;
    bool filtered = ctl_opt (opts, "--referral") || ctl_opt (opts, "--user") || ctl_opt (opts, "--key")
                 || ctl_opt (opts, "--since");
    if (strcmp (what, "access") && strcmp (what, "purges"))
        return ctl_usage ("audit: use audit access [--referral ID] [--user U] [--key K] [--since T] or audit purges");
    if (strcmp (what, "purges") == 0 && filtered)
        return ctl_usage ("audit purges takes only --json");
    dv_db_t *db = ctl_db (ctl);
    if (!db)
        return CTL_FAIL;
    return strcmp (what, "access") == 0 ? s_access (db, opts, json) : s_purges (db, json);
}
