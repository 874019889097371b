"""Listing records: filters, search, sort and keyset paging, all in SQL.

``?field=value``, ``?field__lt=``, ``__lte``, ``__gt``, ``__gte``, ``__ne``,
``__in`` (comma-separated), ``__contains``, ``__startswith`` (both ignore case), ``__isnull``;
``q`` searches the entity's search fields, its number and its linked records' names
(runtime/search.py); ``sort=-updated_at,name``;
``limit`` (default 20, at most 500); ``after`` is the opaque cursor from the
previous page. The total is counted only when ``count=true`` is asked for.
Empty values sort first on ascending order, last on descending.

Every parameter is bounded (runtime/bounds.py): the number of filters, sort
columns and ``__in`` values, the length of values and cursors; an operator must
fit the field's type (no ``contains`` on numbers, nothing on child tables); a
cursor must hold one value of the right type per sort column. Anything else is
a 400 naming the parameter, never a database error.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, Select, Table, and_, bindparam, false, func, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from . import bounds, permissions, reach, search
from .auth import Actor
from .context import RecordContext, row_loader
from .errors import BadRequest
from .fieldtypes import BUILTIN, OPS, FieldType, FieldValueError, to_json, typed_literal
from .messages import t
from .model import EntityDef
from .records import json_plan
from .sqlcompile import NotCompilable

RESERVED = {"sort", "limit", "after", "q", "count", "fields", "expand", "format", "lang"}
MAX_LIMIT = 500
SYSTEM_TYPES = {"id": "integer", "version": "integer", "name": "text", "state": "text", "created_at": "datetime",
                "updated_at": "datetime", "created_by": "text", "updated_by": "text"}


@dataclass
class ListQuery:
    filters: list[tuple[str, str, Any]] = field(default_factory=list)
    search: str | None = None
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (column, descending)
    limit: int = 20
    after: list[Any] | None = None
    count: bool = False


def parse_args(ent: EntityDef, args: Mapping[str, str], lang: str = "zh") -> ListQuery:
    """Read query-string arguments; every problem is reported per parameter."""
    q = ListQuery()
    problems: dict[str, str] = {}
    filters = [(k, v) for k, v in args.items() if k not in RESERVED]
    if len(filters) > bounds.MAX_FILTERS:
        problems["filters"] = t("too_many_filters", lang, max=bounds.MAX_FILTERS)
        filters = []
    for key, raw in filters:
        name, _, op = key.partition("__")
        op = op or "eq"
        if op not in OPS:
            problems[key] = f"unknown operator '{op}'; use one of {', '.join(OPS)}"
            continue
        if "." in name:  # across child rows and links (runtime/reach.py)
            try:
                if len(raw) > bounds.MAX_FILTER_TEXT:
                    raise FieldValueError(t("too_long", lang, max=bounds.MAX_FILTER_TEXT))
                q.filters.append((name, op, reach.parse(ent, name, op, raw, lang)))
            except FieldValueError as exc:
                problems[key] = exc.message
            continue
        kind = _field_type(ent, name)
        if kind is None:
            problems[key] = t("unknown_field", lang)
            continue
        if op not in kind.filter_ops(ent.fields.get(name)):
            problems[key] = t("filter_op", lang, op=op)
            continue
        if len(raw) > bounds.MAX_FILTER_TEXT:
            problems[key] = t("too_long", lang, max=bounds.MAX_FILTER_TEXT)
            continue
        try:
            value = _filter_value(ent, name, kind, op, raw, lang)
        except FieldValueError as exc:
            problems[key] = exc.message
            continue
        if value is None and op in ("lt", "lte", "gt", "gte"):
            problems[key] = t("required", lang)  # nothing is smaller or larger than empty
            continue
        q.filters.append((name, op, value))
    q.search = (args.get("q") or "").strip()[:bounds.MAX_FILTER_TEXT] or None
    sort = args.get("sort") or ent.list_sort or "-id"
    parts = [p.strip() for p in sort.split(",") if p.strip()]
    if len(parts) > bounds.MAX_SORT_TERMS + 1:
        problems["sort"] = t("too_many_sort", lang, max=bounds.MAX_SORT_TERMS)
        parts = []
    for part in parts:
        desc = part.startswith("-")
        name = part.lstrip("-+")
        kind = _field_type(ent, name)
        if kind is None or not (kind.sortable or _computed(ent, name)):
            problems["sort"] = f"cannot sort by '{name}'"
            continue
        if name != "id" and name not in [n for n, _ in q.sort]:
            q.sort.append((name, desc))
    if len(q.sort) > bounds.MAX_SORT_TERMS:
        problems["sort"] = t("too_many_sort", lang, max=bounds.MAX_SORT_TERMS)
        q.sort = []
    q.sort.append(("id", q.sort[0][1] if q.sort else True))
    try:
        q.limit = max(1, min(MAX_LIMIT, int((args.get("limit") or "20")[:10])))
    except ValueError:
        problems["limit"] = t("integer", lang)
    if args.get("after") and "sort" not in problems:
        try:
            q.after = _read_cursor(ent, q.sort, args["after"], lang)
        except (ValueError, FieldValueError):
            problems["after"] = t("bad_cursor", lang)
    q.count = str(args.get("count", "")).lower() in ("1", "true", "yes")
    if problems:
        raise BadRequest(t("bad_filter", lang), problems)
    return q


def _read_cursor(ent: EntityDef, sort: list[tuple[str, bool]], text: str, lang: str) -> list[Any]:
    """The typed sort values of a cursor made by :func:`_cursor`; ValueError for anything else."""
    if len(text) > bounds.MAX_CURSOR_TEXT:
        raise ValueError("cursor too long")
    values = bounds.loads(base64.urlsafe_b64decode(text.encode() + b"==="), limit=1)
    if not isinstance(values, list) or len(values) != len(sort):
        raise ValueError("cursor does not match the sort")
    typed = []
    for (name, _), v in zip(sort, values, strict=True):
        kind = _field_type(ent, name) or BUILTIN["text"]
        if v is None:
            typed.append(None)
        elif kind.json_type is bool:
            if not isinstance(v, bool):
                raise ValueError(name)
            typed.append(v)
        elif kind.text_like:
            if not isinstance(v, str):
                raise ValueError(name)
            typed.append(v)
        elif kind.json_type is int and isinstance(v, int) and not isinstance(v, bool):
            typed.append(_one(ent, name, kind, str(v), lang))
        elif kind.json_type is not int and isinstance(v, str):
            typed.append(_one(ent, name, kind, v, lang))
        else:
            raise ValueError(name)
    return typed


def _computed(ent: EntityDef, name: str) -> bool:
    """A computed field: sorted by its expression compiled to SQL."""
    f = ent.fields.get(name)
    return f is not None and f.type == "computed" and f.expr is not None


SORT_KEY = "jig_sort_{}"  # the label of a computed sort value selected with the row (for the cursor)


def _sort_columns(runtime: Any, ent: EntityDef, table: Table, sort: list[tuple[str, bool]]) -> dict[str, Any]:
    """name -> the column (or compiled expression) each sort term orders by."""
    return {n: _column(runtime, ent, table, n) for n, _ in sort}


def _field_type(ent: EntityDef, name: str) -> FieldType | None:
    """The type of a field or system column of ``ent``; None when there is no such column."""
    if name in SYSTEM_TYPES:
        if name == "name" and not ent.naming and "name" not in ent.fields:
            return None
        if name == "state" and ent.workflow is None:
            return None
        if name in ent.fields:
            return ent.fields[name].ft
        return BUILTIN[SYSTEM_TYPES[name]]
    f = ent.fields.get(name)
    return f.ft if f is not None else None


def _filter_value(ent: EntityDef, name: str, kind: FieldType, op: str, raw: str, lang: str) -> Any:
    if op == "isnull":
        return raw.lower() in ("1", "true", "yes")
    if op in ("contains", "startswith"):
        return raw
    if op == "in":
        values = [v.strip() for v in raw.split(",") if v.strip()]
        if len(values) > bounds.MAX_IN_VALUES:
            raise FieldValueError(t("too_many_values", lang, max=bounds.MAX_IN_VALUES))
        return [_one(ent, name, kind, v, lang) for v in values]
    return _one(ent, name, kind, raw, lang)


def _one(ent: EntityDef, name: str, kind: FieldType, raw: str, lang: str) -> Any:
    f = ent.fields.get(name)
    if f is None and name == "version":  # a 32-bit column
        n = typed_literal(kind.name, raw, lang)
        if n is not None and abs(n) > bounds.MAX_INT32:
            raise FieldValueError(t("too_big_number", lang))
        return n
    if f is not None:
        return f.ft.filter_value(f, raw, lang)
    return typed_literal(kind.name, raw, lang)


def _column(runtime: Any, ent: EntityDef, table: Table, name: str) -> ColumnElement[Any]:
    f = ent.fields.get(name)
    if f is not None and f.type == "computed" and f.expr is not None:
        try:
            return runtime.sql.value(f.expr, table)
        except NotCompilable:
            raise BadRequest(f"'{name}' cannot be filtered (it is computed in Python)", {name: "not filterable"}) \
                from None
    return table.c[name]


def _condition(runtime: Any, ent: EntityDef, table: Table, name: str, op: str, value: Any) -> ColumnElement[Any]:
    col = _column(runtime, ent, table, name)
    f = ent.fields.get(name)
    if op == "isnull":
        return col.is_(None) if value else col.is_not(None)
    if f is not None:
        own = f.ft.condition(col, op, value)  # e.g. one option among a multi-select's stored list
        if own is not None:
            return own
    if op in ("contains", "startswith"):  # ignoring case on both databases, as the search does
        pattern = f"{search.like_escape(value)}%"
        return search.ci_like(col, "%" + pattern if op == "contains" else pattern, runtime.sql.dialect)
    if op == "in":
        return col.in_(value) if value else false()
    return {"eq": col.__eq__, "ne": col.__ne__, "lt": col.__lt__, "lte": col.__le__, "gt": col.__gt__,
            "gte": col.__ge__}[op](value)


def build(runtime: Any, actor: Actor, ent: EntityDef, q: ListQuery) -> tuple[Select[Any], Table]:
    table = runtime.tables.for_entity(ent)
    stmt: Select[Any] = select(table)
    flt = permissions.read_filter(actor, ent, table, runtime.sql)
    if flt is not None:
        stmt = stmt.where(flt)
    for name, op, value in q.filters:
        stmt = stmt.where(reach.condition(runtime, actor, ent, table, name, op, value) if "." in name
                          else _condition(runtime, ent, table, name, op, value))
    found = search.condition(runtime, actor, ent, table, q.search) if q.search else None
    if found is not None:  # own fields, own number, linked records' titles (runtime/search.py)
        stmt = stmt.where(found)
    return stmt, table


_CACHEABLE_OPS = {"eq", "ne", "lt", "lte", "gt", "gte", "in"}


def _cached_page(runtime: Any, actor: Actor, ent: EntityDef, q: ListQuery) -> tuple[Select[Any], dict[str, Any]] | None:
    """The first-page statement for common list shapes, built once and reused with bound values."""
    if q.after is not None or q.count or any(_computed(ent, n) for n, _ in q.sort) or \
            (q.search and actor.link is not None):  # a link's scope differs per table: searched the long way
        return None
    for name, op, _ in q.filters:
        f = ent.fields.get(name)
        if "." in name or op not in _CACHEABLE_OPS or (f is not None and not f.ft.cached_filter):
            return None
    shape = (permissions.filter_shape(actor, ent), tuple((n, o) for n, o, _ in q.filters), tuple(q.sort),
             bool(q.search))
    cache = runtime.statements.setdefault((ent.key, "list_pages"), {})
    stmt = cache.get(shape)
    table = runtime.tables.for_entity(ent)
    if stmt is None:
        stmt = select(table)
        flt = permissions.read_filter(actor, ent, table, runtime.sql)
        if flt is not None:
            stmt = stmt.where(flt)
        for i, (name, op, _) in enumerate(q.filters):
            col = table.c[name]
            if op == "in":
                stmt = stmt.where(col.in_(bindparam(f"jig_f{i}", expanding=True)))
            else:
                stmt = stmt.where(_OPS[op](col, bindparam(f"jig_f{i}", type_=col.type)))
        found = search.condition(runtime, actor, ent, table, None) if q.search else None
        if found is not None:  # the patterns are bound (search.bound_params)
            stmt = stmt.where(found)
        stmt = stmt.order_by(*_order({n: table.c[n] for n, _ in q.sort}, q.sort)).limit(
            bindparam("jig_limit", type_=Integer()))
        if len(cache) < 200:
            cache[shape] = stmt
    params = permissions.filter_params(actor, ent)
    params.update({f"jig_f{i}": value for i, (_, _, value) in enumerate(q.filters)})
    params["jig_limit"] = q.limit + 1
    if q.search:
        params.update(search.bound_params(runtime, actor, ent, q.search))
    return stmt, params


_OPS: dict[str, Any] = {"eq": lambda c, v: c == v, "ne": lambda c, v: c != v, "lt": lambda c, v: c < v,
                        "lte": lambda c, v: c <= v, "gt": lambda c, v: c > v, "gte": lambda c, v: c >= v}


def _order(cols: dict[str, Any], sort: list[tuple[str, bool]]) -> list[Any]:
    """ORDER BY with empty values first (ascending) / last (descending) on every database.

    Columns that are never empty get no NULLS clause, so PostgreSQL can read their index
    backwards for a descending sort instead of sorting the whole table.
    """
    out = []
    for n, desc in sort:
        col = cols[n]
        if getattr(col, "nullable", True) is False:
            out.append(col.desc() if desc else col.asc())
        else:
            out.append(col.desc().nulls_last() if desc else col.asc().nulls_first())
    return out


def run(runtime: Any, actor: Actor, ent: EntityDef, q: ListQuery) -> dict[str, Any]:
    snapshot = q.count or _reads_more(ent)
    cached = _cached_page(runtime, actor, ent, q)
    if cached is not None:
        with runtime.db.read(snapshot=snapshot) as conn:
            rows = _dicts(conn.execute(cached[0], cached[1]))
            return _page(runtime, conn, actor, ent, q, rows, {})
    stmt, table = build(runtime, actor, ent, q)
    params = permissions.filter_params(actor, ent)
    result: dict[str, Any] = {}
    with runtime.db.read(snapshot=snapshot) as conn:
        if q.count:
            result["count"] = conn.execute(select(func.count()).select_from(stmt.subquery()), params).scalar_one()
        cols = _sort_columns(runtime, ent, table, q.sort)
        page = stmt.add_columns(*(cols[n].label(SORT_KEY.format(n)) for n, _ in q.sort if _computed(ent, n)))
        if q.after is not None:
            page = page.where(_after(cols, q.sort, q.after))
        rows = _dicts(conn.execute(page.order_by(*_order(cols, q.sort)).limit(q.limit + 1), params))
        return _page(runtime, conn, actor, ent, q, rows, result)


def _dicts(result: Any) -> list[dict[str, Any]]:
    """The rows as plain dicts: serialising reads each column once, and a dict lookup is far cheaper than a
    RowMapping's (a page of 20 rows x 20 columns is 400 lookups)."""
    keys = list(result.keys())
    return [dict(zip(keys, r, strict=True)) for r in result.all()]


