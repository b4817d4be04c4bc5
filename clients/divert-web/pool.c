/*  pool — a few PostgreSQL connections shared by divert-web's request
    threads. A thread takes one (waiting while all are busy), uses it alone,
    and gives it back; a connection that broke is reconnected on the next
    take. libpq connections are not shared between threads at once.
*/
#include "web.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct _web_pool_t {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    dv_db_t **idle;             //  connections not in use (connected or not)
    int idle_count;
    int size;
    volatile bool up;           //  the last connect attempt succeeded
};

web_pool_t *
web_pool_new (const char *conninfo, int size)
{
    web_pool_t *self = calloc (1, sizeof *self);
    self->idle = calloc ((size_t) size, sizeof *self->idle);
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->freed, NULL);
    for (int i = 0; i < size; i++)
        self->idle [self->idle_count++] = dv_db_new (conninfo, "divert-web");
    self->size = size;
    return self;
}

void
web_pool_destroy (web_pool_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    web_pool_t *self = *self_p;
    for (int i = 0; i < self->idle_count; i++)
        dv_db_destroy (&self->idle [i]);
    free (self->idle);
    pthread_mutex_destroy (&self->lock);
    pthread_cond_destroy (&self->freed);
    free (self);
    *self_p = NULL;
}

dv_db_t *
web_pool_get (web_pool_t *self, int msecs)
{
    struct timespec until;
    clock_gettime (CLOCK_REALTIME, &until);
    until.tv_sec += msecs / 1000;
    until.tv_nsec += (long) (msecs % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock (&self->lock);
    while (self->idle_count == 0)
        if (pthread_cond_timedwait (&self->freed, &self->lock, &until) == ETIMEDOUT)
            break;
    dv_db_t *db = self->idle_count ? self->idle [--self->idle_count] : NULL;
    pthread_mutex_unlock (&self->lock);
    if (!db) {
        dv_log_warning ("every database connection stayed busy for %d ms", msecs);
        return NULL;
    }
    if (!dv_db_connected (db)) {
        if (dv_db_connect (db) != 0) {
            if (self->up)
                dv_log_warning ("cannot connect to the database: %s", dv_db_error (db));
            self->up = false;
            web_pool_put (self, db);
            return NULL;
        }
        if (!self->up)
            dv_log_notice ("database connected");
        self->up = true;
    }
    return db;
}

void
web_pool_put (web_pool_t *self, dv_db_t *db)
{
    if (!db)
        return;
    //  A transaction left open (an early return) must not leak into the next user.
    if (dv_db_connected (db) && PQtransactionStatus (dv_db_conn (db)) != PQTRANS_IDLE)
        dv_db_command (db, "ROLLBACK");
    pthread_mutex_lock (&self->lock);
    self->idle [self->idle_count++] = db;
    pthread_cond_signal (&self->freed);
    pthread_mutex_unlock (&self->lock);
}

bool
web_pool_up (web_pool_t *self)
{
    return self->up;
}

json_t *
web_pool_json (web_pool_t *self, const char *sql, int nparams, const char *const *params)
{
    dv_db_t *db = web_pool_get (self, 10000);
    if (!db)
        return NULL;
    PGresult *result = dv_db_exec (db, sql, nparams, params);
    json_t *json = NULL;
    if (result) {
        if (PQntuples (result) == 1 && PQnfields (result) == 1 && PQgetisnull (result, 0, 0))
            json = json_null ();
        else
        if (PQntuples (result) == 1 && PQnfields (result) == 1)
            json = json_loads (PQgetvalue (result, 0, 0), JSON_DECODE_ANY, NULL);
        if (!json)
            dv_log_error ("the database returned no JSON value");
        PQclear (result);
    }
    else {
        //  The first line only (never a DETAIL line with a row's values).
        const char *message = dv_db_error (db);
        dv_log_error ("database error %s: %.*s", dv_db_sqlstate (db),
                      (int) strcspn (message, "\n"), message);
    }
    web_pool_put (self, db);
    return json;
}
