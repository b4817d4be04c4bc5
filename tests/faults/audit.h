/*  audit — what every fault scenario (tests/faults/fault_*.c) shares: the
    site, the load generator, what each client was told, and the audit of
    the database against it.

    Only fault_*.c files are built as programs, so everything here is a
    static function; each scenario includes this header once.

    The load: several threads, each its own dv_client (Lazy Pirate: same
    bytes, same referral_id, on a new socket when no reply comes; backoff on
    `unavailable`). Every few referrals a thread hands the same referral to
    another thread of the same source, which sends it concurrently: several
    clients retrying with the same referral_id.

    The audit (audit_check), after the scenario's faults:
    - every referral a client was told a decision about has exactly one
      first decision in divert.decision_event, with the decision, seq and
      case manager the client was told (a replayed reply carries the first one), and no client
      was told two different things or told twice that it was new;
    - a referral sent that got no decision reply at all is absent from the
      database or has exactly one first decision (never two); then it is
      sent once more (as a client would): if it was recorded the reply is
      the stored decision with replayed: true, if not it is decided now;
    - no referral row has zero or two first decisions ("nothing decided
      twice"); no (source, referral_id) twice;
    - no case manager above the hard cap (the caseload counter and the
      open enrollments, which must agree); nobody accepted twice (at intake
      or from the waitlist); every accept has its enrollment with the case
      manager the reply named;
    - each source's seq is 1..max without gaps, and source.last_seq = max.
    First decisions: the intake events (accept/waitlist/decline that are
    not from the waitlist nor a waitlist expiry); later events (promotion,
    expiry, withdrawal, lapse) come after them and are not first decisions.

    Figures, printed per scenario as one line starting "FIGURES":
    sent (distinct referrals), requests (client requests, with the copies
    sent concurrently), decided (referrals a client was told a decision
    about under the faults), retried (requests that took more than one send,
    or were resent to another daemon), replayed (replies with replayed:
    true), unanswered (referrals with no decision reply under the faults),
    resolved (of those, decided by the resend afterwards), lost (told but
    not in the database, or never decided even after the resend),
    duplicated (two first decisions, or told "new" twice).
*/
#ifndef AUDIT_H
#define AUDIT_H

#include "itest.h"
#include "testlib.h"
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

#define AUDIT_FN static __attribute__ ((unused))

//  ---------------------------------------------------------------------------
//  Sizing: FAULTS=full (make faults) or reduced (make check, the default)

AUDIT_FN bool
audit_full (void)
{
    const char *faults = getenv ("FAULTS");
    return faults && streq (faults, "full");
}

//  reduced or full, by FAULTS
#define AUDIT_SIZE(reduced, full) (audit_full () ? (full) : (reduced))

//  A scenario that may lose acknowledged commits (an asynchronous standby
//  promoted): what clients were told but the database no longer has is
//  counted and printed as lost, not failed; every other invariant holds.
static bool s_audit_loss_expected = false;

AUDIT_FN void
audit_expect_loss (bool expected)
{
    s_audit_loss_expected = expected;
}

//  ---------------------------------------------------------------------------
//  What each client was told, per referral

typedef struct {
    char source [32];
    char referral_id [40];      //  lower case
    json_t *request;            //  the exact request, to send again
    int sends;                  //  requests made for it (by any client)
    int told;                   //  decision replies received
    int told_fresh;             //  ... with replayed: false
    char decision [16];         //  the first decision told
    long seq;                   //  and its seq
    char case_manager [72];     //  and, on accept, its case manager
    bool told_disagree;         //  a later reply said something else
    bool resolved;              //  told only by the resend after the faults
    char last_error [40];       //  the last non-decision outcome
    int last_attempts;          //  sends of the last request for it
} audit_ref_t;

typedef struct {
    itest_t *t;
    pthread_mutex_t lock;
    audit_ref_t **refs;
    size_t count, capacity;
    //  figures
    long requests, retried, replayed, resolved;
    long errors_unavailable, errors_internal, errors_other, no_reply, disconnected;
    //  referrals handed from one thread to another of the same source
    zlistx_t *echo;             //  of audit_echo_t *
} audit_t;

typedef struct {
    size_t index;
    int from;                   //  the thread that made it
} audit_echo_t;

//  Milliseconds since the scenario began (for the log lines)
AUDIT_FN long
audit_ms (void)
{
    static int64_t start = 0;
    if (!start)
        start = zclock_mono ();
    return (long) (zclock_mono () - start);
}

static pthread_mutex_t s_audit_referral_lock = PTHREAD_MUTEX_INITIALIZER;

AUDIT_FN audit_t *
audit_new (itest_t *t)
{
    audit_t *self = calloc (1, sizeof *self);
    self->t = t;
    audit_ms ();
    pthread_mutex_init (&self->lock, NULL);
    self->echo = zlistx_new ();
    return self;
}

AUDIT_FN void
audit_destroy (audit_t **self_p)
{
    if (self_p && *self_p) {
        audit_t *self = *self_p;
        for (size_t i = 0; i < self->count; i++) {
            json_decref (self->refs [i]->request);
            free (self->refs [i]);
        }
        free (self->refs);
        audit_echo_t *echo;
        while ((echo = (audit_echo_t *) zlistx_detach (self->echo, NULL)))
            free (echo);
        zlistx_destroy (&self->echo);
        pthread_mutex_destroy (&self->lock);
        free (self);
        *self_p = NULL;
    }
}

//  A new referral from `source` (registered beforehand); returns its index.
//  One in ten is about a person from a small shared pool (last name + date
//  of birth), so some are already enrolled or linked to a waiting one.
AUDIT_FN size_t
audit_referral (audit_t *self, const char *source, const char *pathway, const char *housing)
{
    pthread_mutex_lock (&s_audit_referral_lock);       //  itest_referral counts
    json_t *request = itest_referral (pathway, housing);
    static unsigned pool = 0;
    bool pooled = ++pool % 10 == 0;
    pthread_mutex_unlock (&s_audit_referral_lock);
    if (pooled) {
        char last [32], dob [16];
        unsigned k = (unsigned) (zclock_usecs () % 16);
        snprintf (last, sizeof last, "Faultpool%u", k);
        snprintf (dob, sizeof dob, "1980-01-%02u", k + 1);
        json_object_set_new (request, "person", json_pack ("{s:s, s:s}", "last_name", last, "dob", dob));
    }
    audit_ref_t *ref = calloc (1, sizeof *ref);
    snprintf (ref->source, sizeof ref->source, "%s", source);
    snprintf (ref->referral_id, sizeof ref->referral_id, "%s",
              json_string_value (json_object_get (request, "referral_id")));
    for (char *c = ref->referral_id; *c; c++)
        *c = (char) tolower ((unsigned char) *c);
    ref->request = request;
    pthread_mutex_lock (&self->lock);
    if (self->count == self->capacity) {
        self->capacity = self->capacity ? self->capacity * 2 : 1024;
        self->refs = realloc (self->refs, self->capacity * sizeof (audit_ref_t *));
    }
    size_t index = self->count++;
    self->refs [index] = ref;
    pthread_mutex_unlock (&self->lock);
    return index;
}

//  The request to send for referral `index` (owned by the audit; the
//  object is never changed after audit_referral, so it may be read by
//  several threads).
AUDIT_FN json_t *
audit_request (audit_t *self, size_t index)
{
    pthread_mutex_lock (&self->lock);
    json_t *request = self->refs [index]->request;
    pthread_mutex_unlock (&self->lock);
    return request;
}

