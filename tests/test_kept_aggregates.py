"""Kept aggregates (runtime/kept.py): dashboard counts kept by triggers equal the per-request query, always."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from sqlalchemy import inspect, text, update

from runtime import clock, inmerge, kept, keptstore
from runtime.auth import SYSTEM
from ui import dashboards

from .conftest import World, batch_body


def _both(rt: Any, actor: Any, w: Any) -> tuple[Any, Any]:
    """(kept answer, per-request query answer) of one widget."""
    with rt.db.read() as conn:  # the kept path itself answers (no fallback hides an error)
        kept.answer(conn, rt.tables, rt.sql, w.kept, rt.sql.user_params(w.entity.scope, actor.context()))
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
        assert all(drift == 0 for _, drift in keptstore.rebuild(conn, rt.tables, check_only=True))
        spec = planned[0].kept.spec
        conn.execute(text(f"UPDATE {spec.name} SET n = n + 5"))  # drift, as if a trigger had been lost
        assert any(drift > 0 for _, drift in keptstore.rebuild(conn, rt.tables, check_only=True))
        keptstore.rebuild(conn, rt.tables)
        assert all(drift == 0 for _, drift in keptstore.rebuild(conn, rt.tables, check_only=True))
    check("rebuilt")


JOBS = """
app: jobs
title: 作业 | Jobs
roles: [clerk]
entities:
  owner:
    title: 负责人 | Owner
    fields:
      name: {type: text, label: 名称 | Name}
  job:
    title: 作业 | Job
    fields:
      kind: {type: select, label: 类型 | Kind, options: [a: 甲 | A, b: 乙 | B, c: 丙 | C]}
      qty: {type: integer, label: 数量 | Qty}
      cost: {type: decimal, scale: 2, label: 费用 | Cost}
      due: {type: date, label: 到期 | Due}
      done_at: {type: datetime, label: 完成 | Done}
      owner: {type: link, to: owner, label: 负责人 | Owner}
dashboards:
  d:
    widgets:
      - {type: number, entity: job, filter: "kind == 'a' or done_at >= add_hours(now(), -48)", value: {sum: cost}}
      - {type: line, entity: job, filter: "done_at is None", group_by: due}
      - type: bar
        entity: job
        group_by: kind
        filter: "not (done_at < add_hours(now(), -96)) and done_at < add_hours(now(), -24) or due > today()"
        value: {avg: qty}
      - {type: pie, entity: job, group_by: owner, filter: "qty > 3 and due <= add_days(today(), 2)", value: {sum: qty}}
      - {type: number, entity: job, filter: "owner.name == 'x'"}
      - {type: number, entity: job, value: {max: qty}}
      - {type: number, entity: job, filter: "days_between(done_at, now()) > 2"}
"""


def test_kept_filters_of_every_shape_as_the_clock_moves(make_runtime: Any, frozen_clock: dt.datetime) -> None:
    """Sums, averages, a date group, ranges on one date-time (``or``, ``not``, two bounds), emptiness, a link
    group; bulk creates, updates, deletes and raw SQL; then the clock moves and the boundaries with it."""
    rt = make_runtime(texts={"jobs.yaml": JOBS})
    widgets = rt.apps["jobs"].sections["dashboards"]["d"].widgets
    assert [w.kept is not None for w in widgets] == [True] * 4 + [False] * 3  # a link followed, max, a function
    ent, owner = rt.entity("jobs", "job"), rt.entity("jobs", "owner")
    rnd = random.Random(23)
    now = frozen_clock
    owners = [rt.records.create(SYSTEM, owner, {"name": n})["id"] for n in ("x", "y", "z")]

    def item() -> dict[str, Any]:
        done = now + dt.timedelta(hours=rnd.choice([-97, -96, -95, -49, -48, -47, -25, -24, -23, 0]),
                                  seconds=rnd.randint(-4000, 4000))
        return {"kind": rnd.choice(["a", "b", "c", None]), "qty": rnd.choice([None, *range(8)]),
                "cost": str(rnd.randint(0, 999) / 100), "owner": rnd.choice([None, *owners]),
                "due": (now.date() + dt.timedelta(days=rnd.randint(-3, 4))).isoformat(),
                "done_at": rnd.choice([None, done.isoformat(sep=" ")])}

    with rt.db.write() as conn:
        ids = rt.records.create_many(SYSTEM, ent, [item() for _ in range(60)], conn)
    table = rt.tables.for_entity(ent)
    for rid in ids[:20]:
        rt.records.update(SYSTEM, ent, rid, {k: v for k, v in item().items() if rnd.random() < 0.5}, None)
    for rid in ids[20:26]:
        rt.records.delete(SYSTEM, ent, rid)
    with rt.db.write() as conn:
        conn.execute(update(table).where(table.c.id.in_(ids[30:40])).values(done_at=now - dt.timedelta(hours=24)))
    for hours in (0, 1, 5, 23, 24, 25, 47, 72, 100):
        with clock.frozen(now + dt.timedelta(hours=hours, minutes=17)):
            for w in widgets[:4]:
                fast, slow = _both(rt, SYSTEM, w)
                assert _same(fast, slow), (hours, w.type, fast, slow)


def test_kept_tables_no_widget_asks_for_are_dropped_with_their_triggers(make_runtime: Any) -> None:
    rt = make_runtime(texts={"jobs.yaml": JOBS})
    names = {w.kept.spec.name for w in rt.apps["jobs"].sections["dashboards"]["d"].widgets if w.kept is not None}
    fewer = JOBS.split("      - {type: line")[0] + "      - {type: number, entity: job, value: {max: qty}}\n"
    rt2 = make_runtime(texts={"jobs.yaml": fewer}, migrate=False)
    steps = rt2.migration_plan()
    kept_name = next(w.kept.spec.name for w in rt.apps["jobs"].sections["dashboards"]["d"].widgets[:1])
    dropped = sorted(s.table for s in steps if s.kind == "drop_kept")
    assert dropped == sorted(names - {kept_name}) and not any(s.kind == "create_kept" for s in steps), steps
    rt2.migrate()
    with rt2.db.read() as conn:
        assert {n for n in inspect(conn).get_table_names() if n.startswith("jig_kept_")} == {kept_name}
    rt2.records.create(SYSTEM, rt2.entity("jobs", "job"), {"kind": "a", "cost": "1.50"})  # no trigger left behind
    with rt2.db.write() as conn:
        assert keptstore.rebuild(conn, rt2.tables, check_only=True) == [(kept_name, 0)]
