#!/usr/bin/env bash
# demo.sh — `make demo` / `make demo-stop`: divert's main job on a demo site.
#
#   start: a private PostgreSQL under ./var/pg, migrations, a demo site (LEAD
#          and CO-LEAD with case managers; a police agency, a community partner
#          and a court with their keys; an operator monitor key), divertd
#          running, a realistic stream of referrals with each decision shown
#          as it comes, a case manager joining, the case-management system
#          closing the loop (intakes, in the wind and back, a transfer,
#          discharges that promote the waitlist), then the capacity per case
#          manager. divertd keeps running until `make demo-stop`.
#   stop:  stops divertd and PostgreSQL (./var stays; `rm -rf var` resets).
#
# It works from any checkout the invoking user owns (as root in a 0700 home
# too: tests/harness/pg.sh then keeps the cluster where `postgres` can reach
# it and var/pg links there). Environment, for tests and a second demo:
#   DEMO_PGPORT (54329), DEMO_INTAKE_PORT (7461), DEMO_DECISIONS_PORT (7462),
#   DEMO_REFERRALS (15 per batch of the stream), DIVERT_BIN (build/bin)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
VAR=$ROOT/var
BIN=${DIVERT_BIN:-$ROOT/build/bin}
PORT=${DEMO_PGPORT:-54329}
INTAKE=tcp://127.0.0.1:${DEMO_INTAKE_PORT:-7461}
DECISIONS=tcp://127.0.0.1:${DEMO_DECISIONS_PORT:-7462}
REFERRALS=${DEMO_REFERRALS:-15}
export DIVERT_SQL_DIR=$ROOT/sql

# The pids of this checkout's demo divertd: the one in var/divertd.pid, and
# any other running with its exact command line (one left behind when var/
# was removed without `make demo-stop` would keep the ports).
daemons() {
    local want="$BIN/divertd -c $VAR/divertd.conf " p comm
    if [ -f "$VAR/divertd.pid" ] && kill -0 "$(cat "$VAR/divertd.pid")" 2>/dev/null; then
        cat "$VAR/divertd.pid"
    fi
    for p in /proc/[0-9]*; do
        { read -r comm <"$p/comm"; } 2>/dev/null && [ "$comm" = divertd ] || continue
        if [ "$({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null)" = "$want" ]; then echo "${p#/proc/}"; fi
    done
}

stop_daemons() {
    local pids p; pids=$(daemons | sort -u)
    [ -n "$pids" ] || return 0
    for p in $pids; do
        kill -TERM "$p" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    done
    echo "divertd stopped"
}

