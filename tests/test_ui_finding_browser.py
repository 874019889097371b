"""Finding and reading records in Chromium, on a phone (390×844): the home page's work, search by number,
a coloured row, kanban cards with their declared fields and "move to" from the card's state, the
child-table history, and errors in the session's language whatever the browser asks for.

The app and its data are test_ui_finding.py's; one server and one browser for the module (SQLite pass only).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from runtime.auth import SYSTEM

from .test_ui_finding import APP
from .ui_support import build, launch_browser, serve

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_browser()


@pytest.fixture(scope="module")
def site(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, dict[str, Any]]]:
    import datetime as dt

    from runtime import clock
    tmp = tmp_path_factory.mktemp("finding_browser")
    rt, app = build(f"sqlite:///{tmp / 'jig.db'}", tmp, texts={"plant.yaml": APP})
    rt.users.add("clerk", "clerk-pass-1", ["clerk"], display_name="计划员 王芳")
    clerk = rt.users.actor_for("clerk", via="web")
    p1 = rt.records.create(SYSTEM, rt.entity("plant", "partner"), {"code": "P1", "title": "宁波精密"})
    g = rt.records.create(SYSTEM, rt.entity("plant", "product"), {"code": "G1", "title": "齿轮"})
    late = (clock.now().date() - dt.timedelta(days=3)).isoformat()
    ent = rt.entity("plant", "batch")
    made = [rt.records.create(clerk, ent, {"customer": f"客户{i}", "partner": p1["id"], "qty": "100", "due": late,
                                           "lines": [{"product": g["id"], "pieces": i + 1}]}) for i in range(3)]
    server, url = serve(app)
    try:
        yield rt, url, {"batches": made}
    finally:
        server.close()
        rt.db.dispose()


def test_a_planner_finds_and_reads_records_on_a_phone(browser: Any, site: tuple[Any, str, dict[str, Any]]) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    rt, url, ids = site
    first, second = ids["batches"][0], ids["batches"][1]
    ctx = browser.new_context(viewport=PHONE, base_url=url, locale="zh-CN", is_mobile=True, has_touch=True)
    page = ctx.new_page()
    page.goto("/login")
    page.get_by_label("用户名").fill("clerk")
    page.get_by_label("密码").fill("clerk-pass-1")
    page.get_by_role("button", name="登录").click()

    # --- home: my work, with counts and links
    expect(page.locator("#work-waiting")).to_contain_text(first["name"])
    expect(page.locator("#work-overdue .count")).to_have_text("3")
    page.locator("#work-overdue a", has_text=second["name"]).click()
    expect(page.locator("h1")).to_contain_text(second["name"])

    # --- search by the record's own number; the overdue row is red; the partner shows as "P1 宁波精密"
    page.goto("/a/plant/batch")
    page.locator("label[for=show-filters]").click()
    page.locator("#q").fill(first["name"])
    page.locator("#filters button[type=submit]").click()
    rows = page.locator("#records tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_class("row-red")
    expect(rows.first).to_contain_text("P1 宁波精密")
    expect(rows.first).not_to_contain_text("100.00")

    # --- kanban: the declared card fields; "move to" offers the one next state, then what follows it
    page.goto("/a/plant/batch/kanban")
    card = page.locator(f".kcard[data-id='{first['id']}']")
    expect(card).to_contain_text("外协厂 P1 宁波精密")
    move = card.locator("select[data-move]")
    assert move.locator("option").all_inner_texts()[1:] == ["在外"]
    move.select_option("out")
    expect(page.locator(f".lane[data-state=out] .kcard[data-id='{first['id']}']")).to_be_visible()
    expect(move.locator("option")).to_have_count(2)
    assert move.locator("option").all_inner_texts()[1:] == ["完成"]

    # --- the record: delete is offered only while a draft; the child-table history is a table
    page.goto(f"/a/plant/batch/{first['id']}")
    expect(page.locator("#delete-record")).to_have_count(0)
    page.locator("[data-child=lines] tbody tr").first.locator("[data-cfield=pieces] input").fill("9")
    page.locator("#save").click()
    expect(page.locator("table.child-diff").first).to_contain_text("齿轮")
    expect(page.locator("table.child-diff tr.diff-changed").first).to_contain_text("1 → 9")
    page.goto(f"/a/plant/batch/{second['id']}")
    expect(page.locator("#delete-record")).to_be_visible()

    # --- English session, Chinese browser: the validation error is in English
    page.locator("#lang-switch").click()
    page.locator("#fld-qty").fill("0")
    page.locator("#save").click()
    expect(page.locator("#err-qty")).to_be_visible()
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in page.locator("#err-qty").inner_text())
    ctx.close()
