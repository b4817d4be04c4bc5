/*  fault_disconnect — clients that disconnect before their reply arrives.

    While three ordinary Lazy Pirate clients keep sending, several threads
    open raw CURVE sockets with a source's key, send referrals and destroy
    the socket (linger 0) before any reply can come: at once, or after a
    random few milliseconds (so some are decided, some never leave the
    client, some are in the middle of a batch). REQ sockets send one
    referral; DEALER sockets send three at once. One time in four the same
    thread then sends the same referral again with an ordinary client, as a
    client that reconnects would. Reduced: 200 sockets; full: 2000.

    Then: divertd still answers everyone, each of these referrals is in
    the database at most once, and sending it again returns the stored
    decision (replayed) if it was recorded; and the audit (audit.h).
*/
#include "audit.h"

static itest_t *t;

typedef struct {
    audit_t *audit;
    const char *source;
    char cert [600];
    int id, sockets;
    int dropped, resent;
} s_dropper_t;

static void *
s_dropper_run (void *arg)
{
    s_dropper_t *d = (s_dropper_t *) arg;
    dv_client_t *client = audit_client (d->audit, d->source, 0, 3000, 10);
    for (int i = 0; i < d->sockets; i++) {
        bool dealer = i % 3 == 2;
        zsock_t *sock;
        if (dealer)
            sock = audit_dealer (d->audit->t, d->cert, 0);
        else {
            zcert_t *cert = zcert_load (d->cert);
            zcert_t *server = zcert_load (itest_server_cert (d->audit->t));
            sock = zsock_new (ZMQ_REQ);
            zsock_set_linger (sock, 0);
            zcert_apply (cert, sock);
            zsock_set_curve_serverkey (sock, zcert_public_txt (server));
            zsock_connect (sock, "%s", itest_intake (d->audit->t, 0));
            zcert_destroy (&cert);
            zcert_destroy (&server);
        }
        size_t index [3];
        int count = dealer ? 3 : 1;
        for (int k = 0; k < count; k++) {
            int n = i * 3 + k + d->id;
            index [k] = audit_referral (d->audit, d->source,
                                        streq (d->source, "cmty") ? "community"
                                        : n % 2 ? "arrest_diversion" : "social_contact",
                                        n % 4 ? "unsheltered" : "hotel");
            char *text = json_dumps (audit_request (d->audit, index [k]), JSON_COMPACT);
            if (dealer)
                zsock_send (sock, "zs", text);
            else
                zstr_send (sock, text);
            free (text);
        }
        //  Gone before the reply: at once, or after a few milliseconds
        int wait = i % 4 == 0 ? 0 : audit_random_ms (1, 60);
        if (wait)
            zclock_sleep (wait);
        zsock_destroy (&sock);
        for (int k = 0; k < count; k++)
            audit_record_dropped (d->audit, index [k]);
        d->dropped += count;
        //  Sometimes the client comes back and sends the same referral again
        if (i % 4 == 1) {
            json_t *reply = dv_client_request (client, audit_request (d->audit, index [0]));
            audit_record (d->audit, index [0], reply, dv_client_attempts_used (client) + 1, false);
            json_decref (reply);
            d->resent++;
        }
    }
    dv_client_destroy (&client);
    return NULL;
}

TEST (clients_gone_before_the_reply)
{
    int droppers = 4;
    int sockets = AUDIT_SIZE (50, 500);     //  per dropping thread
    audit_t *audit = audit_new (t);
    audit_loadset_t load;
    audit_loadset_start (&load, audit, 3, 0, -1, 1500, 20, 0, 0);
    static const char *sources [] = { "spd", "kcpd", "cmty", "spd" };
    s_dropper_t d [4];
    pthread_t threads [4];
    for (int i = 0; i < droppers; i++) {
        d [i] = (s_dropper_t) { .audit = audit, .source = sources [i], .id = i, .sockets = sockets };
        snprintf (d [i].cert, sizeof d [i].cert, "%s", itest_cert (t, sources [i]));
        pthread_create (&threads [i], NULL, s_dropper_run, &d [i]);
    }
    int dropped = 0, resent = 0;
    for (int i = 0; i < droppers; i++) {
        pthread_join (threads [i], NULL);
        dropped += d [i].dropped;
        resent += d [i].resent;
    }
    //  Ordinary clients still served after all that
    long before = audit_decided (audit);
    CHECKF (audit_wait_progress (audit, before, 20, 30000), "divertd stopped serving ordinary clients");
    audit_loadset_stop (&load);
    long served = 0;
    for (int i = 0; i < load.count; i++)
        served += load.loads [i].sent;
    printf ("# %6ld ms %d referrals sent on %d sockets dropped before the reply, %d sent again;"
            " ordinary clients sent %ld meanwhile\n", audit_ms (), dropped, droppers * sockets, resent, served);
    CHECK (audit_daemon_alive (t, 0));
    long recorded = 0, total = 0;
    audit_barrier (audit, 0);
    {
        //  How many dropped ones divertd recorded anyway (not an error either way)
        PGconn *conn = audit_pg ();
        PGresult *result = conn ? PQexec (conn, "SELECT count(*) FROM divert.referral") : NULL;
        if (result && PQresultStatus (result) == PGRES_TUPLES_OK)
            recorded = atol (PQgetvalue (result, 0, 0));
        PQclear (result);
        PQfinish (conn);
        total = (long) audit->count;
    }
    printf ("# %ld of %ld referrals recorded before the resend\n", recorded, total);
    audit_resolve (audit, 0);
    audit_figures_t figures = audit_check (audit, "disconnect");
    CHECK (figures.decided > 0);
    CHECK (figures.resolved > 0);
    audit_destroy (&audit);
}

AUDIT_MAIN ("fault_disconnect", t, NULL, clients_gone_before_the_reply, true)
