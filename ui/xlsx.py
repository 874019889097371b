"""Excel files the UI hands out: list exports and an entity's import template.

Exports hold real cells -- numbers as numbers, dates as dates (``yyyy-mm-dd``), date-times as date-times --
under a bold, frozen header, with columns as wide as their longest text (a Chinese character counts two).
The import template has the entity's importable columns labelled in the session language, required ones
marked with ``*``, each select's options as a drop-down (a data validation list), and a second sheet of
notes: per column what it takes (dates as ``2026-12-01``/``2026/12/1``/``2026年12月1日`` or a date cell,
the options, links by number or name) and an example value.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable
from typing import Any

from runtime.model import EntityDef, FieldDef, pick

from .i18n import tr

DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
MIN_WIDTH, MAX_WIDTH = 6, 50
WIDTH_SAMPLE = 2000  # rows looked at for the widths


def text_width(v: Any) -> int:
    if v is None:
        return 0
    if isinstance(v, dt.datetime):
        return 16
    if isinstance(v, dt.date):
        return 10
    s = str(v)
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in s)


def widths(header: list[str], rows: Iterable[list[Any]]) -> list[int]:
    out = [text_width(h) for h in header]
    for n, r in enumerate(rows):
        if n >= WIDTH_SAMPLE:
            break
        for j, v in enumerate(r[:len(out)]):
            out[j] = max(out[j], text_width(v))
    return [min(MAX_WIDTH, max(MIN_WIDTH, w + 2)) for w in out]


def _sheet(wb: Any, title: str, header: list[str], rows: list[list[Any]]) -> Any:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(title[:31] or "data")
    for j, w in enumerate(widths(header, rows), 1):
        ws.column_dimensions[get_column_letter(j)].width = w
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    head = []
    for h in header:
        c = WriteOnlyCell(ws, value=h)
        c.font = bold
        head.append(c)
    ws.append(head)
    for r in rows:
        out: list[Any] = []
        for v in r:
            if isinstance(v, (dt.date, dt.datetime)):
                c = WriteOnlyCell(ws, value=v)
                c.number_format = DATETIME_FORMAT if isinstance(v, dt.datetime) else DATE_FORMAT
                out.append(c)
            else:
                out.append(v)
        ws.append(out)
    return ws


def export_bytes(title: str, header: list[str], rows: list[list[Any]]) -> bytes:
    import openpyxl
    wb = openpyxl.Workbook(write_only=True)
    _sheet(wb, title, header, rows)
    bio = io.BytesIO()
    wb.save(bio)
    return bio.getvalue()


def _example(f: FieldDef, lang: str) -> Any:
    if f.type == "select" and f.options:
        return pick(f.options[0].label, lang) or f.options[0].value
    if f.type == "multiselect" and f.options:
        return pick(f.options[0].label, lang) or f.options[0].value
    if f.type == "date":
        return dt.date(2026, 12, 1)
    if f.type == "datetime":
        return dt.datetime(2026, 12, 1, 8, 30)
    if f.type in ("integer", "decimal"):
        return 10
    if f.type == "boolean":
        return "是" if lang == "zh" else "yes"
    if f.type == "link":
        return tr("template_link", lang)
    return pick(f.label, lang)


def _note(f: FieldDef, lang: str) -> str:
    parts = [tr("template_required", lang)] if f.required else []
    if f.type == "date":
        parts.append(tr("template_date", lang))
    elif f.type in ("select", "multiselect"):
        parts.append(" / ".join(pick(o.label, lang) or o.value for o in f.options))
    elif f.type == "link":
        parts.append(tr("template_link", lang))
    elif f.help:
        parts.append(pick(f.help, lang))
    return "; ".join(p for p in parts if p)


def template_bytes(ent: EntityDef, fields: list[FieldDef], lang: str) -> bytes:
    """The import template of ``ent``: one column per importable field, in the session language."""
    import openpyxl
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = (pick(ent.title, lang) or ent.name)[:31]
    header = [pick(f.label, lang) + (" *" if f.required else "") for f in fields]
    ws.append(header)
    for j, f in enumerate(fields, 1):
        col = get_column_letter(j)
        ws[f"{col}1"].font = Font(bold=True)
        ws.column_dimensions[col].width = min(MAX_WIDTH, max(MIN_WIDTH, text_width(header[j - 1]) + 4, 14))
        if f.type == "select" and f.options:
            labels = [(pick(o.label, lang) or o.value).replace(",", " ").replace('"', "'") for o in f.options]
            formula = '"' + ",".join(labels) + '"'
            if len(formula) <= 255:  # Excel's limit for a list typed into the rule
                dv = DataValidation(type="list", formula1=formula, allow_blank=not f.required)
                dv.add(f"{col}2:{col}10001")
                ws.add_data_validation(dv)
    ws.freeze_panes = "A2"
    notes = wb.create_sheet(tr("template_notes", lang)[:31])
    notes.append([tr("field", lang), tr("template_notes", lang), tr("template_example", lang)])
    notes["A1"].font = notes["B1"].font = notes["C1"].font = Font(bold=True)
    for n, f in enumerate(fields, 2):
        notes.append([pick(f.label, lang), _note(f, lang), _example(f, lang)])
        if f.type in ("date", "datetime"):
            notes[f"C{n}"].number_format = DATE_FORMAT if f.type == "date" else DATETIME_FORMAT
    notes.column_dimensions["A"].width = 20
    notes.column_dimensions["B"].width = 60
    notes.column_dimensions["C"].width = 24
    bio = io.BytesIO()
    wb.save(bio)
    return bio.getvalue()


def read_rows(data: bytes) -> list[list[Any]]:
    """The cells of an .xlsx's first sheet, row by row (values only: a formula's saved result).

    Read with python-calamine (Rust, ~15x openpyxl's read-only mode) where it is installed, its cells
    made what openpyxl gives: a whole number as ``int``, a date cell as a ``datetime`` at midnight, an
    empty cell as None; openpyxl otherwise."""
    try:
        from python_calamine import CalamineWorkbook
    except ImportError:  # pragma: no cover - a dependency; openpyxl reads the same cells, slower
        return _read_openpyxl(data)
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheet = book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - a Rust panic on a broken file is a BaseException: still a bad file
        raise ValueError("unreadable xlsx") from exc
    return [[_cell(v) for v in r] for r in sheet]


def _cell(v: Any) -> Any:
    cls = v.__class__
    if cls is str:
        return v if v else None
    if cls is float:
        return int(v) if v.is_integer() and -2 ** 53 < v < 2 ** 53 else v
    if cls is dt.date:
        return dt.datetime(v.year, v.month, v.day)
    return v


def _read_openpyxl(data: bytes) -> list[list[Any]]:
    import openpyxl
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        return [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
    finally:
        wb.close()
