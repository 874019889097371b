"""Demo data: users for every role and a few records in each shipped app.

Idempotent: running the demo twice keeps the first run's data.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from runtime import clock
from runtime.auth import SYSTEM
from runtime.core import Runtime

DEMO_PASSWORD = "jig-demo-2026"


def prepare(rt: Runtime) -> list[tuple[str, str, list[str]]]:
    """Create demo users and sample records; return (username, password, roles) for the logins shown."""
    system = SYSTEM.using("system")
    logins: list[tuple[str, str, list[str]]] = []

    def user(name: str, roles: list[str], display: str, attrs: dict[str, Any] | None = None) -> None:
        if rt.users.get(name) is None:
            rt.users.add(name, DEMO_PASSWORD, roles, display_name=display, attributes=attrs)
        logins.append((name, DEMO_PASSWORD, roles))

    user("admin", ["admin"], "管理员")
    user("planner", ["planner", "supervisor"], "计划员 王芳")
    user("qc", ["qc"], "质检员 李强")
    user("maint", ["maintainer"], "维修工 赵刚")
    if "outsourcing" in rt.apps:
        partner_ids = _outsourcing(rt, system)
        if partner_ids:
            user("partner", ["partner"], "华新电镀 陈经理", {"partner": partner_ids[0]})
    if "work_order_tracking" in rt.apps:
        _work_orders(rt, system)
    if "maintenance" in rt.apps:
        _maintenance(rt, system)
    return logins


def _existing(rt: Runtime, app: str, entity: str) -> list[dict[str, Any]]:
    table = rt.tables[f"{app}.{entity}"]
    with rt.db.read() as conn:
        return [dict(r) for r in conn.execute(table.select().order_by(table.c.id)).mappings()]


def _outsourcing(rt: Runtime, actor: Any) -> list[int]:
    partners = _existing(rt, "outsourcing", "partner")
    if partners:
        return [p["id"] for p in partners]
    p_ent = rt.entity("outsourcing", "partner")
    b_ent = rt.entity("outsourcing", "batch")
    ids = [rt.records.create(actor, p_ent, {"name": name, "phone": phone, "process": proc})["id"]
           for name, phone, proc in (("华新电镀", "13800001111", ["plating"]),
                                     ("永盛喷涂", "13900002222", ["painting"]),
                                     ("精工热处理", "13700003333", ["heat_treatment"]))]
    today = clock.today()
    samples = [
        ("宁波精密", "ZJ-1001", 500, 0, -6, 2), ("宁波精密", "ZJ-1002", 300, 1, -3, -1),
        ("苏州汽配", "KZ-2001", 1200, 2, -2, 5), ("苏州汽配", "KZ-2002", 800, 0, -10, -4),
        ("绍兴五金", "WJ-3001", 2000, 1, -1, 0), ("绍兴五金", "WJ-3002", 150, 2, -8, 1),
    ]
    for customer, product, qty, p, shipped, due in samples:
        rt.records.create(actor, b_ent, {
            "customer": customer, "product_no": product, "quantity": qty, "partner": ids[p],
            "process": ["plating", "painting", "heat_treatment"][p],
            "ship_date": (today + dt.timedelta(days=shipped)).isoformat(),
            "expected_return": (today + dt.timedelta(days=due)).isoformat()})
    return ids


def _work_orders(rt: Runtime, actor: Any) -> None:
    if _existing(rt, "work_order_tracking", "customer"):
        return
    c = rt.records.create(actor, rt.entity("work_order_tracking", "customer"),
                          {"code": "C001", "name": "宁波精密机械有限公司"})
    prod = rt.entity("work_order_tracking", "product")
    fg = rt.records.create(actor, prod, {"code": "FG-100", "name": "支架总成", "kind": "finished", "unit": "件"})
    semi = rt.records.create(actor, prod, {"code": "SF-200", "name": "焊接支架", "kind": "semi", "unit": "件"})
    raw = rt.records.create(actor, prod, {"code": "RM-300", "name": "冷轧钢板 2mm", "kind": "raw", "unit": "kg"})
    bom = rt.entity("work_order_tracking", "bom")
    sub = rt.records.create(actor, bom, {"product": semi["id"], "lines": [{"item": raw["id"], "qty": "1.2"}]})
    rt.records.create(actor, bom, {"product": fg["id"], "lines": [{"item": semi["id"], "qty": 2,
                                                                   "sub_bom": sub["id"]}]})
    del c


def _maintenance(rt: Runtime, actor: Any) -> None:
    if _existing(rt, "maintenance", "equipment"):
        return
    eq = rt.entity("maintenance", "equipment")
    for code, name in (("CNC-01", "数控车床 CK6150"), ("PRS-02", "冲床 J23-63"), ("CMP-03", "空压机 GA37")):
        rt.records.create(actor, eq, {"code": code, "name": name})
