/*  test_request — dv_request (parse + validate) and dv_reply, table-driven.

    Most rows take a valid base request of one type, change (or remove) one
    field, and state the outcome: valid, or the one {field, problem} expected.
    "Today" is pinned to 2026-11-22 so date rules are deterministic.
*/
#include "dv_request.h"
#include "dv_reply.h"
#include "testlib.h"

#include <stdbool.h>
#include <time.h>

#define streq_(a, b) (strcmp ((a), (b)) == 0)

#define TODAY_DAYS  20779       //  2026-11-22

enum { REFERRAL, STATUS, WITHDRAW, REPLAY, PING, ENROLLMENTS, ENROLLMENT, TRANSFER, CASELOAD };

static const char *s_bases [] = {
    [REFERRAL] = "{\"v\":1,\"type\":\"referral\",\"request_id\":\"r-17\","
        "\"referral_id\":\"7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f\","
        "\"pathway\":\"arrest_diversion\",\"submitted_at\":\"2026-11-22T18:04:05Z\","
        "\"person\":{\"source_person_id\":\"SPD-88213\",\"first_name\":\"Jo\","
        "\"last_name\":\"Doe\",\"dob\":\"1981-04-02\"},"
        "\"area\":\"downtown\",\"housing\":\"unsheltered\","
        "\"behavioral_health\":[\"substance_use\",\"mental_health\"],"
        "\"offense\":{\"code\":\"VUCSA-POSS\",\"description\":\"possession\"},"
        "\"prior_contacts_12m\":3,\"consent\":true,"
        "\"contact\":{\"officer_id\":\"4411\",\"callback\":\"+1-206-555-0100\"},"
        "\"notes\":\"met at 3rd & Pine\"}",
    [STATUS] = "{\"v\":1,\"type\":\"status\",\"referral_id\":\"7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f\"}",
    [WITHDRAW] = ("{\"v\":1,\"type\":\"withdraw\","
        "\"referral_id\":\"7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f\",\"reason\":\"moved\"}"),
    [REPLAY] = "{\"v\":1,\"type\":\"replay\",\"since_seq\":40,\"limit\":10,\"source_id\":\"spd\"}",
    [PING] = "{\"v\":1,\"type\":\"ping\"}",
    [ENROLLMENTS] = "{\"v\":1,\"type\":\"enrollments\",\"program\":\"LEAD\",\"since_seq\":6,\"limit\":50}",
    [ENROLLMENT] = "{\"v\":1,\"type\":\"enrollment\",\"source_id\":\"spd\","
        "\"referral_id\":\"7D3F6C1E-2B8A-4A51-9F0E-3C2D1B0A9E8F\",\"change\":\"exited\","
        "\"reason\":\"graduated\",\"at\":\"2026-11-30T17:02:11Z\"}",
    [TRANSFER] = "{\"v\":1,\"type\":\"transfer\",\"source_id\":\"spd\","
        "\"referral_id\":\"7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f\",\"case_manager\":\"cm-9\"}",
    [CASELOAD] = "{\"v\":1,\"type\":\"caseload\",\"program\":\"LEAD\"}"
};

//  A string of `unit` repeated `count` times, JSON-quoted (caller frees)
static char *
s_repeat_json (const char *unit, int count)
{
    size_t unit_len = strlen (unit);
    char *text = (char *) malloc (unit_len * count + 3);
    char *cursor = text;
    *cursor++ = '"';
    for (int index = 0; index < count; index++, cursor += unit_len)
        memcpy (cursor, unit, unit_len);
    *cursor++ = '"';
    *cursor = '\0';
    return text;
}

//  The base request of `base` with `path` ("a" or "a.b") set to value_json
//  (or removed when NULL), as JSON text (caller frees)
static char *
s_edit (int base, const char *path, const char *value_json)
{
    json_t *root = json_loads (s_bases [base], 0, NULL);
    json_t *parent = root;
    char key [64];
    snprintf (key, sizeof key, "%s", path? path: "");
    char *dot = strchr (key, '.');
    if (dot) {
        *dot = '\0';
        parent = json_object_get (root, key);
        memmove (key, dot + 1, strlen (dot + 1) + 1);
    }
    if (path && !value_json)
        json_object_del (parent, key);
    else
    if (path)
        json_object_set_new (parent, key, json_loads (value_json, JSON_DECODE_ANY, NULL));
    char *text = json_dumps (root, JSON_COMPACT);
    json_decref (root);
    return text;
}

static dv_request_t *
s_parse (const char *text)
{
    return dv_request_new (text, strlen (text));
}

//  True when the request's errors contain {field, problem ⊇ problem}
static bool
s_has_problem (dv_request_t *request, const char *field, const char *problem)
{
    size_t index;
    json_t *item;
    json_array_foreach (dv_request_errors (request), index, item) {
        const char *item_field = json_string_value (json_object_get (item, "field"));
        const char *item_problem = json_string_value (json_object_get (item, "problem"));
        if (item_field && streq_ (item_field, field)
        &&  item_problem && strstr (item_problem, problem))
            return true;
    }
    return false;
}

static char *
s_errors_text (dv_request_t *request)
{
    return json_dumps (dv_request_errors (request), JSON_COMPACT);
}


//  -------------------------------------------------------------------------
//  One-field edits

typedef struct {
    const char *label;
    int base;
    const char *path;       //  NULL: the base as is
    const char *value;      //  JSON text; NULL removes the field
    int repeat;             //  > 0: value is a string of `unit` x repeat
    const char *unit;
    const char *field;      //  NULL: must be valid
    const char *problem;    //  substring of the expected problem
} edit_row_t;

#define OK_(label, base, path, value)           { label, base, path, value, 0, NULL, NULL, NULL }
#define BAD(label, base, path, value, f, p)     { label, base, path, value, 0, NULL, f, p }
#define OK_REP(label, base, path, n, unit)      { label, base, path, NULL, n, unit, NULL, NULL }
#define BAD_REP(label, base, path, n, unit, f, p) { label, base, path, NULL, n, unit, f, p }

