"""Expressions in the designer: the names and functions a picker offers, and one expression checked in its place.

``GET /api/builder/functions`` lists the functions expressions may call with
their declared signatures (``runtime/functions.py``), and the aggregates over child rows. ``POST
/api/builder/apps/<app>/expression`` puts an expression at its path in the
draft's text (nothing is saved) and checks the whole app exactly as ``jig
check`` does, answering only the errors at that path — the same message and
hint the command prints. Builders and admins only, like the rest of the API.
"""

from __future__ import annotations

from flask import Response, jsonify

from runtime.aggregates import AGGREGATES, EXAMPLES
from runtime.errors import BadRequest
from runtime.expressions import MAX_SOURCE
from runtime.functions import FUNCTIONS
from runtime.messages import t
from runtime.yamlsource import format_path

from .api import _builder, _json, _known, _working_text, bp, runtime
from .yamldoc import EditError, YamlDocument

MAX_PATH = 12


@bp.get("/functions")
def functions() -> Response:
    _builder()
    listed = [{"name": f.name, "signature": f.signature(), "returns": f.returns, "doc": f.doc}
              for f in FUNCTIONS.values()]
    # aggregates over child rows (runtime/aggregates.py); min/max over rows share the functions' names
    listed += [{"name": n, "signature": EXAMPLES[n], "returns": "aggregate", "doc": doc}
               for n, (doc, _) in AGGREGATES.items() if n not in FUNCTIONS]
    return jsonify({"functions": listed})


@bp.post("/apps/<app>/expression")
def check_expression(app: str) -> Response:
    """{"path": [...], "expr": "..."} -> {"ok", "errors"}: the errors `jig check` reports at that path."""
    actor = _builder()
    _known(app, actor)
    data = _json()
    path, expr = data.get("path"), data.get("expr")
    if not isinstance(path, list) or not 0 < len(path) <= MAX_PATH or \
            not all(isinstance(p, (str, int)) and not isinstance(p, bool) for p in path):
        raise BadRequest("'path' is a list of keys and indexes", {"path": t("list", actor.language)})
    if not isinstance(expr, str) or len(expr) > MAX_SOURCE:
        raise BadRequest(f"'expr' is a text of at most {MAX_SOURCE} characters", {"expr": t("not_text", actor.language)})
    if not expr.strip():
        return jsonify({"ok": True, "errors": []})
    doc = YamlDocument(_working_text(app, actor, {}))
    try:
        for i in range(3, len(path)):  # inside an entity: a role's first grant, a transition being added...
            if doc.get(path[:i]) is None:
                doc.set(path[:i], {})
        doc.set(path, expr)
    except (EditError, KeyError, TypeError, ValueError) as exc:
        raise BadRequest(str(exc), {"path": str(exc)}) from None
    at = format_path(tuple(path))
    errors = [e.as_dict() for e in runtime().publisher.check(app, doc.text(), plan=False).errors
              if e.path == at or e.path.startswith((at + ".", at + "["))]
    return jsonify({"ok": not errors, "errors": errors})
