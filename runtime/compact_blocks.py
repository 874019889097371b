"""Compact forms of blocks: flags written alone, a workflow's default transition roles, sections keyed by label.

* a state as ``[label, colour]`` or ``[label, colour, final]``: ``done: [完成 | Done, green, final]``
  (or only its label: ``done: 完成 | Done``);
* a flag written alone means ``true``: ``{text: 客户 | Customer, required, unique}`` (a field's ``required``,
  ``readonly``, ``unique``, ``index``) and ``done: {label: 完成 | Done, final}`` (a state's ``final``);
* ``workflow: {roles: [planner, manager], ...}``: the roles of every transition that names none itself;
* a layout section as its label holding its columns: ``- 基本信息 | Basics: [[name, contact], [phone]]``
  stands for ``- {label: 基本信息 | Basics, columns: [[name, contact], [phone]]}``.

:func:`expand_blocks` rewrites one document in place into the long forms (called by
:func:`runtime.compact.expand`); without a compile context (the designer's reading of a file) it reports nothing.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from .expressions import suggest
from .yamlsource import PathKey

if TYPE_CHECKING:
    from .compiler import CompileContext

FIELD_FLAGS = ("required", "readonly", "unique", "index")
SECTION_KEYS = frozenset({"label", "columns", "visible", "fields"})  # a layout's or a document's section


def flags(spec: Any, names: tuple[str, ...] = FIELD_FLAGS) -> None:
    """``required`` written alone (a key with no value) is ``required: true`` (in place)."""
    if isinstance(spec, dict):
        for k in names:
            if k in spec and spec[k] is None:
                spec[k] = True


def expand_blocks(data: dict[str, Any], ctx: CompileContext | None = None) -> None:
    ents = data.get("entities") if isinstance(data.get("entities"), dict) else {}
    for ename, espec in ents.items():
        if not isinstance(espec, dict):
            continue
        path: PathKey = ("entities", ename)
        wf = espec.get("workflow")
        if isinstance(wf, dict):
            _workflow(wf, (*path, "workflow"), ctx, data.get("roles"))
        lay = espec.get("layout")
        if isinstance(lay, dict):
            _sections(lay.get("sections"), (*path, "layout", "sections"), ctx)
            for ti, tab in enumerate(lay.get("tabs") if isinstance(lay.get("tabs"), list) else []):
                if isinstance(tab, dict):
                    _sections(tab.get("sections"), (*path, "layout", "tabs", ti, "sections"), ctx)


def _workflow(wf: dict[str, Any], path: PathKey, ctx: CompileContext | None, known: Any = None) -> None:
    states = wf.get("states")
    for name, st in (states.items() if isinstance(states, dict) else ()):
        if isinstance(st, (str, list)):
            states[name] = st = state_long(st)
        flags(st, ("final",))
    if "roles" not in wf:
        return
    roles = wf.pop("roles")
    trs = wf.get("transitions")
    if not isinstance(roles, list):
        if ctx is not None:
            ctx.error((*path, "roles"), "the workflow's roles are a list of roles",
                      "e.g. roles: [planner, manager] (used by every transition that lists none)")
        return
    if ctx is not None and isinstance(known, dict):  # reported here, where it is written, not on each transition
        for i, role in enumerate(roles):
            if role not in known:
                ctx.error((*path, "roles", i), f"unknown role '{role}'",
                          (suggest(str(role), list(known)) or "declare it under roles: at the top of the app"))
        roles = [r for r in roles if r in known]
    for tr in (trs.values() if isinstance(trs, dict) else ()):
        if isinstance(tr, dict) and "roles" not in tr:
            tr["roles"] = copy.deepcopy(roles)


def state_long(st: Any) -> Any:
    """A state written as its label (``done: 完成 | Done``) or ``[label, colour]`` / ``[label, colour, final]``
    (``done: [完成 | Done, green, final]``) in the long form; anything else unchanged (the schema reports it)."""
    if isinstance(st, str):
        return {"label": st}
    if not isinstance(st, list) or not 1 <= len(st) <= 3 or (len(st) == 3 and st[2] != "final"):
        return st
    out: dict[str, Any] = {"label": st[0]}
    if len(st) > 1:
        out["color"] = st[1]
    if len(st) == 3:
        out["final"] = True
    return out


def state_short(st: Any) -> Any:
    """The inverse of :func:`state_long` for a state with a label and a colour (what the designer writes back)."""
    if not isinstance(st, dict) or not {"label", "color"} <= set(st) <= {"label", "color", "final"} \
            or not isinstance(st["label"], str) or st.get("final") not in (None, True, False):
        return st
    return [st["label"], st["color"], *(["final"] if st.get("final") else [])]


def _sections(secs: Any, path: PathKey, ctx: CompileContext | None) -> None:
    if not isinstance(secs, list):
        return
    for i, sec in enumerate(secs):
        if not isinstance(sec, dict) or not sec or any(k in SECTION_KEYS for k in sec):
            if isinstance(sec, dict) and ctx is not None and "columns" in sec:
                extra = [k for k in sec if k not in SECTION_KEYS]
                if extra:
                    ctx.error((*path, i, extra[0]), f"a section has one label, but '{extra[0]}' is given as well as "
                              "columns:", f"write either - {extra[0]}: [[...]] or - {{label: {extra[0]}, "
                              "columns: [[...]]}", key=True)
            continue
        if len(sec) > 1:
            if ctx is not None:
                ctx.error((*path, i), "a section written as its label holds only its columns",
                          "e.g. - 基本信息 | Basics: [[name, contact], [phone]]; for visible: write the long form "
                          "{label: ..., columns: ..., visible: ...}")
            continue
        (lab, cols), = sec.items()
        secs[i] = {"label": lab, "columns": cols}


def long_view(data: Any) -> None:
    """The block forms of a definition's plain data written long (in place), for readers other than the
    compiler (the designer's page): flags are true, transitions carry their roles, sections their label."""
    if not isinstance(data, dict):
        return
    expand_blocks(data)
    docs = data.get("documents")
    for doc in (docs.values() if isinstance(docs, dict) else ()):
        secs = doc.get("sections") if isinstance(doc, dict) else None
        for i, sec in enumerate(secs if isinstance(secs, list) else []):
            if isinstance(sec, dict) and len(sec) == 1 and not set(sec) & SECTION_KEYS:
                (lab, names), = sec.items()
                secs[i] = {"label": lab, "fields": names}
    ents = data.get("entities") if isinstance(data.get("entities"), dict) else {}
    for espec in ents.values():
        fields = espec.get("fields") if isinstance(espec, dict) else None
        for fspec in (fields.values() if isinstance(fields, dict) else ()):
            flags(fspec)
            inner = fspec.get("fields") if isinstance(fspec, dict) else None
            for cspec in (inner.values() if isinstance(inner, dict) else ()):
                flags(cspec)
