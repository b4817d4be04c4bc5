#!/usr/bin/env bash
# cap_invariant.sh — the database keeps the hard-cap invariant of policy.md §4
# whoever writes: concurrent transactions, an operator's manual SQL, a policy
# change. Also: caseload is derived (never set directly), decision events are
# append-only, one open enrollment per person, enrollments only to active
# case managers of the same program, and exits free the slot.
#
# Environment (tests/harness/run-all.sh): PG* pointing at a fresh migrated
# database, DIVERT_TMP.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/support/testlib.sh

T=${DIVERT_TMP:-$(mktemp -d)}
export PGOPTIONS="-c search_path=divert,pg_catalog -c client_min_messages=warning"
unset PGAPPNAME

sql() { psql -X -v ON_ERROR_STOP=1 -Atq -c "$1"; }
# refused "what" "SQL" "error regex": the statement must fail with that error
refused() {
    local err
    if err=$(psql -X -v ON_ERROR_STOP=1 -Atq -c "$2" 2>&1 >/dev/null); then
        not_ok "$1: the statement succeeded"
    elif [[ "$err" =~ $3 ]]; then
        ok "$1"
    else
        not_ok "$1: unexpected error: $err"
    fi
}
caseload() { sql "SELECT caseload FROM case_manager WHERE id = '$1'"; }

# A source, a person and a referral per call; prints the referral's row id.
sql "INSERT INTO source (id, kind, name, public_key) VALUES ('police-t', 'police', 'Test PD', repeat('a', 40))"
referral() {   # referral PROGRAM -> referral row id (its own new person)
    sql "WITH p AS (INSERT INTO person (source_id, source_person_id) VALUES ('police-t', gen_random_uuid()::text) RETURNING id)
         INSERT INTO referral (source_id, referral_id, person_id, pathway, tier, program, submitted_at, payload, digest, state)
         SELECT 'police-t', gen_random_uuid()::text, p.id, 'arrest_diversion', 1, '$1', now(), '{}', 'd', 'accepted' FROM p
         RETURNING id"
}
enroll_sql() {  # enroll_sql REFERRAL_ROW CM PROGRAM
    echo "INSERT INTO enrollment (referral_id, person_id, program, case_manager_id, intake_due_at)
          SELECT id, person_id, '$3', '$2', now() + interval '30 days' FROM referral WHERE id = $1"
}

echo "# concurrent enrollments against a hard cap of 3"
sql "INSERT INTO program (name, accepts_housing, hard_cap, target_avg) VALUES ('CAPTEST', '{sheltered}', 3, 3)"
sql "INSERT INTO case_manager (id, program, name) VALUES ('cm-cap', 'CAPTEST', 'Cap Tester')"
refs=()
for i in $(seq 10); do refs+=("$(referral CAPTEST)"); done
check_eq "ten referrals ready" "${#refs[@]}" 10
# All ten start, insert, then hold their transaction open a moment so that the
# others queue on the case manager's row lock and re-check after each commit.
pids=()
for i in $(seq 10); do
    psql -X -v ON_ERROR_STOP=1 -Atq \
        -c "BEGIN" -c "$(enroll_sql "${refs[$((i - 1))]}" cm-cap CAPTEST)" -c "SELECT pg_sleep(0.3)" -c "COMMIT" \
        >"$T/cap.$i.out" 2>"$T/cap.$i.err" &
    pids+=($!)
done
succeeded=0; failed=0; other=0
for i in $(seq 10); do
    if wait "${pids[$((i - 1))]}"; then
        succeeded=$((succeeded + 1))
    elif grep -q "above the hard cap of 3 in CAPTEST" "$T/cap.$i.err"; then
        failed=$((failed + 1))
    else
        other=$((other + 1)); echo "# unexpected: $(cat "$T/cap.$i.err")"
    fi
done
check_eq "exactly 3 concurrent enrollments succeed" "$succeeded" 3
check_eq "the other 7 fail with the divert cap error" "$failed" 7
check_eq "no other errors" "$other" 0
check_eq "the caseload is 3" "$(caseload cm-cap)" 3
check_eq "3 open enrollments exist" "$(sql "SELECT count(*) FROM enrollment WHERE case_manager_id = 'cm-cap' AND status <> 'exited'")" 3
# A referral none of the ten racers used (which three won is up to the race).
extra=$(referral CAPTEST)
refused "an 11th enrollment is refused" "$(enroll_sql "$extra" cm-cap CAPTEST)" "above the hard cap of 3"

echo "# the same race under REPEATABLE READ"
sql "INSERT INTO program (name, accepts_housing, hard_cap, target_avg) VALUES ('CAPRR', '{sheltered}', 2, 2)"
sql "INSERT INTO case_manager (id, program, name) VALUES ('cm-rr', 'CAPRR', 'RR Tester')"
pids=()
for i in $(seq 6); do
    r=$(referral CAPRR)
    psql -X -v ON_ERROR_STOP=1 -Atq -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
        -c "$(enroll_sql "$r" cm-rr CAPRR)" -c "SELECT pg_sleep(0.2)" -c "COMMIT" >/dev/null 2>&1 &
    pids+=($!)
