"""Server time of the main UI pages on a big outsourcing table.

Seeds N batches (default 1,000,000; SQLAlchemy Core executemany in chunks), then requests through the
whole WSGI app (session sign-in, Flask, templates) and reports the median and p90 of the server time
per page. Target: every page < 100 ms.

    .venv/bin/python bench/pages.py                       # SQLite in a temp dir
    .venv/bin/python bench/pages.py --rows 200000 --check # exit 1 when a page misses the target
    .venv/bin/python bench/pages.py --database postgresql+psycopg://...   (a throwaway database!)
    .venv/bin/python bench/pages.py --smoke               # a few hundred rows, two requests a page (tests)
    .venv/bin/python bench/pages.py --without-list-indexes   # drop the planned list indexes (as before issue 14)

Also times the API's list query (``listquery.run``, in process, limit 20) for the filter shapes the
UI offers on the batch list, and shows the plan SQLite/PostgreSQL takes for each.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from jig.app import build_runtime, create_app  # noqa: E402
from jig.config import Settings  # noqa: E402
from runtime import clock, listquery  # noqa: E402
from runtime.auth import SYSTEM  # noqa: E402
from runtime.core import Runtime  # noqa: E402
from runtime.tables import index_name, list_indexes  # noqa: E402

TARGET_MS = 100.0


def seed(rt: Runtime, rows: int, chunk: int = 20000) -> None:
    partners = [rt.records.create(SYSTEM, rt.entity("outsourcing", "partner"), {"name": f"外协厂{i:02d}"})["id"]
                for i in range(20)]
    table = rt.tables["outsourcing.batch"]
    rnd = random.Random(7)
    today = clock.today()
    processes = ["plating", "painting", "heat_treatment", "machining", "anodizing", "polishing"]
    t0 = time.perf_counter()
    done = 0
    while done < rows:
        batch = []
        for i in range(done, min(rows, done + chunk)):
            age = (rows - i) * 2000 // rows  # older rows first: about 2000 days of history
            ship = today - dt.timedelta(days=age)
            open_ = i >= rows - max(rows // 100, 50)  # the newest 1% are still out
            state = rnd.choice(["shipped", "processing", "awaiting_qc"]) if open_ else "done"
            due = ship + dt.timedelta(days=rnd.randint(2, 12))
            ret = None if state in ("shipped", "processing") else dt.datetime.combine(due, dt.time(10)) + \
                dt.timedelta(days=rnd.randint(-2, 3))
            stamp = dt.datetime.combine(ship, dt.time(8)) + dt.timedelta(seconds=i % 3600)
            batch.append({
                "name": f"WF{ship:%Y%m}-{i:07d}", "state": state, "version": 1, "created_at": stamp, "created_by": "bench",
                "updated_at": ret or stamp, "updated_by": "bench", "customer": f"客户{rnd.randint(1, 500):03d}",
                "product_no": f"P-{rnd.randint(1, 20000):05d}", "quantity": rnd.randint(1, 5000),
                "partner": partners[rnd.randrange(len(partners))], "process": rnd.choice(processes), "ship_date": ship,
                "expected_return": due, "actual_return": ret, "returned_qty": None if ret is None else 100,
                "qc_result": "pass" if state == "done" else None})
        with rt.db.write() as conn:
            conn.execute(insert(table), batch)
        done += len(batch)
        print(f"\rseeded {done:,} rows ({time.perf_counter() - t0:.0f} s)", end="", flush=True)
    print()
    with rt.db.write() as conn:
        conn.execute(text("ANALYZE"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--database")
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--without-list-indexes", action="store_true",
                    help="drop the indexes planned for list shapes (runtime.tables.list_indexes) before measuring")
    ap.add_argument("--smoke", action="store_true", default=os.environ.get("JIG_BENCH_SMOKE") == "1",
                    help="a tiny run that only shows the script works (the test suite runs this)")
    args = ap.parse_args()
    if args.smoke:
        args.rows, args.repeat = min(args.rows, 300), 2
    if args.database and args.database.startswith("postgresql://"):
        args.database = "postgresql+psycopg://" + args.database[len("postgresql://"):]
    tmp = Path(tempfile.mkdtemp(prefix="jig-bench-pages-"))
    url = args.database or f"sqlite:///{tmp / 'bench.db'}"
    # Built as `jig serve` builds it (jig.app): definitions from apps/, the database migrated, every extension.
    settings = Settings(database_url=url, apps=[str(ROOT / "apps")], secret_key="bench-" + "x" * 40,
                        files_dir=str(tmp / "files"), var_dir=str(tmp))
    rt = build_runtime(settings)
    seed(rt, args.rows)
    if args.without_list_indexes:
        drop_list_indexes(rt)
    rt.users.add("bench", "bench-pass-1", ["planner"])
    app = create_app(settings, rt)
    c = app.test_client()
    html = c.get("/login").get_data(as_text=True)
    tok = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    assert c.post("/login", data={"username": "bench", "password": "bench-pass-1", "csrf_token": tok}).status_code == 302
    pages = {
        "list, first page": "/a/outsourcing/batch",
        "list, filtered (state)": "/a/outsourcing/batch?state=shipped",
        "list, filtered (partner + state)": "/a/outsourcing/batch?partner=3&state=processing",
        "list, filtered (date range)": "/a/outsourcing/batch?expected_return__gte=" +
                                       (clock.today() - dt.timedelta(days=30)).isoformat(),
        "search, own number": "/a/outsourcing/batch?q=WF" + f"{clock.today():%Y%m}-",
        "search, partner name": "/a/outsourcing/batch?q=外协厂07",
        "search, no match": "/a/outsourcing/batch?q=nothing-like-this",
        "home page (my work)": "/",
        "outsourcing dashboard": "/d/outsourcing/board",
        "big-screen board": "/board/outsourcing/board",
    }
    print(f"\n{args.rows:,} batches, {rt.db.dialect}; median / p90 of {args.repeat} requests, server time (ms)\n")
    print("| page | median ms | p90 ms | result |\n|---|---:|---:|---|")
    failed = False
    for label, path in pages.items():
        for _ in range(1 if args.smoke else 3):
            assert c.get(path).status_code == 200, path
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            r = c.get(path)
            times.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200
        times.sort()
        med, p90 = statistics.median(times), times[max(0, math.ceil(len(times) * 0.9) - 1)]
        ok = med < TARGET_MS
        failed |= not ok
        print(f"| {label} (`{path.split('?')[0]}`) | {med:.1f} | {p90:.1f} | {'PASS' if ok else 'FAIL'} |")
    api_list_queries(rt, args.repeat)
    rt.close()
    return 1 if failed and args.check else 0


def drop_list_indexes(rt: Runtime) -> None:
    """The batch table's indexes as they were before the list indexes were planned (issue 14)."""
    ent = rt.entity("outsourcing", "batch")
    t = ent.table_name
    with rt.db.write() as conn:
        for cols in list_indexes(ent):
            conn.exec_driver_sql(f'DROP INDEX IF EXISTS "{index_name("ix", t, *cols)}"')
        conn.exec_driver_sql(f'CREATE INDEX "{index_name("ix", t, "partner", "state", "created_at")}" '
                             f'ON "{t}" (partner, state, created_at)')
        conn.execute(text("ANALYZE"))
    print("planned list indexes dropped (the declared (partner, state, created_at) put back)")


