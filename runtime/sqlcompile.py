"""Compiling checked expressions to SQL, so filters run in the database.

Row permissions, list filters on computed fields and rule conditions become
WHERE clauses instead of Python loops over records. The SQL follows the same
rules as :mod:`runtime.evaluate` (three-valued logic, decimal comparison to
nine places, whole-second times); a property test checks the two agree.

Per-request values (the signed-in user's attributes) are bound parameters
named ``jig_user_<attr>``; ``now()``/``today()`` are bound when the statement
runs. Compiled clauses are cached per expression and table.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    Integer,
    Numeric,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.sql.elements import ColumnElement

from . import clock
from .expressions import Expr, NameInfo, Scope
from .functions import FUNCTIONS, SqlArgs
from .sqltypes import LocalDate, LocalDateTime
from .tables import Tables


class NotCompilable(Exception):
    """The expression uses something SQL cannot do (e.g. a table field); evaluate in Python."""


# Parts of one compiled clause once powers and computed fields are written out
# (qty**16 is 16 copies of qty); a larger clause is not sent to the database.
MAX_SQL_PARTS = 20_000


USER_PARAM = "jig_user_{}"
_NUMERIC = ("int", "dec")


class SqlCompiler:
    def __init__(self, tables: Tables, dialect: str):
        self.tables = tables
        self.dialect = dialect
        # compiled clauses per (expression, table, kind); the expression is kept so its id stays its own
        self._compiled: dict[tuple[int, str, str], tuple[Expr, Any]] = {}

    def condition(self, expr: Expr, table: Table) -> ColumnElement[bool]:
        """A WHERE clause true exactly where ``expr`` holds."""
        key = (id(expr), table.name, "where")
        hit = self._compiled.get(key)
        if hit is None:
            hit = self._compiled[key] = (expr, _Compile(self, expr, table).truth(expr.tree))
        return hit[1]  # type: ignore[no-any-return]

    def value(self, expr: Expr, table: Table) -> ColumnElement[Any]:
        """A column expression computing ``expr`` for each row (e.g. a computed field)."""
        key = (id(expr), table.name, "value")
        hit = self._compiled.get(key)
        if hit is None:
            hit = self._compiled[key] = (expr, _Compile(self, expr, table).value(expr.tree))
        return hit[1]  # type: ignore[no-any-return]

    def user_params(self, expr_scope: Scope, user: dict[str, Any]) -> dict[str, Any]:
        return {USER_PARAM.format(k): user.get(k) for k in (expr_scope.user or {})}


class _Compile:
    def __init__(self, owner: SqlCompiler, expr: Expr, table: Table, depth: int = 0,
                 parts: list[int] | None = None):
        self.owner = owner
        self.expr = expr
        self.table = table
        self.dialect = owner.dialect
        self.depth = depth
        self.parts = [0] if parts is None else parts  # shared with nested computed fields

    def _spend(self, n: int) -> None:
        self.parts[0] += n
        if self.parts[0] > MAX_SQL_PARTS:
            raise NotCompilable(f"'{self.expr.source}' is too large for SQL (more than {MAX_SQL_PARTS} parts written out)")

    # ---- typing helpers ----------------------------------------------------

    def t(self, node: ast.AST) -> str:
        return self.expr.node_types.get(id(node), "any")

    def truth(self, node: ast.expr) -> ColumnElement[Any]:
        """``node`` used as a condition: Python-style truth for non-boolean values."""
        if isinstance(node, ast.IfExp):
            return case((self.truth(node.test), self.truth(node.body)), else_=self.truth(node.orelse))
        value = self.value(node)
        kind = self.t(node)
        if isinstance(node, (ast.Compare, ast.BoolOp)) or kind in ("bool", "null"):
            if isinstance(node, ast.Constant) and node.value is None:
                return null()
            if kind == "bool" and not isinstance(node, (ast.Compare, ast.BoolOp, ast.UnaryOp, ast.Call)):
                return value == true() if self.dialect == "postgresql" else value != 0
            return value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return value
        if kind in _NUMERIC:
            return value != 0
        if kind == "text":
            return value != ""
        if kind == "bool" or isinstance(node, ast.Call) and self.t(node) == "bool":
            return value
        raise NotCompilable(f"cannot use a {kind} as a condition in SQL")

    # ---- values ------------------------------------------------------------

    def value(self, node: ast.expr) -> ColumnElement[Any]:
        method: Callable[[Any], ColumnElement[Any]] = getattr(self, "_" + type(node).__name__.lower(), None)  # type: ignore[assignment]
        if method is None:
            raise NotCompilable(type(node).__name__)
        self._spend(1)
        return method(node)

    def _constant(self, node: ast.Constant) -> ColumnElement[Any]:
        v = node.value
        if v is None:
            return null()
        if isinstance(v, bool):
            return true() if v else false()
        if isinstance(v, Decimal):
            return literal(v, Numeric(38, 12)) if self.dialect == "postgresql" else literal(float(v))
        if isinstance(v, int):
            return literal(v, Integer())
        return literal(v, String())

    def _name(self, node: ast.Name) -> ColumnElement[Any]:
        from .expressions import CONSTANT_NAMES
        if node.id in CONSTANT_NAMES:
            return self._constant(ast.Constant(CONSTANT_NAMES[node.id]))
        return self._column(self.table, self.expr.scope, node.id)

    def _column(self, table: Table, scope: Scope, name: str) -> ColumnElement[Any]:
        info: NameInfo | None = scope.names.get(name)
        if info is None:
            raise NotCompilable(name)
        if info.computed is not None or (name not in table.c and self._computed(scope, name) is not None):
            computed = self._computed(scope, name)
            if computed is None or self.depth > 4:
                raise NotCompilable(f"computed field {name}")
            return _Compile(self.owner, computed, table, self.depth + 1, self.parts).value(computed.tree)
        if not info.sql or name not in table.c:
            raise NotCompilable(f"'{name}' is not stored in a column")
        col = table.c[name]
        if info.type == "dec" and self.dialect == "sqlite" and info.scale is not None:
            # the stored integer, as a plain number: literals next to the column itself would be typed as the
            # column's decimal and scaled by its bind processor (1.0 sent as 10 for a scale of 1)
            raw = type_coerce(col, Float())
            return raw / literal(10 ** info.scale, Float()) if info.scale else raw
        return col

    def _computed(self, scope: Scope, name: str) -> Expr | None:
        ent = self.owner.tables.entities.get(scope.entity or "")
        if ent is None:
            return None
        f = ent.fields.get(name)
        return f.expr if f is not None and f.type == "computed" else None

    def _attribute(self, node: ast.Attribute) -> ColumnElement[Any]:
        path = self.expr.attr_paths[id(node)]
        if path[0] == "user":
            assert self.expr.scope.user is not None
            info = self.expr.scope.user[path[1]]
            return bindparam(USER_PARAM.format(path[1]), type_=_bind_type(info), required=True)
        table, scope = self.table, self.expr.scope
        outer_col: ColumnElement[Any] | None = None
        query_chain: list[tuple[Table, ColumnElement[Any]]] = []
        for part in path[:-1]:
            info = scope.names[part]
            target = info.target
            if target is None or target.entity is None:
                raise NotCompilable(part)
            target_table = self.owner.tables[target.entity]
            # parent.<field> inside an aggregate over child rows (runtime.aggregates)
            link_col = table.c[part] if part in table.c or part != "parent" else \
                table.c[getattr(scope, "parent_link", None) or "parent_id"]
            query_chain.append((target_table, link_col))
            table, scope = target_table, target
        leaf = self._column(table, scope, path[-1])
        # Build nested correlated scalar subqueries from the innermost link outwards.
        result: ColumnElement[Any] = leaf
        for target_table, link_col in reversed(query_chain):
            result = select(result).where(target_table.c.id == link_col).correlate_except(target_table) \
                .scalar_subquery()
        del outer_col
        return result

    def _tuple(self, node: ast.Tuple | ast.List) -> ColumnElement[Any]:
        raise NotCompilable("a list is only allowed after 'in'")

    _list = _tuple

    def _boolop(self, node: ast.BoolOp) -> ColumnElement[Any]:
        parts = [self.truth(v) for v in node.values]
        return and_(*parts) if isinstance(node.op, ast.And) else or_(*parts)

    def _unaryop(self, node: ast.UnaryOp) -> ColumnElement[Any]:
        if isinstance(node.op, ast.Not):
            return not_(self.truth(node.operand))
        v = self.value(node.operand)
        return -v if isinstance(node.op, ast.USub) else v

    def _binop(self, node: ast.BinOp) -> ColumnElement[Any]:
        before = self.parts[0]
        a = self.value(node.left)
        base_parts = self.parts[0] - before
        b = self.value(node.right)
        op = node.op
        if isinstance(op, ast.Add):
            if self.t(node.left) == "text" or self.t(node.right) == "text":
                return a.op("||")(b)
            return a + b
        if isinstance(op, ast.Sub):
            return a - b
        if isinstance(op, ast.Mult):
            return a * b
        if isinstance(op, ast.Div):
            num = cast(a, Numeric(38, 12)) if self.dialect == "postgresql" else a * 1.0
            return num / func.nullif(b, 0)
        if isinstance(op, ast.Pow):
            assert isinstance(node.right, ast.Constant)
            n = int(node.right.value)
            if n == 0:
                return case((a.is_(None), null()), else_=literal(1))
            self._spend(base_parts * (n - 1))  # the base is written out n times
            result = a
            for _ in range(n - 1):
                result = result * a
            return result
        raise NotCompilable(type(op).__name__)

    def _ifexp(self, node: ast.IfExp) -> ColumnElement[Any]:
        return case((self.truth(node.test), self.value(node.body)), else_=self.value(node.orelse))

    def _call(self, node: ast.Call) -> ColumnElement[Any]:
        assert isinstance(node.func, ast.Name)
        agg = self.expr.aggregates.get(id(node)) if self.expr.aggregates else None
        if agg is not None:
            return self._aggregate(agg)
        fn = FUNCTIONS[node.func.id]
        if fn.sql is None:
            raise NotCompilable(fn.name)
        args = [self.value(a) for a in node.args]
        types = [self.t(a) for a in node.args]
        now = bindparam("jig_now", type_=LocalDateTime(), callable_=clock.now)
        today = bindparam("jig_today", type_=LocalDate(), callable_=clock.today)
        return fn.sql(SqlArgs(args, types, self.dialect, now, today))

    def _aggregate(self, agg: Any) -> ColumnElement[Any]:
        """A correlated subquery over the record's child rows (runtime.aggregates gives the meaning)."""
        if agg.rows.entity is None or "id" not in self.table.c:
            raise NotCompilable(f"{agg.kind}({agg.table})")
        rows = self.owner.tables[agg.rows.entity]
        own = (rows.c.parent_id if agg.link is None else rows.c[agg.link]) == self.table.c.id
        inner = None if agg.value is None else _Compile(self.owner, agg.value, rows, self.depth + 1, self.parts)
        if inner is None:
            return select(func.count()).where(own).correlate_except(rows).scalar_subquery()
        assert agg.value is not None
        if agg.kind in ("count", "any", "all") and not agg.counts_values:
            cond = inner.truth(agg.value.tree)
            if agg.kind == "count":
                return select(func.count()).where(own, cond).correlate_except(rows).scalar_subquery()
            if agg.kind == "any":
                return select(literal(1)).where(own, cond).correlate_except(rows).exists()
            not_true = case((cond, 1), else_=0) == 0
            return not_(select(literal(1)).where(own, not_true).correlate_except(rows).exists())
        value = inner.value(agg.value.tree)
        if agg.kind == "count":
            total: ColumnElement[Any] = func.count(value)
        elif agg.kind == "sum":
            total = func.coalesce(func.sum(value), 0)
        elif agg.kind == "avg":
            total = func.avg(cast(value, Numeric(38, 12)) if self.dialect == "postgresql" else value)
        else:
            total = (func.min if agg.kind == "min" else func.max)(value)
        if agg.kind == "avg" or agg.value.type == "dec":  # a scaled column's type must not rescale the result
            total = type_coerce(total, Numeric(38, 12, asdecimal=True))
        return select(total).where(own).correlate_except(rows).scalar_subquery()

    def _compare(self, node: ast.Compare) -> ColumnElement[Any]:
        parts: list[ColumnElement[Any]] = []
        left_node = node.left
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            parts.append(self._compare_one(left_node, op, right_node))
            left_node = right_node
        return parts[0] if len(parts) == 1 else and_(*parts)

    def _compare_one(self, left_node: ast.expr, op: ast.cmpop, right_node: ast.expr) -> ColumnElement[Any]:
        if isinstance(right_node, ast.Constant) and right_node.value is None:
            a = self.value(left_node)
            if isinstance(op, (ast.Is, ast.Eq)):
                return a.is_(None)
            if isinstance(op, (ast.IsNot, ast.NotEq)):
                return a.is_not(None)
            return null()
        if isinstance(op, (ast.In, ast.NotIn)):
            return self._membership(left_node, op, right_node)
        lt, rt = self.t(left_node), self.t(right_node)
        a, b = self._comparable(left_node, right_node, lt, rt)
        ops = {ast.Eq: a.__eq__, ast.NotEq: a.__ne__, ast.Lt: a.__lt__, ast.LtE: a.__le__,
               ast.Gt: a.__gt__, ast.GtE: a.__ge__}
        return ops[type(op)](b)

    def _comparable(self, ln: ast.expr, rn: ast.expr, lt: str, rt: str) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
        # A decimal column against a constant compares unscaled, so indexes still apply.
        if "dec" in (lt, rt) and self.dialect == "sqlite":
            col_const = self._scaled_column_vs_constant(ln, rn)
            if col_const is not None:
                return col_const
        a, b = self.value(ln), self.value(rn)
        if {lt, rt} == {"date", "datetime"}:
            if self.dialect == "sqlite":
                a = func.datetime(a) if lt == "date" else a
                b = func.datetime(b) if rt == "date" else b
            return a, b
        if ("dec" in (lt, rt)) and lt in _NUMERIC and rt in _NUMERIC:
            plain = (self._is_plain(ln) and isinstance(rn, ast.Constant)) or (
                self._is_plain(rn) and isinstance(ln, ast.Constant))
            if not plain:
                return self._round9(a), self._round9(b)
        return a, b

    def _round9(self, v: ColumnElement[Any]) -> ColumnElement[Any]:
        if self.dialect == "postgresql":
            return func.round(cast(v, Numeric(38, 12)), 9)
        return func.round(v, 9)

    def _is_plain(self, node: ast.expr) -> bool:
        return isinstance(node, ast.Name) and node.id in self.table.c

    def _scaled_column_vs_constant(self, ln: ast.expr, rn: ast.expr) -> tuple[ColumnElement[Any], ColumnElement[Any]] | None:
        for col_node, const_node, swap in ((ln, rn, False), (rn, ln, True)):
            if self._is_plain(col_node) and isinstance(const_node, ast.Constant) and \
                    isinstance(const_node.value, (int, Decimal)) and not isinstance(const_node.value, bool):
                assert isinstance(col_node, ast.Name)
                info = self.expr.scope.names[col_node.id]
                if info.type != "dec" or info.scale is None:
                    return None
                col = self.table.c[col_node.id]
                scaled = Decimal(const_node.value).scaleb(info.scale)
                lit = literal(int(scaled)) if scaled == scaled.to_integral_value() else literal(float(scaled))
                return (lit, col) if swap else (col, lit)
        return None

    def _membership(self, left: ast.expr, op: ast.cmpop, right: ast.expr) -> ColumnElement[Any]:
        a = self.value(left)
        if isinstance(right, (ast.Tuple, ast.List)):
            values = [self._constant(e) for e in right.elts if isinstance(e, ast.Constant)]
            if not values:
                result: ColumnElement[Any] = case((a.is_(None), null()), else_=false())
                return not_(result) if isinstance(op, ast.NotIn) else result
            clause = a.in_(values) if isinstance(op, ast.In) else a.not_in(values)
            return clause
        # value in multiselect column: look for the JSON-encoded value inside the list text.
        import json
        if not isinstance(left, ast.Constant):
            raise NotCompilable("only a constant can be looked up in a multiselect field")
        needle = json.dumps(left.value, ensure_ascii=False)
        seq = self.value(right)
        found = (func.instr(seq, needle) > 0) if self.dialect == "sqlite" else (func.strpos(seq, needle) > 0)
        return not_(found) if isinstance(op, ast.NotIn) else found


def _bind_type(info: NameInfo) -> Any:
    return {"int": Integer(), "text": String(), "bool": Boolean(), "date": LocalDate(),
            "datetime": LocalDateTime()}.get(info.type)
