"""bench/crud.py's synthetic measurement: the 8-field ``bench.item`` through Jig and through the hand-written
app of bench/support/synthetic.py (see bench/crud.py's docstring for what is measured and how).

gunicorn imports this module and calls ``jig_app()`` for the Jig side.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import json
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from .client import Server, request

ROOT = Path(__file__).resolve().parents[2]

APP = "bench"
CONFIG_ENV = "JIG_BENCH_CONFIG"
TARGETS = {"get": 0.8, "list": 0.75, "create": 0.6}
LIST_QUERY = "status=open&qty__gte=5&limit=20"

BENCH_YAML = """\
app: bench
title: {zh: 基准, en: Bench}
version: 1
roles:
  clerk: {label: {zh: 文员, en: Clerk}}
entities:
  category:
    title: {zh: 类别, en: Category}
    fields:
      code: {type: text, label: {zh: 编号, en: Code}, required: true, unique: true, max_length: 40}
      name: {type: text, label: {zh: 名称, en: Name}, required: true, max_length: 100}
    permissions:
      clerk: {read: true}
  item:
    title: {zh: 物料, en: Item}
    fields:
      code: {type: text, label: {zh: 编号, en: Code}, required: true, unique: true, max_length: 40}
      name: {type: text, label: {zh: 名称, en: Name}, required: true, max_length: 100}
      qty: {type: integer, label: {zh: 数量, en: Qty}, required: true, min: 0}
      price: {type: decimal, label: {zh: 单价, en: Price}, scale: 2, min: 0}
      status:
        type: select
        label: {zh: 状态, en: Status}
        required: true
        default: "'open'"
        options:
          - {value: open, label: {zh: 开启, en: Open}}
          - {value: hold, label: {zh: 暂停, en: On hold}}
          - {value: closed, label: {zh: 关闭, en: Closed}}
      due: {type: date, label: {zh: 到期日, en: Due}}
      category: {type: link, to: category, label: {zh: 类别, en: Category}, required: true}
      active: {type: boolean, label: {zh: 启用, en: Active}, default: true}
    permissions:
      clerk: {read: true, create: true}
