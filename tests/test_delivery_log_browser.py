"""Must-show 1 and 2 (delivery part), in Chromium: the delivery log and the people behind it.

A rule texts the planners and supervisors about each late job, once per job per day, through the Aliyun
simulator. One supervisor has no phone number: the log shows each of his messages as undeliverable with
the reason (nothing is dropped); the simulator refuses one number once (a dead letter). The admin filters
the log, retries the dead letter, gives the supervisor a phone number on the users page and retries his
message; the simulator receives exactly the expected messages. Screenshots with JIG_SHOTS_DIR set
(docs/screenshots/delivery-log.png, admin-users.png).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rules.jobs import drain_outbox
from rules.service import rules_of
from rules.sms.simulator import ALIYUN_KEY_ID, ALIYUN_SECRET, Simulator, start_simulator
from runtime.auth import SYSTEM

from .ui_support import build, launch_browser, serve

pytestmark = pytest.mark.browser

APP = """
app: plant
title: {zh: 车间, en: Plant}
roles:
  planner: {label: {zh: 计划员, en: Planner}}
  supervisor: {label: {zh: 车间主管, en: Supervisor}}
user_attributes:
  team: {type: text, label: {zh: 班组, en: Team}}
entities:
  job:
    title: {zh: 工单, en: Job}
    fields:
      code: {type: text}
    permissions:
      planner: {read: true}
sms:
  provider: aliyun
  access_key_id: %(key)s
  access_key_secret: "${DL_SIM_SECRET}"
  sign_name: 治具
  endpoint: %(url)s/aliyun
  timeout: 5
templates:
  late:
    text: "【工单延误】{{ code }} 已延误，请跟进。"
    provider_template: SMS_100
    limit_per_day: 5
rules:
  late:
    label: {zh: 工单延误短信, en: Late job SMS}
    on: {schedule: "every 1h"}
    for_each: job
    once: per_day
    do:
      - sms: {to_roles: [planner, supervisor], template: late, params: {code: "code"}}
