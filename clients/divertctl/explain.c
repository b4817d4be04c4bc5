/*  explain — `divertctl explain REFERRAL_ID [--source S] [--json]`: every
    decision event of one referral, in order, in words a program manager
    understands: what was decided and why, the tier and the score with its
    components, the capacity the decision saw, and the policy version.
    Reads decision_event and referral metadata only: never the payload, so
    never a name, date of birth, note or contact.
*/
#include "divertctl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *s_explain_sql =
    "SELECT json_build_object('referral_id', r.referral_id, 'source_id', r.source_id, 'kind', s.kind,"
    " 'pathway', r.pathway, 'tier', r.tier, 'program', r.program, 'state', r.state,"
    " 'received_at', s_rfc3339(r.received_at),"
    " 'enrollment', (SELECT json_build_object('status', e.status, 'case_manager', e.case_manager_id,"
    "     'enrolled_at', s_rfc3339(e.enrolled_at), 'exited_at', s_rfc3339(e.exited_at),"
    "     'exit_reason', e.exit_reason) FROM enrollment e WHERE e.referral_id = r.id),"
    " 'waitlist', (SELECT json_build_object('program', w.program, 'state', w.state,"
    "     'expires_at', s_rfc3339(waitlist_expires_at(w))) FROM waitlist_entry w WHERE w.id = r.waitlist_entry_id),"
    " 'events', COALESCE((SELECT json_agg(json_build_object('seq', e.seq, 'at', s_rfc3339(e.at),"
    "     'local_time', to_char(e.at, 'YYYY-MM-DD HH24:MI:SS'), 'decision', e.decision, 'reason', e.reason,"
    "     'program', e.program, 'case_manager', e.case_manager_id, 'tier', e.tier, 'score', e.score,"
    "     'components', e.components, 'capacity', e.capacity, 'from_waitlist', e.from_waitlist,"
    "     'policy_version', e.policy_version, 'decided_by', e.decided_by, 'program_hard_cap', p.hard_cap)"
    "     ORDER BY e.id) FROM decision_event e LEFT JOIN program p ON p.name = e.program"
    "     WHERE e.referral_id = r.id), '[]'),"
    " 'enrollment_history', COALESCE((SELECT json_agg(json_build_object('seq', h.seq, 'change', h.change,"
    "     'status', h.status, 'case_manager', h.case_manager_id, 'from_case_manager', h.from_case_manager_id,"
    "     'reason', h.reason, 'at', s_rfc3339(h.at), 'local_time', to_char(h.at, 'YYYY-MM-DD HH24:MI:SS'),"
    "     'actor', h.actor) ORDER BY h.id) FROM enrollment_event h WHERE h.referral_id = r.id), '[]'))"
    " FROM referral r JOIN source s ON s.id = r.source_id WHERE r.id = $1::bigint";

//  Reason codes in words (policy.md §7).
static const char *s_reasons [][2] = {
    { "accepted", "accepted" },
    { "accepted_from_waitlist", "a slot opened for the waitlist" },
    { "at_capacity", "no slot free for this tier" },
    { "waitlist_full", "the waitlist is full" },
    { "reserved_for_priority", "the free slots are held for arrest diversion and police or community referrals" },
    { "outside_service_area", "the area is outside the program's service area" },
    { "no_behavioral_health_need", "no substance use or mental health need was reported" },
    { "not_unsheltered", "the housing situation is outside the program's scope" },
    { "excluded_offense", "the offense is on the site's exclusion list" },
    { "already_enrolled", "the person is already enrolled in a program" },
    { "linked_to_pending", "the person is already on the waitlist" },
    { "waitlist_expired", "the referral waited longer than the waitlist time-to-live" },
    { "withdrawn", "the source withdrew it" },
    { "intake_lapsed", "intake was not completed within the intake window" },
    { "no_consent", "the referral does not record the person's consent" },
};

typedef struct {
    char text [2048];
    size_t used;
} s_text_t;

