#!/usr/bin/env bash
# install.sh — `make install PREFIX=/usr DESTDIR=...` into a scratch root,
# checked file by file: exactly the expected files with their modes, paths
# inside the unit and snippets, SQL and header identical to the sources, the
# divertctl built for the PREFIX; a second install keeps an edited config;
# then a small C dispatch integration is built against the installed header
# and library with pkg-config and submits a referral to the installed divertd,
# started from the installed default config (server key through
# $CREDENTIALS_DIRECTORY, as the unit's LoadCredential= gives it).
#
# Environment (tests/harness/run-all.sh): PG* (a fresh migrated database),
# DIVERT_TMP, DIVERT_PORT_BASE (20 ports of our own).
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/support/testlib.sh

T=${DIVERT_TMP:?}
PORT=${DIVERT_PORT_BASE:?}
R=$T/root
INTAKE=tcp://127.0.0.1:$PORT
DECISIONS=tcp://127.0.0.1:$((PORT + 1))
VERSION=$(sed -n 's/^VERSION *:= *//p' Makefile)
unset PGAPPNAME MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES

sql() { psql -X -v ON_ERROR_STOP=1 -Atq -c "$1"; }
mode() { stat -c %a "$1" 2>/dev/null || echo missing; }

# --------------------------------------------------------------------------
echo "# make install DESTDIR=$R PREFIX=/usr"
make -s install DESTDIR="$R" PREFIX=/usr >"$T/install.log" 2>&1; RC=$?
check_eq "make install exits 0" "$RC" 0
[ "$RC" -eq 0 ] || sed 's/^/# install: /' "$T/install.log"

# Every file that must be there, with its mode; nothing else may be.
declare -A EXPECT=(
    [usr/bin/divertd]=755 [usr/bin/divertctl]=755
    [usr/bin/divert-submit]=755 [usr/bin/divert-watch]=755 [usr/bin/divert-cms]=755
    [usr/lib/systemd/system/divertd.service]=644
    [usr/lib/sysusers.d/divert.conf]=644
    [usr/lib/tmpfiles.d/divert.conf]=644
    [usr/lib/libdivert-client.a]=644
    [usr/lib/pkgconfig/divert.pc]=644
    [usr/include/divert/dv_client.h]=644
    [usr/share/man/man8/divertd.8]=644 [usr/share/man/man8/divertctl.8]=644
    [usr/share/man/man5/divertd.conf.5]=644
    [usr/share/man/man1/divert-submit.1]=644 [usr/share/man/man1/divert-watch.1]=644
    [usr/share/man/man1/divert-cms.1]=644
    [etc/divert/divertd.conf]=640
    [usr/bin/divert-web]=755 [usr/lib/systemd/system/divert-web.service]=644
    [usr/share/man/man8/divert-web.8]=644 [etc/divert/divert-web.conf]=640
)
for f in sql/[0-9]*_*.sql; do EXPECT[usr/share/divert/sql/$(basename "$f")]=644; done
for f in clients/divert-web/static/*; do EXPECT[usr/share/divert/web/$(basename "$f")]=644; done
for f in $(printf '%s\n' "${!EXPECT[@]}" | sort); do
    check_eq "$f: mode ${EXPECT[$f]}" "$(mode "$R/$f")" "${EXPECT[$f]}"
done
check "migrations installed (at least 3)" test "$(find "$R/usr/share/divert/sql" -name "0*.sql" 2>/dev/null | wc -l)" -ge 3
EXTRA=$(cd "$R" 2>/dev/null && find . -type f -o -type l | sed 's|^\./||' | sort | while read -r f; do
    [ -n "${EXPECT[$f]:-}" ] || echo "$f"; done)
check_eq "nothing else is installed" "$EXTRA" ""
check_eq "/etc/divert is 0750" "$(mode "$R/etc/divert")" 750

for f in sql/[0-9]*_*.sql; do
    check "$(basename "$f") is installed as it is" cmp -s "$f" "$R/usr/share/divert/sql/$(basename "$f")"
done
check "dv_client.h is installed as it is" cmp -s common/dv_client.h "$R/usr/include/divert/dv_client.h"
check "the config is the packaged default" cmp -s deploy/divertd.conf "$R/etc/divert/divertd.conf"
check "libdivert-client.a holds dv_client.o" bash -c "ar t '$R/usr/lib/libdivert-client.a' | grep -qx dv_client.o"

UNIT=$R/usr/lib/systemd/system/divertd.service
check_eq "the unit starts /usr/bin/divertd with /etc/divert/divertd.conf" \
    "$(grep '^ExecStart=' "$UNIT")" "ExecStart=/usr/bin/divertd -c /etc/divert/divertd.conf"
check_eq "the unit loads the server keypair from /etc/divert" \
    "$(grep '^LoadCredential=' "$UNIT" | paste -sd' ')" \
    "LoadCredential=server.cert:/etc/divert/server.cert LoadCredential=server.cert_secret:/etc/divert/server.cert_secret"
check_eq "the unit runs as divert" "$(grep '^User=' "$UNIT")" "User=divert"
check_match "sysusers creates the user divert" "$(grep -v '^#' "$R/usr/lib/sysusers.d/divert.conf")" "^u divert "
check_match "tmpfiles gives /etc/divert to group divert" "$(cat "$R/usr/lib/tmpfiles.d/divert.conf")" \
    "d /etc/divert 0750 root divert"
check_match "tmpfiles makes the config 0640 root:divert" "$(cat "$R/usr/lib/tmpfiles.d/divert.conf")" \
    "z /etc/divert/divertd.conf 0640 root divert"

OUT=$("$R/usr/bin/divertd" --version 2>&1)
check_eq "the installed divertd runs" "$OUT" "divertd $VERSION"
OUT=$("$R/usr/bin/divert-submit" --help 2>&1); RC=$?
check_eq "the installed divert-submit runs" "$RC" 0
OUT=$("$R/usr/bin/divert-cms" --version 2>&1)
check_eq "the installed divert-cms runs" "$OUT" "divert-cms $VERSION"
# It finds the migrations installed beside it (<bin>/../share/divert/sql),
# from any directory, with no DIVERT_SQL_DIR
OUT=$(cd / && env -u DIVERT_SQL_DIR "$R/usr/bin/divertctl" migrate 2>&1); RC=$?
check_eq "the installed divertctl finds its installed migrations" "$RC" 0
check_match "... and the database is at their version" "$OUT" "schema is up to date \(version $(ls "$R/usr/share/divert/sql"/[0-9][0-9][0-9]_*.sql | wc -l)\)"
if command -v groff >/dev/null; then
    for page in "$R"/usr/share/man/man*/*; do
        check_eq "$(basename "$page") renders without warnings" \
            "$(groff -man -Tutf8 -ww -z "$page" 2>&1)" ""
    done
