"""Aggregates over child rows through the API, and checks re-evaluated only when their inputs change."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from runtime import api
from runtime.errors import DefinitionErrors
from runtime.loader import load_texts

from .conftest import ApiClient

NOW = dt.datetime(2026, 11, 20, 10, 30)

QUALITY = """
app: quality
entities:
  batch:
    fields:
      code: {type: text, required: true}
      grade: {type: select, options: [pass, fail]}
      remark: {type: text, check: "state == 'open' or remark != 'hold'"}
    workflow:
      initial: open
      states: {open: {}, closed: {}}
      transitions: {close: {from: open, to: closed}}
  lot:
    fields:
      serial: {type: text, required: true}
      note: {type: text}
      max_qty: {type: integer}
      batch:
        type: link
        to: batch
        check: "batch.grade != 'fail'"
        check_message: {zh: 该批次不合格, en: The batch failed}
      total: {type: computed, expr: "sum(materials.qty)"}
      failed: {type: computed, expr: "any(materials, batch.grade == 'fail')"}
      qty_ok:
        type: computed
        expr: "all(materials, qty <= parent.max_qty)"
      materials:
        type: table
        fields:
          batch:
            type: link
            to: batch
            check: "batch.grade != 'fail'"
          qty: {type: integer, check: "qty > 0"}
      checked_total:
        type: integer
        check: "checked_total == sum(materials.qty)"
      inspected: {type: computed, expr: "count(inspection.lot)"}
      all_ok: {type: computed, expr: "all(inspection.lot, result == 'ok')"}
  inspection:
    fields:
      lot: {type: link, to: lot, required: true}
      result: {type: select, options: [ok, ng]}
rules:
  big_lot:
    on: {event: created, entity: lot}
    when: "sum(materials.qty) >= 10 and any(materials, qty > 5)"
    do:
      - set: {note: "'big'"}
