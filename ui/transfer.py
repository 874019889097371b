"""Import from CSV / XLSX (preview, column mapping, per-row errors, all or nothing) and export of list views.

An import runs every row through ``Records.create_many`` (ui/import_rows.py: the checks of
``Records.create``, a chunk of rows at a time) inside **one** write transaction: if any row fails,
nothing is stored and the page lists each failing row by its spreadsheet row number (the header is row 1).
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import tempfile
from pathlib import Path
from typing import Any

from flask import Response, abort, redirect, request, session, url_for

from runtime import permissions
from runtime.errors import RecordError
from runtime.model import EntityDef, pick

from . import import_rows, imports, xlsx
from .i18n import tr
from .values import cell, label_of, link_maps
from .web import actor_or_login, bp, entity_or_404, may, page, rt, run_list

MAX_ROWS = 100000
MAX_EXPORT = 100000
IMPORT_DIR = Path(tempfile.gettempdir()) / "jig-imports"


def read_table(filename: str, data: bytes) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the first sheet of an .xlsx, or of a CSV (UTF-8 or GBK)."""
    if filename.lower().endswith(".xlsx") or data[:4] == b"PK\x03\x04":
        rows = xlsx.read_rows(data)
    else:
        for enc in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise ValueError("encoding")
        sample = text[:4096]
        try:
            dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        rows = [list(r) for r in csv.reader(io.StringIO(text), dialect)]
    while rows and all(v in (None, "") for v in rows[-1]):
        rows.pop()
    if not rows:
        raise ValueError("empty")
    header = ["" if h is None else str(h).strip() for h in rows[0]]
    return header, rows[1:]


def importable(ent: EntityDef) -> list[Any]:
    return [f for f in ent.fields.values() if f.ft.importable]


def auto_map(ent: EntityDef, header: list[str]) -> list[str]:
    names = {}
    for f in importable(ent):
        for key in (f.name, f.label.get("zh", ""), f.label.get("en", "")):
            if key:
                names[key.strip().lower()] = f.name
    return [names.get(h.strip().rstrip("*").strip().lower(), "") for h in header]  # "编号 *": a template's


def _stash(payload: dict[str, Any]) -> str:
    IMPORT_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(16)
    (IMPORT_DIR / f"{key}.json").write_text(json.dumps(payload, ensure_ascii=False, default=str), encoding="utf-8")
    session["import_key"] = key
    return key


def _unstash(key: str) -> dict[str, Any] | None:
    if not key or key != session.get("import_key") or not key.replace("-", "").replace("_", "").isalnum():
        return None
    path = IMPORT_DIR / f"{key}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except OSError:
        return None


def _drop(key: str) -> None:
    if key and key.replace("-", "").replace("_", "").isalnum():
        (IMPORT_DIR / f"{key}.json").unlink(missing_ok=True)


@bp.route("/a/<app>/<entity>/import", methods=["GET", "POST"])
def import_view(app: str, entity: str) -> Any:
    actor = actor_or_login()
    ent = entity_or_404(app, entity)
    lang = actor.language
    if ent.is_child or not may(actor, ent, "create"):
        abort(403)
    ctx: dict[str, Any] = {"actor": actor, "ent": ent, "app_def": rt().apps[app], "fields": importable(ent),
                           "step": "upload", "error": None, "errors": [], "done": None}
    if request.method == "POST" and request.form.get("step") == "upload":
        upload = request.files.get("file")
        try:
            if upload is None:
                raise ValueError("no file")
            header, rows = read_table(upload.filename or "", upload.read(16 * 1024 * 1024))
        except Exception:  # noqa: BLE001 - any unreadable file gets the same message
            ctx["error"] = tr("bad_file", lang)
            return page("import.html", **ctx), 400
        if len(rows) > MAX_ROWS:
            ctx["error"] = tr("too_many_rows", lang, n=MAX_ROWS)
            return page("import.html", **ctx), 400
        key = _stash({"app": app, "entity": entity, "header": header, "rows": rows, "filename": upload.filename})
        ctx.update(step="map", key=key, header=header, preview=[[_show(v) for v in r] for r in rows[:10]],
                   total=len(rows), mapping=auto_map(ent, header))
        return page("import.html", **ctx)
    if request.method == "POST" and request.form.get("step") == "run":
        data = _unstash(request.form.get("key", ""))
        if data is None or data["app"] != app or data["entity"] != entity:
            ctx["error"] = tr("import_expired", lang)
            return page("import.html", **ctx), 400
        header, rows = data["header"], data["rows"]
        valid = {f.name for f in importable(ent)}
        mapping = [m if m in valid else "" for m in (request.form.getlist("map") + [""] * len(header))[:len(header)]]
        if len(rows) > imports.inline_limit():
            job_id = imports.start(actor, ent, rows, mapping, data.get("filename"))
            session.pop("import_key", None)
            _drop(request.form.get("key", ""))
            return redirect(url_for("jig_ui.import_job_view", job_id=job_id), 303)
        errors, count = run_import(actor, ent, rows, mapping)
        if errors:
            ctx.update(step="map", key=request.form.get("key"), header=header, total=len(rows), mapping=mapping,
                       preview=[[_show(v) for v in r] for r in rows[:10]], errors=errors,
                       error=tr("import_failed", lang, n=len({e["row"] for e in errors})))
            return page("import.html", **ctx), 422
        session.pop("import_key", None)
        ctx.update(step="done", done=tr("import_done", lang, n=count),
                   list_url=url_for("jig_ui.list_view", app=app, entity=entity))
        return page("import.html", **ctx)
    return page("import.html", **ctx)


