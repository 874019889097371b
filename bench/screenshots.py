"""Screenshots of the main pages (demo data, Chromium headless) into docs/screenshots/.

    .venv/bin/python bench/screenshots.py
    .venv/bin/python bench/screenshots.py --smoke   # sign in and shoot one page into a temp dir (tests)
    .venv/bin/python bench/screenshots.py --reading # the demo factory as the planner sees it: home page
                                                    # work, coloured list, kanban cards, history (phone too)
    .venv/bin/python bench/screenshots.py --roles   # the demo factory by role: notifications, a read-only
                                                    # record, validation errors, link management, phone board
    .venv/bin/python bench/screenshots.py --all     # every screenshot of docs/screenshots/ (this script's
                                                    # modes, the designer, links and the tests that write
                                                    # them; see ALL_TESTS), then their PNGs optimised

Every mode runs on a seeded database (this script's modes on ``jig demo``'s factory, the others on their own
fixed fixtures), Chinese UI, phones at 390x844, real Chromium (/usr/bin/chromium through Playwright).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jig import demo  # noqa: E402
from runtime import listquery  # noqa: E402
from tests.ui_support import CHROMIUM, CHROMIUM_ARGS, CHROMIUM_ENV, build, serve  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}
# the tests that write screenshots when told where (test file, environment variable)
ALL_TESTS = (("tests/test_stories.py", "JIG_TOUR_SHOTS"), ("tests/test_dashboards_browser.py", "JIG_WRITE_SCREENSHOTS"),
             ("tests/test_example_traceability.py", "JIG_WRITE_SCREENSHOTS"),
             ("tests/test_phone_print_browser.py", "JIG_SCREENSHOTS_DIR"),
             ("tests/test_delivery_log_browser.py", "JIG_SHOTS_DIR"), ("tests/test_imports_browser.py", "JIG_SHOTS_DIR"),
             ("tests/test_demo_walkthrough.py", "JIG_DEMO_SCREENSHOTS"),
             ("tests/test_connector_setup_browser.py", "JIG_SCREENSHOTS_DIR"),
             ("tests/test_rule_editor_browser.py", "JIG_RULE_SCREENSHOTS"))


def main() -> int:
    from playwright.sync_api import sync_playwright
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help=f"where the PNGs go (default {OUT.relative_to(ROOT)}; --smoke: a temp dir)")
    ap.add_argument("--smoke", action="store_true", default=os.environ.get("JIG_BENCH_SMOKE") == "1",
                    help="only the list page, into a temp dir (the test suite runs this)")
    ap.add_argument("--reading", action="store_true", help="only the reading pages, on the demo factory")
    ap.add_argument("--roles", action="store_true", help="only the pages by role, on the demo factory")
    ap.add_argument("--all", action="store_true", help="every screenshot in docs/screenshots/, then optimise them")
    args = ap.parse_args()
    if args.all:
        return everything()
    if args.reading:
        return reading(args.out or OUT)
    if args.roles:
        return roles(args.out or OUT)
    tmp = Path(tempfile.mkdtemp(prefix="jig-shots-"))
    out = args.out or (tmp / "screenshots" if args.smoke else OUT)
    rt, app = build(f"sqlite:///{tmp / 'shots.db'}", tmp)
    if args.smoke:
        demo.prepare(rt)
    else:  # the demo factory, as `jig demo` makes it: a month of orders, batches, repairs and notifications
        rt.extensions.attach(rt)
        demo.prepare(rt, factory=True)
    server, url = serve(app)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=CHROMIUM_ENV, headless=True)
            page = browser.new_page(viewport={"width": 1366, "height": 768}, base_url=url, locale="zh-CN")
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
            tv = browser.new_page(viewport={"width": 1920, "height": 1080}, base_url=url, locale="zh-CN")
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
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=CHROMIUM_ENV, headless=True)
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


def _login(ctx: object, url: str, user: str) -> object:
    page = ctx.new_page()  # type: ignore[attr-defined]
    page.goto("/login")
    page.fill("#username", user)
    page.fill("#password", demo.DEMO_PASSWORD)
    page.click("button.primary")
    page.wait_for_url(url + "/")
    return page


def roles(out: Path) -> int:
    """Pages by role on the demo factory: notifications, a read-only record, validation errors (a new record, a
    transition's required field), a record's shared links, the production board on a phone."""
    from playwright.sync_api import sync_playwright
    tmp = Path(tempfile.mkdtemp(prefix="jig-shots-"))
    rt, app = build(f"sqlite:///{tmp / 'shots.db'}", tmp)
    rt.extensions.attach(rt)  # rules and jobs, as `jig demo` has them: orders explode, notifications are sent
    demo.prepare(rt, factory=True)
    ent = rt.entity("outsourcing", "batch")
    batches = listquery.run(rt, rt.users.actor_for("planner", via="web"), ent,
                            listquery.parse_args(ent, {"state": "processing", "limit": "1"}))["items"]
    done = listquery.run(rt, rt.users.actor_for("partner", via="web"), ent,  # read-only to the partner
                         listquery.parse_args(ent, {"state": "done", "limit": "1"}))["items"]
    server, url = serve(app)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=CHROMIUM_ENV, headless=True)
            ctx = browser.new_context(viewport={"width": 1366, "height": 900}, base_url=url, locale="zh-CN")
            page = _login(ctx, url, "planner")
            page.goto("/notifications")  # type: ignore[attr-defined]
            page.screenshot(path=str(out / "notifications.png"))  # type: ignore[attr-defined]
            page.goto("/a/outsourcing/batch/1/links")  # type: ignore[attr-defined]
            page.locator("form button.primary").first.click()  # type: ignore[attr-defined]
            page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
            page.screenshot(path=str(out / "link-admin.png"))  # type: ignore[attr-defined]
            page.goto("/a/outsourcing/batch/new")  # type: ignore[attr-defined]
            page.click("#save")  # type: ignore[attr-defined]
            page.wait_for_timeout(600)  # type: ignore[attr-defined]
            page.screenshot(path=str(out / "form-errors.png"))  # type: ignore[attr-defined]
            if batches:
                page.goto(f"/a/outsourcing/batch/{batches[0]['id']}")  # type: ignore[attr-defined]
                page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
                page.click("button.transition[data-transition=return]")  # type: ignore[attr-defined]
                page.wait_for_timeout(600)  # type: ignore[attr-defined]
                page.screenshot(path=str(out / "transition-required.png"))  # type: ignore[attr-defined]
            partner = browser.new_context(viewport={"width": 1366, "height": 900}, base_url=url, locale="zh-CN")
            pp = _login(partner, url, "partner")
            pp.goto(f"/a/outsourcing/batch/{done[0]['id']}")  # type: ignore[attr-defined]
            pp.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
            pp.screenshot(path=str(out / "record-partner-readonly.png"), full_page=True)  # type: ignore[attr-defined]
            phone = browser.new_context(viewport=PHONE, base_url=url, locale="zh-CN", is_mobile=True,
                                        storage_state=ctx.storage_state())
            ph = phone.new_page()
            ph.goto("/d/work_order_tracking/production")
            ph.wait_for_load_state("networkidle")
            ph.wait_for_timeout(800)
            ph.screenshot(path=str(out / "dashboard-phone.png"))
            browser.close()
    finally:
        server.close()
        rt.close()
    return _report(out)


def everything() -> int:
    """Every screenshot of docs/screenshots/, from seeded data, then :func:`optimise`."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("JIG_BENCH_SMOKE", None)
    runs = [[sys.executable, __file__], [sys.executable, __file__, "--reading"], [sys.executable, __file__, "--roles"],
            [sys.executable, str(ROOT / "bench" / "designer_screenshots.py")],
            [sys.executable, str(ROOT / "bench" / "links.py")]]
    failed = [" ".join(r[1:]) for r in runs if subprocess.run(r, cwd=ROOT, env=env).returncode != 0]
    for test, var in ALL_TESTS:
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test], cwd=ROOT,
                              env=dict(env, **{var: str(OUT)}, JIG_TEST_DB="sqlite"))
        if done.returncode != 0:
            failed.append(test)
    before, after = optimise(OUT)
    print(f"optimised: {before / 1024:.0f} KB -> {after / 1024:.0f} KB")
    print("failed: " + ", ".join(failed) if failed else "every run passed")
    _report(OUT)
    return 1 if failed else 0


