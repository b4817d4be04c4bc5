#!/usr/bin/env bash
# retention.sh — personal data kept no longer than needed (sql/009_retention.sql):
# `divertctl site set/show --retention`, `divertctl purge [--dry-run]`, divertd's
# `purge = daily`, and `divertctl audit access` / `audit purges`.
#
# A real divertd decides referrals about people with names, dates of birth,
# contacts and notes (each a string found nowhere else), an operator and a
# case-management feed move them on. Then, with the retention set so that
# everything before a moment B is past it and everything after is not:
# - the dry run lists exactly what is due and changes nothing;
# - the purge empties exactly those referrals and persons (checked in the
#   tables and in a pg_dump of the database: the strings are gone, the
#   others' are still there), keeps the de-identified payload, and changes
#   nothing else: decision events, enrollments, enrollment events, the
#   waitlist, disclosures, status, waitlist, explain and the feed are the same
#   before and after;
# - a person with an open case (waitlisted, linked to a waiting referral,
#   enrolled, or the same last name and date of birth as someone waiting) is
#   never purged, however old their other referrals;
# - the run is recorded; a second run finds nothing; a purged referral sent
#   again is a conflict, not a new decision;
# - divertd with purge = daily purges at start and records it;
# - the access audit lists every disclosure (cms feed, divert-web) by
#   referral (any case), web user, cms key and time, without personal data.
#
# Environment (tests/harness/run-all.sh): PG* (a fresh migrated database),
# DIVERT_BIN, DIVERT_TMP, DIVERT_PORT_BASE, DIVERT_DAEMON_USER, DIVERT_OPERATOR_USER.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/support/testlib.sh

CTL=${DIVERT_BIN:?}/divertctl
SUBMIT=$DIVERT_BIN/divert-submit
T=${DIVERT_TMP:?}
PORT=${DIVERT_PORT_BASE:?}
INTAKE=tcp://127.0.0.1:$PORT
OPERATOR=${DIVERT_OPERATOR_USER:-}
DAEMON_ROLE=${DIVERT_DAEMON_USER:-}
unset PGAPPNAME

sql() { psql -X -v ON_ERROR_STOP=1 -Atq -c "$1"; }
as_daemon() { PGUSER=${DAEMON_ROLE:-$PGUSER} psql -X -v ON_ERROR_STOP=1 -Atq -c "$1"; }
# ctl ARGS...: divertctl as an operator (least privilege); sets OUT, ERR, RC
ctl() { OUT=$(PGUSER=${OPERATOR:-$PGUSER} "$CTL" "$@" 2>"$T/stderr"); RC=$?; ERR=$(cat "$T/stderr"); }
uuid() { cat /proc/sys/kernel/random/uuid; }
sorted() { tr ' ' '\n' | grep -v '^$' | sort | tr '\n' ' '; }

# The personal data of referral TAG: strings found nowhere else.
declare -A REF DOB STR SOURCE
n=0
person_strings() { echo "${STR[$1]}"; }

# make TAG SOURCE PATHWAY [JQ]: a referral about a person of its own (unless
# JQ changes it); its uuid in REF[TAG], its request in $T/TAG.json
make() {
    local tag=$1 source=$2 pathway=$3
    n=$((n + 1))
    REF[$tag]=$(uuid)
    DOB[$tag]=$(printf '1931-%02d-%02d' $(( (n - 1) / 28 + 1 )) $(( (n - 1) % 28 + 1 )))
    jq -cn --arg id "${REF[$tag]}" --arg pathway "$pathway" --arg tag "$tag" --arg dob "${DOB[$tag]}" '
        {v: 1, type: "referral", referral_id: $id, pathway: $pathway, submitted_at: "2026-11-22T18:04:05Z",
         person: {source_person_id: ("SP-" + $tag), first_name: ("Fn" + $tag), last_name: ("Ln" + $tag), dob: $dob},
         area: "downtown", housing: "unsheltered", behavioral_health: ["substance_use"], consent: true,
         contact: {callback: ("+1-206-555-" + $tag)}, notes: ("Note" + $tag)}
        | if $pathway == "arrest_diversion" then .offense = {code: "VUCSA-POSS", description: ("Offense" + $tag)}
          else . end
        | '"${4:-.}" >"$T/$tag.json"
    SOURCE[$tag]=$source
    STR[$tag]="Fn$tag Ln$tag SP-$tag ${DOB[$tag]} +1-206-555-$tag Note$tag"
    [ "$pathway" = arrest_diversion ] && STR[$tag]+=" Offense$tag"
}
# submit TAG EXPECTED-EXIT WHAT
submit() {
    local out rc
    out=$("$SUBMIT" --endpoint "$INTAKE" --server-key "$T/server.cert" --cert "$T/${SOURCE[$1]}.cert" \
          "$T/$1.json" 2>&1); rc=$?
    check_eq "$3 ($1: $out)" "$rc" "$2"
}
rowid() { sql "SELECT id FROM divert.referral WHERE referral_id = '${REF[$1]}'"; }

