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

from .service import rules_of

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


def jobs_lease_seconds() -> float:
    return float(os.environ.get("JIG_JOBS_LEASE_SECONDS", "30"))


class EmbeddedJobs:
    """One background thread that runs due schedules and outbox rows: used when there is no Redis.

    It starts wherever Jig serves (`jig serve`, every gunicorn worker of `jig.wsgi:application`,
    `jig scheduler`), but only the process holding the ``embedded-jobs`` lease in the database runs the
    jobs; the others wait, and one of them takes over within a lease when the holder dies.
    """

    LEASE = "embedded-jobs"

    def __init__(self, rt: Any, scheduler: Any):
        from runtime.leases import Keeper
        self.rt = rt
        self.scheduler = scheduler
        self.worker = worker_id("embedded")
        self.keeper = Keeper(rt.leases, self.LEASE, self.worker, jobs_lease_seconds())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> dict[str, Any]:
        reports = self.scheduler.tick(self.worker)
        delivered = drain_outbox(self.rt, self.worker)
        return {"schedules": reports, "outbox": delivered}

    def run_forever(self) -> None:
        """Run jobs in this thread (while this process holds the lease) until :meth:`stop`."""
        log.info("embedded jobs ready (%s), polling every %g s while this process holds the '%s' lease",
                 self.worker, poll_seconds(), self.LEASE)
        self.keeper.start()
        self.keeper.held.wait(min(1.0, poll_seconds()))
        while not self._stop.is_set():
            if self.keeper.held.is_set():
                try:
                    self.run_once()
                except Exception:  # noqa: BLE001 - keep the loop alive; the database keeps the state
                    log.exception("embedded jobs: tick failed")
            self._stop.wait(poll_seconds())
        self.keeper.stop()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self.run_forever, name="jig-jobs", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        else:
            self.keeper.stop()


# ---- RQ backend --------------------------------------------------------------

QUEUE = "jig"


