"""Turns one validated YAML document into an AppDef, checking its meaning.

The JSON Schema has already checked shapes; here we check what a schema
cannot: links to entities that exist, states and fields that exist,
expressions that parse and only use known names, reachable states, and so
on. Errors are collected, never raised one at a time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from . import checkinputs, compact, naming, relations, rollups, soundness
from .errors import DefinitionError
from .expressions import Expr, ExpressionError, NameInfo, Scope, parse, suggest
from .fieldtypes import BUILTIN, FieldTypes
from .fieldtypes.base import UNKNOWN
from .functions import FUNCTIONS
from .model import (
    RESERVED_FIELD_NAMES,
    AppDef,
    EntityDef,
    FieldDef,
    Label,
    Option,
    RolePermissions,
    Section,
    StateDef,
    Tab,
    TransitionDef,
    WorkflowDef,
)
from .yamlsource import PathKey, SourceMap

BUILTIN_ROLES = ("admin",)
NEED_HINTS = {"to": "e.g. to: partner", "options": "e.g. options: [pass, rework, reject]",
              "fields": "list the columns of each row under fields:", "expr": "e.g. expr: \"quantity * price\""}
RETURNS_TYPES = {"text": "text", "integer": "int", "decimal": "dec", "boolean": "bool", "date": "date",
                 "datetime": "datetime"}


@dataclass
class CompileContext:
    """Where a compile step reports errors and parses expressions."""

    smap: SourceMap
    errors: list[DefinitionError] = field(default_factory=list)
    field_types: FieldTypes = BUILTIN  # the registry fields get their type class from (f.ft)
    filters: dict[str, dict[str, str]] = field(default_factory=dict)  # entity key -> named filters (compact)

    def error(self, path: PathKey, message: str, hint: str = "", *, key: bool = False) -> None:
        self.errors.append(self.smap.error(path, message, hint, key=key))

    def expr(self, source: Any, scope: Scope, path: PathKey, *, want: str | None = None) -> Expr | None:
        named = self.filters.get(scope.entity or "") if isinstance(source, str) else None
        expanded = compact.expand_filters(source, named) if named else source
        try:
            return parse(expanded, scope, want=want)
        except ExpressionError as exc:
            line, col = self.smap.text_position(path)
            if expanded is not source:  # a named filter is in it: the column would point into its text
                exc.col, source = 0, expanded
            if isinstance(source, str) and exc.col:
                col += len(source) - len(source.lstrip())  # parse() reports columns of the stripped text
            self.errors.append(DefinitionError(self.smap.file, line, col + max(exc.col - 1, 0),
                                               _fmt(path), f"{exc.message} (in: {_excerpt(source)})", exc.hint))
            return None


def _excerpt(source: Any) -> str:
    text = str(source).strip()
    return text if len(text) <= 200 else text[:197] + "..."


def _fmt(path: PathKey) -> str:
    from .yamlsource import format_path
    return format_path(path)


def label(value: Any, fallback: str) -> Label:
    if isinstance(value, str):  # "厂名 | Name" (zh | en), or one text for both
        zh, bar, en = value.partition("|")
        if bar and zh.strip() and en.strip():
            return {"zh": zh.strip(), "en": en.strip()}
        return {"zh": value, "en": value}
    if isinstance(value, dict):
        zh = value.get("zh") or value.get("en") or fallback
        en = value.get("en") or value.get("zh") or fallback
        return {"zh": str(zh), "en": str(en)}
    return {"zh": fallback, "en": fallback.replace("_", " ").capitalize()}


def _dec(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    return Decimal(str(value))


class AppCompiler:
    """Compiles the core sections of one app document."""

    def __init__(self, raw: dict[str, Any], ctx: CompileContext):
        self.raw = raw
        self.ctx = ctx
        self.app_name = str(raw.get("app", "app"))

    def compile(self) -> AppDef:
        raw = self.raw
        roles_raw = raw.get("roles") or []
        roles: dict[str, Label] = {}
        if isinstance(roles_raw, list):
            for i, r in enumerate(roles_raw):
                if r in roles:
                    self.ctx.error(("roles", i), f"role '{r}' is listed twice")
                roles[str(r)] = label(None, str(r))
        elif isinstance(roles_raw, dict):
            for r, spec in roles_raw.items():
                roles[str(r)] = label(spec.get("label") if isinstance(spec, dict) else spec, str(r))
        for r in BUILTIN_ROLES:
            if r in roles:
                self.ctx.error(("roles", r), f"'{r}' is a built-in role and cannot be declared",
                               "remove it; admins can do everything", key=True)
            roles.setdefault(r, {"zh": "管理员", "en": "Administrator"})
        app = AppDef(
            name=self.app_name, title=label(raw.get("title"), self.app_name), file=self.ctx.smap.file,
            roles=roles, entities={}, description=label(raw.get("description"), "") if raw.get("description") else None,
            version=str(raw["version"]) if raw.get("version") is not None else None, raw=raw,
        )
        self.app = app
        ents = raw.get("entities") if isinstance(raw.get("entities"), dict) else {}
        # First pass: names and field types, so links and expressions can refer anywhere.
        for ename, espec in ents.items():
            if isinstance(espec, dict):
                app.entities[ename] = self._entity_shell(ename, espec, ("entities", ename), None)
        app.user_attributes = self._user_attributes()
        for ent in list(app.entities.values()):
            self._build_scope(ent)
        for ename, ent in app.entities.items():
            self._entity_body(ent, ents[ename], ("entities", ename))
        for ent in app.entities.values():
            ent.owner = app  # link targets are found through the app, never through a process-wide registry
        soundness.check_app(app, self.ctx)
        rollups.compile_rollups(app, self.ctx)
        naming.compile_fields(app, self.ctx)
        relations.compile_related(app, self.ctx)
        return app

    # ---- entities ----------------------------------------------------------

    def _entity_shell(self, name: str, spec: dict[str, Any], path: PathKey, parent: EntityDef | None) -> EntityDef:
        table = f"{self.app_name}__{name}" if parent is None else f"{parent.table_name}__{name}"
        ent = EntityDef(app=self.app_name, name=name if parent is None else f"{parent.name}.{name}",
                        title=label(spec.get("title"), name), fields={}, table_name=table, parent=parent,
                        renamed_from=spec.get("renamed_from"), archived=spec.get("archived") is True,
                        description=label(spec.get("description"), "") if spec.get("description") else None)
        fields = spec.get("fields") if isinstance(spec.get("fields"), dict) else {}
        for fname, fspec in fields.items():
            fpath = (*path, "fields", fname)
            if not isinstance(fspec, dict) or not isinstance(fspec.get("type"), str):
                continue
            if fname in RESERVED_FIELD_NAMES:
                self.ctx.error(fpath, f"'{fname}' is a reserved name (system column or API word)",
                               f"rename the field, e.g. '{fname}_no'", key=True)
            elif fname in FUNCTIONS or fname in ("user", "before", "true", "false", "none"):
                self.ctx.error(fpath, f"'{fname}' is the name of a function or word of expressions, so no "
                               "expression could read this field", f"rename the field, e.g. '{fname}_qty'", key=True)
            elif fname == "name" and spec.get("naming") and parent is None:
                self.ctx.error(fpath, "a field called 'name' clashes with the naming series, which fills 'name'",
                               "rename the field, or remove naming:", key=True)
            f = self._field_shell(fname, fspec, fpath, ent)
            ent.fields[fname] = f
        ent.naming = spec.get("naming")
        if ent.naming is not None and parent is None:
            naming.check_series(ent.naming, (*path, "naming"), self.ctx)
        return ent

    def _field_shell(self, name: str, spec: dict[str, Any], path: PathKey, ent: EntityDef) -> FieldDef:
        ftype = spec["type"]
        f = FieldDef(name=name, type=ftype, ft=self.ctx.field_types.get(ftype, UNKNOWN),
                     label=label(spec.get("label"), name),
                     help=label(spec.get("help"), "") if spec.get("help") else None,
                     placeholder=label(spec.get("placeholder"), "") if spec.get("placeholder") else None,
                     unique=bool(spec.get("unique")), index=bool(spec.get("index")),
                     min=_dec(spec.get("min")), max=_dec(spec.get("max")),
                     min_length=spec.get("min_length"), max_length=spec.get("max_length"),
                     scale=int(spec.get("scale", 2)), to=spec.get("to"), min_rows=spec.get("min_rows"),
                     max_rows=spec.get("max_rows"), max_size_mb=spec.get("max_size_mb"),
                     renamed_from=spec.get("renamed_from"),
                     check_message=label(spec.get("check_message"), "") if spec.get("check_message") else None)
        self._check_options_for_type(f, spec, path)
        if "options" in f.ft.keys():
            f.options = self._options(spec.get("options"), path)
        f.ft.prepare(f)
        if ftype == "link" and isinstance(f.to, str) and f.to not in (self.raw.get("entities") or {}):
            known = list((self.raw.get("entities") or {}).keys())
            owner = self._child_table_owner(f.to)
            if owner is not None:
                self.ctx.error((*path, "to"), f"'{f.to}' is a child table of '{owner}', not an entity; "
                               "links can only point to entities",
                               f"link to '{owner}' instead, or make the rows a separate entity")
            else:
                self.ctx.error((*path, "to"), f"unknown entity '{f.to}' in link", suggest(f.to, known))
        if ftype == "table":
            if ent.parent is not None:
                self.ctx.error((*path, "type"), "a child table cannot contain another table",
                               "make the inner rows a separate entity with a link to the parent")
            else:
                child_spec = {"title": spec.get("label"), "fields": spec.get("fields") or {}}
                f.child = self._entity_shell(name, child_spec, path, ent)
        if spec.get("pattern") is not None:
            try:
                f.pattern = re.compile(str(spec["pattern"]))
            except re.error as exc:
                self.ctx.error((*path, "pattern"), f"invalid regular expression: {exc}",
                               "escape special characters such as '.' and '+' with a backslash")
        if f.min is not None and f.max is not None and f.min > f.max:
            self.ctx.error((*path, "min"), f"min ({f.min}) is greater than max ({f.max})")
        if spec.get("returns"):
            f.returns = spec["returns"]
        return f

    def _child_table_owner(self, name: str) -> str | None:
        """The entity holding a table field called ``name``, if any."""
        for ename, espec in (self.raw.get("entities") or {}).items():
            fields = espec.get("fields") if isinstance(espec, dict) else None
            if isinstance(fields, dict):
                fspec = fields.get(name)
                if isinstance(fspec, dict) and fspec.get("type") == "table":
                    return str(ename)
        return None

    def _check_options_for_type(self, f: FieldDef, spec: dict[str, Any], path: PathKey) -> None:
        t = f.type
        types = self.ctx.field_types
        own = f.ft.keys()
        for key in types.specific_keys:  # keys of some type: does this field's type take it?
            if key in spec and key not in own:
                takers = [n for n, ft in types.items() if key in ft.keys()]
                self.ctx.error((*path, key), f"'{key}' does not apply to a {t} field",
                               f"'{key}' is for: {', '.join(takers)}", key=True)
        for need in f.ft.required_keys:
            if need not in spec:
                self.ctx.error(path, f"a {t} field needs '{need}'", NEED_HINTS.get(need, ""))
        if t == "computed":
            for key in ("required", "unique", "default", "readonly", "index", "check"):
                if key in spec:
                    self.ctx.error((*path, key), f"'{key}' does not apply to a computed field",
                                   "computed values are derived, never entered", key=True)
        if t == "table":
            for key in ("unique", "index", "default", "check"):
                if key in spec:
                    self.ctx.error((*path, key), f"'{key}' does not apply to a table field", key=True)
        if spec.get("unique") and not f.ft.may_be_unique:
            self.ctx.error((*path, "unique"), f"a {t} field cannot be unique", key=True)

    def _options(self, raw: Any, path: PathKey) -> list[Option]:
        result: list[Option] = []
        seen: set[str] = set()
        for i, o in enumerate(raw or []):
            if isinstance(o, dict):
                value = str(o.get("value"))
                opt = Option(value, label(o.get("label"), value), o.get("color"))
            else:
                value = str(o)
                opt = Option(value, {"zh": value, "en": value})
            if value in seen:
                self.ctx.error((*path, "options", i), f"option '{value}' is listed twice")
            seen.add(value)
            result.append(opt)
        return result

    def _user_attributes(self) -> dict[str, FieldDef]:
        raw = self.raw.get("user_attributes")
        attrs: dict[str, FieldDef] = {}
        if not isinstance(raw, dict):
            return attrs
        holder = EntityDef(app=self.app_name, name="user", title=label(None, "user"), fields={}, table_name="")
        for name, spec in raw.items():
            if isinstance(spec, dict) and isinstance(spec.get("type"), str):
                if spec["type"] in ("table", "computed", "images", "files", "image", "file"):
                    self.ctx.error(("user_attributes", name, "type"),
                                   f"user attributes cannot be of type {spec['type']}")
                    continue
                attrs[name] = self._field_shell(name, spec, ("user_attributes", name), holder)
        return attrs

    # ---- scopes ------------------------------------------------------------

    def _build_scope(self, ent: EntityDef) -> None:
        names: dict[str, NameInfo] = {
            "id": NameInfo("int"), "version": NameInfo("int"), "created_at": NameInfo("datetime"),
            "updated_at": NameInfo("datetime"), "created_by": NameInfo("text"), "updated_by": NameInfo("text"),
        }
        if ent.naming:
            names["name"] = NameInfo("text")
        spec = self._raw_entity(ent)
        if isinstance(spec.get("workflow"), dict):
            states = spec["workflow"].get("states")
            names["state"] = NameInfo("text", choices=frozenset(str(k) for k in states)
                                      if isinstance(states, dict) and states else None)
        user: dict[str, NameInfo] = {"username": NameInfo("text"), "display_name": NameInfo("text")}
        for aname, a in self.app.user_attributes.items():
            user[aname] = NameInfo(a.ft.expr_type, scale=a.scale)
        ent.scope = Scope(label=f"entity '{ent.name}'", names=names, user=user, entity=ent.key)
        ent.scope.incoming = {f"{src.name}.{lf.name}": _LazyScope(self, src) for src in self.app.entities.values()
                              for lf in src.fields.values() if lf.type == "link" and lf.to == ent.name}
        for f in ent.fields.values():
            if f.type == "computed":
                rt = RETURNS_TYPES.get(f.returns or "", "any")
                names[f.name] = NameInfo(rt, sql=True)
            else:
                info = NameInfo(f.ft.expr_type, scale=f.scale if f.ft.expr_type == "dec" else None,
                                sql=f.stored and not f.ft.is_file,
                                choices=frozenset(f.option_values) if f.options else None)
                names[f.name] = info
            if f.child is not None:
                self._build_child_scope(f.child, ent)
                names[f.name].rows = f.child.scope  # aggregates: sum(lines.qty), any(lines, qty > 1)
        for f in ent.fields.values():
            if f.type == "link" and f.to in self.app.entities:
                target = self.app.entities[f.to]
                names[f.name].target = _LazyScope(self, target)  # type: ignore[assignment]

    def _build_child_scope(self, child: EntityDef, parent: EntityDef) -> None:
        names: dict[str, NameInfo] = {"id": NameInfo("int"), "idx": NameInfo("int")}
        user: dict[str, NameInfo] = {"username": NameInfo("text"), "display_name": NameInfo("text")}
        child.scope = Scope(label=f"rows of '{parent.name}.{child.name.split('.')[-1]}'", names=names, user=user,
                            entity=child.key)
        for f in child.fields.values():
            names[f.name] = NameInfo(f.ft.expr_type, scale=f.scale if f.ft.expr_type == "dec" else None,
                                     sql=f.stored and not f.ft.is_file,
                                     choices=frozenset(f.option_values) if f.options else None)
            if f.type == "link" and f.to in self.app.entities:
                names[f.name].target = _LazyScope(self, self.app.entities[f.to])  # type: ignore[assignment]

    def _raw_entity(self, ent: EntityDef) -> dict[str, Any]:
        ents = self.raw.get("entities") or {}
        spec = ents.get(ent.name) if ent.parent is None else None
        return spec if isinstance(spec, dict) else {}

    # ---- bodies ------------------------------------------------------------

    def _entity_body(self, ent: EntityDef, spec: dict[str, Any], path: PathKey) -> None:
        assert ent.scope is not None
        fields_raw = spec.get("fields") if isinstance(spec.get("fields"), dict) else {}
        for fname, f in ent.fields.items():
            self._field_exprs(f, fields_raw.get(fname) or {}, (*path, "fields", fname), ent.scope)
            if f.child is not None:
                child_raw = (fields_raw.get(fname) or {}).get("fields") or {}
                assert f.child.scope is not None
                for cname, cf in f.child.fields.items():
                    self._field_exprs(cf, child_raw.get(cname) or {}, (*path, "fields", fname, "fields", cname),
                                      f.child.scope)
                    if cf.type == "computed":
                        f.child.scope.names[cname].type = cf.expr.type if cf.expr and not cf.returns else \
                            f.child.scope.names[cname].type
        self._computed_types(ent)
        if self.ctx.filters.get(ent.key):  # named filters, used by name in conditions (runtime/compact.py)
            ent.extra["filters"] = self.ctx.filters[ent.key]
        for fname, source in (self.ctx.filters.get(ent.key) or {}).items():  # checked where they are written
            self.ctx.expr(source, ent.scope, (*path, "filters", fname), want="bool")
        checkinputs.attach(ent)  # what each check reads: re-run on update only when that changed
        if soundness.computed_cycles(ent, path, self.ctx):
            soundness.computed_growth(ent, path, self.ctx)
        tf = spec.get("title_field")
        if tf is not None:
            if tf not in ent.fields:
                self.ctx.error((*path, "title_field"), f"unknown field '{tf}'", suggest(tf, ent.fields))
            else:
                ent.title_field = tf
        elif "name" in ent.scope.names and ent.naming:
            ent.title_field = "name"
        else:
            ent.title_field = next((f.name for f in ent.fields.values() if f.type == "text"), None)
        if isinstance(spec.get("workflow"), dict):
            ent.workflow = self._workflow(ent, spec["workflow"], (*path, "workflow"))
        ent.layout = self._layout(ent, spec.get("layout"), (*path, "layout"))
        self._indexes(ent, spec.get("indexes"), (*path, "indexes"))
        self._list(ent, spec.get("list"), (*path, "list"))
        ent.permissions = self._permissions(ent, spec.get("permissions"), (*path, "permissions"))

    def _computed_types(self, ent: EntityDef) -> None:
        assert ent.scope is not None
        for f in ent.fields.values():
            if f.type == "computed" and f.expr is not None and not f.returns:
                ent.scope.names[f.name].type = f.expr.type

    def _field_exprs(self, f: FieldDef, spec: dict[str, Any], path: PathKey, scope: Scope) -> None:
        ctx = self.ctx
        for key in ("required", "readonly"):
            v = spec.get(key)
            if isinstance(v, bool):
                setattr(f, key, v)
            elif isinstance(v, str):
                setattr(f, f"{key}_if", ctx.expr(v, scope, (*path, key), want="bool"))
        if "visible" in spec:
            f.visible = ctx.expr(spec["visible"], scope, (*path, "visible"), want="bool")
        if "check" in spec:
            f.check = ctx.expr(spec["check"], scope, (*path, "check"), want="bool")
        if "default" in spec:
            f.default = ctx.expr(compact.default_source(spec["default"], f.type, scope), scope, (*path, "default"))
            if f.default is not None:
                self._check_value_type(f, f.default, (*path, "default"))
        if f.type == "computed" and "expr" in spec:
            f.expr = ctx.expr(spec["expr"], scope, (*path, "expr"))
            if f.expr is not None and f.name in f.expr.names:  # a computed field cannot refer to itself
                ctx.error((*path, "expr"), f"computed field '{f.name}' refers to itself (in: {f.expr.source})",
                          "compute it from other fields only")
                f.expr = None
        if f.type == "link" and f.to and f.to in self.app.entities and self.app.entities[f.to].is_child:
            ctx.error((*path, "to"), "cannot link to child-table rows")

    def _check_value_type(self, f: FieldDef, e: Expr, path: PathKey) -> None:
        want = f.ft.expr_type
        if e.type in ("any", "null") or want == "any":
            return
        compatible = (want == e.type or (want == "dec" and e.type == "int")
                      or (want == "datetime" and e.type == "date") or (want == "int" and f.type == "link"))
        if f.options and e.type == "text":  # an option value
            compatible = True
        if not compatible:
            self.ctx.error(path, f"this default gives a {e.type}, but the field holds {f.type}",
                           "write a text default as it is, e.g. default: normal, quoting numbers ('5'); "
                           "an expression starts with '='"
                           if f.ft.expr_type == "text" else "")

    def _workflow(self, ent: EntityDef, spec: dict[str, Any], path: PathKey) -> WorkflowDef | None:
        assert ent.scope is not None
        ctx = self.ctx
        states: dict[str, StateDef] = {}
        for sname, sspec in (spec.get("states") or {}).items():
            sspec = sspec or {}
            states[sname] = StateDef(sname, label(sspec.get("label"), sname), sspec.get("color", "grey"),
                                     bool(sspec.get("final")))
        initial = spec.get("initial")
        if initial not in states:
            ctx.error((*path, "initial"), f"initial state '{initial}' is not among the states",
                      suggest(str(initial), states))
        transitions: dict[str, TransitionDef] = {}
        unknown_states = False  # then reachability would only repeat the same mistake
        for tname, tspec in (spec.get("transitions") or {}).items():
            if not isinstance(tspec, dict):
                continue
            tpath = (*path, "transitions", tname)
            src = tspec.get("from")
            sources: frozenset[str] | None
            if src == "*":
                sources = None
            else:
                src_list = [src] if isinstance(src, str) else list(src or [])
                for i, s in enumerate(src_list):
                    if s not in states:
                        unknown_states = True
                        p = (*tpath, "from") if isinstance(src, str) else (*tpath, "from", i)
                        ctx.error(p, f"unknown state '{s}' in transition '{tname}'", suggest(str(s), states))
                sources = frozenset(str(s) for s in src_list)
            to = tspec.get("to")
            if to not in states:
                unknown_states = True
                ctx.error((*tpath, "to"), f"unknown state '{to}' in transition '{tname}'", suggest(str(to), states))
            elif sources is not None:
                for s in sources:
                    if s in states and states[s].final:
                        ctx.error((*tpath, "from"), f"state '{s}' is final, so no transition may leave it",
                                  "remove 'final: true' from the state, or this transition")
            roles = tuple(tspec.get("roles") or ())
            for i, r in enumerate(roles):
                if r not in self.app.roles:
                    ctx.error((*tpath, "roles", i), f"unknown role '{r}'",
                              suggest(r, self.app.roles) + " (declare roles at the top of the app)")
            require = tuple(tspec.get("require") or ())
            for i, r in enumerate(require):
                if r not in ent.fields:
                    ctx.error((*tpath, "require", i), f"required field '{r}' does not exist in '{ent.name}'",
                              suggest(r, ent.fields))
                elif ent.fields[r].type == "computed":
                    ctx.error((*tpath, "require", i), f"'{r}' is computed, so it cannot be required")
            guard = ctx.expr(tspec["guard"], ent.scope, (*tpath, "guard"), want="bool") if "guard" in tspec else None
            sets: dict[str, Expr] = {}
            for fname, source in (tspec.get("set") or {}).items():
                if fname not in ent.fields:
                    ctx.error((*tpath, "set", fname), f"unknown field '{fname}' to set", suggest(fname, ent.fields),
                              key=True)
                    continue
                if not ent.fields[fname].stored:
                    ctx.error((*tpath, "set", fname), f"'{fname}' is {ent.fields[fname].type} and cannot be set",
                              key=True)
                    continue
                e = ctx.expr(source, ent.scope, (*tpath, "set", fname))
                if e is not None:
                    self._check_value_type(ent.fields[fname], e, (*tpath, "set", fname))
                    sets[fname] = e
            transitions[tname] = TransitionDef(
                name=tname, label=label(tspec.get("label"), tname), sources=sources, to=str(to), roles=roles,
                guard=guard, guard_message=label(tspec.get("guard_message"), "") if tspec.get("guard_message") else None,
                require=require, set=sets)
        if initial in states and not unknown_states:
            reach = {initial}
            changed = True
            while changed:
                changed = False
                for t in transitions.values():
                    if t.to in reach:
                        continue
                    srcs = t.sources if t.sources is not None else {s for s in reach if not states[s].final}
                    if reach & set(srcs):
                        reach.add(t.to)
                        changed = True
            for sname in states:
                if sname not in reach:
                    ctx.error((*path, "states", sname), f"state '{sname}' can never be reached from '{initial}'",
                              "add a transition into it, or remove it", key=True)
        if initial in states and states[initial].final:
            ctx.error((*path, "initial"), f"initial state '{initial}' is final, so records could never move")
        return WorkflowDef(initial=str(initial), states=states, transitions=transitions)

    def _layout(self, ent: EntityDef, spec: Any, path: PathKey) -> list[Tab]:
        tabs: list[Tab] = []
        seen: dict[str, PathKey] = {}
        if not isinstance(spec, dict):
            spec = {}
        raw_tabs = spec.get("tabs") if isinstance(spec.get("tabs"), list) else None
        tab_specs = raw_tabs if raw_tabs is not None else [{"sections": spec.get("sections") or []}]
        for ti, tspec in enumerate(tab_specs):
            tpath = (*path, "tabs", ti) if raw_tabs is not None else path
            sections: list[Section] = []
            for si, sspec in enumerate(tspec.get("sections") or []):
                spath = (*tpath, "sections", si)
                cols: list[list[str]] = []
                for ci, col in enumerate(sspec.get("columns") or []):
                    names: list[str] = []
                    for fi, fname in enumerate(col or []):
                        fpath = (*spath, "columns", ci, fi)
                        if fname not in ent.fields:
                            self.ctx.error(fpath, f"unknown field '{fname}' in layout", suggest(fname, ent.fields))
                            continue
                        if fname in seen:
                            self.ctx.error(fpath, f"field '{fname}' is placed twice in the layout",
                                           "a field appears once; remove one of them")
                            continue
                        seen[fname] = fpath
                        names.append(fname)
                    cols.append(names)
                vis = None
                if "visible" in sspec and ent.scope is not None:
                    vis = self.ctx.expr(sspec["visible"], ent.scope, (*spath, "visible"), want="bool")
                sections.append(Section(label(sspec.get("label"), "") if sspec.get("label") else None, cols, vis))
            tabs.append(Tab(label(tspec.get("label"), "") if tspec.get("label") else None, sections))
        rest = [f for f in ent.fields if f not in seen]
        if rest:
            section = Section({"zh": "其他", "en": "Other"} if seen else None, [rest])
            if tabs and tabs[-1].sections:
                tabs[-1].sections.append(section)
            else:
                tabs = [Tab(None, [section])]
        return tabs

    def _indexes(self, ent: EntityDef, spec: Any, path: PathKey) -> None:
        indexable = {f.name for f in ent.stored_fields() if f.ft.indexable} | {"created_at", "updated_at", "id"}
        if ent.workflow is not None:
            indexable.add("state")
        if ent.naming:
            indexable.add("name")
        seen: set[tuple[str, ...]] = set()
        for i, cols in enumerate(spec or []):
            bad = [c for c in cols if c not in indexable]
            for c in bad:
                self.ctx.error((*path, i, cols.index(c)), f"'{c}' cannot be indexed",
                               suggest(c, indexable) + " (stored fields and system columns only)")
            key = tuple(cols)
            if key in seen:
                self.ctx.error((*path, i), "this index is declared twice")
            seen.add(key)
            if not bad and len(set(cols)) == len(cols):
                ent.indexes.append(key)

    def _list(self, ent: EntityDef, spec: Any, path: PathKey) -> None:
        spec = spec if isinstance(spec, dict) else {}
        assert ent.scope is not None
        known = set(ent.scope.names)
        cols = spec.get("columns")
        if cols:
            for i, c in enumerate(cols):
                if c not in known:
                    self.ctx.error((*path, "columns", i), f"unknown column '{c}'", suggest(c, known))
            ent.list_columns = [c for c in cols if c in known]
        else:
            base = ["name"] if ent.naming else []
            ent.list_columns = base + [f.name for f in ent.fields.values() if f.ft.in_list][:6]
            if ent.workflow:
                ent.list_columns.append("state")
        sort = spec.get("sort")
        if sort:
            for part in str(sort).split(","):
                name = part.strip().lstrip("-")
                if name not in known or (name in ent.fields and not ent.fields[name].stored):
                    self.ctx.error((*path, "sort"), f"cannot sort by '{name}'", suggest(name, known))
            ent.list_sort = str(sort)
        search = spec.get("search")
        if search:
            for i, s in enumerate(search):
                f = ent.fields.get(s)
                if s == "name" and ent.naming:
                    continue
                if f is None or not f.ft.searchable:
                    self.ctx.error((*path, "search", i), f"'{s}' is not a text field, so it cannot be searched",
                                   suggest(s, [n for n, x in ent.fields.items() if x.type == "text"]))
            ent.search_fields = [s for s in search if s in ent.fields or s == "name"]
        else:
            ent.search_fields = [f.name for f in ent.fields.values() if f.ft.default_search][:4]
            if ent.naming:
                ent.search_fields.insert(0, "name")

    def _permissions(self, ent: EntityDef, spec: Any, path: PathKey) -> dict[str, RolePermissions]:
        assert ent.scope is not None
        perms: dict[str, RolePermissions] = {}
        if not isinstance(spec, dict):
            return perms
        for role, rspec in spec.items():
            rpath = (*path, role)
            if role not in self.app.roles:
                self.ctx.error(rpath, f"unknown role '{role}'", suggest(role, self.app.roles), key=True)
                continue
            if role in BUILTIN_ROLES:
                self.ctx.error(rpath, "admins can do everything; no permissions needed", key=True)
                continue
            rspec = rspec or {}
            rp = RolePermissions(create=bool(rspec.get("create", False)))
            for key in ("read", "update", "delete"):
                v = rspec.get(key, False)
                if isinstance(v, str):
                    e = self.ctx.expr(v, ent.scope, (*rpath, key), want="bool")
                    setattr(rp, key, e if e is not None else False)
                else:
                    setattr(rp, key, bool(v))
            tv = rspec.get("transition", None)
            if tv is None:
                rp.transition = rp.read
            elif isinstance(tv, list):
                if ent.workflow is None:
                    self.ctx.error((*rpath, "transition"), f"'{ent.name}' has no workflow", key=True)
                for i, t in enumerate(tv):
                    if ent.workflow is not None and t not in ent.workflow.transitions:
                        self.ctx.error((*rpath, "transition", i), f"unknown transition '{t}'",
                                       suggest(t, ent.workflow.transitions))
                rp.transition = frozenset(str(t) for t in tv)
            elif isinstance(tv, str):
                e = self.ctx.expr(tv, ent.scope, (*rpath, "transition"), want="bool")
                rp.transition = e if e is not None else False
            else:
                rp.transition = bool(tv)
            if rp.update is not False and rp.read is False:
                self.ctx.error(rpath, f"role '{role}' may update but not read '{ent.name}'",
                               "add read: true (or a row filter)", key=True)
            perms[role] = rp
        return perms


class _LazyScope(Scope):
    """A link target's scope, resolved when first used (entities may link in cycles)."""

    def __init__(self, compiler: AppCompiler, target: EntityDef):  # noqa: D107
        self._compiler = compiler
        self._target = target

    def __getattr__(self, item: str) -> Any:
        scope = self._target.scope
        if scope is None:
            raise AttributeError(item)
        return getattr(scope, item)

    # Dataclass defaults live on the class, so these must be forwarded explicitly.
    @property  # type: ignore[override]
    def entity(self) -> str | None:
        return self._target.key

    @property  # type: ignore[override]
    def user(self) -> dict[str, NameInfo] | None:
        return self._target.scope.user if self._target.scope else None

    @property  # type: ignore[override]
    def label(self) -> str:
        return self._target.scope.label if self._target.scope else self._target.name

    def suggest(self, name: str) -> str:
        assert self._target.scope is not None
        return self._target.scope.suggest(name)
