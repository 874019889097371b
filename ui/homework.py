"""The home page's "my work": records waiting for a transition the user may take, overdue records, unread
notifications; each with a count and links.

* **Waiting for me**: records of every workflow entity the user may read whose state is a source of a
  transition the user's roles may take; each candidate is checked with the same rule the transition
  buttons use (``workflow.available``), so a row-level grant ("only my own") is honoured (without one,
  once per state).
* **Overdue**: what the definition declares overdue (``list.overdue: "<condition>"`` on an entity, compiled
  to SQL with the reader's row filter).
* **Unread notifications**: the newest unread ones, each opening its record.

Every query is bounded (``SCAN`` candidates, ``SHOWN`` shown per entity).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from runtime import permissions, workflow
from runtime.auth import Actor
from runtime.model import EntityDef, pick
from runtime.sqlcompile import NotCompilable

from .dashboards import title_column
from .values import context, typed

SCAN = 50
SHOWN = 5


def _may_take(actor: Actor, ent: EntityDef, tr: Any) -> bool:
    if actor.is_admin:
        return True
    roles = [r for r in actor.roles if not tr.roles or r in tr.roles]
    return any(ent.permissions.get(r) is not None and ent.permissions[r].transition for r in roles)


def _per_state(actor: Actor, ent: EntityDef) -> bool:
    """True when what the user may take depends only on the record's state (no row-level grant)."""
    if actor.is_admin:
        return True
    for role in actor.roles:
        rp = ent.permissions.get(role)
        if rp is None:
            continue
        g = rp.transition
        if not (isinstance(g, bool) or (isinstance(g, frozenset) and rp.read is True)):
            return False
    return True


def _rows(rt: Any, actor: Actor, ent: EntityDef, where: Any) -> list[dict[str, Any]]:
    table = rt.tables.for_entity(ent)
    stmt = select(table).where(where)
    flt = permissions.read_filter(actor, ent, table, rt.sql)
    if flt is not None:
        stmt = stmt.where(flt)
    with rt.db.read(snapshot=False) as conn:
        rows = conn.execute(stmt.order_by(table.c.id.desc()).limit(SCAN + 1),
                            permissions.filter_params(actor, ent)).mappings().all()
    return [dict(r) for r in rows]


def _item(rt: Any, ent: EntityDef, row: dict[str, Any], lang: str) -> dict[str, Any]:
    title = str(row.get(title_column(ent)) or "")
    name = str(row.get("name") or "") if ent.naming and title_column(ent) != "name" else ""
    st = ent.workflow.states.get(row.get("state")) if ent.workflow else None
    return {"id": row["id"], "text": " ".join(p for p in (name, title) if p) or f"#{row['id']}",
            "state": pick(st.label, lang) if st else "", "color": st.color if st else None}


def waiting(rt: Any, actor: Actor, lang: str) -> list[dict[str, Any]]:
    out = []
    for app in rt.apps.values():
        for ent in app.entities.values():
            if ent.workflow is None or ent.is_child or not permissions.may_at_all(actor, ent, "read"):
                continue
            takeable = [tr for tr in ent.workflow.transitions.values() if _may_take(actor, ent, tr)]
            states = set()
            for tr in takeable:
                states |= set(tr.sources) if tr.sources is not None else \
                    {s.name for s in ent.workflow.states.values() if not s.final}
            if not states:
                continue
            table = rt.tables.for_entity(ent)
            rows = _rows(rt, actor, ent, table.c.state.in_(sorted(states)))
            found = []
            by_state: dict[Any, list[Any]] = {}
            per_state = _per_state(actor, ent)
            with rt.db.read() as conn:
                for row in rows[:SCAN]:
                    if per_state and row["state"] in by_state:
                        can = by_state[row["state"]]
                    else:
                        ctx = context(rt, conn, actor, ent, typed(ent, rt.records.serialize(ent, row), lang))
                        can = by_state[row["state"]] = workflow.available(rt.records, actor, ent, ctx)
                    if can:
                        what = ("、" if lang == "zh" else ", ").join(pick(t.label, lang) for t in can[:3])
                        found.append({**_item(rt, ent, row, lang), "can": what})
            if found:
                out.append({"app": app, "ent": ent, "rows": found[:SHOWN], "count": len(found),
                            "more": len(rows) > SCAN, "states": ",".join(sorted(states))})
    return out


def overdue(rt: Any, actor: Actor, lang: str) -> list[dict[str, Any]]:
    out = []
    for app in rt.apps.values():
        for ent in app.entities.values():
            expr = ent.extra.get("overdue")
            if expr is None or not permissions.may_at_all(actor, ent, "read"):
                continue
            table = rt.tables.for_entity(ent)
            try:
                rows = _rows(rt, actor, ent, rt.sql.condition(expr, table))
            except NotCompilable as exc:  # said on the page, not skipped
                out.append({"app": app, "ent": ent, "rows": [], "count": 0, "more": False, "error": str(exc)})
                continue
            if rows:
                out.append({"app": app, "ent": ent, "rows": [_item(rt, ent, r, lang) for r in rows[:SHOWN]],
                            "count": min(len(rows), SCAN), "more": len(rows) > SCAN})
    return out


def unread(rt: Any, actor: Actor) -> list[dict[str, Any]]:
    return [n for n in rt.notifications.latest(actor.username, 20) if n.get("read_at") is None][:SHOWN]
