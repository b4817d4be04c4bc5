#!/usr/bin/env bash
# clients.sh — divert-submit and divert-watch against a real divertd on a
# real, migrated PostgreSQL, over CURVE: one referral per exit status (accept
# 0, waitlist 1, decline 2, invalid 3), a JSON-lines file (one line per
# decision, the summary, the worst status), resubmission (replayed, nothing
# new recorded), --json, a usage error, an unreachable endpoint; then
# divert-watch live (consecutive seq, own source, no personal data) and with
# --since (replay from the intake socket).
#
# Environment (tests/harness/run-all.sh): PG* (a fresh migrated database),
# DIVERT_BIN, DIVERT_TMP, DIVERT_PORT_BASE (20 ports of our own).
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/support/testlib.sh

CTL=${DIVERT_BIN:?}/divertctl
SUBMIT=$DIVERT_BIN/divert-submit
WATCH=$DIVERT_BIN/divert-watch
T=${DIVERT_TMP:?}
PORT=${DIVERT_PORT_BASE:?}
INTAKE=tcp://127.0.0.1:$PORT
DECISIONS=tcp://127.0.0.1:$((PORT + 1))
NOWHERE=tcp://127.0.0.1:$((PORT + 5))        # ours, and nothing listens on it
export DIVERT_SQL_DIR=${DIVERT_SQL_DIR:-$(pwd)/sql}
unset PGAPPNAME

sql() { psql -X -v ON_ERROR_STOP=1 -Atq -c "$1"; }
uuid() { cat /proc/sys/kernel/random/uuid; }
lines() { if [ -z "$1" ]; then echo 0; else printf '%s\n' "$1" | wc -l; fi; }
events() { sql "SELECT count(*) FROM divert.decision_event"; }

# submit CERT ARGS...: divert-submit with the server key and CERT; sets OUT, ERR, RC
submit() {
    local cert=$1; shift
    OUT=$("$SUBMIT" --endpoint "$INTAKE" --server-key "$T/server.cert" --cert "$T/$cert.cert" \
          "$@" 2>"$T/stderr"); RC=$?; ERR=$(cat "$T/stderr")
}

# referral PATHWAY [JQ-UPDATE]: one referral as a JSON line (new uuid); its id in REF
referral() {
    REF=$(uuid)
    jq -cn --arg id "$REF" --arg pathway "$1" --arg sp "sp-$REF" '
        {v: 1, type: "referral", referral_id: $id, pathway: $pathway,
         submitted_at: "2026-11-22T18:04:05Z", person: {source_person_id: $sp},
         area: "downtown", housing: "unsheltered", behavioral_health: ["substance_use"],
         consent: true}
        | if $pathway == "arrest_diversion" then .offense = {code: "X"} else . end
        | '"${2:-.}"
}

# --------------------------------------------------------------------------
echo "# site"
DAEMON=
stop_daemon() {     # SIGTERM divertd and wait; its exit status in DAEMON_RC
    DAEMON_RC=
    [ -n "$DAEMON" ] || return 0
    kill -TERM "$DAEMON" 2>/dev/null
    wait "$DAEMON"; DAEMON_RC=$?
    DAEMON=
}
trap stop_daemon EXIT

setup_ok=true
"$CTL" keygen "$T/server.cert" >/dev/null || setup_ok=false
"$CTL" source add spd --kind police --name "City Police" --cert-out "$T/spd.cert" >/dev/null || setup_ok=false
"$CTL" source add cp --kind community --name "Harm Reduction Org" --cert-out "$T/cp.cert" >/dev/null || setup_ok=false
"$CTL" monitor add ops --cert-out "$T/ops.cert" >/dev/null || setup_ok=false
"$CTL" cm add cm-a --program LEAD --name "A" >/dev/null || setup_ok=false
# One case manager, hard cap 3, paced 2, reserve 1: tier 2 only fits at 0.
sql "UPDATE divert.program SET hard_cap = 3, target_avg = 2, reserve_tier1 = 1, reserve_tier2 = 1
     WHERE name = 'LEAD'" || setup_ok=false
check "divertctl sets up the site" $setup_ok

