"""Logging of the web processes: ``runtime.logs`` plus the request's fields (id, route, status, user).

Kept apart from :mod:`jig.observability` so that setting up logs imports no prometheus_client: ``jig serve``
must point ``PROMETHEUS_MULTIPROC_DIR`` at its folder before anything imports it.
"""

from __future__ import annotations

from typing import Any

from flask import g, has_request_context, request

from runtime import logs

UNMATCHED = "<unmatched>"


def request_fields() -> dict[str, Any]:
    """The fields of the request being served, for log lines (none outside a request)."""
    if not has_request_context():
        return {}
    out: dict[str, Any] = {}
    rid = g.get("jig_request_id")
    if rid is not None:
        out["request_id"] = rid
        out["route"] = request.url_rule.rule if request.url_rule is not None else UNMATCHED
        out["method"] = request.method
    status = g.get("jig_status")
    if status is not None:
        out["status"] = status
    actor = g.get("jig_actor")
    if actor is not None:
        out["user"] = getattr(actor, "username", None)
    return out


def configure_logging(default_level: str | None = None) -> None:
    """Web processes' logging: JSON lines carry the request's fields (``JIG_LOG_FORMAT=json``)."""
    level = default_level or ("INFO" if logs.wants_json() else "WARNING")
    logs.configure(level, context=request_fields)

