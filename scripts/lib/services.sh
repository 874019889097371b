# shellcheck shell=bash
# Throwaway PostgreSQL and Redis servers for tests and benchmarks.
#
# Source this file from bash, then:
#
#     source scripts/lib/services.sh
#     ensure_service_packages          # optional: apt-get install what is missing
#     trap stop_services EXIT          # always clean up
#     start_postgres [DBNAME]          # default DBNAME: jig_test
#     start_redis
#     ...                              # use $JIG_TEST_PG_URL / $JIG_TEST_REDIS_URL
#     stop_services                    # idempotent; also fine to call from a trap
#
# Everything lives in one temporary directory (/tmp/jig-services.XXXXXX) which
# stop_services removes. Servers listen on 127.0.0.1 only, on a free port
# (55432 / 56379 when free, otherwise one the kernel picks; force one with
# JIG_WANT_PG_PORT / JIG_WANT_REDIS_PORT). JIG_PG_BINDIR forces the PostgreSQL
# bin directory (default: newest /usr/lib/postgresql/*/bin).
#
# State (JIG_SVC_* variables) is kept in the calling shell and not exported:
# stop_services only stops what the same shell started, and a nested script
# sourcing this file starts its own servers.
#
# Exported after start_postgres:
#     JIG_TEST_PG_URL   postgresql+psycopg://postgres@127.0.0.1:PORT/DBNAME
#     JIG_PG_HOST=127.0.0.1  JIG_PG_PORT  JIG_PG_USER=postgres  JIG_PG_DB
# Exported after start_redis:
#     JIG_TEST_REDIS_URL   redis://127.0.0.1:PORT/0
#     JIG_REDIS_PORT
#
# The file does not change shell options (set -e etc.) of the caller.

# ---------------------------------------------------------------- helpers

_jig_svc_log() { printf '[services] %s\n' "$*" >&2; }

# Run a command as root: directly when we are root, else through sudo.
_jig_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        _jig_svc_log "need root (or sudo) to run: $*"
        return 1
    fi
}

# apt-get install the given packages (nothing happens when none are given).
# Runs "apt-get update" once per shell, and only when something is installed.
# While installing, a temporary policy-rc.d (unless one exists) keeps the
# packages' system services (postgresql@15-main on 5432, redis on 6379) from
# being started: we never use them.
jig_apt_install() {
    [ "$#" -gt 0 ] || return 0
    local policy=/usr/sbin/policy-rc.d made_policy=0 rc=0 t0=$SECONDS log
    _jig_svc_log "installing system packages: $*"
    if [ ! -e "$policy" ]; then
        if _jig_as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"; then
            made_policy=1
        fi
    fi
    if [ -z "${_JIG_APT_UPDATED:-}" ]; then
        _jig_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || rc=$?
        [ "$rc" -ne 0 ] || _JIG_APT_UPDATED=1
    fi
    if [ "$rc" -eq 0 ]; then
        log=$(mktemp /tmp/jig-apt.XXXXXX)
        _jig_as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1 || rc=$?
        [ "$rc" -eq 0 ] || cat "$log" >&2
        rm -f "$log"
    fi
    if [ "$made_policy" -eq 1 ]; then
        _jig_as_root rm -f "$policy" || true
    fi
    if [ "$rc" -ne 0 ]; then
        _jig_svc_log "apt-get failed (exit $rc) installing: $*"
        return "$rc"
    fi
    _jig_svc_log "installed in $((SECONDS - t0))s: $*"
}

# Directory holding initdb, pg_ctl... of the newest installed PostgreSQL.
jig_pg_bindir() {
    if [ -n "${JIG_PG_BINDIR:-}" ]; then
        printf '%s\n' "$JIG_PG_BINDIR"
        return 0
    fi
    local initdb
    initdb=$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n1)
    [ -x "$initdb" ] || return 1
    dirname "$initdb"
}

