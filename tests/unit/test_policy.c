/*  test_policy — table-driven tests of common/dv_policy.c against
    shared/spec/policy.md: every rule at its boundaries (caps, reserves,
    waitlist cap, funded pacing, score caps, eligibility order, names).
*/
#include "dv_policy.h"
#include "testlib.h"

#define MAX_CMS 8

//  Which program a row runs against.
typedef enum {
    S_LEAD = 0,                 //  defaults
    S_COLEAD,                   //  CO-LEAD defaults
    S_OVERFLOW,                 //  LEAD, pretrial_overflow_waitlist = true
    S_FUNDED                    //  LEAD, funded 100 (pacing margin 0.10)
} s_program_kind_t;

static void
s_program (dv_program_t *program, s_program_kind_t kind)
{
    dv_program_defaults (program, kind == S_COLEAD? "CO-LEAD": "LEAD");
    if (kind == S_OVERFLOW)
        program->pretrial_overflow_waitlist = true;
    if (kind == S_FUNDED)
        program->funded = 100;
}

//  Fill cms [] from a caseload list; ids "cm-0", "cm-1", ...
static size_t
s_cms (dv_cm_t *cms, const int *loads, size_t count)
{
    static const char *ids [MAX_CMS] = {
        "cm-0", "cm-1", "cm-2", "cm-3", "cm-4", "cm-5", "cm-6", "cm-7"
    };
    for (size_t index = 0; index < count; index++) {
        cms [index].id = ids [index];
        cms [index].caseload = loads [index];
        cms [index].last_assigned = 0;
    }
    return count;
}


//  --------------------------------------------------------------------------

TEST (test_defaults)
{
    dv_program_t lead, colead, other;
    dv_program_defaults (&lead, "LEAD");
    CHECK_STR (lead.name, "LEAD");
    CHECK_INT (lead.hard_cap, 25);
    CHECK_INT (lead.target_avg, 20);
    CHECK_INT (lead.funded, -1);
    CHECK (lead.pacing_margin > 0.0999 && lead.pacing_margin < 0.1001);
    CHECK_INT (lead.reserve_tier1, 2);
    CHECK_INT (lead.reserve_tier2, 3);
    CHECK_INT (lead.waitlist_cap, 200);
    CHECK (!lead.pretrial_overflow_waitlist);
    CHECK (lead.accepts_housing [DV_HOUSING_UNSHELTERED]);
    CHECK (!lead.accepts_housing [DV_HOUSING_HOTEL]);
    CHECK (!lead.accepts_housing [DV_HOUSING_SHELTERED]);
    CHECK (!lead.accepts_housing [DV_HOUSING_HOUSED]);
    CHECK (!lead.accepts_housing [DV_HOUSING_UNKNOWN]);
    CHECK_INT (lead.areas_count, 0);
    CHECK_INT (lead.excluded_count, 0);
    CHECK_INT (lead.base [DV_PATHWAY_ARREST_DIVERSION], 60);
    CHECK_INT (lead.base [DV_PATHWAY_SOCIAL_CONTACT], 40);
    CHECK_INT (lead.base [DV_PATHWAY_COMMUNITY], 40);
    CHECK_INT (lead.base [DV_PATHWAY_PRETRIAL_DIVERSION], 20);
    CHECK_INT (lead.acuity_both, 10);
    CHECK_INT (lead.acuity_one, 5);
    CHECK_INT (lead.contact_each, 2);
    CHECK_INT (lead.contact_max, 10);
    CHECK_INT (lead.aging_per_day, 1);
    CHECK_INT (lead.aging_max, 20);
    CHECK_INT (lead.version, 1);

    dv_program_defaults (&colead, "CO-LEAD");
    CHECK_STR (colead.name, "CO-LEAD");
    CHECK_INT (colead.hard_cap, 15);
    CHECK_INT (colead.target_avg, 15);
    CHECK (colead.accepts_housing [DV_HOUSING_HOTEL]);
    CHECK (!colead.accepts_housing [DV_HOUSING_UNSHELTERED]);
    CHECK_INT (colead.reserve_tier1, 2);
    CHECK_INT (colead.waitlist_cap, 200);

    //  Long names are truncated to 32 characters and terminated
    const char *long_name = "A-PROGRAM-NAME-THAT-IS-MUCH-LONGER-THAN-32-CHARS";
    memset (&other, 'x', sizeof (other));
    dv_program_defaults (&other, long_name);
    CHECK_INT (strlen (other.name), 32);
    CHECK (strncmp (other.name, long_name, 32) == 0);
    CHECK_INT (other.hard_cap, 25);     //  not CO-LEAD: LEAD numbers
    CHECK_INT (other.areas_count, 0);

    dv_program_defaults (&other, "");
    CHECK_STR (other.name, "");
}

TEST (test_tier)
{
    static const struct { dv_pathway_t pathway; int tier; } rows [] = {
        { DV_PATHWAY_ARREST_DIVERSION, 1 },
        { DV_PATHWAY_SOCIAL_CONTACT, 2 },
        { DV_PATHWAY_COMMUNITY, 2 },
        { DV_PATHWAY_PRETRIAL_DIVERSION, 3 },
    };
    for (size_t i = 0; i < sizeof (rows) / sizeof (rows [0]); i++)
        CHECKF (dv_policy_tier (rows [i].pathway) == rows [i].tier, "row %zu", i);
    CHECK_INT (dv_policy_tier (DV_PATHWAY_COUNT), 0);
}

