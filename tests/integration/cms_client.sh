#!/usr/bin/env bash
# cms_client.sh — divert-cms against real divertd processes on a real,
# migrated PostgreSQL, over CURVE, with case-management keys made by the
# real divertctl: every command and exit status (0 done and replayed,
# 2 invalid / not_found / conflict / forbidden, 3 no reply / unavailable,
# 64 usage), assignments (people and --json, paging, --since, the referral
# under each assignment, escaped control characters, next_seq), enroll,
# transfer, caseload; Lazy Pirate (divertd stopped, then started: the same
# request is answered), watch (replay with --since, live events with the
# assignment's referral fetched, a gap filled with `enrollments`), and no
# personal data in any error line or in divertd's log.
#
# Environment (tests/harness/run-all.sh): PG* (a fresh migrated database),
# DIVERT_BIN, DIVERT_TMP, DIVERT_PORT_BASE (20 ports of our own),
# DIVERT_DAEMON_USER / DIVERT_OPERATOR_USER (least-privilege roles).
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/support/testlib.sh

CTL=${DIVERT_BIN:?}/divertctl
CMS=$DIVERT_BIN/divert-cms
SUBMIT=$DIVERT_BIN/divert-submit
T=${DIVERT_TMP:?}
PORT=${DIVERT_PORT_BASE:?}
INTAKE=tcp://127.0.0.1:$PORT                  # daemon 0: intake, decisions = PORT + 1
INTAKE1=tcp://127.0.0.1:$((PORT + 2))         # daemon 1: intake, decisions = PORT + 3
NOWHERE=tcp://127.0.0.1:$((PORT + 9))         # ours, and nothing listens on it
export DIVERT_SQL_DIR=${DIVERT_SQL_DIR:-$(pwd)/sql}
unset PGAPPNAME

sql() { psql -X -v ON_ERROR_STOP=1 -Atq -c "$1"; }
uuid() { cat /proc/sys/kernel/random/uuid; }
lines() { if [ -z "$1" ]; then echo 0; else printf '%s\n' "$1" | wc -l; fi; }
lead_events() { sql "SELECT count(*) FROM divert.enrollment_event WHERE program = 'LEAD'"; }
# divertctl as an operator (least privilege) when the harness made such a role
ctl() {
    if [ -n "${DIVERT_OPERATOR_USER:-}" ]; then PGUSER=$DIVERT_OPERATOR_USER "$CTL" "$@"; else "$CTL" "$@"; fi
}
# cms CERT ARGS...: divert-cms on daemon 0 with CERT's key; sets OUT, ERR, RC
# (every error line is kept in $T/errors, checked for personal data at the end)
cms() {
    local cert=$1; shift
    OUT=$("$CMS" --endpoint "$INTAKE" --server-key "$T/server.cert" --cert "$T/$cert.cert" \
          "$@" 2>"$T/stderr"); RC=$?; ERR=$(cat "$T/stderr"); cat "$T/stderr" >>"$T/errors"
}
# submit FILE: divert-submit as spd, --json; the decision in OUT
submit() {
    OUT=$("$SUBMIT" --endpoint "$INTAKE" --server-key "$T/server.cert" --cert "$T/spd.cert" \
          --json "$1" 2>>"$T/errors"); RC=$?
}
# referral HOUSING [JQ-UPDATE]: one arrest diversion (new uuid, own person); id in REF
referral() {
    REF=$(uuid)
    jq -cn --arg id "$REF" --arg housing "$1" --arg sp "sp-${REF:0:8}" '
        {v: 1, type: "referral", referral_id: $id, pathway: "arrest_diversion",
         submitted_at: "2026-11-22T18:04:05Z", person: {source_person_id: $sp},
         area: "downtown", housing: $housing, behavioral_health: ["substance_use"],
         offense: {code: "VUCSA-POSS"}}
        | '"${2:-.}"
}

