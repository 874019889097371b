"""The ``connectors:`` definition section: JSON Schema, presets and compilation.

A connector is definition data: where the ERP is (``base_url``), how to log in
(``auth``), how it reports failures (``errors``), and its operations — pulls
(request template, pagination, record extraction, field mapping, upsert key),
pushes (trigger, steps, idempotency key) and reconciliation. Shipped presets
(``connectors/presets/*.yaml``) hold everything an ERP needs; the user names a
preset and fills in URLs, account variables, environment references for
secrets and the field mapping. Connectors live in an app file's
``connectors:`` section, or in shared files in a ``connectors/`` folder beside
the app files (each connector there names its ``app``). Every problem is
reported with ``file:line:col`` like the rest of the language.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from croniter import croniter

from runtime.compiler import CompileContext
from runtime.expressions import Expr, NameInfo, Scope, suggest
from runtime.model import AppDef, EntityDef
from runtime.yamlsource import PathKey, SourceMap, load_file

from .schema import CONNECTOR, IDENT, schema_defs, schema_sections  # noqa: F401 - re-exported for the extension
from .template import ENV, SECRET, Renderer, compile_template, scope_of

PRESETS_DIR = Path(__file__).with_name("presets")
SECRET_REF = re.compile(r"\$\{secret:[^}]*\}?")
SECRET_KEYS = {"password", "secret", "app_secret", "client_secret", "token", "value", "api_key", "key_secret"}

# ---------------------------------------------------------------------------- compiled form

@dataclass
class Request:
    method: str
    path: Renderer
    query: Renderer | None
    body: Renderer | None
    headers: Renderer | None
    has_body: bool


@dataclass
class ErrorRule:
    find: str | None = None
    text: str | None = None
    status: list[int] | None = None
    failed_if: dict[str, Any] = field(default_factory=dict)
    failed_unless: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    session_lost: bool = False
    transient: bool = False


@dataclass
class FieldMap:
    expr: Expr | None = None
    path: tuple[str, ...] | None = None     # a plain name or dotted path: read directly (fast)
    constant: Any = None
    lookup: EntityDef | None = None
    by: str | None = None
    create: dict[str, FieldMap] = field(default_factory=dict)


@dataclass
class ChildMap:
    field: str
    entity: EntityDef
    key: str | None
    fields: dict[str, FieldMap]
    source: tuple[str, ...] = ()  # ``from:``: the rows' list inside each ERP record; () = the group's rows


@dataclass
class Step:
    name: str
    request: Request
    capture: dict[str, tuple[str, ...]]
    unless: Expr | None
    ok_errors: list[str]


@dataclass
class Operation:
    name: str
    type: str
    entity: EntityDef
    title: str = ""
    schedule: str | None = None
    request: Request | None = None
    select: list[str] = field(default_factory=list)
    pagination: dict[str, Any] = field(default_factory=dict)
    records: tuple[str, ...] = ()
    positional: bool = False
    group_by: str | None = None
    key: str | None = None
    watermark: dict[str, Any] | None = None
    fields: dict[str, FieldMap] = field(default_factory=dict)
    children: dict[str, ChildMap] = field(default_factory=dict)
    closed: Expr | None = None
    on_closed: dict[str, Any] = field(default_factory=dict)
    on_deleted: dict[str, Any] = field(default_factory=dict)
    on: list[str] = field(default_factory=list)
    when: Expr | None = None
    number: Expr | None = None
    check: Step | None = None
    steps: list[Step] = field(default_factory=list)


@dataclass
class Connector:
    name: str
    app: str
    title: str
    base_url: Renderer
    timeout: tuple[float, float]
    retry: dict[str, Any]
    circuit: dict[str, Any]
    auth: dict[str, Any]
    sign: dict[str, Any] | None
    vars: dict[str, Any]
    errors: list[ErrorRule]
    operations: dict[str, Operation]
    reconcile: dict[str, Any] | None
    raw: dict[str, Any]
    secrets: set[str] = field(default_factory=set)  # values read from ${ENV}, masked in logs

    def pulls(self) -> list[Operation]:
        return [o for o in self.operations.values() if o.type == "pull"]

    def missing_env(self) -> list[str]:
        """``${NAME}`` references of this connector whose environment variable is not set."""
        import json
        import os
        names = ENV.findall(json.dumps(self.raw, ensure_ascii=False, default=str))
        return sorted({n for n in names if os.environ.get(n) is None})

    def pushes(self) -> list[Operation]:
        return [o for o in self.operations.values() if o.type == "push"]


DEFAULTS: dict[str, Any] = {
    "timeout": {"connect": 5, "read": 30},
    "retry": {"attempts": 5, "backoff": 0.5, "max_backoff": 30},
    "circuit": {"failures": 5, "pause": 300},
    "auth": {"type": "none"},
}

# ---------------------------------------------------------------------------- presets and shared files


@functools.lru_cache(maxsize=16)
def _preset(name: str) -> tuple[Any, SourceMap] | None:
    path = PRESETS_DIR / f"{name}.yaml"
    if not path.is_file():
        return None
    data, smap, errs = load_file(path)
    if errs:
        raise ValueError(f"preset {name} is broken: {errs[0].format()}")
    return data, smap


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def merge(base: Any, over: Any) -> Any:
    """Deep merge: mappings merge key by key; anything else in ``over`` replaces ``base``."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(base.get(k), v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(over)


