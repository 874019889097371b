"""The designer in Chromium: Must-show 1 (add a field by drag and drop, publish, rename keeping data), 2 (workflow
state and transition), 4 (errors at the field, destructive change only when confirmed), 5 (two sessions, the later
save refused), 3 (a new app from a sheet of 200 spare parts) and 6 (export keeps comments and order; a file change imported shows in the designer);
also the side-by-side preview (updated after autosave), the expression picker with instant checks, tabs, a child
table edited as its own small form and the CodeMirror YAML view.

After a publish the served runtime is rebuilt from the published versions here (as a restart would);
the page itself reloads everything from the builder API.
"""

from __future__ import annotations

import contextlib
import difflib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from jig import demo
from jig.plugins import default_extensions
from runtime import api
from runtime.core import Runtime
from runtime.loader import load_texts

from .test_designer import _spare_parts_xlsx, record_shipped
from .ui_support import build, launch_browser, serve

pytestmark = pytest.mark.browser
PASSWORD = demo.DEMO_PASSWORD
SAVE = 30_000  # ms: autosaves queue one after another; on a loaded machine each takes a second or more


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_browser()


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[tuple[Runtime, str]]:
    rt, app = build(database_url, tmp_path)
    demo.prepare(rt)
    record_shipped(rt)
    server, url = serve(app)
    try:
        yield rt, url
    finally:
        server.close()
        rt.db.dispose()


def _page(browser: Any, url: str, user: str = "admin") -> tuple[Any, Any, list[str]]:
    ctx = browser.new_context(viewport={"width": 1500, "height": 900}, base_url=url, locale="zh-CN")
    ctx.set_default_timeout(8000)
    page = ctx.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: d.accept())
    page.goto("/login")
    page.get_by_label("用户名").fill(user)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/$"))
    return ctx, page, problems


def _drag(page: Any, source: Any, target: Any, *, top: bool = False) -> None:
    """Drag with real mouse moves (SortableJS in fallback mode follows the pointer); ``top``: onto the target's top."""
    a, b = source.bounding_box(), target.bounding_box()
    x0, y0 = a["x"] + min(10, a["width"] / 2), a["y"] + a["height"] / 2
    x1, y1 = b["x"] + b["width"] / 2, b["y"] + b["height"] * (0.1 if top else 0.75)
    page.mouse.move(x0, y0)
    page.mouse.down()
    for i in range(1, 21):
        page.mouse.move(x0 + (x1 - x0) * i / 20, y0 + (y1 - y0) * i / 20)
    page.mouse.move(x1, y1 + 2)
    page.mouse.up()


def _served(rt: Runtime, *, web: bool = False) -> Runtime:
    """The runtime as it serves after the publish (rebuilt from the published versions; with ``web``, its pages)."""
    with rt.db.read() as conn:
        texts = {name: t for name, t in rt.publisher.served(conn).values()}
    exts = default_extensions()
    return Runtime(load_texts(texts, exts), rt.db.engine.url.render_as_string(hide_password=False),
                   extensions=exts if web else [], definition_extensions=exts)


@contextlib.contextmanager
def _serving_published(rt: Runtime, tmp_path: Path) -> Iterator[str]:
    """The web app as served after the publish (rebuilt from the published versions, as a restart does)."""
    from jig.app import create_app
    from jig.config import Settings
    served = _served(rt, web=True)
    web = create_app(Settings(database_url=served.db.engine.url.render_as_string(hide_password=False),
                              secret_key="ui-test-secret-" + "x" * 32, files_dir=str(tmp_path / "files")), served)
    server, url = serve(web)
    try:
        yield url
    finally:
        server.close()
        served.db.dispose()


def _prop(page: Any, label: str) -> Any:
    return page.locator("#d-props-body").get_by_label(label, exact=True)


def _publish(page: Any, expect: Any, plan_line: str, *, confirm: bool = False) -> None:
    page.locator("#d-publish").click()
    expect(page.locator("#d-publish-body")).to_contain_text(plan_line, timeout=SAVE)
    if confirm:
        expect(page.locator("#d-publish-go")).to_be_disabled(timeout=SAVE)
        page.locator(".d-confirm").check()
    page.locator("#d-publish-message").fill("车间要求")
    page.locator("#d-publish-go").click()
    expect(page.locator("#d-published")).to_contain_text("已发布版本", timeout=SAVE)
    page.locator("#d-publish-close").click()