done
succeeded=0
for pid in "${pids[@]}"; do wait "$pid" && succeeded=$((succeeded + 1)); done
check "at most 2 succeed under REPEATABLE READ" test "$succeeded" -le 2
check_eq "cm-rr never exceeds its cap of 2" "$(sql "SELECT caseload <= 2 AND caseload = (SELECT count(*) FROM enrollment WHERE case_manager_id = 'cm-rr' AND status <> 'exited') FROM case_manager WHERE id = 'cm-rr'")" t

echo "# caseload is derived"
refused "UPDATE case_manager SET caseload = 0 is refused" \
    "UPDATE case_manager SET caseload = 0 WHERE id = 'cm-cap'" "caseload is derived from enrollments"
refused "UPDATE caseload = caseload + 1 is refused" \
    "UPDATE case_manager SET caseload = caseload + 1 WHERE id = 'cm-cap'" "caseload is derived"
refused "a new case manager can't start with a caseload" \
    "INSERT INTO case_manager (id, program, name, caseload) VALUES ('cm-new', 'CAPTEST', 'N', 2)" "starts with caseload 0"
check_eq "the caseload is still 3" "$(caseload cm-cap)" 3
refused "moving a case manager who holds people to another program is refused" \
    "UPDATE case_manager SET program = 'LEAD' WHERE id = 'cm-cap'" "still holds 3 enrollments in CAPTEST"
check "renaming a case manager is allowed" sql "UPDATE case_manager SET name = 'Renamed' WHERE id = 'cm-cap'"

echo "# hard cap changes"
refused "lowering the hard cap below a caseload is refused" \
    "UPDATE program SET hard_cap = 2 WHERE name = 'CAPTEST'" "hard cap 2 is below the caseload of cm-cap \\(3\\)"
v=$(sql "SELECT policy_version FROM program WHERE name = 'CAPTEST'")
check "lowering it to the caseload is allowed" sql "UPDATE program SET hard_cap = 3, target_avg = 2 WHERE name = 'CAPTEST'"
check_eq "a policy change bumps the policy version" "$(sql "SELECT policy_version FROM program WHERE name = 'CAPTEST'")" $((v + 1))
check "raising the hard cap is allowed" sql "UPDATE program SET hard_cap = 4 WHERE name = 'CAPTEST'"
check "one more enrollment then fits" sql "$(enroll_sql "$extra" cm-cap CAPTEST)"
check_eq "caseload 4" "$(caseload cm-cap)" 4
check "back to 4 is fine" sql "UPDATE program SET hard_cap = 4 WHERE name = 'CAPTEST'"

echo "# exits free the slot"
e=$(sql "SELECT id FROM enrollment WHERE case_manager_id = 'cm-cap' AND status <> 'exited' ORDER BY id LIMIT 1")
check "active keeps the slot" sql "UPDATE enrollment SET status = 'active' WHERE id = $e"
check "in_the_wind keeps the slot" sql "UPDATE enrollment SET status = 'in_the_wind' WHERE id = $e"
check_eq "caseload still 4 when in the wind" "$(caseload cm-cap)" 4
check "re-engaged keeps the slot" sql "UPDATE enrollment SET status = 'active' WHERE id = $e"
check "an exit is recorded" sql "UPDATE enrollment SET status = 'exited', exited_at = now(), exit_reason = 'graduated' WHERE id = $e"
check_eq "the caseload decrements on exit" "$(caseload cm-cap)" 3
refused "exited without exited_at is refused" \
    "UPDATE enrollment SET status = 'exited' WHERE case_manager_id = 'cm-cap' AND status = 'pending_intake'" "check constraint"
check "an exited enrollment edited again changes nothing" sql "UPDATE enrollment SET exit_reason = 'moved' WHERE id = $e"
check_eq "the caseload is unchanged by it" "$(caseload cm-cap)" 3
e2=$(sql "SELECT id FROM enrollment WHERE case_manager_id = 'cm-cap' AND status <> 'exited' ORDER BY id LIMIT 1")
refused "deleting an enrollment is refused: its history refers to it" \
    "DELETE FROM enrollment WHERE id = $e2" "foreign key"
check_eq "the caseload is unchanged by it" "$(caseload cm-cap)" 3
check "it exits instead" sql "UPDATE enrollment SET status = 'exited', exited_at = now(), exit_reason = 'moved' WHERE id = $e2"
check_eq "the caseload decrements" "$(caseload cm-cap)" 2

