/*  keys — CURVE keys and who holds them: `keygen`, `source add|revoke|list`,
    `monitor add|revoke|list` and `cms add|revoke|list` (a case-management
    system's key, confined to its programs). A new keypair is written in CZMQ's
    certificate format (PATH public, PATH_secret private, mode 0600) only
    inside the transaction that registers its public key, so a refused
    registration leaves no orphan key files behind. Existing files are
    never overwritten.
*/
#include "divertctl.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  The key of one registration: a new keypair (cert_out) or a partner's key.
typedef struct {
    const char *cert_out;
    const char *public_key;
    zcert_t *cert;
    char secret_path [4096];
} s_key_t;

static const char *s_kinds [] = { "police", "community", "court", "prosecutor", NULL };

static bool
s_exists (const char *path)
{
    struct stat st;
    return lstat (path, &st) == 0;
}

//  Both files must be absent; PATH_secret goes to secret_path.
static int
s_check_paths (const char *path, char *secret_path, size_t size)
{
    if (!*path)
        return ctl_fail ("the certificate path is empty");
    snprintf (secret_path, size, "%s_secret", path);
    if (s_exists (path))
        return ctl_fail ("%s already exists: refusing to overwrite it", path);
    if (s_exists (secret_path))
        return ctl_fail ("%s already exists: refusing to overwrite it", secret_path);
    return CTL_OK;
}

static int
s_save_cert (zcert_t *cert, const char *path, const char *secret_path)
{
    if (zcert_save (cert, path) != 0) {
        unlink (path);
        unlink (secret_path);
        return ctl_fail ("cannot write %s and %s", path, secret_path);
    }
    chmod (secret_path, 0600);
    chmod (path, 0644);
    return CTL_OK;
}

//  Validate the key options and make the keypair (not yet written).
static int
s_key_prepare (s_key_t *key, const char *command, const char *role, const char *id)
{
    if (!key->cert_out == !key->public_key)
        return ctl_usage ("%s: give either --cert-out PATH (a new keypair) or --public-key Z85", command);
    if (key->public_key) {
        if (!ctl_valid_z85_key (key->public_key))
            return ctl_fail ("--public-key must be a CURVE public key: 40 characters of Z85");
        return CTL_OK;
    }
    if (s_check_paths (key->cert_out, key->secret_path, sizeof key->secret_path))
        return CTL_FAIL;
    key->cert = zcert_new ();
    if (!key->cert)
        return ctl_fail ("cannot make a keypair");
    zcert_set_meta (key->cert, role, "%s", id);
    zcert_set_meta (key->cert, "created-by", "divertctl");
    key->public_key = zcert_public_txt (key->cert);
    return CTL_OK;
}

//  Refuse a public key that is already someone's.
static int
s_key_unused (dv_db_t *db, const char *public_key)
{
    const char *params [] = { public_key };
    PGresult *result = ctl_exec (db,
        "SELECT 'source ' || id FROM source WHERE public_key = $1"
        " UNION ALL SELECT 'monitor ' || id FROM monitor WHERE public_key = $1"
        " UNION ALL SELECT 'cms ' || id FROM cms WHERE public_key = $1", 1, params);
    if (!result)
        return CTL_FAIL;
    int rc = CTL_OK;
    if (PQntuples (result) > 0)
        rc = ctl_fail ("that public key is already registered (%s)", PQgetvalue (result, 0, 0));
    PQclear (result);
    return rc;
}

//  Run the INSERT, write the key files, commit. Files are removed on failure.
static int
s_key_register (dv_db_t *db, s_key_t *key, const char *sql, int nparams, const char *const *params)
{
    if (s_key_unused (db, key->public_key) || ctl_command (db, "BEGIN"))
        return CTL_FAIL;
    PGresult *result = ctl_exec (db, sql, nparams, params);
    if (!result) {
        ctl_rollback (db);
        return CTL_FAIL;
    }
    PQclear (result);
    if (key->cert && s_save_cert (key->cert, key->cert_out, key->secret_path)) {
        ctl_rollback (db);
        return CTL_FAIL;
    }
    if (ctl_command (db, "COMMIT")) {
        if (key->cert) {
            unlink (key->cert_out);
            unlink (key->secret_path);
        }
        return CTL_FAIL;
    }
    return CTL_OK;
}