# Print (one per line) the apt packages missing for start_postgres/start_redis.
jig_missing_service_packages() {
    jig_pg_bindir >/dev/null 2>&1 || echo postgresql
    command -v redis-server >/dev/null 2>&1 || echo redis-server
    # redis-cli comes with redis-server (redis-tools), psql with postgresql.
}

# Install PostgreSQL server and Redis server when missing.
ensure_service_packages() {
    local missing
    mapfile -t missing < <(jig_missing_service_packages)
    jig_apt_install "${missing[@]}"
}

# Print a free TCP port on 127.0.0.1: the preferred one if free, else any.
_jig_free_port() {
    python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    s.close()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

# Create (once) the temporary directory shared by both servers.
_jig_svc_dir() {
    if [ -z "${JIG_SVC_DIR:-}" ] || [ ! -d "$JIG_SVC_DIR" ]; then
        # Under /tmp: the postgres user must be able to reach it, and unix
        # socket paths are limited to ~100 characters.
        JIG_SVC_DIR=$(mktemp -d /tmp/jig-services.XXXXXX) || return 1
        chmod 755 "$JIG_SVC_DIR"
    fi
}

# Run a PostgreSQL tool as the postgres user (postgres refuses to run as root).
_jig_as_pg() {
    if [ "$(id -u)" -ne 0 ]; then
        (cd / && "$@")
        return
    fi
    if ! getent passwd postgres >/dev/null; then
        _jig_svc_log "creating system user postgres"
        useradd --system --user-group --home-dir /var/lib/postgresql \
            --no-create-home --shell /bin/bash postgres || return 1
    fi
    # cd /: the postgres user may not be allowed into the caller's directory.
    (cd / && runuser -u postgres -- "$@")
}

# ---------------------------------------------------------------- postgres

# start_postgres [DBNAME]: new cluster (trust auth, no fsync), database DBNAME.
start_postgres() {
    local db=${1:-jig_test} bindir port data i
    if [ -n "${JIG_SVC_PG_DATA:-}" ]; then
        _jig_svc_log "postgres already started (port ${JIG_PG_PORT:-?})"
        return 0
    fi
    bindir=$(jig_pg_bindir) || {
        _jig_svc_log "no PostgreSQL server found (/usr/lib/postgresql/*/bin/initdb); run ensure_service_packages"
        return 1
    }
    _jig_svc_dir || return 1
    mkdir -p "$JIG_SVC_DIR/pg" || return 1
    data=$JIG_SVC_DIR/pg/data
    if [ "$(id -u)" -eq 0 ]; then
        _jig_as_pg true || return 1   # creates the postgres user if needed
        chown postgres: "$JIG_SVC_DIR/pg" || return 1
    fi
    JIG_SVC_PG_BIN=$bindir
    JIG_SVC_PG_DATA=$data
    port=${JIG_WANT_PG_PORT:-$(_jig_free_port 55432)} || return 1

    _jig_as_pg "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 \
        --locale=C.UTF-8 --no-sync >"$JIG_SVC_DIR/pg/initdb.log" 2>&1 || {
        _jig_svc_log "initdb failed:"
        cat "$JIG_SVC_DIR/pg/initdb.log" >&2
        return 1
    }
    _jig_as_pg sh -c "cat >> '$data/postgresql.conf'" <<EOF || return 1

# --- throwaway test cluster (scripts/lib/services.sh) ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$JIG_SVC_DIR/pg'
fsync = off
full_page_writes = off
synchronous_commit = off
max_connections = 200
log_min_messages = warning
log_min_error_statement = panic
EOF
    _jig_as_pg "$bindir/pg_ctl" -D "$data" -l "$JIG_SVC_DIR/pg/server.log" \
        -w -t 60 start >/dev/null || {
        _jig_svc_log "PostgreSQL failed to start:"
        cat "$JIG_SVC_DIR/pg/server.log" >&2 2>/dev/null
        return 1
    }
    for ((i = 0; i < 100; i++)); do
        "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" && break
        sleep 0.1
    done
    "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" || {
        _jig_svc_log "PostgreSQL does not answer on 127.0.0.1:$port"
        return 1
    }
    "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db" || return 1

    export JIG_PG_HOST=127.0.0.1 JIG_PG_PORT=$port JIG_PG_USER=postgres JIG_PG_DB=$db
    export JIG_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$port/$db"
    _jig_svc_log "PostgreSQL $(basename "$(dirname "$bindir")") on 127.0.0.1:$port, database $db"
}

