# testlib.sh — assertions for shell integration tests (sourced).
# Each check prints "ok - what" or "not ok - what"; finish with `testlib_end`,
# which prints "NAME: N passed, N failed" and sets the exit status.
TESTLIB_PASSED=0
TESTLIB_FAILED=0
TESTLIB_NAME=${TESTLIB_NAME:-$(basename "$0" .sh)}

ok()      { TESTLIB_PASSED=$((TESTLIB_PASSED + 1)); echo "ok - $*"; }
not_ok()  { TESTLIB_FAILED=$((TESTLIB_FAILED + 1)); echo "not ok - $*"; }
# check "what" command...: passes when the command succeeds
check()   { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }
# check_eq "what" actual expected
check_eq() { if [ "$2" == "$3" ]; then ok "$1"; else not_ok "$1: got '$2', expected '$3'"; fi; }
# check_match "what" text regex
check_match() { if [[ "$2" =~ $3 ]]; then ok "$1"; else not_ok "$1: '$2' does not match /$3/"; fi; }
# check_nomatch "what" text regex: passes when the text does not match
check_nomatch() { if [[ "$2" =~ $3 ]]; then not_ok "$1: '$2' matches /$3/"; else ok "$1"; fi; }
testlib_end() {
    echo "$TESTLIB_NAME: $TESTLIB_PASSED passed, $TESTLIB_FAILED failed"
    [ "$TESTLIB_FAILED" -eq 0 ]
}
