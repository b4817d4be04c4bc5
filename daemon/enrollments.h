/*  enrollments — the case-management side of divertd (protocol.md,
    "Case-management systems"), run by the store actor on its connection.

    The requests of a case-management key (enrollments, enrollment,
    transfer, caseload) are each one call of a SECURITY DEFINER function of
    sql/007_case_management.sql, which confines the key to its programs,
    keeps the transition table and records the change with its feed event
    in one transaction; here the answer becomes the job's reply.

    The enrollment feed is published by every divertd, whoever made the
    change: a change NOTIFYs divert_enrollment, and the store then reads
    every program's events after the last it published (positions kept for
    the life of the process, so a reconnect republishes nothing and skips
    nothing) and hands them to the server to publish on enrollment.<program>.
*/
#ifndef DV_ENROLLMENTS_H
#define DV_ENROLLMENTS_H

#include <jansson.h>
#include "dv_db.h"
#include "job.h"

//  Answer one case-management request (DV_REQ_ENROLLMENTS, _ENROLLMENT,
//  _TRANSFER, _CASELOAD): sets job->reply, unless the database connection
//  failed (then job->reply stays NULL and the caller sees the database down).
void
    dv_enrollments_answer (dv_db_t *db, dv_job_t *job);

//  The feed events committed after *positions_p ({"LEAD": 12, ...}; NULL or
//  {} the first time: from now on). Returns [{"topic", "event"}...] to
//  publish (caller owns; empty when none) and moves *positions_p on, or NULL
//  when the database failed (positions unchanged).
json_t *
    dv_enrollments_feed (dv_db_t *db, json_t **positions_p);

#endif
