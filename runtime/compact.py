"""The compact forms of the definition language, expanded at load into the long forms.

A definition may write several things shortly (docs/definition-language.md, "Compact forms"):

* labels as one text ``厂名 | Name`` (zh | en) -- read by :func:`runtime.compiler.label`;
* a field's type as the key holding its label: ``contact: {text: 联系人 | Contact, max_length: 50}``
  stands for ``{type: text, label: 联系人 | Contact, max_length: 50}`` (see :func:`type_key`);
* options as ``- plating: 电镀 | Plating`` (value: label, with an optional ``color``), or with the colour
  beside the label: ``- plating: [电镀 | Plating, blue]``;
* shared option lists under ``option_sets:``, used by a field as ``options: process_types``;
* a role's permissions as ``all``, a list of actions ``[read, create, update]``, one action ``read``
  or the name of an app-level ``role_presets:`` entry; app-level ``permissions:`` give every entity those
  grants unless the entity lists the role itself (``none``: nothing on this entity);
* plain literal defaults of text and select fields (``default: normal``); ``default: =today()`` is an
  expression, and the old quoted form ``default: "'normal'"`` still means the same text (see
  :func:`default_source`, called by the compiler where the record's names are known);
* flags written alone, a workflow's default transition roles and layout sections keyed by their label
  (runtime/compact_blocks.py);
* named filters of an entity (``filters: {overdue: "..."}``) used by their name in any condition
  on that entity: permissions, guards, rules' ``when``, dashboards' ``filter``.

:func:`expand` rewrites one validated document in place into the long forms, so the compiler and
everything after it never sees a compact form; errors keep the path of what was written.
:func:`expand_filters` replaces filter names inside one expression (called by the compile context).
"""

from __future__ import annotations

import copy
import io
import tokenize
from typing import TYPE_CHECKING, Any

from .compact_blocks import expand_blocks, flags
from .expressions import ExpressionError, Scope, parse, suggest
from .yamlsource import PathKey

if TYPE_CHECKING:
    from .compiler import CompileContext

ACTIONS = ("read", "create", "update", "delete", "transition")
# The keys a field takes besides its type's own keys; a field type of the same name could not be a type key.
FIELD_KEYS = frozenset({"type", "label", "help", "placeholder", "required", "readonly", "visible", "unique", "index",
                        "default", "check", "check_message", "renamed_from", "naming", "rollup"})
LITERAL_DEFAULT_TYPES = frozenset({"text", "longtext", "phone", "email", "select"})
SYSTEM_NAMES = frozenset({"id", "version", "created_at", "updated_at", "created_by", "updated_by", "name",
                          "state", "user", "before", "true", "false", "none", "and", "or", "not", "in", "is"})
# Why a text default of a text or select field is no expression: then it is the text itself.
_NOT_AN_EXPRESSION = ("unknown name ", "syntax error", "expression cannot be read", "use an attribute of the user",
                      "attributes can only follow")


def expand(data: dict[str, Any], ctx: CompileContext) -> dict[str, Any]:
    """Rewrite the compact forms of ``data`` into long forms (in place); returns ``data``."""
    sets = data.get("option_sets") if isinstance(data.get("option_sets"), dict) else {}
    presets = data.get("role_presets") if isinstance(data.get("role_presets"), dict) else {}
    app = str(data.get("app", "app"))
    attrs = data.get("user_attributes")
    if isinstance(attrs, dict):
        for name, spec in attrs.items():
            _field(spec, ("user_attributes", name), sets, ctx)
    ents = data.get("entities") if isinstance(data.get("entities"), dict) else {}
    shared = data.get("permissions") if isinstance(data.get("permissions"), dict) else {}
    for ename, espec in ents.items():
        if not isinstance(espec, dict):
            continue
        path: PathKey = ("entities", ename)
        fields = espec.get("fields") if isinstance(espec.get("fields"), dict) else {}
        for fname, fspec in fields.items():
            _field(fspec, (*path, "fields", fname), sets, ctx)
            if isinstance(fspec, dict) and isinstance(fspec.get("fields"), dict):
                for cname, cspec in fspec["fields"].items():
                    _field(cspec, (*path, "fields", fname, "fields", cname), sets, ctx)
        perms = espec.get("permissions")
        own = set(perms) if isinstance(perms, dict) else set()
        if shared and (perms is None or isinstance(perms, dict)):  # the app's grants, unless the entity says
            perms = espec["permissions"] = {**{r: copy.deepcopy(g) for r, g in shared.items() if r not in own},
                                            **(perms or {})}
        if isinstance(perms, dict):
            for role, grant in list(perms.items()):
                if grant == "none":  # this entity gives the role nothing (the app's grant does not apply)
                    del perms[role]
                    continue
                where = (*path, "permissions", role) if role in own else ("permissions", role)
                perms[role] = _grant(grant, where, presets, ctx)
        _filters(espec, f"{app}.{ename}", path, ctx)
    expand_blocks(data, ctx)
    return data