# --------------------------------------------------------------------------
echo "# site"
setup_ok=true
"$CTL" keygen "$T/server.cert" >/dev/null || setup_ok=false
for s in "spd police" "cp community"; do
    set -- $s
    "$CTL" source add "$1" --kind "$2" --name "Source $1" --cert-out "$T/$1.cert" >/dev/null || setup_ok=false
done
"$CTL" cms add records --programs LEAD,CO-LEAD --name "Records" --cert-out "$T/records.cert" >/dev/null || setup_ok=false
"$CTL" cm add cm-a --program LEAD --name "A" >/dev/null || setup_ok=false
# One case manager, hard cap 3, paced 2, reserve 1: a community referral fits only at 0.
sql "UPDATE divert.program SET hard_cap = 3, target_avg = 2, reserve_tier1 = 1, reserve_tier2 = 1
     WHERE name = 'LEAD'" || setup_ok=false
check "divertctl sets up the site" $setup_ok

DAEMON=
stop_daemon() {
    DAEMON_RC=
    [ -n "$DAEMON" ] || return 0
    kill -TERM "$DAEMON" 2>/dev/null
    wait "$DAEMON"; DAEMON_RC=$?
    DAEMON=
}
trap stop_daemon EXIT
# start_daemon [EXTRA-SETTING]: divertd on our ports, as the daemon role
start_daemon() {
    cat >"$T/divertd.conf" <<EOF
divertd
    intake = $INTAKE
    decisions = tcp://127.0.0.1:$((PORT + 1))
    server_cert = $T/server.cert
    log = stderr
    waitlist_recheck = 1s
    ${1:-}
EOF
    [ -n "$DAEMON_ROLE" ] && printf 'database\n    conninfo = "user=%s"\n' "$DAEMON_ROLE" >>"$T/divertd.conf"
    "$DIVERT_BIN/divertd" -c "$T/divertd.conf" 2>>"$T/divertd.log" &
    DAEMON=$!
    for _ in $(seq 100); do
        [ "$(grep -c "ready:" "$T/divertd.log")" -ge "$2" ] && return 0
        kill -0 "$DAEMON" 2>/dev/null || break
        sleep 0.1
    done
    sed 's/^/# divertd: /' "$T/divertd.log"
    return 1
}
check "divertd is ready" start_daemon "" 1

echo "# site set / show"
ctl site show --json
check_eq "the default retention is 3 years" "$(jq -r .retention <<<"$OUT")" 3y
ctl site show
check_match "site show says what the retention means" "$OUT" "retention: 3y \\(personal data is purged"
for bad in 3 3x 0s 500ms 101y -1d 3.5y; do
    ctl site set --retention "$bad"
    check_eq "site set --retention $bad is refused" "$RC" 1
    check_match "and says what a retention is ($bad)" "$ERR" "--retention must be a duration like 3y"
done
ctl site set
check_eq "site set without --retention is a usage error" "$RC" 64
ctl site frob
check_eq "an unknown site verb is a usage error" "$RC" 64
for good in "30d 30d" "12h 43200s" "7y 7y" "90s 90s"; do
    set -- $good
    ctl site set --retention "$1" --json
    check_eq "site set --retention $1 shows $2" "$(jq -r .retention <<<"$OUT")" "$2"
done
ctl site set --retention 3y
check_eq "site set --retention 3y" "$RC" 0

