"""The builder's JSON API: drafts, validation, migration plans, publishing, versions, diffs, rollback.

Only users with the ``admin`` or ``builder`` role may call it. Every route
takes the app name from the URL; texts are YAML. A draft is validated with
exactly the checks of ``jig check`` (every error with its path and its line
and column in the draft's text). Publishing goes through the runtime's one
publishing path (validate, plan, migrate and record in one transaction) and
refuses destructive migration steps unless ``confirm_destructive`` is sent.

Saves never overwrite someone else's work: ``base`` is the ``sha256`` of the
text a change was made to (the draft's, or the published version's when there
is no draft); when the draft changed since, the save is refused with 409,
naming who saved it, when and with which message, and nothing is written.
With ``"plan": false`` a save is only validated (the designer's autosave:
the migration plan is computed when publishing). Edits without ``base`` are applied to the latest draft (and are still refused
if it changes between reading and writing).

Routes (all under ``/api/builder``)::

    GET    /apps                           apps with their published and draft versions
    POST   /apps                           create an app: {"app", "yaml"?, "message"?} -> its first draft
    GET    /apps/<app>                     published and draft versions with their texts
    PUT    /apps/<app>/draft               save the draft: {"yaml", "message"?, "base"?} -> draft + errors
    POST   /apps/<app>/draft/edits         apply edits to the draft (or the published text): {"edits": [...], "base"?}
    DELETE /apps/<app>/draft               discard the draft
    POST   /apps/<app>/validate            {"yaml"?} (default: the draft) -> errors
    POST   /apps/<app>/plan                {"yaml"?} -> errors and migration steps
    POST   /apps/<app>/publish             {"yaml"?, "message", "confirm_destructive"?, "base"?} -> the new version
                                           (409 naming who changed what when the draft is not ``base``'s text)
    POST   /apps/<app>/expression          {"path", "expr"} -> the errors `jig check` gives there (builder/expressions.py)
    GET    /functions                      functions expressions may call, with signatures (builder/expressions.py)
    GET    /apps/<app>/versions            every version, newest first
    GET    /apps/<app>/versions/<n>        one version with its text
    GET    /apps/<app>/diff?from=N&to=M    unified diff (to: default the draft, else the published version)
    POST   /apps/<app>/rollback            {"number", "message"?} -> publishes version N's text as a new version
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.exc import IntegrityError

from runtime import compact
from runtime.api import current_actor, request_lang, runtime
from runtime.auth import Actor
from runtime.compact_blocks import long_view
from runtime.errors import BadRequest, Conflict, Forbidden, NotFound, ValidationFailed
from runtime.messages import t
from runtime.publishing import Outcome, describe_steps
from runtime.versions import StaleDraft, Version, VersionNotFound, sha256
from runtime.yamlsource import load_text

from .plan_text import archive_lines, plan_lines
from .yamldoc import EditError, YamlDocument

bp = Blueprint("jig_builder", __name__, url_prefix="/api/builder")
BUILDER_ROLES = frozenset({"admin", "builder"})
APP_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


def _builder() -> Actor:
    actor = current_actor()
    if not actor.roles & BUILDER_ROLES:
        raise Forbidden(t("builder_only", actor.language))
    return actor


def _json() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest(t("bad_json", request_lang() or "zh"))
    return data


def _text(data: dict[str, Any], key: str = "yaml") -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"'{key}' must be a text", {key: t("not_text", request_lang() or "zh")})
    return value


def _message(data: dict[str, Any]) -> str:
    value = data.get("message", "")
    if not isinstance(value, str):
        raise BadRequest("'message' must be a text", {"message": t("not_text", request_lang() or "zh")})
    return value[:500]


def _known(app: str, actor: Actor) -> None:
    if not APP_NAME.match(app):
        raise NotFound(t("no_app", actor.language, name=app))


def _outcome(outcome: Outcome, app: str = "", text: str | None = None, lang: str = "zh",
             planned: bool = False) -> dict[str, Any]:
    """The check's errors and steps; with the text, the plan in plain words (``planned``: also with no steps,
    for entities archived or restored, which change no table)."""
    out: dict[str, Any] = {"ok": outcome.ok, "errors": [e.as_dict() for e in outcome.errors],
                           "steps": describe_steps(outcome.steps)}
    if (outcome.steps or planned) and text is not None:
        new, old = _data(text), _data(_published_text(app))
        lines = plan_lines(outcome.steps, app, new=new, old=old, lang=lang)
        lines += archive_lines(app, new=new, old=old, lang=lang)
        if lines:
            out["plan"] = lines
    return out


def _published_text(app: str) -> str:
    rt = runtime()
    with rt.db.read() as conn:
        current = rt.definitions.current(conn, app)
    return current.yaml if current else ""


def _data(text: str) -> Any:
    """The plain data of a definition text (None when it cannot be read)."""
    data, _smap, errors = load_text(text, "<draft>")
    if errors:
        return None
    types = runtime().field_types
    for path in compact.field_paths(data):  # a field written as text: 厂名 | Name reads as type: and label:
        *parent, key = path
        owner = data
        for part in parent:
            owner = owner[part]
        owner[key] = compact.long_field(owner[key], types)
    long_view(data)  # flags written alone, workflow roles and label-keyed sections read long too
    return data


def _version(v: Version | None, *, text: bool = False) -> dict[str, Any] | None:
    if v is None:
        return None
    out = v.summary()
    if text:
        out["yaml"] = v.yaml
        out["data"] = _data(v.yaml)
    return out


def _base(data: dict[str, Any]) -> str | None:
    value = data.get("base")
    if value is not None and (not isinstance(value, str) or len(value) > 64):
        raise BadRequest("'base' is the sha256 of the text the change was made to",
                         {"base": t("not_text", request_lang() or "zh")})
    return value


def _working_text(app: str, actor: Actor, data: dict[str, Any]) -> str:
    """The text a request is about: the one it sends, else the draft, else the published version."""
    given = _text(data)
    if given is not None:
        return given
    rt = runtime()
    with rt.db.read() as conn:
        v = rt.definitions.draft(conn, app) or rt.definitions.current(conn, app)
    if v is None:
        raise NotFound(t("no_app", actor.language, name=app))
    return v.yaml


@bp.get("/apps")
def list_apps() -> Response:
    _builder()
    rt = runtime()
    with rt.db.read() as conn:
        published = rt.definitions.published(conn)
        names = sorted(set(published) | set(rt.definitions.apps_with_drafts(conn)))
        items = [{"app": name, "published": _version(published.get(name)),
                  "draft": _version(rt.definitions.draft(conn, name))} for name in names]
    return jsonify({"items": items})


@bp.post("/apps")
def create_app() -> tuple[Response, int]:
    actor = _builder()
    data = _json()
    name = data.get("app")
    if not isinstance(name, str) or not APP_NAME.match(name):
        raise ValidationFailed(t("validation_failed", actor.language, n=1), {"app": t("app_name", actor.language)})
    rt = runtime()
    text = _text(data) or (f"app: {name}\ntitle: {{zh: {name}, en: {name}}}\nentities:\n  item:\n"
                           f"    title: {{zh: 记录, en: Record}}\n    fields:\n"
                           f"      name: {{type: text, label: {{zh: 名称, en: Name}}, required: true}}\n")
    with rt.db.write() as conn:
        if rt.definitions.current(conn, name) is not None or rt.definitions.draft(conn, name) is not None:
            raise Conflict(t("app_exists", actor.language, name=name))
        draft = rt.definitions.save_draft(conn, name, text, actor.username, _message(data))
    outcome = rt.publisher.check(name, text)
    return jsonify({"draft": _version(draft, text=True), **_outcome(outcome, name, text, actor.language)}), 201


@bp.get("/apps/<app>")
def get_app(app: str) -> Response:
    actor = _builder()
    _known(app, actor)
    rt = runtime()
    with rt.db.read() as conn:
        current = rt.definitions.current(conn, app)
        draft = rt.definitions.draft(conn, app)
    if current is None and draft is None:
        raise NotFound(t("no_app", actor.language, name=app))
    return jsonify({"app": app, "published": _version(current, text=True), "draft": _version(draft, text=True)})


@bp.put("/apps/<app>/draft")
def save_draft(app: str) -> Response:
    actor = _builder()
    _known(app, actor)
    data = _json()
    text = _text(data)
    if text is None:
        raise BadRequest("send the draft as 'yaml'", {"yaml": t("required", actor.language)})
    return jsonify(_save(app, actor, text, _message(data), _base(data), data.get("plan") is not False))


def _save(app: str, actor: Actor, text: str, message: str, base: str | None, plan: bool = True) -> dict[str, Any]:
    rt = runtime()
    outcome = rt.publisher.check(app, text, plan=plan)
    try:
        with rt.db.write() as conn:
            if rt.definitions.current(conn, app) is None and rt.definitions.draft(conn, app) is None:
                raise NotFound(t("no_app", actor.language, name=app))
            draft = rt.definitions.save_draft(conn, app, text, actor.username, message, base=base)
    except StaleDraft as exc:
        raise _stale(exc.current, actor) from None
    except IntegrityError:  # two first drafts of the same app at once: the other one won
        with rt.db.read() as conn:
            there = rt.definitions.draft(conn, app)
        if there is None:
            raise
        raise _stale(there, actor) from None
    return {"draft": _version(draft, text=True), **_outcome(outcome, app, text, actor.language)}


def _stale(there: Version, actor: Actor) -> Conflict:
    when = there.created_at.strftime("%Y-%m-%d %H:%M:%S")
    what = there.message or t("draft_no_message", actor.language)
    return Conflict(t("draft_stale", actor.language, who=there.author or "?", when=when, what=what),
                    current=_version(there))


@bp.post("/apps/<app>/draft/edits")
def edit_draft(app: str) -> Response:
    """Apply structured edits to the draft's YAML, changing only the edited lines."""
    actor = _builder()
    _known(app, actor)
    data = _json()
    edits = data.get("edits")
    if not isinstance(edits, list) or not edits or len(edits) > 200:
        raise BadRequest("'edits' must be a list of 1 to 200 edits", {"edits": t("list", actor.language)})
    base = _base(data)
    working = _working_text(app, actor, {})
    if base is not None:
        _refuse_stale(app, actor, base, working)
    doc = YamlDocument(working)
    for i, edit in enumerate(edits):
        try:
            _apply(doc, edit)
        except (EditError, KeyError, TypeError, ValueError) as exc:
            raise ValidationFailed(f"edit {i + 1}: {exc}", {f"edits[{i}]": str(exc)}) from None
    return jsonify(_save(app, actor, doc.text(), _message(data), base or sha256(working),
                         data.get("plan") is not False))


