#!/usr/bin/env bash
# run-all.sh — `make check`'s test run. Usage: run-all.sh BUILD_DIR (e.g. build/asan)
#
# 1. unit tests: every BUILD/tests/test_* binary (pure logic, no database)
# 2. a private PostgreSQL cluster (tests/harness/pg.sh) and a template
#    database migrated with the real `divertctl migrate`
# 3. SQL tests: sql/tests/*.sh, each against a fresh copy of the template
# 4. integration tests: BUILD/tests/it_* binaries and tests/integration/*.sh,
#    each with a fresh database, real divertd, real CURVE sockets
#
# Each test prints "NAME: N passed, N failed" as its last summary line; this
# script adds them up and ends with one line "N passed, N failed".
# Environment given to every database test:
#   PGHOST PGPORT PGUSER PGDATABASE (its own fresh database)
#   DIVERT_BIN (directory of divertd, divertctl, divert-submit, divert-watch)
#   DIVERT_SQL_DIR (the migrations), DIVERT_TMP (a scratch directory of its own)
#   DIVERT_PORT_BASE (20 TCP ports from here are the test's own)
#   DIVERT_DAEMON_USER, DIVERT_OPERATOR_USER, DIVERT_WEB_USER (login roles in
#   divert_daemon / divert_operator / divert_web: least privilege for divertd,
#   divertctl and divert-web)
#   DIVERT_SCREENSHOTS (the browser tests copy their screenshots there)
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build/asan}
ONLY=${2:-}            # "faults": only the fault scenarios (make faults)
ROOT=$(pwd)
export DIVERT_BIN=$ROOT/$BUILD/bin DIVERT_SQL_DIR=$ROOT/sql
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/harness/lsan.supp}
WORK=$(mktemp -d /tmp/divert-check.XXXXXX)
chmod 755 "$WORK"
# Ports below Linux's ephemeral range (32768-60999), so no outgoing
# connection can be holding one: PostgreSQL in 30000-31999, and each test's
# 20 ports in 20000-29999 (a per-run offset keeps two runs on one machine apart).
PGPORT_PRIVATE=$(( 30000 + RANDOM % 2000 ))
PORT_OFFSET=$(( (RANDOM % 10) * 1000 ))
passed=0; failed=0; failures=()

cleanup() {
    tests/harness/pg.sh stop "$WORK/pg" >/dev/null 2>&1
    [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

# Run one test; its output goes to a log; its summary line is counted.
# A test that crashes or prints no summary counts as one failure.
run_test() {
    local name=$1; shift
    local log="$WORK/logs/$name.log"
    mkdir -p "$WORK/logs"
    local start=$SECONDS
    "$@" >"$log" 2>&1
    local rc=$?
    local line; line=$(grep -E '^[^ ]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    local p=0 f=0
    if [ -n "$line" ]; then
        p=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\1/' <<<"$line")
        f=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\2/' <<<"$line")
    fi
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    [ -n "$line" ] || f=$(( f > 0 ? f : 1 ))
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$f" -gt 0 ]; then
        failures+=("$name")
        echo "FAIL $name ($p passed, $f failed, exit $rc, $((SECONDS - start))s):"
        grep -E '^not ok|^  FAIL|^FAIL|ERROR|runtime error|Sanitizer|did not' "$log" | head -n 40 | sed 's/^/    ! /'
        echo "    last lines of its log:"
        sed 's/^/    | /' "$log" | grep -v '^    | ok - ' | tail -n 40
    else
        echo "ok   $name ($p passed, $((SECONDS - start))s)"
    fi
}

if [ -z "$ONLY" ]; then
echo "== unit tests"
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] && run_test "$(basename "$t")" "$t"
done
if [ -x tests/fuzz/run.sh ]; then
    echo "== fuzzing (short runs; make fuzz for the long one)"
    run_test fuzz tests/fuzz/run.sh short
fi
fi

# A German locale for divertctl's test of localized server messages; made
# before the cluster starts (a running server's backends don't see locales
# added after it).
if ! locale -a 2>/dev/null | grep -qi '^de_DE\.utf-\?8$' && [ "$(id -u)" = 0 ]; then
    localedef -i de_DE -f UTF-8 de_DE.UTF-8 >/dev/null 2>&1 || echo "(could not generate the de_DE.UTF-8 locale)"
fi

echo "== PostgreSQL (private cluster on port $PGPORT_PRIVATE)"
if ! tests/harness/pg.sh start "$WORK/pg" "$PGPORT_PRIVATE"; then
    echo "could not start PostgreSQL"; echo "$passed passed, $((failed + 1)) failed"; exit 1
fi
eval "$(tests/harness/pg.sh env "$WORK/pg" "$PGPORT_PRIVATE")"
if ! PGDATABASE=divert "$DIVERT_BIN/divertctl" migrate >"$WORK/migrate.log" 2>&1; then
    cat "$WORK/migrate.log"; echo "$passed passed, $((failed + 1)) failed"; exit 1
fi
psql -qc "ALTER DATABASE divert IS_TEMPLATE true" postgres
# Login roles in the least-privilege groups of sql/004_roles.sql: every
# integration test runs divertd as the daemon role and divertctl as an operator.
psql -qc "CREATE ROLE divert_test_daemon LOGIN IN ROLE divert_daemon" postgres
psql -qc "CREATE ROLE divert_test_operator LOGIN IN ROLE divert_operator" postgres
psql -qc "CREATE ROLE divert_test_web LOGIN IN ROLE divert_web" postgres
export DIVERT_DAEMON_USER=divert_test_daemon DIVERT_OPERATOR_USER=divert_test_operator
export DIVERT_WEB_USER=divert_test_web DIVERT_SCREENSHOTS=$ROOT/build/screenshots

n=0
fresh_db() {
    n=$((n + 1))
    local db="t${n}_$1"; db=${db//[^a-zA-Z0-9_]/_}
    psql -qc "CREATE DATABASE \"$db\" TEMPLATE divert" postgres
    echo "$db"
}

run_db_test() {
    local name=$1; shift
    local db; db=$(fresh_db "$name")
    local tmp="$WORK/tmp/$name"; mkdir -p "$tmp"; chmod 777 "$tmp"
    PGDATABASE=$db DIVERT_TMP=$tmp DIVERT_PORT_BASE=$(( 20000 + PORT_OFFSET + (n % 50) * 20 )) \
        run_test "$name" "$@"
}

if [ -z "$ONLY" ]; then
echo "== SQL tests"
for t in sql/tests/*.sh; do
    [ -f "$t" ] && run_db_test "sql_$(basename "$t" .sh)" bash "$t"
done

echo "== integration tests"
for t in "$BUILD"/tests/it_*; do
    [ -x "$t" ] && run_db_test "$(basename "$t")" "$t"
done
for t in tests/integration/*.sh; do
    [ -f "$t" ] && run_db_test "$(basename "$t" .sh)" bash "$t"
done
for t in tests/integration/web_*.py; do
    [ -f "$t" ] && run_db_test "$(basename "$t" .py)" /usr/bin/python3 "$t"
done
fi

# Fault scenarios: FAULTS=reduced (make check) or FAULTS=full (make faults);
# each fault_* program reads $FAULTS and sizes itself.
echo "== fault scenarios (${FAULTS:=reduced})"
export FAULTS
for t in "$BUILD"/tests/fault_*; do
    [ -x "$t" ] && run_db_test "$(basename "$t")" "$t"
done

if [ ${#failures[@]} -gt 0 ]; then echo "failed: ${failures[*]}"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
