"""Indexes planned from the queries a definition declares: dashboard widgets and scheduled rule conditions.

A widget's ``filter`` (with its ``group_by``, ``sort`` and ``value``) and a scheduled rule's ``when`` are
compiled to SQL (runtime.sqlcompile) and run over the whole table. :func:`condition_index` reads the
condition's top-level ``and`` parts and plans one index for the query:

* equality parts first (``state == 'x'``, ``state in ('a', 'b')``, a boolean field on its own),
* then the first range part (``expected_return < today()``, ``updated_at >= add_hours(now(), -720)``,
  ``x is not None``) whose other side does not read the record,
* then the group-by column, the sort columns and the other columns the query reads (the value, further
  range parts, ``x is not None``), so that a count or a grouped count is answered from the index alone.

Parts it cannot use (``or``, functions of a column, computed fields, links followed) are left to the
database to check on the rows the index finds. Extensions call :func:`plan` while compiling; the
entity's table (runtime.tables) gets the planned indexes and ``jig migrate`` creates them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from .expressions import CONSTANT_NAMES, Expr
from .model import EntityDef

MAX_COLUMNS = 5
_RANGE = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_FLIP = {ast.Lt: ast.Gt, ast.LtE: ast.GtE, ast.Gt: ast.Lt, ast.GtE: ast.LtE}


def columns(ent: EntityDef) -> set[str]:
    """The stored columns of ``ent`` an index may name."""
    out = {f.name for f in ent.stored_fields() if f.ft.indexable} | {"created_at", "updated_at"}
    if ent.workflow is not None:
        out.add("state")
    if ent.naming:
        out.add("name")
    return out


def _column(node: ast.expr, known: set[str]) -> str | None:
    return node.id if isinstance(node, ast.Name) and node.id in known else None


def _reads_record(node: ast.AST, ent: EntityDef, known: set[str]) -> bool:
    """Whether ``node`` reads a field of the record (then it is no constant for an index range)."""
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and n.id not in CONSTANT_NAMES and (n.id in known or n.id in ent.fields):
            return True
    return False


def _conjuncts(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        return [p for v in node.values for p in _conjuncts(v)]
    return [node]


def _names(node: ast.AST, known: set[str]) -> list[str]:
    out: list[str] = []
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and n.id in known and n.id not in out:
            out.append(n.id)
    return out


def condition_index(ent: EntityDef, condition: Expr | None, *, group_by: str | None = None,
                    sort: Iterable[str] = (), reads: Iterable[Expr | None] = ()) -> tuple[str, ...] | None:
    """The index serving ``condition`` (grouped by ``group_by``, sorted by ``sort``, reading ``reads``), or
    None when the condition offers no equality or range on a stored column and there is no group-by."""
    known = columns(ent)
    equal: list[str] = []
    ranges: list[str] = []
    other: list[str] = []
    for part in _conjuncts(condition.tree) if condition is not None else []:
        col = _column(part, known)
        if col is not None and ent.fields.get(col) is not None and ent.fields[col].type == "boolean":
            equal.append(col)  # `active` on its own
            continue
        if isinstance(part, ast.Compare) and len(part.ops) == 1:
            left, op, right = part.left, part.ops[0], part.comparators[0]
            lcol, rcol = _column(left, known), _column(right, known)
            if rcol is not None and lcol is None and type(op) in _FLIP:
                left, right, lcol, op = right, left, rcol, _FLIP[type(op)]()
            if lcol is not None and not _reads_record(right, ent, known):
                if isinstance(op, ast.Eq) or (isinstance(op, ast.In) and isinstance(right, (ast.Tuple, ast.List))):
                    equal.append(lcol)
                    continue
                if isinstance(op, _RANGE):
                    ranges.append(lcol)
                    continue
                if isinstance(op, ast.IsNot) and isinstance(right, ast.Constant) and right.value is None:
                    other.append(lcol)  # rarely selective: carried in the index, not searched by
                    continue
    if not equal and not ranges and group_by is None:
        return None
    head = _unique([*equal, *ranges[:1], *([group_by] if group_by else []), *sort], known)
    tail = _unique([*ranges[1:], *other, *(n for e in reads if e is not None for n in _names(e.tree, known))],
                   known, head)
    # the tail only helps when the index then holds every column the query reads
    cols = head + tail if len(head) + len(tail) <= MAX_COLUMNS else head[:MAX_COLUMNS]
    return tuple(cols) if cols else None


def _unique(names: Iterable[str], known: set[str], taken: Iterable[str] = ()) -> list[str]:
    out: list[str] = []
    for c in names:
        if c in known and c not in out and c not in taken:
            out.append(c)
    return out


def plan(ent: EntityDef, cols: tuple[str, ...] | None) -> None:
    """Ask for an index on ``cols`` (in order) on ``ent``'s table, unless it is already asked for."""
    if cols and cols not in ent.planned_indexes:
        ent.planned_indexes.append(cols)
