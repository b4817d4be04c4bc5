/*  auth — passwords and tokens for divert-web (libsodium).

    Passwords are hashed with argon2id (crypto_pwhash_str, libsodium's
    interactive limits: 64 MiB and 2 passes); at most a few hashes run at
    once, so a burst of logins can't exhaust memory. A user who doesn't
    exist is checked against a dummy hash, so the answer takes as long and
    says nothing about which names exist.

    Session tokens are 256 random bits (randombytes_buf) sent as base64url
    in the cookie; the database keeps only their SHA-256 (crypto_hash_sha256),
    so a copy of the database opens no session.
*/
#include "web.h"

#include <semaphore.h>
#include <sodium.h>
#include <string.h>

static sem_t s_hashing;             //  argon2id runs at once
static char s_dummy [crypto_pwhash_STRBYTES];

int
web_auth_init (int max_parallel)
{
    if (sodium_init () < 0)
        return -1;
    sem_init (&s_hashing, 0, (unsigned) (max_parallel > 0 ? max_parallel : 1));
    unsigned char random [32];
    char password [sizeof random * 2 + 1];
    randombytes_buf (random, sizeof random);
    sodium_bin2hex (password, sizeof password, random, sizeof random);
    return web_auth_hash_password (password, s_dummy, sizeof s_dummy);
}

int
web_auth_hash_password (const char *password, char *hash, size_t size)
{
    if (size < crypto_pwhash_STRBYTES)
        return -1;
    sem_wait (&s_hashing);
    int rc = crypto_pwhash_str (hash, password, strlen (password),
                                crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE);
    sem_post (&s_hashing);
    return rc == 0 ? 0 : -1;
}

bool
web_auth_verify (const char *hash, const char *password)
{
    bool real = hash && strncmp (hash, "$argon2id$", 10) == 0 && strlen (hash) < crypto_pwhash_STRBYTES;
    sem_wait (&s_hashing);
    int rc = crypto_pwhash_str_verify (real ? hash : s_dummy, password, strlen (password));
    sem_post (&s_hashing);
    return real && rc == 0;
}

void
web_auth_new_token (char token [WEB_TOKEN_SIZE])
{
    unsigned char random [32];
    randombytes_buf (random, sizeof random);
    sodium_bin2base64 (token, WEB_TOKEN_SIZE, random, sizeof random,
                       sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero (random, sizeof random);
}

void
web_auth_token_hash (const char *token, char hash [WEB_HASH_SIZE])
{
    unsigned char digest [crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (digest, (const unsigned char *) token, strlen (token));
    sodium_bin2hex (hash, WEB_HASH_SIZE, digest, sizeof digest);
}

bool
web_auth_equal (const char *a, const char *b)
{
    size_t len = strlen (a);
    return len == strlen (b) && sodium_memcmp (a, b, len) == 0;
}

const char *
web_auth_password_problem (const char *password)
{
    if (!password || strlen (password) < WEB_PASSWORD_MIN)
        return "at least 10 characters";
    if (strlen (password) > WEB_PASSWORD_MAX)
        return "at most 256 characters";
    return NULL;
}
