#!/usr/bin/env bash
# run.sh — build and run divert's libFuzzer targets.
#
# Usage: tests/fuzz/run.sh short|long|build
#   short  each target for ~30 s (make check) on a throw-away copy of the seed
#          corpus, so the committed corpus never grows
#   long   each target for ${FUZZ_SECONDS:-600} s (make fuzz) on build/fuzz/corpus/<target>,
#          which keeps what earlier long runs found (seeded from tests/fuzz/corpus/)
#   build  only build the targets into build/fuzz/
#
# Targets (tests/fuzz/fuzz_<name>.c, seeds in tests/fuzz/corpus/<name>/;
# FUZZ_TARGETS="request" runs only the ones named):
#   request  the DIVERT/1 request codec and validation, and the error reply
#   config   divertd's ZPL config parser and the duration syntax
# Both targets run at the same time (one core each). For each one this prints
# the executions, coverage, and any crash; a crashing input is kept under
# build/fuzz/crashes/ and its path printed. Reproduce one with
#   build/fuzz/fuzz_<name> build/fuzz/crashes/<file>
# The last line is "fuzz: N passed, N failed" (one test per target).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
ROOT=$(pwd)
MODE=${1:-short}
OUT=build/fuzz
read -r -a TARGETS <<<"${FUZZ_TARGETS:-request config}"
case $MODE in
    short) SECONDS_EACH=${FUZZ_SHORT_SECONDS:-30} ;;
    long)  SECONDS_EACH=${FUZZ_SECONDS:-600} ;;
    build) SECONDS_EACH=0 ;;
    *) echo "usage: $0 short|long|build" >&2; exit 2 ;;
esac

# The C sources each target links (besides its own fuzz_<name>.c)
sources_for() {
    case $1 in
        request) echo common/dv_request.c common/dv_reply.c ;;
        config)  echo common/dv_config.c common/dv_zpl.c common/dv_log.c ;;
    esac
}

# libFuzzer's flags for each target. CZMQ's zconfig prints every syntax
# error to stdout (zclock_log), so the config target runs with its stdout
# closed; libFuzzer and the sanitizers report on stderr.
flags_for() {
    case $1 in
        request) echo "-dict=tests/fuzz/dict/request.dict" ;;
        config)  echo "-dict=tests/fuzz/dict/config.dict -close_fd_mask=1" ;;
    esac
}

fail_all() {
    echo "fuzz: $1"
    echo "fuzz: 0 passed, ${#TARGETS[@]} failed"
    exit 1
}

CC=${FUZZ_CC:-clang}
command -v "$CC" >/dev/null || fail_all "$CC not found (apt-get install clang libclang-rt-14-dev)"
PKG_CFLAGS=$(pkg-config --cflags libczmq jansson libsystemd) || fail_all "pkg-config: libczmq/jansson/libsystemd missing"
PKG_LIBS=$(pkg-config --libs libczmq libzmq jansson libsystemd) || fail_all "pkg-config: libczmq/libzmq/jansson/libsystemd missing"
VERSION=$(sed -n 's/^VERSION *:= *//p' Makefile)
mkdir -p "$OUT/crashes" "$OUT/logs" "$OUT/corpus"

# The builder's CPPFLAGS (e.g. Debian's -D_FORTIFY_SOURCE=2) reach these compiles too.
build() {
    local name=$1
    # shellcheck disable=SC2046,SC2086
    "$CC" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -fno-omit-frame-pointer -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror \
        -DDIVERT_VERSION="\"${VERSION:-0.0.0}\"" -Icommon ${CPPFLAGS:-} $PKG_CFLAGS \
        "tests/fuzz/fuzz_$name.c" $(sources_for "$name") \
        $PKG_LIBS -o "$OUT/fuzz_$name"
}

for name in "${TARGETS[@]}"; do
    if ! build "$name" >"$OUT/logs/build-$name.log" 2>&1; then
        sed 's/^/    | /' "$OUT/logs/build-$name.log" | tail -n 40
        fail_all "could not build fuzz_$name"
    fi
done
if [ "$MODE" = build ]; then
    echo "built: ${TARGETS[*]/#/$OUT/fuzz_}"
    exit 0
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/harness/lsan.supp}

SCRATCH=$(mktemp -d /tmp/divert-fuzz.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT

# Run one target in the background; its log is $OUT/logs/<name>-<mode>.log
start() {
    local name=$1
    local seeds=tests/fuzz/corpus/$name corpus dirs
    if [ "$MODE" = short ]; then
        corpus=$SCRATCH/$name
        mkdir -p "$corpus"
        cp "$seeds"/* "$corpus"/
        dirs=("$corpus")
    else
        # new units go to the first directory; the seeds are only read
        corpus=$OUT/corpus/$name
        mkdir -p "$corpus"
        dirs=("$corpus" "$seeds")
    fi
    # shellcheck disable=SC2046
    "$OUT/fuzz_$name" -max_total_time="$SECONDS_EACH" -max_len=70000 -timeout=25 \
        -print_final_stats=1 -artifact_prefix="$OUT/crashes/$name-" \
        $(flags_for "$name") "${dirs[@]}" \
        >"$OUT/logs/$name-$MODE.log" 2>&1 &
    echo $! >"$SCRATCH/$name.pid"
}

for name in "${TARGETS[@]}"; do start "$name"; done

passed=0; failed=0
for name in "${TARGETS[@]}"; do
    wait "$(cat "$SCRATCH/$name.pid")"
    rc=$?
    log=$OUT/logs/$name-$MODE.log
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[^ ]+' "$log" | tail -n 1)
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "fuzz_$name ($MODE, ${SECONDS_EACH}s): ${execs:-?} executions, ${cov:-no coverage line}"
    if [ $rc -eq 0 ] && [ -z "$artifact" ]; then
        echo "ok   fuzz_$name: no crashes"
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL fuzz_$name: exit $rc; crashing input: ${artifact:-(none written)}"
        grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz_[a-z]+: )|runtime error' "$log" | head -n 5 | sed 's/^/    | /'
        echo "    full log: $log"
        [ -n "$artifact" ] && echo "    reproduce: $OUT/fuzz_$name $artifact"
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
