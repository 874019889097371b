"""Staff pages for shared links: issue, list and revoke a record's links, QR codes, printable travellers.

A link is managed from the record it is on: whoever may read the record sees
its links and their QR codes; whoever may update it (or an admin) issues and
revokes them. The print view (A4/A5 traveller with a QR per operation, or a
machine label) is plain HTML with print CSS: the browser's print dialog is all
it needs.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, redirect, render_template, request, url_for

from runtime import permissions
from runtime.auth import Actor
from runtime.errors import RecordError
from runtime.model import AppDef, EntityDef, pick

from . import dashboards as dash
from . import qr
from .i18n import tr
from .linkspec import LinkDef, links_on
from .linkstore import LinkStore
from .values import cell, label_of, link_maps
from .web import actor_or_login, bp, entity_or_404, flash_message, page, rt, run_list, safe_next

PRINT_SIZES = ("a4", "a5", "label")


def store() -> LinkStore:
    from .linkstore import LinkStore
    return rt().services.get(LinkStore)


def link_url(token: str) -> str:
    base = rt().settings.get("public_url") or request.host_url
    return f"{str(base).rstrip('/')}/l/{token}"


def _record(actor: Actor, ent: EntityDef, record_id: int) -> dict[str, Any]:
    try:
        return rt().records.get(actor, ent, record_id)  # type: ignore[no-any-return]
    except RecordError:
        abort(404)


def may_manage(actor: Actor, ent: EntityDef, record: dict[str, Any]) -> bool:
    if actor.is_admin:
        return True
    with rt().db.read() as conn:
        ctx = rt().records.context(conn, ent, record, actor)
        return permissions.allows(actor, ent, "update", ctx)


def _status(row: dict[str, Any], lang: str) -> str:
    from runtime import clock
    if row["revoked"]:
        return tr("link_revoked", lang)
    if row["expires_at"] is not None and row["expires_at"] <= clock.now():
        return tr("link_expired", lang)
    if row["max_uses"] is not None and row["uses"] >= row["max_uses"]:
        return tr("link_used_up", lang)
    return ""


def _view(row: dict[str, Any], lang: str) -> dict[str, Any]:
    token = store().token_of(row)
    status = _status(row, lang)
    return {"id": row["id"], "status": status, "uses": row["uses"], "max_uses": row["max_uses"],
            "created": str(row["created_at"])[:16], "by": row["created_by"] or "",
            "expires": str(row["expires_at"])[:16] if row["expires_at"] else tr("link_never", lang),
            "url": "" if status else link_url(token), "qr": "" if status else qr.svg(link_url(token), 3)}


def _what(app_def: AppDef, d: LinkDef, lang: str) -> dict[str, str]:
    """What a link lets its holder do, in words: the transitions' and fields' labels, not their names."""
    target = app_def.entities[d.entity]
    steps = target.workflow.transitions if target.workflow is not None else {}
    sep = "、" if lang == "zh" else ", "
    return {"what": sep.join(pick(steps[t].label, lang) if t in steps else t for t in d.transitions) or "—",
            "fields": sep.join(label_of(target, f, lang) for f in d.edit) or "—"}


@bp.route("/a/<app>/<entity>/<int:record_id>/links", methods=["GET", "POST"])
def record_links(app: str, entity: str, record_id: int) -> Any:
    actor = actor_or_login()
    ent = entity_or_404(app, entity)
    record = _record(actor, ent, record_id)
    defs = links_on(rt().apps[app], entity)
    if not defs:
        abort(404)
    manage = may_manage(actor, ent, record)
    lang = actor.language
    if request.method == "POST":
        if not manage:
            abort(403)
        lk = next((d for d in defs if d.name == request.form.get("link")), None)
        if lk is None:
            abort(404)
        hours = _int(request.form.get("expires_days"), 1, 3650)
        uses = _int(request.form.get("max_uses"), 1, 100000)
        with rt().db.write() as conn:
            store().issue(conn, lk, record_id, actor.username,
                          expires_hours=hours * 24 if hours else -1, max_uses=uses if uses else -1)
        flash_message(tr("link_issued", lang), "ok")
        return redirect(url_for("jig_ui.record_links", app=app, entity=entity, record_id=record_id))
    rows = store().of_record(app, entity, record_id)
    groups = [{"def": d, "label": pick(d.label, lang), "links": [_view(r, lang) for r in rows if r["name"] == d.name],
               "pin": d.identify_pin, **_what(rt().apps[app], d, lang)} for d in defs]
    return page("link_admin.html", actor=actor, ent=ent, app_def=rt().apps[app], record=record, groups=groups,
                manage=manage, title=record.get("name") or f"#{record_id}")


def _int(v: Any, lo: int, hi: int) -> int | None:
    try:
        n = int(str(v or "").strip()[:7])
    except ValueError:
        return None
    return n if lo <= n <= hi else None


def _link_row(link_id: int, actor: Actor) -> tuple[dict[str, Any], EntityDef, dict[str, Any]]:
    row = store().get(link_id)
    if row is None or row["app"] not in rt().apps or row["on_entity"] not in rt().apps[row["app"]].entities:
        abort(404)
    ent = rt().apps[row["app"]].entities[row["on_entity"]]
    return row, ent, _record(actor, ent, int(row["record_id"]))


@bp.post("/links/<int:link_id>/revoke")
def revoke_link(link_id: int) -> Any:
    actor = actor_or_login()
    row, ent, record = _link_row(link_id, actor)
    if not may_manage(actor, ent, record):
        abort(403)
    store().revoke(link_id, actor.username)
    flash_message(tr("link_revoked", actor.language), "ok")
    return redirect(url_for("jig_ui.record_links", app=row["app"], entity=row["on_entity"],
                            record_id=row["record_id"]))


@bp.get("/links/<int:link_id>/qr.<fmt>")
def link_qr(link_id: int, fmt: str) -> Any:
    actor = actor_or_login()
    row, _ent, _record_ = _link_row(link_id, actor)
    if fmt not in ("svg", "png") or _status(row, actor.language):
        abort(404)
    url = link_url(store().token_of(row))
    if fmt == "svg":
        return Response(qr.svg(url, 8), mimetype="image/svg+xml", headers={"Cache-Control": "no-store"})
    return Response(qr.png(url), mimetype="image/png", headers={
        "Cache-Control": "no-store", "Content-Disposition": f'attachment; filename="link-{link_id}.png"'})


@bp.post("/admin/link-pins")
def link_pins() -> Any:
    actor = actor_or_login()
    if not actor.is_admin:
        abort(403)
    username = (request.form.get("username") or "").strip()[:64]
    pin = (request.form.get("pin") or "").strip()
    if not rt().users.get(username) or not pin.isdigit() or not 4 <= len(pin) <= 12:
        flash_message(tr("link_pin_bad", actor.language), "error")
    else:
        store().set_pin(username, pin)
        flash_message(tr("link_pin_set", actor.language, user=username), "ok")
    return redirect(safe_next(request.form.get("back")))


# ---------------------------------------------------------------- print: traveller and label

def _qr_for(lk: LinkDef, record_id: int, manage: bool, actor: Actor) -> str:
    """The QR of the record's live link of this definition (issued now if the user may, else empty)."""
    if manage:
        with rt().db.write() as conn:
            row = store().reuse_or_issue(conn, lk, record_id, actor.username)
    else:
        live = [r for r in store().of_record(lk.app, lk.on, record_id) if r["name"] == lk.name
                and not _status(r, actor.language)]
        if not live:
            return ""
        row = live[0]
    return qr.svg(link_url(store().token_of(row)), 3)


