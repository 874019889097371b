"""Demo data for 生产工单跟踪: master data, then fifty sales orders over the last month, each released
order exploded by the app's own rule into work orders and operations, which the shop floor then
works through as time passes: older orders completed, current ones in production (some operations
late, paused or stopped with a problem), the newest released or still drafts, a few closed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from . import catalog
from .base import Factory, day

APP = "work_order_tracking"
WORKERS = ("worker", "worker2", "worker3")
ORDERS = 50
SPREAD = 21.0  # days of orders: the oldest third is delivered, the newest still drafts or released


def master_data(f: Factory) -> None:
    at = f.at(60, 9)
    for code, name, contact, phone, address in catalog.CUSTOMERS:
        f.create("planner", APP, "customer", {"code": code, "name": name, "contact": contact, "phone": phone,
                                              "address": address}, at)
    ids = {}
    for code, name, spec, unit, kind in catalog.ITEMS:
        ids[code] = f.create("planner", APP, "product", {"code": code, "name": name, "spec": spec, "unit": unit,
                                                          "kind": kind}, at)["id"]
    boms: dict[str, int] = {}
    for product, lines in catalog.BOMS.items():  # lowest level first: a line's sub-BOM exists already
        rows = [{"item": ids[item], "qty": qty, "unit": unit, "sub_bom": boms.get(item),
                 "scrap_rate": "1.5" if unit == "kg" else None} for item, qty, unit in lines]
        boms[product] = f.create("planner", APP, "bom", {"product": ids[product], "revision": "V1.0",
                                                         "quantity": 1, "is_default": True, "lines": rows}, at)["id"]
    for product, steps in catalog.ROUTINGS.items():
        f.create("planner", APP, "routing", {
            "product": ids[product], "name": f"{product} 标准工艺",
            "steps": [{"seq": (i + 1) * 10, "operation": op, "workstation": ws, "minutes": mins,
                       "setup_minutes": setup} for i, (op, ws, mins, setup) in enumerate(steps)]}, at)


def orders(f: Factory) -> None:
    rng = f.rng
    customers = [c["id"] for c in f.rows(APP, "customer")]
    products = {p["code"]: p["id"] for p in f.rows(APP, "product")}
    codes = {v: k for k, v in products.items()}
    finished = [c for c, *_ in catalog.ITEMS if c.startswith("FG")]
    for n in range(ORDERS):
        ordered = f.at(SPREAD - n * SPREAD / ORDERS, 9 + rng.random() * 7) if n < ORDERS - 1 else f.at(0.05)
        delivery = ordered.date() + dt.timedelta(days=rng.randint(9, 16))
        lines = [{"product": products[p], "qty": rng.choice((50, 80, 100, 120, 200, 300, 500))}
                 for p in rng.sample(finished, 2 if rng.random() < 0.1 else 1)]
        so = f.create("planner", APP, "sales_order", {
            "erp_no": f"XSDD{ordered:%Y%m%d}{n:03d}", "customer": rng.choice(customers), "order_date": day(ordered),
            "delivery_date": delivery.isoformat(), "lines": lines,
            "remark": rng.choice(("", "", "客户要求分两批交货", "包装按客户标准，每箱 20 件", "加急订单"))}, ordered)
        if n in (7, 19, 46):  # cancelled by the customer before release
            f.move("planner", APP, "sales_order", so, "close", ordered + dt.timedelta(days=1))
            continue
        released = ordered + dt.timedelta(hours=rng.uniform(3, 20))
        if n >= ORDERS - 5 or released >= f.now:
            continue  # draft
        so = f.move("planner", APP, "sales_order", so, "release", released)  # the rule explodes the BOM
        slow = rng.random() < 0.3
        ends = [_work_order(f, wo, codes, released, delivery, slow)
                for wo in sorted(f.rows(APP, "work_order", sales_order=so["id"]),
                                 key=lambda w: -catalog.level(codes[w["product"]]))]
        starts = [s for s, _ in ends if s is not None]
        if not starts:
            continue  # released
        so = f.move("supervisor", APP, "sales_order", so, "start_production", min(starts))
        if all(e is not None for _, e in ends):
            f.move("planner", APP, "sales_order", so, "complete", max(e for _, e in ends) + dt.timedelta(hours=3))


def _work_order(f: Factory, wo: dict[str, Any], codes: dict[int, str], released: dt.datetime,
                delivery: dt.date, slow: bool) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Plan, release and work one work order; returns when it started and ended (None: not yet)."""
    rng = f.rng
    lvl = catalog.level(codes[wo["product"]])
    window_start = released + dt.timedelta(days=2)  # material is bought and cut first
    window_end = dt.datetime.combine(delivery, dt.time(17)) - dt.timedelta(days=1)
    span = (window_end - window_start) / 3
    start = (window_start + span * (3 - lvl)).replace(hour=8, minute=0, second=0)
    end = (start + span).replace(minute=0, second=0)
    wo = f.update("planner", APP, "work_order", wo, {
        "planned_start": start.isoformat(), "planned_end": end.isoformat(),
        "priority": rng.choice(("normal", "normal", "high", "urgent", "low"))}, released + dt.timedelta(hours=1))
    release_at = max(released + dt.timedelta(hours=2), start - dt.timedelta(days=1))
    if release_at >= f.now:
        return None, None  # planned: released to the shop the day before it starts
    wo = f.move("planner", APP, "work_order", wo, "release", release_at)
    ops = sorted(f.rows(APP, "operation", work_order=wo["id"]), key=lambda o: o["seq"] or 0)
    step = (end - start) / max(len(ops), 1)
    t = start + dt.timedelta(hours=rng.uniform(-2, 3))
    first = last = None
    for i, op in enumerate(ops):
        if i and first is not None and i == len(ops) - 1:
            # the last step is reached: the supervisor books what has come off the line so far
            f.update("supervisor", APP, "work_order", f.fresh(APP, "work_order", wo["id"]), {
                "produced_qty": str((Decimal(str(wo["qty"])) * Decimal(rng.choice((2, 4, 5, 7))) / 10).quantize(
                    Decimal("1")))}, min(t, f.now))
        p_start, p_end = start + step * i, start + step * (i + 1)
        t = max(t, p_start + dt.timedelta(hours=rng.uniform(-1, 4)))
        took = (p_end - p_start) * rng.uniform(0.6, 1.1) * (1.8 if slow else 1)
        if t + took >= f.now:  # not done yet: from here on the planner's times show (late or not)
            for j, rest in enumerate(ops[i:], start=i):
                updated = f.update("planner", APP, "operation", rest, {
                    "planned_start": (start + step * j).isoformat(),
                    "planned_end": (start + step * (j + 1)).isoformat()}, release_at)
                op = updated if j == i else op
        if t >= f.now:
            return first, None
        who = WORKERS[(wo["id"] + i) % len(WORKERS)]
        op = f.move(who, APP, "operation", op, "start", t)
        if first is None:
            first = t
            wo = f.move("supervisor", APP, "work_order", f.fresh(APP, "work_order", wo["id"]), "start", t)
        if t + took >= f.now:  # at work now: some stopped with a problem or paused
            roll = (wo["id"] * 7 + i) % 10  # about one in four stopped with a problem, one in ten paused
            if roll < 3:
                f.move(who, APP, "operation", op, "report_abnormal", t + took / 3, {
                    "abnormal_reason": rng.choice(("material_shortage", "equipment_failure", "quality_issue")),
                    "note": rng.choice(("来料尺寸超差，等待质检判定", "设备报警停机，已报修", "原材料未到，等采购"))})
            elif roll < 4:
                f.move(who, APP, "operation", op, "pause", t + took / 4)
            return first, None
        planned = Decimal(str(op["planned_qty"] or wo["qty"]))
        defects = Decimal(rng.choice((0, 0, 0, 1, 2, 3)))
        t = t + took
        f.move(who, APP, "operation", op, "finish", t, {"good_qty": str(planned - defects),
                                                      "defect_qty": str(defects)})
        last = t
    if first is None or last is None:
        return first, None
    qty = Decimal(str(wo["qty"]))
    short = Decimal(rng.choice((0, 0, 0, 0, 2, 5)))
    f.move("supervisor", APP, "work_order", f.fresh(APP, "work_order", wo["id"]), "complete",
           last + dt.timedelta(minutes=30), {"produced_qty": str(qty - short), "scrap_qty": str(short)})
    return first, last
