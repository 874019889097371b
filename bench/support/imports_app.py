"""bench/imports.py's app, data and the two ways of storing it (Jig's import, a bare bulk insert)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import delete

ENTITIES = ("plain", "plain_csv", "plain_xlsx", "linked", "children")
FILES = {"plain_csv": "csv", "plain_xlsx": "xlsx"}  # the plain rows from a file: its reading is timed too


def entity_of(name: str) -> str:
    return "plain" if name in FILES else name
CHUNK = 1000

YAML = """\
app: imp
title: {zh: 导入基准, en: Import bench}
version: 1
roles:
  clerk: {label: {zh: 文员, en: Clerk}}
entities:
  category:
    title: {zh: 类别, en: Category}
    title_field: title
    fields:
      title: {type: text, label: {zh: 名称, en: Name}, required: true}
    permissions:
      clerk: {read: true}
  plain:
    title: {zh: 物料, en: Item}
    fields: &fields
      code: {type: text, label: {zh: 编号, en: Code}, required: true, unique: true, max_length: 40}
      item: {type: text, label: {zh: 名称, en: Name}, required: true, max_length: 100}
      qty: {type: integer, label: {zh: 数量, en: Qty}, min: 0}
      price: {type: decimal, label: {zh: 单价, en: Price}, scale: 2, min: 0}
      status:
        type: select
        label: {zh: 状态, en: Status}
        required: true
        default: "'open'"
        options:
          - {value: open, label: {zh: 开启, en: Open}}
          - {value: hold, label: {zh: 暂停, en: On hold}}
      due: {type: date, label: {zh: 到期日, en: Due}}
      note: {type: text, label: {zh: 备注, en: Note}}
      active: {type: boolean, label: {zh: 启用, en: Active}, default: true}
    permissions:
      clerk: {read: true, create: true}
  linked:
    title: {zh: 关联物料, en: Linked item}
    naming: "IM{YYYY}-{######}"
    fields:
      <<: *fields
      category: {type: link, to: category, label: {zh: 类别, en: Category}, required: true}
    permissions:
      clerk: {read: true, create: true}
  children:
    title: {zh: 订单, en: Order}
    fields:
      code: {type: text, label: {zh: 编号, en: Code}, required: true, unique: true, max_length: 40}
      customer: {type: text, label: {zh: 客户, en: Customer}, required: true}
      due: {type: date, label: {zh: 交期, en: Due}}
      lines:
        type: table
        label: {zh: 明细, en: Lines}
        fields:
          product: {type: text, label: {zh: 产品, en: Product}, required: true}
          qty: {type: integer, label: {zh: 数量, en: Qty}, required: true, min: 1}
    permissions:
      clerk: {read: true, create: true}
