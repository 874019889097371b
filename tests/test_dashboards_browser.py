"""Dashboards in Chromium with the custom ECharts build: every widget kind, whole-number count axes,
暂无数据 for empty charts, the timing only on request, the big-screen board on a phone, cached assets.

One server and one browser for the module (SQLite pass only, as every browser test).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.auth import SYSTEM

from .ui_support import ROOT, build, launch_browser, serve

pytestmark = pytest.mark.browser
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "locale": "zh-CN"}

APP = """
app: dash_demo
title: {zh: 看板测试, en: Dashboard test}
roles: [clerk]
entities:
  job:
    title: {zh: 工单, en: Job}
    fields:
      line:
        type: select
        label: {zh: 产线, en: Line}
        options: [{value: a, label: A线}, {value: b, label: B线}]
      qty: {type: integer, label: {zh: 数量, en: Qty}}
      day: {type: date, label: {zh: 日期, en: Day}}
    list: {columns: [line, qty, day]}
    permissions:
      clerk: {read: true, create: true}
dashboards:
  all:
    title: {zh: 全部图表, en: All charts}
    widgets:
      - {type: number, title: {zh: 工单数, en: Jobs}, entity: job}
      - {type: bar, title: {zh: 各线工单, en: Jobs by line}, entity: job, group_by: line}
      - {type: line, title: {zh: 每日工单, en: Jobs per day}, entity: job, group_by: day}
      - {type: pie, title: {zh: 产线占比, en: Share by line}, entity: job, group_by: line}
      - {type: bar, title: {zh: 大批量, en: Big jobs}, entity: job, filter: "qty > 1000", group_by: line}
      - {type: bar, title: {zh: 各线数量, en: Qty by line}, entity: job, group_by: line, value: {avg: qty}}
      - {type: table, title: {zh: 明细, en: Rows}, entity: job, columns: [line, qty]}
      - type: board
        title: {zh: 按线, en: By line}
        entity: job
        group_by: line
        columns: [qty]
        colors: [{color: red, when: "qty > 5"}]
