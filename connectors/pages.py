"""One page of an ERP answer: its records, rows that are not of the expected shape, and the next position.

Paging follows the ERP's own order. Keyset paging asks for records after the key of the last
record *as the ERP ordered them*, and never compares keys on Jig's side to drop rows: an ERP whose
collation sorts ``XSDD-2026…`` among ``XSDD2026…`` (SQL Server, hyphens ignored) or compares keys as
numbers pages correctly, rows sent twice are merely upserted twice. Where the ERP's order differs
from Python's, the page says so (``disorder``), for the run's report.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .http import ErpError, dig
from .spec import Operation
from .template import Context


@dataclass
class Bad:
    """A row not of the expected shape: kept (quarantined), never a reason to stop."""

    raw: Any
    reason: str
    key: str | None       # the record it probably belongs to (from the key column), if readable
    modified: Any = None  # its watermark value, if readable


def extract(op: Operation, data: Any) -> list[Any]:
    recs = dig(data, op.records) if op.records else data
    if recs is None:
        return []
    if not isinstance(recs, list):
        raise ErpError(f"expected a list of records at '{'.'.join(op.records) or '$'}', got {type(recs).__name__}",
                       transient=True, unexpected=True)
    return recs


def key_source(op: Operation) -> str | None:
    """The ERP field that identifies a record (group_by, or the field the key is mapped from)."""
    if op.group_by:
        return op.group_by
    fm = op.fields.get(op.key or "")
    return ".".join(fm.path) if fm is not None and fm.path else None


def _guess(op: Operation, r: Any, name: str | None) -> Any:
    if name is None:
        return None
    if isinstance(r, dict):
        return r.get(name)
    if isinstance(r, list) and name in op.select:
        i = op.select.index(name)
        return r[i] if i < len(r) else None
    return None


def bad_key(raw: Any) -> str:
    return "?" + hashlib.sha1(json.dumps(raw, ensure_ascii=False, default=str).encode()).hexdigest()[:16]


def to_contexts(op: Operation, recs: list[Any]) -> tuple[list[Context], list[Bad]]:
    out = []
    bad: list[Bad] = []
    keys = op.select
    ksrc = key_source(op)
    wm = op.watermark["field"] if op.watermark else None
    for r in recs:
        if op.positional and isinstance(r, list) and len(r) == len(keys):
            out.append(Context(zip(keys, r, strict=True)))  # type: ignore[arg-type]  # one copy, not two
        elif not op.positional and isinstance(r, dict):
            out.append(Context(r))
        else:
            reason = (f"a row does not match select ({len(keys)} fields, got "
                      f"{len(r) if isinstance(r, list) else type(r).__name__}): {str(r)[:200]}"
                      if op.positional else f"a record is not an object: {str(r)[:200]}")
            k = _guess(op, r, ksrc)
            bad.append(Bad(r, reason, None if k in (None, "") else str(k).strip(), _guess(op, r, wm)))
    return out, bad


def group(op: Operation, rows: list[Context]) -> list[list[Context]]:
    if not op.group_by:
        return [[r] for r in rows]
    groups: dict[Any, list[Context]] = {}
    for r in rows:
        groups.setdefault(r.resolve(tuple(op.group_by.split("."))), []).append(r)
    return list(groups.values())


def _before(a: Any, b: Any) -> bool:
    """Python's idea of ``a < b`` (numbers as numbers), only to notice an ERP that orders differently."""
    try:
        return float(a) < float(b)
    except (TypeError, ValueError):
        return str(a) < str(b)


def disorder(op: Operation, groups: list[list[Context]]) -> int:
    """How many neighbours on this page the ERP ordered differently from Python (keyset paging only)."""
    if op.pagination.get("type") != "keyset" or len(groups) < 2:
        return 0
    kpath = tuple(op.pagination["key"].split("."))
    keys = [g[0].resolve(kpath) for g in groups]
    return sum(1 for a, b in zip(keys, keys[1:], strict=False) if _before(b, a))


def paginate(op: Operation, cur: dict[str, Any], data: Any, recs: list[Any], groups: list[list[Context]],
             page_limit: int) -> tuple[list[list[Context]], dict[str, Any], bool, bool]:
    """(records to keep, the cursor after this page, last page?, ask again with a bigger page?)."""
    pg = op.pagination
    full_page = len(recs) >= page_limit
    new = dict(cur)
    if pg["type"] == "keyset":
        kpath = tuple(pg["key"].split("."))
        if full_page and len(groups) <= 1:
            return groups, cur, False, True
        if full_page:
            groups = groups[:-1]  # the last record may continue on the next page
        if groups:
            # The ERP's order, not Python's: the next page starts after the last record it sent.
            new["after"] = str(groups[-1][0].resolve(kpath))
            if full_page and new["after"] == cur["after"]:
                return groups, cur, False, True  # no progress (only rows sent again): ask for more
        return groups, new, not full_page, False
    if pg["type"] == "offset":
        new["offset"] = cur["offset"] + len(recs)
        return groups, new, not full_page, False
    if pg["type"] == "page":
        new["page"] = cur["page"] + 1
        pages = dig(data, pg["pages"].split(".")) if pg.get("pages") else None
        done = (not recs) or (pages is not None and int(pages) <= cur["page"]) or (pages is None and not full_page)
        return groups, new, done, False
    if pg["type"] == "next_link":
        nxt = data.get(pg["next"]) if isinstance(data, dict) and pg["next"] in data else dig(data, pg["next"].split("."))
        new["next"] = nxt or None
        return groups, new, not nxt, False
    return groups, new, True, False
