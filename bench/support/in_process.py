"""``bench/crud.py --in-process``: CPU time per request of Jig and the hand-written baseline in one process.

Both WSGI apps (the same ``jig_app()`` and ``baseline_app()`` the servers run) are called through werkzeug's test
client in this process, no server, no sockets, no client threads: what is compared is the Python work each side
does per request, which a shared machine disturbs far less than a server's wall-clock rate. Per request kind:
``rounds`` alternating rounds (Jig, baseline, baseline, Jig, ...) of ``n`` requests each, after a warm-up, each
round timed with ``time.process_time()``; the **minimum** round per side is reported (the round least disturbed
by other work) with the ratio baseline µs / Jig µs -- the per-core throughput ratio.
"""

from __future__ import annotations

import importlib
import os
import random
import time
from pathlib import Path
from typing import Any

from . import shipped
from .client import Pool


def compare(cfg: dict[str, Any], cfg_path: Path, spec: Any, kinds: list[str], n: int, rounds: int,
            target_of: Any) -> bool:
    import werkzeug.test
    os.environ[shipped.CONFIG_ENV] = str(cfg_path)
    apps = {"jig": shipped.jig_app(), "baseline": importlib.import_module(spec.baseline).baseline_app()}
    first, last = cfg["pool"]
    half = (last - first + 1) // 2  # transitions: each side its own half of the pool
    pools = {"jig": Pool(first, first + half - 1), "baseline": Pool(first + half, last)}
    makers = {side: spec.makers(cfg, pools[side]) for side in apps}
    headers = {"Authorization": f"Bearer {cfg['token']}"}

    def run(side: str, kind: str, count: int, rnd: random.Random) -> float:
        client = werkzeug.test.Client(apps[side])
        make = makers[side][kind]
        done = 0
        t0 = time.process_time()
        for _ in range(count):
            try:
                method, path, body = make(rnd)
            except StopIteration:
                break
            r = client.open(path, method=method, json=body, headers=headers)
            if r.status_code >= 300:
                raise RuntimeError(f"{side} {kind}: {r.status_code} {r.get_data()[:200]!r}")
            done += 1
        return (time.process_time() - t0) * 1e6 / max(done, 1)

    print(f"\n| {cfg['entity']}, in process | jig CPU µs/req | baseline CPU µs/req | ratio | target | result |"
          f" rounds (jig / baseline) |")
    print("|---|---:|---:|---:|---:|---|---|")
    ok = True
    for kind in kinds:
        rnd = random.Random(11)
        times: dict[str, list[float]] = {"jig": [], "baseline": []}
        for side in apps:
            run(side, kind, max(n // 5, 1), rnd)
        for i in range(rounds):
            for side in (("jig", "baseline") if i % 2 == 0 else ("baseline", "jig")):
                times[side].append(run(side, kind, n, rnd))
        j, b = min(times["jig"]), min(times["baseline"])
        ratio = b / j if j else 0.0
        good = ratio >= target_of(kind)
        ok &= good
        print(f"| {kind} | {j:.0f} | {b:.0f} | {ratio:.2f} | >= {target_of(kind):.1f} | {'PASS' if good else 'FAIL'} | "
              f"{' '.join(f'{x:.0f}' for x in times['jig'])} / {' '.join(f'{x:.0f}' for x in times['baseline'])} |")
    return ok
