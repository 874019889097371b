"""The delivery log and users pages through the Flask client: admins only, bad input is a 4xx, keyset pages,
retry/cancel only where they apply, phone numbers and attributes from the users page."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from runtime.auth import SYSTEM

from .ui_support import build, login

APP = """
app: shop
title: 车间
roles:
  planner: {label: {zh: 计划员, en: Planner}}
user_attributes:
  partner: {type: link, to: partner, label: {zh: 所属外协厂, en: Partner}}
entities:
  partner:
    fields:
      name: {type: text}
"""


def test_delivery_log_and_users_pages(database_url: str, tmp_path: Path) -> None:
    rt, app = build(database_url, tmp_path, texts={"shop.yaml": APP})
    rt.users.add("boss", "boss-pass-1", ["admin"])
    rt.users.add("plan", "plan-pass-1", ["planner"])
    pid = rt.records.create(SYSTEM, rt.entity("shop", "partner"), {"name": "华新电镀"})["id"]
    with rt.db.write() as conn:
        for i in range(53):
            rt.outbox.add(conn, "sms", {"to": f"1380000{i:04d}", "text": f"m{i}", "recipient": {"user": f"u{i}"}},
                          key=f"k{i}", source="rule:late")
        rt.outbox.add(conn, "sms", {"to": None, "text": "x", "recipient": {"user": "lost", "label": "失联 (lost)"}},
                      key="lost", source="rule:late", undeliverable="用户 失联 (lost): 没有手机号 (no phone number)")
    rt.outbox.register("sms", lambda item: __import__("runtime.outbox", fromlist=["Outcome"]).Outcome.sent())
    rt.outbox.run_due("w", limit=1)  # k0 sent

    planner = app.test_client()
    login(planner, "plan", "plan-pass-1")
    assert planner.get("/admin/deliveries").status_code == 403
    assert app.test_client().get("/admin/deliveries").status_code == 302

    c = app.test_client()
    tok = login(c, "boss", "boss-pass-1")
    for bad in ("state=bogus", "before=abc", "before=" + "9" * 30, "recipient=" + "x" * 200):
        assert c.get("/admin/deliveries?" + bad).status_code == 400, bad
    page1 = c.get("/admin/deliveries").get_data(as_text=True)
    assert page1.count('<tr id="d-') == 50 and "失联 (lost)" in page1 and "没有手机号" in page1
    nxt = re.search(r'id="next-page" href="([^"]+)"', page1).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    page2 = c.get(nxt).get_data(as_text=True)
    assert page2.count('<tr id="d-') == 4 and 'id="next-page"' not in page2 and "第一页" in page2
    only = c.get("/admin/deliveries?state=undeliverable&rule=rule:late&kind=sms").get_data(as_text=True)
    assert only.count('<tr id="d-') == 1
    assert c.get("/admin/deliveries?recipient=13800000007").get_data(as_text=True).count('<tr id="d-') == 1
    assert c.get("/admin/deliveries?recipient=%25").get_data(as_text=True).count('<tr id="d-') == 0  # no wildcard

    lost = rt.outbox.search(status="undeliverable")[0]["id"]
    sent = rt.outbox.search(status="sent")[0]["id"]
    assert c.post(f"/admin/deliveries/{lost}/retry", data={}).status_code == 400  # no CSRF token
    r = c.post(f"/admin/deliveries/{sent}/retry", data={"csrf_token": tok, "back": "//evil.example/x"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/deliveries")
    assert "不能重试" in c.get("/admin/deliveries").get_data(as_text=True)
    assert c.post("/admin/deliveries/999999/cancel", data={"csrf_token": tok}).status_code == 404
    assert c.post(f"/admin/deliveries/{lost}/retry", data={"csrf_token": tok}).status_code == 302
    assert rt.outbox.get(lost)["status"] == "pending"
    assert c.post(f"/admin/deliveries/{lost}/cancel", data={"csrf_token": tok}).status_code == 302
    assert rt.outbox.get(lost)["status"] == "cancelled" and "boss" in rt.outbox.get(lost)["last_error"]
    c.get("/lang/en")
    assert "Delivery log" in c.get("/admin/deliveries").get_data(as_text=True)
    c.get("/lang/zh")

    users = c.get("/admin/users").get_data(as_text=True)
    assert 'id="user-system"' not in users and "计划员" in users and "华新电镀" in users
    form = {"csrf_token": tok, "action": "update", "username": "plan", "roles": "planner", "active": "on"}
    bad = c.post("/admin/users", data={**form, "phone": "call me"})
    assert bad.status_code == 200 and "not a phone number" in bad.get_data(as_text=True)
    assert c.post("/admin/users", data={**form, "attr.nope": "1"}).status_code == 400
    assert c.post("/admin/users", data={**form, "attr.partner": "x"}).status_code == 400
    assert c.post("/admin/users", data={**form, "username": "system"}).status_code == 400
    ok = c.post("/admin/users", data={**form, "phone": "138-0000-1111", "display_name": "计划 王",
                                      "attr.partner": str(pid)})
    assert ok.status_code == 200 and "已保存" in ok.get_data(as_text=True)
    row: dict[str, Any] = rt.users.get("plan")  # type: ignore[assignment]
    assert (row["phone"], row["display_name"], json.loads(row["attributes"])) == ("13800001111", "计划 王",
                                                                                   {"partner": pid})
    c.post("/admin/users", data={**form, "phone": "", "attr.partner": ""})
    row = rt.users.get("plan")  # type: ignore[assignment]
    assert row["phone"] is None and json.loads(row["attributes"]) == {}
    rt.db.dispose()
