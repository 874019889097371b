"""Reading records: linked records by number and name, users by display name, child-table history.

Every lookup is one query per linked table (or per page for users), never one per row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from runtime.auth import Actor
from runtime.model import EntityDef, FieldDef, pick

from .dashboards import _ftype, column_label, title_column

USER_COLUMNS = ("created_by", "updated_by")


def label_columns(ent: EntityDef) -> list[str]:
    """The columns a linked record is shown by: its number, then its name ("C001 宁波精密").

    The number is the generated ``name`` (``naming:``), else the first unique text field; the name is the
    title field, or when the title is the number itself, a text field called ``name`` or the first other
    required text field.
    """
    title = title_column(ent)
    texts = [f for f in ent.fields.values() if f.stored and f.type == "text"]
    number = "name" if ent.naming and title != "name" else \
        next((f.name for f in texts if f.unique), None)
    if title == number or title == "id":
        other = [f.name for f in texts if f.name != number and (f.name == "name" or f.required)]
        title = "name" if "name" in other else (other[0] if other else None)  # type: ignore[assignment]
    return [c for c in (number, title) if c]


def link_names(rt: Any, target: EntityDef, ids: list[Any], actor: Actor | None = None) -> dict[Any, str]:
    """"number name" of linked records, one query; with ``actor`` only records it may read (others ``#id``)."""
    wanted = sorted({int(i) for i in ids if isinstance(i, int) or (isinstance(i, str) and i.isdigit())})
    if not wanted:
        return {}
    shown = set(rt.records.visible_ids(actor, target, wanted)) if actor is not None else set(wanted)
    table = rt.tables.for_entity(target)
    cols = label_columns(target)
    found: dict[int, str] = {}
    if shown and cols:
        with rt.db.read(snapshot=False) as conn:
            for r in conn.execute(select(table.c.id, *(table.c[c] for c in cols))
                                  .where(table.c.id.in_(sorted(shown)))).all():
                found[r[0]] = " ".join(str(v) for v in r[1:] if v not in (None, "")) or f"#{r[0]}"
    return {i: found.get(i, f"#{i}") for i in wanted}


def user_names(rt: Any, usernames: list[Any]) -> dict[str, str]:
    """Display names of users by username (one query); unknown names stay as they are."""
    names = sorted({str(u) for u in usernames if u})
    if not names:
        return {}
    users = rt.users.users
    with rt.db.read(snapshot=False) as conn:
        rows = conn.execute(select(users.c.username, users.c.display_name).where(users.c.username.in_(names))).all()
    found = {r[0]: r[1] for r in rows if r[1]}
    return {n: found.get(n, n) for n in names}


def child_table_change(rt: Any, actor: Actor, f: FieldDef, old: Any, new: Any, lang: str) -> dict[str, Any]:
    """A child table's change as a table: rows added, removed and changed (old → new), with labels and names.

    Rows are matched by their id; a row without one (or with an unknown one) is new.
    """
    from .values import cell
    child = f.child
    assert child is not None
    old_rows = [r for r in (old or []) if isinstance(r, dict)]
    new_rows = [r for r in (new or []) if isinstance(r, dict)]
    cols = [c.name for c in child.fields.values() if c.type not in ("table",)]
    links: dict[str, dict[Any, str]] = {}
    for c in cols:
        cf = child.fields[c]
        if cf.type == "link" and cf.to:
            target = child.sibling(cf.to)
            if target is not None:
                links[c] = link_names(rt, target, [r.get(c) for r in old_rows + new_rows], actor)

    def text(c: str, v: Any) -> str:
        return str(cell(rt, child, c, v, lang, links)["text"])

    before = {r.get("id"): r for r in old_rows if r.get("id") is not None}
    rows = []
    seen = set()
    for r in new_rows:
        prev = before.get(r.get("id")) if r.get("id") is not None else None
        if prev is None:
            rows.append({"kind": "added", "cells": [{"new": text(c, r.get(c))} for c in cols]})
            continue
        seen.add(r.get("id"))
        if any(prev.get(c) != r.get(c) for c in cols):
            rows.append({"kind": "changed", "cells": [
                {"old": text(c, prev.get(c)), "new": text(c, r.get(c))} if prev.get(c) != r.get(c)
                else {"new": text(c, r.get(c))} for c in cols]})
    for rid, r in before.items():
        if rid not in seen:
            rows.append({"kind": "removed", "cells": [{"new": text(c, r.get(c))} for c in cols]})
    return {"columns": [pick(child.fields[c].label, lang) for c in cols], "rows": rows[:50]}


def history_view(rt: Any, actor: Actor, ent: EntityDef, entries: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """A record's history as the form shows it: titles, users' display names, changes old → new."""
    from .i18n import tr
    from .values import cell
    vals: dict[str, list[Any]] = {}
    for e in entries:
        for k, pair in (e.get("changes") or {}).items():
            vals.setdefault(k, []).extend(pair)
    links: dict[str, dict[Any, str]] = {}
    for k, vs in vals.items():
        f = ent.fields.get(k)
        target = ent.sibling(f.to) if f is not None and f.type == "link" and f.to else None
        if target is not None:
            links[k] = link_names(rt, target, vs, actor)  # old values too: only what the user may read
        elif is_user_column(ent, k):
            links[k] = user_names(rt, vs)
    users = user_names(rt, [e.get("user") for e in entries])
    out = []
    for e in reversed(entries):
        title = tr({"create": "created", "update": "updated", "delete": "deleted"}.get(e["action"], "transition"), lang)
        if e.get("transition") and ent.workflow and e["transition"] in ent.workflow.transitions:
            title = pick(ent.workflow.transitions[e["transition"]].label, lang)
        changes = []
        for k, (old, new) in (e.get("changes") or {}).items():
            if k == "version":
                continue
            f = ent.fields.get(k)
            if f is not None and f.type == "table" and f.child is not None:
                changes.append({"label": column_label(ent, k, lang), "old": "", "new": "",
                                "table": child_table_change(rt, actor, f, old, new, lang)})
                continue
            known = k in ent.fields or k == "state" or is_user_column(ent, k)
            o = cell(rt, ent, k, old, lang, links) if known else {"text": str(old or "")}
            n = cell(rt, ent, k, new, lang, links) if known else {"text": str(new or "")}
            changes.append({"label": column_label(ent, k, lang), "old": o["text"], "new": n["text"]})
        user = e.get("user") or ""
        out.append({"title": title, "user": users.get(user, user), "username": user,
                    "at": (e.get("at") or "")[:19].replace("T", " "), "via": e.get("via"),
                    "version": e.get("version"), "changes": changes[:30]})
    return out


def is_user_column(ent: EntityDef, name: str) -> bool:
    return name in USER_COLUMNS and name not in ent.fields and _ftype(ent, name) is not None
