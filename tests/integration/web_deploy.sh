#!/usr/bin/env bash
# web_deploy.sh — divert-web as it is installed and run by systemd:
# deploy/divert-web.service (Type=notify, watchdog, no restart on a
# configuration error, config and keys through LoadCredential=, its own
# user, the same sandbox as divertd's), `systemd-analyze verify` and
# `security` (exposure 2.0 or lower); then `make install` into a scratch
# root, and the installed divert-web started from the packaged config with
# its config and keys where systemd puts them ($CREDENTIALS_DIRECTORY, the
# key directory's files named web_<file>): a partner logs in and submits a
# referral through it to a real divertd.
#
# Environment (tests/harness/run-all.sh): PG* (a fresh migrated database),
# DIVERT_BIN, DIVERT_TMP, DIVERT_PORT_BASE, DIVERT_WEB_USER.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/support/testlib.sh

T=${DIVERT_TMP:?}
PORT=${DIVERT_PORT_BASE:?}
UNIT=deploy/divert-web.service
MAX_EXPOSURE=2.0
unset PGAPPNAME MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
setting() { sed -n '/^\[Service\]/,/^\[/p' "$1" | sed -n "s/^$2=//p"; }

echo "# the unit"
check_eq "Type=notify" "$(setting $UNIT Type)" notify
check_match "WatchdogSec= is set" "$(setting $UNIT WatchdogSec)" "^[1-9][0-9]*(s|min)?$"
check_eq "Restart=on-failure" "$(setting $UNIT Restart)" on-failure
check_eq "no restart after a configuration error (exit 78)" "$(setting $UNIT RestartPreventExitStatus)" 78
check_eq "ExecStart reads the config from the credentials" "$(setting $UNIT ExecStart)" \
    '/usr/bin/divert-web -c ${CREDENTIALS_DIRECTORY}/divert-web.conf'
check_eq "LoadCredential= hands over the config and the keys directory" \
    "$(setting $UNIT LoadCredential | paste -sd' ')" \
    "divert-web.conf:/etc/divert/divert-web.conf web:/etc/divert/web"
check_match "the packaged config finds the keys among the credentials" \
    "$(grep '^ *keys *=' deploy/divert-web.conf)" "^    keys = web$"
check_eq "User=divert-web" "$(setting $UNIT User)" divert-web
check_match "the sysusers snippet creates that user" "$(grep -v '^#' deploy/divert.sysusers)" "u divert-web "
check_match "the tmpfiles snippet keeps the keys directory 0700 root" "$(cat deploy/divert.tmpfiles)" \
    "d /etc/divert/web 0700 root root"
# Every hardening setting of divertd's unit, with the same value.
missing=
for key in NoNewPrivileges CapabilityBoundingSet ProtectSystem ProtectHome PrivateTmp PrivateDevices \
           PrivateUsers ProtectKernelTunables ProtectKernelModules ProtectControlGroups ProtectProc \
           RestrictAddressFamilies RestrictNamespaces MemoryDenyWriteExecute SystemCallFilter \
           SystemCallArchitectures LockPersonality RestrictSUIDSGID UMask; do
    [ "$(setting deploy/divertd.service $key)" == "$(setting $UNIT $key)" ] || missing="$missing $key"
done
check_eq "it is hardened as divertd's unit is" "$missing" ""

if command -v systemd-analyze >/dev/null; then
    mkdir -p "$T/unit" "$T/man/man8" "$T/man/man5"
    sed "s|^ExecStart=/usr/bin/divert-web |ExecStart=$DIVERT_BIN/divert-web |" "$UNIT" >"$T/unit/divert-web.service"
    for page in deploy/man/*.[58]; do cp "$page" "$T/man/man${page##*.}/"; done
    OUT=$(cd "$T/unit" && MANPATH=$T/man SYSTEMD_LOG_COLOR=0 systemd-analyze verify ./divert-web.service 2>&1); RC=$?
    check_eq "systemd-analyze verify passes" "$RC" 0
    check_eq "... and says nothing" "$OUT" ""
    OUT=$(SYSTEMD_COLORS=0 systemd-analyze security --offline=true "$UNIT" 2>&1)
    EXPOSURE=$(sed -n 's/.*Overall exposure level for divert-web\.service: \([0-9][0-9]*\.[0-9]\).*/\1/p' <<<"$OUT")
    echo "# exposure: ${EXPOSURE:-?} (at most $MAX_EXPOSURE)"
    check "the exposure is $MAX_EXPOSURE or lower" \
        awk -v e="${EXPOSURE:-99}" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e + 0 <= m + 0) }'
else
    echo "# SKIP: systemd-analyze is not installed: verify and security not checked"
fi

# --------------------------------------------------------------------------
echo "# make install"
R=$T/root
make -s install DESTDIR="$R" PREFIX=/usr >"$T/install.log" 2>&1; RC=$?
check_eq "make install exits 0" "$RC" 0
[ "$RC" -eq 0 ] || sed 's/^/# install: /' "$T/install.log"
check_eq "the installed unit starts /usr/bin/divert-web" "$(setting "$R/usr/lib/systemd/system/divert-web.service" ExecStart)" \
    '/usr/bin/divert-web -c ${CREDENTIALS_DIRECTORY}/divert-web.conf'
