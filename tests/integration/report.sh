#!/usr/bin/env bash
# report.sh — `divertctl report` and the SQL it stands on (sql/011_reports.sql).
#
# A fixture with known times (March 2025, UTC) is written as the superuser
# the way divert writes it: decision events with fixed `at`, waitlist
# entries, and enrollments whose history the feed trigger writes (each
# change's status_since is its time); staff and policy history comes from
# their triggers, and the few changes the triggers can only date "now" (a
# transfer, a deactivation, a policy change) are re-dated in replica mode.
# Every figure is computed below by hand from the timeline and compared with
# what divertctl prints (JSON, CSV, text), by month, by week, by day, in two
# time zones. Then the evaluator's extract: each row by hand, the
# pseudonyms stable across runs and different between persons and equal to
# HMAC-SHA256(site secret, "person:<row id>") (checked with Python's hmac),
# no personal data, the secret made on first use and readable by no role but
# the owner. Also: HMAC against RFC 4231, counters that drift change nothing,
# the history triggers, roles, and usage errors.
#
# Environment (tests/harness/run-all.sh): PG* (a fresh migrated database),
# DIVERT_BIN, DIVERT_TMP, DIVERT_OPERATOR_USER.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/support/testlib.sh

CTL=${DIVERT_BIN:?}/divertctl
T=${DIVERT_TMP:?}
OPERATOR=${DIVERT_OPERATOR_USER:-}
unset PGAPPNAME
export PGTZ=UTC

sql() { psql -X -v ON_ERROR_STOP=1 -Atq -c "$1"; }
# ctl ARGS...: divertctl as an operator (least privilege); sets OUT, ERR, RC
ctl() { OUT=$(PGUSER=${OPERATOR:-$PGUSER} "$CTL" "$@" 2>"$T/stderr"); RC=$?; ERR=$(cat "$T/stderr"); }
# rows FIGURE [JSON]: the figure's rows, one line each, values in column order
# (null as "-"), from the report in $J (or JSON)
rows() {
    jq -r --arg f "$1" '.figures[] | select(.name == $f) | .columns as $c | .rows[]
        | [$c[] as $k | .[$k] | if . == null then "-" else tostring end] | join(" ")' <<<"${2:-$J}"
}
columns() { jq -r --arg f "$1" '.figures[] | select(.name == $f) | .columns | join(",")' <<<"$J"; }
# program_rows FIGURE PROGRAM: rows of one program
program_rows() { rows "$1" | grep "^$2 " || true; }

# --------------------------------------------------------------------------
echo "# HMAC-SHA256 (RFC 4231 test cases 1, 2 and 6)"
check_eq "test case 1" "$(sql "SELECT encode(divert.hmac_sha256(decode(repeat('0b', 20), 'hex'), 'Hi There'::bytea), 'hex')")" \
    b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7
check_eq "test case 2 (a short key)" "$(sql "SELECT encode(divert.hmac_sha256('Jefe'::bytea, 'what do ya want for nothing?'::bytea), 'hex')")" \
    5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843
check_eq "test case 6 (a key longer than a block)" "$(sql "SELECT encode(divert.hmac_sha256(decode(repeat('aa', 131), 'hex'), 'Test Using Larger Than Block-Size Key - Hash Key First'::bytea), 'hex')")" \
    60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54

# --------------------------------------------------------------------------
# The fixture. Times are UTC. LEAD: hard cap 5, target 2, pacing margin 0.2,
# funded 5 (paced min(2n, 4)) until 03-15 12:00, then funded 8 (min(2n, 6)).
# CO-LEAD keeps its defaults (15, 15, no funding, 0.1), known only from
# the migration on (so taken as they are for March). Case managers: cm-a,
# cm-b (02-01), cm-c (03-10 00:00), cm-b deactivated 03-20 10:00; cm-z
# (CO-LEAD, 02-01). Sources: spd (police), hope (community), court1 (court).
#
#   R0  P11 spd  arrest   02-20 10:00 accept cm-a; intake 02-22 10:00; exit moved 03-27 10:00
#   R1  P1  spd  arrest   03-03 10:00 accept cm-a; intake 03-05 10:00; exit graduated 03-25 10:00
#   R2  P2  hope comm.    03-03 12:00 waitlist (W2); promoted 03-07 12:00 cm-b; intake 03-08 00:00
#   R3  P3  spd  social   03-04 09:00 waitlist (W3); expired 03-14 09:00
#   R14 P3  hope comm.    03-05 10:00 waitlist linked to W3; expired 03-14 09:00
#   R4  P4  court pretr.  03-05 15:00 decline reserved_for_priority
#   R5  P5  hope comm.    03-06 08:00 waitlist (W5); withdrawn 03-08 08:00
#   R6  P6  spd  arrest   03-10 00:00 accept cm-c; lapsed 03-20 00:00
#   R11 P9  spd  arrest   03-11 10:00 CO-LEAD accept cm-z; intake 03-12 10:00; exit term_ended 03-28 10:00
#   R7  P1  spd  arrest   03-12 11:00 decline already_enrolled
#   R8  P7  hope comm.    03-13 10:00 accept cm-a; transferred to cm-c 03-16 10:00; intake 03-18 10:00;
#                                     in the wind 03-22 10:00
#   R9  P8  spd  social   03-18 14:00 waitlist (W9); promoted 04-02 14:00 cm-a (after March)
#   R10 P5  spd  social   03-20 09:00 accept cm-a; exit declined_services 03-21 09:00 (before intake)
#   R12 P10 spd  arrest   03-25 16:00 decline outside_service_area
#   R13 P12 hope comm.    04-01 00:30 decline no_consent (March 31 in Los Angeles)
# Every person has a name, a date of birth, a source person id; every
# referral a note and a contact: strings found nowhere else.
echo "# the fixture"
sql "UPDATE divert.program SET hard_cap = 5, target_avg = 2, pacing_margin = 0.2, funded = 8 WHERE name = 'LEAD'"
cat "$(dirname "$0")/report_fixture.sql" - <<'SQL' | psql -X -v ON_ERROR_STOP=1 -q >"$T/fixture.log" 2>&1
INSERT INTO source (id, kind, name, public_key) VALUES
    ('spd', 'police', 'City Police', repeat('a', 40)), ('hope', 'community', 'Hope Outreach', repeat('b', 40)),
    ('court1', 'court', 'District Court', repeat('c', 40));
