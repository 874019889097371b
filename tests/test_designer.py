"""The designer without a browser: stale drafts refused, the plan in plain words, the palette, the pages' gate."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from builder.extension import BuilderExtension
from builder.palette import field_palette
from builder.plan_text import plan_lines
from runtime import api
from runtime.core import Runtime
from runtime.schema import FIELD_TYPES
from runtime.yamlsource import load_text

from .conftest import APPS
from .test_permission_audit import signed_in
from .ui_support import build

OUTSOURCING = (APPS / "outsourcing.yaml").read_text(encoding="utf-8")
QTY = "      quantity: {type: integer, label: {zh: 数量, en: Quantity}, required: true, min: 1}\n"
THICKNESS = ("      plating_um: {type: decimal, label: {zh: 电镀厚度 (μm), en: Plating (μm)}, min: 0}\n")


def record_shipped(runtime: Runtime) -> None:
    """What a start-up import does for the shipped files: they become the apps' published versions."""
    with runtime.db.write() as conn:
        runtime.publisher.record_imports(conn, [(name, str(APPS / f"{name}.yaml"),
                                                 (APPS / f"{name}.yaml").read_text(encoding="utf-8"))
                                                for name in runtime.apps])


@pytest.fixture
def rt(make_runtime: Callable[..., Runtime]) -> Runtime:
    runtime = make_runtime()
    record_shipped(runtime)
    return runtime


def _client(rt: Runtime, name: str, roles: list[str]) -> Any:
    app = api.create_app(rt, {"TESTING": True})
    BuilderExtension().init_web(app, rt)
    rt.users.add(name, "secret-pass", roles)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {rt.users.create_token(name)}"
    return client


def _add_field(key: str) -> dict[str, Any]:
    return {"op": "set", "path": ["entities", "batch", "fields", key], "after": "quantity",
            "value": {"type": "text", "label": {"zh": key, "en": key}}}


def test_a_save_based_on_a_stale_draft_is_refused_naming_who_when_and_what(rt: Runtime) -> None:
    li, wang = _client(rt, "li", ["builder"]), _client(rt, "wang", ["admin"])
    start = li.get("/api/builder/apps/outsourcing").get_json()["published"]
    base = start["sha256"]
    assert start["data"]["entities"]["batch"]["fields"]["quantity"]["type"] == "integer"
    # both start from the published version; li saves first
    r = li.post("/api/builder/apps/outsourcing/draft/edits", json={"edits": [_add_field("li_field")], "base": base,
                                                                    "message": "新增字段 李的字段"})
    assert r.status_code == 200, r.get_json()
    li_sha = r.get_json()["draft"]["sha256"]
    # wang's edit is based on the published text: refused, naming li, the time and li's message
    r = wang.post("/api/builder/apps/outsourcing/draft/edits", json={"edits": [_add_field("wang_field")],
                                                                      "base": base, "message": "王的修改"})
    assert r.status_code == 409, r.get_json()
    err = r.get_json()["error"]
    assert err["code"] == "conflict" and "li" in err["message"] and "新增字段 李的字段" in err["message"]
    assert err["current"]["author"] == "li" and err["current"]["sha256"] == li_sha
    # a whole-text save based on the old text too
    r = wang.put("/api/builder/apps/outsourcing/draft", json={"yaml": OUTSOURCING, "base": base})
    assert r.status_code == 409 and "li" in r.get_json()["error"]["message"]
    # nothing lost: li's draft is intact; wang re-applies on the latest draft and both changes are there
    draft = wang.get("/api/builder/apps/outsourcing").get_json()["draft"]
    assert "li_field:" in draft["yaml"] and "wang_field" not in draft["yaml"]
    r = wang.post("/api/builder/apps/outsourcing/draft/edits", json={"edits": [_add_field("wang_field")],
                                                                      "base": draft["sha256"]})
    assert r.status_code == 200
    text = r.get_json()["draft"]["yaml"]
    assert "li_field:" in text and "wang_field:" in text
    # and li, whose base is now stale, is refused in turn
    r = li.put("/api/builder/apps/outsourcing/draft", json={"yaml": OUTSOURCING, "base": li_sha})
    assert r.status_code == 409 and "wang" in r.get_json()["error"]["message"]
    assert r.get_json()["error"]["fields"] == {}
    # bad bases are 4xx, not 500
    for bad in (5, "x" * 65, ["a"]):
        r = li.put("/api/builder/apps/outsourcing/draft", json={"yaml": OUTSOURCING, "base": bad})
        assert r.status_code == 400, bad


def test_a_save_without_base_still_works_and_edits_follow_the_latest_draft(rt: Runtime) -> None:
    c = _client(rt, "li", ["builder"])
    assert c.post("/api/builder/apps/outsourcing/draft/edits", json={"edits": [_add_field("a_field")]}).status_code == 200
    r = c.post("/api/builder/apps/outsourcing/draft/edits", json={"edits": [_add_field("b_field")]})
    assert r.status_code == 200
    assert "a_field:" in r.get_json()["draft"]["yaml"] and "b_field:" in r.get_json()["draft"]["yaml"]


