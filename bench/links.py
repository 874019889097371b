"""Page weight of the shared-link mobile forms, and screenshots of a phone form and the printed traveller.

    PYTHONPATH=. .venv/bin/python bench/links.py

Serves the shipped apps (waitress, SQLite in a temp folder), opens each mobile form in Chromium on a
390×844 phone viewport and adds up every response except images (HTML, CSS, JS). The limit from
issue 13 is 50 KB transferred; gzip sizes are shown too (a reverse proxy usually compresses).
Screenshots go to docs/screenshots/ (link-*.png, traveller-a4.png, machine-label.png); with --smoke
(the test suite runs it) to a temp dir, without the printed traveller and label.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runtime import workflow  # noqa: E402
from runtime.auth import SYSTEM  # noqa: E402
from tests.ui_support import CHROMIUM, CHROMIUM_ARGS, CHROMIUM_ENV, build, serve  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
# the links are opened from a text message or a scan in WeChat's own browser, on a phone
WECHAT = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Mobile/15E148 MicroMessenger/8.0.50(0x1800323c) NetType/WIFI Language/zh_CN")
LIMIT = 50 * 1024


def _data(rt: Any) -> dict[str, tuple[str, int]]:
    """Records with links: an operation of a work order, a batch, a machine."""
    E = rt.entity
    rt.users.add("zhang", None, ["operator"], display_name="张三")
    rt.users.add("li", None, ["operator"], display_name="李四")
    p = rt.records.create(SYSTEM, E("work_order_tracking", "product"), {"code": "P-1001", "name": "电机壳体",
                                                                        "spec": "ADC12 压铸"})
    wo = rt.records.create(SYSTEM, E("work_order_tracking", "work_order"), {"product": p["id"], "qty": 500,
                                                                            "priority": "high",
                                                                            "planned_start": "2026-11-20T08:00:00+08:00",
                                                                            "planned_end": "2026-11-22T17:00:00+08:00"})
    wo = workflow.take(rt.records, SYSTEM, E("work_order_tracking", "work_order"), wo["id"], "release", {},
                       wo["version"])  # operations start on a released order only
    ops = [rt.records.create(SYSTEM, E("work_order_tracking", "operation"),
                             {"work_order": wo["id"], "seq": seq, "name": name, "workstation": ws, "planned_qty": 500})
           for seq, name, ws in ((10, "压铸", "DC-03"), (20, "去毛刺", "手工线"), (30, "CNC 精加工", "CNC-07"),
                                 (40, "清洗", "清洗机"), (50, "气密检测", "QT-01"), (60, "包装入库", "包装区"))]
    partner = rt.records.create(SYSTEM, E("outsourcing", "partner"), {"name": "华新电镀", "phone": "13800001111"})
    batch = rt.records.create(SYSTEM, E("outsourcing", "batch"), {
        "customer": "客户甲", "product_no": "P-1001", "quantity": 500, "partner": partner["id"],
        "process": "plating", "expected_return": "2099-01-01"})
    machine = rt.records.create(SYSTEM, E("maintenance", "equipment"), {"code": "CNC-07", "name": "立式加工中心",
                                                                        "model": "VMC850", "location": "机加车间"})
    from ui.linkstore import LinkStore
    store = rt.services.get(LinkStore)
    tokens = {}
    with rt.db.write() as conn:
        for key, (app, name, rid) in {"operation_scan": ("work_order_tracking", "operation_scan", ops[2]["id"]),
                                      "partner_update": ("outsourcing", "partner_update", batch["id"]),
                                      "repair_from_label": ("maintenance", "repair_from_label", machine["id"])}.items():
            tokens[key] = store.token_of(store.issue(conn, store.definition(app, name), rid, "bench"))
    return {"operation_scan": (tokens["operation_scan"], wo["id"]),
            "partner_update": (tokens["partner_update"], batch["id"]),
            "repair_from_label": (tokens["repair_from_label"], machine["id"])}


def main() -> int:
    from playwright.sync_api import expect, sync_playwright
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help=f"where the PNGs go (default {OUT.relative_to(ROOT)}; --smoke: a temp dir)")
    ap.add_argument("--smoke", action="store_true", default=os.environ.get("JIG_BENCH_SMOKE") == "1",
                    help="page weights only, screenshots into a temp dir (the test suite runs this)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="jig-links-"))
    out = args.out or (tmp / "screenshots" if args.smoke else OUT)
    rt, app = build(f"sqlite:///{tmp / 'links.db'}", tmp)
    rt.users.add("admin", "admin-pass-1", ["admin"], display_name="管理员")
    data = _data(rt)
    server, url = serve(app)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=CHROMIUM_ENV, headless=True)
            for name, (token, _rid) in data.items():
                ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                          locale="zh-CN", device_scale_factor=2, user_agent=WECHAT)
                page = ctx.new_page()
                seen: list[tuple[str, int, int]] = []

                def on_response(resp: Any, seen: list[tuple[str, int, int]] = seen) -> None:
                    if resp.request.resource_type == "image" or resp.status >= 300:
                        return
                    body = resp.body()
                    seen.append((resp.url.split("/")[-1][:20], len(body), len(gzip.compress(body, 6))))

                page.on("response", on_response)
                page.goto(f"{url}/l/{token}")
                page.wait_for_load_state("networkidle")
                raw, gz = sum(s[1] for s in seen), sum(s[2] for s in seen)
                rows.append((name, len(seen), raw, gz))
                if name != "partner_update":
                    sel = page.locator("select#worker")
                    if sel.count():
                        sel.select_option(index=1)
                if name == "operation_scan":
                    page.screenshot(path=str(out / "link-operation-start.png"))
                    page.get_by_role("button", name="开工").tap()
                    expect(page.locator("#state")).to_have_text("进行中")
                    page.get_by_label("合格数量").fill("480")
                    page.get_by_label("不良数量").fill("20")
                page.screenshot(path=str(out / f"link-{name.replace('_', '-')}.png"), full_page=True)
                ctx.close()
            if args.smoke:  # the printed traveller and label: only in a full run
                browser.close()
                return _report(rows)
            staff = browser.new_page(viewport={"width": 1000, "height": 1300}, base_url=url)
            staff.goto("/login")
            staff.fill("#username", "admin")
            staff.fill("#password", "admin-pass-1")
            staff.click("button.primary")
            staff.emulate_media(media="print")
            staff.goto(f"/a/work_order_tracking/work_order/{data['operation_scan'][1]}/print?size=a4")
            staff.screenshot(path=str(out / "traveller-a4.png"), full_page=True)
            staff.set_viewport_size({"width": 420, "height": 260})
            staff.goto(f"/a/maintenance/equipment/{data['repair_from_label'][1]}/print?size=label")
            staff.screenshot(path=str(out / "machine-label.png"))
            browser.close()
    finally:
        server.close()
        rt.close()
    return _report(rows)


def _report(rows: list[tuple[str, int, int, int]]) -> int:
    print("| Mobile form | Requests (no images) | Transferred | gzip | Limit |")
    print("|---|---:|---:|---:|---|")
    for name, n, raw, gz in rows:
        print(f"| `{name}` | {n} | {raw / 1024:.1f} KB | {gz / 1024:.1f} KB | {'ok' if raw < LIMIT else 'OVER'} 50 KB |")
    return 0 if all(raw < LIMIT for _n, _c, raw, _g in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
