"""Kept aggregates: counts and sums per group, kept by the database in the writing transaction.

A dashboard number or chart over a million records cannot be counted per request in 50 ms. When a
question is a ``count``, ``sum`` or ``avg`` over one entity, grouped by one of its fields and filtered by
conditions on its own fields, :func:`plan` (called while the definition compiles) asks for a small
table ``jig_kept_<hash>`` holding, per combination of the fields the question reads (its *group key*),
the number of records and the sums of the values it adds up. Questions that read the same fields
share one table.

Maintenance is done by **triggers** on the entity's table (created by ``jig migrate`` and publishing,
shown in the migration plan, filled in the same transaction): every INSERT, UPDATE and DELETE —
from the API, a transition, a bulk import, a connector sync, a roll-up or a migration — adds the new
row's contribution and takes away the old one with an atomic upsert (``INSERT … ON CONFLICT (key) DO
UPDATE SET n = n + excluded.n``), so the kept counts are exact under concurrent writers on
PostgreSQL too, and SQLite serialises writers anyway. ``jig rebuild-aggregates`` recounts them all
(``--check`` only reports drift); runtime/keptstore.py holds the tables and triggers.

Group-key columns, chosen from how the filter reads each field:

* a field compared by value (``state in (…)``, ``partner == 3``, a date ``< today()``): kept as is;
* a date-time compared with a range (``updated_at >= add_hours(now(), -720)``): kept as its day
  (``<name>__lo`` 00:00:00 and ``<name>__hi`` 23:59:59). A day on which every such comparison gives the
  same answer at both ends is answered from the kept table; the day(s) where the boundary falls are
  counted exactly from the entity's table through its index. At most one such field per question;
* a date or date-time only tested for emptiness (``actual_return is not None``): kept as empty / not.

Anything else (a link followed, a date-time inside a function, a computed field that does, ``min`` or
``max``, a user with a row filter on the entity) is answered by the per-request query as before.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    and_,
    func,
    or_,
    select,
)

from .expressions import CONSTANT_NAMES, Expr, ExpressionError, parse
from .keptstore import PREFIX, kept_table
from .model import EntityDef

_RANGE = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_NO_DIMS = frozenset({"id", "version", "name"})


@dataclass(frozen=True)
class Dim:
    name: str
    kind: str  # "value" | "day" (a date-time kept as its day) | "null" (only tested for emptiness)
    type: str  # the expression type (date, datetime, text, ...)


@dataclass(eq=False)
class Spec:
    """One kept table: the group key and the sums kept per key."""

    entity: EntityDef
    dims: tuple[Dim, ...]
    values: tuple[Expr, ...]
    name: str = ""

    def columns(self) -> list[str]:
        out = []
        for d in self.dims:
            out.extend([f"{d.name}__lo", f"{d.name}__hi"] if d.kind == "day" else [d.name])
        return out

    def sources(self) -> set[str]:
        """The entity's columns the kept rows depend on."""
        out = {d.name for d in self.dims}
        for v in self.values:
            out |= v.names
        return out


@dataclass(eq=False)
class Request:
    """One question (a widget): answered from ``spec``'s table."""

    spec: Spec
    filter: Expr | None
    group_by: str | None
    aggregate: str  # count | sum | avg
    value: int | None = None  # index into spec.values
    atoms: list[Expr] = field(default_factory=list)  # the range comparisons on the day column


# ---------------------------------------------------------------- planning (at load)

class _NotKept(Exception):
    pass