def type_key(spec: Any, types: Any) -> str | None:
    """The key of ``spec`` naming its type with the label as value (``{text: 厂名 | Name}``), or None when the
    field is written with ``type:``. A field type never has the name of a field key, so this cannot misread."""
    if not isinstance(spec, dict) or "type" in spec:
        return None
    return next((str(k) for k in spec if k in types and k not in FIELD_KEYS), None)


def _type_as_key(spec: dict[str, Any], path: PathKey, ctx: CompileContext) -> None:
    """``{text: 厂名 | Name, ...}`` -> ``{type: text, label: 厂名 | Name, ...}`` (in place, order kept)."""
    kind_as_key(spec, [t for t in ctx.field_types if t not in FIELD_KEYS], path, ctx)


def kind_as_key(spec: dict[str, Any], kinds: Any, path: PathKey, ctx: CompileContext, label_key: str = "label",
                what: str = "a field") -> None:
    """A mapping whose kind is the key of its label (a field's ``text: 厂名 | Name``, a dashboard widget's
    ``number: 在外 | Out``) rewritten in place, order kept, into ``type: <kind>`` and ``<label_key>: ...``."""
    keyed = [str(k) for k in spec if k in kinds]
    if not keyed:
        return
    if "type" in spec or len(keyed) > 1:
        other = "type: " + str(spec["type"]) if "type" in spec else keyed[0]
        ctx.error((*path, keyed[-1]), f"{what} has one type, but '{keyed[-1]}' is given as well as '{other}'",
                  f"write the type once: either type: {keyed[0]}, {label_key}: ... or {keyed[0]}: <{label_key}>",
                  key=True)
        return
    if label_key in spec:
        ctx.error((*path, label_key), f"the {label_key} is given twice: as '{keyed[0]}: ...' and as '{label_key}:'",
                  f"keep one of them, e.g. {keyed[0]}: 名称 | Name", key=True)
        return
    items = list(spec.items())
    spec.clear()
    for k, v in items:
        if k == keyed[0]:
            spec["type"] = k
            if v is not None:
                spec[label_key] = v
        else:
            spec[k] = v


def _field(spec: Any, path: PathKey, sets: dict[str, Any], ctx: CompileContext) -> None:
    if not isinstance(spec, dict):
        return
    _type_as_key(spec, path, ctx)
    flags(spec)
    opts = spec.get("options")
    if isinstance(opts, str):
        if opts in sets and isinstance(sets[opts], list):
            opts = copy.deepcopy(sets[opts])
        else:
            ctx.error((*path, "options"), f"unknown option list '{opts}'",
                      suggest(opts, sets) or "declare it under option_sets: at the top of the app")
            opts = None
        spec["options"] = opts
    if isinstance(opts, list):
        spec["options"] = [_option(o) for o in opts]


def _option(o: Any) -> Any:
    """``{plating: 电镀 | Plating, color: blue}`` -> ``{value: plating, label: ..., color: blue}``."""
    if not isinstance(o, dict) or "value" in o:
        return o
    keys = [k for k in o if k != "color"]
    if len(keys) != 1:
        return o
    lab = o[keys[0]]
    if "color" not in o and isinstance(lab, list) and len(lab) == 2:  # plating: [电镀 | Plating, blue]
        return {"value": str(keys[0]), "label": lab[0], "color": lab[1]}
    out = {"value": str(keys[0]), "label": lab}
    if "color" in o:
        out["color"] = o["color"]
    return out


def default_source(value: Any, ftype: str, scope: Scope) -> Any:
    """The expression a field's ``default:`` stands for. ``=expr`` is an expression on any field. On a text
    or select field a text is the text itself -- unless it reads as an expression giving a text over the
    record, which is what older definitions wrote (``"'normal'"``, ``"note + note"``, ``user.username``):
    those keep their meaning, and their mistakes (other than naming nothing) are reported as before."""
    if not isinstance(value, str):
        return value
    if value.startswith("="):
        return " " + value[1:]  # the blank keeps error columns where they were written
    if ftype not in LITERAL_DEFAULT_TYPES:
        return value
    try:
        if parse(value, scope).type in ("text", "any", "null"):
            return value
    except ExpressionError as exc:
        if not exc.message.startswith(_NOT_AN_EXPRESSION):
            return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _grant(grant: Any, path: PathKey, presets: dict[str, Any], ctx: CompileContext, depth: int = 0) -> Any:
    """A role's permissions in long form: ``all``, ``[read, create]``, ``read`` or a preset's name."""
    if isinstance(grant, list):
        bad = [a for a in grant if a not in ACTIONS]
        for a in bad:
            ctx.error((*path, grant.index(a)), f"unknown action '{a}'", suggest(str(a), ACTIONS))
        return {str(a): True for a in grant if a in ACTIONS}
    if not isinstance(grant, str):
        return grant
    if grant == "all":
        return {a: True for a in ACTIONS}
    if grant in ACTIONS:
        return {grant: True}
    if grant in presets and depth == 0:
        return _grant(copy.deepcopy(presets[grant]), ("role_presets", grant), presets, ctx, 1)
    ctx.error(path, f"unknown permission preset '{grant}'",
              suggest(grant, ["all", *ACTIONS, *presets]) or "use all, a list such as [read, create], "
              "or declare it under role_presets:")
    return {}