static void
s_add (s_text_t *t, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_add (s_text_t *t, const char *format, ...)
{
    if (t->used >= sizeof t->text - 1)
        return;
    va_list args;
    va_start (args, format);
    int wrote = vsnprintf (t->text + t->used, sizeof t->text - t->used, format, args);
    va_end (args);
    if (wrote > 0)
        t->used += (size_t) wrote < sizeof t->text - t->used ? (size_t) wrote : sizeof t->text - t->used - 1;
}

static const char *
s_reason_words (const char *code)
{
    for (size_t i = 0; i < sizeof s_reasons / sizeof s_reasons [0]; i++)
        if (code && strcmp (code, s_reasons [i][0]) == 0)
            return s_reasons [i][1];
    return code ? code : "no reason recorded";
}

static const char *
s_or (const char *text, const char *fallback)
{
    return text ? text : fallback;
}

//  "Accepted into LEAD, assigned cm-2." / "Declined by LEAD: ... (code)."
static void
s_add_decision (s_text_t *t, json_t *e)
{
    const char *decision = s_or (ctl_str (e, "decision"), ""), *reason = ctl_str (e, "reason");
    const char *program = ctl_str (e, "program");
    if (strcmp (decision, "accept") == 0)
        s_add (t, "Accepted into %s%s, assigned %s.", s_or (program, "?"),
               json_is_true (json_object_get (e, "from_waitlist")) ? " from the waitlist" : "",
               s_or (ctl_str (e, "case_manager"), "no case manager"));
    else
    if (strcmp (decision, "waitlist") == 0)
        s_add (t, "Waitlisted for %s: %s (%s).", s_or (program, "?"), s_reason_words (reason), s_or (reason, "-"));
    else
    if (strcmp (decision, "decline") == 0)
        s_add (t, "Declined%s%s: %s (%s).", program ? " by " : "", s_or (program, ""),
               s_reason_words (reason), s_or (reason, "-"));
    else
    if (strcmp (decision, "withdrawn") == 0)
        s_add (t, "Withdrawn: the source withdrew the referral.");
    else
    if (strcmp (decision, "lapsed") == 0)
        s_add (t, "Lapsed: %s; the slot was freed (%s).", s_reason_words (reason), s_or (reason, "-"));
    else
        s_add (t, "%s (%s).", decision, s_or (reason, "-"));
}

//  " Tier 1 (arrest diversion): score 76 = pathway 60 + acuity 10 + repeated contact 6."
static void
s_add_score (s_text_t *t, json_t *e, const char *pathway)
{
    if (json_is_integer (json_object_get (e, "tier"))) {
        char words [64];
        snprintf (words, sizeof words, "%s", s_or (pathway, ""));
        for (char *c = words; *c; c++)
            if (*c == '_')
                *c = ' ';
        s_add (t, " Tier %d%s%s%s", ctl_int (e, "tier"), *words ? " (" : "", words, *words ? ")" : "");
    }
    if (!json_is_integer (json_object_get (e, "score"))) {
        if (json_is_integer (json_object_get (e, "tier")))
            s_add (t, ".");
        return;
    }
    s_add (t, "%sscore %d", json_is_integer (json_object_get (e, "tier")) ? ": " : " Score ",
           ctl_int (e, "score"));
    json_t *c = json_object_get (e, "components");
    if (json_is_object (c)) {
        s_add (t, " = pathway %d", ctl_int (c, "pathway"));
        if (ctl_int (c, "acuity"))
            s_add (t, " + acuity %d", ctl_int (c, "acuity"));
        if (ctl_int (c, "contacts"))
            s_add (t, " + repeated contact %d", ctl_int (c, "contacts"));
        if (ctl_int (c, "aging"))
            s_add (t, " + time waited %d", ctl_int (c, "aging"));
    }
    s_add (t, ".");
}

//  " LEAD had 4 case managers holding 61 people (most 19/25); 19 paced slots free (...); waitlist 0."
static void
s_add_capacity (s_text_t *t, json_t *e)
{
    json_t *c = json_object_get (e, "capacity");
    if (!json_is_object (c))
        return;
    const char *program = s_or (ctl_str (e, "program"), "The program");
    int n = ctl_int (c, "n"), free = ctl_int (c, "free");
    int cap = ctl_int_or (c, "hard_cap", ctl_int (e, "program_hard_cap"));
    if (n == 0)
        s_add (t, " %s had no active case managers", program);
    else
        s_add (t, " %s had %d case manager%s holding %d %s (most %d/%d)", program, n, n == 1 ? "" : "s",
               ctl_int (c, "total"), ctl_int (c, "total") == 1 ? "person" : "people", ctl_int (c, "max_load"), cap);
    if (free > 0)
        s_add (t, "; %d paced slot%s free", free, free == 1 ? "" : "s");
    else
    if (free < 0)
        s_add (t, "; no paced slots free (%d over the pacing line)", -free);
    else
        s_add (t, "; no paced slots free");
    if (json_object_get (c, "reserve_tier1"))
        s_add (t, " (reserve %d for arrest diversion, %d more ahead of pretrial)",
               ctl_int (c, "reserve_tier1"), ctl_int (c, "reserve_tier2"));
    s_add (t, "; waitlist %d.", ctl_int (c, "waitlist"));
}

static void
s_summary (json_t *e, const char *pathway, s_text_t *t)
{
    t->used = 0;
    t->text [0] = 0;
    s_add_decision (t, e);
    s_add_score (t, e, pathway);
    s_add_capacity (t, e);
    if (json_is_integer (json_object_get (e, "policy_version")))
        s_add (t, " Policy version %d.", ctl_int (e, "policy_version"));
}

static void
s_print_header (json_t *r)
{
    printf ("Referral %s from %s (%s), %s, received %s: now %s", ctl_str (r, "referral_id"),
            ctl_str (r, "source_id"), ctl_str (r, "kind"), ctl_str (r, "pathway"),
            ctl_str (r, "received_at"), ctl_str (r, "state"));
    json_t *e = json_object_get (r, "enrollment"), *w = json_object_get (r, "waitlist");
    if (json_is_object (e))
        printf ("; enrollment with %s is %s%s%s", ctl_str (e, "case_manager"), ctl_str (e, "status"),
                ctl_str (e, "exit_reason") ? " (" : "", ctl_str (e, "exit_reason") ? ctl_str (e, "exit_reason") : "");
    if (json_is_object (e) && ctl_str (e, "exit_reason"))
        printf (")");
    if (json_is_object (w))
        printf ("; waitlist entry in %s is %s (expires %s)", ctl_str (w, "program"), ctl_str (w, "state"),
                ctl_str (w, "expires_at"));
    printf ("\n");
}

//  The enrollment's changes after its decisions: what, when, by whom.
static void
s_print_history (json_t *history)
{
    if (json_array_size (history) == 0)
        return;
    printf ("\nEnrollment history (feed seq, when, change, by whom):\n");
    size_t index;
    json_t *h;
    json_array_foreach (history, index, h) {
        const char *change = ctl_str (h, "change");
        printf ("  seq %d, %s: ", ctl_int (h, "seq"), ctl_str (h, "local_time"));
        if (strcmp (change, "assigned") == 0)
            printf ("assigned to %s (pending intake)", ctl_str (h, "case_manager"));
        else
        if (strcmp (change, "transferred") == 0)
            printf ("transferred from %s to %s", s_or (ctl_str (h, "from_case_manager"), "?"),
                    ctl_str (h, "case_manager"));
        else
        if (strcmp (change, "exited") == 0)
            printf ("exited (%s)", s_or (ctl_str (h, "reason"), "?"));
        else
            printf ("%s (now %s)", change, ctl_str (h, "status"));
        printf (", by %s\n", ctl_str (h, "actor"));
    }
}

static int
s_report (json_t *r, bool json)
{
    json_t *events = json_object_get (r, "events");
    s_text_t text;
    size_t index;
    json_t *e;
    if (!json)
        s_print_header (r);
    json_array_foreach (events, index, e) {
        s_summary (e, ctl_str (r, "pathway"), &text);
        if (json) {
            json_object_del (e, "local_time");
            json_object_del (e, "program_hard_cap");
            json_object_set_new (e, "summary", json_string (text.text));
        }
        else
            printf ("\n%zu. seq %d, %s: %s / %s%s%s\n   %s\n", index + 1, ctl_int (e, "seq"),
                    ctl_str (e, "local_time"), ctl_str (e, "decision"), ctl_str (e, "reason"),
                    ctl_str (e, "decided_by") ? ", decided by " : "", s_or (ctl_str (e, "decided_by"), ""),
                    text.text);
    }
    json_t *history = json_object_get (r, "enrollment_history");
    if (json) {
        json_array_foreach (history, index, e)
            json_object_del (e, "local_time");
        return ctl_print_json (json_incref (r));
    }
    if (json_array_size (events) == 0)
        printf ("(no decision events recorded)\n");
    s_print_history (history);
    return CTL_OK;
}

int
ctl_explain (ctl_t *ctl, int argc, char **argv)
{
    ctl_opt_t opts [] = { { "--source", true, NULL }, { "--json", false, NULL }, { NULL, false, NULL } };
    const char *pos [1];
    int npos;
    if (ctl_parse ("explain", argc, argv, 1, opts, pos, 1, &npos))
        return CTL_USAGE;
    if (npos != 1)
        return ctl_usage ("explain: use explain REFERRAL_ID [--source S] [--json]");
    dv_db_t *db = ctl_db (ctl);
    if (!db)
        return CTL_FAIL;
    int64_t rid = ctl_find_referral (db, pos [0], ctl_opt (opts, "--source"), NULL, 0);
    if (rid <= 0)
        return CTL_FAIL;
    char id [32];
    snprintf (id, sizeof id, "%lld", (long long) rid);
    const char *params [] = { id };
    json_t *referral = ctl_json (db, s_explain_sql, 1, params);
    if (!referral)
        return CTL_FAIL;
    int rc = s_report (referral, opts [1].value != NULL);
    json_decref (referral);
    return rc;
}
