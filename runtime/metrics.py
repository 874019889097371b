"""Metric samples read from the database at scrape time: what every process answers alike.

A :class:`Sample` is one value of a Prometheus gauge. The runtime contributes the outbox (backlog by
state, dead letters, the age of the oldest waiting row), the definitions revision and the database
pool of this process; extensions contribute theirs through the ``metrics`` hook (rules: firings and
schedules; connectors: sync lag and quarantined rows), so the composition root that serves
``/metrics`` never needs to know their tables. Every query is bounded (an indexed count per state or a
scan of a small table) and the caller caches the result for a few seconds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from . import clock
from .outbox import DEAD, PENDING, RETRY, SENDING

WAITING = (PENDING, RETRY, SENDING)


@dataclass(frozen=True)
class Sample:
    """One value of a gauge: ``name{labels} value``; ``help`` is said once per name."""

    name: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)
    help: str = ""


def seconds_since(then: dt.datetime | None, now: dt.datetime | None = None) -> float | None:
    """Seconds from ``then`` (a naive local time, as Jig stores them) to now; None when there is no ``then``."""
    if then is None:
        return None
    return max(0.0, ((now or clock.now()) - then).total_seconds())


def runtime_samples(rt: Any) -> list[Sample]:
    """The runtime's own gauges (outbox, definitions); raises when the database cannot be read."""
    t = rt.tables.system["jig_outbox"]
    out: list[Sample] = []
    with rt.db.read(snapshot=False) as conn:
        # status IN (...) is a range of the (status, available_at) index: sent rows, which only grow, are not read
        counts = dict(conn.execute(select(t.c.status, func.count()).where(t.c.status.in_([*WAITING, DEAD]))
                                   .group_by(t.c.status)).all())
        oldest = conn.execute(select(func.min(t.c.created_at)).where(t.c.status.in_(WAITING))).scalar()
        revision = rt.definitions.revision(conn) if rt.definitions.exists(conn) else 0
    for status in (*WAITING, DEAD):
        out.append(Sample("jig_outbox_rows", float(counts.get(status, 0)), {"status": status},
                          "Outbox rows (SMS, webhooks, ERP write-backs) by state; sent rows are not counted"))
    out.append(Sample("jig_outbox_backlog", float(sum(counts.get(s, 0) for s in WAITING)), {},
                      "Outbox rows not yet delivered (pending, retry, sending)"))
    out.append(Sample("jig_outbox_dead", float(counts.get(DEAD, 0)), {},
                      "Dead letters: outbox rows that failed for good (jig outbox list --status dead)"))
    out.append(Sample("jig_outbox_oldest_waiting_seconds", seconds_since(oldest) or 0.0, {},
                      "Age of the oldest outbox row not yet delivered (0 when none waits)"))
    out.append(Sample("jig_definitions_revision", float(revision), {},
                      "Definitions revision: grows by one with every publish"))
    return out


def pool_samples(rt: Any) -> list[Sample]:
    """This process's database connection pool (a QueuePool on both databases)."""
    pool = rt.db.engine.pool
    values = {"size": getattr(pool, "size", None), "checked_out": getattr(pool, "checkedout", None),
              "overflow": getattr(pool, "overflow", None), "idle": getattr(pool, "checkedin", None)}
    return [Sample("jig_db_pool_connections", float(max(0, fn())), {"state": name},
                   "Database pool of the serving processes: size, checked out, overflow, idle")
            for name, fn in values.items() if callable(fn)]
