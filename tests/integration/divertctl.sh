#!/usr/bin/env bash
# divertctl.sh — every divertctl command against a real, migrated PostgreSQL:
# migrate (twice, plus a build/schema mismatch and a newer database), keys
# (keygen, source, monitor), staff, program policy (every flag, bad values,
# a hard cap below a caseload), status --json's documented shape, the
# waitlist order with aging, explain, enrollment set / discharge, usage
# errors, and an unreachable database.
#
# Environment (tests/harness/run-all.sh): PG* (a fresh migrated database),
# DIVERT_BIN, DIVERT_TMP, DIVERT_SQL_DIR.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/support/testlib.sh

CTL=${DIVERT_BIN:?}/divertctl
T=${DIVERT_TMP:?}
export DIVERT_SQL_DIR=${DIVERT_SQL_DIR:-$(pwd)/sql}
unset PGAPPNAME

sql() { psql -X -v ON_ERROR_STOP=1 -Atq -c "$1"; }
# run ARGS...: sets OUT (stdout), ERR (stderr), RC
run() { OUT=$("$CTL" "$@" 2>"$T/stderr"); RC=$?; ERR=$(cat "$T/stderr"); }
lines() { if [ -z "$1" ]; then echo 0; else printf '%s\n' "$1" | wc -l; fi; }
uuid() { cat /proc/sys/kernel/random/uuid; }

# A referral (with a person whose name must never be printed) -> its uuid in REF.
# mkref SOURCE PATHWAY TIER STATE [PROGRAM]
mkref() {
    REF=$(uuid)
    sql "WITH p AS (INSERT INTO divert.person (source_id, source_person_id, first_name, last_name, dob)
                    VALUES ('$1', 'sp-$REF', 'Zelda', 'Quixote', '1980-02-03') RETURNING id)
         INSERT INTO divert.referral (source_id, referral_id, person_id, pathway, tier, program,
                                      submitted_at, payload, digest, state)
         SELECT '$1', '$REF', p.id, '$2', $3, '${5:-LEAD}', now(),
                '{\"person\": {\"first_name\": \"Zelda\", \"last_name\": \"Quixote\"}, \"notes\": \"Secretnote\"}',
                'digest', '$4' FROM p"
}
# enroll UUID CM [PROGRAM]
enroll() {
    sql "INSERT INTO divert.enrollment (referral_id, person_id, program, case_manager_id, intake_due_at)
         SELECT id, person_id, '${3:-LEAD}', '$2', now() + interval '30 days'
           FROM divert.referral WHERE referral_id = '$1'"
}
caseload() { sql "SELECT caseload FROM divert.case_manager WHERE id = '$1'"; }
no_personal_data() {
    if [[ "$2" == *Zelda* || "$2" == *Quixote* || "$2" == *1980-02-03* || "$2" == *Secretnote* ]]; then
        not_ok "$1: personal data printed"; else ok "$1: no personal data"; fi
}

echo "# usage"
run --help
check_eq "--help exits 0" "$RC" 0
check_match "--help prints the usage" "$OUT" "usage: divertctl"
run help
check_eq "help exits 0" "$RC" 0
run
check_eq "no command exits 64" "$RC" 64
run frobnicate
check_eq "unknown command exits 64" "$RC" 64
check_match "unknown command says so" "$ERR" "unknown command 'frobnicate'"
run cm add
check_eq "cm add without an id exits 64" "$RC" 64
run status --bogus
check_eq "unknown option exits 64" "$RC" 64
check_eq "a usage error is one line" "$(lines "$ERR")" 1

echo "# migrate"
MDB="${PGDATABASE}_mig"
psql -X -q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS \"$MDB\"" postgres
psql -X -qc "CREATE DATABASE \"$MDB\"" postgres
PGDATABASE=$MDB run status
check_eq "status on an empty database fails" "$RC" 1
check_match "it says to migrate" "$ERR" "divertctl migrate"
PGDATABASE=$MDB run migrate
check_eq "migrate exits 0" "$RC" 0
# The migrations this build ships: NNN_*.sql, numbered from 001 without gaps.
FILES=$(cd "$DIVERT_SQL_DIR" && ls [0-9][0-9][0-9]_*.sql | sort)
LATEST=$(wc -l <<<"$FILES")
NEXT=$(printf '%03d' $((LATEST + 1)))
for f in $FILES; do check_match "migrate applied $f" "$OUT" "applied $f"; done
check_eq "migrate is quiet on stderr" "$ERR" ""
check_eq "every migration recorded" "$(PGDATABASE=$MDB sql "SELECT string_agg(version || ':' || name, ',' ORDER BY version) FROM divert.schema_migration")" \
    "$(n=0; for f in $FILES; do n=$((n + 1)); printf '%s%d:%s' "$([ $n -gt 1 ] && echo ,)" "$n" "$f"; done)"