def _reads_more(ent: EntityDef) -> bool:
    """Whether a page reads more than its one SELECT (child rows, or computed fields following links), so
    that its statements need one snapshot; decided once per entity."""
    if "list_reads_more" not in ent.extra:
        ent.extra["list_reads_more"] = bool(ent.child_fields()) or any(
            f.expr is None or any(len(p) > 1 and p[0] != "user" for p in f.expr.paths)
            for f in ent.computed_fields())
    return bool(ent.extra["list_reads_more"])


def _page(runtime: Any, conn: Any, actor: Actor, ent: EntityDef, q: ListQuery, rows: Any,
          result: dict[str, Any]) -> dict[str, Any]:
    """Serialise one page of rows (with child rows and computed values) and its cursor."""
    more = len(rows) > q.limit
    rows = rows[:q.limit]
    records = runtime.records
    if json_plan(ent) is not None:  # plain rows serialise straight from the result
        items = [records.serialize(ent, r) for r in rows]
    else:
        children = _children(runtime, conn, ent, [r["id"] for r in rows])
        user, loader = actor.context(), row_loader(conn, runtime.tables)  # once per page, not per row
        items = []
        for r in rows:  # fresh dicts (_dicts): the child rows go straight in
            for fname, by_parent in children.items():
                r[fname] = by_parent.get(r["id"], [])
            items.append(records.serialize(ent, RecordContext(ent, r, user, loader)))
    result["items"] = items
    result["next"] = _cursor(rows[-1], q.sort) if more and rows else None
    return result