"""


def _config() -> dict[str, Any]:
    return json.loads(Path(os.environ[CONFIG_ENV]).read_text())


# =====================================================================================================
# The Jig side (gunicorn imports this module and calls jig_app())
# =====================================================================================================

def jig_app() -> Any:
    from jig.config import Settings
    cfg = _config()
    settings = Settings(database_url=cfg["database_url"], apps=[cfg["apps_dir"]], secret_key="bench",
                        timezone=cfg["timezone"], auto_migrate=False, files_dir=cfg["files_dir"])
    try:  # the product path: a Jig that follows published definitions (checks their revision once a second)
        from jig.app import Jig
        return Jig(settings, migrate=False).wsgi()
    except ImportError:  # an older tree (--jig-path) without the composition root
        from jig.app import build_runtime, create_app
        return create_app(settings, build_runtime(settings, migrate=False))


# =====================================================================================================
# Orchestration: database, servers, load, report
# =====================================================================================================

def prepare(database_url: str | None, rows: int, tmp: Path) -> dict[str, Any]:
    """Fresh Jig database with the bench app, a user + token, and seeded rows; returns the server config."""
    from jig.app import build_runtime
    from jig.config import Settings
    from runtime import clock

    apps_dir = tmp / "apps"
    apps_dir.mkdir()
    (apps_dir / "bench.yaml").write_text(BENCH_YAML)
    url = database_url or f"sqlite:///{tmp / 'bench.db'}"
    timezone = "Asia/Shanghai"
    settings = Settings(database_url=url, apps=[str(apps_dir)], secret_key="bench", timezone=timezone,
                        auto_migrate=False, files_dir=str(tmp / "files"))
    rt = build_runtime(settings, migrate=False)
    if rt.db.dialect != "sqlite":  # a throwaway PG database: start from empty tables
        rt.tables.metadata.drop_all(rt.db.engine)
    rt.migrate()
    rt.users.add("bench", "bench-password", ["clerk"])
    token = rt.users.create_token("bench")
    item = rt.tables.for_entity(rt.entity(APP, "item"))
    category = rt.tables.for_entity(rt.entity(APP, "category"))
    rnd = random.Random(42)
    now = clock.now()
    sys_cols = dict(version=1, created_at=now, created_by="seed", updated_at=now, updated_by="seed")
    with rt.db.write() as conn:
        conn.execute(category.insert(), [dict(code=f"C{i:03d}", name=f"Category {i}", **sys_cols)
                                         for i in range(1, 51)])
        conn.execute(item.insert(), [dict(
            code=f"I{i:06d}", name=f"Item {i} 物料", qty=rnd.randint(0, 20),
            price=Decimal(rnd.randint(0, 100000)).scaleb(-2), status=rnd.choice(("open", "hold", "closed")),
            due=dt.date(2025, 1, 1) + dt.timedelta(days=rnd.randint(0, 400)) if rnd.random() < 0.9 else None,
            category=rnd.randint(1, 50), active=rnd.random() < 0.8, **sys_cols) for i in range(1, rows + 1)])
    first_id = 1
    with rt.db.read() as conn:
        from sqlalchemy import func, select
        first_id, last_id = conn.execute(select(func.min(item.c.id), func.max(item.c.id))).one()
    rt.close()
    return {"database_url": url, "apps_dir": str(apps_dir), "timezone": timezone, "files_dir": str(tmp / "files"),
            "item_table": item.name, "category_table": category.name, "token": token,
            "tokens": {hashlib.sha256(token.encode()).hexdigest(): {"username": "bench", "roles": ["clerk"]}},
            "first_id": int(first_id), "last_id": int(last_id)}


def create_body(code: str) -> str:
    return json.dumps({"code": code, "name": "Bench item", "qty": 7, "price": "12.50", "status": "hold",
                       "due": "2025-06-30", "category": 3, "active": True})


def equivalence(jig: int, base: int, cfg: dict[str, Any]) -> list[str]:
    """Both apps must answer alike; returns the differences found."""
    tok = cfg["token"]
    problems: list[str] = []

    def same(label: str, method: str, path: str, body: Any = None, token: str | None = tok,
             strip: tuple[str, ...] = ()) -> None:
        a = request(jig, method, path, token, body)
        b = request(base, method, path, token, body)
        if a[0] != b[0]:
            problems.append(f"{label}: status jig {a[0]} vs baseline {b[0]} ({a[1]} / {b[1]})")
            return
        ja, jb = a[1], b[1]
        if isinstance(ja, dict) and "error" in ja:
            if set(ja["error"]["fields"]) != set(jb["error"]["fields"]):
                problems.append(f"{label}: error fields jig {ja['error']['fields']} vs baseline {jb['error']['fields']}")
            return
        if strip:
            ja = {k: v for k, v in ja.items() if k not in strip}
            jb = {k: v for k, v in jb.items() if k not in strip}
        if ja != jb:
            problems.append(f"{label}: bodies differ\n  jig:      {ja}\n  baseline: {jb}")

    same("get", "GET", f"/api/bench/item/{cfg['first_id']}")
    same("get missing", "GET", "/api/bench/item/999999999")
    same("get without token", "GET", f"/api/bench/item/{cfg['first_id']}", token=None)
    same("get bad token", "GET", f"/api/bench/item/{cfg['first_id']}", token="jig_nope")
    same("list", "GET", f"/api/bench/item?{LIST_QUERY}")
    nxt = request(jig, "GET", f"/api/bench/item?{LIST_QUERY}", tok)[1]["next"]
    same("list page 2", "GET", f"/api/bench/item?{LIST_QUERY}&after={nxt}")
    same("list bad filter", "GET", "/api/bench/item?qty__gte=x")
    same("list unknown field", "GET", "/api/bench/item?colour=red")
    # creates: valid (compare all but id/code/times), then invalid bodies
    for label, body in [
        ("create minimal", {"name": "n", "qty": "3", "category": 1}),
        ("create full", {"name": "n", "qty": 3, "price": "1,234.5", "status": "open", "due": "2025/01/02",
                         "category": {"id": 2}, "active": "否"}),
    ]:
        code = f"EQ-{label.replace(' ', '-')}"
        a = request(jig, "POST", "/api/bench/item", tok, {**body, "code": code + "-j"})
        b = request(base, "POST", "/api/bench/item", tok, {**body, "code": code + "-b"})
        drop = ("id", "code", "created_at", "updated_at")
        if a[0] != b[0] or {k: v for k, v in a[1].items() if k not in drop} != \
                {k: v for k, v in b[1].items() if k not in drop}:
            problems.append(f"{label}: jig {a} vs baseline {b}")
    invalid = [
        ("not an object", "[1, 2]"),
        ("missing required", {"name": "x"}),
        ("bad types", {"code": "BAD1", "name": "x", "qty": True, "price": "abc", "status": "maybe",
                       "due": "31.12.2025", "category": 1, "active": "perhaps"}),
        ("below min", {"code": "BAD2", "name": "x", "qty": -1, "price": "-0.01", "category": 1}),
        ("too many decimals", {"code": "BAD3", "name": "x", "qty": 1.5, "price": "1.005", "category": 1}),
        ("too long", {"code": "X" * 41, "name": "x", "qty": 1, "category": 1}),
        ("link missing", {"code": "BAD4", "name": "x", "qty": 1, "category": 999999}),
        ("duplicate code", {"code": "I000001", "name": "x", "qty": 1, "category": 1}),
        ("unknown and system fields", {"code": "BAD5", "name": "x", "qty": 1, "category": 1, "colour": "red",
                                       "created_by": "me", "id": 5}),
    ]
    for label, body in invalid:
        same(f"create {label}", "POST", "/api/bench/item", body)
    same("create without token", "POST", "/api/bench/item", {"code": "BAD6"}, token=None)
    return problems


# ---- load generation --------------------------------------------------------------------------------

WRK_LUA = """\
local kind, token, first, last, prefix = "%(kind)s", "%(token)s", %(first)d, %(last)d, "%(prefix)s"
local tc = 0
function setup(thread) thread:set("tid", tc); tc = tc + 1 end
local n = 0
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
function request()
  n = n + 1
  if kind == "get" then
    return wrk.format("GET", "/api/bench/item/" .. math.random(first, last))
  elseif kind == "list" then
    return wrk.format("GET", "/api/bench/item?%(list)s")
  else
    local body = string.format('{"code":"%%s-%%d-%%d","name":"Bench item","qty":7,"price":"12.50",' ..
      '"status":"hold","due":"2025-06-30","category":3,"active":true}', prefix, tid or 0, n)
    return wrk.format("POST", "/api/bench/item", nil, body)
  end
