"""Admin API: connectors, their request log (masked), runs and reconciliation reports."""

from __future__ import annotations

import threading
from typing import Any

from flask import Blueprint, jsonify, request

from runtime.api import current_actor
from runtime.errors import Forbidden, NotFound

from . import state
from .pull import connectors_of, sync
from .spec import describe


def blueprint(rt: Any) -> Blueprint:
    bp = Blueprint("jig_connectors", __name__, url_prefix="/api/_connectors")

    def admin() -> None:
        if not current_actor().is_admin:
            raise Forbidden("只有管理员可以查看连接器 / admins only")

    def known(name: str) -> None:
        if name not in connectors_of(rt):
            raise NotFound(f"unknown connector '{name}'")

    @bp.get("")
    def index() -> Any:
        admin()
        return jsonify({"items": [describe(c) for c in connectors_of(rt).values()]})

    @bp.get("/<name>/requests")
    def requests_log(name: str) -> Any:
        admin()
        known(name)
        return jsonify({"items": state.rows(rt, "jig_connector_requests", name, _limit(),
                                            outcome=request.args.get("outcome"))})

    @bp.get("/<name>/runs")
    def runs(name: str) -> Any:
        admin()
        known(name)
        return jsonify({"items": state.rows(rt, "jig_connector_runs", name, _limit())})

    @bp.get("/<name>/reports")
    def reports(name: str) -> Any:
        admin()
        known(name)
        return jsonify({"items": state.rows(rt, "jig_connector_reports", name, _limit())})

    @bp.post("/<name>/sync")
    def sync_now(name: str) -> Any:
        admin()
        known(name)
        threading.Thread(target=sync, args=(rt, name), daemon=True, name=f"sync-{name}").start()
        return jsonify({"started": True}), 202

    return bp


def _limit() -> int:
    try:
        return max(1, min(500, int(request.args.get("limit", 100))))
    except ValueError:
        return 100
