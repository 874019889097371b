"""The `rules:` and `templates:` sections: schema, and compiling them into RuleDefs.

A rule has a trigger (a record event, or a schedule), optionally a set of
records to look at (`for_each` + `when`, compiled to SQL), a once-ness
policy that keys each firing, and a list of actions. Everything is checked
at load with file:line:col errors, like the rest of the language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from runtime.compiler import CompileContext, label
from runtime.expressions import Expr, NameInfo, Scope, suggest
from runtime.model import AppDef, EntityDef, Label

from .explode import EXPLODE_SCHEMA, compile_explode
from .schedule import Schedule, ScheduleError, parse_schedule

IDENT = r"^[a-z][a-z0-9_]{0,47}$"
EVENTS = ("created", "updated", "transitioned", "deleted")
ONCE = ("per_record", "per_day", "per_state", "per_event", "always")
TEMPLATE_VAR = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
TEMPLATE_ANY = re.compile(r"\{\{\s*(.*?)\s*\}\}")  # any {{ ... }}: a name, or a link path such as partner.name

_EXPR = {"type": "string", "minLength": 1, "maxLength": 2000}
_EXPR_MAP = {"type": "object", "propertyNames": {"pattern": IDENT},
             "additionalProperties": {"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}}

ACTION_SCHEMA: dict[str, Any] = {
    "type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
    "properties": {
        "sms": {"type": "object", "required": ["template"], "additionalProperties": False, "properties": {
            "to": {**_EXPR, "description": "Expression giving the phone number, e.g. partner.phone"},
            "to_roles": {"type": "array", "items": {"type": "string", "pattern": IDENT}},
            "to_users": {"type": "array", "items": {"type": "string"}},
            "template": {"type": "string", "pattern": IDENT}, "params": _EXPR_MAP,
            "link": {"type": "string", "pattern": IDENT,
                     "description": "A link (links:) on the rule's record; its URL is the {{ link }} param"}}},
        "notify": {"type": "object", "required": ["message"], "additionalProperties": False, "properties": {
            "roles": {"type": "array", "items": {"type": "string", "pattern": IDENT}},
            "users": {"type": "array", "items": {"type": "string"}},
            "user_field": {"type": "string", "pattern": IDENT},
            "title": {"type": "string"}, "message": {"type": "string", "minLength": 1}}},
        "webhook": {"type": "object", "required": ["url"], "additionalProperties": False, "properties": {
            "url": {"type": "string", "pattern": "^(https?://|\\$\\{)"},
            "secret": {"type": "string", "pattern": "^\\$\\{[A-Z][A-Z0-9_]*\\}$"},
            "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 60},
            "body": _EXPR_MAP}},
        "set": _EXPR_MAP,
        "transition": {"oneOf": [
            {"type": "string", "pattern": IDENT, "description": "A transition of the rule's record"},
            {"type": "object", "required": ["link", "name"], "additionalProperties": False,
             "description": "A transition of the record a link field points to (a failed calibration "
                            "puts its instrument out of service)",
             "properties": {"link": {"type": "string", "pattern": IDENT},
                            "name": {"type": "string", "pattern": IDENT}}}]},
        "update": {"type": "object", "required": ["link", "set"], "additionalProperties": False, "properties": {
            "link": {"type": "string", "pattern": IDENT}, "set": _EXPR_MAP}},
        "create": {"type": "object", "required": ["entity"], "additionalProperties": False, "properties": {
            "entity": {"type": "string", "pattern": IDENT},
            "for_each_row": {"type": "string", "pattern": IDENT},
            "values": _EXPR_MAP}},
        "explode": EXPLODE_SCHEMA,
    },
}

RULE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["on", "do"], "additionalProperties": False,
    "properties": {
        "label": {"$ref": "#/$defs/label"},
        "enabled": {"type": "boolean"},
        "on": {"type": "object", "additionalProperties": False, "properties": {
            "event": {"enum": list(EVENTS)}, "entity": {"type": "string", "pattern": IDENT},
            "fields": {"type": "array", "items": {"type": "string", "pattern": IDENT}},
            "transition": {"type": "string", "pattern": IDENT},
            "schedule": {"type": "string", "minLength": 1, "description": "every 1h | every 15m | cron: 0 8 * * *"},
            "between": {"type": "string", "pattern": "^\\d{2}:\\d{2}-\\d{2}:\\d{2}$"},
            "timezone": {"type": "string"}}},
        "for_each": {"type": "string", "pattern": IDENT},
        "when": _EXPR,
        "once": {"oneOf": [{"enum": list(ONCE)}, {
            "type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 1,
            "properties": {"per": _EXPR, "repeat": {"type": "string", "pattern": "^\\d+[mhd]$"}}}]},
        "batch_by": {"type": "string", "pattern": IDENT},
        "do": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/rule_action"}},
    },
}

TEMPLATE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["text"], "additionalProperties": False, "properties": {
        "text": {"type": "string", "minLength": 1, "maxLength": 500},
        "provider_template": {"type": "string"},
        "limit_per_day": {"type": "integer", "minimum": 1, "maximum": 1000}}}


@dataclass
class Action:
    kind: str
    spec: dict[str, Any]
    exprs: dict[str, Expr] = field(default_factory=dict)
    target: EntityDef | None = None
    texts: dict[str, str] | None = None  # notify: message/title with each {{ path }} as {{ jig_tN }} (exprs tpl.N)


@dataclass
class RuleDef:
    app: str
    name: str
    label: Label
    entity: EntityDef | None  # the records the rule looks at (event entity or for_each)
    event: str | None = None
    fields: tuple[str, ...] = ()
    transition: str | None = None
    schedule: Schedule | None = None
    when: Expr | None = None
    once: str = "per_record"
    once_expr: Expr | None = None
    repeat_seconds: int | None = None
    batch_by: str | None = None
    actions: list[Action] = field(default_factory=list)
    enabled: bool = True

    @property
    def key(self) -> str:
        return f"{self.app}.{self.name}"


@dataclass
class Template:
    name: str
    text: str
    provider_template: str | None
    limit_per_day: int | None
    variables: set[str]


def compile_templates(app: AppDef, ctx: CompileContext) -> dict[str, Template]:
    out: dict[str, Template] = {}
    for name, spec in (app.raw.get("templates") or {}).items():
        if not isinstance(spec, dict) or not isinstance(spec.get("text"), str):
            continue
        for var in TEMPLATE_ANY.findall(spec["text"]):
            if not TEMPLATE_VAR.fullmatch("{{ " + var + " }}"):
                ctx.error(("templates", name, "text"), f"'{{{{ {var} }}}}' is not a template variable",
                          "an SMS template's variables are plain names given by the rule's params, e.g. "
                          "{{ partner_name }} with params: {partner_name: partner.name}")
        out[name] = Template(name, spec["text"], spec.get("provider_template"), spec.get("limit_per_day"),
                             set(TEMPLATE_VAR.findall(spec["text"])))
    return out


def compile_rules(app: AppDef, ctx: CompileContext, templates: dict[str, Template]) -> list[RuleDef]:
    rules: list[RuleDef] = []
    for name, spec in (app.raw.get("rules") or {}).items():
        if isinstance(spec, dict):
            rule = _RuleCompiler(app, ctx, templates, name, spec).compile()
            if rule is not None:
                rules.append(rule)
    return rules


class _RuleCompiler:
    def __init__(self, app: AppDef, ctx: CompileContext, templates: dict[str, Template], name: str,
                 spec: dict[str, Any]):
        self.app, self.ctx, self.templates, self.name, self.spec = app, ctx, templates, name, spec
        self.path: tuple[str | int, ...] = ("rules", name)

    def entity(self, name: Any, path: tuple[str | int, ...]) -> EntityDef | None:
        ent = self.app.entities.get(str(name))
        if ent is None:
            self.ctx.error(path, f"unknown entity '{name}'", suggest(str(name), self.app.entities))
        return ent

    def compile(self) -> RuleDef | None:
        spec, path, ctx = self.spec, self.path, self.ctx
        on = spec.get("on") or {}
        rule = RuleDef(app=self.app.name, name=self.name, label=label(spec.get("label"), self.name), entity=None,
                       enabled=spec.get("enabled", True))
        if "event" in on and "schedule" in on:
            ctx.error((*path, "on"), "a rule runs either on an event or on a schedule, not both",
                      "split it into two rules")
        if "event" in on:
            rule.event = on["event"]
            if "entity" not in on:
                ctx.error((*path, "on"), "an event rule needs 'entity'", "e.g. on: {event: created, entity: batch}")
                return None
            rule.entity = self.entity(on["entity"], (*path, "on", "entity"))
            rule.once = "per_event"
            if rule.entity is not None:
                for i, f in enumerate(on.get("fields") or []):
                    if f not in rule.entity.fields and f != "state":
                        ctx.error((*path, "on", "fields", i), f"unknown field '{f}'", suggest(f, rule.entity.fields))
                rule.fields = tuple(on.get("fields") or ())
                if "transition" in on:
                    wf = rule.entity.workflow
                    if rule.event != "transitioned":
                        ctx.error((*path, "on", "transition"), "'transition' goes with event: transitioned")
                    elif wf is None or on["transition"] not in wf.transitions:
                        ctx.error((*path, "on", "transition"), f"unknown transition '{on['transition']}'",
                                  suggest(on["transition"], wf.transitions if wf else {}))
                    rule.transition = on["transition"]
            if "for_each" in spec:
                ctx.error((*path, "for_each"), "for_each goes with schedules; an event rule acts on its record",
                          key=True)
        elif "schedule" in on:
            try:
                rule.schedule = parse_schedule(on["schedule"], on.get("between"), on.get("timezone"))
            except ScheduleError as exc:
                ctx.error((*path, "on", "schedule"), str(exc), exc.hint)
            if "for_each" in spec:
                rule.entity = self.entity(spec["for_each"], (*path, "for_each"))
            elif "when" in spec:
                ctx.error((*path, "when"), "'when' needs for_each: the records it is checked on", key=True)
        else:
            ctx.error((*path, "on"), "a rule needs 'event' or 'schedule'",
                      "e.g. on: {schedule: every 1h} or on: {event: created, entity: batch}")
            return None
        scope = rule.entity.scope if rule.entity is not None else None
        if "when" in spec and scope is not None:
            rule.when = ctx.expr(spec["when"], _with_before(rule, scope), (*path, "when"), want="bool")
        self._once(rule, scope)
        if "batch_by" in spec:
            if rule.entity is None or spec["batch_by"] not in rule.entity.fields:
                ctx.error((*path, "batch_by"), f"unknown field '{spec['batch_by']}'",
                          suggest(spec["batch_by"], rule.entity.fields if rule.entity else {}))
            rule.batch_by = spec["batch_by"]
        for i, action in enumerate(spec.get("do") or []):
            if isinstance(action, dict) and len(action) == 1:
                compiled = self._action(rule, action, (*path, "do", i))
                if compiled is not None:
                    rule.actions.append(compiled)
        return rule

    def _once(self, rule: RuleDef, scope: Any) -> None:
        once = self.spec.get("once")
        if once is None:
            return
        if isinstance(once, str):
            if rule.event and once == "always":
                self.ctx.error((*self.path, "once"), "an event rule fires once per event at most",
                               "use per_event (the default), or per_record, per_day, per_state, {per: ...}")
            if once == "per_state" and (rule.entity is None or rule.entity.workflow is None):
                self.ctx.error((*self.path, "once"), "per_state needs an entity with a workflow")
            rule.once = once
        elif isinstance(once, dict):
            if "per" in once and scope is not None:
                rule.once = "per_value"
                rule.once_expr = self.ctx.expr(once["per"], scope, (*self.path, "once", "per"))
            if "repeat" in once:
                n, unit = int(once["repeat"][:-1]), once["repeat"][-1]
                rule.once = "repeat"
                rule.repeat_seconds = n * {"m": 60, "h": 3600, "d": 86400}[unit]

    def _exprs(self, values: dict[str, Any], scope: Any, path: tuple[str | int, ...],
               target: EntityDef | None = None) -> dict[str, Expr]:
        out: dict[str, Expr] = {}
        for key, source in (values or {}).items():
            if target is not None and key not in target.fields:
                self.ctx.error((*path, key), f"unknown field '{key}' of '{target.name}'", suggest(key, target.fields),
                               key=True)
                continue
            e = self.ctx.expr(source, scope, (*path, key))
            if e is not None:
                out[key] = e
        return out

    def _action(self, rule: RuleDef, action: dict[str, Any], path: tuple[str | int, ...]) -> Action | None:
        (kind, spec), = action.items()
        ctx, ent = self.ctx, rule.entity
        scope = ent.scope if ent is not None else None
        apath = (*path, kind)
        if kind in ("set", "transition", "update", "create") and ent is None and kind != "create":
            ctx.error(apath, f"'{kind}' needs a record: use for_each or an event rule")
            return None
        act = Action(kind, spec if isinstance(spec, dict) else {"value": spec})
        if kind == "sms":
            tpl = self.templates.get(spec.get("template", ""))
            if tpl is None:
                ctx.error((*apath, "template"), f"unknown template '{spec.get('template')}'",
                          suggest(str(spec.get("template")), self.templates) + " (declare it under templates:)")
            if not any(k in spec for k in ("to", "to_roles", "to_users")):
                ctx.error(apath, "an sms needs a recipient: to, to_roles or to_users")
            self._roles(spec.get("to_roles"), (*apath, "to_roles"))
            if scope is not None:
                if "to" in spec:
                    e = ctx.expr(spec["to"], scope, (*apath, "to"))
                    if e is not None:
                        act.exprs["to"] = e
                act.exprs.update({f"param.{k}": v for k, v in
                                  self._exprs(spec.get("params") or {}, scope, (*apath, "params")).items()})
            if "link" in spec:
                self._sms_link(spec["link"], ent, (*apath, "link"))
            if tpl is not None:
                missing = tpl.variables - set(spec.get("params") or {}) - {"count", "names"} - (
                    {"link"} if "link" in spec else set())
                if missing:
                    ctx.error((*apath, "params"), f"template '{tpl.name}' needs params: {', '.join(sorted(missing))}",
                              "give each {{ variable }} of the template a value", key=True)
        elif kind == "notify":
            self._roles(spec.get("roles"), (*apath, "roles"))
            if not any(k in spec for k in ("roles", "users", "user_field")):
                ctx.error(apath, "notify needs roles, users or user_field")
            if ent is not None and scope is not None:
                act.texts = {}
                for key in ("message", "title"):
                    if isinstance(spec.get(key), str):
                        act.texts[key] = self._message(spec[key], scope, (*apath, key), act.exprs)
        elif kind == "webhook" and scope is not None:
            act.exprs = self._exprs(spec.get("body") or {}, scope, (*apath, "body"))
        elif kind == "set" and ent is not None:
            act.exprs = self._exprs(spec, scope, apath, ent)
        elif kind == "transition" and ent is not None:
            on, name, tpath = ent, spec, apath
            if isinstance(spec, dict):  # {link: instrument, name: take_out}: on the linked record
                link = ent.fields.get(str(spec.get("link", "")))
                if link is None or link.type != "link":
                    ctx.error((*apath, "link"), f"'{spec.get('link')}' is not a link field",
                              suggest(str(spec.get("link")), [f for f, d in ent.fields.items() if d.type == "link"]))
                    on = None
                else:
                    on = self.app.entities.get(link.to or "")
                    act.target = on
                name, tpath = spec.get("name"), (*apath, "name")
            if on is not None and (on.workflow is None or name not in on.workflow.transitions):
                ctx.error(tpath, f"unknown transition '{name}'", suggest(str(name), on.workflow.transitions
                                                                          if on.workflow else {}))
            act.spec = {"name": name, "link": spec.get("link")} if isinstance(spec, dict) else {"name": spec}
        elif kind == "update" and ent is not None:
            link = ent.fields.get(spec.get("link", ""))
            if link is None or link.type != "link":
                ctx.error((*apath, "link"), f"'{spec.get('link')}' is not a link field",
                          suggest(str(spec.get("link")), [f for f, d in ent.fields.items() if d.type == "link"]))
                return None
            act.target = self.app.entities.get(link.to or "")
            act.exprs = self._exprs(spec.get("set") or {}, scope, (*apath, "set"), act.target)
        elif kind == "create":
            target = self.entity(spec.get("entity"), (*apath, "entity"))
            if target is None:
                return None
            act.target = target
            value_scope = scope
            row_field = spec.get("for_each_row")
            if row_field:
                f = ent.fields.get(row_field) if ent is not None else None
                if f is None or f.child is None:
                    ctx.error((*apath, "for_each_row"), f"'{row_field}' is not a table field of the record")
                    return None
                value_scope = f.child.scope
            if value_scope is None:
                ctx.error(apath, "create needs a record to take values from (use for_each or an event rule)")
                return None
            act.exprs = self._exprs(spec.get("values") or {}, value_scope, (*apath, "values"), target)
        elif kind == "explode":
            plan = compile_explode(self.app, ctx, ent, spec, apath)
            if plan is None:
                return None
            act.spec = {"plan": plan}
        return act

    def _sms_link(self, name: Any, ent: Any, path: tuple[str | int, ...]) -> None:
        """A link sent by SMS is on the rule's record and edits it (a partner's link to its own batch)."""
        raw = (self.app.raw.get("links") or {}) if isinstance(self.app.raw.get("links"), dict) else {}
        spec = raw.get(name)
        if not isinstance(spec, dict):
            self.ctx.error(path, f"unknown link '{name}'", suggest(str(name), list(raw)) or "declare it under links:")
        elif ent is None or (spec.get("on") or spec.get("entity")) != ent.name:
            self.ctx.error(path, f"link '{name}' is not on this rule's records",
                           "send a link declared on the entity the rule runs for")

    def _message(self, text: str, scope: Any, path: tuple[Any, ...], exprs: dict[str, Expr]) -> str:
        """A notification text whose ``{{ ... }}`` are expressions on the record (``{{ partner.name }}``
        follows the link), each checked now; returns the text with them as ``{{ jig_tN }}``."""
        def one(m: re.Match[str]) -> str:
            n = len([k for k in exprs if k.startswith("tpl.")])
            e = self.ctx.expr(m.group(1), scope, path)
            if e is None:
                return m.group(0)
            exprs[f"tpl.{n}"] = e
            return "{{ jig_t" + str(n) + " }}"
        return TEMPLATE_ANY.sub(one, text)

    def _roles(self, roles: Any, path: tuple[str | int, ...]) -> None:
        for i, r in enumerate(roles or []):
            if r not in self.app.roles:
                self.ctx.error((*path, i), f"unknown role '{r}'", suggest(r, self.app.roles))


BEFORE = "before"
BEFORE_EVENTS = ("updated", "transitioned")


def _with_before(rule: RuleDef, scope: Any) -> Any:
    """An updated/transitioned rule's condition also sees the record as it was: ``before.shots``."""
    if rule.event not in BEFORE_EVENTS or rule.entity is None or BEFORE in rule.entity.fields:
        return scope
    return Scope(label=scope.label, names={**scope.names, BEFORE: NameInfo("any", target=scope, sql=False)},
                 user=scope.user, entity=scope.entity)
