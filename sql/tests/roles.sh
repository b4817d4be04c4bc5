#!/usr/bin/env bash
# roles.sh — least privilege in the database (sql/004_roles.sql): the daemon's
# role can do only what divertd must (no DDL, no direct writes, no personal
# data, no changing events); the operator's role can run divertctl but not
# DDL nor change events; decision events are append-only even for the owner.
#
# Environment (tests/harness/run-all.sh): PG* for a fresh migrated database,
# DIVERT_DAEMON_USER / DIVERT_OPERATOR_USER login roles in the two groups.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/support/testlib.sh

DAEMON=${DIVERT_DAEMON_USER:?run from tests/harness/run-all.sh}
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

# A little data, as the owner
as postgres "INSERT INTO source (id, kind, name, public_key) VALUES ('spd', 'police', 'PD', repeat('k', 40));
             INSERT INTO person (source_id, source_person_id, last_name, dob) VALUES ('spd', 'X1', 'Secretname', '1970-01-01');
             INSERT INTO referral (source_id, referral_id, person_id, pathway, tier, program, submitted_at, payload, digest, state)
             SELECT 'spd', 'r-1', id, 'community', 2, 'LEAD', now(), '{\"notes\":\"secret\"}', 'd', 'declined' FROM person;
             INSERT INTO decision_event (source_id, seq, referral_id, decision, reason, reply)
             SELECT 'spd', 1, id, 'decline', 'no_consent', '{}' FROM referral" >/dev/null

echo "# the daemon's role"
allowed "reads keys for ZAP" "$DAEMON" "SELECT kind || ':' || id FROM source WHERE revoked_at IS NULL"
allowed "reads revoked identities" "$DAEMON" "SELECT identity FROM divert.revoked_identity"
denied "but not the keys' names" "$DAEMON" "SELECT name FROM divert.source" "permission denied"
allowed "reads events for replay" "$DAEMON" "SELECT * FROM divert.events_after('spd', 0, 10)"
allowed "reads referral ids for status" "$DAEMON" "SELECT id, source_id, referral_id FROM referral"
allowed "runs the decision functions" "$DAEMON" "BEGIN; SELECT * FROM divert.program_lock('{LEAD}'); SELECT * FROM divert.source_lock('{spd}'); SELECT * FROM divert.intake_lookup('[]'); SELECT * FROM divert.new_ids(1); SELECT * FROM divert.record('{\"decided_by\": \"t\"}'); SELECT * FROM divert.lifecycle_due(); ROLLBACK"
denied "cannot read referral payloads" "$DAEMON" "SELECT payload FROM referral" "permission denied"
denied "cannot read persons" "$DAEMON" "SELECT last_name, dob FROM person" "permission denied"
denied "cannot update events" "$DAEMON" "UPDATE decision_event SET reason = 'accepted'" "permission denied"
denied "cannot delete events" "$DAEMON" "DELETE FROM decision_event" "permission denied"
denied "cannot write enrollments directly" "$DAEMON" "UPDATE enrollment SET status = 'exited'" "permission denied"
denied "cannot change caseloads or staff" "$DAEMON" "UPDATE case_manager SET active = false" "permission denied"
denied "cannot change policy" "$DAEMON" "UPDATE program SET hard_cap = 100" "permission denied"
denied "cannot create tables (no DDL)" "$DAEMON" "CREATE TABLE divert.x (i int)" "permission denied"
denied "cannot drop tables" "$DAEMON" "DROP TABLE divert.decision_event" "must be owner"
denied "cannot register keys" "$DAEMON" "INSERT INTO source (id, kind, name, public_key) VALUES ('x', 'police', 'x', repeat('z', 40))" "permission denied"

echo "# the operator's role"
allowed "manages staff" "$OPERATOR" "INSERT INTO case_manager (id, program, name) VALUES ('cm-1', 'LEAD', 'A')"
allowed "sets policy" "$OPERATOR" "UPDATE program SET waitlist_cap = 150 WHERE name = 'LEAD'"
allowed "reads events" "$OPERATOR" "SELECT count(*) FROM decision_event"
denied "cannot read persons" "$OPERATOR" "SELECT last_name FROM person" "permission denied"
denied "cannot read referral payloads" "$OPERATOR" "SELECT payload FROM referral" "permission denied"
denied "cannot update events" "$OPERATOR" "UPDATE decision_event SET reason = 'accepted'" "permission denied"
denied "cannot create tables (no DDL)" "$OPERATOR" "CREATE TABLE divert.x (i int)" "permission denied"
denied "cannot set a caseload directly" "$OPERATOR" "UPDATE case_manager SET caseload = 5" "derived from enrollments"

echo "# append-only for the owner too"
denied "the owner cannot update events" postgres "UPDATE decision_event SET reason = 'accepted'" "append-only"
denied "the owner cannot delete events" postgres "DELETE FROM decision_event" "append-only"

echo "# PUBLIC has nothing"
as postgres "DROP ROLE IF EXISTS divert_test_stranger; CREATE ROLE divert_test_stranger LOGIN" >/dev/null
denied "a role in neither group sees nothing" divert_test_stranger "SELECT count(*) FROM divert.decision_event" "permission denied"
denied "nor runs the functions" divert_test_stranger "SELECT * FROM divert.program_lock('{LEAD}')" "permission denied"
as postgres "DROP ROLE divert_test_stranger" >/dev/null

testlib_end
