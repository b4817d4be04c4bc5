#!/usr/bin/env bash
# systemd_unit.sh — deploy/divertd.service: the settings the daemon relies on
# (Type=notify, WatchdogSec=, Restart=on-failure, ExecReload=, the server key
# through LoadCredential=, its own User=), `systemd-analyze verify` (on a copy
# whose ExecStart is the built divertd, with the man pages of Documentation=
# on MANPATH) and `systemd-analyze security --offline=true`: an overall
# exposure of 2.0 or lower. Without systemd-analyze, those two are skipped
# (said so) and the rest still runs.
#
# Environment (tests/harness/run-all.sh): DIVERT_BIN, DIVERT_TMP.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/support/testlib.sh

T=${DIVERT_TMP:?}
UNIT=deploy/divertd.service
MAX_EXPOSURE=2.0

# setting NAME: the values of NAME= in [Service], one per line
setting() { sed -n '/^\[Service\]/,/^\[/p' "$UNIT" | sed -n "s/^$1=//p"; }

echo "# the unit's settings"
check "the unit exists" test -f "$UNIT"
check_eq "Type=notify" "$(setting Type)" notify
check_match "WatchdogSec= is set" "$(setting WatchdogSec)" "^[1-9][0-9]*(s|min)?$"
check_eq "Restart=on-failure" "$(setting Restart)" on-failure
check_eq "a configuration error (exit 78) is not restarted" "$(setting RestartPreventExitStatus)" 78
check_eq "/run/divert exists for ipc:// endpoints" "$(setting RuntimeDirectory)" divert
check_match "ExecReload= sends SIGHUP to the main process" "$(setting ExecReload)" "kill -HUP \\\$MAINPID$"
check_eq "ExecStart runs divertd with the packaged config" "$(setting ExecStart)" \
    "/usr/bin/divertd -c /etc/divert/divertd.conf"
check_eq "LoadCredential= hands over the server keypair" "$(setting LoadCredential | paste -sd' ')" \
    "server.cert:/etc/divert/server.cert server.cert_secret:/etc/divert/server.cert_secret"
check_match "the packaged config finds the key among the credentials" \
    "$(grep '^ *server_cert *=' deploy/divertd.conf)" "^    server_cert = server.cert$"
check_eq "User=divert" "$(setting User)" divert
check_match "the sysusers snippet creates that user" "$(grep -v '^#' deploy/divert.sysusers)" "^u divert "
check_eq "it may use TCP, local sockets and netlink (libzmq's getifaddrs)" \
    "$(setting RestrictAddressFamilies)" "AF_UNIX AF_INET AF_INET6 AF_NETLINK"
check_eq "no capabilities" "$(setting CapabilityBoundingSet)" ""
check_eq "the file system is read-only to it" "$(setting ProtectSystem)" strict

if ! command -v systemd-analyze >/dev/null; then
    echo "# SKIP: systemd-analyze is not installed: verify and security not checked"
    testlib_end; exit
fi

echo "# systemd-analyze verify"
DIVERTD=${DIVERT_BIN:-$(pwd)/build/bin}/divertd
[ -x "$DIVERTD" ] || DIVERTD=$(pwd)/build/bin/divertd
mkdir -p "$T/unit" "$T/man/man1" "$T/man/man5" "$T/man/man8"
sed "s|^ExecStart=/usr/bin/divertd |ExecStart=$DIVERTD |" "$UNIT" >"$T/unit/divertd.service"
for page in deploy/man/*.[158]; do cp "$page" "$T/man/man${page##*.}/"; done
OUT=$(cd "$T/unit" && MANPATH=$T/man SYSTEMD_LOG_COLOR=0 systemd-analyze verify ./divertd.service 2>&1); RC=$?
check_eq "systemd-analyze verify passes" "$RC" 0
check_eq "and says nothing" "$OUT" ""
[ -z "$OUT" ] || sed 's/^/# verify: /' <<<"$OUT"

echo "# systemd-analyze security"
OUT=$(SYSTEMD_COLORS=0 systemd-analyze security --offline=true "$UNIT" 2>&1); RC=$?
check_eq "systemd-analyze security runs" "$RC" 0
EXPOSURE=$(sed -n 's/.*Overall exposure level for divertd\.service: \([0-9][0-9]*\.[0-9]\).*/\1/p' <<<"$OUT")
check_match "it reports an overall exposure" "$EXPOSURE" "^[0-9]+\\.[0-9]$"
echo "# exposure: ${EXPOSURE:-?} (at most $MAX_EXPOSURE)"
check "the exposure is $MAX_EXPOSURE or lower" \
    awk -v e="${EXPOSURE:-99}" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e + 0 <= m + 0) }'
grep '✗' <<<"$OUT" | sed 's/^/# /'
# --threshold makes systemd-analyze itself fail above the limit (v250+).
if systemd-analyze security --help 2>/dev/null | grep -q -- '--threshold'; then
    check "systemd-analyze security --threshold=20 agrees" \
        systemd-analyze security --offline=true --threshold=20 --no-pager "$UNIT" >/dev/null 2>&1
fi

testlib_end
