"""A record's own table rows never block its deletion (issue 8, item 7).

A BOM line may link to another BOM (a sub-assembly); when a line links to the
BOM it belongs to, deleting that BOM used to be refused forever ("still
referenced"), although its lines are deleted with it. Links from other
records' rows still protect it. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable

from runtime import api
from runtime.core import Runtime
from tests.conftest import ApiClient

APP = """\
app: bomtest
roles: [clerk]
entities:
  bom:
    fields:
      title: {type: text, required: true}
      lines:
        type: table
        fields:
          sub_bom: {type: link, to: bom}
          qty: {type: integer}
    permissions:
      clerk: {read: true, create: true, update: true, delete: true}
"""


def test_own_rows_do_not_block_delete_but_others_do(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime(texts={"bomtest.yaml": APP})
    app = api.create_app(rt, {"TESTING": True})
    rt.users.add("clerk", "secret-pass", ["clerk"])
    c = ApiClient(app.test_client(), rt.users.create_token("clerk"))
    a = c.post("/api/bomtest/bom", {"title": "A"}).get_json()["id"]
    r = c.patch(f"/api/bomtest/bom/{a}", {"version": 1, "lines": [{"sub_bom": a, "qty": 1}]})
    assert r.status_code == 200, r.get_data(as_text=True)
    b = c.post("/api/bomtest/bom", {"title": "B", "lines": [{"sub_bom": a, "qty": 2}]}).get_json()["id"]
    # B's line still uses A: refused, nothing changed.
    r = c.delete(f"/api/bomtest/bom/{a}")
    assert r.status_code == 409, r.get_data(as_text=True)
    assert c.get(f"/api/bomtest/bom/{a}").status_code == 200
    # Without B, A's own line is no obstacle: A and its rows go, with history.
    assert c.delete(f"/api/bomtest/bom/{b}").status_code in (200, 204)
    r = c.delete(f"/api/bomtest/bom/{a}")
    assert r.status_code in (200, 204), r.get_data(as_text=True)
    assert c.get(f"/api/bomtest/bom/{a}").status_code == 404
    with rt.db.engine.connect() as conn:
        child = rt.tables.for_entity(rt.apps["bomtest"].entities["bom"].fields["lines"].child)
        assert conn.execute(child.select()).first() is None
