"""CPU cost of one API request through the whole Flask stack, this tree against another tree.

Throughput on a shared 2-core machine swings by 2x from one minute to the next; CPU time spent by the
process per request does not, so this is the benchmark for "did this change make requests dearer?"
(e.g. the definitions-revision check every request now does). Run (from the repository root)::

    .venv/bin/python bench/request_cost.py --against /path/to/older/checkout   # ratio this tree / that one
    .venv/bin/python bench/request_cost.py                                        # this tree only

Each tree is measured in its own process (PYTHONPATH set to the tree), alternately, ``--rounds``
times; the minimum CPU microseconds per request of each kind is reported. The app and data are
``bench/crud.py``'s (8-field item, 20 000 rows by default, role ``clerk``, bearer token), served by
the tree's own product path: ``jig.app.Jig(settings).wsgi()`` where the tree has it, else
``create_app(settings, build_runtime(settings))``. Requests go through Flask's test client, so the
WSGI server is not measured (it is the same for both trees).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KINDS = {"get": 2000, "list": 600, "create": 400}


def measure(rows: int, scale: float) -> dict[str, float]:
    """Runs inside the measured tree's process: CPU microseconds per request of each kind."""
    import random

    from bench import crud  # the measured tree's bench/crud.py (a namespace package: bench/rules.py shadows nothing)
    from jig.config import Settings
    tmp = Path(tempfile.mkdtemp(prefix="jig-cost-"))
    cfg = crud.prepare(None, rows, tmp)
    settings = Settings(database_url=cfg["database_url"], apps=[cfg["apps_dir"]], secret_key="bench",
                        auto_migrate=False, files_dir=cfg["files_dir"])
    try:
        from jig.app import Jig
        app = Jig(settings, migrate=False).wsgi()
    except ImportError:
        from jig.app import build_runtime, create_app
        app = create_app(settings, build_runtime(settings, migrate=False))
    client = app.test_client()
    headers = {"Authorization": f"Bearer {cfg['token']}"}
    rnd = random.Random(7)
    out: dict[str, float] = {}
    for kind, n in KINDS.items():
        n = max(20, int(n * scale))
        for warm in (True, False):
            count = n // 10 if warm else n
            start = time.process_time()
            for i in range(count):
                if kind == "get":
                    r = client.get(f"/api/bench/item/{rnd.randint(1, rows)}", headers=headers)
                elif kind == "list":
                    r = client.get("/api/bench/item?status=open&qty__gte=5&limit=20", headers=headers)
                else:
                    r = client.post("/api/bench/item", headers=headers, data=crud.create_body(
                        f"N{'w' if warm else 'm'}{i:07d}-{rnd.random()}"[:40]), content_type="application/json")
                assert r.status_code < 300, (kind, r.status_code, r.get_data(as_text=True)[:300])
            if not warm:
                out[kind] = (time.process_time() - start) / count * 1e6
    return out


def run_tree(tree: Path, rows: int, scale: float) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    code = ("import json, importlib.util as u; "
            f"spec = u.spec_from_file_location('request_cost', {str(Path(__file__).resolve())!r}); "
            "m = u.module_from_spec(spec); spec.loader.exec_module(m); "
            f"print(json.dumps(m.measure({rows}, {scale})))")
    r = subprocess.run([sys.executable, "-c", code], env=env, cwd=tree, capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise SystemExit(f"measuring {tree} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--against", help="another checkout to compare with (its runtime/, jig/, rules/ ... are used)")
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the default request counts")
    ap.add_argument("--smoke", action="store_true", help="a few hundred rows and requests (the test suite's run)")
    args = ap.parse_args(argv)
    if args.smoke or os.environ.get("JIG_BENCH_SMOKE") == "1":
        args.rows, args.rounds, args.scale = 300, 1, 0.02
    trees = [ROOT] + ([Path(args.against).resolve()] if args.against else [])
    best: dict[Path, dict[str, float]] = {t: {} for t in trees}
    for _ in range(args.rounds):
        for tree in trees:
            for kind, us in run_tree(tree, args.rows, args.scale).items():
                best[tree][kind] = min(us, best[tree].get(kind, us))
    print(f"CPU microseconds per request (min of {args.rounds} rounds; {args.rows} rows; Flask test client)")
    head = f"{'request':8} {'this tree':>10}"
    if args.against:
        head += f" {'other':>10} {'ratio':>7}"
    print(head)
    for kind in KINDS:
        line = f"{kind:8} {best[ROOT][kind]:10.0f}"
        if args.against:
            other = best[trees[1]][kind]
            line += f" {other:10.0f} {best[ROOT][kind] / other:7.3f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
