"""A new app from a spreadsheet, on the builder API: infer the fields of an upload, then create the app's draft.

    POST /api/builder/sheets/infer   multipart "file" (.xlsx or .csv) -> {"header", "fields", "rows", "sample"}
    POST /api/builder/sheets/app     {"app", "title", "entity", "entity_title", "fields"} -> the new app's draft

The rows themselves are imported after publishing, on the entity's import
page (its columns map to the fields by their labels).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, jsonify, request

from runtime.errors import BadRequest, Conflict, ValidationFailed
from runtime.messages import t

from .api import APP_NAME, _builder, _json, _outcome, _version, bp, runtime
from .infer import check_fields, definition_text, infer_fields

MAX_UPLOAD = 10 * 1024 * 1024


def _show(v: Any) -> str:
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ", timespec="minutes")
    if isinstance(v, dt.date):
        return v.isoformat()
    return "" if v is None else str(v)


@bp.post("/sheets/infer")
def infer_sheet() -> Response:
    actor = _builder()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise BadRequest("send the spreadsheet as 'file'", {"file": t("required", actor.language)})
    data = upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise BadRequest("the file is larger than 10 MB", {"file": t("sheet_too_big", actor.language)})
    from ui.transfer import read_table
    try:
        header, rows = read_table(upload.filename, data)
    except Exception:  # noqa: BLE001 - any unreadable file is the caller's 400, never a 500
        raise BadRequest("cannot read the file", {"file": t("sheet_unreadable", actor.language)}) from None
    fields = infer_fields(header, rows)
    return jsonify({"header": header, "fields": fields, "rows": len(rows),
                    "sample": [[_show(v) for v in r[:len(header)]] for r in rows[:5]]})


@bp.post("/sheets/app")
def app_from_sheet() -> tuple[Response, int]:
    actor = _builder()
    data = _json()
    names = {k: data.get(k) for k in ("app", "entity")}
    bad = {k: t("app_name", actor.language) for k, v in names.items() if not isinstance(v, str) or not APP_NAME.match(v)}
    if bad:
        raise ValidationFailed(t("validation_failed", actor.language, n=len(bad)), bad)
    try:
        fields = check_fields(data.get("fields"))
    except ValueError as exc:
        raise ValidationFailed(str(exc), {"fields": str(exc)}) from None
    app, entity = str(names["app"]), str(names["entity"])
    title = str(data.get("title") or app)[:100]
    text = definition_text(app, title, entity, str(data.get("entity_title") or title)[:100], fields)
    rt = runtime()
    with rt.db.write() as conn:
        if rt.definitions.current(conn, app) is not None or rt.definitions.draft(conn, app) is not None:
            raise Conflict(t("app_exists", actor.language, name=app))
        draft = rt.definitions.save_draft(conn, app, text, actor.username, t("sheet_message", actor.language))
    outcome = rt.publisher.check(app, text)
    return jsonify({"draft": _version(draft, text=True), **_outcome(outcome, app, text, actor.language)}), 201
