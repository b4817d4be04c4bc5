/*  dv_zpl — reading settings from a ZPL file (CZMQ's zconfig) strictly, for
    divertd's and divert-web's configurations: every key must be a known
    one, none given twice, and each value within its bounds, so a misspelt
    or repeated key never silently leaves a default in place. Each function
    returns 0, or -1 with a message in `error` naming the setting.
*/
#ifndef DV_ZPL_H
#define DV_ZPL_H

#include <czmq.h>

//  Refuse any key under `node` whose path ("section/key", after `prefix`)
//  is not in `known` (NULL-terminated), or that is given twice.
int
    dv_zpl_check_keys (zconfig_t *node, const char *prefix, const char *const *known, char *error, size_t size);

//  The value at `path`, if given, into `target` (at most size - 1 bytes).
int
    dv_zpl_copy (zconfig_t *root, const char *path, char *target, size_t size, char *error, size_t esize);

//  The whole number at `path`, if given, from low to high, into `target`.
int
    dv_zpl_integer (zconfig_t *root, const char *path, int low, int high, int *target, char *error, size_t esize);

#endif