static const edit_row_t s_edit_rows [] = {
    //  Valid minimal forms and bases
    OK_ ("referral base", REFERRAL, NULL, NULL),
    OK_ ("status base", STATUS, NULL, NULL),
    OK_ ("withdraw base", WITHDRAW, NULL, NULL),
    OK_ ("withdraw no reason", WITHDRAW, "reason", NULL),
    OK_ ("replay base", REPLAY, NULL, NULL),
    OK_ ("replay no limit", REPLAY, "limit", NULL),
    OK_ ("replay no source_id", REPLAY, "source_id", NULL),
    OK_ ("ping base", PING, NULL, NULL),
    OK_ ("no request_id", REFERRAL, "request_id", NULL),

    //  Envelope
    BAD ("v missing", PING, "v", NULL, "v", "required"),
    BAD ("v string", PING, "v", "\"1\"", "v", "must be an integer"),
    BAD ("v real", PING, "v", "1.0", "v", "must be an integer"),
    BAD ("type missing", PING, "type", NULL, "type", "required"),
    BAD ("type number", PING, "type", "3", "type", "must be a string"),
    BAD ("type unknown", PING, "type", "\"pong\"", "type", "must be one of referral, status"),
    BAD ("request_id number", PING, "request_id", "17", "request_id", "must be a string"),
    OK_REP ("request_id 64", PING, "request_id", 64, "r"),
    BAD_REP ("request_id 65", PING, "request_id", 65, "r", "request_id", "at most 64 characters"),
    OK_REP ("request_id 64 multibyte", PING, "request_id", 64, "\xc3\xa9"),

    //  Unknown fields at each level
    BAD ("unknown top", REFERRAL, "colour", "\"red\"", "colour", "unknown field"),
    BAD ("unknown person", REFERRAL, "person.colour", "\"red\"", "person.colour", "unknown field"),
    BAD ("unknown offense", REFERRAL, "offense.colour", "1", "offense.colour", "unknown field"),
    BAD ("unknown ping", PING, "referral_id", "\"x\"", "referral_id", "unknown field"),
    BAD ("unknown status", STATUS, "reason", "\"x\"", "reason", "unknown field"),
    BAD ("unknown replay", REPLAY, "since", "1", "since", "unknown field"),
    OK_ ("contact any key", REFERRAL, "contact.radio", "\"ch 4\""),

    //  referral_id (UUID)
    BAD ("referral_id missing", REFERRAL, "referral_id", NULL, "referral_id", "required"),
    BAD ("referral_id number", REFERRAL, "referral_id", "7", "referral_id", "must be a string"),
    OK_ ("uuid upper", REFERRAL, "referral_id", "\"7D3F6C1E-2B8A-4A51-9F0E-3C2D1B0A9E8F\""),
    OK_ ("uuid mixed", REFERRAL, "referral_id", "\"7d3F6c1E-2b8a-4A51-9f0e-3c2d1b0a9e8F\""),
    BAD ("uuid no dashes", REFERRAL, "referral_id", "\"7d3f6c1e2b8a4a519f0e3c2d1b0a9e8f\"",
         "referral_id", "not a UUID"),
    BAD ("uuid braces", REFERRAL, "referral_id", "\"{7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f}\"",
         "referral_id", "not a UUID"),
    BAD ("uuid non-hex", REFERRAL, "referral_id", "\"7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8g\"",
         "referral_id", "not a UUID"),
    BAD ("uuid short", REFERRAL, "referral_id", "\"7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8\"",
         "referral_id", "not a UUID"),
    BAD ("uuid long", REFERRAL, "referral_id", "\"7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f0\"",
         "referral_id", "not a UUID"),
    BAD ("uuid dash moved", REFERRAL, "referral_id", "\"7d3f6c1-e2b8a-4a51-9f0e-3c2d1b0a9e8f\"",
         "referral_id", "not a UUID"),
    BAD ("uuid empty", REFERRAL, "referral_id", "\"\"", "referral_id", "not a UUID"),
    BAD ("status uuid bad", STATUS, "referral_id", "\"abc\"", "referral_id", "not a UUID"),
    BAD ("status uuid missing", STATUS, "referral_id", NULL, "referral_id", "required"),
    BAD ("withdraw uuid missing", WITHDRAW, "referral_id", NULL, "referral_id", "required"),

    //  pathway and offense
    BAD ("pathway missing", REFERRAL, "pathway", NULL, "pathway", "required"),
    BAD ("pathway number", REFERRAL, "pathway", "1", "pathway", "must be a string"),
    BAD ("pathway unknown", REFERRAL, "pathway", "\"arrest\"", "pathway",
         "must be one of arrest_diversion, social_contact, community, pretrial_diversion"),
    OK_ ("pathway social", REFERRAL, "pathway", "\"social_contact\""),
    OK_ ("pathway community", REFERRAL, "pathway", "\"community\""),
    OK_ ("pathway pretrial", REFERRAL, "pathway", "\"pretrial_diversion\""),
    BAD ("offense missing arrest", REFERRAL, "offense", NULL, "offense", "required"),
    BAD ("offense string", REFERRAL, "offense", "\"theft\"", "offense", "must be an object"),
    BAD ("offense code missing", REFERRAL, "offense.code", NULL, "offense.code", "required"),
    BAD ("offense code number", REFERRAL, "offense.code", "12", "offense.code", "must be a string"),
    BAD ("offense code empty", REFERRAL, "offense.code", "\"\"", "offense.code", "must not be empty"),
    OK_REP ("offense code 32", REFERRAL, "offense.code", 32, "C"),
    BAD_REP ("offense code 33", REFERRAL, "offense.code", 33, "C", "offense.code", "at most 32 characters"),
    OK_ ("offense no description", REFERRAL, "offense.description", NULL),
    OK_ ("offense description empty", REFERRAL, "offense.description", "\"\""),
    BAD ("offense description bool", REFERRAL, "offense.description", "true",
         "offense.description", "must be a string"),
    OK_REP ("offense description 200", REFERRAL, "offense.description", 200, "d"),
    BAD_REP ("offense description 201", REFERRAL, "offense.description", 201, "d",
             "offense.description", "at most 200 characters"),

    //  submitted_at
    BAD ("submitted_at missing", REFERRAL, "submitted_at", NULL, "submitted_at", "required"),
    BAD ("submitted_at number", REFERRAL, "submitted_at", "1700000000", "submitted_at", "must be a string"),
    OK_ ("rfc3339 offset +", REFERRAL, "submitted_at", "\"2026-11-22T10:04:05-08:00\""),
    OK_ ("rfc3339 offset +14", REFERRAL, "submitted_at", "\"2026-11-22T10:04:05+14:00\""),
    OK_ ("rfc3339 fraction", REFERRAL, "submitted_at", "\"2026-11-22T18:04:05.113Z\""),
    OK_ ("rfc3339 fraction 9", REFERRAL, "submitted_at", "\"2026-11-22T18:04:05.123456789+05:30\""),
    OK_ ("rfc3339 lower t z", REFERRAL, "submitted_at", "\"2026-11-22t18:04:05z\""),
    OK_ ("rfc3339 leap second", REFERRAL, "submitted_at", "\"2016-12-31T23:59:60Z\""),
    OK_ ("rfc3339 leap day", REFERRAL, "submitted_at", "\"2024-02-29T00:00:00Z\""),
    BAD ("rfc3339 no offset", REFERRAL, "submitted_at", "\"2026-11-22T18:04:05\"",
         "submitted_at", "not an RFC 3339"),
    BAD ("rfc3339 date only", REFERRAL, "submitted_at", "\"2026-11-22\"", "submitted_at", "not an RFC 3339"),
    BAD ("rfc3339 space", REFERRAL, "submitted_at", "\"2026-11-22 18:04:05Z\"", "submitted_at", "not an RFC 3339"),
    BAD ("rfc3339 month 13", REFERRAL, "submitted_at", "\"2026-13-22T18:04:05Z\"", "submitted_at", "not an RFC 3339"),
    BAD ("rfc3339 day 31 Nov", REFERRAL, "submitted_at", "\"2026-11-31T18:04:05Z\"", "submitted_at", "not an RFC 3339"),
    BAD ("rfc3339 2023-02-29", REFERRAL, "submitted_at", "\"2023-02-29T18:04:05Z\"", "submitted_at", "not an RFC 3339"),
    //  Limits of what a referral can mean and PostgreSQL can store
    OK_ ("rfc3339 year 1900", REFERRAL, "submitted_at", "\"1900-01-01T00:00:00Z\""),
    BAD ("rfc3339 year 1899", REFERRAL, "submitted_at", "\"1899-12-31T23:59:59Z\"", "submitted_at", "not an RFC 3339"),
    BAD ("rfc3339 year 0000", REFERRAL, "submitted_at", "\"0000-01-01T00:00:00Z\"", "submitted_at", "not an RFC 3339"),
    OK_ ("rfc3339 offset +14:59", REFERRAL, "submitted_at", "\"2026-11-22T10:04:05+14:59\""),
    BAD ("rfc3339 offset +15:00", REFERRAL, "submitted_at", "\"2026-11-22T10:04:05+15:00\"", "submitted_at", "not an RFC 3339"),
    BAD ("rfc3339 offset -23:59", REFERRAL, "submitted_at", "\"2026-11-22T10:04:05-23:59\"", "submitted_at", "not an RFC 3339"),
    BAD ("rfc3339 hour 24", REFERRAL, "submitted_at", "\"2026-11-22T24:00:00Z\"", "submitted_at", "not an RFC 3339"),
    BAD ("rfc3339 minute 60", REFERRAL, "submitted_at", "\"2026-11-22T18:60:00Z\"", "submitted_at", "not an RFC 3339"),
    BAD ("rfc3339 second 61", REFERRAL, "submitted_at", "\"2026-11-22T18:04:61Z\"", "submitted_at", "not an RFC 3339"),
    BAD ("rfc3339 empty fraction", REFERRAL, "submitted_at", "\"2026-11-22T18:04:05.Z\"", "submitted_at", "not an RFC 3339"),
    BAD ("rfc3339 offset no colon", REFERRAL, "submitted_at", "\"2026-11-22T18:04:05+0100\"", "submitted_at", "not an RFC 3339"),
    BAD ("rfc3339 offset hour 24", REFERRAL, "submitted_at", "\"2026-11-22T18:04:05+24:00\"", "submitted_at", "not an RFC 3339"),
    BAD ("rfc3339 offset min 60", REFERRAL, "submitted_at", "\"2026-11-22T18:04:05+01:60\"", "submitted_at", "not an RFC 3339"),
    BAD ("rfc3339 trailing", REFERRAL, "submitted_at", "\"2026-11-22T18:04:05Zx\"", "submitted_at", "not an RFC 3339"),
    BAD ("rfc3339 short year", REFERRAL, "submitted_at", "\"26-11-22T18:04:05Z\"", "submitted_at", "not an RFC 3339"),
    BAD ("rfc3339 no seconds", REFERRAL, "submitted_at", "\"2026-11-22T18:04Z\"", "submitted_at", "not an RFC 3339"),
    BAD ("rfc3339 empty", REFERRAL, "submitted_at", "\"\"", "submitted_at", "not an RFC 3339"),

    //  person
    BAD ("person missing", REFERRAL, "person", NULL, "person", "required"),
    BAD ("person array", REFERRAL, "person", "[]", "person", "must be an object"),
    BAD ("person empty", REFERRAL, "person", "{}", "person", "source_person_id, or both last_name and dob"),
    OK_ ("person spid only", REFERRAL, "person", "{\"source_person_id\":\"X1\"}"),
    OK_ ("person name+dob", REFERRAL, "person", "{\"last_name\":\"Doe\",\"dob\":\"1981-04-02\"}"),
    BAD ("person name no dob", REFERRAL, "person", "{\"last_name\":\"Doe\"}",
         "person", "source_person_id, or both last_name and dob"),
    BAD ("person dob no name", REFERRAL, "person", "{\"dob\":\"1981-04-02\",\"first_name\":\"Jo\"}",
         "person", "source_person_id, or both last_name and dob"),
    BAD ("spid empty", REFERRAL, "person.source_person_id", "\"\"", "person.source_person_id", "must not be empty"),
    BAD ("spid number", REFERRAL, "person.source_person_id", "88213", "person.source_person_id", "must be a string"),
    OK_REP ("spid 100", REFERRAL, "person.source_person_id", 100, "s"),
    BAD_REP ("spid 101", REFERRAL, "person.source_person_id", 101, "s", "person.source_person_id", "at most 100 characters"),
    OK_REP ("first_name 100", REFERRAL, "person.first_name", 100, "f"),
    BAD_REP ("first_name 101", REFERRAL, "person.first_name", 101, "f", "person.first_name", "at most 100 characters"),
    OK_REP ("first_name 100 two-byte", REFERRAL, "person.first_name", 100, "\xc3\xa9"),
    OK_REP ("first_name 100 four-byte", REFERRAL, "person.first_name", 100, "\xf0\x9f\x98\x80"),
    BAD_REP ("first_name 101 two-byte", REFERRAL, "person.first_name", 101, "\xc3\xa9",
             "person.first_name", "at most 100 characters"),
    BAD ("first_name empty", REFERRAL, "person.first_name", "\"\"", "person.first_name", "must not be empty"),
    BAD ("first_name null", REFERRAL, "person.first_name", "null", "person.first_name", "must be a string"),
    OK_REP ("last_name 100", REFERRAL, "person.last_name", 100, "l"),
    BAD_REP ("last_name 101", REFERRAL, "person.last_name", 101, "l", "person.last_name", "at most 100 characters"),
    BAD ("last_name array", REFERRAL, "person.last_name", "[\"Doe\"]", "person.last_name", "must be a string"),
    OK_ ("dob leap day", REFERRAL, "person.dob", "\"2024-02-29\""),
    OK_ ("dob today", REFERRAL, "person.dob", "\"2026-11-22\""),
    OK_ ("dob 1900-01-01", REFERRAL, "person.dob", "\"1900-01-01\""),
    OK_ ("dob 2000-02-29", REFERRAL, "person.dob", "\"2000-02-29\""),
    BAD ("dob 1899-12-31", REFERRAL, "person.dob", "\"1899-12-31\"", "person.dob", "before 1900-01-01"),
    BAD ("dob tomorrow", REFERRAL, "person.dob", "\"2026-11-23\"", "person.dob", "in the future"),
    BAD ("dob 2023-02-29", REFERRAL, "person.dob", "\"2023-02-29\"", "person.dob", "not a date (YYYY-MM-DD)"),
    BAD ("dob 1900-02-29", REFERRAL, "person.dob", "\"1900-02-29\"", "person.dob", "not a date"),
    BAD ("dob month 13", REFERRAL, "person.dob", "\"2026-13-01\"", "person.dob", "not a date"),
    BAD ("dob month 0", REFERRAL, "person.dob", "\"2020-00-01\"", "person.dob", "not a date"),
    BAD ("dob day 0", REFERRAL, "person.dob", "\"2020-01-00\"", "person.dob", "not a date"),
    BAD ("dob Apr 31", REFERRAL, "person.dob", "\"2020-04-31\"", "person.dob", "not a date"),
    BAD ("dob US order", REFERRAL, "person.dob", "\"04/02/1981\"", "person.dob", "not a date"),
    BAD ("dob no padding", REFERRAL, "person.dob", "\"1981-4-2\"", "person.dob", "not a date"),
    BAD ("dob with time", REFERRAL, "person.dob", "\"1981-04-02T00:00:00Z\"", "person.dob", "not a date"),
    BAD ("dob empty", REFERRAL, "person.dob", "\"\"", "person.dob", "not a date"),
    BAD ("dob number", REFERRAL, "person.dob", "19810402", "person.dob", "must be a string"),

    //  area, housing, behavioral_health
    BAD ("area missing", REFERRAL, "area", NULL, "area", "required"),
    BAD ("area number", REFERRAL, "area", "7", "area", "must be a string"),
    BAD ("area empty", REFERRAL, "area", "\"\"", "area", "must not be empty"),
    OK_REP ("area 64", REFERRAL, "area", 64, "a"),
    BAD_REP ("area 65", REFERRAL, "area", 65, "a", "area", "at most 64 characters"),
    BAD ("housing missing", REFERRAL, "housing", NULL, "housing", "required"),
    BAD ("housing bool", REFERRAL, "housing", "false", "housing", "must be a string"),
    BAD ("housing unknown", REFERRAL, "housing", "\"Housed\"", "housing",
         "must be one of unsheltered, hotel, sheltered, housed, unknown"),
    OK_ ("housing hotel", REFERRAL, "housing", "\"hotel\""),
    OK_ ("housing unknown value", REFERRAL, "housing", "\"unknown\""),
    BAD ("bh missing", REFERRAL, "behavioral_health", NULL, "behavioral_health", "required"),
    BAD ("bh string", REFERRAL, "behavioral_health", "\"substance_use\"", "behavioral_health", "must be an array"),
    OK_ ("bh empty", REFERRAL, "behavioral_health", "[]"),
    OK_ ("bh one", REFERRAL, "behavioral_health", "[\"mental_health\"]"),
    BAD ("bh repeat", REFERRAL, "behavioral_health", "[\"mental_health\",\"mental_health\"]",
         "behavioral_health[1]", "repeated"),
    BAD ("bh unknown", REFERRAL, "behavioral_health", "[\"substance_use\",\"gambling\"]",
         "behavioral_health[1]", "must be one of substance_use, mental_health"),
    BAD ("bh number item", REFERRAL, "behavioral_health", "[1]", "behavioral_health[0]", "must be a string"),

    //  prior_contacts_12m, consent
    OK_ ("prior 0", REFERRAL, "prior_contacts_12m", "0"),
    OK_ ("prior 1000", REFERRAL, "prior_contacts_12m", "1000"),
    OK_ ("prior absent", REFERRAL, "prior_contacts_12m", NULL),
    BAD ("prior -1", REFERRAL, "prior_contacts_12m", "-1", "prior_contacts_12m", "between 0 and 1000"),
    BAD ("prior 1001", REFERRAL, "prior_contacts_12m", "1001", "prior_contacts_12m", "between 0 and 1000"),
    BAD ("prior 3.5", REFERRAL, "prior_contacts_12m", "3.5", "prior_contacts_12m", "must be an integer"),
    BAD ("prior 3.0", REFERRAL, "prior_contacts_12m", "3.0", "prior_contacts_12m", "must be an integer"),
    BAD ("prior 1e30", REFERRAL, "prior_contacts_12m", "1e30", "prior_contacts_12m", "must be an integer"),
    BAD ("prior int64 max", REFERRAL, "prior_contacts_12m", "9223372036854775807",
         "prior_contacts_12m", "between 0 and 1000"),
    BAD ("prior string", REFERRAL, "prior_contacts_12m", "\"3\"", "prior_contacts_12m", "must be an integer"),
    OK_ ("consent false", REFERRAL, "consent", "false"),
    OK_ ("consent absent", REFERRAL, "consent", NULL),
    BAD ("consent string", REFERRAL, "consent", "\"yes\"", "consent", "must be a boolean"),
    BAD ("consent 1", REFERRAL, "consent", "1", "consent", "must be a boolean"),
    BAD ("consent null", REFERRAL, "consent", "null", "consent", "must be a boolean"),

    //  contact, notes
    OK_ ("contact absent", REFERRAL, "contact", NULL),
    OK_ ("contact empty", REFERRAL, "contact", "{}"),
    BAD ("contact array", REFERRAL, "contact", "[\"x\"]", "contact", "must be an object"),
    BAD ("contact number value", REFERRAL, "contact.callback", "2065550100", "contact.callback", "must be a string"),
    BAD ("contact object value", REFERRAL, "contact.callback", "{\"a\":\"b\"}", "contact.callback", "must be a string"),
    OK_REP ("contact 200", REFERRAL, "contact.callback", 200, "c"),
    BAD_REP ("contact 201", REFERRAL, "contact.callback", 201, "c", "contact.callback", "at most 200 characters"),
    OK_ ("notes absent", REFERRAL, "notes", NULL),
    OK_ ("notes empty", REFERRAL, "notes", "\"\""),
    BAD ("notes number", REFERRAL, "notes", "1", "notes", "must be a string"),
    OK_REP ("notes 2000", REFERRAL, "notes", 2000, "n"),
    BAD_REP ("notes 2001", REFERRAL, "notes", 2001, "n", "notes", "at most 2000 characters"),
    OK_REP ("notes 2000 three-byte", REFERRAL, "notes", 2000, "\xe2\x82\xac"),

    //  withdraw
    OK_ ("reason empty", WITHDRAW, "reason", "\"\""),
    OK_REP ("reason 500", WITHDRAW, "reason", 500, "r"),
    BAD_REP ("reason 501", WITHDRAW, "reason", 501, "r", "reason", "at most 500 characters"),
    BAD ("reason number", WITHDRAW, "reason", "5", "reason", "must be a string"),

    //  replay
    OK_ ("since_seq 0", REPLAY, "since_seq", "0"),
    OK_ ("since_seq big", REPLAY, "since_seq", "9007199254740993"),
    BAD ("since_seq missing", REPLAY, "since_seq", NULL, "since_seq", "required"),
    BAD ("since_seq -1", REPLAY, "since_seq", "-1", "since_seq", "at least 0"),
    BAD ("since_seq real", REPLAY, "since_seq", "4.0", "since_seq", "must be an integer"),
    BAD ("since_seq string", REPLAY, "since_seq", "\"40\"", "since_seq", "must be an integer"),
    OK_ ("limit 1", REPLAY, "limit", "1"),
    OK_ ("limit 1000", REPLAY, "limit", "1000"),
    BAD ("limit 0", REPLAY, "limit", "0", "limit", "between 1 and 1000"),
    BAD ("limit 1001", REPLAY, "limit", "1001", "limit", "between 1 and 1000"),
    BAD ("limit string", REPLAY, "limit", "\"10\"", "limit", "must be an integer"),
    BAD ("source_id empty", REPLAY, "source_id", "\"\"", "source_id", "must not be empty"),
    OK_REP ("source_id 32", REPLAY, "source_id", 32, "s"),
    BAD_REP ("source_id 33", REPLAY, "source_id", 33, "s", "source_id", "at most 32 characters"),
    BAD ("source_id number", REPLAY, "source_id", "1", "source_id", "must be a string"),

    //  enrollments
    OK_ ("enrollments base", ENROLLMENTS, NULL, NULL),
    OK_ ("enrollments limit absent", ENROLLMENTS, "limit", NULL),
    OK_ ("enrollments limit 500", ENROLLMENTS, "limit", "500"),
    BAD ("enrollments limit 501", ENROLLMENTS, "limit", "501", "limit", "between 1 and 500"),
    BAD ("enrollments limit 0", ENROLLMENTS, "limit", "0", "limit", "between 1 and 500"),
    BAD ("enrollments since_seq missing", ENROLLMENTS, "since_seq", NULL, "since_seq", "required"),
    BAD ("enrollments since_seq -1", ENROLLMENTS, "since_seq", "-1", "since_seq", "at least 0"),
    BAD ("enrollments program missing", ENROLLMENTS, "program", NULL, "program", "required"),
    BAD ("enrollments program empty", ENROLLMENTS, "program", "\"\"", "program", "must not be empty"),
    OK_REP ("enrollments program 32", ENROLLMENTS, "program", 32, "P"),
    BAD_REP ("enrollments program 33", ENROLLMENTS, "program", 33, "P", "program", "at most 32 characters"),
    BAD ("enrollments source_id", ENROLLMENTS, "source_id", "\"spd\"", "source_id", "unknown field"),

    //  enrollment
    OK_ ("enrollment base", ENROLLMENT, NULL, NULL),
    OK_ ("enrollment at absent", ENROLLMENT, "at", NULL),
    BAD ("enrollment at not a time", ENROLLMENT, "at", "\"yesterday\"", "at", "RFC 3339"),
    BAD ("enrollment exited without reason", ENROLLMENT, "reason", NULL, "reason", "required when change is exited"),
    BAD ("enrollment reason not in the list", ENROLLMENT, "reason", "\"discharged\"", "reason", "must be one of"),
    BAD ("enrollment reason intake_lapsed (divert's own)", ENROLLMENT, "reason", "\"intake_lapsed\"", "reason", "must be one of"),
    BAD ("enrollment change unknown", ENROLLMENT, "change", "\"transferred\"", "change", "must be one of"),
    BAD ("enrollment change missing", ENROLLMENT, "change", NULL, "change", "required"),
    BAD ("enrollment source_id missing", ENROLLMENT, "source_id", NULL, "source_id", "required"),
    BAD ("enrollment referral_id not a UUID", ENROLLMENT, "referral_id", "\"42\"", "referral_id", "UUID"),
    BAD ("enrollment notes", ENROLLMENT, "notes", "\"x\"", "notes", "unknown field"),

    //  transfer and caseload
    OK_ ("transfer base", TRANSFER, NULL, NULL),
    BAD ("transfer case_manager missing", TRANSFER, "case_manager", NULL, "case_manager", "required"),
    OK_REP ("transfer case_manager 64", TRANSFER, "case_manager", 64, "c"),
    BAD_REP ("transfer case_manager 65", TRANSFER, "case_manager", 65, "c", "case_manager", "at most 64 characters"),
    BAD ("transfer reason", TRANSFER, "reason", "\"moved\"", "reason", "unknown field"),
    OK_ ("caseload base", CASELOAD, NULL, NULL),
    BAD ("caseload program number", CASELOAD, "program", "7", "program", "must be a string"),
    BAD ("caseload since_seq", CASELOAD, "since_seq", "0", "since_seq", "unknown field"),
};

