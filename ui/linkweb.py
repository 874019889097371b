"""The mobile pages behind shared links: /l/<token> (no session, no account).

Every request resolves the token (unknown, tampered, revoked, expired, used
up and definition-removed tokens all answer 403), counts against the rate
limits of the token and of the address, and acts as an ``Actor`` carrying a
``LinkGrant``: the runtime's permission checks then allow exactly the link's
entity, record, fields and transitions, and history records ``via=link``.
POSTs carry a page token bound to the link token (there is no session to
hold a CSRF token). Uploads go through the same ``FileStore`` as the API.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, jsonify, render_template, request
from sqlalchemy import select

from runtime import workflow
from runtime.auth import Actor
from runtime.errors import BadRequest, Conflict, Forbidden, RecordError
from runtime.fieldtypes import FILE_KEY, to_json
from runtime.model import EntityDef

from .i18n import tr
from .linkspec import LinkDef
from .linkstore import LinkStore, Resolved, hash_token

bp = Blueprint("jig_links", __name__, template_folder="templates")
PER_ADDRESS_PER_MINUTE = 120
UPLOADS_PER_HOUR_FACTOR = 4
MAX_UPLOAD = 10 * 1024 * 1024
PIN_TRIES, PIN_WINDOW = 5, 900  # wrong PINs per user per 15 minutes
CSP = ("default-src 'none'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def rt() -> Any:
    from runtime.api import runtime
    return runtime()  # the runtime serving this request (definitions may be published meanwhile)


def store() -> LinkStore:
    return rt().services.get(LinkStore)


def lang() -> str:
    q = request.args.get("lang")
    if q in ("zh", "en"):
        return q
    return "en" if request.cookies.get("jig_link_lang") == "en" else "zh"


def _address() -> str:
    return (request.remote_addr or "?")[:64]


def _refuse(status: int, key: str) -> Any:
    """403/429 as JSON for scripts, as a small page for a browser."""
    msg = tr(key, lang())
    if request.method == "POST":
        abort(Response(response=_json({"error": {"code": key, "message": msg, "fields": {}}}), status=status,
                       mimetype="application/json"))
    abort(Response(render_template("link_gone.html", message=msg, lang=lang(), t=_t()), status=status))


def _json(body: Any) -> str:
    import json
    return json.dumps(body, ensure_ascii=False)


def _t() -> Any:
    lg = lang()
    return lambda key, **p: tr(key, lg, **p)


def resolve(token: str) -> Resolved:
    if not store().hit("addr:" + _address(), PER_ADDRESS_PER_MINUTE):
        _refuse(429, "link_rate")
    res = store().resolve(token)
    if res is None:
        _refuse(403, "link_invalid")
    assert res is not None
    if not store().hit(f"link:{res.row['id']}", res.link.rate_per_minute):
        _refuse(429, "link_rate")
    return res


def entity_of(link: LinkDef) -> EntityDef:
    return rt().apps[link.app].entities[link.entity]  # type: ignore[no-any-return]


def link_actor(res: Resolved, worker: dict[str, str] | None, lg: str = "zh") -> Actor:
    return store().actor(res, worker, lg)


@bp.after_app_request
def _headers(resp: Response) -> Response:
    if request.blueprint == "jig_links":
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["X-Robots-Tag"] = "noindex"
    return resp


# ---------------------------------------------------------------- the page

@bp.get("/l/<token>")
def page(token: str) -> Any:
    res = resolve(token)
    from .linkview import page_context
    ctx = page_context(rt(), store(), res, token, lang())
    resp = Response(render_template("link.html", t=_t(), lang=lang(), **ctx))
    if request.args.get("lang") in ("zh", "en"):
        resp.set_cookie("jig_link_lang", lang(), max_age=3600 * 24 * 365, samesite="Lax", httponly=True)
    return resp


def _check_post(res: Resolved, token: str) -> None:
    sent = request.headers.get("X-Link-Token") or ""
    if not sent or sent != store().page_csrf(hash_token(token)):
        _refuse(403, "link_csrf")


def _worker(res: Resolved, body: dict[str, Any]) -> dict[str, str] | None:
    lk = res.link
    lg = lang()
    if lk.identify_name:
        name = str(body.get("worker_name") or "").strip()[:40]
        if not name:
            raise BadRequest(tr("link_who", lg), {"worker_name": tr("link_who", lg)})
        return {"name": name}
    if not lk.identify_roles:
        return None
    username = str(body.get("worker") or "")[:64]
    known = {w["username"]: w for w in store().workers(lk.identify_roles)}
    if username not in known:
        raise BadRequest(tr("link_who", lg), {"worker": tr("link_who", lg)})
    if lk.identify_pin:
        if store().count("pin:" + username, window_seconds=PIN_WINDOW) >= PIN_TRIES:
            raise Forbidden(tr("link_pin_locked", lg), {"pin": tr("link_pin_locked", lg)})
        if not store().pin_ok(username, str(body.get("pin") or "")[:32]):
            store().hit("pin:" + username, PIN_TRIES, window_seconds=PIN_WINDOW)  # wrong PINs are counted
            raise Forbidden(tr("link_pin_wrong", lg), {"pin": tr("link_pin_wrong", lg)})
    return known[username]


def _values(res: Resolved, ent: EntityDef, body: dict[str, Any], actor: Actor, before: dict[str, Any] | None,
            conn: Any) -> dict[str, Any]:
    """The submitted values: only the link's editable fields; new photos only those this link uploaded."""
    lg = lang()
    values = body.get("values") or {}
    if not isinstance(values, dict):
        raise BadRequest(tr("link_bad", lg))
    outside = sorted(k for k in values if k not in res.link.edit)
    if outside:
        raise Forbidden(tr("link_outside", lg), {k: tr("link_outside", lg) for k in outside[:20]})
    out: dict[str, Any] = {}
    files = rt().tables.system["jig_files"]
    for k, v in values.items():
        f = ent.fields[k]
        if f.ft.is_file:
            new = [v] if isinstance(v, str) else v if isinstance(v, list) else None
            if new is None or not all(isinstance(x, str) and FILE_KEY.fullmatch(x) for x in new):
                raise BadRequest(tr("link_bad", lg), {k: tr("link_bad", lg)})
            mine = set(conn.execute(select(files.c.key).where(files.c.key.in_(new),
                                                              files.c.uploaded_by == f"link-{res.row['id']}"))
                       .scalars()) if new else set()
            if set(new) - mine:
                raise Forbidden(tr("link_outside", lg), {k: tr("link_outside", lg)})
            if f.ft.multi:
                kept = list((before or {}).get(k) or [])
                merged = kept + [x for x in new if x not in kept]
                if len(merged) > res.link.max_photos + len(kept):
                    raise BadRequest(tr("link_too_many", lg, n=res.link.max_photos), {k: tr("link_bad", lg)})
                out[k] = merged
            else:
                out[k] = new[0] if new else None
        elif v not in (None, ""):
            out[k] = v
    return out


