"""The web UI without a browser: sessions, CSRF, cookies, lockout, dashboards (checking and SQL), import, export."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest

from runtime.auth import SYSTEM
from runtime.errors import DefinitionErrors
from runtime.loader import load_texts
from ui.extension import UiExtension

from .ui_support import build

APP = """
app: shop
title: {zh: 车间, en: Shop}
roles: [clerk, viewer]
entities:
  machine:
    title: {zh: 机台, en: Machine}
    fields:
      code: {type: text, required: true, unique: true}
      hall: {type: select, options: [{value: a, label: A区, color: blue}, {value: b, label: B区}]}
    list: {columns: [code, hall], search: [code]}
    permissions:
      clerk: {read: true, create: true, update: true}
      viewer: {read: true}
  job:
    naming: "J{####}"
    fields:
      machine: {type: link, to: machine, required: true}
      qty: {type: integer, min: 1, required: true}
      due: {type: date}
      note: {type: text, visible: "qty > 10", required: "qty > 100"}
    list: {columns: [name, machine, qty, due, state]}
    workflow:
      initial: open
      states: {open: {color: blue}, done: {color: green, final: true}}
      transitions: {finish: {from: open, to: done, roles: [clerk]}}
    permissions:
      clerk: {read: true, create: true, update: true, transition: true}
      viewer: {read: true}
dashboards:
  main:
    title: 总览
    widgets:
      - {type: number, title: 未完成, entity: job, filter: "state == 'open'"}
      - {type: number, title: 总数量, entity: job, value: {sum: qty}}
      - {type: bar, entity: job, group_by: machine, value: {avg: "qty * 2"}}
      - type: table
        entity: job
        columns: [name, qty, due]
        sort: due
        colors:
          - {color: red, when: "due < today()"}
          - {color: green, when: "true"}
