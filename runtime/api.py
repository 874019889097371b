"""The REST API, generated from the definitions.

Every request is authenticated (``Authorization: Bearer <token>``, or a
signed-in browser session that the UI layer provides through
``app.config['JIG_SESSION_ACTOR']``), and permissions are applied to every
read and write. Errors are JSON ``{"error": {"code", "message", "fields"}}``;
bad input never gives a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy.exc import DBAPIError
from werkzeug import exceptions as http
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from . import bounds, idempotency, jsontext, limits, listquery, permissions, related, sparse, workflow
from .auth import Actor
from .bounds import MAX_ID, MAX_INT32, bad_text
from .core import Runtime
from .errors import BadRequest, Forbidden, NotFound, RecordError, Unauthorized
from .file_access import may_download, may_upload
from .messages import t
from .openapi import document

log = logging.getLogger("jig.api")
bp = Blueprint("jig_api", __name__, url_prefix="/api")


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, with request bodies limited to bounds.MAX_JSON_DEPTH levels of nesting
    (here, not in runtime.bounds, so loading definitions never imports Flask)."""

    ensure_ascii = False
    sort_keys = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return bounds.loads(s)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Compact JSON written by orjson (runtime.jsontext); with other options (indent), Flask's own."""
        if kwargs.keys() - {"separators"}:
            return super().dumps(obj, **kwargs)
        return jsontext.dumps(obj, self.default)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        if self.compact is False or (self.compact is None and self._app.debug):  # indented: Flask's own
            return super().response(*args, **kwargs)
        body = jsontext.dumps_bytes(self._prepare_response_obj(args, kwargs), self.default)
        return self._app.response_class(body + b"\n", mimetype=self.mimetype)


class RuntimeSource(Protocol):
    """What serves a Flask app: a Runtime, or something that swaps runtimes when definitions are published."""

    def current(self) -> Runtime: ...

    def refresh(self) -> bool:
        """Look for newly published definitions now; True when it swapped."""
        ...


def runtime() -> Runtime:
    """The runtime serving this request: taken once per request, so a publish in the middle of a
    request never mixes two versions of the definitions."""
    rt: Runtime | None = g.get("jig_runtime")
    if rt is None:
        source: RuntimeSource = current_app.extensions["jig"]
        rt = g.jig_runtime = source.current()
    return rt


def request_lang() -> str | None:
    """The language this request asks for (?lang= or Accept-Language), if it asks.

    A request made with a browser session speaks the session's language (its zh/en switch), whatever
    the browser's Accept-Language says: one language per session, errors included.
    """
    session_lang: Callable[[], str | None] | None = current_app.config.get("JIG_SESSION_LANG")
    if session_lang is not None and not request.headers.get("Authorization"):
        chosen = session_lang()
        if chosen:
            return chosen
    lang = request.args.get("lang")
    if not lang and "Accept-Language" in request.headers:
        lang = request.accept_languages.best_match(["zh", "en"])
    if not lang:
        return None
    return "en" if lang.startswith("en") else "zh"


def current_actor() -> Actor:
    """The authenticated actor for this request, or 401."""
    actor: Actor | None = getattr(g, "jig_actor", None)
    if actor is not None:
        return actor
    lang = request_lang()
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        actor = runtime().users.resolve_token(header[7:].strip(), via="api")
    else:
        session_actor: Callable[[], Actor | None] | None = current_app.config.get("JIG_SESSION_ACTOR")
        actor = session_actor() if session_actor else None
    if actor is None:
        raise Unauthorized(t("unauthorized", lang or "zh"))
    if lang is not None and lang != actor.language:
        actor = replace(actor, language=lang)
    g.jig_actor = actor
    return actor


def _body() -> dict[str, Any]:
    lang = request_lang() or "zh"
    data = None
    if request.is_json:
        try:
            data = bounds.loads(request.get_data(cache=True))
        except bounds.TooDeep:
            raise BadRequest(t("json_too_deep", lang, max=bounds.MAX_JSON_DEPTH)) from None
        except bounds.BadText:
            raise BadRequest(t("bad_text", lang)) from None
        except ValueError:
            data = None
    if not isinstance(data, dict):
        raise BadRequest(t("bad_json", lang))
    return data


def _version(data: dict[str, Any]) -> int | None:
    v = data.pop("version", None) if isinstance(data, dict) else None
    if v is None:
        v = request.args.get("version") or request.headers.get("If-Match", "").strip('"') or None
    if v is None:
        return None
    try:
        n = int(v) if isinstance(v, (int, str)) and not isinstance(v, bool) and len(str(v)) <= 20 else None
    except ValueError:
        n = None
    if n is None or not 0 <= n <= MAX_INT32:
        raise BadRequest("version must be a whole number", {"version": t("integer", request_lang() or "zh")})
    return n


@bp.get("/openapi.json")
def openapi() -> Response:
    current_actor()  # the document describes the data model: signed-in users only
    return jsonify(document(runtime().apps))


@bp.get("/me")
def me() -> Response:
    actor = current_actor()
    return jsonify({"username": actor.username, "roles": sorted(actor.roles), "display_name": actor.display_name,
                    "language": actor.language})