TEST (test_score)
{
    static const struct {
        const char *label;
        dv_pathway_t pathway;
        bool su, mh;
        int prior, days;
        int pathway_pts, acuity, contacts, aging, total;
    } rows [] = {
        { "arrest, su only",          DV_PATHWAY_ARREST_DIVERSION, 1, 0, 0, 0,     60, 5, 0, 0, 65 },
        { "arrest, mh only",          DV_PATHWAY_ARREST_DIVERSION, 0, 1, 0, 0,     60, 5, 0, 0, 65 },
        { "arrest, both",             DV_PATHWAY_ARREST_DIVERSION, 1, 1, 0, 0,     60, 10, 0, 0, 70 },
        { "arrest, neither",          DV_PATHWAY_ARREST_DIVERSION, 0, 0, 0, 0,     60, 0, 0, 0, 60 },
        { "social, both",             DV_PATHWAY_SOCIAL_CONTACT, 1, 1, 0, 0,       40, 10, 0, 0, 50 },
        { "social, one",              DV_PATHWAY_SOCIAL_CONTACT, 0, 1, 0, 0,       40, 5, 0, 0, 45 },
        { "community, both",          DV_PATHWAY_COMMUNITY, 1, 1, 0, 0,            40, 10, 0, 0, 50 },
        { "community, neither",       DV_PATHWAY_COMMUNITY, 0, 0, 0, 0,            40, 0, 0, 0, 40 },
        { "pretrial, one",            DV_PATHWAY_PRETRIAL_DIVERSION, 1, 0, 0, 0,   20, 5, 0, 0, 25 },
        { "pretrial, both",           DV_PATHWAY_PRETRIAL_DIVERSION, 1, 1, 0, 0,   20, 10, 0, 0, 30 },
        { "contacts 4",               DV_PATHWAY_COMMUNITY, 1, 0, 4, 0,            40, 5, 8, 0, 53 },
        { "contacts 5 (at max)",      DV_PATHWAY_COMMUNITY, 1, 0, 5, 0,            40, 5, 10, 0, 55 },
        { "contacts 6 (capped)",      DV_PATHWAY_COMMUNITY, 1, 0, 6, 0,            40, 5, 10, 0, 55 },
        { "contacts 1000 (capped)",   DV_PATHWAY_COMMUNITY, 1, 0, 1000, 0,         40, 5, 10, 0, 55 },
        { "contacts INT_MAX",         DV_PATHWAY_COMMUNITY, 1, 0, 2147483647, 0,   40, 5, 10, 0, 55 },
        { "contacts -3 -> 0",         DV_PATHWAY_COMMUNITY, 1, 0, -3, 0,           40, 5, 0, 0, 45 },
        { "aging 1",                  DV_PATHWAY_PRETRIAL_DIVERSION, 1, 0, 0, 1,   20, 5, 0, 1, 26 },
        { "aging 20 (at max)",        DV_PATHWAY_PRETRIAL_DIVERSION, 1, 0, 0, 20,  20, 5, 0, 20, 45 },
        { "aging 21 (capped)",        DV_PATHWAY_PRETRIAL_DIVERSION, 1, 0, 0, 21,  20, 5, 0, 20, 45 },
        { "aging -1 -> 0",            DV_PATHWAY_PRETRIAL_DIVERSION, 1, 0, 0, -1,  20, 5, 0, 0, 25 },
        { "all maxed = 100",          DV_PATHWAY_ARREST_DIVERSION, 1, 1, 9, 30,    60, 10, 10, 20, 100 },
        { "arrest maxed, 1 day = 91", DV_PATHWAY_ARREST_DIVERSION, 1, 1, 5, 11,    60, 10, 10, 11, 91 },
    };
    dv_program_t program;
    dv_program_defaults (&program, "LEAD");
    for (size_t i = 0; i < sizeof (rows) / sizeof (rows [0]); i++) {
        dv_score_t s = dv_policy_score (&program, rows [i].pathway, rows [i].su, rows [i].mh,
                                        rows [i].prior, rows [i].days);
        CHECKF (s.pathway == rows [i].pathway_pts, "%s: pathway %d", rows [i].label, s.pathway);
        CHECKF (s.acuity == rows [i].acuity, "%s: acuity %d", rows [i].label, s.acuity);
        CHECKF (s.contacts == rows [i].contacts, "%s: contacts %d", rows [i].label, s.contacts);
        CHECKF (s.aging == rows [i].aging, "%s: aging %d", rows [i].label, s.aging);
        CHECKF (s.total == rows [i].total, "%s: total %d", rows [i].label, s.total);
    }
}

//  The aging component alone, at its boundaries; it agrees with the score's.
TEST (test_aging)
{
    dv_program_t p;
    dv_program_defaults (&p, "LEAD");
    static const struct { int days, aging; } rows [] = {
        { -5, 0 }, { 0, 0 }, { 1, 1 }, { 19, 19 }, { 20, 20 }, { 21, 20 }, { 100000, 20 }
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        CHECKF (dv_policy_aging (&p, rows [i].days) == rows [i].aging, "%d days: %d, expected %d",
                rows [i].days, dv_policy_aging (&p, rows [i].days), rows [i].aging);
        dv_score_t score = dv_policy_score (&p, DV_PATHWAY_COMMUNITY, false, false, 0, rows [i].days);
        CHECK_INT (score.aging, rows [i].aging);
    }
    p.aging_per_day = 3;
    p.aging_max = 10;
    CHECK_INT (dv_policy_aging (&p, 3), 9);
    CHECK_INT (dv_policy_aging (&p, 4), 10);
}

TEST (test_score_clamp)
{
    dv_program_t program;
    dv_program_defaults (&program, "LEAD");
    //  A site raising the base past 100: the total clamps, components stay as computed
    program.base [DV_PATHWAY_ARREST_DIVERSION] = 95;
    dv_score_t s = dv_policy_score (&program, DV_PATHWAY_ARREST_DIVERSION, true, true, 5, 20);
    CHECK_INT (s.pathway, 95);
    CHECK_INT (s.acuity, 10);
    CHECK_INT (s.contacts, 10);
    CHECK_INT (s.aging, 20);
    CHECK_INT (s.total, 100);

    //  A negative base clamps at 0
    program.base [DV_PATHWAY_PRETRIAL_DIVERSION] = -50;
    s = dv_policy_score (&program, DV_PATHWAY_PRETRIAL_DIVERSION, true, false, 1, 1);
    CHECK_INT (s.total, 0);

    //  Unknown pathway: no base
    s = dv_policy_score (&program, DV_PATHWAY_COUNT, false, false, 0, 0);
    CHECK_INT (s.pathway, 0);
    CHECK_INT (s.total, 0);

    //  Site-changed weights are used
    dv_program_defaults (&program, "LEAD");
    program.contact_each = 3;
    program.contact_max = 7;
    program.aging_per_day = 2;
    program.aging_max = 5;
    s = dv_policy_score (&program, DV_PATHWAY_COMMUNITY, false, false, 2, 2);
    CHECK_INT (s.contacts, 6);
    CHECK_INT (s.aging, 4);
    s = dv_policy_score (&program, DV_PATHWAY_COMMUNITY, false, false, 3, 3);
    CHECK_INT (s.contacts, 7);
    CHECK_INT (s.aging, 5);
}