# ---------------------------------------------------------------- redis

start_redis() {
    local port dir i
    if [ -n "${JIG_SVC_REDIS_PID:-}" ]; then
        _jig_svc_log "redis already started (port ${JIG_REDIS_PORT:-?})"
        return 0
    fi
    command -v redis-server >/dev/null 2>&1 || {
        _jig_svc_log "redis-server not found; run ensure_service_packages"
        return 1
    }
    _jig_svc_dir || return 1
    dir=$JIG_SVC_DIR/redis
    mkdir -p "$dir" || return 1
    port=${JIG_WANT_REDIS_PORT:-$(_jig_free_port 56379)} || return 1

    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
        --daemonize no --dir "$dir" --pidfile "$dir/redis.pid" \
        --logfile "$dir/redis.log" </dev/null >"$dir/stdout.log" 2>&1 &
    JIG_SVC_REDIS_PID=$!
    for ((i = 0; i < 100; i++)); do
        [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ] && break
        kill -0 "$JIG_SVC_REDIS_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ] || {
        _jig_svc_log "redis failed to start on 127.0.0.1:$port:"
        cat "$dir/redis.log" "$dir/stdout.log" >&2 2>/dev/null
        return 1
    }
    export JIG_REDIS_PORT=$port
    export JIG_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
    _jig_svc_log "redis $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on 127.0.0.1:$port"
}

# ---------------------------------------------------------------- stop

# Stop whatever was started and remove the temporary directory. Never fails.
stop_services() {
    local pid i
    if [ -n "${JIG_SVC_PG_DATA:-}" ] && [ -f "$JIG_SVC_PG_DATA/postmaster.pid" ]; then
        pid=$(head -n1 "$JIG_SVC_PG_DATA/postmaster.pid" 2>/dev/null || true)
        if ! _jig_as_pg "$JIG_SVC_PG_BIN/pg_ctl" -D "$JIG_SVC_PG_DATA" -m fast \
            -w -t 30 stop >/dev/null 2>&1; then
            if [ -n "$pid" ]; then
                _jig_svc_log "pg_ctl stop failed; killing postmaster $pid"
                kill -9 "$pid" 2>/dev/null || true
            fi
        fi
        # pg_ctl returns when the pid file is gone, a moment before the
        # postmaster process is; wait (max 2s) for it to be reaped.
        for ((i = 0; i < 40 && ${#pid} > 0; i++)); do
            [ -e "/proc/$pid" ] || break
            sleep 0.05
        done
    fi
    if [ -n "${JIG_SVC_REDIS_PID:-}" ]; then
        pid=$JIG_SVC_REDIS_PID
        if kill "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null || true   # reaps it when it is our child
            for ((i = 0; i < 50; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -9 "$pid" 2>/dev/null || true
        fi
    fi
    if [ -n "${JIG_SVC_DIR:-}" ]; then
        case $JIG_SVC_DIR in
            /tmp/jig-services.*) rm -rf "$JIG_SVC_DIR" || true ;;
        esac
    fi
    unset JIG_SVC_DIR JIG_SVC_PG_DATA JIG_SVC_PG_BIN JIG_SVC_REDIS_PID \
        JIG_TEST_PG_URL JIG_TEST_REDIS_URL JIG_PG_HOST JIG_PG_PORT JIG_PG_USER \
        JIG_PG_DB JIG_REDIS_PORT
    return 0
}

# Exported so that child bash processes (e.g. a bench driver) can call them too.
export -f _jig_svc_log _jig_as_root jig_apt_install jig_pg_bindir \
    jig_missing_service_packages ensure_service_packages _jig_free_port \
    _jig_svc_dir _jig_as_pg start_postgres start_redis stop_services