stop() {
    stop_daemons
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

# The staffing gap: C. Nguyen joins LEAD and its waitlist is promoted at once
# (once per demo site: a second `make demo` only sends more referrals).
join() {
    [ "$(psql -Atc "SELECT count(*) FROM divert.case_manager WHERE id = 'cm-nguyen'")" = 0 ] || return 0
    say "The staffing gap said LEAD needs more case managers: one joins, and its waitlist is promoted at once"
    local waiting watch=
    waiting=$(psql -Atc "SELECT count(*) FROM divert.waitlist_entry WHERE program = 'LEAD' AND state = 'open'")
    if [ "$waiting" -gt 0 ]; then
        "$BIN/divert-watch" --endpoint "$DECISIONS" --intake "$INTAKE" \
            --server-key "$VAR/keys/server.cert" --cert "$VAR/keys/ops.cert" --count "$waiting" --timeout-ms 5000 &
        watch=$!
        sleep 0.5
    fi
    "$BIN/divertctl" cm add cm-nguyen --program LEAD --name "C. Nguyen"
    [ -z "$watch" ] || wait "$watch" || true
}

# The loop closes: LEAD's case-management system (its own key, both
# programs) takes its assignments — the one way personal data leaves divert,
# each delivery recorded — completes intakes, marks someone in the wind and
# back, moves one person to another case manager, and discharges a few: each
# discharge frees a slot, and the waitlist is promoted at once.
case_management() {
    local key="$VAR/keys/lead-records.cert"
    [ -f "$key" ] || "$BIN/divertctl" cms add lead-records --programs LEAD,CO-LEAD \
        --name "LEAD case records" --cert-out "$key" >/dev/null
    local cms=("$BIN/divert-cms" --endpoint "$INTAKE" --server-key "$VAR/keys/server.cert" --cert "$key")
    say "LEAD's case-management system takes its assignments (each delivery of a referral is recorded)"
    "${cms[@]}" assignments --program LEAD --since 0 --limit 500 2>&1 | grep -A8 -m 2 "assigned" || true
    echo "... $("${cms[@]}" --json assignments --program LEAD --since 0 --limit 500 2>/dev/null \
                 | jq -s '[.[] | select(.change == "assigned")] | length') assignments in all"
    # Who is pending intake now, by case manager (no personal data)
    local caseload; caseload=$("${cms[@]}" --json caseload LEAD)
    mapfile -t pending < <(jq -r '.case_managers[].enrollments[] | select(.status == "pending_intake")
                                  | "\(.source_id) \(.referral_id)"' <<<"$caseload")
    [ "${#pending[@]}" -ge 6 ] || { echo "(fewer than 6 people pending intake: the loop is shown on the next run)"; return 0; }
    say "Case managers complete intakes"
    local i
    for i in 0 1 2 3 4 5; do "${cms[@]}" enroll ${pending[$i]} intake_completed; done
    say "Someone stops engaging (in the wind) and comes back"
    "${cms[@]}" enroll ${pending[0]} in_the_wind
    "${cms[@]}" enroll ${pending[0]} re_engaged
    say "Someone moves from the fullest caseload to the case manager with the most room"
    local move
    move=$(jq -r '[.case_managers[] | select(.active)] | (min_by(.enrollments | length)) as $to
                  | (max_by(.enrollments | length)) as $from
                  | if $from.id == $to.id then empty else
                    ($from.enrollments | map(select(.status == "pending_intake")) | .[-1]
                     | "\(.source_id) \(.referral_id) \($to.id)") end' <<<"$caseload")
    [ -z "$move" ] || "${cms[@]}" transfer $move || true
    say "Three people leave the program: each slot goes to the head of the waitlist at once"
    local waiting watch=
    waiting=$(psql -Atc "SELECT count(*) FROM divert.waitlist_entry WHERE program = 'LEAD' AND state = 'open'")
    if [ "$waiting" -gt 0 ]; then
        "$BIN/divert-watch" --endpoint "$DECISIONS" --intake "$INTAKE" --server-key "$VAR/keys/server.cert" \
            --cert "$VAR/keys/ops.cert" --count "$(( waiting < 3 ? waiting : 3 ))" --timeout-ms 5000 &
        watch=$!
        sleep 0.5
    fi
    "${cms[@]}" enroll ${pending[2]} exited --reason graduated
    "${cms[@]}" enroll ${pending[3]} exited --reason moved
    "${cms[@]}" enroll ${pending[4]} exited --reason declined_services
    [ -z "$watch" ] || wait "$watch" || true
    say "The enrollment history of the person who went in the wind"
    "$BIN/divertctl" explain "${pending[0]#* }" | sed -n '/Enrollment history/,$p'
}

start() {
    mkdir -p "$VAR"
    say "PostgreSQL (a private cluster in var/pg, port $PORT)"
    tests/harness/pg.sh start "$VAR/pg" "$PORT"
    eval "$(tests/harness/pg.sh env "$VAR/pg" "$PORT")"
    if [ -L "$VAR/pg" ]; then
        echo "var/pg links to $(readlink "$VAR/pg"): the postgres user cannot enter this checkout"
    fi
    site
    if ! { [ -f "$VAR/divertd.pid" ] && kill -0 "$(cat "$VAR/divertd.pid")" 2>/dev/null; }; then
        stop_daemons
        cat >"$VAR/divertd.conf" <<CONF
divertd
    intake = $INTAKE
    decisions = $DECISIONS
    server_cert = $VAR/keys/server.cert
    log = stderr
database
    conninfo = "host=$PGHOST port=$PGPORT user=$PGUSER dbname=$PGDATABASE"
CONF
        local logged=0
        if [ -f "$VAR/divertd.log" ]; then logged=$(wc -l <"$VAR/divertd.log"); fi
        "$BIN/divertd" -c "$VAR/divertd.conf" >>"$VAR/divertd.log" 2>&1 &
        echo $! >"$VAR/divertd.pid"
        local ready=false
        for _ in $(seq 100); do
            tail -n +"$((logged + 1))" "$VAR/divertd.log" | grep -q "ready:" && { ready=true; break; }
            kill -0 "$(cat "$VAR/divertd.pid")" 2>/dev/null || break
            sleep 0.1
        done
        if ! $ready; then
            echo "divertd did not start:" >&2
            tail -n +"$((logged + 1))" "$VAR/divertd.log" | tail -n 20 >&2
            exit 1
        fi
        say "divertd running (pid $(cat "$VAR/divertd.pid"), log var/divertd.log)"
    fi
    local common=(--endpoint "$INTAKE" --server-key "$VAR/keys/server.cert")
    local seed; seed=$(( $(date +%s) % 97 + 1 ))
    for source in spd harbor-outreach county-court spd harbor-outreach county-court spd spd spd; do
        say "Referrals from $source"
        stream "$source" "$REFERRALS" "$((seed++))" >"$VAR/stream.jsonl"
        "$BIN/divert-submit" "${common[@]}" --cert "$VAR/keys/$source.cert" "$VAR/stream.jsonl" || true
    done
    join
    case_management
    say "Capacity now"
    "$BIN/divertctl" status
    say "Try: eval \"\$(tests/harness/pg.sh env var/pg $PORT)\", then build/bin/divertctl waitlist · build/bin/divertctl explain <referral_id> · make demo-stop"
    tests/harness/demo-web.sh start
}

case ${1:-start} in
    start) start ;;
    stop) stop ;;
    *) echo "usage: demo.sh start|stop" >&2; exit 64 ;;
esac
