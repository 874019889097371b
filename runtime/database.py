"""Database connections: SQLite by default, PostgreSQL by URL.

SQLite runs in WAL mode with a busy timeout, and writes start with
``BEGIN IMMEDIATE`` so two writers queue instead of failing half-way with
"database is locked". On PostgreSQL, optimistic version checks and atomic
upserts make concurrent writers safe at READ COMMITTED; snapshot reads run at
REPEATABLE READ so that, as on SQLite, all their statements see one state.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import Engine, make_url

REPEATABLE_READ = 3  # psycopg.IsolationLevel.REPEATABLE_READ (psycopg is imported only with PostgreSQL)

# what a transaction is for: it decides how it begins (``_begin_sqlite``, ``_begin_postgresql``)
WRITE, SNAPSHOT, SINGLE = "write", "snapshot", "single"


class Database:
    def __init__(self, url: str, *, echo: bool = False):
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            kwargs["pool_size"] = 16
            kwargs["max_overflow"] = 16
        elif self.dialect == "postgresql":
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: Engine = create_engine(url, **kwargs)
        # Each transaction begins here, not in an engine "begin" event: any connection event makes SQLAlchemy
        # dispatch on every statement (about 14 µs per request in bench/crud.py's gets).
        self._begin = _begin_sqlite if self.dialect == "sqlite" else \
            _begin_postgresql if self.dialect == "postgresql" else _begin_other
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)

    @contextlib.contextmanager
    def read(self, *, snapshot: bool = True) -> Iterator[Connection]:
        """A connection for reading. With ``snapshot``, every statement sees the same data
        (a deferred transaction on SQLite); a single SELECT needs no snapshot."""
        with self.engine.connect() as conn:
            with conn.begin():
                self._begin(conn, SNAPSHOT if snapshot else SINGLE)
                yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back on error."""
        with self.engine.connect() as conn:
            with conn.begin():
                self._begin(conn, WRITE)
                yield conn

    @contextlib.contextmanager
    def exclusive(self, name: str) -> Iterator[Connection]:
        """A write transaction holding the database-wide lock ``name`` until it ends.

        Processes (on any machine) that ask for the same name wait for each other:
        PostgreSQL takes a transaction-level advisory lock; SQLite's write lock
        (``BEGIN IMMEDIATE``) already excludes every other writer. Used for schema
        migrations, so several processes starting at once migrate one after the other
        and the later ones find nothing left to do.
        """
        with self.write() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for an advisory lock named ``name``."""
    return int.from_bytes(hashlib.sha256(f"jig:{name}".encode()).digest()[:8], "big", signed=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA cache_size=-65536")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.close()


def _begin_sqlite(conn: Connection, purpose: str) -> None:
    """Straight to the driver (in autocommit mode: we issue BEGIN ourselves): writers queue on BEGIN IMMEDIATE;
    a snapshot read is a deferred transaction; a single statement runs on its own, as in autocommit mode."""
    if purpose == SINGLE:
        return
    driver = conn.connection.driver_connection
    assert driver is not None
    driver.execute("BEGIN IMMEDIATE" if purpose == WRITE else "BEGIN")


def _begin_postgresql(conn: Connection, purpose: str) -> None:
    """psycopg sends the level with its own BEGIN (no extra round trip): REPEATABLE READ for a snapshot read,
    the server's READ COMMITTED otherwise. Set only when it changes (the connection is pooled)."""
    driver: Any = conn.connection.driver_connection
    want = REPEATABLE_READ if purpose == SNAPSHOT else None
    if driver.isolation_level != want:
        driver.isolation_level = want


def _begin_other(conn: Connection, purpose: str) -> None:
    """Other databases: the driver's own transactions."""
