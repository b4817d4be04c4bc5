#!/usr/bin/env bash
# web_roles.sh — divert-web's role in the database (sql/010_web.sql): it reads
# the views without personal data and nothing else directly; personal data
# comes only through the functions that take a live session's token hash,
# check what its user may see and record the disclosure in the same
# transaction; users, sessions and the audit can't be touched directly;
# the operator manages users only through the user functions.
#
# Environment (tests/harness/run-all.sh): PG* for a fresh migrated database,
# DIVERT_WEB_USER / DIVERT_OPERATOR_USER login roles in the groups.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/support/testlib.sh

WEB=${DIVERT_WEB_USER:?run from tests/harness/run-all.sh}
OPERATOR=${DIVERT_OPERATOR_USER:?}
export PGOPTIONS="-c search_path=divert,pg_catalog -c client_min_messages=warning"
as() { local user=$1; shift; PGUSER=$user psql -X -v ON_ERROR_STOP=1 -Atq -c "$1" 2>&1; }
allowed() { local out; if out=$(as "$2" "$3"); then ok "$1"; else not_ok "$1: $out"; fi; }
denied() {
    local out
    if out=$(as "$2" "$3"); then not_ok "$1: it was allowed"
    elif [[ "$out" =~ $4 ]]; then ok "$1"
    else not_ok "$1: unexpected error: $out"; fi
}
HASH='$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g'
TOKEN_CM=$(printf '%064d' 1)
TOKEN_OTHER=$(printf '%064d' 2)
TOKEN_PARTNER=$(printf '%064d' 3)

# A little data, as the owner: one referral assigned to cm-1, one session per user.
as postgres "INSERT INTO source (id, kind, name, public_key) VALUES ('cp', 'community', 'CP', repeat('k', 40)), ('pd', 'police', 'PD', repeat('j', 40));
             INSERT INTO case_manager (id, program, name) VALUES ('cm-1', 'LEAD', 'A'), ('cm-2', 'LEAD', 'B');
             INSERT INTO person (source_id, source_person_id, last_name, dob) VALUES ('cp', 'X1', 'Secretname', '1970-01-01');
             INSERT INTO referral (source_id, referral_id, person_id, pathway, tier, program, submitted_at, payload, digest, state)
             SELECT 'cp', 'r-1', id, 'community', 2, 'LEAD', now(), '{\"person\":{\"last_name\":\"Secretname\"},\"notes\":\"secret\"}', 'd', 'accepted' FROM person;
             INSERT INTO enrollment (referral_id, person_id, program, case_manager_id, intake_due_at)
             SELECT r.id, r.person_id, 'LEAD', 'cm-1', now() + interval '30 days' FROM referral r;
             SELECT user_add('cm', 'case_manager', 'cm-1', '$HASH'), user_add('other', 'case_manager', 'cm-2', '$HASH'),
                    user_add('partner', 'partner', 'pd', '$HASH');
             INSERT INTO web_session (token_hash, user_name, csrf, idle, expires_at) VALUES
                 ('$TOKEN_CM', 'cm', repeat('c', 43), '1 hour', now() + interval '1 hour'),
                 ('$TOKEN_OTHER', 'other', repeat('c', 43), '1 hour', now() + interval '1 hour'),
                 ('$TOKEN_PARTNER', 'partner', repeat('c', 43), '1 hour', now() + interval '1 hour')" >/dev/null

