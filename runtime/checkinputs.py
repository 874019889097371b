"""What a field's ``check`` reads, so an update re-evaluates it only when one of those inputs changed.

A check's inputs are worked out when the definition loads: the field it is on, the fields it names, the
link fields whose paths it follows (``batch.grade`` reads ``batch``; the linked record itself is not an
input), the child tables it aggregates over and the fields of the record it reads with ``parent.``, and
through computed fields what those read. On create every check runs; on update a check runs when one of
its inputs is among the changed fields (a child row: among the row's changed fields; a new row runs all
of its checks), or the workflow state it reads moves. A check that reads the signed-in user or the clock
(``user.``, ``now()``, ``today()``) has inputs no save can tell, so it runs on every save.

Re-grading a material batch to ``fail`` therefore does not make an unrelated edit of an old lot fail its
``batch.grade != 'fail'`` check; changing the lot's batch does.
"""

from __future__ import annotations

from typing import Any

from .expressions import Expr
from .model import EntityDef, FieldDef

KEY = "check_inputs"
ALWAYS = None  # a check with inputs no save can tell: runs on every save
_CLOCK = frozenset({"now", "today"})


def attach(ent: EntityDef) -> None:
    """Work out the inputs of every check of ``ent`` and of its child tables (at load)."""
    for e in (ent, *(f.child for f in ent.child_fields() if f.child is not None)):
        e.extra[KEY] = {f.name: _inputs(e, f) for f in e.fields.values() if f.check is not None}


def _inputs(ent: EntityDef, f: FieldDef) -> frozenset[str] | None:
    assert f.check is not None
    names: set[str] = {f.name}
    todo: list[Expr] = [f.check]
    seen: set[int] = set()
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if e.functions & _CLOCK or "user" in e.names:
            return ALWAYS
        for agg in e.aggregates.values():
            if agg.value is not None and (agg.value.functions & _CLOCK or "user" in agg.value.names):
                return ALWAYS
        for name in e.names:
            names.add(name)
            g = ent.fields.get(name)
            if g is not None and g.type == "computed" and g.expr is not None:
                todo.append(g.expr)
    return frozenset(names)


def runs(ent: EntityDef, f: FieldDef, changed: set[str] | None, ctx: Any, before: dict[str, Any] | None) -> bool:
    """Whether ``f``'s check must be evaluated for this save (``changed``: None on create)."""
    if changed is None:
        return True
    inputs = (ent.extra.get(KEY) or {}).get(f.name, ALWAYS)
    if inputs is ALWAYS or not inputs.isdisjoint(changed):
        return True
    return "state" in inputs and before is not None and ctx.get("state") != before.get("state")
