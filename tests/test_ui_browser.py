"""The web UI in Chromium: sign-in, forms, transitions, kanban, dashboards, language, import/export, escaping.

Served by waitress on 127.0.0.1 with a fresh database (SQLite, or PostgreSQL with JIG_TEST_DB=postgresql).
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jig import demo

from .ui_support import build, launch_browser, serve

pytestmark = pytest.mark.browser

PASSWORD = demo.DEMO_PASSWORD
XSS = "<img src=x onerror=alert(1)>"
CORNER = {"x": 6, "y": 6}  # grab the card itself, not its link or select


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_browser()


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[tuple[Any, str]]:
    rt, app = build(database_url, tmp_path)
    demo.prepare(rt)
    server, url = serve(app)
    try:
        yield rt, url
    finally:
        server.close()
        rt.db.dispose()


def _page(browser: Any, url: str) -> tuple[Any, Any, list[str]]:
    ctx = browser.new_context(viewport={"width": 1366, "height": 768}, base_url=url, locale="zh-CN")
    ctx.set_default_timeout(8000)
    page = ctx.new_page()
    dialogs: list[str] = []

    def on_dialog(d: Any) -> None:
        dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)
    return ctx, page, dialogs


def _login(page: Any, username: str = "admin", password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


def _xlsx(rows: list[list[Any]]) -> bytes:
    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    bio = io.BytesIO()
    wb.save(bio)
    return bio.getvalue()


def test_working_through_the_outsourcing_app(browser: Any, site: tuple[Any, str]) -> None:
    rt, url = site
    ctx, page, dialogs = _page(browser, url)
    expect = pytest.importorskip("playwright.sync_api").expect

    # --- sign in: wrong password first, then the right one; home lists the user's apps
    page.goto("/")
    assert "/login" in page.url
    _login(page, "admin", "wrong-password")
    expect(page.locator("#login-error")).to_contain_text("用户名或密码不正确")
    _login(page)
    expect(page.get_by_role("heading", name="我的应用")).to_be_visible()
    expect(page.locator(".app-card h2", has_text="外发加工跟踪")).to_be_visible()
    cookie = next(c for c in ctx.cookies() if c["name"] == "jig_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    # --- create through the form: a validation error shown at its field, then fixed
    page.goto("/a/outsourcing/batch/new")
    page.get_by_label("客户名称").fill("杭州精工")
    page.get_by_label("产品编号").fill("HZ-900")
    page.locator("#fld-quantity").fill("40")
    page.get_by_label("外协厂").fill("华新")
    page.locator("[data-field=partner] [role=option]", has_text="华新电镀").click()
    page.get_by_label("发货日期").fill("2026-11-10")
    page.get_by_label("预计回厂日期").fill("2026-11-01")
    page.locator("#save").click()
    expect(page.locator("#err-expected_return")).to_have_text("预计回厂日期不能早于发货日期")
    expect(page.get_by_label("预计回厂日期")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("预计回厂日期").fill("2026-11-30")
    page.locator("#save").click()
    page.wait_for_url(re.compile(r"/a/outsourcing/batch/\d+$"))
    batch_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator("#state-badge")).to_have_text("已发货")
    expect(page.get_by_label("外协厂")).to_have_value("华新电镀")

    # --- edit, then the history timeline shows the change
    page.get_by_label("备注").fill("加急")
    page.locator("#save").click()
    expect(page.locator("#timeline")).to_contain_text("加急")
    assert rt.records.get(_admin(rt), rt.entity("outsourcing", "batch"), batch_id)["remark"] == "加急"

    # --- a transition the user may take now
    page.get_by_role("button", name="开始加工").click()
    expect(page.locator("#state-badge")).to_have_text("加工中")
    expect(page.get_by_role("button", name="已回厂")).to_be_visible()

    # --- kanban: refused with the API's reason (422: returned quantity missing), and an allowed move
    page.goto("/a/outsourcing/batch/kanban")
    card = page.locator(f".kcard[data-id='{batch_id}']")
    card.drag_to(page.locator(".lane[data-state=awaiting_qc] .cards-list"), source_position=CORNER)
    expect(page.locator("#toast")).to_contain_text("回厂数量")
    expect(page.locator(f".lane[data-state=processing] .kcard[data-id='{batch_id}']")).to_be_visible()
    other = page.locator(".lane[data-state=shipped] .kcard").first
    other_id = other.get_attribute("data-id")
    other.drag_to(page.locator(".lane[data-state=processing] .cards-list"), source_position=CORNER)
    expect(page.locator(f".lane[data-state=processing] .kcard[data-id='{other_id}']")).to_be_visible()
    expect(page.locator("#toast")).to_contain_text("加工中")
    page.locator(f".kcard[data-id='{other_id}']").drag_to(page.locator(".lane[data-state=done] .cards-list"),
                                                        source_position=CORNER)
    expect(page.locator("#toast")).to_contain_text("不能从")

    # --- dashboard with a chart, then the big-screen board with risk colours
    page.goto("/d/outsourcing/board")
    expect(page.locator(".widget.number").first).to_be_visible()
    expect(page.locator("[data-chart] canvas").first).to_be_attached()
    page.locator("#big-screen").click()
    expect(page.locator("html.bigscreen")).to_be_attached()
    colors = set(page.locator(".bcard").evaluate_all("els => els.map(e => e.dataset.color)"))
    assert {"red", "green"} <= colors, colors

    # --- a display token opens the board without signing in; a wrong token does not
    page.goto("/admin/displays")
    page.get_by_label("看板", exact=True).select_option("outsourcing/board")
    page.get_by_label("说明").fill("车间电视")
    page.get_by_role("button", name="生成令牌").click()
    link = page.locator("#new-board-link").inner_text()
    tv = browser.new_context(viewport={"width": 1920, "height": 1080})
    tv_page = tv.new_page()
    tv_page.goto(link)
    expect(tv_page.locator(".board-head h1")).to_have_text("外发看板")
    assert tv_page.goto(link[:-3] + "abc").status == 403
    tv.close()
    with rt.db.read() as conn:
        from ui.admin import displays
        stored = conn.execute(displays.select()).mappings().first()
    assert stored is not None and link.split("token=")[1] not in str(dict(stored))

    # --- language switch
    page.goto("/a/outsourcing/batch")
    page.locator("#lang-switch").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.locator("h1")).to_have_text("Outsourced Batch")
    page.locator("#lang-switch").click()
    expect(page.locator("h1")).to_have_text("外发单")

    # --- import: one bad row refuses the whole file (row number shown), a good file goes in
    before = _count(rt)
    header = ["客户名称", "产品编号", "数量", "外协厂", "发货日期", "预计回厂日期"]
    bad = _xlsx([header, ["甲厂", "IM-1", 10, "华新电镀", dt.date(2026, 11, 1), dt.date(2026, 11, 9)],
                 ["乙厂", "IM-2", 0, "永盛喷涂", dt.date(2026, 11, 1), dt.date(2026, 11, 9)]])
    page.goto("/a/outsourcing/batch/import")
    page.get_by_label("文件（.csv 或 .xlsx）").set_input_files(
        {"name": "bad.xlsx", "mimeType": "application/octet-stream", "buffer": bad})
    page.get_by_role("button", name="预览").click()
    expect(page.locator("#map-3")).to_have_value("partner")
    page.locator("#run-import").click()
    expect(page.locator("#import-error")).to_contain_text("1 行有错误")
    expect(page.locator("#import-errors tbody tr").first).to_contain_text("3")
    expect(page.locator("#import-errors")).to_contain_text("不能小于 1")
    assert _count(rt) == before
    good = _xlsx([header, ["甲厂", "IM-1", 10, "华新电镀", dt.date(2026, 11, 1), dt.date(2026, 11, 9)],
                  ["乙厂", "IM-2", 5, "永盛喷涂", "2026-11-02", "2026-11-12"]])
    page.get_by_label("文件（.csv 或 .xlsx）").set_input_files(
        {"name": "good.xlsx", "mimeType": "application/octet-stream", "buffer": good})
    page.get_by_role("button", name="预览").click()
    page.locator("#run-import").click()
    expect(page.locator("#import-done")).to_have_text("已导入 2 条记录")
    assert _count(rt) == before + 2

    # --- export the (filtered) list to XLSX
    page.goto("/a/outsourcing/batch?q=IM-")
    with page.expect_download() as info:
        page.locator("#export-xlsx").click()
    import openpyxl
    wb = openpyxl.load_workbook(io.BytesIO(Path(info.value.path()).read_bytes()))
    rows = list(wb.active.iter_rows(values_only=True))
    assert rows[0][:3] == ("单号", "客户名称", "产品编号")
    assert sorted(r[2] for r in rows[1:]) == ["IM-1", "IM-2"]
    assert dialogs == []
    ctx.close()


def _admin(rt: Any) -> Any:
    from runtime.auth import SYSTEM
    return SYSTEM


def _count(rt: Any) -> int:
    from sqlalchemy import func, select
    table = rt.tables["outsourcing.batch"]
    with rt.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


XSS_APP = f"""
app: xss_demo
title: {{zh: "{XSS}", en: "{XSS}"}}
roles: [clerk]
entities:
  note:
    title: {{zh: "{XSS}"}}
    fields:
      title: {{type: text, label: {{zh: "{XSS}", en: "{XSS}"}}, required: true}}
      kind:
        type: select
        label: 种类
        options:
          - {{value: a, label: "{XSS}"}}
    list:
      columns: [title, kind]
      search: [title]
    permissions:
      clerk: {{read: true, create: true, update: true}}