# --------------------------------------------------------------------------
echo "# phase A: referrals that will be past the retention"
make oldaccept spd arrest_diversion;      submit oldaccept 0 "an arrest diversion is accepted"
make openactive spd arrest_diversion;     submit openactive 0 "a second one is accepted"
make olddecline cp community '.housing = "sheltered"'
submit olddecline 2 "a sheltered person is declined"
ctl discharge "${REF[oldaccept]}" --reason moved
check_eq "the first is discharged" "$RC" 0
ctl enrollment set "${REF[openactive]}" active
check_eq "the second completes intake" "$RC" 0
make openwait cp community;               submit openwait 1 "a community referral waits (reserve)"
# The same source person id as the enrolled one: the same person, declined
make samespid spd social_contact '.person.source_person_id = "SP-openactive"'
STR[samespid]="Fnsamespid Lnsamespid ${DOB[samespid]} +1-206-555-samespid Notesamespid"
submit samespid 2 "the enrolled person referred again is declined (already enrolled)"
make latedischarge spd arrest_diversion;  submit latedischarge 0 "a third arrest diversion is accepted"
# The same last name and date of birth as the waiting one: linked to it
make oldlinked cp community
jq -c --arg dob "${DOB[openwait]}" '.person = {last_name: "Lnopenwait", dob: $dob, first_name: "Fnoldlinked"}' \
    "$T/oldlinked.json" >"$T/oldlinked.j2" && mv "$T/oldlinked.j2" "$T/oldlinked.json"
STR[oldlinked]="Fnoldlinked +1-206-555-oldlinked Noteoldlinked"
submit oldlinked 1 "the waiting person referred again is linked to the waitlist entry"
check_eq "linked: the same person row" \
    "$(sql "SELECT count(DISTINCT person_id) FROM divert.referral WHERE referral_id IN ('${REF[openwait]}', '${REF[oldlinked]}')")" 1

# Written as the database would have them (no daemon needed): a person row of
# their own whose last name (in another case) and date of birth match a
# waiting referral's row; and an old referral of someone else.
crafted() {     # crafted TAG STATE AGE LAST-NAME DOB
    n=$((n + 1)); REF[$1]=$(uuid); DOB[$1]=$5; SOURCE[$1]=cp
    STR[$1]="Fn$1 $4 SP-$1 $5 +1-206-555-$1 Note$1"
    sql "WITH p AS (INSERT INTO divert.person (source_id, first_name, last_name, dob)
                    VALUES ('cp', 'Fn$1', '$4', '$5') RETURNING id)
         INSERT INTO divert.referral (source_id, referral_id, person_id, pathway, tier, program, submitted_at,
                                      received_at, payload, digest, state)
         SELECT 'cp', '${REF[$1]}', p.id, 'community', 2, 'LEAD', now() - interval '$3', now() - interval '$3',
                jsonb_build_object('referral_id', '${REF[$1]}', 'pathway', 'community',
                    'person', jsonb_build_object('first_name', 'Fn$1', 'last_name', '$4', 'dob', '$5',
                                                 'source_person_id', 'SP-$1'),
                    'area', 'downtown', 'housing', 'unsheltered', 'contact', jsonb_build_object('callback', '+1-206-555-$1'),
                    'notes', 'Note$1'), 'digest', '$2' FROM p"
}
crafted twinold declined "4 years" Lntwinold 1932-02-02
crafted twinopen waitlisted "1 day" LNTWINOLD 1932-02-02
crafted craftold declined "4 years" Lncraftold 1932-03-03
check_eq "the crafted rows are there" "$(sql "SELECT count(*) FROM divert.referral
    WHERE referral_id IN ('${REF[twinold]}', '${REF[twinopen]}', '${REF[craftold]}')")" 3
check_eq "the twins are two person rows" \
    "$(sql "SELECT count(DISTINCT person_id) FROM divert.referral WHERE referral_id IN ('${REF[twinold]}', '${REF[twinopen]}')")" 2

echo "# disclosures: the case-management feed and divert-web"
feed=$(as_daemon "SELECT divert.cms_enrollments('records', 'LEAD', 0, 100)")
check_match "the feed delivers the accepted referrals" "$feed" "${REF[oldaccept]}"
check_eq "each delivery is a disclosure" "$(sql "SELECT count(*) FROM divert.disclosure WHERE actor_kind = 'cms'")" 3
sql "INSERT INTO divert.disclosure (actor_kind, actor_id, referral_id, what)
     SELECT 'web', 'alice', id, 'referral_details' FROM divert.referral
      WHERE referral_id IN ('${REF[oldaccept]}', '${REF[olddecline]}', '${REF[openwait]}')"
