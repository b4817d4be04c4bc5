/*  report — `divertctl report`: the figures for funders and evaluators, and
    the evaluator's extract.

      report [--program P] [--from DATE] [--to DATE] [--by day|week|month|all]
             [--figure NAME,...] [--format text|csv|json] [--out DIR] [--summary]
      report --evaluator [--format csv] [--program P] [--from DATE] [--to DATE] [--out DIR]

    Every figure is computed in the database, once (divert.report and
    divert.report_extract, sql/011_reports.sql), from the decision events,
    the waitlist and the enrollment, staff and policy history; divert-web
    draws the same JSON. This file only lays it out: tables for people
    (text; --summary: one short block per program for the whole period),
    CSV (one file per figure in --out DIR, or one figure on stdout; the
    format is common/dv_report.c's, divert-web's downloads are the same),
    JSON (everything). The extract is one CSV table, one row per referral, with
    pseudonyms instead of people: no name, date of birth, note, contact or
    id that a source chose ever reaches it, and the site secret behind the
    pseudonyms never leaves the database.
*/
#include "divertctl.h"
#include "dv_report.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_CELL_MAX 160
#define S_WRAP 92

static const char *s_report_sql =
    "SELECT divert.report($1, $2::date, $3::date, $4, string_to_array($5, ','))";
static const char *s_extract_sql = "SELECT divert.report_extract($1, $2::date, $3::date)";

typedef struct {
    const char *program, *from, *to, *by, *figures, *format, *out;
    bool evaluator, summary;
} s_args_t;


//  --------------------------------------------------------------------------
//  Arguments

static bool
s_one_of (const char *value, const char *const *choices)
{
    for (; *choices; choices++)
        if (strcmp (value, *choices) == 0)
            return true;
    return false;
}

static int
s_check (const s_args_t *a)
{
    static const char *formats [] = { "text", "csv", "json", NULL };
    static const char *bys [] = { "day", "week", "month", "all", NULL };
    if (!s_one_of (a->format, formats))
        return ctl_usage ("report: --format must be text, csv or json, not '%s'", a->format);
    if (a->by && !s_one_of (a->by, bys))
        return ctl_usage ("report: --by must be day, week, month or all, not '%s'", a->by);
    if (a->evaluator && strcmp (a->format, "csv"))
        return ctl_usage ("report: --evaluator writes CSV only (--format csv)");
    if (a->evaluator && (a->by || a->figures || a->summary))
        return ctl_usage ("report: --evaluator takes --program, --from, --to and --out only");
    if (a->summary && (strcmp (a->format, "text") || a->by || a->figures))
        return ctl_usage ("report: --summary is the short text layout for the whole period"
                          " (no --by, --figure or --format)");
    if (!a->evaluator && !strcmp (a->format, "csv") && !a->out && (!a->figures || strchr (a->figures, ',')))
        return ctl_usage ("report: CSV is one file per figure: give --out DIR, or --figure NAME for one on stdout");
    if (a->figures && (!*a->figures || strspn (a->figures, "abcdefghijklmnopqrstuvwxyz_,") != strlen (a->figures)))
        return ctl_usage ("report: --figure takes figure names separated by commas (see divertctl(8))");
    if (a->from && !dv_report_day (a->from, NULL))
        return ctl_fail ("--from must be a day as YYYY-MM-DD (2026-03-01), not '%s'", a->from);
    if (a->to && !dv_report_day (a->to, NULL))
        return ctl_fail ("--to must be a day as YYYY-MM-DD (2026-03-31), not '%s'", a->to);
    return CTL_OK;
}


//  --------------------------------------------------------------------------
//  CSV

//  A table (columns, rows of objects) as CSV with a header line: the one
//  format, common/dv_report.c, that divert-web's downloads share.
static int
s_write_csv (FILE *file, json_t *columns, json_t *rows)
{
    char *csv = dv_report_csv (columns, rows);
    if (!csv)
        return ctl_fail ("out of memory");
    fputs (csv, file);
    free (csv);
    return CTL_OK;
}


//  --------------------------------------------------------------------------
//  Text: one table per figure

static void
s_wrap (FILE *file, const char *text, const char *indent)
{
    size_t column = 0;
    const char *word = text;
    while (*word) {
        size_t len = strcspn (word, " ");
        if (column > 0 && column + 1 + len > S_WRAP) {
            fputc ('\n', file);
            column = 0;
        }
        if (column == 0)
            column = (size_t) fprintf (file, "%s", indent);
        else {
            fputc (' ', file);
            column++;
        }
        column += fwrite (word, 1, len, file);
        word += len;
        word += strspn (word, " ");
    }
    if (column)
        fputc ('\n', file);
}

