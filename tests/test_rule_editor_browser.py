"""The rule editor in Chromium. Must-show 1: the supervisor builds the outsourcing overdue reminder end to end
(trigger, condition with the field picker, SMS template with a preview, test now listing the overdue batches,
publish, enable); the SMS simulator receives exactly the expected messages on the next run, once per batch per
day, and the SMS log has them. Must-show 2 (the editor's part): a role with a user who has no phone is warned
about. Must-show 4: every edit is a draft published through the designer's path (versions, diff, rollback,
export).

The clock is frozen on Monday 2026-12-07 09:00 (the demo's batches are dated from it); "the next run" is a
scheduler tick of the runtime the server swapped to when the rule was published. Screenshots go to a temporary
directory, or to $JIG_RULE_SCREENSHOTS (e.g. docs/screenshots) when set.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from jig import demo
from jig.app import Jig
from jig.config import Settings
from rules.jobs import drain_outbox
from rules.service import rules_of
from rules.sms import simulator
from runtime import clock
from runtime.auth import SYSTEM

from .conftest import APPS
from .ui_support import launch_browser, serve

pytestmark = pytest.mark.browser
MONDAY = dt.datetime(2026, 12, 7, 9, 0)
WAIT = 20_000


PLANT = """app: plant
title: {zh: 车间, en: Plant}
entities:
  partner:
    fields:
      name: {type: text}
      last_late: {type: text}
  product:
    fields:
      code: {type: text}
  bom:
    fields:
      product: {type: link, to: product}
      lines:
        type: table
        fields:
          item: {type: link, to: product}
          qty: {type: decimal}
          sub_bom: {type: link, to: bom}
  job:
    fields:
      product: {type: link, to: product}
      qty: {type: decimal}
  order:
    naming: "SO-{###}"
    fields:
      partner: {type: link, to: partner}
      product: {type: link, to: product}
      qty: {type: decimal}
rules:
  late_work:
    enabled: false  # only tried here (the other test's scheduler ticks run every enabled rule)
    on: {schedule: "every 1h"}
    for_each: order
    do:
      - update: {link: partner, set: {last_late: "name"}}
      - explode:
          item: product
          qty: qty
          bom: {entity: bom, product: product, lines: lines, item: item, qty: qty, sub_bom: sub_bom}
          create: {entity: job, values: {product: item, qty: qty}}
"""


def _plant(rt: Any) -> None:
    """One order of P1 x5; P1's BOM needs 2 of P2 per piece, made in-house from its own BOM."""
    actor = SYSTEM.using("system")
    p1 = rt.records.create(actor, rt.entity("plant", "product"), {"code": "P1"})["id"]
    p2 = rt.records.create(actor, rt.entity("plant", "product"), {"code": "P2"})["id"]
    sub = rt.records.create(actor, rt.entity("plant", "bom"), {"product": p2, "lines": []})["id"]
    rt.records.create(actor, rt.entity("plant", "bom"), {"product": p1, "lines": [{"item": p2, "qty": 2, "sub_bom": sub}]})
    partner = rt.records.create(actor, rt.entity("plant", "partner"), {"name": "华新"})["id"]
    rt.records.create(actor, rt.entity("plant", "order"), {"partner": partner, "product": p1, "qty": 5})


def _app_text(sim_url: str) -> str:
    text = (APPS / "outsourcing.yaml").read_text(encoding="utf-8")
    start, end = text.index("  overdue_reminder:"), text.index("# --- Shared link")
    text = text[:start] + text[end:]  # the supervisor builds it in the browser
    assert "sms:\n  provider: log\n" in text  # else the messages would go to the log, not the simulator
    return text.replace("sms:\n  provider: log\n", (
        "sms:\n  provider: aliyun\n  access_key_id: ${ALIYUN_KEY_ID}\n  access_key_secret: ${ALIYUN_SECRET}\n"
        f"  sign_name: 治具\n  endpoint: {sim_url}/aliyun\n  timeout: 2\n"))


