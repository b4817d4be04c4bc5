/*  words — decisions and enrollment changes in words for the people who
    read divert-web's pages: "Accepted: A. Rivera will contact you.",
    "Waitlisted, position 3, about 1-3 months.", "Declined: outside the
    service area." The pages show these strings as text, never as markup.
*/
#include "web.h"

#include <czmq.h>
#include <string.h>

static const char *s_reasons [][2] = {
    { "accepted", "accepted" },
    { "accepted_from_waitlist", "a place opened for the waitlist" },
    { "at_capacity", "the program is full for now" },
    { "waitlist_full", "the waitlist is full" },
    { "reserved_for_priority", "the free places are held for police and community referrals" },
    { "outside_service_area", "outside the service area" },
    { "no_behavioral_health_need", "no substance use or mental health need was given" },
    { "not_unsheltered", "the housing situation is outside the program's scope" },
    { "excluded_offense", "the offense is one the program cannot take" },
    { "already_enrolled", "the person is already enrolled in a program" },
    { "linked_to_pending", "the person is already on the waitlist" },
    { "waitlist_expired", "the referral waited longer than the waitlist allows" },
    { "withdrawn", "withdrawn by the referrer" },
    { "intake_lapsed", "intake was not completed in time" },
    { "no_consent", "the person's consent to the referral is required" },
};

static const char *s_bands [][2] = {
    { "under_1_month", "under a month" },
    { "1_to_3_months", "about 1-3 months" },
    { "over_3_months", "more than 3 months" },
    { "undetermined", "no estimate yet" },
};

const char *
web_words_reason (const char *reason)
{
    for (size_t i = 0; reason && i < sizeof s_reasons / sizeof s_reasons [0]; i++)
        if (streq (reason, s_reasons [i][0]))
            return s_reasons [i][1];
    return "no reason recorded";
}

const char *
web_words_exit (const char *reason)
{
    static const char *exits [][2] = {
        { "graduated", "graduated" }, { "moved", "moved away" },
        { "declined_services", "declined services" }, { "incarcerated", "incarcerated" },
        { "deceased", "deceased" }, { "other", "other reason" },
        { "intake_lapsed", "intake not completed in time" }, { "term_ended", "term ended" },
        { "withdrawn", "withdrawn by the referrer" },
    };
    for (size_t i = 0; reason && i < sizeof exits / sizeof exits [0]; i++)
        if (streq (reason, exits [i][0]))
            return exits [i][1];
    return "no reason recorded";
}

const char *
web_words_band (const char *band)
{
    for (size_t i = 0; band && i < sizeof s_bands / sizeof s_bands [0]; i++)
        if (streq (band, s_bands [i][0]))
            return s_bands [i][1];
    return "no estimate yet";
}

static const char *
s_str (json_t *object, const char *key)
{
    const char *value = json_string_value (json_object_get (object, key));
    return value ? value : "";
}

char *
web_words_decision (json_t *decision, int position, const char *band)
{
    const char *what = s_str (decision, "decision");
    const char *reason = s_str (decision, "reason");
    const char *program = s_str (decision, "program");
    if (streq (what, "accept")) {
        const char *name = s_str (json_object_get (decision, "case_manager"), "name");
        const char *how = streq (reason, "accepted_from_waitlist") || json_is_true (json_object_get (decision, "from_waitlist"))
                        ? "Accepted from the waitlist" : "Accepted";
        if (*name)
            return zsys_sprintf ("%s: %s will contact you.", how, name);
        return zsys_sprintf ("%s into %s.", how, *program ? program : "the program");
    }
    if (streq (what, "waitlist")) {
        json_t *waitlist = json_object_get (decision, "waitlist");
        if (position < 0)
            position = (int) json_integer_value (json_object_get (waitlist, "position"));
        if (!band)
            band = s_str (waitlist, "estimate");
        if (streq (reason, "linked_to_pending"))
            return position > 0
                ? zsys_sprintf ("Waitlisted: the person is already on the waitlist, position %d, %s.", position, web_words_band (band))
                : zsys_sprintf ("Waitlisted: the person is already on the waitlist.");
        if (position > 0)
            return zsys_sprintf ("Waitlisted, position %d, %s.", position, web_words_band (band));
        return zsys_sprintf ("Waitlisted.");
    }
    if (streq (what, "decline")) {
        if (streq (reason, "already_enrolled") && *program)
            return zsys_sprintf ("Declined: the person is already enrolled in %s.", program);
        return zsys_sprintf ("Declined: %s.", web_words_reason (reason));
    }
    if (streq (what, "withdrawn"))
        return zsys_sprintf ("Withdrawn.");
    if (streq (what, "lapsed"))
        return zsys_sprintf ("Lapsed: intake was not completed in time.");
    return zsys_sprintf ("No decision yet.");
}

char *
web_words_enrollment (const char *status, const char *reason)
{
    if (!status)
        return zsys_sprintf ("No enrollment.");
    if (streq (status, "pending_intake"))
        return zsys_sprintf ("Intake pending.");
    if (streq (status, "active"))
        return zsys_sprintf ("Active: engaged with their case manager.");
    if (streq (status, "in_the_wind"))
        return zsys_sprintf ("In the wind: not in contact; outreach is looking.");
    if (streq (status, "exited")) {
        const char *words = web_words_exit (reason);
        return streq (words, "no reason recorded") ? zsys_sprintf ("Discharged.")
                                                   : zsys_sprintf ("Discharged: %s.", words);
    }
    return zsys_sprintf ("Status: %s.", status);
}
