"""Scheduled and on-demand connector work as plain functions (the scheduler in rules/ runs them)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from runtime.extensions import ScheduledJob

from . import push, reconcile
from .pull import SyncResult, connectors_of, sync

log = logging.getLogger("jig.connectors")


def schedules(rt: Any) -> list[ScheduledJob]:
    """A ScheduledJob (name, cron, run) for every scheduled pull, push catch-up and reconciliation; a connector whose
    ``${ENV}`` references are not set in this process is not scheduled (one line says so)."""
    out: list[ScheduledJob] = []
    for conn in connectors_of(rt).values():
        missing = conn.missing_env()
        if missing:
            log.warning("connector %s is not scheduled: environment variable(s) %s not set", conn.name,
                        ", ".join(missing))
            continue
        for op in conn.operations.values():
            if not op.schedule:
                continue
            if op.type == "pull":
                out.append(ScheduledJob(f"connector:{conn.name}:{op.name}", op.schedule,
                                        _bind(lambda c=conn, o=op: sync(rt, c, o.name))))
            else:
                out.append(ScheduledJob(f"connector:{conn.name}:{op.name}", op.schedule,
                                        _bind(lambda c=conn, o=op: push_now(rt, c.name, o.name))))
        if conn.reconcile and conn.reconcile.get("schedule"):
            out.append(ScheduledJob(f"connector:{conn.name}:reconcile", conn.reconcile["schedule"],
                                    _bind(lambda c=conn: reconcile.reconcile(rt, c))))
    return out


def _bind(fn: Callable[[], Any]) -> Callable[[], Any]:
    return fn


def push_now(rt: Any, connector: str, operation: str | None = None) -> dict[str, int]:
    """Enqueue every due write-back of the connector (once per number) and deliver what is due."""
    conn = connectors_of(rt)[connector]
    queued = 0
    for op in conn.pushes():
        if operation is None or op.name == operation:
            queued += push.enqueue_due(rt, conn, op)
    counts = push.run_pushes(rt, conn)
    return {"queued": queued, **counts}


class Service:
    """What other layers (UI, scheduler, API) call: ``rt.services.get(connectors.jobs.Service)``."""

    def __init__(self, rt: Any):
        self.rt = rt

    def names(self) -> list[str]:
        return sorted(connectors_of(self.rt))

    def sync(self, name: str, **kw: Any) -> SyncResult:
        return sync(self.rt, name, **kw)

    def push(self, name: str, operation: str | None = None) -> dict[str, int]:
        return push_now(self.rt, name, operation)

    def reconcile(self, name: str, **kw: Any) -> dict[str, Any]:
        return reconcile.reconcile(self.rt, name, **kw)
