"""Quarantine: ERP records a pull could not take in, kept with the reason and retried on every run.

A record that fails validation (a required customer missing) or arrives malformed (a column
missing) is never dropped: it is stored here with the rows the ERP sent, the reason, when it was
first and last seen and how many times. The pull's next window starts no later than the record's
own modify time (``retry_since``), so every run fetches it again, whether or not the ERP gives it a
new modify time when someone repairs it. An entry is resolved when the record comes in cleanly, or
when a complete run over its window no longer sees it failing. While any entry is open, ``jig sync``
says so and exits non-zero; ``jig quarantine NAME`` and ``/api/_connectors/NAME/quarantine`` list them.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Column, Connection, Index, Integer, MetaData, String, Table, Text, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from runtime import clock
from runtime.sqltypes import LocalDateTime
from runtime.tables import ID

TABLE = "jig_connector_quarantine"


def define_table(md: MetaData) -> Table:
    return Table(
        TABLE, md,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("connector", String(64), nullable=False),
        Column("operation", String(64), nullable=False),
        Column("key", String(200), nullable=False),
        Column("payload", Text),               # the rows as the ERP sent them (JSON)
        Column("reason", Text, nullable=False),
        Column("retry_since", String(64)),     # the record's modify time (or the window it came in)
        Column("seen_in", String(64)),         # the pull window that last saw it failing
        Column("first_seen", LocalDateTime, nullable=False),
        Column("last_seen", LocalDateTime, nullable=False),
        Column("attempts", Integer, nullable=False, default=1),
        Column("resolved_at", LocalDateTime),
        Index("ux_jig_connector_quarantine_k", "connector", "operation", "key", unique=True),
    )


def _t(rt: Any) -> Table:
    return rt.tables.system[TABLE]


def put(conn: Connection, rt: Any, connector: str, operation: str, key: str, payload: Any, reason: str,
        retry_since: str | None, window: str) -> bool:
    """Keep (or refresh) an entry; True when it was not open before (new, or failing again after a fix)."""
    t = _t(rt)
    now = clock.now()
    key = str(key)[:200]
    body = json.dumps(payload, ensure_ascii=False, default=str)[:20000]
    old = conn.execute(select(t.c.id, t.c.resolved_at, t.c.retry_since).where(
        t.c.connector == connector, t.c.operation == operation, t.c.key == key)).first()
    if old is None:
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        conn.execute(insert(t).values(connector=connector, operation=operation, key=key, payload=body,
                                      reason=reason[:4000], retry_since=retry_since, seen_in=window,
                                      first_seen=now, last_seen=now, attempts=1).on_conflict_do_nothing())
        return True
    since = min(x for x in (old.retry_since, retry_since) if x) if (old.retry_since or retry_since) else None
    values: dict[str, Any] = {"payload": body, "reason": reason[:4000], "seen_in": window, "last_seen": now,
                              "attempts": t.c.attempts + 1, "resolved_at": None, "retry_since": since}
    if old.resolved_at is not None:
        values.update(first_seen=now, attempts=1, retry_since=retry_since)
    conn.execute(update(t).where(t.c.id == old.id).values(**values))
    return old.resolved_at is not None


def resolve_keys(conn: Connection, rt: Any, connector: str, operation: str, keys: list[str]) -> int:
    """These records came in cleanly: their entries are resolved."""
    t = _t(rt)
    n = 0
    for i in range(0, len(keys), 900):
        n += conn.execute(update(t).where(t.c.connector == connector, t.c.operation == operation,
                                          t.c.key.in_(keys[i:i + 900]), t.c.resolved_at.is_(None))
                          .values(resolved_at=clock.now())).rowcount
    return n


def open_entries(conn: Connection, rt: Any, connector: str, operation: str) -> list[tuple[str, str | None, str]]:
    """Open entries: (key, retry_since, the window that last saw it failing)."""
    t = _t(rt)
    return [(k, s, w) for k, s, w in conn.execute(select(t.c.key, t.c.retry_since, t.c.seen_in).where(
        t.c.connector == connector, t.c.operation == operation, t.c.resolved_at.is_(None)))]


def open_keys(conn: Connection, rt: Any, connector: str, operation: str) -> dict[str, str | None]:
    """Open entries: key -> retry_since."""
    t = _t(rt)
    return {k: s for k, s in conn.execute(select(t.c.key, t.c.retry_since).where(
        t.c.connector == connector, t.c.operation == operation, t.c.resolved_at.is_(None)))}


def count(rt: Any, connector: str, operation: str | None = None) -> int:
    t = _t(rt)
    q = select(func.count()).select_from(t).where(t.c.connector == connector, t.c.resolved_at.is_(None))
    if operation:
        q = q.where(t.c.operation == operation)
    with rt.db.read() as conn:
        return int(conn.execute(q).scalar_one())


def entries(rt: Any, connector: str, *, resolved: bool = False, limit: int = 200) -> list[dict[str, Any]]:
    t = _t(rt)
    q = select(t).where(t.c.connector == connector).order_by(t.c.id).limit(limit)
    q = q.where(t.c.resolved_at.is_not(None) if resolved else t.c.resolved_at.is_(None))
    with rt.db.read() as conn:
        out = []
        for r in conn.execute(q).mappings():
            d = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in r.items()}
            try:
                d["payload"] = json.loads(d["payload"]) if d["payload"] else None
            except ValueError:
                pass
            out.append(d)
        return out
