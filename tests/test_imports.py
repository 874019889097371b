"""Spreadsheet imports take the API's one validation path; Excel dates, links by number or name, the
template, and exports with real cells. One database and app for the module (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from runtime import clock
from runtime.auth import Actor
from runtime.bulk import BulkFailed

from .conftest import fresh_database
from .test_ui_pages import _login
from .ui_support import build

PLANT = """
app: plant
title: {zh: 工厂, en: Plant}
roles: [clerk]
entities:
  customer:
    title: {zh: 客户, en: Customer}
    naming: "C{####}"
    title_field: cname
    fields:
      cname: {type: text, label: {zh: 名称, en: Name}, required: true}
      region: {type: text, label: {zh: 区域, en: Region}}
    permissions:
      clerk: {read: "region != 'secret'"}
  order:
    title: {zh: 订单, en: Order}
    naming: "SO{YYYY}-{####}"
    fields:
      code: {type: text, label: {zh: 编号, en: Code}, required: true, unique: true}
      customer: {type: link, to: customer, label: {zh: 客户, en: Customer}, required: true}
      qty: {type: integer, label: {zh: 数量, en: Qty}, required: true, min: 1}
      price: {type: decimal, label: {zh: 单价, en: Price}, scale: 2}
      amount: {type: computed, label: {zh: 金额, en: Amount}, returns: decimal, expr: "qty * coalesce(price, 0)"}
      kind:
        type: select
        label: {zh: 类型, en: Kind}
        default: "'std'"
        options: [{value: std, label: {zh: 标准, en: Standard}}, {value: rush, label: {zh: 加急, en: Rush}}]
      due: {type: date, label: {zh: 交期, en: Due}}
      ship: {type: date, label: {zh: 发货日, en: Ship}, check: "ship <= due",
             check_message: {zh: 发货日不能晚于交期, en: Ships after it is due}}
      lines:
        type: table
        label: {zh: 明细, en: Lines}
        fields:
          product: {type: text, label: {zh: 产品, en: Product}, required: true}
          n: {type: integer, label: {zh: 件数, en: Pieces}, required: true, min: 1}
    list: {columns: [name, code, customer, qty, price, kind, due]}
    permissions:
      clerk: {read: true, create: true}