@pytest.fixture(scope="module")
def site(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("ruleedit")  # the browser fixture skips outside the SQLite pass
    database_url = f"sqlite:///{tmp / 'jig.db'}"
    sim, sim_url, stop = simulator.start_simulator()
    saved = {k: os.environ.get(k) for k in ("ALIYUN_KEY_ID", "ALIYUN_SECRET")}
    os.environ.update({"ALIYUN_KEY_ID": simulator.ALIYUN_KEY_ID, "ALIYUN_SECRET": simulator.ALIYUN_SECRET})
    apps = tmp / "apps"
    apps.mkdir()
    (apps / "outsourcing.yaml").write_text(_app_text(sim_url), encoding="utf-8")
    (apps / "plant.yaml").write_text(PLANT, encoding="utf-8")
    with clock.frozen(MONDAY):
        jig = Jig(Settings(database_url=database_url, apps=[str(apps)], secret_key="r" * 40,
                           files_dir=str(tmp / "files")), refresh_seconds=0, embedded_jobs=False)
        demo.prepare(jig.runtime)
        _plant(jig.runtime)
        server, url = serve(jig.wsgi())
        try:
            yield {"jig": jig, "url": url, "sim": sim, "tmp": tmp}
        finally:
            server.close()
            jig.close()
            stop()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_browser()


def _shots(site: dict[str, Any]) -> Path:
    out = Path(os.environ.get("JIG_RULE_SCREENSHOTS") or site["tmp"] / "shots")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _login(browser: Any, url: str, width: int = 1400) -> tuple[Any, Any, list[str]]:
    ctx = browser.new_context(viewport={"width": width, "height": 1000}, base_url=url, locale="zh-CN")
    ctx.set_default_timeout(WAIT)
    page = ctx.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: d.accept())
    page.goto("/login")
    page.get_by_label("用户名").fill("admin")
    page.get_by_label("密码").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/$"))
    return ctx, page, problems


