"""Every script in bench/ runs, in its tiny smoke mode, so that none can rot unnoticed.

Each script honours ``--smoke`` (or ``JIG_BENCH_SMOKE=1``): a few hundred rows, fractions of a second
per measurement, the Python client instead of wrk, screenshots into a temp dir. The test asserts that it
exits 0 and prints its table -- never a timing: the figures of a smoke run mean nothing.

On PostgreSQL (``JIG_TEST_DB=postgresql``) the database scripts get a fresh throwaway database each; the
browser scripts build their own SQLite database and run in the SQLite run only; weight.py and load.py serve their
own SQLite database too and run in the PostgreSQL run only (the two runs take turns, so their time is shared).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import BACKEND
from .ui_support import CHROMIUM

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"

# script -> a line its table prints (or several)
SCRIPTS: dict[str, str | tuple[str, ...]] = {
    "crud.py": ("path      jig req/s", "| outsourcing.batch | jig req/s |", "| dashboard outsourcing/board",
                "| work_order_tracking.operation | jig req/s |"),
    "pages.py": "| page | median ms | p90 ms | result |",
    "rules.py": "SQL and Python agree on the sample",
    "sync.py": "kingdee.sales_orders: ok",
    "links.py": "| Mobile form |",
    "screenshots.py": "| screenshot | size |",
    "designer_screenshots.py": "| screenshot | size |",
    "request_cost.py": "CPU microseconds per request",
    "weight.py": "| page | requests | uncompressed |",
    "imports.py": "| entity | jig rows/s | bulk insert rows/s | ratio jig/bulk |",
    "load.py": ("| route | requests | req/s | p50 ms | p95 ms |", "throughput: 1 web process"),
}
DATABASE = {"crud.py", "pages.py", "rules.py", "sync.py", "imports.py"}  # take --database
BROWSER = {"links.py", "screenshots.py", "designer_screenshots.py"}
OWN_SQLITE = {"weight.py", "load.py"}  # own SQLite database (load.py: its topology on it): the PostgreSQL run only


def test_every_bench_script_is_covered() -> None:
    assert sorted(p.name for p in BENCH.glob("*.py")) == sorted(SCRIPTS)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_bench_script_smoke(script: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    args = [sys.executable, str(BENCH / script), "--smoke"]
    if script in BROWSER:
        if BACKEND != "sqlite":
            pytest.skip("the browser scripts serve their own SQLite database: run in the SQLite run")
        if not os.path.exists(CHROMIUM):
            pytest.skip(f"{CHROMIUM} not installed")
        pytest.importorskip("playwright.sync_api")
    if script in OWN_SQLITE and BACKEND == "sqlite":  # the SQLite pass carries the browser scripts
        pytest.skip("serves its own SQLite database whatever the pass: runs in the PostgreSQL pass")
    if script in DATABASE and BACKEND != "sqlite":
        if script not in ("crud.py", "sync.py"):  # the two whose PostgreSQL paths differ most; keeps the pass short
            pytest.skip("smoke-run in the SQLite pass")
        args += ["--database", request.getfixturevalue("database_url")]
    env = dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(tmp_path), JIG_BENCH_SMOKE="1")
    docs = sorted((ROOT / "docs" / "screenshots").glob("*.png"))
    stamps = [p.stat().st_mtime_ns for p in docs]
    out = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{script} exited {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    expected = SCRIPTS[script]
    for line in (expected,) if isinstance(expected, str) else expected:
        assert line in out.stdout, out.stdout[-3000:]
    assert [p.stat().st_mtime_ns for p in docs] == stamps, "a smoke run must not overwrite docs/screenshots"
