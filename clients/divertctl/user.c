/*  user — `user add|passwd|disable|enable|list`: the people who log in to
    divert-web. A user has one role: partner (bound to one source: they
    submit with its key and see only its referrals), case_manager (bound to
    one case manager: they see only the people assigned to them), program
    (the dashboard, no personal data) or admin (users and roles).

    Passwords are read from the terminal (twice, without echo) or, with
    --password-stdin, as the first line of standard input; they are hashed
    here with argon2id (libsodium's crypto_pwhash_str) and only the hash
    reaches the database, through the functions of sql/010_web.sql. A new
    password or disabling ends the user's sessions at once.
*/
#include "divertctl.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define S_PASSWORD_MIN 10
#define S_PASSWORD_MAX 256

//  Read one line (without its newline) from `in`; false at end of file.
static bool
s_read_line (FILE *in, char *line, size_t size)
{
    if (!fgets (line, (int) size, in))
        return false;
    line [strcspn (line, "\r\n")] = 0;
    return true;
}

//  Prompt on the terminal without echo.
static bool
s_prompt (const char *prompt, char *line, size_t size)
{
    FILE *tty = fopen ("/dev/tty", "r+");
    if (!tty)
        return false;
    fputs (prompt, tty);
    fflush (tty);
    struct termios saved, quiet;
    bool echo_off = tcgetattr (fileno (tty), &saved) == 0;
    if (echo_off) {
        quiet = saved;
        quiet.c_lflag &= ~(tcflag_t) ECHO;
        tcsetattr (fileno (tty), TCSAFLUSH, &quiet);
    }
    bool ok = s_read_line (tty, line, size);
    if (echo_off)
        tcsetattr (fileno (tty), TCSAFLUSH, &saved);
    fputs ("\n", tty);
    fclose (tty);
    return ok;
}

