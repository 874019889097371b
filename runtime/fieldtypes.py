"""Turning user input into typed field values, and values back into JSON.

One function per direction keeps API, web forms, imports and connectors
consistent: they all call :func:`coerce` and :func:`to_json`.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from . import clock
from .bounds import MAX_ID, MAX_LIST_ITEMS, MAX_NUMBER_TEXT, bad_text
from .messages import t
from .model import FieldDef

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


def coerce(f: FieldDef, value: Any, lang: str = "zh") -> Any:
    """The typed value for ``value`` entered into field ``f``; raises FieldValueError."""
    if value is None or (isinstance(value, str) and value.strip() == "" and f.type not in ("multiselect",)):
        return None
    kind = f.type
    if kind in ("text", "longtext", "phone", "email", "user"):
        if isinstance(value, bool) or not isinstance(value, (str, int, Decimal, float)):
            raise FieldValueError(t("not_text", lang))
        text = str(value) if kind == "longtext" else str(value).strip()
        if bad_text(text):
            raise FieldValueError(t("bad_text", lang))
        if len(text) > f.max_text:
            raise FieldValueError(t("too_long", lang, max=f.max_text))
        if f.min_length and len(text) < f.min_length:
            raise FieldValueError(t("too_short", lang, min=f.min_length))
        if kind == "phone" and not PHONE.match(text):
            raise FieldValueError(t("phone", lang))
        if kind == "email" and not EMAIL.match(text):
            raise FieldValueError(t("email", lang))
        if f.pattern is not None and not f.pattern.fullmatch(text):
            raise FieldValueError(t("pattern", lang))
        return text
    if kind == "integer":
        n = _integer(value, lang)
        _range(f, Decimal(n), lang)
        return n
    if kind == "decimal":
        d = _decimal(value, f.scale, lang)
        _range(f, d, lang)
        return d
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, str)) and str(value).strip().lower() in ("1", "true", "yes", "on", "是", "0",
                                                                            "false", "no", "off", "否"):
            return str(value).strip().lower() in ("1", "true", "yes", "on", "是")
        raise FieldValueError(t("boolean", lang))
    if kind == "date":
        return parse_date(value, lang)
    if kind == "datetime":
        return parse_datetime(value, lang)
    if kind == "select":
        text = str(value).strip()
        if text not in f.option_values:
            raise FieldValueError(t("option", lang, options=", ".join(f.option_values)))
        return text
    if kind == "multiselect":
        items = [s.strip() for s in value.split(",") if s.strip()] if isinstance(value, str) else value
        if not isinstance(items, list):
            raise FieldValueError(t("list", lang))
        if len(items) > MAX_LIST_ITEMS:
            raise FieldValueError(t("too_many_values", lang, max=MAX_LIST_ITEMS))
        bad = [str(x) for x in items if str(x) not in f.option_values]
        if bad:
            raise FieldValueError(t("option", lang, options=", ".join(f.option_values)))
        seen: list[str] = []
        for x in items:
            if str(x) not in seen:
                seen.append(str(x))
        return [v for v in f.option_values if v in seen]
    if kind == "link":
        if isinstance(value, dict) and "id" in value:
            value = value["id"]
        return _integer(value, lang, key="link")
    if kind in ("image", "images", "file", "files"):
        items = value if isinstance(value, list) else [value]
        limit = f.max_files if f.max_files is not None else MAX_LIST_ITEMS
        if len(items) > limit:
            raise FieldValueError(t("too_many_files", lang, max=limit))
        keys: list[str] = []
        for item in items:
            key = item.get("key") if isinstance(item, dict) else item
            if not isinstance(key, str) or not FILE_KEY.fullmatch(key):  # the form FileStore generates
                raise FieldValueError(t("file_missing", lang))
            keys.append(key)
        if f.max_files is not None and len(keys) > f.max_files:
            raise FieldValueError(t("too_many_files", lang, max=f.max_files))
        return keys
    raise FieldValueError(t("computed", lang))


def _integer(value: Any, lang: str, key: str = "integer") -> int:
    if isinstance(value, bool):
        raise FieldValueError(t(key, lang))
    if isinstance(value, int):
        n = value
    else:
        d = _number(value, key, lang)
        if d.adjusted() >= 19:  # before int(): 1e999999999 is a valid Decimal but no int to build
            raise FieldValueError(t("too_big_number", lang))
        if d != d.to_integral_value():
            raise FieldValueError(t(key, lang))
        n = int(d)
    if abs(n) > MAX_ID:
        raise FieldValueError(t("too_big_number", lang))
    return n


def _decimal(value: Any, scale: int, lang: str) -> Decimal:
    if isinstance(value, bool):
        raise FieldValueError(t("decimal", lang))
    d = _number(value, "decimal", lang)
    if d and d.adjusted() + 1 + scale > MAX_DECIMAL_DIGITS:  # before quantize(), which fails past 28 digits
        raise FieldValueError(t("too_big_number", lang))
    exponent = d.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > scale and d != d.quantize(Decimal(1).scaleb(-scale)):
        raise FieldValueError(t("scale", lang, scale=scale))
    d = d.quantize(Decimal(1).scaleb(-scale))
    if len(d.as_tuple().digits) > MAX_DECIMAL_DIGITS:
        raise FieldValueError(t("too_big_number", lang))
    return d


def _number(value: Any, key: str, lang: str) -> Decimal:
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


def _range(f: FieldDef, d: Decimal, lang: str) -> None:
    if f.min is not None and d < f.min:
        raise FieldValueError(t("min", lang, min=_plain(f.min)))
    if f.max is not None and d > f.max:
        raise FieldValueError(t("max", lang, max=_plain(f.max)))


def _plain(d: Decimal) -> str:
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