def _show(v: Any) -> str:
    return "" if v is None else str(v)


def run_import(actor: Any, ent: EntityDef, rows: list[list[Any]], mapping: list[str]) -> tuple[list[dict[str, Any]], int]:
    return import_rows.run(rt(), actor, ent, rows, mapping)


@bp.get("/a/<app>/<entity>/import/template.xlsx")
def import_template(app: str, entity: str) -> Any:
    """The entity's import template (ui/xlsx.py): its importable columns in the session language."""
    actor = actor_or_login()
    ent = entity_or_404(app, entity)
    if ent.is_child or not may(actor, ent, "create"):
        abort(403)
    lang = actor.language
    from urllib.parse import quote
    resp = Response(xlsx.template_bytes(ent, importable(ent), lang),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    name = pick(ent.title, lang) + ("-导入模板" if lang == "zh" else "-import-template")
    resp.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}.xlsx"
    return resp


@bp.get("/a/<app>/<entity>/export.<fmt>")
def export_view(app: str, entity: str, fmt: str) -> Any:
    actor = actor_or_login()
    ent = entity_or_404(app, entity)
    if fmt not in ("csv", "xlsx") or ent.is_child or not permissions.may_at_all(actor, ent, "read"):
        abort(404)
    lang = actor.language
    cols = ent.list_columns
    args = {k: v for k, v in request.args.items() if v != "" and k not in ("after", "lang")}
    header = [label_of(ent, c, lang) for c in cols]
    out_rows: list[list[Any]] = []
    after = None
    while len(out_rows) < MAX_EXPORT:
        try:
            page_ = run_list(actor, ent, {**args, **({"after": after} if after else {})}, limit=500)
        except RecordError as exc:
            abort(400, exc.message)
        links = link_maps(rt(), ent, page_["items"], cols, lang)
        for rec in page_["items"]:
            out_rows.append([_export_value(ent, c, rec.get(c), lang, links) for c in cols])
        after = page_["next"]
        if not after:
            break
    title = pick(ent.title, lang)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(header)
        w.writerows([[_csv_safe(v) for v in r] for r in out_rows])
        data = ("\ufeff" + buf.getvalue()).encode("utf-8")
        mimetype = "text/csv; charset=utf-8"
    else:
        data = xlsx.export_bytes(title, header, [[_csv_safe(v) if isinstance(v, str) else v for v in r] for r in out_rows])
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    from urllib.parse import quote
    resp = Response(data, mimetype=mimetype)
    resp.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(title)}.{fmt}"
    return resp


def _export_value(ent: EntityDef, name: str, value: Any, lang: str, links: dict[str, dict[Any, str]]) -> Any:
    f = ent.fields.get(name)
    text = cell(rt(), ent, name, value, lang, links)["text"]
    return f.ft.to_cell(f, value, text) if f is not None and value is not None else text


def _csv_safe(v: Any) -> Any:
    """Cells starting with = + - @ would run as formulas in spreadsheets: prefix them with a quote."""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v