INSERT INTO case_manager (id, program, name, created_at) VALUES
    ('cm-a', 'LEAD', 'Case Manager A', '2025-02-01 00:00Z'), ('cm-b', 'LEAD', 'Case Manager B', '2025-02-01 00:00Z'),
    ('cm-c', 'LEAD', 'Case Manager C', '2025-03-10 00:00Z'), ('cm-z', 'CO-LEAD', 'Case Manager Z', '2025-02-01 00:00Z');

INSERT INTO pg_temp.p SELECT n, pg_temp.person(n) FROM generate_series(1, 12) n;

SELECT pg_temp.ref('R0', 'spd', 11, 'arrest_diversion', 1, 'LEAD', 'exited');
SELECT pg_temp.ev('R0', '2025-02-20 10:00Z', 'accept', 'accepted', 'cm-a');
SELECT pg_temp.enroll('R0', '2025-02-20 10:00Z', 'cm-a');
SELECT pg_temp.change('R0', '2025-02-22 10:00Z', 'active');

SELECT pg_temp.ref('R1', 'spd', 1, 'arrest_diversion', 1, 'LEAD', 'exited');
SELECT pg_temp.ev('R1', '2025-03-03 10:00Z', 'accept', 'accepted', 'cm-a');
SELECT pg_temp.enroll('R1', '2025-03-03 10:00Z', 'cm-a');

SELECT pg_temp.ref('R2', 'hope', 2, 'community', 2, 'LEAD', 'accepted');
SELECT pg_temp.ev('R2', '2025-03-03 12:00Z', 'waitlist', 'at_capacity');
SELECT pg_temp.wait('R2', '2025-03-03 12:00Z', 'promoted', '2025-03-07 12:00Z');

SELECT pg_temp.ref('R3', 'spd', 3, 'social_contact', 2, 'LEAD', 'declined');
SELECT pg_temp.ev('R3', '2025-03-04 09:00Z', 'waitlist', 'at_capacity');
SELECT pg_temp.wait('R3', '2025-03-04 09:00Z', 'expired', '2025-03-14 09:00Z');

SELECT pg_temp.change('R1', '2025-03-05 10:00Z', 'active');

SELECT pg_temp.ref('R14', 'hope', 3, 'community', 2, 'LEAD', 'declined');
SELECT pg_temp.ev('R14', '2025-03-05 10:00Z', 'waitlist', 'linked_to_pending');
SELECT pg_temp.link('R14', 'R3');

SELECT pg_temp.ref('R4', 'court1', 4, 'pretrial_diversion', 3, 'LEAD', 'declined');
SELECT pg_temp.ev('R4', '2025-03-05 15:00Z', 'decline', 'reserved_for_priority');

SELECT pg_temp.ref('R5', 'hope', 5, 'community', 2, 'LEAD', 'withdrawn');
SELECT pg_temp.ev('R5', '2025-03-06 08:00Z', 'waitlist', 'at_capacity');
SELECT pg_temp.wait('R5', '2025-03-06 08:00Z', 'withdrawn', '2025-03-08 08:00Z');

SELECT pg_temp.ev('R2', '2025-03-07 12:00Z', 'accept', 'accepted_from_waitlist', 'cm-b', true);
SELECT pg_temp.enroll('R2', '2025-03-07 12:00Z', 'cm-b');
SELECT pg_temp.ev('R5', '2025-03-08 08:00Z', 'withdrawn', 'withdrawn');
SELECT pg_temp.change('R2', '2025-03-08 00:00Z', 'active');

SELECT pg_temp.ref('R6', 'spd', 6, 'arrest_diversion', 1, 'LEAD', 'lapsed');
SELECT pg_temp.ev('R6', '2025-03-10 00:00Z', 'accept', 'accepted', 'cm-c');
SELECT pg_temp.enroll('R6', '2025-03-10 00:00Z', 'cm-c');

SELECT pg_temp.ref('R11', 'spd', 9, 'arrest_diversion', 1, 'CO-LEAD', 'exited');
SELECT pg_temp.ev('R11', '2025-03-11 10:00Z', 'accept', 'accepted', 'cm-z');
SELECT pg_temp.enroll('R11', '2025-03-11 10:00Z', 'cm-z');
SELECT pg_temp.change('R11', '2025-03-12 10:00Z', 'active');

SELECT pg_temp.ref('R7', 'spd', 1, 'arrest_diversion', 1, 'LEAD', 'declined');
SELECT pg_temp.ev('R7', '2025-03-12 11:00Z', 'decline', 'already_enrolled');

SELECT pg_temp.ref('R8', 'hope', 7, 'community', 2, 'LEAD', 'accepted');
SELECT pg_temp.ev('R8', '2025-03-13 10:00Z', 'accept', 'accepted', 'cm-a');
SELECT pg_temp.enroll('R8', '2025-03-13 10:00Z', 'cm-a');

SELECT pg_temp.ev('R3', '2025-03-14 09:00Z', 'decline', 'waitlist_expired');
SELECT pg_temp.ev('R14', '2025-03-14 09:00Z', 'decline', 'waitlist_expired');

UPDATE divert.enrollment SET case_manager_id = 'cm-c'
 WHERE referral_id = (SELECT id FROM pg_temp.r WHERE tag = 'R8');
SELECT pg_temp.change('R8', '2025-03-18 10:00Z', 'active');

SELECT pg_temp.ref('R9', 'spd', 8, 'social_contact', 2, 'LEAD', 'accepted');
SELECT pg_temp.ev('R9', '2025-03-18 14:00Z', 'waitlist', 'at_capacity');
SELECT pg_temp.wait('R9', '2025-03-18 14:00Z', 'promoted', '2025-04-02 14:00Z');

