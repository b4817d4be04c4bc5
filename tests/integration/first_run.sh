#!/usr/bin/env bash
# first_run.sh — the README's two commands on a newcomer's machine.
#
# 1. Build flags after `make deps`. In a copy of the tree, a pkg-config first
#    in PATH answers nothing (as on a machine without the -dev packages) until
#    a stand-in for tests/harness/deps.sh has "installed" them. `make demo`
#    (the real compiler, Debian's hardening flags) and `make check`,
#    `make bench`, `make faults` (a compiler that records its command lines;
#    their test steps are stand-ins), all with -j4, must build with what
#    pkg-config answers after deps and never call it before; `make help`,
#    `make clean` and `make demo-stop` never call it; `make` without the
#    packages stops with a clear message. CPPFLAGS reaches every compile (the
#    tests' and the fuzzers' too), LDFLAGS every link, and the sanitizer build
#    keeps its flags when the builder gives CFLAGS and LDFLAGS.
# 2. The demo in a checkout the postgres user cannot enter (a copy of the tree
#    in a fresh 0700 directory, as a clone in /root): tests/harness/demo.sh
#    start with a short stream, the README's divertctl hint, make demo-stop,
#    `rm -rf var` starts over (stopped, and while running); and, as root, the
#    same for an unprivileged user in their own 0700 directory, whose
#    PostgreSQL runs as themselves with the cluster in var/pg.
#
# Environment (tests/harness/run-all.sh): DIVERT_BIN, DIVERT_TMP,
# DIVERT_PORT_BASE (20 ports of our own). The demo runs its own PostgreSQL
# cluster; the test's PG* database is not used.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
. tests/support/testlib.sh

T=${DIVERT_TMP:?}
PORT=${DIVERT_PORT_BASE:?}
BIN=${DIVERT_BIN:?}
REPO=$(pwd)
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES CPPFLAGS CFLAGS LDFLAGS
unset PGHOST PGPORT PGUSER PGDATABASE PGAPPNAME DIVERT_SQL_DIR

# copy_tree DEST: the sources as a fresh clone has them (no build/, no var/)
copy_tree() {
    mkdir -p "$1"
    if git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
        git -C "$REPO" ls-files -z -co --exclude-standard | tar -C "$REPO" --null -T - -cf - | tar -C "$1" -xf -
    else
        tar -C "$REPO" --exclude=./build --exclude=./var -cf - . | tar -C "$1" -xf -
    fi
}

# lacking FILE WORD...: the lines of FILE without one of the WORDs (as a word)
lacking() {
    local file=$1; shift
    awk -v words="$*" 'BEGIN { n = split(words, w, " ") }
        { for (i = 1; i <= n; i++) if (index(" " $0 " ", " " w[i] " ") == 0) { print; next } }' "$file"
}

# ==========================================================================
echo "# 1. the build reads pkg-config only after make deps"
TREE=$T/tree
FAKE=$T/fake
MARK=$T/packages-installed
STEPS=$T/steps.log PKLOG=$T/pkg-config.log CCLOG=$T/cc.log
REAL_PKG_CONFIG=$(command -v pkg-config)
PKGS=$(sed -n 's/^PKGS *:= *//p' Makefile)
copy_tree "$TREE"
mkdir -p "$FAKE"

cat >"$FAKE/pkg-config" <<EOF
#!/bin/sh
# pkg-config on a machine whose -dev packages only \`make deps\` installs
if [ -e '$MARK' ]; then echo "after-deps \$*" >>'$PKLOG'; exec '$REAL_PKG_CONFIG' "\$@"; fi
echo "before-deps \$*" >>'$PKLOG'
echo "Package libpq was not found in the pkg-config search path." >&2
exit 1
EOF
# stand-ins for the steps around the build: deps "installs" the packages
# after a second (so a build racing it would show)
cat >"$TREE/tests/harness/deps.sh" <<EOF
#!/bin/sh
echo "deps" >>'$STEPS'
sleep 1
touch '$MARK'
EOF
for step in demo run-all bench; do
    cat >"$TREE/tests/harness/$step.sh" <<EOF