dashboards:
  board:
    title: "{XSS}"
    widgets:
      - {{type: table, title: "{XSS}", entity: note, columns: [title, kind]}}
      - {{type: bar, title: "{XSS}", entity: note, group_by: title}}
"""


def test_labels_and_values_typed_by_users_render_as_text(browser: Any, database_url: str, tmp_path: Path) -> None:
    rt, app = build(database_url, tmp_path, texts={"xss.yaml": XSS_APP})
    rt.users.add("clerk", PASSWORD, ["clerk"])
    from runtime.auth import SYSTEM
    rec = rt.records.create(SYSTEM, rt.entity("xss_demo", "note"), {"title": XSS, "kind": "a"})
    with rt.db.write() as conn:
        rt.notifications.add(conn, title=XSS, body=XSS, users=["clerk"], link="javascript:alert(3)")
    server, url = serve(app)
    try:
        ctx, page, dialogs = _page(browser, url)
        expect = pytest.importorskip("playwright.sync_api").expect
        _login(page, "clerk")
        for path in ("/", "/a/xss_demo/note", f"/a/xss_demo/note/{rec['id']}", "/d/xss_demo/board", "/notifications",
                     "/a/xss_demo/note?q=img"):
            page.goto(path)
            page.wait_for_load_state("load")
            expect(page.get_by_text(XSS).first).to_be_visible()
            assert page.locator("img[src=x]").count() == 0, path
        page.goto(f"/a/xss_demo/note/{rec['id']}")
        field = page.get_by_role("textbox", name=XSS)  # the label is bound to its input and shown as text
        expect(field).to_have_value(XSS)
        page.goto("/a/xss_demo/note/new")
        page.get_by_role("textbox", name=XSS).fill(XSS + "2")
        page.locator("#save").click()
        page.wait_for_url(re.compile(r"/a/xss_demo/note/\d+$"))
        expect(page.locator("#timeline")).to_contain_text(XSS + "2")
        assert page.locator("img[src=x]").count() == 0
        page.wait_for_timeout(300)
        assert dialogs == []
        ctx.close()
    finally:
        server.close()
        rt.db.dispose()