//  Record one outcome for referral `index`: the reply (NULL when none came),
//  how many sends it took (0 for a raw send whose socket was dropped).
AUDIT_FN void
audit_record (audit_t *self, size_t index, json_t *reply, int attempts, bool resolving)
{
    pthread_mutex_lock (&self->lock);
    audit_ref_t *ref = self->refs [index];
    ref->sends++;
    ref->last_attempts = attempts;
    self->requests++;
    if (attempts > 1)
        self->retried++;
    const char *type = json_string_value (json_object_get (reply, "type"));
    const char *decision = json_string_value (json_object_get (reply, "decision"));
    if (type && streq (type, "decision") && decision) {
        bool replayed = json_is_true (json_object_get (reply, "replayed"));
        long seq = (long) json_integer_value (json_object_get (reply, "seq"));
        if (replayed)
            self->replayed++;
        else
            ref->told_fresh++;
        const char *cm = json_string_value (json_object_get (json_object_get (reply, "case_manager"), "id"));
        if (ref->told++ == 0) {
            snprintf (ref->decision, sizeof ref->decision, "%s", decision);
            snprintf (ref->case_manager, sizeof ref->case_manager, "%s", cm ? cm : "");
            ref->seq = seq;
            ref->resolved = resolving;
        }
        else
        if (!streq (ref->decision, decision) || ref->seq != seq || !streq (ref->case_manager, cm ? cm : ""))
            ref->told_disagree = true;
    }
    else {
        const char *code = json_string_value (json_object_get (reply, "code"));
        if (!reply)
            self->no_reply++;
        else
        if (code && streq (code, "unavailable"))
            self->errors_unavailable++;
        else
        if (code && streq (code, "internal"))
            self->errors_internal++;
        else
            self->errors_other++;
        snprintf (ref->last_error, sizeof ref->last_error, "%s",
                  reply ? (code ? code : "?") : "no-reply");
    }
    pthread_mutex_unlock (&self->lock);
}

//  A raw send whose socket was destroyed before any reply (fault_disconnect).
AUDIT_FN void
audit_record_dropped (audit_t *self, size_t index)
{
    pthread_mutex_lock (&self->lock);
    self->refs [index]->sends++;
    self->requests++;
    self->disconnected++;
    snprintf (self->refs [index]->last_error, sizeof self->refs [index]->last_error, "disconnected");
    pthread_mutex_unlock (&self->lock);
}

//  Referrals a client was told a decision about, so far.
AUDIT_FN long
audit_decided (audit_t *self)
{
    long decided = 0;
    pthread_mutex_lock (&self->lock);
    for (size_t i = 0; i < self->count; i++)
        decided += self->refs [i]->told > 0;
    pthread_mutex_unlock (&self->lock);
    return decided;
}

AUDIT_FN void
audit_echo_push (audit_t *self, size_t index, int from)
{
    audit_echo_t *echo = calloc (1, sizeof *echo);
    echo->index = index;
    echo->from = from;
    pthread_mutex_lock (&self->lock);
    zlistx_add_end (self->echo, echo);
    pthread_mutex_unlock (&self->lock);
}

//  A referral another thread of this source is sending now; (size_t) -1 if none.
AUDIT_FN size_t
audit_echo_pop (audit_t *self, const char *source, int me)
{
    size_t index = (size_t) -1;
    pthread_mutex_lock (&self->lock);
    audit_echo_t *echo = (audit_echo_t *) zlistx_first (self->echo);
    while (echo) {
        if (echo->from != me && streq (self->refs [echo->index]->source, source)) {
            index = echo->index;
            zlistx_detach_cur (self->echo);
            free (echo);
            break;
        }
        echo = (audit_echo_t *) zlistx_next (self->echo);
    }
    pthread_mutex_unlock (&self->lock);
    return index;
}

//  Add a setting to the divertd section of daemon slot's config file (the
//  file may end with a database section, and sections cannot repeat).
AUDIT_FN void
audit_config_divertd (itest_t *t, int slot, const char *setting)
{
    char path [600];
    snprintf (path, sizeof path, "%s/divertd-%d.conf", itest_tmp (t), slot);
    zchunk_t *chunk = zchunk_slurp (path, 0);
    if (!chunk) {
        printf ("  cannot read %s\n", path);
        return;
    }
    const char *text = (const char *) zchunk_data (chunk);
    size_t size = zchunk_size (chunk);
    FILE *file = fopen (path, "w");
    //  The section's header line: first in the file, or after a newline
    //  (itest writes the database section first when it has a daemon role)
    const char *header = "divertd\n";
    const char *at = NULL;
    if (size >= strlen (header) && memcmp (text, header, strlen (header)) == 0)
        at = text;
    else {
        char *copy = strndup (text, size);
        char *found = strstr (copy, "\ndivertd\n");
        if (found)
            at = text + (found - copy) + 1;
        free (copy);
    }
    bool inserted = at != NULL;
    if (at) {
        size_t before = (size_t) (at - text) + strlen (header);
        fwrite (text, 1, before, file);
        fprintf (file, "    %s\n", setting);
        fwrite (text + before, 1, size - before, file);
    }
    else
        fwrite (text, 1, size, file);
    fclose (file);
    zchunk_destroy (&chunk);
    if (!inserted)
        printf ("  %s does not begin with the divertd section\n", path);
}

//  ---------------------------------------------------------------------------
//  The site: three sources, two programs with small caps (so the capacity
//  rules and the hard cap are reached early), a small waitlist cap.

AUDIT_FN void
audit_site (itest_t *t)
{
    //  Notices and worse only: thousands of "decided" lines would bury a
    //  failure in the test log (the audit says what went wrong)
    for (int slot = 0; slot < ITEST_MAX_DAEMONS; slot++)
        audit_config_divertd (t, slot, "log_level = notice");
    itest_add_source (t, "spd", "police");
    itest_add_source (t, "kcpd", "police");
    itest_add_source (t, "cmty", "community");
    itest_add_monitor (t, "ops");
    itest_add_cms (t, "records", "LEAD,CO-LEAD");
    //  (in one statement: five divertctl runs under ASan cost seconds)
    itest_sql (t, "INSERT INTO divert.case_manager (id, program, name) VALUES"
                  " ('cm-a', 'LEAD', 'CM a'), ('cm-b', 'LEAD', 'CM b'), ('cm-c', 'LEAD', 'CM c'),"
                  " ('co-a', 'CO-LEAD', 'CM co-a'), ('co-b', 'CO-LEAD', 'CM co-b')");
    //  Small reserves, so a discharge lets the waitlist move
    itest_sql (t, "UPDATE divert.program SET hard_cap = 8, target_avg = 8, reserve_tier1 = 0, reserve_tier2 = 1,"
                  " waitlist_cap = 40 WHERE name = 'LEAD'");
    itest_sql (t, "UPDATE divert.program SET hard_cap = 5, target_avg = 5, reserve_tier1 = 0, reserve_tier2 = 0,"
                  " waitlist_cap = 20 WHERE name = 'CO-LEAD'");
}

//  Let the pending intake of a few accepted people end (as an operator
//  would with `divertctl discharge`), so the waitlist moves and later
//  events interleave with intake in each source's seq.
AUDIT_FN void
audit_churn (itest_t *t, int count)
{
    for (int i = 0; i < count; i++) {
        char *id = itest_sql_value (t,
            "SELECT r.referral_id FROM divert.referral r JOIN divert.enrollment e ON e.referral_id = r.id"
            " WHERE e.status <> 'exited' ORDER BY random() LIMIT 1");
        if (!id)
            return;
        itest_ctl (t, "discharge %s --reason graduated >/dev/null 2>&1", id);
        free (id);
    }
}

