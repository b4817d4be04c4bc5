/*  dv_log — logging for divertd and the tools: to the systemd journal with
    structured fields when stderr is connected to journald (JOURNAL_STREAM),
    else one line per message on stderr.

    Never pass personal data here: names, dates of birth, notes, contacts,
    offense descriptions. Log ids, codes, field names and counts.
*/
#ifndef DV_LOG_H
#define DV_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

//  Structured fields; NULL / 0 members are left out.
typedef struct {
    const char *referral_id;   //  REFERRAL_ID=
    const char *source_id;     //  SOURCE_ID=
    const char *decision;      //  DECISION=
    const char *reason;        //  REASON=
    int64_t seq;               //  SEQ= (when > 0)
} dv_log_fields_t;

//  ident: the program name. mode: "auto" (journal when JOURNAL_STREAM matches
//  stderr), "journal", or "stderr". Messages above `max_priority`
//  (LOG_DEBUG..LOG_EMERG) are dropped.
void
    dv_log_init (const char *ident, const char *mode, int max_priority);

//  The priority of a level a configuration may name (debug, info, notice,
//  warning), or -1 for any other name.
int
    dv_log_level (const char *name);

//  Whether dv_log_init takes this mode (auto, journal, stderr).
bool
    dv_log_mode_known (const char *mode);

void
    dv_log_fields (int priority, const dv_log_fields_t *fields, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

#define dv_log_error(...)   dv_log_fields (LOG_ERR, NULL, __VA_ARGS__)
#define dv_log_warning(...) dv_log_fields (LOG_WARNING, NULL, __VA_ARGS__)
#define dv_log_notice(...)  dv_log_fields (LOG_NOTICE, NULL, __VA_ARGS__)
#define dv_log_info(...)    dv_log_fields (LOG_INFO, NULL, __VA_ARGS__)
#define dv_log_debug(...)   dv_log_fields (LOG_DEBUG, NULL, __VA_ARGS__)

#endif