"""
KINDS = 4  # charts among the widgets above that have data: bar, line, pie, avg bar


class Hits:
    """WSGI middleware counting the requests per path (are cached assets asked for again?)."""

    def __init__(self, app: Any) -> None:
        self.app, self.paths = app, []  # type: ignore[var-annotated]

    def __call__(self, environ: dict[str, Any], start: Any) -> Any:
        self.paths.append(environ.get("PATH_INFO", ""))
        return self.app(environ, start)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_browser()


@pytest.fixture(scope="module")
def site(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Hits]]:
    tmp = tmp_path_factory.mktemp("dash")
    rt, app = build(f"sqlite:///{tmp / 'jig.db'}", tmp, texts={"dash_demo.yaml": APP})
    rt.users.add("clerk", "clerk-pass-1", ["clerk"], display_name="文员")
    ent = rt.entity("dash_demo", "job")
    day = dt.date(2026, 3, 2)
    for line, qty, d in (("a", 3, 0), ("a", 9, 1), ("b", 4, 1)):
        rt.records.create(SYSTEM, ent, {"line": line, "qty": qty, "day": (day + dt.timedelta(days=d)).isoformat()})
    hits = Hits(app)
    server, url = serve(hits)
    try:
        yield url, hits
    finally:
        server.close()
        rt.db.dispose()


def _signed_in(browser: Any, url: str, **ctx_args: Any) -> tuple[Any, list[str]]:
    ctx = browser.new_context(base_url=url, **(ctx_args or {"viewport": {"width": 1280, "height": 900},
                                                           "locale": "zh-CN"}))
    ctx.set_default_timeout(8000)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{m.text} {m.location.get('url', '')}")
            if m.type == "error" and "favicon.ico" not in m.location.get("url", "") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("/login")
    page.get_by_label("用户名").fill("clerk")
    page.get_by_label("密码").fill("clerk-pass-1")
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{url}/")
    return page, errors


TICKS = """node => {
  const chart = window.echarts.getInstanceByDom(node);
  const axis = chart.getModel().getComponent('yAxis', 0).axis;
  return axis.scale.getTicks().map(t => typeof t === 'object' ? t.value : t);
}"""


def test_every_widget_kind_renders_with_whole_count_axes(browser: Any, site: tuple[str, Hits]) -> None:
    url, hits = site
    page, errors = _signed_in(browser, url)
    expect = pytest.importorskip("playwright.sync_api").expect
    responses: dict[str, Any] = {}
    page.on("response", lambda r: responses.setdefault(r.url.split("?")[0].rsplit("/", 1)[-1], r))
    page.goto("/d/dash_demo/all")
    expect(page.locator("[data-chart] canvas")).to_have_count(KINDS)
    assert page.evaluate("() => typeof window.echarts.init") == "function"
    assert page.locator("section.number .number").inner_text().startswith("3")
    # counts step by whole numbers: 2 jobs on line A, 1 on B -> 0, 1, 2 (not 0, 0.5, 1, 1.5, 2)
    bar = page.locator('section.bar [data-chart="1"]')
    ticks = bar.evaluate(TICKS)
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    assert all(float(t).is_integer() for t in page.locator('[data-chart="2"]').evaluate(TICKS))
    # an average is not a count: its axis may show fractions (no minInterval)
    assert page.locator('[data-chart="5"]').evaluate(
        "n => window.echarts.getInstanceByDom(n).getOption().yAxis[0].minInterval") is None
    # the empty chart says so, and is not an empty canvas
    empty = page.locator('section[data-widget="4"]')
    expect(empty.locator(".no-data")).to_have_text("暂无数据")
    assert empty.locator("canvas").count() == 0
    expect(page.locator("section.table tbody tr")).to_have_count(3)
    expect(page.locator("section.board .bcard.red")).to_have_count(1)
    # the timing is for whoever asks
    assert page.locator("#dash-timing").count() == 0 and " ms" not in page.locator("main").inner_text()
    page.goto("/d/dash_demo/all?debug=1")
    expect(page.locator("#dash-timing")).to_contain_text("ms")
    # the assets came fingerprinted, compressed and cacheable for a year
    js = responses["echarts.custom.min.js"]
    assert "?v=" in js.url and js.headers.get("content-encoding") == "gzip"
    assert "immutable" in js.headers.get("cache-control", "")
    # ... so the next visit does not ask for them again
    before = hits.paths.count("/ui/static/vendor/echarts.custom.min.js")
    page.goto("/d/dash_demo/all")
    expect(page.locator("[data-chart] canvas")).to_have_count(KINDS)
    assert hits.paths.count("/ui/static/vendor/echarts.custom.min.js") == before
    assert errors == []
    page.context.close()


def test_board_on_a_phone_in_english(browser: Any, site: tuple[str, Hits]) -> None:
    url, _ = site
    page, errors = _signed_in(browser, url, **PHONE)
    expect = pytest.importorskip("playwright.sync_api").expect
    page.goto("/board/dash_demo/all?lang=en")
    expect(page.locator("[data-chart] canvas")).to_have_count(KINDS)
    expect(page.locator('section[data-widget="4"] .no-data')).to_have_text("No data")
    ticks = page.locator('[data-chart="1"]').evaluate(TICKS)
    assert all(float(t).is_integer() for t in ticks), ticks
    # the charts fit the phone's width
    assert page.locator('[data-chart="1"]').bounding_box()["width"] <= 390
    assert " ms" not in page.locator("body").inner_text()
    if os.environ.get("JIG_WRITE_SCREENSHOTS") == "1":  # refresh docs/screenshots/board-phone.png
        page.screenshot(path=str(Path(ROOT) / "docs" / "screenshots" / "board-phone.png"), full_page=True)
    assert errors == []
    page.context.close()
