/*  dv_program — a divert.program row loaded into a dv_program_t.
    See dv_program.h. */
#include "dv_program.h"
#include <stdio.h>
#include <string.h>

static int
s_int (json_t *object, const char *key, int fallback)
{
    json_t *value = json_object_get (object, key);
    return json_is_integer (value) ? (int) json_integer_value (value) : fallback;
}

//  A text[] column (as a JSON array) into a fixed table of strings.
static void
s_copy_list (json_t *array, char *target, size_t width, int max, int *count)
{
    size_t index;
    json_t *value;
    *count = 0;
    json_array_foreach (array, index, value) {
        if (*count < max && json_is_string (value))
            snprintf (target + width * (*count)++, width, "%s", json_string_value (value));
    }
}

void
dv_program_load (dv_program_t *p, json_t *row)
{
    const char *name = json_string_value (json_object_get (row, "name"));
    dv_program_defaults (p, name ? name : "?");
    p->hard_cap = s_int (row, "hard_cap", p->hard_cap);
    p->target_avg = s_int (row, "target_avg", p->target_avg);
    p->funded = s_int (row, "funded", -1);
    json_t *margin = json_object_get (row, "pacing_margin");
    if (json_is_number (margin))
        p->pacing_margin = json_number_value (margin);
    p->reserve_tier1 = s_int (row, "reserve_tier1", p->reserve_tier1);
    p->reserve_tier2 = s_int (row, "reserve_tier2", p->reserve_tier2);
    p->waitlist_cap = s_int (row, "waitlist_cap", p->waitlist_cap);
    const char *overflow = json_string_value (json_object_get (row, "pretrial_overflow"));
    p->pretrial_overflow_waitlist = overflow && strcmp (overflow, "waitlist") == 0;
    json_t *housings = json_object_get (row, "accepts_housing");
    if (json_is_array (housings)) {
        memset (p->accepts_housing, 0, sizeof p->accepts_housing);
        size_t index;
        json_t *value;
        json_array_foreach (housings, index, value) {
            int housing = dv_housing_from_name (json_string_value (value));
            if (housing >= 0)
                p->accepts_housing [housing] = true;
        }
    }
    s_copy_list (json_object_get (row, "areas"), &p->areas [0][0], sizeof p->areas [0],
                 DV_MAX_LIST, &p->areas_count);
    s_copy_list (json_object_get (row, "excluded_offenses"), &p->excluded [0][0],
                 sizeof p->excluded [0], DV_MAX_LIST, &p->excluded_count);
    p->base [DV_PATHWAY_ARREST_DIVERSION] = s_int (row, "score_arrest", p->base [DV_PATHWAY_ARREST_DIVERSION]);
    p->base [DV_PATHWAY_SOCIAL_CONTACT] = s_int (row, "score_social", p->base [DV_PATHWAY_SOCIAL_CONTACT]);
    p->base [DV_PATHWAY_COMMUNITY] = s_int (row, "score_community", p->base [DV_PATHWAY_COMMUNITY]);
    p->base [DV_PATHWAY_PRETRIAL_DIVERSION] = s_int (row, "score_pretrial", p->base [DV_PATHWAY_PRETRIAL_DIVERSION]);
    p->acuity_both = s_int (row, "score_acuity_both", p->acuity_both);
    p->acuity_one = s_int (row, "score_acuity_one", p->acuity_one);
    p->contact_each = s_int (row, "score_contact_each", p->contact_each);
    p->contact_max = s_int (row, "score_contact_max", p->contact_max);
    p->aging_per_day = s_int (row, "score_aging_per_day", p->aging_per_day);
    p->aging_max = s_int (row, "score_aging_max", p->aging_max);
    p->version = s_int (row, "policy_version", p->version);
}
