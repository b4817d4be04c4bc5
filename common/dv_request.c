/*  dv_request — parse and validate one DIVERT/1 request frame.

    The work happens in dv_request_new(): parse with jansson (duplicate keys
    rejected, nesting limited by jansson, any top-level value accepted so that
    a scalar gets "request must be a JSON object"), check the envelope (v, type,
    request_id), then check the type's fields against a static table of field
    rules (s_field_t), collecting every problem instead of stopping at the
    first. Rules the table cannot express (person identity, offense required
    for some pathways) are checked in code afterwards. Only when there are no
    problems are the fields copied into the accessor-friendly form.

    Field paths in problems: nested objects use dots ("person.dob",
    "contact.callback"), array elements use a zero-based index
    ("behavioral_health[1]"). Problems name the rule, never the value sent.
*/
#include "dv_request.h"

#include <czmq.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_REQUEST_ID_MAX    64      //  request_id, and echoed referral_id
#define S_KEY_LABEL_MAX     64      //  longest key name echoed in a field path
#define S_FRACTION_MAX      9       //  digits after the second in submitted_at
#define S_PATH_MAX          512     //  longest field path (never reached: depth <= 2)

struct _dv_request_t {
    json_t *root;                   //  the parsed frame; owns every string
    bool valid;
    const char *code;               //  static text, NULL when valid
    char message [128];
    json_t *errors;                 //  [{"field", "problem"}], at most DV_REQUEST_MAX_PROBLEMS
    size_t problems;                //  how many were found in all
    bool type_known;
    dv_req_type_t type;
    const char *request_id;         //  into root, or NULL
    const char *referral_id;        //  canonical copy, or into root, or NULL
    char referral_id_buf [37];
    dv_referral_t referral;
    json_t *payload;
    char digest [41];
    const char *reason;
    int64_t since_seq;
    int limit;
    const char *source_id;
    const char *program;
    const char *change;
    const char *at;
    const char *case_manager;
};

//  -------------------------------------------------------------------------
//  Field rules

typedef enum {
    S_STRING,           //  string, min..max characters
    S_ENUM,             //  string, one of choices
    S_UUID,             //  8-4-4-4-12 hex digits, either case
    S_DATETIME,         //  RFC 3339 date-time with Z or offset
    S_BIRTHDATE,        //  YYYY-MM-DD, a real date, 1900-01-01 .. today
    S_INTEGER,          //  integer, min..max
    S_BOOLEAN,
    S_OBJECT,           //  object checked against children
    S_STRING_MAP,       //  object of any keys, every value a string <= max
    S_ENUM_SET          //  array of distinct choices, may be empty
} s_kind_t;

typedef struct _s_field_t s_field_t;
struct _s_field_t {
    const char *name;
    s_kind_t kind;
    bool required;
    int64_t min, max;               //  characters (strings) or value (integers)
    const char *const *choices;     //  NULL-terminated, S_ENUM / S_ENUM_SET
    const s_field_t *children;      //  S_OBJECT
};

static const char *const s_pathway_names [] = {
    "arrest_diversion", "social_contact", "community", "pretrial_diversion", NULL
};
static const char *const s_housing_names [] = {
    "unsheltered", "hotel", "sheltered", "housed", "unknown", NULL
};
static const char *const s_bh_names [] = {
    "substance_use", "mental_health", NULL
};
static const char *const s_type_names [] = {
    "referral", "status", "withdraw", "replay", "ping",
    "enrollments", "enrollment", "transfer", "caseload", NULL
};
//  What a case-management system may tell divert about an enrollment
static const char *const s_change_names [] = {
    "intake_completed", "in_the_wind", "re_engaged", "exited", NULL
};
//  The exit reasons a case-management system or operator may give (divert
//  itself also records intake_lapsed, term_ended and withdrawn)
static const char *const s_exit_reason_names [] = {
    "graduated", "moved", "declined_services", "incarcerated", "deceased", "other", NULL
};

