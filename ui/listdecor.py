"""What a list declares for the eye: row colours (``list.colors``) and kanban card fields (``list.card``).

::

    list:
      columns: [name, partner, expected_return, state]
      colors:                       # first rule that holds wins; lists and kanban cards
        - {when: "days_late > 0", color: red}
        - {when: "expected_return == today()", color: orange}
      card: [partner, expected_return, days_late]    # what a kanban card shows
      overdue: "state in ('shipped', 'processing') and expected_return < today()"   # the home page's 逾期

Compiled with the definitions (errors point at the YAML line); kept in ``EntityDef.extra``.
"""

from __future__ import annotations

from typing import Any

from runtime.compiler import CompileContext
from runtime.evaluate import EvaluationError, holds
from runtime.limits import LimitExceeded
from runtime.model import AppDef, EntityDef

from .dashboards import _ftype


def compile_lists(app: AppDef, ctx: CompileContext) -> None:
    raw_entities = app.raw.get("entities") or {}
    if not isinstance(raw_entities, dict):
        return
    for name, ent in app.entities.items():
        spec = (raw_entities.get(name) or {}).get("list") if isinstance(raw_entities.get(name), dict) else None
        if not isinstance(spec, dict) or ent.scope is None:
            continue
        path = ("entities", name, "list")
        colors = []
        for i, rule in enumerate(spec.get("colors") or []):
            if isinstance(rule, dict) and "when" in rule:
                e = ctx.expr(rule["when"], ent.scope, (*path, "colors", i, "when"), want="bool")
                if e is not None:
                    colors.append((str(rule.get("color") or "grey"), e))
        ent.extra["list_colors"] = colors
        if isinstance(spec.get("overdue"), str):
            e = ctx.expr(spec["overdue"], ent.scope, (*path, "overdue"), want="bool")
            if e is not None:
                ent.extra["overdue"] = e  # the home page lists these (ui/homework.py)
        card = []
        for i, c in enumerate(spec.get("card") or []):
            if _ftype(ent, str(c)) is None or (c in ent.fields and ent.fields[c].type == "table"):
                ctx.error((*path, "card", i), f"unknown field '{c}' (a card shows fields of the record)", "")
            else:
                card.append(str(c))
        if card:
            ent.extra["card"] = card


def row_color(ent: EntityDef, ctx: Any) -> str | None:
    """The colour of the first declared rule that holds for this record, or None."""
    for color, e in ent.extra.get("list_colors") or ():
        try:
            if holds(e, ctx) is True:
                return str(color)
        except (EvaluationError, LimitExceeded):
            continue
    return None


def card_fields(ent: EntityDef) -> list[str]:
    declared = ent.extra.get("card")
    if declared:
        return list(declared)
    return [c for c in ent.list_columns if c not in ("state", "name")][:3]
