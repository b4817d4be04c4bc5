/*  reply — what divertd's reply means for divert-cms: the exit status, the
    one-line error on stderr, and the JSON lines on stdout.

    An `error` reply whose code says divertd refused the request (invalid,
    unsupported_version, forbidden, not_found, conflict) is CMS_REFUSED:
    sending it again would not help. No reply, `unavailable` after every
    attempt, `internal` or a reply of another type is CMS_FAILED. Error
    replies carry ids and codes only (divertd puts no personal data in
    them), and so does every line printed here.
*/
#include "cms.h"

#include <stdlib.h>
#include <string.h>

static const char *s_refusals [] = {
    "invalid", "unsupported_version", "forbidden", "not_found", "conflict", NULL
};

const char *
cms_str (json_t *object, const char *key)
{
    const char *value = json_string_value (json_object_get (object, key));
    return value ? value : "";
}

long long
cms_int (json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    return json_is_integer (value) ? (long long) json_integer_value (value) : -1;
}

static bool
s_refusal (const char *code)
{
    for (int i = 0; s_refusals [i]; i++)
        if (strcmp (code, s_refusals [i]) == 0)
            return true;
    return false;
}

//  " (at: not RFC 3339; reason: unknown)" from an error's "errors" list.

static void
s_print_problems (json_t *errors)
{
    size_t index;
    json_t *entry;
    json_array_foreach (errors, index, entry) {
        fputs (index ? "; " : " (", stderr);
        cms_put (stderr, cms_str (entry, "field"));
        fputs (": ", stderr);
        cms_put (stderr, cms_str (entry, "problem"));
    }
    if (json_array_size (errors))
        fputs (")", stderr);
}

int
cms_reply_status (const char *what, json_t *reply, const char *expected)
{
    if (!reply) {
        fprintf (stderr, "divert-cms: %s: %s\n", what,
                 dv_interrupted () ? "interrupted" : dv_client_last_error ());
        return CMS_FAILED;
    }
    const char *type = cms_str (reply, "type");
    if (strcmp (type, expected) == 0)
        return CMS_DONE;
    if (strcmp (type, "error") != 0) {
        fprintf (stderr, "divert-cms: %s: unexpected reply (type \"", what);
        cms_put (stderr, type);
        fputs ("\")\n", stderr);
        return CMS_FAILED;
    }
    const char *code = cms_str (reply, "code");
    fprintf (stderr, "divert-cms: %s: ", what);
    cms_put (stderr, *code ? code : "error");
    fputs (": ", stderr);
    cms_put (stderr, cms_str (reply, "message"));
    s_print_problems (json_object_get (reply, "errors"));
    fputc ('\n', stderr);
    return s_refusal (code) ? CMS_REFUSED : CMS_FAILED;
}

void
cms_print_json (json_t *value)
{
    char *text = json_dumps (value, JSON_COMPACT);
    puts (text ? text : "null");
    fflush (stdout);
    free (text);
}

void
cms_print_next_seq (cms_t *self, long long next_seq)
{
    if (self->options->json) {
        json_t *line = json_pack ("{s:I}", "next_seq", (json_int_t) next_seq);
        cms_print_json (line);
        json_decref (line);
    }
    else
        fprintf (stderr, "next_seq %lld\n", next_seq);
}
