"""The form-rules helper: what a form shows for the values being edited, under the user's permissions.

``POST /a/<app>/<entity>/_rules`` answers visible / required / read-only per field and the computed
values, with the same rules the server validates with. It answers only for a record the user may read
or a new one they may create, and drops link values (also in child rows) pointing at records the user
may not read, so no computed value reads through them (``partner.phone`` of another partner).
"""

from __future__ import annotations

from typing import Any

from flask import abort, jsonify, request

from runtime.auth import Actor
from runtime.bounds import id_in_range
from runtime.errors import RecordError
from runtime.model import EntityDef

from .values import context, field_states, typed
from .web import actor_or_login, bp, entity_or_404, may, rt


@bp.post("/a/<app>/<entity>/_rules")
def rules_view(app: str, entity: str) -> Any:
    """Visible / required / read-only and computed values for the values being edited (same rules as the server)."""
    actor = actor_or_login()
    ent = entity_or_404(app, entity)
    if ent.is_child:
        abort(404)
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    values = body.get("values") if isinstance(body.get("values"), dict) else {}
    record_id = body.get("id")
    base: dict[str, Any] = {}
    if record_id is not None and not id_in_range(record_id):
        abort(404)
    if record_id is not None:
        try:
            base = rt().records.get(actor, ent, record_id)
        except RecordError:
            abort(404)
    elif not may(actor, ent, "create"):
        abort(403)
    elif ent.workflow:
        base = {"state": ent.workflow.initial}
    merged = {**base, **_visible_links(actor, ent, {k: v for k, v in values.items() if k in ent.fields})}
    with rt().db.read() as conn:
        ctx = context(rt(), conn, actor, ent, typed(ent, merged, actor.language))
        return jsonify(field_states(ent, ctx))


def _visible_links(actor: Actor, ent: EntityDef, values: dict[str, Any]) -> dict[str, Any]:
    """These values with links (also in child rows) to records the actor may not read set to None."""
    out = dict(values)
    for name, v in values.items():
        f = ent.fields[name]
        if f.type == "link" and f.to:
            out[name] = _keep_visible(actor, ent, f.to, [v])[0]
        elif f.type == "table" and f.child is not None:
            child = f.child
            rows = [{k: x for k, x in r.items() if k in child.fields}
                    for r in (v if isinstance(v, list) else [])[:500] if isinstance(r, dict)]
            for cf in child.fields.values():
                if cf.type == "link" and cf.to:
                    kept = _keep_visible(actor, child, cf.to, [r.get(cf.name) for r in rows])
                    for r, k in zip(rows, kept, strict=True):
                        if cf.name in r:
                            r[cf.name] = k
            out[name] = rows
    return out


def _keep_visible(actor: Actor, ent: EntityDef, to: str, values: list[Any]) -> list[Any]:
    ids = [_link_id(v) for v in values]
    visible = rt().records.visible_ids(actor, rt().apps[ent.app].entities[to], ids)
    return [v if i in visible else None for v, i in zip(values, ids, strict=True)]


def _link_id(v: Any) -> Any:
    if isinstance(v, dict):
        v = v.get("id")
    if isinstance(v, str) and v.isdigit() and len(v) < 19:
        return int(v)
    return v if isinstance(v, int) and not isinstance(v, bool) else None
