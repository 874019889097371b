"""Roll-ups: a number field kept equal to the sum (or count) of the records that belong to its record.

::

    entities:
      tool:
        fields:
          shots: {type: integer, label: 累计冲次, rollup: {from: shot_log.tool, sum: shots}}
          open_lines: {type: integer, rollup: {from: lines, count: true, where: "qty > 0"}}

``from`` names a child table of the entity (``lines``) or, as ``entity.link``, the records of another
entity of the app that link here (``shot_log.tool``). ``sum`` names a number field of those records,
``count: true`` counts them; ``where`` (optional) is a condition on them.

The runtime keeps the value exact in the transaction of every write that can change it: creating,
changing, relinking or deleting a source record, or writing a record's child rows. It locks the parent's
row, then recomputes the value in SQL, so two writes to two sources of one parent add up on PostgreSQL
(whose statements see what committed before them) as on SQLite (one writer at a time). The parent's
``version`` does not move, so a person editing the parent is not refused for a change they did not make;
users cannot write the field. A change is announced as ``record.updated`` of the parent by the ``rollup``
actor, with the record before and after: an ``updated`` rule compares ``before.shots`` with ``shots`` and
fires at the crossing. Roll-ups of roll-ups follow; circles are refused at load.

A roll-up field added to an entity that has records is filled when its column is created, and publishing
an app refills every roll-up of it (the definition may have changed what is counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table, func, select, update

from .model import AppDef, EntityDef, FieldDef

NUMBER_TYPES = ("integer", "decimal")
CHILD_LINK = "parent_id"


@dataclass(eq=False)
class Rollup:
    """One roll-up: ``entity.field`` is the ``agg`` of ``source`` rows whose ``link`` is the record's id."""

    entity: EntityDef
    field: FieldDef
    source: EntityDef
    link: str
    agg: str                 # "sum" | "count"
    of: str | None           # the summed field (sum only)
    where: Any = None        # Expr on the source, or None


def compile_rollups(app: AppDef, ctx: Any) -> None:
    """Check every ``rollup:`` of the app's entities and attach it to its source (``source.extra['feeds']``)."""
    ents = app.raw.get("entities") if isinstance(app.raw.get("entities"), dict) else {}
    found: list[Rollup] = []
    for ename, ent in app.entities.items():
        fields_raw = (ents.get(ename) or {}).get("fields") if isinstance(ents.get(ename), dict) else None
        for fname, spec in (fields_raw or {}).items():
            if isinstance(spec, dict) and isinstance(spec.get("rollup"), dict) and fname in ent.fields:
                r = _one(app, ent, ent.fields[fname], spec["rollup"], ("entities", ename, "fields", fname, "rollup"),
                         ctx)
                if r is not None:
                    found.append(r)
    if _circle(found, ctx):
        return
    for r in found:
        r.source.extra.setdefault("feeds", []).append(r)
        r.field.readonly = True  # kept by the engine, never entered
        r.entity.extra.setdefault("rollups", {})[r.field.name] = r


def _one(app: AppDef, ent: EntityDef, f: FieldDef, spec: dict[str, Any], path: tuple[Any, ...],
         ctx: Any) -> Rollup | None:
    if f.type not in NUMBER_TYPES:
        ctx.error((*path[:-1], "type"), f"a roll-up is a number: '{f.name}' is {f.type}",
                  "use type: integer (counts) or decimal (sums)")
        return None
    origin = str(spec.get("from", ""))
    if "." in origin:
        ename, link = origin.split(".", 1)
        source = app.entities.get(ename)
        if source is None:
            ctx.error((*path, "from"), f"unknown entity '{ename}'", _names(app.entities))
            return None
        lf = source.fields.get(link)
        if lf is None or lf.type != "link" or lf.to != ent.name:
            ctx.error((*path, "from"), f"'{ename}.{link}' is not a link from {ename} to {ent.name}",
                      _names([n for n, x in source.fields.items() if x.type == "link" and x.to == ent.name]))
            return None
    else:
        table = ent.fields.get(origin)
        if table is None or table.child is None:
            ctx.error((*path, "from"), f"'{origin}' is not a child table of {ent.name}",
                      "name a child table of this entity, or entity.link_field for records linking here")
            return None
        source, link = table.child, CHILD_LINK
    counting = spec.get("count") is True
    of = spec.get("sum")
    if counting == (of is not None):
        ctx.error(path, "a roll-up either sums a field or counts records", "write sum: <field> or count: true")
        return None
    if of is not None:
        sf = source.fields.get(str(of))
        if sf is None or sf.type not in NUMBER_TYPES:
            ctx.error((*path, "sum"), f"'{of}' is not a number field of {source.name}",
                      _names([n for n, x in source.fields.items() if x.type in NUMBER_TYPES]))
            return None
        if f.type == "integer" and sf.type == "decimal":
            ctx.error((*path[:-1], "type"), f"the sum of decimal '{of}' needs a decimal field",
                      "use type: decimal with the scale of the summed field")
            return None
    where = None
    if spec.get("where") is not None:
        assert source.scope is not None
        where = ctx.expr(str(spec["where"]), source.scope, (*path, "where"), want="bool")
        if where is not None and ("user" in where.names or where.functions & {"now", "today"}):
            ctx.error((*path, "where"), "a roll-up's condition cannot depend on who is looking or on the time",
                      "refer to fields of the counted records only (a stored count cannot follow the clock)")
            return None
    return Rollup(entity=ent, field=f, source=source, link=link, agg="sum" if of is not None else "count",
                  of=str(of) if of is not None else None, where=where)


