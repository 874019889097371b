"""The hand-written baselines' database engine: what a careful developer sets up, the pragmas Jig uses."""

from __future__ import annotations

from typing import Any


def baseline_engine(database_url: str) -> tuple[Any, bool]:
    """An engine on ``database_url`` and whether it is SQLite (WAL, synchronous=NORMAL, busy timeout, foreign keys
    on SQLite, as Jig sets them)."""
    from sqlalchemy import create_engine, event

    sqlite = database_url.startswith("sqlite")
    engine = create_engine(database_url, **({"connect_args": {"timeout": 30}} if sqlite else {}))
    if sqlite:
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _rec: Any) -> None:
            cur = dbapi_conn.cursor()
            for p in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000", "foreign_keys=ON"):
                cur.execute(f"PRAGMA {p}")
            cur.close()
    return engine, sqlite
