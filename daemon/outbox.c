/*  outbox — replies on the intake socket, none lost to a slow reader.
    See outbox.h. */
#include "outbox.h"
#include "dv_log.h"

//  One reply waiting for its client
typedef struct {
    zframe_t *routing_id;
    char *text;
} s_reply_t;

//  The replies waiting for one client, oldest first
typedef struct {
    zlistx_t *replies;          //  s_reply_t *
    size_t bytes;
} s_client_t;

struct _dv_outbox_t {
    zsock_t *router;
    size_t limit;               //  bytes waiting for one client
    size_t total_limit;         //  bytes waiting for all of them
    zhashx_t *clients;          //  routing id (hex) -> s_client_t *
    size_t waiting;
    size_t bytes;
};

static void
s_reply_destroy (s_reply_t **reply_p)
{
    if (*reply_p) {
        zframe_destroy (&(*reply_p)->routing_id);
        free ((*reply_p)->text);
        free (*reply_p);
        *reply_p = NULL;
    }
}

static void
s_client_destroy (s_client_t **client_p)
{
    if (*client_p) {
        zlistx_destroy (&(*client_p)->replies);
        free (*client_p);
        *client_p = NULL;
    }
}

dv_outbox_t *
dv_outbox_new (zsock_t *router, size_t limit)
{
    dv_outbox_t *self = calloc (1, sizeof *self);
    assert (self);
    self->router = router;
    self->limit = limit;
    self->total_limit = limit * 4;
    self->clients = zhashx_new ();
    zhashx_set_destructor (self->clients, (zhashx_destructor_fn *) s_client_destroy);
    zsock_set_router_mandatory (router, 1);
    return self;
}

void
dv_outbox_destroy (dv_outbox_t **self_p)
{
    if (self_p && *self_p) {
        zhashx_destroy (&(*self_p)->clients);
        free (*self_p);
        *self_p = NULL;
    }
}

//  Try once: 0 sent, 1 the client's pipe is full, -1 the client is gone.
static int
s_try (dv_outbox_t *self, zframe_t *routing_id, const char *text)
{
    if (zframe_send (&routing_id, self->router, ZFRAME_MORE | ZFRAME_REUSE | ZFRAME_DONTWAIT) == -1)
        return zmq_errno () == EAGAIN ? 1 : -1;
    //  The first frame passed the high-water mark: the rest of the message goes
    zframe_t *empty = zframe_new_empty ();
    zframe_send (&empty, self->router, ZFRAME_MORE);
    zstr_send (self->router, text);
    return 0;
}

static void
s_hold (dv_outbox_t *self, const char *key, zframe_t **routing_id_p, const char *text)
{
    s_client_t *client = (s_client_t *) zhashx_lookup (self->clients, key);
    if (!client) {
        client = calloc (1, sizeof *client);
        assert (client);
        client->replies = zlistx_new ();
        zlistx_set_destructor (client->replies, (zlistx_destructor_fn *) s_reply_destroy);
        zhashx_insert (self->clients, key, client);
    }
    size_t size = strlen (text);
    if (client->bytes + size > self->limit || self->bytes + size > self->total_limit) {
        //  Reads nothing (or many such clients): what waits for this one is
        //  lost (the client can ask again)
        dv_log_warning ("a client has not read %zu replies (%zu bytes, %zu waiting for all): they are dropped",
                        zlistx_size (client->replies) + 1, client->bytes + size, self->bytes + size);
        self->waiting -= zlistx_size (client->replies);
        self->bytes -= client->bytes;
        zlistx_purge (client->replies);
        client->bytes = 0;
        zframe_destroy (routing_id_p);
        return;
    }
    s_reply_t *reply = calloc (1, sizeof *reply);
    assert (reply);
    reply->routing_id = *routing_id_p;
    *routing_id_p = NULL;
    reply->text = strdup (text);
    zlistx_add_end (client->replies, reply);
    client->bytes += size;
    self->bytes += size;
    self->waiting++;
}

void
dv_outbox_send (dv_outbox_t *self, zframe_t **routing_id_p, const char *text)
{
    char *key = zframe_strhex (*routing_id_p);
    if (zhashx_lookup (self->clients, key))
        s_hold (self, key, routing_id_p, text);         //  behind the others
    else {
        int rc = s_try (self, *routing_id_p, text);
        if (rc == 1)
            s_hold (self, key, routing_id_p, text);
        else
            zframe_destroy (routing_id_p);
    }
    free (key);
}

//  Send one client's waiting replies while its pipe takes them. Returns
//  true when none are left (or the client is gone).
static bool
s_flush_client (dv_outbox_t *self, s_client_t *client)
{
    s_reply_t *reply;
    while ((reply = (s_reply_t *) zlistx_first (client->replies))) {
        int rc = s_try (self, reply->routing_id, reply->text);
        if (rc == 1)
            return false;
        if (rc == -1) {
            self->waiting -= zlistx_size (client->replies);
            self->bytes -= client->bytes;
            return true;
        }
        client->bytes -= strlen (reply->text);
        self->bytes -= strlen (reply->text);
        self->waiting--;
        zlistx_delete (client->replies, NULL);
    }
    return true;
}

size_t
dv_outbox_flush (dv_outbox_t *self)
{
    zlistx_t *done = zlistx_new ();
    zlistx_set_destructor (done, (zlistx_destructor_fn *) zstr_free);
    zlistx_set_duplicator (done, (zlistx_duplicator_fn *) strdup);
    for (s_client_t *client = (s_client_t *) zhashx_first (self->clients); client;
         client = (s_client_t *) zhashx_next (self->clients))
        if (s_flush_client (self, client))
            zlistx_add_end (done, (void *) zhashx_cursor (self->clients));
    for (const char *key = (const char *) zlistx_first (done); key; key = (const char *) zlistx_next (done))
        zhashx_delete (self->clients, key);
    zlistx_destroy (&done);
    return self->waiting;
}

size_t
dv_outbox_waiting (dv_outbox_t *self)
{
    return self->waiting;
}