SELECT pg_temp.ref('R10', 'spd', 5, 'social_contact', 2, 'LEAD', 'exited');
SELECT pg_temp.ev('R10', '2025-03-20 09:00Z', 'accept', 'accepted', 'cm-a');
SELECT pg_temp.enroll('R10', '2025-03-20 09:00Z', 'cm-a');
SELECT pg_temp.ev('R6', '2025-03-20 00:00Z', 'lapsed', 'intake_lapsed');
SELECT pg_temp.change('R6', '2025-03-20 00:00Z', 'exited', 'intake_lapsed');
UPDATE divert.case_manager SET active = false WHERE id = 'cm-b';
SELECT pg_temp.change('R10', '2025-03-21 09:00Z', 'exited', 'declined_services');
SELECT pg_temp.change('R8', '2025-03-22 10:00Z', 'in_the_wind');
SELECT pg_temp.change('R1', '2025-03-25 10:00Z', 'exited', 'graduated');

SELECT pg_temp.ref('R12', 'spd', 10, 'arrest_diversion', 1, 'LEAD', 'declined');
SELECT pg_temp.ev('R12', '2025-03-25 16:00Z', 'decline', 'outside_service_area');
SELECT pg_temp.change('R0', '2025-03-27 10:00Z', 'exited', 'moved');
SELECT pg_temp.change('R11', '2025-03-28 10:00Z', 'exited', 'term_ended');

SELECT pg_temp.ref('R13', 'hope', 12, 'community', 2, 'LEAD', 'declined');
SELECT pg_temp.ev('R13', '2025-04-01 00:30Z', 'decline', 'no_consent');
SELECT pg_temp.ev('R9', '2025-04-02 14:00Z', 'accept', 'accepted_from_waitlist', 'cm-a', true);
SELECT pg_temp.enroll('R9', '2025-04-02 14:00Z', 'cm-a');

-- What the triggers could only date "now": the transfer, cm-b's
-- deactivation, LEAD's policy history; and when each referral came and
-- each change was recorded (as if all of it had happened then).
UPDATE divert.referral f SET received_at = e.at, submitted_at = e.at
  FROM (SELECT referral_id, min(at) AS at FROM divert.decision_event GROUP BY 1) e WHERE e.referral_id = f.id;
SET session_replication_role = replica;
UPDATE divert.enrollment_event SET at = '2025-03-16 10:00Z' WHERE change = 'transferred';
UPDATE divert.enrollment_event SET recorded_at = at;
UPDATE divert.case_manager_event SET at = '2025-03-20 10:00Z' WHERE case_manager_id = 'cm-b' AND NOT active;
DELETE FROM divert.policy_event WHERE program = 'LEAD';
INSERT INTO divert.policy_event (program, policy_version, hard_cap, target_avg, funded, pacing_margin, since) VALUES
    ('LEAD', 2, 5, 2, 5, 0.2, '2025-01-01 00:00Z'), ('LEAD', 3, 5, 2, 8, 0.2, '2025-03-15 12:00Z');
SET session_replication_role = origin;
SQL
check_eq "the fixture is written through divert's triggers" "$?" 0
grep -i error "$T/fixture.log" | head -5
check_eq "the enrollment history has every change" \
    "$(sql "SELECT count(*) FILTER (WHERE change = 'assigned') || ' ' || count(*) FILTER (WHERE change = 'intake_completed')
                   || ' ' || count(*) FILTER (WHERE change = 'exited') || ' ' || count(*) FILTER (WHERE change = 'transferred')
              FROM divert.enrollment_event")" "8 5 5 1"
# The strings of personal data, and the ids the sources chose
PERSONAL=$(sql "SELECT string_agg(x, ' ') FROM (
    SELECT 'Fixfirst' || n AS x FROM generate_series(1, 12) n UNION ALL SELECT 'Fixlast' || n FROM generate_series(1, 12) n
    UNION ALL SELECT 'FIXSP-' || n FROM generate_series(1, 12) n UNION ALL SELECT '1950-01-' || lpad(n::text, 2, '0') FROM generate_series(1, 12) n
    UNION ALL SELECT 'Fixnote' UNION ALL SELECT '+1-555-01' UNION ALL SELECT referral_id FROM divert.referral) s")
no_personal_data() {
    local found=""
    for s in $PERSONAL; do grep -qF -- "$s" "$2" && found+=" $s"; done
    check_eq "$1: no personal data, no referral id a source chose" "$found" ""
}

# --------------------------------------------------------------------------
echo "# March as one period (--by all), UTC"
ctl report --from 2025-03-01 --to 2025-03-31 --by all --format json
check_eq "report --format json exits 0" "$RC" 0
J=$OUT
echo "$J" >"$T/march.json"
check_eq "the period" "$(jq -r '[.from, .to, .by, .time_zone] | join(" ")' <<<"$J")" "2025-03-01 2025-03-31 all UTC"
check_eq "the programs" "$(jq -r '.programs | join(",")' <<<"$J")" "CO-LEAD,LEAD"
check_eq "every figure, in order" "$(jq -r '[.figures[].name] | join(",")' <<<"$J")" \
    "referrals,referrals_by_pathway,referrals_by_source_kind,referrals_by_source,decisions,acceptance_by_tier,waitlist,intake,exits,length_of_stay,capacity,caseloads"
check "every figure has a title and an about" jq -e '[.figures[] | (.title | length > 0) and (.about | length > 0)] | all' <<<"$J"

