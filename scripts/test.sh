#!/usr/bin/env bash
# The project's test command.
#
#     ./scripts/test.sh [PYTEST ARGS...]     e.g. ./scripts/test.sh -x -k forms
#
# On a fresh Debian 12 machine (as root, or with sudo) it installs what is
# missing (PostgreSQL, Redis, Chromium, CJK fonts, python3-venv), creates
# .venv, installs the project with its "test" extra, runs ruff, starts a
# throwaway PostgreSQL and Redis, then runs the test suite twice: on SQLite
# and on PostgreSQL. Both runs must pass. Servers and their temporary
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
# pytest runs in the background while this shell waits for it, so that a
# SIGTERM/SIGINT sent to this script alone (CI cancel, `timeout`) is handled
# at once: cleanup stops pytest (and what it started), then the servers.
pytest_pid=
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
    local i pids
    if [ -n "$pytest_pid" ] && kill -0 "$pytest_pid" 2>/dev/null; then
        echo "== stopping pytest ==" >&2
        pids="$pytest_pid $(descendants "$pytest_pid" | tr '\n' ' ')"
        # shellcheck disable=SC2086
        kill -TERM $pids 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pytest_pid" 2>/dev/null || break
            sleep 0.1
        done
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
        wait "$pytest_pid" 2>/dev/null || true
    fi
    stop_services
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
start_postgres jig_test
start_redis
export JIG_TEST_CHROMIUM=${JIG_TEST_CHROMIUM:-/usr/bin/chromium}

# ------------------------------------------------------------ tests
run_suite() { # run_suite DB LABEL PYTEST-ARGS...
    local db=$1 label=$2 t0=$SECONDS rc=0
    shift 2
    echo
    echo "== tests on $label =="
    # <&0 keeps the terminal as stdin (for --pdb); a background job would
    # otherwise get /dev/null.
    JIG_TEST_DB=$db .venv/bin/python -m pytest -q -p no:cacheprovider "$@" <&0 &
    pytest_pid=$!
    wait "$pytest_pid" || rc=$?
    pytest_pid=
    echo "-- $label: $([ "$rc" -eq 0 ] && echo passed || echo "FAILED (pytest exit $rc)") in $((SECONDS - t0))s"
    return "$rc"
}

rc_sqlite=0
rc_pg=0
run_suite sqlite SQLite "$@" || rc_sqlite=$?
run_suite postgresql PostgreSQL "$@" || rc_pg=$?

echo
if [ "$rc_sqlite" -eq 0 ] && [ "$rc_pg" -eq 0 ]; then
    echo "== ALL PASSED (SQLite and PostgreSQL) in $((SECONDS - t_start))s =="
    exit 0
fi
echo "== FAILED: SQLite $([ "$rc_sqlite" -eq 0 ] && echo ok || echo "exit $rc_sqlite")," \
    "PostgreSQL $([ "$rc_pg" -eq 0 ] && echo ok || echo "exit $rc_pg") ==" >&2
exit 1