echo "# reassignment moves the count"
sql "INSERT INTO case_manager (id, program, name) VALUES ('cm-cap2', 'CAPTEST', 'Second')"
e3=$(sql "SELECT id FROM enrollment WHERE case_manager_id = 'cm-cap' AND status <> 'exited' ORDER BY id LIMIT 1")
check "reassign an enrollment" sql "UPDATE enrollment SET case_manager_id = 'cm-cap2' WHERE id = $e3"
check_eq "the old case manager loses it" "$(caseload cm-cap)" 1
check_eq "the new case manager gains it" "$(caseload cm-cap2)" 1
sql "UPDATE program SET hard_cap = 1 WHERE name = 'CAPTEST'"
e4=$(sql "SELECT id FROM enrollment WHERE case_manager_id = 'cm-cap' AND status <> 'exited' LIMIT 1")
refused "reassigning onto a full case manager is refused" \
    "UPDATE enrollment SET case_manager_id = 'cm-cap2' WHERE id = $e4" "above the hard cap of 1"
check_eq "nothing moved" "$(caseload cm-cap),$(caseload cm-cap2)" "1,1"

echo "# who may receive an enrollment"
sql "UPDATE program SET hard_cap = 10 WHERE name = 'CAPTEST'"
sql "INSERT INTO case_manager (id, program, name, active) VALUES ('cm-off', 'CAPTEST', 'Away', false)"
r=$(referral CAPTEST)
refused "an enrollment to an inactive case manager is refused" "$(enroll_sql "$r" cm-off CAPTEST)" "case manager cm-off is not active"
check_eq "the inactive case manager holds nobody" "$(caseload cm-off)" 0
sql "INSERT INTO case_manager (id, program, name) VALUES ('cm-lead', 'LEAD', 'Lead CM')"
refused "an enrollment to a case manager of another program is refused" \
    "$(enroll_sql "$r" cm-lead CAPTEST)" "case manager cm-lead is in program LEAD, not CAPTEST"
check_eq "that case manager holds nobody" "$(caseload cm-lead)" 0
check "the same enrollment to an active case manager of the program works" sql "$(enroll_sql "$r" cm-cap2 CAPTEST)"

echo "# one open enrollment per person"
p=$(sql "SELECT person_id FROM referral WHERE id = $r")
r2=$(sql "INSERT INTO referral (source_id, referral_id, person_id, pathway, tier, program, submitted_at, payload, digest, state)
          VALUES ('police-t', gen_random_uuid()::text, $p, 'arrest_diversion', 1, 'LEAD', now(), '{}', 'd', 'accepted') RETURNING id")
refused "a second open enrollment for the same person is refused" \
    "$(enroll_sql "$r2" cm-lead LEAD)" "enrollment_one_open_per_person"
check_eq "the refused enrollment left no count behind" "$(caseload cm-lead)" 0
check "after an exit the person may enroll again" sql \
    "UPDATE enrollment SET status = 'exited', exited_at = now(), exit_reason = 'moved' WHERE referral_id = $r;
     $(enroll_sql "$r2" cm-lead LEAD)"
check_eq "now enrolled in LEAD" "$(caseload cm-lead)" 1
refused "a second open waitlist entry for a person is refused" \
    "INSERT INTO waitlist_entry (program, person_id, referral_id, tier, score, received_at)
     VALUES ('LEAD', $p, $r, 2, 40, now()), ('LEAD', $p, $r2, 2, 40, now())" \
    "waitlist_one_open_per_person"

echo "# decision events are append-only"
sql "INSERT INTO decision_event (source_id, seq, referral_id, decision, reason, program, tier, reply)
     VALUES ('police-t', 1, $r, 'accept', 'accepted', 'CAPTEST', 1, '{}')" >/dev/null
check_eq "an event was appended" "$(sql "SELECT count(*) FROM decision_event")" 1
refused "UPDATE of a decision event is refused" "UPDATE decision_event SET reason = 'at_capacity'" "decision_event is append-only \\(UPDATE refused\\)"
refused "DELETE of a decision event is refused" "DELETE FROM decision_event" "decision_event is append-only \\(DELETE refused\\)"
refused "TRUNCATE of decision events is refused" "TRUNCATE decision_event" "decision_event is append-only \\(TRUNCATE refused\\)"
check_eq "the event is still there" "$(sql "SELECT count(*) || ':' || min(reason) FROM decision_event")" "1:accepted"
refused "an unknown reason code is refused" \
    "INSERT INTO decision_event (source_id, seq, referral_id, decision, reason, reply) VALUES ('police-t', 99, $r, 'decline', 'because', '{}')" \
    "decision_event_reason_check"

echo "# every case manager within the cap"
check_eq "no case manager anywhere is above the cap" "$(sql "SELECT count(*) FROM case_manager c JOIN program p ON p.name = c.program WHERE c.caseload > p.hard_cap")" 0
check_eq "every caseload matches its open enrollments" "$(sql "SELECT count(*) FROM case_manager c WHERE c.caseload <> (SELECT count(*) FROM enrollment e WHERE e.case_manager_id = c.id AND e.status <> 'exited')")" 0

testlib_end
