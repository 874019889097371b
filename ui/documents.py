"""The ``documents:`` section: printable documents of a record (外发单, 送货单, 工序流转卡).

A document is data, not a template: it names its entity, the sections of fields printed as a
label/value grid, an optional table (one of the record's child tables, or the records of another
entity that link to it, e.g. a work order's operations, with a QR per row from one of the app's
shared links), a QR code for the record (its page, or one of its shared links), signature lines and a
closing note. The company header (name, address, logo) comes from the instance settings, so every
app prints under one letterhead. ``jig check`` reports unknown entities, fields and links with hints.

::

    documents:
      dispatch_note:
        label: {zh: 外发单, en: Dispatch Note}
        entity: batch
        sections:
          - {label: {zh: 外发信息, en: Shipment}, fields: [name, partner, process, quantity, ship_date]}
        signatures: [{zh: 发货人, en: Shipped by}, {zh: 外协厂签收, en: Received by}]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runtime.compiler import CompileContext, label
from runtime.expressions import suggest
from runtime.model import AppDef, EntityDef, Label

IDENT = r"^[a-z][a-z0-9_]{0,47}$"
SYSTEM_FIELDS = ("name", "state", "created_at", "updated_at", "created_by", "updated_by")
PAPERS = ("a4", "a5")


@dataclass
class DocTable:
    source: str                  # a child-table field of the entity, or "entity.link"
    columns: list[str]
    label: Label | None = None
    sort: str | None = None
    qr: str | None = None        # a shared link on the rows' entity: one QR per row


@dataclass
class DocumentDef:
    name: str
    app: str
    entity: str
    label: Label
    sections: list[tuple[Label | None, list[str]]] = field(default_factory=list)
    table: DocTable | None = None
    qr: str | None = "record"    # "record" (the record's page), a shared link's name, or None
    signatures: list[Label] = field(default_factory=list)
    note: Label | None = None
    paper: str = "a4"


def schema_sections() -> dict[str, dict[str, Any]]:
    return {"documents": {
        "type": "object",
        "description": "Printable documents of a record: sections of fields, a table, a QR code, signatures.",
        "propertyNames": {"pattern": IDENT},
        "additionalProperties": {"$ref": "#/$defs/document"},
    }}


def schema_defs() -> dict[str, dict[str, Any]]:
    ident = {"type": "string", "pattern": IDENT}
    names = {"type": "array", "items": ident, "minItems": 1, "maxItems": 40}
    return {"document": {
        "type": "object",
        "required": ["entity", "label"],
        "additionalProperties": False,
        "properties": {
            "label": {"$ref": "#/$defs/label"},
            "entity": {**ident, "description": "The entity whose records this document prints."},
            "sections": {"type": "array", "maxItems": 12, "items": {"anyOf": [{
                "type": "object", "required": ["fields"], "additionalProperties": False,
                "properties": {"label": {"$ref": "#/$defs/label"}, "fields": names}}, {
                # a section as its label holding its fields: - 外发信息 | Shipment: [name, partner]
                "type": "object", "minProperties": 1, "maxProperties": 1,
                "propertyNames": {"not": {"enum": ["label", "fields"]}}, "additionalProperties": names}]}},
            "table": {"type": "object", "required": ["from", "columns"], "additionalProperties": False,
                      "properties": {
                          "from": {"type": "string", "pattern": r"^[a-z][a-z0-9_]{0,47}(\.[a-z][a-z0-9_]{0,47})?$",
                                   "description": "A child table of the entity, or entity.link (records linking here)."},
                          "label": {"$ref": "#/$defs/label"},
                          "columns": names,
                          "sort": {"type": "string", "pattern": r"^-?[a-z][a-z0-9_]{0,47}$"},
                          "qr": {**ident, "description": "A shared link on the rows: one QR code per row."}}},
            "qr": {"oneOf": [{"type": "string", "pattern": IDENT}, {"type": "boolean", "enum": [False]}],
                   "description": "record (the record's page, the default), a shared link's name, or false."},
            "signatures": {"type": "array", "maxItems": 6, "items": {"$ref": "#/$defs/label"}},
            "note": {"$ref": "#/$defs/label"},
            "paper": {"enum": list(PAPERS)},
        },
    }}


def _label(value: Any) -> Label:
    return label(value, str(value))  # {zh, en}, "zh | en" or one text for both


def _fields(ctx: CompileContext, ent: EntityDef, names: list[Any], path: tuple[Any, ...]) -> list[str]:
    out = []
    for i, f in enumerate(names):
        if f in ent.fields or f in SYSTEM_FIELDS:
            out.append(f)
        else:
            ctx.error((*path, i), f"unknown field '{f}' of '{ent.name}'", suggest(str(f), list(ent.fields)))
    return out


def _link_names(app: AppDef) -> dict[str, str]:
    """Shared links of the app by name -> the entity they are on (read from the source: links compile later)."""
    raw = app.raw.get("links")
    out = {}
    for name, spec in (raw.items() if isinstance(raw, dict) else []):
        if isinstance(spec, dict) and isinstance(spec.get("entity"), str):
            out[name] = str(spec.get("on") or spec["entity"])
    return out


def table_source(app: AppDef, ent: EntityDef, source: str) -> tuple[EntityDef, str | None] | None:
    """(the rows' entity, the linking field or None for a child table) of a table's ``from``."""
    if "." in source:
        other, link = source.split(".", 1)
        o = app.entities.get(other)
        f = o.fields.get(link) if o else None
        if o is None or f is None or f.type != "link" or f.to != ent.name:
            return None
        return o, link
    f = ent.fields.get(source)
    if f is None or f.type != "table" or f.child is None:
        return None
    return f.child, None


def compile_documents(app: AppDef, ctx: CompileContext) -> dict[str, DocumentDef]:
    raw = app.raw.get("documents")
    out: dict[str, DocumentDef] = {}
    links = _link_names(app)
    for name, spec in (raw.items() if isinstance(raw, dict) else []):
        path = ("documents", name)
        if not isinstance(spec, dict) or not isinstance(spec.get("entity"), str):
            continue
        ent = app.entities.get(spec["entity"])
        if ent is None:
            ctx.error((*path, "entity"), f"unknown entity '{spec['entity']}'", suggest(spec["entity"], list(app.entities)))
            continue
        doc = DocumentDef(name=name, app=app.name, entity=ent.name, label=_label(spec.get("label") or name),
                          signatures=[_label(s) for s in spec.get("signatures") or []],
                          note=_label(spec["note"]) if spec.get("note") else None, paper=spec.get("paper", "a4"))
        for i, sec in enumerate(spec.get("sections") or []):
            if isinstance(sec, dict) and len(sec) == 1 and not {"label", "fields"} & set(sec):
                (lab, names), = sec.items()  # - 外发信息 | Shipment: [name, partner] (label: fields)
                doc.sections.append((_label(lab), _fields(ctx, ent, names or [], (*path, "sections", i, lab))))
            elif isinstance(sec, dict):
                doc.sections.append((_label(sec["label"]) if sec.get("label") else None,
                                     _fields(ctx, ent, sec.get("fields") or [], (*path, "sections", i, "fields"))))
        if not doc.sections:
            doc.sections.append((None, [c for c in ent.list_columns if c != "state"]))
        qr = spec.get("qr", "record")
        if qr not in ("record", False) and links.get(qr) != ent.name:
            known = [n for n, on in links.items() if on == ent.name]
            ctx.error((*path, "qr"), f"'{qr}' is not a shared link on '{ent.name}'",
                      "use record (the record's page) or false" + (", or one of: " + ", ".join(known) if known else ""))
        doc.qr = qr or None
        if isinstance(spec.get("table"), dict):
            doc.table = _table(app, ctx, ent, spec["table"], (*path, "table"), links)
        out[name] = doc
    return out


def _table(app: AppDef, ctx: CompileContext, ent: EntityDef, t: dict[str, Any], path: tuple[Any, ...],
           links: dict[str, str]) -> DocTable | None:
    src = table_source(app, ent, t["from"])
    if src is None:
        ctx.error((*path, "from"), f"'{t['from']}' is neither a child table of '{ent.name}' nor entity.link to it",
                  "e.g. lines, or operation.work_order")
        return None
    rows_ent, _ = src
    cols = _fields(ctx, rows_ent, t.get("columns") or [], (*path, "columns"))
    qr = t.get("qr")
    if qr is not None and links.get(qr) != rows_ent.name:
        ctx.error((*path, "qr"), f"'{qr}' is not a shared link on '{rows_ent.name}'")
        qr = None
    sort = t.get("sort")
    if sort and sort.lstrip("-") not in rows_ent.fields and sort.lstrip("-") not in ("id", "created_at"):
        ctx.error((*path, "sort"), f"unknown field '{sort}' of '{rows_ent.name}'")
        sort = None
    return DocTable(source=t["from"], columns=cols, label=_label(t["label"]) if t.get("label") else None,
                    sort=sort, qr=qr)


def documents_of(app: AppDef, entity: str) -> list[DocumentDef]:
    return [d for d in (app.sections.get("documents") or {}).values() if d.entity == entity]