def _exists(data: Any, path: PathKey) -> bool:
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return False
    return True


class _Where(CompileContext):
    """A CompileContext that puts each error in the file the offending value came from."""

    def __init__(self, user_ctx: CompileContext, user_base: PathKey, user_raw: dict[str, Any],
                 preset: tuple[Any, SourceMap] | None):
        super().__init__(user_ctx.smap, user_ctx.errors)
        self.user_base = user_base
        self.user_raw = user_raw
        self.preset = preset

    def _locate(self, path: PathKey) -> tuple[SourceMap, PathKey]:
        if self.preset is None or _exists(self.user_raw, path):
            return self.smap, (*self.user_base, *path)
        if _exists(self.preset[0], path):
            return self.preset[1], path
        # Missing altogether: point at the deepest part the user wrote.
        probe = path
        while probe and not _exists(self.user_raw, probe):
            probe = probe[:-1]
        return self.smap, (*self.user_base, *probe)

    def error(self, path: PathKey, message: str, hint: str = "", *, key: bool = False) -> None:
        smap, p = self._locate(path)
        self.errors.append(smap.error(p, message, hint, key=key))

    def expr(self, source: Any, scope: Scope, path: PathKey, *, want: str | None = None) -> Expr | None:
        smap, p = self._locate(path)
        before = len(self.errors)
        inner = CompileContext(smap, self.errors)
        result = inner.expr(source, scope, p, want=want)
        del before
        return result


def shared_files(app: AppDef) -> list[Path]:
    folder = Path(app.file).parent / "connectors"
    if not Path(app.file).is_file() or not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


@functools.lru_cache(maxsize=1)
def _shared_validator() -> Any:
    schema = {"type": "object", "additionalProperties": False, "required": ["connectors"],
              "properties": {"connectors": schema_sections()["connectors"]}, "$defs": schema_defs()}
    return schema, jsonschema.Draft202012Validator(schema)


def load_shared(path: Path, ctx: CompileContext) -> tuple[dict[str, Any], SourceMap] | None:
    from runtime.loader import schema_error  # the same positioned messages as app files
    data, smap, errs = load_file(path)
    ctx.errors.extend(errs)
    if errs:
        return None
    schema, validator = _shared_validator()
    if not isinstance(data, dict):
        ctx.errors.append(smap.error((), "a shared connector file holds 'connectors:'"))
        return None
    bad = [schema_error(e, smap, schema) for e in validator.iter_errors(data)]
    ctx.errors.extend(bad)
    if bad:
        return None
    for name, spec in (data.get("connectors") or {}).items():
        if not spec.get("app"):
            ctx.errors.append(smap.error(("connectors", name), "a connector in a shared file must name its 'app'",
                                         "add e.g. app: work_order_tracking"))
    return data, smap


