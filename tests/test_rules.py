"""Rules fire on time, once per occurrence, and catch up after downtime."""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any

import pytest
from sqlalchemy import select

from rules.service import rules_of
from runtime import clock
from runtime.auth import SYSTEM

from .conftest import batch_body

DAY = dt.datetime(2026, 11, 20, 10, 0, 0)


def _setup(make_runtime: Any) -> tuple[Any, dict[str, int]]:
    rt = make_runtime(extensions=True)
    with clock.frozen(DAY):
        rt.users.add("plan", "pw-123456", ["planner"], phone="13700000000")
        p = rt.entity("outsourcing", "partner")
        b = rt.entity("outsourcing", "batch")
        a = rt.records.create(SYSTEM, p, {"name": "华新电镀", "phone": "13800001111"})["id"]
        c = rt.records.create(SYSTEM, p, {"name": "永盛喷涂", "phone": "13900002222"})["id"]
        for partner, due in ((a, "2026-11-15"), (a, "2026-11-18"), (a, "2026-11-19"), (c, "2026-11-17"),
                             (c, "2026-11-25")):
            rt.records.create(SYSTEM, b, batch_body(partner, ship_date="2026-11-10", expected_return=due))
        done = rt.records.create(SYSTEM, b, batch_body(a, ship_date="2026-11-10", expected_return="2026-11-12"))
        from runtime import workflow
        workflow.take(rt.records, SYSTEM, b, done["id"], "start")
        workflow.take(rt.records, SYSTEM, b, done["id"], "return", {"returned_qty": 100})
    return rt, {"a": a, "c": c}


BACKEND = {"name": "embedded"}


@pytest.fixture(params=["embedded", "rq"])
def backend(request: pytest.FixtureRequest) -> Any:
    """The same rule suite runs on the embedded thread's code path and on real RQ workers."""
    BACKEND["name"] = request.param
    if request.param == "rq":
        url = os.environ.get("JIG_TEST_REDIS_URL")
        if not url:
            pytest.skip("JIG_TEST_REDIS_URL not set (run scripts/test.sh)")
        from redis import Redis
        conn = Redis.from_url(url)
        conn.flushdb()
        BACKEND["redis"] = conn
    yield request.param
    BACKEND["name"] = "embedded"


def _tick(rt: Any, at: dt.datetime) -> dict[str, Any]:
    with clock.frozen(at):
        if BACKEND["name"] == "embedded":
            return rules_of(rt).jobs.run_once()
        from rq import Queue

        from rules import jobs
        queue = Queue(jobs.QUEUE, connection=BACKEND["redis"])
        totals: dict[str, int] = {}
        for _ in range(4):  # schedules first, then the outbox rows their runs wrote
            counts = jobs.enqueue_due(rt, queue)
            if not counts["schedules"] and not counts["outbox"]:
                break
            jobs.worker_class()([queue], connection=BACKEND["redis"], runtime_source=rt).work(burst=True)
            for k, v in counts.items():
                totals[k] = totals.get(k, 0) + v
        return totals


def _sms(rt: Any) -> list[dict[str, Any]]:
    log = rt.tables.system["jig_sms_log"]
    with rt.db.read() as conn:
        return [dict(r) for r in conn.execute(select(log).order_by(log.c.id)).mappings()]


def test_overdue_reminder_batches_per_partner_once_per_day(make_runtime: Any, backend: str) -> None:
    rt, partners = _setup(make_runtime)
    _tick(rt, DAY)
    sent = _sms(rt)
    assert [(s["to"], s["status"]) for s in sent] == [("13800001111", "sent"), ("13900002222", "sent")]
    assert "3张外发单已超期" in sent[0]["text"] and "WF202611-0001" in sent[0]["text"]
    assert rt.notifications.unread_count("plan") == 4
    # an hour later: the same batches are still overdue, but today's reminder was sent
    _tick(rt, DAY + dt.timedelta(hours=1))
    assert len(_sms(rt)) == 2
    # after the window (20:00) nothing runs; the next morning the reminder goes again
    _tick(rt, DAY.replace(hour=21))
    assert len(_sms(rt)) == 2
    _tick(rt, DAY.replace(hour=8) + dt.timedelta(days=1))
    assert len(_sms(rt)) == 4
    assert rt.outbox.counts() == {"sent": 4}


