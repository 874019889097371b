"""Issue 8, permissions 1-4: each refusal, and that nothing changed after it.

1. A transition writes only the fields it requires or sets (others need update rights); the body is a
   JSON object and carries the version, as for PATCH.
2. Create and update grants (and the read filter) hold for the row as it will be stored.
3. Files, form rules and filter chips follow read permissions (the route-by-route audit is
   tests/test_permission_audit.py).
4. Signing out ends the session on the server; a locked account answers like a wrong password.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from runtime import workflow
from runtime.auth import SYSTEM

from .conftest import World, batch_body
from .test_permission_audit import PLANT, env, signed_in  # noqa: F401 - env is a fixture
from .ui_support import build

B = "/api/outsourcing/batch"
SO = "/api/work_order_tracking/sales_order"


def _state(c: Any, url: str) -> tuple[Any, int]:
    """The record as an admin sees it, and how many history entries it has."""
    return c.get(url).get_json(), len(c.get(url + "/history").get_json()["items"])


# ---------------------------------------------------------------- 1. a transition is not an update

def _released_order(world: World) -> tuple[str, int]:
    adm = world.admin
    cust = adm.post("/api/work_order_tracking/customer", {"code": "C01", "name": "宁波精密"}).get_json()["id"]
    prod = adm.post("/api/work_order_tracking/product", {"code": "FG-1", "name": "成品"}).get_json()["id"]
    so = adm.post(SO, {"customer": cust, "delivery_date": "2026-12-01", "remark": "原备注",
                       "lines": [{"product": prod, "qty": "10"}]}).get_json()
    r = adm.post(f"{SO}/{so['id']}/transitions/release", {"version": 1})
    assert r.status_code == 200, r.get_json()
    return f"{SO}/{so['id']}", prod


def test_transition_writes_only_what_it_needs(world: World) -> None:
    url, prod = _released_order(world)
    sup = world.as_user("sup", ["supervisor"])  # read + transition on sales orders, no update
    before = _state(world.admin, url)
    attack = {"version": 2, "remark": "改了", "delivery_date": "2099-12-31", "lines": [{"product": prod, "qty": "99999"}]}
    r = sup.post(f"{url}/transitions/start_production", attack)
    assert r.status_code == 403, r.get_json()
    assert set(r.get_json()["error"]["fields"]) == {"remark", "delivery_date", "lines"}
    assert "开始生产" in r.get_json()["error"]["fields"]["remark"]
    assert sup.patch(url, attack).status_code == 403  # and PATCH, as before
    assert _state(world.admin, url) == before
    ok = sup.post(f"{url}/transitions/start_production", {"version": 2})
    assert ok.status_code == 200 and ok.get_json()["state"] == "in_production"
    assert ok.get_json()["remark"] == "原备注" and ok.get_json()["delivery_date"] == "2026-12-01"
    # a role that may update may still change fields while taking a transition (as the form does)
    done = world.planner.post(f"{url}/transitions/complete", {"version": 3, "remark": "完工"})
    assert done.status_code == 200 and done.get_json()["remark"] == "完工"


def test_transition_body_is_an_object_with_a_version(world: World) -> None:
    url, _prod = _released_order(world)
    sup = world.as_user("sup", ["supervisor"])
    before = _state(world.admin, url)
    tr = f"{url}/transitions/start_production"
    for body in ([None, None], [], "x", 3, None):
        r = sup.post(tr, json=body)
        assert r.status_code == 400 and r.get_json()["error"]["code"] == "bad_request", body
    r = sup.post(tr, {})
    assert r.status_code == 400 and r.get_json()["error"]["fields"] == {"version": "必填"}
    assert sup.post(tr, {"version": 1}).status_code == 409  # stale
    assert sup.post(tr, {"version": 2, "state": "completed"}).status_code == 422
    assert _state(world.admin, url) == before
    # the version may also come as If-Match, with no body at all
    r = sup.client.post(tr, headers={**sup._h(), "If-Match": '"2"'})
    assert r.status_code == 200 and r.get_json()["state"] == "in_production"


JOBS = """
app: lab
roles: [inspector, clerk]
entities:
  sample:
    fields:
      code: {type: text, required: true}
      result: {type: select, options: [{value: ok}, {value: ng}]}
      note: {type: text}
      checked_by: {type: text}
    workflow:
      initial: waiting
      states: {waiting: {}, checked: {final: true}}
      transitions:
        check: {from: waiting, to: checked, roles: [inspector], require: [result],
                set: {checked_by: "user.username"}}
    permissions:
      inspector: {read: true, transition: true}
  own:
    fields:
      owner: {type: text, required: true}
      title: {type: text}
    permissions:
      clerk: {read: "owner == user.username", create: true, update: "owner == user.username"}
