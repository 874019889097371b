"""Connector setup in Chromium (issue 12, must-show 3 and 4): IT sets up the Kingdee preset against the ERP
simulator (what ``jig mock-erp`` serves) for the shipped work_order_tracking app's sales orders, on one
page — stored secret, the header mapping and the order lines' child-table mapping, test connection (the raw
answer beside the mapped orders and their lines), one mapping adjusted with the preview updating, publish
(a version with its diff), sync now with progress and the live log, the orders with their lines in the
app, the run log and a quarantined malformed row. SQLite pass only, like every browser test.

Screenshots go to a temp dir; ``JIG_SCREENSHOTS_DIR=docs/screenshots`` writes the ones the README shows.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from connectors import vault
from connectors.simulator import Erp, Simulator
from jig.app import Jig
from jig.config import Settings

from .conftest import APPS
from .test_connector_setup import KEY
from .ui_support import launch_browser, serve

pytestmark = pytest.mark.browser
WAIT = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_browser()


@pytest.fixture
def site(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str, Any]]:
    monkeypatch.setenv(vault.KEY_ENV, KEY)
    erp = Erp(seed=5)
    erp.set_switches(["malformed"])  # every 11th order is answered with a column missing
    erp.seed(23)
    sim = Simulator(erp).start()
    apps = tmp_path / "apps"  # the shipped app alone: its connector is what IT sets up on the page
    apps.mkdir()
    shutil.copy(APPS / "work_order_tracking.yaml", apps)
    jig = Jig(Settings(database_url=database_url, apps=[str(apps)], secret_key="t" * 40,
                       files_dir=str(tmp_path / "files")), refresh_seconds=0)
    app = jig.wsgi()
    jig.runtime.users.add("it", "it-pass-1", ["admin"])
    server, url = serve(app)
    try:
        yield url, sim.url, jig
    finally:
        server.close()
        sim.stop()
        jig.close()


def shot(page: Any, path: Path | str, inside: str) -> None:
    """The page's section holding ``inside`` (the header, which sticks to the viewport, kept out of it)."""
    page.add_style_tag(content="header.top { position: static !important; }")
    page.locator("section.cs-box").filter(has=page.locator(inside)).screenshot(path=str(path))


def _changed(page: Any, locator: Any, value: str) -> None:
    """Type a value and leave the field: the page saves it as a draft edit; wait for that save."""
    with page.expect_response(lambda r: "/draft/edits" in r.url and r.request.method == "POST") as saved:
        locator.fill(value)
        locator.press("Tab")
    assert saved.value.ok, saved.value.text()
    page.wait_for_timeout(50)  # the answer is rendered


