/*  dv_report — what divertctl and divert-web share of the report
    (divert.report, sql/011_reports.sql, computes every figure): the one
    home of its CSV format and of a cell as people read it, and the days
    and periods of a report's arguments, checked before the database is
    asked. Pure: no database, no clock.
*/
#ifndef DV_REPORT_H
#define DV_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

//  The most periods divert-web asks divert.report for at once.
#define DV_REPORT_MAX_PERIODS 1000
//  The longest report divert.report makes (its "at most 10 years").
#define DV_REPORT_MAX_DAYS 3660

//  One value of a figure's row as people read it (text: integers, reals
//  with up to 10 significant digits, yes/no, "-" for null) or as CSV
//  holds it (true/false, empty for null); truncated to size.
void
    dv_report_cell (json_t *value, bool text, char *buffer, size_t size);

//  A figure's table (columns: array of names; rows: array of objects) as
//  CSV (RFC 4180 quoting, "\n" line ends) with a header line. A new string
//  (caller frees), or NULL when out of memory.
char *
    dv_report_csv (json_t *columns, json_t *rows);

//  YYYY-MM-DD, a real day in or after 1900: true with its number (days
//  from 1970-01-01) in *day (may be NULL), else false.
bool
    dv_report_day (const char *text, int64_t *day);
//  A day's number as YYYY-MM-DD.
void
    dv_report_day_text (int64_t day, char text [11]);

//  How many periods (day, week from Monday, month, or all) a report from
//  day `from` to day `to` (both included, from <= to) has, as
//  divert.report_periods counts them; -1 for another `by`.
int64_t
    dv_report_periods (int64_t from, int64_t to, const char *by);

#endif
