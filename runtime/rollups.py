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
changing, relinking or deleting a source record, or writing a record's child rows. One UPDATE per parent
recomputes in SQL every roll-up the write can move (a change leaving the link, the summed field and the
``where`` fields as they were moves none). On PostgreSQL the parent's row is locked by a statement before
it, so the UPDATE's snapshot sees what committed while it waited and two writes to two sources of one
parent add up, as on SQLite (one writer at a time). The parent's
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

from sqlalchemy import Connection, Table, bindparam, func, select, update

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


@dataclass(eq=False)
class _Group:
    """The roll-ups one source feeds into one parent entity through one link: refreshed by one UPDATE."""

    entity: EntityDef
    link: str
    rollups: list[Rollup]
    reads: dict[str, set[str] | None]   # roll-up field -> the source fields it reads (None: cannot tell)


def _groups(ent: EntityDef) -> list[_Group]:
    """``feeds(ent)`` grouped by parent entity and link, decided once per entity."""
    if "feed_groups" not in ent.extra:
        groups: dict[tuple[str, str], _Group] = {}
        for r in feeds(ent):
            g = groups.setdefault((r.entity.key, r.link), _Group(r.entity, r.link, [], {}))
            g.rollups.append(r)
            used = {r.link, *((r.of,) if r.of else ()), *(r.where.names if r.where is not None else ())}
            stored = {f.name for f in ent.stored_fields()} | {"state"}
            g.reads[r.field.name] = used if used <= stored else None  # e.g. a computed field: always refresh
        ent.extra["feed_groups"] = list(groups.values())
    return ent.extra["feed_groups"]  # type: ignore[no-any-return]


def feeds_parents(ent: EntityDef) -> bool:
    """Whether a write of ``ent``'s records can refresh a roll-up of another record (``after_write`` has work)."""
    return any(g.link != CHILD_LINK for g in _groups(ent))


def _in_sql(r: Rollup) -> bool:
    """Whether the UPDATE can store the aggregate as SQL computes it (same storage as the field's own)."""
    if r.agg == "count":
        return True
    sf = r.source.fields[r.of]  # type: ignore[index]
    if r.field.type == "integer":
        return sf.type == "integer"
    return sf.type == "decimal" and sf.scale == r.field.scale


class Keeper:
    """Keeps the roll-ups of one runtime exact inside the transactions that write their sources.

    Per parent and write: one ``UPDATE parent SET f = (SELECT agg ...), ... WHERE id = :id`` for every roll-up
    the write can move (built once per runtime and set of fields). On PostgreSQL the parent's row is locked
    first (``FOR NO KEY UPDATE``) so the UPDATE's own snapshot, taken after the lock, sees every source row
    committed before it; the row is read as well only when the change must be announced (a listener to the
    parent's ``record.updated``, or roll-ups of roll-ups)."""

    def __init__(self, rt: Any):
        self.rt = rt

    def _statements(self, g: _Group, names: tuple[str, ...], dialect: Any) -> dict[str, Any]:
        """The statements refreshing roll-ups ``names`` of ``g``, built once per runtime."""
        cache = self.rt.statements.setdefault((g.entity.key, "rollup"), {})
        key = (g.link, names, dialect.name)
        st = cache.get(key)
        if st is None:
            table = self.rt.tables.for_entity(g.entity)
            pid = bindparam("jig_parent")
            chosen = [r for r in g.rollups if r.field.name in names]
            sets = {r.field.name: value(r, self.rt.tables, self.rt.sql, pid).scalar_subquery() if _in_sql(r)
                    else bindparam(f"jig_v_{r.field.name}") for r in chosen}
            cols = [table.c[n] for n in names]
            upd = update(table).where(table.c.id == pid).values(sets)
            st = cache[key] = {
                "lock": select(table.c.id).where(table.c.id == pid).with_for_update(key_share=True),
                "row": select(table).where(table.c.id == pid).with_for_update(key_share=True),  # FOR NO KEY UPDATE
                "update": upd.returning(*cols) if dialect.update_returning else upd,
                "read": select(*cols).where(table.c.id == pid),
                "values": {r.field.name: value(r, self.rt.tables, self.rt.sql, pid) for r in chosen
                           if not _in_sql(r)},
                "rollups": {r.field.name: r for r in chosen},
            }
        return st  # type: ignore[no-any-return]

    def _refresh(self, c: Connection, g: _Group, names: tuple[str, ...], parent_id: int, *,
                 announce: bool) -> dict[str, Any] | None:
        """Recompute the roll-ups ``names`` of group ``g`` for one parent: their new values (None: no parent)."""
        st = self._statements(g, names, c.dialect)
        params = {"jig_parent": parent_id}
        ent = g.entity
        before = None
        if announce and (feeds(ent) or self.rt.hooks.has("record.updated", ent.key)):
            row = c.execute(st["row"], params).mappings().first()
            if row is None:
                return None
            before = dict(row)
        elif c.dialect.name == "postgresql" and c.execute(st["lock"], params).first() is None:
            return None
        rollups = st["rollups"]
        for name, q in st["values"].items():
            params[f"jig_v_{name}"] = _typed(rollups[name], c.execute(q, params).scalar())
        res = c.execute(st["update"], params)
        got = res.mappings().first() if res.returns_rows else \
            (c.execute(st["read"], params).mappings().first() if res.rowcount else None)
        if got is None:
            return None
        new = {n: _typed(r, got[n]) for n, r in rollups.items()}
        if before is not None:
            changes = {n: [before[n], v] for n, v in new.items()
                       if before[n] is None or _typed(rollups[n], before[n]) != v}
            if changes:
                self.after_write(c, ent, before, {**before, **new}, changes)
        return new

    def after_write(self, c: Connection, ent: EntityDef, before: dict[str, Any] | None,
                    after: dict[str, Any] | None, changes: dict[str, Any] | None = None) -> None:
        """A record of ``ent`` was created (no before), changed, or deleted (no after): refresh what it feeds.

        With ``changes`` (a roll-up moved on this very record), the change is announced as
        ``record.updated`` by the ``rollup`` actor first. A change that leaves every field a roll-up reads
        as it was (and its link) refreshes nothing."""
        if changes is not None:
            self.rt.records.announce_engine_update(c, ent, before or {}, after or {}, changes)
        for g in _groups(ent):
            if g.link == CHILD_LINK:
                continue  # child rows: refreshed by the write of their parent
            if before is None or after is None:
                names = tuple(r.field.name for r in g.rollups)
            else:
                names = tuple(n for n, used in g.reads.items()
                              if used is None or any(before.get(k) != after.get(k) for k in used))
            if not names:
                continue
            ids = {int(x) for x in ((before or {}).get(g.link), (after or {}).get(g.link)) if x is not None}
            for pid in sorted(ids):
                self._refresh(c, g, names, pid, announce=True)

    def own_children(self, c: Connection, ent: EntityDef, record_id: int) -> dict[str, Any]:
        """After a record's child rows were written: its roll-ups over them (not announced: the write is)."""
        out: dict[str, Any] = {}
        for f in ent.child_fields():
            for g in _groups(f.child) if f.child is not None else ():
                if g.entity is ent:
                    out.update(self._refresh(c, g, tuple(r.field.name for r in g.rollups), record_id,
                                             announce=False) or dict.fromkeys(r.field.name for r in g.rollups))
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
