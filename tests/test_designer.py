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
from runtime.auth import SYSTEM
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
    text = text.replace("edit: [returned_qty, photos, remark]", "edit: [returned_qty, photos, note]")
    text = text.replace("fields: [remark]}", "fields: [note]}")  # the dispatch note prints it
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


def _spare_parts_xlsx(n: int = 200) -> bytes:
    import datetime as dt
    import io

    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["编号", "名称", "类别", "库存", "单价", "入库日期", "备注", "Supplier Code"])
    for i in range(n):
        ws.append([f"SP-{i:04d}", f"轴承 {i}", ["轴承", "密封件", "电机", "皮带"][i % 4], i % 50, 12.5 + i,
                   f"2026年{i % 12 + 1}月{i % 28 + 1}日" if i % 2 else dt.datetime(2026, 1, 1 + i % 28),
                   "" if i % 3 else "易损", f"0{i:03d}"])
    bio = io.BytesIO()
    wb.save(bio)
    return bio.getvalue()


def test_fields_inferred_from_a_spreadsheet_and_an_app_made_of_them(rt: Runtime) -> None:
    import io
    c = _client(rt, "li", ["builder"])
    r = c.post("/api/builder/sheets/infer", data={"file": (io.BytesIO(_spare_parts_xlsx()), "备件.xlsx")},
               content_type="multipart/form-data")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["rows"] == 200 and len(body["sample"]) == 5
    got = {f["label"]: (f["type"], f["required"], f["options"]) for f in body["fields"]}
    assert got["编号"] == ("text", True, [])
    assert got["类别"] == ("select", True, ["密封件", "电机", "皮带", "轴承"])
    assert got["库存"][0] == "integer" and got["单价"][0] == "decimal"
    assert got["入库日期"][0] == "date"  # spreadsheet dates and 2026年3月5日 alike
    assert got["备注"][:2] == ("text", False)  # one repeated value is no choice
    assert got["Supplier Code"][0] == "text"  # codes with leading zeros stay text
    assert {f["key"] for f in body["fields"]} >= {"supplier_code", "col_1"}
    fields = body["fields"]
    fields[0]["key"] = "code"
    r = c.post("/api/builder/sheets/app", json={"app": "spare_parts", "title": "备件管理", "entity": "part",
                                                "entity_title": "备件", "fields": fields})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["ok"], r.get_json()["errors"]
    r = c.post("/api/builder/apps/spare_parts/publish", json={"message": "从表格创建"})
    assert r.status_code == 200, r.get_json()
    assert "spare_parts__part" in inspect_tables(rt)
    # bad input: 4xx with the error shape, never 500
    for data in ({}, {"file": (io.BytesIO(b"\x00\x01garbage"), "x.xlsx")}, {"file": (io.BytesIO(b""), "x.csv")}):
        r = c.post("/api/builder/sheets/infer", data=data, content_type="multipart/form-data")
        assert r.status_code == 400 and set(r.get_json()["error"]) >= {"code", "message", "fields"}, data
    for body in ({"app": "x1", "entity": "e", "fields": []}, {"app": "Bad", "entity": "e", "fields": fields},
                 {"app": "x2", "entity": "e", "fields": [{"key": "a"}, {"key": "a"}]},
                 {"app": "spare_parts", "entity": "part", "fields": fields}, [1]):
        r = c.post("/api/builder/sheets/app", json=body)
        assert 400 <= r.status_code < 500, body


def inspect_tables(rt: Runtime) -> set[str]:
    from sqlalchemy import inspect
    return set(inspect(rt.db.engine).get_table_names())


def test_dates_as_chinese_spreadsheets_write_them_are_accepted() -> None:
    import datetime as dt

    from runtime.fieldtypes import FieldValueError, parse_date
    for text in ("2026-03-05", "2026/3/5", "2026-3-5", "2026.3.5", "2026年3月5日", "2026年03月05"):
        assert parse_date(text) == dt.date(2026, 3, 5), text
    for bad in ("2026年13月5日", "2026年2月30日", "3月5日", "2026-3"):
        with pytest.raises(FieldValueError):
            parse_date(bad)


