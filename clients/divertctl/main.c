/*  divertctl — the operator tool of divert: migrations, keys, staff, policy,
    enrollments, what the system is doing (status, waitlist, explain), and
    personal data (site retention, purge, audit).
    This file holds the global options, the command table and the usage text.
    It talks to PostgreSQL with the same conninfo rules as divertd (-d, or
    libpq's PG* environment variables).
*/
#include "divertctl.h"

#include <stdio.h>
#include <string.h>

#ifndef DIVERT_VERSION
#   define DIVERT_VERSION "dev"
#endif

static const char *s_usage =
"usage: divertctl [-d CONNINFO] [--sql-dir DIR] COMMAND [ARGS]\n"
"\n"
"The database is libpq's conninfo (-d / --conninfo) or its PG* environment.\n"
"Listing commands take --json for machines.\n"
"\n"
"Schema and keys\n"
"  migrate                                  apply pending migrations (safe to re-run)\n"
"  keygen PATH                              write a CURVE keypair as PATH and PATH_secret\n"
"  source add ID --kind police|community|court|prosecutor --name NAME\n"
"             (--cert-out PATH | --public-key Z85)\n"
"                                           register a referral source and its key\n"
"  source revoke ID | source list [--json]\n"
"  monitor add ID (--cert-out PATH | --public-key Z85) [--name NAME]\n"
"  monitor revoke ID | monitor list [--json]\n"
"  cms add ID --programs P,Q --name NAME (--cert-out PATH | --public-key Z85)\n"
"                                           a case-management system's key, for its programs\n"
"  cms revoke ID | cms list [--json]\n"
"\n"
"Staff\n"
"  cm add ID --program P --name NAME [--area A]   add a case manager (or bring one back)\n"
"  cm deactivate ID | cm list [--program P] [--json]\n"
"  outreach add ID --name NAME | outreach deactivate ID | outreach list [--json]\n"
"\n"
"Enrollments\n"
"  enrollment set REFERRAL_ID active|in_the_wind [--source S]\n"
"                                           intake completed, in the wind, re-engaged\n"
"  discharge REFERRAL_ID --reason R [--source S]   the enrollment exits; its slot frees\n"
"             R: graduated, moved, declined_services, incarcerated, deceased, other\n"
"  transfer REFERRAL_ID CM [--source S]     to another case manager, never above the cap\n"
"\n"
"Policy\n"
"  program set NAME [--hard-cap N] [--target-avg N] [--funded N|none]\n"
"              [--pacing-margin F] [--reserve-tier1 N] [--reserve-tier2 N]\n"
"              [--waitlist-cap N] [--waitlist-ttl DUR] [--intake-window DUR]\n"
"              [--term DUR|none] [--areas a,b,c] [--exclude-offenses CODE,CODE]\n"
"              [--pretrial-overflow decline|waitlist] [--accepts-housing h1,h2]\n"
"  program add NAME --housing h1,h2 [--model M] [same options as set]\n"
"  program show [NAME] [--json]\n"
"  DUR is a whole number with ms, s, m, h or d (30d, 90s); --areas \"\" = the whole jurisdiction.\n"
"\n"
"What is happening\n"
"  status [--json]                          caseloads, free slots, waitlist, staffing gap, daemons\n"
"  waitlist [PROGRAM] [--json]              the waitlist in promotion order\n"
"  explain REFERRAL_ID [--source S] [--json]   every decision about one referral, and why\n"
"\n"
"Personal data\n"
"  site set --retention DUR | site show [--json]      DUR as above, or years: 3y\n"
"                                           how long personal data is kept after a referral's\n"
"                                           last decision or enrollment change (default 3y)\n"
"  purge [--dry-run] [--json]               remove the personal data past the retention\n"
"                                           (never of a person with an open case)\n"
"  audit access [--referral ID] [--user U] [--key K] [--since T] [--json]\n"
"                                           every disclosure of personal data: who, what, when\n"
"  audit purges [--json]                    every purge run\n"
"\n"
"divert-web users\n"
"  user add NAME --role partner:SOURCE|case_manager:CM|program|admin [--password-stdin]\n"
"  user passwd NAME [--password-stdin]      a new password (their sessions end)\n"
"  user disable NAME | user enable NAME | user list [--json]\n"
"\n"
"  help, --help, -h                         this text;  --version, -V\n";