def optimise(out: Path) -> tuple[int, int]:
    """Re-encode each PNG with zlib's best effort, as a 256-colour palette where that loses nothing visible
    (screens of flat colours and text); the sizes before and after."""
    from PIL import Image
    before = after = 0
    for path in sorted(out.glob("*.png")):
        data = path.read_bytes()
        before += len(data)
        with Image.open(path) as im:
            rgb = im.convert("RGB")
        colours = rgb.getcolors(maxcolors=256)
        img = rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE) \
            if colours is not None or _flat(rgb) else rgb
        tmp = path.with_suffix(".tmp.png")
        img.save(tmp, optimize=True)
        if tmp.stat().st_size < len(data):
            tmp.replace(path)
        else:
            tmp.unlink()
        after += path.stat().st_size
    return before, after


def _flat(img: object) -> bool:
    """Whether a screen is mostly flat colours (UI and text, no photos): a palette keeps it sharp."""
    small = img.resize((200, 200))  # type: ignore[attr-defined]
    return len(small.getcolors(maxcolors=40000) or []) < 3000


def _report(out: Path) -> int:
    print("| screenshot | size |\n|---|---:|")
    for p in sorted(out.glob("*.png")):
        print(f"| {p.relative_to(ROOT) if p.is_relative_to(ROOT) else p} | {p.stat().st_size / 1024:.0f} KB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
