"""A generic HTTP SMS gateway for the many small Chinese SMS resellers with a home-made API.

Everything provider-specific lives in configuration: where to send, how to
fill the request from ``{{ to }}``, ``{{ text }}``, ``{{ template }}``,
``{{ key }}`` and ``{{ params.x }}``, and how to read the answer (HTTP
status, or a value at a JSON path mapped to a result class). Placeholders
are filled in the parsed body, never by pasting text into JSON, so a
message containing quotes cannot break or inject into the request.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .base import ENV_REF, SECRET_MESSAGE, SmsResult, SmsStatus, each, http, json_or_none, mask, mask_phone, resolve_refs, unreachable

log = logging.getLogger("jig.sms")
S = SmsStatus
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)?)\s*\}\}")
NAMES = {"to", "text", "template", "key"}
SENSITIVE_HEADER = re.compile(r"authorization|token|secret|signature|api[-_]?key|password", re.IGNORECASE)
DEFAULT_BODY = {"to": "{{ to }}", "text": "{{ text }}"}


class MissingParam(KeyError):
    """A ``{{ params.x }}`` the rule did not supply: the template and the rule disagree."""


def placeholders(value: Any) -> set[str]:
    if isinstance(value, str):
        return set(PLACEHOLDER.findall(value))
    if isinstance(value, dict):
        return set().union(*(placeholders(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value)) if value else set()
    return set()


def fill(value: Any, values: Mapping[str, str], params: Mapping[str, str], encode: bool = False) -> Any:
    """Replace placeholders in every string inside ``value`` (URL-encoding them when ``encode``)."""
    if isinstance(value, dict):
        return {k: fill(v, values, params, encode) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, values, params, encode) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name.startswith("params."):
            if name[7:] not in params:
                raise MissingParam(name[7:])
            got = str(params[name[7:]])
        else:
            got = values[name]
        return quote(got, safe="") if encode else got
    return PLACEHOLDER.sub(one, value)


def dig(data: Any, path: str) -> Any:
    """``data.code`` → data["data"]["code"]; list indexes allowed (``results.0.id``)."""
    for part in path.split(".") if path else []:
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


class HttpGateway:
    name = "http"

    def __init__(self, url: str, method: str = "POST", headers: dict[str, str] | None = None,
                 body_format: str = "json", body: Any = None, multi: str = "each", join_separator: str = ",",
                 status_map: dict[str, str] | None = None, result_path: str = "", result_map: dict[str, str] | None = None,
                 result_default: str = S.TRANSIENT, id_path: str = "", timeout: float = 10.0,
                 secrets: list[str] | None = None) -> None:
        self.url = url
        self.method = method
        self.headers = headers or {}
        self.body_format = body_format
        self.body = DEFAULT_BODY if body is None else body
        self.multi = multi
        self.join_separator = join_separator
        self.status_map = status_map or {}
        self.result_path = result_path
        self.result_map = {str(k): v for k, v in (result_map or {}).items()}
        self.result_default = result_default
        self.id_path = id_path
        self.timeout = timeout
        self.secrets = secrets or []
        unknown = {n for n in placeholders([url, self.body]) if n not in NAMES and not n.startswith("params.")}
        if unknown:
            raise ValueError(f"SMS http gateway: unknown placeholders {sorted(unknown)}; "
                             "use to, text, template, key or params.NAME")

    def send(self, recipients: list[str], template: str, params: dict[str, str], text: str,
             idempotency_key: str) -> list[SmsResult]:
        if not recipients:
            return []
        groups = [recipients] if self.multi == "join" else [[r] for r in recipients]
        results: list[SmsResult] = []
        for group in groups:
            values = {"to": self.join_separator.join(group), "text": text, "template": template,
                      "key": idempotency_key}
            results += self._call(group, values, params)
        return results

    def _call(self, group: list[str], values: dict[str, str], params: dict[str, str]) -> list[SmsResult]:
        try:
            url = fill(self.url, values, params, encode=True)
            body = fill(self.body, values, params)
        except MissingParam as exc:
            return each(group, S.TEMPLATE_PROBLEM, "missing_param", f"template parameter {exc.args[0]} not supplied")
        kw: dict[str, Any] = {"headers": self.headers}
        if self.method == "GET":
            kw["params"] = body
        elif self.body_format == "form":
            kw["data"] = body
        else:
            kw["json"] = body
        resp = http(self.method, url, self.timeout, self.secrets, **kw)
        if isinstance(resp, str):
            results = unreachable(group, resp)
        else:
            data = json_or_none(resp)
            status, code = self.classify(resp.status_code, data)
            pid = dig(data, self.id_path) if self.id_path else None
            results = each(group, status, code, mask(resp.text[:200], self.secrets),
                           str(pid) if pid is not None and status == S.SENT else None)
        log.info("http sms %s to %s: %s %s", values["key"], ",".join(mask_phone(g) for g in group),
                 results[0].code, results[0].status)
        return results

    def classify(self, http_status: int, data: Any) -> tuple[str, str]:
        """Explicit status_map, then the mapped JSON value, then HTTP conventions."""
        code = f"HTTP {http_status}"
        if str(http_status) in self.status_map:
            return self.status_map[str(http_status)], code
        if self.result_path:
            value = dig(data, self.result_path)
            if value is not None:
                code = str(value)
                if code in self.result_map:
                    return self.result_map[code], code
                if 200 <= http_status < 300:
                    return self.result_default, code
        if 200 <= http_status < 300:
            return (S.SENT if not self.result_path else self.result_default), code
        if http_status == 429:
            return S.RATE_LIMITED, code
        if http_status >= 500 or http_status == 408:
            return S.TRANSIENT, code
        return S.TEMPLATE_PROBLEM, code  # 4xx: the request or credentials are wrong; retrying repeats it


def from_config(config: Mapping[str, Any], env: Mapping[str, str]) -> HttpGateway:
    """Resolve ${ENV} references in url and headers; credentials in headers must be references."""
    secrets: list[str] = []
    headers: dict[str, str] = {}
    for name, value in (config.get("headers") or {}).items():
        if SENSITIVE_HEADER.search(name) and not ENV_REF.search(value):
            raise ValueError(f"{SECRET_MESSAGE} (header {name})")
        secrets += [env.get(n, "") for n in ENV_REF.findall(value)]
        headers[name] = resolve_refs(value, env)
    secrets += [env.get(n, "") for n in ENV_REF.findall(config["url"])]
    return HttpGateway(resolve_refs(config["url"], env), method=config.get("method", "POST"), headers=headers,
                       body_format=config.get("body_format", "json"), body=config.get("body"),
                       multi=config.get("multi", "each"), join_separator=config.get("join_separator", ","),
                       status_map=config.get("status_map"), result_path=config.get("result_path", ""),
                       result_map=config.get("result_map"), result_default=config.get("result_default", S.TRANSIENT),
                       id_path=config.get("id_path", ""), timeout=float(config.get("timeout", 10)), secrets=secrets)