end
"""


def run_wrk(port: int, kind: str, cfg: dict[str, Any], duration: float, conns: int, prefix: str,
            tmp: Path) -> tuple[float, int]:
    script = tmp / f"{prefix}.lua"
    script.write_text(WRK_LUA % {"kind": kind, "token": cfg["token"], "first": cfg["first_id"],
                                 "last": cfg["last_id"], "prefix": prefix, "list": LIST_QUERY})
    out = subprocess.run(["wrk", "-t1", f"-c{conns}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
                          "-s", str(script), f"http://127.0.0.1:{port}"],
                         capture_output=True, text=True, timeout=duration + 60).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return float(m.group(1)), (int(bad.group(1)) if bad else 0) + (sum(map(int, errs.groups())) if errs else 0)


def run_python(port: int, kind: str, cfg: dict[str, Any], duration: float, conns: int, prefix: str,
               tmp: Path) -> tuple[float, int]:
    del tmp
    headers = {"Authorization": f"Bearer {cfg['token']}", "Content-Type": "application/json"}
    counts = [0] * conns
    errors = [0] * conns
    start = time.monotonic()
    stop = start + duration

    def worker(i: int) -> None:
        rnd = random.Random(i)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n = 0
        try:
            while time.monotonic() < stop:
                if kind == "get":
                    c.request("GET", f"/api/bench/item/{rnd.randint(cfg['first_id'], cfg['last_id'])}",
                              headers=headers)
                elif kind == "list":
                    c.request("GET", f"/api/bench/item?{LIST_QUERY}", headers=headers)
                else:
                    c.request("POST", "/api/bench/item", body=create_body(f"{prefix}-{i}-{n}"), headers=headers)
                r = c.getresponse()
                r.read()
                if r.status >= 300:
                    errors[i] += 1
                n += 1
        except OSError:
            errors[i] += 1
        finally:
            c.close()
        counts[i] = n

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + 30)
    elapsed = time.monotonic() - start
    return sum(counts) / elapsed, sum(errors)


# ---- the run ----------------------------------------------------------------------------------------

def load_time(repeats: int = 5) -> float:
    from jig.plugins import default_extensions
    from runtime.loader import load_apps
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            load_apps(["apps"], default_extensions())  # every section: rules, connectors, dashboards
            times.append(time.perf_counter() - t0)
    finally:
        os.chdir(cwd)
    return statistics.median(times)


def run_synthetic(args: Any, tmp: Path, drive: Any) -> bool:
    """The synthetic ``bench.item`` against its hand-written baseline (the table this script always printed)."""
    tmp.mkdir()
    rows = args.rows or 20000
    servers: list[Server] = []
    failed = False
    try:
        t0 = time.perf_counter()
        cfg = prepare(args.database, rows, tmp)
        print(f"database: {cfg['database_url'].split('@')[-1]}; seeded {rows} items in "
              f"{time.perf_counter() - t0:.1f} s")
        cfg_path = tmp / "config.json"
        cfg_path.write_text(json.dumps(cfg))
        jig = Server("jig", "bench.support.synthetic_run:jig_app", cfg_path, tmp / "jig.log", args.jig_path)
        servers.append(jig)
        base = Server("baseline", "bench.support.synthetic:baseline_app", cfg_path, tmp / "baseline.log")
        servers.append(base)
        jig.wait_ready(cfg["token"])
        base.wait_ready(cfg["token"])

        problems = equivalence(jig.port, base.port, cfg)
        if problems:
            failed = True
            print("WARNING: the two apps do not answer alike:")
            for p in problems:
                print("  -", p)
        else:
            print("equivalence: both apps answer alike (get, list, cursor, 401/404/400/422 cases, creates)")

        kinds = args.only or ["get", "list", "create"]
        results: dict[str, dict[str, list[float]]] = {k: {"jig": [], "baseline": []} for k in kinds}
        cpu: dict[str, dict[str, list[float]]] = {k: {"jig": [], "baseline": []} for k in kinds}
        errors = 0
        seq = 0
        for kind in kinds:
            for rnd in range(args.rounds):
                order = [jig, base] if rnd % 2 == 0 else [base, jig]
                for srv in order:
                    seq += 1
                    prefix = f"{srv.name[0]}{seq}"
                    if args.warmup > 0:
                        drive(srv.port, kind, cfg, args.warmup, args.connections, prefix + "w", tmp)
                    c0 = srv.cpu()
                    rps, errs = drive(srv.port, kind, cfg, args.duration, args.connections, prefix, tmp)
                    cpu[kind][srv.name].append((srv.cpu() - c0) * 1e6 / max(rps * args.duration, 1))
                    errors += errs
                    results[kind][srv.name].append(rps)
                    if errs:
                        print(f"  {kind} {srv.name}: {errs} failed requests", file=sys.stderr)
        print()
        print(f"{'path':<8} {'jig req/s':>10} {'baseline req/s':>15} {'ratio':>7} {'target':>7}  result"
              f"   (jig runs | baseline runs)")
        for kind in kinds:
            j = statistics.median(results[kind]["jig"])
            b = statistics.median(results[kind]["baseline"])
            ratio = j / b if b else 0.0
            ok = ratio >= TARGETS[kind]
            failed |= not ok
            jc, bc = statistics.median(cpu[kind]["jig"]), statistics.median(cpu[kind]["baseline"])
            print(f"{kind:<8} {j:>10.0f} {b:>15.0f} {ratio:>7.2f} {'>= ' + format(TARGETS[kind], '.2f'):>7}  "
                  f"{'PASS' if ok else 'FAIL'}     ({' '.join(f'{x:.0f}' for x in results[kind]['jig'])} | "
                  f"{' '.join(f'{x:.0f}' for x in results[kind]['baseline'])}); CPU µs/req {jc:.0f} vs {bc:.0f}: "
                  f"CPU ratio {bc / jc if jc else 0:.2f}")
        lt = load_time(1 if args.smoke else 5)
        ok = lt < 1.0
        failed |= not ok
        print(f"{'load':<8} load+validate apps/*.yaml (median of {1 if args.smoke else 5}): {lt * 1000:.0f} ms   target < 1000 ms  "
              f"{'PASS' if ok else 'FAIL'}")
        if errors:
            print(f"WARNING: {errors} requests failed during measurement")
            failed = True
    finally:
        for s in servers:
            s.stop()
    return not failed
