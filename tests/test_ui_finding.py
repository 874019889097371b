"""Finding and reading records (issue 16): search by number and by linked names, links shown as
"number name", users by display name, child-table history as a table, whole quantities, declared row
colours and kanban cards, "move to" from the card's state, the home page's work, notification links,
one language per session, delete offered only where allowed.

One served app per module (both database passes); the browser part is in test_ui_finding_browser.py.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest

from runtime import clock
from runtime.auth import SYSTEM

from .conftest import fresh_database
from .ui_support import build, csrf, login

APP = """
app: plant
title: {zh: 车间, en: Plant}
roles: [clerk, viewer]
entities:
  partner:
    title: {zh: 外协厂, en: Partner}
    title_field: title
    fields:
      code: {type: text, label: {zh: 编码, en: Code}, required: true, unique: true}
      title: {type: text, label: {zh: 名称, en: Name}, required: true}
    list: {columns: [code, title], search: [code]}
    permissions:
      clerk: {read: true, create: true, update: true}
      viewer: {read: "code != 'P9'"}
  product:
    title: {zh: 产品, en: Product}
    title_field: title
    fields:
      code: {type: text, label: {zh: 编码, en: Code}, required: true, unique: true}
      title: {type: text, label: {zh: 名称, en: Name}}
    permissions:
      clerk: {read: true, create: true}
      viewer: {read: true}
  batch:
    title: {zh: 外发单, en: Batch}
    naming: "WF{YYYY}{MM}-{####}"
    fields:
      customer: {type: text, label: {zh: 客户, en: Customer}, max_length: 40}
      partner: {type: link, to: partner, label: {zh: 外协厂, en: Partner}, required: true}
      qty: {type: decimal, scale: 2, label: {zh: 数量, en: Qty}, min: 1}
      due: {type: date, label: {zh: 交期, en: Due}}
      lines:
        type: table
        label: {zh: 明细, en: Lines}
        fields:
          product: {type: link, to: product, label: {zh: 产品, en: Product}}
          pieces: {type: integer, label: {zh: 件数, en: Pieces}}
    list:
      columns: [name, customer, partner, qty, due, state, created_by]
      search: [customer]
      colors: [{when: "due < today() and state != 'done'", color: red}]
      card: [partner, due]
      overdue: "state != 'done' and due < today()"
    workflow:
      initial: draft
      states:
        draft: {label: {zh: 草稿, en: Draft}, color: grey}
        out: {label: {zh: 在外, en: Out}, color: blue}
        done: {label: {zh: 完成, en: Done}, color: green, final: true}
      transitions:
        send: {from: draft, to: out, label: {zh: 发出, en: Send}, roles: [clerk]}
        finish: {from: out, to: done, label: {zh: 收回, en: Finish}, roles: [clerk]}
    permissions:
      clerk: {read: true, create: true, update: true, delete: "state == 'draft'", transition: true}
      viewer: {read: true}
rules:
  sent_note:
    on: {event: transitioned, entity: batch, transition: send}
    do:
      - notify: {users: [clerk], message: "外发单 {{ name }} 已发出"}
