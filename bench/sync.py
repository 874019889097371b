"""ERP sync throughput: a full pull of 100,000 orders, then an incremental sync among 1,000,000.

    .venv/bin/python bench/sync.py                  # SQLite (temp file)
    .venv/bin/python bench/sync.py --orders 20000 --base 100000   # quicker
    .venv/bin/python bench/sync.py --database postgresql+psycopg://...   # a throwaway database

Part 1 pulls every order (with its lines) from the simulator's Kingdee endpoints
through the shipped connector (apps/connectors/kingdee.yaml: login, ExecuteBillQuery
pages of 2,000 positional rows, mapping with customer/product lookups, bulk upsert by
FBillNo with history) and prints records/s (target >= 5,000/s on SQLite).
Part 2 loads --base orders straight into the tables (as if synced before), changes
100 of them in the ERP and times one incremental sync (target < 1 s).
The simulator runs in a separate process so it does not compete for the GIL.
--smoke: 100 orders, 300 synced, 5 changed; checks the counts, not the time (the test suite runs it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def serve(port_q: Any, cmd_q: Any, orders: int, lines: int, base_when: str) -> None:
    from connectors.simulator import Erp, Simulator
    erp = Erp(seed=1)
    erp.seed(orders, lines=lines, when=dt.datetime.fromisoformat(base_when))
    sim = Simulator(erp).start()
    port_q.put(sim.url)
    while True:
        cmd = cmd_q.get()
        if cmd == "stop":
            sim.stop()
            return
        if cmd[0] == "change":
            erp.seed(0)
            for no in erp.nos[:: max(1, len(erp.nos) // cmd[1])][: cmd[1]]:
                erp.change(no)
            port_q.put("changed")


def start_sim(orders: int, lines: int, when: dt.datetime) -> tuple[Any, Any, Any, str]:
    port_q: Any = mp.Queue()
    cmd_q: Any = mp.Queue()
    proc = mp.Process(target=serve, args=(port_q, cmd_q, orders, lines, when.isoformat()), daemon=True)
    proc.start()
    url = port_q.get(timeout=900)
    return proc, port_q, cmd_q, url


def runtime(url: str, fresh: bool = False) -> Any:
    from connectors.extension import extension
    from jig.plugins import default_extensions
    from runtime.core import Runtime
    from runtime.loader import load_apps
    rt = Runtime(load_apps([ROOT / "apps"], default_extensions()), url, extensions=[extension])
    if fresh and rt.db.dialect != "sqlite":  # one throwaway database for both parts: start from empty tables
        rt.tables.metadata.drop_all(rt.db.engine)
    rt.migrate()
    extension.attach(rt)
    return rt


def seed_synced(rt: Any, n: int, lines: int, when: dt.datetime) -> None:
    """n orders as a previous sync would have left them (same numbers and lines as the simulator's)."""
    from sqlalchemy import insert, select

    from connectors.simulator import Erp
    erp = Erp(seed=1)  # the same generator as the simulator process: identical orders
    app = rt.apps["work_order_tracking"]
    so = rt.tables.for_entity(app.entities["sales_order"])
    ln = rt.tables.for_entity(app.entities["sales_order"].fields["lines"].child)
    cust = rt.tables.for_entity(app.entities["customer"])
    prod = rt.tables.for_entity(app.entities["product"])
    with rt.db.write() as c:
        c.execute(insert(cust), [{"code": k, "name": v, "version": 1, "created_at": when, "updated_at": when}
                                 for k, v in erp.customers])
        c.execute(insert(prod), [{"code": k, "name": v, "kind": "finished", "unit": "件", "version": 1,
                                  "created_at": when, "updated_at": when} for k, v in erp.materials])
        cid = {k: i for i, k in c.execute(select(cust.c.id, cust.c.code))}
        pid = {k: i for i, k in c.execute(select(prod.c.id, prod.c.code))}
    batch = 20000
    done = 0
    while done < n:
        k = min(batch, n - done)
        heads, kids = [], []
        for _ in range(k):
            o = erp.add_order(lines=lines, when=when)
            heads.append({"id": o["id"], "erp_no": o["no"], "name": f"SO-{o['id']}", "customer": cid[o["cust"]],
                          "order_date": dt.date.fromisoformat(o["date"]),
                          "delivery_date": dt.date.fromisoformat(o["lines"][0]["delivery"]), "state": "draft",
                          "version": 1, "created_at": when, "updated_at": when})
            for i, line in enumerate(o["lines"]):
                kids.append({"parent_id": o["id"], "idx": i, "product": pid[line["mat"]], "qty": line["qty"],
                             "delivery_date": dt.date.fromisoformat(line["delivery"]),
                             "erp_entry_id": str(line["entry"])})
        erp.orders.clear()
        erp.nos.clear()
        erp.by_modify.clear()
        with rt.db.write() as c:
            c.execute(insert(so), heads)
            c.execute(insert(ln), kids)
        done += k
        print(f"\r  loaded {done:,} orders", end="", flush=True)
    print()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--base", type=int, default=1_000_000)
    ap.add_argument("--changed", type=int, default=100)
    ap.add_argument("--lines", type=int, default=2)
    ap.add_argument("--database", help="database URL (default: a temp SQLite file)")
    ap.add_argument("--skip-full", action="store_true")
    ap.add_argument("--skip-incremental", action="store_true")
    ap.add_argument("--smoke", action="store_true", default=os.environ.get("JIG_BENCH_SMOKE") == "1",
                    help="a tiny run that only shows the script works (the test suite runs this)")
    args = ap.parse_args()
    if args.smoke:
        args.orders, args.base, args.changed = min(args.orders, 100), min(args.base, 300), 5
    if args.database and args.database.startswith("postgresql://"):
        args.database = "postgresql+psycopg://" + args.database[len("postgresql://"):]
    timed = not args.smoke  # a smoke run checks the counts only
    from connectors.pull import find, sync
    from runtime import clock
    os.environ["KINGDEE_APP_SECRET"] = "sim-secret"
    tmp = tempfile.mkdtemp()
    ok = True
    past = (clock.now() - dt.timedelta(days=3)).replace(microsecond=0)
    if not args.skip_full:
        print(f"== full pull: {args.orders:,} orders x {args.lines} lines")
        proc, q, cmd, url = start_sim(args.orders, args.lines, past)
        os.environ["KINGDEE_URL"] = url
        rt = runtime(args.database or f"sqlite:///{tmp}/full.db")
        conn = find(rt, "kingdee")
        started = time.perf_counter()
        res = sync(rt, conn)
        took = time.perf_counter() - started
        rate = res.fetched / took
        print(f"  {res.summary()}\n  {took:.2f} s, {rate:,.0f} records/s ({res.rows / took:,.0f} rows/s)  "
              f"target >= 5,000/s: {'PASS' if rate >= 5000 else 'FAIL'}")
        ok &= res.status == "ok" and res.created == args.orders and (rate >= 5000 or not timed)
        cmd.put("stop")
        proc.join(10)
        rt.db.dispose()
    if not args.skip_incremental:
        print(f"== incremental: {args.changed} changed among {args.base:,} synced orders")
        proc, q, cmd, url = start_sim(args.base, args.lines, past)
        os.environ["KINGDEE_URL"] = url
        db = args.database or f"sqlite:///{tmp}/incr.db"
        rt = runtime(db, fresh=True)
        t0 = time.perf_counter()
        seed_synced(rt, args.base, args.lines, past)
        print(f"  loaded in {time.perf_counter() - t0:.0f} s")
        from connectors import state
        with rt.db.write() as c:
            state.get_state(c, rt, "kingdee", "sales_orders")
            state.set_state(c, rt, "kingdee", "sales_orders", watermark=(past + dt.timedelta(minutes=5))
                            .strftime("%Y-%m-%d %H:%M:%S"))
        cmd.put(("change", args.changed))
        q.get(timeout=60)
        time.sleep(1.1)
        conn = find(rt, "kingdee")
        started = time.perf_counter()
        res = sync(rt, conn)
        took = time.perf_counter() - started
        print(f"  {res.summary()}\n  {took * 1000:.0f} ms  target < 1 s: {'PASS' if took < 1 else 'FAIL'}")
        ok &= res.status == "ok" and res.updated == args.changed and (took < 1 or not timed)
        cmd.put("stop")
        proc.join(10)
        rt.db.dispose()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