"""


def test_transition_fills_its_required_fields_without_update_rights(make_runtime: Any) -> None:
    rt = make_runtime(texts={"lab.yaml": JOBS})
    ent = rt.entity("lab", "sample")
    rec = rt.records.create(SYSTEM, ent, {"code": "S1", "note": "原样"})
    rt.users.add("ins", None, ["inspector"])
    ins = rt.users.actor_for("ins")
    assert ins is not None
    from runtime.errors import Forbidden
    try:
        workflow.take(rt.records, ins, ent, rec["id"], "check", {"result": "ok", "note": "改"}, 1)
        raise AssertionError("the note is not the transition's to write")
    except Forbidden as exc:
        assert set(exc.fields) == {"note"}
    assert rt.records.get(SYSTEM, ent, rec["id"]) == rec
    done = workflow.take(rt.records, ins, ent, rec["id"], "check", {"result": "ok"}, 1)
    assert done["state"] == "checked" and done["result"] == "ok" and done["checked_by"] == "ins"
    assert done["note"] == "原样"


# ---------------------------------------------------------------- 2. row filters hold after the write

def test_partner_cannot_move_a_batch_to_another_partner(world: World) -> None:
    a, b = world.partners["a"], world.partners["b"]
    rec = world.planner.post(B, batch_body(a)).get_json()
    url = f"{B}/{rec['id']}"
    before = _state(world.admin, url)
    r = world.partner_a.patch(url, {"partner": b, "version": 1})
    assert r.status_code == 403 and list(r.get_json()["error"]["fields"]) == ["partner"]
    r = world.partner_a.patch(url, {"partner": b, "remark": "x", "version": 1})
    assert r.status_code == 403 and list(r.get_json()["error"]["fields"]) == ["partner"]
    r = world.partner_a.post(f"{url}/transitions/start", {"partner": b, "version": 1})
    assert r.status_code == 403 and list(r.get_json()["error"]["fields"]) == ["partner"]
    assert _state(world.admin, url) == before
    assert world.partner_b.get(B).get_json()["items"] == []
    # inside their own scope partners still work as before
    assert world.partner_a.patch(url, {"partner": a, "remark": "ok", "version": 1}).status_code == 200
    # planners (update: true, read: true) may move batches between partners
    assert world.planner.patch(url, {"partner": b, "version": 2}).status_code == 200


def test_create_lands_inside_the_creators_scope(make_runtime: Any) -> None:
    from runtime import api
    rt = make_runtime(texts={"lab.yaml": JOBS})
    app = api.create_app(rt, {"TESTING": True})
    rt.users.add("c1", None, ["clerk"])
    c = app.test_client()
    h = {"Authorization": "Bearer " + rt.users.create_token("c1")}
    r = c.post("/api/lab/own", json={"owner": "someone-else", "title": "x"}, headers=h)
    assert r.status_code == 403 and list(r.get_json()["error"]["fields"]) == ["owner"]
    with rt.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(rt.tables["lab.own"])).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(rt.tables.system["jig_history"])).scalar_one() == 0
    mine = c.post("/api/lab/own", json={"owner": "c1", "title": "x"}, headers=h)
    assert mine.status_code == 201
    r = c.patch(f"/api/lab/own/{mine.get_json()['id']}", json={"owner": "someone-else", "version": 1}, headers=h)
    assert r.status_code == 403


def _import(c: Any, tok: str, data: bytes) -> Any:
    r = c.post("/a/lab/own/import", data={"csrf_token": tok, "step": "upload", "file": (io.BytesIO(data), "o.csv")},
               content_type="multipart/form-data")
    key = re.search(r'name="key" value="([^"]+)"', r.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    return c.post("/a/lab/own/import", data={"csrf_token": tok, "step": "run", "key": key, "map": ["owner", "title"]})


@pytest.mark.parametrize("inline_rows", ["100", "0"])  # in the request, and as a background job
def test_import_cannot_create_outside_the_importers_scope(database_url: str, tmp_path: Path, inline_rows: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIG_IMPORT_INLINE_ROWS", inline_rows)
    rt, app = build(database_url, tmp_path, texts={"lab.yaml": JOBS})
    rt.users.add("c1", "c1-pass-1", ["clerk"])
    c, tok = signed_in(app, "c1")
    r = _import(c, tok, b"owner,title\nc1,mine\nsomeone-else,theirs\n")
    if inline_rows == "0":
        assert r.status_code == 303
        deadline = time.monotonic() + 60  # a safety limit, not a timing
        while (job := c.get(r.headers["Location"] + ".json").get_json())["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert job["status"] == "failed" and job["created"] == 0
        assert [(e["row"], e["message"]) for e in job["errors"]] == [(3, "不能改为您权限范围以外的值")]
    else:
        assert r.status_code == 422 and "不能改为您权限范围以外的值" in r.get_data(as_text=True)
    with rt.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(rt.tables["lab.own"])).scalar_one() == 0


# ---------------------------------------------------------------- 3. files, form rules, filter chips

def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 3), (10, 200, 10)).save(out, "PNG")
    return out.getvalue()


def _upload(c: Any) -> str:
    r = c.post("/api/files?image=1", data={"file": (io.BytesIO(_png()), "p.png")}, content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    return str(r.get_json()["key"])


def test_files_open_only_to_readers_of_a_record_holding_them(world: World, tmp_path: Path) -> None:
    world.rt.files.root = tmp_path
    key = _upload(world.partner_a)
    assert world.partner_a.get(f"/api/files/{key}").status_code == 200   # the uploader, before saving
    assert world.partner_b.get(f"/api/files/{key}").status_code == 404
    assert world.planner.get(f"/api/files/{key}").status_code == 404     # not attached to anything yet
    world.planner.post(B, batch_body(world.partners["a"], photos=[key]))
    for who, status in (("partner_a", 200), ("planner", 200), ("qc", 200), ("admin", 200), ("partner_b", 404)):
        assert getattr(world, who).get(f"/api/files/{key}").status_code == status, who
    visitor = world.as_user("visitor", [])  # no role: may neither fetch nor upload
    assert visitor.get(f"/api/files/{key}").status_code == 404
    r = visitor.post("/api/files?image=1", data={"file": (io.BytesIO(_png()), "p.png")},
                     content_type="multipart/form-data")
    assert r.status_code == 403
    other = _upload(world.partner_b)  # a key that looks like any other: still not A's to fetch
    assert world.partner_a.get(f"/api/files/{other}").status_code == 404


def test_form_rules_and_filter_chips_follow_read_permissions(env: Any) -> None:  # noqa: F811
    ids = env.ids
    pb, tok = signed_in(env.app, "pb")
    h = {"X-CSRF-Token": tok}
    r = pb.post("/a/plant/batch/_rules", json={"values": {"partner": ids["pb"]}}, headers=h)
    assert r.status_code == 200 and r.get_json()["fields"]["partner_phone"]["value"] == "13900002222"
    r = pb.post("/a/plant/batch/_rules", json={"values": {"partner": ids["pa"]}}, headers=h)
    assert r.status_code == 200 and r.get_json()["fields"]["partner_phone"]["value"] is None
    assert pb.post("/a/plant/batch/_rules", json={"id": ids["a"]}, headers=h).status_code == 404
    outsider, otok = signed_in(env.app, "outsider")
    r = outsider.post("/a/plant/batch/_rules", json={"values": {"partner": ids["pa"]}}, headers={"X-CSRF-Token": otok})
    assert r.status_code == 403 and "13800001111" not in r.get_data(as_text=True)
    html = pb.get(f"/a/plant/batch?partner={ids['pa']}").get_data(as_text=True)
    assert "华新电镀" not in html and f"#{ids['pa']}" in html
    assert "永盛喷涂" in pb.get(f"/a/plant/batch?partner={ids['pb']}").get_data(as_text=True)


def test_a_display_token_opens_its_board_and_nothing_else(env: Any) -> None:  # noqa: F811
    from ui.admin import create_display_token
    token = create_display_token(env.rt, "plant", "overview", "车间大屏", "admin")
    tv = env.app.test_client()
    assert tv.get(f"/board/plant/overview?token={token}").status_code == 200
    assert tv.get(f"/board/plant/partners?token={token}").status_code == 403
    assert tv.get(f"/d/plant/overview?token={token}").status_code == 302
    for path in ("/api/me", "/api/plant/partner", f"/api/files/{env.ids['key']}"):
        assert tv.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 401, path
        assert tv.get(f"{path}?token={token}").status_code == 401, path
    assert "13800001111" not in tv.get(f"/board/plant/partners?token={token}").get_data(as_text=True)


# ---------------------------------------------------------------- 4. sessions

def test_signing_out_ends_the_session_on_the_server(env: Any) -> None:  # noqa: F811
    c, tok = signed_in(env.app, "pb")
    cookie = c.get_cookie("jig_session").value
    assert c.get("/api/me").status_code == 200
    other, _ = signed_in(env.app, "pb")  # a second sign-in (another browser) is a separate session
    assert c.post("/logout", data={"csrf_token": tok}).status_code == 302
    replay = env.app.test_client()
    replay.set_cookie("jig_session", cookie)
    assert replay.get("/api/me").status_code == 401
    page = replay.get("/a/plant/batch")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    assert replay.post("/api/plant/batch", json={"customer": "x", "partner": env.ids["pb"]},
                       headers={"X-CSRF-Token": tok}).status_code == 401
    assert other.get("/api/me").status_code == 200


def test_a_locked_account_answers_like_a_wrong_password(env: Any) -> None:  # noqa: F811
    c, tok = signed_in(env.app, None)

    def attempt(user: str, password: str) -> tuple[int, str]:
        r = c.post("/login", data={"username": user, "password": password, "csrf_token": tok})
        html = r.get_data(as_text=True)
        return r.status_code, re.search(r'class="error[^"]*"[^>]*>([^<]*)<', html).group(1)  # type: ignore[union-attr]

    unknown = attempt("nobody-here", "whatever-1")
    wrong = attempt("pb", "wrong-pass-1")
    for _ in range(5):
        attempt("pb", "wrong-pass-1")
    locked = attempt("pb", "pb-pass-1")  # the right password, but the account is locked now
    assert unknown == wrong == locked
    assert locked[0] == 401
    for lang, text in (("zh", "用户名或密码不正确"), ("en", "Wrong username or password")):
        c.get(f"/lang/{lang}")
        assert text in attempt("pb", "pb-pass-1")[1]


def test_passwords_are_hashed_with_scrypt_at_full_cost(make_runtime: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite hashes its users' passwords cheaply (tests/conftest.py); the product does not."""
    from runtime import auth

    from .conftest import FULL_COST_HASH
    monkeypatch.setattr(auth, "generate_password_hash", FULL_COST_HASH)
    rt = make_runtime(texts={"a": "app: a\nentities:\n  e:\n    fields:\n      x: {type: text}\n"})
    rt.users.add("someone", "a-long-password-1", [])
    with rt.db.read() as conn:
        users = rt.tables.system["jig_users"]
        stored = conn.execute(select(users.c.password_hash).where(users.c.username == "someone")).scalar_one()
    assert stored.startswith("scrypt:32768:8:1$")
    assert rt.users.login("someone", "a-long-password-1") is not None
