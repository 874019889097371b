"""The import page in Chromium: download the template, fill it, upload it, read the row errors, fix, import.

Screenshot of the report with JIG_SHOTS_DIR set (docs/screenshots/import-report.png).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.auth import SYSTEM

from .test_imports import PLANT
from .ui_support import build, launch_browser, serve

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_browser()


@pytest.fixture(scope="module")
def site(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    tmp = tmp_path_factory.mktemp("impb")
    rt, app = build(f"sqlite:///{tmp / 'imp.db'}", tmp, texts={"plant.yaml": PLANT})
    rt.users.add("clerk", "clerk-pass-1", ["clerk"], display_name="文员 王")
    for name in ("宁波精密", "苏州精工"):
        rt.records.create(SYSTEM, rt.entity("plant", "customer"), {"cname": name, "region": "east"})
    server, url = serve(app)
    try:
        yield rt, url
    finally:
        server.close()
        rt.db.dispose()


def test_template_fill_upload_report_fix_import(browser: Any, site: tuple[Any, str], tmp_path: Path) -> None:
    import openpyxl
    from playwright.sync_api import expect
    rt, url = site
    ctx = browser.new_context(base_url=url, locale="zh-CN", accept_downloads=True)
    page = ctx.new_page()
    page.goto("/login")
    page.get_by_label("用户名").fill("clerk")
    page.get_by_label("密码").fill("clerk-pass-1")
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r".*/$"))
    page.goto("/a/plant/order/import")
    with page.expect_download() as dl:
        page.locator("#import-template").click()
    template = tmp_path / "template.xlsx"
    dl.value.save_as(template)
    wb = openpyxl.load_workbook(template)
    ws = wb.worksheets[0]
    assert [c.value for c in ws[1]][:3] == ["编号 *", "客户 *", "数量 *"]
    rows = [["B1", "宁波精密", 5, 12.5, "加急", "2026/12/1", None],
            ["B2", "没有的客户", 0, None, "标准", "2026年12月1日", None],
            ["B3", "C0002", 3, None, None, 46357, 46360]]
    for r in rows:
        ws.append(r)
    bio = io.BytesIO()
    wb.save(bio)
    filled = tmp_path / "订单.xlsx"
    filled.write_bytes(bio.getvalue())
    page.set_input_files("#import-file", str(filled))
    page.locator("#import-file").evaluate("e => e.form.submit()")
    expect(page.locator("#run-import")).to_be_visible()
    page.locator("#run-import").click()
    errors = page.locator("#import-errors tbody tr")
    expect(errors).to_have_count(3)  # row 3: the customer, the quantity; row 4: shipped after it is due
    expect(page.locator("#import-error")).to_contain_text("2 行有错误")
    expect(errors.filter(has_text="发货日不能晚于交期")).to_have_count(1)
    expect(errors.filter(has_text="找不到编号或名称为「没有的客户」的记录")).to_have_count(1)
    shots = os.environ.get("JIG_SHOTS_DIR")
    page.screenshot(path=str(Path(shots or tmp_path) / "import-report.png"), full_page=True)
    # fix the rows in the file and import again
    ws.cell(row=3, column=2, value="苏州精工")
    ws.cell(row=3, column=3, value=2)
    ws.cell(row=4, column=7, value=46350)
    bio = io.BytesIO()
    wb.save(bio)
    filled.write_bytes(bio.getvalue())
    page.set_input_files("#import-file", str(filled))
    page.locator("#import-file").evaluate("e => e.form.submit()")
    expect(page.locator("#run-import")).to_be_visible()
    page.locator("#run-import").click()
    expect(page.locator("#import-done")).to_contain_text("已导入 3 条记录")
    page.locator("#import-done + p a").click()
    expect(page.locator("body")).to_contain_text("苏州精工")
    ctx.close()