# ---------------------------------------------------------------------------- compile

def compile_app(app: AppDef, ctx: CompileContext, apps: dict[str, AppDef]) -> None:
    """Compile the connectors of ``app`` (its own section and shared files naming it) into app.sections."""
    out: dict[str, Connector] = {}
    own = app.raw.get("connectors") or {}
    if isinstance(own, dict):
        for name, spec in own.items():
            if isinstance(spec, dict):
                if spec.get("app") not in (None, app.name):
                    ctx.error(("connectors", name, "app"), f"this connector is in app '{app.name}'",
                              "leave 'app' out in an app file; it is for shared connector files")
                    continue
                c = compile_connector(name, spec, app, ctx, ("connectors", name))
                if c is not None:
                    out[name] = c
    for path in shared_files(app):
        loaded = load_shared(path, ctx)
        if loaded is None:
            continue
        data, smap = loaded
        fctx = CompileContext(smap, ctx.errors)
        for name, spec in data["connectors"].items():
            target = spec.get("app")
            if target not in apps:
                if target:
                    fctx.error(("connectors", name, "app"), f"unknown app '{target}'", suggest(str(target), apps))
                continue
            if target != app.name:
                continue
            if name in out:
                fctx.error(("connectors", name), f"connector '{name}' is also defined in {app.file}", key=True)
                continue
            c = compile_connector(name, spec, app, fctx, ("connectors", name))
            if c is not None:
                out[name] = c
    app.sections["connectors"] = out


def compile_connector(name: str, user: dict[str, Any], app: AppDef, ctx: CompileContext,
                      base: PathKey) -> Connector | None:
    preset = None
    raw = user
    if user.get("preset"):
        preset = _preset(str(user["preset"]))
        if preset is None:
            ctx.error((*base, "preset"), f"unknown preset '{user['preset']}'", suggest(user["preset"], preset_names()))
            return None
        # Preset operations are templates: only those the user lists are active.
        pdata = dict(preset[0])
        ops = {k: v for k, v in (pdata.get("operations") or {}).items() if k in (user.get("operations") or {})}
        pdata["operations"] = ops
        if "reconcile" not in user:
            pdata.pop("reconcile", None)
        raw = merge(merge(DEFAULTS, pdata), user)
    else:
        raw = merge(DEFAULTS, user)
    w = _Where(ctx, base, user, preset)
    before = len(ctx.errors)
    _check_secrets(raw, w)
    if not raw.get("base_url"):
        w.error(("base_url",), "a connector needs base_url", "e.g. base_url: http://erp.example.com/k3cloud")
    vars_raw = raw.get("vars") or {}
    vars_scope = scope_of([str(k) for k in vars_raw], "connector vars")
    req_scope = Scope("the request", {
        "since": NameInfo("text"), "until": NameInfo("text"), "limit": NameInfo("int"), "offset": NameInfo("int"),
        "page": NameInfo("int"), "after": NameInfo("text"), "field_keys": NameInfo("text"),
        "vars": NameInfo("any", vars_scope), "token": NameInfo("text"),
    })
    auth = dict(raw.get("auth") or {"type": "none"})
    auth_type = auth.get("type", "none")
    need = {"basic": ["username", "password"], "bearer": ["token"], "api_key": ["name", "value"],
            "session": ["login"], "token": ["login", "token_path"]}.get(auth_type, [])
    for k in need:
        if k not in auth:
            w.error(("auth",), f"auth type '{auth_type}' needs '{k}'")
    if "login" in auth:
        auth["login"] = _request(auth["login"], w, req_scope, ("auth", "login"))
    for k in ("username", "password", "token", "value"):
        if k in auth:
            auth[k] = compile_template(auth[k], w, req_scope, ("auth", k))
    sign = raw.get("sign")
    if sign:
        sign = {k: compile_template(v, w, req_scope, ("sign", k)) for k, v in sign.items()}
    t = raw.get("timeout") or {}
    conn = Connector(
        name=name, app=app.name, title=str(raw.get("title") or name),
        base_url=compile_template(str(raw.get("base_url") or ""), w, req_scope, ("base_url",)),
        timeout=(float(t.get("connect", 5)), float(t.get("read", 30))),
        retry=dict(raw.get("retry") or {}), circuit=dict(raw.get("circuit") or {}), auth=auth, sign=sign,
        vars={k: compile_template(v, w, req_scope, ("vars", k)) for k, v in vars_raw.items()},
        errors=[ErrorRule(**e) for e in raw.get("errors") or []], operations={}, reconcile=None, raw=raw,
    )
    for oname, ospec in (raw.get("operations") or {}).items():
        op = _operation(oname, ospec, app, w, req_scope, vars_scope, ("operations", oname))
        if op is not None:
            conn.operations[oname] = op
    rec = raw.get("reconcile")
    if rec:
        target = conn.operations.get(rec.get("operation", ""))
        if target is None or target.type != "pull":
            w.error(("reconcile", "operation"), f"reconcile needs a pull operation, not '{rec.get('operation')}'",
                    suggest(str(rec.get("operation")), [o.name for o in conn.pulls()]))
        else:
            _cron(rec.get("schedule"), w, ("reconcile", "schedule"))
            keys = ["key", *target.fields, *target.children]
            for i, c in enumerate(rec.get("compare") or []):
                if c not in target.fields and c not in target.children:
                    w.error(("reconcile", "compare", i), f"'{c}' is not mapped by operation '{target.name}'",
                            suggest(c, keys))
            conn.reconcile = {"operation": target.name, "schedule": rec.get("schedule"),
                              "window_days": int(rec.get("window_days") or 30),
                              "compare": list(rec.get("compare") or [*target.fields, *target.children])}
    return conn if len(ctx.errors) == before else None


