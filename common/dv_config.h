/*  dv_config — divertd's configuration file (ZPL, read with CZMQ's zconfig)
    and the duration syntax shared with divertctl ("30d", "90s", "2h", "500ms").

    Only the daemon's own wiring lives here; policy (caps, reserves, pacing,
    time-to-live, scores) lives in PostgreSQL. See deploy/divertd.conf.
*/
#ifndef DV_CONFIG_H
#define DV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char intake [256];              //  divertd/intake, default tcp://*:7461
    char decisions [256];           //  divertd/decisions, default tcp://*:7462
    char server_cert [1024];        //  divertd/server_cert (public; secret in <path>_secret)
    int max_message_size;           //  divertd/max_message_size, default 65536
    int64_t waitlist_recheck_ms;    //  divertd/waitlist_recheck, default 60s
    int64_t metrics_interval_ms;    //  divertd/metrics_interval, default 10s (1s .. 1h)
    int batch_max;                  //  divertd/batch_max, default 256 requests per transaction
    int queue_max;                  //  divertd/queue_max, default 10000 requests waiting
    char log [16];                  //  divertd/log: auto | journal | stderr
    char log_level [16];            //  divertd/log_level: info | debug | notice | warning
    char purge [16];                //  divertd/purge: off | daily (personal data past retention)
    char conninfo [1024];           //  database/conninfo, default "" (libpq environment)
} dv_config_t;

//  Set the defaults.
void
    dv_config_defaults (dv_config_t *config);

//  Load a ZPL file over the defaults. Returns 0, or -1 with a one-line
//  message in `error` naming the file, the key and the problem.
int
    dv_config_load (dv_config_t *config, const char *path, char *error, size_t error_size);

//  The same from ZPL text in memory (tests, fuzzing); messages name
//  "config text" instead of a file.
int
    dv_config_load_string (dv_config_t *config, const char *text, char *error, size_t error_size);

//  Parse a duration: a whole number followed by ms, s, m, h or d.
//  Returns milliseconds, or -1 when the text is not a duration.
int64_t
    dv_duration_parse (const char *text);

//  Format milliseconds as the largest exact unit ("30d", "90s", "1500ms").
void
    dv_duration_format (int64_t msecs, char *buffer, size_t size);

#endif