echo "# divert-web's role: views without personal data"
allowed "reads the program views" "$WEB" "SELECT count(*) FROM web_programs, web_case_managers"
allowed "reads the waitlist and decisions views" "$WEB" "SELECT count(*) FROM web_waitlist, web_decisions, web_referrals"
denied "cannot read persons" "$WEB" "SELECT last_name FROM person" "permission denied"
denied "cannot read referral payloads" "$WEB" "SELECT payload FROM referral" "permission denied"
denied "cannot read enrollments directly" "$WEB" "SELECT * FROM enrollment" "permission denied"
denied "cannot read users (password hashes)" "$WEB" "SELECT password_hash FROM web_user" "permission denied"
denied "cannot read sessions" "$WEB" "SELECT token_hash FROM web_session" "permission denied"
denied "cannot read the login failures" "$WEB" "SELECT * FROM web_login_failure" "permission denied"
denied "cannot write or erase the audit" "$WEB" "DELETE FROM disclosure" "permission denied"
denied "cannot insert into the audit" "$WEB" "INSERT INTO disclosure (actor_kind, actor_id, referral_id, what) VALUES ('web', 'x', 1, 'x')" "permission denied"
denied "cannot add users directly" "$WEB" "INSERT INTO web_user (name, role, password_hash) VALUES ('x', 'admin', '$HASH')" "permission denied"
denied "cannot call the operator's user functions" "$WEB" "SELECT user_add('x', 'admin', NULL, '$HASH')" "permission denied"
denied "cannot write decisions" "$WEB" "INSERT INTO decision_event (source_id, seq, referral_id, decision, reason, reply) VALUES ('cp', 9, 1, 'accept', 'accepted', '{}')" "permission denied"
denied "cannot run DDL" "$WEB" "CREATE TABLE divert.x (i int)" "permission denied"
denied "cannot run the daemon's functions" "$WEB" "SELECT * FROM divert.record('[]')" "permission denied"

echo "# personal data only through a live session, for whom it concerns, recorded"
n() { as postgres "SELECT count(*) FROM disclosure"; }
check_eq "no session: no details" "$(as "$WEB" "SELECT web_referral_details('$(printf '%064d' 9)', 'cp', 'r-1') IS NULL")" t
check_eq "another case manager's session: no details" "$(as "$WEB" "SELECT web_referral_details('$TOKEN_OTHER', 'cp', 'r-1') IS NULL")" t
check_eq "another source's partner: no details" "$(as "$WEB" "SELECT web_referral_details('$TOKEN_PARTNER', 'cp', 'r-1') IS NULL")" t
check_eq "none of those was recorded" "$(n)" 0
check_eq "the assigned case manager sees the details" \
    "$(as "$WEB" "SELECT web_referral_details('$TOKEN_CM', 'cp', 'r-1') #>> '{referral,notes}'")" secret
check_eq "... and it is recorded: web, the user, the referral, what" \
    "$(as postgres "SELECT actor_kind || ' ' || actor_id || ' ' || referral_id || ' ' || what FROM disclosure")" \
    "web cm $(as postgres "SELECT id FROM referral") person_details"
check_eq "the worklist names the person and records it" \
    "$(as "$WEB" "SELECT web_cm_people('$TOKEN_CM') -> 0 #>> '{person,last_name}'")/$(n)" "Secretname/2"
check_eq "another case manager's worklist is empty and records nothing" \
    "$(as "$WEB" "SELECT web_cm_people('$TOKEN_OTHER')")/$(n)" "[]/2"
check_eq "a partner's list is only its own source's" "$(as "$WEB" "SELECT web_partner_referrals('$TOKEN_PARTNER', 10)")" "[]"
check_eq "a case manager can't list a partner's referrals" "$(as "$WEB" "SELECT web_partner_referrals('$TOKEN_CM', 10) IS NULL")" t
check_eq "a case manager can't list users" "$(as "$WEB" "SELECT web_admin_users('$TOKEN_CM') IS NULL")" t
check_eq "nor add one" "$(as "$WEB" "SELECT web_admin_user_add('$TOKEN_CM', 'x', 'admin', NULL, '$HASH') IS NULL")" t
echo "# FHIR (013_fhir.sql): facts without personal data, scoped by the session, nothing disclosed"
RID=$(as postgres "SELECT id FROM referral")
BEFORE=$(n)
denied "cannot read the FHIR facts view directly" "$WEB" "SELECT * FROM fhir_referral" "permission denied"
check_eq "the assigned case manager gets the referral's facts" \
    "$(as "$WEB" "SELECT web_fhir_referral('$TOKEN_CM', $RID) ->> 'referral_id'")" r-1
check_eq "... without personal data" \
    "$(as "$WEB" "SELECT web_fhir_referral('$TOKEN_CM', $RID)::text ~* 'secret|1970-01-01|X1'")" f