def test_add_a_field_by_drag_and_drop_publish_rename_and_errors(browser: Any, site: tuple[Runtime, str],
                                                                 tmp_path: Path) -> None:
    rt, url = site
    expect = pytest.importorskip("playwright.sync_api").expect
    with rt.db.write() as conn:
        conn.execute(text("UPDATE outsourcing__batch SET remark = 'R' || id"))
        before = {r[0]: tuple(r[1:]) for r in conn.execute(text(
            "SELECT id, customer, quantity, remark FROM outsourcing__batch"))}
        latest = conn.execute(text("SELECT max(id) FROM outsourcing__batch")).scalar()
        conn.execute(text("UPDATE outsourcing__batch SET state = 'shipped' WHERE id = :i"), {"i": latest})
    assert before
    ctx, page, problems = _page(browser, url)
    page.goto("/builder")
    page.locator("a.button[href='/builder/outsourcing']").click()
    page.locator("[data-entity=batch]").click()
    expect(page.locator(".d-col[data-section='0'][data-column='0'] .d-card").first).to_be_visible(timeout=SAVE)

    # --- Must-show 1: drag a decimal field into the batch form, set key, labels and min; autosaved
    _drag(page, page.locator(".d-pal[data-type=decimal]"),
          page.locator(".d-col[data-section='0'][data-column='1'] .d-card[data-key=process]"))
    expect(page.locator(".d-card.selected")).to_be_visible(timeout=SAVE)
    _prop(page, "字段标识").fill("plating_um")
    _prop(page, "字段标识").press("Tab")
    expect(page.locator("#d-yaml-text")).to_have_value(re.compile(r"plating_um: \{decimal: "), timeout=SAVE)
    # the preview: the draft's form as the web UI renders it, desktop and phone side by side, and the link form
    page.locator("#d-preview-toggle").click()
    for frame in ("#d-preview-desktop", "#d-preview-phone"):
        expect(page.frame_locator(frame).locator("[data-field=plating_um] input")).to_be_visible(timeout=SAVE)
    expect(page.frame_locator("#d-preview-link-partner_update").locator("h1")).to_contain_text("外协进度更新",
                                                                                                timeout=SAVE)
    # an existing record under the draft: its values, its history, the draft's transitions from its state (disabled)
    expect(page.locator(f"#d-preview-record option[value='{latest}']")).to_have_count(1, timeout=SAVE)
    page.locator("#d-preview-record").select_option(str(latest))
    desk = page.frame_locator("#d-preview-desktop")
    expect(desk.locator("#history-h")).to_be_visible(timeout=SAVE)
    expect(desk.locator("button.transition[data-transition=start]")).to_be_disabled(timeout=SAVE)
    expect(desk.locator("[data-field=plating_um] input")).to_be_visible(timeout=SAVE)
    page.locator("#d-preview-record").select_option("")
    _prop(page, "中文名称").fill("电镀厚度 (μm)")
    _prop(page, "中文名称").press("Tab")
    for frame in ("#d-preview-desktop", "#d-preview-phone"):  # updated after the autosave, no page reload
        expect(page.frame_locator(frame).locator("label[for=fld-plating_um]")).to_contain_text("电镀厚度 (μm)",
                                                                                             timeout=SAVE)
    page.locator("#d-preview-toggle").click()
    _prop(page, "英文名称").fill("Plating (μm)")
    _prop(page, "英文名称").press("Tab")
    _prop(page, "最小值").fill("0")
    _prop(page, "最小值").press("Tab")
    expect(page.locator("#d-yaml-text")).to_have_value(re.compile(r"电镀厚度 \(μm\).*min: 0"), timeout=SAVE)
    _prop(page, "在列表中显示").check()
    expect(page.locator("#d-yaml-text")).to_have_value(re.compile(r"columns: \[name, .*, qc_result, plating_um\]"),
                                                       timeout=SAVE)
    card = page.locator(".d-col[data-section='0'][data-column='1'] .d-card[data-key=plating_um]")
    expect(card).to_contain_text("电镀厚度 (μm)", timeout=SAVE)
    with rt.db.read() as conn:
        draft = rt.definitions.draft(conn, "outsourcing")
    assert draft is not None and any(line.strip().startswith("- [partner,") and "plating_um" in line
                                     for line in draft.yaml.splitlines())
    # only the edited lines changed in the draft's text
    published = (Path(__file__).parent.parent / "apps" / "outsourcing.yaml").read_text(encoding="utf-8")
    changed = [x for x in difflib.unified_diff(published.splitlines(), draft.yaml.splitlines(), lineterm="", n=0)
               if x[:1] in "+-" and not x.startswith(("+++", "---"))]
    assert len(changed) == 5, changed  # the new field, the layout column and the list columns (old and new lines)

    # the expression picker inserts at the cursor; the server checks as one types (nothing saved until committed)
    _prop(page, "校验条件（表达式）").fill("plating_um <= ")
    page.locator(".d-prop[data-prop=check] .d-expr-pick").click()
    expect(page.locator(".d-expr-menu [data-insert='partner.name']")).to_be_visible(timeout=SAVE)
    expect(page.locator(".d-expr-menu")).to_contain_text("days_between(date, date)", timeout=SAVE)
    expect(page.locator(".d-expr-menu")).to_contain_text("user.partner", timeout=SAVE)
    page.locator(".d-expr-menu [data-insert='quantity']").click()
    expect(_prop(page, "校验条件（表达式）")).to_have_value("plating_um <= quantity")
    expect(page.locator(".d-prop[data-prop=check] .d-expr-ok")).to_be_visible(timeout=SAVE)
    # --- Must-show 4: an error is shown at the field and blocks publishing
    _prop(page, "校验条件（表达式）").fill("plating_um <= max_thickness")
    expect(page.locator(".d-prop[data-prop=check] .d-expr-check")).to_contain_text("max_thickness", timeout=SAVE)
    _prop(page, "校验条件（表达式）").press("Tab")
    expect(card).to_have_class(re.compile("invalid"), timeout=SAVE)
    expect(page.locator(".d-prop[data-prop=check] .d-prop-error")).to_contain_text("max_thickness", timeout=SAVE)
    page.locator("#d-publish").click()
    expect(page.locator("#d-publish-body")).to_contain_text("不能发布", timeout=SAVE)
    expect(page.locator(".d-publish-errors")).to_contain_text("电镀厚度 (μm)", timeout=SAVE)
    page.locator("#d-publish-close").click()
    _prop(page, "校验条件（表达式）").fill("")
    _prop(page, "校验条件（表达式）").press("Tab")
    expect(card).not_to_have_class(re.compile("invalid"), timeout=SAVE)

    # --- publish: the plan in plain Chinese, then the column exists and old records keep their data
    _publish(page, expect, "新增列 电镀厚度 (μm)（外发单）")
    assert "plating_um" in {c["name"] for c in inspect(rt.db.engine).get_columns("outsourcing__batch")}
    served = _served(rt)
    try:
        assert served.apps["outsourcing"].entities["batch"].fields["plating_um"].label["zh"] == "电镀厚度 (μm)"
        web = api.create_app(served, {"TESTING": True})
        token = served.users.create_token("admin")
        some = next(iter(before))
        got = web.test_client().get(f"/api/outsourcing/batch/{some}", headers={"Authorization": f"Bearer {token}"})
        assert got.status_code == 200 and "plating_um" in got.get_json()
        assert (got.get_json()["customer"], got.get_json()["quantity"]) == before[some][:2]
    finally:
        served.db.dispose()
    with _serving_published(rt, tmp_path) as url2:
        c2, p2, probs = _page(browser, url2)
        p2.goto("/a/outsourcing/batch")
        expect(p2.locator("main table")).to_contain_text("电镀厚度 (μm)", timeout=SAVE)
        p2.goto(f"/a/outsourcing/batch/{some}")
        expect(p2.get_by_label("电镀厚度 (μm)")).to_be_visible(timeout=SAVE)
        p2.set_viewport_size({"width": 390, "height": 844})  # the form on a phone
        p2.goto("/a/outsourcing/batch/new")
        expect(p2.get_by_label("电镀厚度 (μm)")).to_be_visible(timeout=SAVE)
        assert probs == []
        c2.close()

    # --- Must-show 6: exported, the file keeps its comments and order (only the edited lines differ) ...
    exported = rt.publisher.export("outsourcing", tmp_path / "outsourcing.yaml").read_text(encoding="utf-8")
    changed = [x for x in difflib.unified_diff(published.splitlines(), exported.splitlines(), lineterm="", n=0)
               if x[:1] in "+-" and not x.startswith(("+++", "---"))]
    assert len(changed) == 5, changed
    assert "# the overdue scan" in exported and exported.startswith("# yaml-language-server")
    # ... and a change made in the file and imported (as jig import does) shows in the designer
    line = next(x for x in exported.splitlines(keepends=True) if x.startswith("      plating_um:"))
    from_file = exported.replace(line, line + "      coating: {type: text, label: {zh: 镀层, en: Coating}}  # from the file\n")
    assert rt.publisher.publish("outsourcing", from_file, author="file", source="file",
                                file=str(tmp_path / "outsourcing.yaml")).version is not None
    page.reload()
    page.locator("[data-entity=batch]").click()
    expect(page.locator(".d-unplaced .d-card[data-key=coating]")).to_contain_text("镀层", timeout=SAVE)

    # --- rename a published field through the designer: the data is kept
    page.locator(".d-card[data-key=remark]").click()
    _prop(page, "字段标识").fill("note")
    _prop(page, "字段标识").press("Tab")
    expect(page.locator("#d-yaml-text")).to_have_value(re.compile(r"note: \{type: longtext, label: \{zh: 备注"), timeout=SAVE)
    expect(page.locator("#d-yaml-text")).to_have_value(re.compile(r"renamed_from: remark"), timeout=SAVE)
    _prop(page, "中文名称").fill("说明")
    _prop(page, "中文名称").press("Tab")
    expect(page.locator(".d-card[data-key=note]")).to_contain_text("说明", timeout=SAVE)
    _publish(page, expect, "字段改名 备注 → 说明（数据保留）")
    with rt.db.read() as conn:
        after = {r[0]: tuple(r[1:]) for r in conn.execute(text(
            "SELECT id, customer, quantity, note FROM outsourcing__batch"))}
    assert after == before

    # --- Must-show 4: a type change with incompatible data is refused until confirmed, then keeps the old values
    page.locator(".d-card[data-key=note]").click()
    _prop(page, "类型").select_option("integer")
    expect(page.locator("#d-yaml-text")).to_have_value(re.compile(r"note: \{type: integer"), timeout=SAVE)
    _publish(page, expect, "字段类型改变 说明", confirm=True)
    with rt.db.read() as conn:
        kept = {r[0]: r[1] for r in conn.execute(text("SELECT id, note__was_longtext FROM outsourcing__batch"))}
    assert kept == {k: v[2] for k, v in before.items()}

    # --- version history with a diff
    page.locator("#d-versions").click()
    expect(page.locator("#d-versions-list tr")).to_have_count(5, timeout=SAVE)
    page.locator("#d-versions-list tr[data-number='2'] button", has_text="对比").click()
    expect(page.locator("#d-diff")).to_contain_text("plating_um", timeout=SAVE)
    assert problems == []
    ctx.close()