#!/bin/sh
echo "$step \$* CPPFLAGS=\$CPPFLAGS" >>'$STEPS'
EOF
done
# a compiler and an archiver that record their command lines (and whether
# the packages were there) and make empty outputs
cat >"$FAKE/fake-cc" <<EOF
#!/bin/bash
state=before-deps; [ -e '$MARK' ] && state=after-deps
echo "\$state \$*" >>'$CCLOG'
out= prev=
for a in "\$@"; do [ "\$prev" = -o ] && out=\$a; prev=\$a; done
[ -z "\$out" ] || { mkdir -p "\$(dirname "\$out")" && : >"\$out"; }
EOF
cat >"$FAKE/fake-ar" <<EOF
#!/bin/sh
echo "ar \$*" >>'$CCLOG'
: >"\$2"
EOF
chmod +x "$FAKE"/* "$TREE"/tests/harness/*.sh

# The builder's flags: Debian's hardening flags, and a marker in each
if command -v dpkg-buildflags >/dev/null; then
    D_CPPFLAGS=$(dpkg-buildflags --get CPPFLAGS) D_CFLAGS=$(dpkg-buildflags --get CFLAGS)
    D_LDFLAGS=$(dpkg-buildflags --get LDFLAGS)
else
    D_CPPFLAGS="-Wdate-time -D_FORTIFY_SOURCE=2" D_CFLAGS="-g -O2 -fstack-protector-strong"
    D_LDFLAGS="-Wl,-z,relro"
fi
B_CPPFLAGS="$D_CPPFLAGS -DDIVERT_BUILDER_CPPFLAGS"
B_CFLAGS="$D_CFLAGS -DDIVERT_BUILDER_CFLAGS"
B_LDFLAGS="$D_LDFLAGS -Wl,--build-id"
# shellcheck disable=SC2086  # the flags are words
WANT_CFLAGS=$("$REAL_PKG_CONFIG" --cflags $PKGS) WANT_LIBS=$("$REAL_PKG_CONFIG" --libs $PKGS)

# fresh: the state of a fresh clone on a machine without the packages
fresh() { rm -f "$MARK" "$STEPS" "$PKLOG" "$CCLOG"; rm -rf "$TREE/build"; touch "$STEPS" "$PKLOG" "$CCLOG"; }
# in_tree COMMAND...: run it in the copy, our pkg-config first in PATH
in_tree() { (cd "$TREE" && PATH="$FAKE:$PATH" "$@") >"$T/make.log" 2>&1; }

# pkg-config and the steps around the build, after `make TARGET`
check_order() {
    local target=$1 step=$2 rc=$3
    check_eq "make $target exits 0" "$rc" 0
    [ "$rc" -eq 0 ] || sed 's/^/# make: /' "$T/make.log" | tail -n 30
    check_eq "make $target: pkg-config is never asked before deps" "$(grep -c '^before-deps' "$PKLOG")" 0
    check "make $target: ... and asked after deps" grep -q '^after-deps' "$PKLOG"
    check_eq "make $target: deps, then $step" "$(cut -d' ' -f1 "$STEPS" | paste -sd' ')" "deps $step"
}

# every compile and link the recording compiler saw, after `make TARGET`
check_commands() {
    local target=$1
    local compiles=$T/compiles links=$T/links
    grep -v '^ar ' "$CCLOG" >"$T/commands"
    grep -E ' [^ ]+\.c( |$)' "$T/commands" >"$compiles"
    grep -v -- ' -c ' "$T/commands" >"$links"
    check "make $target: it compiled" test "$(wc -l <"$compiles")" -ge 20
    check_eq "make $target: no compile or link before deps" "$(grep -c '^before-deps' "$T/commands")" 0
    # shellcheck disable=SC2086
    check_eq "make $target: every compile has pkg-config's cflags and the builder's CPPFLAGS and CFLAGS" \
        "$(lacking "$compiles" $WANT_CFLAGS $B_CPPFLAGS $B_CFLAGS | head -n 3)" ""
    # shellcheck disable=SC2086
    check_eq "make $target: every link has pkg-config's libs and the builder's LDFLAGS" \
        "$(lacking "$links" $WANT_LIBS $B_LDFLAGS | head -n 3)" ""
}

echo "# make demo, the real compiler, the builder's flags in the environment"
fresh
in_tree env CPPFLAGS="$B_CPPFLAGS" CFLAGS="$B_CFLAGS" LDFLAGS="$B_LDFLAGS" make -j4 demo; RC=$?
check_order demo demo "$RC"
check_eq "make demo: no compile without the packages' headers" \
    "$(grep -c 'No such file' "$T/make.log")" 0
check_eq "make demo: the divertd it built runs" \
    "$("$TREE/build/bin/divertd" --version 2>&1)" "divertd $(sed -n 's/^VERSION *:= *//p' Makefile)"