def _usage(ent: EntityDef, expr: Expr) -> tuple[dict[str, set[str]], list[ast.Compare]]:
    """How the filter reads each column: value / range / null; the range comparisons."""
    use: dict[str, set[str]] = {}
    atoms: list[ast.Compare] = []
    scope = expr.scope

    def row_free(node: ast.AST) -> bool:
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and n.id not in CONSTANT_NAMES and n.id in scope.names:
                return False
        return True

    def col(node: ast.AST) -> str | None:
        if isinstance(node, ast.Name) and node.id in scope.names:
            return node.id
        return None

    def visit(node: ast.AST, depth: int = 0) -> None:
        if depth > 5:
            raise _NotKept("too deep")
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            left, op, right = node.left, node.ops[0], node.comparators[0]
            for a, b in ((left, right), (right, left)):
                name = col(a)
                if name is None or ent.fields.get(name, None) is not None and ent.fields[name].type == "computed":
                    continue
                if isinstance(op, _RANGE) and row_free(b):
                    use.setdefault(name, set()).add("range")
                    atoms.append(node)
                    visit(b, depth)
                    return
                if isinstance(op, (ast.Is, ast.IsNot, ast.Eq, ast.NotEq)) and isinstance(b, ast.Constant) \
                        and b.value is None:
                    use.setdefault(name, set()).add("null")
                    return
        if isinstance(node, ast.Attribute):
            root = node
            while isinstance(root, ast.Attribute):
                root = root.value  # type: ignore[assignment]
            if isinstance(root, ast.Name) and root.id == "user":
                return  # a bound parameter
            raise _NotKept("a link is followed")
        if isinstance(node, ast.Name):
            if node.id in CONSTANT_NAMES:
                return
            f = ent.fields.get(node.id)
            if f is not None and f.type == "computed" and f.expr is not None:
                visit(f.expr.tree, depth + 1)
                return
            info = scope.names.get(node.id)
            if info is None or not info.sql or info.rows is not None:
                raise _NotKept(f"'{node.id}' is not a column")
            use.setdefault(node.id, set()).add("value")
            return
        if isinstance(node, ast.Call):  # the function's name is no column
            for child in [*node.args, *(kw.value for kw in node.keywords)]:
                visit(child, depth)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, depth)

    visit(expr.tree)
    return use, atoms


def _value_ok(ent: EntityDef, v: Expr) -> bool:
    if v.type not in ("int", "dec") or v.functions & {"now", "today"} or v.aggregates:
        return False
    for path in v.paths:
        info = v.scope.names.get(path[0])
        if len(path) != 1 or info is None or not info.sql or info.computed is not None \
                or (path[0] in ent.fields and ent.fields[path[0]].type == "computed"):
            return False
    return True


def plan(ent: EntityDef, filter: Expr | None, group_by: str | None, aggregate: str,
         value: Expr | None) -> Request | None:
    """The kept table answering this question (asked for on ``ent``), or None when it is not one."""
    if aggregate not in ("count", "sum", "avg") or ent.scope is None or ent.parent is not None:
        return None
    if aggregate != "count" and (value is None or not _value_ok(ent, value)):
        return None
    try:
        use, atoms = _usage(ent, filter) if filter is not None else ({}, [])
    except _NotKept:
        return None
    if group_by is not None:
        use.setdefault(group_by, set()).add("value")
    dims = []
    for name, how in sorted(use.items()):
        info = ent.scope.names.get(name)
        f = ent.fields.get(name)
        if info is None or name in _NO_DIMS or (f is not None and (f.unique or not f.stored)):
            return None
        if info.type == "datetime":
            if "value" in how:
                return None
            dims.append(Dim(name, "day" if "range" in how else "null", info.type))
        elif info.type == "date" and how == {"null"}:
            dims.append(Dim(name, "null", info.type))
        else:
            dims.append(Dim(name, "value", info.type))
    days = [d for d in dims if d.kind == "day"]
    if len(days) > 1 or (group_by is not None and next(d for d in dims if d.name == group_by).kind != "value"):
        return None
    parsed = []
    day_names = {d.name for d in days}
    for a in atoms:
        if not any(isinstance(x, ast.Name) and x.id in day_names for x in (a.left, a.comparators[0])):
            continue  # a range on a column kept as is: exact
        try:
            parsed.append(parse(ast.unparse(a), ent.scope, want="bool"))
        except ExpressionError:
            return None
    values = (value,) if aggregate != "count" and value is not None else ()
    sig = f"{ent.table_name}|{sorted((d.name, d.kind) for d in dims)}|{[v.source for v in values]}|" \
          f"{[(f.name, f.type, getattr(f, 'scale', None)) for f in ent.stored_fields() if f.name in use]}"
    name = PREFIX + hashlib.sha256(sig.encode()).hexdigest()[:12]
    kept: dict[str, Spec] = ent.extra.setdefault("kept", {})
    spec = kept.get(name)
    if spec is None:
        spec = kept[name] = Spec(ent, tuple(dims), values, name)
    return Request(spec, filter, group_by, aggregate, 0 if values else None, parsed)


