"""The pages: sign-in, home, lists, forms, kanban, dashboards, notifications.

Every page is generated from the definitions; nothing here knows an app.
Writes from pages go through the REST API (``/api/...``) with the session
and its CSRF token, so the server applies exactly the same validation and
permissions as for any API client.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, abort, flash, g, jsonify, redirect, render_template, request, session, url_for
from sqlalchemy import func, select

from runtime import clock, listquery, permissions, workflow
from runtime.auth import Actor
from runtime.errors import BadRequest, Forbidden, RecordError
from runtime.model import EntityDef, pick

from . import dashboards as dash
from . import reachview, reading
from . import session as sess
from .i18n import js_texts, tr
from .listdecor import card_fields, row_color
from .values import cell, context, field_states, has_dynamic_rules, input_value, label_of, link_maps, placed_fields, typed

bp = Blueprint("jig_ui", __name__, template_folder="templates", static_folder="static", static_url_path="/ui/static")

COUNT_CAP = 1000
UI_ARGS = ("lang",)


# ---------------------------------------------------------------- helpers

def rt() -> Any:
    return sess.runtime()


def actor_or_login() -> Actor:
    actor = sess.signed_in_actor()
    if actor is None:
        abort(redirect(url_for("jig_ui.login", next=request.full_path if request.query_string else request.path)))
    return actor


def entity_or_404(app: str, entity: str) -> EntityDef:
    a = rt().apps.get(app)
    if a is None or entity not in a.entities:
        abort(404)
    return a.entities[entity]


def may(actor: Actor, ent: EntityDef, action: str) -> bool:
    if action == "create":
        return permissions.may_create(actor, ent)
    return permissions.may_at_all(actor, ent, action)


def nav(actor: Actor) -> list[dict[str, Any]]:
    """The apps, entities and dashboards this user can open."""
    out = []
    for app in rt().apps.values():
        ents = [e for e in app.entities.values() if may(actor, e, "read") and not e.archived]  # archived: no nav
        boards = [d for d in app.sections.get("dashboards", {}).values() if dash.may_open(actor, d)]
        if ents or boards:
            out.append({"app": app, "entities": ents, "dashboards": boards})
    return out


def safe_next(target: str | None) -> str:
    if not target:
        return url_for("jig_index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("jig_index")
    return target


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    lang = sess.lang()

    def t(key: str, **params: Any) -> str:
        return tr(key, lang, **params)

    return {"t": t, "lang": lang, "pick": lambda label: pick(label, lang), "csrf_token": sess.csrf_token,
            "js_texts": js_texts(lang),
            "title_col": lambda app, to: dash.title_column(rt().apps[app].entities[to])}


def page(template: str, **ctx: Any) -> str:
    actor = ctx.pop("actor") if "actor" in ctx else sess.signed_in_actor()
    unread = 0
    if actor is not None:
        unread = rt().notifications.unread_count(actor.username)
    return render_template(template, actor=actor, unread=unread, nav_apps=nav(actor) if actor else [], **ctx)


@bp.before_app_request
def _csrf_for_pages() -> None:
    g.ui_t0 = time.perf_counter()
    if request.method in sess.SAFE_METHODS or request.path.startswith("/api/"):
        return  # API calls with a session are checked in api_session_actor
    if request.blueprint == "jig_ui" and not sess.csrf_ok():
        abort(400, tr("csrf", sess.lang()))


@bp.after_app_request
def _headers(resp: Response) -> Response:
    if request.blueprint == "jig_ui":
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
                                "script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'self'")
        if "ui_t0" in g:
            resp.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - g.ui_t0) * 1000:.1f}"
    return resp


# ---------------------------------------------------------------- sign-in, language, home

@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    lang = sess.lang()
    error = None
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()[:64]
        password = request.form.get("password") or ""
        actor = rt().users.login(username, password, via="web")
        if actor is not None:
            sess.sign_in(rt().users.get(username) or {}, actor)
            return redirect(safe_next(request.args.get("next")))
        error = tr("bad_login", lang)  # the same for unknown, wrong and locked: names are not revealed
    sess.csrf_token()
    titles = [pick(a.title, lang) for a in rt().apps.values()]
    return page("login.html", actor=None, error=error, app_titles=titles), (401 if error else 200)


@bp.post("/logout")
def logout() -> Any:
    sess.sign_out()
    return redirect(url_for("jig_ui.login"))


@bp.get("/lang/<code>")
def set_lang(code: str) -> Any:
    session["lang"] = "en" if code == "en" else "zh"
    return redirect(safe_next(request.args.get("next")))


def home() -> Any:
    actor = actor_or_login()
    from . import homework
    lang = actor.language
    return page("home.html", actor=actor, waiting=homework.waiting(rt(), actor, lang),
                overdue=homework.overdue(rt(), actor, lang), unread_items=homework.unread(rt(), actor))


# ---------------------------------------------------------------- lists

def _list_args(ent: EntityDef) -> dict[str, str]:
    return {k: v for k, v in request.args.items() if v != "" and k not in UI_ARGS and k != "format"}


def filter_specs(ent: EntityDef, lang: str) -> list[dict[str, Any]]:
    """One filter control per list column, by type."""
    specs = []
    for name in ent.list_columns:
        f = ent.fields.get(name)
        ftype = dash._ftype(ent, name)
        control = ftype.filter_control if ftype is not None else ""  # what the type filters with
        label = label_of(ent, name, lang)
        if name == "state" and ent.workflow:
            specs.append({"name": "state", "label": label, "kind": "choice",
                          "options": [(s.name, pick(s.label, lang)) for s in ent.workflow.states.values()]})
        elif control in ("option", "options") and f is not None:
            specs.append({"name": name + ("__contains" if control == "options" else ""), "label": label,
                          "kind": "choice", "options": [(o.value, pick(o.label, lang)) for o in f.options]})
        elif control == "yesno":
            specs.append({"name": name, "label": label, "kind": "choice",
                          "options": [("true", tr("yes", lang)), ("false", tr("no", lang))]})
        elif control in ("date", "number"):
            specs.append({"name": name, "label": label, "kind": "range", "input": control})
        elif control == "link" and f is not None:
            specs.append({"name": name, "label": label, "kind": "link", "to": f.to})
        elif control == "text":
            specs.append({"name": name + "__contains", "label": label, "kind": "text"})
    return specs + reachview.filter_specs(ent, lang)  # declared paths across links and child tables


def run_list(actor: Actor, ent: EntityDef, args: dict[str, str], limit: int | None = None) -> dict[str, Any]:
    if limit:
        args = {**args, "limit": str(limit)}
    q = listquery.parse_args(ent, args, actor.language)
    return listquery.run(rt(), actor, ent, q)


def bounded_count(actor: Actor, ent: EntityDef, args: dict[str, str]) -> tuple[int, bool]:
    """How many rows match, counting at most COUNT_CAP + 1 (so a big table shows '1,000+')."""
    q = listquery.parse_args(ent, {k: v for k, v in args.items() if k not in ("after", "sort", "limit")}, actor.language)
    stmt, _table = listquery.build(rt(), actor, ent, q)
    # Newest rows first: filters usually match recent records, so the count stops early.
    inner = stmt.with_only_columns(_table.c.id).order_by(_table.c.id.desc()).limit(COUNT_CAP + 1).subquery()
    with rt().db.read(snapshot=False) as conn:
        n = conn.execute(select(func.count()).select_from(inner), permissions.filter_params(actor, ent)).scalar_one()
    return min(n, COUNT_CAP), n > COUNT_CAP


@bp.get("/a/<app>/<entity>")
def list_view(app: str, entity: str) -> Any:
    actor = actor_or_login()
    ent = entity_or_404(app, entity)
    if ent.is_child or not may(actor, ent, "read"):
        abort(403)
    lang = actor.language
    args = _list_args(ent)
    error = None
    result: dict[str, Any] = {"items": [], "next": None}
    count, more = 0, False
    try:
        result = run_list(actor, ent, args)
        if result["next"] is None and "after" not in args:
            count, more = len(result["items"]), False  # everything is on this page: no count query
        else:
            count, more = bounded_count(actor, ent, args)
    except (BadRequest, Forbidden) as exc:  # Forbidden: a filter through an entity the user may not read
        error = exc.message + ": " + "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
    cols = ent.list_columns
    links = link_maps(rt(), ent, result["items"], cols, lang)
    rows = []
    colored = bool(ent.extra.get("list_colors"))
    with rt().db.read() as conn:
        for rec in result["items"]:
            actions = []
            ctx = context(rt(), conn, actor, ent, typed(ent, rec, lang)) if ent.workflow or colored else None
            if ent.workflow:
                actions = [(tr_.name, pick(tr_.label, lang)) for tr_ in workflow.available(rt().records, actor, ent, ctx)]
            rows.append({"id": rec["id"], "version": rec.get("version"), "color": row_color(ent, ctx) if colored else None,
                         "cells": [cell(rt(), ent, c, rec.get(c), lang, links) for c in cols], "actions": actions})
    sort = args.get("sort") or ent.list_sort
    base_args = {k: v for k, v in args.items() if k != "after"}
    next_url = url_for("jig_ui.list_view", app=app, entity=entity, **{**base_args, "after": result["next"]}) \
        if result["next"] else None
    first_url = url_for("jig_ui.list_view", app=app, entity=entity, **base_args) if "after" in args else None

    def sort_url(col: str) -> str:
        cur = sort.split(",")[0] if sort else ""
        new = "-" + col if cur == col else col
        return url_for("jig_ui.list_view", app=app, entity=entity, **{**base_args, "sort": new})

    sortable = {c for c in cols if (t := dash._ftype(ent, c)) is not None and (t.sortable or t.name == "computed")}
    export_q = urlencode(base_args)
    return page("list.html", actor=actor, ent=ent, app_def=rt().apps[app], rows=rows, error=error,
                columns=[{"name": c, "label": label_of(ent, c, lang), "sortable": c in sortable,
                          "sort_url": sort_url(c), "sorted": (sort or "").lstrip("-").split(",")[0] == c,
                          "desc": (sort or "").startswith("-")} for c in cols],
                filters=filter_specs(ent, lang), args=args, count=count, more=more, next_url=next_url,
                first_url=first_url, export_q=export_q, may_create=may(actor, ent, "create"),
                searchable=bool(ent.search_fields or ent.naming or any(f.type == "link" for f in ent.fields.values())),
                link_titles_filter=_filter_link_titles(actor, ent, args, lang))


def _filter_link_titles(actor: Actor, ent: EntityDef, args: dict[str, str], lang: str) -> dict[str, str]:
    """The chip of a link filter names the record only when the user may read it (?partner=2 is user input)."""
    out = {}
    for k, v in args.items():
        f = ent.fields.get(k)
        target = ent.sibling(f.to) if f is not None and f.type == "link" and f.to else \
            reachview.link_target(ent, k)
        if target is not None and v.isdigit() and len(v) < 19:
            out[k] = reading.link_names(rt(), target, [int(v)], actor).get(int(v), v)
    return out


# ---------------------------------------------------------------- forms

def _form_page(actor: Actor, ent: EntityDef, record: dict[str, Any] | None, *, app_def: Any = None,
               preview: bool = False) -> str:
    """The form of a record (or a new one); the designer's preview passes a draft's ``app_def`` and ``preview``."""
    lang = actor.language
    r = rt()
    app_def = app_def if app_def is not None else r.apps[ent.app]
    with r.db.read() as conn:
        values = typed(ent, record, lang) if record else _defaults(actor, ent)
        ctx = context(r, conn, actor, ent, values)
        states = field_states(ent, ctx)
        if record is None:
            record = {k: r.records.serialize(ent, ctx).get(k) for k in ent.fields}
            editable = preview or may(actor, ent, "create")
            deletable = False
            transitions = []
        else:
            editable = permissions.allows(actor, ent, "update", ctx)
            deletable = permissions.allows(actor, ent, "delete", ctx)  # the same rule the API applies
            transitions = [{"name": t_.name, "label": pick(t_.label, lang), "require": list(t_.require),
                            "to": t_.to} for t_ in workflow.available(r.records, actor, ent, ctx)]
    history = r.records.history(actor, ent, record["id"]) if record.get("id") else []
    link_fields = [f.name for f in ent.fields.values() if f.type == "link"]
    links = link_maps(r, ent, [record], link_fields, lang)
    child_links: dict[str, dict[str, dict[Any, str]]] = {}
    for f in ent.child_fields():
        assert f.child is not None
        child_links[f.name] = link_maps(r, f.child, record.get(f.name) or [],
                                        [c.name for c in f.child.fields.values() if c.type == "link"], lang)
    layout = []
    placed = placed_fields(ent)
    i = 0
    for tab in ent.layout:
        secs = []
        for sec in tab.sections:
            secs.append({"label": pick(sec.label, lang) if sec.label else "", "columns": sec.columns, "index": i,
                         "visible": states["sections"][i]})
            i += 1
        layout.append({"label": pick(tab.label, lang) if tab.label else "", "sections": secs})
    rest = [n for n in ent.fields if n not in placed]
    if not layout:
        half = (len(rest) + 1) // 2
        layout = [{"label": "", "sections": [{"label": "", "columns": [rest[:half], rest[half:]], "index": -1,
                                              "visible": True}]}]
    elif rest:
        layout[-1]["sections"].append({"label": tr("other", lang), "columns": [rest], "index": -1, "visible": True})
    hist = reading.history_view(r, actor, ent, history, lang)
    if any(h.get("via") == "link" for h in hist):
        _name_links(r, ent, record, hist, lang)
    rel = reachview.related_view(r, actor, ent, record["id"], lang) if record.get("id") and not preview else []
    has_links = bool(record.get("id")) and any(lk.on == ent.name for lk in app_def.sections.get("links", {}).values())
    return page("form.html", has_links=has_links, actor=actor, ent=ent, app_def=app_def, record=record, states=states,
                layout=layout, editable=editable, transitions=transitions, history=hist, links=links,
                child_links=child_links, dynamic=has_dynamic_rules(ent), input_value=input_value, related=rel,
                may_delete=bool(record.get("id")) and deletable)


def _defaults(actor: Actor, ent: EntityDef) -> dict[str, Any]:
    from runtime.evaluate import EvaluationError, evaluate
    from runtime.fieldtypes import FieldValueError, coerce
    from runtime.limits import LimitExceeded
    out: dict[str, Any] = {}
    ctx = dash.RecordContext(ent, {}, actor.context(), None)
    for f in ent.fields.values():
        if f.default is not None:
            try:
                out[f.name] = coerce(f, evaluate(f.default, ctx), actor.language)
            except (EvaluationError, FieldValueError, LimitExceeded):
                pass  # the form starts empty; saving answers the refusal with a 422
    if ent.workflow:
        out["state"] = ent.workflow.initial
    return out


def _name_links(r: Any, ent: EntityDef, record: dict[str, Any], hist: list[dict[str, Any]], lang: str) -> None:
    """A change made through a shared link names the link and the worker: "via link «扫码报工» · 张三"."""
    from .linkstore import LinkStore
    store = r.services.find(LinkStore)
    if store is None:  # the links extension is not enabled
        return
    uses = store.uses_of(ent.app, ent.name, int(record["id"]))
    defs = r.apps[ent.app].sections.get("links", {})
    for h in hist:
        use = uses.get(int(h.get("version") or 0)) if h.get("via") == "link" else None
        if use:
            lk = defs.get(use["name"])
            label = pick(lk.label, lang) if lk else use["name"]
            h["link"] = f"{tr('link_via', lang)} «{label}» #{use['link_id']}"
            if use.get("worker"):
                h["user"] = use["worker"] if use["worker"] == h["user"] else f"{use['worker']} ({h['user']})"


@bp.get("/a/<app>/<entity>/new")
def new_view(app: str, entity: str) -> Any:
    actor = actor_or_login()
    ent = entity_or_404(app, entity)
    if ent.is_child or not may(actor, ent, "create"):
        abort(403)
    return _form_page(actor, ent, None)


@bp.get("/a/<app>/<entity>/<int:record_id>")
def record_view(app: str, entity: str, record_id: int) -> Any:
    actor = actor_or_login()
    ent = entity_or_404(app, entity)
    try:
        record = rt().records.get(actor, ent, record_id)
    except RecordError:
        abort(404)
    return _form_page(actor, ent, record)


# ---------------------------------------------------------------- kanban

@bp.get("/a/<app>/<entity>/kanban")
def kanban_view(app: str, entity: str) -> Any:
    actor = actor_or_login()
    ent = entity_or_404(app, entity)
    if ent.workflow is None or not may(actor, ent, "read"):
        abort(404)
    lang = actor.language
    cols_shown = card_fields(ent)
    title_col = dash.title_column(ent)
    columns = []
    r = rt()
    for st in ent.workflow.states.values():
        res = run_list(actor, ent, {"state": st.name}, limit=50)
        links = link_maps(r, ent, res["items"], cols_shown, lang)
        cards = []
        with r.db.read() as conn:
            for rec in res["items"]:
                ctx = context(r, conn, actor, ent, typed(ent, rec, lang))
                # "move to" offers the transitions that exist from this card's state and that this user may take
                targets = {t_.to: pick(ent.workflow.states[t_.to].label, lang)
                           for t_ in workflow.available(r.records, actor, ent, ctx) if t_.to in ent.workflow.states}
                cells = [(label_of(ent, c, lang), cell(r, ent, c, rec.get(c), lang, links)) for c in cols_shown]
                cards.append({"id": rec["id"], "version": rec.get("version"),
                              "title": str(rec.get(title_col) or f"#{rec['id']}"), "color": row_color(ent, ctx),
                              "cells": cells, "targets": targets})
        columns.append({"state": st.name, "label": pick(st.label, lang), "color": st.color, "cards": cards,
                        "more": bool(res["next"])})
    moves = [{"name": t_.name, "from": sorted(t_.sources) if t_.sources is not None else None, "to": t_.to,
              "label": pick(t_.label, lang)} for t_ in ent.workflow.transitions.values()
             if actor.is_admin or not t_.roles or actor.roles & set(t_.roles)]
    finals = [s.name for s in ent.workflow.states.values() if s.final]
    return page("kanban.html", actor=actor, ent=ent, app_def=rt().apps[app], columns=columns,
                kanban={"moves": moves, "finals": finals, "app": app, "entity": entity,
                        "states": {s.name: pick(s.label, lang) for s in ent.workflow.states.values()}})


# ---------------------------------------------------------------- dashboards

def dashboard_or_404(app: str, name: str) -> dash.Dashboard:
    a = rt().apps.get(app)
    d = a.sections.get("dashboards", {}).get(name) if a else None
    if d is None:
        abort(404)
    return d  # type: ignore[no-any-return]


@bp.get("/d/<app>/<name>")
def dashboard_view(app: str, name: str) -> Any:
    actor = actor_or_login()
    d = dashboard_or_404(app, name)
    if not dash.may_open(actor, d):
        abort(403)
    data = dash.compute(rt(), actor, d, actor.language)
    return page("dashboard.html", actor=actor, d=d, data=data, app_def=rt().apps[app], board=False)


@bp.get("/board/<app>/<name>")
def board_view(app: str, name: str) -> Any:
    """The big-screen board: dark, large, refreshing; opens with a display token or a session."""
    from .admin import display_actor
    d = dashboard_or_404(app, name)
    token = request.args.get("token")
    actor = display_actor(app, name, token) if token else sess.signed_in_actor()
    if actor is None:
        if token:
            abort(403)
        return actor_or_login()
    if not dash.may_open(actor, d):
        abort(403)
    lang = request.args.get("lang") if request.args.get("lang") in ("zh", "en") else sess.lang()
    data = dash.compute(rt(), actor, d, lang)
    return render_template("board.html", d=d, data=data, lang=lang, t=lambda k, **p: tr(k, lang, **p),
                           now=clock.now().strftime("%H:%M:%S"))


# ---------------------------------------------------------------- notifications

@bp.get("/notifications")
def notifications_view() -> Any:
    actor = actor_or_login()
    items = rt().notifications.latest(actor.username, 100)
    return page("notifications.html", actor=actor, items=items)


@bp.post("/notifications/read")
def notifications_read() -> Any:
    actor = actor_or_login()
    rt().notifications.mark_read(actor.username)
    return redirect(url_for("jig_ui.notifications_view"))


@bp.get("/ui/notifications.json")
def notifications_json() -> Any:
    actor = sess.signed_in_actor()
    if actor is None:
        return jsonify({"unread": 0}), 401
    return jsonify({"unread": rt().notifications.unread_count(actor.username)})


def _api_error(exc: Any) -> Any:
    return jsonify({"error": {"code": (exc.name or "error").lower().replace(" ", "_"),
                              "message": exc.description or exc.name, "fields": {}}}), exc.code


@bp.app_errorhandler(403)
def _forbidden(exc: Any) -> Any:
    if request.path.startswith("/api/"):
        return _api_error(exc)
    return page("error.html", code=403, message=tr("forbidden", sess.lang())), 403


@bp.app_errorhandler(404)
def _not_found(exc: Any) -> Any:
    if request.path.startswith("/api/"):
        return _api_error(exc)
    old = _old_record_url(request.path)
    if old is not None:
        return redirect(old, 301)
    return page("error.html", code=404, message=tr("not_found", sess.lang())), 404


def _old_record_url(path: str) -> str | None:
    """Notifications written before records lived under /a/ linked to /<app>/<entity>/<id>."""
    parts = path.strip("/").split("/")
    if len(parts) == 3 and parts[2].isdigit() and len(parts[2]) < 19:
        a = rt().apps.get(parts[0])
        if a is not None and parts[1] in a.entities:
            return url_for("jig_ui.record_view", app=parts[0], entity=parts[1], record_id=int(parts[2]))
    return None


def flash_message(message: str, kind: str = "info") -> None:
    flash(message, kind)
