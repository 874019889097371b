"""Workflow transitions: the only way a record's state changes.

A transition is refused with 403 when the user's role may not take it, 409
when the record is in another state or the guard does not hold, and 422
when required fields are missing. Otherwise its ``set`` values are applied
and the change is written, with history and a ``record.transitioned`` event,
in one transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from . import permissions
from .auth import Actor
from .errors import (
    BadRequest,
    FieldErrors,
    Forbidden,
    GuardFailed,
    NotFound,
    StaleVersion,
    ValidationFailed,
    WrongState,
)
from .evaluate import EvaluationError, evaluate, holds
from .fieldtypes import FieldValueError, coerce, empty
from .limits import LimitExceeded
from .messages import t
from .model import EntityDef, TransitionDef, pick
from .records import PRIVILEGED_VIA, Records
from .validation import coerce_input


def available(records: Records, actor: Actor, ent: EntityDef, record_ctx: Any) -> list[TransitionDef]:
    """Transitions this user could take from the record's current state (guards not evaluated)."""
    if ent.workflow is None:
        return []
    state = record_ctx.get("state")
    return [tr for tr in ent.workflow.transitions.values()
            if tr.allowed_from(state, ent.workflow.states) and permissions.may_transition(actor, ent, tr, record_ctx)]


def take(records: Records, actor: Actor, ent: EntityDef, record_id: int, name: str,
         data: dict[str, Any] | None = None, version: int | None = None,
         conn: Connection | None = None) -> dict[str, Any]:
    lang = actor.language
    permissions.refuse_archived(ent, lang)
    if ent.workflow is None:
        raise NotFound(t("no_workflow", lang, entity=pick(ent.title, lang)))
    tr = ent.workflow.transitions.get(name)
    if tr is None:
        raise NotFound(t("unknown_transition", lang, name=name))
    errors = FieldErrors()
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise BadRequest(t("bad_json", lang))
    if version is None and actor.via not in PRIVILEGED_VIA:
        raise BadRequest(t("version_required", lang), {"version": t("required", lang)})
    if "state" in data:
        errors.add("state", t("state_field", lang))
    values = coerce_input(ent, {k: v for k, v in data.items() if k not in ("version", "state")}, errors, lang)
    with records._tx(conn) as c:
        before = records._load(c, ent, record_id, actor, lock=True)
        ctx = records.context(c, ent, before, actor)
        label = pick(tr.label, lang)
        if not permissions.may_transition(actor, ent, tr, ctx):
            raise Forbidden(t("transition_role", lang, label=label), transition=name)
        current = int(before["version"])
        if version is not None and int(version) != current:
            raise StaleVersion(t("stale", lang, current=current), current_version=current)
        _refuse_unneeded(actor, ent, tr, values, ctx, label)
        records._refuse_readonly(actor, ent, values, errors, lang, before_ctx=ctx)
        # the written values keep the record inside the grants the actor used (state as before)
        records.refuse_outside(c, actor, ent, before, values, "transition", tr)
        if not set(values) <= set(tr.require) | set(tr.set):
            records.refuse_outside(c, actor, ent, before, values, "update")
        state = before.get("state")
        if not tr.allowed_from(state, ent.workflow.states):
            st = ent.workflow.states.get(state or "")
            raise WrongState(t("wrong_state", lang, label=label, state=pick(st.label, lang) if st else state),
                             state=state, transition=name)
        if errors:
            raise ValidationFailed(t("validation_failed", lang, n=len(errors.errors)), errors.errors)
        after_ctx = records.context(c, ent, {**before, **values}, actor)
        missing = [f for f in tr.require if empty(after_ctx.get(f))]
        if missing:
            names = "、".join(pick(ent.fields[f].label, lang) for f in missing)
            raise ValidationFailed(t("missing_for_transition", lang, label=label, fields=names),
                                   {f: t("required", lang) for f in missing}, transition=name)
        if tr.guard is not None:
            try:
                ok = holds(tr.guard, after_ctx)
            except EvaluationError:
                ok = None
            if ok is not True:
                reason = pick(tr.guard_message, lang) if tr.guard_message else tr.guard.source
                raise GuardFailed(t("guard", lang, label=label, reason=reason), transition=name)
        for fname, expr in tr.set.items():
            try:
                values[fname] = coerce(ent.fields[fname], evaluate(expr, after_ctx), lang)
            except (EvaluationError, FieldValueError) as exc:
                errors.add(fname, str(exc))
            except LimitExceeded as exc:
                raise exc.for_field(fname, lang) from None
            after_ctx[fname] = values.get(fname)
        return records._apply(c, actor, ent, before, values, errors, current, action="transition",
                               new_state=tr.to, transition=name)


def _refuse_unneeded(actor: Actor, ent: EntityDef, tr: TransitionDef, values: dict[str, Any], ctx: Any,
                     label: str) -> None:
    """A transition is not an update: it writes the fields it requires or sets, others only with update rights."""
    extra = sorted(k for k in values if k not in tr.require and k not in tr.set)
    if not extra or actor.is_admin or actor.via in PRIVILEGED_VIA or permissions.allows(actor, ent, "update", ctx):
        return
    lang = actor.language
    raise Forbidden(t("transition_fields", lang, label=label), {k: t("transition_field", lang, label=label)
                                                                 for k in extra}, transition=tr.name)
