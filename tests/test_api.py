"""The REST API end to end, through Flask's test client, on the shipped outsourcing app."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate

from .conftest import World, batch_body

B = "/api/outsourcing/batch"


def test_create_applies_naming_defaults_and_computed(world: World) -> None:
    r = world.planner.post(B, batch_body(world.partners["a"], ship_date=None))
    assert r.status_code == 201, r.get_json()
    rec = r.get_json()
    assert rec["name"] == "WF202611-0001"
    assert rec["state"] == "shipped"
    assert rec["ship_date"] == "2026-11-20"  # default today() on the frozen clock
    assert rec["days_late"] == 0
    assert rec["version"] == 1 and rec["created_by"] == "planner"
    second = world.planner.post(B, batch_body(world.partners["a"], expected_return="2026-11-19",
                                              ship_date="2026-11-10")).get_json()
    assert second["name"] == "WF202611-0002"
    assert second["days_late"] == 1


def test_validation_answers_per_field_messages(world: World) -> None:
    r = world.planner.post(B, {"customer": "", "quantity": 0, "partner": 999, "qc_result": "maybe",
                               "expected_return": "2026-11-01", "ship_date": "2026-11-05", "bogus": 1})
    assert r.status_code == 422
    fields = r.get_json()["error"]["fields"]
    assert fields["customer"] == "必填"
    assert fields["product_no"] == "必填"
    assert "不能小于 1" in fields["quantity"]
    assert "不是可选值之一" in fields["qc_result"]
    assert fields["bogus"] == "没有这个字段"
    r = world.planner.post(B, batch_body(999, expected_return="2026-11-01"),
                           headers={"Accept-Language": "en"})
    fields = r.get_json()["error"]["fields"]
    assert fields["partner"] == "The linked record does not exist"
    assert fields["expected_return"] == "Expected return cannot be before the ship date"


def test_bad_input_never_gives_500(world: World) -> None:
    c = world.planner
    assert c.client.post(B, data="{not json", headers={"Authorization": f"Bearer {c.token}",
                                                        "Content-Type": "application/json"}).status_code == 400
    assert c.post(B, [1, 2]).status_code == 400
    assert c.post(B, batch_body(world.partners["a"], quantity="many")).status_code == 422
    assert c.post(B, batch_body(world.partners["a"], quantity=10 ** 30)).status_code == 422
    assert c.post(B, batch_body(world.partners["a"], ship_date="yesterday")).status_code == 422
    assert c.get(B + "?quantity__gte=abc").status_code == 400
    assert c.get(B + "?nope=1").status_code == 400
    assert c.get(B + "?quantity__near=1").status_code == 400
    assert c.get(B + "?after=%%%").status_code == 400
    assert c.get(B + "?sort=photos").status_code == 400
    assert c.get("/api/outsourcing/nothing").status_code == 404
    assert c.get("/api/none/batch").status_code == 404
    assert c.get(B + "/999999").status_code == 404
    r = c.post(B + "/1/transitions/start", {"version": "x"})
    assert r.status_code in (400, 404)
    assert c.get("/api/no/such/path/at/all").status_code == 404


def test_filters_and_keyset_paging(world: World) -> None:
    a, b = world.partners["a"], world.partners["b"]
    for i in range(25):
        r = world.planner.post(B, batch_body(a if i % 2 else b, quantity=i + 1, product_no=f"P-{i:03d}",
                                             process="plating" if i % 3 == 0 else "painting"))
        assert r.status_code == 201
    c = world.planner
    items = c.get(B + "?quantity__gte=20").get_json()["items"]
    assert sorted(x["quantity"] for x in items) == [20, 21, 22, 23, 24, 25]
    assert len(c.get(B + "?quantity__lt=3").get_json()["items"]) == 2
    assert len(c.get(B + "?quantity__in=1,2,3,99").get_json()["items"]) == 3
    assert len(c.get(B + "?product_no__contains=-01").get_json()["items"]) == 10
    assert len(c.get(B + "?product_no__startswith=P-02").get_json()["items"]) == 5
    assert len(c.get(B + f"?partner={a}&process=plating").get_json()["items"]) == 4
    assert len(c.get(B + "?state=shipped&limit=100").get_json()["items"]) == 25
    assert len(c.get(B + "?days_late__gte=0&limit=100").get_json()["items"]) == 25
    assert len(c.get(B + "?q=P-00&limit=100").get_json()["items"]) == 10
    page = c.get(B + "?limit=100").get_json()
    assert "count" not in page
    assert c.get(B + "?count=true&quantity__gt=5").get_json()["count"] == 20
    # keyset paging visits every record exactly once, in order, whatever the sort
    for sort in ("-id", "quantity", "-quantity", "process,-quantity", "-process,product_no"):
        seen: list[int] = []
        url = B + f"?limit=7&sort={sort}"
        while url:
            body = c.get(url).get_json()
            seen += [x["id"] for x in body["items"]]
            url = B + f"?limit=7&sort={sort}&after={body['next']}" if body["next"] else ""
        assert len(seen) == 25 and len(set(seen)) == 25, sort
    by_qty = [x["quantity"] for x in c.get(B + "?sort=-quantity&limit=5").get_json()["items"]]
    assert by_qty == [25, 24, 23, 22, 21]


def test_update_with_stale_version_is_refused(world: World) -> None:
    rec = world.planner.post(B, batch_body(world.partners["a"])).get_json()
    url = f"{B}/{rec['id']}"
    r = world.planner.patch(url, {"version": 1, "remark": "第一次"})
    assert r.status_code == 200 and r.get_json()["version"] == 2
    stale = world.planner.patch(url, {"version": 1, "remark": "覆盖"})
    assert stale.status_code == 409
    assert stale.get_json()["error"]["code"] == "stale_version"
    assert stale.get_json()["error"]["current_version"] == 2
    assert world.planner.get(url).get_json()["remark"] == "第一次"
    assert world.planner.patch(url, {"remark": "no version"}).status_code == 400
    assert world.planner.patch(url, {"version": 2, "state": "done"}).status_code == 422
    assert world.planner.patch(url, {"version": 2, "actual_return": "2026-11-20"}).status_code == 422  # readonly


def test_transitions_answer_200_403_409_422(world: World) -> None:
    rec = world.planner.post(B, batch_body(world.partners["a"])).get_json()
    url = f"{B}/{rec['id']}/transitions"
    assert world.qc.post(f"{url}/start", {"version": 1}).status_code == 403          # qc may not start
    assert world.partner_b.post(f"{url}/start", {"version": 1}).status_code == 404   # not their batch: invisible
    wrong = world.partner_a.post(f"{url}/return", {"returned_qty": 5, "version": 1})
    assert wrong.status_code == 409 and wrong.get_json()["error"]["code"] == "wrong_state"
    assert world.partner_a.post(f"{url}/start", {}).status_code == 400  # the version is required, as for PATCH
    assert world.partner_a.post(f"{url}/start", {"version": 1}).status_code == 200
    missing = world.partner_a.post(f"{url}/return", {"version": 2})
    assert missing.status_code == 422
    assert missing.get_json()["error"]["fields"] == {"returned_qty": "必填"}
    done = world.partner_a.post(f"{url}/return", {"returned_qty": 98, "version": 2})
    assert done.status_code == 200
    assert done.get_json()["actual_return"] == "2026-11-20T10:00:00+08:00"
    assert done.get_json()["state"] == "awaiting_qc"
    guard = world.qc.post(f"{url}/inspect", {"qc_result": "rework", "version": 3})
    assert guard.status_code == 409 and guard.get_json()["error"]["code"] == "guard_failed"
    assert "退回返工" in guard.get_json()["error"]["message"]
    assert world.qc.post(f"{url}/inspect", {"qc_result": "pass", "version": 1}).status_code == 409  # stale
    assert world.qc.post(f"{url}/inspect", {"qc_result": "pass", "version": 3}).status_code == 200
    assert world.qc.post(f"{url}/nope", {}).status_code == 404
    hist = world.planner.get(f"{B}/{rec['id']}/history").get_json()["items"]
    assert [h["action"] for h in hist] == ["create", "transition", "transition", "transition"]
    assert [h["transition"] for h in hist[1:]] == ["start", "return", "inspect"]
    assert hist[2]["changes"]["returned_qty"] == [None, 98]
    assert hist[2]["user"] == "pa" and hist[2]["via"] == "api"


def test_row_permissions_filter_reads_and_writes(world: World) -> None:
    a, b = world.partners["a"], world.partners["b"]
    ids_a = [world.planner.post(B, batch_body(a)).get_json()["id"] for _ in range(3)]
    id_b = world.planner.post(B, batch_body(b)).get_json()["id"]
    seen = [x["id"] for x in world.partner_a.get(B + "?limit=100").get_json()["items"]]
    assert sorted(seen) == sorted(ids_a)
    assert world.partner_a.get(B + "?count=1").get_json()["count"] == 3
    assert world.partner_a.get(f"{B}/{id_b}").status_code == 404
    assert world.partner_a.patch(f"{B}/{id_b}", {"version": 1, "remark": "x"}).status_code == 404
    assert world.partner_a.get(f"{B}/{id_b}/history").status_code == 404
    assert world.partner_a.patch(f"{B}/{ids_a[0]}", {"version": 1, "remark": "ok"}).status_code == 200
    assert world.partner_a.post(B, batch_body(a)).status_code == 403  # partners may not create
    assert world.qc.patch(f"{B}/{ids_a[1]}", {"version": 1, "remark": "x"}).status_code == 403
    partners = world.partner_a.get("/api/outsourcing/partner").get_json()["items"]
    assert [p["id"] for p in partners] == [a]
    nobody = world.as_user("visitor", [])
    assert nobody.get(B).status_code == 403  # no role that may read batches: refused, as the pages do


def test_delete_keeps_history_and_refuses_referenced(world: World) -> None:
    rec = world.planner.post(B, batch_body(world.partners["a"])).get_json()
    r = world.admin.delete(f"/api/outsourcing/partner/{world.partners['a']}")
    assert r.status_code == 409 and "引用" in r.get_json()["error"]["message"]
    assert world.planner.delete(f"{B}/{rec['id']}").status_code == 403
    assert world.admin.delete(f"{B}/{rec['id']}").status_code == 204
    assert world.admin.get(f"{B}/{rec['id']}").status_code == 404
    hist = world.admin.get(f"{B}/{rec['id']}/history").get_json()["items"]
    assert hist[-1]["action"] == "delete" and hist[-1]["changes"]["customer"] == ["宁波精密", None]


def test_authentication_is_required(world: World) -> None:
    anon = world.app.test_client()
    assert anon.get(B).status_code == 401
    assert anon.get(B, headers={"Authorization": "Bearer jig_wrong"}).status_code == 401
    assert anon.post(B, json={}).get_json()["error"]["code"] == "unauthorized"
    tokens = world.rt.users.tokens_of("planner")
    world.rt.users.revoke_token(tokens[0]["id"])
    assert world.planner.get(B).status_code == 401
    row = world.rt.db.engine.connect().execute(world.rt.tables.system["jig_tokens"].select()).mappings().first()
    assert not row["token_hash"].startswith("jig_") and len(row["token_hash"]) == 64


def test_openapi_document_is_valid(world: World) -> None:
    assert world.app.test_client().get("/api/openapi.json").status_code == 401
    doc = world.planner.get("/api/openapi.json").get_json()
    validate(doc)
    assert "/api/outsourcing/batch/{id}/transitions/{name}" in doc["paths"]
    assert "OutsourcingBatchInput" in doc["components"]["schemas"]


def test_child_table_rows(world: World) -> None:
    c = world.admin
    base = "/api/work_order_tracking"
    p1 = c.post(f"{base}/product", {"code": "FG-1", "name": "支架总成", "kind": "finished"}).get_json()["id"]
    p2 = c.post(f"{base}/product", {"code": "RM-1", "name": "钢板", "kind": "raw"}).get_json()["id"]
    r = c.post(f"{base}/bom", {"product": p1, "lines": [{"item": p2, "qty": "2.5"}, {"item": p2, "qty": 1}]})
    assert r.status_code == 201, r.get_json()
    bom = r.get_json()
    assert [ln["qty"] for ln in bom["lines"]] == ["2.5000", "1.0000"]
    bad = c.post(f"{base}/bom", {"product": p1, "lines": [{"item": 999, "qty": -1}]})
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["fields"]) >= {"lines[0].item"}
    assert set(bom["lines"][0]) == {"id", "item", "qty", "unit", "sub_bom", "scrap_rate"}
    keep = bom["lines"][0]["id"]
    upd = c.patch(f"{base}/bom/{bom['id']}", {"version": 1, "lines": [{"id": keep, "item": p2, "qty": 3}]})
    assert upd.status_code == 200, upd.get_json()
    assert [ln["id"] for ln in upd.get_json()["lines"]] == [keep]
    listed = c.get(f"{base}/bom").get_json()["items"][0]
    assert len(listed["lines"]) == 1
    hist = c.get(f"{base}/bom/{bom['id']}/history").get_json()["items"]
    assert "lines" in hist[-1]["changes"]


def test_history_records_who_when_and_via(world: World) -> None:
    rec = world.planner.post(B, batch_body(world.partners["a"])).get_json()
    world.planner.patch(f"{B}/{rec['id']}", {"version": 1, "quantity": 120})
    hist = world.planner.get(f"{B}/{rec['id']}/history").get_json()["items"]
    assert hist[1] == {**hist[1], "action": "update", "user": "planner", "via": "api",
                       "at": "2026-11-20T10:00:00+08:00", "version": 2, "changes": {"quantity": [100, 120]}}
    assert json.dumps(hist, ensure_ascii=False)


def test_transitions_cannot_write_read_only_fields(world: World) -> None:
    rec = world.planner.post(B, batch_body(world.partners["a"])).get_json()
    r = world.partner_a.post(f"{B}/{rec['id']}/transitions/start", {"version": 1, "actual_return": "2026-11-01T08:00:00+08:00"})
    assert r.status_code == 422 and r.get_json()["error"]["fields"] == {"actual_return": "只读字段，不能修改"}


def test_the_apps_coroutine_check_is_kept_per_function_not_per_bound_method() -> None:
    """runtime.api._App remembers whether a view or hook is a coroutine; a class-based view hands in a new bound
    method on every request, which must neither pile up nor change the answer."""
    from runtime.api import _App

    class View:
        def dispatch(self) -> str:
            return "ok"

    async def coroutine() -> str:
        return "ok"

    app = _App("check")
    for _ in range(100):
        method = View().dispatch
        assert app.ensure_sync(method) is method
    assert len(app._coroutine) == 1
    with pytest.raises(RuntimeError, match="async"):  # as Flask answers a coroutine without its async extra
        app.ensure_sync(coroutine)
