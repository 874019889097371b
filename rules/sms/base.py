"""The SMS layer's shared vocabulary: result classes, the Gateway protocol, secrets and config.

Rules never talk to a provider directly: they add an outbox row, and the
outbox handler calls a :class:`Gateway`. A gateway answers one
:class:`SmsResult` per recipient and never raises for provider or network
failures, because the outbox must decide per recipient whether to retry,
give up or alert an admin, and an exception carries none of that.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import requests


class SmsStatus:
    """What happened to one recipient, in terms of what the outbox should do next."""

    SENT = "sent"                            # accepted by the provider
    RATE_LIMITED = "rate_limited"            # provider throttled us or the number: retry later
    INVALID_RECIPIENT = "invalid_recipient"  # bad, blacklisted or unsubscribed number: never retry
    TEMPLATE_PROBLEM = "template_problem"    # template, signature, credentials or account config: alert, no retry
    NO_BALANCE = "no_balance"                # account out of credit or suspended: alert
    TRANSIENT = "transient"                  # network, timeout, 5xx, provider internal error: retry with backoff

    ALL = (SENT, RATE_LIMITED, INVALID_RECIPIENT, TEMPLATE_PROBLEM, NO_BALANCE, TRANSIENT)


# What runtime.outbox.Outcome status each class becomes ("alert" = dead + admin notification).
OUTBOX_ACTION: dict[str, str] = {
    SmsStatus.SENT: "sent",
    SmsStatus.RATE_LIMITED: "retry",
    SmsStatus.TRANSIENT: "retry",
    SmsStatus.INVALID_RECIPIENT: "dead",
    SmsStatus.TEMPLATE_PROBLEM: "alert",
    SmsStatus.NO_BALANCE: "alert",
}


@dataclass
class SmsResult:
    recipient: str                  # exactly as the caller passed it, so callers can match results back
    status: str                     # one of SmsStatus
    provider_id: str | None = None  # Aliyun BizId, Tencent SerialNo, Twilio sid
    code: str = ""                  # the provider's own code, for the admin
    detail: str = ""                # human-readable, secrets masked
    retry_after: float | None = None  # seconds, when the provider (or its code) tells us


class Gateway(Protocol):
    name: str

    def send(self, recipients: list[str], template: str, params: dict[str, str], text: str,
             idempotency_key: str) -> list[SmsResult]:
        """One result per recipient, in order; provider and network failures are results, not exceptions."""
        ...


def outbox_action(results: list[SmsResult]) -> str:
    """One outbox Outcome status for a whole send: alert > retry > dead (nothing sent) > sent.

    A retry re-sends to every recipient of the row, so rows should hold one
    recipient each (see docs/sms.md); then this is simply OUTBOX_ACTION.
    """
    actions = {OUTBOX_ACTION.get(r.status, "retry") for r in results}
    for action in ("alert", "retry"):
        if action in actions:
            return action
    return "sent" if "sent" in actions or not actions else "dead"


# ---- secrets -----------------------------------------------------------------

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
ENV_REF_PATTERN = r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$"
SECRET_MESSAGE = "secrets must be environment references like ${ALIYUN_ACCESS_KEY_SECRET}"


def resolve_secret(value: str, env: Mapping[str, str]) -> str:
    """``${NAME}`` → env[NAME]. Literal values are refused: definition files end up in git."""
    if not isinstance(value, str) or not re.fullmatch(ENV_REF_PATTERN, value):
        raise ValueError(SECRET_MESSAGE)
    return resolve_refs(value, env)


def resolve_refs(value: str, env: Mapping[str, str]) -> str:
    """Replace every ``${NAME}`` in ``value``; literal text stays (for non-secret fields)."""
    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in env:
            raise ValueError(f"environment variable {name} is not set (referenced by the SMS configuration)")
        return env[name]
    return ENV_REF.sub(one, value)


def mask(text: str, secrets: list[str]) -> str:
    """Blank out every secret (longest first, so overlapping secrets leave no tail) before logging."""
    for s in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(s, "***")
    return text


def mask_phone(number: str) -> str:
    """13800001111 → 138****1111: logs need to tell numbers apart, not to hold them (PIPL)."""
    digits = number.strip()
    return digits[:-8] + "****" + digits[-4:] if len(digits) >= 11 else "****" + digits[-2:]


# ---- helpers shared by the providers --------------------------------------------------------

def e164(number: str, country_code: str = "86") -> str:
    """Normalise a phone number to +<cc><number>; Chinese numbers are usually stored without a prefix."""
    n = re.sub(r"[\s\-()]", "", number)
    if n.startswith("+"):
        return n
    if n.startswith("00"):
        return "+" + n[2:]
    if country_code == "86" and n.startswith("86") and len(n) == 13:
        return "+" + n
    return f"+{country_code}{n.lstrip('0') if country_code != '86' else n}"


def short_key(key: str, limit: int) -> str:
    """Providers cap their reference fields (Aliyun OutId: 64); a sha256 keeps long keys unique."""
    return key if len(key) <= limit else hashlib.sha256(key.encode()).hexdigest()[:limit]


def chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def each(recipients: list[str], status: str, code: str = "", detail: str = "",
         provider_id: str | None = None, retry_after: float | None = None) -> list[SmsResult]:
    """The same answer for every recipient (whole-call errors, network failures)."""
    return [SmsResult(r, status, provider_id, code, detail, retry_after) for r in recipients]


def unreachable(recipients: list[str], message: str) -> list[SmsResult]:
    """The provider could not be asked or did not answer in time: retry with backoff."""
    return each(recipients, SmsStatus.TRANSIENT, "timeout" if message.startswith("timeout") else "network", message)


def until_midnight_china(now: dt.datetime | None = None) -> float:
    """Daily SMS quotas reset at 00:00 Beijing time; waiting less only burns attempts."""
    now = now or dt.datetime.now(dt.UTC)
    local = now.astimezone(dt.timezone(dt.timedelta(hours=8)))
    midnight = (local + dt.timedelta(days=1)).replace(hour=0, minute=0, second=5, microsecond=0)
    return (midnight - local).total_seconds()


def http(method: str, url: str, timeout: float, secrets: list[str], **kw: Any) -> requests.Response | str:
    """A request that turns every network failure into a masked message instead of an exception."""
    try:
        return requests.request(method, url, timeout=timeout, allow_redirects=False, **kw)
    except requests.Timeout as exc:
        return mask(f"timeout after {timeout:g}s: {type(exc).__name__}", secrets)
    except requests.RequestException as exc:
        return mask(f"network error: {type(exc).__name__}: {exc}", secrets)


def json_or_none(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


# ---- configuration -------------------------------------------------------------------

_REF = {"type": "string", "pattern": ENV_REF_PATTERN, "writeOnly": True,
        "description": "environment reference like ${NAME}; literal secrets are refused"}
_STR = {"type": "string", "minLength": 1}
_URL = {"type": "string", "pattern": "^https?://"}
_TIMEOUT = {"type": "number", "exclusiveMinimum": 0, "maximum": 120, "default": 10}
_CLASS = {"enum": list(SmsStatus.ALL)}


def _when(provider: str, required: list[str], props: dict[str, Any]) -> dict[str, Any]:
    return {"if": {"properties": {"provider": {"const": provider}}, "required": ["provider"]},
            "then": {"required": required, "properties": props}}


SMS_CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "SMS gateway",
    "description": "Where reminders are texted. Secrets are ${ENV} references, never literals.",
    "type": "object",
    "required": ["provider"],
    "properties": {"provider": {"enum": ["log", "http", "aliyun", "tencent", "twilio"]}, "timeout": _TIMEOUT},
    "allOf": [
        _when("log", [], {}),
        _when("aliyun", ["access_key_id", "access_key_secret", "sign_name"], {
            "access_key_id": _STR, "access_key_secret": _REF, "sign_name": _STR,
            "endpoint": {**_URL, "default": "https://dysmsapi.aliyuncs.com"},
            "region": {**_STR, "default": "cn-hangzhou"}, "method": {"enum": ["GET", "POST"], "default": "POST"}}),
        _when("tencent", ["secret_id", "secret_key", "sdk_app_id", "sign_name"], {
            "secret_id": _STR, "secret_key": _REF, "sdk_app_id": _STR, "sign_name": _STR,
            "region": {**_STR, "default": "ap-guangzhou"},
            "endpoint": {**_URL, "default": "https://sms.tencentcloudapi.com"},
            "country_code": {"type": "string", "pattern": "^[0-9]{1,4}$", "default": "86"}}),
        _when("twilio", ["account_sid", "auth_token", "from"], {
            "account_sid": _STR, "auth_token": _REF, "from": _STR,
            "endpoint": {**_URL, "default": "https://api.twilio.com"},
            "country_code": {"type": "string", "pattern": "^[0-9]{1,4}$", "default": "86"}}),
        _when("http", ["url"], {
            "url": _URL, "method": {"enum": ["POST", "GET", "PUT"], "default": "POST"},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "body_format": {"enum": ["form", "json"], "default": "json"},
            "body": {"type": ["object", "array"]},
            "multi": {"enum": ["each", "join"], "default": "each"},
            "join_separator": {"type": "string", "default": ","},
            "status_map": {"type": "object", "propertyNames": {"pattern": "^[1-5][0-9][0-9]$"},
                           "additionalProperties": _CLASS},
            "result_path": {"type": "string", "description": "dotted path into the JSON answer, e.g. data.code"},
            "result_map": {"type": "object", "additionalProperties": _CLASS},
            "result_default": {**_CLASS, "default": "transient"},
            "id_path": {"type": "string"}}),
    ],
    "unevaluatedProperties": False,
}

# Fields whose values must be ${ENV} references, per provider.
SECRET_FIELDS = {"aliyun": ["access_key_secret"], "tencent": ["secret_key"], "twilio": ["auth_token"]}
# Non-secret fields that may still hold ${ENV} references (ids differ per site).
REF_FIELDS = ["access_key_id", "secret_id", "sdk_app_id", "account_sid", "from", "endpoint"]


def build_gateway(config: dict[str, Any], env: Mapping[str, str] | None = None) -> Gateway:
    """Check a config dict (secrets first, so no error message can echo a literal secret) and build its gateway."""
    from jsonschema import Draft202012Validator

    env = os.environ if env is None else env
    provider = config.get("provider")
    resolved = dict(config)
    for field in SECRET_FIELDS.get(str(provider), []):
        if field in config:
            resolved[field] = resolve_secret(config[field], env)
    errors = sorted(Draft202012Validator(SMS_CONFIG_SCHEMA).iter_errors(config), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        where = ".".join(str(p) for p in e.path) or "sms"
        raise ValueError(f"SMS configuration {where}: {e.message}")
    for field in REF_FIELDS:
        if isinstance(resolved.get(field), str):
            resolved[field] = resolve_refs(resolved[field], env)
    module = importlib.import_module(f"rules.sms.{provider}")
    gateway: Gateway = module.from_config(resolved, env)
    return gateway
