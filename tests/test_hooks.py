"""Record events run inside the writing transaction and are all documented."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from runtime.hooks import EVENTS

from .conftest import World, batch_body

ROOT = Path(__file__).resolve().parent.parent


def test_events_fire_with_changes(world: World) -> None:
    seen: list[tuple[str, str, dict]] = []
    for name in ("record.created", "record.updated", "record.transitioned", "record.deleted"):
        world.rt.hooks.subscribe(name, lambda ev: seen.append((ev.name, ev.transition or "", ev.changes)))
    rec = world.planner.post("/api/outsourcing/batch", batch_body(world.partners["a"])).get_json()
    world.planner.patch(f"/api/outsourcing/batch/{rec['id']}", {"version": 1, "quantity": 5})
    world.planner.post(f"/api/outsourcing/batch/{rec['id']}/transitions/start", {"version": 2})
    world.admin.delete(f"/api/outsourcing/batch/{rec['id']}")
    assert [s[0] for s in seen] == ["record.created", "record.updated", "record.transitioned", "record.deleted"]
    assert seen[1][2] == {"quantity": [100, 5]}
    assert seen[2][1] == "start"


def test_handler_failure_rolls_back_the_change(world: World) -> None:
    def boom(ev):  # noqa: ANN001
        raise RuntimeError("side effect could not be recorded")

    world.rt.hooks.subscribe("record.created", boom)
    r = world.planner.post("/api/outsourcing/batch", batch_body(world.partners["a"]))
    assert r.status_code == 500 and r.get_json()["error"]["code"] == "internal"
    table = world.rt.tables["outsourcing.batch"]
    with world.rt.db.read() as conn:
        assert conn.execute(select(table)).first() is None
        assert conn.execute(select(world.rt.tables.system["jig_history"]).where(
            world.rt.tables.system["jig_history"].c.entity == "batch")).first() is None


def test_handlers_write_in_the_same_transaction(world: World) -> None:
    hist = world.rt.tables.system["jig_history"]

    def count_in_tx(ev):  # noqa: ANN001
        rows = ev.conn.execute(select(hist).where(hist.c.record_id == ev.record_id, hist.c.entity == "batch")).all()
        assert len(rows) == 1  # the history row of this very change is visible inside the transaction

    world.rt.hooks.subscribe("record.created", count_in_tx)
    assert world.planner.post("/api/outsourcing/batch", batch_body(world.partners["a"])).status_code == 201


def test_every_event_is_documented() -> None:
    doc = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
    for name in EVENTS:
        assert f"`{name}`" in doc, name


def test_unknown_event_is_refused(world: World) -> None:
    with pytest.raises(ValueError):
        world.rt.hooks.subscribe("record.saved", lambda ev: None)


def test_handlers_limited_to_entities() -> None:
    """A handler that names its entities makes writes to other entities skip the event (and its re-read)."""
    from runtime.hooks import Hooks
    hooks = Hooks()
    assert not hooks.has("record.created", "outsourcing.batch")
    hooks.subscribe("record.created", lambda ev: None, entities={"outsourcing.batch"})
    assert hooks.has("record.created", "outsourcing.batch") and hooks.has("record.created")
    assert not hooks.has("record.created", "outsourcing.partner")
    hooks.subscribe("record.created", lambda ev: None)  # wants every entity
    assert hooks.has("record.created", "outsourcing.partner")
    hooks.subscribe("record.updated", lambda ev: None, entities=set())
    assert not hooks.has("record.updated", "outsourcing.batch")
