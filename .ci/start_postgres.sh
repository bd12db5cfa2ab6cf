#!/usr/bin/env bash
# Start a throw-away PostgreSQL server for the calibration-database tests and export its URL.
#
# Usage (either form):
#   source .ci/start_postgres.sh          # exports ASTROREDUCE_TEST_PG_URL in this shell
#   eval "$(bash .ci/start_postgres.sh)"  # the script prints the export lines on stdout
#   bash .ci/start_postgres.sh --stop     # stop the server named by $ASTROREDUCE_TEST_PG_DATA
#
# What it does, on Debian, as root or as an ordinary user, with CI=true or not:
#   1. installs the server (apt-get install postgresql) if no /usr/lib/postgresql/*/bin/initdb;
#   2. initialises a cluster in a new temporary directory (owned by the 'postgres' user when run
#      as root, since the server refuses to run as root), trust authentication, local only;
#   3. starts it on 127.0.0.1 on a free port (unix socket in the same directory) and waits for it;
#   4. creates the database 'astroreduce_test';
#   5. exports ASTROREDUCE_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:PORT/astroreduce_test
#      and ASTROREDUCE_TEST_PG_DATA=<cluster directory> (for --stop), and prints them as
#      'export' lines on stdout. Progress messages go to stderr.

_astroreduce_pg_main() {
    local log_prefix="start_postgres:"
    local runas=()

    if [ "${1:-}" = "--stop" ]; then
        local data="${2:-${ASTROREDUCE_TEST_PG_DATA:-}}"
        if [ -z "$data" ] || [ ! -d "$data" ]; then
            echo "$log_prefix no cluster directory to stop (ASTROREDUCE_TEST_PG_DATA)" >&2
            return 1
        fi
        local bindir
        bindir="$(cat "$data/.bindir" 2>/dev/null)" || bindir=""
        if [ "$(id -u)" = "0" ]; then runas=(runuser -u postgres --); fi
        "${runas[@]}" "$bindir/pg_ctl" -D "$data/cluster" -m fast -w stop >&2 || return 1
        rm -rf "$data"
        return 0
    fi

    # 1. server binaries
    local initdb
    initdb="$(ls -1 /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)"
    if [ -z "$initdb" ]; then
        if [ "$(id -u)" != "0" ]; then
            echo "$log_prefix PostgreSQL server is not installed and we are not root" >&2
            return 1
        fi
        echo "$log_prefix installing the postgresql package" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2 || return 1
        apt-get install -y -qq postgresql >&2 || return 1
        initdb="$(ls -1 /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)"
        if [ -z "$initdb" ]; then
            echo "$log_prefix installing postgresql gave no initdb" >&2
            return 1
        fi
    fi
    local bindir
    bindir="$(dirname "$initdb")"

    # 2. cluster directory and the user running the server
    local data
    data="$(mktemp -d "${TMPDIR:-/tmp}/astroreduce-pg.XXXXXX")" || return 1
    echo "$bindir" > "$data/.bindir"
    if [ "$(id -u)" = "0" ]; then
        if ! id postgres >/dev/null 2>&1; then
            useradd --system --home-dir "$data" --shell /bin/sh postgres || return 1
        fi
        chown postgres "$data"
        chmod 700 "$data"
        runas=(runuser -u postgres --)
    fi
    "${runas[@]}" "$bindir/initdb" -D "$data/cluster" -U postgres --auth=trust \
        --encoding=UTF8 --no-locale >"$data/initdb.log" 2>&1 || {
        echo "$log_prefix initdb failed:" >&2; cat "$data/initdb.log" >&2; return 1; }

    # 3. a free port on the loopback interface, then start and wait
    local port
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')" \
        || return 1
    "${runas[@]}" "$bindir/pg_ctl" -D "$data/cluster" -l "$data/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$data \
            -c fsync=off -c max_connections=100" start >&2 || {
        echo "$log_prefix the server did not start:" >&2; cat "$data/server.log" >&2; return 1; }

    # 4. the test database
    "${runas[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres astroreduce_test >&2 || {
        echo "$log_prefix createdb failed" >&2; return 1; }

    # 5. tell the caller
    export ASTROREDUCE_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$port/astroreduce_test"
    export ASTROREDUCE_TEST_PG_DATA="$data"
    echo "$log_prefix PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data $data)" >&2
    echo "export ASTROREDUCE_TEST_PG_URL=$ASTROREDUCE_TEST_PG_URL"
    echo "export ASTROREDUCE_TEST_PG_DATA=$ASTROREDUCE_TEST_PG_DATA"
    return 0
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    # sourced: export into the caller's shell, never exit it
    _astroreduce_pg_main "$@" >/dev/null
else
    set -uo pipefail
    _astroreduce_pg_main "$@"
    exit $?
fi
