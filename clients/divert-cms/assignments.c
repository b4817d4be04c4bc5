/*  assignments — `divert-cms assignments --program P [--since SEQ] [--limit N]`:
    the program's enrollment feed after SEQ (default 0), asked for with
    `enrollments` page by page (N events a page) while divertd says there is
    more, each event printed as it comes (event.c; --json: one JSON line).
    An `assigned` event carries the referral the case manager needs.

    At the end, also after a failure, the seq to resume from (the last event
    printed, or SEQ) is printed with cms_print_next_seq(): the next run gives
    it as --since and misses nothing, repeats nothing.
*/
#include "cms.h"

//  Print one page's events; returns the seq of the last one (or since).

static long long
s_print_page (cms_t *self, json_t *events, long long since)
{
    long long high = since;
    size_t index;
    json_t *event;
    json_array_foreach (events, index, event) {
        if (self->options->json)
            cms_print_json (event);
        else
            cms_event_print (event, false);
        if (cms_int (event, "seq") > high)
            high = cms_int (event, "seq");
    }
    return high;
}

int
cms_assignments (cms_t *self)
{
    cms_options_t *options = self->options;
    dv_client_t *client = cms_client (self);
    if (!client)
        return CMS_FAILED;
    long long since = options->since >= 0 ? options->since : 0;
    int status = CMS_DONE;
    bool more = true;
    while (more && status == CMS_DONE) {
        if (dv_interrupted ()) {
            fputs ("divert-cms: assignments: interrupted\n", stderr);
            status = CMS_FAILED;
            break;
        }
        json_t *reply = dv_client_enrollments (client, options->program, since,
                                               options->limit);
        status = cms_reply_status ("assignments", reply, "enrollments");
        if (status == CMS_DONE) {
            long long high = s_print_page (self, json_object_get (reply, "events"), since);
            long long next = cms_int (reply, "next_seq");
            more = json_is_true (json_object_get (reply, "more"));
            if (next < high)
                next = high;        //  what was printed is what counts
            if (more && next <= since) {
                fprintf (stderr, "divert-cms: assignments: divertd says there is more after "
                         "seq %lld but sent none\n", since);
                status = CMS_FAILED;
            }
            since = next;
        }
        json_decref (reply);
    }
    cms_print_next_seq (self, since);
    return status;
}