@bp.post("/files")
def upload_file() -> tuple[Response, int]:
    """Upload one file (multipart field ``file``); ``?image=1`` insists on an image."""
    actor = current_actor()
    if not may_upload(runtime(), actor):
        raise Forbidden(t("forbidden", actor.language))
    upload = request.files.get("file")
    if upload is None:
        raise BadRequest("send the file as multipart field 'file'", {"file": t("required", actor.language)})
    stored = runtime().files.save(upload.read(files_limit()), upload.filename or "file",
                                  image=request.args.get("image") in ("1", "true"), username=actor.username)
    return jsonify(stored.as_json()), 201


def files_limit() -> int:
    from .files import MAX_BYTES
    return MAX_BYTES + 1


@bp.get("/files/<key>")
def download_file(key: str) -> Response:
    actor = current_actor()
    row, data = runtime().files.open(key)
    if not may_download(runtime(), actor, key, row.get("uploaded_by")):
        raise NotFound(t("not_found", actor.language))
    resp = Response(data, mimetype=row["content_type"].split(";")[0])
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp.headers["Cache-Control"] = "private, no-store"
    disposition = "inline" if row["content_type"].startswith("image/") else "attachment"
    from urllib.parse import quote
    resp.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(row['filename'])}"
    return resp


@bp.get("/<app>/<entity>")
def list_records(app: str, entity: str) -> Response:
    actor = current_actor()
    rt = runtime()
    ent = rt.entity(app, entity, actor.language)
    if not permissions.may_at_all(actor, ent, "read"):
        raise Forbidden(t("forbidden", actor.language))
    q = listquery.parse_args(ent, request.args, actor.language)
    shaped = _check_sparse(ent, actor.language)
    page = listquery.run(rt, actor, ent, q)
    if shaped:
        sparse.apply(rt, actor, ent, page["items"], request.args, actor.language)
    return jsonify(page)


def _check_sparse(ent: Any, lang: str) -> bool:
    """``fields=`` and ``expand=`` are checked before anything is read (runtime/sparse.py); False when neither
    is given (nothing to apply)."""
    args = request.args
    if "fields" not in args and "expand" not in args:
        return False
    sparse.parse_fields(ent, args.get("fields"), lang)
    sparse.parse_expand(ent, args.get("expand"), lang)
    return True


@bp.post("/<app>/<entity>")
def create_record(app: str, entity: str) -> Response | tuple[Response, int]:
    actor = current_actor()
    rt = runtime()
    ent = rt.entity(app, entity, actor.language)
    key = request.headers.get(idempotency.HEADER)
    if key is not None:  # a retry with the same key gets the first answer (runtime/idempotency.py)
        body = _body()
        status, text, replayed = rt.idempotency.run(
            actor.username, key, request.path, body, lambda c: (
                201, current_app.json.dumps(rt.records.create(actor, ent, body, c))), actor.language)
        return current_app.response_class(text, status, mimetype="application/json",
                                          headers={"Idempotent-Replayed": "true"} if replayed else None)
    return jsonify(rt.records.create(actor, ent, _body())), 201


@bp.get("/<app>/<entity>/<int:record_id>")
def get_record(app: str, entity: str, record_id: int) -> Response:
    actor = current_actor()
    rt = runtime()
    ent = rt.entity(app, entity, actor.language)
    shaped = _check_sparse(ent, actor.language)
    record = rt.records.get(actor, ent, record_id)
    if shaped:
        sparse.apply(rt, actor, ent, [record], request.args, actor.language)
    return jsonify(record)


@bp.get("/<app>/<entity>/<int:record_id>/related")
def record_related(app: str, entity: str, record_id: int) -> Response:
    """The records linking to this one, per relation, with counts and the list filter (runtime/related.py)."""
    actor = current_actor()
    rt = runtime()
    ent = rt.entity(app, entity, actor.language)
    rt.records.get(actor, ent, record_id)  # 404 unless the user may read it
    return jsonify({"items": related.counts(rt, actor, ent, record_id, actor.language)})


@bp.patch("/<app>/<entity>/<int:record_id>")
def update_record(app: str, entity: str, record_id: int) -> Response:
    actor = current_actor()
    rt = runtime()
    data = _body()
    version = _version(data)
    return jsonify(rt.records.update(actor, rt.entity(app, entity, actor.language), record_id, data, version))


@bp.delete("/<app>/<entity>/<int:record_id>")
def delete_record(app: str, entity: str, record_id: int) -> tuple[str, int]:
    actor = current_actor()
    rt = runtime()
    data = _body() if request.get_data(cache=True) else {}  # a body that is sent must be a JSON object
    rt.records.delete(actor, rt.entity(app, entity, actor.language), record_id, _version(data))
    return "", 204


