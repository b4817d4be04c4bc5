/*  caseload — `divert-cms caseload PROGRAM`: the program's whole open
    caseload (no personal data) at a feed position, for reconciliation: a
    copy made from it stays current by applying the feed from that seq on
    (`assignments --since SEQ`).

        LEAD at seq 42: 2 case managers, 3 open enrollments
        cm-7  A. Rivera  active    2 open
            spd 7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f  pending_intake  since 2026-11-22T18:04:05.113Z
            spd 0b7a4c55-9a51-4f0e-8b1c-4d227d3f6c1e  active          since 2026-11-20T08:00:00.000Z
        cm-9  B. Chen    inactive  1 open
            ...

    --json prints the reply as it came.
*/
#include "cms.h"

#include <string.h>

//  The widest value of `key` among the case managers (for the columns).

static int
s_width (json_t *managers, const char *key)
{
    int width = 0;
    size_t index;
    json_t *manager;
    json_array_foreach (managers, index, manager) {
        int length = (int) strlen (cms_str (manager, key));
        if (length > width)
            width = length;
    }
    return width;
}

//  Pad to `width` after printing `text` escaped.

static void
s_cell (const char *text, int width)
{
    cms_put (stdout, text);
    int pad = width - (int) strlen (text);
    printf ("%*s", (pad > 0 ? pad : 0) + 2, "");
}

static void
s_print (json_t *reply)
{
    json_t *managers = json_object_get (reply, "case_managers");
    size_t open = 0, index;
    json_t *manager;
    json_array_foreach (managers, index, manager)
        open += json_array_size (json_object_get (manager, "enrollments"));
    cms_put (stdout, cms_str (reply, "program"));
    printf (" at seq %lld: %zu case manager%s, %zu open enrollment%s\n", cms_int (reply, "seq"),
            json_array_size (managers), json_array_size (managers) == 1 ? "" : "s",
            open, open == 1 ? "" : "s");

    int id_width = s_width (managers, "id");
    int name_width = s_width (managers, "name");
    json_array_foreach (managers, index, manager) {
        json_t *enrollments = json_object_get (manager, "enrollments");
        s_cell (cms_str (manager, "id"), id_width);
        s_cell (cms_str (manager, "name"), name_width);
        printf ("%-8s  %zu open\n", json_is_true (json_object_get (manager, "active"))
                ? "active" : "inactive", json_array_size (enrollments));
        size_t row;
        json_t *enrollment;
        json_array_foreach (enrollments, row, enrollment) {
            fputs ("    ", stdout);
            cms_put (stdout, cms_str (enrollment, "source_id"));
            putchar (' ');
            cms_put (stdout, cms_str (enrollment, "referral_id"));
            fputs ("  ", stdout);
            s_cell (cms_str (enrollment, "status"), 14);
            fputs ("since ", stdout);
            cms_put (stdout, cms_str (enrollment, "since"));
            putchar ('\n');
        }
    }
    fflush (stdout);
}

int
cms_caseload (cms_t *self)
{
    dv_client_t *client = cms_client (self);
    if (!client)
        return CMS_FAILED;
    json_t *reply = dv_client_caseload (client, self->options->operand [0]);
    int status = cms_reply_status ("caseload", reply, "caseload");
    if (reply && self->options->json)
        cms_print_json (reply);
    else
    if (status == CMS_DONE)
        s_print (reply);
    json_decref (reply);
    return status;
}
