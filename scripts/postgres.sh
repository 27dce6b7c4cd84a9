#!/bin/sh
# A throwaway PostgreSQL server for the dynamic-secret tests.
#
#   scripts/postgres.sh [start]   start a server, print its port on stdout
#   scripts/postgres.sh stop      stop it and remove its directory
#
# The server gets its own data directory (PG_DIR, default a new
# /tmp/vaultid-pg.XXXXXX; printed on stderr), listens on 127.0.0.1 only, on a
# free port, with password (scram-sha-256) authentication over TCP, so a
# login with a wrong password fails. The superuser is `postgres` with the
# password PG_SUPERUSER_PASSWORD (default `vaultid-test-root`).
#
# PostgreSQL refuses to run as root: as root, the server runs as the
# `postgres` user (runuser). When PostgreSQL is not installed and we are
# root on a Debian-like system, it is installed with apt-get.
set -eu

PG_SUPERUSER_PASSWORD="${PG_SUPERUSER_PASSWORD:-vaultid-test-root}"

find_bindir() {
    for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            echo "$d"
        fi
    done | sort -V | tail -n 1
}

BINDIR="$(find_bindir)"
if [ -z "$BINDIR" ] && command -v initdb >/dev/null 2>&1; then
    BINDIR="$(dirname "$(command -v initdb)")"
fi
if [ -z "$BINDIR" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "postgres.sh: installing postgresql with apt-get" >&2
        apt-get update >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
        BINDIR="$(find_bindir)"
    fi
fi
if [ -z "$BINDIR" ]; then
    echo "postgres.sh: PostgreSQL (initdb, pg_ctl) not found; install the postgresql package" >&2
    exit 1
fi

# Run a command as the server's owner.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

cmd="${1:-start}"
case "$cmd" in
stop)
    : "${PG_DIR:?PG_DIR must name the directory printed by start}"
    as_owner "$BINDIR/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
    exit 0
    ;;
start) ;;
*)
    echo "usage: $0 [start|stop]" >&2
    exit 2
    ;;
esac

PG_DIR="${PG_DIR:-$(mktemp -d /tmp/vaultid-pg.XXXXXX)}"
mkdir -p "$PG_DIR"
chmod 0755 "$PG_DIR"
if [ "$(id -u)" = 0 ]; then
    chown postgres "$PG_DIR"
fi
echo "postgres.sh: data in $PG_DIR" >&2

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    else
        echo $((20000 + $$ % 20000))
    fi
}

printf '%s\n' "$PG_SUPERUSER_PASSWORD" >"$PG_DIR/pwfile"
if [ "$(id -u)" = 0 ]; then
    chown postgres "$PG_DIR/pwfile"
fi
as_owner "$BINDIR/initdb" -D "$PG_DIR/data" -U postgres --pwfile="$PG_DIR/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1 || {
    cat "$PG_DIR/initdb.log" >&2
    exit 1
}
rm -f "$PG_DIR/pwfile"

# A port can be taken between choosing and binding: try a few.
for _ in 1 2 3 4 5; do
    PORT="$(free_port)"
    if as_owner "$BINDIR/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-p $PORT -k $PG_DIR -c listen_addresses=127.0.0.1" start >/dev/null 2>&1; then
        echo "$PORT"
        exit 0
    fi
done
cat "$PG_DIR/server.log" >&2 || true
exit 1