def _refuse_stale(app: str, actor: Actor, base: str, working: str | None = None) -> None:
    """409 naming who changed what when the draft (else the published text) is not the text ``base`` names."""
    working = _working_text(app, actor, {}) if working is None else working
    if sha256(working) == base:
        return
    with runtime().db.read() as conn:
        there = runtime().definitions.draft(conn, app) or runtime().definitions.current(conn, app)
    if there is not None:
        raise _stale(there, actor)


def _apply(doc: YamlDocument, edit: Any) -> None:
    if not isinstance(edit, dict):
        raise EditError("an edit is an object with 'op' and 'path'")
    path = edit.get("path")
    if not isinstance(path, list) or not all(isinstance(p, (str, int)) and not isinstance(p, bool) for p in path):
        raise EditError("'path' is a list of keys and indexes")
    op = edit.get("op")
    if op == "set":
        after = edit.get("after")
        doc.set(path, edit.get("value"), after=after if isinstance(after, str) else None)
    elif op == "delete":
        doc.delete(path)
    elif op == "rename":
        doc.rename(path, str(edit["to"]))
    elif op == "move":
        doc.move(path, int(edit["index"]))
    elif op == "append":
        doc.append(path, edit.get("value"))
    else:
        raise EditError(f"unknown op {op!r} (set, delete, rename, move, append)")


