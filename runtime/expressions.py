"""The one expression language: parsed and checked once, evaluated many times.

Expressions are a small, allowlisted subset of Python syntax. At load time an
expression is parsed, every node type, name, attribute path and function is
checked against its scope, and a type is inferred; problems become definition
errors with hints. At run time the parsed tree is evaluated by
:mod:`runtime.evaluate` (built on simpleeval) or compiled to SQL by
:mod:`runtime.sqlcompile`; both follow SQL's rules for empty values.

Evaluation time is bounded by construction: there are no loops or
comprehensions, trees are capped in size and depth, powers need a small
constant exponent, and text results are capped in length.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .functions import FUNCTIONS, KINDS, Function
from .limits import MAX_DEGREE, MAX_DIGITS, MAX_ROUND_PLACES, MAX_TEXT

MAX_SOURCE = 2000
MAX_NODES = 200
MAX_DEPTH = 24
MAX_POWER_EXPONENT = 16
SPLIT_HINT = "split it into computed fields, each with a part of the calculation"

NUMERIC = {"int", "dec"}
ORDERED = {"int", "dec", "text", "date", "datetime"}


@dataclass
class NameInfo:
    """What a name (a field, system column or attribute) is, for checking."""

    type: str  # bool, int, dec, text, date, datetime, list, any
    target: Scope | None = None  # for links: the scope of the linked entity
    computed: Expr | None = None
    scale: int | None = None
    sql: bool = True  # False when the value does not live in a column (tables, files)
    choices: frozenset[str] | None = None  # the only values it can hold: a select's options, a workflow's states
    rows: Scope | None = None  # for child tables: the scope of one row (aggregates: sum(lines.qty))


@dataclass
class Scope:
    """The names an expression may use, e.g. one entity's fields."""

    label: str
    names: dict[str, NameInfo]
    user: dict[str, NameInfo] | None = None
    entity: str | None = None  # qualified entity key when this scope is a table
    # "entity.link" -> the scope of the records that link here (aggregates: count(operation.work_order))
    incoming: dict[str, Scope] | None = None
    parent_link: str | None = None  # in an aggregate's rows: the column holding the record's id (parent.<field>)

    def suggest(self, name: str) -> str:
        return suggest(name, self.names)


class ExpressionError(Exception):
    def __init__(self, message: str, hint: str = "", col: int = 0):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.col = col


@dataclass
class Expr:
    """A parsed, checked expression."""

    source: str
    tree: ast.expr
    type: str
    scope: Scope
    paths: set[tuple[str, ...]] = field(default_factory=set)
    functions: set[str] = field(default_factory=set)
    # id(ast.Attribute) -> the dotted path it reads, so evaluation never re-walks.
    attr_paths: dict[int, tuple[str, ...]] = field(default_factory=dict)
    node_types: dict[int, str] = field(default_factory=dict)
    # id(ast.List) -> its values: lists hold only constants (checked at load), built once per parsed tree
    constant_seqs: dict[int, tuple[Any, ...]] = field(default_factory=dict, repr=False, compare=False)
    # id(ast.Call) -> the aggregate over child rows it is (runtime.aggregates)
    aggregates: dict[int, Any] = field(default_factory=dict, repr=False, compare=False)
    # runtime.evaluate's compiled form (closures, for trees of names, constants and calls), False when it has none
    compiled: Any = field(default=None, repr=False, compare=False)

    @property
    def names(self) -> set[str]:
        return {p[0] for p in self.paths}

    def __repr__(self) -> str:
        return f"Expr({self.source!r})"


