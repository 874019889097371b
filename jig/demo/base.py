"""What every demo module builds with: the factory's people, a seeded random and back-dated writes.

Demo data goes through the product's own paths — ``Records.create``/``update`` and workflow
transitions, with the rules they fire — as the person who would do it, with the clock frozen at
the moment it would have happened (``runtime.clock.frozen``), so history rows, naming numbers,
``now()`` defaults and rule-set times carry realistic times over the last month.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from runtime import clock, workflow
from runtime.auth import Actor
from runtime.core import Runtime

DEMO_PASSWORD = "jig-demo-2026"
SEED = 2026


@dataclass(frozen=True)
class Person:
    username: str
    roles: tuple[str, ...]
    display: str
    attributes: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass
class Factory:
    """One generation run: the runtime, the people (as actors), the random and 'now' every time is relative to."""

    rt: Runtime
    conn: Connection
    rng: random.Random
    now: dt.datetime
    actors: dict[str, Actor]

    def at(self, days: float = 0, hour: float = 0) -> dt.datetime:
        """``days`` before now (negative: in the future), at ``hour`` o'clock of that day when given."""
        t = self.now - dt.timedelta(days=days)
        if hour:
            t = t.replace(hour=0, minute=0, second=0) + dt.timedelta(hours=hour)
        return t.replace(microsecond=0)

    def past(self, t: dt.datetime) -> dt.datetime:
        """A time that has already happened (writes are never dated after now)."""
        return min(t, self.now - dt.timedelta(minutes=1))

    def create(self, who: str, app: str, entity: str, data: dict[str, Any], at: dt.datetime) -> dict[str, Any]:
        with clock.frozen(self.past(at)):
            return self.rt.records.create(self.actors[who], self.rt.entity(app, entity), data, conn=self.conn)

    def update(self, who: str, app: str, entity: str, rec: dict[str, Any], data: dict[str, Any],
               at: dt.datetime) -> dict[str, Any]:
        with clock.frozen(self.past(at)):
            return self.rt.records.update(self.actors[who], self.rt.entity(app, entity), rec["id"], data,
                                          rec["version"], conn=self.conn)

    def move(self, who: str, app: str, entity: str, rec: dict[str, Any], transition: str, at: dt.datetime,
             data: dict[str, Any] | None = None) -> dict[str, Any]:
        with clock.frozen(self.past(at)):
            return workflow.take(self.rt.records, self.actors[who], self.rt.entity(app, entity), rec["id"],
                                 transition, data or {}, rec["version"], conn=self.conn)

    def fresh(self, app: str, entity: str, record_id: int) -> dict[str, Any]:
        """A record as it is now (rules may have changed it since it was written here)."""
        return self.rt.records.get(self.actors["admin"], self.rt.entity(app, entity), record_id, conn=self.conn)

    def rows(self, app: str, entity: str, **where: Any) -> list[dict[str, Any]]:
        table = self.rt.tables[f"{app}.{entity}"]
        q = table.select().order_by(table.c.id)
        for k, v in where.items():
            q = q.where(table.c[k] == v)
        return [dict(r) for r in self.conn.execute(q).mappings()]


def has_rows(rt: Runtime, app: str, entity: str) -> bool:
    table = rt.tables[f"{app}.{entity}"]
    with rt.db.read() as conn:
        return conn.execute(table.select().limit(1)).first() is not None


def day(t: dt.datetime) -> str:
    return t.date().isoformat()
