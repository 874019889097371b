"""What a rule's record-changing actions would do, without doing it (the rule editor's "test now").

``update`` says which linked record gets which values; ``explode`` runs the BOM explosion with a
planner in place of the record writer, so the work orders and operations it would create are listed
with their values (the same code path as a real firing, reading the same BOMs and routings). Nothing is
written: the planner only collects.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from runtime.context import RecordContext
from runtime.evaluate import EvaluationError, evaluate
from runtime.fieldtypes import to_json

from .explode import explode

SHOWN = 20  # records listed per action (the counts cover all)


class _Planner:
    """Stands in for ActionRunner.create: remembers what would be created, gives it a made-up id."""

    def __init__(self, rt: Any):
        self.rt = rt
        self.made: list[dict[str, Any]] = []

    def create(self, conn: Connection, rule: Any, target: Any, values: dict[str, Any]) -> dict[str, Any]:
        self.made.append({"entity": target.name, "values": values})
        return {"id": -len(self.made)}


def update_plan(rt: Any, conn: Connection, action: Any, items: list[tuple[int, RecordContext | None]],
                names: dict[int, str]) -> dict[str, Any]:
    """Which record each firing would update (through the link) and with what values."""
    details = []
    link = action.spec["link"]
    for record_id, ctx in items:
        if ctx is None:
            continue
        target_id = ctx.get(link)
        values: dict[str, Any] = {}
        for name, expr in action.exprs.items():
            try:
                values[name] = to_json(evaluate(expr, ctx))
            except EvaluationError as exc:
                values[name] = f"⚠ {exc}"
        details.append({"record": names.get(record_id, str(record_id)), "target": action.target.name,
                        "target_id": target_id, "values": values if target_id is not None else {},
                        "skipped": target_id is None})
    return {"kind": "update", "link": link, "entity": action.target.name, "records": len(items),
            "details": details[:SHOWN]}


def explode_plan(rt: Any, conn: Connection, rule: Any, action: Any, items: list[tuple[int, RecordContext | None]],
                 names: dict[int, str]) -> dict[str, Any]:
    """The records an explode action would create for each firing, counted per entity."""
    counts: dict[str, int] = {}
    details = []
    for record_id, ctx in items:
        planner = _Planner(rt)
        explode(planner, conn, rule, action.spec["plan"], record_id, ctx)
        for made in planner.made:
            counts[made["entity"]] = counts.get(made["entity"], 0) + 1
            if len(details) < SHOWN:
                details.append({"record": names.get(record_id, str(record_id)), **made})
    return {"kind": "explode", "records": len(items), "creates": counts, "details": details}
