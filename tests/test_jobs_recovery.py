"""The mechanisms behind issue 19, one by one: the database decides what is due, whatever Redis says;
a lost lease neither delivers nor settles; `jig outbox retry` takes expired `sending` rows; one lease
holder at a time; a new cron schedule first runs at its next occurrence."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import pytest
from click.testing import CliRunner

from rules.service import rules_of
from runtime import clock
from runtime.outbox import Outcome, lease_seconds

from .conftest import FROZEN_NOW

T = FROZEN_NOW


def _add(rt: Any, n: int = 1) -> None:
    with rt.db.write() as conn:
        for i in range(n):
            rt.outbox.add(conn, "sms", {"to": "13800001111", "text": f"m{i}"}, key=f"k{i}")


def test_a_worker_that_lost_its_lease_neither_delivers_nor_settles(make_runtime: Any) -> None:
    rt = make_runtime()
    calls: list[int] = []
    rt.outbox.register("sms", lambda item: (calls.append(item.attempts), Outcome.sent())[1])
    with clock.frozen(T):
        _add(rt)
        [old] = rt.outbox.claim("w")
    later = T + dt.timedelta(seconds=lease_seconds() + 1)
    with clock.frozen(later):
        assert rt.outbox.process(old, "w") == "stale" and calls == []  # paused past its lease: hands off
        [new] = rt.outbox.claim("w")  # the same worker claims it again: a new lease (attempt 2)
        assert rt.outbox.settle(old, Outcome.sent(), "w") == "stale"  # the old claim cannot settle it
        assert rt.outbox.process(new, "w") == "sent" and calls == [2]
    assert rt.outbox.counts() == {"sent": 1}


def test_outbox_retry_takes_expired_sending_rows_and_leaves_live_ones(make_runtime: Any) -> None:
    rt = make_runtime()
    with clock.frozen(T):
        _add(rt, 2)
        items = rt.outbox.claim("dead-worker")
        assert rt.outbox.retry(items[0].id) == 0  # still leased: being sent right now
    with clock.frozen(T + dt.timedelta(seconds=lease_seconds() + 1)):
        assert rt.outbox.retry(items[0].id) == 1
        row = rt.outbox.get(items[0].id)
        assert row is not None and row["status"] == "pending" and row["leased_by"] is None
        assert row["attempts"] == 1  # not a dead row: its attempt budget stays
        assert sorted(i for i, _ in rt.outbox.due()) == [
            items[0].id, items[1].id]  # the other expired row is due too, without a retry


def test_outbox_retry_command_explains_rows_it_cannot_retry(make_runtime: Any, database_url: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from jig.cli import cli
    rt = make_runtime()
    _add(rt)
    [item] = rt.outbox.claim("host:4242:rq")
    monkeypatch.setenv("JIG_AUTO_MIGRATE", "0")
    runner = CliRunner()
    r = runner.invoke(cli, ["--apps", "apps", "--database", database_url, "outbox", "retry", str(item.id)])
    assert r.exit_code == 1 and "is being sent by host:4242:rq" in r.output, r.output
    r = runner.invoke(cli, ["--apps", "apps", "--database", database_url, "outbox", "retry", "999"])
    assert r.exit_code == 1 and "no outbox row 999" in r.output


def test_leases_have_one_holder_and_change_hands_when_it_runs_out(make_runtime: Any) -> None:
    rt = make_runtime()
    with clock.frozen(T):
        assert rt.leases.acquire("jobs", "a", 30)
        assert not rt.leases.acquire("jobs", "b", 30)
        assert rt.leases.acquire("jobs", "a", 30)  # renewal
    with clock.frozen(T + dt.timedelta(seconds=29)):
        assert not rt.leases.acquire("jobs", "b", 30)  # a renewed at T: still a's
    with clock.frozen(T + dt.timedelta(seconds=31)):
        assert rt.leases.acquire("jobs", "b", 30)  # a died: b takes over
        assert not rt.leases.acquire("jobs", "a", 30)
        holder = rt.leases.holder("jobs")
        assert holder is not None and holder["holder"] == "b"
        rt.leases.release("jobs", "b")
        assert rt.leases.holder("jobs") is None
        assert rt.leases.acquire("jobs", "a", 30)


def test_a_new_cron_schedule_first_runs_at_its_next_occurrence(make_runtime: Any) -> None:
    from rules.schedule import parse_schedule
    from rules.scheduler import Job, Scheduler
    rt = make_runtime(extensions=True)
    table = rt.tables.system["jig_schedules"]
    ran: list[str] = []
    sched = Scheduler(rt.db, table)
    sched.add(Job("nightly", parse_schedule("0 2 * * *"), lambda w, r: ran.append("nightly")))
    sched.add(Job("hourly", parse_schedule("every 1h"), lambda w, r: ran.append("hourly")))
    with clock.frozen(dt.datetime(2026, 11, 20, 6, 43)):
        sched.tick("w")
    assert ran == ["hourly"]  # an interval starts at once; the cron line waits for 02:00
    state = {s["name"]: s for s in sched.state()}
    assert state["nightly"]["next_run_at"] == dt.datetime(2026, 11, 21, 2, 0)
    with clock.frozen(dt.datetime(2026, 11, 21, 2, 0)):
        sched.tick("w")
    assert ran.count("nightly") == 1
    on_time = Scheduler(rt.db, table)  # deployed exactly at an occurrence: that one runs
    on_time.add(Job("at-eight", parse_schedule("0 8 * * *"), lambda w, r: ran.append("at-eight")))
    with clock.frozen(dt.datetime(2026, 11, 21, 8, 0)):
        on_time.tick("w")
    assert ran[-1] == "at-eight"


@pytest.fixture
def queue() -> Any:
    url = os.environ.get("JIG_TEST_REDIS_URL")
    if not url:
        pytest.skip("JIG_TEST_REDIS_URL not set (run scripts/test.sh)")
    from redis import Redis
    from rq import Queue
    conn = Redis.from_url(url)
    conn.flushdb()
    yield Queue("jig", connection=conn)
    conn.flushdb()


def test_enqueue_due_trusts_the_database_not_stale_redis_records(make_runtime: Any, queue: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from rules import jobs
    rt = make_runtime(extensions=True)
    _add(rt, 2)
    monkeypatch.setenv("JIG_REQUEUE_SECONDS", "60")
    first = jobs.enqueue_due(rt, queue)
    assert first["outbox"] == 2
    assert jobs.enqueue_due(rt, queue)["outbox"] == 0  # queued moments ago: trusted
    # a record that says "queued" for longer than the grace (its worker died after taking it): enqueued again
    monkeypatch.setenv("JIG_REQUEUE_SECONDS", "0")
    assert jobs.enqueue_due(rt, queue)["outbox"] == 2
    # a row whose worker died holding it: due again once the lease ran out, under a new job id
    monkeypatch.setenv("JIG_REQUEUE_SECONDS", "60")
    items = rt.outbox.claim("gone", limit=1)
    with clock.frozen(clock.now() + dt.timedelta(seconds=lease_seconds() + 1)):
        ids = {f"jig-outbox-{i}-{a}" for i, a in rt.outbox.due()}
        assert f"jig-outbox-{items[0].id}-1" in ids
        assert jobs.enqueue_due(rt, queue)["outbox"] == 1  # the other row's job is still fresh in Redis
    assert f"jig-outbox-{items[0].id}-1" in queue.job_ids


def test_a_schedule_whose_run_was_killed_is_enqueued_again_after_its_lease(make_runtime: Any, queue: Any,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule run killed halfway under RQ: its job record still says "started", but the schedule's lease
    ran out, so the next tick enqueues it again (it waited for RQ's cleanup, 7 minutes, before)."""
    from rules import jobs
    from rules.scheduler import lease_seconds as schedule_lease
    rt = make_runtime(extensions=True)
    scheduler = rules_of(rt).scheduler
    monkeypatch.setenv("JIG_REQUEUE_SECONDS", "0")
    with clock.frozen(T):
        assert jobs.enqueue_due(rt, queue)["schedules"] > 0
        name = "rule:outsourcing.overdue_reminder"
        assert scheduler.claim(name, "killed-worker") is not None  # the worker took it, then died
        assert name not in scheduler.due()
    with clock.frozen(T + dt.timedelta(seconds=schedule_lease() + 1)):
        assert name in scheduler.due()
        assert jobs.enqueue_due(rt, queue)["schedules"] >= 1
    assert "jig-schedule-rule-outsourcing-overdue_reminder" in queue.job_ids