def test_publish_is_refused_when_the_draft_changed_since_the_text_looked_at(rt: Runtime) -> None:
    li, wang = _client(rt, "li", ["builder"]), _client(rt, "wang", ["admin"])
    r = li.post("/api/builder/apps/outsourcing/draft/edits", json={"edits": [_add_field("li_field")],
                                                                    "message": "新增字段 李的字段"})
    seen = r.get_json()["draft"]["sha256"]
    # wang changes the draft after li looked at it
    r = wang.post("/api/builder/apps/outsourcing/draft/edits", json={"edits": [_add_field("wang_field")],
                                                                      "base": seen, "message": "王的修改"})
    assert r.status_code == 200
    r = li.post("/api/builder/apps/outsourcing/publish", json={"message": "发布", "base": seen})
    assert r.status_code == 409, r.get_json()
    err = r.get_json()["error"]
    assert "wang" in err["message"] and "王的修改" in err["message"] and err["current"]["author"] == "wang"
    with rt.db.read() as conn:  # nothing published
        assert "wang_field" not in rt.definitions.current(conn, "outsourcing").yaml
    assert li.post("/api/builder/apps/outsourcing/publish", json={"base": 7}).status_code == 400
    # based on the latest text, it publishes
    latest = li.get("/api/builder/apps/outsourcing").get_json()["draft"]["sha256"]
    r = li.post("/api/builder/apps/outsourcing/publish", json={"message": "发布", "base": latest})
    assert r.status_code == 200, r.get_json()
    with rt.db.read() as conn:
        assert "wang_field:" in rt.definitions.current(conn, "outsourcing").yaml