PGDATABASE=$MDB run migrate
check_eq "second migrate exits 0" "$RC" 0
check_eq "second migrate is a no-op" "$OUT" "schema is up to date (version $LATEST)"
run -d "dbname=$MDB" migrate
check_eq "-d conninfo is honoured" "$OUT" "schema is up to date (version $LATEST)"
mkdir -p "$T/sql-next"
cp "$DIVERT_SQL_DIR"/0*.sql "$T/sql-next/"
echo "SELECT 1;" >"$T/sql-next/${NEXT}_future.sql"
PGDATABASE=$MDB run --sql-dir "$T/sql-next" migrate
check_eq "migrations newer than the build are refused" "$RC" 1
check_match "the mismatch is explained" "$ERR" "built for schema version $LATEST"
check_eq "nothing was applied" "$(PGDATABASE=$MDB sql "SELECT max(version) FROM divert.schema_migration")" "$LATEST"
PGDATABASE=$MDB sql "INSERT INTO divert.schema_migration VALUES ($((LATEST + 1)), '${NEXT}_future.sql')"
PGDATABASE=$MDB run migrate
check_eq "a database newer than the files is refused" "$RC" 1
check_match "it says the database is newer" "$ERR" "newer than the migrations"
PGDATABASE=$MDB run status
check_eq "other commands refuse a newer database" "$RC" 1
psql -X -qc "DROP DATABASE \"$MDB\"" postgres
run migrate
check_eq "the test database is already up to date" "$OUT" "schema is up to date (version $LATEST)"

echo "# keygen"
run keygen "$T/k1"
check_eq "keygen exits 0" "$RC" 0
check "keygen writes PATH" test -f "$T/k1"
check "keygen writes PATH_secret" test -f "$T/k1_secret"
check_eq "the secret file is mode 600" "$(stat -c %a "$T/k1_secret")" 600
check "the public file has no secret key" bash -c "! grep -q secret-key '$T/k1'"
check "the secret file has the secret key" grep -q secret-key "$T/k1_secret"
K1=$(sed -n 's/.*public-key = "\(.*\)"/\1/p' "$T/k1")
check_eq "the public key is 40 characters" "${#K1}" 40
check_match "keygen prints the public key" "$OUT" "public key: "
before=$(md5sum "$T/k1" "$T/k1_secret")
run keygen "$T/k1"
check_eq "keygen refuses to overwrite" "$RC" 1
check_match "and says so" "$ERR" "already exists"
check_eq "the files are untouched" "$(md5sum "$T/k1" "$T/k1_secret")" "$before"
touch "$T/k2_secret"
run keygen "$T/k2"
check_eq "keygen refuses when only PATH_secret exists" "$RC" 1

echo "# sources"
run source add police-1 --kind police --name "Metro PD" --cert-out "$T/police-1.cert"
check_eq "source add exits 0" "$RC" 0
check "source add writes the certificate" test -f "$T/police-1.cert"
check_eq "its secret is mode 600" "$(stat -c %a "$T/police-1.cert_secret")" 600
P1=$(sed -n 's/.*public-key = "\(.*\)"/\1/p' "$T/police-1.cert")
check_eq "the registered key is the written key" "$(sql "SELECT public_key FROM divert.source WHERE id = 'police-1'")" "$P1"
check_match "source add prints the public key" "$OUT" "public key: "
check_match "and what to give the partner" "$OUT" "police-1.cert_secret"
run source add comm-1 --kind community --name "Harm Reduction Org" --public-key "$K1"
check_eq "source add with --public-key" "$RC" 0
check_eq "its kind is recorded" "$(sql "SELECT kind FROM divert.source WHERE id = 'comm-1'")" community
run source add court-1 --kind court --name "District Court" --cert-out "$T/court-1.cert"
check_eq "a court source" "$RC" 0
run source add bad-1 --kind sheriff --name "X" --cert-out "$T/bad-1.cert"
check_eq "a bad kind exits 1" "$RC" 1
check_match "a bad kind is explained" "$ERR" "police, community, court or prosecutor"
check_eq "the error is one line" "$(lines "$ERR")" 1
check "a bad kind writes no key" test ! -e "$T/bad-1.cert"
run source add Bad.Id --kind police --name "X" --cert-out "$T/bad-2.cert"
check_eq "a bad id exits 1" "$RC" 1
check_match "a bad id is explained" "$ERR" "not a valid source id"
run source add police-1 --kind police --name "Again" --cert-out "$T/again.cert"
check_eq "a duplicate source is refused" "$RC" 1
check "a refused source writes no key" test ! -e "$T/again.cert"
run source add comm-2 --kind community --name "Dup key" --public-key "$K1"
check_eq "a key registered twice is refused" "$RC" 1
run source add comm-3 --kind community --name "X" --public-key "short"
check_eq "a malformed public key is refused" "$RC" 1
run source add comm-4 --kind community --name "X"
check_eq "source add without a key is a usage error" "$RC" 64
run source list
check_match "source list shows police-1" "$OUT" "police-1 +police"
run source list --json
check_eq "source list --json" "$(jq -r '[.sources[].id] | join(",")' <<<"$OUT")" "comm-1,court-1,police-1"
run source revoke comm-1
check_eq "source revoke exits 0" "$RC" 0
check_eq "revoked_at is set" "$(sql "SELECT revoked_at IS NOT NULL FROM divert.source WHERE id = 'comm-1'")" t
check_match "it says what happens to open connections" "$OUT" \
    "source comm-1 revoked: new connections with its key are refused now; connections already open get 'forbidden' for every request and lose their subscriptions within 60 s"
