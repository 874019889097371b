"""The shipped apps as bench/crud.py measures them: a seeded database, the Jig server, the requests.

The database is built as ``jig serve`` builds it (``build_runtime`` on the repository's ``apps/``: every
extension, rules included), then seeded with one SQLAlchemy Core ``executemany`` per 20,000 rows straight
into Jig's tables:

* ``outsourcing.partner``: 20 partners (with phones).
* ``outsourcing.batch``: ``rows`` batches over about two years of history. Batches shipped in the last two
  weeks are still out (shipped / processing / awaiting QC), older ones are done except about 3 % that are
  stuck in shipped / processing past their expected return -- so the overdue filter the dashboard uses
  (``state in ('shipped', 'processing') and expected_return < today()``) matches a few percent.
  Names follow the series (``WF{YYYY}{MM}-nnnnnnn``, 7 digits so they never meet the 4-digit numbers the
  creates draw).
* a transition pool: ``pool`` extra batches in state ``shipped`` (version 1) that the ``start`` transition
  consumes, one per request, on both servers.

The Jig server is the product (``jig.app.Jig(...).wsgi()``: the rules extension attached, so the event rules
run in the write transaction; the embedded jobs are not started, as on a web worker that has Redis).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CONFIG_ENV = "JIG_BENCH_CONFIG"
PROCESSES = ["plating", "painting", "heat_treatment", "machining", "anodizing", "polishing"]
CHUNK = 20000


def config() -> dict[str, Any]:
    return json.loads(Path(os.environ[CONFIG_ENV]).read_text())


def jig_app() -> Any:
    """The Jig WSGI app on the shipped apps (gunicorn calls this)."""
    from jig.app import Jig
    from jig.config import Settings
    cfg = config()
    settings = Settings(database_url=cfg["database_url"], apps=[cfg["apps_dir"]], secret_key="bench-" + "x" * 40,
                        timezone=cfg["timezone"], auto_migrate=False, files_dir=cfg["files_dir"],
                        var_dir=cfg["var_dir"])
    return Jig(settings, migrate=False, embedded_jobs=False).wsgi()


def _batch_row(rnd: random.Random, i: int, rows: int, today: dt.date, partners: list[int]) -> dict[str, Any]:
    age = (rows - i) * 730 // max(rows, 1)  # oldest first: about two years of history
    ship = today - dt.timedelta(days=age)
    due = ship + dt.timedelta(days=rnd.randint(3, 12))
    if age < 14:
        state = rnd.choice(["shipped", "shipped", "processing", "processing", "awaiting_qc", "done"])
    elif rnd.random() < 0.03:
        state = rnd.choice(["shipped", "processing"])  # stuck: overdue
    else:
        state = "done"
    ret = None if state in ("shipped", "processing") else dt.datetime.combine(due, dt.time(10)) + \
        dt.timedelta(days=rnd.randint(-2, 3))
    stamp = dt.datetime.combine(ship, dt.time(8)) + dt.timedelta(seconds=i % 36000)
    return {"name": f"WF{ship:%Y%m}-{i:07d}", "state": state, "version": 1, "created_at": stamp,
            "created_by": "seed", "updated_at": ret or stamp, "updated_by": "seed",
            "customer": f"客户{rnd.randint(1, 500):03d}", "product_no": f"P-{rnd.randint(1, 20000):05d}",
            "quantity": rnd.randint(1, 5000), "partner": partners[rnd.randrange(len(partners))],
            "process": rnd.choice(PROCESSES), "ship_date": ship, "expected_return": due, "actual_return": ret,
            "returned_qty": None if ret is None else 100,
            "qc_result": ("pass" if state == "done" else "rework" if state == "awaiting_qc" else None),
            "sms_partner": False, "photos": None, "remark": None}


def seed_batches(rt: Any, rows: int, pool: int, quiet: bool = False) -> dict[str, Any]:
    from sqlalchemy import func, insert, select, text

    from runtime import clock
    partner_t = rt.tables["outsourcing.partner"]
    table = rt.tables["outsourcing.batch"]
    now = clock.now()
    sys_cols = {"version": 1, "created_at": now, "created_by": "seed", "updated_at": now, "updated_by": "seed"}
    with rt.db.write() as conn:
        conn.execute(insert(partner_t), [{"name": f"外协厂{i:02d}", "phone": f"1380000{i:04d}", "active": True,
                                          "process": None, **sys_cols} for i in range(1, 21)])
        partners = [r[0] for r in conn.execute(select(partner_t.c.id).order_by(partner_t.c.id))]
    rnd = random.Random(7)
    today = clock.today()
    t0 = time.perf_counter()
    done = 0
    # A big seed goes in without the kept aggregates' triggers (one upsert per row per kept table): their tables
    # are dropped first and created again after it, filled from the batches -- what `jig migrate` does when a
    # dashboard asks for a new kept aggregate on a table that already holds data (runtime/keptstore.py).
    from runtime import keptstore
    kept = [k for k in keptstore.specs(rt.tables) if k.entity.key == "outsourcing.batch"] if rows >= 100000 else []
    with rt.db.write() as conn:
        for k in kept:
            keptstore.apply_step(conn, rt.tables, "drop_kept", k.name)
    while done < rows:
        chunk = [_batch_row(rnd, i, rows, today, partners) for i in range(done, min(rows, done + CHUNK))]
        with rt.db.write() as conn:
            conn.execute(insert(table), chunk)
        done += len(chunk)
        if not quiet and rows >= 100000:
            print(f"\r  seeded {done:,} batches ({time.perf_counter() - t0:.0f} s)", end="", flush=True, file=sys.stderr)
    if not quiet and rows >= 100000:
        print(file=sys.stderr)
    with rt.db.write() as conn:
        for k in kept:
            keptstore.create(conn, rt.tables, k)
    # the transition pool: shipped batches the `start` transition consumes (created "last year", due in a week)
    stamp = dt.datetime.combine(today - dt.timedelta(days=400), dt.time(7))
    with rt.db.write() as conn:
        first_pool = None
        for start in range(0, pool, CHUNK):
            part = []
            for i in range(start, min(pool, start + CHUNK)):
                part.append({**_batch_row(rnd, rows, rows, today, partners), "name": f"WFPOOL-{i:07d}",
                             "state": "shipped", "actual_return": None, "returned_qty": None, "qc_result": None,
                             "created_at": stamp, "updated_at": stamp,
                             "expected_return": today + dt.timedelta(days=7)})
            conn.execute(insert(table), part)
        first, last = conn.execute(select(func.min(table.c.id), func.max(table.c.id))
                                   .where(~table.c.name.like("WFPOOL-%"))).one()
        if pool:
            first_pool, last_pool = conn.execute(select(func.min(table.c.id), func.max(table.c.id))
                                                 .where(table.c.name.like("WFPOOL-%"))).one()
        conn.execute(text("ANALYZE"))
    return {"partners": partners, "first_id": int(first), "last_id": int(last),
            "pool": [int(first_pool), int(last_pool)] if pool else [0, -1]}


def prepare(database_url: str | None, entity: str, rows: int, pool: int, tmp: Path) -> tuple[dict[str, Any], Any]:
    """Fresh database with the shipped apps, one user with an API token (planner for batches, supervisor for
    operations: the roles that create and move them), and the seeded rows of ``entity``.
    Returns the servers' config and the (open) runtime; the caller closes it."""
    from jig.app import build_runtime
    from jig.config import Settings
    from runtime import clock

    url = database_url or f"sqlite:///{tmp / 'shipped.db'}"
    timezone = clock.zone().key
    settings = Settings(database_url=url, apps=[str(ROOT / "apps")], secret_key="bench-" + "x" * 40,
                        timezone=timezone, auto_migrate=True, files_dir=str(tmp / "files"), var_dir=str(tmp))
    if not url.startswith("sqlite"):  # a throwaway PostgreSQL database: start from nothing
        from sqlalchemy import create_engine, text
        eng = create_engine(url)
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        eng.dispose()
    rt = build_runtime(settings)
    role = "planner" if entity == "outsourcing.batch" else "supervisor"
    rt.users.add("bench", "bench-password-1", [role])
    token = rt.users.create_token("bench")
    if entity == "outsourcing.batch":
        seeded = seed_batches(rt, rows, pool)
    else:
        from . import operation
        seeded = operation.seed(rt, rows, pool)
        with rt.db.write() as conn:
            from sqlalchemy import text
            conn.execute(text("ANALYZE"))
    batch = rt.tables["outsourcing.batch"]
    cfg = {"database_url": url, "apps_dir": str(ROOT / "apps"), "timezone": timezone, "files_dir": str(tmp / "files"),
           "var_dir": str(tmp), "batch_table": batch.name, "partner_table": rt.tables["outsourcing.partner"].name,
           "entity_table": rt.tables[entity].name,
           "history_table": rt.tables.system["jig_history"].name,
           "naming_table": rt.tables.system["jig_naming"].name, "token": token,
           "tokens": {hashlib.sha256(token.encode()).hexdigest(): {"username": "bench", "roles": [role]}},
           "rows": rows, "entity": entity, **seeded}
    return cfg, rt