# Intake decisions in March, LEAD: accepted R1 R6 R8 R10; waitlisted R2 R3 R5 R9 R14;
# declined R4 R7 R12. CO-LEAD: R11 accepted.
check_eq "referrals: columns" "$(columns referrals)" "program,period,referrals,accepted,waitlisted,declined"
check_eq "referrals" "$(rows referrals)" "CO-LEAD 2025-03-01 1 1 0 0
LEAD 2025-03-01 12 4 5 3"
check_eq "referrals by pathway" "$(rows referrals_by_pathway)" "CO-LEAD 2025-03-01 arrest_diversion 1
LEAD 2025-03-01 arrest_diversion 4
LEAD 2025-03-01 community 4
LEAD 2025-03-01 pretrial_diversion 1
LEAD 2025-03-01 social_contact 3"
check_eq "referrals by kind of source" "$(rows referrals_by_source_kind)" "CO-LEAD 2025-03-01 police 1
LEAD 2025-03-01 community 4
LEAD 2025-03-01 court 1
LEAD 2025-03-01 police 7"
check_eq "referrals by source" "$(rows referrals_by_source)" "CO-LEAD 2025-03-01 spd police 1
LEAD 2025-03-01 court1 court 1
LEAD 2025-03-01 hope community 4
LEAD 2025-03-01 spd police 7"
# Every decision in March: the 12 intake decisions, R2's promotion, R3's and
# R14's expiry, R5's withdrawal, R6's lapse (R9's promotion is in April).
check_eq "decisions by outcome and reason" "$(rows decisions)" "CO-LEAD 2025-03-01 accept accepted 1
LEAD 2025-03-01 accept accepted 4
LEAD 2025-03-01 accept accepted_from_waitlist 1
LEAD 2025-03-01 decline already_enrolled 1
LEAD 2025-03-01 decline outside_service_area 1
LEAD 2025-03-01 decline reserved_for_priority 1
LEAD 2025-03-01 decline waitlist_expired 2
LEAD 2025-03-01 lapsed intake_lapsed 1
LEAD 2025-03-01 waitlist at_capacity 4
LEAD 2025-03-01 waitlist linked_to_pending 1
LEAD 2025-03-01 withdrawn withdrawn 1"
# Tier 1: R1 R6 accepted of R1 R6 R7 R12 = 2/4. Tier 2: R8 R10 at intake, R2
# from the waitlist by March 31 (R9 only in April) of 7 = 3/7 = 0.4286. Tier 3: R4.
check_eq "acceptance by tier: columns" "$(columns acceptance_by_tier)" \
    "program,period,tier,referrals,accepted_at_intake,accepted_from_waitlist,accepted,acceptance_rate"
check_eq "acceptance by tier" "$(rows acceptance_by_tier)" "CO-LEAD 2025-03-01 1 1 1 0 1 1
LEAD 2025-03-01 1 4 2 0 2 0.5
LEAD 2025-03-01 2 7 2 1 3 0.4286
LEAD 2025-03-01 3 1 0 0 0 0"
# Waits that ended in March: W2 promoted after 4 days, W3 expired after 10
# (R14 shares it), W5 withdrawn after 2. Days 2, 4, 10: p50 4; p90 at
# 0.9 * 2 = 1.8 between 4 and 10: 4 + 0.8 * 6 = 8.8.
check_eq "waits: columns" "$(columns waitlist)" "program,period,waits_ended,promoted,expired,withdrawn,days_p50,days_p90"
check_eq "waits on the waitlist" "$(rows waitlist)" "CO-LEAD 2025-03-01 0 0 0 0 - -
LEAD 2025-03-01 3 1 1 1 4 8.8"
# Pending intakes that ended in March: completed E1 (2 days), E2 (0.5), E8
# (5, after a transfer); lapsed E6; E10 exited before intake. Lapse rate 1/5.
# Days 0.5, 2, 5: p50 2; p90 2 + 0.8 * 3 = 4.4. CO-LEAD: E11 after 1 day.
check_eq "intake: columns" "$(columns intake)" "program,period,completed,lapsed,ended_otherwise,lapse_rate,days_p50,days_p90"
check_eq "from acceptance to intake" "$(rows intake)" "CO-LEAD 2025-03-01 1 0 0 0 1 1
LEAD 2025-03-01 3 1 1 0.2 2 4.4"
# Exits in March, days from acceptance: E0 moved 35 (02-20 to 03-27), E1
# graduated 22, E6 lapsed 10, E10 declined services 1; CO-LEAD E11 term 17.
check_eq "exits by reason" "$(rows exits)" "CO-LEAD 2025-03-01 term_ended 1 17 17
LEAD 2025-03-01 declined_services 1 1 1
LEAD 2025-03-01 graduated 1 22 22
LEAD 2025-03-01 intake_lapsed 1 10 10
LEAD 2025-03-01 moved 1 35 35"
# Of those, intake completed: E1 22 and E0 35: p50 28.5, p90 22 + 0.9 * 13 = 33.7.
check_eq "length of stay" "$(rows length_of_stay)" "CO-LEAD 2025-03-01 1 17 17
LEAD 2025-03-01 2 28.5 33.7"
# At the end of March: cm-a holds nobody, cm-b (inactive) E2, cm-c E8 (in
# the wind); W9 waits. n 2, T 1, paced min(2*2, floor(8*0.8)) = 4, free 3,
# gap max(0, ceil((1 + 1) / (2 * 0.8)) - 2) = 0. CO-LEAD: cm-z, empty.
check_eq "capacity: columns" "$(columns capacity)" \
    "program,period,case_managers,enrolled,total,average,max_caseload,hard_cap,target_avg,funded,pacing_margin,paced,free,waitlist,staffing_gap"
check_eq "capacity at the end of March" "$(rows capacity)" "CO-LEAD 2025-03-01 1 0 0 0 0 15 15 - 0.1 15 15 0 0
LEAD 2025-03-01 2 2 1 0.5 1 5 2 8 0.2 4 3 1 0"
check_eq "caseloads at the end of March" "$(rows caseloads)" "CO-LEAD 2025-03-01 cm-z true 0
LEAD 2025-03-01 cm-a true 0
LEAD 2025-03-01 cm-b false 1
LEAD 2025-03-01 cm-c true 1"

