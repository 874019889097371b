"""The documented allowlist of functions expressions may call.

Each function has one Python implementation and, where it can filter
records, one SQL implementation; both follow SQL's rule that an empty (None)
argument gives an empty result unless the function exists to handle empties
(``coalesce``, ``len``). Times are whole seconds in the factory's time zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Date, Integer, case, cast, func, literal, null  # noqa: F401
from sqlalchemy.sql.elements import ColumnElement

from . import clock
from .limits import MAX_ROUND_PLACES, BoundPassed

SqlImpl = Callable[["SqlArgs"], ColumnElement[Any]]


@dataclass(frozen=True)
class Function:
    name: str
    min_args: int
    max_args: int | None
    returns: str  # a type name, or "arg" for "same as first argument"
    python: Callable[..., Any]
    sql: SqlImpl | None
    doc: str
    # Declared kinds of the arguments, checked at load: see KINDS. A last entry
    # ending in "..." repeats for every further argument.
    args: tuple[str, ...] = ()

    def kind(self, i: int) -> str:
        if not self.args:
            return "any"
        if i < len(self.args):
            return self.args[i].removesuffix("...")
        last = self.args[-1]
        return last.removesuffix("...") if last.endswith("...") else "any"

    def signature(self) -> str:
        shown = ", ".join(a.replace("...", ", ...") for a in self.args)
        return f"{self.name}({shown})"


# What each declared argument kind accepts (inferred expression types; "any" and
# "null" are accepted everywhere, they are only known at run time).
KINDS: dict[str, frozenset[str]] = {
    "date": frozenset({"date", "datetime"}),
    "number": frozenset({"int", "dec"}),
    "int": frozenset({"int"}),
    "text": frozenset({"text"}),
    "text_or_list": frozenset({"text", "list"}),
    "ordered": frozenset({"int", "dec", "text", "date", "datetime"}),
    "value": frozenset({"int", "dec", "text", "date", "datetime", "bool", "list"}),
}


@dataclass
class SqlArgs:
    """What an SQL implementation gets: compiled args, their types, the dialect."""

    args: list[ColumnElement[Any]]
    types: list[str]
    dialect: str
    now: ColumnElement[Any]  # bound when the statement runs, so cached clauses stay correct
    today: ColumnElement[Any]


def _nullsafe(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any) -> Any:
        if any(a is None for a in args):
            return None
        return fn(*args)
    wrapper.__name__ = fn.__name__
    return wrapper


def as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise TypeError(f"expected a date, got {type(value).__name__}")


def as_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(microsecond=0)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    raise TypeError(f"expected a date or time, got {type(value).__name__}")


def _days_between(a: Any, b: Any) -> int:
    return (as_date(b) - as_date(a)).days


def _seconds_between(a: Any, b: Any) -> int:
    return int((as_datetime(b) - as_datetime(a)).total_seconds())


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // b
    return q if a >= 0 else -q


def _hours_between(a: Any, b: Any) -> int:
    return _trunc_div(_seconds_between(a, b), 3600)


def _add_days(d: Any, n: Any) -> Any:
    return d + dt.timedelta(days=int(n))


def _add_hours(d: Any, n: Any) -> Any:
    return as_datetime(d) + dt.timedelta(hours=int(n))


def _round(x: Any, n: Any = 0) -> Any:
    if x is None or n is None:
        return None
    if abs(int(n)) > MAX_ROUND_PLACES:
        raise BoundPassed("places", max=MAX_ROUND_PLACES)
    q = Decimal(1).scaleb(-int(n))
    result = Decimal(str(x)).quantize(q, rounding=ROUND_HALF_UP)
    return int(result) if int(n) <= 0 else result


def _coalesce(*args: Any) -> Any:
    for a in args:
        if a is not None:
            return a
    return None


def _len(x: Any) -> int:
    return 0 if x is None else len(x)


def _extreme(pick: Callable[..., Any]) -> Callable[..., Any]:
    def fn(*args: Any) -> Any:
        if any(a is None for a in args):
            return None
        return pick(*args)
    return fn


# ---- SQL implementations -------------------------------------------------


def _sql_date(expr: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return func.date(expr)
    return cast(expr, Date())


def _sql_epoch(expr: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return cast(func.strftime("%s", expr), Integer)
    return cast(func.extract("epoch", func.date_trunc("second", expr)), Integer)


def _sql_days_between(a: SqlArgs) -> ColumnElement[Any]:
    x, y = a.args
    if a.dialect == "sqlite":
        return cast(func.julianday(func.date(y)) - func.julianday(func.date(x)), Integer)
    return _sql_date(y, a.dialect) - _sql_date(x, a.dialect)


def _sql_trunc_div(num: ColumnElement[Any], by: int, dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return num // by  # SQLite divides integers truncating toward zero ("/" would cast to NUMERIC)
    return func.trunc(num / float(by)).cast(Integer)


def _sql_hours_between(a: SqlArgs) -> ColumnElement[Any]:
    x, y = a.args
    secs = _sql_epoch(y, a.dialect) - _sql_epoch(x, a.dialect)
    return _sql_trunc_div(secs, 3600, a.dialect)


def _now_param(a: SqlArgs) -> ColumnElement[Any]:
    return a.now


def _today_param(a: SqlArgs) -> ColumnElement[Any]:
    return a.today


def _sql_hours_since(a: SqlArgs) -> ColumnElement[Any]:
    return _sql_hours_between(SqlArgs([a.args[0], a.now], [a.types[0], "datetime"], a.dialect, a.now, a.today))


def _sql_minutes_since(a: SqlArgs) -> ColumnElement[Any]:
    secs = _sql_epoch(_now_param(a), a.dialect) - _sql_epoch(a.args[0], a.dialect)
    return _sql_trunc_div(secs, 60, a.dialect)


def _sql_days_since(a: SqlArgs) -> ColumnElement[Any]:
    return _sql_days_between(SqlArgs([a.args[0], a.today], [a.types[0], "date"], a.dialect, a.now, a.today))


def _sql_add_days(a: SqlArgs) -> ColumnElement[Any]:
    d, n = a.args
    if a.dialect == "sqlite":
        modifier = func.printf("%+d days", n)
        if a.types[0] == "datetime":
            return func.datetime(d, modifier)
        return func.date(d, modifier)
    return d + func.make_interval(0, 0, 0, n)


def _sql_add_hours(a: SqlArgs) -> ColumnElement[Any]:
    d, n = a.args
    if a.dialect == "sqlite":
        return func.datetime(d, func.printf("%+d hours", n))
    return d + func.make_interval(0, 0, 0, 0, n)


def _sql_extreme(op: str) -> SqlImpl:
    def impl(a: SqlArgs) -> ColumnElement[Any]:
        result = a.args[0]
        for nxt in a.args[1:]:
            cond = (result >= nxt) if op == "max" else (result <= nxt)
            result = case((result.is_(None) | nxt.is_(None), null()), (cond, result), else_=nxt)
        return result
    return impl


def _sql_round(a: SqlArgs) -> ColumnElement[Any]:
    x = a.args[0]
    n = a.args[1] if len(a.args) > 1 else literal(0)
    if a.dialect == "postgresql":
        from sqlalchemy import Numeric
        return func.round(cast(x, Numeric), n)
    return func.round(x, n)


def _sql_len(a: SqlArgs) -> ColumnElement[Any]:
    return func.coalesce(func.length(a.args[0]), 0)


def _sql_contains(a: SqlArgs) -> ColumnElement[Any]:
    text_, part = a.args
    return func.instr(text_, part) > 0 if a.dialect == "sqlite" else func.strpos(text_, part) > 0


def _sql_startswith(a: SqlArgs) -> ColumnElement[Any]:
    text_, prefix = a.args
    return func.substr(text_, 1, func.length(prefix)) == prefix


def _sql_part(fmt: str, pg_field: str) -> SqlImpl:
    def impl(a: SqlArgs) -> ColumnElement[Any]:
        if a.dialect == "sqlite":
            return cast(func.strftime(fmt, a.args[0]), Integer)
        return cast(func.extract(pg_field, a.args[0]), Integer)
    return impl


def _sql_lower(a: SqlArgs) -> ColumnElement[Any]:
    return func.lower(a.args[0])


def _sql_upper(a: SqlArgs) -> ColumnElement[Any]:
    return func.upper(a.args[0])


def _sql_abs(a: SqlArgs) -> ColumnElement[Any]:
    return func.abs(a.args[0])


def _sql_coalesce(a: SqlArgs) -> ColumnElement[Any]:
    return func.coalesce(*a.args)


def _str_only(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any) -> Any:
        return fn(*(str(x) for x in args))
    return wrapper


FUNCTIONS: dict[str, Function] = {f.name: f for f in [
    Function("today", 0, 0, "date", lambda: clock.today(), _today_param,
             "Today's date in the factory's time zone."),
    Function("now", 0, 0, "datetime", lambda: clock.now(), _now_param,
             "The current date and time (whole seconds)."),
    Function("days_between", 2, 2, "int", _nullsafe(_days_between), _sql_days_between,
             "Whole days from the first date to the second (negative if earlier).", args=('date', 'date')),
    Function("days_since", 1, 1, "int", _nullsafe(lambda d: _days_between(d, clock.today())), _sql_days_since,
             "Whole days from a date until today.", args=('date',)),
    Function("hours_between", 2, 2, "int", _nullsafe(_hours_between), _sql_hours_between,
             "Whole hours from the first time to the second.", args=('date', 'date')),
    Function("hours_since", 1, 1, "int", _nullsafe(lambda d: _hours_between(d, clock.now())), _sql_hours_since,
             "Whole hours elapsed since a time.", args=('date',)),
    Function("minutes_since", 1, 1, "int",
             _nullsafe(lambda d: _trunc_div(_seconds_between(d, clock.now()), 60)), _sql_minutes_since,
             "Whole minutes elapsed since a time.", args=('date',)),
    Function("add_days", 2, 2, "arg", _nullsafe(_add_days), _sql_add_days, "A date moved by n days.", args=('date', 'int')),
    Function("add_hours", 2, 2, "datetime", _nullsafe(_add_hours), _sql_add_hours, "A time moved by n hours.", args=('date', 'int')),
    Function("max", 2, None, "arg", _extreme(max), _sql_extreme("max"), "The largest argument.", args=('ordered...',)),
    Function("min", 2, None, "arg", _extreme(min), _sql_extreme("min"), "The smallest argument.", args=('ordered...',)),
    Function("abs", 1, 1, "arg", _nullsafe(abs), _sql_abs, "Absolute value.", args=('number',)),
    Function("round", 1, 2, "arg", _round, _sql_round,
             "Round half up to n decimal places (default 0; n from -38 to 38).", args=('number', 'int')),
    Function("len", 1, 1, "int", _len, _sql_len,
             "Length of a text, or number of items of a list; 0 when empty.", args=('text_or_list',)),
    Function("coalesce", 2, None, "arg", _coalesce, _sql_coalesce, "The first argument that is not empty.", args=('value...',)),
    Function("lower", 1, 1, "text", _nullsafe(lambda s: str(s).lower()), _sql_lower, "Lower-case text.", args=('text',)),
    Function("upper", 1, 1, "text", _nullsafe(lambda s: str(s).upper()), _sql_upper, "Upper-case text.", args=('text',)),
    Function("contains", 2, 2, "bool", _nullsafe(_str_only(lambda s, p: p in s)), _sql_contains,
             "True when the text contains the part.", args=('text', 'text')),
    Function("startswith", 2, 2, "bool", _nullsafe(_str_only(lambda s, p: s.startswith(p))), _sql_startswith,
             "True when the text starts with the prefix.", args=('text', 'text')),
    Function("year", 1, 1, "int", _nullsafe(lambda d: as_date(d).year), _sql_part("%Y", "year"),
             "The year of a date.", args=('date',)),
    Function("month", 1, 1, "int", _nullsafe(lambda d: as_date(d).month), _sql_part("%m", "month"),
             "The month (1-12) of a date.", args=('date',)),
]}
