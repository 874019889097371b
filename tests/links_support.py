"""A small app with shared links for the link tests (record links, a creating link, PINs, a challenge)."""

from __future__ import annotations

import re
from typing import Any

from runtime.auth import SYSTEM
from ui.linkstore import LinkStore

from .ui_support import build

SHOP = """
app: shop
roles: [planner, operator]
entities:
  partner:
    fields:
      name: {type: text, required: true}
      phone: {type: phone}
  machine:
    fields:
      code: {type: text, required: true}
    permissions:
      planner: {read: true, update: true}
  batch:
    naming: "WF-{####}"
    fields:
      customer: {type: text, required: true}
      secret_price: {type: decimal, label: 单价}
      qty: {type: integer, min: 1}
      returned_qty: {type: integer, min: 0}
      photos: {type: images, max: 6}
      remark: {type: text}
      partner: {type: link, to: partner}
    workflow:
      initial: shipped
      states: {shipped: {}, processing: {}, returned: {final: true}}
      transitions:
        start: {from: shipped, to: processing, roles: [planner]}
        return: {from: processing, to: returned, roles: [planner], require: [returned_qty]}
    permissions:
      planner: {read: true, create: true, update: true, transition: true}
  fault:
    naming: "BX-{####}"
    fields:
      machine: {type: link, to: machine, required: true}
      description: {type: text, required: true}
      urgency: {type: select, options: [normal, urgent], default: "'normal'"}
      reporter: {type: user, default: "user.username"}
      photos: {type: images, max: 3}
    permissions:
      planner: {read: true, create: true, update: true}
links:
  partner_update:
    entity: batch
    label: {zh: 外协更新, en: Partner update}
    show: [name, customer, qty]
    edit: [returned_qty, photos, remark]
    transitions: [start, return]
    identify: {name: true}
  report:
    entity: fault
    on: machine
    creates: true
    bind: machine
    edit: [description, urgency, photos]
    prefill: [urgency]
    challenge: true
    identify: {roles: [operator], pin: true}
    max_photos: 3
"""


class Shop:
    def __init__(self, database_url: str, tmp: Any):
        self.rt, self.app = build(database_url, tmp, texts={"shop.yaml": SHOP})
        E = self.rt.entity
        self.batch_ent, self.fault_ent = E("shop", "batch"), E("shop", "fault")
        self.a = self.rt.records.create(SYSTEM, self.batch_ent, {"customer": "甲方机密客户", "secret_price": "9.87",
                                                                 "qty": 10})
        self.b = self.rt.records.create(SYSTEM, self.batch_ent, {"customer": "乙方客户", "qty": 5})
        self.machine = self.rt.records.create(SYSTEM, E("shop", "machine"), {"code": "CNC-07"})
        self.rt.users.add("planner", "planner-pass-1", ["planner"])
        self.rt.users.add("li", None, ["operator"], display_name="李四")
        self.store = self.rt.services.get(LinkStore)
        self.store.set_pin("li", "2468")

    def issue(self, name: str, record_id: int, **kw: Any) -> str:
        lk = self.store.definition("shop", name)
        with self.rt.db.write() as conn:
            row = self.store.issue(conn, lk, record_id, "planner", **kw)
        return self.store.token_of(row)

    def row(self, token: str) -> dict[str, Any]:
        from sqlalchemy import select

        from ui.linkstore import hash_token
        t = self.store.links
        with self.rt.db.read() as conn:
            return dict(conn.execute(select(t).where(t.c.token_hash == hash_token(token))).mappings().one())


def page_token(client: Any, token: str) -> tuple[str, str]:
    """The page's HTML and its per-page POST token (bound to the link token)."""
    r = client.get(f"/l/{token}")
    html = r.get_data(as_text=True)
    m = re.search(r'data-csrf="([^"]+)"', html)
    return html, (m.group(1) if m else "")


def challenge_answer(html: str) -> dict[str, Any]:
    m = re.search(r"<b>(\d+) \+ (\d+) = \?</b>", html)
    assert m, html[:500]
    exp = re.search(r'data-exp="([0-9a-f.]+)"', html).group(1)  # type: ignore[union-attr]
    sig = re.search(r'data-sig="([0-9a-f]+)"', html).group(1)  # type: ignore[union-attr]
    return {"answer": int(m.group(1)) + int(m.group(2)), "exp": exp, "sig": sig}
