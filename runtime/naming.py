"""Naming series such as WF{YYYY}{MM}-{####}, safe under concurrent inserts.

The counter lives in ``jig_naming`` and is advanced with one atomic
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` inside the record's own
write transaction: two inserts can never draw the same number, and a rolled
back insert gives its number back.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import Connection, Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite

COUNTER = re.compile(r"\{(#+)\}")


def render_prefix(series: str, when: dt.date) -> tuple[str, int]:
    """The series with its date placeholders filled in, and the counter width."""
    text = (series.replace("{YYYY}", f"{when.year:04d}").replace("{YY}", f"{when.year % 100:02d}")
            .replace("{MM}", f"{when.month:02d}").replace("{DD}", f"{when.day:02d}"))
    m = COUNTER.search(text)
    width = len(m.group(1)) if m else 4
    return text, width


def next_name(conn: Connection, naming_table: Table, entity_key: str, series: str, when: dt.date) -> str:
    text, width = render_prefix(series, when)
    key = f"{entity_key}:{COUNTER.sub('#', text)}"
    dialect = conn.dialect.name
    stmt = naming_table.info.get(("next_name", dialect))  # built once per table and dialect
    if stmt is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(naming_table).values(key=bindparam("k"), value=1)
        stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={"value": naming_table.c.value + 1})
        stmt = naming_table.info[("next_name", dialect)] = stmt.returning(naming_table.c.value)
    value = conn.execute(stmt, {"k": key}).scalar_one()
    return COUNTER.sub(lambda m: str(value).zfill(width), text, count=1)


def next_names(conn: Connection, naming_table: Table, entity_key: str, series: str, when: dt.date,
               n: int) -> list[str]:
    """The next ``n`` numbers of a series at once (one statement: a bulk create's block), in order."""
    text, width = render_prefix(series, when)
    key = f"{entity_key}:{COUNTER.sub('#', text)}"
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(naming_table).values(key=bindparam("k"), value=bindparam("n"))
    stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={"value": naming_table.c.value + bindparam("n")})
    last = conn.execute(stmt.returning(naming_table.c.value), {"k": key, "n": n}).scalar_one()
    return [COUNTER.sub(lambda m, v=v: str(v).zfill(width), text, count=1) for v in range(last - n + 1, last + 1)]


TOKEN = re.compile(r"\{(YYYY|YY|MM|DD|#+)\}")


def check_series(series: str, path: tuple[Any, ...], ctx: Any) -> None:
    """Errors for a series without exactly one counter, with unknown placeholders or unbalanced braces."""
    if len(COUNTER.findall(series)) != 1:
        ctx.error(path, "a naming series needs exactly one counter such as {####}", "e.g. WF{YYYY}{MM}-{####}")
    leftover = TOKEN.sub("", series)
    bad = re.findall(r"\{[^}]*\}", leftover)
    if bad:
        ctx.error(path, f"unknown placeholder {bad[0]} in naming series",
                  "placeholders: {YYYY} {YY} {MM} {DD} and a counter like {####}")
    elif "{" in leftover or "}" in leftover:
        ctx.error(path, "unbalanced braces in naming series", "e.g. WF{YYYY}{MM}-{####}")


def compile_fields(app: Any, ctx: Any) -> None:
    """Text fields numbered by their own series (``serial_no: {type: text, naming: "LOT{YY}{MM}-{###}"}``).

    Each gets the next number of its series when a record is created (the entity's ``naming:`` keeps
    filling ``name``); nobody writes it afterwards. The series go to ``entity.extra["naming_fields"]``.
    """
    ents = app.raw.get("entities") if isinstance(app.raw.get("entities"), dict) else {}
    for ename, ent in app.entities.items():
        espec = ents.get(ename)
        fields_raw = espec.get("fields") if isinstance(espec, dict) else None
        for fname, spec in (fields_raw or {}).items():
            if not isinstance(spec, dict) or not isinstance(spec.get("naming"), str) or fname not in ent.fields:
                continue
            path = ("entities", ename, "fields", fname, "naming")
            f = ent.fields[fname]
            if f.type != "text":
                ctx.error(path, f"a naming series fills a text field: '{fname}' is {f.type}", "use type: text")
                continue
            check_series(spec["naming"], path, ctx)
            f.readonly = True
            ent.extra.setdefault("naming_fields", {})[fname] = spec["naming"]
