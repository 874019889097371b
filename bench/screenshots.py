"""Screenshots of the main pages (demo data, Chromium headless) into docs/screenshots/.

    .venv/bin/python bench/screenshots.py
    .venv/bin/python bench/screenshots.py --smoke   # sign in and shoot one page into a temp dir (tests)
    .venv/bin/python bench/screenshots.py --reading # the demo factory as the planner sees it: home page
                                                    # work, coloured list, kanban cards, history (phone too)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jig import demo  # noqa: E402
from tests.ui_support import CHROMIUM, CHROMIUM_ARGS, build, serve  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def main() -> int:
    from playwright.sync_api import sync_playwright
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help=f"where the PNGs go (default {OUT.relative_to(ROOT)}; --smoke: a temp dir)")
    ap.add_argument("--smoke", action="store_true", default=os.environ.get("JIG_BENCH_SMOKE") == "1",
                    help="only the list page, into a temp dir (the test suite runs this)")
    ap.add_argument("--reading", action="store_true", help="only the reading pages, on the demo factory")
    args = ap.parse_args()
    if args.reading:
        return reading(args.out or OUT)
    tmp = Path(tempfile.mkdtemp(prefix="jig-shots-"))
    out = args.out or (tmp / "screenshots" if args.smoke else OUT)
    rt, app = build(f"sqlite:///{tmp / 'shots.db'}", tmp)
    demo.prepare(rt)
    server, url = serve(app)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1366, "height": 768}, base_url=url)
            page.goto("/login")
            page.screenshot(path=str(out / "login.png"))
            page.fill("#username", "admin")
            page.fill("#password", demo.DEMO_PASSWORD)
            page.click("button.primary")
            page.wait_for_url(url + "/")
            shots = [("home", "/"), ("list", "/a/outsourcing/batch"), ("form", "/a/outsourcing/batch/1"),
                     ("new-repair", "/a/maintenance/repair_request/new"), ("kanban", "/a/outsourcing/batch/kanban"),
                     ("dashboard", "/d/outsourcing/board"), ("dashboard-maintenance", "/d/maintenance/overview")]
            if args.smoke:
                shots = [("list", "/a/outsourcing/batch")]
            for name, path in shots:
                page.goto(path)
                page.wait_for_load_state("networkidle")
                page.wait_for_timeout(300)
                page.screenshot(path=str(out / f"{name}.png"), full_page=name in ("form", "dashboard"))
            if args.smoke:
                browser.close()
                return _report(out)
            tv = browser.new_page(viewport={"width": 1920, "height": 1080}, base_url=url)
            tv.context.add_cookies(page.context.cookies())
            tv.goto("/board/outsourcing/board")
            tv.wait_for_timeout(500)
            tv.screenshot(path=str(out / "board.png"))
            page.goto("/lang/en?next=/a/outsourcing/batch")
            page.screenshot(path=str(out / "list-en.png"))
            browser.close()
    finally:
        server.close()
        rt.close()
    return _report(out)


def reading(out: Path) -> int:
    """The pages for finding and reading records (docs/ui.md) on the seeded demo factory, as the planner."""
    from playwright.sync_api import sync_playwright
    tmp = Path(tempfile.mkdtemp(prefix="jig-shots-"))
    rt, app = build(f"sqlite:///{tmp / 'shots.db'}", tmp)
    demo.prepare(rt, factory=True)
    planner = rt.users.actor_for("planner", via="web")
    bom_ent = rt.entity("work_order_tracking", "bom")
    bom = rt.records.get(planner, bom_ent, 1)  # a planner's edit of the material lines: one changed, one added
    lines = [dict(r) for r in bom["lines"]]
    lines[0]["qty"] = "3.5"
    spare = next(iter(r for r in bom["lines"][1:]), None) or dict(lines[0])
    rt.records.update(planner, bom_ent, 1, {"lines": lines + [{k: v for k, v in spare.items() if k != "id"}]},
                      bom["version"])
    server, url = serve(app)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            ctx = browser.new_context(viewport={"width": 1366, "height": 900}, base_url=url, locale="zh-CN")
            page = ctx.new_page()
            page.goto("/login")
            page.fill("#username", "planner")
            page.fill("#password", demo.DEMO_PASSWORD)
            page.click("button.primary")
            page.wait_for_url(url + "/")
            for name, path, full in (("home-my-work", "/", False), ("list-row-colours", "/a/outsourcing/batch", False),
                                     ("kanban-cards", "/a/outsourcing/batch/kanban", False),
                                     ("history-child-rows", "/a/work_order_tracking/bom/1", True)):
                page.goto(path)
                page.wait_for_load_state("networkidle")
                target = page.locator("#history-h").locator("..") if full else page
                target.screenshot(path=str(out / f"{name}.png"))
            phone = browser.new_context(viewport={"width": 390, "height": 844}, base_url=url, locale="zh-CN",
                                        storage_state=ctx.storage_state(), is_mobile=True)
            pp = phone.new_page()
            pp.goto("/")
            pp.screenshot(path=str(out / "home-my-work-phone.png"))
            browser.close()
    finally:
        server.close()
        rt.close()
    return _report(out)


def _report(out: Path) -> int:
    print("| screenshot | size |\n|---|---:|")
    for p in sorted(out.glob("*.png")):
        print(f"| {p.relative_to(ROOT) if p.is_relative_to(ROOT) else p} | {p.stat().st_size / 1024:.0f} KB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
