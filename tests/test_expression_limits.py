"""Expressions are bounded at run time (issue 8, item 5).

Each hostile expression below passes the load-time checks (its danger depends
on the values entered), and each must be answered with a 422 naming the field
and the expression -- never a 500, never a hang -- with nothing written.
Runs on SQLite and PostgreSQL (scripts/test.sh runs the suite twice).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from runtime import api, clock, limits
from runtime.core import Runtime
from tests.conftest import BACKEND, ApiClient

APP = """\
app: lim
roles: [clerk]
entities:
  item:
    fields:
      qty: {type: integer, check: "qty ** 16 > 0"}
      price: {type: decimal, scale: 2}
      places: {type: integer}
      note: {type: longtext}
      amount: {type: decimal, scale: 2, default: "price ** 16"}
      memo: {type: longtext, default: "note + note"}
      rounded: {type: decimal, scale: 2, default: "round(price, places)"}
      cube: {type: computed, expr: "qty * qty * qty", returns: integer}
      twice: {type: computed, expr: "cube * 2", returns: integer}
    workflow:
      initial: open
      states:
        open: {}
        done: {final: true}
      transitions:
        close: {from: open, to: done, roles: [clerk], set: {amount: "price ** 16 * 2"}}
    permissions:
      clerk: {read: true, create: true, update: true}
"""


@pytest.fixture
def clerk(make_runtime: Callable[..., Runtime]) -> tuple[Runtime, ApiClient]:
    rt = make_runtime(texts={"lim.yaml": APP})
    app = api.create_app(rt, {"TESTING": True})
    rt.users.add("clerk", "secret-pass", ["clerk"])
    return rt, ApiClient(app.test_client(), rt.users.create_token("clerk"))


def _nothing_stored(c: ApiClient, count: int = 0) -> None:
    r = c.get("/api/lim/item")
    assert r.status_code == 200
    assert len(r.get_json()["items"]) == count


def _refused(r: Any, field: str, source: str) -> dict[str, Any]:
    assert r.status_code == 422, r.get_data(as_text=True)
    err = r.get_json()["error"]
    assert err["code"] == "expression_limit"
    assert source in err["message"] and source in err["fields"][field]
    return err


CASES = [
    # (case, body, field named, expression named, message part)
    ("check_power", {"qty": 100_000}, "qty", "qty ** 16 > 0", "38"),
    ("default_decimal_power", {"qty": 1, "price": "12345.67"}, "amount", "price ** 16", "38"),
    ("default_text_doubling", {"qty": 1, "note": "长" * 6000}, "memo", "note + note", "10000"),
    ("round_places", {"qty": 1, "price": "1.5", "places": 1_000_000}, "rounded", "round(price, places)", "38"),
]


@pytest.mark.parametrize("body,field,source,part", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_values_are_refused_with_422(clerk: tuple[Runtime, ApiClient], body: dict[str, Any], field: str,
                                             source: str, part: str) -> None:
    _, c = clerk
    err = _refused(c.post("/api/lim/item", body), field, source)
    assert part in err["message"]
    _nothing_stored(c)


def test_the_refusal_speaks_english_too(clerk: tuple[Runtime, ApiClient]) -> None:
    _, c = clerk
    r = c.post("/api/lim/item?lang=en", {"qty": 100_000})
    err = _refused(r, "qty", "qty ** 16 > 0")
    assert "went past a limit" in err["message"] and "38 digits" in err["message"]


def test_update_is_refused_and_keeps_the_record(clerk: tuple[Runtime, ApiClient]) -> None:
    _, c = clerk
    made = c.post("/api/lim/item", {"qty": 2, "price": "1.50"})
    assert made.status_code == 201, made.get_data(as_text=True)
    rid = made.get_json()["id"]
    _refused(c.patch(f"/api/lim/item/{rid}", {"qty": 10 ** 9, "version": 1}), "qty", "qty ** 16 > 0")
    after = c.get(f"/api/lim/item/{rid}").get_json()
    assert after["qty"] == 2 and after["version"] == 1
    assert len(c.get(f"/api/lim/item/{rid}/history").get_json()["items"]) == 1


def test_transition_set_is_refused_and_keeps_the_state(clerk: tuple[Runtime, ApiClient]) -> None:
    _, c = clerk
    made = c.post("/api/lim/item", {"qty": 2, "price": "1.00"})
    assert made.status_code == 201, made.get_data(as_text=True)
    rid = made.get_json()["id"]
    assert c.patch(f"/api/lim/item/{rid}", {"price": "99999.00", "version": 1}).status_code == 200
    r = c.post(f"/api/lim/item/{rid}/transitions/close", {"version": 2})
    _refused(r, "amount", "price ** 16 * 2")
    after = c.get(f"/api/lim/item/{rid}").get_json()
    assert after["state"] == "open" and after["version"] == 2 and after["amount"] == "1.00"


def test_steps_are_bounded(clerk: tuple[Runtime, ApiClient], monkeypatch: pytest.MonkeyPatch) -> None:
    # The real bound (limits.MAX_STEPS) needs a very large definition to reach; lower it to show the mechanism.
    _, c = clerk
    monkeypatch.setattr(limits, "MAX_STEPS", 3)
    r = c.post("/api/lim/item", {"qty": 2})
    assert r.status_code == 422, r.get_data(as_text=True)
    err = r.get_json()["error"]
    assert err["code"] == "expression_limit" and "3" in err["message"] and err["fields"]
    monkeypatch.undo()
    _nothing_stored(c)


def test_a_computed_field_past_a_bound_is_refused_on_write(clerk: tuple[Runtime, ApiClient]) -> None:
    # qty**16 fits for qty = 10**2 (33 digits), the computed cube*2 fits too; 10**13 overflows cube first.
    _, c = clerk
    assert c.post("/api/lim/item", {"qty": 100}).status_code == 201
    _refused(c.post("/api/lim/item", {"qty": 10 ** 13}), "cube", "qty * qty * qty")
    _nothing_stored(c, 1)


def test_sql_overflow_in_a_filter_is_not_a_500(clerk: tuple[Runtime, ApiClient]) -> None:
    _, c = clerk
    assert c.post("/api/lim/item", {"qty": 10_000_000}).status_code == 422  # qty**16 is too large
    rt, _ = clerk
    with rt.db.write() as conn:  # a row stored before the check existed
        table = rt.tables.for_entity(rt.apps["lim"].entities["item"])
        conn.execute(table.insert().values(qty=10_000_000, version=1, state="open", created_by="x", updated_by="x",
                                           created_at=clock.now(), updated_at=clock.now()))
    r = c.get("/api/lim/item?twice__gt=5")
    # PostgreSQL refuses bigint overflow; SQLite turns it into a float. Neither is a 500.
    if BACKEND == "postgresql":
        assert r.status_code == 422, r.get_data(as_text=True)
        assert r.get_json()["error"]["code"] == "out_of_range"
    else:
        assert r.status_code == 200, r.get_data(as_text=True)


def test_sql_clauses_are_capped(clerk: tuple[Runtime, ApiClient], monkeypatch: pytest.MonkeyPatch) -> None:
    # Written out, `twice` is cube's 5 parts plus its own; a cap below that refuses the filter with 400.
    from runtime import sqlcompile
    rt, c = clerk
    monkeypatch.setattr(sqlcompile, "MAX_SQL_PARTS", 4)
    r = c.get("/api/lim/item?twice__gt=5")
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.get_json()["error"]["fields"] == {"twice": "not filterable"}
