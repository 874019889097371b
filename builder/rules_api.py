"""The rule editor's part of the builder API: rule state, enable/disable, conditions, test now, SMS preview.

The rules themselves are edited like forms: draft edits of the app's YAML
(``/draft/edits``) published through ``/publish``, so versions, diff,
rollback and ``jig export`` cover them. What needs the rules extension
(``rules.trial``, ``rules.conditions``, ``rules.reach``) is here. Builders
and admins only; writes need the session's CSRF token, like the rest of the API.

Routes (under ``/api/builder/apps/<app>``)::

    GET  /rules                    every rule (draft and published): enabled, trigger, next/last run,
                                   firings today, failures, recipients who cannot be reached
    POST /rules/<name>/enabled     {"enabled": bool}: published at once as a new version (who and when
                                   are in the version history); the draft, if any, gets the same change
    POST /condition                {"entity", "rows": [{field, op, value}], "join"?} or {"entity", "expr"}
                                   -> the expression, its errors, whether it runs in SQL, and its rows
    POST /rules/<name>/test        {"rule"?, "templates"?, "at"?} -> what the rule would do (nothing is sent)
    POST /rules/<name>/preview     {"rule"?, "templates"?, "record", "at"?} -> its SMS texts for one record
    POST /recipients               {"roles", "users"} -> who cannot be texted (no phone, no such user)
    GET  /records/<entity>         the latest records (id, name) to preview with

``rule`` and ``templates`` are the editor's unsaved version (the rule's YAML as
data, the templates it uses); without them the draft, else the published
version, is tried. ``at`` ("2026-12-07 09:00") tries it as if it were then.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, current_app, jsonify
from sqlalchemy import func, select

from runtime import clock
from runtime.auth import Actor
from runtime.errors import BadRequest, NotFound, ValidationFailed
from runtime.messages import t

from .api import APP_NAME, _builder, _json, _known, _stale, _working_text, bp, runtime
from .yamldoc import EditError, YamlDocument

MAX_SPEC = 50_000  # characters of an unsaved rule sent for a test


def _rules() -> Any:
    from rules.service import rules_of
    try:
        return rules_of(runtime())
    except LookupError:
        raise NotFound("the rules extension is not enabled") from None


def _name(name: str) -> str:
    if not APP_NAME.match(name):
        raise NotFound(f"no rule '{name}'")
    return name


def _at(data: dict[str, Any]) -> dt.datetime | None:
    value = data.get("at")
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise BadRequest("'at' is a local time like 2026-12-07 09:00", {"at": "time"})
    try:
        return dt.datetime.fromisoformat(value.strip().replace("T", " "))
    except ValueError:
        raise BadRequest(f"'{value}' is not a time; write it like 2026-12-07 09:00", {"at": "time"}) from None


def _iso(value: Any) -> str | None:
    return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else None


@bp.get("/apps/<app>/rules")
def rule_list(app: str) -> Response:
    """Every rule of the app as written (draft, else published) with what the served runtime knows of it."""
    from rules.reach import rule_warnings
    actor = _builder()
    _known(app, actor)
    rt = runtime()
    service = _rules()
    doc = YamlDocument(_working_text(app, actor, {}))
    written = doc.get(["rules"]) or {}
    served = {r.name: r for r in service.rules if r.app == app}
    system = rt.tables.system
    sched, firings, outbox = system["jig_schedules"], system["jig_rule_firings"], system["jig_outbox"]
    midnight = dt.datetime.combine(clock.today(), dt.time())
    with rt.db.read() as conn:
        current = rt.definitions.current(conn, app)
        published = (YamlDocument(current.yaml).get(["rules"]) or {}) if current is not None else {}
        state = {r["name"]: r for r in conn.execute(select(sched).where(
            sched.c.name.in_([f"rule:{app}.{n}" for n in served]))).mappings()}
        today = dict(conn.execute(select(firings.c.rule, func.count()).where(
            firings.c.rule.in_([f"{app}.{n}" for n in served]), firings.c.fired_at >= midnight)
            .group_by(firings.c.rule)).all())
        dead = dict(conn.execute(select(outbox.c.source, func.count()).where(
            outbox.c.app == app, outbox.c.status == "dead").group_by(outbox.c.source)).all())
        items = []
        for name in list(written) + [n for n in served if n not in written]:
            spec = written.get(name) if isinstance(written.get(name), dict) else {}
            rule = served.get(name)
            s = state.get(f"rule:{app}.{name}") or {}
            status = s.get("last_status")
            items.append({
                "name": name, "label": _plain(spec.get("label")) if spec else None,
                "published": name in published, "changed_in_draft": _plain(published.get(name)) != _plain(spec),
                # the published definition says (the served runtime follows it within JIG_REFRESH seconds)
                "enabled": _enabled(published.get(name) if name in published else spec),
                "on": _plain(spec.get("on")), "for_each": spec.get("for_each"),
                "next_run": _next_run(rule, s) if _enabled(published.get(name)) else None,
                "last_run": _iso(s.get("last_run_at")), "last_status": status,
                "firings_today": today.get(f"{app}.{name}", 0),
                "failures": dead.get(f"rule:{name}", 0) + (1 if status and status.startswith("error") else 0),
                "warnings": rule_warnings(rt, conn, spec)})
    return jsonify({"app": app, "items": items, "today": clock.today().isoformat()})


def _enabled(spec: Any) -> bool:
    return isinstance(spec, dict) and spec.get("enabled", True) is not False


def _next_run(rule: Any, state: dict[str, Any]) -> str | None:
    """When the scheduler runs an enabled scheduled rule next (before its first run: when it will first)."""
    from rules.scheduler import first_run
    if rule is None or rule.schedule is None:
        return None
    return _iso(state.get("next_run_at") or first_run(rule.schedule, clock.now()))


def _plain(value: Any) -> Any:
    """ruamel's round-trip data as plain JSON data."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