cat >"$T/divertd.conf" <<EOF
divertd
    intake = $INTAKE
    decisions = $DECISIONS
    server_cert = $T/server.cert
    log = stderr
EOF
"$DIVERT_BIN/divertd" -c "$T/divertd.conf" 2>"$T/divertd.log" &
DAEMON=$!
for _ in $(seq 100); do
    grep -q "ready:" "$T/divertd.log" && break
    kill -0 "$DAEMON" 2>/dev/null || break
    sleep 0.1
done
if ! grep -q "ready:" "$T/divertd.log"; then
    not_ok "divertd is ready within 10 s"
    sed 's/^/# divertd: /' "$T/divertd.log"
    testlib_end; exit
fi
ok "divertd is ready"

# --------------------------------------------------------------------------
echo "# every program: -h/--help and -V/--version"
for prog in divertd divertctl divert-submit divert-watch; do
    for flag in -h --help; do
        out=$("$DIVERT_BIN/$prog" $flag 2>&1); rc=$?
        check_eq "$prog $flag exits 0" "$rc" 0
        check_match "$prog $flag prints the usage" "$out" "usage: $prog"
    done
    for flag in -V --version; do
        out=$("$DIVERT_BIN/$prog" $flag 2>&1); rc=$?
        check_eq "$prog $flag exits 0" "$rc" 0
        check_match "$prog $flag prints the version" "$out" "^$prog [0-9]+\\.[0-9]+\\.[0-9]+"
    done
done

# --------------------------------------------------------------------------
echo "# divert-submit: one referral"
submit spd --help
check_eq "--help exits 0" "$RC" 0
check_match "--help prints the usage" "$OUT" "usage: divert-submit"

referral arrest_diversion >"$T/accept.json"; R_ACCEPT=$REF
submit spd "$T/accept.json"
check_eq "an accepted referral exits 0" "$RC" 0
check_eq "one line for one referral" "$(lines "$OUT")" 1
check_match "the line says accept, the program and the case manager" "$OUT" \
    "^${R_ACCEPT:0:8}  accept +LEAD  cm-a \\(A\\)  tier 1 score [0-9]+$"
check_eq "no summary for one referral" "$ERR" ""
check_eq "the referral is recorded as accepted" \
    "$(sql "SELECT state FROM divert.referral WHERE referral_id = '$R_ACCEPT'")" accepted
check_eq "cm-a holds 1" "$(sql "SELECT caseload FROM divert.case_manager WHERE id = 'cm-a'")" 1

referral community >"$T/waitlist.json"; R_WAIT=$REF
submit cp "$T/waitlist.json"
check_eq "a waitlisted community referral exits 1" "$RC" 1
check_match "the line says waitlist and the position" "$OUT" \
    "^${R_WAIT:0:8}  waitlist  position 1 \\([a-z0-9_]+\\)$"

referral community '.housing = "sheltered"' >"$T/decline.json"; R_DECL=$REF
submit cp "$T/decline.json"
check_eq "a sheltered person is declined: exit 2" "$RC" 2
check_match "the line gives the reason" "$OUT" "^${R_DECL:0:8}  decline +not_unsheltered$"

N0=$(events)
referral arrest_diversion '.person = {last_name: "Doe", dob: "1981-02-30"}' >"$T/invalid.json"
submit spd "$T/invalid.json"
check_eq "an invalid referral exits 3" "$RC" 3
check_match "the error is invalid" "$OUT" "error invalid: "
check_match "the error names person.dob" "$OUT" "\\(person\\.dob: [^)]+\\)"
check_eq "an invalid referral records nothing" "$(events)" "$N0"

