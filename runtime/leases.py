"""Named leases in the database: at most one holder at a time, whatever the number of processes or machines.

A holder renews its lease well before it runs out; when the holder dies (or cannot
reach the database) the lease runs out and another process takes it. Used for
"exactly one process runs the embedded jobs" when there is no Redis. Times are
the factory clock's (``runtime.clock``), as for the outbox and scheduler leases.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from . import clock

log = logging.getLogger("jig.leases")


class Leases:
    def __init__(self, db: Any, table: Table):
        self.db = db
        self.table = table

    def acquire(self, name: str, holder: str, seconds: float) -> bool:
        """Take or renew the lease ``name`` for ``seconds``; False while another holder's lease runs."""
        t = self.table
        now = clock.now()
        until = now + dt.timedelta(seconds=seconds)
        insert = postgresql.insert if self.db.dialect == "postgresql" else sqlite.insert
        with self.db.write() as conn:
            conn.execute(insert(t).values(name=name, holder=None, until=None, since=None)
                         .on_conflict_do_nothing(index_elements=["name"]))
            n = conn.execute(update(t).where(t.c.name == name, t.c.holder == holder[:128]).values(until=until)).rowcount
            if n:
                return True
            return bool(conn.execute(update(t).where(t.c.name == name, or_(t.c.until.is_(None), t.c.until < now))
                                     .values(holder=holder[:128], until=until, since=now)).rowcount)

    def release(self, name: str, holder: str) -> None:
        t = self.table
        with self.db.write() as conn:
            conn.execute(update(t).where(and_(t.c.name == name, t.c.holder == holder[:128])).values(
                holder=None, until=None, since=None))

    def holder(self, name: str) -> dict[str, Any] | None:
        """The current holder of ``name`` (holder, until, since), or None when nobody holds it."""
        t = self.table
        with self.db.read() as conn:
            row = conn.execute(select(t).where(t.c.name == name, t.c.until >= clock.now())).mappings().first()
        return dict(row) if row is not None else None


class Keeper:
    """Keeps trying to hold one lease from a background thread; ``held`` says whether this process has it.

    It renews every third of the lease, so a holder survives two missed renewals (a slow database);
    a dead holder's lease is taken over by the next keeper within a lease and a third.
    """

    def __init__(self, leases: Leases, name: str, holder: str, seconds: float):
        self.leases = leases
        self.name = name
        self.holder = holder
        self.seconds = seconds
        self.held = threading.Event()
        self._failing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> bool:
        try:
            ok = self.leases.acquire(self.name, self.holder, self.seconds)
            self._failing = False
        except Exception as exc:  # noqa: BLE001 - database unreachable: we may not hold it any more
            if not self._failing:  # once per outage, not every renewal
                log.warning("lease %s: cannot reach the database (%s: %s)", self.name, type(exc).__name__, exc)
            self._failing = True
            ok = False
        if ok and not self.held.is_set():
            log.info("lease %s: held by this process (%s)", self.name, self.holder)
            self.held.set()
        elif not ok and self.held.is_set():
            log.warning("lease %s: lost by this process (%s)", self.name, self.holder)
            self.held.clear()
        return ok

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.step()
            self._stop.wait(self.seconds / 3)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=f"jig-lease-{self.name}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.held.is_set():
            self.held.clear()
            try:
                self.leases.release(self.name, self.holder)
            except Exception:  # noqa: BLE001 - the lease runs out by itself
                log.warning("lease %s: could not release", self.name, exc_info=True)