static int
s_print_key_advice (const s_key_t *key, const char *who)
{
    printf ("public key: %s\n", key->public_key);
    if (key->cert)
        printf ("Give %s %s and %s over a secure channel (the _secret file is theirs alone: delete"
                " your copy once delivered), with the server's public certificate and the endpoints.\n",
                who, key->cert_out, key->secret_path);
    else
        printf ("%s keeps their own secret key; give them the server's public certificate and the endpoints.\n",
                who);
    return CTL_OK;
}


//  --------------------------------------------------------------------------
//  keygen PATH

int
ctl_keygen (ctl_t *ctl, int argc, char **argv)
{
    (void) ctl;
    ctl_opt_t opts [] = { { NULL, false, NULL } };
    const char *pos [1];
    int npos;
    if (ctl_parse ("keygen", argc, argv, 1, opts, pos, 1, &npos))
        return CTL_USAGE;
    if (npos != 1)
        return ctl_usage ("keygen: give the PATH of the certificate to write");
    char secret_path [4096];
    if (s_check_paths (pos [0], secret_path, sizeof secret_path))
        return CTL_FAIL;
    zcert_t *cert = zcert_new ();
    if (!cert)
        return ctl_fail ("cannot make a keypair");
    zcert_set_meta (cert, "created-by", "divertctl");
    int rc = s_save_cert (cert, pos [0], secret_path);
    if (rc == CTL_OK)
        printf ("wrote %s (public) and %s (secret, mode 0600)\npublic key: %s\n",
                pos [0], secret_path, zcert_public_txt (cert));
    zcert_destroy (&cert);
    return rc;
}


//  --------------------------------------------------------------------------
//  Revoke and list, shared by sources and monitors

//  sql_revoke returns the row when it was revoked now; sql_when returns the
//  earlier revocation time of an existing row.
static int
s_revoke (dv_db_t *db, const char *what, const char *id, const char *sql_revoke, const char *sql_when)
{
    const char *params [] = { id };
    PGresult *result = ctl_exec (db, sql_revoke, 1, params);
    if (!result)
        return CTL_FAIL;
    bool revoked = PQntuples (result) > 0;
    PQclear (result);
    if (revoked) {
        printf ("%s %s revoked: new connections with its key are refused now; connections already open"
                " get 'forbidden' for every request and lose their subscriptions within 60 s (at once"
                " when divertd is connected to the database)\n", what, id);
        return CTL_OK;
    }
    if (!(result = ctl_exec (db, sql_when, 1, params)))
        return CTL_FAIL;
    int rc = CTL_OK;
    if (PQntuples (result) == 0)
        rc = ctl_fail ("no %s %s", what, id);
    else
        printf ("%s %s was already revoked (%s)\n", what, id, PQgetvalue (result, 0, 0));
    PQclear (result);
    return rc;
}

//  One line per key: id, kind (or `kind`, for every row), key, state, name
//  (and the programs of a case-management key).
static int
s_list_human (json_t *rows, const char *kind)
{
    if (json_array_size (rows) == 0)
        printf ("(none)\n");
    size_t index;
    json_t *row;
    json_array_foreach (rows, index, row) {
        const char *revoked = ctl_str (row, "revoked_at");
        char programs [300] = "";
        if (json_is_array (json_object_get (row, "programs")))
            ctl_join (json_object_get (row, "programs"), "no programs", programs, sizeof programs);
        printf ("%-20s %-11s %-40s  %s%s  %s%s%s%s\n", ctl_str (row, "id"),
                kind ? kind : ctl_str (row, "kind"), ctl_str (row, "public_key"),
                revoked ? "revoked " : "active", revoked ? revoked : "", ctl_str (row, "name"),
                *programs ? " (" : "", programs, *programs ? ")" : "");
    }
    return CTL_OK;
}

static int
s_list (dv_db_t *db, const char *key, const char *sql, bool json, const char *kind)
{
    json_t *rows = ctl_json (db, sql, 0, NULL);
    if (!rows)
        return CTL_FAIL;
    if (json)
        return ctl_print_json (json_pack ("{s:o}", key, rows));
    s_list_human (rows, kind);
    json_decref (rows);
    return CTL_OK;
}


