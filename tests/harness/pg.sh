#!/usr/bin/env bash
# pg.sh — a private, throwaway PostgreSQL cluster for tests and the demo.
#
#   pg.sh start DIR PORT   initdb DIR/data if needed, start it on the unix socket
#                          directory DIR/run and PORT (no TCP), create database divert
#   pg.sh stop DIR         stop it (fast shutdown)
#   pg.sh env DIR PORT     print the PG* environment lines for clients
#
# PostgreSQL refuses to run as root: when we are root the server runs as the
# unprivileged `postgres` user (from the postgresql package), which owns DIR.
set -euo pipefail

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[ -x "$PGBIN/initdb" ] || { echo "pg.sh: PostgreSQL server binaries not found (make deps)" >&2; exit 1; }

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: pg.sh start|stop|env DIR [PORT]" >&2; exit 64; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

case "$cmd" in
start)
    port=${3:?port}
    mkdir -p "$dir/run"
    [ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_owner "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
        cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir/run'
unix_socket_permissions = 0777
port = $port
max_connections = 100
shared_buffers = 64MB
fsync = on
synchronous_commit = on
log_min_messages = warning
CONF
    fi
    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -o "-p $port -k $dir/run" start >/dev/null \
        || { tail -n 20 "$dir/server.log" >&2; exit 1; }
    if ! "$PGBIN/psql" -h "$dir/run" -p "$port" -U postgres -Atqc "SELECT 1 FROM pg_database WHERE datname='divert'" postgres | grep -q 1; then
        "$PGBIN/createdb" -h "$dir/run" -p "$port" -U postgres divert
    fi
    ;;
stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m "${PGSTOP_MODE:-fast}" -w -t 30 stop >/dev/null || true
    fi
    ;;
env)
    port=${3:?port}
    echo "export PGHOST=$dir/run PGPORT=$port PGUSER=postgres PGDATABASE=divert"
    ;;
*)
    echo "pg.sh: unknown command $cmd" >&2; exit 64 ;;
esac