//  ---------------------------------------------------------------------------
//  Load: one thread, one dv_client, referrals until told to stop (or `max`).

typedef struct {
    audit_t *audit;
    const char *source;         //  spd / kcpd (police), cmty (community)
    int id;                     //  thread number, for the hand-over
    int slot;                   //  daemon slot it talks to
    int alt_slot;               //  -1, or the daemon to fail over to when no reply comes
    int timeout, attempts;      //  the dv_client's Lazy Pirate
    int max;                    //  new referrals to make (0: until stop)
    int share_every;            //  hand every Nth to another thread (0: never)
    atomic_int *stop;
    //  results
    int made, sent, failovers;
} audit_load_t;

static const char *
s_audit_pathway (const char *source, int n)
{
    if (streq (source, "cmty"))
        return "community";
    return n % 5 < 3 ? "arrest_diversion" : "social_contact";
}

static const char *
s_audit_housing (int n)
{
    int k = n % 10;
    return k < 7 ? "unsheltered" : k < 9 ? "hotel" : "sheltered";
}

AUDIT_FN dv_client_t *
audit_client (audit_t *audit, const char *source, int slot, int timeout, int attempts)
{
    dv_client_t *client = itest_client (audit->t, source, slot);
    if (client) {
        dv_client_set_timeout (client, timeout);
        dv_client_set_attempts (client, attempts);
    }
    return client;
}

AUDIT_FN void *
audit_load_run (void *arg)
{
    audit_load_t *load = (audit_load_t *) arg;
    audit_t *audit = load->audit;
    dv_client_t *client = audit_client (audit, load->source, load->slot, load->timeout, load->attempts);
    while (client && !atomic_load (load->stop) && (load->max == 0 || load->made < load->max)) {
        size_t index = audit_echo_pop (audit, load->source, load->id);
        if (index == (size_t) -1) {
            int n = load->made++ + load->id * 7;
            index = audit_referral (audit, load->source, s_audit_pathway (load->source, n),
                                    s_audit_housing (n));
            if (load->share_every && load->made % load->share_every == 0)
                audit_echo_push (audit, index, load->id);
        }
        json_t *request = audit_request (audit, index);
        json_t *reply = dv_client_request (client, request);
        int attempts = dv_client_attempts_used (client);
        if (!reply && load->alt_slot >= 0 && !atomic_load (load->stop)) {
            //  The daemon is gone: the same request to the other one.
            dv_client_destroy (&client);
            int slot = load->alt_slot;
            load->alt_slot = load->slot;
            load->slot = slot;
            load->failovers++;
            client = audit_client (audit, load->source, load->slot, load->timeout, load->attempts);
            reply = dv_client_request (client, request);
            attempts += dv_client_attempts_used (client);
        }
        load->sent++;
        audit_record (audit, index, reply, attempts, false);
        json_decref (reply);
    }
    dv_client_destroy (&client);
    return NULL;
}

//  Start `count` load threads on daemon `slot` (alternate sources).
typedef struct {
    audit_load_t loads [16];
    pthread_t threads [16];
    int count;
    atomic_int stop;
} audit_loadset_t;

AUDIT_FN void
audit_loadset_start (audit_loadset_t *set, audit_t *audit, int count, int slot, int alt_slot,
                     int timeout, int attempts, int max, int share_every)
{
    static const char *sources [] = { "spd", "kcpd", "cmty" };
    memset (set, 0, sizeof *set);
    atomic_init (&set->stop, 0);
    set->count = count > 16 ? 16 : count;
    for (int i = 0; i < set->count; i++) {
        //  alternate daemons when there are two: thread i on slot (i % 2 ? alt : slot)
        bool other = alt_slot >= 0 && i % 2;
        set->loads [i] = (audit_load_t) {
            .audit = audit, .source = sources [i % 3], .id = i,
            .slot = other ? alt_slot : slot, .alt_slot = alt_slot < 0 ? -1 : other ? slot : alt_slot,
            .timeout = timeout, .attempts = attempts, .max = max, .share_every = share_every,
            .stop = &set->stop
        };
        pthread_create (&set->threads [i], NULL, audit_load_run, &set->loads [i]);
    }
}

AUDIT_FN void
audit_loadset_stop (audit_loadset_t *set)
{
    atomic_store (&set->stop, 1);
    for (int i = 0; i < set->count; i++)
        pthread_join (set->threads [i], NULL);
}

//  Wait for the threads (each with its own `max`).
AUDIT_FN void
audit_loadset_join (audit_loadset_t *set)
{
    for (int i = 0; i < set->count; i++)
        pthread_join (set->threads [i], NULL);
}

//  Pipelined load: one DEALER per thread with up to `inflight` referrals
//  outstanding (replies matched by request_id); `count` referrals in all.
//  A referral whose reply does not come within 30 s stays unanswered (the
//  audit sends it again).
typedef struct {
    audit_t *audit;
    const char *source;
    int slot, inflight, count, id;
    int answered;
} audit_pipe_t;

AUDIT_FN zsock_t *
audit_dealer (itest_t *t, const char *cert_path, int slot)
{
    zcert_t *cert = zcert_load (cert_path);
    zcert_t *server = zcert_load (itest_server_cert (t));
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zsock_set_linger (dealer, 0);
    zcert_apply (cert, dealer);
    zsock_set_curve_serverkey (dealer, zcert_public_txt (server));
    zsock_connect (dealer, "%s", itest_intake (t, slot));
    zcert_destroy (&cert);
    zcert_destroy (&server);
    return dealer;
}

AUDIT_FN void *
audit_pipe_run (void *arg)
{
    audit_pipe_t *p = (audit_pipe_t *) arg;
    char cert [600];
    snprintf (cert, sizeof cert, "%s/%s.cert", itest_tmp (p->audit->t), p->source);
    zsock_t *dealer = audit_dealer (p->audit->t, cert, p->slot);
    zsock_set_rcvtimeo (dealer, 30000);
    size_t *index = calloc ((size_t) p->count, sizeof (size_t));
    int sent = 0, done = 0;
    while (done < p->count) {
        while (sent < p->count && sent - done < p->inflight) {
            int n = sent + p->id * 7;
            index [sent] = audit_referral (p->audit, p->source, s_audit_pathway (p->source, n),
                                           s_audit_housing (n));
            json_t *request = json_deep_copy (audit_request (p->audit, index [sent]));
            char id [16];
            snprintf (id, sizeof id, "%d", sent);
            json_object_set_new (request, "request_id", json_string (id));
            char *text = json_dumps (request, JSON_COMPACT);
            zsock_send (dealer, "zs", text);
            free (text);
            json_decref (request);
            sent++;
        }
        char *text = NULL;
        if (zsock_recv (dealer, "zs", &text) == -1)
            break;              //  30 s without a reply: the rest stay unanswered
        json_t *reply = json_loads (text, 0, NULL);
        const char *id = json_string_value (json_object_get (reply, "request_id"));
        int k = id ? atoi (id) : -1;
        if (k >= 0 && k < sent) {
            audit_record (p->audit, index [k], reply, 1, false);
            p->answered++;
        }
        done++;
        json_decref (reply);
        free (text);
    }
    free (index);
    zsock_destroy (&dealer);
    return NULL;
}

