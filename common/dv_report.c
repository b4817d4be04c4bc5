/*  dv_report — the report's CSV, cells, days and periods, shared by
    divertctl report (clients/divertctl/report.c) and divert-web's report
    pages (clients/divert-web/report.c), so a CSV from either is the same,
    byte for byte.
*/
#include "dv_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
dv_report_cell (json_t *value, bool text, char *buffer, size_t size)
{
    if (json_is_string (value))
        snprintf (buffer, size, "%s", json_string_value (value));
    else
    if (json_is_integer (value))
        snprintf (buffer, size, "%lld", (long long) json_integer_value (value));
    else
    if (json_is_real (value))
        snprintf (buffer, size, "%.10g", json_real_value (value));
    else
    if (json_is_boolean (value))
        snprintf (buffer, size, "%s", json_is_true (value) ? (text ? "yes" : "true") : (text ? "no" : "false"));
    else
        snprintf (buffer, size, "%s", text ? "-" : "");
}

//  A field, quoted when it holds a comma, a quote or a line end.
static void
s_csv_field (FILE *file, const char *field)
{
    if (!strpbrk (field, ",\"\r\n")) {
        fputs (field, file);
        return;
    }
    fputc ('"', file);
    for (const char *c = field; *c; c++) {
        if (*c == '"')
            fputc ('"', file);
        fputc (*c, file);
    }
    fputc ('"', file);
}

static void
s_csv_value (FILE *file, json_t *value)
{
    char cell [64];
    if (json_is_string (value))
        s_csv_field (file, json_string_value (value));      //  whole, however long
    else {
        dv_report_cell (value, false, cell, sizeof cell);
        s_csv_field (file, cell);
    }
}

char *
dv_report_csv (json_t *columns, json_t *rows)
{
    char *text = NULL;
    size_t size = 0;
    FILE *file = open_memstream (&text, &size);
    if (!file)
        return NULL;
    size_t index, column;
    json_t *name, *row;
    json_array_foreach (columns, column, name) {
        if (column)
            fputc (',', file);
        s_csv_field (file, json_is_string (name) ? json_string_value (name) : "");
    }
    fputc ('\n', file);
    json_array_foreach (rows, index, row) {
        json_array_foreach (columns, column, name) {
            if (column)
                fputc (',', file);
            s_csv_value (file, json_object_get (row, json_string_value (name)));
        }
        fputc ('\n', file);
    }
    bool failed = ferror (file) != 0;
    if (fclose (file) || failed) {
        free (text);
        return NULL;
    }
    return text;
}


//  --------------------------------------------------------------------------
//  Days: numbers from 1970-01-01 in the proleptic Gregorian calendar
//  (H. Hinnant's days_from_civil and civil_from_days).

static int64_t
s_floor_div (int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int64_t
s_days_from_civil (int64_t year, int month, int day)
{
    year -= month <= 2;
    int64_t era = s_floor_div (year, 400);
    int64_t yoe = year - era * 400;
    int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void
s_civil_from_days (int64_t days, int64_t *year, int *month, int *day)
{
    days += 719468;
    int64_t era = s_floor_div (days, 146097);
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *day = (int) (doy - (153 * mp + 2) / 5 + 1);
    *month = (int) (mp < 10 ? mp + 3 : mp - 9);
    *year = yoe + era * 400 + (*month <= 2);
}

bool
dv_report_day (const char *text, int64_t *day)
{
    static const int days [] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (!text || strlen (text) != 10 || text [4] != '-' || text [7] != '-'
    ||  strspn (text, "0123456789") != 4 || strspn (text + 5, "0123456789") != 2
    ||  strspn (text + 8, "0123456789") != 2)
        return false;
    int year = atoi (text), month = atoi (text + 5), mday = atoi (text + 8);
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (year < 1900 || month < 1 || month > 12 || mday < 1 || mday > days [month - 1]
    ||  (month == 2 && mday == 29 && !leap))
        return false;
    if (day)
        *day = s_days_from_civil (year, month, mday);
    return true;
}

void
dv_report_day_text (int64_t day, char text [11])
{
    int64_t year;
    int month, mday;
    s_civil_from_days (day, &year, &month, &mday);
    char full [48];
    snprintf (full, sizeof full, "%04lld-%02d-%02d", (long long) year, month, mday);
    snprintf (text, 11, "%.10s", full);
}

int64_t
dv_report_periods (int64_t from, int64_t to, const char *by)
{
    if (!by)
        return -1;
    if (strcmp (by, "day") == 0)
        return to - from + 1;
    if (strcmp (by, "week") == 0) {
        //  1970-01-01 was a Thursday: Monday is 3 days before.
        int64_t first = from - (((from + 3) % 7) + 7) % 7;
        int64_t last = to - (((to + 3) % 7) + 7) % 7;
        return (last - first) / 7 + 1;
    }
    if (strcmp (by, "month") == 0) {
        int64_t y1, y2;
        int m1, m2, d;
        s_civil_from_days (from, &y1, &m1, &d);
        s_civil_from_days (to, &y2, &m2, &d);
        return (y2 * 12 + m2) - (y1 * 12 + m1) + 1;
    }
    if (strcmp (by, "all") == 0)
        return 1;
    return -1;
}
