"""Loading definitions: files -> schema check -> meaning check -> AppDefs.

``load_apps`` either returns every app or raises DefinitionErrors listing
every problem in every file at once. Extensions (rules, connectors, links,
dashboards) plug in their own top-level sections through the hooks declared in
:mod:`runtime.extensions`, so the runtime never needs to know them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema

from . import compact
from .compiler import AppCompiler, CompileContext
from .errors import DefinitionError, DefinitionErrors
from .expressions import suggest
from .extensions import Extensions, ExtensionsLike
from .model import AppDef
from .schema import IDENT, build_schema
from .yamlsource import PathKey, SourceMap, load_file, load_text


def find_definition_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            files.extend(sorted(x for x in path.iterdir() if x.suffix in (".yaml", ".yml") and x.is_file()))
        else:
            files.append(path)
    return files


@functools.lru_cache(maxsize=8)
def _validator(schema_json: str) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def schema_for(extensions: ExtensionsLike) -> dict[str, Any]:
    exts = Extensions.of(extensions)
    return build_schema(exts.schema_sections(), exts.schema_defs(), exts.field_types)


def load_apps(paths: Iterable[str | Path], extensions: ExtensionsLike = ()) -> dict[str, AppDef]:
    """Load every definition file under ``paths``; raise DefinitionErrors on any problem."""
    sources: list[tuple[Any, SourceMap]] = []
    errors: list[DefinitionError] = []
    files = find_definition_files(paths)
    if not files:
        raise DefinitionErrors([DefinitionError(str(next(iter(paths), ".")), 1, 1, "",
                                                "no definition files (*.yaml) found",
                                                "point JIG_APPS at a folder of app definitions")])
    for f in files:
        data, smap, errs = load_file(f)
        errors.extend(errs)
        if not errs:
            sources.append((data, smap))
    return _compile_all(sources, errors, extensions)


def load_texts(texts: dict[str, str], extensions: ExtensionsLike = ()) -> dict[str, AppDef]:
    """Like load_apps, from in-memory texts keyed by a file name (used by the designer and tests)."""
    sources: list[tuple[Any, SourceMap]] = []
    errors: list[DefinitionError] = []
    for name, text in texts.items():
        data, smap, errs = load_text(text, name)
        errors.extend(errs)
        if not errs:
            sources.append((data, smap))
    return _compile_all(sources, errors, extensions)


def _compile_all(sources: list[tuple[Any, SourceMap]], errors: list[DefinitionError],
                 extensions: ExtensionsLike) -> dict[str, AppDef]:
    exts = Extensions.of(extensions)
    field_types = exts.field_types
    schema = schema_for(exts)
    validator = _validator(json.dumps(schema, sort_keys=True))
    apps: dict[str, AppDef] = {}
    contexts: dict[str, CompileContext] = {}
    for data, smap in sources:
        if not isinstance(data, dict):
            errors.append(smap.error((), "a definition must be a mapping with 'app' and 'entities'",
                                     "start the file with 'app: my_app'"))
            continue
        oversized = _oversized(data, smap)
        if oversized:  # refused before the schema walks every one of thousands of entries
            errors.extend(oversized)
            continue
        schema_errors = [schema_error(e, smap, schema) for e in validator.iter_errors(data)]
        errors.extend(schema_errors)
        ctx = CompileContext(smap, field_types=field_types)
        try:
            app = AppCompiler(compact.expand(data, ctx), ctx).compile()
        except Exception as exc:  # noqa: BLE001 - malformed input the schema already reported
            if not schema_errors:
                raise
            del exc
            continue
        bad_paths = {e.path for e in schema_errors}
        errors.extend(e for e in ctx.errors if e.path not in bad_paths)
        if app.name in apps:
            errors.append(smap.error(("app",), f"app '{app.name}' is also defined in {apps[app.name].file}",
                                     "each app needs its own identifier"))
            continue
        apps[app.name] = app
        contexts[app.name] = ctx
    for compile_section in exts.compilers():
        for name, app in apps.items():
            ctx = contexts[name]
            before = len(ctx.errors)
            try:
                compile_section(app, ctx, apps)
            except Exception:
                if not errors:
                    raise
            errors.extend(ctx.errors[before:])
    if errors:
        raise DefinitionErrors(_dedupe(errors))
    return apps


def _dedupe(errors: list[DefinitionError]) -> list[DefinitionError]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for e in errors:
        k = (e.file, e.line, e.col, e.path, e.message)
        if k not in seen:
            seen.add(k)
            out.append(e)
    return out


def schema_error(err: jsonschema.ValidationError, smap: SourceMap, schema: dict[str, Any]) -> DefinitionError:
    """Turn a jsonschema error into a positioned message with a hint (extensions use it for their own files)."""
    if err.validator in ("oneOf", "anyOf") and err.context:
        # Prefer the branch whose type fits the value: its error says what is actually wrong.
        fitting = [e for e in err.context if not (e.validator == "type" and len(e.relative_schema_path) <= 2)]
        deepest = max(fitting or err.context, key=lambda e: (len(e.absolute_path), -_rank(e)))
        if 0 < len(fitting) < len(err.context) or len(deepest.absolute_path) > len(err.absolute_path) or \
                deepest.validator in ("additionalProperties", "required", "enum"):
            err = deepest
    path: PathKey = tuple(err.absolute_path)
    v = err.validator
    hint = ""
    key = False
    if v == "additionalProperties":
        allowed = list((err.schema.get("properties") or {}).keys())  # type: ignore[union-attr]
        extra = [k for k in err.instance if k not in allowed] if isinstance(err.instance, dict) else []
        name = extra[0] if extra else "?"
        path = (*path, name)
        key = True
        message = f"unknown key '{name}'"
        hint = suggest(name, allowed)
        if name in ("rules", "connectors", "links", "dashboards", "templates"):
            hint = f"'{name}' needs its extension enabled (jig enables all by default)"
    elif v == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        message = f"missing required key '{missing}'"
        if missing == "type" and "widgets" in path:
            hint = "every widget needs a type, e.g. type: number, or number: <title>"
        hint = {"type": "every field needs a type, e.g. type: text, or text: <label>", "fields": "an entity needs fields:",
                "app": "start the file with 'app: my_app'", "entities": "an app needs at least one entity",
                "from": "a transition needs from: and to:", "to": "a transition needs from: and to:"}.get(missing, "") \
            if not hint else hint
    elif v == "enum":
        choices = [str(c) for c in err.validator_value]  # type: ignore[union-attr]
        message = f"{err.instance!r} is not one of: {', '.join(choices)}"
        hint = suggest(str(err.instance), choices)
    elif v == "pattern" and err.validator_value == IDENT:
        message = f"{err.instance!r} is not a valid name"
        hint = "names are lower-case letters, digits and '_', starting with a letter (e.g. product_no)"
    elif v == "pattern":
        message = f"{err.instance!r} does not have the expected form ({err.validator_value})"
        hint = "secrets are written as ${NAME} environment references" if "\\$" in str(err.validator_value) else ""
    elif v == "type":
        message = f"expected {err.validator_value}, got {_json_type(err.instance)}"
        hint = "quote texts that look like numbers or booleans, e.g. '007'" if err.validator_value == "string" else ""
    elif v in ("oneOf", "anyOf"):
        message = f"value {_short(err.instance)} does not fit any allowed form"
        hint = "see the reference in docs/definition-language.md"
    elif v in ("maxLength", "maxItems", "maxProperties", "minItems", "minProperties", "minLength"):
        message, hint = _size_message(v, err.instance, err.validator_value)
    elif v == "propertyNames":
        bad = err.instance
        message = f"{bad!r} is not a valid name"
        hint = "names are lower-case letters, digits and '_', starting with a letter (e.g. product_no)"
        key = True
    else:
        message = err.message
    if err.validator == "pattern" and err.relative_schema_path and "propertyNames" in err.relative_schema_path:
        # A bad key name: point at the key itself, not at the mapping holding it.
        key = True
        if isinstance(err.instance, str) and (not path or path[-1] != err.instance):
            path = (*path, err.instance)
    if v == "propertyNames" or (err.validator == "pattern" and isinstance(err.instance, str) and
                                isinstance(err.parent, jsonschema.ValidationError) and
                                err.parent.validator == "propertyNames"):
        path = (*path, str(err.instance))
        key = True
    return smap.error(path, message, hint, key=key)


MAX_ENTITIES = 200  # the same bounds are in the schema (runtime/schema), which reports them for editors
MAX_FIELDS = 300
MAX_OPTIONS = 1000


def _oversized(data: dict[str, Any], smap: SourceMap) -> list[DefinitionError]:
    """Cheap counts first: an app with thousands of entities, fields or options is refused at once."""
    found: list[DefinitionError] = []
    ents = data.get("entities")
    if not isinstance(ents, dict):
        return found
    if len(ents) > MAX_ENTITIES:
        found.append(smap.error(("entities",), f"too many entries: {len(ents)}, at most {MAX_ENTITIES}",
                                "split it into several apps"))
        return found

    def fields_of(owner: Any, path: PathKey) -> None:
        fields = owner.get("fields") if isinstance(owner, dict) else None
        if not isinstance(fields, dict):
            return
        if len(fields) > MAX_FIELDS:
            found.append(smap.error((*path, "fields"), f"too many entries: {len(fields)}, at most {MAX_FIELDS}",
                                    "split it into several entities"))
            return
        for name, spec in fields.items():
            if not isinstance(spec, dict):
                continue
            options = spec.get("options")
            if isinstance(options, list) and len(options) > MAX_OPTIONS:
                found.append(smap.error((*path, "fields", name, "options"),
                                        f"too many items: {len(options)}, at most {MAX_OPTIONS}",
                                        "keep the list short; long lists belong in an entity linked to"))
            if spec.get("type") == "table":
                fields_of(spec, (*path, "fields", name))

    for name, spec in ents.items():
        fields_of(spec, ("entities", name))
    return found


def _size_message(v: str, instance: Any, limit: Any) -> tuple[str, str]:
    n = len(instance) if isinstance(instance, (str, list, dict)) else 0
    what = {"maxLength": "characters", "minLength": "characters", "maxItems": "items", "minItems": "items",
            "maxProperties": "entries", "minProperties": "entries"}[v]
    if v.startswith("max"):
        if what == "characters":
            return (f"too long: {_short(instance)} has {n} characters, at most {limit}",
                    "split a long expression into computed fields, or shorten the text")
        hint = "keep the list short" if what == "items" else "split it into several apps or entities"
        return f"too many {what}: {n}, at most {limit}", hint
    return f"too short: {_short(instance)} has {n} {what}, at least {limit}", "add the missing part"


def _rank(e: jsonschema.ValidationError) -> int:
    return {"type": 2, "oneOf": 1}.get(str(e.validator), 0)


def _json_type(v: Any) -> str:
    if v is None:
        return "nothing (null)"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a text", list: "a list",
            dict: "a mapping"}.get(type(v), type(v).__name__)


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) < 60 else s[:57] + "..."