//  --------------------------------------------------------------------------
//  source add|revoke|list

static bool
s_valid_kind (const char *kind)
{
    for (int index = 0; kind && s_kinds [index]; index++)
        if (strcmp (kind, s_kinds [index]) == 0)
            return true;
    return false;
}

static int
s_source_add (dv_db_t *db, const char *id, ctl_opt_t *opts)
{
    const char *kind = ctl_opt (opts, "--kind"), *name = ctl_opt (opts, "--name");
    if (!kind || !name)
        return ctl_usage ("source add: --kind and --name are required");
    if (!s_valid_kind (kind))
        return ctl_fail ("--kind must be police, community, court or prosecutor, not '%s'", kind);
    if (!*name || strlen (name) > 200)
        return ctl_fail ("--name must be 1 to 200 characters");
    s_key_t key = { ctl_opt (opts, "--cert-out"), ctl_opt (opts, "--public-key"), NULL, "" };
    int rc = s_key_prepare (&key, "source add", "source", id);
    if (rc == CTL_OK) {
        const char *params [] = { id, kind, name, key.public_key };
        rc = s_key_register (db, &key,
            "INSERT INTO source (id, kind, name, public_key) VALUES ($1, $2, $3, $4)", 4, params);
    }
    if (rc == CTL_OK) {
        printf ("source %s (%s, %s) registered\n", id, kind, name);
        s_print_key_advice (&key, "the partner");
    }
    zcert_destroy (&key.cert);
    return rc;
}

static int
s_source_exists_check (dv_db_t *db, const char *id)
{
    const char *params [] = { id };
    PGresult *result = ctl_exec (db, "SELECT kind FROM source WHERE id = $1", 1, params);
    if (!result)
        return CTL_FAIL;
    int rc = PQntuples (result) ? ctl_fail ("source %s already exists (%s)", id, PQgetvalue (result, 0, 0))
                                : CTL_OK;
    PQclear (result);
    return rc;
}

int
ctl_source (ctl_t *ctl, int argc, char **argv)
{
    ctl_opt_t opts [] = {
        { "--kind", true, NULL }, { "--name", true, NULL }, { "--cert-out", true, NULL },
        { "--public-key", true, NULL }, { "--json", false, NULL }, { NULL, false, NULL } };
    const char *pos [2];
    int npos;
    if (ctl_parse ("source", argc, argv, 1, opts, pos, 2, &npos))
        return CTL_USAGE;
    const char *verb = npos ? pos [0] : "";
    bool list = strcmp (verb, "list") == 0;
    if (list ? npos != 1 : npos != 2 || (strcmp (verb, "add") && strcmp (verb, "revoke")))
        return ctl_usage ("source: use source add ID ..., source revoke ID or source list");
    if (!list && !ctl_valid_id (pos [1], 32, "_-", true))
        return ctl_fail ("'%s' is not a valid source id: 1-32 characters, lowercase letters, digits,"
                         " '_' or '-', starting with a letter or digit", pos [1]);
    dv_db_t *db = ctl_db (ctl);
    if (!db)
        return CTL_FAIL;
    if (list)
        return s_list (db, "sources",
            "SELECT COALESCE(json_agg(json_build_object('id', id, 'kind', kind, 'name', name,"
            " 'public_key', public_key, 'revoked_at', s_rfc3339(revoked_at), 'last_seq', last_seq,"
            " 'created_at', s_rfc3339(created_at)) ORDER BY id), '[]') FROM source",
            ctl_opt (opts, "--json") != NULL, NULL);
    if (strcmp (verb, "revoke") == 0)
        return s_revoke (db, "source", pos [1],
            "UPDATE source SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id",
            "SELECT s_rfc3339(revoked_at) FROM source WHERE id = $1");
    if (s_source_exists_check (db, pos [1]))
        return CTL_FAIL;
    return s_source_add (db, pos [1], opts);
}


//  --------------------------------------------------------------------------
//  monitor add|revoke|list

