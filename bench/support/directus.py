"""``bench/crud.py --peer directus``: Directus 11 (Node, SQLite) serving the same batch collection.

Directus is installed from npm into ``~/.cache/jig-bench/directus`` (``npm install directus@11``; the first
time takes minutes) and bootstrapped on its own SQLite file with an admin user and a static admin token.
The ``batch`` collection gets the batch fields (partner as a plain integer, no relation; ``state``,
``partner`` and ``expected_return`` indexed like Jig's list indexes) through Directus' own API, then the
rows Jig was seeded with are copied straight into Directus' table (one executemany). The same Python client
then drives get / the UI list shapes (Directus filter syntax; ``search=`` for the text search) / create
against Directus and against Jig, interleaved, and the Jig/Directus ratio is printed.

Jig serves as a planner (a role that may read and create batches: every request checks the role's rights).
Directus is measured twice: as a planner of its own (a policy granting read and create on ``batch``, a role
holding it, a user with a static token: the same rights, checked the same way on every request), and as its
admin, whose requests skip the permission checks (the fastest Directus can be). The target compares like with
like, the planners; the admin's figures are printed beside them.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .client import Server, drive, free_port, tree_cpu

CACHE = Path(os.environ.get("JIG_BENCH_CACHE", Path.home() / ".cache" / "jig-bench")) / "directus"
TOKEN = "jig-bench-directus-admin-token"
PLANNER_TOKEN = "jig-bench-directus-planner-token"
TARGET = 10.0
FIELDS: list[tuple[str, str, dict[str, Any]]] = [
    ("name", "string", {}), ("state", "string", {"is_indexed": True}), ("version", "integer", {}),
    ("created_at", "dateTime", {"is_indexed": True}), ("created_by", "string", {}), ("updated_at", "dateTime", {}),
    ("updated_by", "string", {}), ("customer", "string", {"is_nullable": False}),
    ("product_no", "string", {"is_indexed": True}), ("quantity", "integer", {}),
    ("partner", "integer", {"is_indexed": True}), ("process", "string", {}), ("ship_date", "date", {}),
    ("expected_return", "date", {"is_indexed": True}), ("actual_return", "dateTime", {}),
    ("returned_qty", "integer", {}), ("qc_result", "string", {}), ("remark", "text", {}),
    ("sms_partner", "boolean", {}),
]


class PeerUnavailable(RuntimeError):
    pass


def install() -> Path:
    binary = CACHE / "node_modules" / ".bin" / "directus"
    if binary.exists():
        return binary
    if not shutil.which("npm"):
        raise PeerUnavailable("npm is not installed: install Node.js 18+ and npm to run --peer directus")
    CACHE.mkdir(parents=True, exist_ok=True)
    if not (CACHE / "package.json").exists():
        (CACHE / "package.json").write_text('{"name": "jig-bench-directus", "private": true}\n')
    print(f"installing directus@11 from npm into {CACHE} (takes minutes the first time) ...", flush=True)
    out = subprocess.run(["npm", "install", "directus@11", "--no-audit", "--no-fund"], cwd=CACHE, timeout=3600)
    if out.returncode != 0 or not binary.exists():
        raise PeerUnavailable(f"npm install directus@11 failed (exit {out.returncode}) in {CACHE}")
    return binary


def _call(port: int, method: str, path: str, body: Any = None) -> Any:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            raw = r.read()
            return json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raise PeerUnavailable(f"Directus {method} {path}: {exc.code} {exc.read()[:500]!r}") from None


class Directus:
    def __init__(self, binary: Path, tmp: Path):
        self.port = free_port()
        self.db = tmp / "directus.db"
        self.env = dict(os.environ, DB_CLIENT="sqlite3", DB_FILENAME=str(self.db), KEY="jig-bench-key",
                        SECRET="jig-bench-secret-" + "x" * 32, ADMIN_EMAIL="admin@example.com",
                        ADMIN_PASSWORD="jig-bench-pass", ADMIN_TOKEN=TOKEN, HOST="127.0.0.1", PORT=str(self.port),
                        PUBLIC_URL=f"http://127.0.0.1:{self.port}", TELEMETRY="false", LOG_LEVEL="warn",
                        CACHE_ENABLED="false", RATE_LIMITER_ENABLED="false", WEBSOCKETS_ENABLED="false",
                        EXTENSIONS_PATH=str(tmp / "directus-extensions"), STORAGE_LOCAL_ROOT=str(tmp / "uploads"),
                        NODE_ENV="production")
        self.binary = binary
        self.log = (tmp / "directus.log").open("wb")
        print("bootstrapping Directus on SQLite ...", flush=True)
        boot = subprocess.run([str(binary), "bootstrap"], cwd=CACHE, env=self.env, stdout=self.log,
                              stderr=subprocess.STDOUT, timeout=600)
        if boot.returncode != 0:
            raise PeerUnavailable(f"directus bootstrap failed (exit {boot.returncode}); see {tmp / 'directus.log'}")
        self.proc = subprocess.Popen([str(binary), "start"], cwd=CACHE, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PeerUnavailable(f"directus start exited {self.proc.returncode}; see {tmp / 'directus.log'}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/server/ping", timeout=5):
                    return
            except OSError:
                time.sleep(0.5)
        raise PeerUnavailable("Directus did not answer /server/ping within 180 s")

    def create_collection(self) -> None:
        fields = [{"field": "id", "type": "integer", "meta": {"hidden": True},
                   "schema": {"is_primary_key": True, "has_auto_increment": True}}]
        fields += [{"field": f, "type": t, "meta": {}, "schema": schema} for f, t, schema in FIELDS]
        _call(self.port, "POST", "/collections", {"collection": "batch", "meta": {}, "schema": {}, "fields": fields})

    def add_planner(self) -> None:
        """A planner: a policy granting read and create on the batch collection, a role holding it, a user of
        that role with a static token (Directus 11's access model)."""
        policy = _call(self.port, "POST", "/policies", {"name": "planner", "admin_access": False, "app_access": False})
        pid = policy["data"]["id"]
        _call(self.port, "POST", "/permissions", [{"policy": pid, "collection": "batch", "action": action,
                                                   "fields": ["*"], "permissions": {}, "validation": {}}
                                                  for action in ("read", "create")])
        role = _call(self.port, "POST", "/roles", {"name": "planner", "policies": [{"policy": pid}]})
        _call(self.port, "POST", "/users", {"email": "planner@example.com", "password": "jig-bench-planner-pass",
                                            "role": role["data"]["id"], "token": PLANNER_TOKEN})

    def seed_from(self, jig_url: str, table: str) -> int:
        from sqlalchemy import create_engine, text
        eng = create_engine(jig_url)
        cols = ["id", *(f for f, _, _ in FIELDS)]
        with eng.connect() as conn:
            rows = conn.execute(text(f'SELECT {", ".join(cols)} FROM "{table}" ORDER BY id')).all()
        eng.dispose()

        import datetime as dt

        def val(v: Any) -> Any:  # Directus keeps dates and times on SQLite as epoch milliseconds (UTC)
            if isinstance(v, str) and len(v) >= 10 and v[4] == "-" and v[7] == "-":
                v = dt.datetime.fromisoformat(v) if len(v) > 10 else dt.date.fromisoformat(v)
            if isinstance(v, dt.datetime):
                return int(v.replace(tzinfo=dt.UTC).timestamp() * 1000)
            if isinstance(v, dt.date):
                return int(dt.datetime(v.year, v.month, v.day, tzinfo=dt.UTC).timestamp() * 1000)
            return v
        con = sqlite3.connect(self.db)
        with con:
            con.executemany(f'INSERT INTO batch ({", ".join(cols)}) VALUES ({", ".join("?" * len(cols))})',
                            [tuple(val(v) for v in r) for r in rows])
            con.execute("ANALYZE")
        con.close()
        return len(rows)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def makers(cfg: dict[str, Any], today: str) -> dict[str, Any]:
    from .shipped import create_body
    p = cfg["partners"][2]
    base = "/items/batch"
    lists = {
        "list state": "filter[state][_eq]=shipped&sort=-created_at,-id&limit=20",
        "list partner+state": f"filter[partner][_eq]={p}&filter[state][_eq]=processing&sort=-created_at,-id&limit=20",
        "list overdue": f"filter[state][_in]=shipped,processing&filter[expected_return][_lt]={today}"
                        "&sort=-created_at,-id&limit=20",
        "list search": "search=P-0042&sort=-created_at,-id&limit=20",
    }
    import datetime as dt
    day = dt.date.fromisoformat(today)
    out: dict[str, Any] = {"get": lambda r: ("GET", f"{base}/{r.randint(cfg['first_id'], cfg['last_id'])}", None)}
    for label, qs in lists.items():
        out[label] = (lambda q: lambda r: ("GET", f"{base}?{q}", None))(qs)
    out["create"] = lambda r: ("POST", base, {**create_body(cfg, r, day), "state": "shipped", "version": 1,
                                              "name": f"WFD-{r.randint(0, 10**9)}"})
    return out


def compare(args: Any, cfg: dict[str, Any], tmp: Path) -> bool:
    """Jig versus Directus on the batch collection; prints the table; False when a target is missed."""
    from runtime import clock

    from . import shipped
    try:
        binary = install()
        d = Directus(binary, tmp)
    except (PeerUnavailable, subprocess.TimeoutExpired, OSError) as exc:  # a clear failure, exit status 1
        raise SystemExit(f"--peer directus: cannot run Directus here: {exc}") from None
    jig = None
    ok = True
    try:
        d.create_collection()
        d.add_planner()
        n = d.seed_from(cfg["database_url"], cfg["batch_table"])
        print(f"\n== Directus {json.loads((CACHE / 'node_modules/directus/package.json').read_text())['version']} "
              f"(node, SQLite): batch collection with {n:,} rows copied from Jig's table ==")
        jig = Server("jig", "bench.support.shipped:jig_app", tmp / "shipped.json", tmp / "jig-peer.log",
                     args.jig_path, ready_path=f"/api/outsourcing/batch/{cfg['first_id']}")
        jig.wait_ready(cfg["token"])
        today = clock.today().isoformat()
        dm = makers(cfg, today)
        jm = shipped.makers(cfg, None)
        kinds = [k for k in dm]
        sides = ("jig", "directus planner", "directus admin")
        res: dict[str, dict[str, list[float]]] = {k: {s: [] for s in sides} for k in kinds}
        cpu: dict[str, dict[str, list[float]]] = {k: {s: [] for s in sides} for k in kinds}
        headers = {"directus planner": {"Authorization": f"Bearer {PLANNER_TOKEN}"},
                   "directus admin": {"Authorization": f"Bearer {TOKEN}"}}
        for kind in kinds:
            for rnd in range(args.rounds):
                for side in (sides if rnd % 2 == 0 else sides[::-1]):
                    port, mk, hdr = (jig.port, jm[kind], None) if side == "jig" else (d.port, dm[kind], headers[side])
                    if args.warmup > 0:
                        drive(port, cfg["token"], mk, args.warmup, args.connections, rnd, headers=hdr)
                    c0 = jig.cpu() if side == "jig" else tree_cpu(d.proc.pid)
                    rps, errs, n = drive(port, cfg["token"], mk, args.duration, args.connections, rnd, headers=hdr)
                    c1 = jig.cpu() if side == "jig" else tree_cpu(d.proc.pid)
                    cpu[kind][side].append((c1 - c0) * 1e6 / max(n, 1))
                    res[kind][side].append(rps)
                    if errs:
                        print(f"  {kind} {side}: {errs} failed requests", file=sys.stderr)
        print("\n| batch collection | jig req/s | directus planner req/s | jig / directus planner | jig CPU µs/req | "
              "directus planner CPU µs/req | CPU ratio | target | result (req/s, CPU) | directus admin req/s, "
              "CPU µs/req | jig / directus admin (req/s, CPU) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|")
        for kind in kinds:
            med = {side: statistics.median(res[kind][side]) for side in sides}
            mcpu = {side: statistics.median(cpu[kind][side]) for side in sides}
            j, x, a = med["jig"], med["directus planner"], med["directus admin"]
            jc, xc, ac = mcpu["jig"], mcpu["directus planner"], mcpu["directus admin"]
            ratio, cratio = (j / x if x else 0.0), (xc / jc if jc else 0.0)
            good, cgood = ratio >= TARGET, cratio >= TARGET
            ok &= good or cgood
            print(f"| {kind} | {j:.0f} | {x:.0f} | {ratio:.1f}x | {jc:.0f} | {xc:.0f} | {cratio:.1f}x | "
                  f">= {TARGET:.0f}x | {'PASS' if good else 'FAIL'}, {'PASS' if cgood else 'FAIL'} | "
                  f"{a:.0f}, {ac:.0f} | {j / a if a else 0:.1f}x, {ac / jc if jc else 0:.1f}x |")
    except PeerUnavailable as exc:
        print(f"\n--peer directus failed: {exc}")
        ok = False
    finally:
        if jig is not None:
            jig.stop()
        d.stop()
    return ok
