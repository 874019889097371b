#!/usr/bin/env bash
# The project's test command.
#
#     ./scripts/test.sh [PYTEST ARGS...]     e.g. ./scripts/test.sh -x -k forms
#
# On a fresh Debian 12 machine (as root, or with sudo) it installs what is
# missing (PostgreSQL, Redis, Chromium, CJK fonts, python3-venv), creates
# .venv, installs the project with its "test" extra, runs ruff, starts a
# throwaway PostgreSQL and Redis, then runs the test suite twice: on SQLite
# and on PostgreSQL, both at once (JIG_TEST_SERIAL=1: one after the other).
# Both runs must pass. Servers and their temporary
# directory are removed on exit, whatever happens.
#
# Environment seen by the tests:
#     JIG_TEST_DB          sqlite | postgresql
#     JIG_TEST_PG_URL      postgresql+psycopg://postgres@127.0.0.1:PORT/jig_test
#     JIG_TEST_REDIS_URL   redis://127.0.0.1:PORT/0
#     JIG_TEST_CHROMIUM    /usr/bin/chromium
#
# Knobs: JIG_WANT_PG_PORT / JIG_WANT_REDIS_PORT force ports; JIG_PIP_ALWAYS=1 reruns
# "pip install" even when pyproject.toml did not change.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh

t_start=$SECONDS

# ------------------------------------------------------------ system packages
missing=()
mapfile -t missing < <(jig_missing_service_packages)
[ -x /usr/bin/chromium ] || missing+=(chromium)
# Chromium's own words (a file input's button, a date input's placeholder) in Chinese: the tests run it with
# LANGUAGE=zh_CN (tests/ui_support.py)
[ -f /usr/lib/chromium/locales/zh-CN.pak ] || missing+=(chromium-l10n)
if ! dpkg -s fonts-noto-cjk >/dev/null 2>&1 &&
    ! { command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=zh 2>/dev/null)" ]; }; then
    missing+=(fonts-noto-cjk)
fi
if ! command -v python3 >/dev/null 2>&1; then
    missing+=(python3 python3-venv)
elif [ ! -x .venv/bin/python ] && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3-venv)   # Debian ships ensurepip separately
fi
jig_apt_install "${missing[@]}"

# ------------------------------------------------------------ python
if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv =="
    python3 -m venv .venv
fi
# pip install is skipped when pyproject.toml did not change since the last
# successful install (it costs seconds even when everything is up to date).
if [ ! -f pyproject.toml ]; then
    echo "FAILED: no pyproject.toml in $PWD" >&2
    exit 1
