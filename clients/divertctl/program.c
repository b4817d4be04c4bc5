/*  program — site policy per program: `program set NAME [options]` (one
    UPDATE; every daemon on the database applies it at its next decision),
    and `program add NAME --housing ...` (`program show` is in policy.c).
    The database has the last word: a hard cap below someone's caseload is
    refused by its trigger, and that message is shown as is.
*/
#include "divertctl.h"
#include "dv_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_DURATION_MS (3650LL * 86400000LL)     //  ten years

//  The options of set and add, in the order of the UPDATE's parameters $2...
enum {
    S_HARD_CAP, S_TARGET_AVG, S_FUNDED, S_PACING_MARGIN, S_RESERVE_TIER1, S_RESERVE_TIER2,
    S_WAITLIST_CAP, S_WAITLIST_TTL, S_INTAKE_WINDOW, S_TERM, S_AREAS, S_EXCLUDE, S_OVERFLOW,
    S_HOUSING, S_HOUSING_ALIAS, S_MODEL, S_JSON, S_OPT_COUNT
};

//  Lists are split in SQL: "a, b,,c" -> {a,b,c}; "" -> {} (order kept).
#define S_LIST(n, column) \
    "CASE WHEN $" #n "::text IS NULL THEN " column " ELSE ARRAY(SELECT btrim(x)" \
    " FROM unnest(string_to_array($" #n ", ',')) WITH ORDINALITY AS u(x, i)" \
    " WHERE btrim(x) <> '' ORDER BY i) END"

static const char *s_update_sql =
    "UPDATE program SET"
    " hard_cap = COALESCE($2::int, hard_cap),"
    " target_avg = COALESCE($3::int, target_avg),"
    " funded = CASE WHEN $4::boolean THEN $5::int ELSE funded END,"
    " pacing_margin = COALESCE($6::numeric, pacing_margin),"
    " reserve_tier1 = COALESCE($7::int, reserve_tier1),"
    " reserve_tier2 = COALESCE($8::int, reserve_tier2),"
    " waitlist_cap = COALESCE($9::int, waitlist_cap),"
    " waitlist_ttl = COALESCE(justify_hours(make_interval(secs => $10::bigint / 1000.0)), waitlist_ttl),"
    " intake_window = COALESCE(justify_hours(make_interval(secs => $11::bigint / 1000.0)), intake_window),"
    " term = CASE WHEN $12::boolean THEN justify_hours(make_interval(secs => $13::bigint / 1000.0)) ELSE term END,"
    " areas = " S_LIST (14, "areas") ","
    " excluded_offenses = " S_LIST (15, "excluded_offenses") ","
    " pretrial_overflow = COALESCE($16, pretrial_overflow),"
    " accepts_housing = " S_LIST (17, "accepts_housing")
    " WHERE name = $1 RETURNING policy_version";

#define S_NPARAMS 17

//  Parameter texts of the UPDATE; numbers are formatted into `buffers`.
typedef struct {
    const char *values [S_NPARAMS];
    char buffers [S_NPARAMS][32];
    bool any;
} s_update_t;


//  --------------------------------------------------------------------------
//  Validation of the options into the UPDATE's parameters

static int
s_set_number (s_update_t *u, int param, const char *text, const char *option, int64_t min, int64_t max)
{
    if (!text)
        return CTL_OK;
    int64_t value = ctl_number (text, min, max);
    if (value < 0)
        return ctl_fail ("%s must be a whole number from %lld to %lld, not '%s'", option,
                         (long long) min, (long long) max, text);
    snprintf (u->buffers [param], sizeof u->buffers [param], "%lld", (long long) value);
    u->values [param] = u->buffers [param];
    u->any = true;
    return CTL_OK;
}

static int
s_set_duration (s_update_t *u, int param, const char *text, const char *option)
{
    if (!text)
        return CTL_OK;
    int64_t msecs = dv_duration_parse (text);
    if (msecs <= 0 || msecs > S_MAX_DURATION_MS)
        return ctl_fail ("%s must be a positive duration like 30d, 12h or 90s (at most 3650d), not '%s'",
                         option, text);
    snprintf (u->buffers [param], sizeof u->buffers [param], "%lld", (long long) msecs);
    u->values [param] = u->buffers [param];
    u->any = true;
    return CTL_OK;
}

static int
s_set_margin (s_update_t *u, const char *text)
{
    if (!text)
        return CTL_OK;
    errno = 0;
    char *end;
    double margin = strtod (text, &end);
    if (!*text || *end || errno || !(margin >= 0 && margin < 1))
        return ctl_fail ("--pacing-margin must be a fraction from 0 up to (not including) 1, like 0.10, not '%s'",
                         text);
    snprintf (u->buffers [5], sizeof u->buffers [5], "%.3f", margin);
    u->values [5] = u->buffers [5];
    u->any = true;
    return CTL_OK;
}