//  A change other than exited must not carry a reason
TEST (test_enrollment_reason_rule)
{
    const char *changes [] = { "intake_completed", "in_the_wind", "re_engaged" };
    for (size_t i = 0; i < 3; i++) {
        char *text = s_edit (ENROLLMENT, "change", NULL);
        json_t *root = json_loads (text, 0, NULL);
        json_object_set_new (root, "change", json_string (changes [i]));
        free (text);
        text = json_dumps (root, JSON_COMPACT);
        dv_request_t *request = s_parse (text);
        CHECKF (!dv_request_valid (request) && s_has_problem (request, "reason", "only with change exited"),
                "%s with a reason", changes [i]);
        dv_request_destroy (&request);
        json_object_del (root, "reason");
        free (text);
        text = json_dumps (root, JSON_COMPACT);
        request = s_parse (text);
        CHECKF (dv_request_valid (request), "%s without a reason", changes [i]);
        dv_request_destroy (&request);
        free (text);
        json_decref (root);
    }
    //  The accessors of a valid enrollment request
    dv_request_t *request = s_parse (s_bases [ENROLLMENT]);
    CHECK_STR (dv_request_source_id (request), "spd");
    CHECK_STR (dv_request_referral_id (request), "7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f");
    CHECK_STR (dv_request_change (request), "exited");
    CHECK_STR (dv_request_reason (request), "graduated");
    CHECK_STR (dv_request_at (request), "2026-11-30T17:02:11Z");
    dv_request_destroy (&request);
    request = s_parse (s_bases [ENROLLMENTS]);
    CHECK_STR (dv_request_program (request), "LEAD");
    CHECK_INT (dv_request_since_seq (request), 6);
    CHECK_INT (dv_request_limit (request), 50);
    dv_request_destroy (&request);
    request = s_parse (s_bases [TRANSFER]);
    CHECK_STR (dv_request_case_manager (request), "cm-9");
    dv_request_destroy (&request);
}