def test_supervisor_builds_the_overdue_reminder_and_it_texts_once_per_batch_per_day(
        site: dict[str, Any], browser: Any) -> None:
    from playwright.sync_api import expect
    jig, sim = site["jig"], site["sim"]
    ctx, page, problems = _login(browser, site["url"])
    page.goto("/builder/outsourcing")
    page.locator("#d-rules-link").click()
    expect(page.locator("#r-rows tr[data-rule='partner_gets_link']")).to_be_visible()
    page.locator("#r-new-key").fill("overdue_sms")
    page.get_by_role("button", name="新建规则").click()
    page.locator("#r-label-zh").fill("外发超期短信提醒")
    # trigger: a date field overdue, checked every hour between 08:00 and 20:00
    page.locator("#r-trigger").select_option("overdue")
    page.locator("#r-entity").select_option("batch")
    page.locator("#r-overdue-field").select_option("expected_return")
    page.locator("#r-overdue-n").fill("1")
    page.locator("#r-overdue-n").dispatch_event("change")
    page.locator("#r-from").fill("08:00")
    page.locator("#r-to").fill("20:00")
    page.locator("#r-to").dispatch_event("change")
    # condition: one more row with the field picker; the expression is built and checked at once
    page.locator("#r-add-row").click()
    row = page.locator("#r-cond-rows .r-row").nth(1)
    row.locator(".r-row-field").select_option("state")
    row.locator(".r-row-op").select_option("in")
    row.locator(".r-row-value").fill("shipped, processing")
    expect(page.locator("#r-when")).to_have_value(
        "days_since(expected_return) >= 1 and state in ('shipped', 'processing')")
    expect(page.locator("#r-cond-status")).to_have_class(re.compile(r"\bok\b"))
    page.locator("#r-once").select_option("per_day")
    page.locator("#r-batch-by").select_option("partner")
    # the SMS: to the partner's phone, with the shipped template and its variables
    sms = page.locator(".r-action[data-kind='sms']")
    sms.locator(".r-to-mode").select_option("link")
    expect(sms.locator(".r-to-value")).to_have_value("partner.phone")
    sms.locator(".r-template").select_option("outsourcing_overdue")
    sms.locator(".r-param[data-var='batch']").fill("name")
    sms.locator(".r-param[data-var='days']").fill("days_since(expected_return)")
    # must-show 2: a role with a user without a phone is warned about at once
    sms.locator(".r-role[value='planner']").check()
    expect(sms.locator(".r-warnings")).to_contain_text("计划员 王芳（planner）没有手机号")
    sms.locator(".r-role[value='planner']").uncheck()
    expect(sms.locator(".r-warnings li")).to_have_count(0)
    # preview for a chosen record
    rt = jig.runtime
    batches = _batches(rt)
    late = {b["name"]: b for b in batches if b["expected_return"] < MONDAY.date()}
    kz = next(b for b in batches if b["product_no"] == "KZ-2002")
    sms.locator(".r-preview-record").select_option(str(kz["id"]))
    expect(sms.locator(".r-preview-text")).to_contain_text(f"{kz['name']}（超期天数 4）")
    # test now: the overdue batches, the messages, nothing sent
    page.locator("#r-test").click()
    expect(page.locator("#r-test-records li")).to_have_count(len(late))
    for name in late:
        expect(page.locator("#r-test-records")).to_contain_text(name)
    expect(page.locator("#r-test-messages li")).to_have_count(2)
    expect(page.locator("#r-test-messages")).to_contain_text("13800001111: 【外发提醒】您有1张外发单已超期")
    page.add_style_tag(content="header.top { position: static !important; }")  # not over the element's shot
    page.locator("#rules-editor").screenshot(path=str(_shots(site) / "rule-editor.png"))
    assert sim.delivered == []
    # save as a draft edit, publish through the designer's path, then enable from the list
    page.locator("#r-save").click()
    expect(page.locator("#d-status")).to_contain_text("规则已保存到草稿")
    page.locator("#d-publish").click()
    page.locator("#d-publish-message").fill("外发超期短信")
    expect(page.locator("#d-publish-go")).to_be_enabled()
    page.locator("#d-publish-go").click()
    expect(page.locator("#d-published")).to_contain_text("已发布版本", timeout=30000)  # validate, migrate, publish
    page.locator("#d-publish-close").click()
    toggle = page.locator("#r-rows tr[data-rule='overdue_sms'] .r-toggle")
    expect(toggle).to_be_enabled()  # published (before, only in the draft: nothing to enable)
    expect(toggle).to_have_text("启用")
    toggle.click()
    expect(page.locator("#d-status")).to_contain_text("已启用", timeout=WAIT)
    expect(toggle).to_have_text("停用")
    expect(page.locator("#r-rows tr[data-rule='overdue_sms']")).to_contain_text("2026-12-07 09:00")  # next run: now
    page.screenshot(path=str(_shots(site) / "rule-editor-list.png"))
    assert problems == []

    # the next run, on the runtime the server swapped to: one message per partner, each listing its batches
    for _ in range(100):  # the swap is done by whichever request or call sees the new revision first
        rt = jig.current()
        if any(r.name == "overdue_sms" and r.enabled for r in rules_of(rt).rules):
            break
        time.sleep(0.05)
    assert any(r.name == "overdue_sms" and r.enabled for r in rules_of(rt).rules)
    expected = sorted(_expected(rt, late, MONDAY.date()))
    with clock.frozen(MONDAY):
        rules_of(rt).scheduler.tick("test")
        drain_outbox(rt, "test")
    assert sorted((d["to"], d["params"]["batch"]) for d in _sent(sim)) == expected
    with clock.frozen(MONDAY.replace(hour=10)):  # the next hour: nothing again today
        rules_of(rt).scheduler.tick("test")
        drain_outbox(rt, "test")
    assert len(_sent(sim)) == len(expected)
    with clock.frozen(MONDAY + dt.timedelta(days=1)):  # the next day: once more per batch
        rules_of(rt).scheduler.tick("test")
        drain_outbox(rt, "test")
    assert len(_sent(sim)) == 2 * len(expected)
    log = rt.tables.system["jig_sms_log"]
    with rt.db.read() as conn:
        logged = conn.execute(select(log.c.to, log.c.status, log.c.day).where(log.c.template == "outsourcing_overdue")
                              ).all()
    assert sorted((r.to, r.status) for r in logged) == sorted([(to, "sent") for to, _ in expected] * 2)
    # the delivery log shows them: the rule's messages, each sent
    page.goto("/admin/deliveries?rule=rule:overdue_sms")
    rows = page.locator("#deliveries tbody tr")
    expect(rows).to_have_count(2 * len(expected))
    expect(rows.filter(has_text="已发送")).to_have_count(2 * len(expected))
    for to, _ in expected:
        expect(page.locator("#deliveries")).to_contain_text(to)

    # must-show 4: the versions say who changed what; the rule is in the exported YAML
    with rt.db.read() as conn:
        history = rt.definitions.history(conn, "outsourcing")
        diff = rt.definitions.diff(conn, "outsourcing", history[-1].number, history[0].number)
    assert [v.message for v in history[:2]] == ["启用规则 overdue_sms", "外发超期短信"]
    assert "+  overdue_sms:" in diff and "days_since(expected_return) >= 1" in diff
    back = rt.publisher.rollback("outsourcing", history[1].number, author="admin")  # before it was enabled
    assert back.ok and back.version is not None
    with rt.db.read() as conn:
        rolled = rt.definitions.current(conn, "outsourcing").yaml
    assert "overdue_sms:" in rolled and "enabled: false" in rolled
    out = rt.publisher.export("outsourcing", site["tmp"] / "export.yaml")
    exported = out.read_text(encoding="utf-8")
    assert "overdue_sms:" in exported and "to: partner.phone" in exported.replace('"', "") and "enabled: false" in exported
    ctx.close()