TEST (test_capacity_snapshot)
{
    static const struct {
        const char *label;
        s_program_kind_t kind;
        int funded;                 //  overrides when >= -1 and kind == S_FUNDED
        double margin;
        int loads [MAX_CMS];
        size_t count;
        int waitlist;
        int n, total, max_load, paced, free, open_slots;
    } rows [] = {
        { "no case managers",        S_LEAD,   -1, 0.10, { 0 }, 0, 0,              0, 0, 0, 0, 0, 0 },
        { "one empty",               S_LEAD,   -1, 0.10, { 0 }, 1, 3,              1, 0, 0, 20, 20, 1 },
        { "H-1, H, H+1",             S_LEAD,   -1, 0.10, { 24, 25, 26 }, 3, 0,     3, 75, 26, 60, -15, 1 },
        { "CO-LEAD 14, 15",          S_COLEAD, -1, 0.10, { 14, 15 }, 2, 0,         2, 29, 15, 30, 1, 1 },
        { "funded 100 caps 5x20",    S_FUNDED, 100, 0.10, { 10, 10, 10, 10, 10 }, 5, 0,
                                                                                   5, 50, 10, 90, 40, 5 },
        { "funded 100, n*A smaller", S_FUNDED, 100, 0.10, { 10, 10, 10, 10 }, 4, 0,
                                                                                   4, 40, 10, 80, 40, 4 },
        { "funded 0",                S_FUNDED, 0, 0.10,   { 1, 2 }, 2, 0,          2, 3, 2, 0, -3, 2 },
        { "funded 10, m 0.3 -> 7",   S_FUNDED, 10, 0.30,  { 1 }, 1, 0,             1, 1, 1, 7, 6, 1 },
        { "funded 200, m 0.05",      S_FUNDED, 200, 0.05, { 0, 0, 0, 0, 0, 0, 0, 0 }, 8, 0,
                                                                                   8, 0, 0, 160, 160, 8 },
        { "funded 199, m 0.10",      S_FUNDED, 199, 0.10, { 0, 0, 0, 0, 0, 0, 0, 0 }, 8, 0,
                                                                                   8, 0, 0, 160, 160, 8 },
        { "funded 90, m 0.30 -> 63 (not 62)", S_FUNDED, 90, 0.30, { 0, 0, 0, 0, 0, 0, 0, 0 }, 8, 0,
                                                                                   8, 0, 0, 63, 63, 8 },
        { "funded 150, m 0.10 -> 135", S_FUNDED, 150, 0.10, { 0, 0, 0, 0, 0, 0, 0, 0 }, 8, 7,
                                                                                   8, 0, 0, 135, 135, 8 },
    };
    for (size_t i = 0; i < sizeof (rows) / sizeof (rows [0]); i++) {
        dv_program_t program;
        dv_cm_t cms [MAX_CMS];
        s_program (&program, rows [i].kind);
        if (rows [i].kind == S_FUNDED) {
            program.funded = rows [i].funded;
            program.pacing_margin = rows [i].margin;
        }
        size_t count = s_cms (cms, rows [i].loads, rows [i].count);
        dv_capacity_t c = dv_policy_capacity (&program, count? cms: NULL, count, rows [i].waitlist);
        CHECKF (c.n == rows [i].n, "%s: n %d", rows [i].label, c.n);
        CHECKF (c.total == rows [i].total, "%s: total %d", rows [i].label, c.total);
        CHECKF (c.max_load == rows [i].max_load, "%s: max_load %d", rows [i].label, c.max_load);
        CHECKF (c.paced == rows [i].paced, "%s: paced %d", rows [i].label, c.paced);
        CHECKF (c.free == rows [i].free, "%s: free %d", rows [i].label, c.free);
        CHECKF (c.open_slots == rows [i].open_slots, "%s: open %d", rows [i].label, c.open_slots);
        CHECKF (c.waitlist == rows [i].waitlist, "%s: waitlist %d", rows [i].label, c.waitlist);
    }
}

