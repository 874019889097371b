"""Job backends behind one interface: an embedded thread, or RQ workers on Redis.

Both run the same two kinds of work: due schedules (``Scheduler.run``) and
due outbox rows (``Outbox.claim`` → handler → ``settle``). The database
holds all state; Redis only carries "please do this now" messages, so losing
Redis loses nothing: the RQ scheduler re-enqueues whatever the database says
is due. Job ids derived from the database rows make duplicates harmless
(a second copy finds the row already leased or settled).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

log = logging.getLogger("jig.jobs")


def worker_id(kind: str) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{kind}"[:64]


def poll_seconds() -> float:
    return float(os.environ.get("JIG_POLL_SECONDS", "5"))


def drain_outbox(rt: Any, worker: str, batch: int = 50) -> dict[str, int]:
    """Deliver due outbox rows until none are due (or a batch made no progress)."""
    totals: dict[str, int] = {}
    while True:
        counts = rt.outbox.run_due(worker, batch)
        for k, v in counts.items():
            totals[k] = totals.get(k, 0) + v
        if sum(counts.values()) < batch:
            return totals


class EmbeddedJobs:
    """One background thread inside `jig serve`: the default for a one-PC install on SQLite."""

    def __init__(self, rt: Any, scheduler: Any):
        self.rt = rt
        self.scheduler = scheduler
        self.worker = worker_id("embedded")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> dict[str, Any]:
        reports = self.scheduler.tick(self.worker)
        delivered = drain_outbox(self.rt, self.worker)
        return {"schedules": reports, "outbox": delivered}

    def _loop(self) -> None:
        log.info("embedded jobs started (%s), polling every %.0f s", self.worker, poll_seconds())
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - keep the loop alive; the database keeps the state
                log.exception("embedded jobs: tick failed")
            self._stop.wait(poll_seconds())

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="jig-jobs", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


# ---- RQ backend --------------------------------------------------------------

QUEUE = "jig"
_runtime: Any = None


def _rt() -> Any:
    """The runtime of this worker process, built once from the environment."""
    global _runtime
    if _runtime is None:
        os.environ.setdefault("JIG_EMBEDDED_JOBS", "0")
        from jig.app import build_runtime
        from jig.config import Settings
        _runtime = build_runtime(Settings.from_env(), migrate=False)
    return _runtime


def run_schedule(name: str) -> Any:
    """RQ job: run one schedule if it is still due (another worker may have run it)."""
    rt = _rt()
    report = rt.services["rules"]["scheduler"].run(name, worker_id("rq"))
    return repr(report)


def deliver(item_id: int) -> str:
    """RQ job: deliver one outbox row if it is still due; its lease keeps other workers off it."""
    rt = _rt()
    worker = worker_id("rq")
    items = rt.outbox.claim(worker, limit=1, ids=[item_id])
    if not items:
        return "not due"
    return rt.outbox.settle(items[0], rt.outbox.deliver(items[0]), worker)


def enqueue_due(rt: Any, queue: Any) -> dict[str, int]:
    """What the RQ scheduler does each tick: turn due database rows into RQ jobs."""
    from rq import Retry
    from rq.job import Job
    from sqlalchemy import select

    counts = {"schedules": 0, "outbox": 0, "later": 0}
    scheduler = rt.services["rules"]["scheduler"]
    for name in scheduler.due():
        job_id = f"jig-schedule-{name}".replace(":", "-").replace(".", "-")
        if not _queued(queue, Job, job_id):
            queue.enqueue(run_schedule, name, job_id=job_id, retry=Retry(max=3, interval=[10, 30, 60]),
                          result_ttl=60, failure_ttl=86400)
            counts["schedules"] += 1
    t = rt.outbox.table
    from runtime import clock
    now = clock.now()
    horizon = now.replace(microsecond=0)
    with rt.db.read() as conn:
        rows = conn.execute(select(t.c.id, t.c.attempts, t.c.available_at, t.c.status).where(
            t.c.status.in_(["pending", "retry", "sending"])).order_by(t.c.available_at).limit(1000)).all()
    for item_id, attempts, available_at, status in rows:
        if status == "sending":
            continue  # leased; if its worker died, the lease runs out and it shows up as due again
        job_id = f"jig-outbox-{item_id}-{attempts}"
        if _queued(queue, Job, job_id):
            continue
        if available_at <= horizon:
            queue.enqueue(deliver, item_id, job_id=job_id, retry=Retry(max=2, interval=[5, 30]), result_ttl=60)
            counts["outbox"] += 1
        else:
            # RQ's own scheduling holds the retry until its time (needs `rq worker --with-scheduler`).
            import datetime as dt
            when = (available_at - now).total_seconds()
            queue.enqueue_in(dt.timedelta(seconds=max(1.0, when)), deliver, item_id, job_id=job_id, result_ttl=60)
            counts["later"] += 1
    return counts


def _queued(queue: Any, job_cls: Any, job_id: str) -> bool:
    try:
        job = job_cls.fetch(job_id, connection=queue.connection)
    except Exception:  # noqa: BLE001 - NoSuchJobError and friends: not queued
        return False
    return job.get_status(refresh=False) in ("queued", "started", "scheduled", "deferred")


def scheduler_loop(rt: Any, redis_url: str, stop: threading.Event | None = None, once: bool = False) -> None:
    from redis import Redis
    from rq import Queue
    queue = Queue(QUEUE, connection=Redis.from_url(redis_url))
    log.info("RQ scheduler feeding queue '%s' every %.0f s", QUEUE, poll_seconds())
    while True:
        try:
            counts = enqueue_due(rt, queue)
            if any(counts.values()):
                log.info("enqueued %s", counts)
        except Exception:  # noqa: BLE001 - Redis down: retry next tick; the database still holds everything
            log.exception("RQ scheduler tick failed")
        if once or (stop is not None and stop.is_set()):
            return
        time.sleep(poll_seconds())