//  The new password into hash (crypto_pwhash_STRBYTES); CTL_OK or an error printed.
static int
s_new_password_hash (const char *name, bool from_stdin, char *hash)
{
    char password [S_PASSWORD_MAX + 2], again [S_PASSWORD_MAX + 2];
    if (from_stdin || !isatty (STDIN_FILENO)) {
        if (!s_read_line (stdin, password, sizeof password))
            return ctl_fail ("no password on standard input");
    }
    else {
        char prompt [128];
        snprintf (prompt, sizeof prompt, "New password for %s: ", name);
        if (!s_prompt (prompt, password, sizeof password))
            return ctl_fail ("cannot read a password from the terminal (use --password-stdin)");
        if (!s_prompt ("Again: ", again, sizeof again) || strcmp (password, again) != 0) {
            sodium_memzero (password, sizeof password);
            sodium_memzero (again, sizeof again);
            return ctl_fail ("the two passwords differ");
        }
        sodium_memzero (again, sizeof again);
    }
    size_t len = strlen (password);
    int rc = CTL_OK;
    if (len < S_PASSWORD_MIN || len > S_PASSWORD_MAX)
        rc = ctl_fail ("a password has %d to %d characters", S_PASSWORD_MIN, S_PASSWORD_MAX);
    else
    if (sodium_init () < 0
    ||  crypto_pwhash_str (hash, password, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                           crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        rc = ctl_fail ("cannot hash the password (out of memory?)");
    sodium_memzero (password, sizeof password);
    return rc;
}

//  The result of a user function: {"user": ...} or {"error", "message"}.
static int
s_result (json_t *result, const char *done)
{
    if (!result)
        return CTL_FAIL;
    const char *error = ctl_str (result, "error");
    int rc = CTL_OK;
    if (error)
        rc = ctl_fail ("%s", ctl_str (result, "message") ? ctl_str (result, "message") : error);
    else {
        json_t *user = json_object_get (result, "user");
        const char *role = ctl_str (user, "role");
        const char *bound = ctl_str (user, "source_id") ? ctl_str (user, "source_id") : ctl_str (user, "case_manager_id");
        printf ("user %s %s (%s%s%s)\n", ctl_str (user, "name"), done, role ? role : "?",
                bound ? " of " : "", bound ? bound : "");
    }
    json_decref (result);
    return rc;
}

static int
s_add (dv_db_t *db, const char *name, const char *role_text, bool from_stdin)
{
    char role [32] = "";
    const char *binding = NULL;
    const char *colon = strchr (role_text, ':');
    if (colon) {
        snprintf (role, sizeof role, "%.*s", (int) (colon - role_text), role_text);
        binding = colon + 1;
    }
    else
        snprintf (role, sizeof role, "%s", role_text);
    bool bound = strcmp (role, "partner") == 0 || strcmp (role, "case_manager") == 0;
    bool unbound = strcmp (role, "program") == 0 || strcmp (role, "admin") == 0;
    if ((!bound && !unbound) || (bound && (!binding || !*binding)) || (unbound && binding))
        return ctl_usage ("user add: --role is partner:SOURCE, case_manager:CM, program or admin");
    char hash [crypto_pwhash_STRBYTES];
    if (s_new_password_hash (name, from_stdin, hash))
        return CTL_FAIL;
    const char *params [] = { name, role, binding, hash };
    return s_result (ctl_json (db, "SELECT divert.user_add($1, $2, $3, $4)", 4, params), "added");
}

static int
s_passwd (dv_db_t *db, const char *name, bool from_stdin)
{
    char hash [crypto_pwhash_STRBYTES];
    if (s_new_password_hash (name, from_stdin, hash))
        return CTL_FAIL;
    const char *params [] = { name, hash };
    return s_result (ctl_json (db, "SELECT divert.user_passwd($1, $2)", 2, params),
                     "has a new password; their sessions ended");
}

static int
s_disabled (dv_db_t *db, const char *name, bool disabled)
{
    const char *params [] = { name, disabled ? "true" : "false" };
    return s_result (ctl_json (db, "SELECT divert.user_set_disabled($1, $2::boolean)", 2, params),
                     disabled ? "disabled; their sessions ended" : "enabled");
}

static int
s_list (dv_db_t *db, bool json)
{
    json_t *users = ctl_json (db, "SELECT divert.user_list()", 0, NULL);
    if (!users)
        return CTL_FAIL;
    if (json)
        return ctl_print_json (json_pack ("{s:o}", "users", users));
    if (json_array_size (users) == 0)
        printf ("no users (add one: divertctl user add NAME --role admin)\n");
    else
        printf ("%-24s %-14s %-20s %-9s %s\n", "user", "role", "bound to", "state", "last login");
    size_t index;
    json_t *user;
    json_array_foreach (users, index, user) {
        const char *bound = ctl_str (user, "source_id") ? ctl_str (user, "source_id") : ctl_str (user, "case_manager_id");
        const char *last = ctl_str (user, "last_login_at");
        printf ("%-24s %-14s %-20s %-9s %s\n", ctl_str (user, "name"), ctl_str (user, "role"),
                bound ? bound : "-", json_is_true (json_object_get (user, "disabled")) ? "disabled" : "active",
                last ? last : "never");
    }
    json_decref (users);
    return CTL_OK;
}

int
ctl_user (ctl_t *ctl, int argc, char **argv)
{
    ctl_opt_t opts [] = { { "--role", true, NULL }, { "--password-stdin", false, NULL },
                          { "--json", false, NULL }, { NULL, false, NULL } };
    const char *pos [2];
    int npos;
    if (argc < 2)
        return ctl_usage ("user: add, passwd, disable, enable or list");
    if (ctl_parse ("user", argc, argv, 2, opts, pos, 1, &npos))
        return CTL_USAGE;
    const char *action = argv [1];
    bool from_stdin = ctl_opt (opts, "--password-stdin") != NULL;
    if (strcmp (action, "list") == 0) {
        if (npos != 0)
            return ctl_usage ("user list takes no name");
        dv_db_t *db = ctl_db (ctl);
        return db ? s_list (db, ctl_opt (opts, "--json") != NULL) : CTL_FAIL;
    }
    bool known = strcmp (action, "add") == 0 || strcmp (action, "passwd") == 0
              || strcmp (action, "disable") == 0 || strcmp (action, "enable") == 0;
    if (!known)
        return ctl_usage ("user: unknown action '%s' (add, passwd, disable, enable, list)", action);
    if (npos != 1)
        return ctl_usage ("user %s NAME", action);
    if (!ctl_valid_id (pos [0], 64, "._-", true))
        return ctl_fail ("'%s' is not a valid user name: 1-64 lowercase letters, digits, '.', '_' or '-',"
                         " starting with a letter or digit", pos [0]);
    if (strcmp (action, "add") == 0 && !ctl_opt (opts, "--role"))
        return ctl_usage ("user add: --role is required");
    if (strcmp (action, "add") != 0 && ctl_opt (opts, "--role"))
        return ctl_usage ("user %s takes no --role", action);
    dv_db_t *db = ctl_db (ctl);
    if (!db)
        return CTL_FAIL;
    if (strcmp (action, "add") == 0)
        return s_add (db, pos [0], ctl_opt (opts, "--role"), from_stdin);
    if (strcmp (action, "passwd") == 0)
        return s_passwd (db, pos [0], from_stdin);
    return s_disabled (db, pos [0], strcmp (action, "disable") == 0);
}