//  Caseloads -> snapshot -> capacity rule, the way the daemon uses them.
TEST (test_capacity_rule)
{
    static const struct {
        const char *label;
        s_program_kind_t kind;
        int loads [MAX_CMS];
        size_t count;
        int waitlist;
        int tier;
        bool promoting;
        dv_decision_t decision;
        dv_reason_t reason;
    } rows [] = {
        //  Tier 1: only the hard cap matters
        { "t1 H-1",                S_LEAD, { 24 }, 1, 0, 1, 0,   DV_DECISION_ACCEPT, DV_REASON_ACCEPTED },
        { "t1 H",                  S_LEAD, { 25 }, 1, 0, 1, 0,   DV_DECISION_DECLINE, DV_REASON_AT_CAPACITY },
        { "t1 H+1",                S_LEAD, { 26 }, 1, 0, 1, 0,   DV_DECISION_DECLINE, DV_REASON_AT_CAPACITY },
        { "t1 all at H",           S_LEAD, { 25, 25, 25 }, 3, 0, 1, 0, DV_DECISION_DECLINE, DV_REASON_AT_CAPACITY },
        { "t1 free < 0, one < H",  S_LEAD, { 25, 25, 25, 24 }, 4, 0, 1, 0,
                                                                 DV_DECISION_ACCEPT, DV_REASON_ACCEPTED },
        { "t1 free < 0, avg > A",  S_LEAD, { 22, 22, 22 }, 3, 0, 1, 0,
                                                                 DV_DECISION_ACCEPT, DV_REASON_ACCEPTED },
        { "t1 waitlist full",      S_LEAD, { 25 }, 1, 200, 1, 0, DV_DECISION_DECLINE, DV_REASON_AT_CAPACITY },
        { "t1 CO-LEAD 14",         S_COLEAD, { 14 }, 1, 0, 1, 0, DV_DECISION_ACCEPT, DV_REASON_ACCEPTED },
        { "t1 CO-LEAD 15",         S_COLEAD, { 15 }, 1, 0, 1, 0, DV_DECISION_DECLINE, DV_REASON_AT_CAPACITY },
        { "t1 no CMs",             S_LEAD, { 0 }, 0, 0, 1, 0,    DV_DECISION_DECLINE, DV_REASON_AT_CAPACITY },

        //  Tier 2: free - 1 >= R1 (2); one CM, A = 20: load 17 -> free 3
        { "t2 free-1 == R1",       S_LEAD, { 17 }, 1, 0, 2, 0,   DV_DECISION_ACCEPT, DV_REASON_ACCEPTED },
        { "t2 free-1 == R1+1",     S_LEAD, { 16 }, 1, 0, 2, 0,   DV_DECISION_ACCEPT, DV_REASON_ACCEPTED },
        { "t2 free-1 == R1-1",     S_LEAD, { 18 }, 1, 0, 2, 0,   DV_DECISION_WAITLIST, DV_REASON_AT_CAPACITY },
        { "t2 waitlist cap-1",     S_LEAD, { 18 }, 1, 199, 2, 0, DV_DECISION_WAITLIST, DV_REASON_AT_CAPACITY },
        { "t2 waitlist cap",       S_LEAD, { 18 }, 1, 200, 2, 0, DV_DECISION_DECLINE, DV_REASON_WAITLIST_FULL },
        { "t2 waitlist cap+1",     S_LEAD, { 18 }, 1, 201, 2, 0, DV_DECISION_DECLINE, DV_REASON_WAITLIST_FULL },
        { "t2 fits, waitlist full", S_LEAD, { 17 }, 1, 200, 2, 0, DV_DECISION_ACCEPT, DV_REASON_ACCEPTED },
        { "t2 no CMs",             S_LEAD, { 0 }, 0, 0, 2, 0,    DV_DECISION_WAITLIST, DV_REASON_AT_CAPACITY },
        { "t2 CO-LEAD 12 (f-1=2)", S_COLEAD, { 12 }, 1, 0, 2, 0, DV_DECISION_ACCEPT, DV_REASON_ACCEPTED },
        { "t2 CO-LEAD 13 (f-1=1)", S_COLEAD, { 13 }, 1, 0, 2, 0, DV_DECISION_WAITLIST, DV_REASON_AT_CAPACITY },

        //  Tier 3: free - 1 >= R1 + R2 (5); load 14 -> free 6
        { "t3 free-1 == R1+R2",    S_LEAD, { 14 }, 1, 0, 3, 0,   DV_DECISION_ACCEPT, DV_REASON_ACCEPTED },
        { "t3 free-1 == R1+R2-1",  S_LEAD, { 15 }, 1, 0, 3, 0,   DV_DECISION_DECLINE, DV_REASON_RESERVED_FOR_PRIORITY },
        { "t3 reserved, list full", S_LEAD, { 15 }, 1, 200, 3, 0, DV_DECISION_DECLINE, DV_REASON_RESERVED_FOR_PRIORITY },
        { "t3 overflow fits",      S_OVERFLOW, { 14 }, 1, 0, 3, 0, DV_DECISION_ACCEPT, DV_REASON_ACCEPTED },
        { "t3 overflow waitlist",  S_OVERFLOW, { 15 }, 1, 0, 3, 0, DV_DECISION_WAITLIST, DV_REASON_AT_CAPACITY },
        { "t3 overflow cap-1",     S_OVERFLOW, { 15 }, 1, 199, 3, 0, DV_DECISION_WAITLIST, DV_REASON_AT_CAPACITY },
        { "t3 overflow cap",       S_OVERFLOW, { 15 }, 1, 200, 3, 0, DV_DECISION_DECLINE, DV_REASON_WAITLIST_FULL },
        { "t3 no CMs",             S_LEAD, { 0 }, 0, 0, 3, 0,    DV_DECISION_DECLINE, DV_REASON_RESERVED_FOR_PRIORITY },

        //  Funded pacing: F 100, m 0.10, 5 CMs -> paced min(100, 90) = 90
        { "funded t2 T=87 (f=3)",  S_FUNDED, { 18, 18, 17, 17, 17 }, 5, 0, 2, 0,
                                                                 DV_DECISION_ACCEPT, DV_REASON_ACCEPTED },
        { "funded t2 T=88 (f=2)",  S_FUNDED, { 18, 18, 18, 17, 17 }, 5, 0, 2, 0,
                                                                 DV_DECISION_WAITLIST, DV_REASON_AT_CAPACITY },
        { "funded t3 T=84 (f=6)",  S_FUNDED, { 17, 17, 17, 17, 16 }, 5, 0, 3, 0,
                                                                 DV_DECISION_ACCEPT, DV_REASON_ACCEPTED },
        { "funded t3 T=85 (f=5)",  S_FUNDED, { 17, 17, 17, 17, 17 }, 5, 0, 3, 0,
                                                                 DV_DECISION_DECLINE, DV_REASON_RESERVED_FOR_PRIORITY },
        { "funded t1 T=95 (f=-5)", S_FUNDED, { 19, 19, 19, 19, 19 }, 5, 0, 1, 0,
                                                                 DV_DECISION_ACCEPT, DV_REASON_ACCEPTED },

        //  Promotion: accept from waitlist, or stay (never decline)
        { "p t1 H-1",              S_LEAD, { 24 }, 1, 0, 1, 1,   DV_DECISION_ACCEPT, DV_REASON_ACCEPTED_FROM_WAITLIST },
        { "p t1 H",                S_LEAD, { 25 }, 1, 0, 1, 1,   DV_DECISION_WAITLIST, DV_REASON_AT_CAPACITY },
        { "p t2 free-1 == R1",     S_LEAD, { 17 }, 1, 5, 2, 1,   DV_DECISION_ACCEPT, DV_REASON_ACCEPTED_FROM_WAITLIST },
        { "p t2 free-1 == R1-1",   S_LEAD, { 18 }, 1, 5, 2, 1,   DV_DECISION_WAITLIST, DV_REASON_AT_CAPACITY },
        { "p t2 list at cap",      S_LEAD, { 18 }, 1, 200, 2, 1, DV_DECISION_WAITLIST, DV_REASON_AT_CAPACITY },
        { "p t2 list over cap",    S_LEAD, { 18 }, 1, 300, 2, 1, DV_DECISION_WAITLIST, DV_REASON_AT_CAPACITY },
        { "p t3 free-1 == R1+R2",  S_LEAD, { 14 }, 1, 5, 3, 1,   DV_DECISION_ACCEPT, DV_REASON_ACCEPTED_FROM_WAITLIST },
        { "p t3 no overflow, short", S_LEAD, { 15 }, 1, 5, 3, 1, DV_DECISION_WAITLIST, DV_REASON_AT_CAPACITY },
        { "p t3 overflow, short",  S_OVERFLOW, { 15 }, 1, 200, 3, 1, DV_DECISION_WAITLIST, DV_REASON_AT_CAPACITY },
        { "p t3 no CMs",           S_LEAD, { 0 }, 0, 5, 3, 1,    DV_DECISION_WAITLIST, DV_REASON_AT_CAPACITY },
        { "p CO-LEAD t1 14",       S_COLEAD, { 14 }, 1, 1, 1, 1, DV_DECISION_ACCEPT, DV_REASON_ACCEPTED_FROM_WAITLIST },
        { "p CO-LEAD t1 15",       S_COLEAD, { 15 }, 1, 1, 1, 1, DV_DECISION_WAITLIST, DV_REASON_AT_CAPACITY },
    };
    for (size_t i = 0; i < sizeof (rows) / sizeof (rows [0]); i++) {
        dv_program_t program;
        dv_cm_t cms [MAX_CMS];
        s_program (&program, rows [i].kind);
        size_t count = s_cms (cms, rows [i].loads, rows [i].count);
        dv_capacity_t c = dv_policy_capacity (&program, count? cms: NULL, count, rows [i].waitlist);
        dv_outcome_t o = dv_policy_capacity_rule (&program, rows [i].tier, &c, rows [i].promoting);
        CHECKF (o.decision == rows [i].decision && o.reason == rows [i].reason,
                "%s: got %s/%s, expected %s/%s (free %d, open %d)", rows [i].label,
                dv_decision_name (o.decision), dv_reason_name (o.reason),
                dv_decision_name (rows [i].decision), dv_reason_name (rows [i].reason),
                c.free, c.open_slots);
    }
}