# --------------------------------------------------------------------------
echo "# site"
declare -A DAEMON=()
start_daemon() {    # start_daemon SLOT: start divertd SLOT and wait until it is ready
    local slot=$1 log=$T/divertd-$1.log
    : >>"$log"
    local before; before=$(grep -c "ready:" "$log")
    "$DIVERT_BIN/divertd" -c "$T/divertd-$slot.conf" 2>>"$log" &
    DAEMON[$slot]=$!
    for _ in $(seq 100); do
        [ "$(grep -c "ready:" "$log")" -gt "$before" ] && return 0
        kill -0 "${DAEMON[$slot]}" 2>/dev/null || break
        sleep 0.1
    done
    sed "s/^/# divertd $slot: /" "$log"
    return 1
}
stop_daemon() {     # stop_daemon SLOT: SIGTERM and wait; its exit status in DAEMON_RC
    DAEMON_RC=
    [ -n "${DAEMON[$1]:-}" ] || return 0
    kill -TERM "${DAEMON[$1]}" 2>/dev/null
    wait "${DAEMON[$1]}"; DAEMON_RC=$?
    DAEMON[$1]=
}
cleanup() {
    psql -X -q -d postgres -c "ALTER DATABASE \"$PGDATABASE\" ALLOW_CONNECTIONS true" 2>/dev/null
    stop_daemon 0; stop_daemon 1
}
trap cleanup EXIT

setup_ok=true
ctl keygen "$T/server.cert" >/dev/null || setup_ok=false
ctl source add spd --kind police --name "City Police" --cert-out "$T/spd.cert" >/dev/null || setup_ok=false
ctl cm add cm-a --program LEAD --name "A. Rivera" >/dev/null || setup_ok=false
ctl cm add cm-b --program LEAD --name "B. Chen" >/dev/null || setup_ok=false
ctl cm add cm-c --program CO-LEAD --name "C. Okafor" >/dev/null || setup_ok=false
ctl cms add lead-cms --programs LEAD --name "LEAD case records" --cert-out "$T/lead-cms.cert" \
    >/dev/null || setup_ok=false
ctl cms add colead-cms --programs CO-LEAD --name "CO-LEAD case records" \
    --cert-out "$T/colead-cms.cert" >/dev/null || setup_ok=false
check "divertctl sets up the site (sources, case managers, two cms keys)" $setup_ok
check "cms add wrote the certificate and its secret" test -s "$T/lead-cms.cert" -a -s "$T/lead-cms.cert_secret"
if ! $setup_ok; then
    testlib_end; exit
fi

for slot in 0 1; do
    {
        [ -n "${DIVERT_DAEMON_USER:-}" ] && printf 'database\n    conninfo = "user=%s"\n' "$DIVERT_DAEMON_USER"
        printf 'divertd\n    intake = tcp://127.0.0.1:%d\n    decisions = tcp://127.0.0.1:%d\n' \
            $((PORT + slot * 2)) $((PORT + slot * 2 + 1))
        printf '    server_cert = %s\n    log = stderr\n' "$T/server.cert"
    } >"$T/divertd-$slot.conf"
done
if ! start_daemon 0; then
    not_ok "divertd is ready within 10 s"
    testlib_end; exit
fi
ok "divertd is ready"

# --------------------------------------------------------------------------
echo "# -h, -V and usage errors (64, nothing sent)"
for flag in -h --help; do
    out=$("$CMS" $flag 2>&1); rc=$?
    check_eq "divert-cms $flag exits 0" "$rc" 0
    check_match "divert-cms $flag prints the usage" "$out" "^usage: divert-cms"
    check_match "... which names every command" "$out" "assignments.*enroll.*transfer.*caseload.*watch"
    check_match "... and the exit statuses" "$out" "Exit status: 0 done"
done
for flag in -V --version; do
    out=$("$CMS" $flag 2>&1); rc=$?
    check_eq "divert-cms $flag exits 0" "$rc" 0
    check_match "divert-cms $flag prints the version" "$out" "^divert-cms [0-9]+\\.[0-9]+\\.[0-9]+$"
done
usage() {   # usage "what" "expected message" ARGS...
    local what=$1 message=$2; shift 2
    cms lead-cms "$@"
    check_eq "$what: exit 64" "$RC" 64
    check_eq "$what: says so on the first line" "$(head -n 1 <<<"$ERR")" "divert-cms: $message"
    check_eq "$what: nothing on stdout" "$OUT" ""
}
R0=$(uuid)
usage "no command" "a command is required"
usage "an unknown command" "unknown command (assignments, enroll, transfer, caseload, watch)" enrol
usage "assignments without --program" "assignments wants --program" assignments
usage "an option of another command" "--reason does not go with assignments" \
    assignments --program LEAD --reason moved
usage "--limit above 500" "--limit wants a number of events from 1 to 500" assignments --program LEAD --limit 501
usage "--since below 0" "--since wants a seq number (0 or more)" assignments --program LEAD --since -1
usage "enroll with two arguments" "enroll wants SOURCE_ID REFERRAL_ID CHANGE" enroll spd "$R0"
usage "an unknown change" "CHANGE is one of intake_completed, in_the_wind, re_engaged, exited" \
    enroll spd "$R0" graduated
