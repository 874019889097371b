"""The extension interface: hooks declared once (pluggy), documented, checked, and open to third parties
through the ``jig.extensions`` entry points (a real installed-package layout, run through the real CLI)."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pluggy
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select

from jig.plugins import builtin_extensions, default_extensions
from rules.service import RulesService, rules_of
from runtime.core import Runtime
from runtime.errors import DefinitionErrors
from runtime.extensions import HOOKS, Extensions, ExtensionSpec, ScheduledJob, hookimpl
from runtime.loader import load_texts, schema_for

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "hooks.md"

APP = textwrap.dedent("""\
    app: lab
    entities:
      gauge:
        fields:
          code: {type: text, required: true}
    calibration:
      entity: gauge
      every_days: 90
    """)

# A third-party extension as a package author writes it (installed below as a distribution with an entry point).
PLUGIN = textwrap.dedent('''\
    """A third-party Jig extension: a ``calibration:`` section, a table, a service and a command."""
    import click
    from sqlalchemy import Column, Integer, String, Table

    from runtime.extensions import hookimpl


    class CalibrationPlan:
        def __init__(self, plans):
            self.plans = plans


    class Calibration:
        @hookimpl
        def schema_sections(self):
            return {"calibration": {"type": "object", "additionalProperties": False, "required": ["entity"],
                                    "properties": {"entity": {"type": "string"},
                                                   "every_days": {"type": "integer", "minimum": 1}}}}

        @hookimpl
        def compile(self, app, ctx, apps):
            raw = app.raw.get("calibration")
            if raw is None:
                return
            if raw["entity"] not in app.entities:
                ctx.error(("calibration", "entity"), f"no entity '{raw['entity']}'", "name an entity of this app")
            app.sections["calibration"] = raw

        @hookimpl
        def define_tables(self, metadata):
            return [Table("jig_calibration_checks", metadata, Column("id", Integer, primary_key=True),
                          Column("gauge", String(64)))]

        @hookimpl
        def attach(self, runtime):
            runtime.services.put(CalibrationPlan({n: a.sections.get("calibration") for n, a in runtime.apps.items()}))

        @hookimpl
        def cli_commands(self):
            @click.command("calibration")
            @click.pass_context
            def calibration(ctx):
                """Show the calibration plan of every app."""
                from runtime.loader import load_apps
                for name, app in sorted(load_apps(ctx.obj.settings.apps, ctx.obj.extensions).items()):
                    plan = app.sections.get("calibration")
                    if plan:
                        click.echo(f"{name}: {plan['entity']} every {plan['every_days']} days")
            return [calibration]


    extension = Calibration()
    ''')


def _install(where: Path) -> Path:
    """The plugin as pip would leave it: a module and a .dist-info with its entry point, on a path entry."""
    site = where / "site"
    (site / "jig_calibration-0.1.dist-info").mkdir(parents=True)
    (site / "jig_calibration.py").write_text(PLUGIN, encoding="utf-8")
    (site / "jig_calibration-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: jig-calibration\nVersion: 0.1\n", encoding="utf-8")
    (site / "jig_calibration-0.1.dist-info" / "entry_points.txt").write_text(
        "[jig.extensions]\ncalibration = jig_calibration:extension\n", encoding="utf-8")
    return site


def _jig(site: Path, apps: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    return subprocess.run([sys.executable, "-m", "jig.cli", "--apps", str(apps), "--database", "sqlite://", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


# ---------------------------------------------------------------- declared and documented


def _documented() -> dict[str, list[str]]:
    text = DOC.read_text(encoding="utf-8")
    found = re.findall(r"^### `([a-z_]+)\(([^)]*)\)", text, flags=re.M)
    return {name: [a.strip() for a in args.split(",") if a.strip()] for name, args in found}


def test_every_hook_is_documented_with_its_arguments_and_every_documented_hook_exists() -> None:
    documented = _documented()
    assert sorted(documented) == sorted(HOOKS)
    for name, args in documented.items():
        declared = [p for p in inspect.signature(getattr(ExtensionSpec, name)).parameters if p != "self"]
        assert args == declared, name


def test_runtime_attributes_for_extensions_are_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in ("runtime.schedules", "runtime.services", "ScheduledJob", "children(conn, child_entity, parent_id)", "rules_of",
                 "jig.extensions", "@hookimpl"):
        assert name in text, name


def test_builtin_extensions_implement_declared_hooks_in_order() -> None:
    exts = default_extensions()
    assert exts.names[:4] == ["rules", "connectors", "ui", "builder"]
    assert {"rules", "templates", "sms", "connectors", "dashboards"} <= set(exts.schema_sections())
    assert {t.name for t in exts.define_tables(MetaData())} >= {"jig_rule_firings", "jig_schedules"}
    assert {c.name for c in exts.cli_commands()} >= {"worker", "scheduler", "rules"}


def test_a_misnamed_hook_or_argument_is_refused_at_registration() -> None:
    class Typo:
        @hookimpl
        def atach(self, runtime: Any) -> None: ...

    class WrongArgument:
        @hookimpl
        def attach(self, rt: Any) -> None: ...

    class Fewer:
        @hookimpl
        def init_web(self, flask_app: Any) -> None:
            flask_app.append("seen")

    with pytest.raises(pluggy.PluginValidationError, match="atach"):
        Extensions([Typo()])
    with pytest.raises(pluggy.PluginValidationError, match="rt"):
        Extensions([WrongArgument()])
    seen: list[str] = []
    Extensions([Fewer()]).init_web(seen, None)  # a hook may take fewer arguments than declared
    assert seen == ["seen"]


def test_a_section_claimed_twice_is_refused_naming_both_extensions() -> None:
    class Rival:
        name = "rival"

        def __init__(self, key: str):
            self.key = key

        @hookimpl
        def schema_sections(self) -> dict[str, dict[str, Any]]:
            return {self.key: {"type": "object"}}

    with pytest.raises(ValueError, match="'rules' is claimed by two extensions: 'rules' and 'rival'"):
        schema_for(Extensions([*builtin_extensions(), Rival("rules")]))
    with pytest.raises(ValueError, match="'entities' belongs to the core language"):
        schema_for(Extensions([Rival("entities")]))


# ---------------------------------------------------------------- a third-party extension


class Counter:
    """An in-test extension: a table, a service and a scheduled job through the typed runtime attributes."""

    name = "counter"

    @hookimpl
    def define_tables(self, metadata: MetaData) -> list[Table]:
        return [Table("jig_counter", metadata, Column("id", Integer, primary_key=True), Column("note", String(40)))]

    @hookimpl
    def attach(self, runtime: Any) -> None:
        table = runtime.tables.system["jig_counter"]

        def tick() -> str:
            with runtime.db.write() as conn:
                conn.execute(insert(table).values(note="tick"))
            return "ok"

        runtime.schedules.append(ScheduledJob("counter:tick", "every 1h", tick))
        runtime.services.put(self)


def test_an_extension_gets_its_table_a_scheduled_job_and_a_typed_service(database_url: str) -> None:
    exts = Extensions([*builtin_extensions(), Counter()])
    rt = Runtime(load_texts({"lab.yaml": APP.split("calibration:")[0]}, exts), database_url, extensions=exts)
    try:
        rt.migrate()
        exts.attach(rt)
        assert isinstance(rt.services.get(Counter), Counter)
        assert isinstance(rules_of(rt), RulesService) and rt.services.find(int) is None
        with pytest.raises(LookupError, match="int"):
            rt.services.get(int)
        scheduler = rules_of(rt).scheduler  # the rules scheduler adopts what another extension published
        assert "counter:tick" in scheduler.due()
        assert scheduler.run("counter:tick", "test") is not None
        with rt.db.read() as conn:
            assert conn.execute(select(rt.tables.system["jig_counter"].c.note)).scalars().all() == ["tick"]
    finally:
        rt.db.dispose()


def test_a_third_party_extension_installed_through_entry_points(tmp_path: Path, monkeypatch: Any) -> None:
    site = _install(tmp_path)
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "lab.yaml").write_text(APP, encoding="utf-8")

    # Without it, the section is unknown...
    with pytest.raises(DefinitionErrors, match="unknown key 'calibration'"):
        load_texts({"lab.yaml": APP}, builtin_extensions())
    # ...installed, Jig finds it through the entry point, after the built-in extensions.
    monkeypatch.syspath_prepend(str(site))
    exts = default_extensions()
    assert exts.names == ["rules", "connectors", "ui", "builder", "links", "calibration"]
    assert "calibration" in schema_for(exts)["properties"]
    assert load_texts({"lab.yaml": APP}, exts)["lab"].sections["calibration"] == {"entity": "gauge", "every_days": 90}

    # End to end through the real command line: its section is checked, its command is there.
    ok = _jig(site, apps, "check")
    assert ok.returncode == 0, ok.stderr
    assert "1 app(s)" in ok.stdout
    assert "calibration" in _jig(site, apps, "--help").stdout
    shown = _jig(site, apps, "calibration")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "lab: gauge every 90 days"

    (apps / "lab.yaml").write_text(APP.replace("entity: gauge", "entity: gage"), encoding="utf-8")
    bad = _jig(site, apps, "check")  # the extension's meaning check, positioned like the core language's
    assert bad.returncode == 2
    assert "lab.yaml:7:11: calibration.entity: no entity 'gage'" in bad.stderr
    assert "hint: name an entity of this app" in bad.stderr
    (apps / "lab.yaml").write_text(APP.replace("every_days: 90", "every_days: often"), encoding="utf-8")
    bad = _jig(site, apps, "check")  # its schema, merged into the language's
    assert bad.returncode == 2
    assert "lab.yaml:8:15: calibration.every_days: expected integer, got a text" in bad.stderr