def _check_secrets(raw: Any, w: _Where, path: PathKey = ()) -> None:
    """Secrets may only be environment references: a literal password in a definition is refused."""
    if isinstance(raw, dict):
        for k, v in raw.items():
            if k in SECRET_KEYS and isinstance(v, str) and path and path[0] in ("auth", "sign", "vars"):
                if not ENV.fullmatch(v.strip()) and not SECRET.fullmatch(v.strip()) and "{{" not in v:
                    w.error((*path, k), "secrets must be environment references or stored secrets",
                            f"write e.g. {k}: ${{{name_hint(path, k)}}} and set that variable, or type the "
                            f"secret on the connector's setup page (stored encrypted as ${{secret:name}})")
            _check_secrets(v, w, (*path, k))
    elif isinstance(raw, list):
        for i, v in enumerate(raw):
            _check_secrets(v, w, (*path, i))
    elif isinstance(raw, str) and "${secret:" in raw:
        for ref in SECRET_REF.findall(raw):
            if not SECRET.fullmatch(ref):
                w.error(path, f"'{ref}' is not a stored secret's name",
                        "write ${secret:name} with lower-case letters, digits and _, e.g. ${secret:kingdee_app_secret}")


def name_hint(path: PathKey, key: str) -> str:
    return "_".join(str(p).upper() for p in (*path[1:], key) if not isinstance(p, int)) or "ERP_SECRET"


def _cron(text: Any, w: _Where, path: PathKey) -> None:
    """A cron line, optionally written ``cron: 0 18 * * *`` as in rules (the scheduler reads both)."""
    if text is None:
        return
    raw = str(text).strip()
    line = raw[5:].strip() if raw.startswith("cron:") else raw
    if len(line.split()) != 5 or not croniter.is_valid(line):
        w.error(path, f"'{text}' is not a valid cron schedule", "five fields: minute hour day month weekday, "
                "e.g. '0 2 * * *' for 02:00 every night (or 'cron: 0 2 * * *')")


