"""The rules shipped in the three apps, end to end on the embedded backend."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from rules.service import rules_of
from runtime import clock, workflow
from runtime.auth import SYSTEM

NOW = dt.datetime(2026, 11, 20, 10, 0, 0)


def _rows(rt: Any, key: str) -> list[dict[str, Any]]:
    t = rt.tables[key]
    with rt.db.read() as conn:
        return [dict(r) for r in conn.execute(select(t).order_by(t.c.id)).mappings()]


def _run(rt: Any, at: dt.datetime) -> None:
    with clock.frozen(at):
        rules_of(rt).jobs.run_once()


def test_released_order_line_explodes_through_a_multi_level_bom(make_runtime: Any) -> None:
    rt = make_runtime(extensions=True)
    app = "work_order_tracking"
    E = lambda n: rt.entity(app, n)  # noqa: E731
    with clock.frozen(NOW):
        cust = rt.records.create(SYSTEM, E("customer"), {"code": "C1", "name": "宁波精密"})["id"]
        fg = rt.records.create(SYSTEM, E("product"), {"code": "FG", "name": "支架总成", "kind": "finished"})["id"]
        sf = rt.records.create(SYSTEM, E("product"), {"code": "SF", "name": "焊接件", "kind": "semi"})["id"]
        sf2 = rt.records.create(SYSTEM, E("product"), {"code": "SF2", "name": "冲压件", "kind": "semi"})["id"]
        raw = rt.records.create(SYSTEM, E("product"), {"code": "RM", "name": "钢板", "kind": "raw"})["id"]
        # level 3: SF2 is stamped from steel; level 2: SF is welded from 3 SF2 per 2 pieces; FG needs 2 SF
        b3 = rt.records.create(SYSTEM, E("bom"), {"product": sf2, "is_default": True,
                                                  "lines": [{"item": raw, "qty": "0.5"}]})["id"]
        b2 = rt.records.create(SYSTEM, E("bom"), {"product": sf, "quantity": 2, "is_default": True,
                                                  "lines": [{"item": sf2, "qty": 3, "sub_bom": b3},
                                                            {"item": raw, "qty": 1}]})["id"]
        rt.records.create(SYSTEM, E("bom"), {"product": fg, "is_default": True,
                                             "lines": [{"item": sf, "qty": 2, "sub_bom": b2}]})
        rt.records.create(SYSTEM, E("routing"), {"product": fg, "name": "总装", "steps": [
            {"seq": 10, "operation": "装配", "workstation": "A1"}, {"seq": 20, "operation": "检验"}]})
        rt.records.create(SYSTEM, E("routing"), {"product": sf, "name": "焊接", "steps": [
            {"seq": 10, "operation": "焊接", "workstation": "W2"}]})
        so = rt.records.create(SYSTEM, E("sales_order"), {
            "customer": cust, "delivery_date": "2026-12-01",
            "lines": [{"product": fg, "qty": 10}]})
        workflow.take(rt.records, SYSTEM, E("sales_order"), so["id"], "release")
    orders = _rows(rt, f"{app}.work_order")
    by_product = {o["product"]: o for o in orders}
    assert set(by_product) == {fg, sf, sf2}  # raw material gets no work order
    assert by_product[fg]["qty"] == Decimal("10.00")
    assert by_product[sf]["qty"] == Decimal("20.00")     # 10 × 2
    assert by_product[sf2]["qty"] == Decimal("30.00")    # 20 × 3 ÷ 2
    assert all(o["sales_order"] == so["id"] for o in orders)
    ops = _rows(rt, f"{app}.operation")
    assert [(o["work_order"], o["seq"], o["name"]) for o in ops] == [
        (by_product[fg]["id"], 10, "装配"), (by_product[fg]["id"], 20, "检验"), (by_product[sf]["id"], 10, "焊接")]
    assert ops[0]["planned_qty"] == Decimal("10.00") and ops[2]["planned_qty"] == Decimal("20.00")
    hist = rt.records.history(SYSTEM, E("work_order"), by_product[fg]["id"])
    assert hist[0]["via"] == "rule"


def test_operation_two_hours_late_alerts_once(make_runtime: Any) -> None:
    rt = make_runtime(extensions=True)
    app = "work_order_tracking"
    E = lambda n: rt.entity(app, n)  # noqa: E731
    rt.users.add("sup", "pw-123456", ["supervisor"], phone="13600000001")
    rt.users.add("pmc", "pw-123456", ["planner"], phone="13600000002")
    with clock.frozen(NOW):
        p = rt.records.create(SYSTEM, E("product"), {"code": "FG", "name": "支架", "kind": "finished"})["id"]
        wo = rt.records.create(SYSTEM, E("work_order"), {"product": p, "qty": 5})
        late = rt.records.create(SYSTEM, E("operation"), {"work_order": wo["id"], "seq": 10, "name": "焊接",
                                                          "planned_end": "2026-11-20T07:30:00+08:00"})
        rt.records.create(SYSTEM, E("operation"), {"work_order": wo["id"], "seq": 20, "name": "装配",
                                                   "planned_end": "2026-11-20T09:00:00+08:00"})
    _run(rt, NOW)
    log = rt.tables.system["jig_sms_log"]
    with rt.db.read() as conn:
        sms = [dict(r) for r in conn.execute(select(log).order_by(log.c.to)).mappings()]
    assert [s["to"] for s in sms] == ["13600000001", "13600000002"]
    assert "工序“焊接”已超计划完工 2 小时" in sms[0]["text"]
    assert rt.notifications.unread_count("sup") == 1
    _run(rt, NOW + dt.timedelta(minutes=10))  # still late, already alerted
    _run(rt, NOW + dt.timedelta(hours=1))     # now the second operation is late too
    with rt.db.read() as conn:
        assert conn.execute(select(log.c.id)).all().__len__() == 4
    assert rt.notifications.unread_count("sup") == 2
    del late


def test_meter_readings_open_maintenance_tasks_and_finishing_rolls_the_plan(make_runtime: Any) -> None:
    rt = make_runtime(extensions=True)
    app = "maintenance"
    E = lambda n: rt.entity(app, n)  # noqa: E731
    rt.users.add("wx", "pw-123456", ["maintainer"])
    with clock.frozen(NOW):
        eq = rt.records.create(SYSTEM, E("equipment"), {"code": "CMP-1", "name": "空压机"})["id"]
        plan = rt.records.create(SYSTEM, E("maintenance_plan"), {
            "equipment": eq, "name": "更换滤芯", "kind": "by_hours", "interval_hours": 720, "last_done_hours": 100})
        cal = rt.records.create(SYSTEM, E("maintenance_plan"), {
            "equipment": eq, "name": "月度点检", "kind": "by_days", "interval_days": 30, "next_due_date": "2026-11-25"})
        rt.records.create(SYSTEM, E("meter_reading"), {"equipment": eq, "reading": 500})
    assert rt.records.get(SYSTEM, E("equipment"), eq)["run_hours"] == "500.0"
    _run(rt, NOW)
    assert _rows(rt, f"{app}.maintenance_task") == []
    with clock.frozen(NOW + dt.timedelta(hours=1)):
        rt.records.create(SYSTEM, E("meter_reading"), {"equipment": eq, "reading": 820})  # 720 h since 100
    _run(rt, NOW + dt.timedelta(hours=1))
    _run(rt, NOW + dt.timedelta(hours=2))
    tasks = _rows(rt, f"{app}.maintenance_task")
    assert [(t["plan"], t["state"]) for t in tasks] == [(plan["id"], "open")]
    assert rt.notifications.unread_count("wx") == 1
    task = rt.entity(app, "maintenance_task")
    with clock.frozen(NOW + dt.timedelta(hours=3)):
        workflow.take(rt.records, SYSTEM, task, tasks[0]["id"], "start")
        workflow.take(rt.records, SYSTEM, task, tasks[0]["id"], "finish",
                      {"result": "已更换", "run_hours_at_done": 820})
    assert rt.records.get(SYSTEM, E("maintenance_plan"), plan["id"])["last_done_hours"] == "820.0"
    _run(rt, NOW + dt.timedelta(hours=4))
    assert len(_rows(rt, f"{app}.maintenance_task")) == 1  # rolled forward: not due again until 1540 h
    _run(rt, dt.datetime(2026, 11, 25, 9, 0))  # the calendar plan falls due
    tasks = _rows(rt, f"{app}.maintenance_task")
    assert [t["plan"] for t in tasks] == [plan["id"], cal["id"]]
    assert tasks[1]["due_date"] == dt.date(2026, 11, 25)
