"""The designer's pages: the list of apps and the designer of one app (canvas, properties, YAML, publish).

The pages are shells: the designer's JavaScript (``builder/static``) reads
and writes everything through the builder API (``/api/builder``) with the
browser session and its CSRF token, so the page never reloads while
designing and the server applies exactly the checks of ``jig check``.
Only users with the ``admin`` or ``builder`` role may open them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, request, url_for

from ui import session as sess
from ui.web import page

from .api import APP_NAME, BUILDER_ROLES
from .i18n import js_texts, tr
from .palette import field_palette

bp = Blueprint("jig_designer", __name__, template_folder="templates", static_folder="static",
               static_url_path="/builder/static")


def _builder() -> Any:
    actor = sess.signed_in_actor()
    if actor is None:
        abort(redirect(url_for("jig_ui.login", next=request.path)))
    if not actor.roles & BUILDER_ROLES:
        abort(403, tr("builder_only", sess.lang()))
    return actor


@bp.after_request
def _headers(resp: Any) -> Any:
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault("Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
                            "script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'self'")
    return resp


@bp.get("/builder")
def apps_page() -> Any:
    actor = _builder()
    rt = sess.runtime()
    with rt.db.read() as conn:
        published = rt.definitions.published(conn)
        names = sorted(set(published) | set(rt.definitions.apps_with_drafts(conn)))
        items = [{"app": n, "published": published.get(n), "draft": rt.definitions.draft(conn, n),
                  "def": rt.apps.get(n)} for n in names]
    lang = sess.lang()
    return page("designer/apps.html", actor=actor, items=items, bt=lambda k, **p: tr(k, lang, **p),
                designer_texts=js_texts(lang))


def builder_app(app: str) -> tuple[Any, Any, str]:
    """(actor, runtime, language) for a builder page of ``app``: builders only, 404 for an app with no version."""
    actor = _builder()
    if not APP_NAME.match(app):
        abort(404)
    rt = sess.runtime()
    with rt.db.read() as conn:
        if rt.definitions.current(conn, app) is None and rt.definitions.draft(conn, app) is None:
            abort(404)
    return actor, rt, sess.lang()


@bp.get("/builder/<app>")
def designer_page(app: str) -> Any:
    actor, rt, lang = builder_app(app)
    return page("designer/designer.html", actor=actor, app_name=app, bt=lambda k, **p: tr(k, lang, **p),
                designer_texts=js_texts(lang), palette=field_palette(lang, rt.field_types))
