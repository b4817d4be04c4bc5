/*  dv_program — a program's site policy as PostgreSQL stores it (a row of
    divert.program, as JSON with the column names as keys) loaded into the
    dv_program_t the policy rules take. The one mapping of policy columns to
    fields, shared by divertd (its intake snapshot) and divertctl (status), so
    both apply exactly the same numbers.
*/
#ifndef DV_PROGRAM_H
#define DV_PROGRAM_H

#include <jansson.h>
#include "dv_policy.h"

//  Columns absent from `row` keep policy.md's defaults (dv_program_defaults).
void
    dv_program_load (dv_program_t *program, json_t *row);

#endif
