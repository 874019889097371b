"""The outbox: side effects recorded with the change that caused them, delivered later.

A rule that texts a partner, or a connector that writes a completion back to
the ERP, adds an outbox row through the *same* connection as the record
change, so the intention commits or rolls back with it. Workers claim due
rows with a lease (one worker at a time per row, whatever the number of
processes or machines), call the handler registered for the row's kind, and
settle the row: sent, retried later with exponential backoff and jitter, or
dead after too many attempts (an admin can list and retry dead rows).
A row whose recipient cannot be reached (a user without a phone number, a
role nobody holds) is kept as ``undeliverable`` with the reason, never
dropped: an admin fixes the cause and retries it, or cancels it.
Every row has a unique idempotency key, so adding the same intention twice
is a no-op and handlers pass the key on to providers that honour it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from . import clock, reasons

log = logging.getLogger("jig.outbox")

PENDING, SENDING, RETRY, SENT, DEAD = "pending", "sending", "retry", "sent", "dead"
UNDELIVERABLE, CANCELLED = "undeliverable", "cancelled"  # no way to reach the recipient; given up by an admin
STATES = (PENDING, SENDING, RETRY, SENT, DEAD, UNDELIVERABLE, CANCELLED)
STUCK = (DEAD, UNDELIVERABLE)  # waiting for an admin: retried or cancelled from the delivery log
BACKOFF_BASE = 30.0      # seconds before the first retry
BACKOFF_CAP = 6 * 3600.0  # never wait longer than this between attempts
LEASE_SECONDS = 120  # how long a claimed row stays with its worker (JIG_LEASE_SECONDS overrides)


def lease_seconds() -> int:
    return int(os.environ.get("JIG_LEASE_SECONDS", LEASE_SECONDS))


@dataclass
class Outcome:
    """What a handler says about one delivery attempt."""

    status: str  # "sent", "retry" (transient), "dead" (never retry), "alert" (dead and tell the admins),
    # "undeliverable" (the recipient cannot be reached until someone fixes it: kept, admins told)
    detail: str = ""
    retry_after: float | None = None
    result: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def sent(cls, detail: str = "", **result: Any) -> Outcome:
        return cls("sent", detail, result=result)

    @classmethod
    def retry(cls, detail: str, after: float | None = None) -> Outcome:
        return cls("retry", detail, retry_after=after)

    @classmethod
    def dead(cls, detail: str) -> Outcome:
        return cls("dead", detail)

    @classmethod
    def alert(cls, detail: str) -> Outcome:
        return cls("alert", detail)

    @classmethod
    def undeliverable(cls, detail: str) -> Outcome:
        return cls(UNDELIVERABLE, detail)


@dataclass
class Item:
    id: int
    key: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    app: str | None
    source: str | None
    result: dict[str, Any] = field(default_factory=dict)  # what earlier attempts recorded (see Outbox.remember)
    claimed_at: dt.datetime | None = None  # when this worker's lease began (factory clock)


Handler = Callable[[Item], Outcome]


def _result(text: str | None) -> dict[str, Any]:
    try:
        got = json.loads(text) if text else {}
    except ValueError:
        return {}
    return got if isinstance(got, dict) else {}


def _reason_result(result: dict[str, Any], reason: Any) -> str | None:
    """The row's ``result`` with the reason's code (runtime.reasons) for the viewer's language; the
    text itself goes to ``last_error``."""
    code = reasons.stored(reason)
    out = {k: v for k, v in result.items() if k != "reason"}
    if code is not None:
        out["reason"] = code
    return json.dumps(out, ensure_ascii=False, default=str)[:4000] if out else None


def backoff(attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after ``attempt`` failed attempts: exponential, capped, with jitter."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(ceiling / 2, ceiling)


class DeliveryLimits:
    """Today's use of each number's daily SMS limit, for the delivery log: the rules extension offers it
    through ``runtime.services`` (look it up with ``rt.services.find(DeliveryLimits)``)."""

    def usage(self, day: dt.date) -> list[dict[str, Any]]:
        """Rows of ``app``, ``to``, ``template``, ``sent`` (that day) and ``limit`` (per number and day, or None)."""
        raise NotImplementedError


class Outbox:
    def __init__(self, db: Any, tables: dict[str, Any], notifications: Any = None):
        self.db = db
        self.table = tables["jig_outbox"]
        self.notifications = notifications
        self.handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()

    def register(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    # ---- writing -----------------------------------------------------------

    def add(self, conn: Connection, kind: str, payload: dict[str, Any], *, key: str, app: str | None = None,
            source: str | None = None, delay: float = 0, max_attempts: int = 8,
            undeliverable: str | None = None) -> bool:
        """Record an intention in ``conn``'s transaction; False when ``key`` was already recorded.
        With ``undeliverable`` (the reason), the row is kept in that state, not attempted until retried."""
        now = clock.now()
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(self.table).values(
            key=key[:200], kind=kind, payload=json.dumps(payload, ensure_ascii=False, default=str),
            status=UNDELIVERABLE if undeliverable else PENDING, last_error=(undeliverable or None) and
            undeliverable[:2000], attempts=0, max_attempts=max_attempts, available_at=now + dt.timedelta(seconds=delay),
            app=app, source=source, created_at=now, result=_reason_result({}, undeliverable),
        ).on_conflict_do_nothing(index_elements=["key"])
        return conn.execute(stmt.returning(self.table.c.id)).first() is not None

    # ---- delivering --------------------------------------------------------

    def claim(self, worker: str, limit: int = 20, kinds: list[str] | None = None,
              ids: list[int] | None = None) -> list[Item]:
        """Lease due rows to ``worker``; a row leased elsewhere is skipped until its lease runs out."""
        now = clock.now()
        t = self.table
        due = or_(and_(t.c.status.in_([PENDING, RETRY]), t.c.available_at <= now),
                  and_(t.c.status == SENDING, t.c.lease_until < now))
        q = select(t.c.id).where(due).order_by(t.c.available_at, t.c.id).limit(limit)
        if kinds:
            q = q.where(t.c.kind.in_(kinds))
        if ids is not None:
            q = q.where(t.c.id.in_(ids))
        with self.db.write() as conn:
            if conn.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            chosen = list(conn.execute(q).scalars())
            if not chosen:
                return []
            conn.execute(update(t).where(t.c.id.in_(chosen)).values(
                status=SENDING, attempts=t.c.attempts + 1, leased_by=worker[:64],
                lease_until=now + dt.timedelta(seconds=lease_seconds())))
            rows = conn.execute(select(t).where(t.c.id.in_(chosen)).order_by(t.c.id)).mappings().all()
        return [Item(r["id"], r["key"], r["kind"], json.loads(r["payload"]), r["attempts"], r["max_attempts"],
                     r["app"], r["source"], _result(r["result"]), now) for r in rows]

    def remember(self, item: Item, **values: Any) -> None:
        """Record what the far side answered (an ERP's own document number) on the row, at once, so that
        every later attempt uses it; merged into the row's ``result``."""
        item.result.update({k: v for k, v in values.items() if v is not None})
        with self.db.write() as conn:
            conn.execute(update(self.table).where(self.table.c.id == item.id).values(
                result=json.dumps(item.result, ensure_ascii=False, default=str)[:4000]))

    def deliver(self, item: Item) -> Outcome:
        handler = self.handlers.get(item.kind)
        if handler is None:
            return Outcome.retry(f"no handler for '{item.kind}' in this process", after=60)
        try:
            return handler(item)
        except Exception as exc:  # noqa: BLE001 - a crashing handler is a transient failure, logged
            log.exception("outbox %s (%s) failed", item.key, item.kind)
            return Outcome.retry(f"{type(exc).__name__}: {exc}")

    def settle(self, item: Item, outcome: Outcome, worker: str) -> str:
        """Record the outcome of one attempt (only if this worker still holds the lease)."""
        t = self.table
        now = clock.now()
        values: dict[str, Any] = {"lease_until": None, "last_error": None if outcome.status == "sent" else
                                  outcome.detail[:2000]}
        status = outcome.status
        if status == "sent":
            kept = {k: v for k, v in item.result.items() if k != "reason"}  # why it could not be sent: no more
            values.update(status=SENT, sent_at=now, result=json.dumps({**kept, **outcome.result},
                                                                      ensure_ascii=False, default=str)[:4000])
        elif status == "retry" and item.attempts < item.max_attempts:
            wait = outcome.retry_after if outcome.retry_after is not None else backoff(item.attempts)
            values.update(status=RETRY, available_at=now + dt.timedelta(seconds=wait))
        elif status == UNDELIVERABLE:
            values.update(status=UNDELIVERABLE, result=_reason_result(item.result, outcome.detail))
        else:
            values.update(status=DEAD)
            status = "alert" if status == "alert" else DEAD
        with self.db.write() as conn:
            n = conn.execute(update(t).where(self._leased(item, worker)).values(**values)).rowcount
            if not n:
                return "stale"  # another worker took the row over after this lease ran out
            if status in ("alert", DEAD, UNDELIVERABLE) and self.notifications is not None:
                detail = outcome.detail
                self.notifications.add(
                    conn, title=lambda lang: (f"发送失败：{item.kind} {item.key}" if lang == "zh" else
                                              f"Not delivered: {item.kind} {item.key}")[:200],
                    body=lambda lang: detail.in_lang(lang) if isinstance(detail, reasons.Reason) else detail,
                    roles=["admin"], app=item.app, source="outbox")
        return values.get("status", status)

    def _leased(self, item: Item, worker: str) -> Any:
        """This claim's lease: the worker and the attempt number it claimed (each claim counts one more
        attempt, so a worker that lost the row and claimed it again holds a different lease)."""
        t = self.table
        return and_(t.c.id == item.id, t.c.status == SENDING, t.c.leased_by == worker[:64],
                    t.c.attempts == item.attempts)

    def holds(self, item: Item, worker: str) -> bool:
        """Whether ``worker`` still holds the lease it claimed ``item`` with (and it has not run out)."""
        with self.db.read(snapshot=False) as conn:
            return conn.execute(select(self.table.c.id).where(
                self._leased(item, worker), self.table.c.lease_until >= clock.now())).first() is not None

    def process(self, item: Item, worker: str) -> str:
        """Deliver and settle one claimed row. A worker whose lease ran out (paused, or too slow) neither
        delivers nor settles: the row is someone else's now."""
        elapsed = (clock.now() - item.claimed_at).total_seconds() if item.claimed_at else lease_seconds()
        if elapsed >= lease_seconds() / 2 and not self.holds(item, worker):  # claimed just now: it holds
            log.warning("outbox %s: lease of %s ran out before delivery; left to its new worker", item.key, worker)
            return "stale"
        return self.settle(item, self.deliver(item), worker)

    def run_due(self, worker: str, limit: int = 20, kinds: list[str] | None = None) -> dict[str, int]:
        """Claim, deliver and settle one batch; returns counts by final status."""
        counts: dict[str, int] = {}
        for item in self.claim(worker, limit, kinds):
            status = self.process(item, worker)
            counts[status] = counts.get(status, 0) + 1
        return counts

    def due(self, limit: int = 1000) -> list[tuple[int, int]]:
        """(id, attempts) of rows due now, oldest first: waiting rows whose time has come and rows whose
        lease ran out (their worker died or lost its Redis). The database decides, not the job queue."""
        t = self.table
        now = clock.now()
        due = or_(and_(t.c.status.in_([PENDING, RETRY]), t.c.available_at <= now),
                  and_(t.c.status == SENDING, t.c.lease_until < now))
        with self.db.read(snapshot=False) as conn:
            return [(int(i), int(a)) for i, a in conn.execute(
                select(t.c.id, t.c.attempts).where(due).order_by(t.c.available_at, t.c.id).limit(limit))]

    # ---- admin -------------------------------------------------------------

    def list(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        q = select(self.table).order_by(self.table.c.id.desc()).limit(limit)
        if status:
            q = q.where(self.table.c.status == status)
        with self.db.read() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def retry(self, item_id: int | None = None) -> int:
        """Put rows back in the queue, due now: dead and undeliverable rows (one, or all) with a fresh attempt
        budget; with an id, also a row waiting for its (next) attempt and a ``sending`` row whose lease ran out
        (its worker died). A row being sent under a live lease, already sent or cancelled, is left alone."""
        t = self.table
        now = clock.now()
        with self.db.write() as conn:
            dead = update(t).where(t.c.status.in_(STUCK))
            if item_id is None:
                return int(conn.execute(dead.values(status=PENDING, attempts=0, available_at=now,
                                                     last_error=None)).rowcount)
            n = conn.execute(dead.where(t.c.id == item_id).values(
                status=PENDING, attempts=0, available_at=now, last_error=None)).rowcount
            if n:
                return int(n)
            n = conn.execute(update(t).where(t.c.id == item_id, or_(
                t.c.status.in_([PENDING, RETRY]), and_(t.c.status == SENDING, t.c.lease_until < now))).values(
                status=PENDING, available_at=now, lease_until=None, leased_by=None)).rowcount
            return int(n)

    def cancel(self, item_id: int, reason: str = "") -> bool:
        """Give up on a row that has not been sent (dead, undeliverable, or still waiting): it stays, cancelled."""
        t = self.table
        with self.db.write() as conn:
            return bool(conn.execute(update(t).where(t.c.id == item_id, t.c.status.in_([*STUCK, PENDING, RETRY]))
                                     .values(status=CANCELLED, available_at=clock.now(),
                                             last_error=(reason or "cancelled")[:2000])).rowcount)

    def search(self, *, status: str | None = None, kind: str | None = None, source: str | None = None,
               text: str | None = None, before: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Rows newest first, filtered; ``text`` matches inside the payload (a phone number, a user name, a
        URL); ``before`` is the last id of the previous page (keyset paging: constant cost on any page)."""
        t = self.table
        q = select(t).order_by(t.c.id.desc()).limit(limit)
        if status:
            q = q.where(t.c.status == status)
        if kind:
            q = q.where(t.c.kind == kind)
        if source:
            q = q.where(t.c.source == source)
        if text:
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            q = q.where(t.c.payload.like(pattern, escape="\\"))
        if before is not None:
            q = q.where(t.c.id < before)
        with self.db.read(snapshot=False) as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def get(self, item_id: int) -> dict[str, Any] | None:
        with self.db.read() as conn:
            row = conn.execute(select(self.table).where(self.table.c.id == item_id)).mappings().first()
        return dict(row) if row is not None else None

    def counts(self) -> dict[str, int]:
        with self.db.read() as conn:
            return {s: int(n) for s, n in conn.execute(
                select(self.table.c.status, func.count()).group_by(self.table.c.status))}
