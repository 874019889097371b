"""Screenshots of the main pages (demo data, Chromium headless) into docs/screenshots/.

    .venv/bin/python bench/screenshots.py
"""

from __future__ import annotations

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
    tmp = Path(tempfile.mkdtemp(prefix="jig-shots-"))
    rt, app = build(f"sqlite:///{tmp / 'shots.db'}", tmp)
    demo.prepare(rt)
    server, url = serve(app)
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1366, "height": 768}, base_url=url)
            page.goto("/login")
            page.screenshot(path=str(OUT / "login.png"))
            page.fill("#username", "admin")
            page.fill("#password", demo.DEMO_PASSWORD)
            page.click("button.primary")
            page.wait_for_url(url + "/")
            shots = [("home", "/"), ("list", "/a/outsourcing/batch"), ("form", "/a/outsourcing/batch/1"),
                     ("new-repair", "/a/maintenance/repair_request/new"), ("kanban", "/a/outsourcing/batch/kanban"),
                     ("dashboard", "/d/outsourcing/board"), ("dashboard-maintenance", "/d/maintenance/overview")]
            for name, path in shots:
                page.goto(path)
                page.wait_for_load_state("networkidle")
                page.wait_for_timeout(300)
                page.screenshot(path=str(OUT / f"{name}.png"), full_page=name in ("form", "dashboard"))
            tv = browser.new_page(viewport={"width": 1920, "height": 1080}, base_url=url)
            tv.context.add_cookies(page.context.cookies())
            tv.goto("/board/outsourcing/board")
            tv.wait_for_timeout(500)
            tv.screenshot(path=str(OUT / "board.png"))
            page.goto("/lang/en?next=/a/outsourcing/batch")
            page.screenshot(path=str(OUT / "list-en.png"))
            browser.close()
    finally:
        server.close()
        rt.close()
    print("\n".join(str(p.relative_to(ROOT)) for p in sorted(OUT.glob("*.png"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
