/*  dv_zpl — strict reading of ZPL settings. See dv_zpl.h. */
#include "dv_zpl.h"
#include <errno.h>

static bool
s_known_path (const char *const *known, const char *path)
{
    for (int i = 0; known [i]; i++)
        if (strcmp (known [i], path) == 0)
            return true;
    return false;
}

//  Walk the tree and refuse unknown keys (a misspelt key must not silently
//  leave a default in place).
int
dv_zpl_check_keys (zconfig_t *node, const char *prefix, const char *const *known, char *error, size_t size)
{
    for (zconfig_t *child = zconfig_child (node); child; child = zconfig_next (child)) {
        char path [256];
        snprintf (path, sizeof path, "%s%s%s", prefix, *prefix ? "/" : "", zconfig_name (child));
        //  A name holding '/' ("divertd/intake = x" at the top) spells a known
        //  path, but zconfig_get() looks it up level by level and never finds
        //  it, so the value would be silently ignored (found by fuzzing).
        if (strchr (zconfig_name (child), '/') || !s_known_path (known, path)) {
            snprintf (error, size, "unknown setting '%s'", path);
            return -1;
        }
        //  Likewise a setting or section given twice: zconfig_get() reads only
        //  the first one (found by fuzzing). The earlier siblings are known and
        //  distinct, so this loop is short.
        for (zconfig_t *other = zconfig_child (node); other != child; other = zconfig_next (other))
            if (strcmp (zconfig_name (other), zconfig_name (child)) == 0) {
                snprintf (error, size, "'%s' is given twice", path);
                return -1;
            }
        if (dv_zpl_check_keys (child, path, known, error, size))
            return -1;
    }
    return 0;
}

int
dv_zpl_copy (zconfig_t *root, const char *path, char *target, size_t size, char *error, size_t esize)
{
    const char *value = zconfig_get (root, path, NULL);
    if (!value)
        return 0;
    if (strlen (value) >= size) {
        snprintf (error, esize, "'%s' is too long", path);
        return -1;
    }
    snprintf (target, size, "%s", value);
    return 0;
}

int
dv_zpl_integer (zconfig_t *root, const char *path, int low, int high, int *target, char *error, size_t esize)
{
    const char *value = zconfig_get (root, path, NULL);
    if (!value)
        return 0;
    char *end;
    errno = 0;
    long number = strtol (value, &end, 10);
    if (errno || *end || end == value || number < low || number > high) {
        snprintf (error, esize, "'%s' must be a whole number from %d to %d", path, low, high);
        return -1;
    }
    *target = (int) number;
    return 0;
}