def _request(raw: Any, w: _Where, scope: Scope, path: PathKey) -> Request | None:
    if not isinstance(raw, dict) or not raw.get("path"):
        w.error(path, "a request needs a path", "e.g. path: /api/orders")
        return None
    return Request(
        method=str(raw.get("method") or ("POST" if "body" in raw else "GET")),
        path=compile_template(raw["path"], w, scope, (*path, "path")),
        query=compile_template(raw["query"], w, scope, (*path, "query")) if raw.get("query") else None,
        body=compile_template(raw["body"], w, scope, (*path, "body")) if "body" in raw else None,
        headers=compile_template(raw["headers"], w, scope, (*path, "headers")) if raw.get("headers") else None,
        has_body="body" in raw)


def _json_path(text: str | None) -> tuple[str, ...]:
    if not text or text in ("$", "."):
        return ()
    return tuple(p for p in str(text).lstrip("$.").split(".") if p)


def _operation(name: str, spec: dict[str, Any], app: AppDef, w: _Where, req_scope: Scope, vars_scope: Scope,
               path: PathKey) -> Operation | None:
    typ = spec.get("type")
    if typ not in ("pull", "push"):
        w.error((*path, "type"), "an operation needs type: pull or push")
        return None
    ename = spec.get("entity")
    ent = app.entities.get(str(ename)) if ename else None
    if ent is None:
        w.error((*path, "entity") if ename else path, f"unknown entity '{ename}'" if ename else
                "an operation needs the entity it reads or writes", suggest(str(ename or ""), app.entities))
        return None
    _cron(spec.get("schedule"), w, (*path, "schedule"))
    op = Operation(name=name, type=typ, entity=ent, title=str(spec.get("title") or name),
                   schedule=spec.get("schedule"))
    if typ == "pull":
        _pull(op, spec, app, w, req_scope, path)
    else:
        _push(op, spec, app, w, vars_scope, path)
    return op


