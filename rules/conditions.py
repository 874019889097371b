"""Conditions built with the rule editor's field picker: rows (field, operator, value) <-> one expression.

The rows become an ordinary expression of the language (the same one written
in YAML), joined with ``and`` or ``or``; an expression made only of such
comparisons is read back into rows. The expression is then checked against
the entity (``runtime.expressions.parse``, the checks of ``jig check``) and
compiled to SQL, as the scheduler will: a condition that cannot run in the
database is said at once.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from runtime.compact import expand_filters
from runtime.expressions import ExpressionError, parse
from runtime.model import EntityDef
from runtime.sqlcompile import NotCompilable, SqlCompiler

COMPARE = {"==": ast.Eq, "!=": ast.NotEq, "<": ast.Lt, "<=": ast.LtE, ">": ast.Gt, ">=": ast.GtE}
OPS = (*COMPARE, "in", "not_in", "empty", "not_empty", "contains", "overdue_days", "overdue_hours")
NUMERIC = ("integer", "decimal", "money", "number", "int")
DATES = ("date", "datetime")
_TODAY = re.compile(r"^\s*today\s*(?:\(\s*\))?\s*(?:([+-])\s*(\d{1,5}))?\s*$")
_FIELD = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
MAX_ROWS = 20


class RowError(ValueError):
    def __init__(self, row: int, message: str):
        super().__init__(message)
        self.row = row
        self.message = message


def _type(ent: EntityDef, name: str) -> str:
    if name == "state":
        return "text"
    f = ent.fields.get(name)
    if f is None:
        raise KeyError(name)
    return str(f.type)


def _literal(kind: str, value: Any, row: int) -> str:
    text = "" if value is None else str(value).strip()
    if text.startswith("="):  # an expression of its own: = add_days(ship_date, 3)
        return text[1:].strip() or "None"
    if kind in NUMERIC:
        try:
            float(text)
        except ValueError:
            raise RowError(row, f"'{text}' is not a number") from None
        return text
    if kind == "boolean":
        if text.lower() in ("true", "yes", "1", "是"):
            return "True"
        if text.lower() in ("false", "no", "0", "否"):
            return "False"
        raise RowError(row, f"'{text}' is not yes or no")
    if kind in DATES:
        m = _TODAY.match(text)
        if m is None:
            raise RowError(row, "write a date as today, today-3 or today+7 (or =expression)")
        fn = "today()" if kind == "date" else "now()"
        return fn if not m.group(1) else f"add_days({fn}, {m.group(1).replace('+', '')}{m.group(2)})"
    if kind == "link":
        if not text.isdigit():
            raise RowError(row, "a link is compared with a record number")
        return text
    return repr(text)


def build(ent: EntityDef, rows: list[Any], join: str = "and") -> str:
    """The expression of picker rows (RowError naming the row at fault)."""
    if not isinstance(rows, list) or not rows or len(rows) > MAX_ROWS:
        raise RowError(0, f"send 1 to {MAX_ROWS} rows")
    if join not in ("and", "or"):
        raise RowError(0, "join rows with 'and' or 'or'")
    parts = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RowError(i, "a row is {field, op, value}")
        name, op, value = row.get("field"), row.get("op"), row.get("value")
        if not isinstance(name, str) or not _FIELD.match(name):
            raise RowError(i, "choose a field")
        try:
            kind = _type(ent, name)
        except KeyError:
            raise RowError(i, f"unknown field '{name}'") from None
        if op not in OPS:
            raise RowError(i, f"unknown operator {op!r}")
        if op in COMPARE:
            parts.append(f"{name} {op} {_literal(kind, value, i)}")
        elif op in ("in", "not_in"):
            items = [v for v in re.split(r"[,，、]", str(value or "")) if v.strip()]
            if not items:
                raise RowError(i, "list the values, separated by commas")
            lits = ", ".join(_literal(kind, v, i) for v in items)
            parts.append(f"{name} {'in' if op == 'in' else 'not in'} ({lits}{',' if len(items) == 1 else ''})")
        elif op == "empty":
            parts.append(f"{name} is None")
        elif op == "not_empty":
            parts.append(f"{name} is not None")
        elif op == "contains":
            parts.append(f"contains({name}, {_literal('text', value, i)})")
        else:
            if kind not in DATES:
                raise RowError(i, "'overdue by' needs a date or time field")
            n = str(value or "").strip()
            if not n.isdigit():
                raise RowError(i, "overdue by how many? (a whole number)")
            fn = "days_since" if op == "overdue_days" else "hours_since"
            parts.append(f"{fn}({name}) >= {int(n)}")
    return f" {join} ".join(f"({p})" if join == "or" and " or " in p else p for p in parts)


def check(ent: EntityDef, source: str, sql: SqlCompiler | None = None, table: Any = None) -> dict[str, Any]:
    """Check a condition against the entity: ``{"ok", "errors": [{message, hint, col}], "sql": bool}``."""
    try:  # the entity's named filters are used by name (runtime/compact.py)
        expr = parse(expand_filters(source, ent.extra.get("filters") or {}), ent.scope, want="bool")
    except ExpressionError as exc:
        return {"ok": False, "errors": [{"message": exc.message, "hint": exc.hint, "col": exc.col}], "sql": False}
    if sql is None or table is None:
        return {"ok": True, "errors": [], "sql": None}
    try:
        sql.condition(expr, table)
    except (NotCompilable, KeyError, ExpressionError, ValueError, TypeError) as exc:
        return {"ok": True, "errors": [], "sql": False, "sql_problem": str(exc)}
    return {"ok": True, "errors": [], "sql": True}


def rows_of(source: str) -> dict[str, Any] | None:
    """Picker rows for an expression made only of simple comparisons joined by one of and/or, else None."""
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except SyntaxError:
        return None
    join = "and"
    parts = [tree]
    if isinstance(tree, ast.BoolOp):
        join = "and" if isinstance(tree.op, ast.And) else "or"
        parts = tree.values
    rows = []
    for p in parts:
        row = _row(p)
        if row is None:
            return None
        rows.append(row)
    return {"join": join, "rows": rows}


def _value(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and not isinstance(node.value, bytes):
        if isinstance(node.value, bool):
            return "true" if node.value else "false"
        return "" if node.value is None else str(node.value)
    text = ast.unparse(node)
    if text in ("today()", "now()"):
        return "today"
    m = re.match(r"^add_days\((?:today|now)\(\), (-?\d+)\)$", text)
    if m:
        n = int(m.group(1))
        return f"today{'+' if n >= 0 else '-'}{abs(n)}"
    return "=" + text


def _row(node: ast.AST) -> dict[str, Any] | None:
    if not isinstance(node, ast.Compare) or len(node.ops) != 1:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "contains" \
                and len(node.args) == 2 and isinstance(node.args[0], ast.Name):
            return {"field": node.args[0].id, "op": "contains", "value": _value(node.args[1])}
        return None
    left, op, right = node.left, node.ops[0], node.comparators[0]
    if isinstance(left, ast.Call) and isinstance(left.func, ast.Name) and left.func.id in ("days_since", "hours_since") \
            and len(left.args) == 1 and isinstance(left.args[0], ast.Name) and isinstance(op, ast.GtE) \
            and isinstance(right, ast.Constant) and isinstance(right.value, int):
        return {"field": left.args[0].id, "op": "overdue_days" if left.func.id == "days_since" else "overdue_hours",
                "value": str(right.value)}
    if not isinstance(left, ast.Name):
        return None
    if isinstance(op, (ast.Is, ast.IsNot)) and isinstance(right, ast.Constant) and right.value is None:
        return {"field": left.id, "op": "empty" if isinstance(op, ast.Is) else "not_empty", "value": ""}
    if isinstance(op, (ast.In, ast.NotIn)) and isinstance(right, (ast.Tuple, ast.List)):
        values = [_value(e) for e in right.elts]
        return {"field": left.id, "op": "in" if isinstance(op, ast.In) else "not_in",
                "value": ", ".join(v or "" for v in values)}
    for sym, cls in COMPARE.items():
        if isinstance(op, cls):
            return {"field": left.id, "op": sym, "value": _value(right)}
    return None