static const s_field_t s_person_fields [] = {
    { "source_person_id", S_STRING, false, 1, 100, NULL, NULL },
    { "first_name", S_STRING, false, 1, 100, NULL, NULL },
    { "last_name", S_STRING, false, 1, 100, NULL, NULL },
    { "dob", S_BIRTHDATE, false, 0, 0, NULL, NULL },
    { NULL, S_STRING, false, 0, 0, NULL, NULL }
};

static const s_field_t s_offense_fields [] = {
    { "code", S_STRING, true, 1, 32, NULL, NULL },
    { "description", S_STRING, false, 0, 200, NULL, NULL },
    { NULL, S_STRING, false, 0, 0, NULL, NULL }
};

static const s_field_t s_referral_fields [] = {
    { "referral_id", S_UUID, true, 0, 0, NULL, NULL },
    { "pathway", S_ENUM, true, 0, 0, s_pathway_names, NULL },
    { "submitted_at", S_DATETIME, true, 0, 0, NULL, NULL },
    { "person", S_OBJECT, true, 0, 0, NULL, s_person_fields },
    { "area", S_STRING, true, 1, 64, NULL, NULL },
    { "housing", S_ENUM, true, 0, 0, s_housing_names, NULL },
    { "behavioral_health", S_ENUM_SET, true, 0, 0, s_bh_names, NULL },
    //  required for some pathways: see s_check_referral_rules
    { "offense", S_OBJECT, false, 0, 0, NULL, s_offense_fields },
    { "prior_contacts_12m", S_INTEGER, false, 0, 1000, NULL, NULL },
    { "consent", S_BOOLEAN, false, 0, 0, NULL, NULL },
    { "contact", S_STRING_MAP, false, 0, 200, NULL, NULL },
    { "notes", S_STRING, false, 0, 2000, NULL, NULL },
    { NULL, S_STRING, false, 0, 0, NULL, NULL }
};

static const s_field_t s_status_fields [] = {
    { "referral_id", S_UUID, true, 0, 0, NULL, NULL },
    { NULL, S_STRING, false, 0, 0, NULL, NULL }
};

static const s_field_t s_withdraw_fields [] = {
    { "referral_id", S_UUID, true, 0, 0, NULL, NULL },
    { "reason", S_STRING, false, 0, 500, NULL, NULL },
    { NULL, S_STRING, false, 0, 0, NULL, NULL }
};

static const s_field_t s_replay_fields [] = {
    { "since_seq", S_INTEGER, true, 0, INT64_MAX, NULL, NULL },
    { "limit", S_INTEGER, false, 1, 1000, NULL, NULL },
    { "source_id", S_STRING, false, 1, 32, NULL, NULL },
    { NULL, S_STRING, false, 0, 0, NULL, NULL }
};

static const s_field_t s_ping_fields [] = {
    { NULL, S_STRING, false, 0, 0, NULL, NULL }
};

static const s_field_t s_enrollments_fields [] = {
    { "program", S_STRING, true, 1, 32, NULL, NULL },
    { "since_seq", S_INTEGER, true, 0, INT64_MAX, NULL, NULL },
    { "limit", S_INTEGER, false, 1, 500, NULL, NULL },
    { NULL, S_STRING, false, 0, 0, NULL, NULL }
};

//  reason: with change exited, and only then (s_check_enrollment_rules)
static const s_field_t s_enrollment_fields [] = {
    { "source_id", S_STRING, true, 1, 32, NULL, NULL },
    { "referral_id", S_UUID, true, 0, 0, NULL, NULL },
    { "change", S_ENUM, true, 0, 0, s_change_names, NULL },
    { "reason", S_ENUM, false, 0, 0, s_exit_reason_names, NULL },
    { "at", S_DATETIME, false, 0, 0, NULL, NULL },
    { NULL, S_STRING, false, 0, 0, NULL, NULL }
};

static const s_field_t s_transfer_fields [] = {
    { "source_id", S_STRING, true, 1, 32, NULL, NULL },
    { "referral_id", S_UUID, true, 0, 0, NULL, NULL },
    { "case_manager", S_STRING, true, 1, 64, NULL, NULL },
    { NULL, S_STRING, false, 0, 0, NULL, NULL }
};

