"""Admin API: connectors, their request log (masked), runs and reconciliation reports."""

from __future__ import annotations

import threading
from typing import Any

from flask import Blueprint, jsonify, render_template_string, request

from runtime.api import current_actor, runtime
from runtime.errors import Forbidden, NotFound
from runtime.messages import t

from . import quarantine, state
from .pull import connectors_of, sync
from .spec import describe


def blueprint() -> Blueprint:
    """The routes; each request works on the runtime serving it (definitions can be published meanwhile)."""
    bp = Blueprint("jig_connectors", __name__, url_prefix="/api/_connectors")

    def admin() -> None:
        if not current_actor().is_admin:
            raise Forbidden("只有管理员可以查看连接器 / admins only")

    def known(name: str) -> None:
        if name not in connectors_of(runtime()):
            raise NotFound(f"unknown connector '{name}'")

    @bp.get("")
    def index() -> Any:
        admin()
        return jsonify({"items": [describe(c) for c in connectors_of(runtime()).values()]})

    @bp.get("/<name>/requests")
    def requests_log(name: str) -> Any:
        admin()
        known(name)
        return jsonify({"items": state.rows(runtime(), "jig_connector_requests", name, _limit(), _after(),
                                            outcome=request.args.get("outcome"))})

    @bp.get("/<name>/runs")
    def runs(name: str) -> Any:
        admin()
        known(name)
        return jsonify({"items": state.rows(runtime(), "jig_connector_runs", name, _limit())})

    @bp.get("/<name>/reports")
    def reports(name: str) -> Any:
        admin()
        known(name)
        return jsonify({"items": state.rows(runtime(), "jig_connector_reports", name, _limit())})

    @bp.get("/<name>/quarantine")
    def quarantined(name: str) -> Any:
        admin()
        known(name)
        items = quarantine.entries(runtime(), name, resolved=request.args.get("resolved") == "1", limit=_limit())
        return jsonify({"items": items, "open": quarantine.count(runtime(), name)})

    @bp.get("/<name>/quarantine.html")
    def quarantine_page(name: str) -> Any:
        admin()
        known(name)
        lang = current_actor().language or "zh"
        items = quarantine.entries(runtime(), name, limit=500)
        return render_template_string(PAGE, items=items, name=name, lang=lang,
                                      t=lambda key, **kw: t(key, lang, **kw))

    @bp.post("/<name>/sync")
    def sync_now(name: str) -> Any:
        admin()
        known(name)
        rt = runtime()
        after = state.last_id(rt, "jig_connector_requests", name)  # the run's log: the requests after this one
        runs_before = state.last_id(rt, "jig_connector_runs", name)
        threading.Thread(target=sync, args=(rt, name), daemon=True, name=f"sync-{name}").start()
        return jsonify({"started": True, "after_request": after, "after_run": runs_before}), 202

    return bp


PAGE = """<!DOCTYPE html>
<html lang="{{ 'zh-CN' if lang == 'zh' else 'en' }}"><head><meta charset="utf-8">
<title>{{ t('quarantine_title', name=name) }}</title>
<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
table{border-collapse:collapse}</style></head><body>
<h1>{{ t('quarantine_title', name=name) }}</h1>
<p>{{ t('quarantine_help') }}</p>
{% if not items %}<p>{{ t('quarantine_none') }}</p>{% else %}
<table><tr><th>{{ t('quarantine_key') }}</th><th>{{ t('quarantine_reason') }}</th>
<th>{{ t('quarantine_first') }}</th><th>{{ t('quarantine_last') }}</th><th>{{ t('quarantine_attempts') }}</th></tr>
{% for q in items %}<tr><td>{{ q.key }}</td><td>{{ q.reason }}</td><td>{{ q.first_seen }}</td>
<td>{{ q.last_seen }}</td><td>{{ q.attempts }}</td></tr>{% endfor %}</table>{% endif %}
</body></html>"""


def _after() -> int | None:
    value = request.args.get("after", "")
    return int(value) if value.isdigit() and len(value) < 18 else None


def _limit() -> int:
    try:
        return max(1, min(500, int(request.args.get("limit", 100))))
    except ValueError:
        return 100