def test_the_plan_in_plain_chinese_and_english(rt: Runtime) -> None:
    c = _client(rt, "li", ["builder"])
    text = OUTSOURCING.replace(QTY, QTY + THICKNESS)
    text = text.replace("      remark: {type: longtext, label: {zh: 备注, en: Remark}}",
                        "      note: {type: longtext, renamed_from: remark, label: {zh: 说明, en: Note}}")
    text = text.replace("- [photos, remark]", "- [photos, note]")
    r = c.post("/api/builder/apps/outsourcing/plan", json={"yaml": text})
    body = r.get_json()
    assert body["ok"], body["errors"]
    lines = [p["text"] for p in body["plan"]]
    assert "新增列 电镀厚度 (μm)（外发单）" in lines
    assert "字段改名 备注 → 说明（数据保留）" in lines
    assert all(p["safe"] for p in body["plan"])
    # a type change that may not convert: worded, marked unsafe, with why
    risky = OUTSOURCING.replace("remark: {type: longtext", "remark: {type: integer")
    body = c.post("/api/builder/apps/outsourcing/plan", json={"yaml": risky}).get_json()
    assert body["ok"], body["errors"]
    [line] = [p for p in body["plan"] if p["kind"] == "change_type"]
    assert not line["safe"] and "备注" in line["text"] and "remark__was_longtext" in line["warning"]
    en = plan_lines([], "outsourcing", new=None, old=None, lang="en")
    assert en == []


def test_plan_words_for_every_step_kind() -> None:
    from runtime.migrations import Step
    data, _s, _e = load_text(OUTSOURCING, "o.yaml")
    steps = [Step("create_table", "outsourcing__batch", "entity outsourcing.batch (3 fields)", data={"entity": "x"}),
             Step("create_table", "jig_history", "system table"),
             Step("add_column", "outsourcing__batch", "state", data={"column": "state", "fill": "shipped"}),
             Step("keep_column", "outsourcing__batch", "old: kept", data={"column": "old"}),
             Step("create_index", "outsourcing__batch", "uq_x on product_no (unique)", False, "dups"),
             Step("drop_index", "outsourcing__batch", "ix_y", data={}),
             Step("rename_table", "outsourcing__lot", "-> outsourcing__batch", data={"to": "outsourcing__batch"}),
             Step("strange", "t", "d", False, "why")]
    for lang in ("zh", "en"):
        lines = plan_lines(steps, "outsourcing", new=data, old=data, lang=lang)
        assert len(lines) == len(steps) and all(line["text"] for line in lines)
    zh = plan_lines(steps, "outsourcing", new=data, old=data)
    assert zh[0]["text"] == "新增表 外发单" and zh[4]["text"] == "新增唯一约束 产品编号（外发单）"
    assert "重复" in zh[4]["warning"] and zh[-1]["warning"] == "why"


def test_the_palette_has_every_field_type_once() -> None:
    zh, en = field_palette("zh"), field_palette("en")
    assert [p["type"] for p in zh] == FIELD_TYPES
    assert {p["type"]: p["label"] for p in zh}["decimal"] == "小数"
    assert {p["type"]: p["label"] for p in en}["decimal"] == "Decimal"


def test_designer_pages_only_for_builders(database_url: str, tmp_path: Path) -> None:
    rt, app = build(database_url, tmp_path)
    record_shipped(rt)
    rt.users.add("maker", "maker-pass-1", ["builder"])
    rt.users.add("planner", "planner-pass-1", ["planner"])
    anonymous = app.test_client()
    r = anonymous.get("/builder/outsourcing")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    planner, _tok = signed_in(app, "planner")
    assert planner.get("/builder").status_code == 403
    assert planner.get("/builder/outsourcing").status_code == 403
    maker, tok = signed_in(app, "maker")
    page = maker.get("/builder")
    assert page.status_code == 200 and "/builder/outsourcing" in page.get_data(as_text=True)
    page = maker.get("/builder/outsourcing")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-app="outsourcing"' in html and "script-src 'self'" in \
        page.headers["Content-Security-Policy"]
    assert 'data-type="decimal"' in html and "<script>" not in html
    assert maker.get("/builder/nope").status_code == 404
    assert maker.get("/builder/Bad-Name").status_code == 404
    assert maker.get("/builder/static/vendor/Sortable.min.js").status_code == 200
    # the session (with its CSRF token) may call the builder API; without the token it may not
    assert maker.put("/api/builder/apps/outsourcing/draft", json={"yaml": "x"}).status_code == 401
    r = maker.post("/api/builder/apps/outsourcing/validate", json={}, headers={"X-CSRF-Token": tok})
    assert r.status_code == 200 and r.get_json()["ok"]
    rt.db.dispose()