@bp.delete("/apps/<app>/draft")
def discard_draft(app: str) -> tuple[str, int]:
    actor = _builder()
    _known(app, actor)
    rt = runtime()
    with rt.db.write() as conn:
        if not rt.definitions.discard_draft(conn, app):
            raise NotFound(t("no_draft", actor.language, name=app))
    return "", 204


@bp.post("/apps/<app>/validate")
def validate(app: str) -> Response:
    actor = _builder()
    _known(app, actor)
    text = _working_text(app, actor, _json())
    return jsonify(_outcome(runtime().publisher.check(app, text, plan=False)))


@bp.post("/apps/<app>/plan")
def plan(app: str) -> Response:
    actor = _builder()
    _known(app, actor)
    text = _working_text(app, actor, _json())
    return jsonify(_outcome(runtime().publisher.check(app, text), app, text, actor.language, planned=True))


@bp.post("/apps/<app>/publish")
def publish(app: str) -> Response:
    actor = _builder()
    _known(app, actor)
    data = _json()
    base = _base(data)
    text = _working_text(app, actor, data)
    if base is not None:
        _refuse_stale(app, actor, base)
    rt = runtime()
    outcome = rt.publisher.publish(app, text, author=actor.username, message=_message(data), source="browser",
                                   allow_destructive=data.get("confirm_destructive") is True)
    return _published(outcome, actor)


