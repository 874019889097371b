"""ERP connectors end to end against the simulator: faults, crashes, exactly-once write-backs, reconciliation."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from connectors.extension import extension
from connectors.jobs import push_now
from connectors.pull import find, sync
from connectors.push import run_pushes
from connectors.reconcile import reconcile
from connectors.simulator import Erp, Simulator
from jig.plugins import default_extensions
from rules.service import rules_of
from runtime import api, clock, workflow
from runtime.auth import SYSTEM
from runtime.core import Runtime
from runtime.loader import load_apps

from .conftest import APPS, ROOT

APP = "work_order_tracking"


class Env:
    def __init__(self, rt: Runtime, sim: Simulator):
        self.rt = rt
        self.sim = sim
        self.erp = sim.erp
        self.conn = find(rt, "kingdee")
        fast(self.conn)

    def table(self, entity: str) -> Any:
        return self.rt.tables.for_entity(self.rt.entity(APP, entity))

    def orders(self) -> tuple[int, int]:
        t = self.table("sales_order")
        with self.rt.db.read() as c:
            return (c.execute(select(func.count()).select_from(t)).scalar_one(),
                    c.execute(select(func.count(t.c.erp_no.distinct()))).scalar_one())

    def lines(self) -> int:
        t = self.rt.tables.for_entity(self.rt.entity(APP, "sales_order").fields["lines"].child)
        with self.rt.db.read() as c:
            return int(c.execute(select(func.count()).select_from(t)).scalar_one())


def fast(conn: Any, limit: int = 60) -> None:
    """Test timings: short timeouts and backoff, small pages (many page boundaries)."""
    conn.timeout = (1.0, 0.3)
    conn.retry = {"attempts": 8, "backoff": 0.005, "max_backoff": 0.03}
    conn.circuit = {"failures": 50, "pause": 1}
    for op in conn.pulls():
        op.pagination["limit"] = limit


def build(url: str) -> Runtime:
    rt = Runtime(load_apps([APPS], default_extensions()), url, extensions=[extension])
    rt.migrate()
    extension.attach(rt)
    return rt


@pytest.fixture
def env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    sim = Simulator(Erp(seed=11)).start()
    monkeypatch.setenv("KINGDEE_URL", sim.url)
    monkeypatch.setenv("KINGDEE_APP_SECRET", "sim-secret")
    rt = build(database_url)
    try:
        yield Env(rt, sim)
    finally:
        sim.stop()
        rt.db.dispose()


def sync_until_ok(env: Env, rounds: int = 15) -> list[Any]:
    results = []
    for _ in range(rounds):
        r = sync(env.rt, env.conn)
        results.append(r)
        if r.status == "ok":
            return results
    raise AssertionError([r.summary() + str(r.errors[:3]) for r in results])


def settle(env: Env) -> None:
    """Faults off, then one more incremental sync once the clock has moved past the last change."""
    env.erp.set_faults(0)
    time.sleep(1.05)
    assert sync(env.rt, env.conn).status == "ok"


def complete_work_orders(env: Env, n: int) -> list[int]:
    rt = env.rt
    ent = rt.entity(APP, "work_order")
    prod = rt.records.create(SYSTEM, rt.entity(APP, "product"), {"code": "FG-1", "name": "成品"})["id"]
    ids = []
    for i in range(n):
        wo = rt.records.create(SYSTEM, ent, {"product": prod, "qty": 100, "erp_no": f"MO{i:05d}",
                                             "planned_start": "2026-11-01T08:00:00",
                                             "planned_end": "2026-11-03T08:00:00"})
        version = wo["version"]
        for name, data in (("release", None), ("start", None), ("complete", {"produced_qty": 10 + i})):
            version = workflow.take(rt.records, SYSTEM.using("api"), ent, wo["id"], name, data, version)["version"]
        ids.append(wo["id"])
    return ids


def test_faults_30_percent_every_order_once_every_write_back_once_and_reconciled(env: Env) -> None:
    env.erp.seed(250)
    env.erp.set_faults(0.3, seed=4, timeout_s=0.4, slow_s=0.02)
    first = sync_until_ok(env)
    # Pushes: completing work orders records the intention in the same transaction.
    complete_work_orders(env, 12)
    assert env.rt.outbox.counts() == {"pending": 12}
    for r in range(40):
        with clock.frozen(clock.now() + dt.timedelta(hours=7 * r)):  # outbox backoff elapses
            run_pushes(env.rt, env.conn)
        if env.rt.outbox.counts() == {"sent": 12}:
            break
    assert env.rt.outbox.counts() == {"sent": 12}
    settle(env)
    total, distinct = env.orders()
    assert total == distinct == len(env.erp.orders)  # every order, zero duplicates
    assert env.lines() == sum(len(o["lines"]) for o in env.erp.orders.values())
    reports = env.erp.report_counts()
    assert len(reports) == 12 and set(reports.values()) == {1}  # every write-back exactly once
    assert {d[-1]["status"] for d in env.erp.reports.values()} == {"C"}  # saved, submitted, audited
    assert {d[-1]["qty"] for d in env.erp.reports.values()} == set(range(10, 22))
    # The daily catch-up finds nothing new to write: same numbers, same keys.
    assert push_now(env.rt, "kingdee") == {"queued": 0}
    rep = reconcile(env.rt, env.conn)
    assert rep["difference_count"] == 0, rep["differences"][:5]
    assert rep["erp_count"] == len(env.erp.orders)
    stats = env.erp.stats
    assert stats["requests"] > 40 and sum(v for k, v in stats.items() if k != "requests") >= 10
    kinds = {k for k in stats if k != "requests"}
    assert {"5xx", "timeout", "drop", "session", "nested_error"} <= kinds, stats
    # Every request and its outcome is logged, masked, and visible through the API.
    with env.rt.db.read() as c:
        t = env.rt.tables.system["jig_connector_requests"]
        logged = [dict(r) for r in c.execute(select(t)).mappings()]
    assert {r["outcome"] for r in logged} >= {"ok", "retry", "session_lost"}
    blob = repr(logged)
    assert "sim-secret" not in blob
    assert not any(s in blob for s in env.erp.sessions if len(s) > 8)
    assert first[-1].created + sum(r.created for r in first[:-1]) >= 250


def test_crash_sigkill_mid_sync_then_resume(env: Env, database_url: str) -> None:
    env.erp.seed(3000, lines=1)
    env.erp.set_faults(1.0, ["slow"], slow_s=0.4)  # slow pages leave time to kill mid-run
    cmd = [sys.executable, "-m", "jig.cli", "--apps", str(APPS), "--database", database_url, "sync", "kingdee"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    st = env.rt.tables.system["jig_connector_state"]
    deadline = time.monotonic() + 30
    cursor = None
    try:
        while time.monotonic() < deadline:
            with env.rt.db.read() as c:
                cursor = c.execute(select(st.c.cursor).where(st.c.connector == "kingdee",
                                                             st.c.operation == "sales_orders")).scalar()
            if cursor and '"after": "XSDD' in cursor:
                break
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert cursor and '"after": "XSDD' in cursor, (proc.stderr.read() if proc.stderr else b"")[-2000:]
    done_before, _ = env.orders()
    assert 0 < done_before < 3000  # killed mid-sync, some pages committed
    env.erp.set_faults(0.3, ["5xx", "drop", "duplicate", "session", "nested_error"], seed=9)
    results = sync_until_ok(env)
    assert results[0].resumed
    settle(env)
    total, distinct = env.orders()
    assert total == distinct == len(env.erp.orders) == 3000
    assert reconcile(env.rt, env.conn)["difference_count"] == 0


def test_incremental_changes_closed_orders_and_api(env: Env) -> None:
    env.erp.seed(40)
    assert sync(env.rt, env.conn).created == 40
    time.sleep(1.05)
    changed = env.erp.change()
    closed = env.erp.change(close=True)
    time.sleep(1.05)
    r = sync(env.rt, env.conn)
    assert r.status == "ok" and r.updated == 2 and r.closed == 1 and r.created == 0
    t = env.table("sales_order")
    with env.rt.db.read() as c:
        states = {r.erp_no: r.state for r in c.execute(select(t.c.erp_no, t.c.state))}
        rid = c.execute(select(t.c.id).where(t.c.erp_no == changed["no"])).scalar_one()
    assert states[closed["no"]] == "closed" and states[changed["no"]] == "draft"
    hist = env.rt.records.history(SYSTEM, env.rt.entity(APP, "sales_order"), rid)
    assert [h["via"] for h in hist] == ["connector", "connector"] and "lines" in hist[-1]["changes"]
    # A user's own edit of a synced order is reported by reconciliation with a suggested fix.
    with env.rt.db.write() as c:
        c.execute(t.update().where(t.c.id == rid).values(delivery_date=dt.date(2030, 1, 1)))
    rep = reconcile(env.rt, env.conn)
    assert [(d["key"], d["field"]) for d in rep["differences"]] == [(changed["no"], "delivery_date")]
    assert "jig sync kingdee" in rep["differences"][0]["suggestion"]
    # The request log, runs and reports through the API (admins only).
    app = api.create_app(env.rt, {"TESTING": True})
    extension.init_web(app, env.rt)
    env.rt.users.add("boss", "secret-pass", ["admin"])
    env.rt.users.add("pl", "secret-pass", ["planner"])
    client = app.test_client()
    h = {"Authorization": f"Bearer {env.rt.users.create_token('boss')}"}
    got = client.get("/api/_connectors/kingdee/requests?limit=5", headers=h).get_json()["items"]
    assert len(got) == 5 and all("sim-secret" not in str(x) for x in got)
    assert client.get("/api/_connectors/kingdee/runs", headers=h).get_json()["items"][0]["kind"] == "reconcile"
    assert client.get("/api/_connectors/kingdee/reports", headers=h).get_json()["items"][0]["differences"] == 1
    ph = {"Authorization": f"Bearer {env.rt.users.create_token('pl')}"}
    assert client.get("/api/_connectors/kingdee/requests", headers=ph).status_code == 403
    assert [s.name for s in env.rt.schedules if s.name.startswith("connector:")] == [
        "connector:kingdee:sales_orders", "connector:kingdee:production_report", "connector:kingdee:reconcile"]
    # An order deleted in the ERP: a full reconciliation takes the on_deleted transition (close).
    gone = next(no for no in env.erp.orders if no not in (changed["no"], closed["no"]))
    env.erp.delete(gone)
    full = reconcile(env.rt, env.conn, full=True)
    assert {(d["key"], d["kind"]) for d in full["differences"]} >= {(gone, "deleted_in_erp_closed")}
    with env.rt.db.read() as c:
        assert c.execute(select(t.c.state).where(t.c.erp_no == gone)).scalar_one() == "closed"


def test_push_with_its_own_schedule_runs_from_the_rules_scheduler_exactly_once(
        database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """A push declared with only `schedule: "cron: ..."` (no record events) is a job of the rules scheduler;
    running it twice writes each completed work order back once: the second run sends nothing new."""
    import shutil

    from runtime.core import Runtime as _Runtime
    apps = tmp_path / "apps"
    shutil.copytree(APPS, apps)
    spec = apps / "connectors" / "kingdee.yaml"
    text = spec.read_text(encoding="utf-8")
    old = '        on: ["transition:complete"]\n        schedule: "30 2 * * *"\n'
    assert old in text
    spec.write_text(text.replace(old, '        schedule: "cron: 0 18 * * *"\n'), encoding="utf-8")
    sim = Simulator(Erp(seed=11)).start()
    monkeypatch.setenv("KINGDEE_URL", sim.url)
    monkeypatch.setenv("KINGDEE_APP_SECRET", "sim-secret")
    monkeypatch.setenv("JIG_EMBEDDED_JOBS", "0")
    exts = default_extensions()
    rt = _Runtime(load_apps([apps], exts), database_url, extensions=exts,
                  settings={"files_dir": str(tmp_path / "files")})
    try:
        rt.migrate()
        rt.extensions.attach(rt)  # as jig.app.Jig attaches them
        env = Env(rt, sim)
        name = "connector:kingdee:production_report"
        op = env.conn.operations["production_report"]
        assert op.on == [] and op.schedule == "cron: 0 18 * * *"
        assert next(s for s in rt.schedules if s.name == name).cron == "cron: 0 18 * * *"
        scheduler = rules_of(rt).scheduler
        assert scheduler.jobs[name].schedule.cron == "0 18 * * *"
        complete_work_orders(env, 3)
        assert rt.outbox.counts() == {}  # no record events: only the schedule writes back
        assert name not in scheduler.due()  # a new cron schedule first runs at its next occurrence, not on deploy
        first = {st["name"]: st for st in scheduler.state()}[name]["next_run_at"]
        assert (first.hour, first.minute) == (18, 0)
        with clock.frozen(first):
            assert name in scheduler.due()
            assert scheduler.run(name, "w1") == {"queued": 3, "sent": 3}
            reports = env.erp.report_counts()
            assert len(reports) == 3 and set(reports.values()) == {1}
            requests = env.erp.stats["requests"]
            assert name not in scheduler.due()  # next run: 18:00 tomorrow
        with clock.frozen(first + dt.timedelta(days=1, hours=1)):
            assert name in scheduler.due()
            assert scheduler.run(name, "w1") == {"queued": 0}
        assert env.erp.report_counts() == reports  # nothing sent again
        assert env.erp.stats["requests"] == requests
        assert rt.outbox.counts() == {"sent": 3}
    finally:
        sim.stop()
        rt.db.dispose()
