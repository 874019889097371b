"""Kept aggregates (runtime/kept.py): dashboard counts kept by triggers equal the per-request query, always."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from sqlalchemy import inspect, text, update

from runtime import inmerge, kept
from runtime.auth import SYSTEM
from ui import dashboards

from .conftest import World, batch_body


def _both(rt: Any, actor: Any, w: Any) -> tuple[Any, Any]:
    """(kept answer, per-request query answer) of one widget."""
    fast = dashboards.compute_widget(rt, actor, w, "en")
    saved, w.kept = w.kept, None
    try:
        slow = dashboards.compute_widget(rt, actor, w, "en")
    finally:
        w.kept = saved
    return fast, slow


def _same(fast: dict[str, Any], slow: dict[str, Any]) -> bool:
    if "series" in slow:  # equal counts may come in either order
        return sorted(map(str, fast["series"])) == sorted(map(str, slow["series"]))
    return fast == slow


def test_kept_counts_equal_the_query_through_random_writes(world: World, frozen_clock: dt.datetime,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    rt = world.rt
    board = rt.apps["outsourcing"].sections["dashboards"]["board"]
    planned = [w for w in board.widgets if w.kept is not None]
    cards = [w for w in board.widgets if w.type == "board"]
    assert inmerge.split(cards[0].filter, rt.tables.for_entity(cards[0].entity)) == ("state", ["shipped", "processing"])
    # every count/avg tile and chart of the shipped board is kept; the board of cards is not a count
    assert [w.type for w in planned] == ["number", "number", "number", "number", "bar", "pie"]
    names = {w.kept.spec.name for w in planned}
    assert len(names) == 4  # state; state + expected_return; updated_at day + actual_return; state + partner
    with rt.db.read() as conn:
        assert names <= set(inspect(conn).get_table_names())
    assert rt.migration_plan() == []  # created by migrate, nothing left to do
    ent = rt.entity("outsourcing", "batch")
    table = rt.tables.for_entity(ent)
    rnd = random.Random(14)
    today = frozen_clock.date()
    ids: list[int] = []
    partners = list(world.partners.values())

    def check(when: str) -> None:
        for actor in (SYSTEM, world.rt.users.actor_for("pa"), world.rt.users.actor_for("qc")):
            for w in planned:
                fast, slow = _both(rt, actor, w)
                assert _same(fast, slow), (when, w.title, fast, slow)
            merged = dashboards.compute_widget(rt, actor, cards[0], "en")  # one index range per state, merged
            with monkeypatch.context() as m:
                m.setattr(inmerge, "split", lambda *a: None)
                assert merged == dashboards.compute_widget(rt, actor, cards[0], "en"), when

    check("empty")
    for round_ in range(4):
        for _ in range(12):  # creates, through the API (the write path every client uses)
            ship = today - dt.timedelta(days=rnd.randint(0, 40))
            body = batch_body(rnd.choice(partners), ship_date=ship.isoformat(),
                              expected_return=(ship + dt.timedelta(days=rnd.randint(0, 20))).isoformat())
            r = world.admin.post("/api/outsourcing/batch", body)
            assert r.status_code == 201, r.get_json()
            ids.append(r.get_json()["id"])
        for rid in rnd.sample(ids, min(len(ids), 10)):  # transitions and updates
            rec = world.admin.get(f"/api/outsourcing/batch/{rid}").get_json()
            step = {"shipped": ("start", {}), "processing": ("return", {"returned_qty": 90}),
                    "awaiting_qc": ("inspect", {"qc_result": "pass"})}.get(rec["state"])
            if step is None:
                continue
            if step[1]:
                world.admin.patch(f"/api/outsourcing/batch/{rid}?version={rec['version']}", step[1])
                rec = world.admin.get(f"/api/outsourcing/batch/{rid}").get_json()
            r = world.admin.post(f"/api/outsourcing/batch/{rid}/transitions/{step[0]}?version={rec['version']}")
            assert r.status_code == 200, r.get_json()
        with rt.db.write() as conn:  # writes outside the API (an import, a sync, a fix by hand) are kept too
            for rid in rnd.sample(ids, 6):
                hours = rnd.choice([-721, -720, -719, -700, -740, -1, 0]) * 3600 + rnd.randint(-3000, 3000)
                conn.execute(update(table).where(table.c.id == rid).values(
                    updated_at=frozen_clock + dt.timedelta(seconds=hours),
                    actual_return=rnd.choice([None, frozen_clock - dt.timedelta(days=rnd.randint(0, 50))]),
                    partner=rnd.choice(partners)))
        victim = ids.pop(rnd.randrange(len(ids)))
        r = world.admin.delete(f"/api/outsourcing/batch/{victim}")
        assert r.status_code in (200, 204), r.get_json()
        check(f"round {round_}")
    with rt.db.write() as conn:
        assert all(drift == 0 for _, drift in kept.rebuild(conn, rt.tables, check_only=True))
        spec = planned[0].kept.spec
        conn.execute(text(f"UPDATE {spec.name} SET n = n + 5"))  # drift, as if a trigger had been lost
        assert any(drift > 0 for _, drift in kept.rebuild(conn, rt.tables, check_only=True))
        kept.rebuild(conn, rt.tables)
        assert all(drift == 0 for _, drift in kept.rebuild(conn, rt.tables, check_only=True))
    check("rebuilt")
