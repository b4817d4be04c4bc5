/*  zap — divertd's ZAP handler: registered, non-revoked keys only.
    See zap.h. */
#include "zap.h"
#include "dv_db.h"
#include "dv_log.h"

typedef struct {
    dv_db_t *db;
    zhash_t *known;             //  Z85 key -> "kind:id", last seen admitted
    int64_t next_connect;       //  zclock_mono(): don't hammer a database that is down
} s_zap_t;

static PGresult *
s_query (s_zap_t *self, const char *key)
{
    if (!dv_db_connected (self->db) && zclock_mono () >= self->next_connect
    &&  dv_db_connect (self->db) != 0)
        self->next_connect = zclock_mono () + 1000;
    if (!dv_db_connected (self->db))
        return NULL;
    const char *params [] = { key };
    return dv_db_exec (self->db,
        "SELECT kind || ':' || id, '' FROM source WHERE public_key = $1 AND revoked_at IS NULL"
        " UNION ALL "
        "SELECT 'monitor:' || id, '' FROM monitor WHERE public_key = $1 AND revoked_at IS NULL"
        " UNION ALL "
        "SELECT 'cms:' || c.id, COALESCE((SELECT string_agg(p.program, ',' ORDER BY p.program)"
        "                                 FROM cms_program p WHERE p.cms_id = c.id), '')"
        "  FROM cms c WHERE c.public_key = $1 AND c.revoked_at IS NULL", 1, params);
}

//  The User-Id for a key, or NULL when it is unknown or revoked.
static const char *
s_lookup (s_zap_t *self, const char *key)
{
    PGresult *result = s_query (self, key);
    if (!result && !dv_db_connected (self->db)) {
        //  The connection died since the last handshake (PostgreSQL restarted,
        //  the backend was terminated): reconnect at once and ask again.
        self->next_connect = 0;
        result = s_query (self, key);
    }
    if (!result) {              //  database unreachable: the last answer we had
        dv_log_notice ("checking a key against the cache: %s", dv_db_error (self->db));
        return zhash_lookup (self->known, key);
    }
    if (PQntuples (result) > 0) {
        //  "kind:id" TAB the programs of a case-management key
        char *entry = zsys_sprintf ("%s\t%s", PQgetvalue (result, 0, 0), PQgetvalue (result, 0, 1));
        zhash_update (self->known, key, entry);     //  autofree: copied
        zstr_free (&entry);
    }
    else
        zhash_delete (self->known, key);
    PQclear (result);
    return zhash_lookup (self->known, key);
}

//  The ZAP reply's metadata frame: X-Programs (a case-management key's
//  programs, comma-separated), which libzmq attaches to every message of
//  the connection (zframe_meta), as ZMTP property bytes: name length
//  (1 byte), name, value length (4 bytes, network order), value.
static zframe_t *
s_metadata (const char *programs)
{
    if (!programs || !*programs)
        return zframe_new (NULL, 0);
    const char *name = DV_ZAP_PROGRAMS;
    size_t name_len = strlen (name), value_len = strlen (programs);
    zframe_t *frame = zframe_new (NULL, 1 + name_len + 4 + value_len);
    byte *data = zframe_data (frame);
    data [0] = (byte) name_len;
    memcpy (data + 1, name, name_len);
    data [1 + name_len] = (byte) (value_len >> 24);
    data [2 + name_len] = (byte) (value_len >> 16);
    data [3 + name_len] = (byte) (value_len >> 8);
    data [4 + name_len] = (byte) value_len;
    memcpy (data + 5 + name_len, programs, value_len);
    return frame;
}

static void
s_handle_request (s_zap_t *self, zsock_t *handler)
{
    zmsg_t *request = zmsg_recv (handler);
    if (!request)
        return;
    char *version = zmsg_popstr (request);
    char *sequence = zmsg_popstr (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    char *identity = zmsg_popstr (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *credentials = zmsg_pop (request);
    const char *user_id = NULL;
    if (version && streq (version, "1.0") && mechanism && streq (mechanism, "CURVE")
    &&  credentials && zframe_size (credentials) == 32) {
        char key [41];
        zmq_z85_encode (key, zframe_data (credentials), 32);
        user_id = s_lookup (self, key);
        if (!user_id)
            dv_log_notice ("refused a connection from %s: unknown or revoked key", address ? address : "?");
    }
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_addstr (reply, sequence ? sequence : "");
    zmsg_addstr (reply, user_id ? "200" : "400");
    zmsg_addstr (reply, user_id ? "OK" : "key not registered");
    char *admitted = strdup (user_id ? user_id : "");
    char *tab = strchr (admitted, '\t');
    if (tab)
        *tab = 0;
    zmsg_addstr (reply, admitted);
    zframe_t *metadata = s_metadata (tab ? tab + 1 : NULL);
    zmsg_append (reply, &metadata);
    free (admitted);
    zmsg_send (&reply, handler);
    zframe_destroy (&credentials);
    free (version); free (sequence); free (domain); free (address); free (identity); free (mechanism);
    zmsg_destroy (&request);
}

void
dv_zap_actor (zsock_t *pipe, void *conninfo)
{
    s_zap_t self = { 0 };
    self.db = dv_db_new ((const char *) conninfo, "divertd-zap");
    self.known = zhash_new ();
    zhash_autofree (self.known);
    zsock_t *handler = zsock_new_rep ("@inproc://zeromq.zap.01");
    zsock_signal (pipe, handler ? 0 : 1);
    zpoller_t *poller = zpoller_new (pipe, handler, NULL);
    while (handler) {
        void *which = zpoller_wait (poller, -1);
        if (which == handler)
            s_handle_request (&self, handler);
        else
        if (which == pipe) {
            char *command = zstr_recv (pipe);
            bool term = !command || streq (command, "$TERM");
            free (command);
            if (term)
                break;
        }
        else
            break;
    }
    zpoller_destroy (&poller);
    zsock_destroy (&handler);
    zhash_destroy (&self.known);
    dv_db_destroy (&self.db);
}