typedef int (ctl_command_fn) (ctl_t *ctl, int argc, char **argv);

static const struct {
    const char *name;
    ctl_command_fn *run;
} s_commands [] = {
    { "migrate", ctl_migrate },
    { "keygen", ctl_keygen },
    { "source", ctl_source },
    { "monitor", ctl_monitor },
    { "cms", ctl_cms },
    { "cm", ctl_cm },
    { "outreach", ctl_outreach },
    { "enrollment", ctl_enrollment },
    { "discharge", ctl_discharge },
    { "transfer", ctl_transfer },
    { "program", ctl_program },
    { "status", ctl_status },
    { "waitlist", ctl_waitlist },
    { "explain", ctl_explain },
    { "site", ctl_site },
    { "purge", ctl_purge },
    { "audit", ctl_audit },
    { "user", ctl_user },
};

static bool
s_is_help (const char *arg)
{
    return strcmp (arg, "help") == 0 || strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0;
}

//  Global options before the command; returns the command's index or -1.
static int
s_global_options (ctl_t *ctl, int argc, char **argv)
{
    int index = 1;
    while (index < argc && argv [index][0] == '-' && !s_is_help (argv [index])) {
        const char *arg = argv [index];
        const char **target = NULL;
        if (strcmp (arg, "-d") == 0 || strcmp (arg, "--conninfo") == 0)
            target = &ctl->conninfo;
        else
        if (strcmp (arg, "--sql-dir") == 0)
            target = &ctl->sql_dir;
        else
        if (strncmp (arg, "--conninfo=", 11) == 0) {
            ctl->conninfo = arg + 11;
            index++;
            continue;
        }
        else
        if (strncmp (arg, "--sql-dir=", 10) == 0) {
            ctl->sql_dir = arg + 10;
            index++;
            continue;
        }
        else
        if (strcmp (arg, "--version") == 0 || strcmp (arg, "-V") == 0) {
            printf ("divertctl %s (schema version %d)\n", DIVERT_VERSION, DV_SCHEMA_VERSION);
            return 0;
        }
        else {
            ctl_usage ("unknown option '%s'", arg);
            return -1;
        }
        if (index + 1 >= argc) {
            ctl_usage ("%s needs a value", arg);
            return -1;
        }
        *target = argv [index + 1];
        index += 2;
    }
    return index;
}

int
main (int argc, char **argv)
{
    ctl_t ctl = { NULL, NULL, NULL };
    int index = s_global_options (&ctl, argc, argv);
    if (index <= 0)
        return index == 0 ? CTL_OK : CTL_USAGE;
    if (index >= argc) {
        fputs (s_usage, stderr);
        return CTL_USAGE;
    }
    if (s_is_help (argv [index])) {
        fputs (s_usage, stdout);
        return CTL_OK;
    }
    for (int arg = index + 1; arg < argc && strcmp (argv [arg], "--"); arg++)
        if (strcmp (argv [arg], "--help") == 0 || strcmp (argv [arg], "-h") == 0) {
            fputs (s_usage, stdout);
            return CTL_OK;
        }
    int rc = -1;
    for (size_t c = 0; c < sizeof s_commands / sizeof s_commands [0]; c++)
        if (strcmp (argv [index], s_commands [c].name) == 0)
            rc = s_commands [c].run (&ctl, argc - index, argv + index);
    if (rc < 0)
        rc = ctl_usage ("unknown command '%s'", argv [index]);
    dv_db_destroy (&ctl.db);
    return rc;
}
