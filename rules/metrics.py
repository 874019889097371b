"""The rules extension's gauges for ``/metrics`` (the ``metrics`` hook): firings, schedules, the RQ queue."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from runtime import clock
from runtime.metrics import Sample


def samples(rt: Any) -> list[Sample]:
    system = rt.tables.system
    firings, schedules = system["jig_rule_firings"], system["jig_schedules"]
    now = clock.now()
    midnight = dt.datetime.combine(now.date(), dt.time())
    out: list[Sample] = []
    with rt.db.read(snapshot=False) as conn:
        # firings of today only: one day's rows, however long the table has grown
        today = dict(conn.execute(select(firings.c.rule, func.count()).where(firings.c.fired_at >= midnight)
                                  .group_by(firings.c.rule)).all())
        due = conn.execute(select(schedules.c.name, schedules.c.next_run_at)).all()  # one row per schedule
    rules = sorted({r.key for app in rt.apps.values() for r in app.sections.get("rules", [])} | set(today))
    for rule in rules:
        out.append(Sample("jig_rule_firings_today", float(today.get(rule, 0)), {"rule": rule},
                          "Rule firings since midnight (local time), by rule"))
    for name, next_run in due:
        out.append(Sample("jig_schedule_overdue_seconds", max(0.0, (now - next_run).total_seconds()),
                          {"schedule": name}, "How long a schedule's run is overdue (0: not due yet)"))
    url = rt.settings.get("redis_url")
    if url:
        from redis import Redis
        from rq import Queue

        from .jobs import QUEUE
        with Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2) as conn:
            out.append(Sample("jig_jobs_queued", float(Queue(QUEUE, connection=conn).count), {"queue": QUEUE},
                              "RQ jobs waiting for a worker"))
    return out
