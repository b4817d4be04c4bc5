#!/usr/bin/env bash
# demo.sh — `make demo` / `make demo-stop`: divert's main job on a demo site.
#
#   start: a private PostgreSQL under ./var/pg, migrations, a demo site (LEAD
#          and CO-LEAD with case managers; a police agency, a community partner
#          and a court with their keys; an operator monitor key), divertd
#          running, a realistic stream of referrals with each decision shown
#          as it comes, then the capacity per case manager. divertd keeps
#          running until `make demo-stop`.
#   stop:  stops divertd and PostgreSQL (./var stays; `rm -rf var` resets).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
VAR=$ROOT/var
BIN=$ROOT/build/bin
PORT=${DEMO_PGPORT:-54329}
export DIVERT_SQL_DIR=$ROOT/sql
eval "$(tests/harness/pg.sh env "$VAR/pg" "$PORT")"

stop() {
    if [ -f "$VAR/divertd.pid" ] && kill -0 "$(cat "$VAR/divertd.pid")" 2>/dev/null; then
        kill -TERM "$(cat "$VAR/divertd.pid")"
        for _ in $(seq 50); do kill -0 "$(cat "$VAR/divertd.pid")" 2>/dev/null || break; sleep 0.1; done
        echo "divertd stopped"
    fi
    rm -f "$VAR/divertd.pid"
    tests/harness/demo-web.sh stop
    tests/harness/pg.sh stop "$VAR/pg"
    echo "PostgreSQL stopped (data kept in var/; rm -rf var to start over)"
}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

site() {
    local ctl="$BIN/divertctl"
    mkdir -p "$VAR/keys"
    "$ctl" migrate
    [ -f "$VAR/keys/server.cert" ] || "$ctl" keygen "$VAR/keys/server.cert"
    if [ "$(psql -Atc 'SELECT count(*) FROM divert.source')" = 0 ]; then
        say "A demo site: LEAD (2 case managers), CO-LEAD (1), three sources and a monitor"
        "$ctl" source add spd --kind police --name "City Police Department" --cert-out "$VAR/keys/spd.cert"
        "$ctl" source add harbor-outreach --kind community --name "Harbor Outreach Collective" --cert-out "$VAR/keys/harbor-outreach.cert"
        "$ctl" source add county-court --kind court --name "County Pretrial Court" --cert-out "$VAR/keys/county-court.cert"
        "$ctl" monitor add ops --cert-out "$VAR/keys/ops.cert"
        "$ctl" cm add cm-rivera --program LEAD --name "A. Rivera"
        "$ctl" cm add cm-okafor --program LEAD --name "B. Okafor"
        "$ctl" cm add cm-haddad --program CO-LEAD --name "D. Haddad"
        "$ctl" outreach add or-santos --name "F. Santos"
        "$ctl" program set LEAD --areas downtown,belltown,waterfront,central --exclude-offenses DEAL-PROFIT,EXPLOIT-MINOR >/dev/null
        "$ctl" program set CO-LEAD --areas downtown,belltown,waterfront,central >/dev/null
    fi
}