check_eq "divertd's view of revoked keys has it" "$(sql "SELECT string_agg(identity, ',' ORDER BY identity) FROM divert.revoked_identity")" "community:comm-1"
run source revoke comm-1
check_eq "revoking again exits 0" "$RC" 0
check_match "and says it already was" "$OUT" "already revoked"
run source revoke nobody
check_eq "revoking an unknown source exits 1" "$RC" 1
run source list --json
check_eq "source list shows the revocation" "$(jq -r '.sources[] | select(.id == "comm-1") | .revoked_at != null' <<<"$OUT")" true

echo "# monitors"
run monitor add ops-1 --cert-out "$T/ops-1.cert" --name "Ops desk"
check_eq "monitor add exits 0" "$RC" 0
check "monitor add writes the secret" test -f "$T/ops-1.cert_secret"
check_eq "the monitor is registered" "$(sql "SELECT public_key FROM divert.monitor WHERE id = 'ops-1'")" "$(sed -n 's/.*public-key = "\(.*\)"/\1/p' "$T/ops-1.cert")"
run monitor list --json
check_eq "monitor list --json" "$(jq -r '.monitors[0].id' <<<"$OUT")" ops-1
run monitor revoke ops-1
check_eq "monitor revoke exits 0" "$RC" 0
check_eq "monitor revoked" "$(sql "SELECT revoked_at IS NOT NULL FROM divert.monitor WHERE id = 'ops-1'")" t
check_match "it says what happens to open connections" "$OUT" \
    "monitor ops-1 revoked: new connections with its key are refused now; connections already open get 'forbidden' for every request and lose their subscriptions within 60 s"
check_eq "divertd's view of revoked keys has both" "$(sql "SELECT string_agg(identity, ',' ORDER BY identity) FROM divert.revoked_identity")" "community:comm-1,monitor:ops-1"

echo "# staff"
run cm add cm-a --program LEAD --name "A. Rivera" --area north
check_eq "cm add exits 0" "$RC" 0
run cm add cm-b --program LEAD --name "B. Chen"
run cm add cm-c --program CO-LEAD --name "C. Okafor"
check_eq "cm add in CO-LEAD" "$RC" 0
run cm add cm-a --program LEAD --name "A. Rivera"
check_eq "adding an active case manager again exits 1" "$RC" 1
run cm add cm-z --program NOPE --name "Z"
check_eq "cm add to an unknown program exits 1" "$RC" 1
check_match "and names the program" "$ERR" "no program named NOPE"
run cm add "bad id" --program LEAD --name "Z"
check_eq "cm add with a bad id exits 1" "$RC" 1
run cm list --json
check_eq "cm list --json" "$(jq -c '[.case_managers[] | [.id, .program, .active, .caseload, .hard_cap]]' <<<"$OUT")" \
    '[["cm-a","LEAD",true,0,25],["cm-b","LEAD",true,0,25],["cm-c","CO-LEAD",true,0,15]]'
run cm list --program CO-LEAD --json
check_eq "cm list --program" "$(jq -r '[.case_managers[].id] | join(",")' <<<"$OUT")" cm-c
run cm list
check_match "cm list for people" "$OUT" "cm-a +LEAD +A. Rivera +active +0/25"
run cm deactivate cm-b
check_eq "cm deactivate exits 0" "$RC" 0
check_eq "cm-b is inactive" "$(sql "SELECT active FROM divert.case_manager WHERE id = 'cm-b'")" f
run cm deactivate cm-b
check_eq "deactivating again exits 0" "$RC" 0
check_match "and says so" "$OUT" "already inactive"
run cm deactivate cm-nobody
check_eq "deactivating an unknown case manager exits 1" "$RC" 1
run cm add cm-b --program LEAD --name "B. Chen"
check_eq "cm add reactivates a returning case manager" "$RC" 0
check_match "and says they are back" "$OUT" "back in LEAD"
check_eq "cm-b is active again" "$(sql "SELECT active FROM divert.case_manager WHERE id = 'cm-b'")" t
run outreach add out-1 --name "D. Sun"
check_eq "outreach add exits 0" "$RC" 0
run outreach list --json
check_eq "outreach list --json" "$(jq -r '.outreach[0].id' <<<"$OUT")" out-1
check_eq "outreach staff carry no caseload" "$(sql "SELECT count(*) FROM divert.case_manager WHERE id = 'out-1'")" 0