usage "exited without a reason" \
    "exited wants --reason (graduated, moved, declined_services, incarcerated, deceased, other)" \
    enroll spd "$R0" exited
usage "a reason with another change" "--reason goes with exited only" \
    enroll spd "$R0" intake_completed --reason moved
usage "an unknown reason" \
    "--reason is one of graduated, moved, declined_services, incarcerated, deceased, other" \
    enroll spd "$R0" exited --reason bored
usage "an empty argument" "transfer wants SOURCE_ID REFERRAL_ID CASE_MANAGER" transfer spd "" cm-a
usage "caseload without a program" "caseload wants PROGRAM" caseload
usage "watch --count 0" "--count wants a positive number" watch --program LEAD --count 0
usage "watch --decisions naming more than --endpoint" \
    "--decisions must name as many endpoints as --endpoint, in the same order" \
    watch --program LEAD --decisions tcp://127.0.0.1:7462,tcp://127.0.0.1:7464
OUT=$("$CMS" --server-key "$T/server.cert" --cert "$T/lead-cms.cert" caseload LEAD 2>"$T/stderr"); RC=$?
check_eq "no --endpoint: exit 64" "$RC" 64
check_eq "... and it says so" "$(head -n 1 "$T/stderr")" "divert-cms: --endpoint is required"
check_eq "usage errors recorded nothing" "$(lead_events)" 0

# --------------------------------------------------------------------------
echo "# two assignments in LEAD, one in CO-LEAD"
referral unsheltered '.person += {first_name: "Jo", last_name: "Quixotically", dob: "1979-05-06"}
    | .contact = {officer_id: "4411", callback: "+1-206-555-0100"}
    | .notes = "Secretnote\nline two \u001b[2J back\\slash"
    | .behavioral_health = ["substance_use", "mental_health"]
    | .offense.description = "possession"' >"$T/r1.json"; R1=$REF
referral unsheltered >"$T/r2.json"; R2=$REF
referral hotel >"$T/r3.json"; R3=$REF
submit "$T/r1.json"; CM1=$(jq -r '.case_manager.id' <<<"$OUT")
check_eq "R1 accepted in LEAD" "$(jq -r '[.decision, .program] | join(" ")' <<<"$OUT")" "accept LEAD"
submit "$T/r2.json"; CM2=$(jq -r '.case_manager.id' <<<"$OUT")
check_eq "R2 accepted in LEAD" "$(jq -r '[.decision, .program] | join(" ")' <<<"$OUT")" "accept LEAD"
check "R1 and R2 went to different case managers" test "$CM1" != "$CM2"
submit "$T/r3.json"
check_eq "R3 accepted in CO-LEAD" "$(jq -r '[.decision, .program] | join(" ")' <<<"$OUT")" "accept CO-LEAD"
check_eq "the LEAD feed has two events" "$(lead_events)" 2

# --------------------------------------------------------------------------
echo "# assignments"
cms lead-cms assignments --program LEAD
check_eq "assignments exits 0" "$RC" 0
check_eq "next_seq on stderr" "$ERR" "next_seq 2"
check_match "line 1: R1 assigned" "$(sed -n 1p <<<"$OUT")" \
    "^seq 1  LEAD  spd $R1  assigned -> pending_intake  $CM1  20[0-9]{2}-[0-9T:.-]+Z$"
check_eq "R1's referral: the person" "$(sed -n 2p <<<"$OUT")" "    person      Jo Quixotically  (source id sp-${R1:0:8})"
check_eq "... born" "$(sed -n 3p <<<"$OUT")" "    born        1979-05-06"
check_eq "... area" "$(sed -n 4p <<<"$OUT")" "    area        downtown"
check_eq "... housing" "$(sed -n 5p <<<"$OUT")" "    housing     unsheltered"
check_eq "... needs" "$(sed -n 6p <<<"$OUT")" "    needs       substance_use, mental_health"
check_eq "... pathway" "$(sed -n 7p <<<"$OUT")" "    pathway     arrest_diversion, submitted 2026-11-22T18:04:05Z"
check_eq "... offense" "$(sed -n 8p <<<"$OUT")" "    offense     VUCSA-POSS (possession)"
check_match "... intake due" "$(sed -n 9p <<<"$OUT")" "^    intake due  20[0-9]{2}-[0-9T:.-]+Z$"
check_eq "... contact, sorted by key" "$(sed -n 10p <<<"$OUT")" "    contact     callback +1-206-555-0100, officer_id 4411"
check_eq "... notes, control characters and backslashes escaped" "$(sed -n 11p <<<"$OUT")" \
    '    notes       Secretnote\nline two \x1b[2J back\\slash'
