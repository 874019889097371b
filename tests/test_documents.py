"""Printed documents (``documents:``): a child-table document prints its rows sorted, A5, without a QR; unknown
documents and records are 404; ``jig check`` names what a declaration gets wrong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jig.plugins import default_extensions
from runtime.auth import SYSTEM
from runtime.errors import DefinitionErrors
from runtime.loader import load_texts

from .ui_support import build, login

SHOP = """
app: shop
title: 车间
roles: [clerk]
entities:
  slip:
    title: 送货单
    fields:
      customer: {type: text, required: true}
      lines:
        type: table
        fields: {item: {type: text}, qty: {type: integer}}
    permissions:
      clerk: {read: true}
documents:
  note:
    label: {zh: 送货单, en: Delivery Note}
    entity: slip
    sections: [{fields: [name, customer]}]
    table: {from: lines, columns: [item, qty], sort: -qty}
    qr: false
    paper: a5
"""


def test_a_child_table_document(database_url: str, tmp_path: Path) -> None:
    rt, app = build(database_url, tmp_path, {"shop.yaml": SHOP})
    rt.users.add("c", "pass-pass-1", ["clerk"])
    rec = rt.records.create(SYSTEM, rt.entity("shop", "slip"), {
        "customer": "宁波精密", "lines": [{"item": "支架", "qty": 1}, {"item": "底座", "qty": 5}]})
    client = app.test_client()
    login(client, "c", "pass-pass-1")
    page = client.get(f"/a/shop/slip/{rec['id']}")
    assert "打印 送货单" in page.get_data(as_text=True)
    r = client.get(f"/a/shop/slip/{rec['id']}/print/note")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'class="doc a5"' in html and "宁波精密" in html and "<svg" not in html
    assert re.findall(r"<td>([^<]*)</td>", html) == ["1", "底座", "5", "2", "支架", "1"]  # sorted by -qty
    assert client.get(f"/a/shop/slip/{rec['id'] + 99}/print/note").status_code == 404
    assert client.get(f"/a/shop/slip/{rec['id']}/print/nope").status_code == 404
    rt.db.dispose()


def test_check_names_what_a_document_gets_wrong() -> None:
    bad = SHOP.replace("fields: [name, customer]", "fields: [name, custmer]").replace("from: lines", "from: line") \
        .replace("qr: false", "qr: scan")
    with pytest.raises(DefinitionErrors) as err:
        load_texts({"shop.yaml": bad}, default_extensions())
    text = str(err.value)
    assert "unknown field 'custmer'" in text and "'line' is neither a child table" in text
    assert "'scan' is not a shared link on 'slip'" in text