//  A number or "none" for the nullable columns: sets the flag and the value.
static int
s_set_nullable (s_update_t *u, int flag, const char *text, const char *option, bool duration)
{
    if (!text)
        return CTL_OK;
    u->values [flag] = "true";
    u->any = true;
    if (strcmp (text, "none") == 0)
        return CTL_OK;
    if (duration)
        return s_set_duration (u, flag + 1, text, option);
    int64_t value = ctl_number (text, 0, 10000000);
    if (value < 0)
        return ctl_fail ("%s must be a whole number of slots or none, not '%s'", option, text);
    snprintf (u->buffers [flag + 1], sizeof u->buffers [flag + 1], "%lld", (long long) value);
    u->values [flag + 1] = u->buffers [flag + 1];
    return CTL_OK;
}

//  Check a comma-separated list's items: count and length, and (when
//  `allowed` is given) membership.
static int
s_check_list (const char *text, const char *option, size_t max_len, const char *const *allowed)
{
    int count = 0;
    const char *item = text;
    while (item && *item) {
        size_t len = strcspn (item, ",");
        while (len > 0 && (*item == ' ')) {
            item++;
            len--;
        }
        size_t trimmed = len;
        while (trimmed > 0 && item [trimmed - 1] == ' ')
            trimmed--;
        if (trimmed > max_len)
            return ctl_fail ("%s: '%.*s' is longer than %zu characters", option, (int) trimmed, item, max_len);
        bool known = !allowed || trimmed == 0;
        for (int index = 0; !known && allowed [index]; index++)
            known = strlen (allowed [index]) == trimmed && strncmp (allowed [index], item, trimmed) == 0;
        if (!known)
            return ctl_fail ("%s: '%.*s' is not one of unsheltered, hotel, sheltered, housed, unknown",
                             option, (int) trimmed, item);
        count += trimmed > 0;
        item += len;
        item += *item == ',';
    }
    if (count > DV_MAX_LIST)
        return ctl_fail ("%s: at most %d items", option, DV_MAX_LIST);
    return CTL_OK;
}

static int
s_set_list (s_update_t *u, int param, const char *text, const char *option, size_t max_len,
            const char *const *allowed)
{
    if (!text)
        return CTL_OK;
    if (s_check_list (text, option, max_len, allowed))
        return CTL_FAIL;
    if (allowed && strspn (text, ", ") == strlen (text))
        return ctl_fail ("%s needs at least one housing value", option);
    u->values [param] = text;
    u->any = true;
    return CTL_OK;
}

static int
s_build_update (s_update_t *u, const char *name, ctl_opt_t *opts)
{
    memset (u, 0, sizeof *u);
    u->values [0] = name;
    const char *overflow = opts [S_OVERFLOW].value;
    const char *housing = opts [S_HOUSING].value ? opts [S_HOUSING].value : opts [S_HOUSING_ALIAS].value;
    if (overflow && strcmp (overflow, "decline") && strcmp (overflow, "waitlist"))
        return ctl_fail ("--pretrial-overflow must be decline or waitlist, not '%s'", overflow);
    if (overflow) {
        u->values [15] = overflow;
        u->any = true;
    }
    if (s_set_number (u, 1, opts [S_HARD_CAP].value, "--hard-cap", 1, 1000)
    ||  s_set_number (u, 2, opts [S_TARGET_AVG].value, "--target-avg", 1, 1000)
    ||  s_set_nullable (u, 3, opts [S_FUNDED].value, "--funded", false)
    ||  s_set_margin (u, opts [S_PACING_MARGIN].value)
    ||  s_set_number (u, 6, opts [S_RESERVE_TIER1].value, "--reserve-tier1", 0, 100000)
    ||  s_set_number (u, 7, opts [S_RESERVE_TIER2].value, "--reserve-tier2", 0, 100000)
    ||  s_set_number (u, 8, opts [S_WAITLIST_CAP].value, "--waitlist-cap", 0, 1000000)
    ||  s_set_duration (u, 9, opts [S_WAITLIST_TTL].value, "--waitlist-ttl")
    ||  s_set_duration (u, 10, opts [S_INTAKE_WINDOW].value, "--intake-window")
    ||  s_set_nullable (u, 11, opts [S_TERM].value, "--term", true)
    ||  s_set_list (u, 13, opts [S_AREAS].value, "--areas", 64, NULL)
    ||  s_set_list (u, 14, opts [S_EXCLUDE].value, "--exclude-offenses", 32, NULL)
    ||  s_set_list (u, 16, housing, "--accepts-housing", 16, dv_housing_names ()))
        return CTL_FAIL;
    return CTL_OK;
}


//  --------------------------------------------------------------------------
//  set and add

