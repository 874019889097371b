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
# pip install is skipped when pyproject.toml did not change since the last
# successful install (a warm start is then only "jig demo"); JIG_PIP_ALWAYS=1
# forces it. The stamp is the one scripts/test.sh uses, with its own suffix.
sha=$(sha256sum pyproject.toml | cut -d' ' -f1)
stamp=.venv/.jig-installed-demo
want="$sha demo"
installed() { # the demo's own stamp, or the test script's (its install includes the project)
    [ -x .venv/bin/jig ] && { [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] ||
        [ "$(cat .venv/.jig-installed-test 2>/dev/null)" = "$sha test" ]; }
}
if [ "${JIG_PIP_ALWAYS:-}" = 1 ] || ! installed; then
    echo "== pip install -e . ==" >&2
    rm -f "$stamp"
    .venv/bin/python -m pip install -q --disable-pip-version-check -e .
    printf '%s\n' "$want" >"$stamp"
fi

exec .venv/bin/jig demo "$@"
