"""Turning record values into what pages show, and JSON records back into typed contexts."""

from __future__ import annotations

from typing import Any

from runtime.auth import Actor
from runtime.context import RecordContext, row_loader
from runtime.errors import FieldErrors
from runtime.evaluate import EvaluationError, holds
from runtime.fieldtypes import to_json
from runtime.limits import LimitExceeded
from runtime.model import EntityDef, FieldDef, pick
from runtime.validation import coerce_input

from . import reading
from .dashboards import _ftype, column_label

SYSTEM_KEYS = ("id", "name", "state", "version", "created_at", "created_by", "updated_at", "updated_by")


def typed(ent: EntityDef, record: dict[str, Any], lang: str = "zh") -> dict[str, Any]:
    """Typed values from a record's JSON form (the API's); bad values are dropped."""
    data = {k: v for k, v in record.items() if k in ent.fields and ent.fields[k].type != "computed"}
    values = coerce_input(ent, data, FieldErrors(), lang)
    for k in SYSTEM_KEYS:
        if k in record and k not in ent.fields:
            values[k] = record[k]
    return values


def context(rt: Any, conn: Any, actor: Actor, ent: EntityDef, values: dict[str, Any]) -> RecordContext:
    return RecordContext(ent, values, actor.context(), row_loader(conn, rt.tables))


def field_states(ent: EntityDef, ctx: RecordContext) -> dict[str, Any]:
    """What the form shows for each field and section now: the same rules the server validates with."""
    def cond(expr: Any) -> bool | None:
        try:
            return holds(expr, ctx)
        except (EvaluationError, LimitExceeded):
            return None  # shown as unknown; saving answers the refusal with a 422

    fields = {}
    for f in ent.fields.values():
        fields[f.name] = {
            "visible": f.visible is None or cond(f.visible) is not False,
            "required": bool(f.required or (f.required_if is not None and cond(f.required_if) is True)),
            "readonly": bool(f.readonly or f.type == "computed" or (f.readonly_if is not None and cond(f.readonly_if) is True)),
        }
        if f.type == "computed":
            try:
                fields[f.name]["value"] = to_json(ctx[f.name])
            except Exception:  # noqa: BLE001 - a computed value that cannot be computed shows empty
                fields[f.name]["value"] = None
    sections = []
    for tab in ent.layout:
        for sec in tab.sections:
            sections.append(sec.visible is None or cond(sec.visible) is not False)
    return {"fields": fields, "sections": sections}


def has_dynamic_rules(ent: EntityDef) -> bool:
    return any(f.visible is not None or f.required_if is not None or f.readonly_if is not None or f.type == "computed"
               for f in ent.fields.values()) or any(s.visible is not None for t in ent.layout for s in t.sections)


def cell(rt: Any, ent: EntityDef, name: str, value: Any, lang: str, links: dict[str, dict[Any, str]]) -> dict[str, Any]:
    """{text, badge, key} for one list cell."""
    if value is None or value == [] or value == "":
        return {"text": "", "badge": None}
    if name == "state" and ent.workflow:
        st = ent.workflow.states.get(value)
        return {"text": pick(st.label, lang) if st else str(value), "badge": st.color if st else "grey"}
    f = ent.fields.get(name)
    ftype = f.ft if f is not None else _ftype(ent, name)
    if ftype is None:
        return {"text": str(value), "badge": None}
    out = ftype.cell(f, value, lang)  # the type renders its value (runtime.fieldtypes)
    if name in links:  # a link: the linked record's title
        out["text"] = links[name].get(value, out["text"])
    return out


def link_maps(rt: Any, ent: EntityDef, records: list[dict[str, Any]], columns: list[str], lang: str) -> dict[str, dict[Any, str]]:
    """What links and users in ``columns`` show: "C001 宁波精密", display names; one query per column."""
    out: dict[str, dict[Any, str]] = {}
    for c in columns:
        f = ent.fields.get(c)
        if f is not None and f.type == "link" and f.to:
            target = ent.sibling(f.to)
            if target is not None:
                out[c] = reading.link_names(rt, target, [r.get(c) for r in records])
        elif reading.is_user_column(ent, c):
            out[c] = reading.user_names(rt, [r.get(c) for r in records])
    return out


def label_of(ent: EntityDef, name: str, lang: str) -> str:
    return column_label(ent, name, lang)


def placed_fields(ent: EntityDef) -> set[str]:
    return {n for t in ent.layout for s in t.sections for col in s.columns for n in col}


def input_value(f: FieldDef, value: Any) -> Any:
    """The value an <input> holds for a JSON value."""
    if value is None:
        return ""
    return f.ft.input_value(f, value)
