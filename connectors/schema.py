"""The JSON Schema of the ``connectors:`` section (and of shared connector files)."""

from __future__ import annotations

from typing import Any

IDENT = r"^[a-z][a-z0-9_]{0,47}$"

_ANY: dict[str, object] = {"description": "any JSON value"}
_STR = {"type": "string", "minLength": 1}
_NUM = {"type": "number", "exclusiveMinimum": 0}
SECRET_VALUE = {"type": "string", "minLength": 1, "description": (
    "A secret: an environment reference ${NAME}, or a secret typed on the setup page and stored encrypted, "
    "${secret:name} (docs/connectors.md#secrets).")}


def _obj(props: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    out = {"type": "object", "additionalProperties": False, "properties": props, **extra}
    if required:
        out["required"] = required
    return out


REQUEST = _obj({
    "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
    "path": _STR, "query": {"type": "object"}, "body": _ANY, "headers": {"type": "object"},
}, description="An HTTP request template: {{ expression }}, ${ENV} and ${secret:name} may appear in any string.")

FIELD_MAP = {"oneOf": [
    {"type": "string", "minLength": 1, "description": "Expression over the ERP record's fields."},
    {"type": ["number", "boolean"]},
    _obj({"lookup": {"type": "string", "pattern": IDENT}, "by": {"type": "string", "pattern": IDENT},
          "value": _STR, "create": {"type": "object", "additionalProperties": {"type": "string"}}},
         ["lookup", "by", "value"], description="Find the linked record by one of its fields."),
]}

ERROR_RULE = _obj({
    "find": _STR, "text": _STR, "status": {"type": "array", "items": {"type": "integer"}},
    "failed_if": {"type": "object"}, "failed_unless": {"type": "object"},
    "message": _STR, "session_lost": {"type": "boolean"}, "transient": {"type": "boolean"},
}, description="How the ERP reports a failure (also inside HTTP 200 answers and nested row lists).")

AUTH = _obj({
    "type": {"enum": ["none", "basic", "bearer", "api_key", "session", "token"]},
    "username": _STR, "password": SECRET_VALUE, "token": SECRET_VALUE,
    "in": {"enum": ["header", "query"]}, "name": _STR, "value": _STR, "prefix": {"type": "string"},
    "login": REQUEST, "ok": {"type": "object"}, "token_path": _STR, "expires_in": {"type": "number"},
    "lost": {"type": "array", "items": _STR},
})

SIGN = _obj({"type": {"enum": ["kingdee"]}, "client_id": _STR, "client_secret": _STR, "app_id": _STR,
             "app_secret": _STR, "acct_id": _STR, "user": _STR, "lcid": {"type": ["string", "integer"]},
             "org": {"type": "string"}})

STEP = _obj({"name": _STR, "request": REQUEST, "capture": {"type": "object", "additionalProperties": _STR},
             "unless": _STR, "ok_errors": {"type": "array", "items": _STR}})

OPERATION = _obj({
    "type": {"enum": ["pull", "push"]},
    "title": _STR,
    "entity": {"type": "string", "pattern": IDENT},
    "schedule": {"type": "string", "description": "Cron text, e.g. '0 2 * * *' (nightly at 02:00)."},
    "request": REQUEST,
    "select": {"type": "array", "items": _STR, "minItems": 1},
    "pagination": _obj({"type": {"enum": ["none", "offset", "page", "next_link", "keyset"]},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 100000},
                        "start": {"type": "integer", "minimum": 0},
                        "key": _STR, "next": _STR, "pages": _STR}),
    "records": {"type": "string", "description": "JSON path of the record list, e.g. value or saleorderlist."},
    "rows": {"enum": ["objects", "positional"]},
    "group_by": _STR,
    "key": {"type": "string", "pattern": IDENT},
    "watermark": _obj({"field": _STR, "overlap": {"type": "number", "minimum": 0}, "format": _STR,
                       "initial": _STR}),
    "fields": {"type": "object", "additionalProperties": FIELD_MAP},
    "children": {"type": "object", "additionalProperties": _obj(
        {"from": {"type": "string", "description": "JSON path of the rows' list inside each ERP record "
                                                   "(e.g. FEntity, lines); without it the rows of a group_by."},
         "key": {"type": "string", "pattern": IDENT}, "fields": {"type": "object", "additionalProperties": FIELD_MAP}},
    )},
    "closed": _STR,
    "on_closed": _obj({"transition": {"type": "string", "pattern": IDENT}}),
    "on_deleted": _obj({"transition": {"type": "string", "pattern": IDENT}},
                       ) | {"description": "What a full reconciliation does with records the ERP no longer has."},
    "on": {"type": "array", "items": _STR, "description": "Record events that enqueue a push: "
                                                          "'transition:<name>' or 'updated'."},
    "when": _STR,
    "number": _STR,
    "check": STEP,
    "steps": {"type": "array", "items": STEP, "minItems": 1},
})

RECONCILE = _obj({"operation": {"type": "string", "pattern": IDENT}, "schedule": _STR,
                  "window_days": {"type": "integer", "minimum": 1}, "compare": {"type": "array", "items": _STR}})

CONNECTOR = _obj({
    "app": {"type": "string", "pattern": IDENT},
    "preset": {"type": "string", "pattern": IDENT},
    "title": _STR,
    "base_url": _STR,
    "timeout": _obj({"connect": _NUM, "read": _NUM}),
    "retry": _obj({"attempts": {"type": "integer", "minimum": 1, "maximum": 20}, "backoff": _NUM,
                   "max_backoff": _NUM, "max_retry_after": _NUM}),
    "circuit": _obj({"failures": {"type": "integer", "minimum": 1}, "pause": _NUM}),
    "auth": AUTH,
    "sign": SIGN,
    "vars": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]},
             "description": "Account values for templates; secrets among them (app_secret, password, ...) are "
                            "${NAME} or ${secret:name}."},
    "errors": {"type": "array", "items": ERROR_RULE},
    "operations": {"type": "object", "propertyNames": {"pattern": IDENT}, "additionalProperties": OPERATION},
    "reconcile": RECONCILE,
})


def schema_sections() -> dict[str, dict[str, Any]]:
    return {"connectors": {"type": "object", "propertyNames": {"pattern": IDENT},
                           "additionalProperties": {"$ref": "#/$defs/connector"},
                           "description": "ERP connectors: pulls, pushes and reconciliation (docs/connectors.md)."}}


def schema_defs() -> dict[str, dict[str, Any]]:
    return {"connector": CONNECTOR}
