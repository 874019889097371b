"""Twilio Programmable Messaging: one form POST to Messages.json per recipient, HTTP basic auth.

Twilio sends the rendered ``text`` (it has no pre-approved templates like
the Chinese providers). Errors come back as JSON with a numeric ``code``;
the HTTP status alone is too coarse (a 400 may be a bad number, which must
not be retried, or a bad sender, which needs an admin).
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Mapping
from typing import Any

from .base import SmsResult, SmsStatus, e164, http, json_or_none, mask, mask_phone, unreachable

log = logging.getLogger("jig.sms")
S = SmsStatus

CODES: dict[int, str] = {
    21211: S.INVALID_RECIPIENT,   # invalid 'To' number
    21612: S.INVALID_RECIPIENT,   # 'To' not reachable from this 'From'
    21614: S.INVALID_RECIPIENT,   # 'To' is not a mobile number
    21610: S.INVALID_RECIPIENT,   # recipient replied STOP (unsubscribed)
    20003: S.TEMPLATE_PROBLEM,    # authentication: wrong SID or token
    20404: S.TEMPLATE_PROBLEM,    # account or resource not found: wrong SID
    21606: S.TEMPLATE_PROBLEM,    # 'From' is not a valid SMS-capable number of this account
    21408: S.TEMPLATE_PROBLEM,    # sending to this region is not enabled on the account
    21617: S.TEMPLATE_PROBLEM,    # body too long
    20429: S.RATE_LIMITED,        # too many requests / concurrency
    14107: S.RATE_LIMITED,        # SMS send rate limit exceeded
}


def classify(http_status: int, code: int | None) -> str:
    if 200 <= http_status < 300:
        return S.SENT
    if code in CODES:
        return CODES[code]
    if http_status == 429:
        return S.RATE_LIMITED
    if http_status >= 500:
        return S.TRANSIENT
    return S.TEMPLATE_PROBLEM  # any other rejection repeats on retry: an admin must look


def retry_after(value: str | None) -> float | None:
    """Retry-After is either seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None  # unreadable: fall back on the outbox's backoff


class TwilioGateway:
    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, sender: str, endpoint: str = "https://api.twilio.com",
                 country_code: str = "86", timeout: float = 10.0) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sender = sender
        self.url = f"{endpoint.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.country_code = country_code
        self.timeout = timeout

    def send(self, recipients: list[str], template: str, params: dict[str, str], text: str,
             idempotency_key: str) -> list[SmsResult]:
        return [self._send_one(r, text, idempotency_key) for r in recipients]

    def _send_one(self, recipient: str, text: str, key: str) -> SmsResult:
        to = e164(recipient, self.country_code)
        resp = http("POST", self.url, self.timeout, [self.auth_token], auth=(self.account_sid, self.auth_token),
                    data={"To": to, "From": self.sender, "Body": text},
                    headers={"I-Twilio-Idempotency-Token": f"{key}:{to}"})
        if isinstance(resp, str):
            result = unreachable([recipient], resp)[0]
        else:
            body = json_or_none(resp)
            body = body if isinstance(body, dict) else {}
            code = body.get("code") if isinstance(body.get("code"), int) else None
            status = classify(resp.status_code, code)
            detail = mask(str(body.get("message") or body.get("status") or resp.text[:200]), [self.auth_token])
            result = SmsResult(recipient, status, str(body.get("sid")) if status == S.SENT else None,
                               str(code) if code is not None else str(resp.status_code), detail,
                               retry_after(resp.headers.get("Retry-After")) if status == S.RATE_LIMITED else None)
        log.info("twilio message %s to %s: %s %s", key, mask_phone(to), result.code, result.status)
        return result


def from_config(config: Mapping[str, Any], env: Mapping[str, str]) -> TwilioGateway:
    return TwilioGateway(config["account_sid"], config["auth_token"], config["from"],
                         endpoint=config.get("endpoint", "https://api.twilio.com"),
                         country_code=config.get("country_code", "86"), timeout=float(config.get("timeout", 10)))
