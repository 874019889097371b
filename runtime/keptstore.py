"""The kept aggregates' tables and triggers: created, filled, dropped and recounted (runtime/kept.py plans them).

Per kept table ``jig_kept_<hash>`` (one :class:`runtime.kept.Spec`): a ``key`` column (the group key as text,
so that empty values group too), the group-key columns, ``n`` (records) and per kept value ``s<i>`` (sum of the
non-empty values) and ``c<i>`` (how many there are). Triggers on the entity's table add the new row's
contribution and take away the old one with ``INSERT … ON CONFLICT (key) DO UPDATE SET n = n + excluded.n``:
on SQLite one trigger per INSERT / UPDATE OF the columns read / DELETE, on PostgreSQL one PL/pgSQL function
for all three. An UPDATE that changes none of the columns read does nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    Table,
    Text,
    case,
    cast,
    func,
    inspect,
    literal,
    literal_column,
    null,
    select,
)
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table
from sqlalchemy.dialects import postgresql, sqlite

if TYPE_CHECKING:
    from .kept import Spec

PREFIX = "jig_kept_"
_EMPTY = {"date": dt.date(2000, 1, 1), "datetime": dt.datetime(2000, 1, 1)}  # "not empty" in a null-only column


def specs(tables: Any) -> list[Spec]:
    return [s for ent in tables.entities.values() for s in (ent.extra.get("kept") or {}).values()]


def define(tables: Any) -> None:
    """Add every kept table to ``tables``' metadata (once, when the tables are built: no request adds one)."""
    for s in specs(tables):
        kept_table(s, tables.for_entity(s.entity), tables.metadata)


# ---------------------------------------------------------------- the kept table and its triggers

def kept_table(spec: Spec, base: Table, md: Any) -> Table:
    if spec.name in md.tables:
        return md.tables[spec.name]  # type: ignore[no-any-return]
    cols: list[Column[Any]] = [Column("key", Text, primary_key=True)]
    for d in spec.dims:
        typ = base.c[d.name].type
        if d.kind == "day":
            cols += [Column(f"{d.name}__lo", typ), Column(f"{d.name}__hi", typ)]
        else:
            cols.append(Column(d.name, typ))
    cols.append(Column("n", BigInteger, nullable=False))
    for i, v in enumerate(spec.values):
        cols += [Column(f"s{i}", BigInteger if v.type == "int" else Float, nullable=False),
                 Column(f"c{i}", BigInteger, nullable=False)]
    return Table(spec.name, md, *cols)


def _dim_values(spec: Spec, row: Any, base: Table, dialect: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for d in spec.dims:
        c = row.c[d.name]
        if d.kind == "value":
            out[d.name] = c
        elif d.kind == "null":
            typ = base.c[d.name].type
            out[d.name] = case((c.is_(None), null()), else_=cast(literal(_EMPTY[d.type], typ), typ))
        elif dialect == "sqlite":
            out[f"{d.name}__lo"] = func.substr(c, 1, 10).op("||")(" 00:00:00")
            out[f"{d.name}__hi"] = func.substr(c, 1, 10).op("||")(" 23:59:59")
        else:
            out[f"{d.name}__lo"] = func.date_trunc("day", c)
            out[f"{d.name}__hi"] = func.date_trunc("day", c) + literal_column("interval '86399 seconds'")
    return out


def _key(dims: dict[str, Any]) -> Any:
    key: Any = None
    for v in dims.values():
        part = func.coalesce(cast(v, Text), "~")
        key = part if key is None else key.op("||")("|").op("||")(part)
    return key if key is not None else literal("", Text)


def _contribution(spec: Spec, row: Any, base: Table, sql: Any, sign: int) -> dict[str, Any]:
    dims = _dim_values(spec, row, base, sql.dialect)
    out = {"key": _key(dims), **dims, "n": literal(sign, BigInteger)}
    for i, v in enumerate(spec.values):
        val = sql.value(v, row)
        out[f"s{i}"] = func.coalesce(val, 0) * sign
        out[f"c{i}"] = case((val.is_(None), 0), else_=sign)
    return out


def _upsert(spec: Spec, k: Table, values: dict[str, Any], conn: Connection) -> str:
    ins: Any = (sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert)(k).values(values).inline()
    measures = [c.name for c in k.columns if c.name == "n" or c.name[0] in "sc" and c.name[1:].isdigit()]
    ins = ins.on_conflict_do_update(index_elements=[k.c.key], set_={m: k.c[m] + ins.excluded[m] for m in measures})
    return str(ins.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))


def _row_alias(name: str, base: Table) -> Any:
    return sql_table(name, *[sql_column(c.name, c.type) for c in base.columns])