"""


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("finding")
    for url in fresh_database(tmp, "jt_find_"):
        rt, app = build(url, tmp, texts={"plant.yaml": APP})
        rt.extensions.attach(rt)  # rules run on events (as jig.app wires them)
        rt.users.add("clerk", "clerk-pass-1", ["clerk"], display_name="计划员 王芳")
        rt.users.add("viewer", "viewer-pass-1", ["viewer"])
        clerk = rt.users.actor_for("clerk", via="web")
        p1 = rt.records.create(SYSTEM, rt.entity("plant", "partner"), {"code": "P1", "title": "宁波精密"})
        p9 = rt.records.create(SYSTEM, rt.entity("plant", "partner"), {"code": "P9", "title": "秘密电镀 Plating"})
        pr = [rt.records.create(SYSTEM, rt.entity("plant", "product"), {"code": f"G{i}", "title": t})
              for i, t in enumerate(("齿轮", "轴承"))]
        ent = rt.entity("plant", "batch")
        late = (clock.now().date() - dt.timedelta(days=3)).isoformat()
        later = (clock.now().date() + dt.timedelta(days=30)).isoformat()
        b1 = rt.records.create(clerk, ent, {"customer": "东方机械", "partner": p1["id"], "qty": "100", "due": late,
                                            "lines": [{"product": pr[0]["id"], "pieces": 5}]})
        b2 = rt.records.create(clerk, ent, {"customer": "西山五金", "partner": p9["id"], "qty": "2.5", "due": later})
        ids = {"p1": p1["id"], "p9": p9["id"], "b1": b1, "b2": b2, "products": [p["id"] for p in pr]}
        try:
            yield rt, app, ids
        finally:
            rt.db.dispose()


def _client(app: Any, user: str = "clerk") -> tuple[Any, str]:
    c = app.test_client()
    return c, login(c, user, f"{user}-pass-1")


def _send(rt: Any, app: Any, record_id: int) -> None:
    c, tok = _client(app)
    rec = c.get(f"/api/plant/batch/{record_id}").get_json()
    if rec["state"] == "draft":
        r = c.post(f"/api/plant/batch/{record_id}/transitions/send", json={"version": rec["version"]},
                   headers={"X-CSRF-Token": tok})
        assert r.status_code == 200, r.get_data(as_text=True)


def _names(html: str) -> list[str]:
    return re.findall(r"WF\d{6}-\d{4}", html)


def test_search_by_number_and_by_linked_names(plant: tuple[Any, Any, dict[str, Any]]) -> None:
    rt, app, ids = plant
    c, _ = _client(app)
    b1, b2 = ids["b1"]["name"], ids["b2"]["name"]
    assert set(_names(c.get(f"/a/plant/batch?q={b1}").get_data(as_text=True))) == {b1}  # its own number
    assert set(_names(c.get(f"/a/plant/batch?q={b1[:8]}").get_data(as_text=True))) == {b1, b2}  # a prefix
    assert set(_names(c.get("/a/plant/batch?q=宁波").get_data(as_text=True))) == {b1}  # the partner's name
    assert set(_names(c.get("/a/plant/batch?q=P9").get_data(as_text=True))) == {b2}  # the partner's code
    assert set(_names(c.get("/a/plant/batch?q=西山").get_data(as_text=True))) == {b2}  # a declared field
    assert set(_names(c.get("/a/plant/batch?q=齿轮").get_data(as_text=True))) == {b1}  # a product on its lines
    assert c.get("/api/plant/batch?q=宁波").get_json()["items"][0]["name"] == b1  # the API searches the same way
    # case is ignored on both databases (PostgreSQL's LIKE alone would not): the number, a linked name, filters
    assert set(_names(c.get(f"/a/plant/batch?q={b1.lower()}").get_data(as_text=True))) == {b1}
    assert set(_names(c.get(f"/a/plant/batch?q={b1[:6].lower()}").get_data(as_text=True))) == {b1, b2}
    assert set(_names(c.get("/a/plant/batch?q=plATing").get_data(as_text=True))) == {b2}
    assert [r["name"] for r in c.get(f"/api/plant/batch?name__startswith={b2.lower()}").get_json()["items"]] == [b2]
    assert [r["name"] for r in c.get("/api/plant/batch?partner.title__contains=plating").get_json()["items"]] == [b2]
    assert c.get("/api/plant/batch?name__contains=%25").get_json()["items"] == []  # wildcards stay text
    # a linked record the reader may not read is not searched through
    v, _ = _client(app, "viewer")
    assert _names(v.get("/a/plant/batch?q=秘密").get_data(as_text=True)) == []
    assert set(_names(v.get("/a/plant/batch?q=宁波").get_data(as_text=True))) == {b1}
    assert "没有记录" in c.get("/a/plant/batch?q=%25_nothing").get_data(as_text=True)  # LIKE wildcards are text


def test_links_users_and_quantities_read_as_people_say_them(plant: tuple[Any, Any, dict[str, Any]]) -> None:
    rt, app, ids = plant
    c, _ = _client(app)
    html = c.get("/a/plant/batch").get_data(as_text=True)
    assert "P1 宁波精密" in html  # number + name
    assert re.search(r"<td[^>]*>计划员 王芳</td>", html) and not re.search(r"<td[^>]*>clerk</td>", html)  # users by display name
    assert ">100<" in html and "100.00" not in html and "2.50" in html  # whole numbers without decimals
    form = c.get(f"/a/plant/batch/{ids['b1']['id']}").get_data(as_text=True)
    assert "P1 宁波精密" in form and "计划员 王芳" in form  # the link in the form, the user in the history


def test_history_shows_child_table_changes_as_a_table(plant: tuple[Any, Any, dict[str, Any]]) -> None:
    rt, app, ids = plant
    c, tok = _client(app)
    rid = ids["b1"]["id"]
    rec = c.get(f"/api/plant/batch/{rid}").get_json()
    row = rec["lines"][0]
    lines = [{"id": row["id"], "product": row["product"], "pieces": 7},
             {"product": ids["products"][1], "pieces": 2}]
    r = c.patch(f"/api/plant/batch/{rid}", json={"version": rec["version"], "lines": lines},
                headers={"X-CSRF-Token": tok})
    assert r.status_code == 200, r.get_data(as_text=True)
    rec = r.get_json()
    r = c.patch(f"/api/plant/batch/{rid}", json={"version": rec["version"], "lines": rec["lines"][:1]},
                headers={"X-CSRF-Token": tok})
    assert r.status_code == 200
    html = c.get(f"/a/plant/batch/{rid}").get_data(as_text=True)
    hist = html[html.index('id="history-h"'):]
    assert "[{" not in hist and "'id'" not in hist
    assert 'class="diff-added"' in hist and 'class="diff-changed"' in hist and 'class="diff-removed"' in hist
    assert "G1 轴承" in hist and "<del>5</del> → 7" in hist and "件数" in hist


def test_row_colours_kanban_cards_and_moves(plant: tuple[Any, Any, dict[str, Any]]) -> None:
    rt, app, ids = plant
    _send(rt, app, ids["b2"]["id"])
    c, _ = _client(app)
    html = c.get("/a/plant/batch").get_data(as_text=True)
    assert f'<tr data-id="{ids["b1"]["id"]}" class="row-red">' in html  # overdue: red
    assert f'<tr data-id="{ids["b2"]["id"]}">' in html
    kb = c.get("/a/plant/batch/kanban").get_data(as_text=True)
    cards = dict(re.findall(r'<li class="kcard[^"]*" draggable="true" data-id="(\d+)"(.*?)</li>', kb, re.S))
    one, two = cards[str(ids["b1"]["id"])], cards[str(ids["b2"]["id"])]
    assert "外协厂" in one and "交期" in one and "客户" not in one  # the declared card fields
    assert re.search(r'class="kcard row-red"[^>]*data-id="' + str(ids["b1"]["id"]) + '"', kb)
    # draft offers only 在外, out offers only 完成; nothing leads back
    assert re.findall(r'<option value="(\w+)">', one) == ["out"] and re.findall(r'<option value="(\w+)">', two) == ["done"]
    v, _ = _client(app, "viewer")  # a viewer may take no transition: no "move to"
    assert re.findall(r'<option value="(\w+)">', v.get("/a/plant/batch/kanban").get_data(as_text=True)) == []


def test_home_page_shows_my_work(plant: tuple[Any, Any, dict[str, Any]]) -> None:
    rt, app, ids = plant
    with rt.db.write() as conn:
        rt.notifications.add(conn, title="外发单到期提醒", users=["clerk"], app="plant",
                             link=f"/a/plant/batch/{ids['b1']['id']}")
    c, _ = _client(app)
    html = c.get("/").get_data(as_text=True)
    work = html[html.index('id="work-waiting"'):html.index('id="work-overdue"')]
    assert ids["b1"]["name"] in work and "可执行：发出" in work
    overdue = html[html.index('id="work-overdue"'):html.index('id="work-unread"')]
    assert "P1" not in overdue and "东方机械" not in overdue and ids["b1"]["name"] in overdue
    unread = html[html.index('id="work-unread"'):]
    assert f'href="/a/plant/batch/{ids["b1"]["id"]}"' in unread and "外发单到期提醒" in unread
    more = re.search(r'href="(/a/plant/batch\?state__in=[^"]+)"', work)
    assert more is not None and c.get(more.group(1).replace("&amp;", "&")).status_code == 200
    v, _ = _client(app, "viewer")
    vhtml = v.get("/").get_data(as_text=True)
    assert "暂无待办" in vhtml  # viewers take no transitions


def test_notification_links_open_the_record(plant: tuple[Any, Any, dict[str, Any]]) -> None:
    rt, app, ids = plant
    c, _ = _client(app)
    rid = ids["b1"]["id"]
    r = c.get(f"/plant/batch/{rid}")  # a link written before pages moved under /a/
    assert r.status_code == 301 and r.headers["Location"].endswith(f"/a/plant/batch/{rid}")
    assert c.get("/plant/nothing/1").status_code == 404
    _send(rt, app, ids["b2"]["id"])  # a rule notifies the clerk: its link opens the record
    notes = rt.notifications.latest("clerk", 50)
    note = next((n for n in notes if ids["b2"]["name"] in (n["body"] or "")), None)
    assert note is not None, notes
    assert note["link"] == f"/a/plant/batch/{ids['b2']['id']}"
    assert c.get(note["link"]).status_code == 200


def test_one_language_per_session(plant: tuple[Any, Any, dict[str, Any]]) -> None:
    rt, app, ids = plant
    c, tok = _client(app)
    bad = {"partner": ids["p1"], "qty": "0"}
    c.get("/lang/en")
    r = c.post("/api/plant/batch", json=bad, headers={"X-CSRF-Token": tok, "Accept-Language": "zh-CN,zh;q=0.9"})
    assert r.status_code == 422
    msg = str(r.get_json())
    assert not re.search(r"[\u4e00-\u9fff]", msg), msg  # English, as the session chose
    c.get("/lang/zh")
    r = c.post("/api/plant/batch", json=bad, headers={"X-CSRF-Token": tok, "Accept-Language": "en-US,en;q=0.9"})
    assert r.status_code == 422 and re.search(r"[\u4e00-\u9fff]", str(r.get_json()))


def test_forms_offer_only_what_the_user_may_do(plant: tuple[Any, Any, dict[str, Any]]) -> None:
    rt, app, ids = plant
    c, _ = _client(app)
    _send(rt, app, ids["b2"]["id"])
    assert 'id="delete-record"' in c.get(f"/a/plant/batch/{ids['b1']['id']}").get_data(as_text=True)  # a draft
    out = c.get(f"/a/plant/batch/{ids['b2']['id']}").get_data(as_text=True)
    assert 'id="delete-record"' not in out and 'data-transition="finish"' in out and 'data-transition="send"' not in out
    v, _ = _client(app, "viewer")
    page = v.get(f"/a/plant/batch/{ids['b1']['id']}").get_data(as_text=True)
    assert 'id="save"' not in page and 'id="delete-record"' not in page and "data-transition=" not in page
    assert re.search(r'id="fld-customer"[^>]*disabled', page)
    assert csrf(c, "/")
