/*  dv_log — journal or stderr logging with structured fields. See dv_log.h. */
#include "dv_log.h"
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-journal.h>

static const char *s_ident = "divert";
static bool s_journal = false;
static int s_max_priority = LOG_INFO;

static bool
s_stderr_is_journal (void)
{
    const char *stream = getenv ("JOURNAL_STREAM");
    struct stat st;
    unsigned long long dev, ino;
    if (!stream || sscanf (stream, "%llu:%llu", &dev, &ino) != 2 || fstat (STDERR_FILENO, &st) < 0)
        return false;
    return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

void
dv_log_init (const char *ident, const char *mode, int max_priority)
{
    s_ident = ident ? ident : "divert";
    s_max_priority = max_priority;
    if (mode && strcmp (mode, "journal") == 0)
        s_journal = true;
    else
    if (mode && strcmp (mode, "stderr") == 0)
        s_journal = false;
    else
        s_journal = s_stderr_is_journal ();
}

int
dv_log_level (const char *name)
{
    return strcmp (name, "debug") == 0 ? LOG_DEBUG : strcmp (name, "info") == 0 ? LOG_INFO
         : strcmp (name, "notice") == 0 ? LOG_NOTICE : strcmp (name, "warning") == 0 ? LOG_WARNING : -1;
}

bool
dv_log_mode_known (const char *mode)
{
    return strcmp (mode, "auto") == 0 || strcmp (mode, "journal") == 0 || strcmp (mode, "stderr") == 0;
}

static const char *
s_level_name (int priority)
{
    static const char *names [] = {
        "emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"
    };
    return names [priority & 7];
}

static void
s_add_field (struct iovec *iov, int *count, char *buffer, size_t size, const char *key, const char *value)
{
    if (!value || !*value)
        return;
    int len = snprintf (buffer, size, "%s=%s", key, value);
    iov [*count].iov_base = buffer;
    iov [*count].iov_len = len < (int) size ? (size_t) len : size - 1;
    (*count)++;
}

static void
s_to_journal (int priority, const dv_log_fields_t *f, const char *message)
{
    char buffers [9][1100];
    char number [32];
    struct iovec iov [9];
    int count = 0;
    s_add_field (iov, &count, buffers [0], sizeof buffers [0], "MESSAGE", message);
    snprintf (number, sizeof number, "%d", priority);
    s_add_field (iov, &count, buffers [1], sizeof buffers [1], "PRIORITY", number);
    s_add_field (iov, &count, buffers [2], sizeof buffers [2], "SYSLOG_IDENTIFIER", s_ident);
    if (f) {
        s_add_field (iov, &count, buffers [3], sizeof buffers [3], "REFERRAL_ID", f->referral_id);
        s_add_field (iov, &count, buffers [4], sizeof buffers [4], "SOURCE_ID", f->source_id);
        s_add_field (iov, &count, buffers [5], sizeof buffers [5], "DECISION", f->decision);
        s_add_field (iov, &count, buffers [6], sizeof buffers [6], "REASON", f->reason);
        if (f->seq > 0) {
            snprintf (number, sizeof number, "%lld", (long long) f->seq);
            s_add_field (iov, &count, buffers [7], sizeof buffers [7], "SEQ", number);
        }
    }
    sd_journal_sendv (iov, count);
}

static void
s_to_stderr (int priority, const dv_log_fields_t *f, const char *message)
{
    char line [2048];
    int len = snprintf (line, sizeof line, "%s[%d] %s: %s", s_ident, (int) getpid (),
                        s_level_name (priority), message);
    if (f) {
        if (f->source_id && len < (int) sizeof line)
            len += snprintf (line + len, sizeof line - len, " source=%s", f->source_id);
        if (f->referral_id && len < (int) sizeof line)
            len += snprintf (line + len, sizeof line - len, " referral=%s", f->referral_id);
        if (f->decision && len < (int) sizeof line)
            len += snprintf (line + len, sizeof line - len, " decision=%s", f->decision);
        if (f->reason && len < (int) sizeof line)
            len += snprintf (line + len, sizeof line - len, " reason=%s", f->reason);
        if (f->seq > 0 && len < (int) sizeof line)
            len += snprintf (line + len, sizeof line - len, " seq=%lld", (long long) f->seq);
    }
    fprintf (stderr, "%s\n", line);
}

void
dv_log_fields (int priority, const dv_log_fields_t *fields, const char *format, ...)
{
    if (priority > s_max_priority)
        return;
    char message [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    if (s_journal)
        s_to_journal (priority, fields, message);
    else
        s_to_stderr (priority, fields, message);
}