# --------------------------------------------------------------------------
echo "# March by week (ISO weeks from Monday: 02-24 holds March 1-2, 03-31 only the 31st)"
ctl report --program LEAD --from 2025-03-01 --to 2025-03-31 --by week --format json
check_eq "report --by week exits 0" "$RC" 0
J=$OUT
check_eq "one program" "$(jq -r '.programs | join(",")' <<<"$J")" "LEAD"
check_eq "referrals per week" "$(rows referrals)" "LEAD 2025-02-24 0 0 0 0
LEAD 2025-03-03 6 1 4 1
LEAD 2025-03-10 3 2 0 1
LEAD 2025-03-17 2 1 1 0
LEAD 2025-03-24 1 0 0 1
LEAD 2025-03-31 0 0 0 0"
check_eq "referrals by pathway per week" "$(rows referrals_by_pathway)" "LEAD 2025-03-03 arrest_diversion 1
LEAD 2025-03-03 community 3
LEAD 2025-03-03 pretrial_diversion 1
LEAD 2025-03-03 social_contact 1
LEAD 2025-03-10 arrest_diversion 2
LEAD 2025-03-10 community 1
LEAD 2025-03-17 social_contact 2
LEAD 2025-03-24 arrest_diversion 1"
# W2 (4 days) and W5 (2) ended the week of 03-03: p50 3, p90 2 + 0.9 * 2 = 3.8; W3 the next.
check_eq "waits per week" "$(rows waitlist)" "LEAD 2025-02-24 0 0 0 0 - -
LEAD 2025-03-03 2 1 0 1 3 3.8
LEAD 2025-03-10 1 0 1 0 10 10
LEAD 2025-03-17 0 0 0 0 - -
LEAD 2025-03-24 0 0 0 0 - -
LEAD 2025-03-31 0 0 0 0 - -"
# At each week's end (Monday 00:00):
#   03-03: cm-a E0, cm-b empty; n 2, T 1, paced min(4, 4) 4, W 0, gap ceil(1/1.6) - 2 < 0: 0
#   03-10: cm-a E0 E1, cm-b E2 (cm-c and E6 come at 03-10 00:00, the next week's first
#          instant); T 3, W 1 (W3), paced 4, free 1,
#          gap ceil(4/1.6) = 3 - 2 = 1
#   03-17: cm-a E0 E1, cm-b E2, cm-c E6 E8 (transferred 03-16); n 3, T 5, W 0, funded 8
#          since 03-15: paced min(6, 6) 6, free 1, gap ceil(5/1.6) = 4 - 3 = 1, average 1.67
#   03-24: cm-b inactive (E2), E6 lapsed, E10 came and went: cm-a E0 E1, cm-c E8; n 2,
#          T 3, enrolled 4, W 1 (W9), paced min(4, 6) 4, free 1, gap ceil(4/1.6) = 3 - 2 = 1
#   03-31, and the end of the 31st: E1 and E0 exited: cm-a 0, cm-c E8; T 1, enrolled 2,
#          W 1, paced 4, free 3, gap ceil(2/1.6) = 2 - 2 = 0
check_eq "capacity at the end of each week" "$(rows capacity)" "LEAD 2025-02-24 2 1 1 0.5 1 5 2 5 0.2 4 3 0 0
LEAD 2025-03-03 2 3 3 1.5 2 5 2 5 0.2 4 1 1 1
LEAD 2025-03-10 3 5 5 1.67 2 5 2 8 0.2 6 1 0 1
LEAD 2025-03-17 2 4 3 1.5 2 5 2 8 0.2 4 1 1 1
LEAD 2025-03-24 2 2 1 0.5 1 5 2 8 0.2 4 3 1 0
LEAD 2025-03-31 2 2 1 0.5 1 5 2 8 0.2 4 3 1 0"
check_eq "caseloads at the end of each week" "$(rows caseloads)" "LEAD 2025-02-24 cm-a true 1
LEAD 2025-02-24 cm-b true 0
LEAD 2025-03-03 cm-a true 2
LEAD 2025-03-03 cm-b true 1
LEAD 2025-03-10 cm-a true 2
LEAD 2025-03-10 cm-b true 1
LEAD 2025-03-10 cm-c true 2
LEAD 2025-03-17 cm-a true 2
LEAD 2025-03-17 cm-b false 1
LEAD 2025-03-17 cm-c true 1
LEAD 2025-03-24 cm-a true 0
LEAD 2025-03-24 cm-b false 1
LEAD 2025-03-24 cm-c true 1
LEAD 2025-03-31 cm-a true 0
LEAD 2025-03-31 cm-b false 1
LEAD 2025-03-31 cm-c true 1"

echo "# by day and by month"
ctl report --program LEAD --from 2025-03-14 --to 2025-03-14 --by day --figure decisions,capacity --format json
J=$OUT
check_eq "two figures asked, two given" "$(jq -r '[.figures[].name] | join(",")' <<<"$J")" "decisions,capacity"
check_eq "March 14: the two expiries" "$(rows decisions)" "LEAD 2025-03-14 decline waitlist_expired 2"
# The end of March 14: cm-a E0 E1 E8, cm-b E2, cm-c E6; W3 closed at 09:00; funded still 5
check_eq "March 14: capacity at its end" "$(rows capacity)" "LEAD 2025-03-14 3 5 5 1.67 3 5 2 5 0.2 4 -1 0 1"
ctl report --program LEAD --from 2025-02-01 --to 2025-03-31 --by month --figure referrals,intake --format json
J=$OUT
check_eq "by month: February holds R0" "$(rows referrals)" "LEAD 2025-02-01 1 1 0 0
LEAD 2025-03-01 12 4 5 3"
check_eq "by month: E0's intake in February" "$(rows intake)" "LEAD 2025-02-01 1 0 0 0 2 2
LEAD 2025-03-01 3 1 1 0.2 2 4.4"

echo "# days in another time zone: R13 (April 1, 00:30 UTC) is March 31 in Los Angeles"
PGTZ=America/Los_Angeles ctl report --program LEAD --from 2025-03-01 --to 2025-03-31 --by all --figure referrals,decisions --format json
J=$OUT
check_eq "the time zone is the session's" "$(jq -r .time_zone <<<"$J")" "America/Los_Angeles"
check_eq "13 referrals in Los Angeles' March" "$(rows referrals)" "LEAD 2025-03-01 13 4 5 4"
check_match "R13's decline is in it" "$(rows decisions)" "decline no_consent 1"