# --------------------------------------------------------------------------
echo "# divert-submit: JSON lines"
# cm-a holds 1 of 3: accept (2), waitlist (free 0), accept (3), at capacity.
{
    referral arrest_diversion; B1=$REF
    echo
    referral social_contact; B2=$REF
    referral arrest_diversion '.prior_contacts_12m = 2'; B3=$REF
    referral arrest_diversion; B4=$REF
} >"$T/batch.jsonl"
N0=$(events)
submit spd "$T/batch.jsonl"
check_eq "a batch exits with its worst status (decline)" "$RC" 2
check_eq "one line per decision" "$(lines "$OUT")" 4
check_match "line 1: accept" "$(sed -n 1p <<<"$OUT")" "^${B1:0:8}  accept +LEAD  cm-a \\(A\\)"
check_match "line 2: waitlist" "$(sed -n 2p <<<"$OUT")" "^${B2:0:8}  waitlist  position 2 "
check_match "line 3: accept" "$(sed -n 3p <<<"$OUT")" "^${B3:0:8}  accept +LEAD  cm-a \\(A\\)"
check_match "line 4: decline at capacity" "$(sed -n 4p <<<"$OUT")" "^${B4:0:8}  decline +at_capacity$"
check_eq "the summary counts them" "$ERR" \
    "4 sent: 2 accept, 1 waitlist, 1 decline, 0 error; 0 retried, 0 replayed"
check_eq "four decisions recorded" "$(events)" $((N0 + 4))
check_eq "cm-a is at the hard cap" "$(sql "SELECT caseload FROM divert.case_manager WHERE id = 'cm-a'")" 3

echo "# divert-submit: resubmission"
FIRST=$OUT
N0=$(events)
submit spd "$T/batch.jsonl"
check_eq "resubmitting exits with the same status" "$RC" 2
check_eq "still one line per decision" "$(lines "$OUT")" 4
check_eq "every line says replayed" "$(grep -c '  replayed$' <<<"$OUT")" 4
check_eq "the same decisions as the first time" "$(sed 's/  replayed$//' <<<"$OUT")" "$FIRST"
check_eq "the summary counts the replays" "$ERR" \
    "4 sent: 2 accept, 1 waitlist, 1 decline, 0 error; 0 retried, 4 replayed"
check_eq "nothing new is recorded" "$(events)" "$N0"
submit spd "$T/accept.json"
check_eq "a replayed accept still exits 0" "$RC" 0
check_match "and says replayed" "$OUT" "^${R_ACCEPT:0:8}  accept +LEAD  cm-a \\(A\\)  tier 1 score [0-9]+  replayed$"
check_eq "still nothing new" "$(events)" "$N0"

echo "# divert-submit: --json"
submit spd --json "$T/batch.jsonl"
check_eq "--json exits with the same status" "$RC" 2
check "--json prints JSON lines" bash -c 'jq -e . >/dev/null' <<<"$OUT"
check_eq "--json: one reply per line" "$(jq -s length <<<"$OUT")" 4
check_eq "--json: the decisions" "$(jq -sc '[.[] | [.type, .decision, .reason, .replayed]]' <<<"$OUT")" \
    '[["decision","accept","accepted",true],["decision","waitlist","at_capacity",true],["decision","accept","accepted",true],["decision","decline","at_capacity",true]]'
check_eq "--json: referral ids" "$(jq -r '.referral_id' <<<"$OUT" | paste -sd' ')" "$B1 $B2 $B3 $B4"
check_eq "--json: the case manager" "$(jq -sc '.[0].case_manager' <<<"$OUT")" '{"id":"cm-a","name":"A"}'
check_eq "--json: seq is a number" "$(jq -s 'map(.seq | type) | unique' -c <<<"$OUT")" '["number"]'
submit spd --json "$T/invalid.json"
check_eq "--json: an error exits 3" "$RC" 3
check_eq "--json: the error names person.dob" \
    "$(jq -r '[.code, (.errors | map(.field) | join(","))] | join(" ")' <<<"$OUT")" "invalid person.dob"

echo "# divert-submit: usage and failures"
OUT=$("$SUBMIT" --server-key "$T/server.cert" --cert "$T/spd.cert" "$T/accept.json" 2>"$T/stderr"); RC=$?
ERR=$(cat "$T/stderr")
check_eq "no --endpoint exits 64" "$RC" 64
check_match "and says so" "$ERR" "--endpoint is required"
check_eq "a usage error prints nothing on stdout" "$OUT" ""
referral arrest_diversion >"$T/lost.json"; R_LOST=$REF
N0=$(events)
start=$SECONDS
OUT=$("$SUBMIT" --endpoint "$NOWHERE" --server-key "$T/server.cert" --cert "$T/spd.cert" \
      --timeout 300 --attempts 2 "$T/lost.json" 2>"$T/stderr"); RC=$?
