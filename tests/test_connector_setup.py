"""Connector setup without a terminal (issue 12): stored secrets, test connection, mapping preview,
edits as drafts of the app's YAML through the builder API, publish, sync now, export.

One served app against the ERP simulator; on SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from connectors import vault
from connectors.simulator import Erp, Simulator
from jig.app import Jig
from jig.config import Settings
from runtime.errors import DefinitionErrors
from runtime.loader import load_texts

from .ui_support import login

SHOP = """\
app: shop
title: {zh: 销售, en: Sales}
entities:
  customer:
    title: {zh: 客户, en: Customer}
    fields:
      code: {type: text, label: {zh: 编码, en: Code}, unique: true}
      name: {type: text, label: {zh: 名称, en: Name}}
  sales_order:
    title: {zh: 销售订单, en: Sales order}
    fields:
      erp_no: {type: text, label: {zh: ERP 单号, en: ERP No.}, unique: true}
      customer: {type: link, to: customer, label: {zh: 客户, en: Customer}, required: true}
      order_date: {type: date, label: {zh: 下单日期, en: Order date}}
      delivery_date: {type: date, label: {zh: 交货日期, en: Delivery date}}
      lines:
        type: table
        label: {zh: 明细, en: Lines}
        fields:
          line_no: {type: text, label: {zh: 行号, en: Line}}
          sku: {type: text, label: {zh: 物料, en: Item}}
          qty: {type: decimal, label: {zh: 数量, en: Qty}, scale: 2}