@bp.post("/apps/<app>/rules/<name>/enabled")
def rule_enabled(app: str, name: str) -> Response:
    """Enable or disable a published rule at once: a new published version changing only its ``enabled``."""
    actor = _builder()
    _known(app, actor)
    _name(name)
    data = _json()
    enabled = data.get("enabled")
    if not isinstance(enabled, bool):
        raise BadRequest("send 'enabled': true or false", {"enabled": t("required", actor.language)})
    rt = runtime()
    with rt.db.read() as conn:
        current = rt.definitions.current(conn, app)
        draft = rt.definitions.draft(conn, app)
    if current is None:
        raise NotFound(t("no_app", actor.language, name=app))
    text = _toggled(current.yaml, name, enabled)
    if text is None:
        raise NotFound(f"rule '{name}' is not published yet: publish the draft first")
    label = name
    verb = ("启用规则 " if actor.language != "en" else "Enabled rule ") if enabled else (
        "停用规则 " if actor.language != "en" else "Disabled rule ")
    if text == current.yaml:
        return jsonify({"changed": False, "enabled": enabled})
    outcome = rt.publisher.publish(app, text, author=actor.username, message=verb + label, source="browser")
    if not outcome.ok or outcome.version is None:
        raise ValidationFailed(t("definition_invalid", actor.language, n=len(outcome.errors)),
                               errors=[e.as_dict() for e in outcome.errors])
    if draft is not None:  # keep the draft from undoing it when it is published
        follow = _toggled(draft.yaml, name, enabled)
        if follow is not None and follow != draft.yaml:
            from runtime.versions import StaleDraft
            try:
                with rt.db.write() as conn:
                    rt.definitions.save_draft(conn, app, follow, draft.author, draft.message, base=draft.sha256)
            except StaleDraft as exc:
                raise _stale(exc.current, actor) from None
    current_app.extensions["jig"].refresh()
    return jsonify({"changed": True, "enabled": enabled, "version": outcome.version.summary()})


def _toggled(text: str, name: str, enabled: bool) -> str | None:
    doc = YamlDocument(text)
    rule = doc.get(["rules", name])
    if not isinstance(rule, dict):
        return None
    if enabled and "enabled" in rule:
        doc.delete(["rules", name, "enabled"])
    elif not enabled:
        doc.set(["rules", name, "enabled"], False, after="label" if "label" in rule and "enabled" not in rule
                else None)
    return doc.text()


def _entity(app: str, data: dict[str, Any], actor: Actor, text: str | None = None) -> Any:
    name = data.get("entity")
    if not isinstance(name, str) or not APP_NAME.match(name):
        raise BadRequest("send the rule's 'entity'", {"entity": t("required", actor.language)})
    if text is not None:
        from rules.trial import TrialError, compile_app
        try:
            app_def = compile_app(runtime(), app, text)
        except TrialError:
            app_def = runtime().apps.get(app)
    else:
        app_def = runtime().apps.get(app)
    ent = app_def.entities.get(name) if app_def is not None else None
    if ent is None:
        raise NotFound(f"no entity '{name}' in app '{app}'")
    return ent


@bp.post("/apps/<app>/condition")
def condition(app: str) -> Response:
    """Build a condition from picker rows (or take the expression), check it and say whether it runs in SQL."""
    from rules.conditions import RowError, build, check, rows_of
    from runtime.sqlcompile import SqlCompiler
    actor = _builder()
    _known(app, actor)
    data = _json()
    ent = _entity(app, data, actor, _working_text(app, actor, {}))
    if "rows" in data:
        try:
            expr = build(ent, data["rows"], data.get("join") or "and")
        except RowError as exc:
            return jsonify({"ok": False, "expr": None, "errors": [{"row": exc.row, "message": exc.message}]})
    else:
        expr = data.get("expr")
        if not isinstance(expr, str) or not expr.strip() or len(expr) > 2000:
            raise BadRequest("send 'rows' or an 'expr' (1 to 2000 characters)", {"expr": t("required", actor.language)})
    rt = runtime()
    try:
        table = rt.tables.for_entity(ent)
    except KeyError:
        table = None
    result = check(ent, expr, SqlCompiler(rt.tables, rt.db.dialect), table)
    return jsonify({**result, "expr": expr, "picker": rows_of(expr)})