def suggest(name: str, known: Iterable[str]) -> str:
    known = list(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if known:
        shown = ", ".join(sorted(known)[:12])
        return f"known names: {shown}{', ...' if len(known) > 12 else ''}"
    return ""


_ALLOWED_NODES = (
    ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp, ast.Call,
    ast.Name, ast.Attribute, ast.Constant, ast.Tuple, ast.List, ast.Load,
    ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
)

_NODE_HINTS = {
    ast.Lambda: "lambdas are not allowed",
    ast.ListComp: "loops are not allowed; write a condition over one record",
    ast.GeneratorExp: "loops are not allowed; write a condition over one record",
    ast.Subscript: "indexing is not allowed; use link paths like partner.phone",
    ast.NamedExpr: "assignment is not allowed in expressions",
    ast.JoinedStr: "f-strings are not allowed; templates use {{ name }} in messages",
    ast.Dict: "dictionaries are not allowed",
    ast.Set: "sets are not allowed; use a tuple such as ('a', 'b')",
    ast.FloorDiv: "use round(a / b) instead of '//'",
    ast.Mod: "'%' is not available",
}

CONSTANT_NAMES = {"True": True, "False": False, "None": None, "true": True, "false": False,
                  "null": None, "none": None}


def parse(source: Any, scope: Scope, *, want: str | None = None) -> Expr:
    """Parse and check ``source`` against ``scope``; raise ExpressionError."""
    if isinstance(source, bool) or isinstance(source, (int, float)):
        source = repr(source)
    if not isinstance(source, str):
        raise ExpressionError(f"expected an expression text, got {type(source).__name__}")
    text = source.strip()
    if not text:
        raise ExpressionError("empty expression")
    if len(text) > MAX_SOURCE:
        raise ExpressionError(f"expression is too long ({len(text)} characters, at most {MAX_SOURCE})", SPLIT_HINT)
    try:
        module = ast.parse(text, mode="eval")
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"expression cannot be read: {type(exc).__name__}", SPLIT_HINT) from None
    except SyntaxError as exc:
        if "integer string conversion" in str(exc.msg):
            raise ExpressionError(f"number constant is too large (at most {MAX_DIGITS} digits)",
                                  "use a smaller number", col=(exc.offset or 1)) from None
        hint = "strings need quotes, e.g. state == 'done'; use 'and'/'or', not '&&'/'||'"
        if "=" in text and "==" not in text and "=" in (exc.text or ""):
            hint = "compare with '==', not '='"
        raise ExpressionError(f"syntax error in expression: {exc.msg}", hint, col=(exc.offset or 1)) from None
    checker = _Checker(scope)
    checker.count(module, 0)  # before any recursive visit: bounds the tree's depth and size
    module = _Aliases().visit(module)
    expr = Expr(source=text, tree=module.body, type="any", scope=scope)
    expr.type = checker.check(module.body, expr)
    _growth(module.body)
    if want == "bool" and expr.type not in ("bool", "any"):
        # Numbers and texts are allowed as conditions (non-zero, non-empty) but
        # a date or a list almost always means a mistake.
        if expr.type in ("date", "datetime", "list"):
            raise ExpressionError(f"a condition is needed here, but this expression gives a {expr.type}",
                                  "compare it, e.g. expected_return < today()")
    return expr