"""
ANN, CAI, BOB = "13700000001", "13700000003", "13700000002"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_browser()


@pytest.fixture(scope="module")
def site(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, Simulator]]:
    os.environ["DL_SIM_SECRET"] = ALIYUN_SECRET
    sim, sim_url, stop = start_simulator(sim=Simulator())
    tmp = tmp_path_factory.mktemp("dl")
    rt, app = build(f"sqlite:///{tmp / 'dl.db'}", tmp, texts={"plant.yaml": APP % {"key": ALIYUN_KEY_ID,
                                                                                   "url": sim_url}})
    rt.extensions.attach(rt)  # the rules (as `jig serve` has them); their jobs are run by the test
    rt.users.add("boss", "boss-pass-1", ["admin"], display_name="管理员 孙")
    rt.users.add("ann", "ann-pass-1", ["planner"], display_name="计划 安", phone=ANN)
    rt.users.add("cai", "cai-pass-1", ["supervisor"], display_name="主管 蔡", phone=CAI)
    rt.users.add("bob", "bob-pass-1", ["supervisor"], display_name="主管 鲍")
    for code in ("J-1", "J-2"):
        rt.records.create(SYSTEM, rt.entity("plant", "job"), {"code": code})
    server, url = serve(app)
    try:
        yield rt, url, sim
    finally:
        server.close()
        stop()
        rt.db.dispose()
        os.environ.pop("DL_SIM_SECRET", None)


def _run(rt: Any) -> dict[str, int]:
    service = rules_of(rt)
    rule = next(r for r in service.rules if r.name == "late")
    report = service.engine.run_scheduled(rule, "test")
    return {"fired": report.fired, "undeliverable": len(report.undeliverable), **drain_outbox(rt, "test")}


def _shot(page: Any, name: str, tmp: Path) -> None:
    out = Path(os.environ.get("JIG_SHOTS_DIR") or tmp)
    page.screenshot(path=str(out / name), full_page=True)


def test_delivery_log_shows_retries_and_never_drops(browser: Any, site: tuple[Any, str, Simulator],
                                                    tmp_path: Path) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    rt, url, sim = site
    sim.inject("aliyun", "invalid_number", count=1, number=CAI)  # cai's first message: a dead letter
    assert _run(rt) == {"fired": 2, "undeliverable": 2, "sent": 3, "dead": 1}
    assert _run(rt) == {"fired": 0, "undeliverable": 0}  # once per job per day
    assert sorted(d["to"] for d in sim.delivered) == [ANN, ANN, CAI]

    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=url, locale="zh-CN")
    ctx.set_default_timeout(10000)
    page = ctx.new_page()
    page.goto("/login")
    page.get_by_label("用户名").fill("boss")
    page.get_by_label("密码").fill("boss-pass-1")
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r".*/$"))
    page.locator("summary", has_text="管理").click()
    page.locator("#nav-deliveries").click()
    rows = page.locator("#deliveries tbody tr")
    expect(rows).to_have_count(6)
    bob_rows = rows.filter(has_text="主管 鲍 (bob)")
    expect(bob_rows).to_have_count(2)
    expect(bob_rows.first).to_contain_text("无法送达")
    expect(bob_rows.first).to_contain_text("没有手机号")
    expect(page.locator("#daily-limits")).to_contain_text("2 / 5")
    _shot(page, "delivery-log.png", tmp_path)

    page.locator("label[for=show-filters]").click() if not page.locator("#f-state").is_visible() else None
    page.select_option("#f-state", "undeliverable")
    page.locator("#apply-filters").click()
    expect(rows).to_have_count(2)
    page.goto("/admin/deliveries?recipient=" + CAI)
    expect(rows).to_have_count(2)
    dead = rows.filter(has_text="发送失败")
    expect(dead).to_contain_text("invalid_recipient")
    dead.get_by_role("button", name="重试").click()
    expect(page.locator(".flash.ok")).to_contain_text("已重新排队")
    assert drain_outbox(rt, "test") == {"sent": 1}
    page.reload()
    expect(rows.filter(has_text="已发送")).to_have_count(2)

    # bob gets a phone number on the users page (roles shown with their Chinese labels, no system user)
    page.goto("/admin/users")
    table = page.locator("#users")
    expect(table).to_contain_text("车间主管")
    expect(table).not_to_contain_text("system")
    bob = page.locator("#user-bob")
    expect(bob).to_contain_text("无手机号")
    bob.locator("summary").click()
    bob.get_by_label("手机号").fill(BOB)
    bob.get_by_label("班组").fill("二班")
    bob.get_by_role("button", name="更新").click()
    expect(page.locator("p.ok")).to_be_visible()
    expect(page.locator("#user-bob")).to_contain_text(BOB)
    expect(page.locator("#user-bob")).to_contain_text("二班")
    _shot(page, "admin-users.png", tmp_path)

    page.goto("/admin/deliveries?state=undeliverable")
    expect(rows).to_have_count(2)
    rows.first.get_by_role("button", name="重试").click()
    expect(rows).to_have_count(1)  # back on the filtered page: one left
    rows.first.get_by_role("button", name="取消").click()
    expect(page.locator(".flash.ok")).to_contain_text("已取消")
    assert drain_outbox(rt, "test") == {"sent": 1}
    assert sorted(d["to"] for d in sim.delivered) == [ANN, ANN, BOB, CAI, CAI]
    assert rt.outbox.counts() == {"sent": 5, "cancelled": 1}
    cookies = ctx.cookies()
    ctx.close()

    # on a phone: the page fits the screen (the table scrolls inside it), the filters open from a button
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                base_url=url, locale="zh-CN")
    phone.add_cookies(cookies)
    small = phone.new_page()
    small.goto("/admin/deliveries")
    expect(small.locator("#deliveries tbody tr")).to_have_count(6)
    assert small.evaluate("document.documentElement.scrollWidth") <= 390
    small.locator("label[for=show-filters]").click()
    expect(small.locator("#f-recipient")).to_be_visible()
    phone.close()
