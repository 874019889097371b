"""Who an SMS goes to: phone numbers from an expression, named users and the holders of roles.

Every recipient is resolved to a :class:`Recipient`: its phone number, or the reason it cannot be
reached (a user without a phone number or with an invalid one, a role nobody holds, a record whose
phone field is empty). Unreachable recipients are never dropped: the rule's action records each one as
an ``undeliverable`` outbox row with the reason (see ``ActionRunner._sms``), which the delivery log
shows and an admin retries once the number is there (the row's recipient is resolved again then).

``user_recipients`` is what a rule editor's "test now" needs to list the people without a phone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from runtime.auth import PHONE_RE
from runtime.reasons import Reason


@dataclass(frozen=True)
class Recipient:
    """One addressee of a message: its number, or ``problem`` saying why it cannot be reached."""

    phone: str | None
    who: dict[str, Any] = field(default_factory=dict, hash=False)  # {"user": u} | {"role": r} | {"field": expr}
    label: str = ""            # how people know it: 李四 (li), role 计划员, partner.phone
    problem: str | None = None

    @property
    def reachable(self) -> bool:
        return self.problem is None and bool(self.phone)

    @property
    def ref(self) -> str:
        """A short stable name for idempotency keys: user=li, role=planner, field=partner.phone."""
        kind, value = next(iter(self.who.items())) if self.who else ("to", self.phone or "")
        return f"{kind}={value}"


def phone_problem(phone: Any) -> str | None:
    """Why ``phone`` cannot take an SMS (empty, not a number), or None when it looks like a number."""
    if phone is None or not str(phone).strip():
        return "没有手机号"
    if not PHONE_RE.match(re.sub(r"[\s\-()]", "", str(phone))):
        return f"手机号“{phone}”无效"
    return None


def _phone_reason(phone: Any, empty: str, bad: str, **params: Any) -> Reason | None:
    """``phone_problem`` as a reason code (runtime.reasons) for the reader's language."""
    if phone is None or not str(phone).strip():
        return Reason(empty, **params)
    if phone_problem(phone) is not None:
        return Reason(bad, phone=str(phone), **params)
    return None


def clean_phone(phone: str) -> str:
    return re.sub(r"[\s\-()]", "", phone)


def _user(row: Any) -> Recipient:
    name = row["username"]
    label = f"{row['display_name']} ({name})" if row["display_name"] and row["display_name"] != name else name
    problem = _phone_reason(row["phone"], "no_phone", "bad_phone", who=label)
    return Recipient(None if problem else clean_phone(row["phone"]), {"user": name}, label, problem)


def user_recipients(conn: Connection, users_table: Any, *, users: Iterable[str] = (),
                    roles: Iterable[str] = (), role_labels: dict[str, Any] | None = None) -> list[Recipient]:
    """The named users and every active holder of ``roles``, each with a phone number or a problem; a role
    nobody (active) holds and a named user who does not exist (or is disabled) are unreachable too."""
    wanted, named = list(dict.fromkeys(roles)), list(dict.fromkeys(users))
    if not wanted and not named:
        return []
    t = users_table
    rows = conn.execute(select(t.c.username, t.c.display_name, t.c.phone, t.c.roles, t.c.active)
                        .order_by(t.c.username)).mappings().all()
    out: list[Recipient] = []
    seen: set[str] = set()
    for name in named:
        row = next((r for r in rows if r["username"] == name and r["active"]), None)
        if row is None:
            out.append(Recipient(None, {"user": name}, name, Reason("no_user", who=name)))
        else:
            out.append(_user(row))
        seen.add(name)
    for role in wanted:
        holders = [r for r in rows if r["active"] and r["username"] != "system" and role in (r["roles"] or [])]
        if not holders:
            labels = (role_labels or {}).get(role) or role
            label = (labels.get("zh") or role) if isinstance(labels, dict) else labels
            out.append(Recipient(None, {"role": role}, label, Reason("no_one", role=labels)))
        for row in holders:
            if row["username"] not in seen:
                seen.add(row["username"])
                out.append(_user(row))
    return out


def from_value(value: Any, expr: str, record_id: int | None) -> Recipient:
    """The recipient an expression (``to: partner.phone``) gave for one record."""
    where = f"#{record_id} " if record_id else ""
    problem = _phone_reason(value, "field_empty", "field_bad", where=where, expr=expr)
    return Recipient(None if problem else clean_phone(str(value)), {"field": expr}, expr, problem)


def role_labels(apps: dict[str, Any], app: str) -> dict[str, dict[str, str]]:
    """Role labels of ``app`` (role name → {zh, en}) for messages about roles, in the reader's language."""
    a = apps.get(app)
    return {name: {"zh": label.get("zh") or name, "en": label.get("en") or label.get("zh") or name}
            for name, label in (a.roles.items() if a is not None else [])}
