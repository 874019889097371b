"""jig migrate: plans first, keeps data through renames, removals and type changes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from runtime.auth import SYSTEM
from runtime.migrations import MigrationRefused

V1 = """
app: shop
entities:
  part:
    fields:
      code: {type: text, required: true, unique: true}
      qty: {type: integer}
      colour: {type: text}
      note: {type: text}
"""

V2 = """
app: shop
entities:
  part:
    fields:
      code: {type: text, required: true, unique: true}
      qty: {type: decimal, scale: 3}
      color: {type: text, renamed_from: colour}
      weight: {type: decimal, index: true}
    workflow:
      initial: draft
      states: {draft: {}, ok: {final: true}}
      transitions: {approve: {from: draft, to: ok}}
"""


def _insert(rt, **values):  # noqa: ANN001, ANN003
    ent = rt.entity("shop", "part")
    return rt.records.create(SYSTEM, ent, values)


def test_plan_rename_remove_and_safe_type_change_keep_data(make_runtime, database_url: str) -> None:  # noqa: ANN001
    rt1 = make_runtime(texts={"shop.yaml": V1})
    first = _insert(rt1, code="A-1", qty=7, colour="红", note="keep me")
    rt1.db.dispose()
    rt2 = make_runtime(texts={"shop.yaml": V2}, migrate=False)
    plan = {s.kind: s for s in rt2.migration_plan()}
    assert plan["rename_column"].detail.startswith("colour -> color")
    assert "note" in plan["keep_column"].detail and "data kept" in plan["keep_column"].detail
    assert plan["change_type"].safe and "qty" in plan["change_type"].detail
    added = {s.detail.split(" ")[0].rstrip(",") for s in rt2.migration_plan() if s.kind == "add_column"}
    assert added == {"state", "weight"}
    # the plan alone changed nothing
    with rt2.db.read() as conn:
        assert "colour" in {c["name"] for c in inspect(conn).get_columns("shop__part")}
    rt2.migrate()
    rec = rt2.records.get(SYSTEM, rt2.entity("shop", "part"), first["id"])
    assert rec["color"] == "红"
    assert rec["qty"] == "7.000"
    assert rec["state"] == "draft"
    with rt2.db.read() as conn:
        cols = {c["name"] for c in inspect(conn).get_columns("shop__part")}
        assert {"note", "qty__was_integer"} <= cols
        table = rt2.tables["shop.part"]
        from sqlalchemy import column
        assert conn.execute(select(column("note")).select_from(table)).scalar() == "keep me"
    assert rt2.migration_plan() == []


def test_unsafe_type_change_is_refused_then_kept_in_backup(make_runtime) -> None:  # noqa: ANN001
    rt1 = make_runtime(texts={"shop.yaml": V1})
    _insert(rt1, code="A-1", note="12")
    _insert(rt1, code="A-2", note="not a number")
    rt1.db.dispose()
    v3 = V1.replace("note: {type: text}", "note: {type: integer}")
    rt3 = make_runtime(texts={"shop.yaml": v3}, migrate=False)
    steps = rt3.migration_plan()
    refused = [s for s in steps if not s.safe]
    assert len(refused) == 1 and "may not convert" in refused[0].explanation
    with pytest.raises(MigrationRefused):
        rt3.migrate()
    rt3.migrate(allow_destructive=True)
    with rt3.db.read() as conn:
        from sqlalchemy import column
        rows = conn.execute(select(column("note"), column("note__was_text")).select_from(rt3.tables["shop.part"])
                            .order_by(column("id"))).all()
    assert [tuple(r) for r in rows] == [(12, "12"), (None, "not a number")]


def test_entity_rename_keeps_records_and_history(make_runtime) -> None:  # noqa: ANN001
    rt1 = make_runtime(texts={"shop.yaml": V1})
    rec = _insert(rt1, code="A-1")
    rt1.db.dispose()
    renamed = V1.replace("  part:\n", "  component:\n    renamed_from: part\n")
    rt2 = make_runtime(texts={"shop.yaml": renamed}, migrate=False)
    assert [s.kind for s in rt2.migration_plan()][0] == "rename_table"
    rt2.migrate()
    ent = rt2.entity("shop", "component")
    assert rt2.records.get(SYSTEM, ent, rec["id"])["code"] == "A-1"
    assert [h["action"] for h in rt2.records.history(SYSTEM, ent, rec["id"])] == ["create"]
    assert rt2.migration_plan() == []


def test_cli_dry_run_changes_nothing(tmp_path: Path, database_url: str) -> None:
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "shop.yaml").write_text(V1, encoding="utf-8")
    cmd = [sys.executable, "-m", "jig.cli", "--apps", str(apps), "--database", database_url, "migrate"]
    dry = subprocess.run([*cmd, "--dry-run"], capture_output=True, text=True, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "create_table   shop__part" in dry.stdout and "dry run: nothing changed" in dry.stdout
    real = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert real.returncode == 0 and "applied" in real.stdout
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert "database is up to date" in again.stdout
    (apps / "shop.yaml").write_text(V1.replace("note: {type: text}", "note: {type: integer}"), encoding="utf-8")
    refused = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert refused.returncode == 3 and "--allow-destructive" in refused.stderr


def test_declared_multi_column_indexes(make_runtime) -> None:  # noqa: ANN001
    v4 = V1 + "    indexes:\n      - [colour, qty]\n      - [code]\n"
    rt = make_runtime(texts={"shop.yaml": v4})
    with rt.db.read() as conn:
        names = {i["name"] for i in inspect(conn).get_indexes("shop__part")}
    assert "ix_shop__part_colour_qty" in names
    from runtime.errors import DefinitionErrors
    from runtime.loader import load_texts
    with pytest.raises(DefinitionErrors) as err:
        load_texts({"shop.yaml": V1 + "    indexes:\n      - [colur]\n"})
    assert "'colur' cannot be indexed" in err.value.format() and "did you mean 'colour'" in err.value.format()
