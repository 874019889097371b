"""Naming series such as WF{YYYY}{MM}-{####}, safe under concurrent inserts.

The counter lives in ``jig_naming`` and is advanced with one atomic
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` inside the record's own
write transaction: two inserts can never draw the same number, and a rolled
back insert gives its number back.
"""

from __future__ import annotations

import datetime as dt
import re

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
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(naming_table).values(key=bindparam("k"), value=1)
    stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={"value": naming_table.c.value + 1})
    value = conn.execute(stmt.returning(naming_table.c.value), {"k": key}).scalar_one()
    return COUNTER.sub(lambda m: str(value).zfill(width), text, count=1)