"""
KEY = "test-secrets-key-" + "k" * 32


def kingdee(url: str, secret: str = "${secret:erp_app_secret}") -> dict[str, Any]:
    return {"preset": "kingdee_k3cloud", "title": "金蝶云星空", "base_url": url,
            "vars": {"acct_id": "sim", "user": "jig", "app_id": "jig-app", "app_secret": secret},
            "operations": {"sales_orders": {"entity": "sales_order", "key": "erp_no", "fields": {
                "erp_no": "FBillNo", "order_date": "FDate",
                "customer": {"lookup": "customer", "by": "code", "value": "FCustId.FNumber",
                             "create": {"name": "FCustId.FName"}}}}}}


@pytest.fixture
def env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv(vault.KEY_ENV, KEY)
    erp = Erp(seed=5)
    erp.set_switches(["malformed"])
    erp.seed(23)
    sim = Simulator(erp).start()
    jig, app = serve_shop(database_url, tmp_path)
    c = app.test_client()
    tok = login(c, "it", "it-pass-1")
    try:
        yield jig.runtime, app, c, {"X-CSRF-Token": tok}, sim, tmp_path
    finally:
        sim.stop()
        jig.close()


def serve_shop(database_url: str, tmp_path: Path) -> tuple[Jig, Any]:
    """A site serving the shop app as ``jig serve`` does: a publish is served from the next request on."""
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "shop.yaml").write_text(SHOP, encoding="utf-8")
    jig = Jig(Settings(database_url=database_url, apps=[str(apps)], secret_key="t" * 40,
                       files_dir=str(tmp_path / "files")), refresh_seconds=0)
    app = jig.wsgi()
    jig.runtime.users.add("it", "it-pass-1", ["admin"])
    jig.runtime.users.add("clerk", "clerk-pass-1", ["visitor"])
    return jig, app


def test_stored_secrets_are_encrypted_never_shown_and_refused_without_a_key(env: Any, monkeypatch: Any) -> None:
    rt, app, c, h, _sim, _tmp = env
    r = c.put("/api/_connectors/_secrets/erp_app_secret", json={"value": "sim-secret"}, headers=h)
    assert r.status_code == 200 and r.get_json()["set_by"] == "it"
    listing = c.get("/api/_connectors/_secrets").get_json()
    assert listing["configured"] and [s["name"] for s in listing["items"]] == ["erp_app_secret"]
    assert "sim-secret" not in c.get("/api/_connectors/_secrets").get_data(as_text=True)
    t = rt.tables.system["jig_connector_secrets"]
    with rt.db.read() as conn:
        stored = conn.execute(select(t.c.ciphertext)).scalar()
    assert "sim-secret" not in stored and vault.decrypt(stored) == "sim-secret"
    tampered = stored[:-6] + ("AAAAAA" if not stored.endswith("AAAAAA") else "BBBBBB")
    with pytest.raises(vault.SecretError):
        vault.decrypt(tampered)
    assert c.put("/api/_connectors/_secrets/erp_app_secret", json={"value": "x"}).status_code in (400, 401, 403)  # no CSRF token
    assert c.put("/api/_connectors/_secrets/Bad-Name", json={"value": "x"}, headers=h).status_code == 400
    assert c.put("/api/_connectors/_secrets/erp_x", json={"value": 5}, headers=h).status_code == 400
    monkeypatch.setenv(vault.KEY_ENV, "another key")
    with pytest.raises(vault.SecretError, match="does not match"):
        vault.decrypt(stored)
    monkeypatch.delenv(vault.KEY_ENV)
    r = c.put("/api/_connectors/_secrets/erp_app_secret", json={"value": "sim-secret"}, headers=h)
    assert r.status_code == 409 and vault.KEY_ENV in r.get_json()["error"]["message"]
    clerk = app.test_client()
    ctok = login(clerk, "clerk", "clerk-pass-1")
    assert clerk.get("/api/_connectors/_secrets").status_code == 403
    assert clerk.post("/api/_connectors/_try/shop/erp", json={}, headers={"X-CSRF-Token": ctok}).status_code == 403
    assert clerk.get("/connectors/shop").status_code == 403


def test_secret_references_are_checked_in_the_definition() -> None:
    from jig.plugins import default_extensions
    good = SHOP + yaml.safe_dump({"connectors": {"erp": kingdee("http://x")}}, allow_unicode=True)
    assert load_texts({"shop.yaml": good}, default_extensions())["shop"].sections["connectors"]["erp"]
    for bad, says in ((kingdee("http://x", "${secret:Bad-Name}"), "not a stored secret's name"),
                      (kingdee("http://x", "plain-text-secret"), "environment references or stored secrets")):
        text = SHOP + yaml.safe_dump({"connectors": {"erp": bad}}, allow_unicode=True)
        with pytest.raises(DefinitionErrors, match=says):
            load_texts({"shop.yaml": text}, default_extensions())


def test_set_up_try_preview_publish_sync_and_export(env: Any) -> None:
    _rt, _app, c, h, sim, tmp = env
    assert c.put("/api/_connectors/_secrets/erp_app_secret", json={"value": "sim-secret"}, headers=h).status_code == 200
    spec = kingdee(sim.url)
    del spec["operations"]["sales_orders"]["fields"]["order_date"]
    r = c.post("/api/builder/apps/shop/draft/edits", headers=h,
               json={"edits": [{"op": "set", "path": ["connectors"], "value": {"erp": spec}}], "plan": False})
    assert r.status_code == 200 and r.get_json()["errors"] == [], r.get_json()
    # test connection: one page from the ERP, raw and mapped side by side (the draft, not yet published)
    t = c.post("/api/_connectors/_try/shop/erp", json={}, headers=h).get_json()
    assert t["ok"] and t["records"] > 0, t
    assert t["rows"][0]["values"]["erp_no"].startswith("XSDD")
    assert t["rows"][0]["values"]["customer"].startswith("customer.code = C")
    assert "sim-secret" not in str(t)
    # adjust one mapping: a draft edit; the preview maps the same sample again without the ERP
    r = c.post("/api/builder/apps/shop/draft/edits", headers=h, json={"edits": [
        {"op": "set", "path": ["connectors", "erp", "operations", "sales_orders", "fields", "order_date"],
         "value": "FDate"}], "plan": False})
    assert r.get_json()["errors"] == []
    before = sim.erp.stats["requests"]
    p = c.post("/api/_connectors/_try/shop/erp", json={"sample": t["raw"]}, headers=h).get_json()
    assert sim.erp.stats["requests"] == before
    assert all(row["values"]["order_date"] for row in p["rows"])
    # instant validation: an unknown ERP field is an error at its path
    r = c.post("/api/builder/apps/shop/draft/edits", headers=h, json={"edits": [
        {"op": "set", "path": ["connectors", "erp", "operations", "sales_orders", "fields", "delivery_date"],
         "value": "FNoSuchField"}], "plan": False}).get_json()
    assert any(e["path"].endswith("fields.delivery_date") for e in r["errors"]), r["errors"]
    assert c.post("/api/_connectors/_try/shop/erp", json={}, headers=h).status_code == 422
    r = c.post("/api/builder/apps/shop/draft/edits", headers=h, json={"edits": [
        {"op": "delete", "path": ["connectors", "erp", "operations", "sales_orders", "fields", "delivery_date"]}]})
    assert r.get_json()["errors"] == []
    # publish through the one path; sync now; progress and log through the admin API
    pub = c.post("/api/builder/apps/shop/publish", json={"message": "ERP"}, headers=h)
    assert pub.status_code == 200, pub.get_json()
    s = c.post("/api/_connectors/erp/sync", headers=h)
    assert s.status_code == 202
    after = s.get_json()["after_request"]
    for _ in range(300):
        runs = c.get("/api/_connectors/erp/runs?limit=1").get_json()["items"]
        if runs and runs[0]["status"] != "running":
            break
        time.sleep(0.05)
    run = runs[0]
    assert run["status"] == "partial" and run["counts"]["created"] == 21 and run["counts"]["quarantined"] == 2, run
    log = c.get(f"/api/_connectors/erp/requests?after={after}").get_json()["items"]
    assert log and all(x["id"] > after for x in log)
    assert len(c.get("/api/_connectors/erp/quarantine").get_json()["items"]) == 2
    # versions, diff and export: the connector is part of the app's YAML
    diff = c.get("/api/builder/apps/shop/diff?from=1&to=2").get_json()["diff"]
    assert "+connectors:" in diff and "${secret:erp_app_secret}" in diff and "sim-secret" not in diff
    out = _app.extensions["jig"].runtime.publisher.export("shop", tmp / "export" / "shop.yaml")
    exported = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert exported["connectors"]["erp"]["vars"]["app_secret"] == "${secret:erp_app_secret}"
    assert exported["connectors"]["erp"]["operations"]["sales_orders"]["fields"]["order_date"] == "FDate"
    # rollback through the same path: version 1 has no connector, rolling forward again brings it back
    assert c.post("/api/builder/apps/shop/rollback", json={"number": 1}, headers=h).get_json()["version"]["number"] == 3
    assert c.get("/api/_connectors/erp/runs").status_code == 404
    assert c.post("/api/builder/apps/shop/rollback", json={"number": 2}, headers=h).status_code == 200
    assert c.get("/api/_connectors/erp/runs").get_json()["items"][0]["status"] == "partial"


def test_a_generic_rest_connector_is_previewed_on_a_sample_without_a_preset(env: Any) -> None:
    _rt, _app, c, h, _sim, _tmp = env
    rest = {"title": "REST", "base_url": "http://127.0.0.1:9", "auth": {"type": "none"},
            "operations": {"orders": {"type": "pull", "entity": "sales_order", "request": {"method": "GET",
                                                                                        "path": "/orders"},
                                      "records": "data.items", "select": ["number", "day", "no"], "key": "erp_no",
                                      "fields": {"erp_no": "number", "order_date": "day"}}}}
    r = c.post("/api/builder/apps/shop/draft/edits", headers=h,
               json={"edits": [{"op": "set", "path": ["connectors"], "value": {"rest": rest}}], "plan": False})
    assert r.get_json()["errors"] == []  # an ERP field called "no" stays a text (quoted in the YAML)
    assert '- "no"' in r.get_json()["draft"]["yaml"] or '"no"]' in r.get_json()["draft"]["yaml"]
    sample = {"data": {"items": [{"number": "A-1", "day": "2026-11-02"}, {"number": "A-2", "day": "not a date"}, 7]}}
    p = c.post("/api/_connectors/_try/shop/rest", json={"sample": sample}, headers=h).get_json()
    assert [row["key"] for row in p["rows"]] == ["A-1", "A-2"]
    assert p["rows"][0]["values"]["order_date"] == "2026-11-02" and not p["rows"][0]["errors"]
    assert "order_date" in p["rows"][1]["errors"][0] and len(p["malformed"]) == 1
    # order lines nested in each record: the child table's rows from a path, mapped field by field
    lines = {"from": "lines", "key": "line_no", "fields": {"line_no": "id", "sku": "sku", "qty": "qty"}}
    r = c.post("/api/builder/apps/shop/draft/edits", headers=h, json={"edits": [
        {"op": "set", "path": ["connectors", "rest", "operations", "orders", "children"], "value": {"lines": lines}}],
        "plan": False}).get_json()
    assert [e["path"] for e in r["errors"]] == ["connectors.rest.operations.orders.children.lines.from"] + [
        f"connectors.rest.operations.orders.children.lines.fields.{f}" for f in ("line_no", "sku", "qty")], r["errors"]
    r = c.post("/api/builder/apps/shop/draft/edits", headers=h, json={"edits": [
        {"op": "set", "path": ["connectors", "rest", "operations", "orders", "select"],
         "value": ["number", "day", "no", "lines.id", "lines.sku", "lines.qty"]}], "plan": False}).get_json()
    assert r["errors"] == []
    sample = {"data": {"items": [{"number": "A-1", "day": "2026-11-02", "lines": [
        {"id": 1, "sku": "P-1", "qty": 2}, {"id": 2, "sku": "P-2", "qty": "many"}]}]}}
    p = c.post("/api/_connectors/_try/shop/rest", json={"sample": sample}, headers=h).get_json()
    assert [(x["line_no"], x["sku"], x["qty"]) for x in p["rows"][0]["children"]["lines"]] == [
        ("1", "P-1", "2.00"), ("2", "P-2", None)]
    assert [e for e in p["rows"][0]["errors"] if e.startswith("lines.qty")], p["rows"][0]["errors"]
    down = c.post("/api/_connectors/_try/shop/rest", json={}, headers=h).get_json()
    assert down["ok"] is False and "connection" in down["error"]  # the ERP is not there: said, not a 500
    assert c.post("/api/_connectors/_try/shop/nope", json={}, headers=h).status_code == 404
    assert c.post("/api/_connectors/_try/shop/rest", data="x", headers=h).status_code == 400
