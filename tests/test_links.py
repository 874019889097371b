"""Shared links end to end (no browser): the partner's SMS link, a creating link with PIN, challenge and
prefill, history naming link and worker, and the staff pages (issue, list, revoke, QR, print)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from runtime.auth import SYSTEM
from ui.linkstore import LinkStore

from .links_support import Shop, challenge_answer, page_token
from .ui_support import build


@pytest.fixture
def shop(database_url: str, tmp_path: Path) -> Shop:
    return Shop(database_url, tmp_path)


def _signed_in(app: Any, user: str) -> tuple[Any, str]:
    c = app.test_client()
    html = c.get("/login").get_data(as_text=True)
    tok = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    r = c.post("/login", data={"username": user, "password": f"{user}-pass-1", "csrf_token": tok})
    assert r.status_code == 302
    html = c.get("/").get_data(as_text=True)
    return c, re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def test_partner_gets_its_batch_link_by_sms_and_updates_the_batch(database_url: str, tmp_path: Path) -> None:
    rt, app = build(database_url, tmp_path)
    rt.settings["public_url"] = "https://jig.example.cn"
    for ext in rt.extensions:
        if ext.name == "rules":
            ext.attach(rt)  # type: ignore[attr-defined]
    E = rt.entity
    partner = rt.records.create(SYSTEM, E("outsourcing", "partner"), {"name": "华新电镀", "phone": "13800001111"})
    rt.users.add("pl", "pl-pass-1", ["planner"])
    planner = rt.users.actor_for("pl")
    assert planner is not None
    batch = rt.records.create(planner, E("outsourcing", "batch"), {
        "customer": "客户甲", "product_no": "P-100", "quantity": 200, "partner": partner["id"],
        "expected_return": "2099-01-01", "sms_partner": True})
    outbox = rt.tables.system["jig_outbox"]
    with rt.db.read() as conn:
        queued = [json.loads(p) for p in conn.execute(select(outbox.c.payload).where(outbox.c.kind == "sms")).scalars()]
    assert len(queued) == 1 and "[[jig-link]]" in queued[0]["text"]  # the outbox row holds no token
    assert rt.outbox.run_due("test") == {"sent": 1}
    sms_log = rt.tables.system["jig_sms_log"]
    with rt.db.read() as conn:
        msg = dict(conn.execute(select(sms_log)).mappings().one())
    assert msg["to"] == "13800001111" and batch["name"] in msg["text"] and msg["template"] == "batch_link"
    url = re.search(r"https://jig\.example\.cn/l/([A-Za-z0-9_-]{32})", msg["text"])
    assert url, msg["text"]
    token = url.group(1)
    with rt.db.read() as conn:  # stored hashed only: the plaintext token is in the message alone
        dump = " ".join(str(v) for t in ("jig_links", "jig_link_uses", "jig_outbox") for row in
                        conn.execute(text(f"SELECT * FROM {t}")).all() for v in row)
    assert token not in dump
    c = app.test_client()
    html, csrf = page_token(c, token)
    assert "P-100" in html and "客户甲" not in html  # the customer is not shown to the partner
    r = c.post(f"/l/{token}", json={"action": "start", "version": batch["version"], "worker_name": "王厂长"},
               headers={"X-Link-Token": csrf})
    assert r.status_code == 200 and r.get_json()["state"] == "processing", r.get_json()
    r = c.post(f"/l/{token}", json={"action": "return", "version": r.get_json()["version"], "worker_name": "王厂长",
                                    "values": {"returned_qty": 198, "remark": "2 件损坏"}},
               headers={"X-Link-Token": csrf})
    assert r.status_code == 200 and r.get_json()["state"] == "awaiting_qc", r.get_json()
    hist = rt.records.history(SYSTEM, E("outsourcing", "batch"), batch["id"])
    assert [h["via"] for h in hist[-2:]] == ["link", "link"]
    # the staff record page names the link and the worker
    rt.users.update("pl", password="pl-pass-1")
    staff, _tok = _signed_in(app, "pl")
    page = staff.get(f"/a/outsourcing/batch/{batch['id']}").get_data(as_text=True)
    assert "经链接 «外协进度更新»" in page and "王厂长" in page
    # a second SMS for the same batch reuses the live link (one link per batch, not one per message)
    store = rt.services.get(LinkStore)
    with rt.db.write() as conn:
        again = store.reuse_or_issue(conn, store.definition("outsourcing", "partner_update"), batch["id"], "system")
    assert store.token_of(again) == token


def test_creating_link_with_pin_challenge_prefill_and_bind(shop: Shop) -> None:
    tok = shop.issue("report", shop.machine["id"])
    c = shop.app.test_client()
    html, csrf = page_token(c, tok)
    assert "CNC-07" in html
    pre = c.get(f"/l/{tok}?urgency=urgent").get_data(as_text=True)
    assert re.search(r'value="urgent"\s+checked', pre)  # a prefill is only a starting value
    base = {"action": "create", "worker": "li", "pin": "2468", "values": {"description": "主轴异响", "urgency": "urgent"}}

    def post(body: dict[str, Any], page: str | None = None) -> Any:
        ans = challenge_answer(page or c.get(f"/l/{tok}").get_data(as_text=True))
        return c.post(f"/l/{tok}", json={"challenge": ans, **body}, headers={"X-Link-Token": csrf})

    assert post({**base, "pin": "0000"}).status_code == 403
    assert post({**base, "worker": "planner"}).status_code == 400  # not one of the link's workers
    assert post({**base, "values": {**base["values"], "machine": 99}}).status_code == 403  # bind is not input
    wrong = challenge_answer(c.get(f"/l/{tok}").get_data(as_text=True))
    wrong["answer"] += 1
    assert c.post(f"/l/{tok}", json={**base, "challenge": wrong}, headers={"X-Link-Token": csrf}).status_code == 403
    assert c.post(f"/l/{tok}", json=base, headers={"X-Link-Token": csrf}).status_code == 403  # no challenge
    page = c.get(f"/l/{tok}").get_data(as_text=True)
    r = post({**base, "submit_id": "s1"}, page)
    assert r.status_code == 201, r.get_json()
    rec = shop.rt.records.get(SYSTEM, shop.fault_ent, r.get_json()["id"])
    assert rec["machine"] == shop.machine["id"] and rec["reporter"] == "li" and rec["urgency"] == "urgent"
    # the same solved challenge cannot be used twice; the same form cannot be submitted twice
    assert post({**base, "submit_id": "s2"}, page).status_code == 403
    assert post({**base, "submit_id": "s1"}).status_code == 409
    hist = shop.rt.records.history(SYSTEM, shop.fault_ent, rec["id"])
    assert hist[0]["via"] == "link" and hist[0]["user"] == "li"
    row = shop.row(tok)
    assert row["uses"] == 1
    with shop.rt.db.read() as conn:
        use = conn.execute(select(shop.store.uses)).mappings().one()
    assert use["worker"] == "李四" and use["record_id"] == rec["id"] and use["action"] == "create"


def test_pin_guessing_is_limited(shop: Shop) -> None:
    tok = shop.issue("report", shop.machine["id"])
    c = shop.app.test_client()
    _html, csrf = page_token(c, tok)
    codes = [c.post(f"/l/{tok}", json={"action": "create", "worker": "li", "pin": f"{i:04d}", "values": {}},
                    headers={"X-Link-Token": csrf}).get_json()["error"]["message"] for i in range(6)]
    assert "15" in codes[-1]  # locked for 15 minutes after 5 wrong PINs


def test_staff_issue_list_qr_revoke_and_print(shop: Shop) -> None:
    c, tok = _signed_in(shop.app, "planner")
    a = shop.a["id"]
    page = c.get(f"/a/shop/batch/{a}")
    assert f"/a/shop/batch/{a}/links" in page.get_data(as_text=True)
    r = c.post(f"/a/shop/batch/{a}/links", data={"csrf_token": tok, "link": "partner_update", "expires_days": "7",
                                                  "max_uses": "3"})
    assert r.status_code == 302
    html = c.get(f"/a/shop/batch/{a}/links").get_data(as_text=True)
    assert "<svg" in html and "/l/" in html
    link_id = int(re.search(r'data-link="(\d+)"', html).group(1))  # type: ignore[union-attr]
    row = shop.store.get(link_id)
    assert row and row["max_uses"] == 3
    svg = c.get(f"/links/{link_id}/qr.svg")
    png = c.get(f"/links/{link_id}/qr.png")
    assert svg.mimetype == "image/svg+xml" and png.mimetype == "image/png" and png.data[:4] == b"\x89PNG"
    token = shop.store.token_of(row)
    assert shop.app.test_client().get(f"/l/{token}").status_code == 200
    assert c.post(f"/links/{link_id}/revoke", data={"csrf_token": tok}).status_code == 302
    assert shop.app.test_client().get(f"/l/{token}").status_code == 403
    assert c.get(f"/links/{link_id}/qr.svg").status_code == 404  # no QR for a dead link
    # the machine label: a creating link's QR on the machine's own record
    label = c.get(f"/a/shop/machine/{shop.machine['id']}/print?size=label")
    assert label.status_code == 200 and label.get_data(as_text=True).count("<svg") == 1
    assert c.get(f"/a/shop/machine/{shop.machine['id']}/print?size=a3").status_code == 404


def test_traveller_has_a_qr_per_operation(database_url: str, tmp_path: Path) -> None:
    rt, app = build(database_url, tmp_path)
    E = rt.entity
    p = rt.records.create(SYSTEM, E("work_order_tracking", "product"), {"code": "P1", "name": "壳体"})
    wo = rt.records.create(SYSTEM, E("work_order_tracking", "work_order"), {"product": p["id"], "qty": 50})
    for seq, name in ((10, "下料"), (20, "CNC 加工"), (30, "去毛刺")):
        rt.records.create(SYSTEM, E("work_order_tracking", "operation"),
                          {"work_order": wo["id"], "seq": seq, "name": name, "planned_qty": 50})
    rt.users.add("sup", "sup-pass-1", ["supervisor"])
    c, _tok = _signed_in(app, "sup")
    for size in ("a4", "a5"):
        html = c.get(f"/a/work_order_tracking/work_order/{wo['id']}/print?size={size}").get_data(as_text=True)
        assert html.count("<svg") == 3 and "下料" in html and "去毛刺" in html and f"print-{size}.css" in html
    store = rt.services.get(LinkStore)
    with rt.db.read() as conn:
        n = conn.execute(select(store.links)).all()
    assert len(n) == 3  # printed twice, issued once: the traveller can be reprinted with the same codes


def test_a_link_sms_without_public_url_is_kept_and_alerted_not_lost(database_url: str, tmp_path: Path) -> None:
    rt, _app = build(database_url, tmp_path)
    for ext in rt.extensions:
        if ext.name == "rules":
            ext.attach(rt)  # type: ignore[attr-defined]
    rt.users.add("admin", "admin-pass-1", ["admin"])
    E = rt.entity
    partner = rt.records.create(SYSTEM, E("outsourcing", "partner"), {"name": "华新电镀", "phone": "13800001111"})
    batch = rt.records.create(SYSTEM, E("outsourcing", "batch"), {
        "customer": "客户甲", "product_no": "P-100", "quantity": 200, "partner": partner["id"],
        "expected_return": "2099-01-01", "sms_partner": True})
    assert batch["id"]  # creating the batch never fails because of the message
    assert rt.outbox.run_due("test") == {"dead": 1}  # kept, shown as failed, admins told
    item = rt.outbox.list()[0]
    assert "JIG_PUBLIC_URL" in (item["last_error"] or "")
    assert rt.notifications.unread_count("admin") == 1
    rt.settings["public_url"] = "https://jig.example.cn"
    assert rt.outbox.retry(item["id"]) == 1
    assert rt.outbox.run_due("test") == {"sent": 1}


def test_two_pages_with_the_same_sum_get_different_challenges(shop: Shop) -> None:
    """Regression: the signature covered only answer and expiry second, so equal sums collided (one refused)."""
    with shop.rt.db.write() as conn:
        sigs = {shop.store.challenge("h")["sig"] for _ in range(40)}
        assert len(sigs) == 40
        ok = shop.store.challenge("h")
        a, b = (int(x) for x in re.findall(r"\d+", ok["question"]))
        assert shop.store.check_challenge(conn, "h", {"answer": a + b, "exp": ok["exp"], "sig": ok["sig"]})
        assert not shop.store.check_challenge(conn, "h", {"answer": a + b, "exp": ok["exp"], "sig": ok["sig"]})
        assert not shop.store.check_challenge(conn, "other", {"answer": a + b, "exp": ok["exp"], "sig": ok["sig"]})
