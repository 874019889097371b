"""``?fields=`` (sparse fieldsets) and ``?expand=`` (linked records embedded) on API reads.

``fields=serial_no,team`` answers ``id`` and those fields only; an unknown name is a 400.
``expand=partner,lines.product`` replaces each link id reached by that path (through child-table
rows and, for a longer path, through records already expanded) with the linked record's stored
columns and its ``title``. Only records the user may read are embedded: a link to one they may not
read stays a plain id. ``expand=_related`` adds, per record, the records that link to it
(runtime/related.py). Both work on a list and on one record, with one query per path.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from . import permissions, related
from .auth import Actor
from .errors import BadRequest
from .messages import t
from .model import SYSTEM_COLUMNS, EntityDef, FieldDef
from .reach import MAX_HOPS
from .relations import step

RELATED = "_related"
MAX_NAMES = 30


def _names(raw: str | None) -> list[str]:
    return [n.strip() for n in (raw or "").split(",") if n.strip()]


def parse_fields(ent: EntityDef, raw: str | None, lang: str) -> set[str] | None:
    """The field names asked for, or None for all; BadRequest naming an unknown one."""
    names = _names(raw)
    if not names:
        return None
    known = set(ent.fields) | {c for c in SYSTEM_COLUMNS if c not in ("name", "state")}
    known |= {"name"} if ent.naming or "name" in ent.fields else set()
    known |= {"state"} if ent.workflow else set()
    for n in names[:MAX_NAMES + 1]:
        if n not in known or len(names) > MAX_NAMES:
            raise BadRequest(t("bad_filter", lang), {"fields": t("fields_unknown", lang, name=n[:60])})
    return set(names)


def parse_expand(ent: EntityDef, raw: str | None, lang: str) -> list[list[tuple[FieldDef, EntityDef]]]:
    """Each expand path as (field, entity it leads to) steps, ending with a link; BadRequest otherwise."""
    out = []
    for name in _names(raw)[:MAX_NAMES + 1]:
        if name == RELATED:
            continue
        steps: list[tuple[FieldDef, EntityDef]] = []
        cur, parts = ent, name.split(".")
        for i, part in enumerate(parts):
            f = cur.fields.get(part)
            target = step(cur, f)
            after_link = any(s[0].type == "link" for s in steps)
            if (target is None or f is None or len(parts) > MAX_HOPS + 1 or len(_names(raw)) > MAX_NAMES
                    or (i == len(parts) - 1 and f.type != "link") or (after_link and f.type == "table")):
                names = [n for n, g in cur.fields.items() if g.type in ("link", "table")]
                raise BadRequest(t("bad_filter", lang),
                                 {"expand": t("expand_unknown", lang, name=name[:100], names=", ".join(names) or "-")})
            steps.append((f, target))
            cur = target
        for i, (f, _) in enumerate(steps):  # a.b.c expands the links before it too
            if f.type == "link" and [s[0].name for s in steps[:i + 1]] not in [[s[0].name for s in p] for p in out]:
                out.append(steps[:i + 1])
    return sorted(out, key=len)


def apply(rt: Any, actor: Actor, ent: EntityDef, items: list[dict[str, Any]], args: Any, lang: str) -> None:
    """Expand, then trim to ``fields=``, in place (arguments already checked by the parse functions)."""
    wanted = parse_fields(ent, args.get("fields"), lang)
    paths = parse_expand(ent, args.get("expand"), lang)
    with_related = RELATED in _names(args.get("expand"))
    if paths or with_related:
        with rt.db.read() as conn:
            for path in paths:
                _expand(rt, conn, actor, items, path)
            if with_related:
                related.embed(rt, conn, actor, ent, items, lang)
    if wanted is not None:
        keep = wanted | {"id"} | {p[0][0].name for p in paths} | ({RELATED} if with_related else set())
        for item in items:
            for k in [k for k in item if k not in keep]:
                del item[k]


def _holders(items: list[dict[str, Any]], path: list[tuple[FieldDef, EntityDef]]) -> list[dict[str, Any]]:
    """The dicts holding the last step's link value: walked through child rows and expanded records."""
    level = items
    for f, _ in path[:-1]:
        nxt: list[dict[str, Any]] = []
        for d in level:
            v = d.get(f.name)
            if isinstance(v, list):
                nxt += [r for r in v if isinstance(r, dict)]
            elif isinstance(v, dict):
                nxt.append(v)
        level = nxt
    return level


def _expand(rt: Any, conn: Any, actor: Actor, items: list[dict[str, Any]], path: list[tuple[FieldDef, EntityDef]]) -> None:
    f, target = path[-1]
    holders = [d for d in _holders(items, path) if isinstance(d.get(f.name), int)]
    if not holders or not permissions.may_at_all(actor, target, "read"):
        return
    table = rt.tables.for_entity(target)
    stmt = select(table).where(table.c.id.in_(sorted({d[f.name] for d in holders})))
    flt = permissions.read_filter(actor, target, table, rt.sql)
    if flt is not None:
        stmt = stmt.where(flt)
    found = {r["id"]: related.plain(target, r) for r in conn.execute(stmt, permissions.filter_params(actor, target))
             .mappings()}
    for d in holders:
        if d[f.name] in found:
            d[f.name] = dict(found[d[f.name]])