# --------------------------------------------------------------------------
echo "# never from counters that could drift"
COUNTERS=$(sql "SELECT (SELECT caseload FROM divert.case_manager WHERE id = 'cm-c') || ' '
                       || (SELECT waitlist_open FROM divert.program_stat WHERE program = 'LEAD')")
psql -X -q -c "SET session_replication_role = replica" \
    -c "UPDATE divert.case_manager SET caseload = 4 WHERE id = 'cm-c'" \
    -c "UPDATE divert.program_stat SET waitlist_open = 17 WHERE program = 'LEAD'"
ctl report --from 2025-03-01 --to 2025-03-31 --by all --format json
check_eq "the same report with drifted caseload and waitlist counters" \
    "$(jq -S 'del(.generated_at)' <<<"$OUT")" "$(jq -S 'del(.generated_at)' "$T/march.json")"
psql -X -q -c "SET session_replication_role = replica" \
    -c "UPDATE divert.case_manager SET caseload = ${COUNTERS% *} WHERE id = 'cm-c'" \
    -c "UPDATE divert.program_stat SET waitlist_open = ${COUNTERS#* } WHERE program = 'LEAD'"

# --------------------------------------------------------------------------
echo "# CSV, text, JSON files"
ctl report --from 2025-03-01 --to 2025-03-31 --by all --format csv --out "$T/csv"
check_eq "report --format csv --out exits 0" "$RC" 0
check_eq "one file per figure" "$(cd "$T/csv" && ls | tr '\n' ' ')" \
    "acceptance_by_tier.csv capacity.csv caseloads.csv decisions.csv exits.csv intake.csv length_of_stay.csv referrals.csv referrals_by_pathway.csv referrals_by_source.csv referrals_by_source_kind.csv waitlist.csv "
check_match "it says what it wrote" "$OUT" "wrote $T/csv/decisions.csv \(11 rows\)"
check_eq "decisions.csv" "$(cat "$T/csv/decisions.csv")" "program,period,decision,reason,decisions
CO-LEAD,2025-03-01,accept,accepted,1
LEAD,2025-03-01,accept,accepted,4
LEAD,2025-03-01,accept,accepted_from_waitlist,1
LEAD,2025-03-01,decline,already_enrolled,1
LEAD,2025-03-01,decline,outside_service_area,1
LEAD,2025-03-01,decline,reserved_for_priority,1
LEAD,2025-03-01,decline,waitlist_expired,2
LEAD,2025-03-01,lapsed,intake_lapsed,1
LEAD,2025-03-01,waitlist,at_capacity,4
LEAD,2025-03-01,waitlist,linked_to_pending,1
LEAD,2025-03-01,withdrawn,withdrawn,1"
check_eq "waitlist.csv: an empty percentile is an empty field" "$(cat "$T/csv/waitlist.csv")" \
    "program,period,waits_ended,promoted,expired,withdrawn,days_p50,days_p90
CO-LEAD,2025-03-01,0,0,0,0,,
LEAD,2025-03-01,3,1,1,1,4,8.8"
check_eq "capacity.csv" "$(sed -n 3p "$T/csv/capacity.csv")" "LEAD,2025-03-01,2,2,1,0.5,1,5,2,8,0.2,4,3,1,0"
check_eq "caseloads.csv: booleans" "$(sed -n 4p "$T/csv/caseloads.csv")" "LEAD,2025-03-01,cm-b,false,1"
ctl report --from 2025-03-01 --to 2025-03-31 --by all --format csv --figure intake
check_eq "one figure as CSV on stdout" "$OUT" "$(cat "$T/csv/intake.csv")"
ctl report --from 2025-03-01 --to 2025-03-31 --by all --format json --out "$T/json"
check_eq "JSON to a file" "$(jq -S 'del(.generated_at)' "$T/json/report.json")" "$(jq -S 'del(.generated_at)' "$T/march.json")"
ctl report --from 2025-03-01 --to 2025-03-31 --by week
check_eq "report (text) exits 0" "$RC" 0
printf '%s\n' "$OUT" >"$T/report.txt"
check_match "text: the header" "$OUT" "divert report: 2025-03-01 to 2025-03-31, by week; CO-LEAD, LEAD; days in UTC"
check_match "text: a title and its explanation" "$OUT" "Waits on the waitlist"$'\n'"  Waits that ended in the period"
check_match "text: a table with aligned columns" "$OUT" "  program  period      waits_ended  promoted  expired  withdrawn  days_p50  days_p90"
check_match "text: a row" "$OUT" "  LEAD     2025-03-03            2         1        0          1         3       3.8"
check_match "text: an inactive case manager" "$OUT" "LEAD     2025-03-17  cm-b          no             1"
ctl report --from 2025-03-01 --to 2025-03-31 --summary
check_eq "report --summary exits 0" "$RC" 0
printf '%s\n' "$OUT" >"$T/summary.txt"
SUMMARY_LEAD=$(sed -n '/^LEAD$/,$p' <<<"$OUT")
check_eq "the summary for LEAD" "$SUMMARY_LEAD" "LEAD
  referrals       12: 4 accepted, 5 waitlisted, 3 declined at intake
  pathways        arrest_diversion 4, community 4, pretrial_diversion 1, social_contact 3
  sources         community 4, court 1, police 7
  accepted        tier 1: 2 of 4 (50%); tier 2: 3 of 7 (42.9%); tier 3: 0 of 1 (0%)
  waitlist        3 waits ended: 1 promoted, 1 expired, 1 withdrawn; days p50 4, p90 8.8
  intake          3 completed, 1 lapsed, 1 ended otherwise (lapse rate 20%); days to intake p50 2, p90 4.4
  exits           declined_services 1, graduated 1, intake_lapsed 1, moved 1
  length of stay  2 who completed intake: days p50 28.5, p90 33.7
  at the end      2 case managers hold 1 (average 0.5; target 2, hard cap 5); paced 4 (funded 8)
                  free 3; waitlist 1; staffing gap 0"
check_match "the summary's header" "$OUT" "^divert report: 2025-03-01 to 2025-03-31, the whole period; CO-LEAD, LEAD; days in UTC"
for f in "$T/march.json" "$T/report.txt" "$T/summary.txt" "$T"/csv/*.csv; do no_personal_data "$(basename "$f")" "$f"; done

echo "# the default period: the last 30 days, to today"
ctl report --format json --figure referrals
TODAY=$(date -u +%F)
check_eq "to today, from 29 days before" "$(jq -r '[.from, .to, .by] | join(" ")' <<<"$OUT")" \
    "$(date -u -d "$TODAY - 29 days" +%F) $TODAY day"
check_eq "a row per day and program" "$(jq '.figures[0].rows | length' <<<"$OUT")" 60
ctl report --from "$(date -u -d "$TODAY - 1 day" +%F)" --to 2999-12-31 --format json --figure referrals
check_eq "a day after today is taken as today" "$(jq -r .to <<<"$OUT")" "$TODAY"

# --------------------------------------------------------------------------
echo "# the evaluator's extract"
check_eq "no site secret before the first extract" "$(sql "SELECT count(*) FROM divert.report_secret")" 0
ctl report --evaluator --program LEAD --from 2025-03-01 --to 2025-03-31
check_eq "report --evaluator exits 0" "$RC" 0
printf '%s\n' "$OUT" >"$T/extract1.csv"
check_eq "the site secret is made on first use" "$(sql "SELECT count(*) FROM divert.report_secret")" 1
check_eq "its header" "$(head -n 1 "$T/extract1.csv")" \
    "person,referral,referred_on,program,pathway,tier,source_kind,decision,reason,days_on_waitlist,wait_ended,accepted_on,intake_on,exited_on,exit_reason"
check_eq "one row per LEAD referral decided in March" "$(tail -n +2 "$T/extract1.csv" | wc -l)" 12
# Each row by hand (without the pseudonyms), in any order: R14 waited
# 03-05 10:00 to 03-14 09:00 (8.96 days: 9.0); R9's promotion and wait are
# known now (15 days, accepted April 2); R2's intake was March 8.
check_eq "every row" "$(tail -n +2 "$T/extract1.csv" | cut -d, -f3- | sort)" "$(sort <<'EOF'
2025-03-03,LEAD,arrest_diversion,1,police,accept,accepted,,,2025-03-03,2025-03-05,2025-03-25,graduated
2025-03-03,LEAD,community,2,community,waitlist,at_capacity,4,promoted,2025-03-07,2025-03-08,,
2025-03-04,LEAD,social_contact,2,police,waitlist,at_capacity,10,expired,,,,
2025-03-05,LEAD,community,2,community,waitlist,linked_to_pending,9,expired,,,,
2025-03-05,LEAD,pretrial_diversion,3,court,decline,reserved_for_priority,,,,,,
2025-03-06,LEAD,community,2,community,waitlist,at_capacity,2,withdrawn,,,,
2025-03-10,LEAD,arrest_diversion,1,police,accept,accepted,,,2025-03-10,,2025-03-20,intake_lapsed
2025-03-12,LEAD,arrest_diversion,1,police,decline,already_enrolled,,,,,,
2025-03-13,LEAD,community,2,community,accept,accepted,,,2025-03-13,2025-03-18,,
2025-03-18,LEAD,social_contact,2,police,waitlist,at_capacity,15,promoted,2025-04-02,,,
2025-03-20,LEAD,social_contact,2,police,accept,accepted,,,2025-03-20,,2025-03-21,declined_services
2025-03-25,LEAD,arrest_diversion,1,police,decline,outside_service_area,,,,,,
EOF
)"
check_eq "rows in order of the day" "$(tail -n +2 "$T/extract1.csv" | cut -d, -f3 | tr '\n' ' ')" \
    "$(tail -n +2 "$T/extract1.csv" | cut -d, -f3 | sort | tr '\n' ' ')"
check_eq "12 referrals, 9 persons" "$(tail -n +2 "$T/extract1.csv" | cut -d, -f1 | sort -u | wc -l)" 9
check_eq "12 distinct referral pseudonyms" "$(tail -n +2 "$T/extract1.csv" | cut -d, -f2 | sort -u | wc -l)" 12
check_eq "pseudonyms are 64 hex digits" "$(tail -n +2 "$T/extract1.csv" | cut -d, -f1,2 | tr , '\n' | grep -cvE '^[0-9a-f]{64}$')" 0
person_of() {   # person_of DAY,PATHWAY,REASON: the pseudonym of that row
    tail -n +2 "$T/extract1.csv" | awk -F, -v k="$1" '($3 "," $5 "," $9) == k { print $1 }'
}
P_R1=$(person_of 2025-03-03,arrest_diversion,accepted); P_R7=$(person_of 2025-03-12,arrest_diversion,already_enrolled)
P_R3=$(person_of 2025-03-04,social_contact,at_capacity); P_R14=$(person_of 2025-03-05,community,linked_to_pending)
P_R5=$(person_of 2025-03-06,community,at_capacity); P_R10=$(person_of 2025-03-20,social_contact,accepted)
P_R6=$(person_of 2025-03-10,arrest_diversion,accepted)
check "the same person across referrals: R1 and R7" test -n "$P_R1" -a "$P_R1" = "$P_R7"
check "R3 and R14 (linked on the waitlist)" test -n "$P_R3" -a "$P_R3" = "$P_R14"
check "R5 and R10 (withdrawn, then referred again)" test -n "$P_R5" -a "$P_R5" = "$P_R10"
check "different persons differ: R1, R3, R5, R6" test "$(printf '%s\n' "$P_R1" "$P_R3" "$P_R5" "$P_R6" | sort -u | wc -l)" = 4
# HMAC-SHA256(secret, "person:<person row id>"), computed here with Python's hmac
SECRET=$(sql "SELECT encode(secret, 'hex') FROM divert.report_secret")
R1_PERSON=$(sql "SELECT id FROM divert.person WHERE source_person_id = 'FIXSP-1'")
check_eq "the pseudonym is HMAC-SHA256(site secret, person:<id>)" "$P_R1" \
    "$(python3 -c 'import hmac, hashlib, sys; print(hmac.new(bytes.fromhex(sys.argv[1]), ("person:" + sys.argv[2]).encode(), hashlib.sha256).hexdigest())' "$SECRET" "$R1_PERSON")"
check_eq "the secret is 32 bytes" "${#SECRET}" 64
ctl report --evaluator --program LEAD --from 2025-03-01 --to 2025-03-31 --out "$T/ev"
check_eq "report --evaluator --out exits 0" "$RC" 0
check_eq "the same extract on another run (stable pseudonyms)" "$(cat "$T/ev/evaluator.csv")" "$(cat "$T/extract1.csv")"
check_eq "the extract file is private (0600)" "$(stat -c %a "$T/ev/evaluator.csv")" 600
check_eq "still one secret" "$(sql "SELECT count(*) FROM divert.report_secret")" 1
ctl report --evaluator --from 2025-03-01 --to 2025-03-31
check_eq "all programs: 13 rows" "$(tail -n +2 <<<"$OUT" | wc -l)" 13
check_eq "R1's person keeps its pseudonym in a wider extract" "$(grep -c "^$P_R1," <<<"$OUT")" 2
printf '%s\n' "$OUT" >"$T/extract2.csv"
no_personal_data "the extract" "$T/extract1.csv"
no_personal_data "the wider extract" "$T/extract2.csv"
for f in "$T/extract1.csv" "$T/extract2.csv" "$T/march.json" "$T/report.txt"; do
    check "the site secret is in no output ($(basename "$f"))" bash -c "! grep -qi '$SECRET' '$f'"
done
ctl site set --retention 1d
ctl purge
check_eq "a purge of the personal data past a retention of 1 day" "$RC" 0
check_eq "emptied every person without an open case (not P2, P7, P8)" \
    "$(sql "SELECT count(*) FILTER (WHERE purge_id IS NOT NULL) || ' ' || count(*) FILTER (WHERE purge_id IS NULL) FROM divert.person")" "9 3"
ctl report --evaluator --program LEAD --from 2025-03-01 --to 2025-03-31
check_eq "the pseudonyms are the same after the purge" "$OUT" "$(cat "$T/extract1.csv")"

# --------------------------------------------------------------------------
echo "# roles"
if [ -n "$OPERATOR" ]; then
    out=$(PGUSER=$OPERATOR psql -X -Atq -c "SELECT secret FROM divert.report_secret" 2>&1)
    check_match "an operator cannot read the site secret" "$out" "permission denied"
    out=$(PGUSER=$OPERATOR psql -X -Atq -c "INSERT INTO divert.policy_event (program, policy_version, hard_cap, target_avg, pacing_margin, since) VALUES ('LEAD', 1, 1, 1, 0, now())" 2>&1)
    check_match "nor write the policy history" "$out" "permission denied"
fi
sql "DROP ROLE IF EXISTS divert_test_report_web; CREATE ROLE divert_test_report_web LOGIN IN ROLE divert_web" >/dev/null
out=$(PGUSER=divert_test_report_web psql -X -Atq -c "SELECT json_array_length(divert.report('LEAD', '2025-03-01', '2025-03-31', 'all') -> 'figures')" 2>&1)
check_eq "divert-web's role reads the report" "$out" 12
out=$(PGUSER=divert_test_report_web psql -X -Atq -c "SELECT divert.report_extract('LEAD', '2025-03-01', '2025-03-31')" 2>&1)
check_match "but not the extract" "$out" "permission denied"
out=$(PGUSER=divert_test_report_web psql -X -Atq -c "SELECT secret FROM divert.report_secret" 2>&1)
check_match "nor the secret" "$out" "permission denied"
sql "DROP ROLE divert_test_report_web" >/dev/null
out=$(sql "UPDATE divert.case_manager_event SET active = true" 2>&1)
check_match "the staff history is append-only, for the owner too" "$out" "append-only"

echo "# the history triggers"
ctl cm add cm-new --program LEAD --name "New Hire"
ctl cm deactivate cm-new
ctl program set LEAD --funded 12
check_eq "adding and deactivating a case manager is recorded" \
    "$(sql "SELECT string_agg(program || ':' || active, ' ' ORDER BY id) FROM divert.case_manager_event WHERE case_manager_id = 'cm-new'")" \
    "LEAD:true LEAD:false"
check_eq "a policy change is recorded with its version" \
    "$(sql "SELECT funded || ' ' || (policy_version = (SELECT policy_version FROM divert.program WHERE name = 'LEAD'))
              FROM divert.policy_event WHERE program = 'LEAD' ORDER BY id DESC LIMIT 1")" "12 true"
ctl program set LEAD --waitlist-cap 150
check_eq "a change outside the capacity policy is not" \
    "$(sql "SELECT funded FROM divert.policy_event WHERE program = 'LEAD' ORDER BY id DESC LIMIT 1") $(sql "SELECT count(*) FROM divert.policy_event WHERE program = 'LEAD' AND funded = 12")" "12 1"

# --------------------------------------------------------------------------
echo "# errors"
ctl report --format xml
check_eq "a bad format exits 64" "$RC" 64
check_match "and says so" "$ERR" "--format must be text, csv or json"
ctl report --by year
check_eq "a bad --by exits 64" "$RC" 64
ctl report --format csv
check_eq "CSV of every figure needs --out" "$RC" 64
check_match "and says so" "$ERR" "give --out DIR, or --figure NAME"
ctl report --evaluator --format json
check_eq "--evaluator is CSV only" "$RC" 64
ctl report --evaluator --by week
check_eq "--evaluator takes no --by" "$RC" 64
ctl report --summary --format json
check_eq "--summary is text" "$RC" 64
ctl report --from 2025-02-30
check_eq "a day that does not exist exits 1" "$RC" 1
check_match "and says so" "$ERR" "--from must be a day as YYYY-MM-DD"
ctl report --to 03/31/2025
check_eq "a day in another shape exits 1" "$RC" 1
ctl report --from 2025-03-31 --to 2025-03-01
check_eq "a period that ends before it starts exits 1" "$RC" 1
check_match "and says so" "$ERR" "the period starts \(2025-03-31\) after it ends \(2025-03-01\)"
ctl report --from 2999-01-01
check_eq "a period after today exits 1" "$RC" 1
ctl report --from 2000-01-01 --to 2025-01-01
check_eq "more than 10 years exits 1" "$RC" 1
ctl report --program NOPE
check_eq "an unknown program exits 1" "$RC" 1
check_match "and says so" "$ERR" "no program NOPE"
ctl report --figure nope --format json
check_eq "an unknown figure exits 1" "$RC" 1
check_match "and lists the figures" "$ERR" "no figure nope \(figures: referrals, referrals_by_pathway"
check_eq "an error is one line" "$(wc -l <<<"$ERR")" 1
touch "$T/afile"
ctl report --format json --out "$T/afile"
check_eq "--out that is a file exits 1" "$RC" 1
check_match "and says so" "$ERR" "is not a directory"

testlib_end