check_nomatch "no raw escape character reaches the terminal" "$OUT" $'\x1b'
check_match "line 12: R2 assigned" "$(sed -n 12p <<<"$OUT")" \
    "^seq 2  LEAD  spd $R2  assigned -> pending_intake  $CM2  "
check_eq "R2's referral: only what the source sent" "$(sed -n '13,$p' <<<"$OUT" | cut -c5-15 | paste -sd,)" \
    "person     ,area       ,housing    ,needs      ,pathway    ,offense    ,intake due "
check_eq "R2's person is the source's id" "$(sed -n 13p <<<"$OUT")" "    person      source id sp-${R2:0:8}"
check_nomatch "no CO-LEAD referral in LEAD's feed" "$OUT" "$R3"

cms lead-cms assignments --program LEAD --json
check_eq "--json exits 0" "$RC" 0
check_eq "--json: three lines, the last one next_seq" "$(jq -c . <<<"$OUT" | tail -n 1)" '{"next_seq":2}'
check_eq "--json: nothing on stderr" "$ERR" ""
check_eq "--json: the events" "$(head -n 2 <<<"$OUT" | jq -c '[.type, .program, .seq, .source_id, .referral_id, .change, .status, .case_manager]' | paste -sd' ')" \
    "[\"enrollment_event\",\"LEAD\",1,\"spd\",\"$R1\",\"assigned\",\"pending_intake\",\"$CM1\"] [\"enrollment_event\",\"LEAD\",2,\"spd\",\"$R2\",\"assigned\",\"pending_intake\",\"$CM2\"]"