fi
stamp=.venv/.jig-installed-test
want="$(sha256sum pyproject.toml | cut -d' ' -f1) test"
if [ "${JIG_PIP_ALWAYS:-}" = 1 ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "== pip install -e '.[test]' =="
    rm -f "$stamp"
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
    printf '%s\n' "$want" >"$stamp"
fi

# ------------------------------------------------------------ lint
echo "== ruff check =="
if ! .venv/bin/ruff check .; then
    echo "FAILED: ruff check is not clean" >&2
    exit 1
fi

# ------------------------------------------------------------ services
# The two passes run at the same time (each pytest in the background while
# this shell waits), so that a SIGTERM/SIGINT sent to this script alone (CI
# cancel, `timeout`) is handled at once: cleanup stops both pytests (and what
# they started), then the servers.
pytest_pids=()
pytest_tmps=()
# shellcheck disable=SC2317  # functions only called from traps
descendants() { # descendants PID: print PID's descendants' pids
    local child kids
    # /proc rather than ps: procps is not installed on minimal Debian.
    kids=$(cat /proc/"$1"/task/*/children 2>/dev/null) || true
    for child in $kids; do
        echo "$child"
        descendants "$child"
    done
}
# shellcheck disable=SC2317
cleanup() {
    local i pid pids=""
    for pid in "${pytest_pids[@]}"; do
        kill -0 "$pid" 2>/dev/null && pids="$pids $pid $(descendants "$pid" | tr '\n' ' ')"
    done
    if [ -n "${pids// /}" ]; then
        echo "== stopping pytest ==" >&2
        # shellcheck disable=SC2086
        kill -TERM $pids 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            local alive=0
            for pid in "${pytest_pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
            [ "$alive" -eq 0 ] && break
            sleep 0.1
        done
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
        for pid in "${pytest_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    fi
    stop_services
    [ "${#pytest_tmps[@]}" -gt 0 ] && rm -rf "${pytest_tmps[@]}"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
start_postgres jig_test
start_redis
export JIG_TEST_CHROMIUM=${JIG_TEST_CHROMIUM:-/usr/bin/chromium}
redis_base=${JIG_TEST_REDIS_URL%/*}

# ------------------------------------------------------------ tests
# Both passes run at once by default (the machine's cores are shared; most
# tests wait on processes and the network more than they compute). Each has
# its own Redis database and its own pytest temporary directory; the
# PostgreSQL pass creates a database per test. The SQLite pass prints as it
# goes, the PostgreSQL pass's output follows when it ends.
# JIG_TEST_SERIAL=1 (or --pdb among the arguments) runs them one after the other.
serial=${JIG_TEST_SERIAL:-0}
for arg in "$@"; do [ "$arg" = --pdb ] && serial=1; done
start_suite() { # start_suite DB LABEL REDIS-DB LOG PYTEST-ARGS...; sets suite_pid
    local db=$1 label=$2 rdb=$3 log=$4
    shift 4
    # a short temporary directory: Chromium's socket path under it must stay within 108 bytes
    local tmp
    tmp=$(mktemp -d "/tmp/jt-$db.XXXXXX")
    pytest_tmps+=("$tmp")
    if [ -n "$log" ]; then
        JIG_TEST_DB=$db JIG_TEST_REDIS_URL="$redis_base/$rdb" .venv/bin/python -m pytest -q -p no:cacheprovider \
            --basetemp="$tmp" "$@" >"$log" 2>&1 </dev/null &
    else
        # <&0 keeps the terminal as stdin (for --pdb); a background job would otherwise get /dev/null.
        JIG_TEST_DB=$db JIG_TEST_REDIS_URL="$redis_base/$rdb" .venv/bin/python -m pytest -q -p no:cacheprovider \
            --basetemp="$tmp" "$@" <&0 &
    fi
    suite_pid=$!
    pytest_pids+=("$suite_pid")
    echo "== tests on $label started =="
}
finish_suite() { # finish_suite PID LABEL T0; returns pytest's exit code
    local rc=0
    wait "$1" || rc=$?
    echo "-- $2: $([ "$rc" -eq 0 ] && echo passed || echo "FAILED (pytest exit $rc)") in $((SECONDS - $3))s"
    return "$rc"
}

rc_sqlite=0
rc_pg=0
t0=$SECONDS
if [ "$serial" = 1 ]; then
    start_suite sqlite SQLite 0 "" "$@"
    finish_suite "$suite_pid" SQLite "$t0" || rc_sqlite=$?
    t0=$SECONDS
    start_suite postgresql PostgreSQL 1 "" "$@"
    finish_suite "$suite_pid" PostgreSQL "$t0" || rc_pg=$?
else
    pg_log=$JIG_SVC_DIR/pytest-postgresql.log
    start_suite postgresql PostgreSQL 1 "$pg_log" "$@"
    pg_pid=$suite_pid
    start_suite sqlite SQLite 0 "" "$@"
    finish_suite "$suite_pid" SQLite "$t0" || rc_sqlite=$?
    echo
    echo "== tests on PostgreSQL (waiting for it to end) =="
    finish_suite "$pg_pid" PostgreSQL "$t0" >"$pg_log.rc" || rc_pg=$?
    cat "$pg_log" "$pg_log.rc"
fi

echo
if [ "$rc_sqlite" -eq 0 ] && [ "$rc_pg" -eq 0 ]; then
    echo "== ALL PASSED (SQLite and PostgreSQL) in $((SECONDS - t_start))s =="
    exit 0
fi
echo "== FAILED: SQLite $([ "$rc_sqlite" -eq 0 ] && echo ok || echo "exit $rc_sqlite")," \
    "PostgreSQL $([ "$rc_pg" -eq 0 ] && echo ok || echo "exit $rc_pg") ==" >&2
exit 1
