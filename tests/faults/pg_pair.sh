#!/usr/bin/env bash
# pg_pair.sh — two PostgreSQL servers of one cluster, a primary and a streaming
# standby, each on its own unix socket directory (no TCP), for the failover
# scenario (tests/faults/fault_failover.c). The two machines of README's
# "Running in production", on one machine.
#
#   pg_pair.sh primary DIR PORT           initdb DIR/data, start it on DIR/run:PORT,
#                                         create database divert
#   pg_pair.sh standby DIR PORT FROM FROM_PORT sync|async
#                                         pg_basebackup from the server in FROM, start
#                                         DIR as its streaming standby (whatever DIR held
#                                         before is wiped: a lost machine comes back empty);
#                                         FROM then waits
#                                         for it at COMMIT (sync: synchronous_standby_names
#                                         = '*') or not (async); returns once the standby
#                                         streams (and is the synchronous one)
#   pg_pair.sh stall DIR                  the network to the standby stalls: SIGSTOP the
#                                         WAL senders of the server in DIR (nothing more
#                                         reaches the standby; a synchronous COMMIT waits)
#   pg_pair.sh crash DIR                  the machine is lost: SIGKILL the postmaster and
#                                         every process of that server at once
#   pg_pair.sh promote DIR                pg_ctl promote (the standby becomes the primary)
#   pg_pair.sh stop DIR                   immediate stop, if it runs
#
# As root the servers run as the `postgres` user (PostgreSQL refuses root),
# as tests/harness/pg.sh does; DIR must be reachable by that user.
set -euo pipefail
# Only what is given here: not the multi-host environment of the clients
unset PGHOST PGPORT PGDATABASE PGUSER PGTARGETSESSIONATTRS PGSERVICE PGOPTIONS

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[ -x "$PGBIN/initdb" ] || { echo "pg_pair.sh: PostgreSQL server binaries not found (make deps)" >&2; exit 1; }

root() { [ "$(id -u)" = 0 ]; }
as_owner() { if root; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
psql_at() { "$PGBIN/psql" -X -h "$1/run" -p "$2" -U postgres -Atq -v ON_ERROR_STOP=1 -d postgres -c "$3"; }

# The settings both servers run with (written into DIR/data/postgresql.conf).
settings() {
    cat <<CONF
listen_addresses = ''
unix_socket_directories = '$1/run'
unix_socket_permissions = 0777
port = $2
max_connections = 60
shared_buffers = 32MB
fsync = on
synchronous_commit = on
wal_level = replica
max_wal_senders = 4
hot_standby = on
wal_receiver_status_interval = 1s
log_min_messages = warning
CONF
}

prepare() {     # prepare DIR: an empty DIR/run, owned by the server's user
    mkdir -p "$1/run"
    if root; then chown -R postgres: "$1"; fi
    as_owner test -w "$1/run" || { echo "pg_pair.sh: the postgres user cannot reach $1" >&2; exit 1; }
}

start() {       # start DIR PORT
    as_owner "$PGBIN/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 60 start >/dev/null \
        || { tail -n 20 "$1/server.log" >&2; exit 1; }
}

postmaster() { head -n 1 "$1/data/postmaster.pid" 2>/dev/null || true; }

# alive PID: running, not a zombie (a killed process its parent has not read yet)
alive() {
    local state; state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)
    [ -n "$state" ] && [ "$state" != Z ]
}

# running DIR: a server runs in DIR
running() { local pid; pid=$(postmaster "$1"); [ -n "$pid" ] && alive "$pid"; }

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: pg_pair.sh primary|standby|crash|promote|stop DIR ..." >&2; exit 64; }
case $cmd in
primary)
    port=${3:?port}
    prepare "$dir"
    as_owner "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    settings "$dir" "$port" | as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
    start "$dir" "$port"
    "$PGBIN/createdb" -h "$dir/run" -p "$port" -U postgres divert
    ;;
standby)
    port=${3:?port}; from=${4:?primary dir}; from_port=${5:?primary port}; mode=${6:?sync or async}
    # A lost primary's machine comes back empty: its old data goes
    if running "$dir"; then echo "pg_pair.sh: a server still runs in $dir" >&2; exit 1; fi
    rm -rf -- "$dir/data"
    # and so does its /run: the killed postmaster's socket lock names a PID that
    # may still be a zombie here (PID 1 of a container need not reap it), and
    # PostgreSQL takes a zombie for a live server
    rm -f -- "$dir/run/.s.PGSQL."*
    prepare "$dir"
    as_owner "$PGBIN/pg_basebackup" -h "$from/run" -p "$from_port" -U postgres -D "$dir/data" \
        -R -X stream -c fast >"$dir/basebackup.log" 2>&1 || { cat "$dir/basebackup.log" >&2; exit 1; }
    settings "$dir" "$port" | as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
    # Its own settings win over what was copied from the primary (postgresql.auto.conf
    # is read last): it waits for no standby of its own once promoted, and says
    # who it is to the primary.
    printf "synchronous_standby_names = ''\ncluster_name = '%s'\n" "$(basename "$dir")" \
        | as_owner tee -a "$dir/data/postgresql.auto.conf" >/dev/null
    start "$dir" "$port"
    if [ "$mode" = sync ]; then names="*"; want="sync"; else names=""; want="async"; fi
    psql_at "$from" "$from_port" "ALTER SYSTEM SET synchronous_standby_names = '$names'" >/dev/null
    psql_at "$from" "$from_port" "SELECT pg_reload_conf()" >/dev/null
    for _ in $(seq 300); do
        state=$(psql_at "$from" "$from_port" "SELECT state || ' ' || sync_state FROM pg_stat_replication LIMIT 1")
        [ "$state" = "streaming $want" ] && exit 0
        sleep 0.1
    done
    echo "pg_pair.sh: the standby in $dir does not stream ($mode) after 30 s: '$state'" >&2
    exit 1
    ;;
stall)
    pid=$(postmaster "$dir")
    senders=
    for child in $(pgrep -P "$pid" || true); do
        tr '\0' ' ' <"/proc/$child/cmdline" 2>/dev/null | grep -q walsender && senders="$senders $child"
    done
    [ -n "$senders" ] || { echo "pg_pair.sh: no WAL sender runs in $dir" >&2; exit 1; }
    kill -STOP $senders
    ;;
crash)
    pid=$(postmaster "$dir")
    [ -n "$pid" ] || { echo "pg_pair.sh: no server runs in $dir" >&2; exit 1; }
    children=$(pgrep -P "$pid" || true)
    kill -KILL "$pid" $children 2>/dev/null || true
    for _ in $(seq 100); do
        left=
        for p in $pid $children; do alive "$p" && left=1; done
        [ -z "$left" ] && exit 0
        sleep 0.05
    done
    echo "pg_pair.sh: the server in $dir did not die" >&2; exit 1
    ;;
promote)
    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -w -t 60 promote >/dev/null
    ;;
stop)
    if running "$dir"; then
        as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null || true
    fi
    ;;
*)
    echo "pg_pair.sh: unknown command $cmd" >&2; exit 64 ;;
esac