static const s_field_t s_caseload_fields [] = {
    { "program", S_STRING, true, 1, 32, NULL, NULL },
    { NULL, S_STRING, false, 0, 0, NULL, NULL }
};

//  Indexed by dv_req_type_t
static const s_field_t *const s_type_fields [] = {
    s_referral_fields, s_status_fields, s_withdraw_fields, s_replay_fields, s_ping_fields,
    s_enrollments_fields, s_enrollment_fields, s_transfer_fields, s_caseload_fields
};

//  Envelope fields every type has; checked before the type's table
static const char *const s_envelope_names [] = { "v", "type", "request_id", NULL };

static int64_t s_today_override = 0;


//  -------------------------------------------------------------------------
//  Small helpers

static int
s_name_index (const char *const *names, const char *name)
{
    for (int index = 0; name && names [index]; index++)
        if (streq (names [index], name))
            return index;
    return -1;
}

//  Characters (code points) in a string jansson has already checked is UTF-8
static size_t
s_utf8_length (const char *text, size_t bytes)
{
    size_t chars = 0;
    for (size_t index = 0; index < bytes; index++)
        if (((unsigned char) text [index] & 0xC0) != 0x80)
            chars++;
    return chars;
}

static size_t
s_string_chars (json_t *string)
{
    return s_utf8_length (json_string_value (string), json_string_length (string));
}

//  Parses exactly `count` ASCII digits
static bool
s_digits (const char *text, int count, int *value)
{
    *value = 0;
    for (int index = 0; index < count; index++) {
        if (text [index] < '0' || text [index] > '9')
            return false;
        *value = *value * 10 + (text [index] - '0');
    }
    return true;
}

