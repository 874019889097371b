"""ERP sync against an ERP that misbehaves the way real ones do: one test per simulator switch.

Each proves, on SQLite and PostgreSQL: every order arrives, no duplicates, each write-back applied
exactly once in the ERP, and reconciliation finds 0 differences afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from connectors import pull, quarantine
from connectors.extension import extension
from connectors.pages import paginate as erp_order_paginate
from connectors.pull import sync
from connectors.push import run_pushes
from connectors.reconcile import reconcile
from connectors.simulator import Erp, Simulator
from runtime import api, clock

from .conftest import APPS
from .test_erp_sync import Env, build, complete_work_orders

WRITE_BACKS = 6


@pytest.fixture
def env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    sim = Simulator(Erp(seed=23)).start()
    monkeypatch.setenv("KINGDEE_URL", sim.url)
    monkeypatch.setenv("KINGDEE_APP_SECRET", "sim-secret")
    rt = build(database_url)
    try:
        yield Env(rt, sim)
    finally:
        sim.stop()
        rt.db.dispose()


def sync_ok(env: Env, rounds: int = 15) -> list[Any]:
    results = []
    for _ in range(rounds):
        r = sync(env.rt, env.conn)
        results.append(r)
        if r.status == "ok":
            return results
    raise AssertionError([r.summary() + str(r.errors[:3]) for r in results])


def push_all(env: Env, n: int) -> None:
    for _ in range(40):
        due_now(env.rt)
        run_pushes(env.rt, env.conn)
        if env.rt.outbox.counts() == {"sent": n}:
            return
    raise AssertionError(env.rt.outbox.list(limit=5))


def due_now(rt: Any) -> None:
    """The outbox's backoff elapses (without moving the clock: the ERP's data times follow it)."""
    t = rt.outbox.table
    with rt.db.write() as c:
        c.execute(t.update().where(t.c.status == "retry").values(available_at=clock.now()))


def exact(env: Env, write_backs: int = WRITE_BACKS) -> dict[str, Any]:
    """Faults off, the ERP's data repaired: everything agrees, exactly."""
    env.erp.set_faults(0)
    env.erp.fix()
    sync_ok(env)
    assert quarantine.count(env.rt, "kingdee") == 0
    total, distinct = env.orders()
    assert total == distinct == len(env.erp.orders)  # every order, zero duplicates
    assert env.lines() == sum(len(o["lines"]) for o in env.erp.orders.values())
    reports = env.erp.report_counts()
    assert len(reports) == write_backs and set(reports.values()) <= {1}, reports  # each write-back once
    assert {d[-1]["status"] for d in env.erp.reports.values()} <= {"C"}  # saved, submitted, audited
    rep = reconcile(env.rt, env.conn, full=True)
    assert rep["difference_count"] == 0, rep["differences"][:5]
    assert rep["erp_count"] == len(env.erp.orders)
    return rep


def test_skew_erp_clock_behind_and_ahead_watermark_from_the_erps_data(env: Env) -> None:
    for skew in (-600, 600):
        env.erp.set_switches(["skew"], skew_s=skew)
        env.erp.seed(30)
        first = sync_ok(env)[-1]
        assert first.skew_s is not None and abs(first.skew_s - skew) <= 2
        assert ("behind" if skew < 0 else "ahead of") in first.summary()
        # The case: 5 new orders and 2 quantity changes after a sync, on the ERP's clock.
        old = list(env.erp.orders)[-2:]
        new = [env.erp.add_order()["no"] for _ in range(5)]
        changed = [env.erp.change(no)["no"] for no in old]
        time.sleep(1.05)  # the simulator stamps a change made in the same second one second later
        r = sync_ok(env)[-1]
        assert r.created == 5 and r.updated == 2, r.summary()
        t = env.table("sales_order")
        with env.rt.db.read() as c:
            have = set(c.execute(select(t.c.erp_no)).scalars())
        assert set(new) | set(changed) <= have
        with env.rt.db.read() as c:
            st = env.rt.tables.system["jig_connector_state"]
            wm = c.execute(select(st.c.watermark).where(st.c.operation == "sales_orders")).scalar_one()
        assert wm == max(o["modify"] for o in env.erp.orders.values())  # the ERP's time, not Jig's
    complete_work_orders(env, WRITE_BACKS)
    push_all(env, WRITE_BACKS)
    exact(env)