def test_the_rule_list_works_on_a_phone(site: dict[str, Any], browser: Any) -> None:
    from playwright.sync_api import expect
    ctx, page, problems = _login(browser, site["url"], width=390)
    page.goto("/builder/outsourcing/rules")
    expect(page.locator("#r-rows tr[data-rule='partner_gets_link']")).to_be_visible()
    page.locator("#r-rows tr[data-rule='partner_gets_link'] .r-name button").click()
    expect(page.locator("#r-edit-title")).to_contain_text("partner_gets_link")
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    assert problems == []
    ctx.close()


def test_update_and_explode_are_edited_in_forms_and_tried(site: dict[str, Any], browser: Any) -> None:
    """The `update` and `explode` actions have forms: the YAML's values show in them, an edit in the form is
    saved back as the rule's YAML, and "test now" says which record each would change and what it would create."""
    from playwright.sync_api import expect
    ctx, page, problems = _login(browser, site["url"])
    page.goto("/builder/plant/rules")
    page.locator("#r-rows tr[data-rule='late_work'] .r-name button").click()
    upd = page.locator(".r-action[data-kind='update']")
    exp = page.locator(".r-action[data-kind='explode']")
    expect(upd.locator(".r-update-link")).to_have_value("partner")
    expect(exp.locator("select[data-explode=qty]").first).to_have_value("qty")
    expect(exp.locator("select[data-explode=sub_bom]")).to_have_value("sub_bom")
    upd.locator(".r-values input").first.fill("'超期 ' + name")
    page.locator("#r-test").click()
    expect(page.locator(".r-test-explode li")).to_have_count(2)
    expect(page.locator("#r-test-result")).to_contain_text("job × 2")
    expect(page.locator(".r-test-update")).to_contain_text("last_late = 超期 SO-001")
    page.add_style_tag(content="header.top { position: static !important; }")
    page.locator("#rules-editor").screenshot(path=str(_shots(site) / "rule-explode.png"))
    page.locator("#r-save").click()
    expect(page.locator("#d-status")).to_contain_text("规则已保存到草稿")
    rt = site["jig"].runtime
    with rt.db.read() as conn:
        draft = rt.definitions.draft(conn, "plant").yaml
    assert "last_late: \"'超期 ' + name\"" in draft and "sub_bom: sub_bom" in draft, draft
    job = rt.tables["plant.job"]
    with rt.db.read() as conn:
        assert conn.execute(select(job.c.id)).first() is None  # tried, not run
    assert problems == []
    ctx.close()


def _batches(rt: Any) -> list[dict[str, Any]]:
    t = rt.tables["outsourcing.batch"]
    with rt.db.read() as conn:
        return [dict(r) for r in conn.execute(select(t).order_by(t.c.id)).mappings()]


def _expected(rt: Any, late: dict[str, Any], day: dt.date) -> list[tuple[str, str]]:
    p = rt.tables["outsourcing.partner"]
    with rt.db.read() as conn:
        phones = dict(conn.execute(select(p.c.id, p.c.phone)).all())
    by_partner: dict[int, list[str]] = {}
    for name, b in sorted(late.items(), key=lambda x: x[1]["id"]):
        by_partner.setdefault(b["partner"], []).append(name)
    return [(phones[pid], "、".join(names)) for pid, names in by_partner.items()]


def _sent(sim: Any) -> list[dict[str, Any]]:
    return [d for d in sim.delivered if d.get("template") == "SMS_OUTSOURCING_OVERDUE"]
