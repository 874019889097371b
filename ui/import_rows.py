"""Spreadsheet rows into records: cells to API input, then ``Records.create_many`` (one validation path).

The cells of a row become what a client would send to ``POST /api/<app>/<entity>`` (each field type
converts its own cells, ``FieldType.from_cell``: Chinese and Excel serial dates, option labels, yes/no
words; a link cell by id, by the linked record's number or by its title). The rows then go through
``Records.create_many``, which checks every one exactly as ``Records.create`` does; its errors are
reported by spreadsheet row (the header is row 1) and field label. A link cell naming no record, or more
than one, is that row's error too, said as such ("no record is called X", "several are: use the number")
where the API, which takes ids only, would say "should be a record id".

What an import triggers is what creating the records one by one through the API would: series numbers,
defaults, history entries (``via: import``), roll-ups, and the ``record.created`` event (rules, outbox,
connectors) per record -- inside the import's one transaction, all or nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import or_, select

from runtime import permissions
from runtime.bulk import BulkFailed, gc_paused
from runtime.errors import RecordError
from runtime.model import EntityDef
from runtime.validation import link_reader

from .dashboards import title_column
from .i18n import tr
from .values import label_of

MAX_ERRORS = 200
MEMO_CELLS = 2000  # distinct cells remembered per column (selects, yes/no, dates repeat; codes do not)
_MISS = object()


class Cells:
    """Turns file rows into API input for one entity, resolving link titles once per distinct text."""

    def __init__(self, rt: Any, ent: EntityDef, mapping: list[str], lang: str, actor: Any = None):
        self.rt, self.ent, self.mapping, self.lang, self.actor = rt, ent, mapping, lang, actor
        self.found: dict[str, dict[str, Any]] = {}
        self.problems: dict[str, dict[str, str]] = {}  # field -> text -> message (no record, several)
        self.columns = [(j, name, ent.fields[name],
                         (lambda text, name=name: self._lookup(name, text)) if ent.fields[name].type == "link" else None)
                        for j, name in enumerate(mapping) if name]
        self.memo: dict[int, dict[Any, Any]] = {j: {} for j, *_ in self.columns}

    def row(self, raw: Any) -> tuple[dict[str, Any], dict[str, str]]:
        """The input for one file row (empty cells left out) and its cell problems {field: message}."""
        data: dict[str, Any] = {}
        bad: dict[str, str] = {}
        n = len(raw)
        for j, name, f, lookup in self.columns:
            if j >= n:
                continue
            cell = raw[j]
            if cell is None or (cell.__class__ is str and not cell.strip()):
                continue
            if lookup is None:  # the same cell text in the same column converts the same way: once
                memo = self.memo[j]
                key = cell if cell.__class__ is str else (cell.__class__, cell)  # a text is its own key
                v = memo.get(key, _MISS)
                if v is _MISS:
                    v = f.ft.from_cell(f, cell, None)
                    if len(memo) < MEMO_CELLS and not isinstance(v, (list, dict)):
                        memo[key] = v
            else:
                v = f.ft.from_cell(f, cell, lookup)
            if v is None:
                continue
            data[name] = v
            if lookup is not None and v.__class__ is str and v in self.problems.get(name, ()):
                bad[name] = self.problems[name][v]
        return data, bad

    def _lookup(self, name: str, text: str) -> Any:
        """A linked record's id by its number (``name``) or title; the text itself when none or several."""
        cache = self.found.setdefault(name, {})
        if text not in cache:
            f = self.ent.fields[name]
            assert f.to is not None
            target = self.rt.apps[self.ent.app].entities[f.to]
            table = self.rt.tables.for_entity(target)
            cols = {c for c in ("name" if target.naming else "", title_column(target)) if c and c != "id"}
            ids: list[Any] = []
            if cols:
                q = select(table.c.id).where(or_(*(table.c[c] == text for c in sorted(cols)))).limit(2)
                params: dict[str, Any] = {}
                reader = link_reader(self.actor)
                if reader is not None:  # only records the importer may read are found (and counted)
                    flt = permissions.read_filter(reader, target, table, self.rt.sql)
                    if flt is not None:
                        q, params = q.where(flt), permissions.filter_params(reader, target)
                with self.rt.db.read(snapshot=False) as conn:
                    ids = list(conn.execute(q, params).scalars())
            cache[text] = ids[0] if len(ids) == 1 else text
            if len(ids) != 1:
                key = "link_ambiguous" if ids else "link_unknown"
                self.problems.setdefault(name, {})[text] = tr(key, self.lang, value=text)
        return cache[text]


def prepare(rt: Any, ent: EntityDef, mapping: list[str], rows: list[list[Any]], lang: str, actor: Any = None
            ) -> tuple[list[dict[str, Any]], list[int], dict[int, dict[str, str]]]:
    """The non-empty rows as API input, their spreadsheet row numbers, and cell problems by row number."""
    cells = Cells(rt, ent, mapping, lang, actor)
    items: list[dict[str, Any]] = []
    rownums: list[int] = []
    problems: dict[int, dict[str, str]] = {}
    for i, raw in enumerate(rows):
        data, bad = cells.row(raw)
        if not data:
            continue
        items.append(data)
        rownums.append(i + 2)
        if bad:
            problems[i + 2] = bad
    return items, rownums, problems


def run(rt: Any, actor: Any, ent: EntityDef, rows: list[list[Any]], mapping: list[str],
        progress: Callable[[int], None] | None = None) -> tuple[list[dict[str, Any]], int]:
    """Import ``rows`` all or nothing: ([], created) or (row errors, 0)."""
    lang = actor.language
    importer = actor.using("import")
    with gc_paused():
        items, rownums, problems = prepare(rt, ent, mapping, rows, lang, importer)
    try:
        with rt.db.write() as conn:
            ids = rt.records.create_many(importer, ent, items, conn, progress=progress)
    except BulkFailed as exc:
        errors: list[dict[str, Any]] = []
        for index, err in exc.rows:
            errors += row_errors(err, ent, rownums[index], lang, problems.get(rownums[index], {}))
        return errors[:MAX_ERRORS], 0
    except RecordError as exc:  # the whole import refused (no right to create, a concurrent unique value)
        return row_errors(exc, ent, 0, lang, {}), 0
    return [], len(ids)


def row_errors(exc: RecordError, ent: EntityDef, rownum: int, lang: str,
               cells: dict[str, str]) -> list[dict[str, Any]]:
    """One report line per field error of a row: {row, field (its label), message}."""
    if not exc.fields:
        return [{"row": rownum, "field": "", "message": exc.message}]
    out = []
    for k, msg in exc.fields.items():
        base = k.split("[")[0].split(".")[0]
        out.append({"row": rownum, "field": label_of(ent, base, lang) if base in ent.fields else k,
                    "message": cells.get(k, msg)})
    return out
