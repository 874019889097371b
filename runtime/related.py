"""Related records: the records that link to one record ("使用该批次的生产批次", "该销售订单的工单").

Derived from the definitions: every entity with a link field to this one, and every entity whose
child-table rows link to it (``lot.materials.material_batch``). An entity's ``related:`` list may
name some of them with a label (``{from: inspection.lot, label: {zh: 该批次的检验}}``); those come
first, in their order, the others follow with a label made from the entity and field.

A relation's **key** is ``<entity>.<path>`` and its **path** is the filter that lists its records
(``?materials.material_batch=<id>``, runtime/reach.py). Only relations whose entity the user may
read are shown, and counts and rows are within the user's read filter.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from . import permissions
from .auth import Actor
from .fieldtypes import to_json
from .model import SYSTEM_COLUMNS, EntityDef, pick
from .relations import Relation, relations

MAX_EMBEDDED = 50  # related rows embedded per record and relation by ?expand=_related (the count is exact)


def readable(actor: Actor, ent: EntityDef) -> list[Relation]:
    return [r for r in relations(ent) if permissions.may_at_all(actor, r.source, "read")]


def title(ent: EntityDef, row: Any) -> str:
    tf = ent.title_field
    value = row.get(tf) if tf else None
    return str(value) if value not in (None, "") else f"#{row['id']}"


def plain(ent: EntityDef, row: Any) -> dict[str, Any]:
    """A record's stored columns as JSON (no child rows, no computed values) and its title."""
    out = {c: to_json(row[c]) for c in SYSTEM_COLUMNS if c in row}
    out.update({f.name: to_json(row[f.name]) for f in ent.fields.values() if f.stored and f.name in row})
    out["title"] = title(ent, row)
    return out


def _matching(rt: Any, actor: Actor, rel: Relation, ids: list[int]) -> tuple[Any, Any, dict[str, Any]]:
    """(statement selecting the source table's rows and the target id as ``jig_target``, table, params)."""
    table = rt.tables.for_entity(rel.source)
    first, _, rest = rel.path.partition(".")
    if rest:  # through child rows: one source record per target, however many rows link
        child = rt.tables.for_entity(rel.source.fields[first].child)
        pairs = select(child.c.parent_id, child.c[rest].label("jig_target")).where(child.c[rest].in_(ids)) \
            .distinct().subquery()  # DISTINCT over two ids only (PostgreSQL cannot compare JSON columns)
        stmt = select(table, pairs.c.jig_target).join(pairs, pairs.c.parent_id == table.c.id)
    else:
        stmt = select(table, table.c[first].label("jig_target")).where(table.c[first].in_(ids))
    flt = permissions.read_filter(actor, rel.source, table, rt.sql)
    if flt is not None:
        stmt = stmt.where(flt)
    return stmt, table, permissions.filter_params(actor, rel.source)


def counts(rt: Any, actor: Actor, ent: EntityDef, record_id: int, lang: str) -> list[dict[str, Any]]:
    """What ``GET /api/<app>/<entity>/<id>/related`` answers (the record itself must be readable)."""
    out = []
    with rt.db.read() as conn:
        for rel in readable(actor, ent):
            stmt, _, params = _matching(rt, actor, rel, [record_id])
            n = conn.execute(select(func.count()).select_from(stmt.subquery()), params).scalar_one()
            out.append({"key": rel.key, "entity": rel.source.name, "path": rel.path, "label": pick(rel.label, lang),
                        "count": n, "list": f"/api/{ent.app}/{rel.source.name}?{rel.path}={record_id}"})
    return out


def embed(rt: Any, conn: Any, actor: Actor, ent: EntityDef, items: list[dict[str, Any]], lang: str) -> None:
    """``?expand=_related``: each item gets ``_related: {key: {label, count, items}}`` (one query per relation)."""
    ids = [i["id"] for i in items]
    for item in items:
        item["_related"] = {}
    if not ids:
        return
    by_id = {i["id"]: i for i in items}
    for rel in readable(actor, ent):
        stmt, table, params = _matching(rt, actor, rel, ids)
        sub = stmt.subquery()
        totals = dict(conn.execute(select(sub.c.jig_target, func.count()).group_by(sub.c.jig_target), params).all())
        ranked = stmt.add_columns(func.row_number().over(partition_by=stmt.selected_columns.jig_target,
                                                         order_by=table.c.id).label("jig_rank")).subquery()
        rows = conn.execute(select(ranked).where(ranked.c.jig_rank <= MAX_EMBEDDED).order_by(ranked.c.id),
                            params).mappings().all()  # the first MAX_EMBEDDED of each record, oldest first
        for item in items:
            item["_related"][rel.key] = {"label": pick(rel.label, lang), "count": totals.get(item["id"], 0),
                                         "items": []}
        for row in rows:
            by_id[row["jig_target"]]["_related"][rel.key]["items"].append(plain(rel.source, row))
