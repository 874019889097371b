"""Creating many records at once (spreadsheet imports), each checked exactly as ``Records.create`` checks it.

Every row takes the one path a new record takes (``Records.prepare_values`` then ``Records.prepare_row``:
coercion by the field types, read-only fields, defaults, the initial state, series numbers, required,
links (existing and readable by the importer), users, uniqueness, ``check`` rules, computed fields, the
importer's scope). What differs is only how the database is asked and written, a chunk of rows at a time:

* validation's database checks come from :class:`runtime.lookups.Lookups`: one ``IN (...)`` query per
  link / user / unique field per chunk, and the unique values of the rows accepted before;
* series numbers are drawn as a block per chunk (``naming.next_names``: one statement);
* the records go in with one ``executemany`` per chunk (ids returned in order), their child rows with
  one more, their history rows with one more;
* what follows a create follows each record as it does after ``create``: roll-ups fed by it, and the
  ``record.created`` event (rules, outbox, connectors) with the record as stored, in the same transaction.

All or nothing: the caller's transaction is the import's. Rows are checked to the end (the first
``MAX_ERRORS`` problems are kept); once one row has failed nothing more is written and
:class:`BulkFailed` is raised, so the caller's transaction rolls back -- series numbers drawn go back too.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, bindparam
from sqlalchemy.exc import IntegrityError

from . import clock, createplan, history, naming, permissions
from .errors import FieldErrors, Forbidden, RecordError, ValidationFailed
from .lookups import Lookups
from .messages import t
from .model import EntityDef, pick

CHUNK = 1000
MAX_ERRORS = 200


class BulkFailed(RecordError):
    """Some rows were refused: ``rows`` holds (index in the input, the error ``create`` would raise)."""

    def __init__(self, message: str, rows: list[tuple[int, RecordError]]):
        super().__init__(message)
        self.rows = rows


class _Names:
    """``names(key, series)`` for ``prepare_row``: series numbers drawn a block per chunk."""

    def __init__(self, conn: Connection, table: Any, when: Any, size: int):
        self.conn, self.table, self.when, self.size = conn, table, when, size
        self.blocks: dict[str, list[str]] = {}

    def __call__(self, key: str, series: str) -> str:
        block = self.blocks.get(key)
        if not block:
            block = self.blocks[key] = naming.next_names(self.conn, self.table, key, series, self.when, self.size)
            block.reverse()
        return block.pop()


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while many rows are made: they hold no cycles, and each of its
    passes would walk every row made so far (a tenth of an import's time). Reference counting still frees
    what is let go; the collector runs again at the end, as before."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def create_many(records: Any, actor: Any, ent: EntityDef, items: list[dict[str, Any]], conn: Connection, *,
                chunk: int = CHUNK, progress: Callable[[int], None] | None = None) -> list[int]:
    """Create ``items`` (API input, as for ``create``) in ``conn``'s transaction; the new ids in order."""
    with gc_paused():
        return _create_many(records, actor, ent, items, conn, chunk, progress)


def _create_many(records: Any, actor: Any, ent: EntityDef, items: list[dict[str, Any]], conn: Connection,
                 chunk: int, progress: Callable[[int], None] | None) -> list[int]:
    rt = records.rt
    lang = actor.language
    if not permissions.may_create(actor, ent):
        raise Forbidden(t("no_create", lang, entity=pick(ent.title, lang)))
    lookups = Lookups(rt)
    memo: dict[Any, dict[Any, Any]] = {}  # each field's coercion of an input seen before (validation.coerce_input)
    failed: list[tuple[int, RecordError]] = []
    ids: list[int] = []
    for start in range(0, len(items), chunk):
        part = items[start:start + chunk]
        typed: list[tuple[int, dict[str, Any], FieldErrors | None]] = []
        errors = FieldErrors()
        for i, data in enumerate(part, start):
            try:
                values = records.prepare_values(actor, ent, data, errors, memo=memo)
            except RecordError as exc:  # not an object at all
                failed.append((i, exc))
                errors = FieldErrors()
                continue
            if errors:  # kept with its row; a row without problems gets a fresh one below
                typed.append((i, values, errors))
                errors = FieldErrors()
            else:
                typed.append((i, values, None))
        lookups.prefetch(conn, ent, [v for _, v, _ in typed], actor)
        now = clock.now()
        names = _Names(conn, rt.tables.system["jig_naming"], now.date(), len(typed))
        ready: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for i, values, problems in typed:
            try:
                row = records.prepare_row(conn, actor, ent, values, problems or FieldErrors(), now, names=names,
                                          lookups=lookups)
                _refuse_row_ids(ent, values, lang)
            except RecordError as exc:
                failed.append((i, exc))
                continue
            lookups.accept(ent, values)
            ready.append((values, row))
        if len(failed) >= MAX_ERRORS:
            break
        if not failed:
            ids += _store(records, actor, ent, ready, conn, now)
        if progress is not None:
            progress(start + len(part))
    if failed:
        raise BulkFailed(t("validation_failed", lang, n=len(failed)), failed[:MAX_ERRORS])
    return ids


def _refuse_row_ids(ent: EntityDef, values: dict[str, Any], lang: str) -> None:
    """A new record has no rows yet: a child row naming an id is refused (as ``create`` refuses it)."""
    child_fields = createplan.plan(ent).child_fields
    if not child_fields:
        return
    strangers = {f"{f.name}[{i}].id": t("not_own_row", lang) for f in child_fields
                 for i, row in enumerate(values.get(f.name) or []) if row.get("id") is not None}
    if strangers:
        raise ValidationFailed(t("validation_failed", lang, n=len(strangers)), strangers)


