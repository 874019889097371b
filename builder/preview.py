"""The designer's preview: the draft's forms rendered by the web UI's own templates, without publishing.

``/builder/<app>/preview/<entity>`` compiles the app's draft (else its
published version) beside the other published apps, exactly as ``jig check``
does, and renders the new-record form with ``ui/web.py``'s form renderer and
``form.html``: what the designer shows is the form users will get. The
designer loads it in two iframes (desktop and phone width) and reloads them
after every autosave. With ``?record=<id>`` it renders an existing record (read as published, shown under the
draft's field names: renamed fields keep their values) with its history panel and the transition buttons the
draft's workflow offers from its state, disabled: nothing is written. ``/builder/<app>/preview/<entity>/records``
lists the entity's recent records by title for the designer's picker. ``/builder/<app>/preview/<entity>/links/<link>`` renders
the mobile link form (``link.html``) of a shared link of that entity the same
way, with no token and nothing to submit to. The frames are sandboxed by the
designer (no scripts, no forms): a preview can never write a record.
Only users with the ``admin`` or ``builder`` role may open them.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request
from sqlalchemy import select

from runtime import permissions
from runtime.errors import DefinitionErrors
from runtime.model import AppDef, pick
from runtime.versions import sha256
from ui import session as sess
from ui.i18n import tr as ui_tr
from ui.linkview import _input
from ui.values import label_of
from ui.web import _form_page

from .api import APP_NAME
from .i18n import tr
from .pages import _builder

bp = Blueprint("jig_preview", __name__)
NOSCRIPT = re.compile(r"<noscript>.*?</noscript>", re.S)
FROZEN = re.compile(r'<button type="button" class="(?:transition|danger)"')
CACHED_DRAFTS = 4  # compiled drafts kept (by the hash of every text they were compiled with)


def draft_app(app: str) -> AppDef:
    """The app as its draft (else its published version) defines it; 404 without either, 422 with errors."""
    rt = sess.runtime()
    with rt.db.read() as conn:
        v = rt.definitions.draft(conn, app) or rt.definitions.current(conn, app)
        if v is None:
            abort(404)
        texts = rt.publisher._with(conn, app, v.yaml)
    key = sha256("\x00".join(f"{name}\x01{text}" for name, text in sorted(texts.values())))
    cache = current_app.extensions.setdefault("jig_preview_apps", OrderedDict())
    apps = cache.get(key)
    if apps is None:  # the frames of one draft (desktop, phone, link forms) compile it once
        try:
            apps = rt.publisher.load(texts)
        except DefinitionErrors as exc:
            lines = "\n".join(f"{e.path}: {e.message}" for e in exc.errors[:20])
            abort(Response(f"{tr('preview_errors', sess.lang())}\n{lines}", 422, mimetype="text/plain"))
        cache[key] = apps
        while len(cache) > CACHED_DRAFTS:
            try:
                cache.popitem(last=False)
            except KeyError:  # another request trimmed it meanwhile
                break
    return apps[app]


def _entity(app: str, entity: str) -> tuple[Any, AppDef, Any]:
    actor = _builder()
    if not APP_NAME.match(app):
        abort(404)
    app_def = draft_app(app)
    ent = app_def.entities.get(entity)
    if ent is None:
        abort(404)
    return actor, app_def, ent


@bp.get("/builder/<app>/preview/<entity>")
def form_preview(app: str, entity: str) -> Any:
    actor, app_def, ent = _entity(app, entity)
    wanted = request.args.get("record", "")
    if not wanted:
        return _form_page(actor, ent, None, app_def=app_def, preview=True)
    if not wanted.isdigit() or len(wanted) > 12:
        abort(404)
    pub = _published_entity(app, entity)
    record = as_drafted(ent, pub, sess.runtime().records.get(actor, pub, int(wanted)))
    html = _form_page(actor, ent, record, app_def=app_def, preview=True)
    return FROZEN.sub(r"\g<0> disabled", html)  # the draft's transitions shown, none can be taken here


def _published_entity(app: str, entity: str) -> Any:
    """The entity as published (its table holds the records); 404 for one the draft adds or renames."""
    pub = sess.runtime().apps.get(app)
    ent = pub.entities.get(entity) if pub is not None else None
    if ent is None:
        abort(404)
    return ent


def as_drafted(ent: Any, pub: Any, stored: dict[str, Any]) -> dict[str, Any]:
    """A stored record (the published definition's JSON) under the draft's field names: renamed fields keep their
    values, new fields are empty; system columns and the state as stored."""
    out = {k: v for k, v in stored.items() if k not in pub.fields}
    for f in ent.fields.values():
        source = f.name if f.name in pub.fields else f.renamed_from if f.renamed_from in pub.fields else None
        out[f.name] = stored.get(source) if source else None
    return out


@bp.get("/builder/<app>/preview/<entity>/records")
def record_choices(app: str, entity: str) -> Any:
    """The entity's most recent records (up to 20, those the builder may read) by title, for the preview's picker."""
    actor, _app_def, _ent = _entity(app, entity)
    rt = sess.runtime()
    pub = rt.apps.get(app).entities.get(entity) if rt.apps.get(app) is not None else None
    if pub is None:  # an entity only the draft has: no records yet
        return jsonify({"items": []})
    table = rt.tables.for_entity(pub)
    title = pub.title_field if pub.title_field in table.c else "name" if "name" in table.c else None
    cols = [table.c.id] + ([table.c[title]] if title else []) + ([table.c.state] if pub.workflow else [])
    q = select(*cols).order_by(table.c.id.desc()).limit(20)
    flt = permissions.read_filter(actor, pub, table, rt.sql)
    if flt is not None:
        q = q.where(flt)
    with rt.db.read() as conn:
        rows = conn.execute(q, permissions.filter_params(actor, pub)).mappings().all()
    states = pub.workflow.states if pub.workflow else {}
    lang = actor.language
    items = [{"id": r["id"], "title": str(r[title]) if title and r[title] is not None else f"#{r['id']}",
              "state": pick(states[r["state"]].label, lang) if pub.workflow and r["state"] in states else ""}
             for r in rows]
    return jsonify({"items": items})


def links_of(app_def: AppDef, entity: str) -> list[Any]:
    """The shared links whose form shows this entity's fields or that are issued on its records."""
    return [lk for lk in app_def.sections.get("links", {}).values() if entity in (lk.entity, lk.on)]


@bp.get("/builder/<app>/preview/<entity>/links/<link>")
def link_preview(app: str, entity: str, link: str) -> Any:
    actor, app_def, _ent = _entity(app, entity)
    lk = next((x for x in links_of(app_def, entity) if x.name == link), None)
    if lk is None:
        abort(404)
    lang = actor.language
    ent = app_def.entities[lk.entity]
    labels = {n: pick(t.label, lang) for n, t in ent.workflow.transitions.items()} if ent.workflow else {}
    transitions = [{"name": n, "label": labels.get(n, n), "require": ""} for n in lk.transitions]
    ctx = {
        "link": lk, "label": pick(lk.label, lang), "entity_title": pick(ent.title, lang), "record": {},
        "title": "", "on_title": pick(app_def.entities[lk.on].title, lang) if lk.creates else "", "state": "",
        "state_color": "grey",
        "shown": [{"label": label_of(ent, c, lang), "text": "…"} for c in lk.show if c not in lk.edit],
        "inputs": [_input(ent, n, None, lang, None) for n in lk.edit],
        "transitions": [] if lk.creates else transitions, "history": [], "workers": [], "challenge": None,
        "csrf": "", "post_url": "", "files_url": "", "storage_key": "jig-link-preview",
        "save": bool(lk.edit) and not lk.creates and not ent.workflow, "other_lang": "en" if lang == "zh" else "zh",
        "finished": False,
    }
    html = render_template("link.html", t=lambda key, **p: ui_tr(key, lang, **p), lang=lang, **ctx)
    # the frame runs no scripts (sandboxed): the page's "needs JavaScript" notice is not what users will see
    return NOSCRIPT.sub("", html)


@bp.after_request
def _headers(resp: Response) -> Response:
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    resp.headers.setdefault("Cache-Control", "no-store")
    resp.headers.setdefault("Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
                            "script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'self'")
    return resp
