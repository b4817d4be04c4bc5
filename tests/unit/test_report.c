/*  test_report — common/dv_report.c, what divertctl report and divert-web's
    report pages share: the CSV format (quoting, nulls, booleans, numbers,
    long strings), cells as people read them, days as YYYY-MM-DD (real days
    only, from 1900) and the number of periods of a report by day, week
    (from Monday), month and all, as divert.report_periods counts them.
*/
#include "dv_report.h"
#include "testlib.h"

#include <stdlib.h>
#include <string.h>

static char *
s_csv (const char *columns, const char *rows)
{
    json_t *c = json_loads (columns, 0, NULL), *r = json_loads (rows, 0, NULL);
    char *csv = dv_report_csv (c, r);
    json_decref (c);
    json_decref (r);
    return csv;
}

TEST (csv_values)
{
    char *csv = s_csv ("[\"program\", \"period\", \"n\", \"rate\", \"active\", \"funded\"]",
                       "[{\"program\": \"LEAD\", \"period\": \"2025-03-01\", \"n\": 12, \"rate\": 0.4286,"
                       "  \"active\": true, \"funded\": null},"
                       " {\"program\": \"CO-LEAD\", \"period\": \"2025-03-01\", \"n\": 0, \"rate\": 33.7,"
                       "  \"active\": false}]");
    CHECK_STR (csv, "program,period,n,rate,active,funded\n"
                    "LEAD,2025-03-01,12,0.4286,true,\n"
                    "CO-LEAD,2025-03-01,0,33.7,false,\n");
    free (csv);
}

TEST (csv_quoting)
{
    char *csv = s_csv ("[\"a\", \"b,c\"]",
                       "[{\"a\": \"x,y\", \"b,c\": \"say \\\"hi\\\"\"}, {\"a\": \"two\\nlines\", \"b,c\": \"cr\\r\"}]");
    CHECK_STR (csv, "a,\"b,c\"\n\"x,y\",\"say \"\"hi\"\"\"\n\"two\nlines\",\"cr\r\"\n");
    free (csv);
}

TEST (csv_empty_and_long)
{
    char *csv = s_csv ("[\"a\"]", "[]");
    CHECK_STR (csv, "a\n");
    free (csv);
    //  A string is never cut short, whatever its length.
    char long_text [600];
    memset (long_text, 'x', sizeof long_text - 1);
    long_text [sizeof long_text - 1] = 0;
    json_t *columns = json_pack ("[s]", "a"), *rows = json_pack ("[{s:s}]", "a", long_text);
    csv = dv_report_csv (columns, rows);
    CHECK_INT (csv ? strlen (csv) : 0, 2 + sizeof long_text);
    free (csv);
    json_decref (columns);
    json_decref (rows);
}

TEST (cells_for_people)
{
    char cell [32];
    json_t *values [] = { json_null (), json_true (), json_false (), json_integer (-7), json_real (2.5),
                          json_string ("LEAD") };
    const char *text [] = { "-", "yes", "no", "-7", "2.5", "LEAD" };
    const char *csv [] = { "", "true", "false", "-7", "2.5", "LEAD" };
    for (size_t i = 0; i < sizeof values / sizeof values [0]; i++) {
        dv_report_cell (values [i], true, cell, sizeof cell);
        CHECK_STR (cell, text [i]);
        dv_report_cell (values [i], false, cell, sizeof cell);
        CHECK_STR (cell, csv [i]);
        json_decref (values [i]);
    }
    dv_report_cell (NULL, true, cell, sizeof cell);
    CHECK_STR (cell, "-");
}