"""
COLUMNS = ["code", "customer", "qty", "price", "kind", "due", "ship"]
HEADER = "编号,客户,数量,单价,类型,交期,发货日"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, str]]:
    tmp = tmp_path_factory.mktemp("imports")
    for url in fresh_database(tmp):
        rt, app = build(url, tmp, texts={"plant.yaml": PLANT})
        rt.users.add("clerk", "clerk-pass-1", ["clerk"])
        token = rt.users.create_token("clerk")
        sys_actor = Actor("seed", frozenset({"admin"}), via="system")
        cust = rt.entity("plant", "customer")
        for name, region in (("宁波精密", "east"), ("苏州精工", "east"), ("宁波精密", "west"), ("机密客户", "secret")):
            rt.records.create(sys_actor, cust, {"cname": name, "region": region})
        yield rt, app, token
        rt.close()


def _orders(rt: Any) -> int:
    with rt.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(rt.tables["plant.order"])).scalar_one())


def _upload(c: Any, tok: str, name: str, data: bytes) -> Any:
    r = c.post("/a/plant/order/import", data={"csrf_token": tok, "step": "upload", "file": (io.BytesIO(data), name)},
               content_type="multipart/form-data")
    assert r.status_code == 200, r.get_data(as_text=True)[:800]
    key = re.search(r'name="key" value="([^"]+)"', r.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    return c.post("/a/plant/order/import", data={"csrf_token": tok, "step": "run", "key": key, "map": COLUMNS})


def _report(html: str) -> dict[int, set[tuple[str, str]]]:
    body = html.split('id="import-errors"', 1)[1].split("</table>", 1)[0]
    out: dict[int, set[tuple[str, str]]] = {}
    for row, field, msg in re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", body):
        out.setdefault(int(row), set()).add((field, msg.replace("&#39;", "'").replace("&#34;", '"')))
    return out


# the same rows, as API bodies; every field given as the text a CSV cell holds
BAD_ROWS: list[dict[str, str]] = [
    {"code": "A1", "customer": "1", "qty": "5", "price": "2.50", "due": "2026-12-01"},     # fine
    {"customer": "2", "qty": "0"},                                                          # required, min
    {"code": "A1", "customer": "2", "qty": "1"},                                            # unique (row 2 has it)
    {"code": "A3", "customer": "999", "qty": "1"},                                          # no such record
    {"code": "A4", "customer": "4", "qty": "1"},                                            # one the clerk may not read
    {"code": "A5", "customer": "1", "qty": "1", "kind": "bogus"},                           # not an option
    {"code": "A6", "customer": "1", "qty": "1", "due": "2026-13-45"},                       # not a date
    {"code": "A7", "customer": "1", "qty": "1", "due": "2026-12-01", "ship": "2026-12-09"},  # check rule
    {"code": "A8", "customer": "1", "qty": "abc", "price": "1.234"},                        # integer, scale
    {"code": "A9", "customer": "2", "qty": "3"},                                            # fine
    {"code": "B1", "customer": "1", "qty": "abc", "kind": "bogus", "due": "2026-13-45"},    # the same bad
]                                                                       # inputs again: the same messages


def test_import_reports_the_errors_the_api_gives_for_the_same_rows(env: tuple[Any, Any, str]) -> None:
    rt, app, token = env
    ent = rt.entity("plant", "order")
    labels = {f.name: f.label["zh"] for f in ent.fields.values()}
    c = app.test_client()
    tok = _login(c)
    before = _orders(rt)
    lines = [HEADER] + [",".join(r.get(k, "") for k in COLUMNS) for r in BAD_ROWS]
    r = _upload(c, tok, "orders.csv", ("\n".join(lines) + "\n").encode("utf-8"))
    assert r.status_code == 422
    imported = _report(r.get_data(as_text=True))
    assert _orders(rt) == before  # all or nothing
    api = app.test_client()
    expected: dict[int, set[tuple[str, str]]] = {}
    for i, body in enumerate(BAD_ROWS):
        resp = api.post("/api/plant/order", json={k: v for k, v in body.items() if v != ""},
                        headers={"Authorization": f"Bearer {token}"})
        if resp.status_code == 201:
            continue
        assert resp.status_code in (400, 403, 422), resp.get_data(as_text=True)
        fields = resp.get_json()["error"]["fields"]
        expected[i + 2] = {(labels[k], m) for k, m in fields.items()}
    assert sorted(expected) == [3, 4, 5, 6, 7, 8, 9, 10, 12]
    assert imported == expected
    assert _orders(rt) == before + 2


def test_import_links_by_number_or_name_and_chinese_excel_dates(env: tuple[Any, Any, str]) -> None:
    import openpyxl
    rt, app, _ = env
    seen: list[Any] = []
    rt.hooks.subscribe("record.created", lambda ev: seen.append(ev) if ev.entity == "order" else None)
    c = app.test_client()
    tok = _login(c)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER.split(","))
    ws.append(["X1", "C0002", 1, 2.5, "加急", "2026/12/1", None])          # by number; a Chinese date
    ws.append(["X2", "苏州精工", 2, None, "标准", "2026年12月1日", None])   # by name
    ws.append(["X3", 1, 3, None, None, 46357, 46350])                      # by id; Excel serial dates
    ws.append(["X4", "2", 4, None, None, dt.datetime(2026, 12, 1), dt.date(2026, 11, 30)])  # date cells
    bio = io.BytesIO()
    wb.save(bio)
    first = _orders(rt)
    r = _upload(c, tok, "orders.xlsx", bio.getvalue())
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "已导入 4 条记录" in html, html[-2000:]
    table = rt.tables["plant.order"]
    with rt.db.read() as conn:
        rows = {r_["code"]: r_ for r_ in conn.execute(select(table).where(table.c.code.like("X%"))).mappings()}
        hist = rt.tables.system["jig_history"]
        vias = conn.execute(select(hist.c.via).where(hist.c.entity == "order", hist.c.action == "create",
                                                     hist.c.record_id.in_([r_["id"] for r_ in rows.values()]))).scalars().all()
    assert [rows[k]["customer"] for k in ("X1", "X2", "X3", "X4")] == [2, 2, 1, 2]
    assert {rows[k]["due"] for k in rows} == {dt.date(2026, 12, 1)}
    assert rows["X3"]["ship"] == dt.date(2026, 11, 24) and rows["X4"]["ship"] == dt.date(2026, 11, 30)
    assert rows["X1"]["kind"] == "rush" and rows["X2"]["kind"] == "std" and rows["X3"]["kind"] == "std"  # a default
    year = clock.now().year
    numbers = sorted(rows[k]["name"] for k in rows)
    assert all(n.startswith(f"SO{year}-") for n in numbers) and len(set(numbers)) == 4
    assert vias == ["import"] * 4 and len(seen) == 4 and seen[0].actor.via == "import"
    assert _orders(rt) == first + 4
    # an ambiguous name is that row's error, said as such
    r = _upload(c, tok, "o.csv", f"{HEADER}\nY1,宁波精密,1,,,,\nY2,没有这个,1,,,,\nY3,机密客户,1,,,,\n".encode())
    report = _report(r.get_data(as_text=True))
    assert r.status_code == 422 and report[2] == {("客户", "有多条记录叫「宁波精密」，请填编号")}
    assert report[3] == {("客户", "找不到编号或名称为「没有这个」的记录")} and _orders(rt) == first + 4
    assert report[4] == {("客户", "找不到编号或名称为「机密客户」的记录")}  # one the clerk may not read


def test_template_and_export_hold_real_cells(env: tuple[Any, Any, str]) -> None:
    import openpyxl
    rt, app, _ = env
    c = app.test_client()
    _login(c)
    r = c.get("/a/plant/order/import/template.xlsx")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    wb = openpyxl.load_workbook(io.BytesIO(r.data))
    ws = wb.worksheets[0]
    header = [cell.value for cell in ws[1]]
    assert header == ["编号 *", "客户 *", "数量 *", "单价", "类型", "交期", "发货日"] and ws.freeze_panes == "A2"
    assert ws["A1"].font.b and [dv.formula1 for dv in ws.data_validations.dataValidation] == ['"标准,加急"']
    notes = {row[0]: row[1:] for row in wb.worksheets[1].iter_rows(min_row=2, values_only=True)}
    assert "2026年12月1日" in notes["交期"][0] and isinstance(notes["交期"][1], dt.datetime)
    assert "import-template" in c.get("/a/plant/order/import").get_data(as_text=True)
    c.get("/lang/en")
    wb = openpyxl.load_workbook(io.BytesIO(c.get("/a/plant/order/import/template.xlsx").data))
    assert [cell.value for cell in wb.worksheets[0][1]][:3] == ["Code *", "Customer *", "Qty *"]
    c.get("/lang/zh")
    # export: dates and numbers as cells, a bold frozen header, widths, select labels, link names
    r = c.get("/a/plant/order/export.xlsx?code=X1")
    ws = openpyxl.load_workbook(io.BytesIO(r.data)).worksheets[0]
    head = [cell.value for cell in ws[1]]
    row = dict(zip(head, [cell for cell in ws[2]], strict=True))
    assert ws.freeze_panes == "A2" and ws["A1"].font.b and ws.column_dimensions["A"].width >= 10
    assert row["交期"].is_date and row["交期"].value.date() == dt.date(2026, 12, 1)
    assert row["数量"].value == 1 and row["单价"].value == 2.5 and row["单价"].data_type == "n"
    assert row["类型"].value == "加急" and "苏州精工" in str(row["客户"].value)
    data = c.get("/a/plant/order/export.csv?code=X1").data
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[1][rows[0].index("交期")] == "2026-12-01"


def test_create_many_is_create_for_many_with_child_rows(env: tuple[Any, Any, str]) -> None:
    rt, _, _ = env
    ent = rt.entity("plant", "order")
    clerk = Actor("clerk", frozenset({"clerk"}), via="api")
    items = [{"code": f"M{i}", "customer": 2, "qty": i + 1, "lines": [{"product": "轴", "n": 2}, {"product": "套", "n": i + 1}]}
             for i in range(3)]
    with rt.db.write() as conn:
        ids = rt.records.create_many(clerk, ent, items, conn)
    one = rt.records.create(clerk, ent, {"code": "M9", "customer": 2, "qty": 1, "lines": [{"product": "轴", "n": 2}]})
    got = [rt.records.get(clerk, ent, i) for i in ids]
    assert [g["code"] for g in got] == ["M0", "M1", "M2"] and [g["amount"] for g in got] == [one["amount"]] * 3
    assert [[ln["n"] for ln in g["lines"]] for g in got] == [[2, 1], [2, 2], [2, 3]]
    assert len({ln["id"] for g in got for ln in g["lines"]}) == 6
    assert set(got[0]) == set(one) and got[0]["version"] == one["version"] == 1
    h_many, h_one = rt.records.history(clerk, ent, ids[0])[0], rt.records.history(clerk, ent, one["id"])[0]
    assert set(h_many["changes"]) == set(h_one["changes"]) and h_many["changes"]["lines"][1][0]["id"] > 0
    # all or nothing: one bad row (a child row too) and nothing is stored, the numbers drawn go back
    count = _orders(rt)
    bad = [{"code": "N1", "customer": 2, "qty": 1}, {"code": "N2", "customer": 2, "qty": 1, "lines": [{"n": 0}]}]
    with pytest.raises(BulkFailed) as err, rt.db.write() as conn:
        rt.records.create_many(clerk, ent, bad, conn)
    assert [(i, sorted(e.fields)) for i, e in err.value.rows] == [(1, ["lines[0].n", "lines[0].product"])]
    assert _orders(rt) == count
    nxt = rt.records.create(clerk, ent, {"code": "N3", "customer": 2, "qty": 1})["name"]
    assert int(nxt[-4:]) == int(one["name"][-4:]) + 1
    # the history entry of a bulk create is the one create writes (the same JSON form of each value)
    body = {"customer": 2, "qty": 3, "price": "2.50", "kind": "rush", "due": "2026-12-01", "ship": "2026-11-30"}
    with rt.db.write() as conn:
        [hid] = rt.records.create_many(clerk, ent, [{"code": "H1", **body}], conn)
    hone = rt.records.create(clerk, ent, {"code": "H2", **body})

    def diff(record_id: int) -> dict[str, Any]:
        return {k: v for k, v in rt.records.history(clerk, ent, record_id)[0]["changes"].items()
                if k not in ("code", "name")}
    assert diff(hid) == diff(hone["id"]) and diff(hid)["price"] == [None, "2.50"]


def test_xlsx_cells_read_as_openpyxl_reads_them() -> None:
    """The fast .xlsx reader (python-calamine) hands the import the cells openpyxl would."""
    import openpyxl

    from ui import xlsx
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["编号", "数", "价", "日", "时", "是", "空", "尾"])
    ws.append(["A1", 12, 2.5, dt.date(2026, 12, 1), dt.datetime(2026, 12, 1, 8, 30), True, None, "x"])
    ws.append([" B2 ", -3, 1e-3, dt.datetime(2026, 1, 5), None, False, "", 46357])
    bio = io.BytesIO()
    wb.save(bio)
    assert xlsx.read_rows(bio.getvalue()) == xlsx._read_openpyxl(bio.getvalue())
    with pytest.raises(ValueError):
        xlsx.read_rows(b"PK\x03\x04 not a workbook")


def test_the_create_plan_answers_as_the_general_path(env: tuple[Any, Any, str]) -> None:
    """runtime/createplan.py: the fast coercion of ``Records.prepare_values`` gives the values and the errors,
    in order, the general path gives (``_strip_system``, ``coerce_input``, ``_refuse_readonly``); inputs it
    does not serve (system columns, computed, unknown fields) take the general path; the plan's decisions."""
    from runtime import createplan
    from runtime.errors import FieldErrors
    from runtime.records import _strip_system
    from runtime.validation import coerce_input
    rt, _app, _token = env
    order = rt.entity("plant", "order")
    clerk = Actor("clerk", frozenset({"clerk"}), via="import")
    bodies: list[dict[str, Any]] = [
        {"code": "X1", "customer": 1, "qty": "3", "price": "2.5", "due": "2026-12-01", "kind": "rush"},
        {"qty": "abc", "price": "1.234", "kind": "bogus", "due": "2026-13-45", "code": "  "},
        {"code": "X2", "lines": [{"product": "", "n": "0"}, {"product": "p", "n": "2", "id": 7}], "qty": "x"},
        {"code": "X3", "amount": "5", "qty": "1"},                       # computed: the general path
        {"id": 3, "qty": "-", "state": "x", "bogus": 1, "code": "X4"},   # system and unknown keys
    ]
    memo: dict[Any, Any] = {}
    for body in bodies * 2:  # the second time from the memo
        fast_errors, slow_errors = FieldErrors(), FieldErrors()
        fast = rt.records.prepare_values(clerk, order, dict(body), fast_errors, memo=memo)
        slow = coerce_input(order, _strip_system(order, dict(body), slow_errors, "zh", creating=True), slow_errors,
                            "zh")
        rt.records._refuse_readonly(clerk, order, slow, slow_errors, "zh", creating=True)
        assert fast == slow and list(fast_errors.errors.items()) == list(slow_errors.errors.items()), body
    plan = createplan.plan(order)
    assert plan.needs_context and plan.unscoped(clerk, order) and plan.child_fields == order.child_fields()
    assert [(f.name, c) for f, c in plan.defaults] == [("kind", "std")]
    customer = rt.entity("plant", "customer")
    assert not createplan.plan(customer).unscoped(clerk, customer)  # the clerk reads only some customers
