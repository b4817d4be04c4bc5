/*  divert-web — the web interface of divert (see web.h for its parts and
    divert-web(8) for how to run it).

    divert-web [-c FILE]

    Reads its config (ZPL; default /etc/divert/divert-web.conf), loads the
    pages, starts listening, and tells systemd READY=1 once the database
    answered. The main thread then only waits for signals: SIGTERM/SIGINT
    stop it (no new connections, requests in flight finish, streams end),
    SIGHUP reads the keys again; it sends WATCHDOG=1 and STATUS= and cleans
    up expired sessions every minute. Exit status: 0 after a clean stop, 78
    for a configuration error, 1 when it cannot start, 64 for a usage error.
*/
#include "web.h"

#include <czmq.h>
#include <getopt.h>
#include <signal.h>
#include <systemd/sd-daemon.h>

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: divert-web [-c FILE]\n"
        "  -c, --config FILE   configuration file (ZPL; default /etc/divert/divert-web.conf)\n"
        "  -V, --version       print the version\n"
        "  -h, --help          this text\n"
        "The web interface of divert: the partner desk, the case-manager desk, the program\n"
        "dashboard and user administration (see divert-web(8)).\n");
}

//  Whether the database answers (and has the schema this build knows).
static bool
s_database_ready (web_t *web)
{
    json_t *version = web_pool_json (web->pool, "SELECT to_jsonb(max(version)) FROM divert.schema_migration", 0, NULL);
    bool ready = json_is_integer (version) && json_integer_value (version) == DV_SCHEMA_VERSION;
    if (json_is_integer (version) && !ready)
        dv_log_error ("the database schema is version %lld, this divert-web needs %d: run divertctl migrate",
                      (long long) json_integer_value (version), DV_SCHEMA_VERSION);
    json_decref (version);
    return ready;
}

static void
s_status (web_t *web, bool ready)
{
    json_t *sessions = ready ? web_pool_json (web->pool, "SELECT to_jsonb(divert.web_active_sessions())", 0, NULL) : NULL;
    json_t *daemons = web_events_daemons (web->events);
    size_t index, connected = 0;
    json_t *daemon;
    json_array_foreach (daemons, index, daemon)
        connected += json_is_true (json_object_get (daemon, "connected"));
    sd_notifyf (0, "STATUS=%s on %s; database %s; %lld active sessions; %llu live events; divertd %zu of %zu connected",
                ready ? "serving" : "starting", web->config->listen, web_pool_up (web->pool) ? "up" : "down",
                (long long) json_integer_value (sessions), (unsigned long long) web_events_count (web->events),
                connected, json_array_size (daemons));
    json_decref (daemons);
    json_decref (sessions);
}

static int
s_run (web_t *web, sigset_t *signals)
{
    uint64_t watchdog_usec = 0;
    bool watchdog = sd_watchdog_enabled (0, &watchdog_usec) > 0;
    int64_t next_housekeeping = 0, next_status = 0, next_watchdog = 0;
    bool ready = false;
    while (true) {
        int64_t now = zclock_mono ();
        if (!ready && (ready = s_database_ready (web))) {
            sd_notify (0, "READY=1");
            dv_log_notice ("ready: listening on %s (%s)", web->config->listen, web->tls ? "HTTPS" : "HTTP");
        }
        if (watchdog && now >= next_watchdog) {
            sd_notify (0, "WATCHDOG=1");
            next_watchdog = now + (int64_t) (watchdog_usec / 2000);
        }
        if (ready && now >= next_housekeeping) {
            json_decref (web_pool_json (web->pool, "SELECT to_jsonb(divert.web_housekeeping())", 0, NULL));
            next_housekeeping = now + 60000;
        }
        if (now >= next_status) {
            s_status (web, ready);
            next_status = now + 10000;
        }
        struct timespec timeout = { 0, 500 * 1000000L };
        int signal = sigtimedwait (signals, NULL, &timeout);
        if (signal == SIGTERM || signal == SIGINT) {
            dv_log_notice ("stopping (signal %d)", signal);
            sd_notify (0, "STOPPING=1");
            return 0;
        }
        if (signal == SIGHUP) {
            sd_notifyf (0, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long) zclock_usecs ());
            web_divert_flush (web->divert);
            dv_log_notice ("keys will be read again");
            sd_notify (0, "READY=1");
        }
    }
}

int
main (int argc, char *argv [])
{
    const char *config_path = "/etc/divert/divert-web.conf";
    static struct option options [] = {
        { "config", required_argument, NULL, 'c' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int option;
    while ((option = getopt_long (argc, argv, "c:Vh", options, NULL)) != -1) {
        switch (option) {
            case 'c': config_path = optarg; break;
            case 'V': printf ("divert-web %s\n", DIVERT_VERSION); return 0;
            case 'h': s_usage (stdout); return 0;
            default:  s_usage (stderr); return 64;
        }
    }
    if (optind < argc) {
        s_usage (stderr);
        return 64;
    }
    //  Signals are the main thread's (sigtimedwait); every thread started
    //  from here on inherits the mask. A peer that goes away is not a signal.
    sigset_t signals;
    sigemptyset (&signals);
    sigaddset (&signals, SIGTERM);
    sigaddset (&signals, SIGINT);
    sigaddset (&signals, SIGHUP);
    pthread_sigmask (SIG_BLOCK, &signals, NULL);
    signal (SIGPIPE, SIG_IGN);
    zsys_handler_set (NULL);
    zsys_set_logsystem (false);
    zsys_init ();               //  once, here: request threads make sockets at once later

    web_config_t config;
    web_config_defaults (&config);
    char error [1600];
    if (web_config_load (&config, config_path, error, sizeof error) != 0) {
        dv_log_init ("divert-web", "auto", LOG_INFO);
        dv_log_error ("cannot start: %s", error);
        return WEB_EX_CONFIG;
    }
    dv_log_init ("divert-web", config.log, dv_log_level (config.log_level));
    if (web_auth_init (2) != 0) {
        dv_log_error ("cannot start: libsodium cannot be initialised");
        return 1;
    }
    web_t web = { .config = &config, .listen_fd = -1 };
    web.files = web_files_new (config.static_dir, error, sizeof error);
    if (!web.files) {
        dv_log_error ("cannot start: %s", error);
        return WEB_EX_CONFIG;
    }
    web.pool = web_pool_new (config.conninfo, config.db_connections);
    web.divert = web_divert_new (&config);
    web.events = web_events_new (&web);
    web_divert_watch (web.divert, web.events);
    bool config_error = false;
    int status = 0;
    if (web_http_start (&web, error, sizeof error, &config_error) != 0) {
        dv_log_error ("cannot start: %s", error);
        status = config_error ? WEB_EX_CONFIG : 1;
    }
    else {
        dv_log_notice ("divert-web %s starting (config %s)", DIVERT_VERSION, config_path);
        status = s_run (&web, &signals);
        web_http_stop (&web);
    }
    web_events_destroy (&web.events);
    web_divert_destroy (&web.divert);
    web_pool_destroy (&web.pool);
    web_files_destroy (&web.files);
    dv_log_notice ("stopped");
    return status;
}