def test_two_sessions_the_later_save_is_refused_and_nothing_is_lost(browser: Any, site: tuple[Runtime, str]) -> None:
    rt, url = site
    expect = pytest.importorskip("playwright.sync_api").expect
    rt.users.add("maker", PASSWORD, ["builder"], display_name="王工")
    ctx_a, a, problems_a = _page(browser, url)
    ctx_b, b, problems_b = _page(browser, url, "maker")
    for p in (a, b):
        p.goto("/builder/outsourcing?entity=batch")
        expect(p.locator(".d-card[data-key=customer]")).to_be_visible(timeout=SAVE)
    a.locator(".d-card[data-key=customer]").click()
    _prop(a, "中文名称").fill("客户（甲改）")
    _prop(a, "中文名称").press("Tab")
    expect(a.locator("#d-yaml-text")).to_have_value(re.compile("客户（甲改）"), timeout=SAVE)
    b.locator(".d-card[data-key=product_no]").click()
    _prop(b, "中文名称").fill("产品号（乙改）")
    _prop(b, "中文名称").press("Tab")
    expect(b.locator("#d-stale")).to_be_visible(timeout=SAVE)
    expect(b.locator("#d-stale-msg")).to_contain_text("admin", timeout=SAVE)
    expect(b.locator("#d-stale-list")).to_contain_text("产品编号", timeout=SAVE)
    with rt.db.read() as conn:
        draft = rt.definitions.draft(conn, "outsourcing")
    assert draft is not None and "客户（甲改）" in draft.yaml and "乙改" not in draft.yaml
    b.locator("#d-stale-reapply").click()
    expect(b.locator("#d-stale")).to_be_hidden(timeout=SAVE)
    expect(b.locator("#d-yaml-text")).to_have_value(re.compile("客户（甲改）[\\s\\S]*产品号（乙改）"), timeout=SAVE)
    with rt.db.read() as conn:
        draft = rt.definitions.draft(conn, "outsourcing")
    assert draft is not None and "客户（甲改）" in draft.yaml and "产品号（乙改）" in draft.yaml
    # undo and redo (b's own change)
    b.locator("#d-undo").click()
    expect(b.locator("#d-yaml-text")).not_to_have_value(re.compile("产品号（乙改）"), timeout=SAVE)
    expect(b.locator("#d-yaml-text")).to_have_value(re.compile("客户（甲改）"), timeout=SAVE)
    b.locator("#d-redo").click()
    expect(b.locator("#d-yaml-text")).to_have_value(re.compile("产品号（乙改）"), timeout=SAVE)
    assert problems_a == [] and problems_b == []
    ctx_a.close()
    ctx_b.close()