grep -E '^cc .* -c ' "$T/make.log" >"$T/demo-compiles"
check "make demo: it compiled" test "$(wc -l <"$T/demo-compiles")" -ge 20
# shellcheck disable=SC2086
check_eq "make demo: every compile has the builder's CPPFLAGS" "$(lacking "$T/demo-compiles" $B_CPPFLAGS | head -n 3)" ""

echo "# make check, make bench, make faults: the builder's flags on the command line"
for target in check bench faults; do
    case $target in check|faults) step=run-all ;; bench) step=bench ;; esac
    fresh
    in_tree make -j4 CC="$FAKE/fake-cc" AR="$FAKE/fake-ar" CPPFLAGS="$B_CPPFLAGS" CFLAGS="$B_CFLAGS" \
        LDFLAGS="$B_LDFLAGS" "$target"; RC=$?
    check_order "$target" "$step" "$RC"
    check_commands "$target"
done
check_match "make check: its tests (the fuzzers' build among them) get the builder's CPPFLAGS" \
    "$(grep '^run-all' "$STEPS")" "CPPFLAGS=$B_CPPFLAGS\$"
grep -- '-fsanitize=address,undefined' "$T/commands" >"$T/asan" || true
check "make faults: the sanitizer build ran" test "$(wc -l <"$T/asan")" -ge 20
check_eq "make faults: every sanitizer compile and link keeps -fsanitize with the builder's CFLAGS and LDFLAGS" \
    "$(grep -F ' build/asan/' "$T/commands" | grep -v -- '-fsanitize=address,undefined' | head -n 3)" ""
check_eq "... and -O1 after the builder's CFLAGS" \
    "$(grep ' -c ' "$T/asan" | grep -vE -- "-DDIVERT_BUILDER_CFLAGS .*-O1 " | head -n 3)" ""

echo "# make help, make clean, make demo-stop: no pkg-config at all"
for target in help clean demo-stop; do
    fresh
    touch "$MARK"
    in_tree make "$target"; RC=$?
    check_eq "make $target exits 0" "$RC" 0
    check_eq "make $target does not ask pkg-config" "$(wc -l <"$PKLOG")" 0
done

echo "# make without the packages"
fresh
in_tree make -j4 CC="$FAKE/fake-cc"; RC=$?
check "make fails" test "$RC" -ne 0
check_match "... saying what to do" "$(cat "$T/make.log")" "pkg-config does not find .*libpq.*: run \`make deps\` first"
check_eq "... before compiling anything" "$(wc -l <"$CCLOG")" 0

echo "# the fuzzers' build gets CPPFLAGS"
fresh
touch "$MARK"
in_tree env CPPFLAGS="$B_CPPFLAGS" FUZZ_CC="$FAKE/fake-cc" tests/fuzz/run.sh build; RC=$?
check_eq "tests/fuzz/run.sh build exits 0" "$RC" 0
check "it compiled two fuzzers" test "$(grep -c 'fuzz_' "$CCLOG")" -eq 2
# shellcheck disable=SC2086
check_eq "each with the builder's CPPFLAGS" "$(lacking "$CCLOG" $B_CPPFLAGS)" ""
rm -rf "$TREE"

# ==========================================================================
echo "# 2. the demo in a checkout the postgres user cannot enter"
HOMEDIR=$(mktemp -d "$T/home.XXXXXX")          # 0700, as /root or a Debian 12 home
C=$HOMEDIR/divert
copy_tree "$C"
DEMO_ENV=(DIVERT_BIN="$BIN" DEMO_PGPORT="$PORT" DEMO_INTAKE_PORT=$((PORT + 1))
          DEMO_DECISIONS_PORT=$((PORT + 2)) DEMO_WEB_PORT=$((PORT + 6)) DEMO_REFERRALS=4)
