"""What creating a record of one entity needs, decided once per entity instead of once per record.

``Records.create`` and ``Records.create_many`` (imports) share it: one validation path, the same
checks in the same order; only what does not depend on the record is worked out ahead:

* each field's coercion (``FieldType.coerce``, whether its answer may be remembered across records);
* which fields nobody may write (read-only fields, roll-ups, series numbers);
* the defaults, and which of them are constants (a literal such as ``'open'``: evaluated and coerced
  once, not per record);
* whether validation needs a record context at all: only when a computed field, a table field, a
  ``visible`` / ``required_if`` / ``check`` expression or a default that is not a constant exists;
  otherwise it reads the typed values directly;
* the columns of the insert, the roll-up columns started at 0, whether the record feeds roll-ups;
* whether the creator's scope check can fail: a role that reads every record of the entity cannot
  create outside its scope, so the check (a second record context) is skipped for it.

The plan lives in ``entity.extra`` (the entity's own compiled state); nothing here is module-level state.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from .errors import FieldErrors
from .evaluate import EvaluationError, evaluate
from .fieldtypes import FieldValueError
from .limits import LimitExceeded
from .model import EntityDef
from .validation import MEMO_INPUTS, MEMO_SIZE, needs_context, table_rows

KEY = "create_plan"
NOT_CONSTANT = object()
_IMMUTABLE = (str, int, float, bytes, Decimal, dt.date, dt.time, type(None))  # bool is an int


class CreatePlan:
    def __init__(self, ent: EntityDef, feeds_parents: bool):
        self.key = ent.key
        fields = ent.fields
        # what coerce_input does per key: a field's coercion, or a table's rows (``table_rows``)
        # a unique field's inputs do not repeat: remembering them would only cost a lookup per record
        self.coercers = {name: (f.ft.coerce, f, f.ft.pure_coerce and not f.unique) if f.type != "table"
                         else (None, f, False) for name, f in fields.items() if f.stored or f.type == "table"}
        naming_fields: dict[str, str] = ent.extra.get("naming_fields", {})
        self.naming_fields = list(naming_fields.items())
        self.rollups = tuple(ent.extra.get("rollups", ()))
        self.engine_only = frozenset(self.rollups) | frozenset(naming_fields)  # nobody writes them
        self.readonly = frozenset(name for name, f in fields.items() if f.readonly)
        self.defaults = [(f, _constant(f)) for f in fields.values() if f.default is not None]
        self.stored = [f.name for f in ent.stored_fields()]
        self.child_fields = ent.child_fields()
        self.initial = ent.workflow.initial if ent.workflow is not None else None
        self.feeds_parents = feeds_parents
        self.needs_context = needs_context(ent) or any(c is NOT_CONSTANT for _, c in self.defaults)
        self._unscoped: dict[frozenset[str], bool] = {}
        self._direct: dict[Any, Any] = {}  # coerce's tables for single creates (nothing remembered in them)

    def coerce(self, data: dict[str, Any], errors: Any, lang: str, memo: dict[Any, Any] | None,
               privileged: bool) -> dict[str, Any] | None:
        """The typed values of an input whose every key is a field this actor may write that is neither a
        table nor computed (its coercion errors added to ``errors`` as ``coerce_input`` adds them); None,
        with nothing added, when the input has any other key: the general path answers those keys."""
        # key -> (coerce, field, whether remembered, its answers so far): per import (memo), else per plan
        store = memo if memo is not None else self._direct
        specs = store.get((self.key, lang, privileged))
        if specs is None:
            specs = store[(self.key, lang, privileged)] = {
                name: (coerce, f, pure and memo is not None, {}) for name, (coerce, f, pure) in self.coercers.items()
                if name not in self.engine_only and (privileged or name not in self.readonly)}
        out: dict[str, Any] = {}
        bad: list[tuple[str, str]] = []
        for key, raw in data.items():
            spec = specs.get(key)
            if spec is None:
                return None
            coerce, f, remembered, seen = spec
            if coerce is None:  # a table field: its rows' problems in the order coerce_input adds them
                rows_errors = FieldErrors()
                out[key] = table_rows(f, raw, rows_errors, lang, key, memo)
                bad += rows_errors.errors.items()
                continue
            if remembered and raw.__class__ in MEMO_INPUTS:
                mk = raw if raw.__class__ is str else (raw.__class__, raw)  # a text is its own key
                answer = seen.get(mk)
                if answer is None:
                    try:
                        answer = (True, coerce(f, raw, lang))
                    except FieldValueError as exc:
                        answer = (False, exc.message)
                    if len(seen) < MEMO_SIZE:
                        seen[mk] = answer
                if answer[0]:
                    out[key] = answer[1]
                else:
                    bad.append((key, answer[1]))
                continue
            try:
                out[key] = coerce(f, raw, lang)
            except FieldValueError as exc:
                bad.append((key, exc.message))
        for key, message in bad:
            errors.add(key, message)
        return out

    def unscoped(self, actor: Any, ent: EntityDef) -> bool:
        """Whether the actor's new records cannot fall outside its read scope (an admin; a role reading every
        record); then the scope check of each new record is skipped. Shared links always check."""
        if actor.is_admin:
            return True
        if actor.link is not None:
            return False
        known = self._unscoped.get(actor.roles)
        if known is None:
            known = self._unscoped[actor.roles] = any(
                ent.permissions[r].read is True for r in actor.roles if r in ent.permissions)
        return known


def plan(ent: EntityDef) -> CreatePlan:
    """The entity's create plan, built on first use."""
    p = ent.extra.get(KEY)
    if p is None:
        from .rollups import feeds_parents
        p = ent.extra[KEY] = CreatePlan(ent, feeds_parents(ent))
    return p  # type: ignore[no-any-return]


def default_value(f: Any, constant: Any, ctx: Any, lang: str) -> Any:
    """A default's value for one record (``constant`` when it has one); NOT_CONSTANT when it has none
    (it failed to evaluate or coerce: the field stays empty). LimitExceeded goes to the caller."""
    if constant is not NOT_CONSTANT:
        return constant
    try:
        return f.ft.coerce(f, evaluate(f.default, ctx), lang)
    except (EvaluationError, FieldValueError):
        return NOT_CONSTANT


def _constant(f: Any) -> Any:
    """A default that names nothing and calls nothing, evaluated and coerced once; NOT_CONSTANT otherwise
    (also when it fails, or its value could be changed by a record that holds it)."""
    expr = f.default
    if expr.paths or expr.functions:
        return NOT_CONSTANT
    try:
        value = f.ft.coerce(f, evaluate(expr, {}), "en")
    except (EvaluationError, FieldValueError, LimitExceeded):
        return NOT_CONSTANT
    return value if isinstance(value, _IMMUTABLE) else NOT_CONSTANT