echo "# program set"
pv() { sql "SELECT $1 FROM divert.program WHERE name = 'CO-LEAD'"; }
v0=$(pv policy_version)
run program set CO-LEAD --hard-cap 14
check_eq "program set exits 0" "$RC" 0
check_match "program set shows the policy" "$OUT" "hard cap 14 per case manager"
check_eq "--hard-cap" "$(pv hard_cap)" 14
check_eq "the policy version moved" "$(pv policy_version)" $((v0 + 1))
run program set CO-LEAD --target-avg 12;      check_eq "--target-avg" "$(pv target_avg)" 12
run program set CO-LEAD --funded 40;          check_eq "--funded" "$(pv funded)" 40
run program set CO-LEAD --funded none;        check_eq "--funded none" "$(pv "funded IS NULL")" t
run program set CO-LEAD --pacing-margin 0.15; check_eq "--pacing-margin" "$(pv pacing_margin)" 0.150
run program set CO-LEAD --reserve-tier1 1;    check_eq "--reserve-tier1" "$(pv reserve_tier1)" 1
run program set CO-LEAD --reserve-tier2 4;    check_eq "--reserve-tier2" "$(pv reserve_tier2)" 4
run program set CO-LEAD --waitlist-cap 50;    check_eq "--waitlist-cap" "$(pv waitlist_cap)" 50
run program set CO-LEAD --waitlist-ttl 14d;   check_eq "--waitlist-ttl" "$(pv "extract(epoch FROM waitlist_ttl)::bigint")" 1209600
run program set CO-LEAD --intake-window 36h;  check_eq "--intake-window" "$(pv "extract(epoch FROM intake_window)::bigint")" 129600
run program set CO-LEAD --term 90d;           check_eq "--term" "$(pv "extract(epoch FROM term)::bigint")" 7776000
run program set CO-LEAD --term none;          check_eq "--term none" "$(pv "term IS NULL")" t
run program set CO-LEAD --areas "north, south,downtown"
check_eq "--areas" "$(pv "array_to_string(areas, '|')")" "north|south|downtown"
run program set CO-LEAD --areas ""
check_eq "--areas \"\" is the whole jurisdiction" "$(pv "cardinality(areas)")" 0
run program set CO-LEAD --exclude-offenses "DEAL-PROFIT,EXPLOIT-MINOR"
check_eq "--exclude-offenses" "$(pv "array_to_string(excluded_offenses, '|')")" "DEAL-PROFIT|EXPLOIT-MINOR"
run program set CO-LEAD --pretrial-overflow waitlist
check_eq "--pretrial-overflow" "$(pv pretrial_overflow)" waitlist
run program set CO-LEAD --accepts-housing hotel,sheltered
check_eq "--accepts-housing" "$(pv "array_to_string(accepts_housing, '|')")" "hotel|sheltered"
run program set CO-LEAD --hard-cap 15 --target-avg 15 --accepts-housing hotel --pretrial-overflow decline
check_eq "several flags in one update" "$(pv "hard_cap || '/' || target_avg || '/' || pretrial_overflow")" "15/15/decline"
run program set CO-LEAD --waitlist-ttl 30x
check_eq "a bad DUR exits 1" "$RC" 1
check_match "a bad DUR is explained" "$ERR" "--waitlist-ttl must be a positive duration"
run program set CO-LEAD --term 0s
check_eq "a zero duration is refused" "$RC" 1
run program set CO-LEAD --pacing-margin 1.5
check_eq "a pacing margin of 1.5 is refused" "$RC" 1
run program set CO-LEAD --hard-cap -3
check_eq "a negative hard cap is refused" "$RC" 1
run program set CO-LEAD --pretrial-overflow maybe
check_eq "a bad pretrial overflow is refused" "$RC" 1
run program set CO-LEAD --accepts-housing castle
check_eq "an unknown housing value is refused" "$RC" 1
run program set NOPE --hard-cap 3
check_eq "an unknown program exits 1" "$RC" 1
run program set CO-LEAD
check_eq "program set without options is a usage error" "$RC" 64
run program show CO-LEAD --json
check_eq "program show --json" "$(jq -c '.programs[0] | [.name, .hard_cap, .waitlist_ttl, .term]' <<<"$OUT")" '["CO-LEAD",15,"14d",null]'
run program add PILOT --housing sheltered --hard-cap 10 --target-avg 8
check_eq "program add exits 0" "$RC" 0
check_eq "program add applies the flags" "$(sql "SELECT hard_cap || '/' || target_avg || '/' || array_to_string(accepts_housing, ',') FROM divert.program WHERE name = 'PILOT'")" "10/8/sheltered"
run program add PILOT --housing sheltered
check_eq "adding an existing program exits 1" "$RC" 1
run program add LEAD-X --housing housed
check_eq "a program name that begins with another's is refused" "$RC" 1
check_match "because the feed topics would overlap" "$ERR" "program names LEAD-X and LEAD must not begin with one another"