def _published(outcome: Outcome, actor: Actor) -> Response:
    if not outcome.ok:
        raise ValidationFailed(t("definition_invalid", actor.language, n=len(outcome.errors)),
                               errors=[e.as_dict() for e in outcome.errors])
    if outcome.version is None:
        raise Conflict(t("destructive_unconfirmed", actor.language), steps=describe_steps(outcome.steps))
    current_app.extensions["jig"].refresh()  # this process serves the new version from its next request on
    return jsonify({"version": _version(outcome.version), "steps": describe_steps(outcome.steps)})


@bp.get("/apps/<app>/versions")
def versions(app: str) -> Response:
    actor = _builder()
    _known(app, actor)
    rt = runtime()
    with rt.db.read() as conn:
        items = [_version(v) for v in rt.definitions.history(conn, app)]
    if not items:
        raise NotFound(t("no_app", actor.language, name=app))
    return jsonify({"items": items})


@bp.get("/apps/<app>/versions/<int:number>")
def version(app: str, number: int) -> Response:
    actor = _builder()
    _known(app, actor)
    rt = runtime()
    try:
        with rt.db.read() as conn:
            v = rt.definitions.get(conn, app, number)
    except VersionNotFound:
        raise NotFound(t("no_version", actor.language, app=app, number=number)) from None
    return jsonify(_version(v, text=True))


@bp.get("/apps/<app>/diff")
def diff(app: str) -> Response:
    actor = _builder()
    _known(app, actor)
    rt = runtime()
    with rt.db.read() as conn:
        latest = rt.definitions.draft(conn, app) or rt.definitions.current(conn, app)
        if latest is None:
            raise NotFound(t("no_app", actor.language, name=app))
        try:
            b = _number(request.args.get("to"), latest.number)
            a = _number(request.args.get("from"), latest.based_on or max(1, b - 1))
            text = rt.definitions.diff(conn, app, a, b)
        except VersionNotFound as exc:
            raise NotFound(str(exc)) from None
    return jsonify({"app": app, "from": a, "to": b, "diff": text})


def _number(value: str | None, default: int) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or len(value) > 9:
        raise BadRequest("version numbers are whole numbers", {"number": t("integer", request_lang() or "zh")})
    return int(value)


@bp.post("/apps/<app>/rollback")
def rollback(app: str) -> Response:
    actor = _builder()
    _known(app, actor)
    data = _json()
    number = data.get("number")
    if not isinstance(number, int) or isinstance(number, bool) or not 0 < number < 10**9:
        raise BadRequest("send the version to roll back to as 'number'", {"number": t("integer", actor.language)})
    rt = runtime()
    try:
        outcome = rt.publisher.rollback(app, number, author=actor.username, message=_message(data),
                                        allow_destructive=data.get("confirm_destructive") is True)
    except VersionNotFound:
        raise NotFound(t("no_version", actor.language, app=app, number=number)) from None
    return _published(outcome, actor)