def _children(runtime: Any, conn: Any, ent: EntityDef, ids: list[int]) -> dict[str, dict[int, list[dict[str, Any]]]]:
    out: dict[str, dict[int, list[dict[str, Any]]]] = {}
    if not ids:
        return out
    for f in ent.child_fields():
        assert f.child is not None
        ct = runtime.tables.for_entity(f.child)
        grouped: dict[int, list[dict[str, Any]]] = {}
        for row in conn.execute(select(ct).where(ct.c.parent_id.in_(ids)).order_by(ct.c.parent_id, ct.c.idx)).mappings():
            grouped.setdefault(row["parent_id"], []).append({k: v for k, v in row.items() if k not in ("parent_id", "idx")})
        out[f.name] = grouped
    return out


def _cursor(row: Any, sort: list[tuple[str, bool]]) -> str:
    values = [_sort_value(row[SORT_KEY.format(name)]) if SORT_KEY.format(name) in row else to_json(row[name])
              for name, _ in sort]
    raw = json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _sort_value(v: Any) -> Any:
    """A computed sort value as a cursor carries it: as text (a database may answer a number as a float)."""
    if v is None or isinstance(v, (str, bool)):
        return v
    return str(Decimal(repr(v)) if isinstance(v, float) else v)


def _after(cols: dict[str, Any], sort: list[tuple[str, bool]], values: list[Any]) -> ColumnElement[bool]:
    """Rows strictly after ``values`` (typed, one per sort column) in the sort order (empty values smallest)."""
    typed = values  # typed per column by _read_cursor

    def after(i: int) -> ColumnElement[bool]:
        name, desc = sort[i]
        col, v = cols[name], typed[i]
        if v is None:
            strictly = false() if desc else col.is_not(None)
            equal = col.is_(None)
        else:
            strictly = or_(col < v, col.is_(None)) if desc else col > v
            equal = col == v
        if i == len(sort) - 1:
            return strictly
        return or_(strictly, and_(equal, after(i + 1)))

    return after(0) if sort else true()