echo "# hard cap below a caseload"
for i in 1 2 3; do mkref police-1 arrest_diversion 1 accepted; enroll "$REF" cm-a; eval "R$i=$REF"; done
check_eq "cm-a holds 3" "$(caseload cm-a)" 3
run program set LEAD --hard-cap 2
check_eq "a hard cap below a caseload is refused" "$RC" 1
check_match "with PostgreSQL's message" "$ERR" "hard cap 2 is below the caseload of cm-a \\(3\\)"
check_eq "that error is one line" "$(lines "$ERR")" 1
check_eq "the hard cap is unchanged" "$(sql "SELECT hard_cap FROM divert.program WHERE name = 'LEAD'")" 25
# The same refusal with the server speaking German (lc_messages): the message
# comes from the error's fields, not by stripping an English "ERROR:  ".
# (tests/harness/run-all.sh generates the locale before the cluster starts.)
check "a German locale is available to the server" sh -c "locale -a | grep -qi '^de_DE.utf-\?8$'"
sql "ALTER ROLE CURRENT_USER IN DATABASE $PGDATABASE SET lc_messages = 'de_DE.UTF-8'"
check_eq "the server now answers in German" "$(sql "SELECT current_setting('lc_messages')")" "de_DE.UTF-8"
run program set LEAD --hard-cap 2
check_eq "refused in German too" "$RC" 1
check_eq "the message is the primary text alone" "$ERR" "divertctl: hard cap 2 is below the caseload of cm-a (3)"
run cm add cm-a --program LEAD --name "A. Rivera"
check_eq "a duplicate is refused" "$RC" 1
check_nomatch "no localized severity word" "$ERR" "FEHLER|ERROR|DETAIL|Schl"
sql "ALTER ROLE CURRENT_USER IN DATABASE $PGDATABASE RESET lc_messages"
run program set LEAD --hard-cap 3
check_eq "a hard cap equal to the top caseload is fine" "$RC" 0
run program set LEAD --hard-cap 25
check_eq "raising it back" "$RC" 0

echo "# enrollment set and discharge"
run enrollment set "$R1" active
check_eq "enrollment set active exits 0" "$RC" 0
check_eq "the enrollment is active" "$(sql "SELECT e.status FROM divert.enrollment e JOIN divert.referral r ON r.id = e.referral_id WHERE r.referral_id = '$R1'")" active
run enrollment set "${R1^^}" in_the_wind
check_eq "an upper-case UUID (pasted from an e-mail) finds the referral" "$RC" 0
check_eq "enrollment set in_the_wind" "$(sql "SELECT e.status FROM divert.enrollment e JOIN divert.referral r ON r.id = e.referral_id WHERE r.referral_id = '$R1'")" in_the_wind
check_eq "in the wind stays on the caseload" "$(caseload cm-a)" 3
run enrollment set "$R1" exited
check_eq "enrollment set exited is refused" "$RC" 1
run enrollment set "$(uuid)" active
check_eq "an unknown referral exits 1" "$RC" 1
check_match "and says so" "$ERR" "no referral"
run discharge "$R1"
check_eq "discharge without --reason is a usage error" "$RC" 64
check_match "which lists the reasons" "$ERR" "graduated, moved, declined_services, incarcerated, deceased or other"
run discharge "$R1" --reason discharged
check_eq "a reason outside the closed list is refused" "$RC" 1
run discharge "$R1" --reason other
check_eq "discharge exits 0" "$RC" 0
check_match "discharge prints the new caseload" "$OUT" "cm-a now holds 2/25"
check_eq "the caseload went down" "$(caseload cm-a)" 2
check_eq "the enrollment exited as discharged" "$(sql "SELECT e.status || '/' || e.exit_reason || '/' || (e.exited_at IS NOT NULL) || '/' || r.state FROM divert.enrollment e JOIN divert.referral r ON r.id = e.referral_id WHERE r.referral_id = '$R1'")" "exited/other/true/exited"
check_eq "each change is one feed event, by this operator" "$(sql "SELECT string_agg(ev.change || ':' || ev.status || ':' || ev.actor, ',' ORDER BY ev.seq) FROM divert.enrollment_event ev JOIN divert.referral r ON r.id = ev.referral_id WHERE r.referral_id = '$R1'")" \
    "assigned:pending_intake:sql:postgres,intake_completed:active:divertctl:postgres,in_the_wind:in_the_wind:divertctl:postgres,exited:exited:divertctl:postgres"
run discharge "$R1" --reason other
check_eq "discharging again exits 1" "$RC" 1
check_match "and says it already exited" "$ERR" "already exited"
run enrollment set "$R1" active
check_eq "enrollment set on an exited enrollment exits 1" "$RC" 1
run discharge "${R2^^}" --reason graduated
check_eq "discharge takes an upper-case UUID" "$RC" 0
check_eq "discharge --reason" "$(sql "SELECT e.exit_reason FROM divert.enrollment e JOIN divert.referral r ON r.id = e.referral_id WHERE r.referral_id = '$R2'")" graduated
check_eq "caseload 1 now" "$(caseload cm-a)" 1
run discharge "$R3" --reason "Moved away; see notes"
check_eq "a free-text reason is refused" "$RC" 1
mkref comm-1 community 2 waitlisted; RW=$REF
run discharge "$RW" --reason other
check_eq "discharging a referral without an enrollment exits 1" "$RC" 1
check_match "and says why" "$ERR" "has no enrollment \\(the referral is waitlisted\\)"
# The same UUID from two sources needs --source.
mkref police-1 arrest_diversion 1 accepted; RD=$REF
enroll "$RD" cm-b
sql "WITH p AS (INSERT INTO divert.person (source_id, source_person_id) VALUES ('court-1', 'sp-x') RETURNING id)
     INSERT INTO divert.referral (source_id, referral_id, person_id, pathway, tier, program, submitted_at, payload, digest, state)
     SELECT 'court-1', '$RD', p.id, 'pretrial_diversion', 3, 'LEAD', now(), '{}', 'd', 'declined' FROM p"
