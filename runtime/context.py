"""What an expression sees when it runs on one record.

Field values come from the record; computed fields are evaluated on first
use; link paths such as ``partner.phone`` load the linked record once per
context; ``user.x`` reads the acting user's attributes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, select

from .bounds import MAX_CHILD_ROWS
from .evaluate import EvaluationError, evaluate
from .limits import BoundPassed, LimitExceeded
from .model import EntityDef

Loader = Callable[[EntityDef, int], dict[str, Any] | None]


class RecordContext(dict[str, Any]):
    def __init__(self, ent: EntityDef, values: dict[str, Any], user: dict[str, Any] | None,
                 loader: Loader | None, depth: int = 0):
        super().__init__(values)
        self.ent = ent
        self.user = user or {}
        self.loader = loader
        self.depth = depth
        self._links: dict[str, RecordContext | None] = {}
        self._rows: dict[str, list[dict[str, Any]]] = {}
        # Computed fields whose evaluation passed a bound: empty when read, refused when written.
        self.limits: dict[str, LimitExceeded] = {}

    def __missing__(self, key: str) -> Any:
        f = self.ent.fields.get(key)
        if f is not None and f.type == "computed" and f.expr is not None and self.depth < 5:
            self.depth += 1
            try:
                value = evaluate(f.expr, self)
            except EvaluationError:
                value = None
            except LimitExceeded as exc:
                value = None
                self.limits[key] = exc
            finally:
                self.depth -= 1
            self[key] = value
            return value
        if key == "user":
            return self.user
        return None

    def child_rows(self, field_name: str) -> list[dict[str, Any]]:
        """The rows of a table field: as given, else loaded once (a new record has none)."""
        if dict.__contains__(self, field_name):
            return dict.__getitem__(self, field_name) or []
        if field_name in self._rows:
            return self._rows[field_name]
        if "." in field_name:  # "entity.link": the records that link here
            return self._linking(field_name)
        f = self.ent.fields.get(field_name)
        load = getattr(self.loader, "rows", None)
        rows: list[dict[str, Any]] = []
        if f is not None and f.child is not None and self.get("id") is not None and load is not None:
            rows = load(f.child, int(self["id"]))
        elif f is not None and f.child is not None and self.get("id") is not None:
            raise ValueError(f"the rows of '{field_name}' are not available here")
        self._rows[field_name] = rows
        return rows

    def _linking(self, key: str) -> list[dict[str, Any]]:
        source = self.ent.sibling(key.split(".")[0])
        load = getattr(self.loader, "linking", None)
        rows: list[dict[str, Any]] = []
        if self.get("id") is not None:
            if source is None or load is None:
                raise ValueError(f"the records of '{key}' are not available here")
            rows = load(source, key.split(".")[1], int(self["id"]))
        self._rows[key] = rows
        return rows

    def row_context(self, field_name: str, row: dict[str, Any]) -> RecordContext:
        """What an expression over one row of a table field (or one record linking here) sees."""
        child = self.ent.fields[field_name].child if "." not in field_name else \
            self.ent.sibling(field_name.split(".")[0])
        assert child is not None
        ctx = RecordContext(child, row, self.user, self.loader, self.depth + 1)
        if "parent" not in child.fields:
            ctx._links["parent"] = self  # parent.<field> (runtime.aggregates)
        return ctx

    def linked(self, field_name: str) -> RecordContext | None:
        if field_name in self._links:
            return self._links[field_name]
        target: RecordContext | None = None
        f = self.ent.fields.get(field_name)
        ref = self.get(field_name)
        if f is not None and f.type == "link" and ref is not None and self.loader is not None and f.to:
            target_ent = self.ent.sibling(f.to)
            row = self.loader(target_ent, int(ref)) if target_ent else None
            if row is not None and target_ent is not None:
                target = RecordContext(target_ent, row, self.user, self.loader, self.depth + 1)
        self._links[field_name] = target
        return target

    def resolve(self, path: tuple[str, ...]) -> Any:
        if path[0] == "user":
            return self.user.get(path[1])
        ctx: RecordContext | None = self
        for part in path[:-1]:
            if ctx is None:
                return None
            ctx = ctx.linked(part)
        return None if ctx is None else ctx[path[-1]]


def row_loader(conn: Connection, tables: Any) -> Loader:
    """A loader reading linked records through ``conn`` (cached per call site by RecordContext)."""
    def load(ent: EntityDef, record_id: int) -> dict[str, Any] | None:
        table = tables.for_entity(ent)
        row = conn.execute(select(table).where(table.c.id == record_id)).mappings().first()
        return dict(row) if row else None

    def rows(child: EntityDef, parent_id: int) -> list[dict[str, Any]]:
        table = tables.for_entity(child)
        q = select(table).where(table.c.parent_id == parent_id).order_by(table.c.idx)
        return [dict(r) for r in conn.execute(q).mappings()]

    def linking(source: EntityDef, link: str, record_id: int) -> list[dict[str, Any]]:
        table = tables.for_entity(source)
        q = select(table).where(table.c[link] == record_id).order_by(table.c.id).limit(MAX_CHILD_ROWS + 1)
        found = [dict(r) for r in conn.execute(q).mappings()]
        if len(found) > MAX_CHILD_ROWS:
            raise BoundPassed("rows", max=MAX_CHILD_ROWS)
        return found

    load.rows = rows  # type: ignore[attr-defined]  # child rows, for aggregates (runtime.aggregates)
    load.linking = linking  # type: ignore[attr-defined]  # records linking here, at most MAX_CHILD_ROWS
    return load
