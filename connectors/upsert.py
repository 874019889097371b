"""Writing a page of ERP records: upsert by external key, in bulk, with history and events.

One call handles one page inside the caller's transaction (which also moves
the sync cursor, so a page and its progress commit together). Existing rows
are read with one query per table; unchanged records cost nothing; new ones
are inserted with ``INSERT ... ON CONFLICT (key) DO NOTHING`` in one batch
(numbers of a naming series reserved as a block), changed ones updated in one
batch with their version bumped. Every write leaves a history row
(via=connector) and emits the usual record event when someone listens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from runtime import clock, naming
from runtime.auth import SYSTEM, Actor
from runtime.evaluate import EvaluationError, holds
from runtime.fieldtypes import to_json
from runtime.hooks import RecordEvent
from runtime.model import EntityDef

ACTOR: Actor = SYSTEM.using("connector")


@dataclass
class Mapped:
    """One ERP record mapped onto an entity: typed field values and child rows."""

    key: Any
    values: dict[str, Any]
    children: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    closed: bool = False
    errors: list[str] = field(default_factory=list)


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    closed: int = 0
    errors: list[str] = field(default_factory=list)
    ids: dict[Any, int] = field(default_factory=dict)
    failures: list[tuple[Any, str]] = field(default_factory=list)  # (key, reason) of every failed record

    def add(self, other: Counts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.failed += other.failed
        self.closed += other.closed
        self.errors.extend(other.errors[: max(0, 200 - len(self.errors))])


def _insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


class Upserter:
    def __init__(self, rt: Any, ent: EntityDef, key: str, child_keys: dict[str, str | None]):
        self.rt = rt
        self.ent = ent
        self.key = key
        self.table = rt.tables.for_entity(ent)
        self.child_keys = child_keys
        self.child_tables = {f: rt.tables.for_entity(ent.fields[f].child) for f in child_keys}
        self.history = rt.tables.system["jig_history"]
        self.stored = {f.name for f in ent.stored_fields()}
        self.stored_names = [f.name for f in ent.stored_fields()]
        self.child_cols = {f: [c.name for c in ct.columns if c.name != "id"] for f, ct in self.child_tables.items()}
        self._compiled: dict[Any, tuple[str, list[str], list[tuple[int, Any]]] | None] = {}
        self.checks = [f for f in ent.fields.values() if f.check is not None]
        # (field, is a table, required child fields): tables and required fields, in field order
        self._rules = [(f, True, [cf.name for cf in f.child.fields.values() if cf.required]) if f.type == "table"
                       else (f, False, []) for f in ent.fields.values()
                       if (f.type == "table" and f.child is not None) or (f.type != "table" and f.required)]

    # ---- validation (the cheap, per-record part of runtime.validation) -----

    def problems(self, m: Mapped, mapped_fields: set[str]) -> list[str]:
        out = list(m.errors)
        values = m.values
        for f, kind, req in self._rules:
            if kind:
                rows = m.children.get(f.name)
                if rows is None:
                    continue
                if f.min_rows is not None and len(rows) < f.min_rows:
                    out.append(f"{f.name}: at least {f.min_rows} row(s)")
                for i, r in enumerate(rows):
                    for cname in req:
                        if cname in r and r[cname] in (None, ""):
                            out.append(f"{f.name}[{i}].{cname}: required")
            elif f.name in mapped_fields and values.get(f.name) in (None, ""):
                out.append(f"{f.name}: required")
        for f in self.checks:
            try:
                if f.check is not None and holds(f.check, m.values) is False:
                    out.append(f"{f.name}: check failed ({f.check.source})")
            except EvaluationError:
                pass
        return out

    # ---- the page ----------------------------------------------------------

    def apply(self, conn: Connection, records: list[Mapped], mapped_fields: set[str]) -> Counts:
        counts = Counts()
        t = self.table
        good: list[Mapped] = []
        for m in records:
            errs = self.problems(m, mapped_fields)
            if errs:
                counts.failed += 1
                counts.failures.append((m.key, "; ".join(errs)))
                if len(counts.errors) < 200:
                    counts.errors.append(f"{m.key}: {'; '.join(errs)}")
            else:
                good.append(m)
        if not good:
            return counts
        keys = [m.key for m in good]
        existing: dict[Any, dict[str, Any]] = {}
        for chunk in _chunks(keys, 900):
            for r in conn.execute(select(t).where(t.c[self.key].in_(chunk))).mappings():
                existing[r[self.key]] = dict(r)
        kids: dict[str, dict[int, list[dict[str, Any]]]] = {f: {} for f in self.child_tables}
        ids = [r["id"] for r in existing.values()]
        for fname, ct in self.child_tables.items():
            for chunk in _chunks(ids, 900):
                for r in conn.execute(select(ct).where(ct.c.parent_id.in_(chunk)).order_by(ct.c.parent_id, ct.c.idx)
                                      ).mappings():
                    kids[fname].setdefault(r["parent_id"], []).append(dict(r))
        creates: list[Mapped] = []
        updates: list[tuple[Mapped, dict[str, Any], dict[str, list[Any]], set[str]]] = []
        for m in good:
            old = existing.get(m.key)
            if old is None:
                creates.append(m)
                continue
            counts.ids[m.key] = old["id"]
            changed = {k for k, v in m.values.items() if k in self.stored and _differs(old.get(k), v)}
            child_changed = set()
            for fname, rows in m.children.items():
                if _rows_differ(kids[fname].get(old["id"], []), rows):
                    child_changed.add(fname)
            if changed or child_changed:
                updates.append((m, old, {f: kids[f].get(old["id"], []) for f in child_changed}, changed))
            else:
                counts.unchanged += 1
        now = clock.now()
        if creates:
            self._create(conn, creates, now, counts)
        if updates:
            self._update(conn, updates, now, counts)
        return counts

    def _create(self, conn: Connection, creates: list[Mapped], now: Any, counts: Counts) -> None:
        ent, t = self.ent, self.table
        names = self._names(conn, len(creates), now) if ent.naming else None
        stored_names = self.stored_names
        rows = []
        for i, m in enumerate(creates):
            vals = m.values
            row = {n: vals.get(n) for n in stored_names}
            row.update(version=1, created_at=now, created_by=ACTOR.username, updated_at=now,
                       updated_by=ACTOR.username)
            if ent.workflow is not None:
                row["state"] = ent.workflow.initial
            if names is not None:
                row["name"] = names[i]
            rows.append(row)
        self._bulk(conn, ("create", t.name), _insert(conn)(t).on_conflict_do_nothing(index_elements=[self.key]), rows)
        got: dict[Any, int] = {}
        for chunk in _chunks([m.key for m in creates], 900):
            for rid, k in conn.execute(select(t.c.id, t.c[self.key]).where(t.c[self.key].in_(chunk))
                                       .where(t.c.created_at == now, t.c.version == 1)):
                got[k] = rid
        child_rows: dict[str, list[dict[str, Any]]] = {f: [] for f in self.child_tables}
        hist = []
        created_ids = []
        for m, row in zip(creates, rows, strict=True):
            rid = got.get(m.key)
            if rid is None:  # someone else inserted this key meanwhile: the next run updates it
                counts.failed += 1
                counts.failures.append((m.key, "created concurrently elsewhere; will be updated on the next run"))
                counts.errors.append(f"{m.key}: created concurrently elsewhere; will be updated on the next run")
                continue
            counts.created += 1
            counts.ids[m.key] = rid
            row["id"] = rid
            created_ids.append((m, row))
            for fname, crs in m.children.items():
                for idx, cr in enumerate(crs):
                    child_rows[fname].append({**cr, "parent_id": rid, "idx": idx})
            diff = {k: [None, _j(v)] for k, v in row.items() if k not in _AUDIT and v is not None and v != ""}
            for fname, crs in m.children.items():
                diff[fname] = [None, [{k: _j(v) for k, v in cr.items()} for cr in crs]]
            hist.append(self._hist(rid, "create", diff, 1, now))
        for fname, crs in child_rows.items():
            if crs:
                ct = self.child_tables[fname]
                cols = self.child_cols[fname]
                full = [{c: r.get(c) for c in cols} for r in crs]
                self._bulk(conn, ("child", fname), ct.insert(), full)
        if hist:
            self._bulk(conn, ("history",), self.history.insert(), hist)
        if self.rt.hooks.has("record.created"):
            for m, row in created_ids:
                self._emit(conn, "record.created", row["id"], {**row, **m.children}, None)

    def _update(self, conn: Connection, updates: list[tuple[Mapped, dict[str, Any], dict[str, list[Any]], set[str]]],
                now: Any, counts: Counts) -> None:
        t = self.table
        cols = sorted({k for m, _, _, _ in updates for k in m.values if k in self.stored})
        stmt = update(t).where(t.c.id == bindparam("b_id"), t.c.version == bindparam("b_version")).values(
            {**{c: bindparam("v_" + c) for c in cols}, "version": bindparam("b_new"),
             "updated_at": bindparam("b_at"), "updated_by": bindparam("b_by")})
        params = []
        hist = []
        for m, old, old_kids, changed in updates:
            p = {"b_id": old["id"], "b_version": old["version"], "b_new": old["version"] + 1, "b_at": now,
                 "b_by": ACTOR.username}
            for c in cols:
                p["v_" + c] = m.values.get(c, old.get(c))
            params.append(p)
            diff = {k: [to_json(old.get(k)), to_json(m.values.get(k))] for k in sorted(changed)}
            for fname, rows in old_kids.items():
                diff[fname] = [[_plain(r) for r in rows], [{k: to_json(v) for k, v in r.items()}
                                                           for r in m.children[fname]]]
            hist.append(self._hist(old["id"], "update", diff, old["version"] + 1, now))
        conn.execute(stmt, params)
        for m, old, old_kids, _ in updates:
            for fname in old_kids:
                self._rewrite_children(conn, fname, old["id"], old_kids[fname], m.children[fname])
        conn.execute(self.history.insert(), hist)
        counts.updated += len(updates)
        if self.rt.hooks.has("record.updated"):
            for m, old, old_kids, _ in updates:
                after = {**old, **m.values, "version": old["version"] + 1, "updated_at": now}
                before = {**old, **{f: [_plain(r) for r in rows] for f, rows in old_kids.items()}}
                self._emit(conn, "record.updated", old["id"], {**after, **m.children}, before)

    def _bulk(self, conn: Connection, name: Any, stmt: Any, rows: list[dict[str, Any]]) -> None:
        """executemany of ``rows`` (all with the same keys): on SQLite the statement is compiled once and
        each column's bind processor bound once, rows go to the driver as plain tuples (the same values
        SQLAlchemy would send, without its per-row parameter handling). Elsewhere: conn.execute."""
        if not rows:
            return
        if conn.dialect.name != "sqlite":
            conn.execute(stmt, rows)
            return
        cols = tuple(rows[0])
        ck = (name, cols)
        plan = self._compiled.get(ck, False)
        if plan is False:
            compiled = stmt.compile(dialect=conn.dialect, column_keys=list(cols))
            order = list(getattr(compiled, "positiontup", None) or [])
            plan = None
            if compiled.positional and sorted(order) == sorted(cols) and not compiled.escaped_bind_names:
                procs = compiled._bind_processors
                plan = (compiled.string, order, [(i, procs[n]) for i, n in enumerate(order) if n in procs])
            self._compiled[ck] = plan
        if plan is None:
            conn.execute(stmt, rows)
            return
        sql, order, procs = plan
        if procs:
            params = []
            for r in rows:
                vals = [r[n] for n in order]
                for i, proc in procs:
                    vals[i] = proc(vals[i])
                params.append(tuple(vals))
        else:
            params = [tuple([r[n] for n in order]) for r in rows]
        conn.exec_driver_sql(sql, params)

    def _rewrite_children(self, conn: Connection, fname: str, parent_id: int, old: list[dict[str, Any]],
                          new: list[dict[str, Any]]) -> None:
        ct = self.child_tables[fname]
        key = self.child_keys.get(fname)
        by_key = {r.get(key): r for r in old} if key else {}
        keep: set[int] = set()
        for idx, r in enumerate(new):
            hit = by_key.get(r.get(key)) if key else None
            if hit is not None and hit["id"] not in keep:
                keep.add(hit["id"])
                conn.execute(update(ct).where(ct.c.id == hit["id"]).values(idx=idx, **r))
            else:
                conn.execute(ct.insert().values(parent_id=parent_id, idx=idx, **r))
        gone = [r["id"] for r in old if r["id"] not in keep]
        if gone:
            conn.execute(delete(ct).where(ct.c.id.in_(gone)))

    def _names(self, conn: Connection, n: int, now: Any) -> list[str]:
        """Reserve ``n`` numbers of the naming series at once (same counter as Records.create)."""
        series = self.ent.naming or ""
        text, width = naming.render_prefix(series, now.date())
        key = f"{self.ent.key}:{naming.COUNTER.sub('#', text)}"
        nt = self.rt.tables.system["jig_naming"]
        stmt = _insert(conn)(nt).values(key=key, value=n).on_conflict_do_update(
            index_elements=["key"], set_={"value": nt.c.value + n})
        end = int(conn.execute(stmt.returning(nt.c.value)).scalar_one())
        return [naming.COUNTER.sub(lambda _m, v=v: str(v).zfill(width), text, count=1) for v in range(end - n + 1,
                                                                                                       end + 1)]

    def _hist(self, rid: int, action: str, diff: dict[str, Any], version: int, now: Any) -> dict[str, Any]:
        return {"app": self.ent.app, "entity": self.ent.name, "record_id": rid, "action": action,
                "transition": None, "via": ACTOR.via, "username": ACTOR.username, "at": now, "version": version,
                "diff": json.dumps(diff, ensure_ascii=False, separators=(",", ":"), default=str)}

    def _emit(self, conn: Connection, name: str, rid: int, row: dict[str, Any], before: dict[str, Any] | None) -> None:
        recs = self.rt.records
        record = recs.serialize(self.ent, recs.for_json(conn, self.ent, {**row, "id": rid}, ACTOR))
        prev = recs.serialize(self.ent, recs.for_json(conn, self.ent, before, ACTOR)) if before else None
        diff = {k: [prev.get(k) if prev else None, v] for k, v in record.items()
                           if prev is None or prev.get(k) != v}
        self.rt.hooks.emit(name, RecordEvent(name=name, app=self.ent.app, entity=self.ent.name, record_id=rid,
                                             record=record, before=prev, changes=diff, actor=ACTOR, conn=conn,
                                             runtime=self.rt))


_AUDIT = frozenset(("id", "version", "created_at", "created_by", "updated_at", "updated_by"))


def _j(v: Any) -> Any:
    return v if v is None or type(v) in (str, int) else to_json(v)


def _plain(r: dict[str, Any]) -> dict[str, Any]:
    return {k: to_json(v) for k, v in r.items() if k not in ("id", "parent_id", "idx")}


def _differs(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None) and not (a in (None, "") and b in (None, ""))
    try:
        return bool(a != b)
    except TypeError:
        return to_json(a) != to_json(b)


def _rows_differ(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> bool:
    if len(old) != len(new):
        return True
    return any(_differs(o.get(k), v) for o, n in zip(old, new, strict=True) for k, v in n.items())


def _chunks(items: list[Any], n: int) -> list[list[Any]]:
    return [items[i:i + n] for i in range(0, len(items), n)]
