"""Printing a declared document (``documents:``) of a record: ``/a/<app>/<entity>/<id>/print/<doc>``.

Whoever may open the record may print it (the record is read with the user's permissions, so a
partner prints only its own batches). The page is plain HTML with an A4/A5 print stylesheet: the
browser's print dialog (or Chromium's ``page.pdf()``) makes the paper or the PDF. QR codes of shared
links are those of the links' QR pages (issued now if the user may manage the record's links).
"""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from typing import Any

from flask import abort, render_template, request, url_for

from runtime import clock
from runtime.auth import Actor
from runtime.errors import RecordError
from runtime.model import EntityDef, pick

from . import dashboards as dash
from . import qr
from . import session as sess
from .documents import DocumentDef, documents_of, table_source
from .linkspec import LinkDef
from .linkstaff import _qr_for, may_manage
from .values import cell, label_of, link_maps
from .web import actor_or_login, bp, entity_or_404, rt, run_list

TEXTS = {"print": {"zh": "打印", "en": "Print"}, "printed_at": {"zh": "打印时间", "en": "Printed"},
         "scan_record": {"zh": "扫码查看", "en": "Scan to open"}, "sign_date": {"zh": "日期", "en": "Date"},
         "page_hint": {"zh": "按 Ctrl+P 打印或另存为 PDF", "en": "Press Ctrl+P to print or save as PDF"}}
LOGO_MAX = 300_000


def _t(key: str, lang: str) -> str:
    return TEXTS[key]["en" if lang == "en" else "zh"]


@bp.app_context_processor
def _print_buttons() -> dict[str, Any]:
    """``print_docs(ent, record)`` for the record page: the documents it may print, as (label, url)."""
    def print_docs(ent: EntityDef, record: dict[str, Any]) -> list[tuple[str, str]]:
        if not record.get("id") or ent.app not in rt().apps:
            return []
        lang = sess.lang()
        return [(f"{_t('print', lang)} {pick(d.label, lang)}",
                 url_for("jig_ui.document_view", app=ent.app, entity=ent.name, record_id=record["id"], doc=d.name))
                for d in documents_of(rt().apps[ent.app], ent.name)]
    return {"print_docs": print_docs}


def _company(app_title: str) -> dict[str, str]:
    c = dict(rt().settings.get("company") or {})
    c.setdefault("name", app_title)
    logo = c.pop("logo", "")
    if logo:
        p = Path(logo)
        mime = mimetypes.guess_type(p.name)[0] or ""
        try:
            if mime.startswith("image/") and p.stat().st_size <= LOGO_MAX:
                c["logo"] = f"data:{mime};base64,{base64.b64encode(p.read_bytes()).decode()}"
        except OSError:
            pass  # a missing logo file prints the name alone (the name is the letterhead)
    return c


def _record_url(app: str, entity: str, record_id: int) -> str:
    path = url_for("jig_ui.record_view", app=app, entity=entity, record_id=record_id)
    base = rt().settings.get("public_url") or request.host_url
    return f"{str(base).rstrip('/')}{path}"


def _table(actor: Actor, doc: DocumentDef, ent: EntityDef, record: dict[str, Any], lang: str,
           manage: bool) -> dict[str, Any] | None:
    t = doc.table
    if t is None:
        return None
    app = rt().apps[doc.app]
    src = table_source(app, ent, t.source)
    if src is None:
        return None
    rows_ent, link = src
    if link is None:
        rows = list(record.get(t.source) or [])
        if t.sort:
            key = t.sort.lstrip("-")
            rows.sort(key=lambda r: (r.get(key) is None, r.get(key) if r.get(key) is not None else 0),
                      reverse=t.sort.startswith("-"))
        title = pick(ent.fields[t.source].label, lang)
    else:
        rows = run_list(actor, rows_ent, {link: str(record["id"]), "sort": t.sort or "id"}, limit=200)["items"]
        title = pick(rows_ent.title, lang)
    maps = link_maps(rt(), rows_ent, rows, t.columns, lang)
    lk: LinkDef | None = app.sections.get("links", {}).get(t.qr) if t.qr else None
    out_rows = []
    for r in rows:
        codes = _qr_for(lk, int(r["id"]), manage and may_manage(actor, rows_ent, r), actor) \
            if lk is not None and link is not None else ""
        out_rows.append({"cells": [cell(rt(), rows_ent, c, r.get(c), lang, maps)["text"] for c in t.columns],
                         "qr": codes})
    return {"title": pick(t.label, lang) if t.label else title, "rows": out_rows, "qr": lk is not None,
            "columns": [label_of(rows_ent, c, lang) for c in t.columns]}


@bp.get("/a/<app>/<entity>/<int:record_id>/print/<doc>")
def document_view(app: str, entity: str, record_id: int, doc: str) -> Any:
    actor = actor_or_login()
    ent = entity_or_404(app, entity)
    d = (rt().apps[app].sections.get("documents") or {}).get(doc)
    if d is None or d.entity != entity:
        abort(404)
    try:
        record = rt().records.get(actor, ent, record_id)
    except RecordError:
        abort(404)
    lang = actor.language
    a = rt().apps[app]
    manage = may_manage(actor, ent, record)
    cols = [c for _, names in d.sections for c in names]
    maps = link_maps(rt(), ent, [record], cols, lang)
    sections = [{"title": pick(lbl, lang) if lbl else "",
                 "facts": [(label_of(ent, c, lang), cell(rt(), ent, c, record.get(c), lang, maps)["text"])
                           for c in names]} for lbl, names in d.sections]
    code = ""
    if d.qr == "record":
        code = qr.svg(_record_url(app, entity, record_id), 3)
    elif d.qr:
        lk = a.sections.get("links", {}).get(d.qr)
        code = _qr_for(lk, record_id, manage, actor) if lk is not None else ""
    number = str(record.get("name") or record.get(dash.title_column(ent)) or f"#{record_id}")
    return render_template("document.html", lang=lang, doc=d, title=pick(d.label, lang), number=number,
                           company=_company(pick(a.title, lang)), sections=sections,
                           table=_table(actor, d, ent, record, lang, manage), qr_code=code,
                           qr_caption=_t("scan_record", lang) if d.qr == "record" else (
                               pick(a.sections["links"][d.qr].label, lang) if code else ""),
                           signatures=[pick(s, lang) for s in d.signatures], note=pick(d.note, lang) if d.note else "",
                           printed=clock.now().strftime("%Y-%m-%d %H:%M"), texts={k: _t(k, lang) for k in TEXTS})
