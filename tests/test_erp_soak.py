"""Soak: random faults from every simulator switch at once, with restarts, ending in exact agreement.

Bounded: a fixed number of rounds (and a time budget as a safety limit), about 30 s per database.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest
from sqlalchemy import select

from connectors import quarantine
from connectors.pull import sync
from connectors.push import run_pushes
from connectors.reconcile import reconcile
from connectors.simulator import SWITCHES, Erp, Simulator
from runtime import workflow
from runtime.auth import SYSTEM

from .test_erp_misbehave import due_now, push_all
from .test_erp_sync import APP, Env, build

ROUNDS = 6
BUDGET_S = 25.0  # a safety limit on the random rounds, not an assertion about speed


def _complete(env: Env, round_no: int, n: int) -> None:
    rt = env.rt
    ent = rt.entity(APP, "work_order")
    prod = rt.records.create(SYSTEM, rt.entity(APP, "product"), {"code": f"FG-{round_no}", "name": "成品"})["id"]
    for i in range(n):
        wo = rt.records.create(SYSTEM, ent, {"product": prod, "qty": 100, "erp_no": f"MO{round_no:02d}{i:03d}",
                                             "planned_start": "2026-11-01T08:00:00",
                                             "planned_end": "2026-11-03T08:00:00"})
        version = wo["version"]
        for name, data in (("release", None), ("start", None), ("complete", {"produced_qty": 10 + i})):
            version = workflow.take(rt.records, SYSTEM.using("api"), ent, wo["id"], name, data, version)["version"]


@pytest.mark.one_pass("sqlite", reason="the faults are the ERP's; both databases run the ERP tests")
def test_soak_random_faults_from_all_switches_with_restarts(database_url: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    erp = Erp(seed=31)
    erp.set_switches(SWITCHES, skew_s=-420, rate=0.04)
    erp.set_faults(0.12, ["5xx", "drop", "timeout", "session", "nested_error", "duplicate", "change"], seed=8,
                   timeout_s=0.35)
    erp.seed(150)
    rng = random.Random(77)
    sim = Simulator(erp).start()
    monkeypatch.setenv("KINGDEE_URL", sim.url)
    monkeypatch.setenv("KINGDEE_APP_SECRET", "sim-secret")
    written = 0
    env: Env | None = None
    started = time.monotonic()
    try:
        for round_no in range(ROUNDS):
            env = Env(build(database_url), sim)  # a restart: a new process's view, state from the database
            erp.seed(rng.randint(3, 25))
            for _ in range(rng.randint(0, 6)):
                erp.change()
            # Runs cut short (as by a kill between pages), then runs to the end.
            sync(env.rt, env.conn, max_pages=rng.randint(1, 3))
            for _ in range(rng.randint(0, 2)):
                sync(env.rt, env.conn)
            n = rng.randint(0, 3)
            _complete(env, round_no, n)
            written += n
            due_now(env.rt)
            run_pushes(env.rt, env.conn, rounds=rng.randint(1, 3))
            if rng.random() < 0.3:
                erp.fix()  # someone repairs the ERP's data (no new modify time)
            env.rt.db.dispose()
            env = None
            if time.monotonic() - started > BUDGET_S:
                break
        # The end: faults stop, the data is repaired; switches stay on (skew, collation, own numbers,
        # login pages, rate limits are how this ERP is).
        erp.set_faults(0)
        erp.fix()
        env = Env(build(database_url), sim)
        push_all(env, written)
        for _ in range(10):
            if sync(env.rt, env.conn).status == "ok":
                break
        assert quarantine.count(env.rt, "kingdee") == 0
        total, distinct = env.orders()
        assert total == distinct == len(erp.orders)
        assert env.lines() == sum(len(o["lines"]) for o in erp.orders.values())
        reports = erp.report_counts()
        assert len(reports) == written and set(reports.values()) <= {1}, reports
        assert {d[-1]["status"] for d in erp.reports.values()} <= {"C"}
        rep = reconcile(env.rt, env.conn, full=True)
        assert rep["difference_count"] == 0, rep["differences"][:5]
        _values_agree(env, erp)
    finally:
        if env is not None:
            env.rt.db.dispose()
        sim.stop()


def _values_agree(env: Env, erp: Erp) -> None:
    """Line by line: the quantities Jig holds are the ERP's."""
    so = env.rt.entity(APP, "sales_order")
    t = env.rt.tables.for_entity(so)
    lt = env.rt.tables.for_entity(so.fields["lines"].child)
    with env.rt.db.read() as c:
        got: dict[Any, Any] = {(no, int(e)): int(q) for no, e, q in c.execute(
            select(t.c.erp_no, lt.c.erp_entry_id, lt.c.qty).join(lt, lt.c.parent_id == t.c.id))}
    want = {(no, ln["entry"]): ln["qty"] for no, o in erp.orders.items() for ln in o["lines"]}
    assert got == want