static int
s_update (dv_db_t *db, const s_update_t *u, const char *name)
{
    PGresult *result = ctl_exec (db, s_update_sql, S_NPARAMS, u->values);
    if (!result)
        return CTL_FAIL;
    int rc = PQntuples (result) ? CTL_OK : ctl_fail ("no program named %s", name);
    PQclear (result);
    return rc;
}

static int
s_set (dv_db_t *db, const char *name, ctl_opt_t *opts)
{
    s_update_t update;
    if (s_build_update (&update, name, opts))
        return CTL_FAIL;
    if (!update.any)
        return ctl_usage ("program set: give at least one option to change");
    if (s_update (db, &update, name))
        return CTL_FAIL;
    return ctl_program_show (db, name, opts [S_JSON].value != NULL);
}

static int
s_add (dv_db_t *db, const char *name, ctl_opt_t *opts)
{
    if (!ctl_valid_id (name, 32, "-", false) || name [0] < 'A' || name [0] > 'Z'
    ||  strspn (name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != strlen (name))
        return ctl_fail ("'%s' is not a valid program name: 1-32 characters, uppercase letters,"
                         " digits or '-', starting with a letter", name);
    const char *housing = opts [S_HOUSING].value ? opts [S_HOUSING].value : opts [S_HOUSING_ALIAS].value;
    if (!housing)
        return ctl_usage ("program add: --housing h1,h2 is required (which housing the program takes)");
    s_update_t update;
    if (s_build_update (&update, name, opts) || ctl_command (db, "BEGIN"))
        return CTL_FAIL;
    const char *params [] = { name, opts [S_MODEL].value };
    PGresult *result = ctl_exec (db,
        "INSERT INTO program (name, model) VALUES ($1, COALESCE($2, 'ICM'))"
        " ON CONFLICT (name) DO NOTHING RETURNING name", 2, params);
    int rc = result ? CTL_OK : CTL_FAIL;
    if (result && PQntuples (result) == 0)
        rc = ctl_fail ("program %s already exists (use program set)", name);
    PQclear (result);
    if (rc == CTL_OK && (s_update (db, &update, name) || ctl_command (db, "COMMIT")))
        rc = CTL_FAIL;
    if (rc != CTL_OK) {
        ctl_rollback (db);
        return rc;
    }
    return ctl_program_show (db, name, opts [S_JSON].value != NULL);
}

int
ctl_program (ctl_t *ctl, int argc, char **argv)
{
    ctl_opt_t opts [S_OPT_COUNT + 1] = {
        [S_HARD_CAP] = { "--hard-cap", true, NULL }, [S_TARGET_AVG] = { "--target-avg", true, NULL },
        [S_FUNDED] = { "--funded", true, NULL }, [S_PACING_MARGIN] = { "--pacing-margin", true, NULL },
        [S_RESERVE_TIER1] = { "--reserve-tier1", true, NULL },
        [S_RESERVE_TIER2] = { "--reserve-tier2", true, NULL },
        [S_WAITLIST_CAP] = { "--waitlist-cap", true, NULL }, [S_WAITLIST_TTL] = { "--waitlist-ttl", true, NULL },
        [S_INTAKE_WINDOW] = { "--intake-window", true, NULL }, [S_TERM] = { "--term", true, NULL },
        [S_AREAS] = { "--areas", true, NULL }, [S_EXCLUDE] = { "--exclude-offenses", true, NULL },
        [S_OVERFLOW] = { "--pretrial-overflow", true, NULL },
        [S_HOUSING] = { "--accepts-housing", true, NULL }, [S_HOUSING_ALIAS] = { "--housing", true, NULL },
        [S_MODEL] = { "--model", true, NULL }, [S_JSON] = { "--json", false, NULL },
        [S_OPT_COUNT] = { NULL, false, NULL } };
    const char *pos [2];
    int npos;
    if (ctl_parse ("program", argc, argv, 1, opts, pos, 2, &npos))
        return CTL_USAGE;
    const char *verb = npos ? pos [0] : "";
    bool show = strcmp (verb, "show") == 0;
    if (!show && (npos != 2 || (strcmp (verb, "set") && strcmp (verb, "add"))))
        return ctl_usage ("program: use program set NAME [options], program add NAME --housing ... or program show");
    const char *model = opts [S_MODEL].value;
    if (model && strcmp (verb, "add"))
        return ctl_usage ("program: --model is only for program add");
    if (model && !ctl_valid_id (model, 16, "-", false))
        return ctl_fail ("--model must be a short name like ICM or ACT");
    dv_db_t *db = ctl_db (ctl);
    if (!db)
        return CTL_FAIL;
    if (show)
        return ctl_program_show (db, npos > 1 ? pos [1] : NULL, opts [S_JSON].value != NULL);
    if (strcmp (verb, "add") == 0)
        return s_add (db, pos [1], opts);
    return s_set (db, pos [1], opts);
}
