"""Aliyun Dysmsapi SendSms (API version 2017-05-25), RPC style with the HMAC-SHA1 signature.

Written against the published wire format rather than the Aliyun SDK so the
runtime needs nothing beyond ``requests``, and so the simulator can verify
the very same bytes. Aliyun answers one code for the whole call, so every
recipient of a call shares it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .base import (
    SmsResult,
    SmsStatus,
    chunks,
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
MAX_NUMBERS = 1000  # PhoneNumbers limit per call
OUT_ID_MAX = 64

CODES: dict[str, str] = {
    "OK": S.SENT,
    "isv.BUSINESS_LIMIT_CONTROL": S.RATE_LIMITED,
    "isv.DAY_LIMIT_CONTROL": S.RATE_LIMITED,
    "isv.MOBILE_NUMBER_ILLEGAL": S.INVALID_RECIPIENT,
    "isv.MOBILE_COUNT_OVER_LIMIT": S.INVALID_RECIPIENT,
    "isv.DOMESTIC_NUMBER_NOT_SUPPORTED": S.INVALID_RECIPIENT,
    "isv.SMS_TEMPLATE_ILLEGAL": S.TEMPLATE_PROBLEM,
    "isv.SMS_SIGNATURE_ILLEGAL": S.TEMPLATE_PROBLEM,
    "isv.TEMPLATE_MISSING_PARAMETERS": S.TEMPLATE_PROBLEM,
    "isv.INVALID_PARAMETERS": S.TEMPLATE_PROBLEM,
    "isv.INVALID_JSON_PARAM": S.TEMPLATE_PROBLEM,
    "isv.PARAM_LENGTH_LIMIT": S.TEMPLATE_PROBLEM,
    "isv.AMOUNT_NOT_ENOUGH": S.NO_BALANCE,
    "isv.OUT_OF_SERVICE": S.NO_BALANCE,
    "isp.SYSTEM_ERROR": S.TRANSIENT,
    "SignatureNonceUsed": S.TRANSIENT,  # the next attempt carries a fresh nonce
    "ServiceUnavailable": S.TRANSIENT,
    "InternalError": S.TRANSIENT,
}
# Families, checked in order when the exact code is unknown. isv.* is "our side" (config, input),
# isp.* the provider's side; auth failures are configuration problems for the admin.
PREFIXES: list[tuple[str, str]] = [
    ("Throttling", S.RATE_LIMITED),
    ("SignatureDoesNotMatch", S.TEMPLATE_PROBLEM),
    ("IncompleteSignature", S.TEMPLATE_PROBLEM),
    ("InvalidAccessKeyId", S.TEMPLATE_PROBLEM),
    ("InvalidTimeStamp", S.TEMPLATE_PROBLEM),
    ("Forbidden", S.TEMPLATE_PROBLEM),
    ("isv.", S.TEMPLATE_PROBLEM),
    ("isp.", S.TRANSIENT),
]


def classify(code: str, http_status: int = 200) -> str:
    """The result class of an Aliyun code; unknown codes fall back on the HTTP status."""
    if code in CODES:
        return CODES[code]
    for prefix, status in PREFIXES:
        if code.startswith(prefix):
            return status
    if http_status == 429:
        return S.RATE_LIMITED
    return S.TEMPLATE_PROBLEM if 400 <= http_status < 500 else S.TRANSIENT


def retry_hint(code: str, message: str) -> float | None:
    """Aliyun's flow control says which window tripped (分钟级/小时级/天级); retrying sooner is wasted."""
    if code == "isv.DAY_LIMIT_CONTROL" or "天级" in message:
        return until_midnight_china()
    if "小时级" in message:
        return 3600.0
    if "分钟级" in message:
        return 60.0
    return None


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as Aliyun's signature wants it: space → %20, * → %2A, ~ kept."""
    return quote(str(value), safe="~")


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))
    return f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"


def sign(method: str, params: Mapping[str, str], secret: str) -> str:
    """Signature = base64(HMAC-SHA1(secret + "&", METHOD&%2F&pct(sorted canonical query)))."""
    digest = hmac.new((secret + "&").encode(), string_to_sign(method, params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class AliyunGateway:
    name = "aliyun"

    def __init__(self, access_key_id: str, access_key_secret: str, sign_name: str,
                 endpoint: str = "https://dysmsapi.aliyuncs.com", region: str = "cn-hangzhou",
                 method: str = "POST", timeout: float = 10.0) -> None:
        self.access_key_id = access_key_id
        self.secret = access_key_secret
        self.sign_name = sign_name
        self.endpoint = endpoint.rstrip("/") + "/"
        self.region = region
        self.method = method  # POST keeps numbers and parameters out of proxy logs and URL length limits
        self.timeout = timeout

    def params(self, numbers: list[str], template: str, params: dict[str, str], out_id: str) -> dict[str, str]:
        """The signed request parameters (Signature included)."""
        p = {
            "AccessKeyId": self.access_key_id, "Action": "SendSms", "Format": "JSON",
            "OutId": short_key(out_id, OUT_ID_MAX), "PhoneNumbers": ",".join(numbers), "RegionId": self.region,
            "SignName": self.sign_name, "SignatureMethod": "HMAC-SHA1", "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0", "TemplateCode": template,
            "TemplateParam": json.dumps({k: str(v) for k, v in params.items()}, ensure_ascii=False,
                                        separators=(",", ":")),
            "Timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "Version": "2017-05-25",
        }
        p["Signature"] = sign(self.method, p, self.secret)
        return p

    def send(self, recipients: list[str], template: str, params: dict[str, str], text: str,
             idempotency_key: str) -> list[SmsResult]:
        parts = chunks(recipients, MAX_NUMBERS)
        results: list[SmsResult] = []
        for i, part in enumerate(parts):
            key = idempotency_key if len(parts) == 1 else f"{idempotency_key}#{i}"
            results += self._send_one(part, template, params, key)
        return results

    def _send_one(self, numbers: list[str], template: str, params: dict[str, str], key: str) -> list[SmsResult]:
        p = self.params([n.strip() for n in numbers], template, params, key)
        if self.method == "GET":
            resp = http("GET", self.endpoint, self.timeout, [self.secret], params=p)
        else:
            resp = http("POST", self.endpoint, self.timeout, [self.secret], data=p)
        if isinstance(resp, str):
            results = unreachable(numbers, resp)
        else:
            body = json_or_none(resp)
            code = str(body.get("Code", "")) if isinstance(body, dict) else ""
            message = mask(str(body.get("Message", "")) if isinstance(body, dict) else resp.text[:200], [self.secret])
            if not code:
                code = f"HTTP {resp.status_code}"
                status = classify("", resp.status_code)
            else:
                status = classify(code, resp.status_code)
            biz_id = str(body.get("BizId")) if isinstance(body, dict) and body.get("BizId") else None
            hint = retry_hint(code, message) if status == S.RATE_LIMITED else None
            results = each(numbers, status, code, message, biz_id if status == S.SENT else None, hint)
        r = results[0]
        log.info("aliyun SendSms %s to %s: %s %s", key, ",".join(mask_phone(n) for n in numbers), r.code, r.status)
        return results


def from_config(config: Mapping[str, Any], env: Mapping[str, str]) -> AliyunGateway:
    return AliyunGateway(config["access_key_id"], config["access_key_secret"], config["sign_name"],
                         endpoint=config.get("endpoint", "https://dysmsapi.aliyuncs.com"),
                         region=config.get("region", "cn-hangzhou"), method=config.get("method", "POST"),
                         timeout=float(config.get("timeout", 10)))