def test_collation_erp_sorts_differently_from_python(env: Env) -> None:
    env.erp.set_switches(["collation"])
    env.erp.seed(150)
    env.erp.set_faults(0.15, ["duplicate", "5xx"], seed=3)
    assert any("-" in no for no in env.erp.nos)
    assert env.erp.nos != sorted(env.erp.nos)  # the server's order is not Python's
    r = sync_ok(env)[-1]
    assert r.disorder > 0  # noticed, and paging followed the ERP's order anyway
    complete_work_orders(env, WRITE_BACKS)
    push_all(env, WRITE_BACKS)
    exact(env)


def _python_order_paginate(op: Any, cur: dict[str, Any], data: Any, recs: list[Any], groups: list[Any],
                           page_limit: int) -> Any:
    """The old keyset paging: rows 'from before' dropped by comparing keys in Python's order."""
    kpath = tuple(op.pagination["key"].split("."))
    groups = [g for g in groups if str(g[0].resolve(kpath)) > cur["after"]]
    full_page = len(recs) >= page_limit
    if full_page and len(groups) <= 1:
        return groups, cur, False, True
    if full_page:
        groups = groups[:-1]
    new = dict(cur)
    if groups:
        new["after"] = max(str(g[0].resolve(kpath)) for g in groups)
    return groups, new, not full_page, False


