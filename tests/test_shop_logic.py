"""The shipped apps' shop-floor logic, declared in their YAML: reported good quantities roll up to the work order,
an operation cannot start on an unreleased order, and a batch returned short is flagged."""

from __future__ import annotations

from .conftest import World, batch_body

W = "/api/work_order_tracking"


def _ok(r: object, code: int = 200) -> dict:
    assert r.status_code == code, r.get_json()  # type: ignore[attr-defined]
    return r.get_json()  # type: ignore[attr-defined]


def test_operations_need_a_released_order_and_their_good_qty_rolls_up(world: World) -> None:
    c = world.admin
    p = _ok(c.post(f"{W}/product", {"code": "FG-9", "name": "支架", "kind": "finished"}), 201)["id"]
    wo = _ok(c.post(f"{W}/work_order", {"product": p, "qty": 100}), 201)
    ops = [_ok(c.post(f"{W}/operation", {"work_order": wo["id"], "seq": s, "name": n, "planned_qty": 100}), 201)
           for s, n in ((10, "冲压"), (20, "焊接"))]
    refused = c.post(f"{W}/operation/{ops[0]['id']}/transitions/start", {"version": ops[0]["version"]})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "guard_failed"
    assert "工单尚未下达" in refused.get_json()["error"]["message"]
    wo = _ok(c.post(f"{W}/work_order/{wo['id']}/transitions/release",
                    {"version": wo["version"], "planned_start": "2026-11-20T08:00:00+08:00",
                     "planned_end": "2026-11-22T17:00:00+08:00"}))
    floor = world.as_user("op07", ["operator"])
    op = _ok(floor.post(f"{W}/operation/{ops[0]['id']}/transitions/start", {"version": ops[0]["version"]}))
    assert op["operator"] == "op07"  # whoever starts it takes it (the acting user needs no lookup)
    _ok(c.post(f"{W}/operation/{op['id']}/transitions/finish", {"version": op["version"], "good_qty": 98}))
    got = _ok(c.get(f"{W}/work_order/{wo['id']}"))
    assert (got["reported_qty"], got["op_count"], got["progress"]) == ("98.00", 2, "49.0")
    nobody = c.post(f"{W}/operation", {"work_order": wo["id"], "name": "检验", "operator": "nobody"})
    assert nobody.status_code == 422 and "operator" in nobody.get_json()["error"]["fields"]
    op = _ok(c.post(f"{W}/operation/{ops[1]['id']}/transitions/start", {"version": ops[1]["version"]}))
    _ok(c.post(f"{W}/operation/{op['id']}/transitions/finish", {"version": op["version"], "good_qty": 98}))
    got = _ok(c.get(f"{W}/work_order/{wo['id']}"))
    assert (got["reported_qty"], got["progress"]) == ("196.00", "98.0")  # both steps: 98 of 100 made


def test_a_batch_returned_short_is_flagged(world: World) -> None:
    b = "/api/outsourcing/batch"
    rec = _ok(world.planner.post(b, batch_body(world.partners["a"], quantity=2400)), 201)
    assert rec["short_qty"] == 0
    rec = _ok(world.planner.post(f"{b}/{rec['id']}/transitions/start", {"version": rec["version"]}))
    rec = _ok(world.planner.post(f"{b}/{rec['id']}/transitions/return", {"version": rec["version"], "returned_qty": 2390}))
    assert rec["short_qty"] == 10  # 2390 of 2400 came back: flagged
    full = _ok(world.planner.post(b, batch_body(world.partners["a"], quantity=50)), 201)
    full = _ok(world.planner.patch(f"{b}/{full['id']}", {"version": full["version"], "returned_qty": 50}))
    assert full["short_qty"] == 0
