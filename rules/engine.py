"""Running rules: on record events, and on schedules over records chosen in SQL.

Each firing is keyed (rule, record, occurrence) and the key is written to
``jig_rule_firings`` in the same transaction as the firing's effects (outbox
rows, notifications, record changes). A rule therefore never fires twice for
one occurrence, and a run interrupted by a crash is completed by the next
run: records are processed in chunks, each chunk committed on its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Select, and_, exists, select
from sqlalchemy.dialects import postgresql, sqlite

from runtime import clock
from runtime.auth import SYSTEM
from runtime.context import RecordContext, row_loader
from runtime.evaluate import EvaluationError, evaluate, holds
from runtime.hooks import RecordEvent

from .actions import ActionRunner
from .spec import BEFORE, BEFORE_EVENTS, RuleDef

log = logging.getLogger("jig.rules")
CHUNK = 500  # records per transaction in a scheduled run (JIG_RULE_CHUNK overrides)
MAX_DEPTH = 4
RULE_ACTOR = SYSTEM.using("rule")


@dataclass
class RunReport:
    rule: str
    scanned: int = 0
    fired: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)
    undeliverable: list[str] = field(default_factory=list)  # recipients that could not be reached (kept)


class RuleEngine:
    def __init__(self, rt: Any, rules: list[RuleDef], actions: ActionRunner, firings: Any):
        self.rt = rt
        self.rules = rules
        self.actions = actions
        self.firings = firings
        self._depth = threading.local()
        self.by_event: dict[tuple[str, str, str], list[RuleDef]] = defaultdict(list)
        for r in rules:
            if r.event and r.entity is not None and r.enabled:
                self.by_event[(r.app, r.entity.name, r.event)].append(r)

    # ---- event rules -------------------------------------------------------

    def on_event(self, ev: RecordEvent) -> None:
        kind = ev.name.split(".", 1)[1]
        rules = self.by_event.get((ev.app, ev.entity, kind))
        if not rules:
            return
        depth = getattr(self._depth, "n", 0)
        if depth >= MAX_DEPTH:
            log.warning("rules: stopped at depth %d on %s.%s #%s (rules changing records in a loop?)",
                        depth, ev.app, ev.entity, ev.record_id)
            return
        self._depth.n = depth + 1
        try:
            for rule in rules:
                self._event_rule(rule, ev)
        finally:
            self._depth.n = depth

    def _event_rule(self, rule: RuleDef, ev: RecordEvent) -> None:
        if rule.transition and ev.transition != rule.transition:
            return
        if rule.fields and not any(f in ev.changes for f in rule.fields):
            return
        assert rule.entity is not None
        ctx = self._context(ev.conn, rule, _raw(rule, ev))
        if rule.when is not None:
            cond = ctx
            if ev.before is not None and rule.event in BEFORE_EVENTS:
                was = self._context(ev.conn, rule, _raw(rule, ev, ev.before))
                cond = _WithBefore(rule.entity, dict(ctx), ctx.user, ctx.loader, before=was)
            if not _true(rule.when, cond):
                return
        occurrence = f"v{ev.record.get('version', 0)}:{ev.name}" if rule.once == "per_event" \
            else self._occurrence(rule, ctx)  # once: per_record, per_day, per_state, {per: ...}, repeat
        if self._record_firing(ev.conn, rule, ev.record_id, occurrence):
            self.actions.run(ev.conn, rule, [(ev.record_id, ctx)], occurrence)

    # ---- scheduled rules ---------------------------------------------------

    def run_scheduled(self, rule: RuleDef, worker: str, renew: Any = None) -> RunReport:
        """Run a scheduled rule once: pick matching records in SQL, fire the ones not yet fired."""
        report = RunReport(rule.key)
        if rule.entity is None:
            with self.rt.db.write() as conn:
                occurrence = self._occurrence(rule, None)
                if self._record_firing(conn, rule, 0, occurrence):
                    report.undeliverable += self.actions.run(conn, rule, [(0, None)], occurrence)
                    report.fired = 1
            return report
        table = self.rt.tables.for_entity(rule.entity)
        firings = self.firings
        constant = rule.once in ("per_record", "per_day", "repeat", "always")
        occurrence = self._occurrence(rule, None) if constant else None
        unfired = (firings, occurrence) if constant and rule.once != "always" else None
        # first the ids alone (read from the condition's index, runtime.indexplan), then the rows in chunks:
        # each chunk checks the condition and the firings again in its own transaction, as it fires
        with self.rt.db.read(snapshot=False) as conn:
            ids = sorted(conn.execute(scan_ids(self.rt.sql, rule, table, unfired)).scalars())
        size = _chunk()
        for at in range(0, len(ids), size):
            chunk = ids[at:at + size]
            problems: list[str] = []
            fetched = False
            try:
                with self.rt.db.write() as conn:
                    q = scan_query(self.rt.sql, rule, table, chunk[0] - 1, len(chunk), unfired, among=chunk)
                    rows = [dict(r) for r in conn.execute(q).mappings()]
                    fetched = True
                    report.scanned += len(rows)
                    due: list[tuple[int, RecordContext]] = []
                    occ_by_id: dict[int, str] = {}
                    for row in rows:
                        ctx = self._context(conn, rule, row)
                        occ = occurrence if constant else self._occurrence(rule, ctx)
                        if self._record_firing(conn, rule, row["id"], occ):  # type: ignore[arg-type]
                            due.append((row["id"], ctx))
                            occ_by_id[row["id"]] = occ  # type: ignore[assignment]
                        else:
                            report.skipped += 1
                    if due:
                        problems = self.actions.run(conn, rule, due, occurrence or "", occ_by_id)
                        report.fired += len(due)
                report.undeliverable += problems  # after the commit: the undeliverable rows are kept
            except Exception as exc:  # noqa: BLE001 - one bad chunk must not stop the others
                # the chunk's firings rolled back with its effects: the next run tries these records again
                report.errors.append(f"{type(exc).__name__}: {exc}")
                log.exception("rule %s failed on a chunk from id %s", rule.key, chunk[0])
                if not fetched:
                    break
            if renew is not None:
                renew()
        return report

    # ---- keys --------------------------------------------------------------

    def occurrence(self, rule: RuleDef, ctx: RecordContext | None) -> str:
        """The occurrence a firing of ``rule`` on this record is keyed by, now (see ``once:``)."""
        return self._occurrence(rule, ctx)

    def _occurrence(self, rule: RuleDef, ctx: RecordContext | None) -> str:
        now = clock.now()
        if rule.once == "per_day":
            return now.date().isoformat()
        if rule.once == "repeat" and rule.repeat_seconds:
            bucket = int(now.replace(tzinfo=dt.UTC).timestamp()) // rule.repeat_seconds
            return f"r{bucket}"
        if rule.once == "per_state":
            return f"s:{ctx.get('state') if ctx is not None else ''}"
        if rule.once == "per_value" and rule.once_expr is not None and ctx is not None:
            try:
                value = evaluate(rule.once_expr, ctx)
            except EvaluationError:
                value = None
            return "p:" + hashlib.sha1(repr(value).encode()).hexdigest()[:16]
        if rule.once == "always":
            return now.isoformat()
        return "once"

    def _record_firing(self, conn: Connection, rule: RuleDef, record_id: int, occurrence: str) -> bool:
        """Claim one firing; False when it was already recorded (by this or another worker)."""
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(self.firings).values(rule=rule.key, record_id=record_id, occurrence=occurrence[:100],
                                           fired_at=clock.now()).on_conflict_do_nothing()
        return conn.execute(stmt.returning(self.firings.c.id)).first() is not None

    def _context(self, conn: Connection, rule: RuleDef, row: dict[str, Any]) -> RecordContext:
        assert rule.entity is not None
        return RecordContext(rule.entity, row, RULE_ACTOR.context(), row_loader(conn, self.rt.tables))


def scan_query(sql: Any, rule: RuleDef, table: Any, after_id: int, limit: int,
               unfired: tuple[Any, str | None] | None = None, among: list[int] | None = None) -> Select[Any]:
    """The records a scheduled rule looks at, in id order after ``after_id``: its ``when`` compiled to SQL by
    ``sql`` (a SqlCompiler); with ``unfired`` (the firings table, the occurrence), only those not yet fired for it;
    with ``among``, only those ids (a chunk of what :func:`scan_ids` found).
    The scheduler's runs and the rule editor's test (rules.trial) both use this statement."""
    q = select(table).where(table.c.id > after_id).order_by(table.c.id).limit(limit)
    if among is not None:
        q = q.where(table.c.id.in_(among))
    return _selecting(q, sql, rule, table, unfired)


def scan_ids(sql: Any, rule: RuleDef, table: Any, unfired: tuple[Any, str | None] | None = None) -> Select[Any]:
    """The ids of every record a scheduled rule would look at now (in no order: sorted by the caller, so the
    database reads them from the condition's index and sorts nothing)."""
    return _selecting(select(table.c.id), sql, rule, table, unfired)


def _selecting(q: Select[Any], sql: Any, rule: RuleDef, table: Any,
               unfired: tuple[Any, str | None] | None) -> Select[Any]:
    if rule.when is not None:
        q = q.where(sql.condition(rule.when, table))
    if unfired is not None:
        firings, occurrence = unfired
        q = q.where(~exists().where(and_(firings.c.rule == rule.key, firings.c.record_id == table.c.id,
                                         firings.c.occurrence == occurrence)))
    return q


def _chunk() -> int:
    return int(os.environ.get("JIG_RULE_CHUNK", CHUNK))


class _WithBefore(RecordContext):
    """A record in an updated/transitioned rule's condition: ``before.x`` is the value before the change."""

    def __init__(self, *args: Any, before: RecordContext):
        super().__init__(*args)
        self.before = before

    def linked(self, field_name: str) -> RecordContext | None:
        if field_name == BEFORE and BEFORE not in self.ent.fields:
            return self.before
        return super().linked(field_name)


def _raw(rule: RuleDef, ev: RecordEvent, record: dict[str, Any] | None = None) -> dict[str, Any]:
    """The event's record (or ``record``: its before image) as typed values (events carry JSON forms)."""
    assert rule.entity is not None
    return _typed(rule.entity, ev.record if record is None else record)


def _typed(ent: Any, record: dict[str, Any]) -> dict[str, Any]:
    from runtime.fieldtypes import FieldValueError, coerce
    out: dict[str, Any] = {k: record.get(k) for k in ("id", "name", "state", "version")}
    for f in ent.fields.values():
        value = record.get(f.name)
        if f.stored and value is not None:
            try:
                out[f.name] = coerce(f, value)
            except FieldValueError:
                out[f.name] = value
        elif f.type == "table":  # typed rows too: aggregates such as sum(lines.qty) read them
            out[f.name] = [_typed(f.child, r) for r in value if isinstance(r, dict)] \
                if isinstance(value, list) and f.child is not None else value
    return out


def _true(expr: Any, ctx: RecordContext) -> bool:
    try:
        return holds(expr, ctx) is True
    except EvaluationError:
        return False
