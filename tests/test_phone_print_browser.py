"""Phones and paper, in Chromium: at 390×844 the list is cards with their state, the filters fold away, child
tables stack and the header is one line; declared documents (外发单, 工序流转卡) print with the company header,
the record's values and QR codes, and make a one-page PDF. One server and one browser for the module."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.auth import SYSTEM

from .conftest import fresh_database
from .ui_support import build, launch_browser, serve

pytestmark = pytest.mark.browser
PASSWORD = "phone-print-pass"
SHOTS = os.environ.get("JIG_SCREENSHOTS_DIR")  # set to docs/screenshots to refresh the README's pictures


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_browser()


@pytest.fixture(scope="module")
def site(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, dict[str, int]]]:
    tmp = tmp_path_factory.mktemp("phone")
    for url in fresh_database(tmp):
        rt, app = build(url, tmp)
        rt.settings["company"] = {"name": "宁波精密机械有限公司", "address": "浙江省宁波市北仑区新矸路 88 号"}
        rt.users.add("planner", PASSWORD, ["planner"], display_name="计划员 王芳")
        ent = rt.entity
        partner = rt.records.create(SYSTEM, ent("outsourcing", "partner"), {"name": "华新电镀", "phone": "13800001111"})
        ids = {}
        for i, (qty, customer) in enumerate(((2400, "宁波精密"), (500, "慈溪五金"), (80, "余姚模具"))):
            ids[f"batch{i}"] = rt.records.create(SYSTEM, ent("outsourcing", "batch"), {
                "customer": customer, "product_no": f"P-10{i}", "quantity": qty, "partner": partner["id"],
                "process": "plating", "ship_date": "2026-11-18", "expected_return": "2026-11-25"})["id"]
        w = "work_order_tracking"
        fg = rt.records.create(SYSTEM, ent(w, "product"), {"code": "FG-1", "name": "支架总成", "kind": "finished"})["id"]
        rm = rt.records.create(SYSTEM, ent(w, "product"), {"code": "RM-1", "name": "冷轧钢板", "kind": "raw"})["id"]
        ids["bom"] = rt.records.create(SYSTEM, ent(w, "bom"), {"product": fg, "lines": [
            {"item": rm, "qty": "2.5", "unit": "kg"}, {"item": rm, "qty": 1, "unit": "kg"}]})["id"]
        ids["wo"] = rt.records.create(SYSTEM, ent(w, "work_order"), {"product": fg, "qty": 100})["id"]
        for seq, name in ((10, "冲压"), (20, "焊接")):
            rt.records.create(SYSTEM, ent(w, "operation"), {"work_order": ids["wo"], "seq": seq, "name": name,
                                                           "workstation": "一车间", "planned_qty": 100})
        server, base = serve(app)
        try:
            yield rt, base, ids
        finally:
            server.close()
            rt.db.dispose()


def _page(browser: Any, url: str, width: int, height: int) -> Any:
    ctx = browser.new_context(viewport={"width": width, "height": height}, base_url=url, locale="zh-CN")
    ctx.set_default_timeout(8000)
    page = ctx.new_page()
    page.goto("/login")
    page.get_by_label("用户名").fill("planner")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/$|/a/"))
    return page


def _no_sideways_scroll(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url


def test_phone_lists_are_cards_and_forms_stack(browser: Any, site: tuple[Any, str, dict[str, int]]) -> None:
    rt, url, ids = site
    page = _page(browser, url, 390, 844)
    page.goto("/a/outsourcing/batch")
    top = page.locator("header.top").bounding_box()
    assert top["height"] < 56  # one line
    for part in ("header.top .brand", "header.top .right"):
        box = page.locator(part).bounding_box()
        assert box["y"] >= top["y"] and box["y"] + box["height"] <= top["y"] + top["height"]
    assert not page.locator("#filters").is_visible()
    page.locator("label[for=show-filters]").click()
    assert page.locator("#filters").is_visible()
    page.locator("label[for=show-filters]").click()
    cards = page.locator("#records tr[data-id]")
    assert cards.count() == 3
    assert page.locator("#records thead").is_hidden()
    first = cards.first.bounding_box()
    assert first["x"] >= 0 and first["x"] + first["width"] <= 390 and first["height"] < 260
    assert cards.first.evaluate("e => getComputedStyle(e).display") == "block"
    badge = cards.first.locator("td.c-state .badge")
    assert badge.is_visible() and badge.inner_text() == "已发货"
    b = badge.bounding_box()
    assert b["y"] < first["y"] + 40 and b["x"] + b["width"] <= 390  # top right of the card
    assert cards.first.locator("td.c-minor:not(.c-state)").first.is_hidden()
    assert cards.first.locator("td:first-child a").is_visible()
    _no_sideways_scroll(page)
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / "list-phone-cards.png"))
    page.goto(f"/a/work_order_tracking/bom/{ids['bom']}")
    rows = page.locator("table.child[data-child=lines] tr[data-row]")
    assert rows.count() == 2 and page.locator("table.child thead").first.is_hidden()
    r0, r1 = rows.nth(0).bounding_box(), rows.nth(1).bounding_box()
    assert r1["y"] >= r0["y"] + r0["height"] and r0["width"] <= 390  # stacked, not side by side
    label = rows.nth(0).locator("td[data-cfield=qty] label")
    item = rows.nth(0).locator("td[data-cfield=qty] input")
    assert label.is_visible() and label.inner_text() == "用量"
    assert label.bounding_box()["y"] < item.bounding_box()["y"]  # the label above its field
    _no_sideways_scroll(page)
    page.context.close()


def test_declared_documents_print(browser: Any, site: tuple[Any, str, dict[str, int]]) -> None:
    rt, url, ids = site
    page = _page(browser, url, 1280, 800)
    page.goto(f"/a/outsourcing/batch/{ids['batch0']}")
    button = page.locator("a.print-doc", has_text="外发单")
    assert button.is_visible() and page.locator("a.print-doc", has_text="送货单").is_visible()
    page.emulate_media(media="print")  # any page prints without the menus and buttons
    assert page.locator("header.top").is_hidden() and button.is_hidden()
    assert page.locator("#fld-customer").is_visible()
    page.emulate_media(media="screen")
    page.goto(button.get_attribute("href"))
    assert page.locator("#company-name").inner_text() == "宁波精密机械有限公司"
    assert page.locator("#doc-title").inner_text() == "外发单"
    body = page.locator("body").inner_text()
    for value in ("宁波精密", "P-100", "2400", "华新电镀", "浙江省宁波市", "外协厂签收"):
        assert value in body, value
    assert page.locator(".rqr svg").count() == 1  # the partner's update link
    page.emulate_media(media="print")
    assert page.locator(".screen-only").is_hidden()
    pdf = page.pdf(format="A4", print_background=True)
    assert pdf[:5] == b"%PDF-" and len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
    if SHOTS:
        page.emulate_media(media="screen")
        page.set_viewport_size({"width": 820, "height": 1100})
        page.screenshot(path=str(Path(SHOTS) / "print-dispatch-note.png"))
    page.goto(f"/a/work_order_tracking/work_order/{ids['wo']}/print/traveller")
    rows = page.locator("#doc-rows tbody tr")
    assert rows.count() == 2 and "冲压" in rows.nth(0).inner_text() and "焊接" in rows.nth(1).inner_text()
    assert page.locator("#doc-rows td.qr svg").count() == 2  # one scan code per operation
    assert len(re.findall(rb"/Type\s*/Page[^s]", page.pdf(format="A4"))) == 1
    assert page.goto(f"/a/work_order_tracking/work_order/{ids['wo']}/print/dispatch_note").status == 404
    page.context.close()