ERR=$(cat "$T/stderr")
check_eq "an unreachable endpoint exits 3" "$RC" 3
check_match "it says no reply after 2 attempts" "$OUT" "^${R_LOST:0:8}  error no reply from $NOWHERE after 2 attempts$"
check "it gives up within a few seconds" test $((SECONDS - start)) -le 5
check_eq "nothing was recorded" "$(events)" "$N0"
OUT=$("$SUBMIT" --endpoint "$INTAKE,,$NOWHERE" --server-key "$T/server.cert" --cert "$T/spd.cert" \
      "$T/lost.json" 2>"$T/stderr"); RC=$?
check_eq "an endpoint list with an empty entry exits 3" "$RC" 3
check_eq "and says which entry" "$(cat "$T/stderr")" \
    "divert-submit: endpoint list \"$INTAKE,,$NOWHERE\": entry 2 is empty"
OUT=$("$SUBMIT" --endpoint "$NOWHERE, $INTAKE" --server-key "$T/server.cert" --cert "$T/spd.cert" \
      --timeout 300 --attempts 2 --json "$T/lost.json" 2>"$T/stderr"); RC=$?
check "with two endpoints, the one that answers decides it" test "$RC" -le 2
check_eq "its reply is a decision, not a replay" "$(jq -r '[.type, .replayed] | join(" ")' <<<"$OUT")" "decision false"
check_eq "it said where it moved" "$(cat "$T/stderr")" "divert-submit: moved to $INTAKE"
check_eq "one decision was recorded" "$(events)" "$((N0 + 1))"

# --------------------------------------------------------------------------
echo "# divert-watch: live"
timeout 20 "$WATCH" --endpoint "$DECISIONS" --server-key "$T/server.cert" --cert "$T/spd.cert" \
    --json --count 2 --timeout-ms 10000 >"$T/watch.out" 2>"$T/watch.err" &
W=$!
timeout 20 "$WATCH" --endpoint "$DECISIONS" --server-key "$T/server.cert" --cert "$T/ops.cert" \
    --source spd --json --count 2 --timeout-ms 10000 >"$T/watch-ops.out" 2>"$T/watch-ops.err" &
WO=$!
sleep 1     # the subscriptions reach divertd
SEQ0=$(sql "SELECT COALESCE(max(seq), 0) FROM divert.decision_event WHERE source_id = 'spd'")
{
    referral arrest_diversion '.person += {last_name: "Quixotically", dob: "1979-05-06"} | .notes = "Secretnote"'
    W1=$REF
    referral arrest_diversion; W2=$REF
} >"$T/watch.jsonl"
submit spd "$T/watch.jsonl"
check_eq "two more referrals decided (at capacity: declined)" "$RC" 2
wait "$W"; WRC=$?
wait "$WO"; WORC=$?
WOUT=$(cat "$T/watch.out")
check_eq "divert-watch (source key) exits 0" "$WRC" 0
check_eq "divert-watch printed two events" "$(lines "$WOUT")" 2
check_eq "the events are JSON" "$(jq -s length <<<"$WOUT" 2>/dev/null)" 2
check_eq "their seq values are consecutive, after the earlier ones" \
    "$(jq -r .seq <<<"$WOUT" 2>/dev/null | paste -sd' ')" "$((SEQ0 + 1)) $((SEQ0 + 2))"
check_eq "they are spd's" "$(jq -r .source_id <<<"$WOUT" 2>/dev/null | paste -sd' ')" "spd spd"
check_eq "they are the two referrals" "$(jq -r .referral_id <<<"$WOUT" 2>/dev/null | paste -sd' ')" "$W1 $W2"
check_eq "they are events" "$(jq -r '.type + "/" + .decision + "/" + .reason' <<<"$WOUT" 2>/dev/null | sort -u)" \
    "event/decline/at_capacity"
check "no name in the events" bash -c "! grep -q Quixotically '$T/watch.out'"
check "no date of birth in the events" bash -c "! grep -q 1979-05-06 '$T/watch.out'"
check "no notes in the events" bash -c "! grep -q Secretnote '$T/watch.out'"
check_eq "divert-watch (monitor key, --source spd) exits 0" "$WORC" 0
check_eq "the monitor saw the same two events" \
    "$(jq -r '[.source_id, .seq] | join(":")' "$T/watch-ops.out" 2>/dev/null | paste -sd' ')" \
    "spd:$((SEQ0 + 1)) spd:$((SEQ0 + 2))"