fi

# --------------------------------------------------------------------------
echo "# a second install keeps the operator's config"
echo "# edited by the operator" >>"$R/etc/divert/divertd.conf"
cp "$R/etc/divert/divertd.conf" "$T/edited.conf"
chmod 0600 "$R/etc/divert/divertd.conf"
make -s install DESTDIR="$R" PREFIX=/usr >"$T/install2.log" 2>&1; RC=$?
check_eq "make install again exits 0" "$RC" 0
check "the edited config is not overwritten" cmp -s "$T/edited.conf" "$R/etc/divert/divertd.conf"
check_eq "nor its mode changed" "$(mode "$R/etc/divert/divertd.conf")" 600
check_match "make install says it kept it" "$(cat "$T/install2.log")" "divertd.conf exists: kept"
check "the binaries are still there" test -x "$R/usr/bin/divertd"

# --------------------------------------------------------------------------
echo "# a C integration built with pkg-config against the installed tree"
export PKG_CONFIG_PATH=$R/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$R
check_eq "pkg-config knows divert $VERSION" "$(pkg-config --modversion divert 2>&1)" "$VERSION"
CFLAGS_LIBS=$(pkg-config --cflags --libs divert 2>&1)
check_match "the flags point into the installed tree" "$CFLAGS_LIBS" \
    "-I$R/usr/include/divert .*-L$R/usr/lib -ldivert-client"
cat >"$T/dispatch.c" <<'EOF'
/*  A dispatch integration: one referral, the decision on stdout. */
#include <dv_client.h>
#include <stdio.h>
#include <string.h>

