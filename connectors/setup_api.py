"""The setup page's API: presets, stored secrets, test connection and mapping preview (admins only).

Connector definitions themselves are never written here: the setup page saves them as draft edits
of the app's YAML through the builder API and publishes them through it (versions, diff, rollback,
``jig export``). These routes only read the draft to try it out::

    GET  /api/_connectors/_presets              the presets: title, vars, secret vars, operations and their fields
    GET  /api/_connectors/_secrets              stored secrets: name, set when and by whom (never a value)
    PUT  /api/_connectors/_secrets/<name>       {"value"}: encrypt and store (409 without JIG_SECRETS_KEY)
    POST /api/_connectors/_try/<app>/<name>     {"operation"?, "sample"?}: the draft's connector logs in and
                                                fetches one page -> the raw answer and the mapped rows; with
                                                "sample" (a raw answer) only maps it (the mapping preview)
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Blueprint, jsonify, request

from runtime.api import current_actor, runtime
from runtime.errors import BadRequest, Conflict, DefinitionErrors, Forbidden, NotFound, ValidationFailed

from . import vault
from .http import Client, ErpError, Masker
from .mapping import preview
from .pages import extract, group, to_contexts
from .spec import SECRET_KEYS, Connector, _preset, preset_names

IDENT = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
SAMPLE_ROWS = 20
MAX_RAW = 60_000  # characters of the raw answer sent to the page


class NoKey(Conflict):
    code = "no_secrets_key"


def blueprint() -> Blueprint:
    bp = Blueprint("jig_connector_setup", __name__, url_prefix="/api/_connectors")

    def admin() -> Any:
        actor = current_actor()
        if not actor.is_admin:
            raise Forbidden("只有管理员可以设置连接器 / admins only")
        return actor

    @bp.get("/_presets")
    def presets() -> Any:
        admin()
        return jsonify({"items": [describe_preset(n) for n in preset_names()]})

    @bp.get("/_secrets")
    def secrets_list() -> Any:
        admin()
        return jsonify({"configured": vault.configured(), "items": vault.listing(runtime())})

    @bp.put("/_secrets/<name>")
    def secret_put(name: str) -> Any:
        actor = admin()
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get("value"), str):
            raise BadRequest("send the secret as 'value'", {"value": "required"})
        if not vault.configured():
            raise NoKey(f"服务器未配置 {vault.KEY_ENV}，无法加密保存密钥；请改用环境变量引用 ${{NAME}} / "
                        f"{vault.KEY_ENV} is not set on the server: secrets cannot be stored encrypted; "
                        "use an environment reference ${NAME} instead")
        try:
            return jsonify(vault.put(runtime(), name, data["value"], actor.username))
        except ValueError as exc:
            raise BadRequest(str(exc), {"value": str(exc)}) from None

    @bp.post("/_try/<app>/<name>")
    def try_it(app: str, name: str) -> Any:
        admin()
        if not IDENT.match(app) or not IDENT.match(name):
            raise NotFound(f"unknown connector '{name}'")
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise BadRequest("send a JSON object")
        conn = draft_connector(app, name)
        opname = data.get("operation")
        pulls = conn.pulls()
        op = conn.operations.get(opname) if isinstance(opname, str) else (pulls[0] if pulls else None)
        if op is None or op.type != "pull":
            raise ValidationFailed(f"connector '{name}' has no pull operation '{opname or ''}'",
                                   {"operation": "pull"})
        client = Client(runtime(), conn)
        if "sample" in data:
            raw = data["sample"]
        else:
            try:
                raw = fetch_one_page(client, op)
            except ErpError as exc:
                return jsonify({"ok": False, "error": client.mask.text(exc.message)})
        try:
            recs = extract(op, raw)
        except ErpError as exc:
            return jsonify({"ok": False, "error": exc.message, "raw": _shown(client.mask, raw)})
        rows, bad = to_contexts(op, recs[:SAMPLE_ROWS])
        mapped = preview(op, group(op, rows))
        return jsonify({"ok": True, "operation": op.name, "raw": _shown(client.mask, raw), "records": len(recs),
                        "select": op.select, "rows": json.loads(json.dumps(mapped, ensure_ascii=False, default=str)),
                        "malformed": [b.reason for b in bad]})

    return bp


def describe_preset(name: str) -> dict[str, Any]:
    loaded = _preset(name)
    data = loaded[0] if loaded else {}
    vars_ = data.get("vars") or {}
    return {"name": name, "title": data.get("title") or name,
            "vars": {k: v for k, v in vars_.items() if k not in SECRET_KEYS},
            "secrets": [k for k in vars_ if k in SECRET_KEYS],
            "secret_defaults": {k: v for k, v in vars_.items() if k in SECRET_KEYS},
            "operations": {k: {"type": o.get("type"), "title": o.get("title") or k,
                               "select": o.get("select") or [], "schedule": o.get("schedule")}
                           for k, o in (data.get("operations") or {}).items()}}


def draft_connector(app: str, name: str) -> Connector:
    """Connector ``name`` as the app's draft (else its published version) defines it."""
    rt = runtime()
    with rt.db.read() as conn:
        v = rt.definitions.draft(conn, app) or rt.definitions.current(conn, app)
        texts = rt.publisher.served(conn)
    if v is None:
        raise NotFound(f"unknown app '{app}'")
    texts[app] = (texts[app][0] if app in texts else f"{app}.yaml", v.yaml)
    try:
        apps = rt.publisher.load(texts)
    except DefinitionErrors as exc:
        raise ValidationFailed(f"the draft has {len(exc.errors)} error(s); fix them first",
                               errors=[e.as_dict() for e in exc.errors]) from None
    found = (apps[app].sections.get("connectors") or {}).get(name) if app in apps else None
    if found is None:
        raise NotFound(f"unknown connector '{name}' in app '{app}'")
    return found


def fetch_one_page(client: Client, op: Any) -> Any:
    """Log in and fetch the first page of ``op`` (a few records), as a sync's first request would."""
    pg = op.pagination
    limit = min(int(pg.get("limit", SAMPLE_ROWS)), SAMPLE_ROWS)
    since = op.watermark["initial"] if op.watermark else ""
    values = {"since": since, "until": "2999-12-31 23:59:59", "limit": limit, "offset": int(pg.get("start", 0)),
              "page": int(pg.get("start", 1 if pg.get("type") == "page" else 0)), "after": "",
              "field_keys": ",".join(op.select)}
    return client.call(op.request, values, operation=op.name, retry=False)


def _shown(mask: Masker, raw: Any) -> Any:
    text = json.dumps(mask.value(raw), ensure_ascii=False, default=str)
    return json.loads(text) if len(text) <= MAX_RAW else text[:MAX_RAW] + "…"
