"""Validation's database checks answered many rows at a time (imports, ``Records.create_many``).

``runtime.validation.validate`` asks three things of the database per record: does the linked record
exist (and may the actor read it), does the user exist, is this unique value free. One create asks
with one query each. A bulk create gives validate a :class:`Lookups` instead: before a chunk of rows
is validated, :meth:`Lookups.prefetch` fetches the answers for all of the chunk's values with one
``IN (...)`` query per link field, user field and unique field; validate then reads them from sets.
A value nobody prefetched (say a default filled in later) is asked on its own and remembered.

Uniqueness also counts the rows of the same import accepted before (:meth:`accept`), as creating them
one by one would: the second row with code ``A1`` is refused whether or not the first is stored yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select

from . import permissions
from .model import EntityDef
from .validation import link_ok, link_reader, user_ok


class Lookups:
    def __init__(self, runtime: Any):
        self.rt = runtime
        self._links: dict[tuple[str, bool], dict[Any, bool]] = {}   # (entity key, scoped) -> id -> exists
        self._users: dict[Any, bool] = {}
        self._taken: dict[tuple[str, str], dict[Any, bool]] = {}    # (entity key, field) -> value -> in the table
        self._accepted: dict[tuple[str, str], set[Any]] = {}        # values of this run's accepted rows

    # ---- what validate asks
    def link_ok(self, conn: Connection, target: EntityDef, value: Any, reader: Any) -> bool:
        known = self._links.setdefault((target.key, reader is not None), {})
        if value not in known:
            known[value] = link_ok(conn, self.rt, target, value, reader)
        return known[value]

    def user_ok(self, conn: Connection, username: Any) -> bool:
        if username not in self._users:
            self._users[username] = user_ok(conn, self.rt, username)
        return self._users[username]

    def unique_taken(self, conn: Connection, ent: EntityDef, name: str, value: Any) -> bool:
        key = (ent.key, name)
        if value in self._accepted.get(key, ()):
            return True
        known = self._taken.setdefault(key, {})
        if value not in known:
            table = self.rt.tables.for_entity(ent)
            known[value] = conn.execute(select(table.c.id).where(table.c[name] == value).limit(1)).first() is not None
        return known[value]

    def accept(self, ent: EntityDef, values: dict[str, Any]) -> None:
        """A row passed: its unique values are taken for the rows after it."""
        unique = ent.extra.get("unique_accept")
        if unique is None:  # (field, its key here), decided once per entity
            unique = ent.extra["unique_accept"] = [(f.name, (ent.key, f.name)) for f in ent.fields.values()
                                                   if f.unique]
        for name, key in unique:
            v = values.get(name)
            if v is not None and v != "":
                accepted = self._accepted.get(key)
                if accepted is None:
                    accepted = self._accepted[key] = set()
                accepted.add(v)

    # ---- many rows at once
    def prefetch(self, conn: Connection, ent: EntityDef, rows: list[dict[str, Any]], actor: Any) -> None:
        """Fetch the answers for the link, user and unique values of ``rows`` (typed values), child rows too."""
        reader = link_reader(actor)
        self._prefetch(conn, ent, rows, reader, top=True)

    def _prefetch(self, conn: Connection, ent: EntityDef, rows: list[dict[str, Any]], reader: Any, top: bool) -> None:
        for f in ent.fields.values():
            if f.type == "table" and f.child is not None:
                kids = [k for r in rows for k in (r.get(f.name) or []) if isinstance(k, dict)]
                if kids:
                    self._prefetch(conn, f.child, kids, reader, top=False)
                continue
            unique = f.unique and top and not ent.is_child and f.ft.may_be_unique and not f.ft.is_list
            if not ((f.type == "link" and f.to) or f.type == "user" or unique):
                continue
            values = {v for r in rows if (v := r.get(f.name)) not in (None, "") and not isinstance(v, (list, dict))}
            if not values:
                continue
            if f.type == "link" and f.to:
                self._prefetch_links(conn, ent.sibling(f.to), values, reader)
            elif f.type == "user":
                self._prefetch_users(conn, values)
            if unique:
                self._prefetch_taken(conn, ent, f.name, values)

    def _prefetch_links(self, conn: Connection, target: EntityDef | None, ids: Iterable[Any], reader: Any) -> None:
        if target is None:
            return
        known = self._links.setdefault((target.key, reader is not None), {})
        wanted = sorted(i for i in ids if isinstance(i, int) and i not in known)
        if not wanted:
            return
        table = self.rt.tables.for_entity(target)
        q = select(table.c.id).where(table.c.id.in_(wanted))
        params: dict[str, Any] = {}
        if reader is not None:
            flt = permissions.read_filter(reader, target, table, self.rt.sql)
            if flt is not None:
                q = q.where(flt)
                params = permissions.filter_params(reader, target)
        found = set(conn.execute(q, params).scalars())
        for i in wanted:
            known[i] = i in found

    def _prefetch_users(self, conn: Connection, names: Iterable[Any]) -> None:
        wanted = sorted(n for n in names if isinstance(n, str) and n not in self._users)
        if wanted:
            users = self.rt.tables.system["jig_users"]
            found = set(conn.execute(select(users.c.username).where(users.c.username.in_(wanted))).scalars())
            self._users.update({n: n in found for n in wanted})

    def _prefetch_taken(self, conn: Connection, ent: EntityDef, name: str, values: set[Any]) -> None:
        known = self._taken.setdefault((ent.key, name), {})
        wanted = [v for v in values if v not in known]
        if wanted:
            table = self.rt.tables.for_entity(ent)
            found = set(conn.execute(select(table.c[name]).where(table.c[name].in_(wanted))).scalars())
            known.update({v: v in found for v in wanted})
