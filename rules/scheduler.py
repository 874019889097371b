"""The scheduler: which schedules are due, run each due one once, remember it in the database.

State lives in ``jig_schedules`` (next run, last run, lease), never only in
memory or Redis, so a restart continues where the last process stopped.
A due schedule is leased to one worker (several workers on several machines
never run it twice at once); a crashed worker's lease runs out and another
takes over. After downtime, the missed runs are run *once*, and the log says
how many were missed.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from runtime import clock
from runtime.extensions import ScheduledJob

from .schedule import Schedule

log = logging.getLogger("jig.scheduler")


def lease_seconds() -> int:
    return int(os.environ.get("JIG_LEASE_SECONDS", "60"))


def first_run(schedule: Schedule, now: dt.datetime) -> dt.datetime:
    """When a schedule seen for the first time first runs. A cron line names its times: the next one
    ("0 2 * * *" first runs at 02:00, not on deploy; now itself if now is one). An interval ("every 1h")
    starts at once when inside its window, else at the window's next start."""
    if schedule.cron is not None:
        return schedule.next_after(now - dt.timedelta(seconds=1))
    return now if schedule.in_window(now) else schedule.next_after(now)


@dataclass
class Job:
    name: str
    schedule: Schedule
    run: Callable[[str, Callable[[], None]], Any]  # (worker, renew_lease) -> report


class Scheduler:
    def __init__(self, db: Any, table: Table, published: list[ScheduledJob] | None = None):
        self.db = db
        self.table = table
        self._jobs: dict[str, Job] = {}
        # Jobs other layers publish (runtime.schedules), picked up whenever they appear,
        # so the order in which extensions attach does not matter.
        self.published = published if published is not None else []

    def add(self, job: Job) -> None:
        self._jobs[job.name] = job

    @property
    def jobs(self) -> dict[str, Job]:
        self._adopt_published()
        return self._jobs

    def _ensure(self, job: Job, now: dt.datetime) -> None:
        insert = postgresql.insert if self.db.dialect == "postgresql" else sqlite.insert
        first = first_run(job.schedule, now)
        with self.db.write() as conn:
            conn.execute(insert(self.table).values(name=job.name, next_run_at=first, missed_total=0, runs=0)
                         .on_conflict_do_nothing(index_elements=["name"]))

    def _adopt_published(self) -> None:
        from .schedule import parse_schedule
        for spec in self.published:
            if spec.name not in self._jobs:
                self.add(Job(spec.name, parse_schedule(spec.cron), lambda worker, renew, s=spec: s.run()))

    def due(self) -> list[str]:
        self._adopt_published()
        now = clock.now()
        for job in self.jobs.values():
            self._ensure(job, now)
        t = self.table
        with self.db.read() as conn:
            rows = conn.execute(select(t.c.name).where(
                t.c.name.in_(list(self.jobs)), t.c.next_run_at <= now,
                or_(t.c.lease_until.is_(None), t.c.lease_until < now))).scalars().all()
        return list(rows)

    def claim(self, name: str, worker: str) -> dt.datetime | None:
        """Lease a due schedule to ``worker``; returns when it was due, or None if someone else has it."""
        now = clock.now()
        t = self.table
        with self.db.write() as conn:
            row = conn.execute(select(t.c.next_run_at).where(t.c.name == name)).first()
            if row is None:
                return None
            n = conn.execute(update(t).where(
                t.c.name == name, t.c.next_run_at <= now,
                or_(t.c.lease_until.is_(None), t.c.lease_until < now)).values(
                lease_until=now + dt.timedelta(seconds=lease_seconds()), leased_by=worker[:64])).rowcount
        return row[0] if n else None

    def renew(self, name: str, worker: str) -> None:
        t = self.table
        with self.db.write() as conn:
            conn.execute(update(t).where(and_(t.c.name == name, t.c.leased_by == worker[:64])).values(
                lease_until=clock.now() + dt.timedelta(seconds=lease_seconds())))

    def run(self, name: str, worker: str) -> Any:
        """Run one schedule if it is due and this worker wins its lease; None otherwise."""
        job = self.jobs[name]
        was_due = self.claim(name, worker)
        if was_due is None:
            return None
        started = clock.now()
        if not job.schedule.in_window(started):
            # due since before the window closed (no tick came in time: a night without workers): the run waits
            # for the window's next start instead of happening outside it (an 07:00 reminder "between 08-20")
            deferred = job.schedule.next_after(started)
            log.info("scheduler: %s was due at %s, outside its window now; runs at %s", name,
                     was_due.isoformat(sep=" "), deferred.isoformat(sep=" "))
            with self.db.write() as conn:
                conn.execute(update(self.table).where(and_(self.table.c.name == name,
                                                           self.table.c.leased_by == worker[:64])).values(
                    next_run_at=deferred, lease_until=None, leased_by=None,
                    last_status=f"deferred to {deferred:%Y-%m-%d %H:%M} (outside its window)"))
            return None
        missed = max(0, job.schedule.due_between(was_due, started) - 0)
        if missed:
            log.warning("scheduler: %s had %d runs due since %s (downtime?): missed %d run(s); "
                        "catching up with one run now", name, missed + 1, was_due.isoformat(sep=" "), missed)
        t0 = time.perf_counter()
        status = "ok"
        report: Any = None
        try:
            report = job.run(worker, lambda: self.renew(name, worker))
        except Exception as exc:  # noqa: BLE001 - recorded, and retried at the next due time
            status = f"error: {type(exc).__name__}: {exc}"[:500]
            log.exception("scheduler: %s failed", name)
        unreached, errors = _listed(report, "undeliverable"), _listed(report, "errors")
        if status == "ok" and (unreached or errors):
            # a run that kept something it could not handle says so (the rows are in the delivery log)
            status = (f"warning: {len(unreached)} undeliverable, {len(errors)} error(s): "
                      + "; ".join(map(str, [*errors, *unreached])))[:500]
        t = self.table
        after = clock.now()
        with self.db.write() as conn:
            conn.execute(update(t).where(and_(t.c.name == name, t.c.leased_by == worker[:64])).values(
                next_run_at=job.schedule.next_after(after), last_run_at=started, lease_until=None, leased_by=None,
                last_status=status, last_ms=int((time.perf_counter() - t0) * 1000),
                missed_total=t.c.missed_total + missed, runs=t.c.runs + 1))
        return report if not status.startswith("error") else status

    def tick(self, worker: str) -> dict[str, Any]:
        """Run every due schedule once (in this thread); returns reports by schedule name."""
        return {name: self.run(name, worker) for name in self.due()}

    def state(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return [dict(r) for r in conn.execute(select(self.table).order_by(self.table.c.name)).mappings()]


def _listed(report: Any, name: str) -> list[Any]:
    """A rule run's report list (``undeliverable``, ``errors``); other jobs' reports may have neither."""
    value = getattr(report, name, None)
    return list(value) if isinstance(value, list) else []