def _children(app: AppDef, ent: EntityDef) -> list[tuple[EntityDef, str, list[LinkDef]]]:
    """Entities that point at ``ent`` and carry links of their own (a work order's operations)."""
    out = []
    for other in app.entities.values():
        defs = links_on(app, other.name)
        if other.name == ent.name or other.is_child or not defs:
            continue
        for f in other.fields.values():
            if f.type == "link" and f.to == ent.name:
                out.append((other, f.name, defs))
                break
    return out


@bp.get("/a/<app>/<entity>/<int:record_id>/print")
def print_view(app: str, entity: str, record_id: int) -> Any:
    actor = actor_or_login()
    ent = entity_or_404(app, entity)
    record = _record(actor, ent, record_id)
    size = request.args.get("size", "a4")
    if size not in PRINT_SIZES:
        abort(404)
    lang = actor.language
    a = rt().apps[app]
    manage = may_manage(actor, ent, record)
    cols = [c for c in ent.list_columns if c not in ("name",)][:8]
    maps = link_maps(rt(), ent, [record], cols, lang)
    facts = [(label_of(ent, c, lang), cell(rt(), ent, c, record.get(c), lang, maps)["text"]) for c in cols]
    own = [{"label": pick(lk.label, lang), "qr": _qr_for(lk, record_id, manage, actor)} for lk in links_on(a, entity)]
    sections = []
    for child, fname, defs in _children(a, ent):
        sort = "seq" if "seq" in child.fields else "id"
        rows = run_list(actor, child, {fname: str(record_id), "sort": sort}, limit=100)["items"]
        ccols = [c for c in child.list_columns if c not in (fname, "state")][:4]
        cmaps = link_maps(rt(), child, rows, ccols, lang)
        with rt().db.read() as conn:
            child_manage = actor.is_admin or any(
                permissions.allows(actor, child, "update", rt().records.context(conn, child, r, actor)) for r in rows[:1])
        items = [{"title": " · ".join(t for t in (cell(rt(), child, c, r.get(c), lang, cmaps)["text"] for c in ccols) if t),
                  "codes": [{"label": pick(lk.label, lang), "qr": _qr_for(lk, int(r["id"]), child_manage, actor)}
                            for lk in defs]} for r in rows]
        sections.append({"title": pick(child.title, lang), "ops": items})
    title = str(record.get(dash.title_column(ent)) or record.get("name") or f"#{record_id}")
    return render_template("link_print.html", t=lambda k, **p: tr(k, lang, **p), lang=lang, size=size, ent=ent,
                           title=title, entity_title=pick(ent.title, lang), facts=facts, own=own, sections=sections,
                           app_title=pick(a.title, lang))