def test_reconciliation_alone_finds_what_a_collation_bug_in_the_sync_lost(env: Env,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Sync and reconcile against an ERP that sorts differently from Python, with the sync's paging
    broken the way it used to be: the sync loses orders; reconciliation, listing by another path,
    reports exactly those."""
    env.erp.set_switches(["collation"])
    env.erp.seed(180, lines=1)
    monkeypatch.setattr(pull, "paginate", _python_order_paginate)
    sync(env.rt, env.conn)
    total, _ = env.orders()
    assert total < len(env.erp.orders)  # the old bug: orders dropped as "rows from before"
    t = env.table("sales_order")
    with env.rt.db.read() as c:
        have = set(c.execute(select(t.c.erp_no)).scalars())
    lost = set(env.erp.orders) - have
    rep = reconcile(env.rt, env.conn)
    assert {d["key"] for d in rep["differences"] if d["kind"] == "missing_in_jig"} == lost
    assert rep["difference_count"] == len(lost) and rep["erp_count"] == len(env.erp.orders)
    monkeypatch.setattr(pull, "paginate", erp_order_paginate)
    sync(env.rt, env.conn, full=True)
    assert reconcile(env.rt, env.conn)["difference_count"] == 0


def test_invalid_rows_are_quarantined_retried_shown_and_exit_non_zero(env: Env, database_url: str) -> None:
    env.erp.set_switches(["invalid"])
    env.erp.seed(50)
    env.rt.users.add("boss", "secret-pass", ["admin"])
    bad = sorted(no for no, o in env.erp.orders.items() if not o["cust"])
    assert bad
    r = sync(env.rt, env.conn)
    assert r.status == "partial" and r.quarantined == len(bad), r.summary()
    assert "jig quarantine kingdee" in r.summary()
    again = sync(env.rt, env.conn)  # retried on every run, still kept, still not ok
    assert again.status == "partial" and again.quarantined == len(bad) and again.failed == len(bad)
    later = (clock.now() + dt.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    narrow = sync(env.rt, env.conn, since=later)  # a window that does not cover them resolves nothing
    assert narrow.fetched == 0 and narrow.quarantined == len(bad) and narrow.status == "partial"
    entries = quarantine.entries(env.rt, "kingdee")
    assert sorted(e["key"] for e in entries) == bad
    assert all("customer" in e["reason"] and e["attempts"] == 2 and e["payload"] for e in entries)
    # Shown: CLI (exit 1), API, admin page; an admin alert.
    from jig.cli import cli
    runner = CliRunner()
    base = ["--apps", str(APPS), "--database", database_url]
    out = runner.invoke(cli, [*base, "quarantine", "kingdee"])
    assert out.exit_code == 1 and bad[0] in out.output, out.output
    out = runner.invoke(cli, [*base, "sync", "kingdee"])
    assert out.exit_code == 1 and "quarantine" in out.output, out.output
    app = api.create_app(env.rt, {"TESTING": True})
    extension.init_web(app, env.rt)
    h = {"Authorization": f"Bearer {env.rt.users.create_token('boss')}"}
    got = app.test_client().get("/api/_connectors/kingdee/quarantine", headers=h).get_json()
    assert got["open"] == len(bad) and {i["key"] for i in got["items"]} == set(bad)
    page = app.test_client().get("/api/_connectors/kingdee/quarantine.html", headers=h)
    assert page.status_code == 200 and bad[0] in page.get_data(as_text=True)
    with env.rt.db.read() as c:
        nt = env.rt.tables.system["jig_notifications"]
        bodies = [b for (b,) in c.execute(select(nt.c.body))]
    assert any("隔离" in b for b in bodies)
    # Reconciliation names them; the ERP's data is fixed without a new modify time: the next sync takes them.
    rep = reconcile(env.rt, env.conn)
    assert {d["key"] for d in rep["differences"]} >= set(bad)
    assert env.erp.fix() == bad
    fixed = sync(env.rt, env.conn)
    assert fixed.status == "ok" and fixed.quarantined == 0, fixed.summary()
    assert runner.invoke(cli, [*base, "quarantine", "kingdee"]).exit_code == 0
    complete_work_orders(env, WRITE_BACKS)
    push_all(env, WRITE_BACKS)
    exact(env)


def test_malformed_rows_never_block_the_sync_or_crash_reconciliation(env: Env) -> None:
    env.erp.set_switches(["malformed"])
    env.erp.seed(120)
    bad = sorted(no for no, o in env.erp.orders.items() if o.get("bad_shape"))
    assert len(bad) >= 5
    r = sync(env.rt, env.conn)
    assert r.status == "partial" and r.quarantined == len(bad), r.summary()
    total, distinct = env.orders()
    assert total == distinct == len(env.erp.orders) - len(bad)  # all the others arrived
    assert all("does not match select" in e["reason"] for e in quarantine.entries(env.rt, "kingdee"))
    env.erp.add_order().pop("bad_shape", None)  # new orders keep coming in
    assert sync(env.rt, env.conn).created == 1
    rep = reconcile(env.rt, env.conn)  # no traceback: the malformed rows are differences
    assert {d["key"] for d in rep["differences"] if d["kind"] == "malformed_in_erp"} == set(bad)
    complete_work_orders(env, WRITE_BACKS)
    push_all(env, WRITE_BACKS)
    exact(env)


def test_session_expiring_as_an_html_login_page_on_http_200(env: Env) -> None:
    env.erp.set_switches(["html_session"], rate=0.2)
    env.erp.seed(150)
    sync_ok(env)
    complete_work_orders(env, WRITE_BACKS)
    push_all(env, WRITE_BACKS)
    with env.rt.db.read() as c:
        t = env.rt.tables.system["jig_connector_requests"]
        logged = [(r.url, r.error or "") for r in c.execute(select(t.c.url, t.c.error))]
    logins = [u for u, _ in logged if "LoginByAppSecret" in u]
    html = [e for _, e in logged if "HTML page" in e]
    assert html and len(logins) > len(html) // 2  # each login page answered by logging in again
    assert any("Save" in u for u, _ in logged)
    exact(env)


def test_write_back_uses_the_number_the_erp_assigned(env: Env) -> None:
    env.erp.set_switches(["own_numbers"])
    env.erp.seed(20)
    sync_ok(env)
    complete_work_orders(env, WRITE_BACKS)
    # Answers lost after the ERP did the work (timeouts, dropped connections, 5xx after the write).
    env.erp.set_faults(0.35, ["5xx", "timeout", "drop"], seed=5, timeout_s=0.4)
    push_all(env, WRITE_BACKS)
    assert not any(no.startswith("JIG-") for no in env.erp.reports)  # the ERP numbered them all itself
    for row in env.rt.outbox.list(status="sent"):
        result = json.loads(row["result"])
        assert result["erp_number"].startswith("SCHB") and result["erp_id"]
        assert env.erp.reports[result["erp_number"]][-1]["desc"] == row["key"].rsplit(":", 1)[1]
    exact(env)


def test_retry_after_is_honoured_for_429_and_503(env: Env) -> None:
    env.erp.set_switches(["retry_after"], rate=0.08)
    env.erp.seed(80)
    sync_ok(env)
    complete_work_orders(env, WRITE_BACKS)
    push_all(env, WRITE_BACKS)
    exact(env)
    with env.rt.db.read() as c:
        t = env.rt.tables.system["jig_connector_requests"]
        statuses = set(c.execute(select(t.c.status)).scalars())
    assert statuses & {429, 503}
    assert env.erp.early == 0  # never asked again before the ERP said we could