# A realistic stream: mostly arrest diversions and social contacts from the
# police, community referrals, pretrial diversions from the court, with
# some ineligible ones (outside the service area, sheltered, no need,
# excluded offense, no consent), hotel referrals for CO-LEAD; enough to fill
# the pacing line so waitlists and declines appear.
stream() {
    local source=$1 count=$2 seed=$3
    local areas=(downtown belltown waterfront central downtown belltown downtown central harbor)
    local offenses=(VUCSA-POSS VUCSA-POSS TRESPASS THEFT-3 VUCSA-POSS DEAL-PROFIT)
    RANDOM=$seed
    for i in $(seq "$count"); do
        local uuid; uuid=$(cat /proc/sys/kernel/random/uuid)
        local pathway housing bh consent area offense=""
        case $source in
            spd) if ((RANDOM % 3)); then pathway=arrest_diversion; else pathway=social_contact; fi ;;
            harbor-outreach) pathway=community ;;
            county-court) pathway=pretrial_diversion ;;
        esac
        area=${areas[RANDOM % ${#areas[@]}]}
        case $((RANDOM % 12)) in 0|1) housing=hotel ;; 2) housing=sheltered ;; *) housing=unsheltered ;; esac
        case $((RANDOM % 12)) in 0) bh='[]' ;; 1|2) bh='["substance_use"]' ;; 3) bh='["mental_health"]' ;; *) bh='["substance_use","mental_health"]' ;; esac
        consent=true; ((RANDOM % 15)) || consent=false
        if [ "$pathway" = arrest_diversion ] || [ "$pathway" = pretrial_diversion ]; then
            offense=",\"offense\":{\"code\":\"${offenses[RANDOM % ${#offenses[@]}]}\"}"
        fi
        printf '{"v":1,"type":"referral","request_id":"demo-%s-%d","referral_id":"%s","pathway":"%s","submitted_at":"%s","person":{"source_person_id":"%s-%05d"},"area":"%s","housing":"%s","behavioral_health":%s%s,"prior_contacts_12m":%d,"consent":%s}\n' \
            "$source" "$i" "$uuid" "$pathway" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$source" "$((seed * 1000 + i))" \
            "$area" "$housing" "$bh" "$offense" "$((RANDOM % 7))" "$consent"
    done
}

start() {
    mkdir -p "$VAR"
    say "PostgreSQL (private, socket in var/pg/run, port $PORT)"
    tests/harness/pg.sh start "$VAR/pg" "$PORT"
    site
    if ! { [ -f "$VAR/divertd.pid" ] && kill -0 "$(cat "$VAR/divertd.pid")" 2>/dev/null; }; then
        cat >"$VAR/divertd.conf" <<CONF
divertd
    intake = tcp://127.0.0.1:7461
    decisions = tcp://127.0.0.1:7462
    server_cert = $VAR/keys/server.cert
    log = stderr
database
    conninfo = "host=$PGHOST port=$PGPORT user=$PGUSER dbname=$PGDATABASE"
CONF
        "$BIN/divertd" -c "$VAR/divertd.conf" >>"$VAR/divertd.log" 2>&1 &
        echo $! >"$VAR/divertd.pid"
        for _ in $(seq 50); do grep -q "ready:" "$VAR/divertd.log" 2>/dev/null && break; sleep 0.1; done
        say "divertd running (pid $(cat "$VAR/divertd.pid"), log var/divertd.log)"
    fi
    local common=(--endpoint tcp://127.0.0.1:7461 --server-key "$VAR/keys/server.cert")
    local seed; seed=$(( $(date +%s) % 97 + 1 ))
    for source in spd harbor-outreach county-court spd harbor-outreach county-court spd spd spd; do
        say "Referrals from $source"
        stream "$source" 15 "$((seed++))" >"$VAR/stream.jsonl"
        "$BIN/divert-submit" "${common[@]}" --cert "$VAR/keys/$source.cert" "$VAR/stream.jsonl" || true
    done
    say "The staffing gap said LEAD needs more case managers: one joins, and its waitlist is promoted at once"
    local waiting; waiting=$(psql -Atc "SELECT count(*) FROM divert.waitlist_entry WHERE program = 'LEAD' AND state = 'open'")
    "$BIN/divert-watch" --endpoint tcp://127.0.0.1:7462 --intake tcp://127.0.0.1:7461 \
        --server-key "$VAR/keys/server.cert" --cert "$VAR/keys/ops.cert" --count "$waiting" --timeout-ms 5000 &
    local watch=$!
    sleep 0.5
    "$BIN/divertctl" cm add cm-nguyen --program LEAD --name "C. Nguyen"
    wait "$watch" || true
    say "Capacity now"
    "$BIN/divertctl" status
    say "Try: build/bin/divertctl waitlist · build/bin/divertctl explain <referral_id> · make demo-stop"
    tests/harness/demo-web.sh start
}

case ${1:-start} in
    start) start ;;
    stop) stop ;;
    *) echo "usage: demo.sh start|stop" >&2; exit 64 ;;
esac