def test_a_run_due_since_the_window_closed_waits_for_the_window(make_runtime: Any, backend: str) -> None:
    """Issue 17, story 2: no tick between 20:00 and 07:00 (a night without workers) — the run due since last evening
    does not happen at 07:00, outside "between 08:00-20:00"; it is deferred to 08:00 and says so."""
    rt, _ = _setup(make_runtime)
    _tick(rt, DAY)
    assert len(_sms(rt)) == 2
    morning = DAY.replace(hour=7) + dt.timedelta(days=1)
    _tick(rt, morning)
    assert len(_sms(rt)) == 2
    state = {s["name"]: s for s in rules_of(rt).scheduler.state()}["rule:outsourcing.overdue_reminder"]
    assert state["next_run_at"] == morning.replace(hour=8) and state["last_status"].startswith("deferred to")
    _tick(rt, morning.replace(hour=8, minute=1))
    assert len(_sms(rt)) == 4


def test_scheduler_catches_up_once_after_downtime(make_runtime: Any, caplog: pytest.LogCaptureFixture,
                                                  backend: str) -> None:
    rt, _ = _setup(make_runtime)
    _tick(rt, DAY.replace(hour=9))
    state = {s["name"]: s for s in rules_of(rt).scheduler.state()}["rule:outsourcing.overdue_reminder"]
    assert state["runs"] == 1 and state["next_run_at"] == DAY
    caplog.set_level(logging.WARNING, "jig.scheduler")
    _tick(rt, DAY.replace(hour=12, minute=30))  # down from 09:00 to 12:30: 10:00, 11:00, 12:00 were missed
    state = {s["name"]: s for s in rules_of(rt).scheduler.state()}["rule:outsourcing.overdue_reminder"]
    assert state["runs"] == 2 and state["missed_total"] == 2
    assert state["next_run_at"] == DAY.replace(hour=13)
    assert "had 3 runs due since 2026-11-20 10:00:00" in caplog.text and "missed 2 run(s)" in caplog.text
    assert "catching up with one run now" in caplog.text


EVENTS_APP = """
app: ev
roles: [clerk]
templates:
  hello: {text: "新单 {{ code }}"}
entities:
  order:
    fields:
      code: {type: text}
      qty: {type: integer}
      note: {type: text}
      owner: {type: user}
      copies: {type: integer}
    workflow:
      initial: open
      states: {open: {}, closed: {final: true}}
      transitions: {close: {from: open, to: closed}}
  log_entry:
    fields:
      message: {type: text}
      ref: {type: link, to: order}
rules:
  on_create:
    on: {event: created, entity: order}
    when: "qty > 10"
    do:
      - notify: {user_field: owner, message: "大单 {{ code }} 数量 {{ qty }}"}
      - create: {entity: log_entry, values: {message: "'big order ' + code", ref: "id"}}
  on_qty:
    on: {event: updated, entity: order, fields: [qty]}
    do:
      - set: {note: "'qty changed to ' + coalesce(note, '')"}
  on_close:
    on: {event: transitioned, entity: order, transition: close}
    do:
      - webhook: {url: "${HOOK_URL}", secret: "${HOOK_SECRET}", body: {code: code, qty: qty}}
"""


