"""Bounds on request input, so that no request can make the server fail or work without limit.

Every number here is documented in docs/security.md ("Bad input"); a request
beyond a bound is answered 400 (or 404 for ids in the URL), never 500.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_ID = 2 ** 63 - 1          # record ids and links: the databases' signed 64-bit integers
MAX_INT32 = 2 ** 31 - 1       # versions, import-job and display-link ids: 32-bit columns on PostgreSQL
MAX_JSON_DEPTH = 32           # nesting of arrays/objects in a request body or a cursor
MAX_NUMBER_TEXT = 100         # characters in a number given as text (query string, form, CSV, JSON string)
MAX_FILTERS = 30              # filter parameters in one list request
MAX_FILTER_TEXT = 1000        # characters in one filter value
MAX_IN_VALUES = 500           # values in one ``__in`` filter
MAX_SORT_TERMS = 5            # columns in ``sort`` (``id`` is always added last)
MAX_CURSOR_TEXT = 4096        # characters in an ``after`` cursor
MAX_CHILD_ROWS = 2000         # rows in one child table of one record, unless the definition sets max_rows
MAX_LIST_ITEMS = 200          # values in one multiselect or file list, unless the definition sets max


_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_SUSPECT_ESCAPE_BYTES = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def bad_text(text: str) -> bool:
    """Whether ``text`` holds a NUL or a lone surrogate: no database column can store either (PostgreSQL refuses)."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _bad_strings(value: Any) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if bad_text(node):
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


class BadText(ValueError):
    """JSON with a NUL or a lone surrogate in a string (a ValueError: JSON readers treat it as bad JSON)."""


class TooDeep(ValueError):
    """JSON nested deeper than MAX_JSON_DEPTH (a ValueError, so JSON readers treat it as bad JSON)."""


def id_in_range(value: Any) -> bool:
    """Whether ``value`` is an int (not a bool) that can be a row id in every supported database."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether parsed JSON nests deeper than ``limit``; iterative, stops at the first too-deep node."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def loads(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that refuses nesting deeper than ``limit`` with ValueError instead of recursing away."""
    opening = text.count(b"[") + text.count(b"{") if isinstance(text, bytes) else text.count("[") + text.count("{")
    try:
        value = json.loads(text)
    except RecursionError:
        raise TooDeep(f"JSON nested deeper than {limit}") from None
    if opening > limit and depth_exceeds(value, limit):
        raise TooDeep(f"JSON nested deeper than {limit}")
    suspect = _SUSPECT_ESCAPE_BYTES.search(text) if isinstance(text, bytes) else _SUSPECT_ESCAPE.search(text)
    if suspect and _bad_strings(value):
        raise BadText("JSON text holds a NUL character or a lone surrogate")
    return value

