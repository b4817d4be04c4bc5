/*  policy — a program's site policy as divertctl reads it: every program
    (or one) as JSON in display order (status loads each with
    dv_program_load, the mapping divertd uses, for dv_policy_capacity), and
    `program show [NAME] [--json]` for people and machines.
*/
#include "divertctl.h"
#include "dv_config.h"

#include <stdio.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Loading and showing

json_t *
ctl_programs_json (dv_db_t *db, const char *name)
{
    const char *params [] = { name };
    return ctl_json (db,
        "SELECT COALESCE(json_agg(json_build_object('name', name, 'model', model, 'is_default', is_default,"
        " 'accepts_housing', accepts_housing, 'hard_cap', hard_cap, 'target_avg', target_avg,"
        " 'funded', funded, 'pacing_margin', pacing_margin, 'reserve_tier1', reserve_tier1,"
        " 'reserve_tier2', reserve_tier2, 'waitlist_cap', waitlist_cap,"
        " 'waitlist_ttl_ms', (extract(epoch FROM waitlist_ttl) * 1000)::bigint,"
        " 'intake_window_ms', (extract(epoch FROM intake_window) * 1000)::bigint,"
        " 'term_ms', (extract(epoch FROM term) * 1000)::bigint,"
        " 'areas', areas, 'excluded_offenses', excluded_offenses, 'pretrial_overflow', pretrial_overflow,"
        " 'score_arrest', score_arrest, 'score_social', score_social, 'score_community', score_community,"
        " 'score_pretrial', score_pretrial, 'score_acuity_both', score_acuity_both,"
        " 'score_acuity_one', score_acuity_one, 'score_contact_each', score_contact_each,"
        " 'score_contact_max', score_contact_max, 'score_aging_per_day', score_aging_per_day,"
        " 'score_aging_max', score_aging_max, 'policy_version', policy_version,"
        " 'updated_at', s_rfc3339(updated_at)) ORDER BY is_default DESC, name), '[]')"
        " FROM program WHERE $1::text IS NULL OR name = $1", 1, params);
}

static void
s_duration (json_t *p, const char *key, const char *none, char *buffer, size_t size)
{
    json_t *value = json_object_get (p, key);
    if (json_is_integer (value))
        dv_duration_format (json_integer_value (value), buffer, size);
    else
        snprintf (buffer, size, "%s", none);
}

static void
s_show_human (json_t *p)
{
    char ttl [32], window [32], term [32], funded [32], housing [128], areas [1024], offenses [1024];
    s_duration (p, "waitlist_ttl_ms", "-", ttl, sizeof ttl);
    s_duration (p, "intake_window_ms", "-", window, sizeof window);
    s_duration (p, "term_ms", "none (not time-delimited)", term, sizeof term);
    snprintf (funded, sizeof funded, "%d", ctl_int (p, "funded"));
    ctl_join (json_object_get (p, "accepts_housing"), "-", housing, sizeof housing);
    ctl_join (json_object_get (p, "areas"), "the whole jurisdiction", areas, sizeof areas);
    ctl_join (json_object_get (p, "excluded_offenses"), "none", offenses, sizeof offenses);
    printf ("%s (%s%s), policy version %d\n", ctl_str (p, "name"), ctl_str (p, "model"),
            json_is_true (json_object_get (p, "is_default")) ? ", default program" : "",
            ctl_int (p, "policy_version"));
    printf ("  hard cap %d per case manager, target average %d, funded slots %s, pacing margin %.3g\n",
            ctl_int (p, "hard_cap"), ctl_int (p, "target_avg"),
            json_is_null (json_object_get (p, "funded")) ? "not set" : funded,
            json_number_value (json_object_get (p, "pacing_margin")));
    int reserve = ctl_int (p, "reserve_tier1");
    printf ("  reserves: %d slot%s for tier 1 (arrest diversion), %d more for tiers 1-2 ahead of tier 3\n",
            reserve, reserve == 1 ? "" : "s", ctl_int (p, "reserve_tier2"));
    printf ("  waitlist: at most %d, expires after %s; pretrial without reserve: %s\n",
            ctl_int (p, "waitlist_cap"), ttl, ctl_str (p, "pretrial_overflow"));
    printf ("  intake window %s; term %s\n", window, term);
    printf ("  accepts housing: %s\n  service area: %s\n  excluded offenses: %s\n", housing, areas, offenses);
    printf ("  score: arrest %d, social contact %d, community %d, pretrial %d; acuity +%d both / +%d one;"
            " +%d per prior contact (max %d); +%d per day waited (max %d)\n",
            ctl_int (p, "score_arrest"), ctl_int (p, "score_social"), ctl_int (p, "score_community"),
            ctl_int (p, "score_pretrial"), ctl_int (p, "score_acuity_both"), ctl_int (p, "score_acuity_one"),
            ctl_int (p, "score_contact_each"), ctl_int (p, "score_contact_max"),
            ctl_int (p, "score_aging_per_day"), ctl_int (p, "score_aging_max"));
}

//  Durations as text next to their milliseconds, for machines and people.
static void
s_add_duration_text (json_t *p)
{
    const char *keys [][2] = { { "waitlist_ttl_ms", "waitlist_ttl" },
                               { "intake_window_ms", "intake_window" }, { "term_ms", "term" } };
    for (size_t k = 0; k < 3; k++) {
        char text [32];
        s_duration (p, keys [k][0], "", text, sizeof text);
        json_object_set_new (p, keys [k][1], *text ? json_string (text) : json_null ());
    }
}

int
ctl_program_show (dv_db_t *db, const char *name, bool json)
{
    json_t *programs = ctl_programs_json (db, name);
    if (!programs)
        return CTL_FAIL;
    if (name && json_array_size (programs) == 0) {
        json_decref (programs);
        return ctl_fail ("no program named %s", name);
    }
    size_t index;
    json_t *p;
    json_array_foreach (programs, index, p) {
        s_add_duration_text (p);
        if (!json)
            s_show_human (p);
    }
    if (json)
        return ctl_print_json (json_pack ("{s:o}", "programs", programs));
    json_decref (programs);
    return CTL_OK;
}


