"""Who may do what: role grants, with row filters compiled to SQL for reads.

A user may act when any of their roles grants the action. For lists, each
role's read filter is compiled to SQL and OR-ed, so the database returns only
visible rows (no per-row Python checks); for single-record writes the same
expression is evaluated on the loaded record, and again on the record as it
will be stored (``refuse_outside``): a write may not move a row out of the
writer's own scope (a partner cannot hand a batch to another partner).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, false, or_
from sqlalchemy.sql.elements import ColumnElement

from . import linkscope
from .auth import Actor
from .errors import Conflict
from .evaluate import holds
from .expressions import Expr
from .messages import t
from .model import EntityDef, Grant, TransitionDef, pick
from .sqlcompile import SqlCompiler


def _root(ent: EntityDef) -> EntityDef:
    while ent.parent is not None:
        ent = ent.parent
    return ent


def refuse_archived(ent: EntityDef, lang: str) -> None:
    """409 with a clear message for any write to an archived entity (its records stay readable)."""
    root = _root(ent)
    if root.archived:
        raise Conflict(t("archived", lang, entity=pick(root.title, lang)))


def _grants(actor: Actor, ent: EntityDef, action: str) -> list[Grant]:
    out: list[Grant] = []
    for role in actor.roles:
        rp = ent.permissions.get(role)
        if rp is not None:
            out.append(getattr(rp, action))
    return out


def may_create(actor: Actor, ent: EntityDef) -> bool:
    if _root(ent).archived:
        return False
    if actor.link is not None:
        return linkscope.may_create(actor.link, ent)
    return actor.is_admin or any(ent.permissions[r].create for r in actor.roles if r in ent.permissions)


def may_at_all(actor: Actor, ent: EntityDef, action: str) -> bool:
    """Whether some role grants ``action`` on at least some records (an archived entity's are only read)."""
    if action != "read" and _root(ent).archived:
        return False
    if actor.link is not None:
        return linkscope.may_at_all(actor.link, ent, action)
    return actor.is_admin or any(g is not False for g in _grants(actor, ent, action))


def read_filter(actor: Actor, ent: EntityDef, table: Table, sql: SqlCompiler) -> ColumnElement[bool] | None:
    """None when every row is visible; otherwise a WHERE clause (false() when none is)."""
    if actor.link is not None:
        return linkscope.read_filter(actor.link, ent, table)
    if actor.is_admin:
        return None
    grants = _grants(actor, ent, "read")
    if any(g is True for g in grants):
        return None
    clauses = [sql.condition(g, table) for g in grants if isinstance(g, Expr)]
    if not clauses:
        return false()
    return clauses[0] if len(clauses) == 1 else or_(*clauses)


def filter_params(actor: Actor, ent: EntityDef) -> dict[str, Any]:
    """Bound values the compiled row filters need (the user's attributes, a link's record)."""
    from .sqlcompile import USER_PARAM
    if actor.link is not None:
        return {linkscope.RECORD_PARAM: actor.link.record_id}
    ctx = actor.context()
    names = ent.scope.user if ent.scope and ent.scope.user else {}
    return {USER_PARAM.format(k): ctx.get(k) for k in names}


def filter_shape(actor: Actor, ent: EntityDef) -> tuple[Any, ...]:
    """The key of statements cached per read filter: the roles, and whether and how a link reads."""
    return (actor.roles, linkscope.shape(actor.link, ent))


def allows(actor: Actor, ent: EntityDef, action: str, record_ctx: Any) -> bool:
    """Whether ``action`` (read/update/delete) is allowed on this loaded record (only read when archived)."""
    if action != "read" and _root(ent).archived:
        return False
    if actor.link is not None:
        return linkscope.allows(actor.link, ent, action, record_ctx)
    if actor.is_admin:
        return True
    for g in _grants(actor, ent, action):
        if g is True or (isinstance(g, Expr) and holds(g, record_ctx) is True):
            return True
    return False


def may_transition(actor: Actor, ent: EntityDef, tr: TransitionDef, record_ctx: Any) -> bool:
    """Role check for a transition: listed role, and that role's transition grant covers this record."""
    if _root(ent).archived:
        return False
    if actor.link is not None:
        return linkscope.may_transition(actor.link, ent, tr.name, record_ctx)
    if actor.is_admin:
        return True
    for role in actor.roles:
        if tr.roles and role not in tr.roles:
            continue
        rp = ent.permissions.get(role)
        if rp is None:
            continue
        g = rp.transition
        if isinstance(g, frozenset):
            ok = tr.name in g and allows_one(rp.read, record_ctx)
        elif isinstance(g, Expr):
            ok = holds(g, record_ctx) is True
        else:
            ok = bool(g)
        if ok:
            return True
    return False


def allows_one(g: Grant, record_ctx: Any) -> bool:
    return g is True or (isinstance(g, Expr) and holds(g, record_ctx) is True)


def refuse_outside(actor: Actor, ent: EntityDef, action: str, after_ctx: Any, changed: Any, lang: str,
                   transition: TransitionDef | None = None) -> None:
    """403 unless the row as it will be stored still passes the actor's ``action`` grant and read filter.

    ``action`` is create, update or transition (then ``transition`` is the one taken). The refusal
    names the changed fields the failing grants read (or every changed field when they read none).
    """
    if actor.is_admin:
        return
    if actor.link is not None:
        ok = allows(actor, ent, "read", after_ctx) and (
            action == "create" or (action == "transition" and transition is not None
                                   and may_transition(actor, ent, transition, after_ctx))
            or (action not in ("create", "transition") and allows(actor, ent, action, after_ctx)))
        if not ok:
            from .errors import Forbidden
            from .messages import t
            raise Forbidden(t("outside_scope", lang), {f: t("outside_scope_field", lang) for f in sorted(changed)})
        return
    failing: list[Grant] = []
    if action == "transition":
        assert transition is not None
        if not may_transition(actor, ent, transition, after_ctx):
            failing += [g for g in _grants(actor, ent, "transition") if isinstance(g, Expr)]
    elif action != "create" and not allows(actor, ent, action, after_ctx):
        failing += _grants(actor, ent, action)
    if not allows(actor, ent, "read", after_ctx):
        failing += _grants(actor, ent, "read")
    if not failing:
        return
    from .errors import Forbidden
    from .messages import t
    read_names = set().union(*(g.names for g in failing if isinstance(g, Expr)))
    named = sorted(f for f in changed if f in read_names) or sorted(changed)
    raise Forbidden(t("outside_scope", lang), {f: t("outside_scope_field", lang) for f in named})