TEST (test_edits)
{
    dv_request_set_today (TODAY_DAYS);
    for (size_t row = 0; row < sizeof s_edit_rows / sizeof s_edit_rows [0]; row++) {
        const edit_row_t *r = &s_edit_rows [row];
        char *value = r->repeat? s_repeat_json (r->unit, r->repeat): NULL;
        char *text = s_edit (r->base, r->path, value? value: r->value);
        dv_request_t *request = s_parse (text);
        CHECKF (request, "%s: NULL", r->label);
        if (request) {
            char *errors = s_errors_text (request);
            if (!r->field) {
                CHECKF (dv_request_valid (request), "%s: expected valid, got %s", r->label, errors);
                CHECKF (json_array_size (dv_request_errors (request)) == 0, "%s", r->label);
                CHECKF (dv_request_error_code (request) == NULL, "%s", r->label);
                CHECKF ((int) dv_request_type (request) == r->base, "%s: type", r->label);
            }
            else {
                CHECKF (!dv_request_valid (request), "%s: expected invalid", r->label);
                const char *code = dv_request_error_code (request);
                CHECKF (code && streq_ (code, "invalid"), "%s: code %s", r->label, code? code: "(null)");
                CHECKF (s_has_problem (request, r->field, r->problem),
                        "%s: expected %s: %s, got %s", r->label, r->field, r->problem, errors);
                CHECKF (json_array_size (dv_request_errors (request)) == 1,
                        "%s: expected one problem, got %s", r->label, errors);
                const char *message = dv_request_error_message (request);
                CHECKF (message && streq_ (message, "1 field is invalid"), "%s: message", r->label);
                CHECKF (dv_request_referral (request) == NULL, "%s: referral on invalid", r->label);
                CHECKF (dv_request_payload (request) == NULL, "%s: payload on invalid", r->label);
                CHECKF (dv_request_digest (request) == NULL, "%s: digest on invalid", r->label);
            }
            free (errors);
        }
        dv_request_destroy (&request);
        CHECK (request == NULL);
        free (text);
        free (value);
    }
    dv_request_set_today (0);
}