sql "INSERT INTO divert.disclosure (actor_kind, actor_id, referral_id, what)
     SELECT 'web', 'bob.cm', id, 'worklist' FROM divert.referral WHERE referral_id = '${REF[openactive]}'"

sleep 2
B=$(sql "SELECT now()")
sleep 2
# --------------------------------------------------------------------------
echo "# phase B: changes after the moment B"
make recentdecline cp community '.housing = "housed"'
submit recentdecline 2 "a recent referral is declined"
ctl discharge "${REF[latedischarge]}" --reason graduated
check_eq "the third enrollment exits after B" "$RC" 0
check_eq "the waiting referral still waits" "$(sql "SELECT state FROM divert.referral WHERE referral_id = '${REF[openwait]}'")" waitlisted

ALL="oldaccept openactive olddecline openwait samespid latedischarge oldlinked twinold twinopen craftold recentdecline"
PURGED="oldaccept olddecline craftold"
KEPT="openactive openwait samespid latedischarge oldlinked twinold twinopen recentdecline"

# What reports, explain and the feed say; and every table but referral and person
snapshot() {
    local dir=$1; mkdir -p "$dir"
    for tag in $ALL; do PGUSER=${OPERATOR:-$PGUSER} "$CTL" explain "${REF[$tag]}" --json >"$dir/explain-$tag" 2>&1; done
    PGUSER=${OPERATOR:-$PGUSER} "$CTL" status --json | jq 'del(.daemons, .generated_at, .now)' >"$dir/status" 2>&1
    PGUSER=${OPERATOR:-$PGUSER} "$CTL" waitlist --json | jq 'map(del(.waited_seconds, .expires_in_seconds))' >"$dir/waitlist" 2>&1
    if "$CTL" --help | grep -q '^  report'; then
        PGUSER=${OPERATOR:-$PGUSER} "$CTL" report --format json | jq 'del(.generated_at)' >"$dir/report" 2>&1
    fi
    as_daemon "SELECT divert.enrollment_feed_after('{\"LEAD\": 0, \"CO-LEAD\": 0}', 1000)" >"$dir/feed"
    # A report without personal data: decisions, enrollments and exits by what and when
    sql "SELECT e.program, e.decision, e.reason, r.pathway, r.tier, r.payload ->> 'area', r.payload ->> 'housing',
                date_trunc('month', e.at), count(*)
           FROM divert.decision_event e JOIN divert.referral r ON r.id = e.referral_id
          GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8" >"$dir/figures"
    for table in decision_event enrollment enrollment_event waitlist_entry disclosure case_manager source; do
        sql "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM divert.$table t" >"$dir/table-$table"
    done
    sql "SELECT string_agg(r::text, '|' ORDER BY r.id) FROM divert.referral r WHERE r.purge_id IS NULL
            AND r.referral_id NOT IN ($(for t in $PURGED; do printf "'%s'," "${REF[$t]}"; done) '')" >"$dir/kept-referrals"
    sql "SELECT string_agg(p::text, '|' ORDER BY p.id) FROM divert.person p WHERE p.id NOT IN
            (SELECT person_id FROM divert.referral WHERE referral_id IN ($(for t in $PURGED; do printf "'%s'," "${REF[$t]}"; done) ''))" \
        >"$dir/kept-persons"
}
same_snapshot() {     # same_snapshot WHAT DIR1 DIR2
    local diffs; diffs=$(diff -r "$2" "$3" | head -n 20)
    if [ -z "$diffs" ]; then ok "$1"; else not_ok "$1"; sed 's/^/#   /' <<<"$diffs"; fi
}
dump_has() {          # dump_has FILE TAG: whether the dump holds all, some or none of TAG's strings
    local found=0 total=0
    for s in $(person_strings "$2"); do
        total=$((total + 1)); grep -qF -- "$s" "$1" && found=$((found + 1))
    done
    if [ $found = $total ]; then echo all; elif [ $found = 0 ]; then echo none; else echo some; fi
}
# set_cutoff: the retention that makes the cutoff B (just before a purge)
set_cutoff() {
    local secs; secs=$(sql "SELECT ceil(extract(epoch FROM now() - '$B'::timestamptz))::int")
    ctl site set --retention "${secs}s"
}
listed() { jq -r '.referrals[].referral_id' <<<"$1" | sort | tr '\n' ' '; }
uuids() { for t in $1; do echo "${REF[$t]}"; done | sort | tr '\n' ' '; }

