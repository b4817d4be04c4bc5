/*  site — site-wide policy (one row, divert.site_policy): `site set
    --retention DUR` and `site show [--json]`. The retention is how long the
    personal data of a referral is kept after its last decision or
    enrollment change (default 3 years); `divertctl purge` and divertd's
    daily maintenance apply it. It is site-wide, not per program: a person
    can be referred to several programs, and the law a site follows names
    one period.
*/
#include "divertctl.h"
#include "dv_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_YEARS 100

static const char *s_show_sql =
    "SELECT json_build_object('retention', duration_text(retention),"
    " 'retention_seconds', floor(extract(epoch FROM retention))::bigint,"
    " 'updated_at', s_rfc3339(updated_at))"
    " FROM site_policy";

//  "3y" -> years; "30d" -> days; any other duration -> seconds. Sets one of
//  the three parameter texts; returns CTL_OK or prints the problem.
static int
s_retention (const char *text, char years [32], char days [32], char seconds [32])
{
    size_t len = strlen (text);
    if (len > 1 && text [len - 1] == 'y') {
        char number [32];
        snprintf (number, sizeof number, "%.*s", (int) (len - 1), text);
        int64_t value = ctl_number (number, 1, S_MAX_YEARS);
        if (value > 0) {
            snprintf (years, 32, "%lld", (long long) value);
            return CTL_OK;
        }
    }
    else {
        int64_t msecs = dv_duration_parse (text);
        if (msecs >= 1000 && msecs <= S_MAX_YEARS * 366LL * 86400000LL) {
            if (msecs % 86400000 == 0)
                snprintf (days, 32, "%lld", (long long) (msecs / 86400000));
            else
                snprintf (seconds, 32, "%lld", (long long) (msecs / 1000));
            return CTL_OK;
        }
    }
    return ctl_fail ("--retention must be a duration like 3y, 1095d or 12h (at least 1s, at most %dy), not '%s'",
                     S_MAX_YEARS, text);
}

static int
s_show (dv_db_t *db, bool json)
{
    json_t *site = ctl_json (db, s_show_sql, 0, NULL);
    if (!site)
        return CTL_FAIL;
    if (json)
        return ctl_print_json (site);
    printf ("retention: %s (personal data is purged this long after a referral's last decision or"
            " enrollment change, unless the person has an open case)\n", ctl_str (site, "retention"));
    printf ("changed:   %s\n", ctl_str (site, "updated_at"));
    json_decref (site);
    return CTL_OK;
}

static int
s_set (dv_db_t *db, const char *retention, bool json)
{
    char years [32] = "", days [32] = "", seconds [32] = "";
    if (s_retention (retention, years, days, seconds))
        return CTL_FAIL;
    const char *params [] = { *years ? years : NULL, *days ? days : NULL, *seconds ? seconds : NULL };
    PGresult *result = ctl_exec (db,
        "UPDATE site_policy SET updated_at = now(), retention = COALESCE(make_interval(years => $1::int),"
        " make_interval(days => $2::int), make_interval(secs => $3::bigint))", 3, params);
    if (!result)
        return CTL_FAIL;
    PQclear (result);
    return s_show (db, json);
}

int
ctl_site (ctl_t *ctl, int argc, char **argv)
{
    ctl_opt_t opts [] = { { "--retention", true, NULL }, { "--json", false, NULL }, { NULL, false, NULL } };
    const char *pos [1];
    int npos;
    if (ctl_parse ("site", argc, argv, 1, opts, pos, 1, &npos))
        return CTL_USAGE;
    const char *verb = npos ? pos [0] : "";
    const char *retention = ctl_opt (opts, "--retention");
    bool json = ctl_opt (opts, "--json") != NULL;
    if (strcmp (verb, "set") == 0 && !retention)
        return ctl_usage ("site set: give --retention DUR (e.g. 3y)");
    if (strcmp (verb, "show") == 0 && retention)
        return ctl_usage ("site show takes no --retention (use site set)");
    if (strcmp (verb, "set") && strcmp (verb, "show"))
        return ctl_usage ("site: use site set --retention DUR or site show");
    dv_db_t *db = ctl_db (ctl);
    if (!db)
        return CTL_FAIL;
    return retention ? s_set (db, retention, json) : s_show (db, json);
}