//  The rule on hand-built snapshots: open_slots and free are independent.
TEST (test_capacity_rule_snapshot)
{
    static const struct {
        const char *label;
        int free, open_slots, waitlist;
        int tier;
        bool overflow, promoting;
        dv_decision_t decision;
        dv_reason_t reason;
    } rows [] = {
        { "t1 free huge, nobody < H",  100, 0, 0, 1, 0, 0, DV_DECISION_DECLINE, DV_REASON_AT_CAPACITY },
        { "t2 free huge, nobody < H",  100, 0, 0, 2, 0, 0, DV_DECISION_WAITLIST, DV_REASON_AT_CAPACITY },
        { "t3 free huge, nobody < H",  100, 0, 0, 3, 0, 0, DV_DECISION_DECLINE, DV_REASON_RESERVED_FOR_PRIORITY },
        { "t1 free -50, one < H",      -50, 1, 0, 1, 0, 0, DV_DECISION_ACCEPT, DV_REASON_ACCEPTED },
        { "t2 free 3",                   3, 1, 0, 2, 0, 0, DV_DECISION_ACCEPT, DV_REASON_ACCEPTED },
        { "t2 free 2",                   2, 1, 0, 2, 0, 0, DV_DECISION_WAITLIST, DV_REASON_AT_CAPACITY },
        { "t3 free 6",                   6, 1, 0, 3, 0, 0, DV_DECISION_ACCEPT, DV_REASON_ACCEPTED },
        { "t3 free 5",                   5, 1, 0, 3, 0, 0, DV_DECISION_DECLINE, DV_REASON_RESERVED_FOR_PRIORITY },
        { "t3 free 5 overflow",          5, 1, 0, 3, 1, 0, DV_DECISION_WAITLIST, DV_REASON_AT_CAPACITY },
        { "t2 nobody < H, list full",  100, 0, 200, 2, 0, 0, DV_DECISION_DECLINE, DV_REASON_WAITLIST_FULL },
        { "p t2 nobody < H",           100, 0, 0, 2, 0, 1, DV_DECISION_WAITLIST, DV_REASON_AT_CAPACITY },
        { "p t1 free -50, one < H",    -50, 1, 0, 1, 0, 1, DV_DECISION_ACCEPT, DV_REASON_ACCEPTED_FROM_WAITLIST },
        //  Unknown tiers get the strictest (tier 3) rule
        { "tier 0 free 5",               5, 1, 0, 0, 0, 0, DV_DECISION_DECLINE, DV_REASON_RESERVED_FOR_PRIORITY },
        { "tier 4 free 6",               6, 1, 0, 4, 0, 0, DV_DECISION_ACCEPT, DV_REASON_ACCEPTED },
    };
    for (size_t i = 0; i < sizeof (rows) / sizeof (rows [0]); i++) {
        dv_program_t program;
        dv_program_defaults (&program, "LEAD");
        program.pretrial_overflow_waitlist = rows [i].overflow;
        dv_capacity_t c;
        memset (&c, 0, sizeof (c));
        c.n = rows [i].open_slots;
        c.free = rows [i].free;
        c.open_slots = rows [i].open_slots;
        c.waitlist = rows [i].waitlist;
        dv_outcome_t o = dv_policy_capacity_rule (&program, rows [i].tier, &c, rows [i].promoting);
        CHECKF (o.decision == rows [i].decision && o.reason == rows [i].reason,
                "%s: got %s/%s", rows [i].label, dv_decision_name (o.decision),
                dv_reason_name (o.reason));
    }

    //  Site-changed reserves are used
    dv_program_t program;
    dv_program_defaults (&program, "LEAD");
    program.reserve_tier1 = 0;
    program.reserve_tier2 = 0;
    dv_capacity_t c = { 1, 19, 19, 20, 1, 1, 0 };
    CHECK_INT (dv_policy_capacity_rule (&program, 2, &c, false).decision, DV_DECISION_ACCEPT);
    CHECK_INT (dv_policy_capacity_rule (&program, 3, &c, false).decision, DV_DECISION_ACCEPT);
    c.free = 0;
    CHECK_INT (dv_policy_capacity_rule (&program, 2, &c, false).decision, DV_DECISION_WAITLIST);
    program.waitlist_cap = 0;
    CHECK_INT (dv_policy_capacity_rule (&program, 2, &c, false).reason, DV_REASON_WAITLIST_FULL);
}