def _names(names: Any) -> str:
    listed = sorted(names)[:8]
    return f"choose one of: {', '.join(listed)}" if listed else ""


def _circle(found: list[Rollup], ctx: Any) -> bool:
    """Refuse roll-ups that feed each other round (A sums B's roll-up which sums A's)."""
    feeds: dict[str, set[str]] = {}
    for r in found:
        feeds.setdefault(r.source.key, set()).add(r.entity.key)
    for start in feeds:
        seen: set[str] = set()
        todo = list(feeds[start])
        while todo:
            k = todo.pop()
            if k == start:
                r = next(x for x in found if x.source.key == start)
                ctx.error(("entities", r.entity.name, "fields", r.field.name, "rollup"),
                          f"roll-ups go round in a circle through {start}", "a roll-up may not count itself")
                return True
            if k not in seen:
                seen.add(k)
                todo.extend(feeds.get(k, ()))
    return False


def feeds(ent: EntityDef) -> list[Rollup]:
    """The roll-ups that records of ``ent`` count into."""
    return ent.extra.get("feeds") or []  # type: ignore[no-any-return]


def of_app(app: AppDef) -> list[Rollup]:
    return [r for ent in app.entities.values() for f in ent.child_fields() if f.child is not None
            for r in feeds(f.child)] + [r for ent in app.entities.values() for r in feeds(ent)]


# ---------------------------------------------------------------------------- keeping them exact

def value(r: Rollup, tables: Any, sql: Any, parent_id: Any = None) -> Any:
    """The roll-up's SQL value for one parent (``parent_id``), or a correlated subquery for every parent."""
    src: Table = tables.for_entity(r.source)
    agg = func.count() if r.agg == "count" else func.coalesce(func.sum(src.c[r.of]), 0)
    q = select(agg)
    if parent_id is None:
        q = q.where(src.c[r.link] == tables.for_entity(r.entity).c.id).scalar_subquery()
    else:
        q = q.where(src.c[r.link] == parent_id)
    if r.where is not None:
        q = q.where(sql.condition(r.where, src))
    return q


def _typed(r: Rollup, v: Any) -> Any:
    if r.field.type == "integer":
        return int(v or 0)
    return Decimal(str(v or 0)).quantize(Decimal(1).scaleb(-r.field.scale))


class Keeper:
    """Keeps the roll-ups of one runtime exact inside the transactions that write their sources."""

    def __init__(self, rt: Any):
        self.rt = rt

    def refresh(self, c: Connection, r: Rollup, parent_id: int, *, announce: bool = True) -> Any:
        """Recompute ``r`` for one parent under its row lock; returns the value (None: no such parent)."""
        table = self.rt.tables.for_entity(r.entity)
        lock = select(table).where(table.c.id == parent_id).with_for_update(key_share=True)  # FOR NO KEY UPDATE
        row = c.execute(lock).mappings().first()
        if row is None:
            return None
        new = _typed(r, c.execute(value(r, self.rt.tables, self.rt.sql, parent_id)).scalar())
        old = row[r.field.name]
        if old is not None and _typed(r, old) == new:
            return new
        c.execute(update(table).where(table.c.id == parent_id).values({r.field.name: new}))
        if announce:
            before = dict(row)
            self.after_write(c, r.entity, before, {**before, r.field.name: new}, {r.field.name: [old, new]})
        return new

    def after_write(self, c: Connection, ent: EntityDef, before: dict[str, Any] | None,
                    after: dict[str, Any] | None, changes: dict[str, Any] | None = None) -> None:
        """A record of ``ent`` was created (no before), changed, or deleted (no after): refresh what it feeds.

        With ``changes`` (a roll-up moved on this very record), the change is announced as
        ``record.updated`` by the ``rollup`` actor first."""
        if changes is not None:
            self.rt.records.announce_engine_update(c, ent, before or {}, after or {}, changes)
        for r in feeds(ent):
            if r.link == CHILD_LINK:
                continue  # child rows: refreshed by the write of their parent
            ids = {int(x) for x in ((before or {}).get(r.link), (after or {}).get(r.link)) if x is not None}
            for pid in sorted(ids):
                self.refresh(c, r, pid)

    def own_children(self, c: Connection, ent: EntityDef, record_id: int) -> dict[str, Any]:
        """After a record's child rows were written: its roll-ups over them (not announced: the write is)."""
        out = {}
        for f in ent.child_fields():
            for r in feeds(f.child) if f.child is not None else ():
                out[r.field.name] = self.refresh(c, r, record_id, announce=False)
        return out



def backfill(c: Connection, tables: Any, sql: Any, rollups: list[Rollup]) -> None:
    """Fill every parent's value at once (a new roll-up column, a published change); no events."""
    for r in rollups:
        table = tables.for_entity(r.entity)
        c.execute(update(table).values({r.field.name: value(r, tables, sql)}))


def added(rollups: list[Rollup], tables: Any, steps: list[Any]) -> list[Rollup]:
    """The roll-ups whose column (or table) a migration plan creates."""
    out = []
    for r in rollups:
        name = tables.for_entity(r.entity).name
        for s in steps:
            if s.table == name and (s.kind == "create_table" or r.field.name in (s.data.get("column"),
                                                                                  s.data.get("field"))):
                out.append(r)
                break
    return out