API_SHAPES = [{}, {"state": "done"}, {"state": "shipped"}, {"partner": "3"}, {"process": "plating"},
              {"partner": "3", "state": "processing"}]


def api_list_queries(rt: Runtime, repeat: int) -> None:
    """Median time of the API's list query (first page, limit 20) per filter shape, and its plan."""
    ent = rt.entity("outsourcing", "batch")
    print(f"\nAPI list query (listquery.run in process, limit 20, sort {ent.list_sort}); median of {repeat}\n")
    print("| filter | median ms | plan |\n|---|---:|---|")
    for args in API_SHAPES:
        q = listquery.parse_args(ent, {**args, "limit": "20"})
        for _ in range(2):
            listquery.run(rt, SYSTEM, ent, q)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            listquery.run(rt, SYSTEM, ent, q)
            times.append((time.perf_counter() - t0) * 1000)
        label = "&".join(f"{k}={v}" for k, v in args.items()) or "(none)"
        print(f"| `?{label}` | {statistics.median(times):.2f} | {explain(rt, ent, q)} |")


def explain(rt: Runtime, ent: object, q: listquery.ListQuery) -> str:
    cached = listquery._cached_page(rt, SYSTEM, ent, q)  # type: ignore[arg-type]
    if cached is None:
        return "?"
    stmt, params = cached
    sql = str(stmt.params(**params).compile(dialect=rt.db.engine.dialect, compile_kwargs={"literal_binds": True}))
    with rt.db.read() as conn:
        if rt.db.dialect == "sqlite":
            return "; ".join(str(r[3]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        lines = [str(r[0]).strip().lstrip("-> ") for r in conn.exec_driver_sql("EXPLAIN " + sql)]
        return "; ".join(ln.split("  (cost")[0] for ln in lines if "Scan" in ln or "Sort" in ln)


if __name__ == "__main__":
    sys.exit(main())
