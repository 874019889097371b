"""SMS for Jig's reminders: one Gateway protocol, five providers, per-recipient result classes.

The rules engine's outbox handler calls ``build_gateway(config).send(...)``
and turns each :class:`SmsResult` into an outbox outcome with
:data:`OUTBOX_ACTION` (see docs/sms.md).
"""

from .base import OUTBOX_ACTION, SMS_CONFIG_SCHEMA, Gateway, SmsResult, SmsStatus, build_gateway, mask, outbox_action, resolve_secret

__all__ = ["OUTBOX_ACTION", "SMS_CONFIG_SCHEMA", "Gateway", "SmsResult", "SmsStatus", "build_gateway", "mask",
           "outbox_action", "resolve_secret"]