snapshot "$T/before"
pg_dump --data-only -d "$PGDATABASE" >"$T/dump-before.sql"
for tag in $ALL; do
    check_eq "before: the dump holds $tag's personal data" "$(dump_has "$T/dump-before.sql" "$tag")" all
done

# --------------------------------------------------------------------------
echo "# purge --dry-run"
ctl purge --dry-run --json
check_eq "dry run with the default 3y: only the 4-year-old referral with no one waiting" \
    "$(listed "$OUT")" "$(uuids craftold)"
check_eq "a dry run records nothing" "$(jq -r .purge_id <<<"$OUT")" null
set_cutoff
ctl purge --dry-run --json
check_eq "purge --dry-run exits 0" "$RC" 0
check_eq "the dry run lists exactly the referrals past the retention without an open case" \
    "$(listed "$OUT")" "$(uuids "$PURGED")"
check_eq "and counts their persons" "$(jq -r .persons <<<"$OUT")" 3
set_cutoff
ctl purge --dry-run
check_match "for people: would purge 3 referrals (3 persons)" "$OUT" "would purge the personal data of 3 referrals \\(3 persons\\)"
check_match "and says nothing changed" "$OUT" "nothing was changed \\(dry run\\)"
for tag in $PURGED; do check_match "it lists $tag" "$OUT" "${REF[$tag]}"; done
snapshot "$T/after-dry"
same_snapshot "a dry run changes nothing" "$T/before" "$T/after-dry"
check_eq "nothing is marked purged" "$(sql "SELECT count(*) FROM divert.referral WHERE purge_id IS NOT NULL")" 0
ctl purge --frob
check_eq "an unknown option is a usage error" "$RC" 64

# --------------------------------------------------------------------------
echo "# purge"
set_cutoff
ctl purge
check_eq "purge exits 0" "$RC" 0
check_match "it says what it purged" "$OUT" "^purged the personal data of 3 referrals \\(3 persons\\)"
check_match "and where it is recorded" "$OUT" "recorded as purge [0-9]+"
for tag in $ALL; do
    for s in $(person_strings "$tag"); do
        [[ "$OUT$ERR" == *"$s"* ]] && not_ok "purge printed $tag's personal data ($s)"
    done
done
ok "purge prints no personal data"
check_eq "exactly the due referrals are purged" \
    "$(sql "SELECT referral_id FROM divert.referral WHERE purge_id IS NOT NULL" | sort | tr '\n' ' ')" "$(uuids "$PURGED")"
for tag in $PURGED; do
    check_eq "$tag: its person's names, date of birth and person id are gone" \
        "$(sql "SELECT concat_ws(',', p.source_person_id, p.first_name, p.last_name, p.dob, p.purge_id IS NOT NULL)
                  FROM divert.person p JOIN divert.referral r ON r.person_id = p.id WHERE r.referral_id = '${REF[$tag]}'")" t
    check_eq "$tag: its payload keeps only the de-identified part" \
        "$(sql "SELECT string_agg(k, ',' ORDER BY k) FROM divert.referral r, jsonb_object_keys(r.payload) k
                 WHERE r.referral_id = '${REF[$tag]}'")" \
        "$(case $tag in craftold) echo area,housing,pathway,purged,referral_id ;;
           oldaccept) echo area,behavioral_health,consent,housing,offense,pathway,purged,referral_id,submitted_at ;;
           *) echo area,behavioral_health,consent,housing,pathway,purged,referral_id,submitted_at ;; esac)"
    check_eq "$tag: its digest is gone" "$(sql "SELECT digest FROM divert.referral WHERE referral_id = '${REF[$tag]}'")" purged
done
check_eq "an arrest diversion keeps its offense code, not the description" \
    "$(sql "SELECT payload -> 'offense' FROM divert.referral WHERE referral_id = '${REF[oldaccept]}'")" '{"code": "VUCSA-POSS"}'
