"""In-app notifications: rows per user, written in the caller's transaction.

A notification to a role is fanned out to every active user holding that
role when it is written, so each person has their own read state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, func, select, update

from . import clock


class Notifications:
    def __init__(self, db: Any, tables: dict[str, Any]):
        self.db = db
        self.table = tables["jig_notifications"]
        self.users = tables["jig_users"]

    def recipients(self, conn: Connection, *, users: Iterable[str] = (), roles: Iterable[str] = ()) -> list[str]:
        """Usernames of the named users plus every active user holding one of ``roles``."""
        wanted_roles = set(roles)
        names = set(users)
        if wanted_roles:
            for username, user_roles in conn.execute(
                    select(self.users.c.username, self.users.c.roles).where(self.users.c.active.is_(True))):
                if wanted_roles & set(user_roles or []):
                    names.add(username)
        return sorted(names)

    def add(self, conn: Connection, *, title: str | Callable[[str], str], body: str | Callable[[str], str] = "",
            users: Iterable[str] = (), roles: Iterable[str] = (), app: str | None = None, link: str | None = None,
            source: str | None = None) -> int:
        """Write one notification per recipient inside ``conn``'s transaction; returns how many.
        ``title`` and ``body`` may be functions of a language: each user then reads it in theirs."""
        names = self.recipients(conn, users=users, roles=roles)
        if not names:
            return 0
        now = clock.now()
        langs: dict[str, str] = {}
        if callable(title) or callable(body):
            langs = dict(conn.execute(select(self.users.c.username, self.users.c.language)
                                      .where(self.users.c.username.in_(names))).all())

        def said(text: str | Callable[[str], str], name: str) -> str:
            return text(langs.get(name) or "zh") if callable(text) else text
        conn.execute(self.table.insert(), [
            {"username": n, "app": app, "title": said(title, n)[:200], "body": said(body, n), "link": link,
             "source": source, "created_at": now} for n in names])
        return len(names)

    def unread_count(self, username: str) -> int:
        with self.db.read(snapshot=False) as conn:
            return int(conn.execute(select(func.count()).select_from(self.table).where(
                self.table.c.username == username, self.table.c.read_at.is_(None))).scalar_one())

    def latest(self, username: str, limit: int = 30) -> list[dict[str, Any]]:
        with self.db.read(snapshot=False) as conn:
            rows = conn.execute(select(self.table).where(self.table.c.username == username)
                                .order_by(self.table.c.id.desc()).limit(limit)).mappings()
            return [dict(r) for r in rows]

    def mark_read(self, username: str, ids: Iterable[int] | None = None) -> int:
        q = update(self.table).where(self.table.c.username == username, self.table.c.read_at.is_(None))
        if ids is not None:
            q = q.where(self.table.c.id.in_(list(ids)))
        with self.db.write() as conn:
            return int(conn.execute(q.values(read_at=clock.now())).rowcount)



def as_json(row: dict[str, Any]) -> dict[str, Any]:
    from .fieldtypes import to_json
    return {k: to_json(v) for k, v in row.items()}