def _triggers(spec: Spec, k: Table, base: Table, conn: Connection, sql: Any) -> list[str]:
    new, old = _row_alias("new", base), _row_alias("old", base)
    up_new = _upsert(spec, k, _contribution(spec, new, base, sql, 1), conn)
    up_old = _upsert(spec, k, _contribution(spec, old, base, sql, -1), conn)
    q = conn.dialect.identifier_preparer.quote
    cols = sorted(spec.sources())
    t, n = q(base.name), spec.name
    if conn.dialect.name == "sqlite":
        changed = " OR ".join(f"old.{q(c)} IS NOT new.{q(c)}" for c in cols) or "0"
        return [f"CREATE TRIGGER {n}_ins AFTER INSERT ON {t} BEGIN {up_new}; END",
                f"CREATE TRIGGER {n}_upd AFTER UPDATE OF {', '.join(q(c) for c in cols)} ON {t} "
                f"WHEN {changed} BEGIN {up_old}; {up_new}; END" if cols else "SELECT 1",
                f"CREATE TRIGGER {n}_del AFTER DELETE ON {t} BEGIN {up_old}; END"]
    same = f"ROW({', '.join(f'OLD.{q(c)}' for c in cols)}) IS NOT DISTINCT FROM " \
           f"ROW({', '.join(f'NEW.{q(c)}' for c in cols)})" if cols else "TRUE"
    return [f"CREATE FUNCTION {n}_fn() RETURNS trigger LANGUAGE plpgsql AS $jig$ BEGIN "
            f"IF TG_OP = 'UPDATE' AND {same} THEN RETURN NULL; END IF; "
            f"IF TG_OP <> 'INSERT' THEN {up_old}; END IF; "
            f"IF TG_OP <> 'DELETE' THEN {up_new}; END IF; RETURN NULL; END $jig$",
            f"CREATE TRIGGER {n}_trg AFTER INSERT OR UPDATE OR DELETE ON {t} FOR EACH ROW EXECUTE FUNCTION {n}_fn()"]


def _drop(conn: Connection, name: str) -> None:
    if conn.dialect.name == "sqlite":
        for suffix in ("ins", "upd", "del"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}_{suffix}")
    else:
        conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {name}_fn() CASCADE")
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")


def _counted(spec: Spec, k: Table, base: Table, sql: Any) -> Any:
    """SELECT of the kept rows as counted from the entity's table now."""
    dims = _dim_values(spec, base, base, sql.dialect)
    key = _key(dims)
    cols = [key.label("key"), *(v.label(n) for n, v in dims.items()), func.count().label("n")]
    for i, v in enumerate(spec.values):
        val = sql.value(v, base)
        cols += [func.coalesce(func.sum(val), 0).label(f"s{i}"), func.count(val).label(f"c{i}")]
    return select(*cols).select_from(base).group_by(key, *dims.values())


def _sql(conn: Connection, tables: Any) -> Any:
    from .sqlcompile import SqlCompiler
    return SqlCompiler(tables, conn.dialect.name)


def create(conn: Connection, tables: Any, spec: Spec) -> None:
    """Create the kept table and its triggers, and fill it, in the caller's transaction."""
    base = tables.for_entity(spec.entity)
    sql = _sql(conn, tables)
    k = kept_table(spec, base, tables.metadata)
    _drop(conn, spec.name)
    k.create(conn)
    for stmt in _triggers(spec, k, base, conn, sql):
        conn.exec_driver_sql(stmt)
    conn.execute(k.insert().from_select([c.name for c in k.columns], _counted(spec, k, base, sql)))


def plan_steps(conn: Connection, tables: Any) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(kind, table, detail, data) of the kept tables to create (and of old ones to drop)."""
    existing = {n for n in inspect(conn).get_table_names() if n.startswith(PREFIX)}
    wanted = specs(tables)
    out = []
    for s in wanted:
        if s.name not in existing:
            what = ", ".join(f"{d.name}" + ("" if d.kind == "value" else f" ({d.kind})") for d in s.dims) or "-"
            sums = "".join(f", sum {v.source}" for v in s.values)
            out.append(("create_kept", s.name, f"kept counts of {s.entity.key} by {what}{sums}: triggers, filled now",
                        {"entity": s.entity.key}))
    for name in sorted(existing - {s.name for s in wanted}):
        out.append(("drop_kept", name, "kept counts no longer asked for (triggers and table)", {}))
    return out


def apply_step(conn: Connection, tables: Any, kind: str, name: str) -> None:
    if kind == "drop_kept":
        _drop(conn, name)
        return
    spec = next(s for s in specs(tables) if s.name == name)
    create(conn, tables, spec)


def rebuild(conn: Connection, tables: Any, *, check_only: bool = False) -> list[tuple[str, int]]:
    """Recount every kept table from its entity's table; returns (table, keys that differed) per table."""
    sql = _sql(conn, tables)
    out = []
    for spec in specs(tables):
        base = tables.for_entity(spec.entity)
        k = kept_table(spec, base, tables.metadata)
        if not inspect(conn).has_table(k.name):
            out.append((k.name, -1))
            continue
        measures = [c.name for c in k.columns if c.name == "n" or c.name[0] in "sc" and c.name[1:].isdigit()]
        kept = {r[0]: tuple(r[1:]) for r in conn.execute(select(k.c.key, *(k.c[m] for m in measures))
                                                         .where(k.c.n != 0))}
        fresh = {r[0]: tuple(r[1:]) for r in conn.execute(
            select(*(c for c in _counted(spec, k, base, sql).subquery().c if c.name in ("key", *measures))))}
        drift = sum(1 for key in kept.keys() | fresh.keys() if kept.get(key) != fresh.get(key))
        out.append((k.name, drift))
        if drift and not check_only:
            create(conn, tables, spec)
    return out


__all__ = ["apply_step", "create", "define", "kept_table", "plan_steps", "rebuild", "specs"]