# ---- the requests: the shapes the UI uses --------------------------------------------------------------

def list_shapes(cfg: dict[str, Any], today: dt.date) -> dict[str, str]:
    p = cfg["partners"][2]
    return {
        "list state": "state=shipped&limit=20",
        "list partner+state": f"partner={p}&state=processing&limit=20",
        "list overdue": f"state__in=shipped,processing&expected_return__lt={today.isoformat()}&limit=20",
        "list search": "q=P-0042&limit=20",
    }


def create_body(cfg: dict[str, Any], rnd: random.Random, today: dt.date) -> dict[str, Any]:
    return {"customer": "客户基准", "product_no": f"P-{rnd.randint(1, 20000):05d}", "quantity": rnd.randint(1, 500),
            "partner": cfg["partners"][rnd.randrange(len(cfg["partners"]))], "process": "plating",
            "ship_date": today.isoformat(), "expected_return": (today + dt.timedelta(days=7)).isoformat(),
            "remark": "bench"}


def makers(cfg: dict[str, Any], pool: Any) -> dict[str, Callable[[random.Random], tuple[str, str, Any]]]:
    """kind -> function(rnd) -> (method, path, json body or None). ``pool`` hands out transition ids."""
    from runtime import clock
    today = clock.today()
    base = "/api/outsourcing/batch"
    out: dict[str, Callable[[random.Random], tuple[str, str, Any]]] = {
        "get": lambda r: ("GET", f"{base}/{r.randint(cfg['first_id'], cfg['last_id'])}", None)}
    for label, qs in list_shapes(cfg, today).items():
        out[label] = (lambda q: lambda r: ("GET", f"{base}?{q}", None))(qs)
    out["create"] = lambda r: ("POST", base, create_body(cfg, r, today))

    def transition(r: random.Random) -> tuple[str, str, Any]:
        rid = pool.take()
        if rid is None:
            raise StopIteration
        return "POST", f"{base}/{rid}/transitions/start?version=1", None
    out["transition"] = transition
    return out