check_eq "another case manager gets nothing" "$(as "$WEB" "SELECT web_fhir_referral('$TOKEN_OTHER', $RID) IS NULL")" t
check_eq "another source's partner gets nothing" "$(as "$WEB" "SELECT web_fhir_referral('$TOKEN_PARTNER', $RID) IS NULL")" t
check_eq "no session gets nothing" "$(as "$WEB" "SELECT web_fhir_referral('$(printf '%064d' 9)', $RID) IS NULL")" t
check_eq "searches are scoped the same way (case manager, other, partner)" \
    "$(as "$WEB" "SELECT concat_ws(',', web_fhir_referrals('$TOKEN_CM', NULL, false, NULL, false, NULL, NULL, 10) ->> 'total',
                  web_fhir_referrals('$TOKEN_OTHER', NULL, false, NULL, false, NULL, NULL, 10) ->> 'total',
                  web_fhir_referrals('$TOKEN_PARTNER', NULL, false, NULL, false, NULL, NULL, 10) ->> 'total')")" 1,0,0
check_eq "a partner's Organization is its own source only" \
    "$(as "$WEB" "SELECT (web_fhir_source('$TOKEN_PARTNER', 'pd') ->> 'name') || '/' || (web_fhir_source('$TOKEN_PARTNER', 'cp') IS NULL)")" PD/true
check_eq "none of it was recorded as a disclosure" "$(n)" "$BEFORE"

as postgres "UPDATE web_session SET last_seen_at = now() - interval '2 hours' WHERE token_hash = '$TOKEN_CM'" >/dev/null
check_eq "an idle session opens nothing" "$(as "$WEB" "SELECT web_referral_details('$TOKEN_CM', 'cp', 'r-1') IS NULL")" t
as postgres "UPDATE web_session SET last_seen_at = now() WHERE token_hash = '$TOKEN_CM'; UPDATE web_user SET disabled_at = now() WHERE name = 'cm'" >/dev/null
check_eq "a disabled user's session opens nothing" "$(as "$WEB" "SELECT web_session('$TOKEN_CM') IS NULL")" t

echo "# the metrics (sql/012_metrics.sql): divertd writes its row through the function, divert-web reads the view"
DAEMON=${DIVERT_DAEMON_USER:?}
allowed "divertd writes its counters" "$DAEMON" "SELECT daemon_metrics_put('h:1', now(), '10 seconds', '{\"decisions\": {}}')"
denied "but not the table directly" "$DAEMON" "DELETE FROM daemon_metrics" "permission denied"
check_eq "divert-web reads the fresh rows" "$(as "$WEB" "SELECT string_agg(daemon, ',') FROM web_daemon_metrics")" "h:1"
denied "divert-web cannot read the table" "$WEB" "SELECT * FROM daemon_metrics" "permission denied"
denied "nor write it" "$WEB" "SELECT daemon_metrics_put('h:2', now(), '10 seconds', '{}')" "permission denied"
allowed "divert-web checks Basic credentials" "$WEB" "SELECT web_basic_check('partner', '127.0.0.1')"
check_eq "... which give the role, not the binding" "$(as "$WEB" "SELECT web_basic_check('partner', '127.0.0.1') ->> 'role'")" partner
denied "a snapshot that is not an object is refused" "$DAEMON" "SELECT daemon_metrics_put('h:1', now(), '10 seconds', '[]')" "check constraint"

echo "# the operator: users through the functions, the audit read-only"
allowed "adds a user" "$OPERATOR" "SELECT user_add('ops-made', 'program', NULL, '$HASH')"
allowed "lists users (no hashes)" "$OPERATOR" "SELECT user_list()"
check_eq "the list holds no hash" "$(as "$OPERATOR" "SELECT user_list()::text LIKE '%argon2%'")" f
allowed "reads the audit" "$OPERATOR" "SELECT count(*) FROM disclosure"
denied "cannot change the audit" "$OPERATOR" "DELETE FROM disclosure" "permission denied"
denied "cannot read hashes" "$OPERATOR" "SELECT password_hash FROM web_user" "permission denied"
denied "cannot open sessions" "$OPERATOR" "SELECT web_session('$TOKEN_PARTNER')" "permission denied"
denied "a bad password hash is refused" "$OPERATOR" "SELECT user_add('weak', 'program', NULL, 'plaintext')" "check constraint"

testlib_end