static int
s_monitor_add (dv_db_t *db, const char *id, ctl_opt_t *opts)
{
    const char *name = ctl_opt (opts, "--name");
    if (name && strlen (name) > 200)
        return ctl_fail ("--name must be at most 200 characters");
    const char *params [] = { id };
    PGresult *result = ctl_exec (db, "SELECT 1 FROM monitor WHERE id = $1", 1, params);
    if (!result)
        return CTL_FAIL;
    bool exists = PQntuples (result) > 0;
    PQclear (result);
    if (exists)
        return ctl_fail ("monitor %s already exists", id);
    s_key_t key = { ctl_opt (opts, "--cert-out"), ctl_opt (opts, "--public-key"), NULL, "" };
    int rc = s_key_prepare (&key, "monitor add", "monitor", id);
    if (rc == CTL_OK) {
        const char *insert [] = { id, name ? name : "", key.public_key };
        rc = s_key_register (db, &key,
            "INSERT INTO monitor (id, name, public_key) VALUES ($1, $2, $3)", 3, insert);
    }
    if (rc == CTL_OK) {
        printf ("monitor %s registered: it may subscribe to every event and replay any source\n", id);
        s_print_key_advice (&key, "the operator");
    }
    zcert_destroy (&key.cert);
    return rc;
}

int
ctl_monitor (ctl_t *ctl, int argc, char **argv)
{
    ctl_opt_t opts [] = {
        { "--name", true, NULL }, { "--cert-out", true, NULL }, { "--public-key", true, NULL },
        { "--json", false, NULL }, { NULL, false, NULL } };
    const char *pos [2];
    int npos;
    if (ctl_parse ("monitor", argc, argv, 1, opts, pos, 2, &npos))
        return CTL_USAGE;
    const char *verb = npos ? pos [0] : "";
    bool list = strcmp (verb, "list") == 0;
    if (list ? npos != 1 : npos != 2 || (strcmp (verb, "add") && strcmp (verb, "revoke")))
        return ctl_usage ("monitor: use monitor add ID ..., monitor revoke ID or monitor list");
    if (!list && !ctl_valid_id (pos [1], 32, "_-", true))
        return ctl_fail ("'%s' is not a valid monitor id: 1-32 characters, lowercase letters, digits,"
                         " '_' or '-', starting with a letter or digit", pos [1]);
    dv_db_t *db = ctl_db (ctl);
    if (!db)
        return CTL_FAIL;
    if (list)
        return s_list (db, "monitors",
            "SELECT COALESCE(json_agg(json_build_object('id', id, 'name', name,"
            " 'public_key', public_key, 'revoked_at', s_rfc3339(revoked_at),"
            " 'created_at', s_rfc3339(created_at)) ORDER BY id), '[]') FROM monitor",
            ctl_opt (opts, "--json") != NULL, "monitor");
    if (strcmp (verb, "revoke") == 0)
        return s_revoke (db, "monitor", pos [1],
            "UPDATE monitor SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id",
            "SELECT s_rfc3339(revoked_at) FROM monitor WHERE id = $1");
    return s_monitor_add (db, pos [1], opts);
}


//  --------------------------------------------------------------------------
//  cms add|revoke|list: a case-management system's key, for its programs

//  --programs P,Q: each an existing program. Fills `list` ("{P,Q}", an SQL
//  array literal of checked names).
static int
s_cms_programs (dv_db_t *db, const char *programs, char *list, size_t size)
{
    if (!programs || !*programs)
        return ctl_usage ("cms add: --programs P[,Q...] is required");
    if (strlen (programs) + 3 > size)
        return ctl_fail ("--programs is too long");
    snprintf (list, size, "{%s}", programs);
    const char *params [] = { list };
    PGresult *result = ctl_exec (db,
        "SELECT COALESCE(string_agg(x, ', '), '') FROM unnest($1::text[]) x"
        " WHERE NOT EXISTS (SELECT 1 FROM program p WHERE p.name = x)", 1, params);
    if (!result)
        return CTL_FAIL;
    int rc = *PQgetvalue (result, 0, 0) ? ctl_fail ("no program named %s", PQgetvalue (result, 0, 0)) : CTL_OK;
    PQclear (result);
    return rc;
}