//  Run `threads` pipelined clients of `count` referrals each to the end;
//  returns the seconds it took.
AUDIT_FN double
audit_pipeline (audit_t *audit, int slot, int threads, int inflight, int count)
{
    static const char *sources [] = { "spd", "kcpd", "cmty" };
    audit_pipe_t pipes [16];
    pthread_t ids [16];
    threads = threads > 16 ? 16 : threads;
    int64_t start = zclock_usecs ();
    for (int i = 0; i < threads; i++) {
        pipes [i] = (audit_pipe_t) { audit, sources [i % 3], slot, inflight, count, i, 0 };
        pthread_create (&ids [i], NULL, audit_pipe_run, &pipes [i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join (ids [i], NULL);
    return (zclock_usecs () - start) / 1e6;
}

//  Wait until clients were told `more` decisions than `since` (up to msecs).
AUDIT_FN bool
audit_wait_progress (audit_t *audit, long since, long more, int msecs)
{
    int64_t deadline = zclock_mono () + msecs;
    while (zclock_mono () < deadline) {
        if (audit_decided (audit) >= since + more)
            return true;
        zclock_sleep (50);
    }
    return audit_decided (audit) >= since + more;
}

//  Milliseconds in [low, high)
AUDIT_FN int
audit_random_ms (int low, int high)
{
    return low + (int) (randof (high - low));
}

//  ---------------------------------------------------------------------------
//  Database side

//  A fresh connection each time (PostgreSQL may have been restarted).
AUDIT_FN PGconn *
audit_pg (void)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        PGconn *conn = PQconnectdb ("application_name=fault-audit");
        if (PQstatus (conn) == CONNECTION_OK)
            return conn;
        PQfinish (conn);
        zclock_sleep (100);
    }
    printf ("  audit: cannot connect to PostgreSQL\n");
    return NULL;
}

AUDIT_FN long
audit_pg_long (const char *sql)
{
    PGconn *conn = audit_pg ();
    if (!conn)
        return -1;
    PGresult *result = PQexec (conn, sql);
    long value = -1;
    if (PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) > 0 && !PQgetisnull (result, 0, 0))
        value = atol (PQgetvalue (result, 0, 0));
    else
    if (PQresultStatus (result) != PGRES_TUPLES_OK)
        printf ("  audit sql error: %s", PQerrorMessage (conn));
    PQclear (result);
    PQfinish (conn);
    return value;
}

//  What the database holds about one referral.
typedef struct {
    long firsts;                //  first (intake) decisions
    long events;                //  all its events
    char decision [16];         //  its earliest event
    long seq;
    char case_manager [72];     //  ... its case manager ("" when none)
    bool seen;                  //  matched by a referral of the audit
} audit_row_t;

//  Every referral in the database, keyed "source|referral_id".
static zhashx_t *
s_audit_rows (void)
{
    PGconn *conn = audit_pg ();
    if (!conn)
        return NULL;
    PGresult *result = PQexec (conn,
        "SELECT r.source_id, lower(r.referral_id),"
        "       count(e.id) FILTER (WHERE e.decision IN ('accept', 'waitlist', 'decline')"
        "                            AND NOT e.from_waitlist AND e.reason <> 'waitlist_expired'),"
        "       count(e.id),"
        "       (array_agg(e.decision ORDER BY e.id)) [1], (array_agg(e.seq ORDER BY e.id)) [1],"
        "       (array_agg(COALESCE(e.case_manager_id, '') ORDER BY e.id)) [1]"
        "  FROM divert.referral r LEFT JOIN divert.decision_event e ON e.referral_id = r.id"
        " GROUP BY r.id");
    if (PQresultStatus (result) != PGRES_TUPLES_OK) {
        printf ("  audit sql error: %s", PQerrorMessage (conn));
        PQclear (result);
        PQfinish (conn);
        return NULL;
    }
    zhashx_t *rows = zhashx_new ();
    zhashx_set_destructor (rows, (zhashx_destructor_fn *) zstr_free);
    int duplicates = 0;
    for (int i = 0; i < PQntuples (result); i++) {
        audit_row_t *row = calloc (1, sizeof *row);
        row->firsts = atol (PQgetvalue (result, i, 2));
        row->events = atol (PQgetvalue (result, i, 3));
        snprintf (row->decision, sizeof row->decision, "%s", PQgetvalue (result, i, 4));
        row->seq = PQgetisnull (result, i, 5) ? -1 : atol (PQgetvalue (result, i, 5));
        snprintf (row->case_manager, sizeof row->case_manager, "%s", PQgetvalue (result, i, 6));
        char key [128];
        snprintf (key, sizeof key, "%s|%s", PQgetvalue (result, i, 0), PQgetvalue (result, i, 1));
        if (zhashx_insert (rows, key, row) != 0) {
            duplicates++;
            free (row);
        }
    }
    CHECKF (duplicates == 0, "%d (source, referral_id) pairs are in divert.referral twice", duplicates);
    PQclear (result);
    PQfinish (conn);
    return rows;
}

static audit_row_t *
s_audit_row (zhashx_t *rows, audit_ref_t *ref)
{
    char key [128];
    snprintf (key, sizeof key, "%s|%s", ref->source, ref->referral_id);
    return rows ? (audit_row_t *) zhashx_lookup (rows, key) : NULL;
}

//  A request that returns only after everything queued before it on this
//  daemon was committed and answered (a batch is answered as a whole, after
//  COMMIT): status of a referral that does not exist.
AUDIT_FN void
audit_barrier (audit_t *audit, int slot)
{
    dv_client_t *client = audit_client (audit, "spd", slot, 5000, 6);
    json_t *status = json_pack ("{s:i, s:s, s:s}", "v", 1, "type", "status",
                                "referral_id", "00000000-0000-4000-8000-000000000000");
    json_t *reply = dv_client_request (client, status);
    CHECKF (reply != NULL, "daemon %d does not answer after the faults: %s", slot, dv_client_last_error ());
    json_decref (reply);
    json_decref (status);
    dv_client_destroy (&client);
}

//  After the faults: referrals that got no decision reply are at most once
//  in the database; then each is sent once more, as its client would, on
//  daemon `slot` (already past audit_barrier): the stored decision comes
//  back replayed if it was recorded, else it is decided now.
AUDIT_FN void
audit_resolve (audit_t *audit, int slot)
{
    zhashx_t *rows = s_audit_rows ();
    CHECKF (rows != NULL, "cannot read the database for the audit");
    zhashx_t *clients = zhashx_new ();
    zhashx_set_destructor (clients, (zhashx_destructor_fn *) dv_client_destroy);
    long twice = 0, not_replayed = 0, replayed_unknown = 0, unresolved = 0, untrue = 0;
    for (size_t i = 0; i < audit->count; i++) {
        audit_ref_t *ref = audit->refs [i];
        if (ref->told > 0)
            continue;
        audit_row_t *row = s_audit_row (rows, ref);
        if (row && row->firsts != 1) {
            if (twice++ < 5)
                printf ("  unanswered referral %s/%s has %ld first decisions\n",
                        ref->source, ref->referral_id, row->firsts);
        }
        //  An error that says "nothing was recorded" (unavailable, internal),
        //  to the only request made for it, in one send: it must be so.
        if (row && ref->sends == 1 && ref->last_attempts == 1
        &&  (streq (ref->last_error, "unavailable") || streq (ref->last_error, "internal"))) {
            if (untrue++ < 5)
                printf ("  referral %s/%s: told %s (nothing recorded), but it was recorded\n",
                        ref->source, ref->referral_id, ref->last_error);
        }
        dv_client_t *client = (dv_client_t *) zhashx_lookup (clients, ref->source);
        if (!client) {
            client = audit_client (audit, ref->source, slot, 5000, 10);
            zhashx_insert (clients, ref->source, client);
        }
        json_t *reply = dv_client_request (client, ref->request);
        audit_record (audit, i, reply, dv_client_attempts_used (client), true);
        if (ref->told > 0) {
            audit->resolved++;
            bool replayed = json_is_true (json_object_get (reply, "replayed"));
            if (row && !replayed && not_replayed++ < 5)
                printf ("  referral %s/%s was recorded, but sent again it was decided anew\n",
                        ref->source, ref->referral_id);
            if (!row && replayed && replayed_unknown++ < 5)
                printf ("  referral %s/%s was not recorded, but sent again it came back replayed\n",
                        ref->source, ref->referral_id);
        }
        else
        if (unresolved++ < 5)
            printf ("  referral %s/%s sent again: still no decision (%s)\n",
                    ref->source, ref->referral_id, ref->last_error);
        json_decref (reply);
    }
    CHECKF (twice == 0, "%ld unanswered referrals have two or more first decisions", twice);
    CHECKF (not_replayed == 0, "%ld recorded referrals were decided again when resent", not_replayed);
    CHECKF (replayed_unknown == 0, "%ld unrecorded referrals came back replayed", replayed_unknown);
    CHECKF (unresolved == 0, "%ld referrals are still undecided after the faults", unresolved);
    CHECKF (untrue == 0, "%ld referrals were recorded although their client was told nothing was", untrue);
    zhashx_destroy (&clients);
    zhashx_destroy (&rows);
}

