#!/usr/bin/env bash
# Run the demo: ./scripts/demo.sh [jig demo ARGS...]
#
# Creates .venv when missing, installs the project into it, then runs
# "jig demo" (loads apps/, migrates a SQLite database under ./var/, creates
# demo users and data, prints the URL and logins, serves on 127.0.0.1:8000).
set -euo pipefail

cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
    if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        echo "== installing python3-venv ==" >&2
        if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    fi
    echo "== creating .venv ==" >&2
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e .

exec .venv/bin/jig demo "$@"
