"""Load on the scaled-out topology: sustained mixed traffic through one web process, then two.

    .venv/bin/python bench/load.py --database postgresql+psycopg://.../scratch   # 45 s per configuration
    .venv/bin/python bench/load.py --seconds 20 --clients 6                       # SQLite temp file
    .venv/bin/python bench/load.py --smoke                                        # a few seconds (the suite)

On loopback (bench/support/topology.py): web processes (`jig serve --workers 1 --threads 4`, each standing
for one machine), two `jig worker`, one `jig scheduler`, a redis-server (noeviction, AOF) and the database,
serving the shipped apps. While the clients run, the Kingdee simulator (its own process) changes a few
sales orders every second and the connector sync (`jig sync kingdee`'s function, in the benchmark's process) pulls them in a
loop; the scheduler
and workers deliver what the traffic queues (SMS through the log provider, notifications).

Each client process signs in (a session for the pages, a token for the API) and loops over a fixed mix:
the batch list (API and page), a record page, the new-record form, a record create, a transition on a
batch it created, and a partner's link form (page + save). Every request goes round-robin to the live web
processes (bench/support/topology.py's RoundRobin, nginx's part: JIG_PROXIES=1, and each link's requests
carry its phone's address in X-Forwarded-For, as nginx adds it). Printed: requests, throughput and p50/p95
latency per route for each configuration, and the total throughput with two web processes over one.
--smoke: 2 clients, 2 s per configuration, one worker, small data; checks that it runs, not the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support.topology import Redis, RoundRobin, Topology  # noqa: E402

ROUTES = ("GET /api/outsourcing/batch", "GET /a/outsourcing/batch", "GET /a/outsourcing/batch/<id>",
          "GET /a/outsourcing/batch/new", "POST /api/outsourcing/batch", "POST …/transitions/start",
          "GET /l/<token>", "POST /l/<token>")


def living_erp(url_q: Any, stop: Any, orders: int) -> None:
    """The Kingdee simulator in its own process, changing a few orders every second (what the sync pulls)."""
    from connectors.simulator import Erp, Simulator
    erp = Erp(seed=5)
    erp.seed(orders, lines=2)
    sim = Simulator(erp).start()
    url_q.put(sim.url)
    while not stop.wait(1.0):
        for no in erp.nos[: 3]:
            erp.change(no)
        erp.nos.append(erp.nos.pop(0))
    sim.stop()


def client(args: tuple[list[str], str, int, list[tuple[int, str]], float, float]) -> dict[str, list[float]]:
    """One client process: sign in, then loop over the mix until ``end``; returns latencies (s) per route."""
    bases, token, partner, links, start, end = args
    api = RoundRobin(bases, {"Authorization": f"Bearer {token}"})
    pages = RoundRobin(bases)
    login = pages.get("/login").text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', login).group(1)  # type: ignore[union-attr]
    pages.post("/login", data={"username": "pl", "password": "pl-pass-1", "csrf_token": csrf}, allow_redirects=False)
    anon = RoundRobin(bases)
    lat: dict[str, list[float]] = {r: [] for r in ROUTES}
    lat["errors"] = []
    today = dt.date.today()
    body = {"customer": "宁波精密", "product_no": "P-LOAD", "quantity": 10, "partner": partner,
            "ship_date": str(today), "expected_return": str(today + dt.timedelta(days=5))}
    versions: dict[int, int] = {}
    some_id = links[0][0]
    i = 0
    while time.time() < start:
        time.sleep(0.01)

    def timed(route: str, session: RoundRobin, method: str, path: str, **kw: Any) -> Any:
        t0 = time.perf_counter()
        r = session.request(method, path, **kw)
        lat[route].append(time.perf_counter() - t0)
        if r.status_code >= 400:
            lat["errors"].append(float(r.status_code))
            lat.setdefault(f"error {r.status_code} {route}: {r.text[:160]}", []).append(0.0)
        return r

    while time.time() < end:
        i += 1
        timed(ROUTES[0], api, "GET", "/api/outsourcing/batch?limit=20&sort=-created_at")
        timed(ROUTES[1], pages, "GET", "/a/outsourcing/batch")
        timed(ROUTES[2], pages, "GET", f"/a/outsourcing/batch/{some_id}")
        if i % 2 == 0:
            timed(ROUTES[3], pages, "GET", "/a/outsourcing/batch/new")
        r = timed(ROUTES[4], api, "POST", "/api/outsourcing/batch", json=body)
        if r.status_code == 201:
            rec = r.json()
            timed(ROUTES[5], api, "POST", f"/api/outsourcing/batch/{rec['id']}/transitions/start",
                  json={"version": rec["version"]})
            some_id = rec["id"]
        j = i % len(links)
        rec_id, tok = links[j]
        phone = {"X-Forwarded-For": f"10.{j // 250}.{j % 250}.{partner % 250}"}  # what nginx adds: each link its phone
        page = timed(ROUTES[6], anon, "GET", f"/l/{tok}", headers=phone)
        m = re.search(r'data-csrf="([^"]+)"[^>]*data-version="(\d+)"', page.text)
        if m:
            version = versions.get(rec_id, int(m.group(2)))
            r = timed(ROUTES[7], anon, "POST", f"/l/{tok}", headers={"X-Link-Token": m.group(1), **phone},
                      json={"action": "save", "version": version, "worker_name": "王厂长",
                            "values": {"remark": f"第{i}次更新"}})
            if r.status_code == 200:
                versions[rec_id] = r.json()["version"]
    return lat


def seed(rt: Any, batches: int, clients: int, links_each: int) -> tuple[list[int], list[list[tuple[int, str]]]]:
    from runtime.auth import SYSTEM
    from ui.linkstore import LinkStore
    E = rt.entity
    partners = [rt.records.create(SYSTEM, E("outsourcing", "partner"), {"name": f"外协{i}", "phone": f"1390000{i:04d}"})
                ["id"] for i in range(max(4, clients))]
    today = dt.date.today()
    ids = []
    for i in range(batches):
        ids.append(rt.records.create(SYSTEM, E("outsourcing", "batch"), {
            "customer": f"客户{i % 17}", "product_no": f"P-{i:05d}", "quantity": 10 + i % 90,
            "partner": partners[i % len(partners)], "ship_date": str(today - dt.timedelta(days=i % 20)),
            "expected_return": str(today - dt.timedelta(days=i % 20 - i % 23))})["id"])
    store = rt.services.get(LinkStore)
    lk = store.definition("outsourcing", "partner_update")
    links: list[list[tuple[int, str]]] = []
    with rt.db.write() as conn:
        for c in range(clients):
            mine = ids[c * links_each:(c + 1) * links_each]
            links.append([(r, store.token_of(store.issue(conn, lk, r, "pl"))) for r in mine])
    return partners, links


def run_config(bases: list[str], token: str, partners: list[int], links: list[list[tuple[int, str]]],
               clients: int, seconds: float) -> tuple[dict[str, list[float]], float]:
    start = time.time() + min(3.0, seconds)  # every client signed in before the clock starts
    jobs = [(bases, token, partners[c % len(partners)], links[c], start, start + seconds)
            for c in range(clients)]
    with mp.get_context("spawn").Pool(clients) as pool:
        results = pool.map(client, jobs)
    merged: dict[str, list[float]] = {}
    for res in results:
        for k, v in res.items():
            merged.setdefault(k, []).extend(v)
    return merged, seconds


def p(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000


def table(name: str, lat: dict[str, list[float]], seconds: float) -> tuple[float, int]:
    total = sum(len(lat[r]) for r in ROUTES)
    print(f"\n{name}: {total} requests in {seconds:.0f} s = {total / seconds:.1f} req/s, "
          f"{len(lat.get('errors', []))} errors")
    print("| route | requests | req/s | p50 ms | p95 ms |")
    print("|---|---:|---:|---:|---:|")
    for r in ROUTES:
        v = lat[r]
        med = statistics.median(v) * 1000 if v else 0.0
        print(f"| {r} | {len(v)} | {len(v) / seconds:.1f} | {med:.0f} | {p(v, 0.95):.0f} |")
    for k, v in lat.items():
        if k.startswith("error "):
            print(f"{len(v)} × {k}")
    return total / seconds, len(lat.get("errors", []))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database", help="database URL (default: a temp SQLite file)")
    ap.add_argument("--seconds", type=float, default=45)
    ap.add_argument("--clients", type=int, default=8, help="client processes")
    ap.add_argument("--batches", type=int, default=2000, help="batches in the database before the run")
    ap.add_argument("--orders", type=int, default=2000, help="sales orders in the ERP simulator")
    ap.add_argument("--smoke", action="store_true", default=os.environ.get("JIG_BENCH_SMOKE") == "1",
                    help="2 clients, 2 s per configuration, one worker, small data")
    a = ap.parse_args()
    t0 = time.monotonic()
    if a.smoke:
        a.seconds, a.clients, a.batches, a.orders = 2, 2, 40, 50
    tmp = Path(tempfile.mkdtemp(prefix="jig-load-"))
    url = a.database or f"sqlite:///{tmp / 'jig.db'}"
    stop_erp = mp.Event()
    url_q: Any = mp.Queue()
    erp = mp.Process(target=living_erp, args=(url_q, stop_erp, a.orders), daemon=True)
    erp.start()
    erp_url = url_q.get(timeout=120)
    env = dict(os.environ, JIG_DATABASE_URL=url, JIG_APPS=str(ROOT / "apps"), JIG_VAR=str(tmp / "var"),
               JIG_FILES_DIR=str(tmp / "files"), JIG_SECRET_KEY="load-secret", PYTHONUNBUFFERED="1",
               KINGDEE_URL=erp_url, KINGDEE_APP_SECRET="sim-secret", JIG_POLL_SECONDS="1", JIG_PROXIES="1",
               PYTHONPATH=str(ROOT))
    os.environ.update(KINGDEE_URL=erp_url, KINGDEE_APP_SECRET="sim-secret")
    from jig.app import Jig
    from jig.config import Settings
    jig = Jig(Settings(database_url=url, apps=[str(ROOT / "apps")], secret_key="load-secret",
                       files_dir=str(tmp / "files")))  # migrates the (empty, throwaway) database
    jig.wsgi()  # the UI's services too (the link store)
    rt = jig.runtime
    rt.users.add("pl", "pl-pass-1", ["planner"])
    token = rt.users.create_token("pl")
    partners, links = seed(rt, a.batches, a.clients, 5 if a.smoke else 20)
    redis = Redis(tmp / "redis")
    top = Topology(tmp, dict(env, JIG_REDIS_URL=redis.url))
    syncing = threading.Event()
    syncs = {"runs": 0, "failed": 0}

    def sync_loop() -> None:  # the connector sync, over and over while the clients run (in this process)
        from connectors.pull import sync
        while not syncing.wait(0.5):
            try:
                result = sync(rt, "kingdee")
                syncs["failed"] += result.status not in ("ok", "partial")
            except Exception as exc:  # noqa: BLE001 - counted and shown, the load goes on
                syncs["failed"] += 1
                print(f"sync failed: {exc!r}")
            syncs["runs"] += 1
    print(f"database: {rt.db.dialect}; {a.batches} batches, {a.orders} ERP orders; {a.clients} client processes, "
          f"{a.seconds:.0f} s per configuration; web processes: jig serve --workers 1 --threads 4; "
          f"2 jig worker, 1 jig scheduler, redis-server; {os.cpu_count()} cores")
    try:
        redis.start()
        bases = [top.web("web1", wait=False), top.web("web2", wait=False)]  # everything starts together
        for _ in range(1 if a.smoke else 2):
            top.worker()
        top.scheduler()
        for base in bases:
            top.ready(base)
        print(f"data seeded and topology up after {time.monotonic() - t0:.0f} s", flush=True)
        from connectors.pull import sync
        print(f"first sync: {sync(rt, 'kingdee').summary()}")
        thread = threading.Thread(target=sync_loop, daemon=True)
        thread.start()
        figures: dict[int, float] = {}
        errors = 0
        for n in (1, 2):
            lat, secs = run_config(bases[:n], token, partners, links, a.clients, a.seconds)
            figures[n], failed = table(f"{n} web process{'es' if n > 1 else ''}", lat, secs)
            errors += failed
            print(f"(after {time.monotonic() - t0:.0f} s)", flush=True)
        syncing.set()
        thread.join(600)
        print(f"\nconnector syncs during the runs: {syncs['runs']} ({syncs['failed']} failed)")
        print(f"throughput: 1 web process {figures[1]:.1f} req/s, 2 web processes {figures[2]:.1f} req/s, "
              f"ratio {figures[2] / figures[1]:.2f}")
        if errors or syncs["failed"]:
            print(f"FAILED: {errors} requests answered 4xx/5xx, {syncs['failed']} syncs failed")
            return 1
    finally:
        syncing.set()
        top.stop_all()
        redis.stop()
        jig.close()
        stop_erp.set()
        erp.join(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