typedef struct {
    long sent, requests, decided, retried, replayed, unanswered, resolved, lost, duplicated;
    long redecided;             //  of the lost (audit_expect_loss): decided again since
} audit_figures_t;

//  The audit. Prints the figures; returns them (for a scenario's own checks).
AUDIT_FN audit_figures_t
audit_check (audit_t *audit, const char *label)
{
    audit_figures_t f = { 0 };
    printf ("# %6ld ms audit\n", audit_ms ());
    zhashx_t *rows = s_audit_rows ();
    CHECKF (rows != NULL, "cannot read the database for the audit");
    long mismatched = 0, disagree = 0;
    for (size_t i = 0; i < audit->count; i++) {
        audit_ref_t *ref = audit->refs [i];
        f.sent++;
        if (ref->told > 0 && !ref->resolved)
            f.decided++;
        if (ref->told == 0 || ref->resolved)
            f.unanswered++;
        audit_row_t *row = s_audit_row (rows, ref);
        if (row)
            row->seen = true;
        if (ref->told == 0) {
            if (f.lost++ < 5)
                printf ("  LOST %s/%s: never decided (%s)\n", ref->source, ref->referral_id, ref->last_error);
            continue;
        }
        if (!row) {
            if (f.lost++ < 5)
                printf ("  LOST %s/%s: told %s seq %ld, not in the database\n",
                        ref->source, ref->referral_id, ref->decision, ref->seq);
            continue;
        }
        bool cm_differs = streq (ref->decision, "accept") && !streq (row->case_manager, ref->case_manager);
        bool differs = !streq (row->decision, ref->decision) || row->seq != ref->seq || cm_differs;
        if (s_audit_loss_expected && differs) {
            //  What it was told was lost; a later send decided it again
            f.redecided++;
            if (f.lost++ < 5)
                printf ("  LOST %s/%s: told %s seq %ld, the database has %s seq %ld (decided again since)\n",
                        ref->source, ref->referral_id, ref->decision, ref->seq, row->decision, row->seq);
            continue;
        }
        if (row->firsts != 1 || ref->told_fresh > 1) {
            if (f.duplicated++ < 5)
                printf ("  DUPLICATED %s/%s: %ld first decisions, told \"new\" %d times\n",
                        ref->source, ref->referral_id, row->firsts, ref->told_fresh);
        }
        if (differs) {
            if (mismatched++ < 5)
                printf ("  MISMATCH %s/%s: told %s seq %ld (%s), the database says %s seq %ld (%s)\n",
                        ref->source, ref->referral_id, ref->decision, ref->seq, ref->case_manager,
                        row->decision, row->seq, row->case_manager);
        }
        if (ref->told_disagree && disagree++ < 5)
            printf ("  DISAGREE %s/%s: clients were told different decisions\n", ref->source, ref->referral_id);
    }
    //  Rows no referral of ours explains, and rows without exactly one first decision
    long strangers = 0, bad_rows = 0;
    if (rows) {
        for (audit_row_t *row = (audit_row_t *) zhashx_first (rows); row; row = (audit_row_t *) zhashx_next (rows)) {
            if (!row->seen)
                strangers++;
            if (row->firsts != 1 && bad_rows++ < 5)
                printf ("  referral %s has %ld first decisions (%ld events)\n",
                        (const char *) zhashx_cursor (rows), row->firsts, row->events);
        }
    }
    f.requests = audit->requests;
    f.retried = audit->retried;
    f.replayed = audit->replayed;
    f.resolved = audit->resolved;
    CHECKF (f.lost == 0 || s_audit_loss_expected, "%s: %ld referrals lost", label, f.lost);
    CHECKF (f.duplicated == 0, "%s: %ld referrals decided twice", label, f.duplicated);
    CHECKF (mismatched == 0, "%s: %ld referrals recorded otherwise than their client was told", label, mismatched);
    CHECKF (disagree == 0, "%s: %ld referrals told differently to different clients", label, disagree);
    CHECKF (strangers == 0, "%s: %ld referrals in the database that no client sent", label, strangers);
    CHECKF (bad_rows == 0, "%s: %ld referrals without exactly one first decision", label, bad_rows);

    //  Caps: the counter and the open enrollments, both at most the hard cap, and equal.
    long above = audit_pg_long (
        "SELECT count(*) FROM divert.case_manager c JOIN divert.program p ON p.name = c.program"
        " WHERE c.caseload > p.hard_cap"
        "    OR (SELECT count(*) FROM divert.enrollment e WHERE e.case_manager_id = c.id AND e.status <> 'exited')"
        "       > p.hard_cap");
    CHECKF (above == 0, "%s: %ld case managers above the hard cap", label, above);
    long drift = audit_pg_long (
        "SELECT count(*) FROM divert.case_manager c WHERE c.caseload <>"
        " (SELECT count(*) FROM divert.enrollment e WHERE e.case_manager_id = c.id AND e.status <> 'exited')");
    CHECKF (drift == 0, "%s: %ld case managers whose caseload differs from their open enrollments", label, drift);
    long max_load = audit_pg_long ("SELECT max(caseload) FROM divert.case_manager");
    //  Nobody accepted twice (at intake or from the waitlist), and every
    //  accept has its enrollment with the case manager it named
    long accepted_twice = audit_pg_long (
        "SELECT count(*) FROM (SELECT referral_id FROM divert.decision_event WHERE decision = 'accept'"
        " GROUP BY referral_id HAVING count(*) > 1) x");
    CHECKF (accepted_twice == 0, "%s: %ld referrals accepted twice", label, accepted_twice);
    //  (a referral linked to a waitlist entry is accepted with the entry,
    //  whose enrollment is the one of the referral that opened it)
    long unenrolled = audit_pg_long (
        "SELECT count(*) FROM divert.decision_event e JOIN divert.referral r ON r.id = e.referral_id"
        " WHERE e.decision = 'accept' AND NOT EXISTS"
        " (SELECT 1 FROM divert.enrollment n WHERE n.case_manager_id = e.case_manager_id"
        "     AND (n.referral_id = e.referral_id OR n.referral_id ="
        "          (SELECT w.referral_id FROM divert.waitlist_entry w WHERE w.id = r.waitlist_entry_id)))");
    CHECKF (unenrolled == 0, "%s: %ld accepts without their enrollment", label, unenrolled);
    //  seq: 1..max without gaps per source, and the counter at max
    long gaps = audit_pg_long (
        "SELECT count(*) FROM (SELECT source_id, count(*) n, min(seq) lo, max(seq) hi"
        "  FROM divert.decision_event GROUP BY source_id) s JOIN divert.source src ON src.id = s.source_id"
        " WHERE s.n <> s.hi OR s.lo <> 1 OR src.last_seq <> s.hi");
    CHECKF (gaps == 0, "%s: %ld sources with gaps in seq", label, gaps);
    long events = audit_pg_long ("SELECT count(*) FROM divert.decision_event");
    long later = audit_pg_long ("SELECT count(*) FROM divert.decision_event WHERE from_waitlist"
                                " OR decision NOT IN ('accept', 'waitlist', 'decline') OR reason = 'waitlist_expired'");
    long accepted = audit_pg_long ("SELECT count(*) FROM divert.decision_event WHERE decision = 'accept'");
    zhashx_destroy (&rows);
    printf ("FIGURES %s: sent=%ld decided=%ld retried=%ld replayed=%ld lost=%ld duplicated=%ld"
            " | requests=%ld unanswered=%ld resolved=%ld mismatched=%ld no_reply=%ld unavailable=%ld"
            " internal=%ld other_errors=%ld disconnected=%ld events=%ld later_events=%ld accepts=%ld max_caseload=%ld"
            " lost_then_decided_again=%ld\n",
            label, f.sent, f.decided, f.retried, f.replayed, f.lost, f.duplicated,
            f.requests, f.unanswered, f.resolved, mismatched, audit->no_reply, audit->errors_unavailable,
            audit->errors_internal, audit->errors_other, audit->disconnected, events, later, accepted, max_load,
            f.redecided);
    fflush (stdout);
    return f;
}