def test_event_rules(make_runtime: Any) -> None:
    rt = make_runtime(texts={"ev.yaml": EVENTS_APP}, extensions=True)
    rt.users.add("li", "pw-123456", ["clerk"])
    order = rt.entity("ev", "order")
    small = rt.records.create(SYSTEM, order, {"code": "A", "qty": 5, "owner": "li"})
    big = rt.records.create(SYSTEM, order, {"code": "B", "qty": 50, "owner": "li"})
    assert rt.notifications.unread_count("li") == 1
    logs = rt.tables["ev.log_entry"]
    with rt.db.read() as conn:
        assert [tuple(r) for r in conn.execute(select(logs.c.message, logs.c.ref))] == [("big order B", big["id"])]
    updated = rt.records.update(SYSTEM, order, small["id"], {"qty": 6}, small["version"])
    assert rt.records.get(SYSTEM, order, small["id"])["note"] == "qty changed to"
    # the answer already carries the rule's change (issue 18): its version is the one to send next
    assert updated["note"] == "qty changed to" and updated["version"] == 3
    rt.records.update(SYSTEM, order, small["id"], {"code": "A2"}, updated["version"])  # qty unchanged: no rule
    from runtime import workflow
    workflow.take(rt.records, SYSTEM, order, big["id"], "close")
    rows = rt.outbox.list()
    assert [r["kind"] for r in rows] == ["webhook"]
    hist = rt.records.history(SYSTEM, order, small["id"])
    assert [h["via"] for h in hist] == ["system", "system", "rule", "system"]


def test_rule_definition_errors_point_at_the_line() -> None:
    from jig.plugins import default_extensions
    from runtime.errors import DefinitionErrors
    from runtime.loader import load_texts
    broken = EVENTS_APP.replace("entity: log_entry", "entity: log_entri").replace(
        "fields: [qty]", "fields: [qtty]").replace("transition: close}", "transition: shut}").replace(
        "hello: {text:", "hello: {txt:")
    with pytest.raises(DefinitionErrors) as err:
        load_texts({"ev.yaml": broken}, default_extensions())
    text = err.value.format()
    assert "ev.yaml:5:11: templates.hello.txt: unknown key 'txt'" in text
    assert "unknown entity 'log_entri'" in text and "did you mean 'log_entry'" in text
    assert "unknown field 'qtty'" in text and "unknown transition 'shut'" in text


def test_two_workers_never_double_fire(make_runtime: Any) -> None:
    import threading

    from rules.jobs import EmbeddedJobs
    rt, _ = _setup(make_runtime)
    scheduler = rules_of(rt).scheduler
    workers = [EmbeddedJobs(rt, scheduler) for _ in range(3)]
    for i, w in enumerate(workers):
        w.worker = f"machine-{i}"
    with clock.frozen(DAY):
        threads = [threading.Thread(target=w.run_once) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        workers[0].run_once()
    assert [(s["to"], s["status"]) for s in _sms(rt)] == [("13800001111", "sent"), ("13900002222", "sent")]
    firings = rt.tables.system["jig_rule_firings"]
    with rt.db.read() as conn:
        assert len(conn.execute(select(firings.c.id)).all()) == 4


def test_per_number_daily_limit(make_runtime: Any) -> None:
    rt = make_runtime(extensions=True)
    with clock.frozen(DAY), rt.db.write() as conn:
        for i in range(4):
            rt.outbox.add(conn, "sms", {"app": "outsourcing", "to": "13800001111", "template": "outsourcing_overdue",
                                        "text": f"msg {i}", "params": {}, "limit_per_day": 3}, key=f"k{i}")
    with clock.frozen(DAY):
        assert rt.outbox.run_due("w") == {"sent": 3, "retry": 1}
    limited = [s for s in _sms(rt) if s["status"] == "rate_limited"]
    assert len(limited) == 1 and "daily limit" in limited[0]["detail"]
    with clock.frozen(DAY + dt.timedelta(days=1)):
        assert rt.outbox.run_due("w") == {"sent": 1}


def test_preview_renders_a_template() -> None:
    import subprocess
    import sys
    from pathlib import Path
    r = subprocess.run([sys.executable, "-m", "jig.cli", "rules", "preview", "outsourcing.outsourcing_overdue",
                        "batch=WF202611-0001", "days=3"], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parent.parent)
    assert r.returncode == 0, r.stderr
    assert "您有1张外发单已超期：WF202611-0001（超期天数 3）" in r.stdout
