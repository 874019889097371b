"""Must-show 2: tampered, expired, revoked, used-up, other-record and unknown tokens are refused (403)
on every link route, and a link never lists records nor reads or writes outside its scope."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import insert, update

from runtime import clock, listquery, permissions
from runtime.auth import SYSTEM

from .links_support import Shop, page_token


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 10)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def shop(database_url: str, tmp_path: Path) -> Shop:
    return Shop(database_url, tmp_path)


def _tampered(s: Shop) -> str:
    tok = s.issue("partner_update", s.a["id"])
    return tok[:5] + ("x" if tok[5] != "x" else "y") + tok[6:]


def _expired(s: Shop) -> str:
    tok = s.issue("partner_update", s.a["id"])
    with s.rt.db.write() as conn:
        conn.execute(update(s.store.links).where(s.store.links.c.id == s.row(tok)["id"])
                     .values(expires_at=clock.now() - dt.timedelta(minutes=1)))
    return tok


def _revoked(s: Shop) -> str:
    tok = s.issue("partner_update", s.a["id"])
    s.store.revoke(s.row(tok)["id"], "planner")
    return tok


def _used_up(s: Shop) -> str:
    tok = s.issue("partner_update", s.a["id"], max_uses=1)
    c = s.app.test_client()
    _html, csrf = page_token(c, tok)
    r = c.post(f"/l/{tok}", json={"action": "start", "version": 1, "worker_name": "王"},
               headers={"X-Link-Token": csrf})
    assert r.status_code == 200, r.get_json()
    return tok


def _definition_gone(s: Shop) -> str:
    with s.rt.db.write() as conn:
        link_id = conn.execute(insert(s.store.links).values(
            app="shop", name="removed_link", on_entity="batch", record_id=s.a["id"], nonce="0" * 32,
            token_hash="x" * 64, created_at=clock.now(), uses=0, revoked=False)).inserted_primary_key[0]
        tok = s.store._token(int(link_id), "0" * 32)
        from ui.linkstore import hash_token
        conn.execute(update(s.store.links).where(s.store.links.c.id == link_id).values(token_hash=hash_token(tok)))
    return tok


TOKENS: dict[str, Callable[[Shop], str]] = {
    "tampered": _tampered,
    "expired": _expired,
    "revoked": _revoked,
    "used_up": _used_up,
    "definition_removed": _definition_gone,
    "unknown": lambda s: "A" * 32,
    "too_short": lambda s: "abc",
    "too_long": lambda s: "A" * 200,
    "api_token_shape": lambda s: "jig_" + "A" * 40,
}

ROUTES: dict[str, Callable[[Any, str, str], Any]] = {
    "page": lambda c, tok, csrf: c.get(f"/l/{tok}"),
    "submit": lambda c, tok, csrf: c.post(f"/l/{tok}", json={"action": "start", "version": 1, "worker_name": "王"},
                                          headers={"X-Link-Token": csrf}),
    "upload": lambda c, tok, csrf: c.post(f"/l/{tok}/files", data={"file": (io.BytesIO(_png()), "p.png")},
                                          headers={"X-Link-Token": csrf}, content_type="multipart/form-data"),
}


def test_dead_and_forged_tokens_are_refused_on_every_route(shop: Shop) -> None:
    live = shop.issue("partner_update", shop.a["id"])
    csrf = page_token(shop.app.test_client(), live)[1]  # even a valid page token does not help
    before = shop.rt.records.get(SYSTEM, shop.batch_ent, shop.a["id"])
    checked = 0
    for kind, make in TOKENS.items():
        tok = make(shop)
        state_before = shop.rt.records.get(SYSTEM, shop.batch_ent, shop.a["id"])
        for route, call in ROUTES.items():
            r = call(shop.app.test_client(), tok, csrf)
            assert r.status_code in (403, 404), f"{kind} {route}: {r.status_code}"
            if len(tok) == 32:
                assert r.status_code == 403, f"{kind} {route}: {r.status_code}"
            body = r.get_data(as_text=True)
            assert "甲方机密客户" not in body and "9.87" not in body, f"{kind} {route} leaked"
            checked += 1
        assert shop.rt.records.get(SYSTEM, shop.batch_ent, shop.a["id"]) == state_before, kind
    assert checked == len(TOKENS) * len(ROUTES)
    after = shop.rt.records.get(SYSTEM, shop.batch_ent, shop.a["id"])
    assert after["version"] == before["version"] + 1  # only the used-up link's one real use


def test_other_record_token_never_reaches_another_record(shop: Shop) -> None:
    tok_b = shop.issue("partner_update", shop.b["id"])
    c = shop.app.test_client()
    html, csrf = page_token(c, tok_b)
    assert "乙方客户" in html and "甲方机密客户" not in html
    # the record comes from the token only: naming another one is refused, not ignored
    for body in ({"action": "start", "version": 1, "worker_name": "王", "id": shop.a["id"]},
                 {"action": "start", "version": 1, "worker_name": "王", "record_id": shop.a["id"]}):
        r = c.post(f"/l/{tok_b}", json=body, headers={"X-Link-Token": csrf})
        assert r.status_code == 403, r.get_json()
    assert c.get(f"/l/{tok_b}?id={shop.a['id']}").get_data(as_text=True).count("甲方机密客户") == 0
    # a page token of one link does not work for another link
    tok_a = shop.issue("partner_update", shop.a["id"])
    r = c.post(f"/l/{tok_a}", json={"action": "start", "version": 1, "worker_name": "王"},
               headers={"X-Link-Token": csrf})
    assert r.status_code == 403
    assert shop.rt.records.get(SYSTEM, shop.batch_ent, shop.a["id"])["state"] == "shipped"


SCOPE_CASES = [  # (what, body, status, field named in the refusal)
    ("field not editable", {"action": "save", "version": 1, "worker_name": "王", "values": {"customer": "x"}},
     403, "customer"),
    ("hidden field", {"action": "start", "version": 1, "worker_name": "王", "values": {"secret_price": 1}},
     403, "secret_price"),
    ("state directly", {"action": "start", "version": 1, "worker_name": "王", "values": {"state": "returned"}},
     403, "state"),
    ("transition not granted", {"action": "cancel", "version": 1, "worker_name": "王"}, 403, "action"),
    ("transition from wrong state", {"action": "return", "version": 1, "worker_name": "王",
                                     "values": {"returned_qty": 3}}, 409, None),
    ("photo not uploaded by this link", {"action": "start", "version": 1, "worker_name": "王",
                                         "values": {"photos": ["someone-elses-key"]}}, 403, "photos"),
    ("no version", {"action": "start", "worker_name": "王"}, 400, "version"),
    ("no name", {"action": "start", "version": 1}, 400, "worker_name"),
    ("not json object", ["start"], 400, None),
]


@pytest.mark.parametrize("what,body,status,named", SCOPE_CASES, ids=[c[0] for c in SCOPE_CASES])
def test_writes_outside_the_link_are_refused(shop: Shop, what: str, body: Any, status: int,
                                             named: str | None) -> None:
    tok = shop.issue("partner_update", shop.a["id"])
    c = shop.app.test_client()
    _html, csrf = page_token(c, tok)
    r = c.post(f"/l/{tok}", json=body, headers={"X-Link-Token": csrf})
    assert r.status_code == status, r.get_json()
    err = r.get_json()["error"]
    assert set(err) >= {"code", "message", "fields"}
    if named:
        assert named in err["fields"], err
    assert shop.rt.records.get(SYSTEM, shop.batch_ent, shop.a["id"])["version"] == 1
    assert shop.row(tok)["uses"] == 0


def test_a_link_reads_only_its_fields_and_lists_nothing(shop: Shop) -> None:
    tok = shop.issue("partner_update", shop.a["id"])
    c = shop.app.test_client()
    html, csrf = page_token(c, tok)
    assert "甲方机密客户" in html and "9.87" not in html  # customer is shown, the price is not
    r = c.post(f"/l/{tok}", json={"action": "start", "version": 1, "worker_name": "王"},
               headers={"X-Link-Token": csrf})
    assert r.status_code == 200 and "secret_price" not in r.get_json()["values"]
    # no API access with a link token, and no list or other record through the runtime
    for path in ("/api/shop/batch", f"/api/shop/batch/{shop.a['id']}", f"/api/shop/batch/{shop.b['id']}"):
        assert c.get(path, headers={"Authorization": f"Bearer {tok}"}).status_code == 401
    actor = shop.store.actor(shop.store.resolve(tok), None)  # type: ignore[arg-type]
    rows = listquery.run(shop.rt, actor, shop.batch_ent, listquery.parse_args(shop.batch_ent, {}, "zh"))["items"]
    assert [r["id"] for r in rows] == [shop.a["id"]]
    assert listquery.run(shop.rt, actor, shop.rt.entity("shop", "partner"),
                         listquery.parse_args(shop.rt.entity("shop", "partner"), {}, "zh"))["items"] == []
    assert not permissions.may_create(actor, shop.batch_ent)
    assert not permissions.may_at_all(actor, shop.rt.entity("shop", "partner"), "read")


def test_missing_or_foreign_page_token_is_refused(shop: Shop) -> None:
    tok = shop.issue("partner_update", shop.a["id"])
    c = shop.app.test_client()
    for headers in ({}, {"X-Link-Token": "0" * 32}):
        r = c.post(f"/l/{tok}", json={"action": "start", "version": 1, "worker_name": "王"}, headers=headers)
        assert r.status_code == 403
    assert shop.rt.records.get(SYSTEM, shop.batch_ent, shop.a["id"])["state"] == "shipped"


def test_rate_limit_per_token_is_shared_through_the_database(shop: Shop) -> None:
    tok = shop.issue("partner_update", shop.a["id"])
    c = shop.app.test_client()
    limit = shop.store.definition("shop", "partner_update").rate_per_minute
    with clock.frozen(clock.now().replace(second=1)):
        codes = [c.get(f"/l/{tok}").status_code for _ in range(limit + 2)]
        assert codes[:limit] == [200] * limit and codes[-1] == 429
        # a second process (another store on the same database) sees the same count
        from ui.linkstore import LinkStore
        other = LinkStore(shop.rt, "another-process-same-secret")
        assert not other.hit(f"link:{shop.row(tok)['id']}", limit)
    with clock.frozen(clock.now().replace(second=1) + dt.timedelta(minutes=2)):
        assert c.get(f"/l/{tok}").status_code == 200


def test_rate_limit_per_address(shop: Shop) -> None:
    from ui import linkweb
    c = shop.app.test_client()
    with clock.frozen(clock.now().replace(second=1)):
        for _ in range(linkweb.PER_ADDRESS_PER_MINUTE):
            shop.store.hit("addr:127.0.0.1", 10 ** 6)
        assert c.get("/l/" + "A" * 32).status_code == 429  # even before the token is looked at


def test_cached_by_id_queries_never_mix_links_or_roleless_users(shop: Shop) -> None:
    """Regression: the by-id query was cached per role set, so two links (no roles) shared one record filter."""
    from runtime.auth import Actor
    from runtime.errors import NotFound
    res_a = shop.store.resolve(shop.issue("partner_update", shop.a["id"]))
    res_b = shop.store.resolve(shop.issue("partner_update", shop.b["id"]))
    assert res_a and res_b
    assert shop.rt.records.get(shop.store.actor(res_a, None), shop.batch_ent, shop.a["id"])["customer"] == "甲方机密客户"
    assert shop.rt.records.get(shop.store.actor(res_b, None), shop.batch_ent, shop.b["id"])["customer"] == "乙方客户"
    with pytest.raises(NotFound):
        shop.rt.records.get(shop.store.actor(res_b, None), shop.batch_ent, shop.a["id"])
    with pytest.raises(NotFound):  # a user without roles, right after a link actor
        shop.rt.records.get(Actor("nobody"), shop.batch_ent, shop.a["id"])


ODD_VALUES = [None, True, -1, 2 ** 70, 1.5e308, "", "x" * 5000, [], [1, [2]], {"a": {"b": 1}}, "\x00", "١٢٣"]


def test_odd_bodies_never_answer_500(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bounded fuzz (a fixed list, ~140 requests): every odd value in every slot is a 4xx, never a 500."""
    from ui import linkweb
    monkeypatch.setattr(linkweb, "PER_ADDRESS_PER_MINUTE", 10 ** 6)  # the limits are tested above
    for name in ("partner_update", "report"):
        monkeypatch.setattr(shop.store.definition("shop", name), "rate_per_minute", 10 ** 6)
    tok = shop.issue("partner_update", shop.a["id"])
    tok_create = shop.issue("report", shop.machine["id"])
    c = shop.app.test_client()
    csrf = page_token(c, tok)[1]
    csrf_c = page_token(c, tok_create)[1]
    for odd in ODD_VALUES:
        bodies = [{"action": odd, "version": 1, "worker_name": "王"},
                  {"action": "start", "version": odd, "worker_name": "王"},
                  {"action": "start", "version": 1, "worker_name": odd},
                  {"action": "save", "version": 1, "worker_name": "王", "values": odd},
                  {"action": "save", "version": 1, "worker_name": "王", "values": {"returned_qty": odd}},
                  {"action": "save", "version": 1, "worker_name": "王", "values": {"photos": odd}},
                  {"action": "save", "version": 1, "worker_name": "王", "values": {"remark": odd}}]
        for body in bodies:
            r = c.post(f"/l/{tok}", json=body, headers={"X-Link-Token": csrf})
            assert 400 <= r.status_code < 500 or r.status_code == 200, (body, r.status_code)
        for body in ({"action": "create", "worker": odd, "pin": "2468", "values": {"description": "x"}},
                     {"action": "create", "worker": "li", "pin": odd, "values": {"description": "x"}},
                     {"action": "create", "worker": "li", "pin": "2468", "challenge": odd, "values": {}},
                     {"action": "create", "worker": "li", "pin": "2468", "submit_id": odd,
                      "challenge": {"answer": odd, "exp": odd, "sig": odd}, "values": {"urgency": odd}}):
            r = c.post(f"/l/{tok_create}", json=body, headers={"X-Link-Token": csrf_c})
            assert 400 <= r.status_code < 500, (body, r.status_code)
    r = c.post(f"/l/{tok}", data=b"\xff\xfe not json", headers={"X-Link-Token": csrf, "Content-Type": "application/json"})
    assert r.status_code == 400


def test_nul_characters_and_odd_file_keys_are_422_not_500(shop: Shop) -> None:
    """Regression (found by the fuzz above on PostgreSQL): a NUL in a text value or a file key reached the
    database, which PostgreSQL refuses with an error (500). Text keeps no NUL; file keys have the generated form."""
    from runtime.errors import ValidationFailed
    for values in ({"customer": "a\x00b"}, {"customer": "x", "photos": ["\x00"]},
                   {"customer": "x", "photos": ["../../etc/passwd"]}, {"customer": "x", "photos": ["k" * 300]}):
        with pytest.raises(ValidationFailed):
            shop.rt.records.create(SYSTEM, shop.batch_ent, values)