run enrollment set "$RD" active
check_eq "an ambiguous referral id exits 1" "$RC" 1
check_match "and asks for --source" "$ERR" "--source"
run enrollment set "$RD" active --source police-1
check_eq "--source picks the referral" "$RC" 0

echo "# transitions and transfer"
mkref police-1 arrest_diversion 1 accepted; RT=$REF
enroll "$RT" cm-a
run enrollment set "$RT" in_the_wind
check_eq "pending intake can't go in the wind" "$RC" 1
check_match "and the message names the current status" "$ERR" "the enrollment is pending_intake: in_the_wind is not possible"
run transfer "$RT" cm-b
check_eq "transfer exits 0" "$RC" 0
check_match "transfer says who holds it now" "$OUT" "moved from cm-a to cm-b"
check_eq "the caseloads moved" "$(caseload cm-a)/$(caseload cm-b)" "1/2"
run transfer "$RT" cm-b
check_eq "the same transfer again is answered, not repeated" "$RC" 0
check_match "and says so" "$OUT" "already with cm-b"
run transfer "$RT" nobody
check_eq "an unknown case manager exits 1" "$RC" 1
check_match "and says so" "$ERR" "no case manager nobody"
run transfer "$RT" cm-c
check_eq "a case manager of another program is refused" "$RC" 1
check_match "and says why" "$ERR" "cm-c is in CO-LEAD, not LEAD"
check_eq "the transfer is one feed event" "$(sql "SELECT ev.change || ':' || ev.from_case_manager_id || '>' || ev.case_manager_id FROM divert.enrollment_event ev JOIN divert.referral r ON r.id = ev.referral_id WHERE r.referral_id = '$RT' AND ev.change = 'transferred'")" "transferred:cm-a>cm-b"
run transfer "$RT" cm-a
check_eq "and back" "$RC" 0
run discharge "$RT" --reason moved
check_eq "then discharged" "$RC" 0
run explain "$RT"
check_match "explain shows the enrollment's history after its decisions" "$OUT" \
    "Enrollment history.*assigned to cm-a.*transferred from cm-a to cm-b, by divertctl:postgres.*transferred from cm-b to cm-a.*exited \\(moved\\), by divertctl:postgres"
run explain "$RT" --json
check_eq "explain --json has the history" "$(jq -r '[.enrollment_history[].change] | join(",")' <<<"$OUT")" "assigned,transferred,transferred,exited"

echo "# cms keys"
run cms add lead-cms --programs LEAD,NOPE --name "LEAD records" --cert-out "$T/lead-cms.cert"
check_eq "cms add with an unknown program exits 1" "$RC" 1
check_match "and names it" "$ERR" "no program named NOPE"
run cms add lead-cms --programs LEAD,CO-LEAD --name "LEAD records" --cert-out "$T/lead-cms.cert"
check_eq "cms add exits 0" "$RC" 0
check "it wrote the certificate" test -f "$T/lead-cms.cert"
check "and its secret, mode 0600" test "$(stat -c %a "$T/lead-cms.cert_secret")" = 600
check_eq "its programs" "$(sql "SELECT string_agg(program, ',' ORDER BY program) FROM divert.cms_program WHERE cms_id = 'lead-cms'")" "CO-LEAD,LEAD"
run cms add lead-cms --programs LEAD --name "again" --cert-out "$T/other.cert"
check_eq "a second cms with the same id exits 1" "$RC" 1
run cms add bad --programs LEAD --name X --public-key "$(sql "SELECT public_key FROM divert.cms WHERE id = 'lead-cms'")"
check_eq "a key registered already is refused" "$RC" 1
run cms list --json
check_eq "cms list --json" "$(jq -c '.cms[] | [.id, .programs, .revoked_at]' <<<"$OUT")" '["lead-cms",["CO-LEAD","LEAD"],null]'
run cms list
check_match "cms list for people" "$OUT" "lead-cms +cms .*active .*LEAD records \\(CO-LEAD, LEAD\\)"
run cms revoke lead-cms
check_eq "cms revoke exits 0" "$RC" 0
check_match "and says what happens to open connections" "$OUT" "within 60 s"
check_eq "the revocation is in revoked_identity" "$(sql "SELECT count(*) FROM divert.revoked_identity WHERE identity = 'cms:lead-cms'")" 1
run cms revoke lead-cms
check_match "revoking again says it already was" "$OUT" "already revoked"

echo "# status"
# Now: cm-a 1 (R3), cm-b 1 (RD), cm-c 0; waitlist below adds LEAD entries.
# A stand-in daemon: divertd holds a "divertd" and a "divertd-zap" connection.
PGAPPNAME=divertd psql -X -qc "SELECT pg_sleep(30)" >/dev/null 2>&1 &
FAKE_STORE=$!
PGAPPNAME=divertd-zap psql -X -qc "SELECT pg_sleep(30)" >/dev/null 2>&1 &
FAKE_ZAP=$!
for _ in $(seq 50); do
    [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'divertd%'")" = 2 ] && break
    sleep 0.1
