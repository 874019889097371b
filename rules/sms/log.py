"""The development gateway: nothing leaves the machine, every message is kept and logged.

A new site starts on this provider, so rules can be written and tried
before anyone has an SMS account, and tests can assert what would be sent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from .base import SmsResult, SmsStatus, mask_phone

log = logging.getLogger("jig.sms")


class LogGateway:
    name = "log"

    def __init__(self, keep: int = 1000) -> None:
        self.messages: list[dict[str, Any]] = []
        self.keep = keep
        self._lock = threading.Lock()
        self._count = 0

    def send(self, recipients: list[str], template: str, params: dict[str, str], text: str,
             idempotency_key: str) -> list[SmsResult]:
        results = []
        with self._lock:
            for to in recipients:
                self._count += 1
                self.messages.append({"to": to, "template": template, "params": dict(params), "text": text,
                                      "key": idempotency_key})
                results.append(SmsResult(to, SmsStatus.SENT, provider_id=f"log-{self._count}", code="OK"))
                log.info("sms (log gateway) to %s [%s]: %s", mask_phone(to), idempotency_key, text)
            del self.messages[:-self.keep]
        return results


def from_config(config: Mapping[str, Any], env: Mapping[str, str]) -> LogGateway:
    return LogGateway()
