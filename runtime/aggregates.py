"""Aggregates over a record's child rows: ``sum(lines.qty)``, ``count(materials)``, ``any(measurements, value > hi)``.

One expression language: an aggregate is a call whose first argument is a child table of the record
(a ``table`` field). The second argument, or the field after the dot, is an expression **over one row**:
inside it, names are the row's fields (and link paths from the row, e.g. ``material_batch.grade``);
``parent.<field>`` reads the record's own field (unless the rows have a field named ``parent``).
Checked at load (unknown table or field: a located error with a hint; ``sum`` of a text: refused),
evaluated in Python on the record's rows and compiled to SQL as a correlated subquery
(``EXISTS`` for ``any``/``all``) by :mod:`runtime.sqlcompile`, with the same meaning:

=============================  ==========================================  ============
call                           gives                                       no rows
=============================  ==========================================  ============
``count(t)``                   the number of rows                          0
``count(t, cond)``             rows where ``cond`` is true                 0
``count(t.f)``                 rows where ``f`` is not empty               0
``sum(t.f)`` / ``sum(t, e)``   the sum of the non-empty values             0
``avg(t.f)``                   their average (a decimal)                   empty
``min(t.f)`` / ``max(t.f)``    the smallest / largest non-empty value      empty
``any(t, cond)``               true when ``cond`` is true for some row     false
``all(t, cond)``               true when ``cond`` is true for every row    true
=============================  ==========================================  ============

A row whose condition is unknown (it reads an empty value) is not counted by ``count``/``any`` and makes
``all`` false: an aggregate is never unknown except ``avg``/``min``/``max`` of no values.
Rows considered are bounded by the child table's row bound (``max_rows``, else 2000), and every row's
evaluation counts towards the evaluation's step bound.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .expressions import NUMERIC, Expr, ExpressionError, NameInfo, Scope, suggest

if TYPE_CHECKING:
    from .expressions import _Checker

# name -> (documented text, what the second argument is: "cond" | "value")
AGGREGATES: dict[str, tuple[str, str]] = {
    "count": ("The number of child rows (where the condition holds, or where the field is not empty).", "cond"),
    "sum": ("The sum of a number over the child rows; 0 when there are none.", "value"),
    "avg": ("The average of a number over the child rows; empty when there are none.", "value"),
    "min": ("The smallest value over the child rows; empty when there are none.", "value"),
    "max": ("The largest value over the child rows; empty when there are none.", "value"),
    "any": ("True when the condition holds for at least one child row; false when there are none.", "cond"),
    "all": ("True when the condition holds for every child row; true when there are none.", "cond"),
}
EXAMPLES = {"count": "count(lines)", "sum": "sum(lines.qty)", "avg": "avg(lines.qty)", "min": "min(lines.qty)",
            "max": "max(lines.qty)", "any": "any(lines, qty > 10)", "all": "all(lines, qty <= 10)"}
PARENT = "parent"
ORDERED_VALUES = NUMERIC | {"date", "datetime"}


@dataclass(eq=False)
class Aggregate:
    kind: str              # a key of AGGREGATES
    table: str             # the table field of the record, or "entity.link" for the records that link here
    rows: Scope            # the scope of one row
    value: Expr | None     # over one row: the condition (count/any/all) or the value (sum/avg/min/max/count(t.f))
    counts_values: bool = False  # count(t.f): rows whose value is not empty
    link: str | None = None  # records that link here: their link field (None: child rows, by parent_id)


def _table_of(node: ast.expr, scope: Scope) -> tuple[str, Scope, str | None, str | None] | None:
    """``lines``/``lines.qty`` when ``lines`` is a child table of ``scope``, or ``operation.work_order`` when
    ``operation`` is an entity (not a field) whose link ``work_order`` points at ``scope``'s entity:
    (key, rows scope, leaf field, link)."""
    leaf = None
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        leaf, node = node.attr, node.value
    if not isinstance(node, ast.Name):
        return None
    info = scope.names.get(node.id)
    if info is not None:
        return (node.id, info.rows, leaf, None) if info.rows is not None else None
    source = (scope.incoming or {}).get(f"{node.id}.{leaf}") if leaf is not None else None
    return (f"{node.id}.{leaf}", source, None, leaf) if source is not None else None


def check(checker: _Checker, node: ast.Call, expr: Expr, col: int, *, is_function: bool) -> str | None:
    """The type of an aggregate call, or None when ``node`` is not one (an ordinary ``min``/``max``)."""
    assert isinstance(node.func, ast.Name)
    name = node.func.id
    found = _table_of(node.args[0], checker.scope) if node.args else None
    if found is None:
        if is_function:
            return None
        tables = sorted(n for n, i in checker.scope.names.items() if i.rows is not None)
        tables += sorted(checker.scope.incoming or ())
        hint = f"child tables and records linking here: {', '.join(tables)}" if tables else \
            "no child tables or records link here"
        close = suggest(ast.unparse(node.args[0]), tables) if node.args and tables else ""
        if close.startswith("did you mean"):
            hint = f"{close} ({hint})"
        raise ExpressionError(f"{name}() works over a child table or the records that link here, e.g. "
                              f"{EXAMPLES[name]}", hint, col=col)
    table, rows, leaf, link = found
    role = AGGREGATES[name][1]
    if node.keywords:
        raise ExpressionError(f"{name}() takes positional arguments only", col=col)
    rest = node.args[1:]
    if len(rest) > 1 or (leaf is not None and rest):
        raise ExpressionError(f"{name}() takes a child table and one expression over its rows",
                              f"e.g. {EXAMPLES[name]}", col=col)
    body: ast.expr | None = rest[0] if rest else None
    if leaf is not None:
        if name in ("any", "all"):
            raise ExpressionError(f"{name}() needs a condition over the rows, e.g. {EXAMPLES[name]}", col=col)
        body = ast.copy_location(ast.Name(id=leaf, ctx=ast.Load()), node.args[0])
        body.col_offset = node.args[0].col_offset + len(table) + 1
    if body is None and name != "count":
        example = f"{name}({table}, <a field of {table.split('.')[0]}>)" if link is not None else EXAMPLES[name]
        raise ExpressionError(f"{name}() needs a field of the rows, e.g. {example}", col=col)
    value = None
    own = rows.names
    if PARENT not in own:  # parent.<field>: the record's own fields, inside the expression over a row
        rows = Scope(label=rows.label, names={**own, PARENT: NameInfo("any", target=checker.scope)},
                     user=rows.user, entity=rows.entity, parent_link=link or "parent_id")
    if body is not None:
        value = Expr(source=ast.unparse(body), tree=body, type="any", scope=rows)
        try:
            value.type = type(checker)(rows).check(body, value)
        except ExpressionError as exc:
            unknown = exc.message.removeprefix("unknown name '").split("'")[0]
            if exc.message.startswith("unknown name") and unknown in checker.scope.names:
                exc.hint = (f"inside {name}(), names are the fields of one row of {table}; "
                            f"write parent.{unknown} for the record's own field")
            raise
        _check_kind(name, role, value, body)
    agg = Aggregate(kind=name, table=table, rows=rows, value=value,
                    counts_values=name == "count" and leaf is not None, link=link)
    expr.aggregates[id(node)] = agg
    if link is None:
        expr.paths.add((table,))  # the records that link here are not the record's inputs, its rows are
    for p in value.paths if value is not None else ():
        if p[0] == PARENT and len(p) > 1 and PARENT not in own:
            expr.paths.add(p[1:])  # the record's fields it reads (a check's inputs)
    expr.functions.add(name)
    if name in ("count",):
        return "int"
    if name in ("any", "all"):
        return "bool"
    if name == "avg":
        return "dec"
    assert value is not None
    return value.type if value.type != "null" else "any"


def _check_kind(name: str, role: str, value: Expr, body: ast.expr) -> None:
    t = value.type
    col = body.col_offset + 1
    if name in ("sum", "avg") and t not in NUMERIC | {"any", "null"}:
        raise ExpressionError(f"{name}() adds numbers, but '{value.source}' is {_WORDS.get(t, t)}",
                              f"e.g. {EXAMPLES[name]}; count rows with count()", col=col)
    if name in ("min", "max") and t not in ORDERED_VALUES | {"any", "null"}:
        raise ExpressionError(f"{name}() over rows needs numbers, dates or times, but '{value.source}' is "
                              f"{_WORDS.get(t, t)}", f"e.g. {EXAMPLES[name]}", col=col)
    if role == "cond" and t in ("date", "datetime", "list") and not isinstance(body, ast.Name):
        raise ExpressionError(f"a condition over the rows is needed here, but this gives {_WORDS.get(t, t)}",
                              f"e.g. {EXAMPLES[name]}", col=col)


_WORDS = {"int": "a whole number", "dec": "a decimal number", "text": "a text", "date": "a date",
          "datetime": "a time", "bool": "true/false", "list": "a list"}


# ---------------------------------------------------------------------------- Python

def rows_of(context: Any, table: str) -> list[Any]:
    """The rows of ``table`` for the record in ``context`` (loaded on demand by a RecordContext)."""
    if isinstance(context, dict) and dict.__contains__(context, table):
        rows = dict.__getitem__(context, table)
    else:
        getter = getattr(context, "child_rows", None)
        rows = getter(table) if getter is not None else (context.get(table) if isinstance(context, Mapping)
                                                          else None)
    return list(rows or [])  # bounded by the table's row bound when written (MAX_CHILD_ROWS or max_rows)


def run(agg: Aggregate, context: Any, evaluate: Any, truth: Any) -> Any:
    """Python value of ``agg`` for the record in ``context`` (``evaluate``/``truth`` from runtime.evaluate)."""
    rows = rows_of(context, agg.table)
    row_ctx = getattr(context, "row_context", None)
    contexts = [row_ctx(agg.table, r) if row_ctx is not None else r for r in rows]
    if agg.value is None:
        return len(contexts)
    if agg.kind in ("count", "any", "all") and not agg.counts_values:
        hits = [truth(evaluate(agg.value, c)) is True for c in contexts]
        if agg.kind == "count":
            return sum(hits)
        return any(hits) if agg.kind == "any" else all(hits)
    values = [v for v in (evaluate(agg.value, c) for c in contexts) if v is not None]
    if agg.kind == "count":
        return len(values)
    values = [int(v) if isinstance(v, bool) else Decimal(repr(v)) if isinstance(v, float) else v for v in values]
    if agg.kind == "sum":
        return sum(values, 0)
    if not values:
        return None
    if agg.kind == "avg":
        return Decimal(sum(values, 0)) / Decimal(len(values))
    return min(values) if agg.kind == "min" else max(values)
