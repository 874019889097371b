"""Background jobs survive Redis and worker faults (issue 19, items 1 and 2).

The deployed topology on loopback: the database (SQLite or PostgreSQL, as the suite runs), a
redis-server of the test's own, two gunicorn web processes, two `jig worker`, one `jig scheduler`,
and the SMS simulator as the provider. Leases and ticks are short (JIG_LEASE_SECONDS=4,
JIG_POLL_SECONDS=0.5) so the faults play out in seconds; waits are safety limits, never measurements
(RQ's own cleanup, which the old code waited for, takes minutes: far beyond these limits).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from rules.service import rules_of
from runtime import clock
from runtime.auth import SYSTEM

from .proc_support import ROOT, RedisServer, free_port, jig, jig_env, spawn, stop, wait_for

LEASE, TICK = 4, 0.5
SAFETY = 90  # seconds: a limit for a stuck test, not a timing claim

APP = """
app: faults
roles: [clerk]
sms:
  provider: aliyun
  access_key_id: ${ALIYUN_KEY_ID}
  access_key_secret: ${ALIYUN_SECRET}
  sign_name: 测试工厂
  endpoint: {endpoint}
  timeout: 60
templates:
  shipped: {text: "外发单{{ batch }}已发出", provider_template: SMS_2}
entities:
  partner:
    fields:
      name: {type: text}
      phone: {type: phone}
    permissions:
      clerk: {read: true}  # a clerk links batches to partners, so may read them
  batch:
    naming: "WF{####}"
    fields:
      partner: {type: link, to: partner}
    permissions:
      clerk: {read: true, create: true}
rules:
  shipped:
    on: {event: created, entity: batch}
    do:
      - sms: {to: "partner.phone", template: shipped, params: {batch: "name"}}