static bool
s_leap_year (int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int
s_days_in_month (int year, int month)
{
    static const int days [] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return month == 2 && s_leap_year (year)? 29: days [month - 1];
}

//  Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's method)
static int64_t
s_days_from_civil (int year, int month, int day)
{
    int64_t y = month <= 2? year - 1: year;
    int64_t era = (y >= 0? y: y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (month > 2? month - 3: month + 9) + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t
s_today (void)
{
    if (s_today_override)
        return s_today_override;
    return (int64_t) time (NULL) / 86400;
}

//  "YYYY-MM-DD" at the start of text, a real calendar date
static bool
s_parse_date (const char *text, int *year, int *month, int *day)
{
    if (!s_digits (text, 4, year) || text [4] != '-'
    ||  !s_digits (text + 5, 2, month) || text [7] != '-'
    ||  !s_digits (text + 8, 2, day))
        return false;
    return *month >= 1 && *month <= 12
        && *day >= 1 && *day <= s_days_in_month (*year, *month);
}

//  RFC 3339 date-time: date "T" HH:MM:SS [.fraction] ("Z" | +HH:MM | -HH:MM)
static bool
s_valid_datetime (const char *text)
{
    int year, month, day, hour, minute, second;
    //  RFC 3339, within what a referral can mean and PostgreSQL stores:
    //  years from 1900, offsets within the world's (±14:59).
    if (!s_parse_date (text, &year, &month, &day) || year < 1900)
        return false;
    text += 10;
    if ((*text != 'T' && *text != 't')
    ||  !s_digits (text + 1, 2, &hour) || text [3] != ':'
    ||  !s_digits (text + 4, 2, &minute) || text [6] != ':'
    ||  !s_digits (text + 7, 2, &second))
        return false;
    if (hour > 23 || minute > 59 || second > 60)
        return false;
    text += 9;
    if (*text == '.') {
        int digits = 0;
        for (text++; *text >= '0' && *text <= '9'; text++)
            digits++;
        if (digits < 1 || digits > S_FRACTION_MAX)
            return false;
    }
    if (*text == 'Z' || *text == 'z')
        return text [1] == '\0';
    if (*text != '+' && *text != '-')
        return false;
    int offset_hour, offset_minute;
    return s_digits (text + 1, 2, &offset_hour) && text [3] == ':'
        && s_digits (text + 4, 2, &offset_minute) && text [6] == '\0'
        && offset_hour <= 14 && offset_minute <= 59;
}

static bool
s_valid_uuid (const char *text, size_t length)
{
    if (length != 36)
        return false;
    for (size_t index = 0; index < 36; index++) {
        if (index == 8 || index == 13 || index == 18 || index == 23) {
            if (text [index] != '-')
                return false;
        }
        else
        if (!isxdigit ((unsigned char) text [index]))
            return false;
    }
    return true;
}


//  -------------------------------------------------------------------------
//  Problems

static void
s_problem (dv_request_t *self, const char *field, const char *format, ...)
{
    char problem [256];
    va_list args;
    //  Only the first few are listed: a hostile request can have thousands
    //  of problems, and its reply must stay small (and cheap to build).
    if (self->problems++ >= DV_REQUEST_MAX_PROBLEMS)
        return;
    va_start (args, format);
    vsnprintf (problem, sizeof problem, format, args);
    va_end (args);
    json_array_append_new (self->errors,
        json_pack ("{s:s, s:s}", "field", field, "problem", problem));
}

//  "must be one of a, b, c"
static void
s_problem_choices (dv_request_t *self, const char *field, const char *const *choices)
{
    char list [200] = "";
    for (int index = 0; choices [index]; index++) {
        if (index)
            strncat (list, ", ", sizeof list - strlen (list) - 1);
        strncat (list, choices [index], sizeof list - strlen (list) - 1);
    }
    s_problem (self, field, "must be one of %s", list);
}

//  Field path for a key inside prefix. A key chosen by the client is echoed
//  only when short; longer ones are named by a placeholder.
static void
s_path (char *path, size_t size, const char *prefix, const char *key)
{
    if (s_utf8_length (key, strlen (key)) > S_KEY_LABEL_MAX)
        key = "(long field name)";
    int length = *prefix? snprintf (path, size, "%s.%s", prefix, key)
                        : snprintf (path, size, "%s", key);
    if (length < 0 || (size_t) length >= size)
        snprintf (path, size, "(field path too long)");
}

static void
s_set_failure (dv_request_t *self, const char *code, const char *message)
{
    self->valid = false;
    self->code = code;
    snprintf (self->message, sizeof self->message, "%s", message);
}


//  -------------------------------------------------------------------------
//  Table-driven checks

static void s_check_object (dv_request_t *self, json_t *object,
                            const s_field_t *fields, const char *prefix);

static void
s_check_string (dv_request_t *self, const char *path, const s_field_t *field, json_t *value)
{
    if (!json_is_string (value)) {
        s_problem (self, path, "must be a string");
        return;
    }
    size_t chars = s_string_chars (value);
    if ((int64_t) chars < field->min)
        s_problem (self, path, "must not be empty");
    else
    if ((int64_t) chars > field->max)
        s_problem (self, path, "at most %lld characters", (long long) field->max);
}

static void
s_check_birthdate (dv_request_t *self, const char *path, const char *text)
{
    int year, month, day;
    if (strlen (text) != 10 || !s_parse_date (text, &year, &month, &day))
        s_problem (self, path, "not a date (YYYY-MM-DD)");
    else
    if (year < 1900)
        s_problem (self, path, "must not be before 1900-01-01");
    else
    if (s_days_from_civil (year, month, day) > s_today ())
        s_problem (self, path, "must not be in the future");
}

static void
s_check_integer (dv_request_t *self, const char *path, const s_field_t *field, json_t *value)
{
    if (!json_is_integer (value))
        s_problem (self, path, "must be an integer");
    else
    if (json_integer_value (value) < field->min || json_integer_value (value) > field->max) {
        if (field->max == INT64_MAX)
            s_problem (self, path, "must be at least %lld", (long long) field->min);
        else
            s_problem (self, path, "must be between %lld and %lld",
                       (long long) field->min, (long long) field->max);
    }
}

static void
s_check_string_map (dv_request_t *self, const char *path, const s_field_t *field, json_t *value)
{
    if (!json_is_object (value)) {
        s_problem (self, path, "must be an object");
        return;
    }
    const char *key;
    json_t *item;
    json_object_foreach (value, key, item) {
        char item_path [S_PATH_MAX];
        s_path (item_path, sizeof item_path, path, key);
        s_check_string (self, item_path, field, item);
    }
}

static void
s_check_enum_set (dv_request_t *self, const char *path, const s_field_t *field, json_t *value)
{
    if (!json_is_array (value)) {
        s_problem (self, path, "must be an array");
        return;
    }
    unsigned seen = 0;          //  one bit per choice
    size_t index;
    json_t *item;
    json_array_foreach (value, index, item) {
        char item_path [S_PATH_MAX];
        int length = snprintf (item_path, sizeof item_path, "%s[%zu]", path, index);
        if (length < 0 || (size_t) length >= sizeof item_path)
            snprintf (item_path, sizeof item_path, "(field path too long)");
        int choice = json_is_string (item)
                   ? s_name_index (field->choices, json_string_value (item)): -1;
        if (!json_is_string (item))
            s_problem (self, item_path, "must be a string");
        else
        if (choice < 0)
            s_problem_choices (self, item_path, field->choices);
        else
        if (seen & (1u << choice))
            s_problem (self, item_path, "repeated");
        else
            seen |= 1u << choice;
    }
}

//  One field that is present: check its type and rule
static void
s_check_field (dv_request_t *self, const char *path, const s_field_t *field, json_t *value)
{
    if (field->kind == S_STRING)
        s_check_string (self, path, field, value);
    else
    if (field->kind == S_INTEGER)
        s_check_integer (self, path, field, value);
    else
    if (field->kind == S_BOOLEAN) {
        if (!json_is_boolean (value))
            s_problem (self, path, "must be a boolean");
    }
    else
    if (field->kind == S_OBJECT) {
        if (json_is_object (value))
            s_check_object (self, value, field->children, path);
        else
            s_problem (self, path, "must be an object");
    }
    else
    if (field->kind == S_STRING_MAP)
        s_check_string_map (self, path, field, value);
    else
    if (field->kind == S_ENUM_SET)
        s_check_enum_set (self, path, field, value);
    else
    if (!json_is_string (value))
        s_problem (self, path, "must be a string");
    else
    if (field->kind == S_ENUM) {
        if (s_name_index (field->choices, json_string_value (value)) < 0)
            s_problem_choices (self, path, field->choices);
    }
    else
    if (field->kind == S_UUID) {
        if (!s_valid_uuid (json_string_value (value), json_string_length (value)))
            s_problem (self, path, "not a UUID (8-4-4-4-12 hex digits)");
    }
    else
    if (field->kind == S_DATETIME) {
        if (!s_valid_datetime (json_string_value (value)))
            s_problem (self, path, "not an RFC 3339 date-time with offset or Z");
    }
    else
    if (field->kind == S_BIRTHDATE)
        s_check_birthdate (self, path, json_string_value (value));
}

static const s_field_t *
s_find_field (const s_field_t *fields, const char *name)
{
    for (; fields->name; fields++)
        if (streq (fields->name, name))
            return fields;
    return NULL;
}

//  Every rule in the table, then every key the table does not know.
//  At the top level (prefix "") the envelope names are known too.
static void
s_check_object (dv_request_t *self, json_t *object, const s_field_t *fields, const char *prefix)
{
    char path [S_PATH_MAX];
    for (const s_field_t *field = fields; field->name; field++) {
        s_path (path, sizeof path, prefix, field->name);
        json_t *value = json_object_get (object, field->name);
        if (value)
            s_check_field (self, path, field, value);
        else
        if (field->required)
            s_problem (self, path, "required");
    }
    const char *key;
    json_t *value;
    json_object_foreach (object, key, value) {
        bool envelope = !*prefix && s_name_index (s_envelope_names, key) >= 0;
        if (!envelope && !s_find_field (fields, key)) {
            s_path (path, sizeof path, prefix, key);
            s_problem (self, path, "unknown field");
        }
    }
}

//  Rules across fields of a referral
static void
s_check_referral_rules (dv_request_t *self, json_t *root)
{
    json_t *person = json_object_get (root, "person");
    if (json_is_object (person)
    &&  !json_object_get (person, "source_person_id")
    &&  !(json_object_get (person, "last_name") && json_object_get (person, "dob")))
        s_problem (self, "person", "needs source_person_id, or both last_name and dob");

    int pathway = dv_pathway_from_name (json_string_value (json_object_get (root, "pathway")));
    if ((pathway == DV_PATHWAY_ARREST_DIVERSION || pathway == DV_PATHWAY_PRETRIAL_DIVERSION)
    &&  !json_object_get (root, "offense"))
        s_problem (self, "offense", "required for arrest_diversion and pretrial_diversion");
}

static void
s_check_enrollment_rules (dv_request_t *self, json_t *root)
{
    const char *change = json_string_value (json_object_get (root, "change"));
    if (s_name_index (s_change_names, change) < 0)
        return;                             //  change itself is the problem
    bool exited = streq (change, "exited");
    if (exited && !json_object_get (root, "reason"))
        s_problem (self, "reason", "required when change is exited");
    else
    if (change && !exited && json_object_get (root, "reason"))
        s_problem (self, "reason", "only with change exited");
}


//  -------------------------------------------------------------------------
//  Envelope

static void
s_parse_failure (dv_request_t *self, json_error_t *error)
{
    const char *what;
    switch (json_error_code (error)) {
        case json_error_invalid_utf8:           what = "invalid UTF-8"; break;
        case json_error_duplicate_key:          what = "duplicate key"; break;
        case json_error_stack_overflow:         what = "nested too deeply"; break;
        case json_error_premature_end_of_input: what = "ends too early"; break;
        case json_error_end_of_input_expected:  what = "text after the value"; break;
        case json_error_numeric_overflow:       what = "number out of range"; break;
        case json_error_null_character:
        case json_error_null_byte_in_key:       what = "NUL character"; break;
        default:                                what = "syntax error"; break;
    }
    //  jansson's own text may quote the input, so it is not used
    char message [128];
    snprintf (message, sizeof message, "not JSON: %s (line %d, column %d)",
              what, error->line, error->column);
    s_set_failure (self, "invalid", message);
}

//  request_id and referral_id are kept even when the request is invalid,
//  so that the error reply can echo them
static void
s_capture_ids (dv_request_t *self)
{
    json_t *value = json_object_get (self->root, "request_id");
    if (json_is_string (value) && s_string_chars (value) <= S_REQUEST_ID_MAX)
        self->request_id = json_string_value (value);

    //  Echoed only when it is a UUID: a client that put something else in the
    //  field (a name, say) must not see it copied into replies or logs.
    value = json_object_get (self->root, "referral_id");
    if (json_is_string (value) && s_valid_uuid (json_string_value (value), json_string_length (value))) {
        const char *text = json_string_value (value);
        for (int index = 0; index < 36; index++)
            self->referral_id_buf [index] = (char) tolower ((unsigned char) text [index]);
        self->referral_id_buf [36] = '\0';
        self->referral_id = self->referral_id_buf;
    }
}

//  Returns false when the version is unsupported (nothing more is checked)
static bool
s_check_envelope (dv_request_t *self)
{
    json_t *version = json_object_get (self->root, "v");
    if (!version)
        s_problem (self, "v", "required");
    else
    if (!json_is_integer (version))
        s_problem (self, "v", "must be an integer");
    else
    if (json_integer_value (version) != 1) {
        s_problem (self, "v", "must be 1");
        s_set_failure (self, "unsupported_version",
                       "unsupported protocol version (this daemon speaks v1)");
        return false;
    }
    json_t *request_id = json_object_get (self->root, "request_id");
    if (request_id && !self->request_id) {
        if (json_is_string (request_id))
            s_problem (self, "request_id", "at most %d characters", S_REQUEST_ID_MAX);
        else
            s_problem (self, "request_id", "must be a string");
    }
    json_t *type = json_object_get (self->root, "type");
    int index = s_name_index (s_type_names, json_string_value (type));
    if (!type)
        s_problem (self, "type", "required");
    else
    if (!json_is_string (type))
        s_problem (self, "type", "must be a string");
    else
    if (index < 0)
        s_problem_choices (self, "type", s_type_names);
    else {
        self->type_known = true;
        self->type = (dv_req_type_t) index;
    }
    return true;
}


//  -------------------------------------------------------------------------
//  Valid requests: copy the fields out

static const char *
s_member_string (json_t *object, const char *name)
{
    return json_string_value (json_object_get (object, name));
}

static void
s_fill_referral (dv_request_t *self)
{
    json_t *root = self->root;
    json_t *person = json_object_get (root, "person");
    dv_referral_t *referral = &self->referral;
    referral->referral_id = self->referral_id;
    referral->pathway = (dv_pathway_t) dv_pathway_from_name (s_member_string (root, "pathway"));
    referral->submitted_at = s_member_string (root, "submitted_at");
    referral->source_person_id = s_member_string (person, "source_person_id");
    referral->first_name = s_member_string (person, "first_name");
    referral->last_name = s_member_string (person, "last_name");
    referral->dob = s_member_string (person, "dob");
    referral->area = s_member_string (root, "area");
    referral->housing = (dv_housing_t) dv_housing_from_name (s_member_string (root, "housing"));

    size_t index;
    json_t *item;
    json_array_foreach (json_object_get (root, "behavioral_health"), index, item) {
        if (streq (json_string_value (item), "substance_use"))
            referral->substance_use = true;
        else
            referral->mental_health = true;
    }
    referral->offense_code = s_member_string (json_object_get (root, "offense"), "code");
    referral->prior_contacts_12m =
        (int) json_integer_value (json_object_get (root, "prior_contacts_12m"));
    referral->consent = json_is_true (json_object_get (root, "consent"));
}

//  Payload: the referral without the envelope, referral_id canonical;
//  digest: lower-case hex SHA-1 of its sorted, compact, ASCII form
static int
s_make_payload (dv_request_t *self)
{
    self->payload = json_deep_copy (self->root);
    if (!self->payload)
        return -1;
    for (int index = 0; s_envelope_names [index]; index++)
        json_object_del (self->payload, s_envelope_names [index]);
    json_object_set_new (self->payload, "referral_id", json_string (self->referral_id));

    char *canonical = json_dumps (self->payload,
                                  JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    zdigest_t *digest = zdigest_new ();
    if (!canonical || !digest) {
        free (canonical);
        zdigest_destroy (&digest);
        return -1;
    }
    zdigest_update (digest, (const byte *) canonical, strlen (canonical));
    const char *hex = zdigest_string (digest);
    for (int index = 0; index < 40 && hex [index]; index++)
        self->digest [index] = (char) tolower ((unsigned char) hex [index]);
    self->digest [40] = '\0';
    zdigest_destroy (&digest);
    free (canonical);
    return 0;
}

static int
s_fill (dv_request_t *self)
{
    json_t *root = self->root;
    if (self->type == DV_REQ_REFERRAL) {
        s_fill_referral (self);
        return s_make_payload (self);
    }
    //  Each type's own fields; members a type doesn't have stay NULL / 0
    self->reason = s_member_string (root, "reason");
    self->source_id = s_member_string (root, "source_id");
    self->program = s_member_string (root, "program");
    self->change = s_member_string (root, "change");
    self->at = s_member_string (root, "at");
    self->case_manager = s_member_string (root, "case_manager");
    self->since_seq = json_integer_value (json_object_get (root, "since_seq"));
    json_t *limit = json_object_get (root, "limit");
    if (limit)
        self->limit = (int) json_integer_value (limit);
    return 0;
}


//  -------------------------------------------------------------------------
//  Public API

static void
s_validate (dv_request_t *self, const void *data, size_t size)
{
    json_error_t error;
    self->root = json_loadb (data? (const char *) data: "", data? size: 0,
                             JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &error);
    if (!self->root) {
        s_parse_failure (self, &error);
        return;
    }
    if (!json_is_object (self->root)) {
        s_set_failure (self, "invalid", "request must be a JSON object");
        return;
    }
    s_capture_ids (self);
    if (!s_check_envelope (self))
        return;
    if (self->type_known) {
        s_check_object (self, self->root, s_type_fields [self->type], "");
        if (self->type == DV_REQ_REFERRAL)
            s_check_referral_rules (self, self->root);
        else
        if (self->type == DV_REQ_ENROLLMENT)
            s_check_enrollment_rules (self, self->root);
    }
    size_t count = self->problems;
    if (count) {
        char message [96];
        if (count > DV_REQUEST_MAX_PROBLEMS)
            snprintf (message, sizeof message, "%zu fields are invalid (the first %d are listed)",
                      count, DV_REQUEST_MAX_PROBLEMS);
        else
            snprintf (message, sizeof message, count == 1? "1 field is invalid"
                                                         : "%zu fields are invalid", count);
        s_set_failure (self, "invalid", message);
    }
}

dv_request_t *
dv_request_new (const void *data, size_t size)
{
    dv_request_t *self = (dv_request_t *) calloc (1, sizeof (dv_request_t));
    if (!self)
        return NULL;
    self->errors = json_array ();
    if (!self->errors) {
        free (self);
        return NULL;
    }
    self->limit = 100;
    s_validate (self, data, size);
    if (!self->code) {
        if (s_fill (self)) {
            dv_request_destroy (&self);
            return NULL;
        }
        self->valid = true;
    }
    return self;
}

void
dv_request_destroy (dv_request_t **self_p)
{
    if (self_p && *self_p) {
        dv_request_t *self = *self_p;
        json_decref (self->payload);
        json_decref (self->errors);
        json_decref (self->root);
        free (self);
        *self_p = NULL;
    }
}

bool
dv_request_valid (dv_request_t *self)
{
    return self->valid;
}

const char *
dv_request_error_code (dv_request_t *self)
{
    return self->valid? NULL: self->code;
}

const char *
dv_request_error_message (dv_request_t *self)
{
    return self->valid? NULL: self->message;
}

json_t *
dv_request_errors (dv_request_t *self)
{
    return self->errors;
}

dv_req_type_t
dv_request_type (dv_request_t *self)
{
    return self->type;
}

const char *
dv_request_request_id (dv_request_t *self)
{
    return self->request_id;
}

const char *
dv_request_referral_id (dv_request_t *self)
{
    return self->referral_id;
}

const dv_referral_t *
dv_request_referral (dv_request_t *self)
{
    return self->valid && self->type == DV_REQ_REFERRAL? &self->referral: NULL;
}

json_t *
dv_request_payload (dv_request_t *self)
{
    return self->payload;
}

const char *
dv_request_digest (dv_request_t *self)
{
    return self->payload? self->digest: NULL;
}

const char *
dv_request_reason (dv_request_t *self)
{
    return self->reason;
}

int64_t
dv_request_since_seq (dv_request_t *self)
{
    return self->since_seq;
}

int
dv_request_limit (dv_request_t *self)
{
    return self->limit;
}

const char *
dv_request_source_id (dv_request_t *self)
{
    return self->source_id;
}

const char *
dv_request_program (dv_request_t *self)
{
    return self->program;
}

const char *
dv_request_change (dv_request_t *self)
{
    return self->change;
}

const char *
dv_request_at (dv_request_t *self)
{
    return self->at;
}

const char *
dv_request_case_manager (dv_request_t *self)
{
    return self->case_manager;
}

const char *
dv_pathway_name (dv_pathway_t pathway)
{
    return (unsigned) pathway < DV_PATHWAY_COUNT? s_pathway_names [pathway]: NULL;
}

const char *
dv_housing_name (dv_housing_t housing)
{
    return (unsigned) housing < DV_HOUSING_COUNT? s_housing_names [housing]: NULL;
}

int
dv_pathway_from_name (const char *name)
{
    return s_name_index (s_pathway_names, name);
}

const char *const *
dv_housing_names (void)
{
    return s_housing_names;
}

int
dv_housing_from_name (const char *name)
{
    return s_name_index (s_housing_names, name);
}

void
dv_request_set_today (int64_t days_since_epoch)
{
    s_today_override = days_since_epoch;
}
