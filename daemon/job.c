/*  job — requests in flight and batches of them. See job.h. */
#include "job.h"
#include "dv_reply.h"

dv_job_t *
dv_job_new (zframe_t **routing_id_p, dv_request_t **request_p, const dv_sender_t *sender)
{
    dv_job_t *self = calloc (1, sizeof *self);
    assert (self);
    self->routing_id = *routing_id_p;
    *routing_id_p = NULL;
    self->request = *request_p;
    *request_p = NULL;
    self->sender = *sender;
    return self;
}

void
dv_job_destroy (dv_job_t **self_p)
{
    if (self_p && *self_p) {
        dv_job_t *self = *self_p;
        zframe_destroy (&self->routing_id);
        dv_request_destroy (&self->request);
        json_decref (self->reply);
        free (self);
        *self_p = NULL;
    }
}

dv_batch_t *
dv_batch_new (size_t capacity)
{
    dv_batch_t *self = calloc (1, sizeof *self);
    assert (self);
    self->jobs = calloc (capacity ? capacity : 1, sizeof (dv_job_t *));
    assert (self->jobs);
    self->events = json_array ();
    return self;
}

void
dv_batch_destroy (dv_batch_t **self_p)
{
    if (self_p && *self_p) {
        dv_batch_t *self = *self_p;
        for (size_t i = 0; i < self->count; i++)
            dv_job_destroy (&self->jobs [i]);
        free (self->jobs);
        json_decref (self->events);
        free (self);
        *self_p = NULL;
    }
}

void
dv_batch_add (dv_batch_t *self, dv_job_t *job)
{
    self->jobs [self->count++] = job;
}

void
dv_job_fail (dv_job_t *self, const char *code, const char *message)
{
    json_decref (self->reply);
    self->reply = dv_reply_error (dv_request_request_id (self->request),
                                  dv_request_referral_id (self->request), code, message, NULL);
}

void
dv_batch_fail (dv_batch_t *self, const char *code, const char *message)
{
    for (size_t i = 0; i < self->count; i++)
        if (!self->jobs [i]->reply)
            dv_job_fail (self->jobs [i], code, message);
}
