"""Bounds on evaluating expressions, the same for every evaluation.

Expressions are checked at load (allowlisted syntax, at most ``MAX_NODES``
parts, constant exponents, see :mod:`runtime.expressions`); what only shows
at run time is bounded here: the size of every number and text an expression
produces and the number of steps one evaluation may take (nested computed
fields included). Passing a bound is not bad data to be read as "empty": it
is answered as a 422 naming the expression, and nothing is written.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .errors import ValidationFailed
from .messages import t

MAX_DIGITS = 38  # digits before the decimal point of any number an expression produces
MAX_TEXT = 10_000  # characters of any text an expression produces
MAX_STEPS = 20_000  # tree nodes visited by one evaluation, nested computed fields included
MAX_DEGREE = 16  # a polynomial of at most this degree: qty**16 is allowed, (qty**2)**16 is not
MAX_ROUND_PLACES = MAX_DIGITS  # round(x, n) with |n| at most this

_INT_LIMIT = 10 ** MAX_DIGITS
_INT_BITS = _INT_LIMIT.bit_length()


class LimitExceeded(ValidationFailed):
    """An evaluation went past a bound; answered as 422 naming the expression."""

    code = "expression_limit"

    def __init__(self, source: str, reason: str, *, lang: str = "zh", field: str | None = None, **params: Any):
        self.source = source
        self.reason = reason
        self.params = params
        msg = self.text(lang)
        super().__init__(msg, {field: msg} if field else None, expression=source)

    def text(self, lang: str) -> str:
        why = t("limit_" + self.reason, lang, **self.params)
        return t("expression_limit", lang, expr=_short(self.source), reason=why)

    def for_field(self, name: str | None, lang: str) -> LimitExceeded:
        """The same refusal in ``lang``, naming the field whose expression it is."""
        return LimitExceeded(self.source, self.reason, lang=lang, field=name, **self.params)


class BoundPassed(Exception):
    """Raised inside evaluation; turned into LimitExceeded with the expression's source."""

    def __init__(self, reason: str, **params: Any):
        super().__init__(reason)
        self.reason = reason
        self.params = params


def number(v: Any) -> Any:
    """``v`` if it is a number within MAX_DIGITS (or not a number); raise BoundPassed otherwise."""
    tv = type(v)
    if tv is int:
        if v.bit_length() >= _INT_BITS - 1 and abs(v) >= _INT_LIMIT:
            raise BoundPassed("digits", max=MAX_DIGITS)
    elif tv is Decimal:
        if not v.is_finite() or (v and v.adjusted() >= MAX_DIGITS):
            raise BoundPassed("digits", max=MAX_DIGITS)
    return v


def power(a: Any, n: Any) -> None:
    """Refuse a power whose result would pass MAX_DIGITS, before computing it."""
    if type(n) is not int or n < 0:
        return
    if type(a) is int and a.bit_length() * n > _INT_BITS + 1:
        raise BoundPassed("digits", max=MAX_DIGITS)
    if type(a) is Decimal and a.is_finite() and a and a.adjusted() > 0 and a.adjusted() * n >= MAX_DIGITS:
        raise BoundPassed("digits", max=MAX_DIGITS)


def text(s: str) -> str:
    if len(s) > MAX_TEXT:
        raise BoundPassed("text", max=MAX_TEXT)
    return s


class OutOfRange(ValidationFailed):
    """The database refused a calculation as out of range (e.g. PostgreSQL bigint overflow)."""

    code = "out_of_range"


# SQLSTATE 22003 numeric value out of range, 22008 datetime field overflow, 22012 division by zero;
# SQLite says "integer overflow" (abs(), sum()).
_OUT_OF_RANGE_STATES = frozenset({"22003", "22008", "22012"})


def out_of_range(exc: BaseException, lang: str = "zh") -> OutOfRange | None:
    """An OutOfRange refusal when ``exc`` is the database's arithmetic overflow, else None."""
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state in _OUT_OF_RANGE_STATES or "integer overflow" in str(orig):
        return OutOfRange(t("limit_sql", lang))
    return None


def _short(source: str) -> str:
    return source if len(source) <= 120 else source[:117] + "..."