for tag in $KEPT; do
    check_eq "$tag is not purged" "$(sql "SELECT purge_id IS NULL AND payload ? 'person' FROM divert.referral
                                          WHERE referral_id = '${REF[$tag]}'")" t
done
snapshot "$T/after"
same_snapshot "reports, explain, the feed, events, enrollments, the waitlist, disclosures and every kept row are unchanged" \
    "$T/before" "$T/after"
pg_dump --data-only -d "$PGDATABASE" >"$T/dump-after.sql"
for tag in $PURGED; do
    check_eq "after: the dump holds none of $tag's personal data" "$(dump_has "$T/dump-after.sql" "$tag")" none
done
for tag in $KEPT; do
    check_eq "after: the dump still holds $tag's personal data" "$(dump_has "$T/dump-after.sql" "$tag")" all
done

echo "# the run is recorded"
ctl audit purges --json
check_eq "one purge run" "$(jq length <<<"$OUT")" 1
check_eq "by the operator, with its counts" "$(jq -r '.[0] | "\(.actor) \(.referrals) \(.persons)"' <<<"$OUT")" \
    "divertctl:${OPERATOR:-postgres} 3 3"
check_eq "the purged rows point at it" \
    "$(sql "SELECT count(*) FROM divert.referral WHERE purge_id = $(jq '.[0].id' <<<"$OUT")") $(sql "SELECT count(*) FROM divert.person WHERE purge_id = $(jq '.[0].id' <<<"$OUT")")" "3 3"
ctl audit purges
check_match "audit purges for people" "$OUT" "divertctl:${OPERATOR:-postgres} +[0-9]+[sdy] .* 3 +3"
check_eq "the purge log is append-only" \
    "$(sql "DELETE FROM divert.purge" 2>&1 | grep -c 'append-only')" 1
set_cutoff
ctl purge --json
check_eq "a second purge finds nothing new" "$(jq '.referrals | length' <<<"$OUT")" 0
check_eq "and is recorded too" "$(sql "SELECT count(*) FROM divert.purge")" 2

echo "# a purged referral sent again"
events=$(sql "SELECT count(*) FROM divert.decision_event")
out=$("$SUBMIT" --endpoint "$INTAKE" --server-key "$T/server.cert" --cert "$T/spd.cert" "$T/oldaccept.json" 2>&1); rc=$?
check_eq "is refused (exit 3), not decided again" "$rc" 3
check_match "as a conflict" "$out" "conflict"
check_eq "nothing new is recorded" "$(sql "SELECT count(*) FROM divert.decision_event")" "$events"
ctl explain "${REF[oldaccept]}"
check_match "explain still tells its story" "$OUT" "Accepted into LEAD"

echo "# roles"
check "the operator still cannot read persons" bash -c \
    "! PGUSER=${OPERATOR:-nobody} psql -X -Atqc 'SELECT last_name FROM divert.person' 2>/dev/null"
check "nor payloads" bash -c "! PGUSER=${OPERATOR:-nobody} psql -X -Atqc 'SELECT payload FROM divert.referral' 2>/dev/null"
check "the daemon's role may purge" as_daemon "SELECT divert.purge('t', true)"
check "but not change the retention" bash -c \
    "! PGUSER=${DAEMON_ROLE:-nobody} psql -X -Atqc \"UPDATE divert.site_policy SET retention = '1s'\" 2>/dev/null"

# --------------------------------------------------------------------------
echo "# divertd's daily purge"
make daemonold cp community '.housing = "housed"'
submit daemonold 2 "one more is declined"
stop_daemon
check_eq "divertd stops" "$DAEMON_RC" 0
sql "SELECT pg_sleep(1.5)" >/dev/null
ctl site set --retention 1s
check "divertd with purge = daily starts" start_daemon "purge = daily" 2
for _ in $(seq 50); do
    [ "$(sql "SELECT count(*) FROM divert.purge WHERE actor LIKE 'divertd@%'")" -ge 1 ] && break
    sleep 0.1
done
check_eq "it purges at start, recorded as divertd's: everything closed more than 1 s ago" \
    "$(sql "SELECT referrals FROM divert.purge WHERE actor LIKE 'divertd@%'")" 3