//  ---------------------------------------------------------------------------
//  Enrollment changes: a case-management system's stream under the faults.
//
//  One thread with a cms key (the site's "records", every program) walks
//  accepted people through intake_completed, in_the_wind, re_engaged and
//  exited (graduated), each change at most once per enrollment, with a Lazy
//  Pirate dv_client (the same request on a new socket when no reply comes).
//  The audit (audit_cms_check): every change the system was told about
//  (an `enrollment` reply) is in the feed exactly once, with the seq it was
//  told, never told "new" twice; a change never answered, or refused (say
//  the person was discharged meanwhile), is there at most once; and each
//  program's feed seq is 1..max without gaps, matching enrollment_feed.

typedef struct {
    char source [32];
    char referral_id [40];
    char change [20];
    const char *reason;
    json_t *request;
    int told, told_fresh;       //  enrollment replies, and those not replayed
    long seq;                   //  the seq of the first one
    bool disagree;              //  a later reply told another seq
    bool refused;               //  conflict / not_found
    bool unanswered;            //  no reply under the faults
    bool resolved;              //  answered by the resend afterwards
} audit_change_t;

typedef struct {
    itest_t *t;
    int slot;
    pthread_t thread;
    atomic_int stop;
    bool stopped;               //  audit_cms_stop ran (the thread is joined)
    pthread_mutex_t lock;
    zlistx_t *changes;          //  audit_change_t *
    zhashx_t *walked;           //  referral ids whose walk began
    long sent;
} audit_cms_t;

static void
s_audit_change_destroy (audit_change_t **self_p)
{
    if (*self_p) {
        json_decref ((*self_p)->request);
        free (*self_p);
        *self_p = NULL;
    }
}

//  Record one reply (NULL: none) to a change.
static void
s_audit_change_told (audit_change_t *change, json_t *reply, bool resolving)
{
    const char *type = json_string_value (json_object_get (reply, "type"));
    const char *code = json_string_value (json_object_get (reply, "code"));
    if (type && streq (type, "enrollment")) {
        long seq = (long) json_integer_value (json_object_get (reply, "seq"));
        if (change->told == 0)
            change->seq = seq;
        else
        if (seq != change->seq)
            change->disagree = true;
        change->told++;
        if (!json_is_true (json_object_get (reply, "replayed")))
            change->told_fresh++;
        change->resolved = resolving && change->unanswered;
    }
    else
    if (code && (streq (code, "conflict") || streq (code, "not_found")))
        change->refused = true;
    else
    if (!resolving)
        change->unanswered = true;
}

//  One change of one enrollment; false when the walk should stop.
static bool
s_audit_cms_change (audit_cms_t *self, dv_client_t *client, const char *source, const char *referral_id,
                    const char *what)
{
    audit_change_t *change = calloc (1, sizeof *change);
    snprintf (change->source, sizeof change->source, "%s", source);
    snprintf (change->referral_id, sizeof change->referral_id, "%s", referral_id);
    snprintf (change->change, sizeof change->change, "%s", what);
    change->reason = streq (what, "exited") ? "graduated" : NULL;
    change->request = json_pack ("{s:i, s:s, s:s, s:s, s:s}", "v", 1, "type", "enrollment",
                                 "source_id", source, "referral_id", referral_id, "change", what);
    if (change->reason)
        json_object_set_new (change->request, "reason", json_string (change->reason));
    pthread_mutex_lock (&self->lock);
    zlistx_add_end (self->changes, change);
    self->sent++;
    pthread_mutex_unlock (&self->lock);
    json_t *reply = dv_client_request (client, change->request);
    pthread_mutex_lock (&self->lock);
    s_audit_change_told (change, reply, false);
    bool go_on = change->told > 0;
    pthread_mutex_unlock (&self->lock);
    json_decref (reply);
    return go_on;
}

static void *
s_audit_cms_run (void *arg)
{
    static const char *walk [] = { "intake_completed", "in_the_wind", "re_engaged", "exited" };
    audit_cms_t *self = (audit_cms_t *) arg;
    dv_client_t *client = itest_client (self->t, "records", self->slot);
    dv_client_set_timeout (client, 1500);
    dv_client_set_attempts (client, 20);
    PGconn *conn = NULL;
    while (!atomic_load (&self->stop)) {
        if (!conn || PQstatus (conn) != CONNECTION_OK) {
            PQfinish (conn);
            conn = PQconnectdb ("application_name=fault-audit-cms");
        }
        //  Someone accepted and not yet walked (what the bridge learns from the feed)
        PGresult *result = PQexec (conn,
            "SELECT r.source_id, r.referral_id FROM divert.enrollment e JOIN divert.referral r ON r.id = e.referral_id"
            " WHERE e.status = 'pending_intake' ORDER BY e.id DESC LIMIT 50");
        char source [32] = "", referral_id [40] = "";
        for (int row = 0; PQresultStatus (result) == PGRES_TUPLES_OK && row < PQntuples (result); row++)
            if (!zhashx_lookup (self->walked, PQgetvalue (result, row, 1))) {
                snprintf (source, sizeof source, "%s", PQgetvalue (result, row, 0));
                snprintf (referral_id, sizeof referral_id, "%s", PQgetvalue (result, row, 1));
                break;
            }
        PQclear (result);
        if (!*referral_id) {
            zclock_sleep (50);
            continue;
        }
        zhashx_insert (self->walked, referral_id, (void *) 1);
        for (size_t step = 0; step < 4 && !atomic_load (&self->stop); step++)
            if (!s_audit_cms_change (self, client, source, referral_id, walk [step]))
                break;
    }
    PQfinish (conn);
    dv_client_destroy (&client);
    return NULL;
}