def test_workflow_state_and_transition_then_kanban_and_button(browser: Any, site: tuple[Runtime, str],
                                                             tmp_path: Path) -> None:
    rt, url = site
    expect = pytest.importorskip("playwright.sync_api").expect
    ctx, page, problems = _page(browser, url)
    page.goto("/builder/outsourcing?entity=batch")
    page.locator("#d-tab-workflow").click()
    expect(page.locator(".d-wf-diagram [data-state=awaiting_qc]")).to_be_visible(timeout=SAVE)
    page.get_by_label("状态标识", exact=True).fill("recheck")
    page.get_by_label("添加状态 中文名称").fill("待复检")
    page.get_by_role("button", name="添加状态").click()
    expect(page.locator(".d-wf-diagram [data-state=recheck]")).to_contain_text("待复检", timeout=SAVE)
    page.get_by_label("流转标识", exact=True).fill("to_recheck")
    page.get_by_label("添加流转 中文名称").fill("送复检")
    page.locator("#d-add-transition select").first.select_option("awaiting_qc")
    page.locator("#d-add-transition select").nth(1).select_option("recheck")
    page.get_by_label("角色", exact=True).fill("qc, planner")
    page.get_by_role("button", name="添加流转").click()
    expect(page.locator(".d-wf-transitions tr[data-wf-transition=to_recheck]")).to_contain_text("送复检", timeout=SAVE)
    expect(page.locator(".d-wf-diagram")).to_contain_text("送复检", timeout=SAVE)
    # the transition's required fields and fields to set, in its row (the expression checked as one types)
    row = page.locator(".d-wf-transitions tr[data-wf-transition=to_recheck]")
    row.locator("summary").click()
    page.get_by_label("to_recheck 必填字段 备注", exact=True).check()
    expect(row.locator("summary")).to_have_text("备注", timeout=SAVE)
    page.get_by_label("to_recheck 设置字段 1 字段", exact=True).select_option("actual_return")
    page.get_by_label("to_recheck 设置字段 1 表达式", exact=True).fill("now()")
    expect(row.locator(".d-expr-ok")).to_be_visible(timeout=SAVE)
    page.get_by_label("to_recheck 设置字段 1 表达式", exact=True).press("Tab")
    expect(page.locator("#d-yaml-text")).to_have_value(
        re.compile(r"to_recheck:.*require: \[remark\].*set: \{actual_return: \"?now\(\)", re.S), timeout=SAVE)
    # the permissions grid: qc may now also delete the batches it rejected
    page.locator("#d-tab-perms").click()
    expect(page.get_by_label("qc 修改", exact=True)).to_be_checked(timeout=SAVE)
    expect(page.get_by_label("qc 删除", exact=True)).not_to_be_checked(timeout=SAVE)
    page.get_by_label("qc 删除 行条件（可选）", exact=True).fill("qc_result == 'reject'")
    page.get_by_label("qc 删除 行条件（可选）", exact=True).press("Tab")
    expect(page.locator("#d-yaml-text")).to_have_value(re.compile(r"qc: \{[^}]*delete: \"?qc_result == 'reject'"),
                                                       timeout=SAVE)
    expect(page.get_by_label("qc 删除", exact=True)).to_be_checked(timeout=SAVE)
    # the YAML view is CodeMirror: typing there and applying shows on the canvas (and canvas edits show there)
    page.locator("#d-tab-form").click()
    expect(page.locator(".d-yaml .CodeMirror")).to_be_visible(timeout=SAVE)
    page.evaluate("""() => {
      const cm = document.querySelector('.d-yaml .CodeMirror').CodeMirror;
      const line = cm.getValue().split('\\n').findIndex((l) => l.startsWith('      remark:'));
      const ch = cm.getLine(line).indexOf('备注') + 2;
      cm.replaceRange('说明', { line, ch }, { line, ch }, '+input');
    }""")
    expect(page.locator("#d-status")).to_contain_text("有未保存的修改")
    page.locator("#d-yaml-apply").click()
    expect(page.locator(".d-card[data-key=remark]")).to_contain_text("备注说明", timeout=SAVE)
    # tabs: add one (the sections become the first tab), name it, drag a field into it
    page.locator("#d-add-tab").click()
    expect(page.locator(".d-tab-block")).to_have_count(2, timeout=SAVE)
    page.get_by_label("标签页 2 中文名称", exact=True).fill("质检记录")
    page.get_by_label("标签页 2 中文名称", exact=True).press("Tab")
    expect(page.locator("#d-yaml-text")).to_have_value(re.compile(r"tabs:.*质检记录", re.S), timeout=SAVE)
    _drag(page, page.locator(".d-card[data-key=remark]"), page.locator(".d-tab-block[data-tab='1'] .d-col"))
    expect(page.locator(".d-tab-block[data-tab='1'] .d-card[data-key=remark]")).to_be_visible(timeout=SAVE)
    expect(page.locator("#d-yaml-text")).to_have_value(re.compile(r"质检记录.*columns: \[\[remark\]\]", re.S),
                                                       timeout=SAVE)
    # tabs reordered by dragging the handle; undo and redo cover it; the YAML view shows the order
    first_tab = re.compile(r"tabs:\s*\n\s*- \{?label: (\{zh: )?质检记录")
    _drag(page, page.locator(".d-tab-block[data-tab='1'] .d-tab-handle"), page.locator(".d-tab-block[data-tab='0'] .d-tab-head"),
          top=True)
    expect(page.locator("#d-yaml-text")).to_have_value(first_tab, timeout=SAVE)
    page.locator("#d-undo").click()
    expect(page.locator("#d-yaml-text")).not_to_have_value(first_tab, timeout=SAVE)
    page.locator("#d-redo").click()
    expect(page.locator("#d-yaml-text")).to_have_value(first_tab, timeout=SAVE)
    # archive the partner entity: kept with its data, gone from navigation and new records
    page.locator("[data-entity=partner]").click()
    page.get_by_label("归档此实体（数据保留）", exact=True).check()
    expect(page.locator("[data-entity=partner]")).to_have_class(re.compile("d-archived"), timeout=SAVE)
    _publish(page, expect, "归档实体 外协厂（数据保留）")
    # a child table edited as its own small form: select the table field, then one of its fields; add one
    page.goto("/builder/work_order_tracking?entity=bom")
    page.locator(".d-card[data-key=lines]").click()
    expect(page.locator(".d-child .d-child-card")).to_have_count(5, timeout=SAVE)
    page.locator(".d-child-card[data-key=unit]").click()
    expect(page.locator("#d-props-body")).to_contain_text("用料明细", timeout=SAVE)
    _prop(page, "中文名称").fill("计量单位")
    _prop(page, "中文名称").press("Tab")
    expect(page.locator(".d-child-card[data-key=unit]")).to_contain_text("计量单位", timeout=SAVE)
    page.get_by_label("子表字段类型").select_option("decimal")
    page.locator("#d-child-add").click()
    expect(page.locator(".d-child-card[data-key=number_1]")).to_be_visible(timeout=SAVE)
    expect(page.locator("#d-yaml-text")).to_have_value(
        re.compile(r"unit: \{type: text, label: \{zh: 计量单位.*\n\s+sub_bom:.*scrap_rate: .*\n\s+number_1: \{decimal: ", re.S),
        timeout=SAVE)
    assert problems == []
    ctx.close()
    # the served app after the publish (rebuilt from the published versions): a kanban column and the button
    with _serving_published(rt, tmp_path) as url2:
        with rt.db.write() as conn:
            some = conn.execute(text("SELECT id FROM outsourcing__batch ORDER BY id LIMIT 1")).scalar()
            conn.execute(text("UPDATE outsourcing__batch SET state = 'awaiting_qc', remark = NULL WHERE id = :i"),
                         {"i": some})
        ctx, page, problems = _page(browser, url2)
        page.goto("/a/outsourcing/batch/kanban")
        expect(page.locator(".lane[data-state=recheck]")).to_be_visible(timeout=SAVE)
        page.goto(f"/a/outsourcing/batch/{some}")
        expect(page.locator("button.transition[data-transition=to_recheck]")).to_have_text("送复检", timeout=SAVE)
        expect(page.locator("nav a[href='/a/outsourcing/partner']")).to_have_count(0)  # archived
        expect(page.locator("nav a[href='/a/outsourcing/batch']").first).to_be_attached()
        # the transition requires 备注: refused (422) without it, and the form shows the field
        with page.expect_response(re.compile(r"/transitions/to_recheck")) as answer:
            page.locator("button.transition[data-transition=to_recheck]").click()
        assert answer.value.status == 422
        expect(page.locator("[data-error-for=remark]")).to_contain_text("必填", timeout=SAVE)
        page.get_by_role("tab", name="质检记录").click()
        expect(page.get_by_label("备注")).to_be_visible(timeout=SAVE)
        assert problems == []
        ctx.close()