def _filters(espec: dict[str, Any], key: str, path: PathKey, ctx: CompileContext) -> None:
    raw = espec.get("filters")
    if not isinstance(raw, dict):
        return
    fields = espec.get("fields") if isinstance(espec.get("fields"), dict) else {}
    named: dict[str, str] = {}
    for name, source in raw.items():
        if name in fields or name in SYSTEM_NAMES:
            ctx.error((*path, "filters", name), f"filter '{name}' has the name of a field or word of "
                      "expressions, so conditions could not tell them apart", f"rename it, e.g. '{name}_rows'",
                      key=True)
        elif isinstance(source, str):
            named[str(name)] = source
    ctx.filters[key] = named


def expand_filters(source: str, filters: dict[str, str]) -> str:
    """``source`` with each use of a named filter replaced by its condition in parentheses (filters may use
    other filters, a few levels deep; one that uses itself is left for the parser to report)."""
    for _ in range(4):
        expanded = _expand_once(source, filters)
        if expanded is source:
            break
        source = expanded
    return source


def _expand_once(source: str, filters: dict[str, str]) -> str:
    if not filters or not any(n in source for n in filters):
        return source
    try:
        toks = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
                if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                                  tokenize.COMMENT, tokenize.ENDMARKER)]
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return source  # the parser reports what is wrong with it
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    out, at = [], 0
    for i, t in enumerate(toks):
        if t.type != tokenize.NAME or t.string not in filters:
            continue
        if (i > 0 and toks[i - 1].string == ".") or (i + 1 < len(toks) and toks[i + 1].string in ("(", ".")):
            continue
        begin = starts[t.start[0] - 1] + t.start[1]
        end = starts[t.end[0] - 1] + t.end[1]
        out.append(source[at:begin])
        out.append("(" + filters[t.string].strip() + ")")
        at = end
    if not out:
        return source
    out.append(source[at:])
    return "".join(out)


def field_paths(data: Any) -> list[PathKey]:
    """The paths of every field of a definition (entities' fields, their tables' fields, user attributes)."""
    out: list[PathKey] = []
    ents = data.get("entities") if isinstance(data, dict) else None
    for ename, espec in (ents.items() if isinstance(ents, dict) else ()):
        fields = espec.get("fields") if isinstance(espec, dict) else None
        for fname, fspec in (fields.items() if isinstance(fields, dict) else ()):
            out.append(("entities", ename, "fields", fname))
            inner = fspec.get("fields") if isinstance(fspec, dict) else None
            out.extend(("entities", ename, "fields", fname, "fields", c) for c in (inner or {}) if isinstance(inner, dict))
    attrs = data.get("user_attributes") if isinstance(data, dict) else None
    out.extend(("user_attributes", a) for a in (attrs if isinstance(attrs, dict) else ()))
    return out


def long_field(spec: Any, types: Any) -> Any:
    """A copy of ``spec`` with its type written as ``type:`` and ``label:`` (what the designer's page reads)."""
    tk = type_key(spec, types)
    if tk is None:
        return spec
    out: dict[str, Any] = {}
    for k, v in spec.items():
        if k == tk:
            out["type"] = tk
            if v is not None:
                out["label"] = v
        else:
            out[k] = v
    return out


def short_field(spec: Any, types: Any) -> Any:
    """A new field in the compact form the designer writes: ``{type: decimal, label: {zh: 厚度, en: µm}, min: 0}``
    -> ``{decimal: 厚度 | µm, min: 0}`` (other values, and a field that cannot be written so, unchanged)."""
    if not isinstance(spec, dict) or "label" not in spec or spec.get("type") not in types \
            or spec["type"] in FIELD_KEYS or spec["type"] in spec:
        return spec
    lab = spec["label"]
    if isinstance(lab, dict) and set(lab) <= {"zh", "en"} and all(isinstance(v, str) for v in lab.values()):
        zh, en = str(lab.get("zh") or lab.get("en") or ""), str(lab.get("en") or lab.get("zh") or "")
        lab = zh if zh == en else f"{zh} | {en}"
    if not isinstance(lab, str) or "|" in lab.replace(" | ", "", 1):
        return spec
    return {str(spec["type"]): lab, **{k: v for k, v in spec.items() if k not in ("type", "label")}}