"""


class Topology:
    """The processes of a deployment, started and killed at will; logs in tmp_path for failed assertions."""

    def __init__(self, tmp_path: Path, database_url: str, apps: Path, redis: RedisServer):
        from rules.sms import simulator
        self.tmp = tmp_path
        self.redis = redis
        self.env = jig_env(tmp_path, database_url, apps, JIG_REDIS_URL=redis.url, JIG_POLL_SECONDS=str(TICK),
                           JIG_LEASE_SECONDS=str(LEASE), ALIYUN_KEY_ID=simulator.ALIYUN_KEY_ID,
                           ALIYUN_SECRET=simulator.ALIYUN_SECRET, JIG_LOG_LEVEL="INFO")
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.port = 0
        self._n = 0

    def log(self, name: str) -> Path:
        return self.tmp / f"{name}.log"

    def start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        self.procs[name] = spawn(args, self.env, self.log(name))
        return self.procs[name]

    def web(self) -> None:
        self.port = free_port()
        self.start("web", [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{self.port}",
                           "--timeout", "120", "jig.wsgi:application"])

    def worker(self) -> subprocess.Popen[bytes]:
        self._n += 1
        return self.start(f"worker{self._n}", jig("worker"))

    def scheduler(self) -> subprocess.Popen[bytes]:
        return self.start("scheduler", jig("scheduler"))

    def workers(self) -> list[subprocess.Popen[bytes]]:
        return [p for n, p in self.procs.items() if n.startswith("worker") and p.poll() is None]

    def stop_all(self) -> None:
        for p in self.procs.values():
            stop(p)

    def logs(self) -> str:
        return "\n".join(f"---- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.tmp.glob("*.log"))


def _outbox(rt: Any) -> list[dict[str, Any]]:
    t = rt.outbox.table
    with rt.db.read() as conn:
        return [dict(r) for r in conn.execute(select(t).order_by(t.c.id)).mappings()]


def _all_sent(rt: Any, n: int) -> bool:
    rows = _outbox(rt)
    return len(rows) == n and all(r["status"] == "sent" for r in rows)


def _exactly_once(sim: Any, rt: Any, n: int) -> None:
    per_key = Counter(d["key"] for d in sim.delivered)
    keys = {r["key"] for r in _outbox(rt)}
    assert set(per_key) == keys and len(keys) == n, "an SMS never arrived"
    assert set(per_key.values()) == {1}, f"an SMS arrived twice: {per_key.most_common(3)}"


def _setup(make_runtime: Any, tmp_path: Path, endpoint: str, partners: int) -> tuple[Any, Path, list[int]]:
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "faults.yaml").write_text(APP.replace("{endpoint}", endpoint), encoding="utf-8")
    rt = make_runtime(apps=[apps], extensions=True)  # this test's view of the database; it runs no jobs
    p = rt.entity("faults", "partner")
    ids = [rt.records.create(SYSTEM, p, {"name": f"P{i}", "phone": f"1380000{i:04d}"})["id"] for i in range(partners)]
    return rt, apps, ids


def _holder_pid(row: dict[str, Any]) -> int:
    m = re.match(r"^[^:]*:(\d+):rq$", row["leased_by"] or "")
    assert m, row
    return int(m.group(1))


def _hang_next_send(sim: Any, rt: Any, create: Any, before: int, then: Any = None) -> dict[str, Any]:
    """Make the provider take the next SMS and then hang; returns its outbox row, leased by a worker."""
    sim.inject("aliyun", "timeout")
    create()
    if then is not None:
        then()
    row = wait_for(lambda: next((r for r in _outbox(rt)[before:] if r["status"] == "sending"), None), SAFETY,
                   "a worker to lease the row")
    wait_for(lambda: any(d["key"] == row["key"] for d in sim.delivered), SAFETY, "the provider to take the SMS")
    return row


@pytest.mark.one_pass("postgresql", reason="RQ workers scale out on PostgreSQL")
@pytest.mark.slow
def test_worker_killed_holding_a_row_and_redis_restarted_empty_delivers_every_sms_once(
        make_runtime: Any, tmp_path: Path, database_url: str) -> None:
    from rules.sms import simulator
    sim, base, stop_sim = simulator.start_simulator(sim=simulator.Simulator(timeout_delay=40))
    redis = RedisServer(tmp_path / "redis")
    rt, apps, partners = _setup(make_runtime, tmp_path, f"{base}/aliyun", 12)
    rt.users.add("clerk", "pw-123456", ["clerk"])
    token = rt.users.create_token("clerk")
    top = Topology(tmp_path, database_url, apps, redis)
    made = [0]

    def create() -> None:
        i = made[0] % len(partners)
        made[0] += 1
        r = requests.post(f"http://127.0.0.1:{top.port}/api/faults/batch", json={"partner": partners[i]},
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code == 201, r.text

    try:
        redis.start()
        top.web()
        top.worker()
        top.worker()
        top.scheduler()
        wait_for(lambda: requests.get(f"http://127.0.0.1:{top.port}/", timeout=5).ok, SAFETY, "the web processes")
        for _ in range(4):
            create()
        wait_for(lambda: _all_sent(rt, 4), SAFETY, "the first SMS")

        # 1. a worker is killed while it holds a row (the provider took the SMS, the answer never came),
        #    and Redis restarts empty: the row's lease runs out and the scheduler enqueues it again
        row = _hang_next_send(sim, rt, create, 4)
        pid = _holder_pid(row)
        assert pid in [p.pid for p in top.workers()]
        killed = next(n for n, p in top.procs.items() if p.pid == pid)
        top.procs[killed].send_signal(signal.SIGKILL)
        top.procs[killed].wait(10)
        redis.stop()
        redis.start()
        for _ in range(4):
            create()
        wait_for(lambda: _all_sent(rt, 9), SAFETY, "every SMS after the kill and the empty Redis")
        again = next(r for r in _outbox(rt) if r["id"] == row["id"])
        assert again["attempts"] == 2 and again["status"] == "sent"
        recovered = (again["sent_at"] - row["lease_until"]).total_seconds()
        print(f"\nrow {row['id']}: sent {recovered:.1f} s after its lease ran out (tick {TICK} s, lease {LEASE} s)")
        _exactly_once(sim, rt, 9)

        # 2. the same with the scheduler down: `jig outbox retry ID` puts the expired `sending` row back
        top.worker()  # the supervisor restarts the killed worker
        stop(top.procs["scheduler"])  # this test ticks once itself: nobody else may enqueue the row again

        def tick() -> None:
            from redis import Redis
            from rq import Queue

            from rules import jobs
            assert jobs.enqueue_due(rt, Queue(jobs.QUEUE, connection=Redis.from_url(redis.url)))["outbox"] == 1
        row = _hang_next_send(sim, rt, create, 9, then=tick)
        holder = next(p for p in top.workers() if p.pid == _holder_pid(row))
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        redis.stop()
        redis.start()
        wait_for(lambda: clock.now() > row["lease_until"] + dt.timedelta(seconds=1), SAFETY, "the lease to run out")
        assert next(r for r in _outbox(rt) if r["id"] == row["id"])["status"] == "sending"
        done = subprocess.run(jig("outbox", "retry", str(row["id"])), cwd=ROOT, env=top.env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0 and "1 row(s) queued again" in done.stdout, done.stdout + done.stderr
        assert next(r for r in _outbox(rt) if r["id"] == row["id"])["status"] == "pending"
        top.scheduler()
        wait_for(lambda: _all_sent(rt, 10), SAFETY, "the retried row")
        _exactly_once(sim, rt, 10)
        assert all(p.poll() is None for p in top.workers()), top.logs()
    except AssertionError:
        print(top.logs())
        raise
    finally:
        top.stop_all()
        redis.stop()
        stop_sim()


@pytest.mark.one_pass("postgresql", reason="RQ workers scale out on PostgreSQL")
@pytest.mark.slow
def test_redis_stopped_and_started_under_running_workers(make_runtime: Any, tmp_path: Path,
                                                         database_url: str) -> None:
    from rules.sms import simulator
    sim, base, stop_sim = simulator.start_simulator(sim=simulator.Simulator(timeout_delay=0.2))
    sim.inject("aliyun", "timeout", rate=1.0)  # every send takes a moment: Redis drops while workers are busy
    redis = RedisServer(tmp_path / "redis")
    rt, apps, partners = _setup(make_runtime, tmp_path, f"{base}/aliyun", 30)
    batch = rt.entity("faults", "batch")
    top = Topology(tmp_path, database_url, apps, redis)
    try:
        redis.start()
        workers = [top.worker(), top.worker()]
        top.scheduler()
        for pid in partners:
            rt.records.create(SYSTEM, batch, {"partner": pid})
        wait_for(lambda: len(sim.delivered) >= 4, SAFETY, "the workers to start sending")
        redis.stop()
        wait_for(lambda: "lost Redis" in top.log("scheduler").read_text() or "tick failed" in
                 top.log("scheduler").read_text(), SAFETY, "the scheduler to notice")
        redis.start()
        for pid in partners[:5]:  # more work after the outage
            rt.records.create(SYSTEM, batch, {"partner": pid})
        wait_for(lambda: _all_sent(rt, 35), SAFETY, "the workers to finish the work")
        _exactly_once(sim, rt, 35)
        assert all(w.poll() is None for w in workers), "a worker quit"
        sched = top.log("scheduler").read_text()
        assert sched.count("RQ scheduler tick failed") == 1, "the scheduler logs an outage once"
        assert sched.count("ticks succeed again") == 1
        assert rt.outbox.counts() == {"sent": 35}
        with rt.db.read() as conn:
            assert conn.execute(select(func.count()).select_from(rt.outbox.table)).scalar_one() == 35
    except AssertionError:
        print(top.logs())
        raise
    finally:
        top.stop_all()
        redis.stop()
        stop_sim()


LEADER_APP = APP.replace("""rules:
""", """rules:
  overdue:
    on: {schedule: "every 1m"}
    for_each: batch
    when: "partner.name == 'late'"
    once: per_day
    do:
      - sms: {to: "partner.phone", template: shipped, params: {batch: "name"}}
