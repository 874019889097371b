"""Demo data for 外发加工跟踪: three partner factories and a month of batches — returned and inspected,
at the partner on time, due today or tomorrow, and overdue."""

from __future__ import annotations

import datetime as dt

from .base import Factory, day

APP = "outsourcing"
PARTNERS = (  # name, contact, phone, address, processes, rating
    ("华新电镀", "陈经理", "13800001111", "宁波市北仑区小港街道纬五路 18 号", ["plating", "anodizing"], "good"),
    ("永盛喷涂", "刘师傅", "13900002222", "宁波市鄞州区姜山镇工业园 6 号", ["painting", "polishing"], "excellent"),
    ("精工热处理", "周厂长", "13700003333", "慈溪市周巷镇兴业路 99 号", ["heat_treatment"], "fair"),
)
CUSTOMERS = ("宁波精密机械", "苏州恒力汽配", "绍兴华美五金", "无锡远东电机", "杭州中泰机电", "温州瑞丰阀门")
PRODUCTS = ("FG-1001", "FG-1002", "SF-2001", "SF-2002", "SF-2003", "FG-1005", "SF-2006", "FG-1006")
TURNAROUND = {"plating": 5, "anodizing": 6, "painting": 4, "polishing": 3, "heat_treatment": 3}


def partners(f: Factory) -> list[int]:
    """The partner factories (created on the first run); their ids, in the order above."""
    existing = f.rows(APP, "partner")
    if existing:
        return [p["id"] for p in existing]
    return [f.create("planner", APP, "partner", {
        "name": name, "contact": contact, "phone": phone, "address": address, "process": proc, "rating": rating,
    }, f.at(45, 9))["id"] for name, contact, phone, address, proc, rating in PARTNERS]


def batches(f: Factory, partner_ids: list[int]) -> None:
    """About forty batches shipped over the last month; where each one is now follows from its dates."""
    rng = f.rng
    for n in range(40):
        p = n % 3
        process = rng.choice(PARTNERS[p][4])
        shipped_days_ago = 30 - n * 0.75 + rng.uniform(-0.3, 0.3)
        ship = f.at(shipped_days_ago, 8.5 + rng.random() * 2)
        expected = ship.date() + dt.timedelta(days=TURNAROUND[process])
        qty = rng.choice((100, 150, 200, 300, 500, 800, 1000, 1200, 2000))
        b = f.create("planner", APP, "batch", {
            "customer": rng.choice(CUSTOMERS), "product_no": rng.choice(PRODUCTS), "quantity": qty,
            "partner": partner_ids[p], "process": process, "ship_date": day(ship),
            "expected_return": expected.isoformat(),
            "remark": rng.choice(("", "", "加急，请优先安排", "注意螺纹孔保护", "客户指定色号 RAL7035")),
        }, ship)
        late_by = rng.choice((-1, 0, 0, 1, 2, 4)) if p == 2 else rng.choice((-1, 0, 0, 0, 1))
        started = ship + dt.timedelta(hours=rng.uniform(3, 20))
        back = dt.datetime.combine(expected, dt.time(14)) + dt.timedelta(days=late_by, hours=rng.uniform(-4, 3))
        if started >= f.now or n >= 37:
            continue  # still 已发货 (the newest are on the truck)
        at_partner = "partner" if p == 0 else "planner"  # 华新电镀 updates its own batches
        b = f.move(at_partner, APP, "batch", b, "start", started)
        # the newest few and some overdue ones are still out (at the partner)
        if back >= f.now or (p == 2 and n >= 28):
            continue
        returned = qty - rng.choice((0, 0, 0, 2, 5))
        b = f.move(at_partner, APP, "batch", b, "return", back, {"returned_qty": returned})
        inspected = back + dt.timedelta(hours=rng.uniform(2, 40))  # QC gets to it within two days
        if inspected >= f.now:
            continue  # 待质检
        if rng.random() < 0.12:
            b = f.move("qc", APP, "batch", b, "rework", inspected, {"qc_result": "rework"})
            if inspected + dt.timedelta(days=2) >= f.now:
                continue
            b = f.move("planner", APP, "batch", b, "return", inspected + dt.timedelta(days=2), {"returned_qty": returned})
            inspected += dt.timedelta(days=2, hours=4)
        result = "reject" if rng.random() < 0.05 else "pass"
        f.move("qc", APP, "batch", b, "inspect", inspected, {"qc_result": result})
