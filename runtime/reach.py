"""Filters that reach across child rows and links: ``?materials.material_batch=4``, ``?partner.city=宁波``.

A dotted filter name is a path: each step but the last is a child-table field (the record's
rows) or a link field (the linked record), the last is a field (or ``id``/``name``/``state``) of
the entity reached, with the usual operators of that field's type. A path matches a record when
**some** row reached along it satisfies the condition (``lines.product__ne=4``: a line whose product
is not 4). Each step is an ``EXISTS`` in SQL, correlated with the step before it.

Permissions: a link step reaches only linked records the user may read (their entity's read filter
is part of the ``EXISTS``), so a filter never tells whether an unreadable record matches; a path
through an entity the user may not read at all is a 403. Child rows belong to their record and
are read with it. Bad paths are 400s naming the parameter, with the names that could follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, literal, select
from sqlalchemy.sql.elements import ColumnElement

from . import permissions
from .auth import Actor
from .errors import Forbidden
from .fieldtypes import FieldType, FieldValueError
from .messages import t
from .model import EntityDef, FieldDef, pick
from .relations import step

MAX_HOPS = 3  # links/child tables followed by one filter (order.customer.city is two)


@dataclass(frozen=True)
class Hop:
    field: FieldDef  # the child-table or link field followed
    target: EntityDef  # the child entity, or the linked entity

    @property
    def child(self) -> bool:
        return self.field.type == "table"


@dataclass(frozen=True)
class Path:
    hops: tuple[Hop, ...]
    leaf: EntityDef
    name: str  # the last name: a field or system column of ``leaf``
    kind: FieldType


def followable(ent: EntityDef) -> list[str]:
    return [n for n, f in ent.fields.items() if step(ent, f) is not None]


def resolve(ent: EntityDef, dotted: str, lang: str) -> Path:
    """The path a dotted name follows; FieldValueError (with what could follow) when there is none."""
    from .listquery import _field_type
    parts = dotted.split(".")
    if len(parts) - 1 > MAX_HOPS:
        raise FieldValueError(t("path_too_long", lang, max=MAX_HOPS))
    hops: list[Hop] = []
    cur = ent
    for part in parts[:-1]:
        target = step(cur, cur.fields.get(part))
        if target is None:
            raise FieldValueError(t("path_step", lang, name=part, entity=pick(cur.title, lang) or cur.name,
                                    names=", ".join(followable(cur)) or "-"))
        hops.append(Hop(cur.fields[part], target))
        cur = target
    leaf = parts[-1]
    kind = _leaf_type(cur, leaf, _field_type)
    if kind is None or (leaf in cur.fields and (cur.fields[leaf].type in ("table", "computed")
                                                or cur.fields[leaf].ft.is_file)):
        names = [n for n, f in cur.fields.items() if f.stored and not f.ft.is_file]
        raise FieldValueError(t("path_leaf", lang, name=leaf, entity=pick(cur.title, lang) or cur.name,
                                names=", ".join(["id", *names])))
    return Path(tuple(hops), cur, leaf, kind)


def _leaf_type(ent: EntityDef, name: str, field_type: Any) -> FieldType | None:
    if ent.is_child:  # child rows have only their fields and an id
        if name == "id":
            return field_type(ent, "id")
        f = ent.fields.get(name)
        return f.ft if f is not None else None
    return field_type(ent, name)


def parse(ent: EntityDef, name: str, op: str, raw: str, lang: str) -> Any:
    """The typed value of one path filter; FieldValueError for a bad path, operator or value."""
    from .listquery import _filter_value
    path = resolve(ent, name, lang)
    f = path.leaf.fields.get(path.name)
    if op not in path.kind.filter_ops(f):
        raise FieldValueError(t("filter_op", lang, op=op))
    value = _filter_value(path.leaf, path.name, path.kind, op, raw, lang)
    if value is None and op in ("lt", "lte", "gt", "gte"):
        raise FieldValueError(t("required", lang))
    return value


def condition(runtime: Any, actor: Actor, ent: EntityDef, table: Table, name: str, op: str,
              value: Any) -> ColumnElement[bool]:
    """``EXISTS`` per step, innermost the field's condition; each link step within the user's read filter."""
    from .listquery import _condition
    path = resolve(ent, name, actor.language)
    for hop in path.hops:
        if not hop.child and not permissions.may_at_all(actor, hop.target, "read"):
            raise Forbidden(t("forbidden", actor.language),
                            {name: t("path_unreadable", actor.language, entity=pick(hop.target.title, actor.language))})

    def build(i: int, outer_ent: EntityDef, outer: Any) -> ColumnElement[bool]:
        if i == len(path.hops):
            return _condition(runtime, outer_ent, outer, path.name, op, value)
        hop = path.hops[i]
        inner = runtime.tables.for_entity(hop.target).alias()
        params: dict[str, Any] = {}
        if hop.child:
            where = [inner.c.parent_id == outer.c.id]
        else:
            where = [inner.c.id == outer.c[hop.field.name]]
            flt = permissions.read_filter(actor, hop.target, inner, runtime.sql)
            if flt is not None:
                where.append(flt)
                params = permissions.filter_params(actor, hop.target)  # bound here: the caller binds its own
        where.append(build(i + 1, hop.target, inner))
        stmt = select(literal(1)).select_from(inner).where(*where)
        return (stmt.params(params) if params else stmt).exists()

    return build(0, ent, table)