static int
s_cms_add (dv_db_t *db, const char *id, ctl_opt_t *opts)
{
    const char *name = ctl_opt (opts, "--name");
    if (!name)
        return ctl_usage ("cms add: --name is required");
    if (!*name || strlen (name) > 200)
        return ctl_fail ("--name must be 1 to 200 characters");
    for (const char *c = ctl_opt (opts, "--programs"); c && *c; c++)
        if (!(*c == ',' || *c == '-' || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
            return ctl_fail ("--programs must be program names separated by commas, like LEAD,CO-LEAD");
    char programs [400];
    if (s_cms_programs (db, ctl_opt (opts, "--programs"), programs, sizeof programs))
        return CTL_FAIL;
    const char *params [] = { id };
    PGresult *result = ctl_exec (db, "SELECT 1 FROM cms WHERE id = $1", 1, params);
    if (!result)
        return CTL_FAIL;
    bool exists = PQntuples (result) > 0;
    PQclear (result);
    if (exists)
        return ctl_fail ("cms %s already exists", id);
    s_key_t key = { ctl_opt (opts, "--cert-out"), ctl_opt (opts, "--public-key"), NULL, "" };
    int rc = s_key_prepare (&key, "cms add", "cms", id);
    if (rc == CTL_OK) {
        const char *insert [] = { id, name, key.public_key, programs };
        rc = s_key_register (db, &key,
            "WITH c AS (INSERT INTO cms (id, name, public_key) VALUES ($1, $2, $3) RETURNING id)"
            " INSERT INTO cms_program (cms_id, program) SELECT DISTINCT c.id, x FROM c, unnest($4::text[]) x",
            4, insert);
    }
    if (rc == CTL_OK) {
        printf ("cms %s (%s) registered for %s: it may read and change the enrollments of those programs"
                " and subscribe to their enrollment feeds\n", id, name, ctl_opt (opts, "--programs"));
        s_print_key_advice (&key, "the case-management system's administrator");
    }
    zcert_destroy (&key.cert);
    return rc;
}

int
ctl_cms (ctl_t *ctl, int argc, char **argv)
{
    ctl_opt_t opts [] = {
        { "--programs", true, NULL }, { "--name", true, NULL }, { "--cert-out", true, NULL },
        { "--public-key", true, NULL }, { "--json", false, NULL }, { NULL, false, NULL } };
    const char *pos [2];
    int npos;
    if (ctl_parse ("cms", argc, argv, 1, opts, pos, 2, &npos))
        return CTL_USAGE;
    const char *verb = npos ? pos [0] : "";
    bool list = strcmp (verb, "list") == 0;
    if (list ? npos != 1 : npos != 2 || (strcmp (verb, "add") && strcmp (verb, "revoke")))
        return ctl_usage ("cms: use cms add ID --programs P,Q --name NAME --cert-out PATH, cms revoke ID or cms list");
    if (!list && !ctl_valid_id (pos [1], 32, "_-", true))
        return ctl_fail ("'%s' is not a valid cms id: 1-32 characters, lowercase letters, digits,"
                         " '_' or '-', starting with a letter or digit", pos [1]);
    dv_db_t *db = ctl_db (ctl);
    if (!db)
        return CTL_FAIL;
    if (list)
        return s_list (db, "cms",
            "SELECT COALESCE(json_agg(json_build_object('id', c.id, 'name', c.name,"
            " 'programs', (SELECT COALESCE(json_agg(p.program ORDER BY p.program), '[]')"
            "              FROM cms_program p WHERE p.cms_id = c.id),"
            " 'public_key', c.public_key, 'revoked_at', s_rfc3339(c.revoked_at),"
            " 'created_at', s_rfc3339(c.created_at)) ORDER BY c.id), '[]') FROM cms c",
            ctl_opt (opts, "--json") != NULL, "cms");
    if (strcmp (verb, "revoke") == 0)
        return s_revoke (db, "cms", pos [1],
            "UPDATE cms SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id",
            "SELECT s_rfc3339(revoked_at) FROM cms WHERE id = $1");
    return s_cms_add (db, pos [1], opts);
}
