"""Who a rule's messages cannot reach, said before it runs: nothing is dropped silently.

An SMS goes to the numbers of an expression (``to: partner.phone``), of the
users holding ``to_roles`` and of the ``to_users``. A user without a phone, a
named user who does not exist (or is inactive), a role nobody holds, and a
record whose number expression is empty cannot be texted: the rule editor
shows each as a warning (for the rule as written, and per record in its test).
This module only reads; it uses the same recipient resolution as the actions
(``runtime.notifications.recipients`` and the users' ``phone``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select


def unreachable_users(rt: Any, conn: Connection, roles: Iterable[str] = (), users: Iterable[str] = ()
                      ) -> list[dict[str, Any]]:
    """Problems with the user recipients of an sms action: ``{"kind", "user"|"role", "name"}`` each.

    kind: ``no_phone`` (an active user, by role or by name, without a phone number), ``no_user`` (a named
    user that does not exist or is inactive), ``no_one`` (a role no active user holds).
    """
    roles, users = [r for r in roles if isinstance(r, str)], [u for u in users if isinstance(u, str)]
    if not roles and not users:
        return []
    t = rt.tables.system["jig_users"]
    names = rt.notifications.recipients(conn, users=users, roles=roles)
    rows = {r.username: r for r in conn.execute(
        select(t.c.username, t.c.display_name, t.c.phone, t.c.active, t.c.roles).where(t.c.username.in_(names)))}
    out: list[dict[str, Any]] = []
    for role in roles:
        if not any(r.active and role in (r.roles or []) for r in rows.values()):
            out.append({"kind": "no_one", "role": role})
    for name in names:
        row = rows.get(name)
        if row is None or not row.active:
            out.append({"kind": "no_user", "user": name})
        elif not (row.phone or "").strip():
            out.append({"kind": "no_phone", "user": name, "name": row.display_name or name,
                        "roles": sorted(set(row.roles or []) & set(roles))})
    return out


def sms_actions(spec: Any) -> list[dict[str, Any]]:
    """The sms actions of a rule as written (its ``do:`` list in the YAML)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("do"), list):
        return []
    return [a["sms"] for a in spec["do"] if isinstance(a, dict) and isinstance(a.get("sms"), dict)]


def rule_warnings(rt: Any, conn: Connection, spec: Any) -> list[dict[str, Any]]:
    """Every user-recipient problem of a rule as written, with the index of its sms action."""
    out = []
    for i, sms in enumerate(sms_actions(spec)):
        for problem in unreachable_users(rt, conn, sms.get("to_roles") or [], sms.get("to_users") or []):
            out.append({**problem, "action": i})
    return out
