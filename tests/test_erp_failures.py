"""What an operator sees when the ERP link fails: one clear line, the cause, never a run left 'running'."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from connectors import state
from connectors.http import retry_after, skew_of
from connectors.pull import sync
from connectors.reconcile import reconcile
from connectors.simulator import Erp, Simulator
from runtime import clock

from .conftest import APPS
from .test_erp_sync import Env, build


@pytest.fixture
def env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    sim = Simulator(Erp(seed=5)).start()
    monkeypatch.setenv("KINGDEE_URL", sim.url)
    monkeypatch.setenv("KINGDEE_APP_SECRET", "sim-secret")
    rt = build(database_url)
    try:
        yield Env(rt, sim)
    finally:
        sim.stop()
        rt.db.dispose()


def _runs(env: Env) -> list[tuple[str, str]]:
    t = env.rt.tables.system["jig_connector_runs"]
    with env.rt.db.read() as c:
        return [(r.kind, r.status) for r in c.execute(select(t.c.kind, t.c.status).order_by(t.c.id))]


def test_missing_secret_is_one_clear_line_and_nothing_is_left_running(env: Env, database_url: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    env.erp.seed(5)
    monkeypatch.delenv("KINGDEE_APP_SECRET")
    r = sync(env.rt, env.conn)
    assert r.status == "failed"
    assert r.errors == ["connector kingdee: environment variable KINGDEE_APP_SECRET is not set"]
    with pytest.raises(Exception, match="KINGDEE_APP_SECRET is not set"):
        reconcile(env.rt, env.conn)
    assert _runs(env) == [("pull", "failed"), ("reconcile", "failed")]
    from jig.cli import cli
    base = ["--apps", str(APPS), "--database", database_url]
    for args in (["sync", "kingdee"], ["reconcile", "kingdee"]):
        out = CliRunner().invoke(cli, [*base, *args])
        assert out.exit_code == 1, out.output
        assert "KINGDEE_APP_SECRET is not set" in out.output and "Traceback" not in out.output
        assert not isinstance(out.exception, Exception) or isinstance(out.exception, SystemExit)


def test_connectors_whose_secrets_are_unset_are_not_scheduled(database_url: str,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """What `jig demo` starts: no connector job that could only fail (and leave a run 'running')."""
    monkeypatch.delenv("KINGDEE_URL", raising=False)
    monkeypatch.delenv("KINGDEE_APP_SECRET", raising=False)
    rt = build(database_url)
    try:
        assert not [s for s in rt.schedules if s.name.startswith("connector:")]
        assert "connector kingdee is not scheduled: environment variable(s) KINGDEE_APP_SECRET, KINGDEE_URL " \
               "not set" in caplog.text
    finally:
        rt.db.dispose()


def test_connection_errors_name_the_host(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KINGDEE_URL", "http://127.0.0.1:9")  # nothing listens there
    env.conn.retry = {"attempts": 2, "backoff": 0.001, "max_backoff": 0.001}
    r = sync(env.rt, env.conn)
    assert r.status == "failed" and "127.0.0.1:9" in r.errors[-1], r.errors


def test_a_paused_connector_says_why(env: Env) -> None:
    env.erp.seed(3)
    env.conn.circuit = {"failures": 1, "pause": 60}
    env.erp.set_faults(1.0, ["5xx"])
    first = sync(env.rt, env.conn)
    assert first.status == "failed" and first.errors[-1].startswith("HTTP 5")
    second = sync(env.rt, env.conn)
    assert "paused" in second.errors[-1] and "last error: HTTP 5" in second.errors[-1], second.errors


def test_runs_left_running_by_a_killed_process_are_marked_interrupted(env: Env) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    pid = int(dead.stdout)
    t = env.rt.tables.system["jig_connector_runs"]
    now = clock.now()
    rows = [({"host": state.OWNER["host"], "pid": pid}, now),               # this machine, process gone
            ({"host": "other-pc", "pid": 1}, now - dt.timedelta(days=2)),  # another machine, long ago
            ({"host": "other-pc", "pid": 1}, now)]                         # another machine, just now
    with env.rt.db.write() as c:
        ids = [c.execute(t.insert().values(connector="kingdee", operation="sales_orders", kind="pull",
                                           started_at=at, status="running", counts="{}",
                                           detail=json.dumps({"owner": owner}))).inserted_primary_key[0]
               for owner, at in rows]
    env.erp.seed(2)
    assert sync(env.rt, env.conn).status == "ok"
    with env.rt.db.read() as c:
        got = dict(c.execute(select(t.c.id, t.c.status).where(t.c.id.in_(ids))).all())
    assert [got[i] for i in ids] == ["interrupted", "interrupted", "running"]


def test_retry_after_and_date_headers_are_read() -> None:
    assert retry_after("3") == 3.0
    assert retry_after(None) is None and retry_after("soon") is None
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    assert 25 <= (retry_after(later.strftime("%a, %d %b %Y %H:%M:%S GMT")) or 0) <= 31
    now = clock.to_aware(clock.now()).astimezone(dt.UTC)
    behind = (now - dt.timedelta(minutes=10)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert -602 <= (skew_of(behind) or 0) <= -598
    twice = now.strftime("%a, %d %b %Y %H:%M:%S GMT") + ", " + behind  # a proxy's Date, then the origin's
    assert -602 <= (skew_of(twice) or 0) <= -598
    assert skew_of("not a date") is None


def test_a_write_back_without_a_document_number_is_kept_shown_and_retried(env: Env) -> None:
    """A completed work order whose document number (``number:``) is empty cannot be written back: the
    intention is kept as an undeliverable outbox row with the reason, never skipped; a retry once the
    record has its number writes it back."""
    from connectors.push import enqueue, run_pushes

    from .test_erp_sync import complete_work_orders
    [wo] = complete_work_orders(env, 1)
    op = env.conn.operations["production_report"]
    t = env.table("work_order")
    with env.rt.db.write() as c:
        row = dict(c.execute(select(t).where(t.c.id == wo)).mappings().one())
        assert enqueue(env.rt, c, env.conn, op, wo, {**row, "name": None})
        assert not enqueue(env.rt, c, env.conn, op, wo, {**row, "name": None})  # kept once, not twice
    [kept] = env.rt.outbox.search(status="undeliverable")
    assert kept["key"] == f"erp:kingdee:production_report:record:{wo}"
    assert "单据号" in kept["last_error"] and "'JIG-' + name" in kept["last_error"]
    assert json.loads(kept["result"])["reason"]["code"] == "no_number"
    assert run_pushes(env.rt, env.conn) == {"sent": 1}  # the numbered one; the kept one waits for an admin
    assert env.rt.outbox.get(kept["id"])["status"] == "undeliverable"
    assert env.rt.outbox.retry(kept["id"]) == 1  # the record has its number now
    assert run_pushes(env.rt, env.conn) == {"sent": 1}
    got = env.rt.outbox.get(kept["id"])
    assert got["status"] == "sent" and json.loads(got["result"])["steps"] == []  # done once, by the numbered row
