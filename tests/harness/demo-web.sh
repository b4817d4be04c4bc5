#!/usr/bin/env bash
# demo-web.sh — the web part of `make demo` (demo.sh calls it at the end of
# start and of stop): divert-web on http://127.0.0.1:8461 for the demo site,
# with a partner desk for the community partner and the police, a case
# manager, a program manager and an admin, and their logins printed.
#
#   start: keys for divert-web under var/web-keys (divertd's public
#          certificate, a monitor key, the two partner sources' keys, a
#          case-management key for the case managers' changes), its database
#          role, the demo users, divert-web started (var/divert-web.log)
#          with divertd's endpoints as demo.sh wrote them in var/divertd.conf
#   stop:  stops divert-web
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
VAR=$ROOT/var
BIN=${DIVERT_BIN:-$ROOT/build/bin}
KEYS=$VAR/web-keys
PORT=${DEMO_PGPORT:-54329}
WEB_PORT=${DEMO_WEB_PORT:-8461}
export DIVERT_SQL_DIR=$ROOT/sql
eval "$(tests/harness/pg.sh env "$VAR/pg" "$PORT")"
USERS=(
    "outreach partner:harbor-outreach"
    "officer partner:spd"
    "rivera case_manager:cm-rivera"
    "manager program"
    "admin admin"
)
password() { echo "$1-demo-2026"; }

running() { [ -f "$VAR/divert-web.pid" ] && kill -0 "$(cat "$VAR/divert-web.pid")" 2>/dev/null; }

# The pids of this checkout's demo divert-web: the one in var/divert-web.pid,
# and any other running with its exact command line (one left behind when
# var/ was removed without `make demo-stop` would keep the port).
webs() {
    local want="$BIN/divert-web -c $VAR/divert-web.conf " p comm
    if running; then cat "$VAR/divert-web.pid"; fi
    for p in /proc/[0-9]*; do
        { read -r comm <"$p/comm"; } 2>/dev/null && [ "$comm" = divert-web ] || continue
        if [ "$({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null)" = "$want" ]; then echo "${p#/proc/}"; fi
    done
}

stop() {
    local pids p; pids=$(webs | sort -u)
    if [ -n "$pids" ]; then
        for p in $pids; do
            kill -TERM "$p" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        done
        echo "divert-web stopped"
    fi
    rm -f "$VAR/divert-web.pid"
}

keys() {
    local ctl=$BIN/divertctl
    mkdir -p "$KEYS" && chmod 700 "$KEYS"
    cp "$VAR/keys/server.cert" "$KEYS/server.cert"
    for source in harbor-outreach spd; do
        cp "$VAR/keys/$source.cert" "$VAR/keys/$source.cert_secret" "$KEYS/"
    done
    if [ ! -f "$KEYS/monitor.cert" ]; then
        "$ctl" monitor add web --name "divert-web" --cert-out "$KEYS/monitor.cert" >/dev/null
    fi
    # The case managers' changes need a case-management key (protocol.md,
    # "Case-management systems").
    if [ ! -f "$KEYS/cms.cert" ]; then
        "$ctl" cms add web-cms --programs LEAD,CO-LEAD --name "divert-web" --cert-out "$KEYS/cms.cert" >/dev/null
    fi
}

users() {
    local ctl=$BIN/divertctl existing
    psql -Atqc "SELECT 1 FROM pg_roles WHERE rolname = 'divert_demo_web'" | grep -q 1 \
        || psql -qc "CREATE ROLE divert_demo_web LOGIN IN ROLE divert_web"
    existing=$("$ctl" user list --json)
    for entry in "${USERS[@]}"; do
        set -- $entry
        grep -q "\"name\": \"$1\"" <<<"$existing" \
            || password "$1" | "$ctl" user add "$1" --role "$2" --password-stdin >/dev/null
    done
}

start() {
    keys
    users
    running || stop             # one left behind by a removed var/
    if ! running; then
        cat >"$VAR/divert-web.conf" <<CONF
divert-web
    listen = 127.0.0.1:$WEB_PORT
    static_dir = $ROOT/clients/divert-web/static
    log = stderr
divert
    intake = $(sed -n 's/^ *intake = //p' "$VAR/divertd.conf")
    decisions = $(sed -n 's/^ *decisions = //p' "$VAR/divertd.conf")
    keys = $KEYS
database
    conninfo = "host=$PGHOST port=$PGPORT user=divert_demo_web dbname=$PGDATABASE"
CONF
        "$BIN/divert-web" -c "$VAR/divert-web.conf" >>"$VAR/divert-web.log" 2>&1 &
        echo $! >"$VAR/divert-web.pid"
        for _ in $(seq 100); do grep -q "ready:" "$VAR/divert-web.log" 2>/dev/null && break; sleep 0.1; done
        if ! grep -q "ready:" "$VAR/divert-web.log"; then
            tail -n 20 "$VAR/divert-web.log" >&2
            echo "divert-web did not start (var/divert-web.log)" >&2
            exit 1
        fi
    fi
    printf '\n\033[1m== divert-web: http://127.0.0.1:%s/\033[0m (log var/divert-web.log)\n' "$WEB_PORT"
    printf '   %-10s %-20s %s\n' user password desk
    for entry in "${USERS[@]}"; do
        set -- $entry
        case $2 in
            partner:harbor-outreach) desk="partner desk: Harbor Outreach Collective (phone-sized)" ;;
            partner:spd) desk="partner desk: City Police Department" ;;
            case_manager:*) desk="case manager A. Rivera: my people" ;;
            program) desk="program dashboard, live" ;;
            admin) desk="users and roles" ;;
        esac
        printf '   %-10s %-20s %s\n' "$1" "$(password "$1")" "$desk"
    done
    printf '   FHIR R4 (read-only, no personal data): http://127.0.0.1:%s/fhir/metadata; Task, ServiceRequest and\n' "$WEB_PORT"
    printf '   HealthcareService with a login'"'"'s session token as a bearer token (README, "FHIR")\n'
}

case ${1:-start} in
    start) start ;;
    stop) stop ;;
    *) echo "usage: demo-web.sh start|stop" >&2; exit 64 ;;
esac