def _pull(op: Operation, spec: dict[str, Any], app: AppDef, w: _Where, req_scope: Scope, path: PathKey) -> None:
    ent = op.entity
    op.request = _request(spec.get("request"), w, req_scope, (*path, "request"))
    op.select = [str(s) for s in spec.get("select") or []]
    op.pagination = {"type": "none", "limit": 500, "start": 0, **(spec.get("pagination") or {})}
    pg = op.pagination
    if pg["type"] == "next_link" and not pg.get("next"):
        w.error((*path, "pagination"), "next_link pagination needs 'next', the JSON path of the next link",
                "e.g. next: '@odata.nextLink'")
    if pg["type"] == "keyset" and not pg.get("key"):
        w.error((*path, "pagination"), "keyset pagination needs 'key', the ERP field the pages are ordered by")
    op.records = _json_path(spec.get("records"))
    op.positional = spec.get("rows") == "positional"
    if op.positional and not op.select:
        w.error((*path, "rows"), "positional rows need 'select', the field keys in the order the ERP returns them")
    src_names = op.select or []
    if not src_names:
        w.error((*path, "select"), "list the ERP fields this operation reads under 'select'",
                "e.g. select: [FBillNo, FDate, FCustId.FNumber]")
    src = scope_of(src_names, "the ERP record")
    for extra in ("group_by",):
        if spec.get(extra) and spec[extra] not in src_names:
            w.error((*path, extra), f"'{spec[extra]}' is not in select", suggest(spec[extra], src_names))
    op.group_by = spec.get("group_by")
    if pg["type"] == "keyset" and pg.get("key") and pg["key"] not in src_names:
        w.error((*path, "pagination", "key"), f"'{pg['key']}' is not in select", suggest(pg["key"], src_names))
    key = spec.get("key")
    if not key or key not in ent.fields:
        w.error((*path, "key") if key else path, f"unknown field '{key}' of {ent.name}" if key else
                "a pull needs 'key': the field holding the ERP's number (unique)", suggest(str(key or ""), ent.fields))
    elif not ent.fields[key].unique:
        w.error((*path, "key"), f"'{key}' must be declared unique: true to upsert by it",
                f"add unique: true to {ent.name}.{key}")
    else:
        op.key = key
    wm = spec.get("watermark")
    if wm:
        if wm.get("field") not in src_names:
            w.error((*path, "watermark", "field"), f"'{wm.get('field')}' is not in select",
                    suggest(str(wm.get("field")), src_names))
        op.watermark = {"field": wm.get("field"), "overlap": float(wm.get("overlap", 120)),
                        "format": wm.get("format", "%Y-%m-%d %H:%M:%S"), "initial": wm.get("initial",
                                                                                           "2000-01-01 00:00:00")}
    fields = spec.get("fields") or {}
    op.fields = _fields(fields, ent, app, w, src, (*path, "fields"))
    if op.key and op.key not in op.fields:
        w.error((*path, "fields"), f"the key field '{op.key}' must be mapped", f"e.g. {op.key}: FBillNo")
    for cname, cspec in (spec.get("children") or {}).items():
        f = ent.fields.get(cname)
        if f is None or f.type != "table" or f.child is None:
            w.error((*path, "children", cname), f"'{cname}' is not a table field of {ent.name}",
                    suggest(cname, [x.name for x in ent.child_fields()]), key=True)
            continue
        ckey = cspec.get("key")
        if ckey and ckey not in f.child.fields:
            w.error((*path, "children", cname, "key"), f"unknown field '{ckey}' of {cname}",
                    suggest(ckey, f.child.fields))
        source = _json_path(cspec.get("from"))
        csrc = src
        if source:  # the rows' fields: ``from.x`` names in select, plus the record's own fields
            prefix = ".".join(source) + "."
            csrc = scope_of([*src_names, *(n[len(prefix):] for n in src_names if n.startswith(prefix))], "the ERP row")
            if not any(n.startswith(prefix) for n in src_names):
                w.error((*path, "children", cname, "from"), f"select lists no field of '{'.'.join(source)}'",
                        f"e.g. select: [..., {prefix}FQty]")
        op.children[cname] = ChildMap(cname, f.child, ckey, _fields(cspec.get("fields") or {}, f.child, app, w, csrc,
                                                                     (*path, "children", cname, "fields")), source)
    if spec.get("closed"):
        op.closed = w.expr(spec["closed"], src, (*path, "closed"))
    for key in ("on_closed", "on_deleted"):
        option = spec.get(key) or {}
        name = option.get("transition")
        wf = ent.workflow
        if name and (wf is None or name not in wf.transitions):
            w.error((*path, key, "transition"), f"'{ent.name}' has no transition '{name}'",
                    suggest(name, wf.transitions if wf else []))
        setattr(op, key, dict(option))


def _fields(raw: dict[str, Any], ent: EntityDef, app: AppDef, w: _Where, src: Scope,
            path: PathKey) -> dict[str, FieldMap]:
    out: dict[str, FieldMap] = {}
    for fname, m in raw.items():
        f = ent.fields.get(fname)
        fp = (*path, fname)
        if f is None or not f.stored:
            w.error(fp, f"'{fname}' is not a stored field of {ent.name}", suggest(fname, ent.fields), key=True)
            continue
        if isinstance(m, dict):
            target = app.entities.get(m.get("lookup", ""))
            if f.type != "link":
                w.error(fp, f"'{fname}' is not a link field, so it cannot use lookup")
                continue
            if target is None or m.get("lookup") != f.to:
                w.error((*fp, "lookup"), f"'{fname}' links to '{f.to}', not '{m.get('lookup')}'")
                continue
            by = target.fields.get(m.get("by", ""))
            if by is None:
                w.error((*fp, "by"), f"unknown field '{m.get('by')}' of {target.name}", suggest(m.get("by", ""),
                                                                                              target.fields))
                continue
            if not by.unique:
                w.error((*fp, "by"), f"'{target.name}.{by.name}' must be unique to look records up by it")
            fm = _one(m["value"], w, src, (*fp, "value"))
            fm.lookup, fm.by = target, by.name
            fm.create = {k: _one(v, w, src, (*fp, "create", k)) for k, v in (m.get("create") or {}).items()}
            for k in fm.create:
                if k not in target.fields:
                    w.error((*fp, "create", k), f"unknown field '{k}' of {target.name}", suggest(k, target.fields),
                            key=True)
            out[fname] = fm
        else:
            out[fname] = _one(m, w, src, fp)
    return out