//  -------------------------------------------------------------------------
//  Whole frames: not JSON, not an object, versions

typedef struct {
    const char *label;
    const char *data;
    size_t size;            //  0: strlen (data)
    const char *code;
    const char *message;    //  substring
} frame_row_t;

static const frame_row_t s_frame_rows [] = {
    { "empty", "", 0, "invalid", "not JSON" },
    { "not JSON", "hello", 0, "invalid", "not JSON" },
    { "truncated", "{\"v\":1,\"type\":\"ping\"", 0, "invalid", "not JSON" },
    { "trailing", "{\"v\":1,\"type\":\"ping\"} x", 0, "invalid", "not JSON" },
    { "duplicate key", "{\"v\":1,\"type\":\"ping\",\"type\":\"ping\"}", 0, "invalid", "duplicate key" },
    { "nested duplicate", "{\"v\":1,\"type\":\"referral\",\"person\":{\"dob\":\"1\",\"dob\":\"2\"}}",
      0, "invalid", "duplicate key" },
    { "invalid UTF-8", "{\"v\":1,\"type\":\"ping\",\"request_id\":\"\xff\xfe\"}", 0, "invalid", "UTF-8" },
    { "overlong UTF-8", "{\"v\":1,\"type\":\"ping\",\"request_id\":\"\xc0\xaf\"}", 0, "invalid", "UTF-8" },
    { "lone surrogate", "{\"v\":1,\"type\":\"ping\",\"request_id\":\"\\ud800\"}", 0, "invalid", "not JSON" },
    { "escaped NUL", "{\"v\":1,\"type\":\"ping\",\"request_id\":\"a\\u0000b\"}", 0, "invalid", "not JSON" },
    { "raw NUL", "{\"v\":1,\"type\":\"ping\"}\0", 22, "invalid", "not JSON" },
    { "huge integer", "{\"v\":1,\"type\":\"replay\",\"since_seq\":99999999999999999999999}",
      0, "invalid", "not JSON" },
    { "array", "[1,2]", 0, "invalid", "request must be a JSON object" },
    { "string", "\"ping\"", 0, "invalid", "request must be a JSON object" },
    { "number", "1", 0, "invalid", "request must be a JSON object" },
    { "null", "null", 0, "invalid", "request must be a JSON object" },
    { "v 2", "{\"v\":2,\"type\":\"ping\"}", 0, "unsupported_version", "version" },
    { "v 0", "{\"v\":0,\"type\":\"ping\"}", 0, "unsupported_version", "version" },
    { "v 2 with junk", "{\"v\":2,\"type\":\"newthing\",\"x\":1}", 0, "unsupported_version", "version" },
    { "v string", "{\"v\":\"1\",\"type\":\"ping\"}", 0, "invalid", "1 field is invalid" },
    { "v missing", "{\"type\":\"ping\"}", 0, "invalid", "1 field is invalid" },
};

