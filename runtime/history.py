"""Record history: every change, who made it, when, through which channel, and the diff."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Table, select

from . import clock, jsontext
from .auth import Actor
from .fieldtypes import to_json
from .model import SYSTEM_COLUMNS, EntityDef


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None, keys: list[str]) -> dict[str, list[Any]]:
    """{field: [old, new]} for fields whose value changed (JSON-safe values)."""
    changes: dict[str, list[Any]] = {}
    for k in keys:
        old = to_json((before or {}).get(k))
        new = to_json((after or {}).get(k))
        if old != new and not (old in (None, [], "") and new in (None, [], "")):
            changes[k] = [old, new]
    return changes


def keys(ent: EntityDef) -> list[str]:
    """The columns an update's history entry compares: the state and every field but computed ones; decided
    once per entity."""
    if "history_keys" not in ent.extra:
        ent.extra["history_keys"] = ["state", *(f.name for f in ent.fields.values() if f.type != "computed")]
    return ent.extra["history_keys"]  # type: ignore[no-any-return]


def create_plan(ent: EntityDef) -> list[tuple[str, Any]]:
    """(key, JSON converter) of what a create's history entry lists (``created``): the number, the state, the
    fields that are not computed; built once per entity (``Records.create`` and bulk creates share it)."""
    plan = ent.extra.get("history_create_plan")
    if plan is None:
        plan = ent.extra["history_create_plan"] = [
            *((k, None) for k in SYSTEM_COLUMNS[1:3]),
            *((f.name, to_json if f.type == "table" else f.ft.json_converter(f))
              for f in ent.fields.values() if f.type != "computed")]
    return plan  # type: ignore[no-any-return]


def created(after: dict[str, Any], plan: list[tuple[str, Any]]) -> dict[str, list[Any]]:
    """``diff(None, after, keys)`` for a new record, in one pass (bulk creates make many). ``plan``: (key,
    its JSON converter, None when the stored value is JSON as it is -- ``FieldType.json_converter``)."""
    out: dict[str, list[Any]] = {}
    get = after.get
    for k, conv in plan:
        v = get(k)
        if v is None:
            continue
        if not v and isinstance(v, (str, list)):
            continue
        out[k] = [None, v if conv is None else conv(v)]
    return out


def write(conn: Connection, table: Table, *, app: str, entity: str, record_id: int, action: str, actor: Actor,
          changes: dict[str, Any], version: int | None, transition: str | None = None) -> None:
    # values as parameters of a plain INSERT: its compiled form is cached, no literal is coerced per write
    conn.execute(table.insert(), entry(app=app, entity=entity, record_id=record_id, action=action, actor=actor,
                                       changes=changes, version=version, transition=transition))


def entry(*, app: str, entity: str, record_id: int, action: str, actor: Actor, changes: dict[str, Any],
          version: int | None, transition: str | None = None, at: Any = None) -> dict[str, Any]:
    """One history row's values (``write`` inserts one; a bulk create inserts many with one executemany)."""
    return {"app": app, "entity": entity, "record_id": record_id, "action": action, "transition": transition,
            "via": actor.via, "username": actor.username, "at": at or clock.now(), "version": version,
            "diff": jsontext.dumps(changes)}


def entries(*, app: str, entity: str, action: str, actor: Actor, version: int | None, at: Any,
            changes: Iterable[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """``entry`` for many records (record id, changes) of one action by one actor at one time."""
    via, username, dump = actor.via, actor.username, jsontext.dumps
    return [{"app": app, "entity": entity, "record_id": record_id, "action": action, "transition": None,
             "via": via, "username": username, "at": at, "version": version, "diff": dump(ch)}
            for record_id, ch in changes]


def read(conn: Connection, table: Table, app: str, entity: str, record_id: int,
         limit: int = 500) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(table).where(table.c.app == app, table.c.entity == entity, table.c.record_id == record_id)
        .order_by(table.c.id).limit(limit)).mappings()
    return [{
        "id": r["id"], "action": r["action"], "transition": r["transition"], "via": r["via"],
        "user": r["username"], "at": to_json(r["at"]), "version": r["version"], "changes": json.loads(r["diff"]),
    } for r in rows]
