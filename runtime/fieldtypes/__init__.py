"""Field types: one class per kind of value, and the registry of them.

Each type (:class:`FieldType`) knows its definition keys, column type, coercion and
validation, JSON form, OpenAPI schema, form widget, list cell, spreadsheet
conversion, list filters and palette entry. The compiler gives every field its
type (``f.ft``); :func:`coerce` and :func:`to_json` are the names the rest of Jig
has always called. ``docs/fieldtypes.md`` shows how to add a type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import OPS, ORDER_OPS, FieldType
from .parsing import EMAIL, FILE_KEY, PHONE, FieldValueError, empty, parse_date, parse_datetime, to_json, typed_literal
from .registry import BUILTIN, FieldTypes

if TYPE_CHECKING:
    from ..model import FieldDef

__all__ = ["BUILTIN", "EMAIL", "FILE_KEY", "OPS", "ORDER_OPS", "PHONE", "FieldType", "FieldTypes", "FieldValueError",
           "coerce", "empty", "parse_date", "parse_datetime", "to_json", "typed_literal"]


def coerce(f: FieldDef, value: Any, lang: str = "zh") -> Any:
    """The typed value for ``value`` entered into field ``f`` (its type decides); raises FieldValueError."""
    return f.ft.coerce(f, value, lang)