def _store(records: Any, actor: Any, ent: EntityDef, ready: list[tuple[dict[str, Any], dict[str, Any]]],
           conn: Connection, now: Any) -> list[int]:
    """Insert one chunk of checked rows, their child rows and history; then what follows each create."""
    if not ready:
        return []
    rt = records.rt
    table = rt.tables.for_entity(ent)
    try:
        ids = insert_ids(conn, table, [row for _, row in ready])
    except IntegrityError as exc:  # a concurrent writer took a unique value since the check
        raise records._integrity(ent, exc, actor.language) from None
    for (_values, row), record_id in zip(ready, ids, strict=True):
        row["id"] = record_id
    cp = createplan.plan(ent)
    for f in cp.child_fields:
        _store_children(rt, f, ready, conn)
    plan = history.create_plan(ent)
    entries: list[tuple[int, dict[str, Any]]] = []
    announce = rt.hooks.has("record.created", ent.key)  # someone listens for this entity's records
    if cp.child_fields or cp.feeds_parents:  # roll-ups: the record's own over its rows, its parents' over it
        for _values, row in ready:
            if cp.child_fields:
                row.update(rt.rollups.own_children(conn, ent, row["id"]))
            if cp.feeds_parents:
                rt.rollups.after_write(conn, ent, None, row)
    created = history.created
    # each entry's changes are made, turned into JSON and let go one record at a time (fewer live objects
    # for the garbage collector to walk); kept only when the record.created handlers read them too
    made: Any = ((row["id"], created(row, plan)) for _values, row in ready)
    if announce:
        entries = list(made)
        made = entries
    insert_rows(conn, rt.tables.system["jig_history"],
                history.entries(app=ent.app, entity=ent.name, action="create", actor=actor, version=1, at=now,
                                changes=made))
    if announce:
        for (_values, row), (record_id, changes) in zip(ready, entries, strict=True):
            result = records.serialize(ent, records.for_json(conn, ent, row, actor))
            records._emit("record.created", ent, record_id, result, None, changes, actor, conn)
    return ids


def _store_children(rt: Any, field: Any, ready: list[tuple[dict[str, Any], dict[str, Any]]], conn: Connection) -> None:
    """The child rows of one table field for every record of the chunk: one executemany, ids in order.
    Each record's row gets the rows as ``create`` lists them (``{"id", ...values}``)."""
    child: EntityDef = field.child
    table = rt.tables.for_entity(child)
    stored = [f.name for f in child.stored_fields()]
    params = [{"parent_id": row["id"], "idx": idx, **{name: r.get(name) for name in stored}}
              for values, row in ready for idx, r in enumerate(values.get(field.name) or [])]
    ids = iter(insert_ids(conn, table, params) if params else ())
    for values, row in ready:
        row[field.name] = [{"id": int(next(ids)), **{name: r.get(name) for name in stored}}
                           for r in values.get(field.name) or []]


def insert_ids(conn: Connection, table: Any, params: list[dict[str, Any]]) -> list[int]:
    """Insert rows with one executemany; their new ids, in order.

    PostgreSQL answers them (``INSERT ... RETURNING`` in batches, kept in order). SQLite would return
    them only by inserting one row at a time, so there the ids are counted back from the last one: this
    transaction holds SQLite's one write lock, and the rows of one executemany take consecutive rowids.
    """
    if conn.dialect.name != "sqlite":
        stmt = table.insert().returning(table.c.id, sort_by_parameter_order=True)
        return [int(i) for i in conn.execute(stmt, params).scalars()]
    insert_rows(conn, table, params)
    last = int(conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one())
    return list(range(last - len(params) + 1, last + 1))


def insert_rows(conn: Connection, table: Any, params: list[dict[str, Any]]) -> None:
    """One executemany of rows with the same keys. On SQLite it goes to the driver with the columns' bind
    conversions applied here -- once per chunk for a value every row shares (the creation time, the
    user), once per cell otherwise -- instead of SQLAlchemy's per-row parameter processing (a quarter of
    a bulk import's time); the statement and the conversions are SQLAlchemy's own."""
    if not params:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(table.insert(), params)
        return
    keys = list(params[0])
    compiled = table.insert().values({k: bindparam(k) for k in keys}).compile(dialect=conn.dialect)
    order = list(compiled.positiontup or ())
    procs = [table.c[k].type.bind_processor(conn.dialect) for k in order]
    get = itemgetter(*order) if len(order) > 1 else (lambda p: (p[order[0]],))
    convert = [(j, proc) for j, proc in enumerate(procs) if proc is not None]
    if not convert:
        rows: list[Any] = [get(p) for p in params]
    else:
        rows = []
        last: list[Any] = [object()] * len(order)
        done: list[Any] = [None] * len(order)
        for p in params:
            out = list(get(p))
            for j, proc in convert:
                v = out[j]
                if v is None:
                    continue
                if v is last[j]:
                    out[j] = done[j]
                else:
                    last[j] = v
                    out[j] = done[j] = proc(v)
            rows.append(tuple(out))
    conn.exec_driver_sql(str(compiled), rows)
