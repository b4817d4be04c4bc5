/*  divertd — the referral intake daemon for LEAD and Co-LEAD programs.

    divertd [-c FILE] [-f]

    Reads its config (ZPL; default /etc/divert/divertd.conf), checks it,
    starts the event loop (server.c) and runs until SIGTERM. Exit status:
    0 after a clean stop; 78 (EX_CONFIG) for a configuration it can't run
    with (a bad line, a conninfo libpq can't parse, an unreadable key, an
    endpoint that is not one); 1 when it cannot start otherwise (an endpoint
    in use) or meets an unknown schema; 64 for a usage error. Policy is not
    in the config: it is in PostgreSQL.
*/
#include "server.h"
#include "dv_config.h"
#include "dv_log.h"
#include <czmq.h>
#include <getopt.h>

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: divertd [-c FILE] [-f]\n"
        "  -c, --config FILE   configuration file (ZPL; default /etc/divert/divertd.conf)\n"
        "  -f, --foreground    stay in the foreground (always: systemd runs it so)\n"
        "  -V, --version       print the version\n"
        "The database comes from database/conninfo or libpq's PG* environment.\n");
}

int
main (int argc, char *argv [])
{
    const char *config_path = "/etc/divert/divertd.conf";
    static struct option options [] = {
        { "config", required_argument, NULL, 'c' },
        { "foreground", no_argument, NULL, 'f' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int option;
    while ((option = getopt_long (argc, argv, "c:fVh", options, NULL)) != -1) {
        switch (option) {
            case 'c': config_path = optarg; break;
            case 'f': break;
            case 'V': printf ("divertd %s\n", DIVERT_VERSION); return 0;
            case 'h': s_usage (stdout); return 0;
            default:  s_usage (stderr); return 64;
        }
    }
    if (optind < argc) {
        s_usage (stderr);
        return 64;
    }
    dv_config_t config;
    dv_config_defaults (&config);
    char error [1200];
    if (dv_server_load_config (&config, config_path, error, sizeof error) != 0) {
        dv_log_init ("divertd", "auto", LOG_INFO);
        dv_log_error ("cannot start: %s", error);
        return DV_EXIT_CONFIG;
    }
    dv_log_init ("divertd", config.log, dv_log_level (config.log_level));
    //  divertd handles its own signals (server.c); CZMQ's handler would
    //  stop the loop without answering what is in flight.
    zsys_handler_set (NULL);
    zsys_set_logsystem (false);
    int status = 0;
    dv_server_t *server = dv_server_new (&config, config_path, error, sizeof error, &status);
    if (!server) {
        dv_log_error ("cannot start: %s", error);
        return status;
    }
    dv_log_notice ("divertd %s starting (config %s)", DIVERT_VERSION, config_path);
    status = dv_server_run (server);
    dv_server_destroy (&server);
    return status;
}