TEST (test_frames)
{
    for (size_t row = 0; row < sizeof s_frame_rows / sizeof s_frame_rows [0]; row++) {
        const frame_row_t *r = &s_frame_rows [row];
        size_t size = r->size? r->size: strlen (r->data);
        dv_request_t *request = dv_request_new (r->data, size);
        CHECKF (request, "%s: NULL", r->label);
        if (!request)
            continue;
        CHECKF (!dv_request_valid (request), "%s: expected invalid", r->label);
        const char *code = dv_request_error_code (request);
        const char *message = dv_request_error_message (request);
        CHECKF (code && streq_ (code, r->code), "%s: code %s", r->label, code? code: "(null)");
        CHECKF (message && strstr (message, r->message), "%s: message %s",
                r->label, message? message: "(null)");
        CHECKF (json_is_array (dv_request_errors (request)), "%s: errors", r->label);
        dv_request_destroy (&request);
    }
    //  NULL data is an empty frame
    dv_request_t *request = dv_request_new (NULL, 0);
    CHECK (request && !dv_request_valid (request));
    dv_request_destroy (&request);
}

//  Nesting far past jansson's limit is refused, not a crash
static char *
s_nested (const char *open, const char *middle, const char *close, int depth)
{
    size_t open_len = strlen (open), close_len = strlen (close), middle_len = strlen (middle);
    char *text = (char *) malloc ((open_len + close_len) * depth + middle_len + 1);
    char *cursor = text;
    for (int index = 0; index < depth; index++, cursor += open_len)
        memcpy (cursor, open, open_len);
    memcpy (cursor, middle, middle_len);
    cursor += middle_len;
    for (int index = 0; index < depth; index++, cursor += close_len)
        memcpy (cursor, close, close_len);
    *cursor = '\0';
    return text;
}

TEST (test_deep_nesting)
{
    struct { const char *open, *middle, *close; int depth; const char *message; } rows [] = {
        { "[", "", "]", 10000, "nested too deeply" },
        { "{\"a\":", "1", "}", 10000, "nested too deeply" },
        { "[", "", "]", 100000, "nested too deeply" },
    };
    for (size_t row = 0; row < sizeof rows / sizeof rows [0]; row++) {
        char *text = s_nested (rows [row].open, rows [row].middle, rows [row].close, rows [row].depth);
        dv_request_t *request = s_parse (text);
        CHECK (request && !dv_request_valid (request));
        CHECK_STR (dv_request_error_code (request), "invalid");
        CHECKF (strstr (dv_request_error_message (request), rows [row].message), "row %zu", row);
        dv_request_destroy (&request);
        free (text);
    }
    //  Deep but parseable, inside a valid envelope: never descended into
    char *inner = s_nested ("[", "", "]", 1000);
    char *text = (char *) malloc (strlen (inner) + 64);
    sprintf (text, "{\"v\":1,\"type\":\"ping\",\"junk\":%s}", inner);
    dv_request_t *request = s_parse (text);
    CHECK (request && !dv_request_valid (request));
    CHECK (s_has_problem (request, "junk", "unknown field"));
    dv_request_destroy (&request);
    sprintf (text, "{\"v\":1,\"type\":\"referral\",\"contact\":{\"x\":%s}}", inner);
    request = s_parse (text);
    CHECK (request && s_has_problem (request, "contact.x", "must be a string"));
    dv_request_destroy (&request);
    free (text);
    free (inner);
}


//  -------------------------------------------------------------------------
//  All problems collected, ids echoed on invalid requests

TEST (test_collects_all)
{
    dv_request_set_today (TODAY_DAYS);
    const char *text = "{\"v\":1,\"type\":\"referral\",\"request_id\":\"r-18\","
        "\"referral_id\":\"7D3F6C1E-2B8A-4A51-9F0E-3C2D1B0A9E8F\","
        "\"pathway\":\"pretrial_diversion\",\"submitted_at\":\"yesterday\","
        "\"person\":{\"last_name\":\"Doe\",\"dob\":\"1981-02-30\",\"nick\":\"J\"},"
        "\"housing\":\"unsheltered\",\"behavioral_health\":[],\"colour\":\"red\"}";
    dv_request_t *request = s_parse (text);
    CHECK (!dv_request_valid (request));
    CHECK_STR (dv_request_error_code (request), "invalid");
    CHECK (s_has_problem (request, "submitted_at", "not an RFC 3339"));
    CHECK (s_has_problem (request, "person.dob", "not a date"));
    CHECK (s_has_problem (request, "person.nick", "unknown field"));
    CHECK (s_has_problem (request, "area", "required"));
    CHECK (s_has_problem (request, "offense", "required"));
    CHECK (s_has_problem (request, "colour", "unknown field"));
    CHECK_INT (json_array_size (dv_request_errors (request)), 6);
    CHECK_STR (dv_request_error_message (request), "6 fields are invalid");
    CHECK_STR (dv_request_request_id (request), "r-18");
    CHECK_STR (dv_request_referral_id (request), "7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f");
    dv_request_destroy (&request);

    //  An unknown type still reports envelope problems, and echoes ids
    request = s_parse ("{\"type\":\"bogus\",\"request_id\":\"q1\",\"referral_id\":\"not-a-uuid\"}");
    CHECK (s_has_problem (request, "v", "required"));
    CHECK (s_has_problem (request, "type", "must be one of"));
    CHECK_INT (json_array_size (dv_request_errors (request)), 2);
    CHECK_STR (dv_request_request_id (request), "q1");
    //  A referral_id that is not a UUID is never echoed (it might be a name)
    CHECK (dv_request_referral_id (request) == NULL);
    dv_request_destroy (&request);

    //  Too-long request_id is not echoed; unsupported version still echoes ids
    char *long_id = s_repeat_json ("x", 65);
    char frame [256];
    snprintf (frame, sizeof frame, "{\"v\":1,\"type\":\"ping\",\"request_id\":%s}", long_id);
    request = s_parse (frame);
    CHECK (dv_request_request_id (request) == NULL);
    dv_request_destroy (&request);
    free (long_id);
    request = s_parse ("{\"v\":3,\"type\":\"ping\",\"request_id\":\"r9\"}");
    CHECK_STR (dv_request_error_code (request), "unsupported_version");
    CHECK_STR (dv_request_request_id (request), "r9");
    dv_request_destroy (&request);
    dv_request_set_today (0);
}


//  -------------------------------------------------------------------------
//  Accessors on valid requests

