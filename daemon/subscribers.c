/*  subscribers — the decisions socket's connections by key, to cut a
    revoked key's. See subscribers.h. */
#include "subscribers.h"
#include <czmq.h>
#include <sys/socket.h>
#include <sys/stat.h>

typedef struct {
    char *user_id;              //  NULL: nothing noted for this descriptor
    dev_t dev;                  //  the socket's identity when noted
    ino_t ino;
} s_note_t;

struct _dv_subscribers_t {
    s_note_t *notes;            //  indexed by file descriptor
    size_t size;
};

dv_subscribers_t *
dv_subscribers_new (void)
{
    dv_subscribers_t *self = calloc (1, sizeof *self);
    assert (self);
    return self;
}

void
dv_subscribers_destroy (dv_subscribers_t **self_p)
{
    if (self_p && *self_p) {
        dv_subscribers_t *self = *self_p;
        for (size_t fd = 0; fd < self->size; fd++)
            free (self->notes [fd].user_id);
        free (self->notes);
        free (self);
        *self_p = NULL;
    }
}

//  The socket open on fd now, if any.
static bool
s_socket (int fd, struct stat *st)
{
    return fstat (fd, st) == 0 && S_ISSOCK (st->st_mode);
}

int
dv_subscribers_note (dv_subscribers_t *self, int fd, const char *user_id)
{
    struct stat st;
    if (fd < 0 || !user_id || !s_socket (fd, &st))
        return -1;
    if ((size_t) fd >= self->size) {
        size_t size = self->size ? self->size : 64;
        while (size <= (size_t) fd)
            size *= 2;
        self->notes = realloc (self->notes, size * sizeof (s_note_t));
        assert (self->notes);
        memset (self->notes + self->size, 0, (size - self->size) * sizeof (s_note_t));
        self->size = size;
    }
    s_note_t *note = &self->notes [fd];
    if (!note->user_id || strcmp (note->user_id, user_id) != 0) {
        free (note->user_id);
        note->user_id = strdup (user_id);
    }
    note->dev = st.st_dev;
    note->ino = st.st_ino;
    return 0;
}

size_t
dv_subscribers_cut (dv_subscribers_t *self, const char *user_id)
{
    size_t cut = 0;
    for (size_t fd = 0; fd < self->size; fd++) {
        s_note_t *note = &self->notes [fd];
        if (!note->user_id || strcmp (note->user_id, user_id) != 0)
            continue;
        struct stat st;
        if (s_socket ((int) fd, &st) && st.st_dev == note->dev && st.st_ino == note->ino
        &&  shutdown ((int) fd, SHUT_RDWR) == 0)
            cut++;
        zstr_free (&note->user_id);
    }
    return cut;
}
