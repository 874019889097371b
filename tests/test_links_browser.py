"""Must-show 1: shared links on a phone (Chromium, 390×844, touch), served by waitress.

One test per flow, each: staff gets the link (links page / SMS), the phone opens it, reports in a few
taps with a photo (downscaled in the browser), and the record, its history (via link, naming link and
worker) and the supervisor's list show the change. The operation flow also drops the network during
the submit: the form keeps what was typed and retries by itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from runtime import workflow
from runtime.auth import SYSTEM

from .ui_support import build, launch_browser, serve

pytestmark = pytest.mark.browser
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "locale": "zh-CN"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_browser()


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[tuple[Any, str]]:
    rt, app = build(database_url, tmp_path)
    for name, roles, display in (("sup", ["supervisor", "planner"], "主管 周"), ("zhang", ["operator"], "张三"),
                                 ("maint", ["supervisor", "operator"], "设备 赵")):
        rt.users.add(name, f"{name}-pass-1", roles, display_name=display)
    server, url = serve(app)
    rt.settings["public_url"] = url
    try:
        yield rt, url
    finally:
        server.close()
        rt.db.dispose()


def _photo(tmp: Path) -> Path:
    p = tmp / "photo.jpg"
    Image.new("RGB", (3200, 2400), (120, 140, 160)).save(p, "JPEG", quality=90)
    return p


def _staff(browser: Any, url: str, user: str) -> Any:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=url, locale="zh-CN")
    ctx.set_default_timeout(10000)
    page = ctx.new_page()
    page.goto("/login")
    page.get_by_label("用户名").fill(user)
    page.get_by_label("密码").fill(f"{user}-pass-1")
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r".*/$"))
    return page


def _phone(browser: Any, url: str) -> Any:
    ctx = browser.new_context(base_url=url, **PHONE)
    ctx.set_default_timeout(10000)
    return ctx.new_page()


def _issue(staff: Any, path: str) -> str:
    """Issue a link from the record's links page and read its URL (what the QR code encodes)."""
    staff.goto(path)
    staff.get_by_role("link", name="分享链接/二维码").click()
    staff.get_by_role("button", name="生成链接").first.click()
    assert staff.locator(".qr svg").first.is_visible()
    return str(staff.locator("input.link-url").first.input_value())


def _stored_photo(rt: Any, key: str) -> tuple[int, int]:
    meta, _data = rt.files.open(key)
    return int(meta["width"]), int(meta["height"])


def test_worker_scans_an_operation(browser: Any, site: tuple[Any, str], tmp_path: Path) -> None:
    rt, url = site
    expect = pytest.importorskip("playwright.sync_api").expect
    E = rt.entity
    p = rt.records.create(SYSTEM, E("work_order_tracking", "product"), {"code": "P-1", "name": "电机壳体"})
    wo = rt.records.create(SYSTEM, E("work_order_tracking", "work_order"), {
        "product": p["id"], "qty": 100, "planned_start": "2026-11-20T08:00:00+08:00",
        "planned_end": "2026-11-21T17:00:00+08:00"})
    wo = workflow.take(rt.records, SYSTEM, E("work_order_tracking", "work_order"), wo["id"], "release", {},
                       wo["version"])  # operations start on a released order only
    op = rt.records.create(SYSTEM, E("work_order_tracking", "operation"),
                           {"work_order": wo["id"], "seq": 10, "name": "CNC 粗加工", "workstation": "CNC-07",
                            "planned_qty": 100})
    staff = _staff(browser, url, "sup")
    link = _issue(staff, f"/a/work_order_tracking/operation/{op['id']}")
    phone = _phone(browser, url)
    phone.goto(link)
    expect(phone.locator("h1")).to_have_text("扫码报工")
    phone.get_by_label("我是").select_option("zhang")
    phone.get_by_role("button", name="开工").tap()                            # tap 1: started
    expect(phone.locator("#state")).to_have_text("进行中")
    phone.get_by_label("合格数量").fill("95")
    phone.get_by_label("不良数量").fill("5")
    phone.locator("input[type=file][name=photos]").set_input_files(str(_photo(tmp_path)))
    expect(phone.locator("[data-thumbs=photos] img")).to_have_count(1)
    phone.context.set_offline(True)                                          # the network drops ...
    phone.get_by_role("button", name="完工").tap()                            # tap 2: finish
    expect(phone.locator("#msg")).to_contain_text("网络中断")
    phone.context.set_offline(False)                                         # ... and comes back: it retries
    expect(phone.locator("#state")).to_have_text("已完工", timeout=20000)
    rec = rt.records.get(SYSTEM, E("work_order_tracking", "operation"), op["id"])
    assert rec["state"] == "done" and rec["operator"] == "zhang" and str(rec["good_qty"]) in ("95", "95.00")
    assert len(rec["photos"]) == 1 and max(_stored_photo(rt, rec["photos"][0])) <= 1600  # downscaled in the browser
    expect(phone.locator(".hist li").first).to_contain_text("张三")
    # the supervisor's record page: history via link, naming the link and the worker; and the list
    staff.goto(f"/a/work_order_tracking/operation/{op['id']}")
    expect(staff.locator("#timeline")).to_contain_text("经链接 «扫码报工»")
    expect(staff.locator("#timeline")).to_contain_text("张三")
    staff.goto("/a/work_order_tracking/operation")
    row = staff.locator("tr", has_text="CNC 粗加工")
    expect(row).to_contain_text("已完工")
    expect(row).to_contain_text("95")