TEST (test_assign)
{
    static const struct {
        const char *label;
        s_program_kind_t kind;
        size_t count;
        struct { const char *id; int load; int64_t last; } cms [MAX_CMS];
        int expected;
    } rows [] = {
        { "none", S_LEAD, 0, { { "a", 0, 0 } }, -1 },
        { "lowest caseload", S_LEAD, 3, { { "a", 10, 0 }, { "b", 5, 0 }, { "c", 7, 0 } }, 1 },
        { "caseload beats last_assigned", S_LEAD, 2, { { "a", 6, 0 }, { "b", 5, 900 } }, 1 },
        { "tie: older last_assigned", S_LEAD, 2, { { "a", 5, 100 }, { "b", 5, 50 } }, 1 },
        { "tie: never (0) is oldest", S_LEAD, 3, { { "a", 5, 1 }, { "b", 5, 0 }, { "c", 5, 2 } }, 1 },
        { "tie: lowest id", S_LEAD, 3, { { "cm-c", 5, 7 }, { "cm-a", 5, 7 }, { "cm-b", 5, 7 } }, 1 },
        { "tie: id after last", S_LEAD, 3, { { "cm-a", 5, 9 }, { "cm-c", 5, 3 }, { "cm-b", 5, 3 } }, 2 },
        { "tie: id strcmp, not length", S_LEAD, 2, { { "cm-10", 3, 0 }, { "cm-9", 3, 0 } }, 0 },
        { "at cap skipped", S_LEAD, 2, { { "a", 25, 0 }, { "b", 24, 999 } }, 1 },
        { "over cap skipped", S_LEAD, 2, { { "a", 26, 0 }, { "b", 24, 999 } }, 1 },
        { "everyone at cap", S_LEAD, 3, { { "a", 25, 0 }, { "b", 25, 0 }, { "c", 26, 0 } }, -1 },
        { "CO-LEAD 15 vs 14", S_COLEAD, 2, { { "a", 15, 0 }, { "b", 14, 0 } }, 1 },
        { "CO-LEAD all at 15", S_COLEAD, 2, { { "a", 15, 0 }, { "b", 15, 0 } }, -1 },
        { "above target still assignable", S_LEAD, 2, { { "a", 25, 0 }, { "b", 23, 0 } }, 1 },
    };
    for (size_t i = 0; i < sizeof (rows) / sizeof (rows [0]); i++) {
        dv_program_t program;
        dv_cm_t cms [MAX_CMS];
        s_program (&program, rows [i].kind);
        for (size_t j = 0; j < rows [i].count; j++) {
            cms [j].id = rows [i].cms [j].id;
            cms [j].caseload = rows [i].cms [j].load;
            cms [j].last_assigned = rows [i].cms [j].last;
        }
        int got = dv_policy_assign (&program, rows [i].count? cms: NULL, rows [i].count);
        CHECKF (got == rows [i].expected, "%s: got %d, expected %d", rows [i].label, got,
                rows [i].expected);
    }
}

