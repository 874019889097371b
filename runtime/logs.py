"""Log output for every Jig process: human-readable lines by default, one JSON object per line with
``JIG_LOG_FORMAT=json`` (docs/deploy.md). Web processes add the request's fields (request id, route,
status, duration, user) through a ``context`` callable; the worker and the scheduler log without them."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

HUMAN = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FIELDS = ("request_id", "route", "method", "status", "duration_ms", "user")


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...}``: the request's fields when there is a request (taken
    from the record's ``extra``, else from ``context()``), and the traceback as ``exc_info`` text."""

    def __init__(self, context: Callable[[], dict[str, Any]] | None = None):
        super().__init__()
        self.context = context

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(), "pid": record.process,
        }
        if self.context is not None:
            try:
                out.update(self.context())
            except Exception:  # noqa: BLE001 - a log line is never lost to its decoration
                pass
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def wants_json(env: dict[str, str] | None = None) -> bool:
    return (os.environ if env is None else env).get("JIG_LOG_FORMAT", "").lower() == "json"


def formatter(context: Callable[[], dict[str, Any]] | None = None) -> logging.Formatter:
    return JsonFormatter(context) if wants_json() else logging.Formatter(HUMAN)


def configure(default_level: str = "INFO", context: Callable[[], dict[str, Any]] | None = None) -> None:
    """Log to stderr in the chosen format at ``JIG_LOG_LEVEL`` (else ``default_level``), as
    ``logging.basicConfig`` does: nothing when the host program (pytest, an embedding app) has set up the root
    logger already; a handler this function set before is replaced."""
    root = logging.getLogger()
    mine = [h for h in root.handlers if getattr(h, "jig", False)]
    if len(mine) != len(root.handlers):
        return
    for handler in mine:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.jig = True  # type: ignore[attr-defined]
    handler.setFormatter(formatter(context))
    root.addHandler(handler)
    root.setLevel(os.environ.get("JIG_LOG_LEVEL", default_level).upper())
