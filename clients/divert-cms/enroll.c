/*  enroll — the two commands that change an enrollment and get the same
    reply shape back:

    `divert-cms enroll SOURCE_ID REFERRAL_ID CHANGE [--reason R] [--at TIME]`
    records intake_completed, in_the_wind, re_engaged or exited (exited with
    a reason from the closed list, and only exited has one; both checked
    here before anything is sent);

    `divert-cms transfer SOURCE_ID REFERRAL_ID CASE_MANAGER` moves an open
    enrollment to another case manager.

    The reply is printed as one line, "seq 8  LEAD  spd 7d3f...  active  cm-7",
    ending with "  replayed" when divertd had already recorded this change
    (the same request sent again: nothing changed); --json prints the reply
    as it came, an error reply too.
*/
#include "cms.h"

#include <string.h>

static const char *s_changes [] = {
    "intake_completed", "in_the_wind", "re_engaged", "exited", NULL
};
static const char *s_reasons [] = {
    "graduated", "moved", "declined_services", "incarcerated", "deceased", "other", NULL
};

static bool
s_one_of (const char *value, const char **list)
{
    for (int i = 0; list [i]; i++)
        if (strcmp (value, list [i]) == 0)
            return true;
    return false;
}

//  Print the reply (or the error) and return the exit status.

static int
s_report (cms_t *self, const char *what, json_t *reply)
{
    int status = cms_reply_status (what, reply, "enrollment");
    if (reply && self->options->json)
        cms_print_json (reply);
    else
    if (status == CMS_DONE) {
        printf ("seq %lld  ", cms_int (reply, "seq"));
        cms_put (stdout, cms_str (reply, "program"));
        fputs ("  ", stdout);
        cms_put (stdout, cms_str (reply, "source_id"));
        putchar (' ');
        cms_put (stdout, cms_str (reply, "referral_id"));
        fputs ("  ", stdout);
        cms_put (stdout, cms_str (reply, "status"));
        fputs ("  ", stdout);
        cms_put (stdout, cms_str (reply, "case_manager"));
        puts (json_is_true (json_object_get (reply, "replayed")) ? "  replayed" : "");
    }
    json_decref (reply);
    return status;
}

int
cms_enroll (cms_t *self)
{
    cms_options_t *options = self->options;
    const char *change = options->operand [2];
    if (!s_one_of (change, s_changes))
        return cms_usage_error ("CHANGE is one of intake_completed, in_the_wind, re_engaged, exited");
    if (strcmp (change, "exited") == 0 && !options->reason)
        return cms_usage_error ("exited wants --reason (graduated, moved, declined_services, "
                              "incarcerated, deceased, other)");
    if (strcmp (change, "exited") != 0 && options->reason)
        return cms_usage_error ("--reason goes with exited only");
    if (options->reason && !s_one_of (options->reason, s_reasons))
        return cms_usage_error ("--reason is one of graduated, moved, declined_services, "
                              "incarcerated, deceased, other");
    dv_client_t *client = cms_client (self);
    if (!client)
        return CMS_FAILED;
    json_t *reply = dv_client_enrollment (client, options->operand [0],
                                          options->operand [1], change,
                                          options->reason, options->at);
    return s_report (self, "enroll", reply);
}

int
cms_transfer (cms_t *self)
{
    cms_options_t *options = self->options;
    dv_client_t *client = cms_client (self);
    if (!client)
        return CMS_FAILED;
    json_t *reply = dv_client_transfer (client, options->operand [0],
                                        options->operand [1], options->operand [2]);
    return s_report (self, "transfer", reply);
}