# the README's hint, for our port
HINT=$(grep -oF 'eval "$(tests/harness/pg.sh env var/pg 54329)"' README.md | head -n 1)
check "the README gives the divertctl environment hint" test -n "$HINT"
HINT=${HINT/54329/$PORT}

cleanup() {
    (cd "$C" 2>/dev/null && env "${DEMO_ENV[@]}" tests/harness/demo.sh stop && tests/harness/pg.sh destroy var/pg) >/dev/null 2>&1
    [ -z "${NC:-}" ] || (cd "$NC" 2>/dev/null && runuser -u nobody -- env "${NOBODY_ENV[@]}" tests/harness/demo.sh stop) >/dev/null 2>&1
}
trap cleanup EXIT

# demo start|stop: tests/harness/demo.sh in $C, with the test's ports and binaries
demo() {
    (cd "$C" && env "${DEMO_ENV[@]}" tests/harness/demo.sh "$@") >"$T/demo.log" 2>&1
}
# sql QUERY: in the demo's database, through the README's hint
sql() { (cd "$C" && eval "$HINT" && psql -X -Atq -v ON_ERROR_STOP=1 -c "$1") 2>&1; }
daemon_pid() { cat "$C/var/divertd.pid" 2>/dev/null; }
# check_started: the demo's output shows its whole run
check_started() {
    local what=$1 rc=$2
    check_eq "$what: demo.sh start exits 0" "$rc" 0
    check_match "$what: divertd runs" "$(cat "$T/demo.log")" "divertd running"
    check_eq "$what: nine batches of referrals sent, none in error" \
        "$(grep -cE '^4 sent: .* 0 error;' "$T/demo.log")" 9
    [ "$rc" -eq 0 ] || sed 's/^/# demo: /' "$T/demo.log" | tail -n 30
}

if [ "$(id -u)" = 0 ]; then
    check_eq "the checkout is in a 0700 directory" "$(stat -c %a "$HOMEDIR")" 700
    check "... which the postgres user cannot enter" bash -c "cd / && ! runuser -u postgres -- test -x '$C'"
fi
START=$SECONDS
demo start; RC=$?
check_started "first run" "$RC"
check "it took less than 30 s" test $((SECONDS - START)) -lt 30
if [ "$(id -u)" = 0 ]; then
    LINK=$(readlink "$C/var/pg")
    check_match "var/pg links to a cluster the postgres user can reach" "$LINK" "^/.+/divert-clusters/[0-9a-f]{16}$"
    check "... which it can" bash -c "cd / && runuser -u postgres -- test -r '$LINK/data/PG_VERSION'"
    check_eq "... 0700 postgres" "$(stat -c '%a %U' "$LINK")" "700 postgres"
    check_eq "... naming the checkout" "$(cat "$LINK/checkout")" "$C/var/pg"
fi
ENVLINE=$(cd "$C" && tests/harness/pg.sh env var/pg "$PORT")
check_match "pg.sh env prints a socket directory short enough" "$ENVLINE" "PGHOST=/[^ ]{1,80} "
check_eq "the README's hint reaches the demo's database" "$(sql "SELECT count(*) FROM divert.source")" 3
check_match "build/bin/divertctl status with the hint" \
    "$(cd "$C" && eval "$HINT" && "$BIN/divertctl" status 2>&1)" "LEAD .*cm-rivera.*CO-LEAD"
check "divertctl waitlist with the hint" bash -c "cd '$C' && $HINT && '$BIN/divertctl' waitlist >/dev/null"
FIRST_REF=$(sql "SELECT referral_id FROM divert.referral ORDER BY id LIMIT 1")
check_match "divertctl explain <referral_id> with the hint" \
    "$(cd "$C" && eval "$HINT" && "$BIN/divertctl" explain "$FIRST_REF" 2>&1)" "${FIRST_REF:0:8}"
check_eq "C. Nguyen joined LEAD" "$(sql "SELECT count(*) FROM divert.case_manager WHERE id = 'cm-nguyen'")" 1
sql "CREATE TABLE public.first_run_was_here ()" >/dev/null
PID1=$(daemon_pid)