# ---- server time of the list shapes, the dashboard and the overdue scan, in process -----------------------

def server_times(rt: Any, cfg: dict[str, Any], repeat: int) -> list[tuple[str, float, float, float]]:
    """Median ms (wall clock, and CPU time of this process) of each list shape (``listquery.run``), the dashboard
    (``dashboards.compute``) and the overdue scan (the rule's SQL selection), inside one process on the seeded
    database. On a shared machine the CPU time is the steadier figure (SQLite runs in this process)."""
    from runtime import clock, listquery
    from runtime.auth import SYSTEM
    ent = rt.entity(*cfg["entity"].split("."))
    out: list[tuple[str, float, float, float]] = []

    def timed(label: str, target: float, fn: Callable[[], Any]) -> None:
        for _ in range(2):
            fn()
        times, cpu = [], []
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        out.append((label, statistics.median(times), statistics.median(cpu), target))

    if cfg["entity"] == "outsourcing.batch":
        shapes = list_shapes(cfg, clock.today())
    else:
        from . import operation
        shapes = operation.list_shapes(clock.now())
    for label, qs in shapes.items():
        args = dict(kv.split("=", 1) for kv in qs.split("&"))
        q = listquery.parse_args(ent, args)
        timed(f"{label} (`?{qs}`)", 50.0, lambda q=q: listquery.run(rt, SYSTEM, ent, q))
    from ui import dashboards
    app, name = ("outsourcing", "board") if cfg["entity"] == "outsourcing.batch" else \
        ("work_order_tracking", "production")
    board = rt.apps[app].sections["dashboards"][name]
    timed(f"dashboard {app}/{name} (all widgets)", 50.0, lambda: dashboards.compute(rt, SYSTEM, board, "zh"))
    for w in board.widgets:  # where the dashboard's time goes (no target of its own)
        title = w.title.get("en") if isinstance(w.title, dict) else w.title
        timed(f"  widget: {w.type} '{title}'", 0.0, lambda w=w: dashboards.compute_widget(rt, SYSTEM, w, "zh"))
    if cfg["entity"] == "outsourcing.batch":
        matched = _overdue_scan(rt)
        timed(f"overdue scan (rule overdue_reminder's selection: {matched:,} batches match)", 100.0,
              lambda: _overdue_scan(rt))
    return out


def _overdue_scan(rt: Any) -> int:
    """The overdue batches not yet reminded today: the ids the hourly reminder selects first (rules.engine
    ``scan_ids``: its `when` compiled to SQL, read from the planned index, with the once-per-day check), as
    in the first run of a day, when none has fired yet. The rows are then loaded 500 at a time as they fire."""
    from rules.engine import scan_ids
    from rules.service import RulesService
    engine = rt.services.get(RulesService).engine
    rule = next(r for r in engine.rules if r.key == "outsourcing.overdue_reminder")
    t = rt.tables.for_entity(rule.entity)
    unfired = (engine.firings, engine.occurrence(rule, None))  # today's occurrence, as the engine keys it
    with rt.db.read(snapshot=False) as conn:
        return len(sorted(conn.execute(scan_ids(rt.sql, rule, t, unfired)).scalars()))
