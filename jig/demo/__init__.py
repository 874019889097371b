"""Demo data: an account for every role of the shipped apps and a realistic month of a small factory.

``prepare(rt, factory=True)`` (what ``jig demo`` runs) generates, through the product's own paths and seeded
(``random.Random(2026)``, the same every time relative to today): partner factories and their batches,
three-level BOMs and routings, fifty sales orders exploded into work orders and operations worked by
the shop floor, a dozen machines with meter readings, maintenance plans, tasks and repairs.
``prepare(rt)`` creates only the accounts and a handful of records (fast, for tests).
Idempotent: an app that has data already is left as it is, accounts that exist are kept.
"""

from __future__ import annotations

import datetime as dt
import logging
import random

from runtime import clock
from runtime.auth import SYSTEM
from runtime.core import Runtime

from . import maintenance, outsourcing, production
from .base import DEMO_PASSWORD, SEED, Factory, Person, has_rows

__all__ = ["DEMO_PASSWORD", "PEOPLE", "prepare"]
log = logging.getLogger("jig.demo")

PEOPLE = (  # every role of the shipped apps has an account; "partner" gets its factory below
    Person("admin", ("admin",), "管理员"),
    Person("manager", ("manager",), "生产经理 孙志强"),
    Person("planner", ("planner",), "计划员 王芳"),
    Person("supervisor", ("supervisor",), "车间主管 周海"),
    Person("worker", ("operator",), "操作工 张伟"),
    Person("worker2", ("operator",), "操作工 李娜"),
    Person("worker3", ("operator",), "操作工 王磊"),
    Person("qc", ("qc",), "质检员 李强"),
    Person("maint", ("maintainer",), "维修工 赵刚"),
    Person("partner", ("partner",), "华新电镀 陈经理"),
)


def prepare(rt: Runtime, *, factory: bool = False) -> list[tuple[str, str, list[str]]]:
    """Create the demo accounts and data; return (username, password, roles) for the logins shown."""
    apps = set(rt.apps)
    people = [p for p in PEOPLE if p.username != "partner" or "outsourcing" in apps]
    for p in people:
        if rt.users.get(p.username) is None and p.username != "partner":
            rt.users.add(p.username, DEMO_PASSWORD, list(p.roles), display_name=p.display)
    actors = {p.username: rt.users.actor_for(p.username, via="web") for p in people if p.username != "partner"}
    actors["admin"] = SYSTEM.using("system")
    partner_ids: list[int] = []
    if "outsourcing" in apps:
        with rt.db.write() as conn:
            partner_ids = outsourcing.partners(Factory(rt, conn, random.Random(SEED), _as_of(), actors))  # type: ignore[arg-type]
        if rt.users.get("partner") is None:
            rt.users.add("partner", DEMO_PASSWORD, ["partner"], display_name="华新电镀 陈经理",
                         attributes={"partner": partner_ids[0]})
        actors["partner"] = rt.users.actor_for("partner", via="web")
    builders = [("outsourcing", "batch", lambda f: outsourcing.batches(f, partner_ids)),
                ("work_order_tracking", "customer", _production),
                ("maintenance", "equipment", _maintenance)]
    for app, entity, build in builders:
        if app not in apps or has_rows(rt, app, entity):
            continue
        with rt.db.write() as conn:  # one app at a time, all or nothing
            f = Factory(rt=rt, conn=conn, rng=random.Random(f"{SEED}:{app}"), now=_as_of(),
                        actors=actors)  # type: ignore[arg-type]
            if factory:
                build(f)
            else:
                _small(f, app)
    if factory:
        _run_schedules(rt)
    return [(p.username, DEMO_PASSWORD, list(p.roles)) for p in people]


def _as_of() -> dt.datetime:
    """The moment the generated month ends: last midnight, so a run any time today makes the same data."""
    return dt.datetime.combine(clock.today(), dt.time(0))


def _production(f: Factory) -> None:
    production.master_data(f)
    production.orders(f)


def _maintenance(f: Factory) -> None:
    machines = maintenance.equipment(f)
    maintenance.plans(f, machines)
    maintenance.repairs(f, machines)


def _small(f: Factory, app: str) -> None:
    """The few records tests build on: six batches, one two-level BOM, three machines."""
    if app == "outsourcing":
        ids = [p["id"] for p in f.rows("outsourcing", "partner")]
        today = clock.today()
        for customer, product, qty, p, shipped, due in (
                ("宁波精密", "ZJ-1001", 500, 0, -6, 2), ("宁波精密", "ZJ-1002", 300, 1, -3, -1),
                ("苏州汽配", "KZ-2001", 1200, 2, -2, 5), ("苏州汽配", "KZ-2002", 800, 0, -10, -4),
                ("绍兴五金", "WJ-3001", 2000, 1, -1, 0), ("绍兴五金", "WJ-3002", 150, 2, -8, 1)):
            f.create("admin", "outsourcing", "batch", {
                "customer": customer, "product_no": product, "quantity": qty, "partner": ids[p],
                "process": ["plating", "painting", "heat_treatment"][p],
                "ship_date": (today + dt.timedelta(days=shipped)).isoformat(),
                "expected_return": (today + dt.timedelta(days=due)).isoformat()}, f.now)
    elif app == "work_order_tracking":
        a, at = "admin", f.now
        f.create(a, app, "customer", {"code": "C001", "name": "宁波精密机械有限公司"}, at)
        fg = f.create(a, app, "product", {"code": "FG-100", "name": "支架总成", "kind": "finished", "unit": "件"}, at)
        semi = f.create(a, app, "product", {"code": "SF-200", "name": "焊接支架", "kind": "semi", "unit": "件"}, at)
        raw = f.create(a, app, "product", {"code": "RM-300", "name": "冷轧钢板 2mm", "kind": "raw", "unit": "kg"}, at)
        sub = f.create(a, app, "bom", {"product": semi["id"], "lines": [{"item": raw["id"], "qty": "1.2"}]}, at)
        f.create(a, app, "bom", {"product": fg["id"], "lines": [{"item": semi["id"], "qty": 2, "sub_bom": sub["id"]}]},
                 at)
    elif app == "maintenance":
        for code, name in (("CNC-01", "数控车床 CK6150"), ("PRS-02", "冲床 J23-63"), ("CMP-03", "空压机 GA37")):
            f.create("admin", app, "equipment", {"code": code, "name": name}, f.now)


def _run_schedules(rt: Runtime) -> None:
    """Run every scheduled rule once, as the scheduler would at start: due plans get their tasks, late
    operations and overdue batches their notifications (the deliveries wait in the outbox)."""
    try:
        from rules.service import rules_of
        service = rules_of(rt)
    except (ImportError, LookupError):
        return
    for rule in service.rules:
        if getattr(rule, "schedule", None) and rule.enabled:
            report = service.engine.run_scheduled(rule, "jig-demo")
            for err in report.errors:
                log.warning("demo: rule %s: %s", rule.key, err)