class _Aliases(ast.NodeTransformer):
    """true/false/null/none (any case) become constants, so `x is null` means what it says."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in CONSTANT_NAMES:
            return ast.copy_location(ast.Constant(CONSTANT_NAMES[node.id]), node)
        return node


def literal(value: Any, scope: Scope) -> Expr:
    """An expression for a plain YAML literal (number or boolean)."""
    return parse(repr(value), scope)


class _Checker:
    def __init__(self, scope: Scope):
        self.scope = scope
        self.nodes = 0

    def count(self, node: ast.AST, depth: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ExpressionError(f"expression is too complex (more than {MAX_NODES} parts)", SPLIT_HINT)
        if depth > MAX_DEPTH:
            raise ExpressionError(f"expression nests too deeply (more than {MAX_DEPTH} levels)", SPLIT_HINT,
                                  col=getattr(node, "col_offset", -1) + 1)
        if not isinstance(node, _ALLOWED_NODES):
            hint = _NODE_HINTS.get(type(node), "allowed: comparisons, and/or/not, arithmetic, "
                                                "'x if c else y', function calls and names")
            col = getattr(node, "col_offset", -1) + 1
            raise ExpressionError(f"{type(node).__name__} is not allowed in expressions", hint, col=col)
        for child in ast.iter_child_nodes(node):
            self.count(child, depth + 1)

    def check(self, node: ast.expr, expr: Expr) -> str:
        t = self._check(node, expr)
        expr.node_types[id(node)] = t
        return t

    def _check(self, node: ast.expr, expr: Expr) -> str:
        col = getattr(node, "col_offset", 0) + 1
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool):
                return "bool"
            if v is None:
                return "null"
            if isinstance(v, int):
                if abs(v) >= 10 ** MAX_DIGITS:
                    raise ExpressionError(f"number constant is too large (at most {MAX_DIGITS} digits)",
                                          "use a smaller number", col=col)
                return "int"
            if isinstance(v, float):
                d = Decimal(repr(v))
                if not d.is_finite() or (d and d.adjusted() >= MAX_DIGITS):
                    raise ExpressionError(f"number constant is too large (at most {MAX_DIGITS} digits)",
                                          "use a smaller number", col=col)
                node.value = d  # exact arithmetic with decimal fields
                return "dec"
            if isinstance(v, str):
                if len(v) > MAX_TEXT:
                    raise ExpressionError(f"text constant is too long (at most {MAX_TEXT})",
                                          "keep long texts in a field, not in the expression", col=col)
                return "text"
            raise ExpressionError(f"constant {v!r} is not allowed", col=col)
        if isinstance(node, ast.Name):
            return self._name(node, expr, col)
        if isinstance(node, ast.Attribute):
            return self._attribute(node, expr, col)
        if isinstance(node, (ast.Tuple, ast.List)):
            types = {self.check(e, expr) for e in node.elts}
            for e in node.elts:
                if not isinstance(e, ast.Constant) or e.value is None:
                    raise ExpressionError("lists may only hold constant values, e.g. ('a', 'b')",
                                          "write the values out; empty values cannot be listed", col=col)
            return "list" if len(types) <= 1 or types <= NUMERIC else "list"
        if isinstance(node, ast.BoolOp):
            for v in node.values:
                self.check(v, expr)
            return "bool"
        if isinstance(node, ast.UnaryOp):
            t = self.check(node.operand, expr)
            if isinstance(node.op, ast.Not):
                return "bool"
            if t not in NUMERIC | {"any", "null"}:
                raise ExpressionError(f"'-' needs a number, not {t}", col=col)
            return t
        if isinstance(node, ast.BinOp):
            return self._binop(node, expr, col)
        if isinstance(node, ast.Compare):
            return self._compare(node, expr, col)
        if isinstance(node, ast.IfExp):
            self.check(node.test, expr)
            a = self.check(node.body, expr)
            b = self.check(node.orelse, expr)
            return _unify(a, b)
        if isinstance(node, ast.Call):
            return self._call(node, expr, col)
        raise ExpressionError(f"{type(node).__name__} is not allowed", col=col)  # pragma: no cover

    def _name(self, node: ast.Name, expr: Expr, col: int) -> str:
        name = node.id
        if name in CONSTANT_NAMES:
            value = CONSTANT_NAMES[name]
            return "null" if value is None else "bool"
        if name == "user":
            if self.scope.user is None:
                raise ExpressionError("'user' is not available here", "this expression runs without a signed-in user",
                                      col=col)
            raise ExpressionError("use an attribute of the user, e.g. user.username",
                                  suggest("", self.scope.user), col=col)
        if name in FUNCTIONS:
            raise ExpressionError(f"'{name}' is a function; call it: {name}(...)", col=col)
        info = self.scope.names.get(name)
        if info is None:
            raise ExpressionError(f"unknown name '{name}' in {self.scope.label}", _name_hint(name, self.scope),
                                  col=col)
        expr.paths.add((name,))
        return info.type

    def _attribute(self, node: ast.Attribute, expr: Expr, col: int) -> str:
        chain: list[str] = []
        cur: ast.expr = node
        while isinstance(cur, ast.Attribute):
            chain.append(cur.attr)
            cur = cur.value
        if not isinstance(cur, ast.Name):
            raise ExpressionError("attributes can only follow a field name, e.g. partner.phone", col=col)
        chain.append(cur.id)
        chain.reverse()
        for part in chain:
            if part.startswith("_"):
                raise ExpressionError(f"names starting with '_' are not allowed ({part})",
                                      "'_' names are internal; use a field name, e.g. partner.phone", col=col)
        path = tuple(chain)
        if chain[0] == "user":
            if self.scope.user is None:
                raise ExpressionError("'user' is not available here", col=col)
            if len(chain) != 2 or chain[1] not in self.scope.user:
                raise ExpressionError(f"unknown user attribute '{'.'.join(chain[1:])}'",
                                      suggest(chain[1], self.scope.user) +
                                      " (declare it under user_attributes)", col=col)
            expr.paths.add(path)
            expr.attr_paths[id(node)] = path
            return self.scope.user[chain[1]].type
        scope = self.scope
        info: NameInfo | None = None
        for i, part in enumerate(chain):
            info = scope.names.get(part)
            if info is None:
                where = "" if i == 0 else f" of {'.'.join(chain[:i])} ({scope.label})"
                raise ExpressionError(f"unknown name '{part}'{where}", scope.suggest(part), col=col)
            if i < len(chain) - 1:
                if info.target is None:
                    raise ExpressionError(f"'{'.'.join(chain[:i + 1])}' is not a link, so it has no attributes",
                                          "only link fields can be followed with '.'", col=col)
                scope = info.target
        if len(chain) > 3:
            raise ExpressionError("link paths may follow at most two links, e.g. work_order.product.name", col=col)
        expr.paths.add(path)
        expr.attr_paths[id(node)] = path
        assert info is not None
        return info.type

    def _binop(self, node: ast.BinOp, expr: Expr, col: int) -> str:
        a = self.check(node.left, expr)
        b = self.check(node.right, expr)
        op = node.op
        if isinstance(op, ast.Pow):
            right = node.right
            if not (isinstance(right, ast.Constant) and isinstance(right.value, int)
                    and 0 <= right.value <= MAX_POWER_EXPONENT):
                raise ExpressionError(f"'**' needs a whole-number constant exponent from 0 to {MAX_POWER_EXPONENT}",
                                      col=col)
        if isinstance(op, ast.Add) and a == "text" and b == "text":
            return "text"
        if isinstance(op, (ast.Add, ast.Sub)) and a in ("date", "datetime"):
            raise ExpressionError("date arithmetic uses functions", "use add_days(d, n) or days_between(a, b)",
                                  col=col)
        for t in (a, b):
            if t not in NUMERIC | {"any", "null"}:
                raise ExpressionError(f"arithmetic needs numbers, but one side is {t}",
                                      "texts can only be joined with '+'", col=col)
        if isinstance(op, ast.Div):
            return "dec"
        return _unify(a, b)

    def _compare(self, node: ast.Compare, expr: Expr, col: int) -> str:
        left = node.left
        lt = self.check(left, expr)
        for op, right in zip(node.ops, node.comparators, strict=True):
            rt = self.check(right, expr)
            if isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)):
                self._known_literals(left, right, col)
                if isinstance(op, (ast.Eq, ast.NotEq)):
                    self._known_literals(right, left, col)
            if isinstance(op, (ast.Is, ast.IsNot)):
                if not (isinstance(right, ast.Constant) and right.value is None):
                    raise ExpressionError("'is' may only compare with None", "use '==' to compare values", col=col)
            elif isinstance(op, (ast.In, ast.NotIn)):
                if rt != "list":
                    raise ExpressionError("'in' needs a list of values or a multiselect field on the right",
                                          "e.g. state in ('shipped', 'processing'); for text use contains()",
                                          col=col)
            elif isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)):
                if not _comparable(lt, rt):
                    raise ExpressionError(f"cannot order {lt} against {rt}",
                                          "compare values of the same kind, e.g. a date with today()", col=col)
            elif not _comparable(lt, rt) and "null" not in (lt, rt) and "bool" not in (lt, rt):
                raise ExpressionError(f"comparing {lt} with {rt} is never true",
                                      "check the field types; dates compare with dates, numbers with numbers",
                                      col=col)
            left, lt = right, rt
        return "bool"

    def _info_of(self, node: ast.expr) -> tuple[str, NameInfo] | None:
        """The field a name or link path reads (not user attributes), if it is one."""
        chain: list[str] = []
        cur: ast.expr = node
        while isinstance(cur, ast.Attribute):
            chain.append(cur.attr)
            cur = cur.value
        if not isinstance(cur, ast.Name) or cur.id == "user":
            return None
        chain.append(cur.id)
        chain.reverse()
        scope, info = self.scope, None
        for part in chain:
            if scope is None:
                return None
            info = scope.names.get(part)
            if info is None:
                return None
            scope = info.target
        return (".".join(chain), info) if info is not None else None

    def _known_literals(self, field: ast.expr, other: ast.expr, col: int) -> None:
        """``state == 'opn'`` is refused: a quoted text compared with a state or option must be one of them."""
        found = self._info_of(field)
        if found is None or not found[1].choices:
            return
        name, info = found
        assert info.choices is not None
        items = other.elts if isinstance(other, (ast.Tuple, ast.List)) else [other]
        for item in items:
            if isinstance(item, ast.Constant) and isinstance(item.value, str) and item.value not in info.choices:
                known = ", ".join(sorted(info.choices)[:12])
                raise ExpressionError(f"'{item.value}' is not a value of {name} ({known})",
                                      suggest(item.value, info.choices), col=col)

    def _call(self, node: ast.Call, expr: Expr, col: int) -> str:
        if not isinstance(node.func, ast.Name):
            raise ExpressionError("only the listed functions can be called, e.g. days_between(a, b)", col=col)
        name = node.func.id
        fn = FUNCTIONS.get(name)
        from .aggregates import AGGREGATES
        if name in AGGREGATES:
            from . import aggregates
            found = aggregates.check(self, node, expr, col, is_function=fn is not None)
            if found is not None:
                return found
        if fn is None:
            raise ExpressionError(f"unknown function '{name}'", suggest(name, FUNCTIONS), col=col)
        if node.keywords:
            raise ExpressionError(f"{name}() takes positional arguments only", col=col)
        n = len(node.args)
        if n < fn.min_args or (fn.max_args is not None and n > fn.max_args):
            want = str(fn.min_args) if fn.min_args == fn.max_args else (
                f"{fn.min_args} or more" if fn.max_args is None else f"{fn.min_args} to {fn.max_args}")
            raise ExpressionError(f"{name}() takes {want} argument{'s' if want != '1' else ''}, got {n}",
                                  f"{fn.signature()}: {fn.doc}", col=col)
        types = [self.check(a, expr) for a in node.args]
        _check_args(fn, node, types)
        expr.functions.add(name)
        if fn.returns == "arg":
            result = types[0] if types else "any"
            for t in types[1:]:
                result = _unify(result, t)
            return result
        return fn.returns


def _check_args(fn: Function, node: ast.Call, types: list[str]) -> None:
    """Each argument must be of its declared kind; repeated kinds (max, coalesce) must agree."""
    for i, (arg, t) in enumerate(zip(node.args, types, strict=True)):
        kind = fn.kind(i)
        if t in ("any", "null") or kind == "any" or t in KINDS[kind]:
            continue
        raise ExpressionError(f"{fn.name}() argument {i + 1} must be {_KIND_WORDS[kind]}, but it is {_TYPE_WORDS.get(t, t)}",
                              f"{fn.signature()}: {fn.doc}", col=arg.col_offset + 1)
    if fn.name == "round" and len(node.args) == 2 and isinstance(node.args[1], ast.Constant) and \
            isinstance(node.args[1].value, int) and abs(node.args[1].value) > MAX_ROUND_PLACES:
        raise ExpressionError(f"round() keeps from -{MAX_ROUND_PLACES} to {MAX_ROUND_PLACES} decimal places",
                              f"{fn.signature()}: {fn.doc}", col=node.args[1].col_offset + 1)
    if fn.args and fn.args[-1].endswith("..."):
        known = [(a, t) for a, t in zip(node.args, types, strict=True) if t not in ("any", "null")]
        for a, t in known[1:]:
            if not _comparable(known[0][1], t):
                raise ExpressionError(f"{fn.name}() needs arguments of one kind, but mixes {known[0][1]} and {t}",
                                      f"{fn.signature()}: {fn.doc}", col=a.col_offset + 1)


_KIND_WORDS = {"date": "a date or time", "number": "a number", "int": "a whole number", "text": "a text",
               "text_or_list": "a text or a list", "ordered": "a number, text, date or time",
               "value": "a value"}
_TYPE_WORDS = {"int": "a whole number", "dec": "a decimal number", "text": "a text", "date": "a date",
               "datetime": "a time", "bool": "true/false", "list": "a list"}


def degree(expr: Expr, name_degree: Callable[[str], int]) -> int:
    """The degree of ``expr`` when the names it uses have the given degrees (computed fields)."""
    return _growth(expr.tree, name_degree)[0]


def _growth(node: ast.AST, name_degree: Callable[[str], int] | None = None) -> tuple[int, int]:
    """(degree, digits) of what ``node`` computes, refusing what is sure to pass the number bound.

    Degree counts how many times field values multiply (qty**16 is 16); digits bound
    the constant factor (10**40 has 41). Both are known at load, so a power of a power
    or a huge constant is refused here instead of at every request.
    """
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool) or not isinstance(v, (int, Decimal)):
            return 0, 0
        return 0, (len(str(abs(v))) if isinstance(v, int) else max(v.adjusted() + 1, 1) if v else 1)
    if isinstance(node, ast.Name):
        return (1 if name_degree is None else name_degree(node.id)), 0
    if isinstance(node, ast.Attribute):
        return 1, 0
    if isinstance(node, ast.BinOp):
        (da, ga), (db, gb) = _growth(node.left, name_degree), _growth(node.right, name_degree)
        if isinstance(node.op, ast.Pow):
            n = node.right.value if isinstance(node.right, ast.Constant) and isinstance(node.right.value, int) else 1
            degree, digits = da * n, ga * n
        elif isinstance(node.op, (ast.Mult, ast.Div)):
            degree, digits = da + db, ga + gb
        else:
            degree, digits = max(da, db), max(ga, gb) + 1
        col = node.col_offset + 1
        if degree > MAX_DEGREE:
            raise ExpressionError(f"this calculation multiplies values {degree} times (at most {MAX_DEGREE}): "
                                  "its result would not fit in a number",
                                  "a power of a power grows too fast; use one power, e.g. qty**2", col=col)
        if digits > MAX_DIGITS + 1:
            raise ExpressionError(f"this calculation gives a number of about {digits} digits (at most {MAX_DIGITS})",
                                  "use smaller constants", col=col)
        return degree, digits
    results = [_growth(c, name_degree) for c in ast.iter_child_nodes(node)]
    if isinstance(node, (ast.Compare, ast.BoolOp)) or not results:
        return (1, 0) if isinstance(node, ast.Call) else (0, 0)
    return max(r[0] for r in results), max(r[1] for r in results)


def _name_hint(name: str, scope: Scope) -> str:
    hint = scope.suggest(name)
    if name.lower() in ("and", "or", "not"):
        return "use lower-case 'and', 'or', 'not'"
    if name not in scope.names and name.isidentifier() and "did you mean" not in hint:
        hint = f"if '{name}' is a text value, quote it: '{name}'. " + hint
    return hint


def _unify(a: str, b: str) -> str:
    if a == b:
        return a
    if a == "null":
        return b
    if b == "null":
        return a
    if {a, b} <= NUMERIC:
        return "dec"
    if {a, b} == {"date", "datetime"}:
        return "datetime"
    return "any"


def _comparable(a: str, b: str) -> bool:
    if "any" in (a, b) or "null" in (a, b) or a == b:
        return True
    if {a, b} <= NUMERIC or {a, b} == {"date", "datetime"}:
        return True
    return False