@bp.post("/l/<token>")
def submit(token: str) -> Any:
    res = resolve(token)
    _check_post(res, token)
    body = request.get_json(silent=True)
    lg = lang()
    try:
        if not isinstance(body, dict):
            raise BadRequest(tr("link_bad", lg))
        return _submit(res, token, body)
    except RecordError as exc:
        return jsonify(exc.as_dict()), exc.status


BODY_KEYS = {"action", "values", "version", "worker", "worker_name", "pin", "challenge", "submit_id"}


def _submit(res: Resolved, token: str, body: dict[str, Any]) -> Any:
    lk = res.link
    lg = lang()
    extra = sorted(k for k in body if k not in BODY_KEYS)
    if extra:  # e.g. {"id": another record}: a link's record comes from its token, never from the request
        raise Forbidden(tr("link_outside", lg), {k: tr("link_outside", lg) for k in extra[:10]})
    ent = entity_of(lk)
    worker = _worker(res, body)
    actor = link_actor(res, worker, lg)
    action = str(body.get("action") or "")[:48]
    records = rt().records
    with rt().db.write() as conn:
        if lk.creates:
            if action != "create":
                raise Forbidden(tr("link_outside", lg))
            if lk.challenge and not store().check_challenge(conn, hash_token(token), body.get("challenge")):
                raise Forbidden(tr("link_challenge", lg), {"challenge": tr("link_challenge", lg)})
            sid = str(body.get("submit_id") or "")[:40]
            if sid and not store().claim(conn, f"submit:{res.row['id']}:{sid}"):
                raise Conflict(tr("link_already", lg))
            values = _values(res, ent, body, actor, None, conn)
            if lk.bind:
                values[lk.bind] = int(res.row["record_id"])
            result = records.create(actor, ent, values, conn=conn)
        else:
            record_id = int(res.row["record_id"])
            version = body.get("version")
            if not isinstance(version, int) or isinstance(version, bool):
                raise BadRequest(tr("link_bad", lg), {"version": tr("link_bad", lg)})
            before = records.get(actor, ent, record_id, conn=conn)
            values = _values(res, ent, body, actor, before, conn)
            if action == "save":
                if not values:
                    raise BadRequest(tr("link_nothing", lg))
                result = records.update(actor, ent, record_id, values, version, conn=conn)
            elif action in lk.transitions:
                result = workflow.take(records, actor, ent, record_id, action, data=values, version=version,
                                       conn=conn)
            else:
                raise Forbidden(tr("link_outside", lg), {"action": tr("link_outside", lg)})
        ok = store().count_use(conn, res.row, entity=ent.name, record_id=int(result["id"]),
                               version=result.get("version"), action=action,
                               worker=(worker or {}).get("name") or (worker or {}).get("username"),
                               address=_address())
        if not ok:
            raise Forbidden(tr("link_invalid", lg))
    shown = {k: to_json(result.get(k)) for k in lk.show if k in result}
    return jsonify({"ok": True, "id": result["id"], "name": result.get("name"), "state": result.get("state"),
                    "version": result.get("version"), "values": shown,
                    "message": tr("link_done", lg)}), 201 if lk.creates else 200


@bp.post("/l/<token>/files")
def upload(token: str) -> Any:
    res = resolve(token)
    _check_post(res, token)
    lg = lang()
    ent = entity_of(res.link)
    if not any(ent.fields[f].ft.image for f in res.link.edit):
        _refuse(403, "link_outside")
    if (request.content_length or 0) > MAX_UPLOAD + 64 * 1024:
        return jsonify({"error": {"code": "too_large", "message": tr("link_too_large", lg), "fields": {}}}), 413
    if not store().hit(f"upload:{res.row['id']}", res.link.max_photos * UPLOADS_PER_HOUR_FACTOR,
                       window_seconds=3600):
        _refuse(429, "link_rate")
    f = request.files.get("file")
    if f is None:
        return jsonify(BadRequest(tr("link_bad", lg), {"file": tr("link_bad", lg)}).as_dict()), 400
    data = f.read(MAX_UPLOAD + 1)
    try:
        stored = rt().files.save(data, f.filename or "photo.jpg", image=True, username=f"link-{res.row['id']}")
    except RecordError as exc:
        return jsonify(exc.as_dict()), exc.status
    return jsonify({"key": stored.key, "width": stored.width, "height": stored.height, "size": stored.size}), 201
