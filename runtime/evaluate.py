"""Python evaluation of checked expressions, built on simpleeval.

simpleeval walks the tree; we replace its handlers for names, attributes,
comparisons, boolean logic and arithmetic so they follow SQL's three-valued
logic (an empty value makes a comparison unknown, and unknown is not true),
which keeps Python evaluation and SQL filtering in agreement.
"""

from __future__ import annotations

import ast
import datetime as dt
import operator
import threading
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import simpleeval

from . import aggregates, limits
from .expressions import CONSTANT_NAMES, Expr
from .functions import FUNCTIONS, as_datetime
from .limits import BoundPassed, LimitExceeded

COMPARE_PLACES = Decimal("1e-9")


class EvaluationError(Exception):
    """An expression could not be evaluated for this record (bad data, not bad syntax)."""


def _num(v: Any) -> Any:
    if isinstance(v, float):
        return Decimal(repr(v))
    return v


def _arith(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def op(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        if isinstance(a, bool) or isinstance(b, bool):
            a, b = int(a), int(b)
        r = fn(_num(a), _num(b))
        if type(r) is int and r.bit_length() < _SAFE_BITS:
            return r  # the common case, well inside the bound
        return limits.number(r)
    return op


_SAFE_BITS = 120  # ints below 2**120 (36 digits) are within MAX_DIGITS


def _numbers_only(a: Any, b: Any) -> None:
    # Texts and lists are never repeated by '*' or '**' (text * 10**16 would fill memory).
    if not isinstance(a, (int, Decimal, float)) or not isinstance(b, (int, Decimal, float)):
        raise TypeError(f"arithmetic needs numbers, not {type(a).__name__} and {type(b).__name__}")


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, str) and isinstance(b, str):
        return limits.text(a + b) if len(a) + len(b) > limits.MAX_TEXT else a + b
    return a + b  # text + number and list + number raise TypeError by themselves


def _mul(a: Any, b: Any) -> Any:
    _numbers_only(a, b)
    return a * b


def _pow(a: Any, n: Any) -> Any:
    _numbers_only(a, n)
    limits.power(a, n)
    return a ** n


def _div(a: Any, b: Any) -> Any:
    if b == 0:
        return None
    return Decimal(a) / Decimal(b)


def _comparable(a: Any, b: Any) -> tuple[Any, Any]:
    """Bring two values to a common kind the way SQL compares them."""
    if isinstance(a, dt.date) and isinstance(b, dt.date):
        if isinstance(a, dt.datetime) != isinstance(b, dt.datetime):
            return as_datetime(a), as_datetime(b)
        return a, b
    if isinstance(a, bool) or isinstance(b, bool):
        return a, b
    if isinstance(a, (int, float, Decimal)) and isinstance(b, (int, float, Decimal)):
        if isinstance(a, int) and isinstance(b, int):
            return a, b
        try:
            return (Decimal(str(a)).quantize(COMPARE_PLACES), Decimal(str(b)).quantize(COMPARE_PLACES))
        except InvalidOperation:
            return a, b
    return a, b


_SIMPLE = (str, int)


def _cmp(fn: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool | None]:
    def op(a: Any, b: Any) -> bool | None:
        if a is None or b is None:
            return None
        ta = type(a)
        if ta is type(b) and ta in _SIMPLE:
            return fn(a, b)  # the common case: no conversion needed
        a, b = _comparable(a, b)
        try:
            return fn(a, b)
        except TypeError:
            return None
    return op


def _in(a: Any, seq: Any) -> bool | None:
    if a is None or seq is None:
        return None
    if type(a) is str:
        return a in seq  # texts compare as they are
    return any(_EQ(a, x) for x in seq)


def _not_in(a: Any, seq: Any) -> bool | None:
    r = _in(a, seq)
    return None if r is None else not r


_EQ = _cmp(operator.eq)

OPERATORS: dict[type, Callable[..., Any]] = {
    ast.Add: _arith(_add), ast.Sub: _arith(operator.sub), ast.Mult: _arith(_mul),
    ast.Div: _arith(_div),
    ast.Pow: _arith(_pow),
    ast.Eq: _cmp(operator.eq), ast.NotEq: _cmp(operator.ne), ast.Lt: _cmp(operator.lt),
    ast.LtE: _cmp(operator.le), ast.Gt: _cmp(operator.gt), ast.GtE: _cmp(operator.ge),
    ast.In: _in, ast.NotIn: _not_in,
    ast.USub: lambda a: None if a is None else limits.number(-_num(a)),
    ast.UAdd: lambda a: None if a is None else +_num(a),
}


def truth(value: Any) -> bool | None:
    """SQL-style truth: None is unknown; numbers are true when non-zero, texts when non-empty."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, Decimal, float)):
        return value != 0
    if isinstance(value, str):
        return value != ""
    return bool(value)


class _Evaluator(simpleeval.SimpleEval):
    """simpleeval with null-aware handlers and path lookups for links and the user."""

    def __init__(self) -> None:
        super().__init__(operators=dict(OPERATORS), functions={n: f.python for n, f in FUNCTIONS.items()},
                         names={})
        self.nodes[ast.BoolOp] = self._bool
        self.nodes[ast.Compare] = self._compare
        self.nodes[ast.Attribute] = self._attr
        self.nodes[ast.Name] = self._name
        self.nodes[ast.IfExp] = self._ifexp
        self.nodes[ast.UnaryOp] = self._unary
        self.nodes[ast.Tuple] = self._seq
        self.nodes[ast.List] = self._seq
        self.nodes[ast.Call] = self._call
        self.current: Expr | None = None
        self.context: Any = None
        self.steps_left = 0

    def _eval(self, node: ast.AST) -> Any:
        # Trees were allowlisted at load and values are plain record data, so the
        # per-node disallowed-item scan of the base class has nothing to find.
        self.steps_left -= 1
        if self.steps_left < 0:
            raise BoundPassed("steps", max=limits.MAX_STEPS)
        return self.nodes[type(node)](node)

    def _call(self, node: ast.Call) -> Any:
        # Only allowlisted functions by plain name, positional arguments (both checked at load).
        assert self.current is not None
        if self.current.aggregates:
            agg = self.current.aggregates.get(id(node))
            if agg is not None:  # over the record's child rows (runtime.aggregates)
                return aggregates.run(agg, self.context, evaluate, truth)
        fn = self.functions[node.func.id]  # type: ignore[attr-defined]
        if not node.args:
            return fn()
        result = fn(*[self._eval(a) for a in node.args])
        kind = type(result)
        if kind is str:
            return limits.text(result) if len(result) > limits.MAX_TEXT else result
        if kind is Decimal or (kind is int and result.bit_length() >= _SAFE_BITS):
            return limits.number(result)
        return result

    def _name(self, node: ast.Name) -> Any:
        if node.id in CONSTANT_NAMES:
            return CONSTANT_NAMES[node.id]
        try:
            return self.context[node.id]
        except KeyError:
            return None

    def _attr(self, node: ast.Attribute) -> Any:
        assert self.current is not None
        path = self.current.attr_paths[id(node)]
        resolver = getattr(self.context, "resolve", None)
        if resolver is not None:
            return resolver(path)
        value: Any = self.context
        for part in path:
            if value is None:
                return None
            value = value.get(part) if isinstance(value, Mapping) else None
        return value

    def _seq(self, node: ast.Tuple | ast.List) -> tuple[Any, ...]:
        # lists hold only constants (checked at load), so each is built once per parsed tree
        assert self.current is not None
        seqs = self.current.constant_seqs
        cached = seqs.get(id(node))
        if cached is None:
            cached = seqs[id(node)] = tuple(self._eval(e) for e in node.elts)
        return cached

    def _unary(self, node: ast.UnaryOp) -> Any:
        v = self._eval(node.operand)
        if isinstance(node.op, ast.Not):
            t = truth(v)
            return None if t is None else not t
        return self.operators[type(node.op)](v)

    def _bool(self, node: ast.BoolOp) -> bool | None:
        unknown = False
        if isinstance(node.op, ast.And):
            for v in node.values:
                t = truth(self._eval(v))
                if t is False:
                    return False
                if t is None:
                    unknown = True
            return None if unknown else True
        for v in node.values:
            t = truth(self._eval(v))
            if t is True:
                return True
            if t is None:
                unknown = True
        return None if unknown else False

    def _compare(self, node: ast.Compare) -> bool | None:
        left = self._eval(node.left)
        result: bool | None = True
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = self._eval(comp)
            if isinstance(op, ast.Is):
                r: bool | None = left is None
            elif isinstance(op, ast.IsNot):
                r = left is not None
            elif isinstance(op, (ast.Eq, ast.NotEq)) and isinstance(comp, ast.Constant) and comp.value is None:
                r = (left is None) if isinstance(op, ast.Eq) else (left is not None)
            else:
                r = self.operators[type(op)](left, right)
            if r is False:
                return False
            if r is None:
                result = None
            left = right
        return result

    def _ifexp(self, node: ast.IfExp) -> Any:
        return self._eval(node.body) if truth(self._eval(node.test)) else self._eval(node.orelse)


_local = threading.local()


def _evaluator() -> _Evaluator:
    ev = getattr(_local, "ev", None)
    if ev is None:
        ev = _local.ev = _Evaluator()
    return ev


class _NotCompiled(Exception):
    pass


def _combined(node: ast.AST, build: Callable[[ast.AST], Callable[[Any], Any]]) -> Callable[[Any], Any]:
    """Arithmetic, ``not``/``-``, ``and``/``or`` and ``a if test else b`` as closures over their compiled parts,
    doing what :class:`_Evaluator` does for each (``OPERATORS``, SQL-style truth); _NotCompiled otherwise."""
    if isinstance(node, ast.BinOp):
        arith = OPERATORS[type(node.op)]  # KeyError: an operator without a handler, as the evaluator refuses it
        left, right = build(node.left), build(node.right)
        return lambda c: arith(left(c), right(c))
    if isinstance(node, ast.UnaryOp):
        operand = build(node.operand)
        if isinstance(node.op, ast.Not):
            def negation(c: Any) -> bool | None:
                t = truth(operand(c))
                return None if t is None else not t
            return negation
        unary = OPERATORS[type(node.op)]
        return lambda c: unary(operand(c))
    if isinstance(node, ast.BoolOp):
        parts = [build(v) for v in node.values]
        stop = isinstance(node.op, ast.Or)  # `or` stops at the first true part, `and` at the first false one

        def boolean(c: Any) -> bool | None:
            unknown = False
            for part in parts:
                t = truth(part(c))
                if t is stop:
                    return stop
                if t is None:
                    unknown = True
            return None if unknown else not stop
        return boolean
    if isinstance(node, ast.IfExp):
        test, body, orelse = build(node.test), build(node.body), build(node.orelse)
        return lambda c: body(c) if truth(test(c)) else orelse(c)
    raise _NotCompiled


def _compiled(expr: Expr, context: Any) -> tuple[int, Callable[[Any], Any]] | None:
    """``expr`` as Python closures, when its tree holds only constants, calls, single comparisons, the user's
    attributes and names of the record's stored fields (no computed field: nothing nested to evaluate, so the
    steps can be counted up front): what the evaluator below does node by node, without dispatching on each
    node. Decided once per expression, on its first evaluation with a record context (``ent``); None:
    evaluate it node by node."""
    done = expr.compiled
    if done is not None:
        return done or None
    ent = getattr(context, "ent", None)
    if ent is None:
        return None
    steps = 0

    def build(node: ast.AST) -> Callable[[Any], Any]:
        nonlocal steps
        steps += 1
        if isinstance(node, ast.Constant):
            value = node.value
            return lambda c: value
        if isinstance(node, ast.Name):
            if node.id in CONSTANT_NAMES:
                const = CONSTANT_NAMES[node.id]
                return lambda c: const
            f = ent.fields.get(node.id)
            if node.id not in expr.scope.names or node.id == "user" or (f is not None and f.type == "computed"):
                raise _NotCompiled
            key = node.id

            def name(c: Any) -> Any:
                try:
                    return c[key]
                except KeyError:
                    return None
            return name
        if isinstance(node, ast.Attribute) and expr.attr_paths.get(id(node), ("",))[0] == "user":
            path = expr.attr_paths[id(node)]  # the acting user's attribute: nothing nested is evaluated

            def attribute(c: Any) -> Any:
                resolver = getattr(c, "resolve", None)
                if resolver is not None:
                    return resolver(path)
                value: Any = c
                for part in path:
                    if value is None:
                        return None
                    value = value.get(part) if isinstance(value, Mapping) else None
                return value
            return attribute
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and \
                not isinstance(node.comparators[0], (ast.Tuple, ast.List)):
            op, right_node = node.ops[0], node.comparators[0]
            left, right = build(node.left), build(right_node)
            if isinstance(op, ast.Is) or (isinstance(op, ast.Eq) and isinstance(right_node, ast.Constant)
                                          and right_node.value is None):
                return lambda c: (right(c), left(c) is None)[1]
            if isinstance(op, ast.IsNot) or (isinstance(op, ast.NotEq) and isinstance(right_node, ast.Constant)
                                             and right_node.value is None):
                return lambda c: (right(c), left(c) is not None)[1]
            compare = OPERATORS[type(op)]

            def comparison(c: Any) -> bool | None:
                r = compare(left(c), right(c))
                return False if r is False else None if r is None else True
            return comparison
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            if id(node) in expr.aggregates:  # over child rows (runtime.aggregates): the evaluator's own path
                raise _NotCompiled
            fn = FUNCTIONS[node.func.id].python
            if not node.args:
                return lambda c: fn()
            args = [build(a) for a in node.args]

            def call(c: Any) -> Any:
                result = fn(*[a(c) for a in args])
                kind = type(result)
                if kind is str:
                    return limits.text(result) if len(result) > limits.MAX_TEXT else result
                if kind is Decimal or (kind is int and result.bit_length() >= _SAFE_BITS):
                    return limits.number(result)
                return result
            return call
        return _combined(node, build)

    try:
        fn = build(expr.tree)
    except (_NotCompiled, KeyError):
        expr.compiled = False
        return None
    expr.compiled = (steps, fn)
    return expr.compiled  # type: ignore[no-any-return]


class _EntityOnly:
    """What ``_compiled`` reads of a context to compile an expression: the entity it is evaluated on."""

    def __init__(self, ent: Any):
        self.ent = ent


def row_function(expr: Expr, ent: Any) -> Callable[[Mapping[str, Any]], Any] | None:
    """``expr`` as a function of one record's stored values (a plain dict of them will do) giving what reading
    the computed field from a record context gives -- its value, or None when it cannot be evaluated or passes
    a bound -- for an expression that compiles to closures reading only the record's own stored fields (no
    link, no user attribute, no computed field) within the step bound; None for any other expression.
    Serialising a list of such records then needs no context per record."""
    if any(p and p[0] == "user" for p in expr.paths) or expr.compiled is False:
        return None
    done = _compiled(expr, _EntityOnly(ent))
    if done is None or done[0] > limits.MAX_STEPS:
        return None
    fn = done[1]

    def value(row: Mapping[str, Any]) -> Any:
        try:
            return fn(row)
        except (BoundPassed, TypeError, ValueError, ArithmeticError, OverflowError, InvalidOperation,
                simpleeval.InvalidExpression):
            return None  # as RecordContext reads a computed field whose evaluation failed or passed a bound
    return value


def evaluate(expr: Expr, context: Mapping[str, Any]) -> Any:
    """Evaluate ``expr`` with ``context`` (record values; may offer ``resolve(path)``)."""
    try:
        ev = _local.ev
    except AttributeError:
        ev = _evaluator()
    saved_expr, saved_ctx = ev.current, ev.context
    if saved_expr is None:
        ev.steps_left = limits.MAX_STEPS  # the outermost evaluation: nested computed fields count towards it
    ev.current, ev.context = expr, context
    try:
        fast = _compiled(expr, context) if expr.compiled is not False else None
        if fast is not None:
            ev.steps_left -= fast[0]
            if ev.steps_left < 0:
                raise BoundPassed("steps", max=limits.MAX_STEPS)
            return fast[1](context)
        return ev._eval(expr.tree)
    except BoundPassed as exc:
        raise LimitExceeded(expr.source, exc.reason, **exc.params) from None
    except (TypeError, ValueError, ArithmeticError, OverflowError, InvalidOperation) as exc:
        raise EvaluationError(f"cannot evaluate '{expr.source}': {exc}") from None
    except simpleeval.InvalidExpression as exc:
        raise EvaluationError(f"cannot evaluate '{expr.source}': {exc}") from None
    finally:
        ev.current, ev.context = saved_expr, saved_ctx


def holds(expr: Expr, context: Mapping[str, Any]) -> bool | None:
    """Truth of a condition: True, False, or None when unknown (an empty value was involved)."""
    return truth(evaluate(expr, context))