static void
s_print_table (FILE *file, json_t *columns, json_t *rows)
{
    size_t count = json_array_size (columns), index, column;
    size_t *width = calloc (count + 1, sizeof *width);
    bool *numeric = calloc (count + 1, sizeof *numeric);
    if (!width || !numeric) {
        free (width);
        free (numeric);
        return;
    }
    json_t *name, *row;
    json_array_foreach (columns, column, name) {
        width [column] = strlen (json_string_value (name));
        numeric [column] = true;
    }
    json_array_foreach (rows, index, row)
        json_array_foreach (columns, column, name) {
            json_t *value = json_object_get (row, json_string_value (name));
            char cell [S_CELL_MAX];
            dv_report_cell (value, true, cell, sizeof cell);
            if (strlen (cell) > width [column])
                width [column] = strlen (cell);
            if (!json_is_number (value) && !json_is_null (value))
                numeric [column] = false;
        }
    fputs ("  ", file);
    json_array_foreach (columns, column, name)
        fprintf (file, "%s%*s", column ? "  " : "", numeric [column] ? (int) width [column] : -(int) width [column],
                 json_string_value (name));
    fputc ('\n', file);
    json_array_foreach (rows, index, row) {
        fputs ("  ", file);
        json_array_foreach (columns, column, name) {
            char cell [S_CELL_MAX];
            dv_report_cell (json_object_get (row, json_string_value (name)), true, cell, sizeof cell);
            fprintf (file, "%s%*s", column ? "  " : "", numeric [column] ? (int) width [column] : -(int) width [column],
                     cell);
        }
        fputc ('\n', file);
    }
    if (json_array_size (rows) == 0)
        fputs ("  (nothing in this period)\n", file);
    free (width);
    free (numeric);
}

static void
s_print_header (FILE *file, json_t *report)
{
    char programs [512];
    ctl_join (json_object_get (report, "programs"), "-", programs, sizeof programs);
    const char *by = ctl_str (report, "by");
    fprintf (file, "divert report: %s to %s, %s%s; %s; days in %s\n", ctl_str (report, "from"),
             ctl_str (report, "to"), by && strcmp (by, "all") ? "by " : "",
             by && strcmp (by, "all") ? by : "the whole period", programs, ctl_str (report, "time_zone"));
}

static void
s_print_text (FILE *file, json_t *report)
{
    s_print_header (file, report);
    size_t index;
    json_t *figure;
    json_array_foreach (json_object_get (report, "figures"), index, figure) {
        fprintf (file, "\n%s\n", ctl_str (figure, "title"));
        s_wrap (file, ctl_str (figure, "about"), "  ");
        s_print_table (file, json_object_get (figure, "columns"), json_object_get (figure, "rows"));
    }
}


//  --------------------------------------------------------------------------
//  Text: the summary (one period: the whole report)

static json_t *
s_figure_rows (json_t *report, const char *name)
{
    size_t index;
    json_t *figure;
    json_array_foreach (json_object_get (report, "figures"), index, figure)
        if (strcmp (ctl_str (figure, "name"), name) == 0)
            return json_object_get (figure, "rows");
    return NULL;
}

//  The first row of figure `name` for program, or NULL.
static json_t *
s_program_row (json_t *report, const char *name, const char *program)
{
    size_t index;
    json_t *row;
    json_array_foreach (s_figure_rows (report, name), index, row)
        if (strcmp (ctl_str (row, "program"), program) == 0)
            return row;
    return NULL;
}

//  A row's value as people read it, in one of a few rotating buffers (enough
//  for one line of the summary).
static const char *
s_value (json_t *row, const char *key)
{
    static char buffers [16][S_CELL_MAX];
    static size_t next;
    char *buffer = buffers [next++ % 16];
    dv_report_cell (json_object_get (row, key), true, buffer, S_CELL_MAX);
    return buffer;
}

//  A rate (0..1) as a percentage with at most one decimal.
static const char *
s_percent (json_t *row, const char *key)
{
    static char buffers [4][32];
    static size_t next;
    char *buffer = buffers [next++ % 4];
    json_t *value = json_object_get (row, key);
    if (!json_is_number (value))
        snprintf (buffer, 32, "-");
    else
        snprintf (buffer, 32, "%g%%", round (json_number_value (value) * 1000.0) / 10.0);
    return buffer;
}

//  "k1 v1, k2 v2" from the program's rows of a figure broken down by `key`.
static void
s_breakdown (FILE *file, json_t *report, const char *name, const char *program, const char *key,
             const char *count)
{
    size_t index, shown = 0;
    json_t *row;
    json_array_foreach (s_figure_rows (report, name), index, row)
        if (strcmp (ctl_str (row, "program"), program) == 0)
            fprintf (file, "%s%s %s", shown++ ? ", " : "", ctl_str (row, key), s_value (row, count));
    fputs (shown ? "\n" : "none\n", file);
}

