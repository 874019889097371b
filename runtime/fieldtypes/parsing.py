"""The parsing helpers field types share: numbers, dates, times, and values back into JSON.

The per-type logic (what a text, a decimal or a file list accepts) lives in the
type classes (:mod:`.builtin`); these are the pieces they are built from.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from .. import clock
from ..bounds import MAX_ID, MAX_NUMBER_TEXT
from ..messages import t

if TYPE_CHECKING:
    from ..model import FieldDef

PHONE = re.compile(r"^\+?[0-9][0-9\- ()]{4,30}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LOOSE_DATE = re.compile(r"^(\d{4})[-.年](\d{1,2})[-.月](\d{1,2})日?$")
MAX_DECIMAL_DIGITS = 18


class FieldValueError(ValueError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def empty(value: Any) -> bool:
    return value is None or value == "" or value == []


FILE_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


def integer(value: Any, lang: str, key: str = "integer") -> int:
    if isinstance(value, bool):
        raise FieldValueError(t(key, lang))
    if isinstance(value, int):
        n = value
    else:
        d = number(value, key, lang)
        if d.adjusted() >= 19:  # before int(): 1e999999999 is a valid Decimal but no int to build
            raise FieldValueError(t("too_big_number", lang))
        if d != d.to_integral_value():
            raise FieldValueError(t(key, lang))
        n = int(d)
    if abs(n) > MAX_ID:
        raise FieldValueError(t("too_big_number", lang))
    return n


def decimal(value: Any, scale: int, lang: str) -> Decimal:
    if isinstance(value, bool):
        raise FieldValueError(t("decimal", lang))
    d = number(value, "decimal", lang)
    if d and d.adjusted() + 1 + scale > MAX_DECIMAL_DIGITS:  # before quantize(), which fails past 28 digits
        raise FieldValueError(t("too_big_number", lang))
    q = _QUANTA[scale] if scale < len(_QUANTA) else Decimal(1).scaleb(-scale)
    quantized = d.quantize(q)
    if quantized != d:  # more places than the scale (quantizing to as many places or more is exact)
        raise FieldValueError(t("scale", lang, scale=scale))
    # its digits: the exponent is -scale now, so adjusted() + 1 + scale of them (one for a zero)
    if quantized and quantized.adjusted() + 1 + scale > MAX_DECIMAL_DIGITS:
        raise FieldValueError(t("too_big_number", lang))
    return quantized


_QUANTA = tuple(Decimal(1).scaleb(-s) for s in range(9))  # 1, 0.1, ... 1E-8: the quantum of each scale


def number(value: Any, key: str, lang: str) -> Decimal:
    """A finite Decimal from a number or its text (at most MAX_NUMBER_TEXT characters); else FieldValueError."""
    if isinstance(value, Decimal):
        d = value
    else:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise FieldValueError(t(key, lang))
        text = value.strip().replace(",", "") if isinstance(value, str) else str(value)
        if len(text) > MAX_NUMBER_TEXT:
            raise FieldValueError(t("too_big_number", lang) if text.lstrip("+-").isdigit() else t(key, lang))
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise FieldValueError(t(key, lang)) from None
    if not d.is_finite():
        raise FieldValueError(t(key, lang))
    return d


def in_range(f: FieldDef, d: Decimal, lang: str) -> None:
    if f.min is not None and d < f.min:
        raise FieldValueError(t("min", lang, min=plain(f.min)))
    if f.max is not None and d > f.max:
        raise FieldValueError(t("max", lang, max=plain(f.max)))


def plain(d: Decimal) -> str:
    return format(d.normalize(), "f") if d == d.to_integral_value() else str(d)


def parse_date(value: Any, lang: str = "zh") -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip().replace("/", "-")
        try:
            if len(text) > 10 and ("T" in text or " " in text):
                return clock.to_local(dt.datetime.fromisoformat(text.replace("Z", "+00:00"))).date()
            return dt.date.fromisoformat(text)
        except (ValueError, OverflowError):  # OverflowError: local time of 9999-12-31T23:59-12:00
            pass
        m = LOOSE_DATE.match(text)  # 2026-3-5, 2026.3.5, 2026年3月5日 (as spreadsheets in China write them)
        if m:
            try:
                return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                pass
    raise FieldValueError(t("date", lang))


EXCEL_EPOCH = dt.datetime(1899, 12, 30)  # Excel's day 0 (its 1900 leap-year bug folded in, as Excel does)
SERIAL_TEXT = re.compile(r"^\d{5}(\.\d+)?$")


def excel_serial(raw: Any) -> dt.datetime | None:
    """The moment an Excel serial date stands for (a number cell such as 46357, or its text from a CSV
    saved by Excel with the general format: five digits); None for anything else."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, str):
        if not SERIAL_TEXT.match(raw.strip()):
            return None
        raw = float(raw)
    if not isinstance(raw, (int, float)) or not 1 <= raw < 2958466:  # up to 9999-12-31
        return None
    return EXCEL_EPOCH + dt.timedelta(seconds=round(float(raw) * 86400))


def parse_datetime(value: Any, lang: str = "zh") -> dt.datetime:
    if isinstance(value, dt.datetime):
        return clock.to_local(value)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        text = value.strip().replace("/", "-")
        try:
            return clock.to_local(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
        except (ValueError, OverflowError):  # OverflowError: local time of 9999-12-31T23:59-12:00
            pass
    raise FieldValueError(t("datetime", lang))


def to_json(value: Any) -> Any:
    """A JSON-safe form: ISO dates, local times with their offset, decimals as exact text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return clock.to_aware(value).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return value
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return str(value)


def date_json(v: Any) -> Any:
    return v.isoformat() if type(v) is dt.date else to_json(v)


def decimal_json(v: Any) -> Any:
    return format(v, "f") if isinstance(v, Decimal) else to_json(v)


def typed_literal(kind: str, raw: str, lang: str) -> Any:
    """A list filter's text as a value of an expression type (computed fields, system columns)."""
    if kind in ("integer", "int"):
        return None if raw.strip() == "" else integer(raw, lang)
    if kind in ("decimal", "dec"):
        return None if raw.strip() == "" else decimal(raw, 8, lang)
    if kind == "date":
        return parse_date(raw, lang)
    if kind == "datetime":
        return parse_datetime(raw, lang)
    if kind == "bool":
        return raw.lower() in ("1", "true", "yes")
    return raw