echo "# a second make demo, while it runs: more referrals, the same site"
demo start; RC=$?
check_eq "demo.sh start again exits 0" "$RC" 0
check_match "... more referrals sent" "$(cat "$T/demo.log")" "4 sent: "
check_eq "... the same divertd" "$(daemon_pid)" "$PID1"
check_eq "... the same database" "$(sql "SELECT count(*) FROM pg_tables WHERE tablename = 'first_run_was_here'")" 1

echo "# make demo-stop"
(cd "$C" && env "${DEMO_ENV[@]}" make -s demo-stop) >"$T/stop.log" 2>&1; RC=$?
check_eq "make demo-stop exits 0" "$RC" 0
check "divertd stopped" bash -c "! kill -0 $PID1 2>/dev/null"
check_match "PostgreSQL stopped" "$(sql "SELECT 1")" "No such file|could not connect|failed"

echo "# rm -rf var starts over"
rm -rf "${C:?}/var"
demo start; RC=$?
check_started "after rm -rf var" "$RC"
check_eq "a new database: the first run's table is gone" \
    "$(sql "SELECT count(*) FROM pg_tables WHERE tablename = 'first_run_was_here'")" 0
check_eq "... and its referrals" "$(sql "SELECT count(*) FROM divert.referral WHERE referral_id = '$FIRST_REF'")" 0
[ "$(id -u)" != 0 ] || check_eq "the same place outside the checkout" "$(readlink "$C/var/pg")" "$LINK"
sql "CREATE TABLE public.first_run_was_here ()" >/dev/null
PID2=$(daemon_pid)

echo "# rm -rf var while the demo runs, then make demo"
rm -rf "${C:?}/var"
demo start; RC=$?
check_started "after rm -rf var while running" "$RC"
check "the old divertd was stopped" bash -c "! kill -0 $PID2 2>/dev/null"
check_eq "a new database again" "$(sql "SELECT count(*) FROM pg_tables WHERE tablename = 'first_run_was_here'")" 0
demo stop
if [ "$(id -u)" = 0 ]; then
    (cd "$C" && tests/harness/pg.sh destroy var/pg)
    check "pg.sh destroy removes the cluster outside the checkout" test ! -e "$LINK"
    check "... and var/pg" test ! -e "$C/var/pg" -a ! -L "$C/var/pg"
fi

# ==========================================================================
if [ "$(id -u)" = 0 ]; then
    echo "# 3. an unprivileged user in their own 0700 directory (nobody here)"
    NHOME=$(mktemp -d "$T/nobody.XXXXXX")
    NC=$NHOME/divert
    copy_tree "$NC"
    mkdir -p "$NC/build/bin" && cp "$BIN"/* "$NC/build/bin/"
    chown -R nobody: "$NHOME"
    NOBODY_ENV=(DIVERT_BIN="$NC/build/bin" DEMO_PGPORT=$((PORT + 3)) DEMO_INTAKE_PORT=$((PORT + 4))
                DEMO_DECISIONS_PORT=$((PORT + 5)) DEMO_WEB_PORT=$((PORT + 7)) DEMO_REFERRALS=4
                LSAN_OPTIONS="suppressions=$NC/tests/harness/lsan.supp")
    (cd "$NC" && runuser -u nobody -- env "${NOBODY_ENV[@]}" tests/harness/demo.sh start) >"$T/demo.log" 2>&1; RC=$?
    check_started "as nobody" "$RC"
    check "var/pg is the cluster itself, in the checkout" test -d "$NC/var/pg/data" -a ! -L "$NC/var/pg"
    check_eq "PostgreSQL runs as the user" \
        "$(stat -c %U "/proc/$(head -n 1 "$NC/var/pg/data/postmaster.pid" 2>/dev/null)" 2>&1)" nobody
    (cd "$NC" && runuser -u nobody -- env "${NOBODY_ENV[@]}" make -s demo-stop) >"$T/stop.log" 2>&1; RC=$?
    check_eq "make demo-stop exits 0" "$RC" 0
    check "PostgreSQL stopped" test ! -e "$NC/var/pg/data/postmaster.pid"
    rm -rf "$NHOME"; NC=
fi

testlib_end