def test_it_sets_up_kingdee_tests_maps_publishes_and_syncs(browser: Any, site: tuple[str, str, Any],
                                                           tmp_path: Path) -> None:
    from playwright.sync_api import expect

    from connectors.reconcile import reconcile
    url, erp_url, jig = site
    shots = Path(os.environ.get("JIG_SCREENSHOTS_DIR") or tmp_path)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=url, locale="zh-CN")
    ctx.set_default_timeout(8000)
    page = ctx.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: d.accept())
    page.goto("/login")
    page.get_by_label("用户名").fill("it")
    page.get_by_label("密码").fill("it-pass-1")
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/$"))

    page.goto("/connectors/work_order_tracking")
    expect(page.locator("#cs-new-preset option[value=kingdee_k3cloud]")).to_have_count(1)
    page.locator("#cs-new-name").fill("kingdee")
    page.locator("#cs-new-preset").select_option("kingdee_k3cloud")
    page.locator("#cs-new-entity").select_option("sales_order")
    with page.expect_response(lambda r: "/draft/edits" in r.url):
        page.locator("#cs-new-go").click()
    expect(page.locator("#cs-body")).to_be_visible()
    _changed(page, page.locator("#cs-base-url"), erp_url)
    for var, value in (("acct_id", "sim"), ("user", "jig"), ("app_id", "jig-app")):
        _changed(page, page.locator(f"[data-var={var}]"), value)
    # the app secret typed in the browser: stored encrypted, shown only as "set on ... by ..."
    page.get_by_label("app_secret 在此输入（加密保存）").fill("sim-secret")
    with page.expect_response(lambda r: "/draft/edits" in r.url):
        page.get_by_role("button", name="保存密钥").click()
    expect(page.locator("[data-secret=kingdee_app_secret]")).to_contain_text("已设置")
    expect(page.locator("[data-secret=kingdee_app_secret]")).to_contain_text("it")
    _changed(page, page.locator("[data-field=customer]"), "FCustId.FNumber")
    _changed(page, page.locator("[data-create=customer]"), "FCustId.FName")
    _changed(page, page.locator("[data-field=delivery_date]"), "FDeliveryDate")
    # the order lines: a child table, its rows the ERP rows of one order (Kingdee answers one row per line)
    expect(page.locator("[data-child=lines] h3")).to_contain_text("订单明细")
    with page.expect_response(lambda r: "/draft/edits" in r.url):
        page.locator("[data-child-key=lines]").select_option("erp_entry_id")
    for field, source in (("lines.erp_entry_id", "FSaleOrderEntry_FEntryID"), ("lines.product", "FMaterialId.FNumber"),
                          ("lines.qty", "FQty")):
        _changed(page, page.locator(f"[data-field='{field}']"), source)
    _changed(page, page.locator("[data-create='lines.product']"), "FMaterialId.FName")
    expect(page.locator("#cs-errors")).to_be_hidden()

    page.locator("#cs-test").click()
    expect(page.locator("#cs-raw")).to_contain_text("XSDD", timeout=WAIT)
    expect(page.locator("#cs-mapped-table")).to_contain_text("customer.code = C")
    expect(page.locator("#cs-mapped-table .cs-child-rows").first).to_contain_text("product.code = ")
    assert "sim-secret" not in page.content()
    shot(page, shots / "connector-test.png", "#cs-test")

    # adjust one mapping: an unknown ERP field is an error at its row, then the right one; the preview follows
    _changed(page, page.locator("[data-field=order_date]"), "FNoSuchDate")
    expect(page.locator("tr[data-row=order_date] .cs-err")).to_contain_text("FNoSuchDate")
    _changed(page, page.locator("[data-field=order_date]"), "FDate")
    expect(page.locator("tr[data-row=order_date] .cs-err")).to_have_count(0)
    expect(page.locator("#cs-mapped-table thead").first).to_contain_text("order_date", timeout=WAIT)
    shot(page, shots / "connector-mapping.png", "#cs-mapping")

    page.locator("#cs-message").fill("金蝶销售订单")
    page.locator("#cs-publish").click()
    expect(page.locator("#cs-published")).to_contain_text("已发布版本 2", timeout=WAIT)
    page.locator("#cs-versions li").first.get_by_role("button", name="差异").click()
    expect(page.locator("#cs-diff")).to_contain_text("+connectors:")
    expect(page.locator("#cs-diff")).to_contain_text("${secret:kingdee_app_secret}")

    page.locator("#cs-sync").click()
    expect(page.locator("#cs-progress-text")).to_contain_text("partial", timeout=WAIT)
    expect(page.locator("#cs-progress-text")).to_contain_text("created 21")
    expect(page.locator("#cs-log li").first).to_contain_text("LoginByAppSecret")
    expect(page.locator("#cs-quarantine tbody tr")).to_have_count(2)
    expect(page.locator("#cs-quarantine")).to_contain_text("does not match select")
    expect(page.locator("#cs-runs tbody tr")).to_have_count(1)
    shot(page, shots / "connector-sync.png", "#cs-sync")

    page.locator("#cs-list-link").click()
    expect(page.locator("main")).to_contain_text("XSDD")
    page.locator("main a", has_text="SO").first.click()  # an order: its lines came with it
    expect(page.locator("main")).to_contain_text("XSDD")
    expect(page.locator("main")).to_contain_text("订单明细")
    # its history: made with its lines (a child table's change is shown as a table of the rows added)
    expect(page.locator(".child-change", has_text="订单明细").locator("tr.diff-added").first).to_be_visible()
    lines = jig.runtime.tables.for_entity(jig.runtime.entity("work_order_tracking", "sales_order").fields["lines"].child)
    with jig.runtime.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(lines)).scalar_one() >= 21
    ctx.close()
    reconcile(jig.runtime, "kingdee")  # the morning's reconciliation, as its schedule would run it
    phone = browser.new_context(viewport={"width": 390, "height": 844}, base_url=url, locale="zh-CN",
                                storage_state=None)
    ppage = phone.new_page()
    ppage.goto("/login")
    ppage.get_by_label("用户名").fill("it")
    ppage.get_by_label("密码").fill("it-pass-1")
    ppage.get_by_role("button", name="登录").click()
    ppage.wait_for_url(re.compile(r"/$"))
    ppage.goto("/connectors/work_order_tracking")
    expect(ppage.locator("#cs-quarantine tbody tr")).to_have_count(2)
    expect(ppage.locator("#cs-report")).to_contain_text("malformed_in_erp")
    wide = ppage.evaluate("[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 392).map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 8)")
    assert ppage.evaluate("document.documentElement.scrollWidth") <= 390 + 1, wide
    ppage.add_style_tag(content="header.top { position: static !important; }")  # not over the shot
    ppage.locator("section.cs-box").filter(has=ppage.locator("#cs-sync")).screenshot(
        path=str(shots / "connector-phone.png"))  # the sync section at phone width
    phone.close()
    assert problems == []
