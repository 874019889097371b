"""The list search (``?q=``): one box that finds a record by what people know it by.

A record is found by

* its declared search fields (``list.search``; text contains the words),
* its own number (``name``, e.g. ``WF202612-0004``): a prefix match, which an index serves (``name`` on
  SQLite, ``lower(name)`` on PostgreSQL: see :func:`ci_like`),
* the title or number of a record it links to (a batch by its partner's name), or one of its child
  rows links to (an order by a product on its lines), through a subquery on the linked table that
  applies the reader's row filter for that table: a search never matches on a linked record the user
  may not read.

Everything compiles to one WHERE clause; nothing is filtered in Python. Matching ignores case on both
databases (``wf2026`` finds ``WF202612-0004``): SQLite's ``LIKE`` already does, for ASCII letters;
PostgreSQL's does not, so there the column is compared as ``lower(column) LIKE lower(text)``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, Table, bindparam, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from . import permissions
from .auth import Actor
from .model import EntityDef

MAX_LINKS = 6  # link fields searched through (each is one subquery)


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def ci_like(col: ColumnElement[Any], pattern: Any, dialect: str) -> ColumnElement[bool]:
    """``col LIKE pattern`` (escaped with ``\\``) ignoring case, the same on SQLite and PostgreSQL.

    SQLite's ``LIKE`` ignores the case of ASCII letters (and only theirs) by itself; on PostgreSQL the
    column is lowered, so that a prefix pattern is served by the ``lower(name)`` index
    (runtime/tables.py ``search_indexes``) where ``ILIKE`` would read the whole table.
    ``pattern`` may be a bound parameter: its value is then lowered where it is given (:func:`bound_params`).
    """
    if dialect == "postgresql":
        return func.lower(col).like(pattern.lower() if isinstance(pattern, str) else pattern, escape="\\")
    return col.like(pattern, escape="\\")


def title_column(ent: EntityDef) -> str | None:
    """The stored column a record is known by (its title field, else its number); None when there is none."""
    tf = ent.title_field
    if tf and (tf == "name" or (tf in ent.fields and ent.fields[tf].stored)):
        return tf
    return "name" if ent.naming else None


CONTAINS, PREFIX = "jig_q_contains", "jig_q_prefix"  # the bound patterns of a cached search (listquery)


def _patterns(text: str | None, dialect: str = "") -> tuple[Any, Any]:
    """The LIKE patterns (contains, prefix) for ``text``; None: bound parameters, given when executed
    (lowered on PostgreSQL, where :func:`ci_like` lowers the column)."""
    if text is None:
        return bindparam(CONTAINS, type_=String()), bindparam(PREFIX, type_=String())
    if dialect == "postgresql":
        text = text.lower()
    return f"%{like_escape(text)}%", f"{like_escape(text)}%"


def bound_params(runtime: Any, actor: Actor, ent: EntityDef, text: str) -> dict[str, Any]:
    """What a search built with ``text=None`` needs when executed: the patterns and the linked tables' row filters."""
    contains, prefix = _patterns(text, runtime.sql.dialect)
    out: dict[str, Any] = {CONTAINS: contains, PREFIX: prefix}
    for child, f in _links(ent):
        target = (child or ent).sibling(f.to) if f.to else None
        if target is not None and not target.is_child:
            out.update(permissions.filter_params(actor, target))
    return out


def _own_terms(ent: EntityDef, table: Table, text: str | None, dialect: str, *,
               titles_only: bool = False) -> list[ColumnElement[bool]]:
    contains, prefix = _patterns(text)
    names = [title_column(ent)] if titles_only else list(ent.search_fields)
    if titles_only and ent.search_fields:
        names += [s for s in ent.search_fields[:2] if s not in names]  # a partner's code as well as its name
    terms = [ci_like(table.c[n], contains, dialect) for n in dict.fromkeys(names)
             if n and n != "name" and n in table.c]
    if "name" in table.c and (ent.naming or "name" in ent.fields):
        pattern = prefix if ent.naming else contains  # a generated number: a prefix match
        terms.append(ci_like(table.c.name, pattern, dialect))
    return terms


def _linked(runtime: Any, actor: Actor, ent: EntityDef, f: Any, text: str | None) -> Any:
    """The ids of ``f``'s target records whose title or number matches, as a subquery (None: none searchable)."""
    target = ent.sibling(f.to) if f.to else None
    if target is None or target.is_child or not permissions.may_at_all(actor, target, "read"):
        return None
    tt = runtime.tables.for_entity(target)
    found = _own_terms(target, tt, text, runtime.sql.dialect, titles_only=True)
    if not found:
        return None
    sub = select(tt.c.id).where(or_(*found))
    flt = permissions.read_filter(actor, target, tt, runtime.sql)
    if flt is not None:
        sub = sub.where(flt)
        if text is not None:
            sub = sub.params(permissions.filter_params(actor, target))
    return sub


def _links(ent: EntityDef, table: Table | None = None) -> list[tuple[EntityDef | None, Any]]:
    """The link fields searched through: (None, field) for the record's own, (child entity, field) for its rows'."""
    links: list[tuple[EntityDef | None, Any]] = [
        (None, f) for f in ent.fields.values() if f.type == "link" and f.stored and (table is None or f.name in table.c)]
    for cf in ent.child_fields():
        if cf.child is not None:
            links += [(cf.child, f) for f in cf.child.fields.values() if f.type == "link" and f.stored]
    return links[:MAX_LINKS]


def condition(runtime: Any, actor: Actor, ent: EntityDef, table: Table,
              text: str | None) -> ColumnElement[bool] | None:
    """The WHERE clause of a search for ``text``; None when the entity has nothing to search.

    Links of the record and of its child rows (an order found by a product on one of its lines) count,
    ``MAX_LINKS`` of them at most. With ``text=None`` the patterns and the linked tables' row filters are
    bound parameters (:func:`bound_params` gives their values), so the clause can be built once and reused.
    """
    terms = _own_terms(ent, table, text, runtime.sql.dialect)
    for child, f in _links(ent, table):
        sub = _linked(runtime, actor, child or ent, f, text)
        if sub is None:
            continue
        if child is None:
            terms.append(table.c[f.name].in_(sub))
        else:
            ct = runtime.tables.for_entity(child)
            terms.append(table.c.id.in_(select(ct.c.parent_id).where(ct.c[f.name].in_(sub))))
    return or_(*terms) if terms else None
