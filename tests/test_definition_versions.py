"""App definitions as versioned data: round trips, drafts, publishing, diffs, rollback, files vs the browser."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect

from builder.extension import BuilderExtension
from builder.yamldoc import YamlDocument
from runtime import api
from runtime.core import Runtime

from .conftest import APPS, ROOT

SHIPPED = sorted([*APPS.glob("*.yaml"), *(APPS / "connectors").glob("*.yaml")])


def _changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_unchanged_round_trip_is_byte_identical(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert YamlDocument(text).text() == text


@pytest.mark.parametrize("path", sorted(APPS.glob("*.yaml")), ids=lambda p: p.name)
def test_an_edit_changes_only_the_edited_lines(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    doc = YamlDocument(text)
    entity = next(iter(doc.get(["entities"])))
    fields = doc.get(["entities", entity, "fields"])
    first = next(iter(fields))
    doc.set(["entities", entity, "fields", "color_code"], {"type": "text", "label": {"zh": "颜色", "en": "Color"}},
            after=first)
    doc.set(["entities", entity, "title", "zh"], "改过的标题")
    out = doc.text()
    changed = _changed_lines(text, out)
    assert len([c for c in changed if c.startswith("+")]) == 2, changed
    assert len([c for c in changed if c.startswith("-")]) == 1, changed
    assert any("color_code:" in c and "颜色" in c for c in changed)
    assert any("改过的标题" in c for c in changed)


def test_edit_inside_a_reflowed_file_keeps_the_other_lines() -> None:
    # ruamel re-flows a multi-line flow mapping; the edit elsewhere must not touch it
    text = ("app: demo  # the app\nentities:\n  thing:\n    fields:\n"
            "      a: {type: text,\n          label: {zh: 甲, en: A}}\n      b: {type: integer}  # count\n")
    doc = YamlDocument(text)
    doc.set(["entities", "thing", "fields", "b", "type"], "decimal")
    out = doc.text()
    assert out == text.replace("b: {type: integer}", "b: {type: decimal}")


def test_rename_and_delete_keep_neighbours() -> None:
    text = "fields:\n  a: 1  # first\n  b: 2\n  c: 3\n"
    doc = YamlDocument(text)
    doc.rename(["fields", "b"], "bee")
    doc.delete(["fields", "c"])
    assert doc.text() == "fields:\n  a: 1  # first\n  bee: 2\n"


OUTSOURCING = (APPS / "outsourcing.yaml").read_text(encoding="utf-8")
WITH_COLOR = OUTSOURCING.replace(
    "      name: {type: text, label: {zh: 厂名, en: Name}, required: true, unique: true, max_length: 100}\n",
    "      name: {type: text, label: {zh: 厂名, en: Name}, required: true, unique: true, max_length: 100}\n"
    "      color_code: {type: text, label: {zh: 颜色, en: Color}}\n")


@pytest.fixture
def rt(make_runtime: Callable[..., Runtime]) -> Runtime:
    runtime = make_runtime()
    with runtime.db.write() as conn:  # what a start-up import does for the shipped files
        runtime.publisher.record_imports(conn, [(name, str(APPS / f"{name}.yaml"),
                                                 (APPS / f"{name}.yaml").read_text(encoding="utf-8"))
                                                for name in runtime.apps])
    return runtime


def _columns(rt: Runtime, table: str) -> set[str]:
    with rt.db.read() as conn:
        return {c["name"] for c in inspect(conn).get_columns(table)}


def test_publish_validates_migrates_and_keeps_history(rt: Runtime) -> None:
    assert WITH_COLOR != OUTSOURCING
    outcome = rt.publisher.publish("outsourcing", WITH_COLOR, author="planner", message="加颜色字段")
    assert outcome.ok and outcome.version is not None
    assert outcome.version.number == 2 and outcome.version.status == "published"
    assert [s.kind for s in outcome.steps] == ["add_column"]
    assert "color_code" in _columns(rt, "outsourcing__partner")
    with rt.db.read() as conn:
        history = rt.definitions.history(conn, "outsourcing")
        assert [(v.number, v.status, v.source) for v in history] == [(2, "published", "browser"),
                                                                     (1, "archived", "file")]
        assert history[0].author == "planner" and history[0].message == "加颜色字段"
        diff = rt.definitions.diff(conn, "outsourcing", 1, 2)
    assert _changed_lines(OUTSOURCING, WITH_COLOR) == [line for line in diff.splitlines()
                                                        if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_invalid_draft_changes_nothing_and_reports_positions(rt: Runtime) -> None:
    broken = WITH_COLOR.replace("color_code: {type: text", "color_code: {type: txet")
    with rt.db.read() as conn:
        revision = rt.definitions.revision(conn)
    outcome = rt.publisher.publish("outsourcing", broken, author="planner")
    assert not outcome.ok and outcome.version is None
    err = outcome.errors[0]
    line = broken.splitlines().index(next(x for x in broken.splitlines() if "txet" in x)) + 1
    assert (err.line, err.path) == (line, "entities.partner.fields.color_code.type")
    assert err.hint  # e.g. did you mean 'text'
    assert "color_code" not in _columns(rt, "outsourcing__partner")
    with rt.db.read() as conn:
        assert rt.definitions.revision(conn) == revision
        assert rt.definitions.current(conn, "outsourcing").number == 1  # type: ignore[union-attr]


def test_draft_then_publish_then_rollback(rt: Runtime) -> None:
    with rt.db.write() as conn:
        draft = rt.definitions.save_draft(conn, "outsourcing", WITH_COLOR, "planner", "草稿")
        again = rt.definitions.save_draft(conn, "outsourcing", WITH_COLOR + "\n", "planner")
    assert (draft.number, draft.status, draft.based_on) == (2, "draft", 1)
    assert again.number == 2  # one draft per app, saved in place
    assert rt.publisher.publish("outsourcing", WITH_COLOR + "\n", author="planner").ok
    with rt.db.read() as conn:
        assert rt.definitions.draft(conn, "outsourcing") is None
        assert rt.definitions.current(conn, "outsourcing").number == 2  # type: ignore[union-attr]
    back = rt.publisher.rollback("outsourcing", 1, author="admin")
    assert back.ok and back.version is not None
    assert (back.version.number, back.version.source, back.version.yaml) == (3, "rollback", OUTSOURCING)
    assert "color_code" in _columns(rt, "outsourcing__partner")  # the column (and its data) is kept


def test_destructive_change_needs_confirmation(rt: Runtime) -> None:
    changed = OUTSOURCING.replace("address: {type: text, label: {zh: 地址, en: Address}, max_length: 200}",
                                  "address: {type: integer, label: {zh: 地址, en: Address}}", 1)
    assert changed != OUTSOURCING
    refused = rt.publisher.publish("outsourcing", changed, author="planner")
    assert refused.ok and refused.version is None and refused.refused
    assert rt.publisher.publish("outsourcing", changed, author="planner", allow_destructive=True).version


# ---------------------------------------------------------------- the builder API

def _client(rt: Runtime, roles: list[str]) -> Any:
    app = api.create_app(rt, {"TESTING": True})
    BuilderExtension().init_web(app, rt)
    name = "u_" + "_".join(roles)
    rt.users.add(name, "secret-pass", roles)
    token = rt.users.create_token(name)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def test_builder_api_draft_validate_plan_publish(rt: Runtime) -> None:
    c = _client(rt, ["builder"])
    assert c.get("/api/builder/apps").get_json()["items"][1]["app"] == "outsourcing"
    r = c.post("/api/builder/apps/outsourcing/draft/edits", json={"edits": [
        {"op": "set", "path": ["entities", "partner", "fields", "color_code"],
         "value": {"type": "text", "label": {"zh": "颜色", "en": "Color"}}, "after": "name"}],
        "message": "加颜色字段"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    # the designer writes a new field in the compact form (docs/definition-language.md, "Compact forms")
    assert body["ok"] and body["draft"]["yaml"] == WITH_COLOR.replace(
        "color_code: {type: text, label: {zh: 颜色, en: Color}}", "color_code: {text: 颜色 | Color}")
    assert [s["kind"] for s in body["steps"]] == ["add_column"]
    r = c.post("/api/builder/apps/outsourcing/validate", json={"yaml": WITH_COLOR.replace("type: text, label: {zh: 颜色",
                                                                                          "type: txt, label: {zh: 颜色")})
    assert r.status_code == 200 and not r.get_json()["ok"]
    assert r.get_json()["errors"][0]["path"] == "entities.partner.fields.color_code.type"
    diff = c.get("/api/builder/apps/outsourcing/diff").get_json()
    assert (diff["from"], diff["to"]) == (1, 2) and "+      color_code:" in diff["diff"]
    r = c.post("/api/builder/apps/outsourcing/publish", json={"message": "上线"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["version"]["number"] == 2
    assert [v["status"] for v in c.get("/api/builder/apps/outsourcing/versions").get_json()["items"]] == \
        ["published", "archived"]
    r = c.post("/api/builder/apps/outsourcing/rollback", json={"number": 1})
    assert r.status_code == 200 and r.get_json()["version"]["number"] == 3
    assert c.get("/api/builder/apps/outsourcing/versions/3").get_json()["yaml"] == OUTSOURCING


def test_builder_api_refuses_others_and_bad_input(rt: Runtime) -> None:
    planner = _client(rt, ["planner"])
    assert planner.get("/api/builder/apps").status_code == 403
    assert planner.post("/api/builder/apps/outsourcing/publish", json={}).status_code == 403
    anonymous = api.create_app(rt, {"TESTING": True}).test_client()
    assert anonymous.get("/api/builder/apps").status_code == 401
    admin = _client(rt, ["admin"])
    for method, path, body in [
        ("post", "/api/builder/apps/outsourcing/publish", [1, 2]),
        ("post", "/api/builder/apps/outsourcing/rollback", {"number": "1"}),
        ("post", "/api/builder/apps/outsourcing/rollback", {"number": 99}),
        ("post", "/api/builder/apps/outsourcing/draft/edits", {"edits": [{"op": "set", "path": ["nope", "x"]}]}),
        ("post", "/api/builder/apps/outsourcing/draft/edits", {"edits": "x"}),
        ("get", "/api/builder/apps/outsourcing/diff?from=abc", None),
        ("get", "/api/builder/apps/NOPE", None),
        ("put", "/api/builder/apps/outsourcing/draft", {"yaml": 5}),
        ("post", "/api/builder/apps", {"app": "Bad Name"}),
        ("post", "/api/builder/apps", {"app": "outsourcing"}),
    ]:
        r = getattr(admin, method)(path, json=body)
        assert 400 <= r.status_code < 500, (path, body, r.status_code)
        assert set(r.get_json()["error"]) >= {"code", "message", "fields"}
    assert admin.put("/api/builder/apps/outsourcing/draft",
                     json={"yaml": OUTSOURCING.replace("app: outsourcing", "app: other")}).get_json()["ok"] is False
    with rt.db.read() as conn:
        assert rt.definitions.current(conn, "outsourcing").number == 1  # type: ignore[union-attr]


def test_builder_api_creates_an_app(rt: Runtime) -> None:
    c = _client(rt, ["admin"])
    r = c.post("/api/builder/apps", json={"app": "tooling"})
    assert r.status_code == 201 and r.get_json()["ok"], r.get_json()
    r = c.post("/api/builder/apps/tooling/publish", json={"message": "新应用"})
    assert r.status_code == 200, r.get_json()
    assert "tooling__item" in inspect(rt.db.engine).get_table_names()


# ---------------------------------------------------------------- files and the browser

class _Ran:
    def __init__(self, result: Any):
        self.returncode = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr


def _jig(database_url: str, apps: Path, *args: str) -> _Ran:
    """Run a jig command in this process (the same code path as the console script, without its start-up)."""
    from click.testing import CliRunner

    from jig.cli import cli
    env = {"JIG_VAR": str(apps.parent / "var"), "JIG_SECRET_KEY": "t" * 40, "JIG_APPS": None, "JIG_DATABASE_URL": None}
    result = CliRunner().invoke(cli, ["--apps", str(apps), "--database", database_url, *args], env=env,
                                catch_exceptions=False)
    return _Ran(result)


def test_files_browser_conflict_export_and_force(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch,
                                                 make_runtime: Callable[..., Runtime]) -> None:
    monkeypatch.chdir(tmp_path)
    apps = tmp_path / "apps"
    apps.mkdir()
    target = apps / "outsourcing.yaml"
    target.write_text(OUTSOURCING, encoding="utf-8")
    first = _jig(database_url, apps, "migrate")
    assert first.returncode == 0, first.stderr
    assert "every definition file is as last imported" in _jig(database_url, apps, "import").stdout

    # someone publishes from the browser...
    rt = make_runtime(apps=[apps], migrate=False)
    assert rt.publisher.publish("outsourcing", WITH_COLOR, author="planner", message="加颜色字段").version
    # ...and nobody touched the file: start serves the browser's version, no conflict
    assert _jig(database_url, apps, "migrate").returncode == 0

    # the file changes too: start refuses, naming who published what and when, and the ways out
    target.write_text(OUTSOURCING.replace("{zh: 厂名, en: Name}", "{zh: 工厂, en: Name}"), encoding="utf-8")
    refused = _jig(database_url, apps, "migrate")
    assert refused.returncode == 4, refused.stderr
    assert "version 2 by planner" in refused.stderr and "加颜色字段" in refused.stderr
    assert "jig export outsourcing" in refused.stderr and "jig import --force" in refused.stderr
    with rt.db.read() as conn:
        assert rt.definitions.current(conn, "outsourcing").number == 2  # type: ignore[union-attr]

    # way out 1: export writes the published version back, byte for byte
    exported = _jig(database_url, apps, "export", "outsourcing")
    assert exported.returncode == 0, exported.stderr
    assert target.read_text(encoding="utf-8") == WITH_COLOR
    assert _jig(database_url, apps, "migrate").returncode == 0

    # way out 2: import --force publishes the file over the browser's version
    target.write_text(OUTSOURCING, encoding="utf-8")
    with rt.db.write() as conn:
        rt.definitions.save_draft(conn, "outsourcing", WITH_COLOR, "planner")
    assert rt.publisher.publish("outsourcing", WITH_COLOR.replace("颜色", "色号"), author="planner").version
    assert _jig(database_url, apps, "migrate").returncode == 4
    forced = _jig(database_url, apps, "import", "--force")
    assert forced.returncode == 0, forced.stderr
    with rt.db.read() as conn:
        current = rt.definitions.current(conn, "outsourcing")
        assert current is not None and current.yaml == OUTSOURCING and current.source == "file"


def test_docs_list_every_builder_route(rt: Runtime) -> None:
    doc = (ROOT / "docs" / "versions.md").read_text(encoding="utf-8")
    app = api.create_app(rt, {"TESTING": True})
    BuilderExtension().init_web(app, rt)
    routes = [r.rule.removeprefix("/api/builder") for r in app.url_map.iter_rules() if r.rule.startswith("/api/builder")]
    assert routes
    for route in routes:
        last = route.replace("<int:number>", "<n>").rsplit("/", 1)[-1]
        assert f"/{last}`" in doc or f"/{last}," in doc or f"/{last}?" in doc, route