@bp.post("/<app>/<entity>/<int:record_id>/transitions/<name>")
def transition(app: str, entity: str, record_id: int, name: str) -> Response:
    actor = current_actor()
    rt = runtime()
    data = _body() if request.get_data(cache=True).strip() else {}  # no body: version from ?version= / If-Match
    ent = rt.entity(app, entity, actor.language)
    key = request.headers.get(idempotency.HEADER)
    if key is not None:  # a retried transition gets the first answer, not 409 "wrong state"
        body = {**data, "version": request.args.get("version") or request.headers.get("If-Match")} \
            if "version" not in data else dict(data)
        version = _version(data)
        status, text, replayed = rt.idempotency.run(
            actor.username, key, request.path, body, lambda c: (
                200, current_app.json.dumps(workflow.take(rt.records, actor, ent, record_id, name, data, version,
                                                          conn=c))), actor.language)
        return current_app.response_class(text, status, mimetype="application/json",
                                          headers={"Idempotent-Replayed": "true"} if replayed else None)
    version = _version(data)
    return jsonify(workflow.take(rt.records, actor, ent, record_id, name, data, version))


@bp.get("/<app>/<entity>/<int:record_id>/history")
def record_history(app: str, entity: str, record_id: int) -> Response:
    actor = current_actor()
    rt = runtime()
    return jsonify({"items": rt.records.history(actor, rt.entity(app, entity, actor.language), record_id)})


def _refuse_bad_text() -> None:
    """No NUL or lone surrogate in the path, query string or form reaches a handler (PostgreSQL cannot store them)."""
    values = [*(request.view_args or {}).items()]
    if request.query_string:  # most API calls have none: nothing to parse
        values += request.args.items(multi=True)
    if request.environ.get("CONTENT_TYPE") and \
            request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values += list(request.form.items(multi=True))
    for key, value in values:
        if bad_text(key) or (isinstance(value, str) and bad_text(value)):
            lang = request_lang() or "zh"
            raise BadRequest(t("bad_text", lang), {key if not bad_text(key) else "?": t("bad_text", lang)})


def _error(exc: RecordError) -> tuple[Response, int]:
    return jsonify(exc.as_dict()), exc.status


def _http_error(exc: HTTPException) -> tuple[Response, int] | HTTPException:
    if not request.path.startswith("/api/"):
        return exc
    code = exc.code or 500
    resp = jsonify({"error": {"code": (exc.name or "error").lower().replace(" ", "_"),
                              "message": exc.description or exc.name, "fields": {}}})
    for name, value in exc.get_headers():
        if name.lower() not in ("content-type", "content-length"):
            resp.headers[name] = value  # e.g. Allow on 405
    return resp, code


def _database_error(exc: DBAPIError) -> tuple[Response, int]:
    refusal = limits.out_of_range(exc, request_lang() or "zh")
    return _error(refusal) if refusal is not None else _unexpected(exc)


def _unexpected(exc: Exception) -> tuple[Response, int]:
    log.exception("unexpected error on %s %s", request.method, request.path)
    return jsonify({"error": {"code": "internal", "message": "internal error; see the server log", "fields": {}}}), 500


class RecordIdConverter(IntegerConverter):
    """``<int:...>`` in every route: 1 to 2**63-1 (the databases' row ids); any other number is a 404."""

    def to_python(self, value: str) -> int:
        if len(value) > 19 or not 0 < int(value) <= MAX_ID:
            raise http.NotFound()  # an HTTPException, so routing answers 404; not ValidationError, which lets
            # the router answer 405 for another rule
        return int(value)


def init_app(app: Flask, rt: RuntimeSource) -> None:
    """Attach the runtime (or a source of the current one) and the API blueprint to a Flask app
    (before any other blueprint)."""
    app.extensions["jig"] = rt
    app.url_map.converters["int"] = RecordIdConverter
    app.json = BoundedJSONProvider(app)
    app.before_request(_refuse_bad_text)
    app.register_blueprint(bp)
    app.register_error_handler(RecordError, _error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(DBAPIError, _database_error)  # arithmetic overflow in SQL: 422, not 500
    app.register_error_handler(Exception, _unexpected)


class _LazySessions(SecureCookieSessionInterface):
    """Cookie sessions that cost nothing on requests without a session cookie (token API calls)."""

    def open_session(self, app: Flask, request: Any) -> Any:
        if app.config["SESSION_COOKIE_NAME"] not in request.cookies:
            return self.session_class() if app.secret_key else None
        return super().open_session(app, request)


class _App(Flask):
    """Flask, asking once per function whether it is a coroutine (Flask asks on every call of every view and
    hook: eight times a request here). The answer is kept per underlying function, not per callable: a
    class-based view hands in a new bound method on every request, which must not pile up here."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._coroutine: dict[Any, bool] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        code = getattr(func, "__func__", func)
        known = self._coroutine.get(code)
        if known is None:
            known = self._coroutine[code] = super().ensure_sync(func) is not func
        return super().ensure_sync(func) if known else func


def create_app(rt: Runtime, config: dict[str, Any] | None = None) -> Flask:
    """A Flask app serving only the API (the UI layer builds a fuller one)."""
    app = _App("jig")
    app.session_interface = _LazySessions()
    app.config.update(MAX_CONTENT_LENGTH=16 * 1024 * 1024, **(config or {}))
    init_app(app, rt)
    return app