"""


@pytest.fixture
def shop(database_url: str, tmp_path: Path) -> tuple[Any, Any]:
    rt, app = build(database_url, tmp_path, texts={"shop.yaml": APP})
    rt.users.add("clerk", "clerk-pass-1", ["clerk"])
    rt.users.add("viewer", "viewer-pass-1", ["viewer"])
    return rt, app


def _csrf(client: Any, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def _login(client: Any, user: str = "clerk", password: str = "clerk-pass-1") -> str:
    tok = _csrf(client)
    r = client.post("/login", data={"username": user, "password": password, "csrf_token": tok})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    return _csrf(client, "/")


def test_cookie_flags_csrf_and_lockout(shop: tuple[Any, Any]) -> None:
    rt, app = shop
    c = app.test_client()
    assert c.get("/a/shop/machine").status_code == 302
    # a form post without the session's CSRF token is refused
    c.get("/login")
    assert c.post("/login", data={"username": "clerk", "password": "clerk-pass-1"}).status_code == 400
    tok = _login(c)
    cookie = c.get_cookie("jig_session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax" and not cookie.secure
    # the REST API accepts the session, but unsafe calls need the CSRF header
    assert c.get("/api/shop/machine").status_code == 200
    assert c.post("/api/shop/machine", json={"code": "M1"}).status_code == 401
    assert c.post("/api/shop/machine", json={"code": "M1"}, headers={"X-CSRF-Token": tok}).status_code == 201
    assert c.post("/logout", data={"csrf_token": tok}).status_code == 302
    assert c.get("/api/shop/machine").status_code == 401
    # over HTTPS the cookie is Secure
    s = app.test_client()
    s.get("/login", base_url="https://localhost")
    assert s.get_cookie("jig_session", domain="localhost").secure
    # five wrong passwords lock the account; the page says so
    b = app.test_client()
    tok = _csrf(b)
    for _ in range(5):
        b.post("/login", data={"username": "viewer", "password": "nope", "csrf_token": tok})
    r = b.post("/login", data={"username": "viewer", "password": "viewer-pass-1", "csrf_token": tok})
    assert r.status_code == 401 and "锁定" in r.get_data(as_text=True)
    # a changed password ends existing sessions
    d = app.test_client()
    _login(d)
    rt.users.update("clerk", password="another-pass-2")
    assert d.get("/a/shop/machine").status_code == 302


def test_pages_follow_permissions_and_escape(shop: tuple[Any, Any]) -> None:
    rt, app = shop
    m = rt.records.create(SYSTEM, rt.entity("shop", "machine"), {"code": "<b>M1</b>", "hall": "a"})
    for i in range(3):
        rt.records.create(SYSTEM, rt.entity("shop", "job"), {"machine": m["id"], "qty": 5 + i, "due": "2020-01-01"})
    c = app.test_client()
    _login(c, "viewer", "viewer-pass-1")
    html = c.get("/a/shop/job").get_data(as_text=True)
    assert "&lt;b&gt;M1&lt;/b&gt;" in html and "<b>M1</b>" not in html  # link titles shown, escaped
    assert 'data-transition="finish"' not in html  # viewers may not finish jobs
    assert c.get("/a/shop/job/new").status_code == 403
    assert "共 3 条" in html
    c2 = app.test_client()
    _login(c2)
    html = c2.get("/a/shop/job").get_data(as_text=True)
    assert html.count('data-transition="finish"') == 3
    assert "A区" in c2.get("/a/shop/machine").get_data(as_text=True)
    rules = c2.post("/a/shop/job/_rules", json={"values": {"qty": 200}}, headers={"X-CSRF-Token": _csrf(c2, "/")}).get_json()
    assert rules["fields"]["note"] == {"visible": True, "required": True, "readonly": False}
    rules = c2.post("/a/shop/job/_rules", json={"values": {"qty": 2}}, headers={"X-CSRF-Token": _csrf(c2, "/")}).get_json()
    assert rules["fields"]["note"]["visible"] is False


def test_list_paging_counts_and_filters(shop: tuple[Any, Any]) -> None:
    rt, app = shop
    from sqlalchemy import insert

    from runtime import clock
    now = clock.now()
    table = rt.tables["shop.machine"]
    with rt.db.write() as conn:
        conn.execute(insert(table), [{"code": f"C{i:05d}", "hall": "a" if i % 2 else "b", "version": 1, "created_at": now,
                                      "updated_at": now} for i in range(1100)])
    c = app.test_client()
    _login(c)
    html = c.get("/a/shop/machine?sort=code").get_data(as_text=True)
    assert "1,000+" in html and "C00000" in html and "C00020" not in html
    nxt = re.search(r'id="next-page" href="([^"]+)"', html).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    assert "C00020" in c.get(nxt).get_data(as_text=True)
    html = c.get("/a/shop/machine?q=C0001&hall=b").get_data(as_text=True)
    assert "共 5 条" in html
    csv = c.get("/a/shop/machine/export.csv?hall=a").get_data()
    assert csv.startswith(b"\xef\xbb\xbf") and csv.count(b"\n") == 551


def test_dashboards_compute_in_sql(shop: tuple[Any, Any], frozen_clock: Any) -> None:
    rt, app = shop
    m = rt.records.create(SYSTEM, rt.entity("shop", "machine"), {"code": "M1"})
    for qty, due in ((5, "2026-11-01"), (7, "2026-12-01")):
        rt.records.create(SYSTEM, rt.entity("shop", "job"), {"machine": m["id"], "qty": qty, "due": due})
    from runtime.auth import Actor
    from ui import dashboards
    data = dashboards.compute(rt, Actor("v", frozenset({"viewer"})), rt.apps["shop"].sections["dashboards"]["main"], "zh")
    number, total, bar, table = data["widgets"]
    assert number["value"] == 2 and total["value"] == 12
    assert bar["series"] == [{"key": m["id"], "label": "M1", "value": 12, "color": None}]
    assert [r["color"] for r in table["rows"]] == ["red", "green"]


def test_dashboard_mistakes_are_reported_with_positions() -> None:
    bad = APP.replace("group_by: machine", "group_by: machin").replace("value: {sum: qty}", "value: {sum: due}") \
        .replace('entity: job, filter: "state == \'open\'"', 'entity: jobs, filter: "state == \'open\'"') \
        .replace('when: "due < today()"', 'when: "due < todey()"')
    with pytest.raises(DefinitionErrors) as exc:
        load_texts({"shop.yaml": bad}, [UiExtension()])
    text = exc.value.format()
    assert "shop.yaml:" in text
    assert "unknown entity 'jobs'" in text and "did you mean 'job'?" in text
    assert "unknown field 'machin'" in text and "did you mean 'machine'?" in text
    assert "'sum' needs a number" in text
    assert "todey" in text
    lines = {e.path: e.line for e in exc.value.errors}
    assert lines["dashboards.main.widgets[0].entity"] == APP.splitlines().index(
        next(s for s in APP.splitlines() if "title: 未完成" in s)) + 1


def test_import_rolls_back_on_a_bad_row(shop: tuple[Any, Any]) -> None:
    rt, app = shop
    c = app.test_client()
    tok = _login(c)
    data = "编号,区域\nM1,A区\nM2,Z区\nM3,b\n".encode("gb18030")
    r = c.post("/a/shop/machine/import", data={"csrf_token": tok, "step": "upload",
                                               "file": (io.BytesIO(data), "machines.csv")}, content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    key = re.search(r'name="key" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    r = c.post("/a/shop/machine/import", data={"csrf_token": tok, "step": "run", "key": key, "map": ["code", "hall"]})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert re.search(r"<td>3</td><td>hall</td>|<td>3</td><td>Hall</td>", html), html[html.find("import-errors"):][:600]
    assert rt.records.get(SYSTEM, rt.entity("shop", "machine"), 1, ) if False else True
    from sqlalchemy import func, select
    with rt.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(rt.tables["shop.machine"])).scalar_one() == 0