TEST (test_accessors)
{
    dv_request_set_today (TODAY_DAYS);
    char *text = s_edit (REFERRAL, "referral_id", "\"7D3F6C1E-2B8A-4A51-9F0E-3C2D1B0A9E8F\"");
    dv_request_t *request = s_parse (text);
    CHECK (dv_request_valid (request));
    CHECK_INT (dv_request_type (request), DV_REQ_REFERRAL);
    CHECK (dv_request_error_message (request) == NULL);
    CHECK_STR (dv_request_request_id (request), "r-17");
    CHECK_STR (dv_request_referral_id (request), "7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f");
    const dv_referral_t *referral = dv_request_referral (request);
    CHECK (referral != NULL);
    if (referral) {
        CHECK_STR (referral->referral_id, "7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f");
        CHECK_INT (referral->pathway, DV_PATHWAY_ARREST_DIVERSION);
        CHECK_STR (referral->submitted_at, "2026-11-22T18:04:05Z");
        CHECK_STR (referral->source_person_id, "SPD-88213");
        CHECK_STR (referral->first_name, "Jo");
        CHECK_STR (referral->last_name, "Doe");
        CHECK_STR (referral->dob, "1981-04-02");
        CHECK_STR (referral->area, "downtown");
        CHECK_INT (referral->housing, DV_HOUSING_UNSHELTERED);
        CHECK (referral->substance_use && referral->mental_health);
        CHECK_STR (referral->offense_code, "VUCSA-POSS");
        CHECK_INT (referral->prior_contacts_12m, 3);
        CHECK (referral->consent);
    }
    json_t *payload = dv_request_payload (request);
    CHECK (json_is_object (payload));
    CHECK (!json_object_get (payload, "v") && !json_object_get (payload, "type")
           && !json_object_get (payload, "request_id"));
    CHECK_STR (json_string_value (json_object_get (payload, "referral_id")),
               "7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f");
    CHECK_STR (json_string_value (json_object_get (payload, "notes")), "met at 3rd & Pine");
    const char *digest = dv_request_digest (request);
    CHECK (digest && strlen (digest) == 40 && strspn (digest, "0123456789abcdef") == 40);
    dv_request_destroy (&request);
    free (text);

    //  Minimal referral: optional fields absent
    request = s_parse ("{\"v\":1,\"type\":\"referral\",\"referral_id\":\"7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f\","
        "\"pathway\":\"community\",\"submitted_at\":\"2026-11-22T18:04:05Z\","
        "\"person\":{\"last_name\":\"Doe\",\"dob\":\"1981-04-02\"},\"area\":\"a\","
        "\"housing\":\"housed\",\"behavioral_health\":[\"mental_health\"]}");
    referral = dv_request_referral (request);
    CHECK (referral != NULL);
    if (referral) {
        CHECK_INT (referral->pathway, DV_PATHWAY_COMMUNITY);
        CHECK (referral->source_person_id == NULL && referral->first_name == NULL);
        CHECK (referral->offense_code == NULL);
        CHECK (!referral->substance_use && referral->mental_health);
        CHECK_INT (referral->prior_contacts_12m, 0);
        CHECK (!referral->consent);
        CHECK_INT (referral->housing, DV_HOUSING_HOUSED);
    }
    CHECK (dv_request_request_id (request) == NULL);
    dv_request_destroy (&request);

    request = s_parse (s_bases [WITHDRAW]);
    CHECK_INT (dv_request_type (request), DV_REQ_WITHDRAW);
    CHECK_STR (dv_request_reason (request), "moved");
    CHECK (dv_request_referral (request) == NULL && dv_request_payload (request) == NULL);
    dv_request_destroy (&request);

    request = s_parse (s_bases [REPLAY]);
    CHECK_INT (dv_request_type (request), DV_REQ_REPLAY);
    CHECK_INT (dv_request_since_seq (request), 40);
    CHECK_INT (dv_request_limit (request), 10);
    CHECK_STR (dv_request_source_id (request), "spd");
    dv_request_destroy (&request);

    request = s_parse ("{\"v\":1,\"type\":\"replay\",\"since_seq\":0}");
    CHECK_INT (dv_request_limit (request), 100);
    CHECK (dv_request_source_id (request) == NULL);
    dv_request_destroy (&request);

    request = s_parse (s_bases [STATUS]);
    CHECK_INT (dv_request_type (request), DV_REQ_STATUS);
    CHECK_STR (dv_request_referral_id (request), "7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f");
    dv_request_destroy (&request);
    dv_request_set_today (0);
}

TEST (test_enum_names)
{
    const char *pathways [] = { "arrest_diversion", "social_contact", "community", "pretrial_diversion" };
    for (int index = 0; index < DV_PATHWAY_COUNT; index++) {
        CHECK_STR (dv_pathway_name ((dv_pathway_t) index), pathways [index]);
        CHECK_INT (dv_pathway_from_name (pathways [index]), index);
    }
    const char *housing [] = { "unsheltered", "hotel", "sheltered", "housed", "unknown" };
    for (int index = 0; index < DV_HOUSING_COUNT; index++) {
        CHECK_STR (dv_housing_name ((dv_housing_t) index), housing [index]);
        CHECK_INT (dv_housing_from_name (housing [index]), index);
    }
    CHECK_INT (dv_pathway_from_name ("arrest"), -1);
    CHECK_INT (dv_pathway_from_name (NULL), -1);
    CHECK_INT (dv_housing_from_name ("Housed"), -1);
    CHECK (dv_pathway_name (DV_PATHWAY_COUNT) == NULL);
    CHECK (dv_housing_name (DV_HOUSING_COUNT) == NULL);
}

TEST (test_today_clock)
{
    //  With the real clock, a dob two days ahead is refused, 1981 is fine
    dv_request_set_today (0);
    time_t later = time (NULL) + 86400 * 2;
    struct tm parts;
    gmtime_r (&later, &parts);
    char dob [32];
    snprintf (dob, sizeof dob, "\"%04d-%02d-%02d\"", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday);
    char *text = s_edit (REFERRAL, "person.dob", dob);
    dv_request_t *request = s_parse (text);
    CHECK (s_has_problem (request, "person.dob", "in the future"));
    dv_request_destroy (&request);
    free (text);
    request = s_parse (s_bases [REFERRAL]);
    CHECK (dv_request_valid (request));
    dv_request_destroy (&request);
}


//  -------------------------------------------------------------------------
//  Digest

static char *
s_digest_of (const char *text)
{
    dv_request_t *request = s_parse (text);
    const char *digest = dv_request_digest (request);
    char *copy = digest? strdup (digest): NULL;
    dv_request_destroy (&request);
    return copy;
}

TEST (test_digest)
{
    dv_request_set_today (TODAY_DAYS);
    const char *a = "{\"v\":1,\"type\":\"referral\",\"request_id\":\"one\","
        "\"referral_id\":\"7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f\",\"pathway\":\"community\","
        "\"submitted_at\":\"2026-11-22T18:04:05Z\",\"person\":{\"last_name\":\"Doe\",\"dob\":\"1981-04-02\"},"
        "\"area\":\"a\",\"housing\":\"housed\",\"behavioral_health\":[],\"consent\":true}";
    //  Same content: other key order (also nested), other request_id, upper-case id
    const char *b = "{\"consent\":true,\"behavioral_health\":[],\"housing\":\"housed\",\"area\":\"a\","
        "\"person\":{\"dob\":\"1981-04-02\",\"last_name\":\"Doe\"},\"submitted_at\":\"2026-11-22T18:04:05Z\","
        "\"pathway\":\"community\",\"referral_id\":\"7D3F6C1E-2B8A-4A51-9F0E-3C2D1B0A9E8F\","
        "\"request_id\":\"two\",\"type\":\"referral\",\"v\":1}";
    //  Same content without request_id
    const char *c = "{\"v\":1,\"type\":\"referral\","
        "\"referral_id\":\"7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f\",\"pathway\":\"community\","
        "\"submitted_at\":\"2026-11-22T18:04:05Z\",\"person\":{\"last_name\":\"Doe\",\"dob\":\"1981-04-02\"},"
        "\"area\":\"a\",\"housing\":\"housed\",\"behavioral_health\":[],\"consent\":true}";
    //  Different content: area, then consent
    const char *d = "{\"v\":1,\"type\":\"referral\",\"request_id\":\"one\","
        "\"referral_id\":\"7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f\",\"pathway\":\"community\","
        "\"submitted_at\":\"2026-11-22T18:04:05Z\",\"person\":{\"last_name\":\"Doe\",\"dob\":\"1981-04-02\"},"
        "\"area\":\"b\",\"housing\":\"housed\",\"behavioral_health\":[],\"consent\":true}";
    const char *e = "{\"v\":1,\"type\":\"referral\",\"request_id\":\"one\","
        "\"referral_id\":\"7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f\",\"pathway\":\"community\","
        "\"submitted_at\":\"2026-11-22T18:04:05Z\",\"person\":{\"last_name\":\"Doe\",\"dob\":\"1981-04-02\"},"
        "\"area\":\"a\",\"housing\":\"housed\",\"behavioral_health\":[]}";
    //  Unicode escaped vs raw UTF-8 is the same content
    const char *f = "{\"v\":1,\"type\":\"referral\",\"referral_id\":\"7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f\","
        "\"pathway\":\"community\",\"submitted_at\":\"2026-11-22T18:04:05Z\","
        "\"person\":{\"last_name\":\"D\xc3\xb6\x65\",\"dob\":\"1981-04-02\"},"
        "\"area\":\"a\",\"housing\":\"housed\",\"behavioral_health\":[]}";
    const char *g = "{\"v\":1,\"type\":\"referral\",\"referral_id\":\"7d3f6c1e-2b8a-4a51-9f0e-3c2d1b0a9e8f\","
        "\"pathway\":\"community\",\"submitted_at\":\"2026-11-22T18:04:05Z\","
        "\"person\":{\"last_name\":\"D\\u00f6e\",\"dob\":\"1981-04-02\"},"
        "\"area\":\"a\",\"housing\":\"housed\",\"behavioral_health\":[]}";
    char *da = s_digest_of (a), *db = s_digest_of (b), *dc = s_digest_of (c);
    char *dd = s_digest_of (d), *de = s_digest_of (e), *df = s_digest_of (f), *dg = s_digest_of (g);
    CHECK (da && db && dc && dd && de && df && dg);
    if (da && db && dc && dd && de && df && dg) {
        CHECK_STR (da, db);
        CHECK_STR (da, dc);
        CHECK (strcmp (da, dd) != 0);
        CHECK (strcmp (da, de) != 0);
        CHECK (strcmp (dd, de) != 0);
        CHECK_STR (df, dg);
        CHECK (strcmp (df, de) != 0);
    }
    free (da); free (db); free (dc); free (dd); free (de); free (df); free (dg);
    dv_request_set_today (0);
}