def test_round_trip_with_the_real_commands(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch,
                                           make_runtime: Callable[..., Runtime]) -> None:
    """A designer change exported with `jig export` keeps the file's comments and order; a change made in the
    file and imported with `jig import` shows in the designer."""
    import difflib

    from .test_definition_versions import _jig
    monkeypatch.chdir(tmp_path)
    apps = tmp_path / "apps"
    apps.mkdir()
    target = apps / "outsourcing.yaml"
    target.write_text(OUTSOURCING, encoding="utf-8")
    assert _jig(database_url, apps, "migrate").returncode == 0
    rt = make_runtime(apps=[apps], migrate=False)
    c = _client(rt, "li", ["builder"])
    # in the designer: a new decimal field after quantity, its label changed, then published
    add = {"op": "set", "path": ["entities", "batch", "fields", "plating_um"], "after": "quantity",
           "value": {"type": "decimal", "label": {"zh": "电镀厚度", "en": "Plating"}, "min": 0}}
    r = c.post("/api/builder/apps/outsourcing/draft/edits", json={"edits": [add]})
    assert r.status_code == 200 and r.get_json()["ok"], r.get_json()
    label = {"op": "set", "path": ["entities", "batch", "fields", "plating_um", "label", "zh"], "value": "电镀厚度 (μm)"}
    r = c.post("/api/builder/apps/outsourcing/draft/edits", json={"edits": [label], "base": r.get_json()["draft"]["sha256"]})
    r = c.post("/api/builder/apps/outsourcing/publish", json={"message": "电镀厚度", "base": r.get_json()["draft"]["sha256"]})
    assert r.status_code == 200, r.get_json()
    out = _jig(database_url, apps, "export", "outsourcing")
    assert out.returncode == 0, out.stderr
    exported = target.read_text(encoding="utf-8")
    changed = [line for line in difflib.unified_diff(OUTSOURCING.splitlines(), exported.splitlines(), lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert len(changed) == 1 and changed[0].startswith("+      plating_um:") and "电镀厚度 (μm)" in changed[0], changed
    comments = [line for line in OUTSOURCING.splitlines() if "#" in line]
    assert [line for line in exported.splitlines() if "#" in line and "plating_um" not in line] == comments
    lines = exported.splitlines()
    assert lines[lines.index(QTY.rstrip("\n")) + 1].startswith("      plating_um:")  # where it was dropped
    # in the file: a label changed by hand, imported with `jig import`, shown by the designer's API and page
    target.write_text(exported.replace("{zh: 备注, en: Remark}", "{zh: 备注说明, en: Remark}"), encoding="utf-8")
    imported = _jig(database_url, apps, "import")
    assert imported.returncode == 0 and "outsourcing: published version" in imported.stdout, imported.stderr
    body = c.get("/api/builder/apps/outsourcing").get_json()
    assert body["draft"] is None
    fields = body["published"]["data"]["entities"]["batch"]["fields"]
    assert fields["remark"]["label"]["zh"] == "备注说明" and "plating_um" in fields
    assert "# 外发加工跟踪" in body["published"]["yaml"]


def test_preview_renders_the_draft_with_the_ui_templates_without_publishing(database_url: str, tmp_path: Path) -> None:
    rt, app = build(database_url, tmp_path)
    record_shipped(rt)
    rt.users.add("maker", "maker-pass-1", ["builder"])
    rt.users.add("planner", "planner-pass-1", ["planner"])
    maker, tok = signed_in(app, "maker")
    r = maker.post("/api/builder/apps/outsourcing/draft/edits", headers={"X-CSRF-Token": tok}, json={"edits": [
        {"op": "set", "path": ["entities", "batch", "fields", "plating_um"], "after": "quantity",
         "value": {"type": "decimal", "label": {"zh": "电镀厚度 (μm)", "en": "Plating"}, "min": 0}},
        {"op": "set", "path": ["links", "partner_update", "edit"], "value": ["returned_qty", "plating_um", "remark"]}]})
    assert r.status_code == 200 and r.get_json()["ok"], r.get_json()
    page = maker.get("/builder/outsourcing/preview/batch")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="record-form"' in html and 'data-field="plating_um"' in html
    assert "电镀厚度 (μm)" in html and 'id="fld-quantity"' in html  # the form page's own markup
    assert "frame-ancestors 'self'" in page.headers["Content-Security-Policy"]
    assert maker.get("/a/outsourcing/batch/new").get_data(as_text=True).count("plating_um") == 0  # not published
    link = maker.get("/builder/outsourcing/preview/batch/links/partner_update")
    html = link.get_data(as_text=True)
    assert link.status_code == 200 and 'id="in-plating_um"' in html and "外协进度更新" in html
    assert 'data-action="start"' in html  # the link's transitions as buttons
    for url in ("/builder/outsourcing/preview/nope", "/builder/outsourcing/preview/batch/links/nope",
                "/builder/Bad/preview/batch", "/builder/nothing/preview/batch"):
        assert maker.get(url).status_code == 404, url
    # an existing record under the draft: its values, its history, the transitions from its state (disabled)
    ents = rt.apps["outsourcing"].entities
    pid = rt.records.create(SYSTEM, ents["partner"], {"name": "华东电镀"})["id"]
    rid = rt.records.create(SYSTEM, ents["batch"], {"customer": "甲客户", "product_no": "P-1", "quantity": 5,
                                                     "expected_return": "2099-01-01", "partner": pid})["id"]
    rt.users.add("chief", "chief-pass-1", ["admin"])
    chief, _t = signed_in(app, "chief")
    [item] = chief.get("/builder/outsourcing/preview/batch/records").get_json()["items"]
    assert item["id"] == rid and item["title"].startswith("WF") and item["state"] == "已发货", item
    page = chief.get(f"/builder/outsourcing/preview/batch?record={rid}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "甲客户" in html and 'data-field="plating_um"' in html
    assert 'id="history-h"' in html and 'class="transition" disabled data-transition="start"' in html
    for bad in ("x", "999999", "1" * 20):
        assert chief.get(f"/builder/outsourcing/preview/batch?record={bad}").status_code == 404, bad
    from types import SimpleNamespace as NS

    from builder.preview import as_drafted
    drafted = NS(fields={"note": NS(name="note", renamed_from="remark"), "plating_um": NS(name="plating_um",
                                                                                         renamed_from=None)})
    assert as_drafted(drafted, NS(fields={"remark": 1}), {"id": 3, "state": "shipped", "remark": "R"}) == \
        {"id": 3, "state": "shipped", "note": "R", "plating_um": None}  # a rename keeps the value
    planner, _t = signed_in(app, "planner")
    assert planner.get("/builder/outsourcing/preview/batch").status_code == 403
    assert planner.get("/builder/outsourcing/preview/batch/records").status_code == 403
    assert app.test_client().get("/builder/outsourcing/preview/batch").status_code == 302
    # a draft with errors: a 422 naming them, not a 500
    r = maker.post("/api/builder/apps/outsourcing/draft/edits", headers={"X-CSRF-Token": tok}, json={"edits": [
        {"op": "set", "path": ["entities", "batch", "fields", "plating_um", "type"], "value": "nonsense"}]})
    bad = maker.get("/builder/outsourcing/preview/batch")
    assert bad.status_code == 422 and "plating_um" in bad.get_data(as_text=True)
    rt.db.dispose()


def test_one_expression_checked_in_its_place_with_the_message_and_hint_of_jig_check(rt: Runtime) -> None:
    from runtime.errors import DefinitionErrors
    from runtime.loader import load_texts
    c = _client(rt, "li", ["builder"])
    funcs = c.get("/api/builder/functions").get_json()["functions"]
    assert {"name": "days_between", "signature": "days_between(date, date)"}.items() <= \
        next(f for f in funcs if f["name"] == "days_between").items()
    assert next(f for f in funcs if f["name"] == "sum")["signature"] == "sum(lines.qty)"  # aggregates too
    url = "/api/builder/apps/outsourcing/expression"
    check = ["entities", "batch", "fields", "quantity", "check"]
    ok = c.post(url, json={"path": check, "expr": "quantity <= returned_qty + 5 and partner.name != ''"}).get_json()
    assert ok == {"ok": True, "errors": []}
    bad = c.post(url, json={"path": check, "expr": "quantity <= max_thickness"}).get_json()
    assert not bad["ok"] and len(bad["errors"]) == 1
    [err] = bad["errors"]
    # exactly what `jig check` reports for the same text
    with pytest.raises(DefinitionErrors) as exc:
        load_texts({"outsourcing.yaml": OUTSOURCING.replace(QTY, QTY.replace("min: 1}", 'min: 1, check: "quantity <= max_thickness"}'))}, default_exts())
    [cli] = [e for e in exc.value.errors if e.path == "entities.batch.fields.quantity.check"]
    assert (err["message"], err["hint"]) == (cli.message, cli.hint) and "max_thickness" in err["message"]
    guard = ["entities", "batch", "workflow", "transitions", "inspect", "guard"]
    assert c.post(url, json={"path": guard, "expr": "days_between(ship_date)"}).get_json()["ok"] is False
    perm = ["entities", "batch", "permissions", "qc", "delete"]
    assert c.post(url, json={"path": perm, "expr": "qc_result == 'reject'"}).get_json()["ok"] is True
    new_role = ["entities", "batch", "permissions", "manager_two", "read"]  # parts that do not exist yet
    assert c.post(url, json={"path": new_role, "expr": "qc_result == 'reject'"}).get_json()["ok"] is True
    new_guard = ["entities", "batch", "workflow", "transitions", "recheck", "guard"]
    r = c.post(url, json={"path": new_guard, "expr": "qc_resul == 'x'"}).get_json()
    assert r["errors"][0]["hint"] == "did you mean 'qc_result'?", r
    assert c.post(url, json={"path": check, "expr": "  "}).get_json() == {"ok": True, "errors": []}
    with rt.db.read() as conn:  # nothing saved
        assert rt.definitions.draft(conn, "outsourcing") is None
    for body in ({"path": [], "expr": "x"}, {"path": check, "expr": 5}, {"path": check, "expr": "x" * 3000},
                 {"path": ["entities", "nope", "fields", "x", "check"], "expr": "1"}, {"path": [True], "expr": "x"}, [1]):
        assert c.post(url, json=body).status_code == 400, body


def default_exts() -> Any:
    from jig.plugins import default_extensions
    return default_extensions()


def _served(rt: Runtime) -> Runtime:
    """The runtime as it serves after a publish (rebuilt from the published versions, as a restart does)."""
    from jig.plugins import default_extensions
    from runtime.loader import load_texts
    with rt.db.read() as conn:
        texts = {name: t for name, t in rt.publisher.served(conn).values()}
    exts = default_extensions()
    return Runtime(load_texts(texts, exts), rt.db.engine.url.render_as_string(hide_password=False),
                   definition_extensions=exts)


def test_archiving_an_entity_keeps_its_data_readable_and_refuses_writes_until_restored(rt: Runtime) -> None:
    c = _client(rt, "li", ["builder"])
    rt.users.add("boss", "secret-pass", ["admin"])
    ents = rt.apps["outsourcing"].entities
    partner_id = rt.records.create(SYSTEM, ents["partner"], {"name": "华东电镀"})["id"]
    bid = rt.records.create(SYSTEM, ents["batch"], {"customer": "甲", "product_no": "P-1", "quantity": 5, "expected_return": "2099-01-01",
                                                     "partner": partner_id})["id"]
    archive = {"op": "set", "path": ["entities", "partner", "archived"], "value": True, "after": "title"}
    r = c.post("/api/builder/apps/outsourcing/draft/edits", json={"edits": [archive], "message": "归档外协厂"})
    assert r.status_code == 200 and r.get_json()["ok"], r.get_json()
    assert "    archived: true\n" in r.get_json()["draft"]["yaml"]
    plan = c.post("/api/builder/apps/outsourcing/plan", json={}).get_json()
    assert [p["text"] for p in plan["plan"]] == ["归档实体 外协厂（数据保留）：不再出现在导航和新建中，已有记录仍可查看"]
    assert plan["steps"] == []  # no table change: nothing destructive
    assert c.post("/api/builder/apps/outsourcing/publish", json={"message": "归档"}).status_code == 200
    served = _served(rt)
    try:
        web = api.create_app(served, {"TESTING": True})
        admin = web.test_client()
        admin.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {served.users.create_token('boss')}"
        r = admin.post("/api/outsourcing/partner", json={"name": "新厂"})
        assert r.status_code == 409 and "已归档" in r.get_json()["error"]["message"], r.get_json()
        got = admin.get(f"/api/outsourcing/partner/{partner_id}")
        assert got.status_code == 200 and got.get_json()["name"] == "华东电镀"  # still readable
        r = admin.patch(f"/api/outsourcing/partner/{partner_id}", json={"name": "改名", "version": 1})
        assert r.status_code == 409 and "已归档" in r.get_json()["error"]["message"]
        assert admin.get("/api/outsourcing/partner").status_code == 200
        from runtime import permissions
        boss, archived = served.users.actor_for("boss"), served.apps["outsourcing"].entities["partner"]
        assert boss is not None and not permissions.may_at_all(boss, archived, "update")  # its pages: read-only
        assert permissions.may_at_all(boss, archived, "read")
        # a batch (not archived) keeps its link to the archived partner, and may be saved with it
        b = admin.get(f"/api/outsourcing/batch/{bid}").get_json()
        assert b["partner"] == partner_id
        r = admin.patch(f"/api/outsourcing/batch/{bid}", json={"quantity": 6, "version": b["version"]})
        assert r.status_code == 200 and r.get_json()["partner"] == partner_id, r.get_json()
    finally:
        served.db.dispose()
    # restored: the plan says so and writes work again
    restore = {"op": "delete", "path": ["entities", "partner", "archived"]}
    assert c.post("/api/builder/apps/outsourcing/draft/edits", json={"edits": [restore]}).status_code == 200
    plan = c.post("/api/builder/apps/outsourcing/plan", json={}).get_json()
    assert [p["kind"] for p in plan["plan"]] == ["unarchive_entity"] and "恢复实体 外协厂" in plan["plan"][0]["text"]
    assert c.post("/api/builder/apps/outsourcing/publish", json={"message": "恢复"}).status_code == 200
    served = _served(rt)
    try:
        web = api.create_app(served, {"TESTING": True})
        admin = web.test_client()
        admin.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {served.users.create_token('boss')}"
        assert admin.post("/api/outsourcing/partner", json={"name": "新厂"}).status_code == 201
    finally:
        served.db.dispose()
