"""Bringing the database in line with the definitions, without losing data.

``plan`` compares definitions with the live database and lists steps;
``apply`` runs them. New tables, columns and indexes are created. A removed
field keeps its column and data. A rename must be declared with
``renamed_from`` and keeps the data (and, for entities, the history). A type
change copies converted values into a new column and keeps the old column as
``<field>__was_<type>``; changes that may not convert every value are refused
unless ``allow_destructive`` is given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Connection, Table, inspect, select, update

from . import clock, keptstore
from .fieldtypes import FieldValueError, coerce
from .model import EntityDef, FieldDef
from .tables import Tables, column_type, entity_indexes, index_applies, index_columns, type_signature

if TYPE_CHECKING:
    from alembic.operations import Operations

LOCK = "schema"  # the database lock migrations (and publishing definitions) run under

SAFE_CHANGES = {
    ("integer", "decimal"), ("integer", "text"), ("decimal", "text"), ("date", "datetime"), ("select", "text"),
    ("text", "longtext"), ("select", "longtext"), ("phone", "text"), ("email", "text"), ("user", "text"),
}


@dataclass
class Step:
    kind: str
    table: str
    detail: str
    safe: bool = True
    explanation: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        mark = "" if self.safe else "  [REFUSED: " + self.explanation + "]"
        return f"{self.kind:14} {self.table}: {self.detail}{mark}"


def _base(sig: str) -> str:
    return sig.split("(")[0].replace("varchar", "text")


def _safe_type_change(old_type: str, old_sig: str, new_f: FieldDef) -> tuple[bool, str]:
    new_sig = type_signature(new_f)
    if old_type == new_f.type or (_base(old_sig) == _base(new_sig)):
        if old_sig.startswith("varchar(") and new_sig.startswith("varchar("):
            if int(new_sig[8:-1]) >= int(old_sig[8:-1]):
                return True, ""
            return False, f"shortening text from {old_sig} to {new_sig} may cut values"
        if old_sig.startswith("decimal(") and new_sig.startswith("decimal("):
            if int(new_sig[8:-1]) >= int(old_sig[8:-1]):
                return True, ""
            return False, f"fewer decimal places ({old_sig} -> {new_sig}) rounds values"
        return True, ""
    if (old_type, new_f.type) in SAFE_CHANGES:
        return True, ""
    return False, f"changing {old_type} to {new_f.type} may not convert every value"


def _recorded(conn: Connection, tables: Tables) -> dict[str, dict[str, Any]]:
    state = tables.system["jig_schema"]
    if not inspect(conn).has_table(state.name):
        return {}
    out = {}
    for r in conn.execute(select(state)).mappings():
        out[r["table_name"]] = {"entity": r["entity"], "columns": json.loads(r["columns"]),
                                "retired": json.loads(r["retired"])}
    return out


def plan(conn: Connection, tables: Tables) -> list[Step]:
    insp = inspect(conn)
    existing = set(insp.get_table_names())
    recorded = _recorded(conn, tables)
    steps: list[Step] = []
    for t in tables.system.values():
        if t.name not in existing:
            steps.append(Step("create_table", t.name, "system table"))
    renamed_tables: dict[str, str] = {}
    for key, ent in tables.entities.items():
        table = tables.by_key[key]
        if table.name in existing:
            steps.extend(_diff_table(conn, ent, table, table.name, recorded.get(table.name)))
            continue
        old = _old_table_name(ent)
        if old and old in existing:
            steps.append(Step("rename_table", old, f"-> {table.name} (entity renamed, data and history kept)",
                              data={"to": table.name, "app": ent.app, "old_entity": _old_entity(ent),
                                    "new_entity": ent.name}))
            renamed_tables[old] = table.name
            steps.extend(_diff_table(conn, ent, table, old, recorded.get(old)))
        else:
            steps.append(Step("create_table", table.name, f"entity {ent.key} ({len(ent.stored_fields())} fields)",
                              data={"entity": key}))
    steps.extend(Step(kind, name, detail, data=data) for kind, name, detail, data in keptstore.plan_steps(conn, tables))
    return steps


def _old_table_name(ent: EntityDef) -> str | None:
    if ent.parent is not None:
        parent_old = _old_table_name(ent.parent)
        return f"{parent_old}__{ent.name.split('.')[-1]}" if parent_old else None
    return f"{ent.app}__{ent.renamed_from}" if ent.renamed_from else None


def _old_entity(ent: EntityDef) -> str | None:
    return ent.renamed_from


def _diff_table(conn: Connection, ent: EntityDef, table: Table, db_name: str,
                recorded: dict[str, Any] | None) -> list[Step]:
    insp = inspect(conn)
    cols = {c["name"] for c in insp.get_columns(db_name)}
    sigs: dict[str, str] = (recorded or {}).get("columns", {})
    steps: list[Step] = []
    wanted = {c.name for c in table.columns}
    for c in table.columns:
        if c.name in cols or c.name == "id":
            continue
        f = ent.fields.get(c.name)
        if f is not None and f.renamed_from and f.renamed_from in cols:
            steps.append(Step("rename_column", table.name, f"{f.renamed_from} -> {f.name} (data kept)",
                              data={"old": f.renamed_from, "new": f.name}))
            continue
        detail = f"{c.name} ({type_signature(f) if f else str(c.type).lower()})"
        data = {"column": c.name}
        if c.name == "state" and ent.workflow is not None:
            detail += f", existing records start in '{ent.workflow.initial}'"
            data["fill"] = ent.workflow.initial
        steps.append(Step("add_column", table.name, detail, data=data))
    for f in ent.stored_fields():
        old_sig = sigs.get(f.name)
        if f.name in cols and old_sig and old_sig.split("|")[0] != type_signature(f):
            old_type = old_sig.split("|")[1] if "|" in old_sig else _base(old_sig)
            safe, why = _safe_type_change(old_type, old_sig.split("|")[0], f)
            steps.append(Step("change_type", table.name,
                              f"{f.name}: {old_sig.split('|')[0]} -> {type_signature(f)} "
                              f"(old values kept in {f.name}__was_{old_type})", safe, why,
                              data={"field": f.name, "old_type": old_type}))
    renamed_away = {f.renamed_from for f in ent.fields.values() if f.renamed_from}
    for c in sorted(cols - wanted - renamed_away):
        if "__was_" in c:
            continue
        retired = (recorded or {}).get("retired", [])
        if c not in retired:
            steps.append(Step("keep_column", table.name, f"{c}: no longer in the definition; column and data kept",
                              data={"column": c}))
    have_idx = {i["name"] for i in insp.get_indexes(db_name)}
    for idx in entity_indexes(ent):
        if idx.name not in have_idx and index_applies(idx, conn.dialect.name):
            cols_ = list(index_columns(idx))
            safe, why = True, ""
            if idx.unique and all(c in cols for c in cols_):
                dup = conn.exec_driver_sql(
                    f'SELECT 1 FROM "{db_name}" WHERE "{cols_[0]}" IS NOT NULL GROUP BY "{cols_[0]}" '
                    f"HAVING COUNT(*) > 1 LIMIT 1").first()
                if dup is not None:
                    safe, why = False, f"existing records share values of {cols_[0]}; make them unique first"
            steps.append(Step("create_index", table.name, f"{idx.name} on {', '.join(cols_)}"
                              + (" (unique)" if idx.unique else ""), safe, why, data={"index": idx.name}))
    ours = {i.name for i in entity_indexes(ent) if index_applies(i, conn.dialect.name)}
    prefix = (f"ix_{table.name}_", f"uq_{table.name}_", f"ix_{db_name}_", f"uq_{db_name}_")
    for name in sorted(have_idx - ours):
        if name and name.startswith(prefix):
            steps.append(Step("drop_index", table.name, f"{name} (no longer declared; data unaffected)",
                              data={"index": name, "db_table": db_name}))
    return steps


def apply(conn: Connection, tables: Tables, steps: list[Step], *, allow_destructive: bool = False) -> None:
    refused = [s for s in steps if not s.safe]
    if refused and not allow_destructive:
        raise MigrationRefused(refused)
    from alembic.migration import MigrationContext  # only when a schema changes (not for `jig check`)
    from alembic.operations import Operations
    ops = Operations(MigrationContext.configure(conn))
    q = conn.dialect.identifier_preparer.quote
    for s in steps:
        if s.kind == "create_table":
            target = tables.metadata.tables[s.table]
            target.create(conn, checkfirst=True)
        elif s.kind == "rename_table":
            ops.rename_table(s.table, s.data["to"])  # old-named indexes are dropped by later steps
            if s.data.get("old_entity"):
                hist = tables.system["jig_history"]
                conn.execute(update(hist).where(hist.c.app == s.data["app"], hist.c.entity == s.data["old_entity"])
                             .values(entity=s.data["new_entity"]))
        elif s.kind == "rename_column":
            conn.exec_driver_sql(f"ALTER TABLE {q(s.table)} RENAME COLUMN {q(s.data['old'])} TO {q(s.data['new'])}")
        elif s.kind == "add_column":
            col: Column[Any] = tables.metadata.tables[s.table].c[s.data["column"]]
            ops.add_column(s.table, Column(col.name, col.type, nullable=True))
            if "fill" in s.data:
                t = tables.metadata.tables[s.table]
                conn.execute(update(t).where(t.c.state.is_(None)).values(state=s.data["fill"]))
        elif s.kind == "change_type":
            _change_type(conn, ops, tables, s)
        elif s.kind == "create_index":
            idx = next(i for i in tables.metadata.tables[s.table].indexes if i.name == s.data["index"])
            idx.create(conn)
        elif s.kind == "drop_index":
            ops.drop_index(s.data["index"], table_name=s.table)
        elif s.kind in ("create_kept", "drop_kept"):
            keptstore.apply_step(conn, tables, s.kind, s.table)  # runtime.kept: after the tables they count
    _record(conn, tables, steps)


def _change_type(conn: Connection, ops: Operations, tables: Tables, s: Step) -> None:
    table = tables.metadata.tables[s.table]
    ent = next(e for k, e in tables.entities.items() if tables.by_key[k] is table)
    f = ent.fields[s.data["field"]]
    backup = f"{f.name}__was_{s.data['old_type']}"
    q = conn.dialect.identifier_preparer.quote
    for ix in inspect(conn).get_indexes(s.table):
        if f.name in ix["column_names"]:
            ops.drop_index(ix["name"], table_name=s.table)
    conn.exec_driver_sql(f"ALTER TABLE {q(s.table)} RENAME COLUMN {q(f.name)} TO {q(backup)}")
    ops.add_column(s.table, Column(f.name, column_type(f), nullable=True))
    old_col = Column(backup)
    rows = conn.execute(select(table.c.id, old_col).select_from(table)).all()
    converted = 0
    for rid, old in rows:
        if old is None:
            continue
        try:
            value = coerce(f, _raw_to_input(old, s.data["old_type"]))
        except FieldValueError:
            continue
        conn.execute(update(table).where(table.c.id == rid).values({f.name: value}))
        converted += 1
    s.data["converted"] = converted
    for idx in entity_indexes(ent):
        if f.name in index_columns(idx) and index_applies(idx, conn.dialect.name):
            next(i for i in table.indexes if i.name == idx.name).create(conn)


def _raw_to_input(value: Any, old_type: str) -> Any:
    if old_type == "decimal" and isinstance(value, int):
        return value  # scaled on SQLite; caller accepts the loss only with allow_destructive
    return value


def _record(conn: Connection, tables: Tables, steps: list[Step]) -> None:
    state = tables.system["jig_schema"]
    insp = inspect(conn)
    now = clock.now()
    for key, ent in tables.entities.items():
        table = tables.by_key[key]
        cols = {f.name: f"{type_signature(f)}|{f.type}" for f in ent.stored_fields()}
        present = {c["name"] for c in insp.get_columns(table.name)}
        wanted = {c.name for c in table.columns}
        retired = sorted(present - wanted)
        row = {"entity": key, "columns": json.dumps(cols), "retired": json.dumps(retired), "updated_at": now}
        n = conn.execute(update(state).where(state.c.table_name == table.name).values(**row)).rowcount
        if not n:
            conn.execute(state.insert().values(table_name=table.name, **row))
    del steps


class MigrationRefused(Exception):
    def __init__(self, steps: list[Step]):
        self.steps = steps
        lines = [s.describe() for s in steps]
        super().__init__("migration refused; these steps could lose data:\n  " + "\n  ".join(lines)
                         + "\nrerun with --allow-destructive to apply them (old values are kept in __was_ columns)")