def _try_text(app: str, name: str, actor: Actor, data: dict[str, Any]) -> str:
    """The app's text with the editor's unsaved rule and templates in it (the draft's, else the published)."""
    text = _working_text(app, actor, {})
    rule, templates = data.get("rule"), data.get("templates")
    if rule is None and not templates:
        return text
    if (rule is not None and not isinstance(rule, dict)) or (templates is not None and not isinstance(templates, dict)):
        raise BadRequest("'rule' and 'templates' are objects (the YAML as data)", {"rule": "object"})
    if len(repr(rule)) + len(repr(templates)) > MAX_SPEC:
        raise BadRequest("the rule is too large", {"rule": "size"})
    doc = YamlDocument(text)
    try:
        if rule is not None:
            if not isinstance(doc.get(["rules"]), dict):
                doc.set(["rules"], {})
            doc.set(["rules", name], rule)
        for tname, spec in (templates or {}).items():
            if not isinstance(tname, str) or not APP_NAME.match(tname):
                raise BadRequest(f"bad template name {tname!r}", {"templates": "name"})
            if not isinstance(doc.get(["templates"]), dict):
                doc.set(["templates"], {}, after="roles" if doc.get(["roles"]) is not None else None)
            doc.set(["templates", tname], spec)
    except EditError as exc:
        raise BadRequest(str(exc), {"rule": str(exc)}) from None
    return doc.text()


def _tried(app: str, name: str, actor: Actor, data: dict[str, Any]) -> tuple[Any, Any]:
    from rules.trial import TrialError, compile_app, find_rule
    _rules()
    try:
        app_def = compile_app(runtime(), app, _try_text(app, name, actor, data))
        return app_def, find_rule(app_def, name)
    except TrialError as exc:
        raise ValidationFailed(exc.message, errors=exc.errors) from None


@bp.post("/apps/<app>/rules/<name>/test")
def rule_test(app: str, name: str) -> Response:
    """Test now: the matching records (by the scheduler's SQL), the messages, who cannot be reached."""
    from rules.trial import TrialError, trial
    actor = _builder()
    _known(app, actor)
    data = _json()
    at = _at(data)
    app_def, rule = _tried(app, _name(name), actor, data)
    try:
        return jsonify(trial(runtime(), app_def, rule, at))
    except TrialError as exc:
        raise ValidationFailed(exc.message, errors=exc.errors) from None


@bp.post("/apps/<app>/rules/<name>/preview")
def rule_preview(app: str, name: str) -> Response:
    from rules.trial import TrialError, preview
    actor = _builder()
    _known(app, actor)
    data = _json()
    record = data.get("record")
    if not isinstance(record, int) or isinstance(record, bool) or not 0 < record < 2**62:
        raise BadRequest("send the record's id as 'record'", {"record": t("integer", actor.language)})
    at = _at(data)
    app_def, rule = _tried(app, _name(name), actor, data)
    try:
        return jsonify({"items": preview(runtime(), app_def, rule, record, at)})
    except TrialError as exc:
        raise NotFound(exc.message) from None


@bp.post("/apps/<app>/recipients")
def recipients(app: str) -> Response:
    """Who among these roles' users and these users cannot be texted."""
    from rules.reach import unreachable_users
    actor = _builder()
    _known(app, actor)
    data = _json()
    roles, users = data.get("roles") or [], data.get("users") or []
    if not isinstance(roles, list) or not isinstance(users, list) or len(roles) + len(users) > 200 \
            or not all(isinstance(x, str) and len(x) <= 64 for x in roles + users):
        raise BadRequest("send 'roles' and 'users' as lists of names", {"roles": t("list", actor.language)})
    rt = runtime()
    with rt.db.read() as conn:
        return jsonify({"unreachable": unreachable_users(rt, conn, roles, users)})


@bp.get("/apps/<app>/records/<entity>")
def records(app: str, entity: str) -> Response:
    """The latest records of an entity (id and name), for the SMS preview's record chooser."""
    actor = _builder()
    _known(app, actor)
    ent = _entity(app, {"entity": entity}, actor)
    rt = runtime()
    table = rt.tables.for_entity(ent)
    cols = [table.c.id] + ([table.c.name] if "name" in table.c else [])
    with rt.db.read() as conn:
        rows = conn.execute(select(*cols).order_by(table.c.id.desc()).limit(50)).mappings().all()
    return jsonify({"items": [{"id": r["id"], "name": r.get("name") or f"#{r['id']}"} for r in rows]})
