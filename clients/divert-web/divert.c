/*  divert — divert-web's DIVERT/1 clients: one dv_client_t per key (a
    partner source's, the case-management key, the monitor key), made on
    first use from KEY.cert in the keys directory and kept. A client's REQ
    socket is used by one request thread at a time (its own lock); the keys
    are read again after a SIGHUP (web_divert_flush: an entry still in use
    is freed by the last thread that used it), so a new or renewed key
    needs no restart.

    Several daemons: each client is given every intake endpoint (the
    config's list) and one send more than there are daemons. A request that
    gets no answer (a daemon gone) or `unavailable` (one stopping) is sent
    again, the same bytes, to the next daemon, and the client stays there;
    a referral the lost daemon had recorded is answered from the database
    as a replay, so a partner's referral is decided once, whatever failed.
    The live updates (events.c) know at once when a daemon's connection is
    lost: a client whose daemon has had none for S_LOST_MS goes to the next
    one that is connected before it asks, so only a request already in
    flight waits the timeout (one per key otherwise, to learn the same).
*/
#include "web.h"
#include "dv_client.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_KEYS 256
#define S_LOST_MS 1000          //  without a connection: a daemon to pass over

typedef struct {
    char name [64];             //  source id, "cms" or "monitor"
    dv_client_t *client;
    pthread_mutex_t lock;       //  one request at a time on its socket
    int users;                  //  threads holding it (under the pool's lock)
    bool retired;               //  flushed: freed when the last user lets go
} s_entry_t;

struct _web_divert_t {
    const web_config_t *config;
    web_events_t *events;       //  which daemons are connected (or NULL)
    pthread_mutex_t lock;       //  guards entries, users, retired
    s_entry_t *entries [S_MAX_KEYS];
    int count;
};

web_divert_t *
web_divert_new (const web_config_t *config)
{
    web_divert_t *self = calloc (1, sizeof *self);
    self->config = config;
    pthread_mutex_init (&self->lock, NULL);
    return self;
}

static void
s_entry_destroy (s_entry_t **entry_p)
{
    s_entry_t *entry = *entry_p;
    if (!entry)
        return;
    dv_client_destroy (&entry->client);
    pthread_mutex_destroy (&entry->lock);
    free (entry);
    *entry_p = NULL;
}

void
web_divert_destroy (web_divert_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    web_divert_t *self = *self_p;
    for (int i = 0; i < self->count; i++)
        s_entry_destroy (&self->entries [i]);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

//  The certificate file of a key name.
static void
s_cert_path (web_divert_t *self, const char *key, char *path, size_t size)
{
    char file [300];
    if (streq (key, "monitor"))
        snprintf (file, sizeof file, "%s", self->config->monitor_cert);
    else
    if (streq (key, "cms"))
        snprintf (file, sizeof file, "%s", self->config->cms_cert);
    else
        snprintf (file, sizeof file, "%s.cert", key);
    web_config_key_path (self->config, file, path, size);
}

//  Sends per request: every daemon once, and one more (at least two, as
//  with one daemon: a lost reply is sent again).
static int
s_attempts (const web_config_t *config)
{
    return config->daemons + 1 > 2 ? config->daemons + 1 : 2;
}

static bool
s_valid_key_name (const char *key)
{
    return key && (streq (key, "cms") || streq (key, "monitor") || web_is_source_id (key));
}

//  Find or make the entry for key; NULL with error when its files can't be loaded.
static s_entry_t *
s_entry (web_divert_t *self, const char *key, char *error, size_t size)
{
    if (!s_valid_key_name (key) || (streq (key, "cms") && !*self->config->cms_cert)) {
        snprintf (error, size, "no key is configured for %s", key ? key : "(none)");
        return NULL;
    }
    pthread_mutex_lock (&self->lock);
    s_entry_t *entry = NULL;
    for (int i = 0; i < self->count && !entry; i++)
        if (streq (self->entries [i]->name, key))
            entry = self->entries [i];
    if (!entry && self->count < S_MAX_KEYS) {
        char cert [1400], server [1400];
        s_cert_path (self, key, cert, sizeof cert);
        web_config_key_path (self->config, "server.cert", server, sizeof server);
        dv_client_t *client = dv_client_new (self->config->intake, server, cert);
        if (client) {
            dv_client_set_timeout (client, (int) self->config->divert_timeout_ms);
            dv_client_set_attempts (client, s_attempts (self->config));
            entry = calloc (1, sizeof *entry);
            snprintf (entry->name, sizeof entry->name, "%s", key);
            entry->client = client;
            pthread_mutex_init (&entry->lock, NULL);
            self->entries [self->count++] = entry;
        }
        else
            snprintf (error, size, "no usable key for %s (%s)", key, dv_client_last_error ());
    }
    else
    if (!entry)
        snprintf (error, size, "too many keys in use");
    if (entry)
        entry->users++;
    pthread_mutex_unlock (&self->lock);
    return entry;
}

//  Let go of an entry from s_entry; the last user of a retired one frees it.
static void
s_release (web_divert_t *self, s_entry_t *entry)
{
    pthread_mutex_lock (&self->lock);
    bool last = --entry->users == 0 && entry->retired;
    pthread_mutex_unlock (&self->lock);
    if (last)
        s_entry_destroy (&entry);
}

bool
web_divert_has_key (web_divert_t *self, const char *key)
{
    char error [512];
    s_entry_t *entry = s_entry (self, key, error, sizeof error);
    if (entry)
        s_release (self, entry);
    return entry != NULL;
}

void
web_divert_watch (web_divert_t *self, web_events_t *events)
{
    self->events = events;
}

//  Pass over a daemon without a connection for S_LOST_MS when another one
//  has one (in the order of the list, from the one in use).
static void
s_pass_lost (web_divert_t *self, dv_client_t *client)
{
    int count = dv_client_endpoint_count (client);
    int current = dv_client_endpoint_index (client);
    int64_t msecs = 0;
    if (!self->events || count < 2 || web_events_connected (self->events, current, &msecs) || msecs < S_LOST_MS)
        return;
    for (int step = 1; step < count; step++)
        if (web_events_connected (self->events, (current + step) % count, NULL)) {
            dv_client_move (client, (current + step) % count);
            return;
        }
}

json_t *
web_divert_request (web_divert_t *self, const char *key, json_t *request, char *error, size_t size)
{
    s_entry_t *entry = s_entry (self, key, error, size);
    if (!entry)
        return NULL;
    pthread_mutex_lock (&entry->lock);
    s_pass_lost (self, entry->client);
    json_t *reply = dv_client_request (entry->client, request);
    if (!reply)
        snprintf (error, size, "%s", dv_client_last_error ());
    pthread_mutex_unlock (&entry->lock);
    s_release (self, entry);
    return reply;
}

void
web_divert_flush (web_divert_t *self)
{
    pthread_mutex_lock (&self->lock);
    for (int i = 0; i < self->count; i++) {
        if (self->entries [i]->users == 0)
            s_entry_destroy (&self->entries [i]);
        else
            self->entries [i]->retired = true;
        self->entries [i] = NULL;
    }
    self->count = 0;
    pthread_mutex_unlock (&self->lock);
}