""")


@pytest.mark.one_pass("sqlite", reason="the embedded jobs are the one-PC default")
@pytest.mark.slow
def test_gunicorn_without_redis_runs_the_jobs_in_one_process_and_another_takes_over(
        make_runtime: Any, tmp_path: Path, database_url: str) -> None:
    """`gunicorn -w 2 jig.wsgi:application` and no Redis: the embedded jobs start in both workers, the one
    holding the database lease runs them (scheduled and event rules, SMS); kill it and the other takes over."""
    from rules.jobs import EmbeddedJobs
    from rules.sms import simulator
    sim, base, stop_sim = simulator.start_simulator()
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "faults.yaml").write_text(LEADER_APP.replace("{endpoint}", f"{base}/aliyun"), encoding="utf-8")
    rt = make_runtime(apps=[apps], extensions=True)
    partner, batch = rt.entity("faults", "partner"), rt.entity("faults", "batch")
    late = rt.records.create(SYSTEM, partner, {"name": "late", "phone": "13800000001"})["id"]
    ontime = rt.records.create(SYSTEM, partner, {"name": "ok", "phone": "13800000002"})["id"]
    for _ in range(3):
        rt.records.create(SYSTEM, batch, {"partner": late})  # 3 event SMS now, 3 overdue SMS at the first run
    rt.users.add("clerk", "pw-123456", ["clerk"])
    token = rt.users.create_token("clerk")
    booted = tmp_path / "booted"
    booted.mkdir()
    conf = tmp_path / "gunicorn.py"
    conf.write_text(f"def post_worker_init(worker):\n    open('{booted}/' + str(worker.pid), 'w').close()\n")
    port = free_port()
    env = jig_env(tmp_path, database_url, apps, JIG_POLL_SECONDS=str(TICK), JIG_JOBS_LEASE_SECONDS="6",
                  ALIYUN_KEY_ID=simulator.ALIYUN_KEY_ID, ALIYUN_SECRET=simulator.ALIYUN_SECRET)
    log = tmp_path / "gunicorn.log"
    web = spawn([sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "-c", str(conf),
                 "--timeout", "120", "jig.wsgi:application"], env, log)
    try:
        wait_for(lambda: len(list(booted.iterdir())) == 2, SAFETY, "two gunicorn workers")
        pids = {int(p.name) for p in booted.iterdir()}
        wait_for(lambda: _all_sent(rt, 6), SAFETY, "the event and scheduled SMS")
        holder = rt.leases.holder(EmbeddedJobs.LEASE)
        assert holder is not None
        first = _holder_pid({"leased_by": holder["holder"].replace(":embedded", ":rq")})
        assert first in pids
        assert {r["leased_by"] for r in _outbox(rt)} == {holder["holder"]}, "one process ran every job"
        state = {s["name"]: s for s in rules_of(rt).scheduler.state()}
        assert state["rule:faults.overdue"]["runs"] == 1

        os.kill(first, signal.SIGKILL)
        r = requests.post(f"http://127.0.0.1:{port}/api/faults/batch", json={"partner": ontime},
                          headers={"Authorization": f"Bearer {token}"}, timeout=60)
        assert r.status_code == 201, r.text
        wait_for(lambda: _all_sent(rt, 7), SAFETY, "another process to take the jobs over")
        now_holder = rt.leases.holder(EmbeddedJobs.LEASE)
        assert now_holder is not None and now_holder["holder"] != holder["holder"]
        assert _outbox(rt)[-1]["leased_by"] == now_holder["holder"]
        _exactly_once(sim, rt, 7)
        assert web.poll() is None
    except AssertionError:
        print(log.read_text(errors="replace")[-5000:])
        raise
    finally:
        stop(web)
        stop_sim()