TEST (test_eligibility)
{
    static const struct {
        const char *label;
        s_program_kind_t kind;
        bool whole;                 //  program without a service-area list
        dv_pathway_t pathway;
        bool consent;
        const char *area;
        dv_housing_t housing;
        bool su, mh;
        const char *offense;
        dv_reason_t expected;
    } rows [] = {
        { "eligible arrest, no consent needed", S_LEAD, 0, DV_PATHWAY_ARREST_DIVERSION, 0, "north",
          DV_HOUSING_UNSHELTERED, 1, 0, NULL, DV_REASON_NONE },
        { "pretrial, no consent needed", S_LEAD, 0, DV_PATHWAY_PRETRIAL_DIVERSION, 0, "north",
          DV_HOUSING_UNSHELTERED, 1, 0, NULL, DV_REASON_NONE },
        { "community without consent", S_LEAD, 0, DV_PATHWAY_COMMUNITY, 0, "north",
          DV_HOUSING_UNSHELTERED, 1, 0, NULL, DV_REASON_NO_CONSENT },
        { "social without consent", S_LEAD, 0, DV_PATHWAY_SOCIAL_CONTACT, 0, "north",
          DV_HOUSING_UNSHELTERED, 1, 0, NULL, DV_REASON_NO_CONSENT },
        { "community with consent", S_LEAD, 0, DV_PATHWAY_COMMUNITY, 1, "north",
          DV_HOUSING_UNSHELTERED, 0, 1, NULL, DV_REASON_NONE },
        { "social with consent", S_LEAD, 0, DV_PATHWAY_SOCIAL_CONTACT, 1, "central",
          DV_HOUSING_UNSHELTERED, 1, 1, NULL, DV_REASON_NONE },
        { "outside area", S_LEAD, 0, DV_PATHWAY_ARREST_DIVERSION, 0, "south",
          DV_HOUSING_UNSHELTERED, 1, 0, NULL, DV_REASON_OUTSIDE_SERVICE_AREA },
        { "area exact match only (case)", S_LEAD, 0, DV_PATHWAY_ARREST_DIVERSION, 0, "North",
          DV_HOUSING_UNSHELTERED, 1, 0, NULL, DV_REASON_OUTSIDE_SERVICE_AREA },
        { "area exact match only (prefix)", S_LEAD, 0, DV_PATHWAY_ARREST_DIVERSION, 0, "nort",
          DV_HOUSING_UNSHELTERED, 1, 0, NULL, DV_REASON_OUTSIDE_SERVICE_AREA },
        { "no area, list set", S_LEAD, 0, DV_PATHWAY_ARREST_DIVERSION, 0, NULL,
          DV_HOUSING_UNSHELTERED, 1, 0, NULL, DV_REASON_OUTSIDE_SERVICE_AREA },
        { "whole jurisdiction", S_LEAD, 1, DV_PATHWAY_ARREST_DIVERSION, 0, "south",
          DV_HOUSING_UNSHELTERED, 1, 0, NULL, DV_REASON_NONE },
        { "whole jurisdiction, no area", S_LEAD, 1, DV_PATHWAY_ARREST_DIVERSION, 0, NULL,
          DV_HOUSING_UNSHELTERED, 1, 0, NULL, DV_REASON_NONE },
        { "no behavioral-health need", S_LEAD, 0, DV_PATHWAY_ARREST_DIVERSION, 0, "north",
          DV_HOUSING_UNSHELTERED, 0, 0, NULL, DV_REASON_NO_BEHAVIORAL_HEALTH_NEED },
        { "mental health only", S_LEAD, 0, DV_PATHWAY_ARREST_DIVERSION, 0, "north",
          DV_HOUSING_UNSHELTERED, 0, 1, NULL, DV_REASON_NONE },
        { "LEAD sheltered", S_LEAD, 0, DV_PATHWAY_ARREST_DIVERSION, 0, "north",
          DV_HOUSING_SHELTERED, 1, 0, NULL, DV_REASON_NOT_UNSHELTERED },
        { "LEAD housed", S_LEAD, 0, DV_PATHWAY_ARREST_DIVERSION, 0, "north",
          DV_HOUSING_HOUSED, 1, 0, NULL, DV_REASON_NOT_UNSHELTERED },
        { "LEAD unknown housing", S_LEAD, 0, DV_PATHWAY_ARREST_DIVERSION, 0, "north",
          DV_HOUSING_UNKNOWN, 1, 0, NULL, DV_REASON_NOT_UNSHELTERED },
        { "LEAD hotel", S_LEAD, 0, DV_PATHWAY_ARREST_DIVERSION, 0, "north",
          DV_HOUSING_HOTEL, 1, 0, NULL, DV_REASON_NOT_UNSHELTERED },
        { "CO-LEAD hotel", S_COLEAD, 0, DV_PATHWAY_ARREST_DIVERSION, 0, "north",
          DV_HOUSING_HOTEL, 1, 0, NULL, DV_REASON_NONE },
        { "CO-LEAD unsheltered", S_COLEAD, 0, DV_PATHWAY_ARREST_DIVERSION, 0, "north",
          DV_HOUSING_UNSHELTERED, 1, 0, NULL, DV_REASON_NOT_UNSHELTERED },
        { "excluded offense", S_LEAD, 0, DV_PATHWAY_ARREST_DIVERSION, 0, "north",
          DV_HOUSING_UNSHELTERED, 1, 0, "DEAL-PROFIT", DV_REASON_EXCLUDED_OFFENSE },
        { "excluded offense, other case", S_LEAD, 0, DV_PATHWAY_ARREST_DIVERSION, 0, "north",
          DV_HOUSING_UNSHELTERED, 1, 0, "exploit-Minor", DV_REASON_EXCLUDED_OFFENSE },
        { "offense prefix not excluded", S_LEAD, 0, DV_PATHWAY_ARREST_DIVERSION, 0, "north",
          DV_HOUSING_UNSHELTERED, 1, 0, "DEAL", DV_REASON_NONE },
        { "offense longer not excluded", S_LEAD, 0, DV_PATHWAY_ARREST_DIVERSION, 0, "north",
          DV_HOUSING_UNSHELTERED, 1, 0, "DEAL-PROFIT-X", DV_REASON_NONE },
        { "other offense", S_LEAD, 0, DV_PATHWAY_ARREST_DIVERSION, 0, "north",
          DV_HOUSING_UNSHELTERED, 1, 0, "POSSESSION", DV_REASON_NONE },
        //  Order: consent, area, need, housing, offense
        { "no consent + outside", S_LEAD, 0, DV_PATHWAY_COMMUNITY, 0, "south",
          DV_HOUSING_SHELTERED, 0, 0, "DEAL-PROFIT", DV_REASON_NO_CONSENT },
        { "outside + no need", S_LEAD, 0, DV_PATHWAY_COMMUNITY, 1, "south",
          DV_HOUSING_SHELTERED, 0, 0, "DEAL-PROFIT", DV_REASON_OUTSIDE_SERVICE_AREA },
        { "no need + housing", S_LEAD, 0, DV_PATHWAY_ARREST_DIVERSION, 0, "north",
          DV_HOUSING_SHELTERED, 0, 0, "DEAL-PROFIT", DV_REASON_NO_BEHAVIORAL_HEALTH_NEED },
        { "housing + offense", S_LEAD, 0, DV_PATHWAY_ARREST_DIVERSION, 0, "north",
          DV_HOUSING_SHELTERED, 1, 1, "DEAL-PROFIT", DV_REASON_NOT_UNSHELTERED },
    };
    for (size_t i = 0; i < sizeof (rows) / sizeof (rows [0]); i++) {
        dv_program_t program;
        s_program (&program, rows [i].kind);
        if (!rows [i].whole) {
            program.areas_count = 2;
            strcpy (program.areas [0], "north");
            strcpy (program.areas [1], "central");
        }
        program.excluded_count = 2;
        strcpy (program.excluded [0], "DEAL-PROFIT");
        strcpy (program.excluded [1], "EXPLOIT-MINOR");

        dv_referral_t referral;
        memset (&referral, 0, sizeof (referral));
        referral.referral_id = "7e57a11c-0000-4000-8000-000000000001";
        referral.pathway = rows [i].pathway;
        referral.consent = rows [i].consent;
        referral.area = rows [i].area;
        referral.housing = rows [i].housing;
        referral.substance_use = rows [i].su;
        referral.mental_health = rows [i].mh;
        referral.offense_code = rows [i].offense;

        dv_reason_t got = dv_policy_eligibility (&program, &referral);
        CHECKF (got == rows [i].expected, "%s: got %s, expected %s", rows [i].label,
                got == DV_REASON_NONE? "none": dv_reason_name (got),
                rows [i].expected == DV_REASON_NONE? "none": dv_reason_name (rows [i].expected));
    }
}