def _one(source: Any, w: _Where, src: Scope, path: PathKey) -> FieldMap:
    if isinstance(source, (int, float, bool)) and not isinstance(source, str):
        return FieldMap(constant=source)
    expr = w.expr(source, src, path)
    fm = FieldMap(expr=expr)
    if expr is not None:
        import ast
        node = expr.tree.body if isinstance(expr.tree, ast.Expression) else expr.tree
        if isinstance(node, ast.Name) and node.id in src.names:
            fm.path = (node.id,)
        elif isinstance(node, ast.Attribute) and id(node) in expr.attr_paths:
            fm.path = expr.attr_paths[id(node)]
    return fm


def _push(op: Operation, spec: dict[str, Any], app: AppDef, w: _Where, vars_scope: Scope, path: PathKey) -> None:
    ent = op.entity
    assert ent.scope is not None
    captures: dict[str, str] = {"key": "text", "number": "any", "status": "any", "erp_number": "text",
                                "erp_id": "any"}
    for s in [spec.get("check") or {}, *(spec.get("steps") or [])]:
        for c in (s.get("capture") or {}):
            captures[c] = "any"
    names = dict(ent.scope.names)
    for c, typ in captures.items():
        names.setdefault(c, NameInfo(typ))
    names["vars"] = NameInfo("any", vars_scope)
    scope = Scope(f"push {op.name}", names, entity=ent.scope.entity)
    for i, trig in enumerate(spec.get("on") or []):
        kind, _, tr = str(trig).partition(":")
        if kind == "transition":
            if ent.workflow is None or tr not in ent.workflow.transitions:
                w.error((*path, "on", i), f"'{ent.name}' has no transition '{tr}'",
                        suggest(tr, ent.workflow.transitions if ent.workflow else []))
        elif kind not in ("updated", "created"):
            w.error((*path, "on", i), f"unknown trigger '{trig}'", "use 'transition:<name>', 'updated' or 'created'")
    op.on = list(spec.get("on") or [])
    if not op.on and not op.schedule:
        w.error(path, "a push needs 'on' (record events) or 'schedule'", "e.g. on: ['transition:complete']")
    if spec.get("when"):
        op.when = w.expr(spec["when"], ent.scope, (*path, "when"))
    if not spec.get("number"):
        w.error(path, "a push needs 'number': the external document number that makes retries idempotent",
                "e.g. number: \"'JIG-' + name\"")
    else:
        op.number = w.expr(spec["number"], ent.scope, (*path, "number"))
    if spec.get("check"):
        op.check = _step(spec["check"], w, scope, (*path, "check"))
    op.steps = [s for s in (_step(s, w, scope, (*path, "steps", i)) for i, s in enumerate(spec.get("steps") or []))
                if s is not None]
    if not op.steps:
        w.error(path, "a push needs steps (e.g. Save, Submit, Audit)")


def _step(raw: dict[str, Any], w: _Where, scope: Scope, path: PathKey) -> Step | None:
    req = _request(raw.get("request"), w, scope, (*path, "request"))
    if req is None:
        return None
    unless = w.expr(raw["unless"], scope, (*path, "unless")) if raw.get("unless") else None
    return Step(name=str(raw.get("name") or path[-1]), request=req,
                capture={k: _json_path(v) for k, v in (raw.get("capture") or {}).items()},
                unless=unless, ok_errors=[str(x) for x in raw.get("ok_errors") or []])


def describe(conn: Connector) -> dict[str, Any]:
    return {"name": conn.name, "app": conn.app, "title": conn.title, "auth": conn.auth.get("type"),
            "operations": {o.name: {"type": o.type, "entity": o.entity.name, "schedule": o.schedule}
                           for o in conn.operations.values()},
            "reconcile": conn.reconcile}


def dumps(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, default=str)