check "no personal data in the monitor's events" bash -c "! grep -qE 'Quixotically|1979-05-06|Secretnote' '$T/watch-ops.out'"
check "divertd logs no personal data" bash -c "! grep -qE 'Quixotically|1979-05-06|Secretnote' '$T/divertd.log'"

echo "# divert-watch: --since (replay)"
NSPD=$(sql "SELECT count(*) FROM divert.decision_event WHERE source_id = 'spd'")
check_eq "spd's seq has no gaps" "$(sql "SELECT max(seq) FROM divert.decision_event WHERE source_id = 'spd'")" "$NSPD"
OUT=$(timeout 20 "$WATCH" --endpoint "$DECISIONS" --server-key "$T/server.cert" --cert "$T/spd.cert" \
      --since 0 --count "$NSPD" --timeout-ms 3000 2>"$T/stderr"); RC=$?
ERR=$(cat "$T/stderr")
check_eq "divert-watch --since 0 exits 0" "$RC" 0
check_eq "it printed every spd event" "$(lines "$OUT")" "$NSPD"
check_eq "in seq order from 1" "$(sed -E 's/^seq ([0-9]+) .*/\1/' <<<"$OUT" | paste -sd' ')" "$(seq -s' ' 1 "$NSPD")"
check_eq "all marked replayed" "$(grep -c '  (replayed)$' <<<"$OUT")" "$NSPD"
check_eq "all spd's" "$(awk '{print $3}' <<<"$OUT" | sort -u)" spd
check_match "the first is the first accept" "$(head -n 1 <<<"$OUT")" \
    "^seq 1  spd  accept accepted  LEAD tier 1  ${R_ACCEPT:0:8}\\.\\.\\."
check "no name in the replay" bash -c '! grep -qE "Quixotically|1979-05-06|Secretnote"' <<<"$OUT"
OUT=$(timeout 20 "$WATCH" --endpoint "$DECISIONS" --server-key "$T/server.cert" --cert "$T/spd.cert" \
      --since $((NSPD - 2)) --json --count 2 --timeout-ms 3000 2>"$T/stderr"); RC=$?
check_eq "--since SEQ --json exits 0" "$RC" 0
check_eq "--since SEQ replays only what follows SEQ" "$(jq -r .seq <<<"$OUT" 2>/dev/null | paste -sd' ')" \
    "$((NSPD - 1)) $NSPD"
check_eq "and those are the live ones seen before" "$(jq -r .referral_id <<<"$OUT" 2>/dev/null | paste -sd' ')" "$W1 $W2"
OUT=$(timeout 20 "$WATCH" --endpoint "$DECISIONS" --server-key "$T/server.cert" --cert "$T/ops.cert" \
      --source cp --since 0 --json --count 2 --timeout-ms 3000 2>"$T/stderr"); RC=$?
check_eq "a monitor replays another source with --source" "$RC" 0
check_eq "cp's two events" "$(jq -r '[.source_id, .seq, .decision] | join(":")' <<<"$OUT" 2>/dev/null | paste -sd' ')" \
    "cp:1:waitlist cp:2:decline"
OUT=$("$WATCH" --server-key "$T/server.cert" --cert "$T/spd.cert" 2>"$T/stderr"); RC=$?
check_eq "divert-watch without --endpoint exits 64" "$RC" 64
OUT=$("$WATCH" --endpoint "$DECISIONS,$NOWHERE" --intake "$INTAKE" --server-key "$T/server.cert" \
      --cert "$T/spd.cert" 2>"$T/stderr"); RC=$?
check_eq "divert-watch with fewer --intake than --endpoint exits 64" "$RC" 64
check_eq "and says so" "$(head -n 1 "$T/stderr")" \
    "divert-watch: --intake must name as many endpoints as --endpoint, in the same order"

# --------------------------------------------------------------------------
echo "# stop"
stop_daemon
check_eq "divertd exits 0 on SIGTERM" "$DAEMON_RC" 0

testlib_end
