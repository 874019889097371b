"""Tencent Cloud SMS SendSms (API version 2021-01-11), JSON over POST with the TC3-HMAC-SHA256 signature.

Tencent answers HTTP 200 even when some numbers failed: each number has its
own entry in Response.SendStatusSet, so one call can yield a sent result
for one recipient and a rate-limited one for the next. Only problems with
the call as a whole (authentication, an internal error) come back as
Response.Error, and those apply to every recipient.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .base import (
    SmsResult,
    SmsStatus,
    chunks,
    e164,
    each,
    http,
    json_or_none,
    mask,
    mask_phone,
    short_key,
    unreachable,
    until_midnight_china,
)

log = logging.getLogger("jig.sms")
S = SmsStatus
SERVICE = "sms"
VERSION = "2021-01-11"
CONTENT_TYPE = "application/json; charset=utf-8"
ALGORITHM = "TC3-HMAC-SHA256"
MAX_NUMBERS = 200  # PhoneNumberSet limit per call
SESSION_MAX = 512

CODES: dict[str, str] = {
    "Ok": S.SENT,
    "InvalidParameterValue.IncorrectPhoneNumber": S.INVALID_RECIPIENT,
    "FailedOperation.PhoneNumberInBlacklist": S.INVALID_RECIPIENT,
    "FailedOperation.PhoneNumberParseFail": S.INVALID_RECIPIENT,
    "UnsupportedOperation.UnsupportedRegion": S.INVALID_RECIPIENT,
    "FailedOperation.TemplateIncorrectOrUnapproved": S.TEMPLATE_PROBLEM,
    "FailedOperation.SignatureIncorrectOrUnapproved": S.TEMPLATE_PROBLEM,
    "InvalidParameterValue.TemplateParameterFormatError": S.TEMPLATE_PROBLEM,
    "InvalidParameterValue.TemplateParameterLengthLimit": S.TEMPLATE_PROBLEM,
    "FailedOperation.InsufficientBalanceInSmsPackage": S.NO_BALANCE,
}
# Families, checked in order when the exact code is unknown.
PREFIXES: list[tuple[str, str]] = [
    ("LimitExceeded.", S.RATE_LIMITED),
    ("RequestLimitExceeded", S.RATE_LIMITED),
    ("InternalError", S.TRANSIENT),
    ("AuthFailure", S.TEMPLATE_PROBLEM),           # wrong key, expired signature: configuration, alert
    ("UnauthorizedOperation", S.TEMPLATE_PROBLEM),  # e.g. SmsSdkAppId not ours
    ("InvalidParameter", S.TEMPLATE_PROBLEM),
    ("MissingParameter", S.TEMPLATE_PROBLEM),
    ("FailedOperation.", S.TEMPLATE_PROBLEM),
    ("UnsupportedOperation", S.TEMPLATE_PROBLEM),
]


def classify(code: str) -> str:
    if code in CODES:
        return CODES[code]
    for prefix, status in PREFIXES:
        if code.startswith(prefix):
            return status
    return S.TRANSIENT


def retry_hint(code: str) -> float | None:
    """The per-number windows are named in the code; retrying inside the window is wasted."""
    if code.endswith("ThirtySecondLimit"):
        return 30.0
    if code.endswith("OneHourLimit"):
        return 3600.0
    if code.endswith("DailyLimit"):
        return until_midnight_china()
    return None


# ---- TC3-HMAC-SHA256 -------------------------------------------------------------------

def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def canonical_request(method: str, headers: Mapping[str, str], signed: list[str], payload: bytes,
                      uri: str = "/", query: str = "") -> str:
    """METHOD\\nURI\\nQUERY\\nname:value\\n...\\n\\nsigned;names\\nsha256(payload); names and values lowercased, trimmed."""
    lower = {k.lower(): v for k, v in headers.items()}
    canon = "".join(f"{name}:{lower[name].strip().lower()}\n" for name in signed)
    return f"{method}\n{uri}\n{query}\n{canon}\n{';'.join(signed)}\n{sha256_hex(payload)}"


def date_of(timestamp: int) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")


def string_to_sign(timestamp: int, canonical: str, service: str = SERVICE) -> str:
    return f"{ALGORITHM}\n{timestamp}\n{date_of(timestamp)}/{service}/tc3_request\n{sha256_hex(canonical.encode())}"


def signature(secret_key: str, timestamp: int, to_sign: str, service: str = SERVICE) -> str:
    """Key chain: HMAC("TC3"+key, date) → HMAC(·, service) → HMAC(·, "tc3_request"), then hex HMAC of the string."""
    k_date = _hmac(("TC3" + secret_key).encode(), date_of(timestamp))
    k_service = _hmac(k_date, service)
    k_signing = _hmac(k_service, "tc3_request")
    return hmac.new(k_signing, to_sign.encode(), hashlib.sha256).hexdigest()


def authorization(secret_id: str, secret_key: str, host: str, payload: bytes, timestamp: int) -> str:
    signed = ["content-type", "host"]
    canonical = canonical_request("POST", {"content-type": CONTENT_TYPE, "host": host}, signed, payload)
    sig = signature(secret_key, timestamp, string_to_sign(timestamp, canonical))
    return (f"{ALGORITHM} Credential={secret_id}/{date_of(timestamp)}/{SERVICE}/tc3_request, "
            f"SignedHeaders={';'.join(signed)}, Signature={sig}")


class TencentGateway:
    name = "tencent"

    def __init__(self, secret_id: str, secret_key: str, sdk_app_id: str, sign_name: str,
                 region: str = "ap-guangzhou", endpoint: str = "https://sms.tencentcloudapi.com",
                 country_code: str = "86", timeout: float = 10.0) -> None:
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.sdk_app_id = sdk_app_id
        self.sign_name = sign_name
        self.region = region
        self.endpoint = endpoint.rstrip("/") + "/"
        self.host = urlsplit(endpoint).netloc
        self.country_code = country_code
        self.timeout = timeout

    def request(self, numbers: list[str], template: str, params: dict[str, str], key: str,
                timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
        """The exact body and headers of one SendSms call."""
        ts = int(time.time()) if timestamp is None else timestamp
        body = {"PhoneNumberSet": numbers, "SmsSdkAppId": self.sdk_app_id, "SignName": self.sign_name,
                "TemplateId": template, "TemplateParamSet": [str(v) for v in params.values()],
                "SessionContext": short_key(key, SESSION_MAX)}
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": CONTENT_TYPE, "Host": self.host, "X-TC-Action": "SendSms",
                   "X-TC-Version": VERSION, "X-TC-Timestamp": str(ts), "X-TC-Region": self.region,
                   "Authorization": authorization(self.secret_id, self.secret_key, self.host, payload, ts)}
        return payload, headers

    def send(self, recipients: list[str], template: str, params: dict[str, str], text: str,
             idempotency_key: str) -> list[SmsResult]:
        parts = chunks(recipients, MAX_NUMBERS)
        results: list[SmsResult] = []
        for i, part in enumerate(parts):
            key = idempotency_key if len(parts) == 1 else f"{idempotency_key}#{i}"
            results += self._send_one(part, template, params, key)
        for r in results:
            log.info("tencent SendSms %s to %s: %s %s", idempotency_key, mask_phone(r.recipient), r.code, r.status)
        return results

    def _send_one(self, recipients: list[str], template: str, params: dict[str, str], key: str) -> list[SmsResult]:
        numbers = [e164(r, self.country_code) for r in recipients]
        payload, headers = self.request(numbers, template, params, key)
        resp = http("POST", self.endpoint, self.timeout, [self.secret_key], data=payload, headers=headers)
        if isinstance(resp, str):
            return unreachable(recipients, resp)
        body = json_or_none(resp)
        answer = body.get("Response") if isinstance(body, dict) else None
        if resp.status_code >= 500 or not isinstance(answer, dict):
            status = S.RATE_LIMITED if resp.status_code == 429 else S.TRANSIENT
            return each(recipients, status, f"HTTP {resp.status_code}", mask(resp.text[:200], [self.secret_key]))
        error = answer.get("Error")
        if isinstance(error, dict):
            code = str(error.get("Code", ""))
            status = classify(code)
            return each(recipients, status, code, mask(str(error.get("Message", "")), [self.secret_key]),
                        retry_after=retry_hint(code) if status == S.RATE_LIMITED else None)
        return self._per_number(recipients, numbers, answer.get("SendStatusSet") or [])

    def _per_number(self, recipients: list[str], numbers: list[str], statuses: list[Any]) -> list[SmsResult]:
        """Match SendStatusSet entries back to the recipients as given (duplicates matched in order)."""
        found: dict[int, SmsResult] = {}
        for st in statuses:
            if not isinstance(st, dict):
                continue
            phone = str(st.get("PhoneNumber", ""))
            index = next((i for i, n in enumerate(numbers) if n == phone and i not in found), None)
            if index is None:
                continue
            code = str(st.get("Code", ""))
            status = classify(code)
            serial = str(st.get("SerialNo") or "") or None
            found[index] = SmsResult(recipients[index], status, serial if status == S.SENT else None, code,
                                     str(st.get("Message", "")), retry_hint(code) if status == S.RATE_LIMITED else None)
        return [found.get(i) or SmsResult(r, S.TRANSIENT, code="missing", detail="no SendStatusSet entry")
                for i, r in enumerate(recipients)]


def from_config(config: Mapping[str, Any], env: Mapping[str, str]) -> TencentGateway:
    return TencentGateway(config["secret_id"], config["secret_key"], config["sdk_app_id"], config["sign_name"],
                          region=config.get("region", "ap-guangzhou"),
                          endpoint=config.get("endpoint", "https://sms.tencentcloudapi.com"),
                          country_code=config.get("country_code", "86"), timeout=float(config.get("timeout", 10)))
