"""Ordered reads of a filter with ``field in (a, b, …)``: one index range per value, merged.

``state in ('shipped', 'processing') order by expected_return limit 300`` cannot be read in order from an
index on ``(state, expected_return)``: the database finds every matching row (tens of thousands at a
million records) and sorts them all. Asked once per value (``state = 'shipped' order by … limit 300``,
then ``'processing'``), each query reads the first rows of one index range, and merging the few hundred
rows in Python gives the same first rows. Used for dashboard tables and boards (ui/dashboards.py).
"""

from __future__ import annotations

import ast
from functools import cmp_to_key
from typing import Any

from sqlalchemy import Connection, Select, Table

from .expressions import Expr

MAX_VALUES = 12


def split(expr: Expr | None, table: Table) -> tuple[str, list[Any]] | None:
    """(column, values) of the first top-level ``column in (constants)`` part of ``expr``, if any."""
    if expr is None:
        return None
    parts = [expr.tree]
    while parts:
        node = parts.pop(0)
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
            parts[:0] = node.values
            continue
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.In) \
                and isinstance(node.left, ast.Name) and node.left.id in table.c \
                and isinstance(node.comparators[0], (ast.List, ast.Tuple)):
            items = node.comparators[0].elts
            values = [e.value for e in items if isinstance(e, ast.Constant) and isinstance(e.value, (str, int))]
            if 1 < len(values) == len(items) <= MAX_VALUES:
                return node.left.id, list(dict.fromkeys(values))
    return None


def _compare(sort: list[tuple[str, bool]]) -> Any:
    def cmp(a: dict[str, Any], b: dict[str, Any]) -> int:
        for col, desc in sort:
            x, y = a.get(col), b.get(col)
            if x == y:
                continue
            if x is None or y is None:  # ascending: empty first; descending: empty last (as the SQL orders)
                return (-1 if x is None else 1) * (-1 if desc else 1)
            return (-1 if x < y else 1) * (-1 if desc else 1)
        return (a["id"] < b["id"]) - (a["id"] > b["id"])  # then newest id first
    return cmp


def first_rows(conn: Connection, stmt: Select[Any], table: Table, column: str, values: list[Any],
               sort: list[tuple[str, bool]], limit: int, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The first ``limit`` rows of ``stmt`` (already filtered, ordered by ``sort`` then id descending, and
    limited), read once per value of ``column``."""
    rows: list[dict[str, Any]] = []
    for v in values:
        rows.extend(dict(r) for r in conn.execute(stmt.where(table.c[column] == v), params).mappings())
    rows.sort(key=cmp_to_key(_compare(sort)))
    return rows[:limit]


__all__ = ["first_rows", "split"]