static void
s_summary_program (FILE *file, json_t *report, const char *program)
{
    fprintf (file, "\n%s\n", program);
    json_t *row = s_program_row (report, "referrals", program);
    fprintf (file, "  referrals       %s: %s accepted, %s waitlisted, %s declined at intake\n",
             s_value (row, "referrals"), s_value (row, "accepted"), s_value (row, "waitlisted"),
             s_value (row, "declined"));
    fputs ("  pathways        ", file);
    s_breakdown (file, report, "referrals_by_pathway", program, "pathway", "referrals");
    fputs ("  sources         ", file);
    s_breakdown (file, report, "referrals_by_source_kind", program, "source_kind", "referrals");
    fputs ("  accepted        ", file);
    size_t index, shown = 0;
    json_array_foreach (s_figure_rows (report, "acceptance_by_tier"), index, row)
        if (strcmp (ctl_str (row, "program"), program) == 0)
            fprintf (file, "%stier %s: %s of %s (%s)", shown++ ? "; " : "", s_value (row, "tier"),
                     s_value (row, "accepted"), s_value (row, "referrals"), s_percent (row, "acceptance_rate"));
    fputs (shown ? "\n" : "none\n", file);
    row = s_program_row (report, "waitlist", program);
    fprintf (file, "  waitlist        %s waits ended: %s promoted, %s expired, %s withdrawn; days p50 %s, p90 %s\n",
             s_value (row, "waits_ended"), s_value (row, "promoted"), s_value (row, "expired"),
             s_value (row, "withdrawn"), s_value (row, "days_p50"), s_value (row, "days_p90"));
    row = s_program_row (report, "intake", program);
    fprintf (file, "  intake          %s completed, %s lapsed, %s ended otherwise (lapse rate %s);"
             " days to intake p50 %s, p90 %s\n", s_value (row, "completed"), s_value (row, "lapsed"),
             s_value (row, "ended_otherwise"), s_percent (row, "lapse_rate"), s_value (row, "days_p50"),
             s_value (row, "days_p90"));
    fputs ("  exits           ", file);
    s_breakdown (file, report, "exits", program, "reason", "exits");
    row = s_program_row (report, "length_of_stay", program);
    fprintf (file, "  length of stay  %s who completed intake: days p50 %s, p90 %s\n",
             s_value (row, "exits"), s_value (row, "stay_days_p50"), s_value (row, "stay_days_p90"));
    row = s_program_row (report, "capacity", program);
    bool one = json_integer_value (json_object_get (row, "case_managers")) == 1;
    fprintf (file, "  at the end      %s case manager%s %s %s (average %s; target %s, hard cap %s);"
             " paced %s (funded %s)\n", s_value (row, "case_managers"), one ? "" : "s", one ? "holds" : "hold",
             s_value (row, "total"), s_value (row, "average"), s_value (row, "target_avg"),
             s_value (row, "hard_cap"), s_value (row, "paced"), s_value (row, "funded"));
    fprintf (file, "                  free %s; waitlist %s; staffing gap %s\n", s_value (row, "free"),
             s_value (row, "waitlist"), s_value (row, "staffing_gap"));
}

static void
s_print_summary (FILE *file, json_t *report)
{
    s_print_header (file, report);
    size_t index;
    json_t *program;
    json_array_foreach (json_object_get (report, "programs"), index, program)
        s_summary_program (file, report, json_string_value (program));
}


//  --------------------------------------------------------------------------
//  Output: stdout, or files in --out DIR

static int
s_make_dir (const char *dir)
{
    struct stat st;
    if (mkdir (dir, 0750) && errno != EEXIST)
        return ctl_fail ("cannot create %s: %s", dir, strerror (errno));
    if (stat (dir, &st) || !S_ISDIR (st.st_mode))
        return ctl_fail ("%s is not a directory", dir);
    return CTL_OK;
}

//  Open DIR/NAME for writing (mode 0600 when private); NULL after an error.
static FILE *
s_open (const char *dir, const char *name, bool private_file, char *path, size_t size)
{
    snprintf (path, size, "%s/%s", dir, name);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, private_file ? 0600 : 0644);
    if (fd >= 0 && private_file)
        (void) fchmod (fd, 0600);
    FILE *file = fd >= 0 ? fdopen (fd, "w") : NULL;
    if (!file) {
        ctl_fail ("cannot write %s: %s", path, strerror (errno));
        if (fd >= 0)
            close (fd);
    }
    return file;
}