AUDIT_FN audit_cms_t *
audit_cms_start (itest_t *t, int slot)
{
    audit_cms_t *self = calloc (1, sizeof *self);
    self->t = t;
    self->slot = slot;
    atomic_init (&self->stop, 0);
    pthread_mutex_init (&self->lock, NULL);
    self->changes = zlistx_new ();
    zlistx_set_destructor (self->changes, (zlistx_destructor_fn *) s_audit_change_destroy);
    self->walked = zhashx_new ();
    pthread_create (&self->thread, NULL, s_audit_cms_run, self);
    return self;
}

//  Stop the stream, then send every unanswered change once more (as the
//  system would): it is applied now, or answered as replayed. Once: a
//  scenario may stop it before audit_finish does.
AUDIT_FN void
audit_cms_stop (audit_cms_t *self)
{
    if (self->stopped)
        return;
    self->stopped = true;
    atomic_store (&self->stop, 1);
    pthread_join (self->thread, NULL);
    dv_client_t *client = itest_client (self->t, "records", self->slot);
    dv_client_set_timeout (client, 5000);
    dv_client_set_attempts (client, 5);
    for (audit_change_t *change = (audit_change_t *) zlistx_first (self->changes); change;
         change = (audit_change_t *) zlistx_next (self->changes))
        if (change->unanswered) {
            json_t *reply = dv_client_request (client, change->request);
            s_audit_change_told (change, reply, true);
            json_decref (reply);
        }
    dv_client_destroy (&client);
}

//  How many events of `change` the feed has for the referral, and the seq of one.
static long
s_audit_change_events (PGconn *conn, const audit_change_t *change, long *seq)
{
    const char *params [] = { change->source, change->referral_id, change->change };
    PGresult *result = PQexecParams (conn,
        "SELECT count(*), COALESCE(min(ev.seq), 0) FROM divert.enrollment_event ev"
        " JOIN divert.referral r ON r.id = ev.referral_id"
        " WHERE r.source_id = $1 AND r.referral_id = $2 AND ev.change = $3", 3, NULL, params, NULL, NULL, 0);
    long count = -1;
    if (PQresultStatus (result) == PGRES_TUPLES_OK) {
        count = atol (PQgetvalue (result, 0, 0));
        *seq = atol (PQgetvalue (result, 0, 1));
    }
    PQclear (result);
    return count;
}

