"""What a shared link may do, as seen by the permission checks.

A link is not a user with roles: it is a grant on one entity — one record
(``record_id``) or the creation of new records — naming the fields it may
read and write and the transitions it may take. ``permissions`` consults the
grant instead of role grants whenever ``Actor.link`` is set, so every write
path (updates, transitions, creates, row filters after the write) applies the
link's scope with the same code that applies roles. A link never lists: its
read filter is ``id = record_id`` (nothing at all for a create link).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, Table, bindparam, false
from sqlalchemy.sql.elements import ColumnElement


@dataclass(frozen=True)
class LinkGrant:
    link_id: int
    name: str              # the definition's link name
    entity: str            # entity key, "app.entity"
    record_id: int | None  # the one record (None: a link that creates records)
    read: frozenset[str]
    write: frozenset[str]
    transitions: frozenset[str]
    create: bool = False


def _same(g: LinkGrant, ent: Any) -> bool:
    return bool(ent.key == g.entity)


def _record_ok(g: LinkGrant, ctx: Any) -> bool:
    rid = ctx.get("id") if ctx is not None else None
    if g.record_id is None:
        return rid is None  # a create link reads only the row it is writing
    return rid is not None and int(rid) == g.record_id


def may_create(g: LinkGrant, ent: Any) -> bool:
    return g.create and _same(g, ent)


def may_at_all(g: LinkGrant, ent: Any, action: str) -> bool:
    if not _same(g, ent):
        return False
    return {"read": True, "update": bool(g.write), "create": g.create, "transition": bool(g.transitions)}.get(
        action, False)


RECORD_PARAM = "jig_link_record_id"


def read_filter(g: LinkGrant, ent: Any, table: Table) -> ColumnElement[bool]:
    """The record as a bound value, so cached statements (keyed by ``shape``) serve every link alike."""
    if not _same(g, ent) or g.record_id is None:
        return false()
    return table.c.id == bindparam(RECORD_PARAM, type_=Integer())


def shape(g: LinkGrant | None, ent: Any) -> tuple[Any, ...] | None:
    """What a cached read statement depends on besides roles (None: not a link)."""
    if g is None:
        return None
    return ("link", _same(g, ent), g.record_id is None)


def allows(g: LinkGrant, ent: Any, action: str, ctx: Any) -> bool:
    if not _same(g, ent) or not _record_ok(g, ctx):
        return False
    if action == "read":
        return True
    if action == "update":
        return bool(g.write)
    return False


def may_transition(g: LinkGrant, ent: Any, name: str, ctx: Any) -> bool:
    return name in g.transitions and allows(g, ent, "read", ctx)


class LinkIssuer:
    """What the links extension offers other layers through ``runtime.services`` (rules put a record's
    link into an SMS): look it up with ``rt.services.find(LinkIssuer)``."""

    def definition(self, app: str, name: str) -> Any:
        raise NotImplementedError

    def reuse_or_issue(self, conn: Any, link: Any, record_id: int, username: str | None) -> dict[str, Any]:
        raise NotImplementedError

    def token_of(self, row: dict[str, Any]) -> str:
        raise NotImplementedError