static int
s_close (FILE *file, const char *path)
{
    bool failed = ferror (file) != 0;
    if (fclose (file) || failed)
        return ctl_fail ("cannot write %s", path);
    return CTL_OK;
}

static int
s_write_json (FILE *file, json_t *json)
{
    if (json_dumpf (json, file, JSON_INDENT (2) | JSON_REAL_PRECISION (10)))
        return ctl_fail ("out of memory");
    fputc ('\n', file);
    return CTL_OK;
}

//  Every figure (or the only one, on stdout) as CSV.
static int
s_output_csv (json_t *report, const char *dir)
{
    size_t index;
    json_t *figure;
    json_array_foreach (json_object_get (report, "figures"), index, figure) {
        json_t *columns = json_object_get (figure, "columns"), *rows = json_object_get (figure, "rows");
        if (!dir) {
            if (s_write_csv (stdout, columns, rows))
                return CTL_FAIL;
            continue;
        }
        char name [128], path [4096];
        snprintf (name, sizeof name, "%s.csv", ctl_str (figure, "name"));
        FILE *file = s_open (dir, name, false, path, sizeof path);
        if (!file)
            return CTL_FAIL;
        int rc = s_write_csv (file, columns, rows);
        if (s_close (file, path) || rc)
            return CTL_FAIL;
        printf ("wrote %s (%zu rows)\n", path, json_array_size (rows));
    }
    return CTL_OK;
}

static int
s_output (const s_args_t *a, json_t *report)
{
    if (a->out && s_make_dir (a->out))
        return CTL_FAIL;
    if (a->evaluator) {
        json_t *columns = json_object_get (report, "columns"), *rows = json_object_get (report, "rows");
        if (!a->out)
            return s_write_csv (stdout, columns, rows);
        char path [4096];
        FILE *file = s_open (a->out, "evaluator.csv", true, path, sizeof path);
        if (!file)
            return CTL_FAIL;
        int rc = s_write_csv (file, columns, rows);
        if (s_close (file, path) || rc)
            return CTL_FAIL;
        printf ("wrote %s (%zu referrals)\n", path, json_array_size (rows));
        return CTL_OK;
    }
    if (strcmp (a->format, "csv") == 0)
        return s_output_csv (report, a->out);
    bool json = strcmp (a->format, "json") == 0;
    char path [4096];
    FILE *file = a->out ? s_open (a->out, json ? "report.json" : "report.txt", false, path, sizeof path) : stdout;
    if (!file)
        return CTL_FAIL;
    int rc = CTL_OK;
    if (json)
        rc = s_write_json (file, report);
    else
    if (a->summary)
        s_print_summary (file, report);
    else
        s_print_text (file, report);
    if (a->out) {
        if (s_close (file, path))
            return CTL_FAIL;
        if (rc == CTL_OK)
            printf ("wrote %s\n", path);
    }
    return rc;
}


//  --------------------------------------------------------------------------

int
ctl_report (ctl_t *ctl, int argc, char **argv)
{
    ctl_opt_t opts [] = {
        { "--program", true, NULL }, { "--from", true, NULL }, { "--to", true, NULL }, { "--by", true, NULL },
        { "--figure", true, NULL }, { "--format", true, NULL }, { "--out", true, NULL },
        { "--evaluator", false, NULL }, { "--summary", false, NULL }, { NULL, false, NULL }
    };
    const char *pos [1];
    int npos;
    if (ctl_parse ("report", argc, argv, 1, opts, pos, 0, &npos))
        return CTL_USAGE;
    s_args_t a = {
        ctl_opt (opts, "--program"), ctl_opt (opts, "--from"), ctl_opt (opts, "--to"), ctl_opt (opts, "--by"),
        ctl_opt (opts, "--figure"), ctl_opt (opts, "--format"), ctl_opt (opts, "--out"),
        ctl_opt (opts, "--evaluator") != NULL, ctl_opt (opts, "--summary") != NULL
    };
    if (!a.format)
        a.format = a.evaluator ? "csv" : "text";
    int rc = s_check (&a);
    if (rc != CTL_OK)
        return rc;
    dv_db_t *db = ctl_db (ctl);
    if (!db)
        return CTL_FAIL;
    json_t *report;
    if (a.evaluator) {
        const char *params [] = { a.program, a.from, a.to };
        report = ctl_json (db, s_extract_sql, 3, params);
    }
    else {
        const char *params [] = { a.program, a.from, a.to, a.summary ? "all" : a.by ? a.by : "day", a.figures };
        report = ctl_json (db, s_report_sql, 5, params);
    }
    if (!report)
        return CTL_FAIL;
    rc = s_output (&a, report);
    json_decref (report);
    return rc;
}