def test_partner_updates_its_batch_from_an_sms(browser: Any, site: tuple[Any, str], tmp_path: Path) -> None:
    rt, url = site
    expect = pytest.importorskip("playwright.sync_api").expect
    for ext in rt.extensions:
        if ext.name == "rules":
            ext.attach(rt)  # type: ignore[attr-defined]
    E = rt.entity
    partner = rt.records.create(SYSTEM, E("outsourcing", "partner"), {"name": "华新电镀", "phone": "13800001111"})
    planner = rt.users.actor_for("sup")
    batch = rt.records.create(planner, E("outsourcing", "batch"), {
        "customer": "客户甲", "product_no": "P-200", "quantity": 300, "partner": partner["id"], "process": "plating",
        "expected_return": "2099-01-01", "sms_partner": True})
    assert rt.outbox.run_due("test") == {"sent": 1}  # the SMS, delivered by the log provider
    with rt.db.read() as conn:
        texts = list(conn.execute(select(rt.tables.system["jig_sms_log"].c.text)).scalars())
    link = re.search(re.escape(url) + r"/l/\S{32}", next(t for t in texts if "外发通知" in t)).group(0)  # type: ignore[union-attr]
    phone = _phone(browser, url)
    phone.goto(link)
    expect(phone.locator("h1")).to_have_text("外协进度更新")
    phone.get_by_label("您的姓名").fill("陈经理")
    phone.get_by_role("button", name="开始加工").tap()
    expect(phone.locator("#state")).to_have_text("加工中")
    phone.get_by_label("回厂数量").fill("298")
    phone.locator("input[type=file][name=photos]").set_input_files(str(_photo(tmp_path)))
    expect(phone.locator("[data-thumbs=photos] img")).to_have_count(1)
    phone.get_by_role("button", name="已回厂").tap()
    expect(phone.locator("#state")).to_have_text("待质检")
    rec = rt.records.get(SYSTEM, E("outsourcing", "batch"), batch["id"])
    assert rec["state"] == "awaiting_qc" and rec["returned_qty"] == 298 and len(rec["photos"]) == 1
    staff = _staff(browser, url, "sup")
    staff.goto(f"/a/outsourcing/batch/{batch['id']}")
    expect(staff.locator("#timeline")).to_contain_text("经链接 «外协进度更新»")
    expect(staff.locator("#timeline")).to_contain_text("陈经理")
    staff.goto("/a/outsourcing/batch")
    expect(staff.locator("tr", has_text="P-200")).to_contain_text("待质检")
    # the same list on a phone: the filters fold away, the first row is on the first screen
    staff.set_viewport_size(PHONE["viewport"])
    staff.reload()
    box = staff.locator("tr", has_text="P-200").bounding_box()
    assert box is not None and box["y"] < 844, box
    expect(staff.locator("#filters")).to_be_hidden()
    staff.locator("label[for=show-filters]").click()
    expect(staff.locator("#filters")).to_be_visible()


def test_repair_request_from_a_machine_label(browser: Any, site: tuple[Any, str], tmp_path: Path) -> None:
    rt, url = site
    expect = pytest.importorskip("playwright.sync_api").expect
    E = rt.entity
    machine = rt.records.create(SYSTEM, E("maintenance", "equipment"), {"code": "CNC-07", "name": "立式加工中心"})
    staff = _staff(browser, url, "sup")
    link = _issue(staff, f"/a/maintenance/equipment/{machine['id']}")
    label = staff.context.new_page()
    label.goto(f"/a/maintenance/equipment/{machine['id']}/print?size=label")
    expect(label.locator(".label .qr svg")).to_have_count(1)
    phone = _phone(browser, url)
    phone.goto(link)
    expect(phone.locator("h1")).to_have_text("扫码报修")
    expect(phone.locator("main")).to_contain_text("CNC-07")
    phone.get_by_label("我是").select_option("maint")
    phone.get_by_text("紧急(已停机)").tap()
    phone.get_by_label("故障描述").fill("主轴异响，已停机")
    phone.locator("input[type=file][name=photos]").set_input_files(str(_photo(tmp_path)))
    q = phone.locator("label[for=challenge] b").inner_text()
    a, b = (int(x) for x in re.findall(r"\d+", q))
    phone.locator("#challenge").fill(str(a + b))
    phone.get_by_role("button", name="提交").tap()
    expect(phone.locator("#msg")).to_contain_text("提交成功")
    staff.goto("/a/maintenance/repair_request")
    row = staff.locator("tr", has_text="CNC-07")
    expect(row).to_contain_text("紧急")
    reqs = rt.records.history(SYSTEM, E("maintenance", "repair_request"), 1)
    assert reqs[0]["via"] == "link" and reqs[0]["user"] == "maint"
    rec = rt.records.get(SYSTEM, E("maintenance", "repair_request"), 1)
    assert rec["equipment"] == machine["id"] and rec["reported_by"] == "maint" and len(rec["photos"]) == 1
