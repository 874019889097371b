"""Why something cannot be delivered, as a code with parameters, shown in the reader's language.

A :class:`Reason` is a ``str`` (its Chinese text, so logs, reports and older readers keep working)
that also carries ``code`` and ``params``. The outbox stores both on an undeliverable row (the text
in ``last_error``, the code in ``result["reason"]``); the delivery log, the CLI and the admins'
notices render it with :func:`render` in the viewer's language. Rows written before codes existed
have only the text, which is shown as it is.

A parameter may be a ``{"zh": ..., "en": ...}`` mapping (a role's label): the reader's language picks.
"""

from __future__ import annotations

from typing import Any

TEXTS: dict[str, dict[str, str]] = {
    "no_phone": {"zh": "用户 {who}: 没有手机号", "en": "User {who}: no phone number"},
    "bad_phone": {"zh": "用户 {who}: 手机号“{phone}”无效", "en": "User {who}: invalid phone number '{phone}'"},
    "no_user": {"zh": "用户 {who}: 不存在或已停用", "en": "User {who}: does not exist or is disabled"},
    "no_one": {"zh": "角色 {role}: 没有用户", "en": "Role {role}: nobody holds it"},
    "field_empty": {"zh": "记录 {where}{expr}: 没有手机号", "en": "Record {where}{expr}: no phone number"},
    "field_bad": {"zh": "记录 {where}{expr}: 手机号“{phone}”无效",
                  "en": "Record {where}{expr}: invalid phone number '{phone}'"},
    "no_recipient": {"zh": "没有收件人", "en": "No recipient"},
    "rule_gone": {"zh": "规则 {rule} 已不存在或已修改", "en": "Rule {rule} no longer exists or was changed"},
    "in_rule": {"zh": "{rule}: {reason}", "en": "{rule}: {reason}"},
    "several": {"zh": "{reasons}", "en": "{reasons}"},
    "no_number": {"zh": "{entity} #{record}: 单据号（{expr}）为空，无法回写 ERP；补全后在发送记录中重试",
                  "en": "{entity} #{record}: the document number ({expr}) is empty, so it cannot be written back "
                        "to the ERP; fix the record, then retry it in the delivery log"},
}


def _pick(value: Any, lang: str) -> Any:
    if isinstance(value, list):
        return "; ".join(str(_pick(v, lang)) for v in value if v)
    if isinstance(value, Reason):
        return value.in_lang(lang)
    if isinstance(value, dict) and isinstance(value.get("code"), str):
        return text(value["code"], value.get("params") or {}, lang)
    if isinstance(value, dict) and ("zh" in value or "en" in value):
        return value.get(lang) or value.get("zh") or value.get("en") or ""
    return value


def text(code: str, params: dict[str, Any], lang: str = "zh") -> str:
    entry = TEXTS.get(code)
    if entry is None:
        return code
    try:
        return (entry.get(lang) or entry["zh"]).format(**{k: _pick(v, lang) for k, v in params.items()})
    except (KeyError, IndexError):
        return entry["zh"]


class Reason(str):
    """A reason's Chinese text (the ``str``), with its ``code`` and ``params`` for other languages."""

    code: str
    params: dict[str, Any]

    def __new__(cls, code: str, **params: Any) -> Reason:
        obj = super().__new__(cls, text(code, params, "zh"))
        obj.code = code
        obj.params = params
        return obj

    def in_lang(self, lang: str) -> str:
        return text(self.code, self.params, lang)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "params": {k: _stored(v) for k, v in self.params.items()}}


def _stored(value: Any) -> Any:
    if isinstance(value, Reason):
        return value.as_dict()
    if isinstance(value, list):
        return [_stored(v) for v in value]
    return value


def joined(reasons: list[Any]) -> str | Reason | None:
    """One reason, or several as one (shown joined with '; '); None for none."""
    reasons = [r for r in reasons if r]
    if not reasons:
        return None
    if len(reasons) == 1:
        return reasons[0]  # type: ignore[no-any-return]
    return Reason("several", reasons=reasons)


def render(stored: Any, fallback: str | None, lang: str) -> str:
    """A stored reason (``{"code", "params"}``, or several as a list) in ``lang``; else the stored text."""
    if isinstance(stored, dict) and isinstance(stored.get("code"), str) and stored["code"] in TEXTS:
        return text(stored["code"], stored.get("params") or {}, lang)
    if isinstance(stored, list) and stored and all(isinstance(s, dict) and s.get("code") in TEXTS for s in stored):
        return "; ".join(text(s["code"], s.get("params") or {}, lang) for s in stored)
    return fallback or ""


def stored(reason: Any) -> dict[str, Any] | None:
    """What the outbox keeps of a reason: its code and params, or None for plain text."""
    return reason.as_dict() if isinstance(reason, Reason) else None
