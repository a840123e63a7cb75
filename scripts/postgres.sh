#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests: `postgres.sh start DIR PORT` creates a cluster in DIR
# (initdb, trust auth, listening on 127.0.0.1:PORT only), starts it and prints its URL;
# `postgres.sh stop DIR [PORT]` stops it. Used by .ci/run to set VKURSE_STATS_TEST_DATABASE_URL.
# initdb refuses to run as root, so as root the server runs as the `postgres` user (or `nobody`).
set -euo pipefail

usage() { echo "usage: $0 start DIR PORT | $0 stop DIR [PORT]" >&2; exit 2; }
[[ $# -ge 2 && $# -le 3 ]] || usage
cmd=$1 dir=$2 port=${3:-}
if [[ $cmd == start ]]; then
    [[ $port =~ ^[0-9]+$ ]] || { echo "error: PORT must be a number, got '$port'" >&2; exit 2; }
fi

find_bin() {
    local name=$1 candidate
    if candidate=$(command -v "$name" 2>/dev/null); then echo "$candidate"; return; fi
    for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
        if [[ -x $candidate/$name ]]; then echo "$candidate/$name"; return; fi
    done
    echo "error: $name not found on PATH or in /usr/lib/postgresql/*/bin (apt-get install postgresql)" >&2
    exit 1
}
INITDB=$(find_bin initdb)
PG_CTL=$(find_bin pg_ctl)

# Run a command as the server's owner: ourselves, or an unprivileged user when we are root.
owner=$(id -un)
if [[ $(id -u) -eq 0 ]]; then
    if id postgres >/dev/null 2>&1; then owner=postgres; else owner=nobody; fi
fi
as_owner() {
    if [[ $owner == "$(id -un)" ]]; then "$@"
    elif command -v runuser >/dev/null 2>&1; then runuser -u "$owner" -- "$@"
    else su -s /bin/sh "$owner" -c "$(printf '%q ' "$@")"
    fi
}

case $cmd in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [[ $(id -u) -eq 0 ]]; then chown "$owner" "$dir"; fi
    if [[ ! -f $dir/pgdata/PG_VERSION ]]; then
        as_owner "$INITDB" -D "$dir/pgdata" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
            >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    # The socket goes to DIR too: /var/run/postgresql may not exist or be writable.
    as_owner "$PG_CTL" -D "$dir/pgdata" -l "$dir/server.log" -w -t 60 start \
        -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
stop)
    dir=$(cd "$dir" && pwd)
    as_owner "$PG_CTL" -D "$dir/pgdata" -m fast -w stop >/dev/null
    ;;
*) usage ;;
esac