done
run status --json
check_eq "status --json exits 0" "$RC" 0
check "status --json is JSON" bash -c 'jq -e . >/dev/null' <<<"$OUT"
check_eq "programs in order" "$(jq -r '[.programs[].name] | join(",")' <<<"$OUT")" "LEAD,CO-LEAD,PILOT"
check_eq "the documented keys" "$(jq -c '.programs[0] | [has("name"), has("hard_cap"), has("target_avg"), has("case_managers"), has("total"), has("average"), has("free"), has("waitlist"), has("staffing_gap")] | all' <<<"$OUT")" true
check_eq "LEAD's case managers" "$(jq -c '[.programs[0].case_managers[] | {id, caseload}]' <<<"$OUT")" '[{"id":"cm-a","caseload":1},{"id":"cm-b","caseload":1}]'
check_eq "LEAD total, average, free, waitlist" "$(jq -c '.programs[0] | [.hard_cap, .target_avg, .total, .average == 1, .free, .waitlist, .staffing_gap, .paced]' <<<"$OUT")" '[25,20,2,true,38,0,0,40]'
check_match "average is a JSON real" "$OUT" '"average": 1\.0,'
check_eq "PILOT has no case managers: average 0.0" "$(jq -c '.programs[2] | [.total, .average == 0, .free]' <<<"$OUT")" '[0,true,0]'
check_eq "daemons connected" "$(jq '.daemons' <<<"$OUT")" 1
check_eq "daemon connections" "$(jq '.daemon_connections' <<<"$OUT")" 2
run status
check_match "status for people counts daemons" "$OUT" "daemons connected: 1"
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
     WHERE datname = current_database() AND application_name IN ('divertd', 'divertd-zap')" >/dev/null
wait "$FAKE_STORE" "$FAKE_ZAP" 2>/dev/null
run status
check_eq "status exits 0" "$RC" 0
check_match "status draws bars" "$OUT" "cm-a +A. Rivera +█░+"
check_match "status shows caseload/cap" "$OUT" "1/25"
check_match "status shows the staffing gap" "$OUT" "staffing gap 0"
no_personal_data "status" "$OUT"
# A staffing gap: PILOT with 1 case manager holding 3, target 2, margin 0.1,
# 3 waitlisted: ceil((3 + 3) / 1.8) - 1 = 3.
run cm add cm-p --program PILOT --name "P. Diaz"
for i in 1 2 3; do mkref comm-1 community 2 accepted PILOT; enroll "$REF" cm-p PILOT; done
for i in 1 2 3; do
    mkref comm-1 community 2 waitlisted PILOT
    sql "INSERT INTO divert.waitlist_entry (program, person_id, referral_id, tier, score, received_at)
         SELECT 'PILOT', person_id, id, 2, 40, now() FROM divert.referral WHERE referral_id = '$REF'"
done
run program set PILOT --target-avg 2 --pacing-margin 0.1
run status --json
check_eq "PILOT's staffing gap" "$(jq -c '.programs[2] | [.total, .waitlist, .staffing_gap, .free, .average == 3]' <<<"$OUT")" '[3,3,3,-1,true]'

echo "# waitlist"
# Base scores and ages: A 50 today, B 45 ten days ago (55 with aging),
# C 40 two days ago (42), E 30 forty days ago (aging capped at 20: 50, older
# than A so first of the tie), D tier 3 score 90 (last: tier first).
wl() {  # wl UUID TIER SCORE AGE
    sql "INSERT INTO divert.waitlist_entry (program, person_id, referral_id, tier, score, received_at)
         SELECT 'LEAD', person_id, id, $2, $3, now() - interval '$4'
           FROM divert.referral WHERE referral_id = '$1'"
}
mkref comm-1 community 2 waitlisted; WA=$REF; wl "$WA" 2 50 "1 hour"
mkref comm-1 community 2 waitlisted; WB=$REF; wl "$WB" 2 45 "10 days 1 hour"
mkref comm-1 community 2 waitlisted; WC=$REF; wl "$WC" 2 40 "2 days 1 hour"
mkref comm-1 community 2 waitlisted; WE=$REF; wl "$WE" 2 30 "40 days"
mkref court-1 pretrial_diversion 3 waitlisted; WD=$REF; wl "$WD" 3 90 "20 days"
run waitlist LEAD --json
check_eq "waitlist --json exits 0" "$RC" 0
check_eq "promotion order: tier, score with aging, age" "$(jq -r '[.waitlist[].referral_id] | join(" ")' <<<"$OUT")" "$WB $WE $WA $WC $WD"
check_eq "scores with aging" "$(jq -c '[.waitlist[] | [.position, .tier, .score, .base_score, .aging]]' <<<"$OUT")" \
    '[[1,2,55,45,10],[2,2,50,30,20],[3,2,50,50,0],[4,2,42,40,2],[5,3,100,90,20]]'