"""

PLAIN_COLUMNS = ["code", "item", "qty", "price", "status", "due", "note", "active"]


def runtime(database_url: str | None, tmp: Path) -> Any:
    """A migrated runtime on a fresh database with the app, 50 categories and the clerk."""
    from jig.app import build_runtime
    from jig.config import Settings
    from runtime import clock

    apps = tmp / "apps"
    apps.mkdir()
    (apps / "imp.yaml").write_text(YAML, encoding="utf-8")
    url = database_url or f"sqlite:///{tmp / 'imports.db'}"
    rt = build_runtime(Settings(database_url=url, apps=[str(apps)], secret_key="bench", auto_migrate=False,
                                files_dir=str(tmp / "files")), migrate=False)
    if rt.db.dialect != "sqlite":  # a throwaway PostgreSQL database: start from empty tables
        rt.tables.metadata.drop_all(rt.db.engine)
    rt.migrate()
    rt.users.add("clerk", "clerk-password-1", ["clerk"])
    now = clock.now()
    with rt.db.write() as conn:
        conn.execute(rt.tables.for_entity(rt.entity("imp", "category")).insert(), [
            dict(title=f"类别{i:02d}", version=1, created_at=now, created_by="seed", updated_at=now,
                 updated_by="seed") for i in range(1, 51)])
    return rt


def empty(rt: Any, name: str) -> None:
    ent = rt.entity("imp", entity_of(name))
    with rt.db.write() as conn:
        for f in ent.child_fields():
            conn.execute(delete(rt.tables.for_entity(f.child)))
        conn.execute(delete(rt.tables.for_entity(ent)))
        conn.execute(delete(rt.tables.system["jig_history"]))


def _cells(i: int, rnd: random.Random) -> list[Any]:
    """One file row as a CSV gives it: text cells (a Chinese date every third row)."""
    d = dt.date(2026, 1, 1) + dt.timedelta(days=rnd.randint(0, 360))
    due = f"{d.year}/{d.month}/{d.day}" if i % 3 == 0 else d.isoformat()
    return [f"P{i:07d}", f"物料 {i}", str(rnd.randint(0, 500)), f"{rnd.randint(0, 99999) / 100:.2f}",
            "开启" if i % 2 else "hold", due, "" if i % 4 else "加急", "是" if i % 5 else "否"]


def _typed(cells: list[Any]) -> dict[str, Any]:
    """The same row as a hand-written loader would have it ready for the table."""
    due = cells[5].replace("/", "-").split("-")
    return {"code": cells[0], "item": cells[1], "qty": int(cells[2]), "price": Decimal(cells[3]),
            "status": "open" if cells[4] == "开启" else cells[4], "due": dt.date(*map(int, due)),
            "note": cells[6] or None, "active": cells[7] == "是"}


def workload(rt: Any, name: str, rows: int, side: str) -> Callable[[], int]:
    """Build the data for one import (untimed); the returned call stores it (timed) and says how many."""
    from runtime import clock
    from runtime.auth import Actor

    ent = rt.entity("imp", entity_of(name))
    table = rt.tables.for_entity(ent)
    rnd = random.Random(7)
    clerk = Actor("clerk", frozenset({"clerk"}), via="ui")
    if name == "children":
        items = [{"code": f"O{i:07d}", "customer": f"客户{i % 97}", "due": "2026-12-01",
                  "lines": [{"product": f"产品{(i + k) % 300}", "qty": str(k + 1)} for k in range(3)]}
                 for i in range(rows)]
        if side == "jig":
            def jig_children() -> int:
                with rt.db.write() as conn:
                    return len(rt.records.create_many(clerk.using("import"), ent, items, conn))
            return jig_children
        child = rt.tables.for_entity(ent.fields["lines"].child)

        def bulk_children() -> int:
            now = clock.now()
            with rt.db.write() as conn:
                for s in range(0, rows, CHUNK):
                    part = items[s:s + CHUNK]
                    ids = conn.execute(table.insert().returning(table.c.id, sort_by_parameter_order=True), [
                        {"code": it["code"], "customer": it["customer"], "due": dt.date(2026, 12, 1), "version": 1,
                         "created_at": now, "created_by": "clerk", "updated_at": now, "updated_by": "clerk"}
                        for it in part]).scalars().all()
                    conn.execute(child.insert(), [{"parent_id": pid, "idx": k, "product": ln["product"],
                                                   "qty": int(ln["qty"])}
                                                  for pid, it in zip(ids, part, strict=True)
                                                  for k, ln in enumerate(it["lines"])])
            return rows
        return bulk_children
    cells = [_cells(i, rnd) for i in range(rows)]
    mapping = list(PLAIN_COLUMNS)
    if name == "linked":
        for i, row in enumerate(cells):
            row.append(f"类别{i % 50 + 1:02d}")
        mapping.append("category")
    if side == "jig" and name in FILES:
        from ui import import_rows
        from ui.transfer import read_table
        data = _file(FILES[name], mapping, cells)

        def jig_file() -> int:
            _header, rows = read_table(f"items.{FILES[name]}", data)
            errors, count = import_rows.run(rt, clerk, ent, rows, mapping)
            assert not errors, errors[:5]
            return count
        return jig_file
    if side == "jig":
        from ui import import_rows

        def jig() -> int:
            errors, count = import_rows.run(rt, clerk, ent, cells, mapping)
            assert not errors, errors[:5]
            return count
        return jig
    typed = [_typed(c) for c in cells]
    if name == "linked":
        for i, row in enumerate(typed):
            row["category"] = i % 50 + 1

    def bulk() -> int:
        now = clock.now()
        sys_cols = {"version": 1, "created_at": now, "created_by": "clerk", "updated_at": now, "updated_by": "clerk"}
        with rt.db.write() as conn:
            for s in range(0, rows, CHUNK):
                batch = []
                for k, r in enumerate(typed[s:s + CHUNK], s):
                    row = {**r, **sys_cols}
                    if name == "linked":
                        row["name"] = f"IM2026-{k + 1:06d}"
                    batch.append(row)
                conn.execute(table.insert(), batch)
        return rows
    return bulk


def _file(kind: str, header: list[str], cells: list[list[Any]]) -> bytes:
    """The rows as an uploaded file: a UTF-8 CSV, or an .xlsx with numbers as number cells."""
    import csv
    import io
    if kind == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(header)
        w.writerows(cells)
        return buf.getvalue().encode("utf-8")
    import openpyxl
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("items")
    ws.append(header)
    for r in cells:
        ws.append([int(r[2]) if j == 2 else float(r[3]) if j == 3 else v for j, v in enumerate(r)])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