# ---------------------------------------------------------------- answering (per request)

class _Cols(dict[str, Any]):
    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class _View:
    """The kept table seen with the entity's column names (a day column as its first or last second)."""

    def __init__(self, k: Table, spec: Spec, end: str):
        self.name = f"{k.name}__{end}"
        self.c = _Cols({d.name: k.c[f"{d.name}__{end}"] if d.kind == "day" else k.c[d.name] for d in spec.dims})


def answer(conn: Connection, tables: Any, sql: Any, req: Request, params: dict[str, Any]) -> list[tuple[Any, Any, int]]:
    """(group value, sum, count of values) per group — or one row for no group — exactly as counted now.

    For count the second element is the number of records; for sum/avg the sum and the third the number
    of non-empty values. Groups without records are left out."""
    spec = req.spec
    base = tables.for_entity(spec.entity)
    k = kept_table(spec, base, tables.metadata)
    lo, hi = _View(k, spec, "lo"), _View(k, spec, "hi")
    gk = [k.c[req.group_by]] if req.group_by else []
    measure = [func.sum(k.c.n), func.sum(k.c.s0) if req.value is not None else func.sum(k.c.n),
               func.sum(k.c.c0) if req.value is not None else func.sum(k.c.n)]
    where = [k.c.n != 0]
    if req.filter is not None:
        where.append(sql.condition(req.filter, lo))
    uniform = [sql.condition(a, lo).is_not_distinct_from(sql.condition(a, hi)) for a in req.atoms]
    stmt = select(*gk, *measure).where(*where, *uniform)
    if gk:
        stmt = stmt.group_by(*gk)
    whole = req.value is None or spec.values[req.value].type == "int"

    def figures(r: Any) -> tuple[int, Any, int]:  # PostgreSQL sums integers as numeric: back to int / float
        n, s, c = r[-3:]
        return int(n or 0), (int(s or 0) if whole else float(s or 0)), int(c or 0)

    totals: dict[Any, list[Any]] = {}
    for r in conn.execute(stmt, params):
        g = r[0] if gk else None
        n, s, c = figures(r)
        if n:
            totals[g] = [n, s, c]
    if req.atoms:
        day = next(d for d in spec.dims if d.kind == "day")
        edges = conn.execute(select(k.c[f"{day.name}__lo"], k.c[f"{day.name}__hi"]).distinct()
                             .where(k.c.n != 0, or_(*(~u for u in uniform)))).all()
        if edges:
            col = base.c[day.name]
            bgk = [base.c[req.group_by]] if req.group_by else []
            val = sql.value(spec.values[0], base) if req.value is not None else None
            bm = [func.count(), func.sum(val) if val is not None else func.count(),
                  func.count(val) if val is not None else func.count()]
            bstmt = select(*bgk, *bm).select_from(base).where(
                or_(*(and_(col >= a, col <= b) for a, b in edges)))
            if req.filter is not None:
                bstmt = bstmt.where(sql.condition(req.filter, base))
            if bgk:
                bstmt = bstmt.group_by(*bgk)
            for r in conn.execute(bstmt, params):
                g = r[0] if bgk else None
                n, s, c = figures(r)
                if not n:
                    continue
                t = totals.setdefault(g, [0, 0, 0])
                t[0] += n
                t[1] += s
                t[2] += c
    return [(g, t[1], t[2]) if req.value is not None else (g, t[0], t[0]) for g, t in totals.items()]


__all__ = ["Request", "Spec", "answer", "plan"]