def worker_class() -> Any:
    """RQ's in-process worker that hands its runtime source to the jobs it performs.

    The source (a running Jig, or a runtime) is an attribute of the worker, not a module global: a job finds
    it on the RQ job being performed (``rq.get_current_job()``), so two workers in one process with two
    runtimes never see each other's.
    """
    from rq import SimpleWorker

    class JigWorker(SimpleWorker):
        def __init__(self, *args: Any, runtime_source: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.runtime_source = runtime_source

        def perform_job(self, job: Any, queue: Any, *args: Any, **kwargs: Any) -> bool:
            job.jig_runtime_source = self.runtime_source  # not saved to Redis: lives while the job runs here
            return bool(super().perform_job(job, queue, *args, **kwargs))

    return JigWorker


def _rt() -> Any:
    """The runtime serving this RQ job: the performing worker's source's current one (it follows publishes)."""
    from rq import get_current_job
    source = getattr(get_current_job(), "jig_runtime_source", None)
    if source is None:
        raise RuntimeError("Jig's RQ jobs run inside `jig worker`, which provides their runtime")
    return source.current()


def run_schedule(name: str) -> Any:
    """RQ job: run one schedule if it is still due (another worker may have run it)."""
    rt = _rt()
    report = rules_of(rt).scheduler.run(name, worker_id("rq"))
    return repr(report)


def deliver(item_id: int) -> str:
    """RQ job: deliver one outbox row if it is still due; its lease keeps other workers off it."""
    rt = _rt()
    worker = worker_id("rq")
    items = rt.outbox.claim(worker, limit=1, ids=[item_id])
    if not items:
        return "not due"
    return str(rt.outbox.process(items[0], worker))


def requeue_seconds() -> float:
    """How long a job Redis says is queued or running may stay so while the database still says its work is
    due, before the scheduler enqueues it again (a record can outlive its job: a worker killed between
    taking a job and leasing the row). Defaults to the lease time, so recovery takes a lease plus a tick."""
    from runtime.outbox import lease_seconds
    return float(os.environ.get("JIG_REQUEUE_SECONDS", lease_seconds()))


def enqueue_due(rt: Any, queue: Any) -> dict[str, int]:
    """What the RQ scheduler does each tick: turn what the database says is due into RQ jobs.

    The database decides what is due: waiting outbox rows whose time came, ``sending`` rows whose lease ran
    out (their worker died, or Redis lost their job), due schedules. Redis only saves duplicate work: a job
    it still holds for the row is trusted for ``requeue_seconds()``, then enqueued again (a duplicate finds
    the row leased or settled and does nothing). Job ids name the row and its attempt, so a row reclaimed
    after an expired lease gets a new job whatever stale record Redis keeps of the old one.
    """
    counts = {"schedules": 0, "outbox": 0}
    grace = requeue_seconds()
    scheduler = rules_of(rt).scheduler
    for name in scheduler.due():
        job_id = f"jig-schedule-{name}".replace(":", "-").replace(".", "-")
        if not _pending_job(queue, job_id, grace):
            queue.enqueue(run_schedule, name, job_id=job_id, result_ttl=60, failure_ttl=86400)
            counts["schedules"] += 1
    for item_id, attempts in rt.outbox.due():
        job_id = f"jig-outbox-{item_id}-{attempts}"
        if not _pending_job(queue, job_id, grace):
            queue.enqueue(deliver, item_id, job_id=job_id, result_ttl=60, failure_ttl=86400)
            counts["outbox"] += 1
    return counts


def _pending_job(queue: Any, job_id: str, grace: float) -> bool:
    """Whether Redis holds a job with this id that was queued or started less than ``grace`` seconds ago."""
    import datetime as dt

    from rq.job import Job
    try:
        job = Job.fetch(job_id, connection=queue.connection)
    except Exception:  # noqa: BLE001 - NoSuchJobError and friends: not queued
        return False
    if job.get_status(refresh=False) not in ("queued", "started", "scheduled", "deferred"):
        return False
    since = job.started_at or job.enqueued_at
    if since is None:
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    return (dt.datetime.now(dt.UTC) - since).total_seconds() < grace


def scheduler_loop(rt: Any, redis_url: str, stop: threading.Event | None = None, once: bool = False) -> None:
    """The RQ scheduler: every tick, enqueue what is due. Survives Redis (and database) outages: it logs
    once when a tick fails, keeps trying every tick, and logs once when ticks succeed again."""
    from redis import Redis
    from rq import Queue
    queue = Queue(QUEUE, connection=Redis.from_url(redis_url, health_check_interval=10))
    log.info("RQ scheduler feeding queue '%s' every %g s", QUEUE, poll_seconds())
    failing_since: float | None = None
    while True:
        try:
            counts = enqueue_due(rt, queue)
            if failing_since is not None:
                log.warning("RQ scheduler: ticks succeed again after %.0f s", time.monotonic() - failing_since)
                failing_since = None
            if any(counts.values()):
                log.info("enqueued %s", counts)
        except Exception as exc:  # noqa: BLE001 - Redis down: retry next tick; the database still holds everything
            if failing_since is None:
                failing_since = time.monotonic()
                log.error("RQ scheduler tick failed (%s: %s); retrying every %g s, logging again on recovery",
                          type(exc).__name__, exc, poll_seconds())
            else:
                log.debug("RQ scheduler tick failed again", exc_info=True)
        if once or (stop is not None and stop.is_set()):
            return
        if stop is not None:
            stop.wait(poll_seconds())
        else:
            time.sleep(poll_seconds())


def run_worker(source: Any, redis_url: str, burst: bool = False) -> None:
    """`jig worker`: an RQ worker that outlives Redis outages.

    RQ's worker quits when Redis drops in the middle of a job ("found an unhandled exception, quitting").
    This loop starts a fresh one instead, after a backoff (1 s doubling to 30 s) while Redis cannot be
    reached; the outage is logged once, the recovery once. The job that was running when Redis dropped
    has done its database work (it is settled there, or its lease runs out and it is enqueued again).
    SIGTERM/SIGINT stop it: at once when idle, after the current job when busy.
    """
    import signal

    from redis import Redis
    from redis.exceptions import RedisError
    from rq import Queue

    stopping = threading.Event()
    delay, down_since = 1.0, None
    while not stopping.is_set():
        conn = Redis.from_url(redis_url, health_check_interval=10)
        problem = ""
        try:
            conn.ping()
            if down_since is not None:
                log.warning("worker: Redis is back after %.0f s; working again", time.monotonic() - down_since)
                down_since, delay = None, 1.0
            w = worker_class()([Queue(QUEUE, connection=conn)], connection=conn, runtime_source=source)
            w.work(burst=burst, logging_level=os.environ.get("JIG_LOG_LEVEL", "INFO"))
            if burst or w._shutdown_requested_date is not None or w._stop_requested:  # noqa: SLF001
                return
            problem = "the RQ worker stopped on an error logged above"
        except RedisError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        # signals between two RQ workers (RQ installs its own while it works)
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        signal.signal(signal.SIGINT, lambda *_: stopping.set())
        if down_since is None:
            down_since = time.monotonic()
            log.error("worker: lost Redis (%s); starting again with backoff, logging again on recovery", problem)
        stopping.wait(delay)
        delay = min(30.0, delay * 2)