int
main (int argc, char *argv [])
{
    if (argc != 5) {
        fprintf (stderr, "usage: dispatch ENDPOINT SERVER_CERT CLIENT_CERT REFERRAL_ID\n");
        return 64;
    }
    dv_client_t *client = dv_client_new (argv [1], argv [2], argv [3]);
    if (!client) {
        fprintf (stderr, "dispatch: %s\n", dv_client_last_error ());
        return 3;
    }
    dv_client_set_timeout (client, 3000);
    dv_client_set_attempts (client, 3);
    json_t *referral = json_pack ("{s:i, s:s, s:s, s:s, s:s, s:{s:s}, s:s, s:s, s:[s], s:{s:s}}",
        "v", 1, "type", "referral", "referral_id", argv [4], "pathway", "arrest_diversion",
        "submitted_at", "2026-11-22T18:04:05Z", "person", "source_person_id", "cad-1138",
        "area", "downtown", "housing", "unsheltered", "behavioral_health", "substance_use",
        "offense", "code", "X");
    json_t *reply = dv_client_request (client, referral);
    json_decref (referral);
    int status = 3;
    if (reply) {
        const char *type = json_string_value (json_object_get (reply, "type"));
        const char *decision = json_string_value (json_object_get (reply, "decision"));
        const char *manager = json_string_value (json_object_get (
                                  json_object_get (reply, "case_manager"), "id"));
        printf ("%s %s %s\n", type ? type : "-", decision ? decision : "-", manager ? manager : "-");
        if (type && strcmp (type, "decision") == 0)
            status = 0;
        json_decref (reply);
    }
    else
        fprintf (stderr, "dispatch: %s\n", dv_client_last_error ());
    dv_client_destroy (&client);
    return status;
}
EOF
# shellcheck disable=SC2086  # the flags are words
cc -std=c11 -Wall -Wextra -Werror -o "$T/dispatch" "$T/dispatch.c" $CFLAGS_LIBS >"$T/cc.log" 2>&1; RC=$?
check_eq "it compiles and links with the installed header and library" "$RC" 0
[ "$RC" -eq 0 ] || sed 's/^/# cc: /' "$T/cc.log"
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

# --------------------------------------------------------------------------
echo "# the installed divertd, from the packaged config"
CTL=$R/usr/bin/divertctl
setup_ok=true
mkdir -p "$T/creds" && chmod 700 "$T/creds"
"$CTL" keygen "$T/creds/server.cert" >/dev/null || setup_ok=false
"$CTL" source add cad --kind police --name "Dispatch" --cert-out "$T/cad.cert" >/dev/null || setup_ok=false
"$CTL" cm add cm-a --program LEAD --name "A" >/dev/null || setup_ok=false
check "the installed divertctl sets up the site" $setup_ok

# The packaged config with the test's endpoints, log and database; the rest
# (server_cert = server.cert, resolved in $CREDENTIALS_DIRECTORY) as shipped.
sed -e "s|^    intake = .*|    intake = $INTAKE|" \
    -e "s|^    decisions = .*|    decisions = $DECISIONS|" \
    -e "s|^    log = .*|    log = stderr|" \
    -e "s|^    conninfo = .*|    conninfo = \"\"|" deploy/divertd.conf >"$T/divertd.conf"
check_eq "four settings changed for the test" \
    "$(diff deploy/divertd.conf "$T/divertd.conf" | grep -c '^>')" 4
check_match "server_cert stays relative" "$(grep '^ *server_cert' "$T/divertd.conf")" "^    server_cert = server.cert$"

DAEMON=
stop_daemon() {
    DAEMON_RC=
    [ -n "$DAEMON" ] || return 0
    kill -TERM "$DAEMON" 2>/dev/null
    wait "$DAEMON"; DAEMON_RC=$?
    DAEMON=
}
trap stop_daemon EXIT
(cd / && CREDENTIALS_DIRECTORY=$T/creds exec "$R/usr/bin/divertd" -c "$T/divertd.conf") 2>"$T/divertd.log" &
DAEMON=$!
for _ in $(seq 100); do
    grep -q "ready:" "$T/divertd.log" && break
    kill -0 "$DAEMON" 2>/dev/null || break
    sleep 0.1
done
if ! grep -q "ready:" "$T/divertd.log"; then
    not_ok "the installed divertd is ready within 10 s"
    sed 's/^/# divertd: /' "$T/divertd.log"
    testlib_end; exit
fi
ok "the installed divertd is ready (server key from \$CREDENTIALS_DIRECTORY)"

REF=$(cat /proc/sys/kernel/random/uuid)
OUT=$("$T/dispatch" "$INTAKE" "$T/creds/server.cert" "$T/cad.cert" "$REF" 2>"$T/dispatch.err"); RC=$?
check_eq "the C integration exits 0" "$RC" 0
check_eq "its reply is a decision: accept, cm-a" "$OUT" "decision accept cm-a"
[ "$RC" -eq 0 ] || sed 's/^/# dispatch: /' "$T/dispatch.err"
check_eq "the referral is recorded as accepted, from cad" \
    "$(sql "SELECT source_id || ' ' || state FROM divert.referral WHERE referral_id = '$REF'")" "cad accepted"
OUT=$("$T/dispatch" "$INTAKE" "$T/creds/server.cert" "$T/cad.cert" "$REF" 2>>"$T/dispatch.err"); RC=$?
check_eq "sent again, the same decision (replayed)" "$OUT:$RC" "decision accept cm-a:0"
check_eq "still one decision recorded" \
    "$(sql "SELECT count(*) FROM divert.decision_event e JOIN divert.referral r ON r.id = e.referral_id
            WHERE r.referral_id = '$REF'")" 1

stop_daemon
check_eq "the installed divertd exits 0 on SIGTERM" "$DAEMON_RC" 0

testlib_end
