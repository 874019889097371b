"""``work_order_tracking.operation`` as bench/crud.py measures it: seeding and the requests.

Seeded with executemany straight into Jig's tables: 50 products, one work order per 5 operations
(naming ``MO{YYYY}{MM}-nnnnnnn``), ``rows`` operations over about two years (seq 1..6, 12 operators
``op01``..``op12`` who exist as users). Operations planned in the last ten days are open (pending / started /
paused / abnormal), older ones are done except about 3 % left open past their planned end -- what the
production board counts as late (``state in ('pending', 'started', 'paused', 'abnormal') and planned_end <
now()``). A pool of ``pool`` extra pending operations feeds the ``start`` transition.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

CHUNK = 20000
STEPS = ["下料", "车削", "铣削", "钻孔", "热处理", "磨削", "装配", "检验"]
OPEN = ["pending", "started", "paused", "abnormal"]
BASE = "/api/work_order_tracking/operation"


def _op_row(rnd: random.Random, i: int, rows: int, now: dt.datetime, orders: list[int]) -> dict[str, Any]:
    age = (rows - i) * 730 // max(rows, 1)
    start = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(days=age, hours=rnd.randint(0, 12))
    end = start + dt.timedelta(hours=rnd.randint(2, 48))
    if age < 10:
        state = rnd.choice(OPEN + ["done"])
    elif rnd.random() < 0.03:
        state = rnd.choice(OPEN)  # late
    else:
        state = "done"
    started = state != "pending"
    operator = f"op{rnd.randint(1, 12):02d}" if started or rnd.random() < 0.5 else None
    stamp = start - dt.timedelta(days=1)
    return {"state": state, "version": 1, "created_at": stamp, "created_by": "seed", "updated_at": stamp,
            "updated_by": "seed", "work_order": orders[(i // 5) % len(orders)], "seq": i % 6 + 1,
            "name": STEPS[rnd.randrange(len(STEPS))], "workstation": f"WS-{rnd.randint(1, 40):02d}",
            "operator": operator, "planned_qty": Decimal(rnd.randint(1, 500)),
            "good_qty": Decimal(rnd.randint(1, 500)) if state == "done" else None, "defect_qty": Decimal(0),
            "planned_start": start, "planned_end": end, "actual_start": start if started else None,
            "actual_end": end if state == "done" else None,
            "abnormal_reason": "material_shortage" if state == "abnormal" else None, "note": None, "photos": None}


def seed(rt: Any, rows: int, pool: int) -> dict[str, Any]:
    from sqlalchemy import func, insert, select

    from runtime import clock
    now = clock.now()
    sys_cols = {"version": 1, "created_at": now, "created_by": "seed", "updated_at": now, "updated_by": "seed"}
    for n in range(1, 13):
        rt.users.add(f"op{n:02d}", None, ["operator"])
    product_t = rt.tables["work_order_tracking.product"]
    wo_t = rt.tables["work_order_tracking.work_order"]
    op_t = rt.tables["work_order_tracking.operation"]
    n_orders = max(rows // 5, 1)
    with rt.db.write() as conn:
        conn.execute(insert(product_t), [{"code": f"FG-{i:04d}", "name": f"产品{i}", "kind": "finished", "unit": "件",
                                          **sys_cols} for i in range(1, 51)])
        products = [r[0] for r in conn.execute(select(product_t.c.id))]
        for start in range(0, n_orders, CHUNK):
            conn.execute(insert(wo_t), [{"name": f"MO{now:%Y%m}-{i:07d}", "state": "in_progress",
                                         "product": products[i % len(products)], "qty": Decimal(500),
                                         "produced_qty": Decimal(0), "scrap_qty": Decimal(0), "priority": "normal",
                                         **sys_cols} for i in range(start, min(n_orders, start + CHUNK))])
        orders = [r[0] for r in conn.execute(select(wo_t.c.id).order_by(wo_t.c.id))]
    rnd = random.Random(11)
    done = 0
    while done < rows:
        part = [_op_row(rnd, i, rows, now, orders) for i in range(done, min(rows, done + CHUNK))]
        with rt.db.write() as conn:
            conn.execute(insert(op_t), part)
        done += len(part)
    stamp = now - dt.timedelta(days=400)
    with rt.db.write() as conn:
        for start in range(0, pool, CHUNK):
            conn.execute(insert(op_t), [{**_op_row(rnd, rows, rows, now, orders), "state": "pending",
                                         "operator": None, "actual_start": None, "actual_end": None,
                                         "good_qty": None, "abnormal_reason": None, "workstation": "POOL",
                                         "created_at": stamp, "updated_at": stamp}
                                        for _ in range(start, min(pool, start + CHUNK))])
        first, last = conn.execute(select(func.min(op_t.c.id), func.max(op_t.c.id))
                                   .where(op_t.c.workstation != "POOL")).one()
        pf, pl = conn.execute(select(func.min(op_t.c.id), func.max(op_t.c.id))
                              .where(op_t.c.workstation == "POOL")).one()
    return {"first_id": int(first), "last_id": int(last), "orders": orders[:50],
            "pool": [int(pf), int(pl)] if pool else [0, -1], "op_table": op_t.name, "wo_table": wo_t.name,
            "users_table": rt.tables.system["jig_users"].name}


def list_shapes(now: dt.datetime) -> dict[str, str]:
    return {
        "list state": "state=started&limit=20",
        "list operator+state": "operator=op03&state=started&limit=20",
        "list late": f"state__in={','.join(OPEN)}&planned_end__lt={now.replace(microsecond=0, tzinfo=None).isoformat()}&limit=20",
        "list search": "q=WS-07&limit=20",
    }


def create_body(cfg: dict[str, Any], rnd: random.Random, now: dt.datetime) -> dict[str, Any]:
    start = (now + dt.timedelta(days=1)).replace(microsecond=0, tzinfo=None)
    return {"work_order": cfg["orders"][rnd.randrange(len(cfg["orders"]))], "seq": rnd.randint(1, 6),
            "name": "车削", "workstation": f"WS-{rnd.randint(1, 40):02d}", "planned_qty": "120.50",
            "planned_start": start.isoformat(), "planned_end": (start + dt.timedelta(hours=8)).isoformat()}


def makers(cfg: dict[str, Any], pool: Any) -> dict[str, Callable[[random.Random], tuple[str, str, Any]]]:
    from runtime import clock
    now = clock.now()
    out: dict[str, Callable[[random.Random], tuple[str, str, Any]]] = {
        "get": lambda r: ("GET", f"{BASE}/{r.randint(cfg['first_id'], cfg['last_id'])}", None)}
    for label, qs in list_shapes(now).items():
        out[label] = (lambda q: lambda r: ("GET", f"{BASE}?{q}", None))(qs)
    out["create"] = lambda r: ("POST", BASE, create_body(cfg, r, now))

    def transition(r: random.Random) -> tuple[str, str, Any]:
        rid = pool.take()
        if rid is None:
            raise StopIteration
        return "POST", f"{BASE}/{rid}/transitions/start?version=1", None
    out["transition"] = transition
    return out


def invalid_bodies(body: dict[str, Any]) -> list[tuple[str, Any]]:
    return [("not an object", [1, 2]), ("missing required", {"seq": 1}),
            ("seq below 1", {**body, "seq": 0}),
            ("end before start", {**body, "planned_end": "2000-01-01T08:00:00"}),
            ("work order missing", {**body, "work_order": 999999}),
            ("unknown operator", {**body, "operator": "nobody"}),
            ("bad types", {**body, "planned_qty": "lots", "abnormal_reason": "gremlins", "planned_start": "soon"}),
            ("readonly and unknown", {**body, "actual_start": "2025-01-01T10:00:00", "colour": "red"})]
