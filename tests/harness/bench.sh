#!/usr/bin/env bash
# bench.sh — `make bench`: divertd's throughput and latency on this machine.
# A private PostgreSQL (synchronous_commit = on, fsync = on), a site with room
# for everyone (400 case managers), the normal (not sanitizer) build.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
BIN=$(pwd)/$BUILD/bin
WORK=$(mktemp -d /tmp/divert-bench.XXXXXX); chmod 755 "$WORK"
PORT=$(( 20000 + RANDOM % 20000 ))
export DIVERT_SQL_DIR=$(pwd)/sql
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; tests/harness/pg.sh stop "$WORK/pg" >/dev/null 2>&1; rm -rf "$WORK"; }
trap cleanup EXIT
tests/harness/pg.sh start "$WORK/pg" "$PORT"
eval "$(tests/harness/pg.sh env "$WORK/pg" "$PORT")"
"$BIN/divertctl" migrate >/dev/null
"$BIN/divertctl" keygen "$WORK/server.cert" >/dev/null
"$BIN/divertctl" source add spd --kind police --name Bench --cert-out "$WORK/spd.cert" >/dev/null
"$BIN/divertctl" monitor add bench --cert-out "$WORK/mon.cert" >/dev/null
psql -qc "INSERT INTO divert.case_manager (id, program, name) SELECT 'cm-' || g, 'LEAD', 'CM ' || g FROM generate_series(1, 400) g"
psql -qc "UPDATE divert.program SET waitlist_cap = 100000 WHERE name = 'LEAD'"
cat >"$WORK/divertd.conf" <<CONF
divertd
    intake = tcp://127.0.0.1:$((PORT + 1))
    decisions = tcp://127.0.0.1:$((PORT + 2))
    server_cert = $WORK/server.cert
    log = stderr
    log_level = ${BENCH_LOG_LEVEL:-warning}
CONF
"$BIN/divertd" -c "$WORK/divertd.conf" 2>"$WORK/divertd.log" &
PID=$!
sleep 1
echo "synchronous_commit = $(psql -Atc 'SHOW synchronous_commit'), fsync = $(psql -Atc 'SHOW fsync'), $(nproc) cores"
run() { "$BUILD/tests/bench_intake" "tcp://127.0.0.1:$((PORT + 1))" "$WORK/server.cert" "$WORK/spd.cert" "$@"; }
run 1 1 500      "1 client, 1 in flight (idle load)"
run 4 8 4000     "4 clients x 8 in flight"
run 16 16 8000   "16 clients x 16 in flight (burst)"
echo "decisions recorded: $(psql -Atc 'SELECT count(*) FROM divert.decision_event')"