def test_new_app_from_a_spreadsheet_of_200_spare_parts(browser: Any, site: tuple[Runtime, str], tmp_path: Path) -> None:
    rt, url = site
    expect = pytest.importorskip("playwright.sync_api").expect
    sheet = _spare_parts_xlsx(200)
    upload = {"name": "备件.xlsx", "mimeType": "application/octet-stream", "buffer": sheet}
    ctx, page, problems = _page(browser, url)
    page.goto("/builder")
    form = page.locator("#sheet-app")
    form.get_by_label("表格文件（.xlsx 或 .csv）").set_input_files(upload)
    form.get_by_label("应用标识（小写字母、数字、下划线）").fill("spare_parts")
    form.get_by_label("应用名称").fill("备件管理")
    form.get_by_label("实体标识（小写字母、数字、下划线）").fill("part")
    form.get_by_label("实体名称").fill("备件")
    page.locator("#sheet-read").click()
    expect(page.locator("#sheet-count")).to_have_text("共 200 行数据", timeout=SAVE)
    expect(page.locator("#sheet-rows tr")).to_have_count(8)
    expect(page.get_by_label("类型 3", exact=True)).to_have_value("select")
    expect(page.get_by_label("类型 6", exact=True)).to_have_value("date")
    page.get_by_label("字段标识 1", exact=True).fill("code")
    page.get_by_label("字段标识 2", exact=True).fill("part_name")
    page.get_by_label("字段标识 2", exact=True).press("Tab")
    page.locator("#sheet-create").click()
    page.wait_for_url(re.compile(r"/builder/spare_parts$"))
    expect(page.locator(".d-card[data-key=part_name]")).to_contain_text("名称", timeout=SAVE)
    _publish(page, expect, "新增表 备件")
    expect(page.locator("#d-import-link")).to_have_attribute("href", "/a/spare_parts/part/import")
    assert problems == []
    ctx.close()
    # the served app after the publish: the rows go in through the import page, the list shows them
    with _serving_published(rt, tmp_path) as url2:
        ctx, page, problems = _page(browser, url2)
        page.goto("/a/spare_parts/part/import")
        page.get_by_label("文件（.csv 或 .xlsx）").set_input_files(upload)
        page.get_by_role("button", name="预览").click()
        page.locator("#run-import").click()
        expect(page.locator("#import-done")).to_have_text("已导入 200 条记录", timeout=SAVE)
        with rt.db.read() as conn:
            rows = conn.execute(text("SELECT code, part_name, col_3, col_6 FROM spare_parts__part ORDER BY code")).all()
        assert len(rows) == 200 and rows[0][0] == "SP-0000" and rows[1][2] == "密封件"
        assert str(rows[1][3]) == "2026-02-02"  # written 2026年2月2日 in the sheet
        page.goto("/a/spare_parts/part")
        expect(page.locator("main")).to_contain_text(re.compile(r"SP-0\d{3}"), timeout=SAVE)
        page.locator("main table a", has_text="SP-0199").first.click()  # the form of an imported row
        expect(page.get_by_role("textbox", name="名称", exact=True)).to_have_value("轴承 199", timeout=SAVE)
        assert problems == []
        ctx.close()
