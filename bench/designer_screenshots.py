"""Screenshots of the designer (canvas and property panel, field picker, side-by-side preview, an existing record in
the preview, workflow diagram and transitions table, permissions, versions, an archived entity, publish
plan) into docs/screenshots/.

    .venv/bin/python bench/designer_screenshots.py           # into docs/screenshots/
    .venv/bin/python bench/designer_screenshots.py --smoke   # into a temp dir (the test suite's smoke run)
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jig import demo  # noqa: E402
from tests.test_designer import record_shipped  # noqa: E402
from tests.ui_support import CHROMIUM, CHROMIUM_ARGS, CHROMIUM_ENV, build, serve  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
THICKNESS = {"type": "decimal", "label": {"zh": "电镀厚度 (μm)", "en": "Plating (μm)"}, "min": 0}


def main() -> int:
    from playwright.sync_api import sync_playwright
    tmp = Path(tempfile.mkdtemp(prefix="jig-shots-"))
    smoke = "--smoke" in sys.argv[1:] or os.environ.get("JIG_BENCH_SMOKE") == "1"
    out = tmp / "shots" if smoke else OUT
    rt, app = build(f"sqlite:///{tmp / 'shots.db'}", tmp)
    demo.prepare(rt)
    record_shipped(rt)
    server, url = serve(app)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=CHROMIUM_ENV, headless=True)
            page = browser.new_page(viewport={"width": 1600, "height": 900}, base_url=url)
            page.goto("/login")
            page.fill("#username", "admin")
            page.fill("#password", demo.DEMO_PASSWORD)
            page.click("button.primary")
            page.wait_for_url(url + "/")
            csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
            page.request.post("/api/builder/apps/outsourcing/draft/edits", headers={"X-CSRF-Token": csrf or ""}, data={
                "message": "新增字段 电镀厚度 (μm)", "edits": [
                    {"op": "set", "path": ["entities", "batch", "fields", "plating_um"], "value": THICKNESS,
                     "after": "process"},
                    {"op": "set", "path": ["entities", "batch", "layout", "sections", 0, "columns", 1],
                     "value": ["partner", "process", "plating_um"]}]})
            page.goto("/builder/outsourcing?entity=batch")
            page.locator(".d-card[data-key=plating_um]").click()
            page.wait_for_timeout(400)
            page.screenshot(path=str(out / "designer-canvas.png"))
            check = page.locator("#d-props-body").get_by_label("校验条件（表达式）", exact=True)
            check.fill("plating_um <= ")
            page.locator(".d-prop[data-prop=check] .d-expr-pick").click()
            page.locator(".d-expr-menu [data-insert='quantity']").click()
            page.locator(".d-prop[data-prop=check] .d-expr-ok").wait_for()
            check.press("End")
            check.type(" / 10 + ")
            page.locator(".d-prop[data-prop=check] .d-expr-pick").click()
            page.locator(".d-expr-menu .d-expr-item").first.wait_for()
            page.locator(".d-expr-menu").evaluate("m => { m.scrollTop = m.scrollHeight - 260; }")
            page.wait_for_timeout(300)
            page.screenshot(path=str(out / "designer-picker.png"))
            page.locator(".d-prop[data-prop=check] .d-expr-pick").click()
            check.fill("")
            page.locator("#d-preview-toggle").click()
            for frame in ("#d-preview-desktop", "#d-preview-phone", "#d-preview-link-partner_update"):
                page.frame_locator(frame).locator("main").wait_for()
            page.wait_for_timeout(500)
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(out / "designer-preview.png"), full_page=True)
            page.locator("#d-preview-record option").nth(1).wait_for(state="attached")
            page.locator("#d-preview-record").select_option(index=1)
            page.frame_locator("#d-preview-desktop").locator("#history-h").wait_for()
            page.frame_locator("#d-preview-phone").locator("#history-h").wait_for()
            page.wait_for_timeout(500)
            page.evaluate("window.scrollTo(0, 0)")
            box = page.locator("#d-preview").bounding_box() or {}
            phone = page.locator(".d-preview-frame[data-id=d-preview-phone]").bounding_box() or {}
            page.screenshot(path=str(out / "designer-record-preview.png"), full_page=True, clip={
                "x": box["x"], "y": box["y"], "width": box["width"], "height": phone["y"] + phone["height"] - box["y"] + 8})
            page.locator("#d-preview-record").select_option("")
            page.locator("#d-preview-toggle").click()
            page.locator("#d-tab-workflow").click()
            page.locator(".d-wf-transitions tr[data-wf-transition=return] summary").click()
            page.wait_for_timeout(400)
            page.screenshot(path=str(out / "designer-workflow.png"))
            page.locator(".d-wf-transitions").scroll_into_view_if_needed()
            page.evaluate("window.scrollBy(0, 120)")
            page.locator("#d-workflow").evaluate("e => { e.scrollLeft = e.scrollWidth; }")  # the set column in view
            page.wait_for_timeout(300)
            page.screenshot(path=str(out / "designer-transitions.png"))
            page.locator("#d-tab-perms").click()
            page.wait_for_timeout(400)
            page.screenshot(path=str(out / "designer-permissions.png"))
            page.locator("#d-tab-form").click()
            page.locator("#d-versions").first.click()
            page.locator("#d-versions-list").wait_for()
            page.wait_for_timeout(400)
            page.screenshot(path=str(out / "designer-versions.png"))
            page.locator("#d-versions-close").click()
            page.locator("[data-entity=partner]").click()
            page.locator("#d-props-body").get_by_label("归档此实体（数据保留）", exact=True).check()
            page.locator("[data-entity=partner].d-archived").wait_for()
            page.wait_for_timeout(400)
            page.screenshot(path=str(out / "designer-archive.png"))
            page.locator("#d-publish").click()
            page.locator(".d-plan").wait_for()
            page.wait_for_timeout(300)
            page.screenshot(path=str(out / "designer-publish.png"))
            browser.close()
    finally:
        server.close()
        rt.close()
    print("| screenshot | size |\n|---|---:|")
    for shot in sorted(out.glob("designer-*.png")):
        print(f"| {shot.name} | {shot.stat().st_size:,} B |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
