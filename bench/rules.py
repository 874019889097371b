"""Rules benchmark: the overdue scan over 1,000,000 batches, SQL compilation vs Python evaluation.

One run, same database, same condition (the outsourcing app's overdue rule):

* SQL: the rule's `when` compiled to a WHERE clause (runtime.sqlcompile), the matching ids fetched;
  this is what the scheduler does each hour.
* Python: every record loaded and the same parsed expression evaluated on it (runtime.evaluate);
  what a per-record rule engine does. Measured on a sample and scaled, unless --full-python.

Also: expression evaluation time per rule once parsed (target ≤ 5 µs), and the scan on its own
(target < 1 s on SQLite). Prints a table; exit code 1 with --check when a target is missed.

    .venv/bin/python bench/rules.py [--rows 1000000] [--database URL] [--check]
    .venv/bin/python bench/rules.py --smoke    # 500 rows, few repeats: only shows it works (tests)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from jig.plugins import default_extensions  # noqa: E402
from runtime import clock  # noqa: E402
from runtime.context import RecordContext  # noqa: E402
from runtime.core import Runtime  # noqa: E402
from runtime.evaluate import evaluate, holds  # noqa: E402
from runtime.loader import load_apps  # noqa: E402

NOW = dt.datetime(2026, 11, 20, 10, 0, 0)
STATES = ["done"] * 85 + ["shipped"] * 5 + ["processing"] * 5 + ["awaiting_qc"] * 5


def seed(rt: Runtime, rows: int) -> None:
    partner = rt.tables["outsourcing.partner"]
    batch = rt.tables["outsourcing.batch"]
    rng = random.Random(7)
    with rt.db.write() as conn:
        conn.execute(partner.insert(), [{"id": i, "name": f"P{i}", "phone": f"1380000{i:04d}", "version": 1,
                                         "created_at": NOW, "updated_at": NOW, "active": True}
                                        for i in range(1, 201)])
    chunk = 50_000
    for start in range(0, rows, chunk):
        values = []
        for i in range(start, min(rows, start + chunk)):
            ship = NOW.date() - dt.timedelta(days=rng.randint(0, 120))
            values.append({"id": i + 1, "name": f"WF{i + 1:07d}", "state": rng.choice(STATES), "version": 1,
                           "created_at": NOW, "updated_at": NOW, "customer": "C", "product_no": f"P{i % 997}",
                           "quantity": 100, "partner": rng.randint(1, 200), "ship_date": ship,
                           "expected_return": ship + dt.timedelta(days=rng.randint(1, 40))})
        with rt.db.write() as conn:
            conn.execute(batch.insert(), values)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--database", default=None)
    ap.add_argument("--python-sample", type=int, default=100_000)
    ap.add_argument("--full-python", action="store_true")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--smoke", action="store_true", default=os.environ.get("JIG_BENCH_SMOKE") == "1",
                    help="a tiny run that only shows the script works (the test suite runs this)")
    args = ap.parse_args()
    if args.smoke:
        args.rows, args.python_sample = min(args.rows, 500), 500
    if args.database and args.database.startswith("postgresql://"):
        args.database = "postgresql+psycopg://" + args.database[len("postgresql://"):]
    repeats, n = (1, 2000) if args.smoke else (5, 200_000)
    tmp = tempfile.mkdtemp(prefix="jig-bench-rules-")
    url = args.database or f"sqlite:///{tmp}/rules.db"
    apps = load_apps([ROOT / "apps"], default_extensions())
    rt = Runtime(apps, url)
    rt.migrate()
    t0 = time.perf_counter()
    seed(rt, args.rows)
    print(f"database: {rt.db.dialect}; seeded {args.rows:,} batches in {time.perf_counter() - t0:.1f} s")
    rule = next(r for r in apps["outsourcing"].sections["rules"] if r.name == "overdue_reminder")
    ent = rule.entity
    table = rt.tables.for_entity(ent)
    assert rule.when is not None and ent is not None

    with clock.frozen(NOW):
        clause = rt.sql.condition(rule.when, table)
        sql_times = []
        for _ in range(repeats):
            t = time.perf_counter()
            with rt.db.read() as conn:
                ids = conn.execute(select(table.c.id).where(clause)).scalars().all()
            sql_times.append(time.perf_counter() - t)
        sql_s = statistics.median(sql_times)

        sample = args.rows if args.full_python else min(args.rows, args.python_sample)
        t = time.perf_counter()
        matched = 0
        with rt.db.read() as conn:
            for row in conn.execute(select(table).order_by(table.c.id).limit(sample)).mappings():
                if holds(rule.when, RecordContext(ent, dict(row), {}, None)) is True:
                    matched += 1
        py_sample_s = time.perf_counter() - t
        py_s = py_sample_s * args.rows / sample
        with rt.db.read() as conn:
            sql_in_sample = conn.execute(select(func.count()).where(clause, table.c.id <= sample)).scalar_one()
        agree = sql_in_sample == matched

        ctx = RecordContext(ent, {"state": "shipped", "expected_return": NOW.date() - dt.timedelta(days=3)}, {}, None)
        per_eval_us = min(timeit.repeat(lambda: evaluate(rule.when, ctx), number=n, repeat=repeats)) / n * 1e6

    print(f"rule: {rule.key}   when: {rule.when.source}")
    print(f"{'measure':44} {'value':>14} {'target':>12}  result")
    rows = [
        (f"overdue scan, SQL (median of {repeats})", f"{sql_s * 1000:.0f} ms", "< 1000 ms", sql_s < 1.0),
        (f"overdue scan, Python ({'all' if sample == args.rows else f'{sample:,} scaled'})", f"{py_s * 1000:.0f} ms",
         "", True),
        ("speed-up SQL vs Python", f"{py_s / sql_s:.0f}x", "", True),
        ("records found", f"{len(ids):,}", "", True),
        ("SQL and Python agree on the sample", "yes" if agree else "NO", "yes", agree),
        ("expression evaluation once parsed", f"{per_eval_us:.2f} µs", "≤ 5 µs", per_eval_us <= 5.0),
    ]
    for name, value, target, ok in rows:
        print(f"{name:44} {value:>14} {target:>12}  {'PASS' if ok else 'FAIL' if target else ''}")
    rt.db.dispose()
    return 1 if args.check and not all(ok for *_, ok in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