check "the pages are installed as they are" diff -r clients/divert-web/static "$R/usr/share/divert/web"
check "the config is the packaged default" cmp -s deploy/divert-web.conf "$R/etc/divert/divert-web.conf"
check_eq "the keys directory is 0700" "$(stat -c %a "$R/etc/divert/web")" 700
check_match "the packaged config serves the installed pages" "$(grep '^ *static_dir' "$R/etc/divert/divert-web.conf")" \
    "= /usr/share/divert/web$"
OUT=$("$R/usr/bin/divert-web" --version 2>&1)
check_match "the installed divert-web runs" "$OUT" "^divert-web [0-9]"

# --------------------------------------------------------------------------
echo "# the installed divert-web, as systemd would run it"
CTL=$DIVERT_BIN/divertctl
C=$T/creds
mkdir -p "$C" "$T/keys" && chmod 700 "$C"
setup_ok=true
"$CTL" keygen "$T/keys/server.cert" >/dev/null || setup_ok=false
"$CTL" source add harbor --kind community --name "Harbor" --cert-out "$T/keys/harbor.cert" >/dev/null || setup_ok=false
"$CTL" monitor add web --cert-out "$T/keys/monitor.cert" >/dev/null || setup_ok=false
"$CTL" cm add cm-a --program LEAD --name "A. Rivera" >/dev/null || setup_ok=false
echo "pw-outreach-0123456789" | "$CTL" user add outreach --role partner:harbor --password-stdin >/dev/null || setup_ok=false
check "divertctl sets up the site" $setup_ok
# What LoadCredential=web:/etc/divert/web makes of the keys directory.
for f in server.cert monitor.cert monitor.cert_secret harbor.cert harbor.cert_secret; do
    cp "$T/keys/$f" "$C/web_$f"
done
WEB=$((PORT + 2))
sed -e "s|^    listen = .*|    listen = 127.0.0.1:$WEB|" \
    -e "s|^    log = .*|    log = stderr|" \
    -e "s|^    intake = .*|    intake = tcp://127.0.0.1:$PORT|" \
    -e "s|^    decisions = .*|    decisions = tcp://127.0.0.1:$((PORT + 1))|" \
    -e "s|^    static_dir = .*|    static_dir = $R/usr/share/divert/web|" \
    -e "s|^    conninfo = .*|    conninfo = \"user=${DIVERT_WEB_USER:-postgres}\"|" \
    "$R/etc/divert/divert-web.conf" >"$C/divert-web.conf"
check_eq "six settings changed for the test" "$(diff deploy/divert-web.conf "$C/divert-web.conf" | grep -c '^>')" 6

cat >"$T/divertd.conf" <<EOF
divertd
    intake = tcp://127.0.0.1:$PORT
    decisions = tcp://127.0.0.1:$((PORT + 1))
    server_cert = $T/keys/server.cert
    log = stderr
EOF
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap cleanup EXIT
"$DIVERT_BIN/divertd" -c "$T/divertd.conf" 2>"$T/divertd.log" &
PIDS+=($!)
(cd / && CREDENTIALS_DIRECTORY=$C exec "$R/usr/bin/divert-web" -c "$C/divert-web.conf") 2>"$T/web.log" &
WEB_PID=$!
PIDS+=($WEB_PID)
for _ in $(seq 100); do
    grep -q "ready:" "$T/web.log" && grep -q "ready:" "$T/divertd.log" && break
    kill -0 "$WEB_PID" 2>/dev/null || break
    sleep 0.1
done
if ! grep -q "ready:" "$T/web.log"; then
    not_ok "the installed divert-web is ready within 10 s"
    sed 's/^/# divert-web: /' "$T/web.log"
    testlib_end; exit
fi
ok "the installed divert-web is ready (config from \$CREDENTIALS_DIRECTORY)"

B=http://127.0.0.1:$WEB
OUT=$(curl -s -D "$T/headers" -H 'Content-Type: application/json' \
      -d '{"name":"outreach","password":"pw-outreach-0123456789"}' "$B/api/login")
TOKEN=$(sed -n 's/^Set-Cookie: divert_session=\([A-Za-z0-9_-]*\);.*/\1/p' "$T/headers" | tr -d '\r')
CSRF=$(jq -r .csrf <<<"$OUT")
check_match "a partner logs in" "$(jq -r .role <<<"$OUT")" "^partner$"
REF=$(cat /proc/sys/kernel/random/uuid)
OUT=$(curl -s -H "Cookie: divert_session=$TOKEN" -H "X-CSRF-Token: $CSRF" -H 'Content-Type: application/json' \
      -d "{\"referral_id\":\"$REF\",\"pathway\":\"community\",\"person\":{\"source_person_id\":\"H-1\"},\"area\":\"downtown\",\"housing\":\"unsheltered\",\"behavioral_health\":[\"substance_use\"],\"consent\":true}" \
      "$B/api/partner/referrals")
check_eq "a referral goes through it with the key web_harbor.cert" "$(jq -r .summary <<<"$OUT")" \
    "Accepted: A. Rivera will contact you."
check_eq "divertd recorded it from harbor" \
    "$(psql -XAtqc "SELECT source_id FROM divert.referral WHERE referral_id = '$REF'")" harbor
check_match "the pages are served from the installed tree" "$(curl -s "$B/partner.html")" "<title>Partner desk"
kill -TERM "$WEB_PID"
wait "$WEB_PID"; RC=$?
check_eq "the installed divert-web exits 0 on SIGTERM" "$RC" 0

testlib_end
