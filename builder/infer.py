"""A new app from a spreadsheet: the fields a sheet's columns suggest, and the definition text they make.

A factory's real starting point is an Excel sheet. :func:`infer_fields`
looks at every column (the first ``SAMPLE`` rows) and proposes a field: its
type (integer, decimal, yes/no, date in Chinese and ISO formats, date and
time, a select when few values repeat, long text, text), whether it is
required (no empty cell), and the options of a select. The header becomes
the Chinese label, so the import page maps the columns by themselves.
:func:`definition_text` writes the app's YAML from the (adjusted) fields.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

SAMPLE = 5000
MAX_OPTIONS = 12
MAX_COLUMNS = 100
TYPES = ("text", "longtext", "integer", "decimal", "boolean", "date", "datetime", "select")
YES = {"是", "否", "yes", "no", "true", "false", "y", "n", "√", "×", "有", "无"}
DATE_PATTERNS = [
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"), re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"), re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
]
DATETIME = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})[ T](\d{1,2}):(\d{2})(:\d{2})?$")
KEY = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


def parse_date(value: Any) -> dt.date | None:
    """A date written as 2026-03-05, 2026/3/5, 2026.3.5 or 2026年3月5日 (or a spreadsheet date)."""
    if isinstance(value, dt.datetime):
        return value.date() if value.time() == dt.time(0) else None
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for pattern in DATE_PATTERNS:
        m = pattern.match(text)
        if m:
            try:
                return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                return None
    return None


def _is_datetime(value: Any) -> bool:
    if isinstance(value, dt.datetime):
        return True
    return bool(DATETIME.match(str(value).strip()))


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)):
        return Decimal(str(value))
    text = str(value).strip().replace(",", "")
    if not re.match(r"^-?\d+(\.\d+)?$", text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _kind(values: list[Any]) -> str:
    texts = [str(v).strip() for v in values]
    if all(t.lower() in YES for t in texts) and len({t.lower() for t in texts}) <= 2:
        return "boolean"
    numbers = [_number(v) for v in values]
    if all(n is not None for n in numbers):
        # codes with leading zeros (007, 0123) are text, not numbers
        if any(isinstance(v, str) and re.match(r"^0\d", v.strip()) for v in values):
            return "text"
        if all(n == n.to_integral_value() and "." not in str(v) for n, v in zip(numbers, values, strict=True)
               if n is not None):
            return "integer"
        return "decimal"
    if all(parse_date(v) is not None for v in values):
        return "date"
    if all(parse_date(v) is not None or _is_datetime(v) for v in values):
        return "datetime"
    return "longtext" if any(len(t) > 200 or "\n" in t for t in texts) else "text"


def _key(header: str, index: int, used: set[str]) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")
    key = slug if KEY.match(slug or "") else f"col_{index + 1}"
    key = key[:40]
    base, n = key, 2
    while key in used or key in ("id", "name", "state", "created_at", "updated_at", "created_by", "updated_by"):
        key = f"{base}_{n}"
        n += 1
    used.add(key)
    return key


def infer_fields(header: list[str], rows: list[list[Any]]) -> list[dict[str, Any]]:
    """One proposed field per named column: ``{"column", "key", "label", "type", "required", "options"}``."""
    sample = rows[:SAMPLE]
    used: set[str] = set()
    out = []
    for i, head in enumerate(header[:MAX_COLUMNS]):
        label = (head or "").strip() or f"列{i + 1}"
        values = [r[i] for r in sample if i < len(r) and r[i] is not None and str(r[i]).strip() != ""]
        kind = _kind(values) if values else "text"
        options: list[str] = []
        if kind == "text":
            distinct = sorted({str(v).strip() for v in values})
            if 1 < len(distinct) <= MAX_OPTIONS and len(values) >= 2 * len(distinct):
                kind, options = "select", distinct
        out.append({"column": i, "key": _key(head or "", i, used), "label": label[:100], "type": kind,
                    "required": bool(sample) and len(values) == len(sample), "options": options})
    return out


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def definition_text(app: str, title: str, entity: str, entity_title: str, fields: list[dict[str, Any]]) -> str:
    """The YAML of a one-entity app with these fields (as adjusted in the browser)."""
    lines = [f"app: {app}", f"title: {{zh: {_q(title)}, en: {_q(app)}}}", "entities:", f"  {entity}:",
             f"    title: {{zh: {_q(entity_title)}, en: {_q(entity)}}}", "    fields:"]
    for f in fields:
        kind = f["type"] if f.get("type") in TYPES else "text"
        parts = [f"type: {kind}", f"label: {{zh: {_q(str(f.get('label') or f['key']))}, en: {_q(f['key'])}}}"]
        if f.get("required"):
            parts.append("required: true")
        if kind == "select":
            opts = [str(o) for o in (f.get("options") or []) if str(o).strip()] or ["-"]
            parts.append("options: [" + ", ".join(_q(o) for o in opts) + "]")
        lines.append(f"      {f['key']}: {{{', '.join(parts)}}}")
    keys = [f["key"] for f in fields][:8]
    lines.append(f"    list: {{columns: [{', '.join(keys)}]}}")
    return "\n".join(lines) + "\n"


def check_fields(fields: Any) -> list[dict[str, Any]]:
    """The fields a browser sent back, checked (ValueError with the reason)."""
    if not isinstance(fields, list) or not 0 < len(fields) <= MAX_COLUMNS:
        raise ValueError(f"'fields' is a list of 1 to {MAX_COLUMNS} fields")
    seen: set[str] = set()
    out = []
    for f in fields:
        if not isinstance(f, dict) or not isinstance(f.get("key"), str) or not KEY.match(f["key"]):
            raise ValueError("every field needs a key of lower-case letters, digits and '_'")
        if f["key"] in seen:
            raise ValueError(f"the key {f['key']!r} is used twice")
        seen.add(f["key"])
        opts = f.get("options") or []
        if not isinstance(opts, list) or len(opts) > 200:
            raise ValueError("'options' is a list of at most 200 values")
        out.append({"key": f["key"], "label": str(f.get("label") or f["key"])[:100],
                    "type": f.get("type") if f.get("type") in TYPES else "text",
                    "required": f.get("required") is True, "options": [str(o)[:100] for o in opts]})
    return out