"""


@pytest.fixture
def quality(make_runtime: Any) -> tuple[Any, ApiClient]:
    rt = make_runtime(texts={"quality.yaml": QUALITY}, extensions=True)
    app = api.create_app(rt, {"TESTING": True})
    rt.users.add("admin", "secret-pass", ["admin"])
    return rt, ApiClient(app.test_client(), rt.users.create_token("admin"))


def _patch(c: ApiClient, entity: str, record_id: int, body: dict[str, Any]) -> Any:
    version = c.get(f"/api/quality/{entity}/{record_id}").get_json()["version"]
    return c.patch(f"/api/quality/{entity}/{record_id}", {**body, "version": version})


def test_aggregates_and_checks_that_read_links(quality: tuple[Any, ApiClient]) -> None:
    rt, c = quality
    b1 = c.post("/api/quality/batch", {"code": "B1", "grade": "pass"}).get_json()["id"]
    b2 = c.post("/api/quality/batch", {"code": "B2", "grade": "pass"}).get_json()["id"]
    r = c.post("/api/quality/lot", {"serial": "L1", "batch": b1, "max_qty": 5, "checked_total": 7,
                                    "materials": [{"batch": b1, "qty": 3}, {"batch": b2, "qty": 4}]})
    assert r.status_code == 201, r.get_json()
    lot = r.get_json()
    assert (lot["total"], lot["failed"], lot["qty_ok"]) == (7, False, True)
    empty = c.post("/api/quality/lot", {"serial": "L2", "max_qty": 1, "checked_total": 0}).get_json()
    assert (empty["total"], empty["failed"], empty["qty_ok"]) == (0, False, True)  # no rows: 0, false, true

    # a check with an aggregate runs on create and when its input (the table) changes
    r = c.post("/api/quality/lot", {"serial": "L3", "checked_total": 1, "materials": [{"batch": b1, "qty": 2}]})
    assert r.status_code == 422 and "checked_total" in r.get_json()["error"]["fields"]
    r = _patch(c, "lot", lot['id'], {"materials": [{"batch": b1, "qty": 3}]})
    assert r.status_code == 422, r.get_json() and "checked_total" in r.get_json()["error"]["fields"]

    # the batch is re-graded: every check reading it now fails, but only runs when its inputs change
    assert _patch(c, "batch", b2, {"grade": "fail"}).status_code == 200
    assert _patch(c, "batch", b1, {"grade": "fail"}).status_code == 200
    r = _patch(c, "lot", lot['id'], {"note": "re-packed"})
    assert r.status_code == 200, r.get_json()  # was 422: the unrelated edit re-ran the link checks
    assert r.get_json()["failed"] is True
    # the link itself or the row changes: its check runs
    b3 = c.post("/api/quality/batch", {"code": "B3", "grade": "pass"}).get_json()["id"]
    r = _patch(c, "lot", lot['id'], {"batch": b3})
    assert r.status_code == 200, r.get_json()
    r = _patch(c, "lot", lot['id'], {"batch": b2})
    assert r.status_code == 422 and set(r.get_json()["error"]["fields"]) == {"batch"}
    rows = c.get(f"/api/quality/lot/{lot['id']}").get_json()["materials"]
    # a row is re-checked on what changed in it: its qty here (its failed batch is not re-checked)
    r = _patch(c, "lot", lot["id"], {"materials": [rows[0], {**rows[1], "qty": 5}], "checked_total": 8})
    assert r.status_code == 200, r.get_json()
    r = _patch(c, "lot", lot["id"], {"materials": [rows[0], {**rows[1], "qty": 5, "batch": b3}]})
    assert r.status_code == 200, r.get_json()
    rows = r.get_json()["materials"]
    r = _patch(c, "lot", lot["id"], {"materials": [{**rows[0], "batch": b2}, rows[1]]})
    assert r.status_code == 422 and set(r.get_json()["error"]["fields"]) == {"materials[0].batch"}
    r = _patch(c, "lot", lot["id"], {"materials": [*rows, {"batch": b2, "qty": 1}], "checked_total": 9})
    assert r.status_code == 422 and set(r.get_json()["error"]["fields"]) == {"materials[2].batch"}  # a new row
    r = c.post("/api/quality/lot", {"serial": "L4", "checked_total": 0, "batch": b2})
    assert r.status_code == 422  # on create every check runs

    # a check that reads the state runs when a transition moves it
    held = c.post("/api/quality/batch", {"code": "B9", "grade": "pass", "remark": "hold"}).get_json()
    r = c.post(f"/api/quality/batch/{held['id']}/transitions/close", {"version": held["version"]})
    assert r.status_code == 422 and set(r.get_json()["error"]["fields"]) == {"remark"}

    # a rule's condition reads the event's rows
    big = c.post("/api/quality/lot", {"serial": "L5", "checked_total": 10,
                                      "materials": [{"batch": b3, "qty": 6}, {"batch": b3, "qty": 4}]})
    small = c.post("/api/quality/lot", {"serial": "L6", "checked_total": 10,
                                        "materials": [{"batch": b3, "qty": 5}, {"batch": b3, "qty": 5}]})
    assert c.get(f"/api/quality/lot/{big.get_json()['id']}").get_json()["note"] == "big"
    assert c.get(f"/api/quality/lot/{small.get_json()['id']}").get_json()["note"] is None

    # over the records that link here (entity.link)
    for result in ("ok", "ng"):
        assert c.post("/api/quality/inspection", {"lot": lot["id"], "result": result}).status_code == 201
    got = c.get(f"/api/quality/lot/{lot['id']}").get_json()
    assert (got["inspected"], got["all_ok"], empty["inspected"], empty["all_ok"]) == (2, False, 0, True)
    got = c.get("/api/quality/lot?inspected__gte=1").get_json()["items"]
    assert [x["serial"] for x in got] == ["L1"]

    # list filters on computed aggregates run in SQL
    got = c.get("/api/quality/lot?total__gte=8&total__lt=10").get_json()["items"]
    assert [x["serial"] for x in got] == ["L1"]
    got = c.get("/api/quality/lot?failed=true").get_json()["items"]
    assert [x["serial"] for x in got] == ["L1"]
    got = c.get("/api/quality/lot?qty_ok=true&sort=serial").get_json()["items"]
    assert [x["serial"] for x in got] == ["L1", "L2"]
    # Python reads at most 2000 records linking here (an empty value beyond); SQL counts them all
    table = rt.tables["quality.inspection"]
    with rt.db.write() as conn:
        conn.execute(table.insert(), [{"lot": empty["id"], "result": "ok", "version": 1, "created_at": NOW,
                                       "updated_at": NOW} for _ in range(2001)])
    assert c.get(f"/api/quality/lot/{empty['id']}").get_json()["inspected"] is None
    got = c.get("/api/quality/lot?inspected__gt=2000").get_json()["items"]
    assert [x["serial"] for x in got] == ["L2"]


@pytest.mark.parametrize(("expr", "message", "hint"), [
    ("sum(materials.code)", "unknown name 'code' in rows of 'lot.materials'", "known names"),
    ("sum(materails.qty)", "sum() works over a child table", "did you mean 'materials'?"),
    ("sum(materials, note)", "sum() adds numbers, but 'note' is a text", "count rows with count()"),
    ("all(materials, qty <= max_qty)", "unknown name 'max_qty'", "write parent.max_qty"),
    ("any(materials.qty)", "any() needs a condition over the rows", ""),
])
def test_aggregate_mistakes_are_located_load_errors(expr: str, message: str, hint: str) -> None:
    text = QUALITY.replace('expr: "sum(materials.qty)"', f'expr: "{expr}"').replace(
        "          qty: {type: integer", "          note: {type: text}\n          qty: {type: integer")
    with pytest.raises(DefinitionErrors) as exc:
        load_texts({"quality.yaml": text})
    found = [e for e in exc.value.errors if message in e.message]
    assert found, [e.message for e in exc.value.errors]
    assert hint in found[0].hint
    assert (found[0].path, found[0].line) == ("entities.lot.fields.total.expr", 23)