TEST (days)
{
    static const struct { const char *text; bool valid; long long day; } rows [] = {
        { "1970-01-01", true, 0 }, { "1970-01-02", true, 1 }, { "1969-12-31", true, -1 },
        { "1900-01-01", true, -25567 }, { "2000-02-29", true, 11016 }, { "2025-03-03", true, 20150 },
        { "2024-02-29", true, 19782 }, { "2025-02-29", false, 0 }, { "1900-02-29", false, 0 },
        { "2025-04-31", false, 0 }, { "2025-13-01", false, 0 }, { "2025-00-10", false, 0 },
        { "2025-01-00", false, 0 }, { "1899-12-31", false, 0 }, { "2025-3-03", false, 0 },
        { "2025-03-03 ", false, 0 }, { "03/03/2025", false, 0 }, { "", false, 0 }, { "+025-03-03", false, 0 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        int64_t day = 12345;
        bool valid = dv_report_day (rows [i].text, &day);
        CHECKF (valid == rows [i].valid, "'%s' valid: %d", rows [i].text, valid);
        if (valid && rows [i].valid) {
            CHECKF (day == rows [i].day, "'%s' is day %lld, expected %lld", rows [i].text, (long long) day,
                    rows [i].day);
            char text [11];
            dv_report_day_text (day, text);
            CHECK_STR (text, rows [i].text);
        }
    }
    CHECK (!dv_report_day (NULL, NULL));
    //  Every day from 1900 to 2100 reads back as itself.
    int64_t first, last;
    CHECK (dv_report_day ("1900-01-01", &first) && dv_report_day ("2100-12-31", &last));
    int broken = 0;
    for (int64_t day = first; day <= last; day++) {
        char text [11];
        int64_t back = 0;
        dv_report_day_text (day, text);
        if (!dv_report_day (text, &back) || back != day)
            broken++;
    }
    CHECK_INT (broken, 0);
}

static long long
s_periods (const char *from, const char *to, const char *by)
{
    int64_t a = 0, b = 0;
    if (!dv_report_day (from, &a) || !dv_report_day (to, &b))
        return -99;
    return dv_report_periods (a, b, by);
}

TEST (periods)
{
    static const struct { const char *from, *to, *by; long long periods; } rows [] = {
        { "2025-03-03", "2025-03-09", "day", 7 }, { "2025-03-03", "2025-03-03", "day", 1 },
        { "2024-01-01", "2024-12-31", "day", 366 },
        { "2025-03-03", "2025-03-09", "week", 1 },      //  Monday to Sunday
        { "2025-03-02", "2025-03-03", "week", 2 },      //  Sunday, Monday
        { "2025-03-04", "2025-03-06", "week", 1 },
        { "2024-12-30", "2025-01-05", "week", 1 },      //  a week across the year
        { "1969-12-29", "1970-01-04", "week", 1 },      //  days before 1970
        { "1900-01-01", "1900-01-08", "week", 2 },      //  1900-01-01 was a Monday
        { "2025-03-01", "2025-03-31", "week", 6 },      //  Sat 1 .. Mon 31
        { "2025-01-31", "2025-03-01", "month", 3 }, { "2024-12-15", "2025-01-15", "month", 2 },
        { "2025-03-01", "2025-03-31", "month", 1 }, { "2015-01-01", "2025-01-01", "month", 121 },
        { "2025-03-01", "2025-03-31", "all", 1 }, { "2000-01-01", "2025-03-31", "all", 1 },
        { "2025-03-01", "2025-03-31", "year", -1 }, { "2025-03-01", "2025-03-31", "", -1 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        long long got = s_periods (rows [i].from, rows [i].to, rows [i].by);
        CHECKF (got == rows [i].periods, "%s..%s by %s: %lld periods, expected %lld", rows [i].from, rows [i].to,
                rows [i].by, got, rows [i].periods);
    }
    CHECK_INT (dv_report_periods (0, 0, NULL), -1);
}

int
main (void)
{
    TESTLIB_BEGIN ("test_report");
    RUN (csv_values);
    RUN (csv_quoting);
    RUN (csv_empty_and_long);
    RUN (cells_for_people);
    RUN (days);
    RUN (periods);
    return TESTLIB_END ();
}
