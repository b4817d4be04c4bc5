/*  event — an enrollment event for people.

    One line per event:

        seq 8  LEAD  spd 7d3f6c1e-...  intake_completed -> active  cm-7  2026-11-30T17:02:11.000Z
        seq 9  LEAD  spd 0b7a4c55-...  exited (graduated) -> exited  cm-7  2026-12-01T09:00:00.000Z
        seq 10  LEAD  spd 9a512f0e-...  transferred -> active  cm-9 (from cm-7)  2026-12-01T10:00:00.000Z

    and, under an `assigned` event that carries its referral (the
    `enrollments` reply delivers it; events on the decisions socket never
    do), what the case manager needs to find the person, one field a line:
    person, born, area, housing, needs, pathway, offense, intake due,
    contact (sorted by key), notes (only the fields the source sent). Printing it is this
    tool's job: it is the bridge into the case-management system.

    Everything from the wire goes through cms_put(): control characters and
    backslashes are escaped, so a note cannot clear the screen or forge lines.
*/
#include "cms.h"

#include <stdlib.h>
#include <string.h>

void
cms_put (FILE *file, const char *text)
{
    for (const unsigned char *c = (const unsigned char *) text; c && *c; c++) {
        if (*c == '\\')
            fputs ("\\\\", file);
        else
        if (*c == '\n')
            fputs ("\\n", file);
        else
        if (*c == '\t')
            fputs ("\\t", file);
        else
        if (*c < 0x20 || *c == 0x7f)
            fprintf (file, "\\x%02x", *c);
        else
            fputc (*c, file);
    }
}

//  Any JSON value for people: strings as they are (escaped), others as JSON.

static void
s_put_value (json_t *value)
{
    if (json_is_string (value))
        cms_put (stdout, json_string_value (value));
    else {
        char *text = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
        cms_put (stdout, text ? text : "?");
        free (text);
    }
}

//  "    label       " then the caller prints the value and the newline.

static void
s_label (const char *label)
{
    printf ("    %-12s", label);
}

//  One "label value" line when the object has a non-empty string `key`.

static void
s_field (const char *label, json_t *object, const char *key)
{
    const char *value = cms_str (object, key);
    if (*value) {
        s_label (label);
        cms_put (stdout, value);
        putchar ('\n');
    }
}

//  "person      Jo Doe  (source id SPD-88213)" and "born        1981-04-02".

static void
s_person (json_t *person)
{
    const char *first = cms_str (person, "first_name");
    const char *last = cms_str (person, "last_name");
    const char *source_id = cms_str (person, "source_person_id");
    if (*first || *last || *source_id) {
        s_label ("person");
        cms_put (stdout, first);
        if (*first && *last)
            putchar (' ');
        cms_put (stdout, last);
        if (*source_id) {
            fputs (*first || *last ? "  (source id " : "source id ", stdout);
            cms_put (stdout, source_id);
            fputs (*first || *last ? ")" : "", stdout);
        }
        putchar ('\n');
    }
    s_field ("born", person, "dob");
}

//  "needs       substance_use, mental_health" (or "none").

static void
s_needs (json_t *needs)
{
    if (!json_is_array (needs))
        return;
    s_label ("needs");
    size_t index;
    json_t *need;
    json_array_foreach (needs, index, need) {
        fputs (index ? ", " : "", stdout);
        s_put_value (need);
    }
    puts (json_array_size (needs) ? "" : "none");
}

//  "offense     VUCSA-POSS (possession)"

static void
s_offense (json_t *offense)
{
    if (!json_is_object (offense))
        return;
    s_label ("offense");
    cms_put (stdout, cms_str (offense, "code"));
    if (*cms_str (offense, "description")) {
        fputs (" (", stdout);
        cms_put (stdout, cms_str (offense, "description"));
        putchar (')');
    }
    putchar ('\n');
}

static int
s_compare (const void *a, const void *b)
{
    return strcmp (*(const char **) a, *(const char **) b);
}

//  "contact     callback +1-206-555-0100, officer_id 4411" (keys sorted: the
//  order they come in is the database's, not the source's)

static void
s_contact (json_t *contact)
{
    size_t size = json_is_object (contact) ? json_object_size (contact) : 0;
    const char **keys = size ? calloc (size, sizeof (char *)) : NULL;
    if (!keys)
        return;
    size_t count = 0;
    const char *key;
    json_t *value;
    json_object_foreach (contact, key, value)
        if (count < size)
            keys [count++] = key;
    qsort (keys, count, sizeof (char *), s_compare);
    s_label ("contact");
    for (size_t i = 0; i < count; i++) {
        fputs (i ? ", " : "", stdout);
        cms_put (stdout, keys [i]);
        putchar (' ');
        s_put_value (json_object_get (contact, keys [i]));
    }
    putchar ('\n');
    free (keys);
}

//  What an `assigned` event delivers, under its line.

static void
s_referral (json_t *event, json_t *referral)
{
    s_person (json_object_get (referral, "person"));
    s_field ("area", referral, "area");
    s_field ("housing", referral, "housing");
    s_needs (json_object_get (referral, "behavioral_health"));
    if (*cms_str (referral, "pathway")) {
        s_label ("pathway");
        cms_put (stdout, cms_str (referral, "pathway"));
        if (*cms_str (referral, "submitted_at")) {
            fputs (", submitted ", stdout);
            cms_put (stdout, cms_str (referral, "submitted_at"));
        }
        putchar ('\n');
    }
    s_offense (json_object_get (referral, "offense"));
    s_field ("intake due", event, "intake_due");
    s_contact (json_object_get (referral, "contact"));
    s_field ("notes", referral, "notes");
}

void
cms_event_print (json_t *event, bool replayed)
{
    printf ("seq %lld  ", cms_int (event, "seq"));
    cms_put (stdout, cms_str (event, "program"));
    fputs ("  ", stdout);
    cms_put (stdout, cms_str (event, "source_id"));
    putchar (' ');
    cms_put (stdout, cms_str (event, "referral_id"));
    fputs ("  ", stdout);
    cms_put (stdout, cms_str (event, "change"));
    if (*cms_str (event, "reason")) {
        fputs (" (", stdout);
        cms_put (stdout, cms_str (event, "reason"));
        putchar (')');
    }
    fputs (" -> ", stdout);
    cms_put (stdout, cms_str (event, "status"));
    fputs ("  ", stdout);
    cms_put (stdout, cms_str (event, "case_manager"));
    if (*cms_str (event, "from_case_manager")) {
        fputs (" (from ", stdout);
        cms_put (stdout, cms_str (event, "from_case_manager"));
        putchar (')');
    }
    fputs ("  ", stdout);
    cms_put (stdout, cms_str (event, "at"));
    puts (replayed ? "  (replayed)" : "");
    json_t *referral = json_object_get (event, "referral");
    if (json_is_object (referral))
        s_referral (event, referral);
    fflush (stdout);
}