TEST (test_staffing_gap)
{
    static const struct {
        const char *label;
        int total, waitlisted, target;
        double margin;
        int n, expected;
    } rows [] = {
        { "36/18 exact, n 2",        36, 0, 20, 0.10, 2, 0 },
        { "37/18, n 2",              37, 0, 20, 0.10, 2, 1 },
        { "waitlist counted",        30, 7, 20, 0.10, 2, 1 },
        { "waitlist exact",          30, 6, 20, 0.10, 2, 0 },
        { "180/18 exact, n 0",      180, 0, 20, 0.10, 0, 10 },
        { "181/18, n 9",            181, 0, 20, 0.10, 9, 2 },
        { "nothing, n 0",             0, 0, 20, 0.10, 0, 0 },
        { "one waiting, n 0",         0, 1, 20, 0.10, 0, 1 },
        { "over-staffed is 0",       10, 0, 20, 0.10, 5, 0 },
        { "CO-LEAD 27/13.5 exact",   27, 0, 15, 0.10, 2, 0 },
        { "CO-LEAD 28/13.5",         28, 0, 15, 0.10, 2, 1 },
        { "no margin 40/20",         40, 0, 20, 0.0, 2, 0 },
        { "no margin 41/20",         41, 0, 20, 0.0, 2, 1 },
        { "57/5.7 exact in decimal",   57, 0, 6, 0.05, 10, 0 },
        { "58/5.7",                    58, 0, 6, 0.05, 10, 1 },
        { "114/11.4 exact in decimal", 100, 14, 12, 0.05, 10, 0 },
        { "target 0 guarded",        50, 0, 0, 0.10, 1, 0 },
        { "margin 1 guarded",        50, 0, 20, 1.0, 1, 0 },
    };
    for (size_t i = 0; i < sizeof (rows) / sizeof (rows [0]); i++) {
        dv_program_t program;
        dv_program_defaults (&program, "LEAD");
        program.target_avg = rows [i].target;
        program.pacing_margin = rows [i].margin;
        int got = dv_policy_staffing_gap (&program, rows [i].total, rows [i].waitlisted, rows [i].n);
        CHECKF (got == rows [i].expected, "%s: got %d, expected %d", rows [i].label, got,
                rows [i].expected);
    }
}

TEST (test_wait_band)
{
    static const struct { int position; double rate; const char *band; } rows [] = {
        { 5, 0.0, "undetermined" },
        { 5, -1.0, "undetermined" },
        { 0, 0.0, "undetermined" },
        { 0, 1.0, "under_1_month" },
        { -3, 1.0, "under_1_month" },
        { 1, 1.0, "under_1_month" },
        { 29, 1.0, "under_1_month" },
        { 30, 1.0, "1_to_3_months" },
        { 90, 1.0, "1_to_3_months" },
        { 91, 1.0, "over_3_months" },
        { 14, 0.5, "under_1_month" },     //  28 days
        { 15, 0.5, "1_to_3_months" },     //  30 days
        { 45, 0.5, "1_to_3_months" },     //  90 days
        { 46, 0.5, "over_3_months" },     //  92 days
        { 59, 2.0, "under_1_month" },     //  29.5 days
        { 60, 2.0, "1_to_3_months" },
    };
    for (size_t i = 0; i < sizeof (rows) / sizeof (rows [0]); i++)
        CHECKF (strcmp (dv_policy_wait_band (rows [i].position, rows [i].rate), rows [i].band) == 0,
                "position %d rate %g: got %s, expected %s", rows [i].position, rows [i].rate,
                dv_policy_wait_band (rows [i].position, rows [i].rate), rows [i].band);
}

TEST (test_names)
{
    static const struct { dv_reason_t reason; const char *name; } reasons [] = {
        { DV_REASON_ACCEPTED, "accepted" },
        { DV_REASON_ACCEPTED_FROM_WAITLIST, "accepted_from_waitlist" },
        { DV_REASON_AT_CAPACITY, "at_capacity" },
        { DV_REASON_WAITLIST_FULL, "waitlist_full" },
        { DV_REASON_RESERVED_FOR_PRIORITY, "reserved_for_priority" },
        { DV_REASON_OUTSIDE_SERVICE_AREA, "outside_service_area" },
        { DV_REASON_NO_BEHAVIORAL_HEALTH_NEED, "no_behavioral_health_need" },
        { DV_REASON_NOT_UNSHELTERED, "not_unsheltered" },
        { DV_REASON_EXCLUDED_OFFENSE, "excluded_offense" },
        { DV_REASON_ALREADY_ENROLLED, "already_enrolled" },
        { DV_REASON_LINKED_TO_PENDING, "linked_to_pending" },
        { DV_REASON_WAITLIST_EXPIRED, "waitlist_expired" },
        { DV_REASON_WITHDRAWN, "withdrawn" },
        { DV_REASON_INTAKE_LAPSED, "intake_lapsed" },
        { DV_REASON_NO_CONSENT, "no_consent" },
    };
    size_t count = sizeof (reasons) / sizeof (reasons [0]);
    CHECK_INT (count, DV_REASON_COUNT);
    for (size_t i = 0; i < count; i++) {
        CHECKF (dv_reason_name (reasons [i].reason)
                && strcmp (dv_reason_name (reasons [i].reason), reasons [i].name) == 0,
                "reason %d: %s", (int) reasons [i].reason, reasons [i].name);
        CHECKF (dv_reason_from_name (reasons [i].name) == (int) reasons [i].reason,
                "from_name %s", reasons [i].name);
    }
    CHECK (dv_reason_name (DV_REASON_NONE) == NULL);
    CHECK (dv_reason_name (DV_REASON_COUNT) == NULL);
    CHECK_INT (dv_reason_from_name (NULL), -1);
    CHECK_INT (dv_reason_from_name (""), -1);
    CHECK_INT (dv_reason_from_name ("ACCEPTED"), -1);
    CHECK_INT (dv_reason_from_name ("accepted "), -1);
    CHECK_INT (dv_reason_from_name ("full"), -1);

    static const struct { dv_decision_t decision; const char *name; } decisions [] = {
        { DV_DECISION_ACCEPT, "accept" },
        { DV_DECISION_WAITLIST, "waitlist" },
        { DV_DECISION_DECLINE, "decline" },
        { DV_DECISION_WITHDRAWN, "withdrawn" },
        { DV_DECISION_LAPSED, "lapsed" },
    };
    for (size_t i = 0; i < sizeof (decisions) / sizeof (decisions [0]); i++)
        CHECK_STR (dv_decision_name (decisions [i].decision), decisions [i].name);
    CHECK (dv_decision_name ((dv_decision_t) 5) == NULL);
    CHECK (dv_decision_name ((dv_decision_t) -1) == NULL);
}

int
main (void)
{
    TESTLIB_BEGIN ("test_policy");
    RUN (test_defaults);
    RUN (test_tier);
    RUN (test_score);
    RUN (test_aging);
    RUN (test_score_clamp);
    RUN (test_capacity_snapshot);
    RUN (test_capacity_rule);
    RUN (test_capacity_rule_snapshot);
    RUN (test_assign);
    RUN (test_eligibility);
    RUN (test_staffing_gap);
    RUN (test_wait_band);
    RUN (test_names);
    return TESTLIB_END ();
}