check_eq "what was due: the referrals closed since the last purge" \
    "$(sql "SELECT count(*) FROM divert.referral WHERE purge_id = (SELECT id FROM divert.purge WHERE actor LIKE 'divertd@%')
            AND referral_id IN ('${REF[daemonold]}', '${REF[recentdecline]}', '${REF[latedischarge]}')")" 3
check_eq "still never anyone with an open case" \
    "$(sql "SELECT count(*) FROM divert.referral WHERE purge_id IS NOT NULL AND referral_id IN
            ($(for t in openactive openwait samespid oldlinked twinold twinopen; do printf "'%s'," "${REF[$t]}"; done) '')")" 0
check_match "it logs the run" "$(cat "$T/divertd.log")" "purge [0-9]+: the personal data of 3 referral"
leak=0
for tag in $ALL daemonold; do
    for s in $(person_strings "$tag"); do grep -qF -- "$s" "$T/divertd.log" && leak=1; done
done
check_eq "divertd's log has no personal data" "$leak" 0
ctl site set --retention 3y

# --------------------------------------------------------------------------
echo "# audit access"
ctl audit access --json
check_eq "every disclosure is listed" "$(jq length <<<"$OUT")" 7
check_eq "with who, what, when and which referral" \
    "$(jq -r '[.[] | has("at") and has("actor_kind") and has("actor_id") and has("what") and has("source_id") and has("referral_id")] | all' <<<"$OUT")" true
UPPER=$(tr a-f A-F <<<"${REF[oldaccept]}")
ctl audit access --referral "$UPPER" --json
check_eq "--referral in upper case finds the referral's disclosures" \
    "$(jq -r '[.[] | "\(.actor_kind):\(.actor_id):\(.what)"] | sort | join(" ")' <<<"$OUT")" \
    "cms:records:referral web:alice:referral_details"
check_eq "and says it has been purged since" "$(jq -r '[.[].purged_at != null] | all' <<<"$OUT")" true
ctl audit access --user alice --json
check_eq "--user: divert-web's views by that user" "$(jq -r '[.[] | .actor_kind + ":" + .actor_id] | unique | join(" ")' <<<"$OUT") $(jq length <<<"$OUT")" "web:alice 3"
ctl audit access --key records --json
check_eq "--key: the feed's deliveries to that key" "$(jq -r '[.[] | .actor_kind + ":" + .actor_id] | unique | join(" ")' <<<"$OUT") $(jq length <<<"$OUT")" "cms:records 3"
ctl audit access --key records --referral "${REF[openactive]}" --json
check_eq "filters combine" "$(jq length <<<"$OUT")" 1
ctl audit access --since 1h --json
check_eq "--since 1h" "$(jq length <<<"$OUT")" 7
ctl audit access --since "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)" --json
check_eq "--since a time to come: none" "$(jq length <<<"$OUT")" 0
ctl audit access --since "$(date -u -d '-1 day' +%Y-%m-%d)"
check_match "--since a date, for people" "$OUT" "^7 disclosures of personal data, oldest first"
check_match "lists the web user" "$OUT" "web user bob.cm +worklist"
check_match "lists the cms key" "$OUT" "cms key records +referral"
check_match "marks a purged referral" "$OUT" "(purged since)"
for tag in $ALL; do
    for s in $(person_strings "$tag"); do
        [[ "$OUT" == *"$s"* ]] && not_ok "audit access printed $tag's personal data ($s)"
    done
done
ok "audit access prints no personal data"
ctl audit access --user nobody
check_match "no match: says so" "$OUT" "no disclosure of personal data recorded"
ctl audit access --since soon
check_eq "a bad --since is refused" "$RC" 1
check_match "and explained" "$ERR" "--since must be a date"
ctl audit access --referral 12345
check_eq "a referral that is not a UUID is refused" "$RC" 1
ctl audit access --user 'Robert; DROP'
check_eq "a bad user name is refused" "$RC" 1
ctl audit access --user alice --key records
check_eq "--user with --key is a usage error" "$RC" 64
ctl audit purges --since 1h
check_eq "audit purges takes no filters" "$RC" 64
ctl audit
check_eq "audit alone is a usage error" "$RC" 64

stop_daemon
check_eq "divertd exits 0 on SIGTERM" "$DAEMON_RC" 0
testlib_end