check_eq "--json: the referral as submitted" "$(head -n 1 <<<"$OUT" | jq -c '.referral | [.person.last_name, .person.dob, .notes == "Secretnote\nline two \u001b[2J back\\slash", .contact.officer_id]')" \
    '["Quixotically","1979-05-06",true,"4411"]'
check_eq "--json: intake_due on assignments" "$(head -n 2 <<<"$OUT" | jq -r '.intake_due | type' | sort -u)" string
cms lead-cms assignments --program LEAD --limit 1 --json
check_eq "--limit 1 pages through the same events" "$(jq -c '[.seq, .next_seq]' <<<"$OUT" | paste -sd' ')" \
    "[1,null] [2,null] [null,2]"
cms lead-cms assignments --program LEAD --since 1 --json
check_eq "--since 1: only seq 2, then next_seq 2" "$(jq -c '[.seq, .next_seq]' <<<"$OUT" | paste -sd' ')" \
    "[2,null] [null,2]"
cms lead-cms assignments --program LEAD --since 2
check_eq "--since at the end: nothing, exit 0" "$RC:$OUT" "0:"
check_eq "... and next_seq stays" "$ERR" "next_seq 2"
cms colead-cms assignments --program CO-LEAD --json
check_eq "a CO-LEAD key sees CO-LEAD's feed" "$(head -n 1 <<<"$OUT" | jq -r '[.program, .seq, .referral_id] | join(" ")')" "CO-LEAD 1 $R3"

echo "# assignments: refused"
cms colead-cms assignments --program LEAD
check_eq "another program's feed: exit 2" "$RC" 2
check_eq "... not_found on stderr, then next_seq" "$(sed -n 1p <<<"$ERR" | cut -d: -f1-3)" "divert-cms: assignments: not_found"
check_eq "... next_seq is the --since it began with" "$(sed -n 2p <<<"$ERR")" "next_seq 0"
check_eq "... nothing on stdout" "$OUT" ""
cms spd assignments --program LEAD
check_eq "a source's key: exit 2" "$RC" 2
check_match "... forbidden" "$ERR" "^divert-cms: assignments: forbidden: "

# --------------------------------------------------------------------------
echo "# enroll"
cms lead-cms enroll spd "$R1" intake_completed
check_eq "intake_completed: exit 0" "$RC" 0
check_eq "the line: seq, program, referral, status, case manager" "$OUT" "seq 3  LEAD  spd $R1  active  $CM1"
check_eq "nothing on stderr" "$ERR" ""
check_eq "one event more" "$(lead_events)" 3
cms lead-cms enroll spd "$R1" intake_completed
check_eq "the same change again: exit 0" "$RC" 0
check_eq "... the same reply, replayed" "$OUT" "seq 3  LEAD  spd $R1  active  $CM1  replayed"
check_eq "... nothing recorded" "$(lead_events)" 3
cms lead-cms enroll spd "$R1" intake_completed --json
check_eq "--json: the reply as it came" "$(jq -c '[.type, .program, .source_id, .referral_id, .status, .case_manager, .seq, .replayed]' <<<"$OUT")" \
    "[\"enrollment\",\"LEAD\",\"spd\",\"$R1\",\"active\",\"$CM1\",3,true]"

N0=$(lead_events)
cms lead-cms enroll spd "$R1" re_engaged
check_eq "re_engaged while active: exit 2" "$RC" 2
check_match "... conflict, naming the status" "$ERR" "^divert-cms: enroll: conflict: .*active"
check_eq "... one line" "$(lines "$ERR")" 1
check_eq "... nothing on stdout" "$OUT" ""
cms lead-cms enroll spd "$R1" re_engaged --json
check_eq "--json: exit 2" "$RC" 2
check_eq "--json: the error reply on stdout" "$(jq -c '[.type, .code, .retry]' <<<"$OUT")" '["error","conflict",false]'
check_match "--json: and the line on stderr" "$ERR" "^divert-cms: enroll: conflict: "
cms lead-cms enroll spd "$R2" intake_completed --at 2099-01-01T00:00:00Z
check_eq "--at in the future: exit 2" "$RC" 2
check_match "... invalid, field at" "$ERR" "^divert-cms: enroll: invalid: .*\\(at: [^)]+\\)$"
cms lead-cms enroll spd "$R2" intake_completed --at 2001-01-01T00:00:00Z
check_eq "--at before the acceptance: exit 2" "$RC" 2
check_match "... invalid, field at" "$ERR" "^divert-cms: enroll: invalid: .*\\(at: [^)]+\\)$"
cms lead-cms enroll spd "$R2" intake_completed --at yesterday
check_eq "--at not RFC 3339: exit 2" "$RC" 2
check_match "... invalid, field at" "$ERR" "\\(at: [^)]+\\)$"
cms lead-cms enroll spd "$(uuid)" intake_completed
check_eq "an unknown referral: exit 2" "$RC" 2
check_match "... not_found" "$ERR" "^divert-cms: enroll: not_found: "
cms lead-cms enroll spd "$R3" intake_completed
check_eq "another program's referral: exit 2" "$RC" 2
check_match "... not_found, like an unknown one" "$ERR" "^divert-cms: enroll: not_found: "
cms lead-cms enroll spd Quixotically-not-a-uuid intake_completed
check_eq "a referral id that is no UUID: exit 2" "$RC" 2
check_match "... invalid" "$ERR" "^divert-cms: enroll: invalid: "
check_nomatch "... and it is not echoed" "$ERR" Quixotically
cms spd enroll spd "$R1" in_the_wind
check_eq "a source's key: exit 2" "$RC" 2
check_match "... forbidden" "$ERR" "^divert-cms: enroll: forbidden: "
check_eq "refusals recorded nothing" "$(lead_events)" "$N0"

# --------------------------------------------------------------------------
echo "# transfer"
cms lead-cms transfer spd "$R1" "$CM2"
check_eq "transfer: exit 0" "$RC" 0
check_eq "the line: the new case manager, status unchanged" "$OUT" "seq 4  LEAD  spd $R1  active  $CM2"
cms lead-cms transfer spd "$R1" "$CM2"
check_eq "the same transfer again: exit 0, replayed" "$RC:$OUT" "0:seq 4  LEAD  spd $R1  active  $CM2  replayed"
cms lead-cms transfer spd "$R2" "$CM2"
check_eq "to the case manager it already has (no transfer to it): exit 2" "$RC" 2
check_match "... conflict" "$ERR" "^divert-cms: transfer: conflict: "
cms lead-cms transfer spd "$R2" cm-nobody
check_eq "to an unknown case manager: exit 2" "$RC" 2
check_match "... not_found" "$ERR" "^divert-cms: transfer: not_found: "
cms lead-cms transfer spd "$R2" cm-c
check_eq "to another program's case manager: exit 2" "$RC" 2
check_match "... conflict" "$ERR" "^divert-cms: transfer: conflict: "
cms lead-cms transfer spd "$R1" "$CM1" --json
check_eq "--json transfer back" "$(jq -c '[.type, .case_manager, .seq, .replayed]' <<<"$OUT")" "[\"enrollment\",\"$CM1\",5,false]"
check_eq "two transfers recorded" "$(lead_events)" 5
cms lead-cms assignments --program LEAD --since 3
check_match "assignments shows a transfer with where it came from" "$(sed -n 1p <<<"$OUT")" \
    "^seq 4  LEAD  spd $R1  transferred -> active  $CM2 \\(from $CM1\\)  "

# --------------------------------------------------------------------------
echo "# caseload"
cms lead-cms caseload LEAD
check_eq "caseload: exit 0" "$RC" 0
check_eq "the heading: program, seq, counts" "$(sed -n 1p <<<"$OUT")" "LEAD at seq 5: 2 case managers, 2 open enrollments"
check_match "cm-a's line" "$OUT" $'\n''cm-a  A\. Rivera  active  +1 open'$'\n'
check_match "cm-b's line" "$OUT" $'\n''cm-b  B\. Chen +active  +1 open'$'\n'
check_match "R1 under $CM1, active" "$(grep -A1 "^$CM1 " <<<"$OUT" | sed -n 2p)" "^    spd $R1  active +since 20"
check_match "R2 under $CM2, pending_intake" "$(grep -A1 "^$CM2 " <<<"$OUT" | sed -n 2p)" "^    spd $R2  pending_intake  since 20"
check_nomatch "no personal data in the caseload" "$OUT" "Quixotically|1979-05-06|Secretnote"
cms lead-cms caseload LEAD --json
check_eq "--json: the reply as it came" "$(jq -c '[.type, .program, .seq, (.case_managers | map(.id) | sort)]' <<<"$OUT")" \
    '["caseload","LEAD",5,["cm-a","cm-b"]]'
check_eq "--json: the enrollments" "$(jq -c '[.case_managers[].enrollments[] | [.source_id, .referral_id, .status]] | sort_by(.[2])' <<<"$OUT")" \
    "[[\"spd\",\"$R1\",\"active\"],[\"spd\",\"$R2\",\"pending_intake\"]]"
cms lead-cms caseload CO-LEAD
check_eq "another program's caseload: exit 2, not_found" "$RC:$(cut -d: -f1-3 <<<"$ERR")" "2:divert-cms: caseload: not_found"
cms spd caseload LEAD
check_eq "a source's key: exit 2, forbidden" "$RC:$(cut -d: -f1-3 <<<"$ERR")" "2:divert-cms: caseload: forbidden"

# --------------------------------------------------------------------------
echo "# watch: --since replays, then live (an assignment comes with its referral)"
OUT=$(timeout 30 "$CMS" --endpoint "$INTAKE" --server-key "$T/server.cert" --cert "$T/lead-cms.cert" \
      watch --program LEAD --since 0 --count 5 --timeout-ms 5000 2>"$T/stderr"); RC=$?
ERR=$(cat "$T/stderr")
check_eq "watch --since 0 --count 5: exit 0" "$RC" 0
check_eq "it printed seq 1..5, in order" "$(grep -oE '^seq [0-9]+' <<<"$OUT" | paste -sd,)" "seq 1,seq 2,seq 3,seq 4,seq 5"
check_eq "all marked replayed" "$(grep -c '  (replayed)$' <<<"$OUT")" 5
check_eq "the assignments with their referrals" "$(grep -c '^    person ' <<<"$OUT")" 2
check_eq "next_seq 5 at the end" "$ERR" "next_seq 5"

timeout 30 "$CMS" --endpoint "$INTAKE" --server-key "$T/server.cert" --cert "$T/lead-cms.cert" \
    --json watch --program LEAD --count 2 --timeout-ms 15000 >"$T/watch.out" 2>"$T/watch.err" &
W=$!
timeout 30 "$CMS" --endpoint "$INTAKE" --server-key "$T/server.cert" --cert "$T/colead-cms.cert" \
    --json watch --program LEAD --timeout-ms 6000 >"$T/watch-other.out" 2>"$T/watch-other.err" &
WO=$!
sleep 1.5       # the subscriptions reach divertd
referral unsheltered '.person += {last_name: "Zamboni", dob: "1990-01-02"}' >"$T/r4.json"; R4=$REF
submit "$T/r4.json"; CM4=$(jq -r '.case_manager.id' <<<"$OUT")
check_eq "R4 accepted in LEAD" "$(jq -r '.decision' <<<"$OUT")" accept
cms lead-cms enroll spd "$R4" intake_completed
check_eq "R4's intake completed" "$RC" 0
wait "$W"; WRC=$?
wait "$WO"; WORC=$?
WOUT=$(cat "$T/watch.out")
check_eq "watch --json --count 2: exit 0" "$WRC" 0
check_eq "two events, then next_seq" "$(jq -c '[.seq, .change, .next_seq]' <<<"$WOUT" 2>/dev/null | paste -sd' ')" \
    '[6,"assigned",null] [7,"intake_completed",null] [null,null,7]'
check_eq "the live assignment came with its referral (fetched)" \
    "$(head -n 1 <<<"$WOUT" | jq -c '[.referral_id, .case_manager, .referral.person.last_name, .referral.person.dob, (.intake_due | type)]')" \
    "[\"$R4\",\"$CM4\",\"Zamboni\",\"1990-01-02\",\"string\"]"
check_eq "no error from watch" "$(cat "$T/watch.err")" ""
check_eq "a CO-LEAD key watching LEAD receives nothing" "$WORC:$(cat "$T/watch-other.out")" "0:"

echo "# watch: a gap is filled with enrollments"
if start_daemon 1; then ok "a second divertd on the same database"; else not_ok "a second divertd starts"; fi
timeout 60 "$CMS" --endpoint "$INTAKE" --server-key "$T/server.cert" --cert "$T/lead-cms.cert" \
    watch --program LEAD --count 3 --timeout-ms 30000 >"$T/gap.out" 2>"$T/gap.err" &
W=$!
sleep 1.5
cms1() { OUT=$("$CMS" --endpoint "$INTAKE1" --server-key "$T/server.cert" --cert "$T/lead-cms.cert" "$@" 2>>"$T/errors"); RC=$?; }
cms1 enroll spd "$R2" intake_completed                # seq 8: published by both, seen
check_eq "seq 8 through the second daemon" "$RC:$OUT" "0:seq 8  LEAD  spd $R2  active  $CM2"
sleep 0.5
stop_daemon 0
cms1 enroll spd "$R2" in_the_wind                     # seq 9: the watcher's divertd is down
check_eq "seq 9 while the watcher's divertd is down" "$RC:$OUT" "0:seq 9  LEAD  spd $R2  in_the_wind  $CM2"
if start_daemon 0; then ok "the watcher's divertd is back"; else not_ok "divertd restarts"; fi
sleep 1.5       # the watcher reconnects and subscribes again
cms1 enroll spd "$R2" re_engaged                      # seq 10: seen, after a gap
check_eq "seq 10" "$RC:$OUT" "0:seq 10  LEAD  spd $R2  active  $CM2"
wait "$W"; WRC=$?
GOUT=$(cat "$T/gap.out")
check_eq "watch exits 0" "$WRC" 0
check_eq "three events, in order" "$(grep -oE '^seq [0-9]+' <<<"$GOUT" | paste -sd,)" "seq 8,seq 9,seq 10"
check_eq "only the missed one is marked replayed" "$(grep -n '(replayed)$' <<<"$GOUT" | cut -d: -f1)" 2
check_match "seq 9 is the in_the_wind change" "$(sed -n 2p <<<"$GOUT")" \
    "^seq 9  LEAD  spd $R2  in_the_wind -> in_the_wind  $CM2  20.*  \\(replayed\\)$"
check_eq "next_seq 10 on stderr" "$(cat "$T/gap.err")" "next_seq 10"
stop_daemon 1

# --------------------------------------------------------------------------
echo "# exited"
cms lead-cms enroll spd "$R1" exited --reason graduated
check_eq "exited graduated: exit 0" "$RC:$OUT" "0:seq 11  LEAD  spd $R1  exited  $CM1"
cms lead-cms enroll spd "$R1" exited --reason graduated
check_eq "again: replayed" "$RC:$OUT" "0:seq 11  LEAD  spd $R1  exited  $CM1  replayed"
cms lead-cms enroll spd "$R1" exited --reason moved
check_eq "exited again with another reason: exit 2" "$RC" 2
check_match "... conflict, the status is exited" "$ERR" "^divert-cms: enroll: conflict: .*exited"
cms lead-cms enroll spd "$R1" intake_completed
check_eq "a change after the exit: exit 2, conflict" "$RC:$(cut -d: -f1-3 <<<"$ERR")" "2:divert-cms: enroll: conflict"
cms lead-cms transfer spd "$R1" "$CM2"
check_eq "a transfer after the exit: exit 2, conflict" "$RC:$(cut -d: -f1-3 <<<"$ERR")" "2:divert-cms: transfer: conflict"
cms lead-cms assignments --program LEAD --since 10
check_match "the exit in the feed, with its reason" "$OUT" \
    "^seq 11  LEAD  spd $R1  exited \\(graduated\\) -> exited  $CM1  20[0-9T:.-]+Z$"

# --------------------------------------------------------------------------
echo "# Lazy Pirate: divertd stopped, then started"
stop_daemon 0
N0=$(lead_events)
cms lead-cms --timeout 300 --attempts 1 enroll spd "$R2" in_the_wind
check_eq "divertd down, one attempt: exit 3" "$RC" 3
check_eq "... no reply after 1 attempt" "$ERR" "divert-cms: enroll: no reply from $INTAKE after 1 attempt"
check_eq "... nothing on stdout" "$OUT" ""
check_eq "... nothing recorded" "$(lead_events)" "$N0"
"$CMS" --endpoint "$INTAKE" --server-key "$T/server.cert" --cert "$T/lead-cms.cert" \
    --timeout 1000 --attempts 15 enroll spd "$R2" in_the_wind >"$T/pirate.out" 2>"$T/pirate.err" &
P=$!
sleep 2.5       # two attempts go unanswered
if start_daemon 0; then ok "divertd is back"; else not_ok "divertd restarts"; fi
wait "$P"; PRC=$?
check_eq "the same request, sent again, is answered: exit 0" "$PRC" 0
check_eq "... the change is recorded once" "$(cat "$T/pirate.out")" "seq 12  LEAD  spd $R2  in_the_wind  $CM2"
check_eq "... nothing on stderr" "$(cat "$T/pirate.err")" ""
check_eq "... one event more" "$(lead_events)" $((N0 + 1))
cms lead-cms enroll spd "$R2" in_the_wind
check_eq "and once more: replayed" "$RC:$OUT" "0:seq 12  LEAD  spd $R2  in_the_wind  $CM2  replayed"

echo "# no answer, unavailable (exit 3)"
start=$SECONDS
cms lead-cms --endpoint "$NOWHERE" --timeout 300 --attempts 2 caseload LEAD
check_eq "an unreachable endpoint: exit 3" "$RC" 3
check_eq "... no reply after 2 attempts" "$ERR" "divert-cms: caseload: no reply from $NOWHERE after 2 attempts"
check "... within a few seconds" test $((SECONDS - start)) -le 5
OUT=$("$CMS" --endpoint "$INTAKE" --server-key "$T/server.cert" --cert "$T/nothing.cert" caseload LEAD 2>"$T/stderr"); RC=$?
check_eq "a missing certificate: exit 3" "$RC" 3
check_eq "... says which file" "$(cat "$T/stderr")" "divert-cms: $T/nothing.cert: No such file or directory"
# The database refuses connections: divertd answers `unavailable` (nothing recorded)
psql -X -q -d postgres -c "ALTER DATABASE \"$PGDATABASE\" ALLOW_CONNECTIONS false"
psql -X -Atq -d postgres -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                              WHERE datname = '$PGDATABASE'" >/dev/null
cms lead-cms --attempts 2 enroll spd "$R2" re_engaged
check_eq "the database down: exit 3" "$RC" 3
check_match "... unavailable after every attempt" "$ERR" "^divert-cms: enroll: unavailable: "
psql -X -q -d postgres -c "ALTER DATABASE \"$PGDATABASE\" ALLOW_CONNECTIONS true"
for _ in $(seq 50); do
    cms lead-cms --attempts 1 caseload LEAD
    [ "$RC" = 0 ] && break
    sleep 0.2
done
check_eq "the database back: caseload answers" "$RC" 0
check_eq "nothing was recorded while it was down" "$(lead_events)" $((N0 + 1))
cms lead-cms enroll spd "$R2" re_engaged
check_eq "the same change now: recorded" "$RC:$OUT" "0:seq 13  LEAD  spd $R2  active  $CM2"

# --------------------------------------------------------------------------
echo "# no personal data in errors or logs"
check "no name, date of birth, note or contact in any error line" \
    bash -c "! grep -qE 'Quixotically|Zamboni|1979-05-06|1990-01-02|Secretnote|555-0100' '$T/errors'"
check "no personal data in divertd's logs" \
    bash -c "! grep -qE 'Quixotically|Zamboni|1979-05-06|1990-01-02|Secretnote|555-0100' '$T'/divertd-*.log"

echo "# stop"
stop_daemon 0
check_eq "divertd exits 0 on SIGTERM" "$DAEMON_RC" 0

testlib_end