check_eq "source shown" "$(jq -r '.waitlist[4].source_id' <<<"$OUT")" court-1
sql "UPDATE divert.program SET score_aging_per_day = 0 WHERE name = 'LEAD'"
run waitlist LEAD --json
check_eq "without aging the order is by stored score" "$(jq -r '[.waitlist[].referral_id] | join(" ")' <<<"$OUT")" "$WA $WB $WC $WE $WD"
sql "UPDATE divert.program SET score_aging_per_day = 1 WHERE name = 'LEAD'"
run waitlist LEAD
check_eq "waitlist for people exits 0" "$RC" 0
check_match "it shows position 1 first" "$OUT" "   1  $WB  comm-1 +2  55 \\(45\\+10 aging\\)"
check_match "it shows ages" "$OUT" "10d 1h"
no_personal_data "waitlist" "$OUT"
run waitlist
check_match "waitlist without a program covers all" "$OUT" "PILOT waitlist"
run waitlist CO-LEAD
check_match "an empty waitlist" "$OUT" "CO-LEAD: the waitlist is empty"
run waitlist NOPE
check_eq "an unknown program exits 1" "$RC" 1
run status --json
check_eq "status counts the LEAD waitlist" "$(jq '.programs[0].waitlist' <<<"$OUT")" 5

echo "# explain"
mkref police-1 arrest_diversion 1 accepted; RX=$REF
enroll "$RX" cm-a
# Two events of the referral (as divertd would record them), seqs after the source's last
sql "WITH s AS (UPDATE divert.source SET last_seq = last_seq + 2 WHERE id = 'police-1' RETURNING last_seq)
     INSERT INTO divert.decision_event (source_id, seq, referral_id, decision, reason, program, case_manager_id,
                                        tier, score, components, capacity, policy_version, decided_by, reply)
     SELECT 'police-1', s.last_seq - 1, r.id, 'accept', 'accepted', 'LEAD', 'cm-2', 1, 76,
            '{\"pathway\": 60, \"acuity\": 10, \"contacts\": 6, \"aging\": 0}'::jsonb,
            '{\"n\": 4, \"total\": 61, \"max_load\": 19, \"paced\": 80, \"free\": 19, \"open_slots\": 4,
              \"waitlist\": 0, \"reserve_tier1\": 2, \"reserve_tier2\": 3}'::jsonb, 3, 'divertd-test',
            '{\"v\": 1, \"type\": \"decision\"}'::jsonb
       FROM s, divert.referral r WHERE r.referral_id = '$RX'
     UNION ALL
     SELECT 'police-1', s.last_seq, r.id, 'lapsed', 'intake_lapsed', 'LEAD', NULL, 1, NULL, NULL, NULL, 4, 'divertd-test', '{}'
       FROM s, divert.referral r WHERE r.referral_id = '$RX'" >/dev/null
run explain "$RX"
check_eq "explain exits 0" "$RC" 0
check_match "explain: the decision" "$OUT" "Accepted into LEAD, assigned cm-2\\."
check_match "explain: the score" "$OUT" "Tier 1 \\(arrest diversion\\): score 76 = pathway 60 \\+ acuity 10 \\+ repeated contact 6\\."
check_match "explain: the capacity" "$OUT" "LEAD had 4 case managers holding 61 people \\(most 19/25\\); 19 paced slots free \\(reserve 2 for arrest diversion, 3 more ahead of pretrial\\); waitlist 0\\."
check_match "explain: the policy version" "$OUT" "Policy version 3\\."
check_match "explain: the second event" "$OUT" "Lapsed: intake was not completed"
check_match "explain: seq and time" "$OUT" "1\\. seq 1, [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}: accept / accepted"
no_personal_data "explain" "$OUT"
run explain "${RX^^}"
check_match "explain finds an upper-case UUID" "$OUT" "Accepted into LEAD, assigned cm-2\\."
run explain "$RX" --json
check_eq "explain --json events" "$(jq -c '[.events[] | [.seq, .decision, .reason, .score, .capacity.n]]' <<<"$OUT")" '[[1,"accept","accepted",76,4],[2,"lapsed","intake_lapsed",null,null]]'
check_match "explain --json summary" "$(jq -r '.events[0].summary' <<<"$OUT")" "^Accepted into LEAD"
no_personal_data "explain --json" "$OUT"
run explain "$RD"
check_eq "explain of an ambiguous id exits 1" "$RC" 1
run explain "$RD" --source court-1
check_match "explain --source" "$OUT" "from court-1 \\(court\\)"
check_match "no events is said" "$OUT" "no decision events"
run explain "$(uuid)"
check_eq "explain of an unknown referral exits 1" "$RC" 1

echo "# unreachable database"
for cmd in "status" "status --json" "cm list" "source list" "migrate" "waitlist" "program set LEAD --hard-cap 20"; do
    # shellcheck disable=SC2086
    OUT=$(PGHOST=/nonexistent "$CTL" $cmd 2>"$T/stderr"); RC=$?; ERR=$(cat "$T/stderr")
    check_eq "$cmd: unreachable database exits 1" "$RC" 1
    check_eq "$cmd: one line on stderr" "$(lines "$ERR")" 1
    check_match "$cmd: says it cannot connect" "$ERR" "^divertctl: cannot connect to the database"
    check_eq "$cmd: nothing on stdout" "$OUT" ""
done

testlib_end
