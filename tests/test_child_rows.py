"""A record's child rows: ids a client sends must be the record's own rows."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.auth import SYSTEM
from runtime.errors import ValidationFailed

APP = """
app: orders
entities:
  order:
    fields:
      customer: {type: text}
      lines:
        type: table
        fields:
          item: {type: text}
          qty: {type: integer}
"""


@pytest.fixture
def orders(make_runtime: Any) -> Any:
    return make_runtime(texts={"orders.yaml": APP})


def test_rows_keep_change_add_and_drop_by_id(orders: Any) -> None:
    rt = orders
    ent = rt.entity("orders", "order")
    o = rt.records.create(SYSTEM, ent, {"customer": "A", "lines": [{"item": "x", "qty": 1}, {"item": "y", "qty": 2}]})
    x, y = o["lines"]
    o = rt.records.update(SYSTEM, ent, o["id"], {"lines": [{"id": y["id"], "item": "y", "qty": 5},
                                                          {"item": "z", "qty": 3}]}, o["version"])
    assert [(r["item"], r["qty"]) for r in o["lines"]] == [("y", 5), ("z", 3)]
    assert o["lines"][0]["id"] == y["id"]


@pytest.mark.parametrize("bad", ["other", 987654, "abc", "twice"])
def test_an_id_that_is_not_one_of_the_records_rows_is_refused(orders: Any, bad: Any) -> None:
    rt = orders
    ent = rt.entity("orders", "order")
    mine = rt.records.create(SYSTEM, ent, {"customer": "A", "lines": [{"item": "x", "qty": 1}]})
    theirs = rt.records.create(SYSTEM, ent, {"customer": "B", "lines": [{"item": "secret", "qty": 9}]})
    row_id = {"other": theirs["lines"][0]["id"], "twice": mine["lines"][0]["id"]}.get(bad, bad)
    rows = [{"id": row_id, "item": "hijack", "qty": 1}]
    if bad == "twice":
        rows.append({"id": row_id, "item": "again", "qty": 2})
    with pytest.raises(ValidationFailed) as err:
        rt.records.update(SYSTEM, ent, mine["id"], {"lines": rows}, mine["version"])
    assert any(k.startswith("lines[") and k.endswith("].id") for k in err.value.fields)
    # nothing was written: both records keep their rows
    assert rt.records.get(SYSTEM, ent, mine["id"])["lines"][0]["item"] == "x"
    assert rt.records.get(SYSTEM, ent, theirs["id"])["lines"][0]["item"] == "secret"
