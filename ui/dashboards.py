"""Dashboards: a ``dashboards:`` section in app definitions, checked at load, computed in SQL.

```yaml
dashboards:
  board:
    title: {zh: 外发看板, en: Outsourcing Board}
    refresh: 60                      # seconds between refreshes of the big-screen board
    widgets:
      - type: number                 # number | bar | line | pie | table | board
        title: {zh: 超期外发单, en: Overdue}
        entity: batch
        filter: "state in ('shipped', 'processing') and expected_return < today()"
        value: count                 # or {sum|avg|min|max: <expression>}
      - type: board                  # one column per group, one coloured card per record
        entity: batch
        group_by: partner
        columns: [name, product_no, expected_return]
        colors:                      # first match wins
          - {color: red, when: "expected_return < today()"}
          - {color: yellow, when: "expected_return <= add_days(today(), 1)"}
          - {color: green, when: "true"}
```

Every entity, field and expression is checked when the app loads, with
``file:line:col`` errors like the core language. Filters and values compile
to SQL (``runtime.sqlcompile``) so the database does the counting; colour
rules run per shown row with ``runtime.evaluate``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Float, Select, cast, func, select
from sqlalchemy.exc import DBAPIError

from runtime import compact, indexplan, inmerge, kept, permissions
from runtime.auth import Actor
from runtime.compiler import CompileContext, label
from runtime.context import RecordContext, row_loader
from runtime.evaluate import EvaluationError, holds
from runtime.expressions import Expr, suggest
from runtime.fieldtypes import BUILTIN, FieldType, to_json
from runtime.model import SYSTEM_COLUMNS, AppDef, EntityDef, Label, pick

log = logging.getLogger("jig.dashboards")
WIDGET_TYPES = ["number", "bar", "line", "pie", "table", "board"]
GROUPED = ("bar", "line", "pie", "board")
ROWS = ("table", "board")
AGGREGATES = ("sum", "avg", "min", "max")
COLORS = ["grey", "blue", "green", "yellow", "orange", "red", "purple", "cyan"]
NUMERIC_TYPES = ("int", "dec", "any")
_MERGEABLE = ("date", "datetime", "integer", "decimal")  # sort kinds Python orders as the database does


@dataclass
class Widget:
    type: str
    title: Label
    entity: EntityDef
    filter: Expr | None = None
    aggregate: str = "count"  # count | sum | avg | min | max
    value: Expr | None = None
    group_by: str | None = None
    columns: list[str] = field(default_factory=list)
    sort: list[tuple[str, bool]] = field(default_factory=list)
    limit: int = 20
    colors: list[tuple[str, Expr]] = field(default_factory=list)
    unit: Label | None = None
    decimals: int = 1
    width: int = 1
    roles: frozenset[str] | None = None  # who may see it (besides reading its entity); None: everyone who reads
    kept: kept.Request | None = None  # counted from a kept table (runtime.kept) when it can be


@dataclass
class Dashboard:
    app: str
    name: str
    title: Label
    widgets: list[Widget]
    refresh: int = 60


# ---------------------------------------------------------------- schema

def _label_ref() -> dict[str, Any]:
    return {"$ref": "#/$defs/label"}


def schema_sections() -> dict[str, dict[str, Any]]:
    return {"dashboards": {
        "type": "object",
        "description": "Dashboards of this app: number tiles, charts, tables and boards computed in SQL.",
        "propertyNames": {"pattern": r"^[a-z][a-z0-9_]{0,47}$"},
        "additionalProperties": {"$ref": "#/$defs/dashboard"},
    }}


def schema_defs() -> dict[str, dict[str, Any]]:
    expr = {"type": "string", "minLength": 1, "maxLength": 2000}
    ident = {"type": "string", "pattern": r"^[a-z][a-z0-9_]{0,47}$"}
    agg = {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
           "properties": {a: expr for a in AGGREGATES}}
    widget = {
        "type": "object",
        "required": ["entity"],
        # the type as type: number, or as the key holding the title (number: 在外 | Out; runtime/compact.py)
        "anyOf": [{"required": ["type"]}, *({"required": [t]} for t in WIDGET_TYPES)],
        "additionalProperties": False,
        "properties": {
            "type": {"enum": WIDGET_TYPES, "description": "number tile, bar/line/pie chart, table or board."},
            **{t: {**_label_ref(), "description": f"A {t} widget with this title (instead of type: {t}, title: ...)."}
               for t in WIDGET_TYPES},
            "title": _label_ref(),
            "entity": {**ident, "description": "The entity counted or listed."},
            "filter": {**expr, "description": "Condition on the entity's records (compiled to SQL)."},
            "value": {"oneOf": [{"const": "count"}, agg],
                      "description": "count, or {sum|avg|min|max: expression}."},
            "group_by": {**ident, "description": "Field to group by (charts and boards)."},
            "columns": {"type": "array", "items": ident, "minItems": 1, "maxItems": 12},
            "sort": {"type": "string", "minLength": 1},
            "limit": {"type": "integer", "minimum": 1, "maximum": 200},
            "colors": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["color", "when"], "additionalProperties": False,
                "properties": {"color": {"enum": COLORS}, "when": expr}}},
            "unit": _label_ref(),
            "decimals": {"type": "integer", "minimum": 0, "maximum": 6},
            "width": {"type": "integer", "minimum": 1, "maximum": 4},
            "roles": {"type": "array", "minItems": 1, "uniqueItems": True, "items": ident,
                      "description": "Only users with one of these roles see the widget (admins always do)."},
        },
    }
    return {
        "dashboard": {
            "type": "object",
            "required": ["widgets"],
            "additionalProperties": False,
            "properties": {
                "title": _label_ref(),
                "refresh": {"type": "integer", "minimum": 5, "maximum": 3600,
                            "description": "Seconds between refreshes of the big-screen board."},
                "widgets": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/dashboard_widget"}},
            },
        },
        "dashboard_widget": widget,
    }


# ---------------------------------------------------------------- compile

def _kind(ent: EntityDef, name: str) -> str | None:
    """The type of a field or system column, or None when the entity has no such column."""
    if name in ent.fields:
        return ent.fields[name].type
    if name == "state":
        return "select" if ent.workflow else None
    if name == "name":
        return "text" if ent.naming else None
    if name in SYSTEM_COLUMNS:
        return {"id": "integer", "version": "integer", "created_at": "datetime", "updated_at": "datetime"}.get(name, "user")
    return None


def _ftype(ent: EntityDef, name: str) -> FieldType | None:
    """The field type of a field or system column (runtime.fieldtypes), or None when there is no such column."""
    f = ent.fields.get(name)
    if f is not None:
        return f.ft
    kind = _kind(ent, name)
    return BUILTIN[kind] if kind is not None else None


def _columns_of(ent: EntityDef) -> list[str]:
    return [c for c in SYSTEM_COLUMNS if _kind(ent, c)] + list(ent.fields)


def compile_dashboards(app: AppDef, ctx: CompileContext) -> dict[str, Dashboard]:
    raw = app.raw.get("dashboards") or {}
    out: dict[str, Dashboard] = {}
    if not isinstance(raw, dict):
        return out
    for name, spec in raw.items():
        if not isinstance(spec, dict):
            continue
        path = ("dashboards", name)
        widgets = []
        for i, w in enumerate(spec.get("widgets") or []):
            if isinstance(w, dict):
                widget = _widget(app, ctx, w, (*path, "widgets", i))
                if widget is not None:
                    widgets.append(widget)
        refresh = spec.get("refresh", 60)
        out[name] = Dashboard(app.name, name, label(spec.get("title"), name), widgets,
                              refresh if isinstance(refresh, int) else 60)
    return out


def _widget(app: AppDef, ctx: CompileContext, w: dict[str, Any], path: tuple[Any, ...]) -> Widget | None:
    compact.kind_as_key(w, WIDGET_TYPES, path, ctx, "title", "a widget")  # number: 在外 | Out -> type, title
    wtype = w.get("type")
    ent_name = w.get("entity")
    if wtype not in WIDGET_TYPES or not isinstance(ent_name, str):
        return None  # the schema reported it
    ent = app.entities.get(ent_name)
    if ent is None:
        ctx.error((*path, "entity"), f"unknown entity '{ent_name}'", suggest(ent_name, app.entities))
        return None
    assert ent.scope is not None
    widget = Widget(type=wtype, title=label(w.get("title"), pick(ent.title, "en")), entity=ent,
                    limit=int(w.get("limit", 20)), unit=label(w["unit"], "") if "unit" in w else None,
                    decimals=int(w.get("decimals", 1)), width=int(w.get("width", 2 if wtype in ROWS else 1)))
    if "filter" in w:
        widget.filter = ctx.expr(w["filter"], ent.scope, (*path, "filter"), want="bool")
    if isinstance(w.get("roles"), list):
        for j, role in enumerate(w["roles"]):
            if role not in app.roles:
                ctx.error((*path, "roles", j), f"unknown role '{role}'", suggest(str(role), app.roles))
        widget.roles = frozenset(str(r) for r in w["roles"])
    value = w.get("value", "count")
    if isinstance(value, dict) and len(value) == 1:
        agg, source = next(iter(value.items()))
        if agg in AGGREGATES:
            widget.aggregate = agg
            widget.value = ctx.expr(source, ent.scope, (*path, "value", agg))
            if widget.value is not None and widget.value.type not in NUMERIC_TYPES:
                ctx.error((*path, "value", agg), f"'{agg}' needs a number, but this expression gives a {widget.value.type}",
                          "use a number field or an expression such as days_between(ship_date, actual_return)")
    if wtype in ("table", "board") and "value" in w:
        ctx.error((*path, "value"), f"a {wtype} lists records; 'value' is for number tiles and charts",
                  "remove 'value' or use type: number / bar / line / pie")
    group_by = w.get("group_by")
    if wtype in GROUPED and group_by is None:
        ctx.error((*path, "type"), f"a {wtype} needs group_by", "add group_by: <field>, e.g. group_by: state", key=False)
    elif group_by is not None:
        gtype = _ftype(ent, group_by)
        if gtype is None:
            ctx.error((*path, "group_by"), f"unknown field '{group_by}' in {ent_name}", suggest(group_by, _columns_of(ent)))
        elif not gtype.groupable:
            ctx.error((*path, "group_by"), f"cannot group by a {_kind(ent, group_by)} field",
                      "group by a text, select, link, user, boolean, date or integer field")
        elif wtype not in GROUPED:
            ctx.error((*path, "group_by"), f"a {wtype} cannot be grouped", "group_by is for bar, line, pie and board")
        else:
            widget.group_by = group_by
    for j, col in enumerate(w.get("columns") or []):
        kind = _kind(ent, col)
        if kind is None:
            ctx.error((*path, "columns", j), f"unknown field '{col}' in {ent_name}", suggest(col, _columns_of(ent)))
        elif kind == "table":
            ctx.error((*path, "columns", j), f"'{col}' is a child table and cannot be a column", "")
        else:
            widget.columns.append(col)
    if wtype in ROWS and not widget.columns and "columns" not in w:
        widget.columns = [c for c in (ent.list_columns or list(ent.fields))
                          if _kind(ent, c) is not None and _kind(ent, c) != "table"][:5]
    if "sort" in w:
        for part in str(w["sort"]).split(","):
            part = part.strip()
            col = part.lstrip("-+")
            stype = _ftype(ent, col)
            computed = col in ent.fields and ent.fields[col].type == "computed"  # compiled to SQL (_sort_key)
            if stype is None or not (stype.sortable or computed):
                ctx.error((*path, "sort"), f"cannot sort by '{col}'",
                          suggest(col, [c for c in _columns_of(ent) if getattr(_ftype(ent, c), "stored", False)]))
            else:
                widget.sort.append((col, part.startswith("-")))
    elif wtype in ROWS:
        widget.sort = [(c.lstrip("-"), c.startswith("-")) for c in (ent.list_sort or "-id").split(",") if c.strip()]
    for j, rule in enumerate(w.get("colors") or []):
        if not isinstance(rule, dict) or "when" not in rule:
            continue
        if wtype not in ROWS:
            ctx.error((*path, "colors"), f"colors apply to rows of a table or board, not to a {wtype}", "")
            break
        e = ctx.expr(rule["when"], ent.scope, (*path, "colors", j, "when"), want="bool")
        if e is not None:
            widget.colors.append((str(rule.get("color", "grey")), e))
    # an index for the widget's query: filter, then group-by / sort, then what it reads (runtime.indexplan)
    indexplan.plan(ent, indexplan.condition_index(ent, widget.filter, group_by=widget.group_by,
                                                  sort=[c for c, _ in widget.sort], reads=[widget.value]))
    if wtype not in ROWS:  # counts and sums kept by the database in the writing transaction
        widget.kept = kept.plan(ent, widget.filter, widget.group_by, widget.aggregate, widget.value)
    return widget


# ---------------------------------------------------------------- compute

def _base(rt: Any, actor: Actor, w: Widget, stmt: Select[Any]) -> tuple[Select[Any], dict[str, Any]]:
    table = rt.tables.for_entity(w.entity)
    flt = permissions.read_filter(actor, w.entity, table, rt.sql)
    if flt is not None:
        stmt = stmt.where(flt)
    if w.filter is not None:
        stmt = stmt.where(rt.sql.condition(w.filter, table))
    params = permissions.filter_params(actor, w.entity)
    assert w.entity.scope is not None
    params.update(rt.sql.user_params(w.entity.scope, actor.context()))
    return stmt, params


def _measure(rt: Any, w: Widget) -> Any:
    table = rt.tables.for_entity(w.entity)
    if w.aggregate == "count" or w.value is None:
        return func.count()
    v = rt.sql.value(w.value, table)
    if w.aggregate == "avg":
        return func.avg(cast(v, Float))
    return getattr(func, w.aggregate)(v)


def _number(v: Any, decimals: int) -> float | int | None:
    if v is None:
        return None
    f = float(v)
    return int(f) if f.is_integer() else round(f, decimals)


def display_values(rt: Any, ent: EntityDef, name: str, values: list[Any], lang: str) -> dict[Any, str]:
    """Text shown for raw stored values of one column (option and state labels, link titles)."""
    out: dict[Any, str] = {}
    if name == "state" and ent.workflow:
        for v in values:
            st = ent.workflow.states.get(v)
            out[v] = pick(st.label, lang) if st else ("" if v is None else str(v))
        return out
    f = ent.fields.get(name)
    if f is not None and f.to:  # a link: the linked records' titles
        return link_titles(rt, rt.apps[ent.app].entities[f.to], [v for v in values if v is not None], lang)
    ftype = _ftype(ent, name) or BUILTIN["text"]
    return {v: "" if v is None else ftype.value_label(f, v, lang) for v in values}


def title_column(ent: EntityDef) -> str:
    tf = ent.title_field
    if tf and (tf == "name" or (tf in ent.fields and ent.fields[tf].stored)):
        return tf
    return "name" if ent.naming else "id"


def link_titles(rt: Any, target: EntityDef, ids: list[Any], lang: str, actor: Actor | None = None) -> dict[Any, str]:
    """Titles of linked records; with ``actor``, only of records that actor may read (others show ``#id``).

    Pass the actor whenever the ids did not come from a record the actor may read (a filter in the
    URL, old values in history): a title is data too.
    """
    ids = sorted({int(i) for i in ids if i is not None})
    if actor is not None:
        ids_shown = rt.records.visible_ids(actor, target, ids)
        return {**{i: f"#{i}" for i in ids}, **link_titles(rt, target, sorted(ids_shown), lang)}
    if not ids:
        return {}
    table = rt.tables.for_entity(target)
    col = title_column(target)
    with rt.db.read(snapshot=False) as conn:
        rows = conn.execute(select(table.c.id, table.c[col]).where(table.c.id.in_(ids))).all()
    found = {r[0]: ("" if r[1] is None else str(r[1])) or f"#{r[0]}" for r in rows}
    return {i: found.get(i, f"#{i}") for i in ids}


def _state_color(ent: EntityDef, name: str, value: Any) -> str | None:
    if name == "state" and ent.workflow and value in ent.workflow.states:
        return ent.workflow.states[value].color
    f = ent.fields.get(name)
    if f is not None and f.type == "select":
        for o in f.options:
            if o.value == value:
                return o.color
    return None


def compute_widget(rt: Any, actor: Actor, w: Widget, lang: str) -> dict[str, Any]:
    table = rt.tables.for_entity(w.entity)
    out: dict[str, Any] = {"type": w.type, "title": pick(w.title, lang), "width": w.width,
                           "unit": pick(w.unit, lang) if w.unit else "", "app": w.entity.app, "entity": w.entity.name}
    # counts, and sums/min/max of whole numbers, are whole: chart axes step by 1, never 0.5 of a batch
    out["integer"] = w.aggregate == "count" or (w.aggregate in ("sum", "min", "max")
                                                and w.value is not None and w.value.type == "int")
    if w.kept is not None and permissions.read_filter(actor, w.entity, table, rt.sql) is None:
        try:
            return _from_kept(rt, actor, w, out, lang)
        except DBAPIError:  # its table not there yet (a database not migrated): count as before
            log.warning("kept counts %s unreadable; counting per request", w.kept.spec.name, exc_info=True)
    if w.type == "number":
        stmt, params = _base(rt, actor, w, select(_measure(rt, w)).select_from(table))
        with rt.db.read(snapshot=False) as conn:
            out["value"] = _number(conn.execute(stmt, params).scalar(), w.decimals)
        return out
    if w.type in ("bar", "line", "pie"):
        assert w.group_by is not None
        # coalesce(col, NULL) is col, but keeps the planner from walking the whole index of col
        # to group: the filter's index (e.g. on state) finds the few rows far faster.
        col = func.coalesce(table.c[w.group_by], None)
        measure = _measure(rt, w).label("v")
        stmt, params = _base(rt, actor, w, select(col.label("k"), measure).select_from(table))
        order = col.asc() if w.type == "line" or _kind(w.entity, w.group_by) == "date" else measure.desc()
        stmt = stmt.group_by(col).order_by(order).limit(50)
        with rt.db.read(snapshot=False) as conn:
            rows = conn.execute(stmt, params).all()
        labels = display_values(rt, w.entity, w.group_by, [r[0] for r in rows], lang)
        out["series"] = [{"key": to_json(r[0]), "label": labels.get(r[0], "") or "—", "value": _number(r[1], w.decimals),
                          "color": _state_color(w.entity, w.group_by, r[0])} for r in rows]
        return out
    # table / board: rows, coloured by rules
    cols = list(w.columns)
    order = [_sort_key(rt, w, table, c).desc().nulls_last() if d else _sort_key(rt, w, table, c).asc().nulls_first()
             for c, d in w.sort]
    stmt, params = _base(rt, actor, w, select(table))
    limit = w.limit if w.type == "table" else w.limit * 10
    stmt = stmt.order_by(*order, table.c.id.desc()).limit(limit)
    # `state in (a, b) order by date`: one index range per state, merged (runtime.inmerge); sorts by text are
    # left to the database (its collation decides their order)
    split = inmerge.split(w.filter, table) if all(_kind(w.entity, c) in _MERGEABLE for c, _ in w.sort) else None
    with rt.db.read() as conn:
        if split is not None:
            rows = inmerge.first_rows(conn, stmt, table, *split, w.sort, limit, params)
        else:
            rows = [dict(r) for r in conn.execute(stmt, params).mappings()]
        loader = row_loader(conn, rt.tables)
        items = []
        for r in rows:
            rctx = RecordContext(w.entity, r, actor.context(), loader)
            color = None
            for c, e in w.colors:
                try:
                    if holds(e, rctx) is True:
                        color = c
                        break
                except EvaluationError:
                    continue
            values = {c: rctx.get(c) if _kind(w.entity, c) != "computed" else rctx[c] for c in cols}
            items.append((r, values, color))
    shown: dict[str, dict[Any, str]] = {}
    for c in cols + ([w.group_by] if w.group_by else []):
        shown[c] = display_values(rt, w.entity, c, [v[1].get(c, v[0].get(c)) for v in items], lang)
    ent = w.entity
    out["columns"] = [{"name": c, "label": column_label(ent, c, lang)} for c in cols]
    records = []
    for r, values, color in items:
        records.append({"id": r["id"], "color": color,
                        "cells": [{"text": shown[c].get(values[c], ""), "badge": _state_color(ent, c, values[c])}
                                  for c in cols],
                        "group": r.get(w.group_by) if w.group_by else None})
    if w.type == "table":
        out["rows"] = records
        return out
    groups: dict[Any, list[dict[str, Any]]] = {}
    for rec in records:
        groups.setdefault(rec["group"], []).append(rec)
    gl = shown.get(w.group_by or "", {})
    out["groups"] = [{"label": gl.get(k, "") or "—", "cards": v[: w.limit],
                      "counts": {c: sum(1 for x in v if x["color"] == c) for c in COLORS if any(x["color"] == c for x in v)}}
                     for k, v in sorted(groups.items(), key=lambda kv: (gl.get(kv[0], "") or "").lower())]
    return out


def _from_kept(rt: Any, actor: Actor, w: Widget, out: dict[str, Any], lang: str) -> dict[str, Any]:
    """The widget's figures from its kept table (runtime.kept): the same numbers the query would give."""
    assert w.kept is not None and w.entity.scope is not None
    params = rt.sql.user_params(w.entity.scope, actor.context())
    with rt.db.read() as conn:
        rows = kept.answer(conn, rt.tables, rt.sql, w.kept, params)
    def figure(s: Any, c: int) -> Any:
        if w.aggregate == "avg":
            return _number(float(s) / float(c), w.decimals) if c else None
        return _number(s, w.decimals)
    if w.type == "number":
        if not rows:
            out["value"] = 0 if w.aggregate == "count" else None
        else:
            out["value"] = figure(rows[0][1], rows[0][2])
        return out
    values = [(g, figure(s, c)) for g, s, c in rows]
    if w.type == "line" or _kind(w.entity, w.group_by or "") == "date":
        values.sort(key=lambda gv: (gv[0] is not None, gv[0] if gv[0] is not None else 0))
    else:
        values.sort(key=lambda gv: -(gv[1] or 0))
    values = values[:50]
    assert w.group_by is not None
    labels = display_values(rt, w.entity, w.group_by, [g for g, _ in values], lang)
    out["series"] = [{"key": to_json(g), "label": labels.get(g, "") or "—", "value": v,
                      "color": _state_color(w.entity, w.group_by, g)} for g, v in values]
    return out


def column_label(ent: EntityDef, name: str, lang: str) -> str:
    if name in ent.fields:
        return pick(ent.fields[name].label, lang)
    zh = {"id": "编号", "name": "单号", "state": "状态", "version": "版本", "created_at": "创建时间", "created_by": "创建人",
          "updated_at": "更新时间", "updated_by": "更新人"}
    en = {"id": "ID", "name": "Number", "state": "State", "version": "Version", "created_at": "Created",
          "created_by": "Created by", "updated_at": "Updated", "updated_by": "Updated by"}
    return (zh if lang == "zh" else en).get(name, name)


def _sort_key(rt: Any, w: Widget, table: Any, name: str) -> Any:
    """A sort column: a stored column, or a computed field compiled to SQL ("top 10 by % of life used")."""
    f = w.entity.fields.get(name)
    if f is not None and f.type == "computed" and f.expr is not None:
        return rt.sql.value(f.expr, table)
    return table.c[name]


def may_see(actor: Actor, w: Widget) -> bool:
    """The widget is shown to users who may read its entity and, when it names roles, have one of them."""
    if not permissions.may_at_all(actor, w.entity, "read"):
        return False
    return w.roles is None or actor.is_admin or bool(actor.roles & w.roles)


def may_open(actor: Actor, dash: Dashboard) -> bool:
    """A dashboard opens for whoever may see one of its widgets (and shows them those)."""
    return any(may_see(actor, w) for w in dash.widgets)


def compute(rt: Any, actor: Actor, dash: Dashboard, lang: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    widgets = [compute_widget(rt, actor, w, lang) for w in dash.widgets if may_see(actor, w)]
    return {"title": pick(dash.title, lang), "widgets": widgets, "refresh": dash.refresh,
            "ms": round((time.perf_counter() - t0) * 1000, 1)}


__all__ = ["Dashboard", "Widget", "compile_dashboards", "compute", "schema_defs", "schema_sections"]
