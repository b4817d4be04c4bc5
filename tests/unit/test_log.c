/*  test_log — the level and mode names divertd's and divert-web's
    configurations may give (common/dv_log.c), at every boundary.
*/
#include "dv_log.h"
#include "testlib.h"

TEST (level_names)
{
    static const struct { const char *name; int priority; } rows [] = {
        { "debug", LOG_DEBUG }, { "info", LOG_INFO }, { "notice", LOG_NOTICE }, { "warning", LOG_WARNING },
        //  syslog's other names are not settings; neither is any other spelling
        { "error", -1 }, { "err", -1 }, { "crit", -1 }, { "emerg", -1 }, { "alert", -1 },
        { "Debug", -1 }, { "INFO", -1 }, { "warn", -1 }, { "info ", -1 }, { "", -1 }
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++)
        CHECKF (dv_log_level (rows [i].name) == rows [i].priority, "'%s': %d, expected %d",
                rows [i].name, dv_log_level (rows [i].name), rows [i].priority);
}

TEST (mode_names)
{
    static const struct { const char *mode; bool known; } rows [] = {
        { "auto", true }, { "journal", true }, { "stderr", true },
        { "syslog", false }, { "Auto", false }, { "stdout", false }, { "journal ", false }, { "", false }
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++)
        CHECKF (dv_log_mode_known (rows [i].mode) == rows [i].known, "'%s'", rows [i].mode);
}

int
main (void)
{
    TESTLIB_BEGIN ("test_log");
    RUN (level_names);
    RUN (mode_names);
    return TESTLIB_END ();
}
