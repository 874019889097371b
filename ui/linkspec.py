"""The ``links:`` section: what a shared link (QR code, SMS link) may do.

Each link names an entity and either one record of it (a scan link per
operation, a partner link per batch) or the creation of new records bound to
another record (a repair request from a machine's label). It lists the fields
it shows, the fields it may edit, the transitions it may take, what may be
prefilled (only as a starting value, validated like any input), expiry, use
count, whether the person identifies (a name from a list of users with some
roles, optionally with a PIN, or a typed name) and whether a challenge guards
record creation. ``jig check`` checks all of it with file:line:col and hints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from runtime.compiler import CompileContext, label
from runtime.expressions import suggest
from runtime.model import AppDef, EntityDef, Label

IDENT = r"^[a-z][a-z0-9_]{0,47}$"
DURATION = r"^(never|[1-9][0-9]{0,3}[hd])$"
# widgets a link form cannot offer (runtime.fieldtypes names each type's): a link cannot list records to pick one
UNEDITABLE_WIDGETS = ("computed", "table", "link")


@dataclass
class LinkDef:
    name: str
    app: str
    entity: str                 # the entity read and written
    on: str                     # the entity a link is issued for (its QR sits on that record)
    label: Label
    creates: bool = False
    bind: str | None = None     # for creates: the field set to the record the link was issued for
    show: list[str] = field(default_factory=list)
    edit: list[str] = field(default_factory=list)
    transitions: list[str] = field(default_factory=list)
    prefill: list[str] = field(default_factory=list)
    expires_hours: int | None = 24 * 30
    uses: int | None = None     # None: any number of uses
    identify_roles: list[str] = field(default_factory=list)
    identify_pin: bool = False
    identify_name: bool = False
    challenge: bool = False
    rate_per_minute: int = 30
    max_photos: int = 6

    @property
    def key(self) -> str:
        return f"{self.app}.{self.name}"


def schema_sections() -> dict[str, dict[str, Any]]:
    return {"links": {
        "type": "object",
        "description": "Shared links and QR codes: mobile forms for people without an account.",
        "propertyNames": {"pattern": IDENT},
        "additionalProperties": {"$ref": "#/$defs/link"},
    }}


def schema_defs() -> dict[str, dict[str, Any]]:
    ident = {"type": "string", "pattern": IDENT}
    names = {"type": "array", "items": ident, "uniqueItems": True}
    return {"link": {
        "type": "object",
        "required": ["entity"],
        "additionalProperties": False,
        "properties": {
            "entity": {**ident, "description": "The entity the link reads and writes."},
            "label": {"$ref": "#/$defs/label"},
            "on": {**ident, "description": "The entity whose record carries the link (default: entity)."},
            "creates": {"type": "boolean", "description": "The link creates new records instead of editing one."},
            "bind": {**ident, "description": "For creating links: the link field set to the record the link is on."},
            "show": {**names, "description": "Fields shown on the mobile page."},
            "edit": {**names, "description": "Fields the link may write."},
            "transitions": {**names, "description": "Workflow transitions the link may take."},
            "prefill": {**names, "description": "Editable fields that ?field=value may prefill (never trusted)."},
            "expires": {"type": "string", "pattern": DURATION, "description": "e.g. 12h, 30d or never."},
            "uses": {"oneOf": [{"type": "integer", "minimum": 1, "maximum": 100000}, {"enum": ["many"]}]},
            "identify": {"type": "object", "additionalProperties": False, "properties": {
                "roles": {**names, "description": "Pick a name from the users with these roles."},
                "pin": {"type": "boolean", "description": "The picked user also enters a PIN."},
                "name": {"type": "boolean", "description": "Type a name (partners without accounts)."}}},
            "challenge": {"type": "boolean", "description": "A built-in arithmetic challenge before creating."},
            "rate_per_minute": {"type": "integer", "minimum": 1, "maximum": 600},
            "max_photos": {"type": "integer", "minimum": 1, "maximum": 20},
        },
    }}


def compile_links(app: AppDef, ctx: CompileContext) -> dict[str, LinkDef]:
    raw = app.raw.get("links") or {}
    out: dict[str, LinkDef] = {}
    if not isinstance(raw, dict):
        return out
    for name, spec in raw.items():
        if isinstance(spec, dict) and isinstance(spec.get("entity"), str):
            link = _link(app, ctx, name, spec, ("links", name))
            if link is not None:
                out[name] = link
    return out


def _entity(app: AppDef, ctx: CompileContext, name: str, path: tuple[Any, ...]) -> EntityDef | None:
    ent = app.entities.get(name)
    if ent is None:
        ctx.error(path, f"unknown entity '{name}' in link", suggest(name, list(app.entities)))
    return ent


def _link(app: AppDef, ctx: CompileContext, name: str, spec: dict[str, Any], path: tuple[Any, ...]) -> LinkDef | None:
    ent = _entity(app, ctx, spec["entity"], (*path, "entity"))
    if ent is None:
        return None
    creates = bool(spec.get("creates"))
    on_name = spec.get("on") or ent.name
    on = _entity(app, ctx, on_name, (*path, "on")) if "on" in spec else ent
    if on is None:
        return None
    lbl = spec.get("label")
    link = LinkDef(name=name, app=app.name, entity=ent.name, on=on.name, creates=creates,
                   label=lbl if isinstance(lbl, dict) else label(lbl or name, name))
    for key in ("show", "edit", "prefill"):
        for i, f in enumerate(spec.get(key) or []):
            fd = ent.fields.get(f)
            if fd is None and not (key == "show" and f in ("name", "state")):
                ctx.error((*path, key, i), f"unknown field '{f}' of '{ent.name}'", suggest(f, list(ent.fields)))
                continue
            if key != "show" and fd is not None and (fd.ft.widget in UNEDITABLE_WIDGETS or fd.readonly):
                ctx.error((*path, key, i), f"field '{f}' cannot be written through a link ({fd.type}"
                          f"{', readonly' if fd.readonly else ''})",
                          "list it under show:, or let a transition's set: fill it")
                continue
            getattr(link, key).append(f)
    for i, f in enumerate(link.prefill):
        if f not in link.edit:
            ctx.error((*path, "prefill", i), f"prefilled field '{f}' is not in edit:",
                      "a prefill is only a starting value of an editable field; add it to edit:")
    wf = ent.workflow
    for i, tr in enumerate(spec.get("transitions") or []):
        if creates:
            ctx.error((*path, "transitions", i), "a link that creates records cannot take transitions",
                      "use a second link on the created record for its workflow")
        elif wf is None or tr not in wf.transitions:
            ctx.error((*path, "transitions", i), f"unknown transition '{tr}' of '{ent.name}'",
                      suggest(tr, list(wf.transitions) if wf else []) or "the entity needs a workflow with it")
        else:
            link.transitions.append(tr)
    if creates:
        if on.name != ent.name:
            bind = spec.get("bind")
            bfd = ent.fields.get(bind) if isinstance(bind, str) else None
            if bind is None:
                ctx.error(path, f"a creating link on '{on.name}' needs bind: (the field of '{ent.name}' "
                          f"that points to '{on.name}')", f"e.g. bind: {on.name}")
            elif bfd is None or bfd.type != "link" or bfd.to != on.name:
                ctx.error((*path, "bind"), f"bind: '{bind}' is not a link field of '{ent.name}' to '{on.name}'",
                          suggest(str(bind), [f.name for f in ent.fields.values() if f.type == "link"]))
            else:
                link.bind = bind
    else:
        if on.name != ent.name:
            ctx.error((*path, "on"), "a link that edits one record is on that record",
                      f"drop on:, or set creates: true to create '{ent.name}' records from '{on.name}'")
        if spec.get("bind"):
            ctx.error((*path, "bind"), "bind: is only for links that create records", "drop bind:")
        if not link.edit and not link.transitions:
            ctx.error(path, "this link can do nothing: it neither edits fields nor takes transitions",
                      "add edit: [...] or transitions: [...]")
    if spec.get("challenge") and not creates:
        ctx.error((*path, "challenge"), "a challenge guards links that create records",
                  "drop challenge:, or set creates: true")
    link.challenge = bool(spec.get("challenge"))
    exp = spec.get("expires")
    if isinstance(exp, str) and re.match(DURATION, exp):
        link.expires_hours = None if exp == "never" else int(exp[:-1]) * (24 if exp.endswith("d") else 1)
    uses = spec.get("uses")
    link.uses = uses if isinstance(uses, int) else None
    ident = spec.get("identify") or {}
    for i, role in enumerate(ident.get("roles") or []):
        if role not in app.roles:
            ctx.error((*path, "identify", "roles", i), f"unknown role '{role}'", suggest(role, list(app.roles)))
        else:
            link.identify_roles.append(role)
    link.identify_pin = bool(ident.get("pin"))
    link.identify_name = bool(ident.get("name"))
    if link.identify_pin and not ident.get("roles"):
        ctx.error((*path, "identify", "pin"), "a PIN belongs to a user picked from identify: roles:",
                  "add roles: [operator]")
    if link.identify_name and ident.get("roles"):
        ctx.error((*path, "identify", "name"), "identify either by roles: (pick a user) or by name: (type one)",
                  "keep one of them")
    link.rate_per_minute = int(spec.get("rate_per_minute") or 30)
    link.max_photos = int(spec.get("max_photos") or 6)
    if not link.show:
        link.show = [f for f in ("name", "state") if f == "state" and ent.workflow or f == "name" and ent.naming]
    return link


def links_on(app: AppDef, entity: str) -> list[LinkDef]:
    """Link definitions whose links are issued on records of ``entity``."""
    return [lk for lk in app.sections.get("links", {}).values() if lk.on == entity]
