"""Page weight of the main pages: bytes sent for the list, form, dashboard, big-screen board and a link form.

    PYTHONPATH=. .venv/bin/python bench/weight.py
    PYTHONPATH=. .venv/bin/python bench/weight.py --baseline /path/to/old/checkout   # the same table for both
    PYTHONPATH=. .venv/bin/python bench/weight.py --smoke                          # the test suite runs this

Serves the shipped apps in process (Flask test client, SQLite in a temp folder, a handful of records),
signs in, requests each page as a browser that accepts gzip and then every script and stylesheet the page
links. "Wire" is the bytes in the response bodies as sent (gzip when the server compressed them),
"uncompressed" the same decompressed. "Repeat visit" is what a second visit downloads: the page itself
plus every asset not cacheable without asking again (a 304 costs a round trip, not bytes: counted in
the "revalidations" column). "slow 4G" is the wire bytes at 1.6 Mbit/s (Lighthouse's slow 4G), computed,
not measured.

``--baseline DIR`` measures a second checkout (e.g. ``git worktree add /tmp/before <commit>``) with the
same script in a subprocess, so both tables come from the same run and data.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _code_dir() -> Path:
    """The checkout measured: ``--code DIR`` (used by --baseline), else this one."""
    if "--code" in sys.argv:
        return Path(sys.argv[sys.argv.index("--code") + 1]).resolve()
    return ROOT


sys.path.insert(0, str(_code_dir()))

ASSET = re.compile(r'<(?:script|link)\b[^>]*?(?:src|href)="(/[^"]+\.(?:js|css)(?:\?[^"]*)?)"')
SLOW_4G_BPS = 1.6e6
PAGES = ["list", "form", "dashboard", "board", "link form"]


def _site() -> tuple[Any, dict[str, str]]:
    from runtime.auth import SYSTEM
    from tests.ui_support import build
    tmp = Path(tempfile.mkdtemp(prefix="jig-weight-"))
    rt, app = build(f"sqlite:///{tmp / 'weight.db'}", tmp)
    rt.users.add("boss", "boss-pass-1", ["admin"], display_name="管理员")
    E = rt.entity
    partners = [rt.records.create(SYSTEM, E("outsourcing", "partner"), {"name": f"外协厂{i}", "phone": "13800001111"})
                for i in range(3)]
    batches = [rt.records.create(SYSTEM, E("outsourcing", "batch"), {
        "customer": f"客户{i}", "product_no": f"P-{1000 + i}", "quantity": 100 + i, "partner": partners[i % 3]["id"],
        "process": "plating", "expected_return": "2099-01-01"}) for i in range(12)]
    from ui.linkstore import LinkStore
    store = rt.services.get(LinkStore)
    with rt.db.write() as conn:
        token = store.token_of(store.issue(conn, store.definition("outsourcing", "partner_update"),
                                           batches[0]["id"], "bench"))
    paths = {"list": "/a/outsourcing/batch", "form": f"/a/outsourcing/batch/{batches[0]['id']}",
             "dashboard": "/d/outsourcing/board", "board": "/board/outsourcing/board", "link form": f"/l/{token}"}
    return (rt, app), paths


def _cacheable(headers: Any) -> bool:
    cc = headers.get("Cache-Control", "")
    return "immutable" in cc or ("max-age=" in cc and "no-cache" not in cc and "max-age=0" not in cc)


def measure() -> dict[str, dict[str, float]]:
    from tests.ui_support import login
    (rt, app), paths = _site()
    client = app.test_client()
    login(client, "boss", "boss-pass-1")
    gz = {"Accept-Encoding": "gzip, deflate, br"}
    out: dict[str, dict[str, float]] = {}
    try:
        for name in PAGES:
            r = client.get(paths[name], headers=gz)
            assert r.status_code == 200, (name, r.status_code)
            html = gzip.decompress(r.data) if r.headers.get("Content-Encoding") == "gzip" else r.data
            wire, raw, repeat, revalidate = len(r.data), len(html), len(r.data), 0
            assets = sorted({u.replace("&amp;", "&") for u in ASSET.findall(html.decode("utf-8", "replace"))})
            for url in assets:
                a = client.get(url, headers=gz)
                assert a.status_code == 200, (url, a.status_code)
                body = len(a.data)
                wire += body
                raw += len(gzip.decompress(a.data)) if a.headers.get("Content-Encoding") == "gzip" else body
                if not _cacheable(a.headers):
                    revalidate += 1  # a conditional request each visit (304 when unchanged)
            out[name] = {"requests": 1 + len(assets), "raw": raw, "wire": wire, "repeat": repeat,
                         "revalidate": revalidate}
    finally:
        rt.db.dispose()
    return out


def _table(title: str, rows: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}\n")
    print("| page | requests | uncompressed | wire (first visit) | slow 4G | repeat visit | revalidations |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in PAGES:
        m = rows[name]
        print(f"| {name} | {m['requests']:.0f} | {m['raw'] / 1024:.1f} KB | {m['wire'] / 1024:.1f} KB | "
              f"{m['wire'] * 8 / SLOW_4G_BPS:.1f} s | {m['repeat'] / 1024:.1f} KB | {m['revalidate']:.0f} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, help="another checkout to measure the same way (before/after)")
    ap.add_argument("--code", type=Path, help=argparse.SUPPRESS)  # the checkout measured (set by --baseline)
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--smoke", action="store_true", default=os.environ.get("JIG_BENCH_SMOKE") == "1",
                    help="the same measurement (it is small), no baseline (the test suite runs this)")
    args = ap.parse_args()
    rows = measure()
    if args.json:
        print(json.dumps(rows))
        return 0
    if args.baseline and not args.smoke:
        env = dict(os.environ, PYTHONPATH=str(args.baseline.resolve()))
        res = subprocess.run([sys.executable, __file__, "--code", str(args.baseline), "--json"], env=env,
                             capture_output=True, text=True, cwd=str(args.baseline), timeout=600)
        if res.returncode != 0:
            print(res.stderr[-3000:], file=sys.stderr)
            return 1
        _table(f"Before ({args.baseline})", json.loads(res.stdout.strip().splitlines()[-1]))
    _table(f"Now ({_code_dir()})", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
