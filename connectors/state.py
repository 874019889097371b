"""The connectors' own tables: sync state (watermark, resume cursor, circuit), request log, runs, reports."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from typing import Any

from sqlalchemy import Column, Connection, Index, Integer, MetaData, String, Table, Text, select, update
from sqlalchemy.dialects import postgresql, sqlite

from runtime import clock
from runtime.sqltypes import LocalDateTime
from runtime.tables import ID

CIRCUIT = "*"  # the state row holding a connector's circuit breaker


def define_tables(md: MetaData) -> list[Table]:
    state = Table(
        "jig_connector_state", md,
        Column("connector", String(64), primary_key=True),
        Column("operation", String(64), primary_key=True),
        Column("watermark", String(64)),
        Column("cursor", Text),          # JSON: the unfinished run (window and position), or NULL
        Column("failures", Integer, nullable=False, default=0),
        Column("open_until", LocalDateTime),
        Column("last_error", Text),
        Column("updated_at", LocalDateTime),
    )
    requests = Table(
        "jig_connector_requests", md,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("connector", String(64), nullable=False),
        Column("operation", String(64)),
        Column("at", LocalDateTime, nullable=False),
        Column("method", String(8), nullable=False),
        Column("url", Text, nullable=False),
        Column("attempt", Integer, nullable=False, default=1),
        Column("status", Integer),
        Column("ms", Integer),
        Column("outcome", String(16), nullable=False),
        Column("error", Text),
        Column("request", Text),
        Column("response", Text),
        Index("ix_jig_connector_requests_c", "connector", "id"),
    )
    runs = Table(
        "jig_connector_runs", md,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("connector", String(64), nullable=False),
        Column("operation", String(64), nullable=False),
        Column("kind", String(16), nullable=False),
        Column("started_at", LocalDateTime, nullable=False),
        Column("finished_at", LocalDateTime),
        Column("status", String(16), nullable=False),
        Column("counts", Text, nullable=False, default="{}"),
        Column("detail", Text),
        Index("ix_jig_connector_runs_c", "connector", "id"),
    )
    reports = Table(
        "jig_connector_reports", md,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("connector", String(64), nullable=False),
        Column("operation", String(64), nullable=False),
        Column("at", LocalDateTime, nullable=False),
        Column("window_from", String(32)),
        Column("window_to", String(32)),
        Column("erp_count", Integer, nullable=False),
        Column("local_count", Integer, nullable=False),
        Column("differences", Integer, nullable=False),
        Column("report", Text, nullable=False),
        Index("ix_jig_connector_reports_c", "connector", "id"),
    )
    from . import quarantine, vault
    return [state, requests, runs, reports, quarantine.define_table(md), vault.define_table(md)]


def _upsert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def get_state(conn: Connection, rt: Any, connector: str, operation: str, *, lock: bool = False) -> dict[str, Any]:
    t = rt.tables.system["jig_connector_state"]
    conn.execute(_upsert(conn)(t).values(connector=connector, operation=operation, failures=0,
                                         updated_at=clock.now()).on_conflict_do_nothing())
    q = select(t).where(t.c.connector == connector, t.c.operation == operation)
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = dict(conn.execute(q).mappings().one())
    row["cursor"] = json.loads(row["cursor"]) if row["cursor"] else None
    return row


def set_state(conn: Connection, rt: Any, connector: str, operation: str, **values: Any) -> None:
    t = rt.tables.system["jig_connector_state"]
    if "cursor" in values:
        values["cursor"] = None if values["cursor"] is None else json.dumps(values["cursor"], ensure_ascii=False)
    conn.execute(update(t).where(t.c.connector == connector, t.c.operation == operation)
                 .values(updated_at=clock.now(), **values))


OWNER = {"host": socket.gethostname(), "pid": os.getpid()}
STALE_AFTER = dt.timedelta(hours=24)  # a run still 'running' after this is interrupted (another machine's, a reused pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def start_run(rt: Any, connector: str, operation: str, kind: str) -> int:
    """A new run; runs of this connector left ``running`` by a process that is gone become ``interrupted``."""
    t = rt.tables.system["jig_connector_runs"]
    now = clock.now()
    with rt.db.write() as conn:
        for rid, detail, started in conn.execute(select(t.c.id, t.c.detail, t.c.started_at).where(
                t.c.connector == connector, t.c.status == "running")).all():
            try:
                owner = json.loads(detail or "{}").get("owner") or {}
            except ValueError:
                owner = {}
            here = owner.get("host") == OWNER["host"] and isinstance(owner.get("pid"), int)
            if (here and owner["pid"] != OWNER["pid"] and not _alive(owner["pid"])) or started < now - STALE_AFTER:
                conn.execute(update(t).where(t.c.id == rid, t.c.status == "running").values(
                    status="interrupted", finished_at=now))
        return int(conn.execute(t.insert().values(connector=connector, operation=operation, kind=kind,
                                                  started_at=now, status="running", counts="{}",
                                                  detail=json.dumps({"owner": OWNER})))
                   .inserted_primary_key[0])


def last_skew(conn: Connection, rt: Any, connector: str) -> float | None:
    """The ERP's clock minus Jig's as the last pull measured it (HTTP Date header), if any."""
    t = rt.tables.system["jig_connector_runs"]
    for (detail,) in conn.execute(select(t.c.detail).where(t.c.connector == connector, t.c.kind == "pull",
                                                          t.c.status != "running")
                                  .order_by(t.c.id.desc()).limit(3)):
        try:
            skew = json.loads(detail or "{}").get("skew_s")
        except ValueError:
            continue
        if isinstance(skew, (int, float)):
            return float(skew)
    return None


def finish_run(rt: Any, run_id: int, status: str, counts: dict[str, Any], detail: Any = None) -> None:
    t = rt.tables.system["jig_connector_runs"]
    with rt.db.write() as conn:
        conn.execute(update(t).where(t.c.id == run_id).values(
            finished_at=clock.now(), status=status, counts=json.dumps(counts, ensure_ascii=False, default=str),
            detail=None if detail is None else json.dumps(detail, ensure_ascii=False, default=str)[:20000]))


def progress_run(rt: Any, run_id: int, counts: dict[str, Any]) -> None:
    """A running run's counts so far (pages, rows, created, ...), for whoever watches it."""
    t = rt.tables.system["jig_connector_runs"]
    with rt.db.write() as conn:
        conn.execute(update(t).where(t.c.id == run_id, t.c.status == "running").values(
            counts=json.dumps(counts, ensure_ascii=False, default=str)))


def last_id(rt: Any, table: str, connector: str) -> int:
    t = rt.tables.system[table]
    with rt.db.read() as conn:
        return int(conn.execute(select(t.c.id).where(t.c.connector == connector).order_by(t.c.id.desc())
                                .limit(1)).scalar() or 0)


def rows(rt: Any, table: str, connector: str, limit: int = 100, after: int | None = None,
         **where: Any) -> list[dict[str, Any]]:
    """The newest ``limit`` rows of ``connector`` (with ``after``: only rows with a greater id)."""
    t = rt.tables.system[table]
    q = select(t).where(t.c.connector == connector).order_by(t.c.id.desc()).limit(limit)
    if after is not None:
        q = q.where(t.c.id > after)
    for k, v in where.items():
        if v is not None:
            q = q.where(t.c[k] == v)
    with rt.db.read() as conn:
        out = []
        for r in conn.execute(q).mappings():
            d = {k: (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v) for k, v in r.items()}
            for k in ("counts", "detail", "report"):
                if isinstance(d.get(k), str):
                    d[k] = json.loads(d[k])
            out.append(d)
        return out