AUDIT_FN void
audit_cms_check (audit_cms_t **self_p, const char *label)
{
    audit_cms_t *self = *self_p;
    PGconn *conn = audit_pg ();
    long sent = 0, told = 0, replayed = 0, refused = 0, unanswered = 0, resolved = 0;
    long lost = 0, duplicated = 0, mismatched = 0;
    for (audit_change_t *change = (audit_change_t *) zlistx_first (self->changes); conn && change;
         change = (audit_change_t *) zlistx_next (self->changes)) {
        long seq = 0, events = s_audit_change_events (conn, change, &seq);
        sent++;
        told += change->told > 0;
        replayed += change->told > change->told_fresh;
        refused += change->refused && change->told == 0;
        unanswered += change->unanswered;
        resolved += change->resolved;
        if (change->told > 0 && events == 0 && lost++ < 5)
            printf ("  LOST change %s of %s: told seq %ld, not in the feed\n", change->change,
                    change->referral_id, change->seq);
        if ((events > 1 || change->told_fresh > 1) && duplicated++ < 5)
            printf ("  DUPLICATED change %s of %s: %ld events, told new %d times\n", change->change,
                    change->referral_id, events, change->told_fresh);
        if (change->told > 0 && events == 1 && (seq != change->seq || change->disagree) && mismatched++ < 5)
            printf ("  MISMATCH change %s of %s: told seq %ld, the feed has %ld\n", change->change,
                    change->referral_id, change->seq, seq);
    }
    //  Each program's feed: 1..max, no gaps, the counter agrees
    long gaps = audit_pg_long (
        "SELECT count(*) FROM divert.enrollment_feed f WHERE f.last_seq <>"
        " (SELECT count(*) FROM divert.enrollment_event e WHERE e.program = f.program)"
        " OR f.last_seq <> COALESCE((SELECT max(seq) FROM divert.enrollment_event e WHERE e.program = f.program), 0)");
    long events = audit_pg_long ("SELECT count(*) FROM divert.enrollment_event");
    CHECKF (conn != NULL, "cannot read the database for the enrollment audit");
    CHECKF (told > 0, "%s: no enrollment change was acknowledged", label);
    CHECKF (lost == 0 || s_audit_loss_expected, "%s: %ld acknowledged enrollment changes lost", label, lost);
    CHECKF (duplicated == 0, "%s: %ld enrollment changes applied or told new twice", label, duplicated);
    CHECKF (mismatched == 0 || s_audit_loss_expected, "%s: %ld enrollment changes told another seq", label,
            mismatched);
    CHECKF (gaps == 0, "%s: %ld programs' enrollment feeds have gaps", label, gaps);
    printf ("FIGURES %s enrollment changes: sent=%ld acknowledged=%ld replayed=%ld refused=%ld"
            " unanswered=%ld resolved=%ld lost=%ld duplicated=%ld mismatched=%ld feed_events=%ld feed_gaps=%ld\n",
            label, sent, told, replayed, refused, unanswered, resolved, lost, duplicated, mismatched, events, gaps);
    fflush (stdout);
    PQfinish (conn);
    zlistx_destroy (&self->changes);
    zhashx_destroy (&self->walked);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------------
//  Events: a monitor subscribed to every event of daemon `slot` for the whole
//  scenario (it reconnects by itself across restarts). Every event it gets
//  must be committed: the database has the same source, seq, referral and
//  decision ("published only after it is committed"), and no (source, seq)
//  comes twice. PUB is best-effort, so missing events are only counted.

typedef struct {
    audit_t *audit;
    int slot;
    dv_subscriber_t *sub;
    atomic_int stop;
    pthread_t thread;
    zhashx_t *seen;             //  "source|seq" -> "referral_id|decision"
    long events, twice;         //  heard, and heard again the same
    long reassigned;            //  a seq heard again for another event (after a loss)
} audit_events_t;

static void *
s_audit_events_run (void *arg)
{
    audit_events_t *self = (audit_events_t *) arg;
    while (!atomic_load (&self->stop)) {
        json_t *event = dv_subscriber_recv (self->sub, 100, NULL);
        if (!event)
            continue;
        char key [96], value [96];
        snprintf (key, sizeof key, "%s|%lld", json_string_value (json_object_get (event, "source_id")),
                  (long long) json_integer_value (json_object_get (event, "seq")));
        snprintf (value, sizeof value, "%s|%s", json_string_value (json_object_get (event, "referral_id")),
                  json_string_value (json_object_get (event, "decision")));
        for (char *c = value; *c; c++)
            *c = (char) tolower ((unsigned char) *c);
        self->events++;
        const char *before = (const char *) zhashx_lookup (self->seen, key);
        if (before && streq (before, value))
            self->twice++;
        else
        if (before) {
            self->reassigned++;
            zhashx_update (self->seen, key, strdup (value));       //  the later one is the one kept
        }
        else
            zhashx_insert (self->seen, key, strdup (value));
        json_decref (event);
    }
    return NULL;
}

//  Start listening on daemon `slot` (after the first audit_* call, before the faults).
AUDIT_FN audit_events_t *
audit_events_start (audit_t *audit, int slot)
{
    audit_events_t *self = calloc (1, sizeof *self);
    self->audit = audit;
    self->slot = slot;
    char cert [600];
    snprintf (cert, sizeof cert, "%s/ops.cert", itest_tmp (audit->t));
    self->sub = dv_subscriber_new (itest_decisions (audit->t, slot), itest_server_cert (audit->t), cert, "decision.");
    self->seen = zhashx_new ();
    zhashx_set_destructor (self->seen, (zhashx_destructor_fn *) zstr_free);
    atomic_init (&self->stop, 0);
    pthread_create (&self->thread, NULL, s_audit_events_run, self);
    return self;
}

//  Stop listening and check what was heard against the database.
AUDIT_FN void
audit_events_check (audit_events_t **self_p, const char *label)
{
    audit_events_t *self = *self_p;
    zclock_sleep (300);         //  the last ones in flight
    atomic_store (&self->stop, 1);
    pthread_join (self->thread, NULL);
    dv_subscriber_destroy (&self->sub);
    PGconn *conn = audit_pg ();
    PGresult *result = conn ? PQexec (conn,
        "SELECT e.source_id || '|' || e.seq, lower(r.referral_id) || '|' || e.decision"
        "  FROM divert.decision_event e JOIN divert.referral r ON r.id = e.referral_id") : NULL;
    long phantom = 0, wrong = 0, total = 0;
    if (result && PQresultStatus (result) == PGRES_TUPLES_OK) {
        zhashx_t *db = zhashx_new ();
        for (int i = 0; i < PQntuples (result); i++)
            zhashx_insert (db, PQgetvalue (result, i, 0), PQgetvalue (result, i, 1));
        total = PQntuples (result);
        for (const char *value = (const char *) zhashx_first (self->seen); value;
             value = (const char *) zhashx_next (self->seen)) {
            const char *key = (const char *) zhashx_cursor (self->seen);
            const char *stored = (const char *) zhashx_lookup (db, key);
            if (!stored) {
                if (phantom++ < 5)
                    printf ("  PHANTOM event %s (%s): not in the database\n", key, value);
            }
            else
            if (!streq (stored, value) && wrong++ < 5)
                printf ("  event %s says %s, the database %s\n", key, value, stored);
        }
        zhashx_destroy (&db);
    }
    else
        printf ("  audit sql error: %s", conn ? PQerrorMessage (conn) : "no connection\n");
    PQclear (result);
    PQfinish (conn);
    printf ("# events (%s, daemon %d): %ld heard, %zu distinct, of %ld recorded; %ld twice, %ld not committed,"
            " %ld different, %ld seq given again to another event\n", label, self->slot, self->events,
            zhashx_size (self->seen), total, self->twice, phantom, wrong, self->reassigned);
    CHECKF (phantom == 0 || s_audit_loss_expected, "%s: %ld events published that are not in the database",
            label, phantom);
    CHECKF (wrong == 0 || s_audit_loss_expected, "%s: %ld events published unlike the database", label, wrong);
    CHECKF (self->reassigned == 0 || s_audit_loss_expected, "%s: %ld seqs published for two events", label,
            self->reassigned);
    //  After a loss, a decision lost in the switch and made again the same
    //  way can take the same seq again: the same event, published twice
    CHECKF (self->twice == 0 || s_audit_loss_expected, "%s: %ld events published twice", label, self->twice);
    CHECKF (self->events > 0, "%s: no event heard", label);
    zhashx_destroy (&self->seen);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------------
//  Daemon helpers

//  VmRSS of a process in kB (-1 if gone).
AUDIT_FN long
audit_rss_kb (int pid)
{
    char path [64], line [256];
    snprintf (path, sizeof path, "/proc/%d/status", pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    long kb = -1;
    while (fgets (line, sizeof line, file))
        if (strncmp (line, "VmRSS:", 6) == 0)
            kb = atol (line + 6);
    fclose (file);
    return kb;
}

//  Is daemon `slot` still running (not exited behind our back)?
AUDIT_FN bool
audit_daemon_alive (itest_t *t, int slot)
{
    int pid = itest_daemon_pid (t, slot);
    if (pid <= 0)
        return false;
    siginfo_t info = { 0 };         //  WNOWAIT: itest_daemon_stop still reaps it
    return waitid (P_PID, (id_t) pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0;
}

//  Lines of daemon `slot`'s log that contain `text`.
AUDIT_FN int
audit_log_count (itest_t *t, int slot, const char *text)
{
    FILE *log = fopen (itest_daemon_log (t, slot), "r");
    if (!log)
        return 0;
    char line [4096];
    int count = 0;
    while (fgets (line, sizeof line, log))
        if (strstr (line, text))
            count++;
    fclose (log);
    return count;
}

//  ---------------------------------------------------------------------------
//  What every scenario shares: its end, and its main ()

//  The end of a load scenario, once the load has stopped: wait for what is
//  in flight (a barrier on daemon `slot`), send again what went unanswered,
//  stop the enrollment-change stream, then audit the referrals, the events
//  (when watched) and the enrollment changes (when streamed): events and
//  changes may be NULL. Returns the referral figures.
AUDIT_FN audit_figures_t
audit_finish (audit_t *audit, int slot, const char *label, audit_events_t **events, audit_cms_t **changes)
{
    audit_barrier (audit, slot);
    audit_resolve (audit, slot);
    if (changes && *changes)
        audit_cms_stop (*changes);
    audit_figures_t figures = audit_check (audit, label);
    if (events && *events)
        audit_events_check (events, label);
    if (changes && *changes)
        audit_cms_check (changes, label);
    CHECK (figures.decided > 0);
    return figures;
}

//  main () of a scenario: the site (audit_site) in *t_p, then setup (may
//  be NULL: more sources, the environment), daemon 0 started when `start`,
//  the scenario as one test case, every daemon still running stopped with
//  SIGTERM (each must exit 0), and the summary line.
AUDIT_FN int
audit_main (const char *name, itest_t **t_p, void (*setup) (itest_t *t), void (*scenario) (void),
            const char *scenario_name, bool start)
{
    TESTLIB_BEGIN (name);
    zsys_init ();                   //  before any thread touches CZMQ
    itest_t *t = *t_p = itest_new ();
    audit_site (t);
    if (setup)
        setup (t);
    if (start && itest_daemon_start (t, 0) < 0) {
        printf ("divertd did not start\n");
        itest_destroy (t_p);
        return 1;
    }
    testlib_case_failed = 0;
    scenario ();
    if (testlib_case_failed) {
        testlib_failed++;
        printf ("not ok - %s\n", scenario_name);
    }
    else {
        testlib_passed++;
        printf ("ok - %s\n", scenario_name);
    }
    testlib_case_failed = 0;
    for (int slot = 0; slot < ITEST_MAX_DAEMONS; slot++)
        if (itest_daemon_pid (t, slot))
            CHECK_INT (itest_daemon_stop (t, slot, SIGTERM), 0);
    if (testlib_case_failed) {
        testlib_failed++;
        printf ("not ok - every divertd stops cleanly\n");
    }
    itest_destroy (t_p);
    return TESTLIB_END ();
}

//  int main (void) of a fault_*.c: `t` its itest_t, setup a function or
//  NULL, scenario its one test case.
#define AUDIT_MAIN(name, t, setup, scenario, start) \
    int main (void) { return audit_main (name, &t, setup, scenario, #scenario, start); }

#endif