//  -------------------------------------------------------------------------
//  No value sent ever shows up in what is sent back (request_id and
//  referral_id, identifiers the client chose, are echoed by design)

TEST (test_no_values_in_errors)
{
    dv_request_set_today (TODAY_DAYS);
    char *long_notes = s_repeat_json ("ZZSECRET", 300);        //  2400 chars
    char *long_contact = s_repeat_json ("ZZSECRET", 30);       //  240 chars
    char *long_name = s_repeat_json ("ZZSECRET", 13);          //  104 chars
    const char *frames [] = {
        "{\"v\":1,\"type\":\"referral\",\"person\":{\"last_name\":\"ZZSECRETNAME\",\"dob\":\"ZZSECRETDOB\"}}",
        "{\"v\":1,\"type\":\"referral\",\"pathway\":\"ZZSECRET\",\"housing\":\"ZZSECRET\","
            "\"referral_id\":\"not-a-uuid\",\"submitted_at\":\"ZZSECRET\",\"behavioral_health\":[\"ZZSECRET\"]}",
        "{\"v\":1,\"type\":\"ZZSECRET\"}",
        "{\"v\":1,\"type\":\"referral\",\"person\":{\"last_name\":ZZSECRETNAME}}",
        "{\"v\":1,\"type\":\"referral\",\"person\":{\"last_name\":\"ZZSECRETNAME\",\"last_name\":\"ZZSECRET\"}}",
        "{\"v\":1,\"type\":\"referral\",\"person\":{\"dob\":\"2099-01-01\",\"first_name\":\"ZZSECRET\"},"
            "\"prior_contacts_12m\":\"ZZSECRET\",\"consent\":\"ZZSECRET\",\"area\":\"\"}",
        "{\"v\":\"ZZSECRET\",\"type\":\"referral\"}",
        "{\"v\":1,\"type\":\"withdraw\",\"reason\":[\"ZZSECRET\"]}",
        NULL, NULL, NULL
    };
    char notes_frame [4096], contact_frame [512], name_frame [512];
    snprintf (notes_frame, sizeof notes_frame, "{\"v\":1,\"type\":\"referral\",\"notes\":%s}", long_notes);
    snprintf (contact_frame, sizeof contact_frame,
              "{\"v\":1,\"type\":\"referral\",\"contact\":{\"phone\":%s}}", long_contact);
    snprintf (name_frame, sizeof name_frame,
              "{\"v\":1,\"type\":\"referral\",\"person\":{\"first_name\":%s}}", long_name);
    frames [8] = notes_frame;
    frames [9] = contact_frame;
    frames [10] = name_frame;

    for (size_t row = 0; row < sizeof frames / sizeof frames [0]; row++) {
        dv_request_t *request = s_parse (frames [row]);
        CHECKF (!dv_request_valid (request), "row %zu", row);
        json_t *reply = dv_reply_error (dv_request_request_id (request), dv_request_referral_id (request),
                                        dv_request_error_code (request),
                                        dv_request_error_message (request),
                                        dv_request_errors (request));
        char *encoded = dv_reply_encode (reply);
        CHECKF (encoded && !strstr (encoded, "ZZSECRET"), "row %zu: %s", row, encoded? encoded: "(null)");
        free (encoded);
        json_decref (reply);
        dv_request_destroy (&request);
    }
    free (long_notes);
    free (long_contact);
    free (long_name);
    dv_request_set_today (0);
}


//  -------------------------------------------------------------------------
//  dv_reply

TEST (test_reply_error)
{
    struct { const char *code; bool retry; } rows [] = {
        { "invalid", false }, { "unsupported_version", false }, { "forbidden", false },
        { "not_found", false }, { "conflict", false }, { "unavailable", true }, { "internal", false },
    };
    for (size_t row = 0; row < sizeof rows / sizeof rows [0]; row++) {
        json_t *reply = dv_reply_error (NULL, NULL, rows [row].code, "msg", NULL);
        CHECK_INT (json_integer_value (json_object_get (reply, "v")), 1);
        CHECK_STR (json_string_value (json_object_get (reply, "type")), "error");
        CHECK_STR (json_string_value (json_object_get (reply, "code")), rows [row].code);
        CHECK_STR (json_string_value (json_object_get (reply, "message")), "msg");
        CHECKF (json_is_boolean (json_object_get (reply, "retry"))
                && json_is_true (json_object_get (reply, "retry")) == rows [row].retry,
                "%s retry", rows [row].code);
        CHECK (!json_object_get (reply, "request_id") && !json_object_get (reply, "referral_id"));
        CHECK (!json_object_get (reply, "errors"));
        json_decref (reply);
    }
    json_t *errors = json_pack ("[{s:s, s:s}]", "field", "person.dob", "problem", "not a date (YYYY-MM-DD)");
    json_t *reply = dv_reply_error ("r-18", "abc", "invalid", "1 field is invalid", errors);
    json_decref (errors);       //  the reply holds a copy
    char *encoded = dv_reply_encode (reply);
    CHECK_STR (encoded, "{\"v\":1,\"type\":\"error\",\"request_id\":\"r-18\",\"referral_id\":\"abc\","
               "\"code\":\"invalid\",\"message\":\"1 field is invalid\","
               "\"errors\":[{\"field\":\"person.dob\",\"problem\":\"not a date (YYYY-MM-DD)\"}],"
               "\"retry\":false}");
    free (encoded);
    json_decref (reply);
}

TEST (test_reply_pong)
{
    json_t *reply = dv_reply_pong (true);
    char *encoded = dv_reply_encode (reply);
    CHECK_STR (encoded, "{\"v\":1,\"type\":\"pong\",\"db\":\"up\",\"version\":\"" DIVERT_VERSION "\"}");
    free (encoded);
    json_decref (reply);
    reply = dv_reply_pong (false);
    CHECK_STR (json_string_value (json_object_get (reply, "db")), "down");
    json_decref (reply);
    CHECK (dv_reply_encode (NULL) == NULL);
}

int
main (void)
{
    TESTLIB_BEGIN ("test_request");
    RUN (test_edits);
    RUN (test_enrollment_reason_rule);
    RUN (test_frames);
    RUN (test_deep_nesting);
    RUN (test_collects_all);
    RUN (test_accessors);
    RUN (test_enum_names);
    RUN (test_today_clock);
    RUN (test_digest);
    RUN (test_no_values_in_errors);
    RUN (test_reply_error);
    RUN (test_reply_pong);
    return TESTLIB_END ();
}
