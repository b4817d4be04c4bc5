#!/usr/bin/env bash
# pg.sh — a private, throwaway PostgreSQL cluster for tests and the demo.
#
#   pg.sh start DIR PORT   initdb DIR/data if needed, start it (unless it runs) on the
#                          unix socket directory DIR/run and PORT (no TCP), create
#                          database divert
#   pg.sh stop DIR         stop it (fast shutdown; PGSTOP_MODE=immediate to crash it)
#   pg.sh env DIR PORT     print the PG* environment lines for clients
#   pg.sh destroy DIR      stop it and remove DIR and its cluster, wherever it lives
#
# PostgreSQL refuses to run as root: when we are root the server runs as the
# unprivileged `postgres` user (from the postgresql package), which owns the
# cluster. A non-root user runs it as themselves.
#
# Where the cluster lives. As root, DIR may be somewhere `postgres` cannot
# reach: a checkout in /root or in any 0700 home directory. Then the cluster
# lives in $PG_EXTERNAL_ROOT/<hash of DIR's path>/ (0700 postgres; the default
# is postgres's home, /var/lib/postgresql/divert-clusters, which no tmp
# cleaner ages out) and DIR is a symbolic link to it; a file `checkout` there
# names DIR. `env` prints that directory's real path (short enough for a unix
# socket whatever DIR is), and `PGHOST`'s parent is again a DIR for pg.sh.
# When DIR is gone (rm -rf var) and has to be linked again, the cluster left
# behind at that place is stopped and wiped first, so removing DIR still
# starts over.
set -euo pipefail

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[ -x "$PGBIN/initdb" ] || { echo "pg.sh: PostgreSQL server binaries not found (make deps)" >&2; exit 1; }
PG_EXTERNAL_ROOT=${PG_EXTERNAL_ROOT:-$(getent passwd postgres | cut -d: -f6)/divert-clusters}
SOCKET_MAX=107      # sun_path holds 108 bytes with the final NUL

root() { [ "$(id -u)" = 0 ]; }

# as_owner COMMAND...: run it as the cluster's owner (from /, which the
# postgres user can enter: every path given to it is absolute)
as_owner() {
    if root; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# Can the postgres user search DIRECTORY, or, when it does not exist yet, the
# nearest directory above it that does?
postgres_reaches() {
    local d=$1
    while [ ! -e "$d" ] && [ "$d" != / ]; do d=$(dirname "$d"); done
    (cd / && runuser -u postgres -- test -x "$d")
}

# Sets path (DIR's own absolute path, DIR itself not followed), external (the
# place for its cluster outside DIR) and home (where the cluster lives now or
# will live: DIR, DIR's link target, or external).
locate() {
    local arg=$1 base
    base=$(basename -- "$arg")
    case $base in
        .|..|/) path=$(realpath -m -- "$arg") ;;
        *) path=$(realpath -m -- "$(dirname -- "$arg")")/$base ;;
    esac
    external=$PG_EXTERNAL_ROOT/$(printf '%s' "$path" | sha256sum | cut -c1-16)
    if [ -L "$path" ]; then
        home=$(realpath -m -- "$path")
    elif [ -f "$path/data/PG_VERSION" ] || ! root || postgres_reaches "$(dirname -- "$path")"; then
        home=$path
    else
        home=$external
    fi
}

# stop_cluster HOME: stop the server of the cluster in HOME, if it runs
stop_cluster() {
    if [ -f "$1/data/postmaster.pid" ]; then
        as_owner "$PGBIN/pg_ctl" -D "$1/data" -m "${PGSTOP_MODE:-fast}" -w -t 30 stop >/dev/null || true
    fi
}

# Make DIR a link to its external place, a new and empty one.
link_external() {
    if [ -e "$external" ]; then
        stop_cluster "$external"
        rm -rf -- "$external"
    fi
    if [ -L "$path" ]; then
        rm -f -- "$path"
    elif [ -d "$path" ]; then
        # a directory without a cluster (its run/ and logs from an older pg.sh)
        rm -rf -- "$path"
    fi
    mkdir -p "$PG_EXTERNAL_ROOT"
    install -d -o postgres -g postgres -m 0700 "$external"
    printf '%s\n' "$path" >"$external/checkout"
    ln -s "$external" "$path"
    home=$external
}

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: pg.sh start|stop|env|destroy DIR [PORT]" >&2; exit 64; }

case "$cmd" in
start)
    port=${3:?port}
    mkdir -p "$(dirname -- "$dir")"
    locate "$dir"
    if [ "$home" = "$external" ] && ! { [ -L "$path" ] && [ -d "$home" ]; }; then
        link_external
    elif [ -L "$path" ] && [ ! -d "$home" ]; then
        # its cluster was removed behind its back: start over
        rm -f -- "$path"
        locate "$dir"
        [ "$home" = "$external" ] && link_external
    fi
    socket="$home/run/.s.PGSQL.$port"
    if [ ${#socket} -gt $SOCKET_MAX ]; then
        echo "pg.sh: the socket path $socket is longer than $SOCKET_MAX bytes: use a shorter DIR" >&2
        exit 1
    fi
    mkdir -p "$home/run"
    if root; then
        chown -R postgres: "$home"
        if ! as_owner test -w "$home/run"; then
            echo "pg.sh: the postgres user cannot reach $home (a directory above it is not searchable);" \
                 "rm -rf $path to start over with a cluster it can reach" >&2
            exit 1
        fi
    fi
    if [ ! -f "$home/data/PG_VERSION" ]; then
        as_owner "$PGBIN/initdb" -D "$home/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$home/initdb.log" 2>&1 \
            || { cat "$home/initdb.log" >&2; exit 1; }
        cat >>"$home/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$home/run'
unix_socket_permissions = 0777
port = $port
max_connections = 100
shared_buffers = 64MB
fsync = on
synchronous_commit = on
log_min_messages = warning
CONF
    fi
    if ! as_owner "$PGBIN/pg_ctl" -D "$home/data" status >/dev/null 2>&1; then
        as_owner "$PGBIN/pg_ctl" -D "$home/data" -l "$home/server.log" -w -t 30 -o "-p $port -k '$home/run'" start >/dev/null \
            || { tail -n 20 "$home/server.log" >&2; exit 1; }
    fi
    if ! "$PGBIN/psql" -h "$home/run" -p "$port" -U postgres -Atqc "SELECT 1 FROM pg_database WHERE datname='divert'" postgres | grep -q 1; then
        "$PGBIN/createdb" -h "$home/run" -p "$port" -U postgres divert
    fi
    ;;
stop)
    locate "$dir"
    stop_cluster "$home"
    ;;
env)
    port=${3:?port}
    locate "$dir"
    echo "export PGHOST=$home/run PGPORT=$port PGUSER=postgres PGDATABASE=divert"
    ;;
destroy)
    locate "$dir"
    stop_cluster "$home"
    if [ "$home" != "$path" ] && [ "$home" = "$external" ]; then rm -rf -- "$external"; fi
    rm -rf -- "$path"
    ;;
*)
    echo "pg.sh: unknown command $cmd" >&2; exit 64 ;;
esac
