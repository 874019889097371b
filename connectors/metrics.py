"""The connectors' gauges for ``/metrics`` (the ``metrics`` hook): sync lag, failing runs, quarantined rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from runtime import clock
from runtime.metrics import Sample

from .pull import connectors_of
from .quarantine import TABLE

SUCCEEDED = ("ok", "partial")  # partial: the run went through, some rows wait in quarantine


def samples(rt: Any) -> list[Sample]:
    connectors = connectors_of(rt)
    if not connectors:
        return []
    runs, quarantine = rt.tables.system["jig_connector_runs"], rt.tables.system[TABLE]
    now = clock.now()
    out: list[Sample] = []
    with rt.db.read(snapshot=False) as conn:
        held = dict(conn.execute(select(quarantine.c.connector, func.count()).where(quarantine.c.resolved_at.is_(None))
                                 .group_by(quarantine.c.connector)).all())
        for name, spec in sorted(connectors.items()):
            out.append(Sample("jig_connector_quarantined", float(held.get(name, 0)), {"connector": name},
                              "ERP rows held in quarantine (not imported), by connector"))
            for op in spec.pulls():
                mine = (runs.c.connector == name, runs.c.operation == op.name)
                # newest first along the (connector, id) index: stops at the first match
                done = conn.execute(select(runs.c.finished_at).where(*mine, runs.c.status.in_(SUCCEEDED))
                                    .order_by(runs.c.id.desc()).limit(1)).scalar()
                last = conn.execute(select(runs.c.status).where(*mine, runs.c.status != "running")
                                    .order_by(runs.c.id.desc()).limit(1)).scalar()
                labels = {"connector": name, "operation": op.name}
                if done is not None:
                    out.append(Sample("jig_connector_sync_lag_seconds", max(0.0, (now - done).total_seconds()), labels,
                                      "Seconds since the pull last succeeded (absent until it first succeeds)"))
                out.append(Sample("jig_connector_last_run_failed", 1.0 if last in ("failed", "interrupted") else 0.0,
                                  labels, "1 when the latest finished pull failed or was interrupted"))
    return out
