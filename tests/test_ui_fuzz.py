"""Fuzz of the web pages and their form posts: no input gives a 5xx (HTML 4xx pages are fine).

Hostile path segments, query strings, JSON bodies (form rules), form fields (admin forms, import
steps, sign-in) and uploads, as an admin, a planner or nobody, with and without the CSRF token.
Bounded: JIG_FUZZ_EXAMPLES // 4 examples (default 500, about 15-25 s per database), derandomized;
see docs/security.md ("API fuzz").
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .test_api_fuzz import EXAMPLES, FUZZ_SETTINGS, HUGE_INTS, ODD_TEXT, hostile, json_values
from .ui_support import build, csrf, login

ENTITIES = ["outsourcing/batch", "outsourcing/partner", "work_order_tracking/bom", "work_order_tracking/work_order",
            "maintenance/equipment", "maintenance/repair_request", "nope/batch", "outsourcing/nope"]
KNOWN = {"a", "d", "board", "lang", "imports", "notifications", "ui", "admin", "login", "api"}
BOARDS = ["outsourcing/board", "maintenance/overview", "outsourcing/nope", "x/y"]
# (forms cannot carry a lone surrogate: the client encodes UTF-8; NUL they can, and do)
texts = st.sampled_from([t for t in ODD_TEXT if not any("\ud800" <= ch <= "\udfff" for ch in t)]) | st.text(max_size=20)
ids = st.sampled_from(["1", "2", "3", "1", "2"] + [str(n) for n in HUGE_INTS if n >= 0] + ["9" * 100, "x", "-1"])


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> dict[str, Any]:
    rt, app = build(database_url, tmp_path)
    rt.users.add("boss", "boss-pass-123", ["admin"])
    rt.users.add("plan", "plan-pass-123", ["planner"])
    boss, plan = app.test_client(), app.test_client()
    tokens = {"admin": login(boss, "boss", "boss-pass-123"),
              "planner": login(plan, "plan", "plan-pass-123")}
    for i in range(3):  # a few real rows for ids 1..3
        r = boss.post("/api/outsourcing/partner", json={"name": f"华新{i}", "phone": "13800001111"},
                      headers={"X-CSRF-Token": tokens["admin"]})
        assert r.status_code == 201, r.get_data(as_text=True)
    return {"rt": rt, "app": app, "clients": {"admin": boss, "planner": plan, "anonymous": app.test_client()},
            "tokens": tokens}


def _query(draw: Any) -> str:
    pairs = []
    for _ in range(draw(st.integers(0, 4))):
        key = draw(st.sampled_from(["sort", "after", "limit", "q", "lang", "next", "token", "format", "count",
                                    "customer__contains", "quantity__gte", "state", "partner", "ship_date__lt",
                                    "lines__isnull", "photos", "nope__eq", "id__in"]))
        pairs.append(f"{quote(key)}={quote(draw(texts) if draw(st.booleans()) else json.dumps(draw(json_values)))}")
    return "&".join(pairs)


@st.composite
def page_requests(draw: Any) -> tuple[str, str, dict[str, Any]]:
    ent = draw(st.sampled_from(ENTITIES))
    board = draw(st.sampled_from(BOARDS))
    kind = draw(st.sampled_from(["list", "record", "new", "kanban", "export", "import_get", "dash", "board", "lang",
                                 "job", "notes", "rules", "import_post", "admin_users", "admin_tokens",
                                 "admin_displays", "login", "connectors", "notes_read", "odd_path"]))
    q = _query(draw)
    if kind == "list":
        return "GET", f"/a/{ent}?{q}", {}
    if kind == "record":
        return "GET", f"/a/{ent}/{draw(ids)}?{q}", {}
    if kind == "new":
        return "GET", f"/a/{ent}/new", {}
    if kind == "kanban":
        return "GET", f"/a/{ent}/kanban", {}
    if kind == "export":
        return "GET", f"/a/{ent}/export.{draw(st.sampled_from(['csv', 'xlsx', 'pdf', '']))}?{q}", {}
    if kind == "import_get":
        return "GET", f"/a/{ent}/import", {}
    if kind == "dash":
        return "GET", f"/d/{board}?{q}", {}
    if kind == "board":
        return "GET", f"/board/{board}?token={quote(draw(texts))}&{q}", {}
    if kind == "lang":
        return "GET", f"/lang/{quote(draw(texts), safe='') or 'en'}?next={quote(draw(texts))}", {}
    if kind == "job":
        return "GET", f"/imports/{draw(ids)}{draw(st.sampled_from(['', '.json']))}", {}
    if kind == "notes":
        return "GET", draw(st.sampled_from(["/notifications", "/ui/notifications.json"])), {}
    if kind == "notes_read":
        return "POST", "/notifications/read", {"data": {}}
    if kind == "rules":
        body = draw(st.sampled_from(["obj", "obj", "raw"]))
        if body == "raw":
            raw = draw(st.sampled_from(["[" * 2000, "{", "[1,2]", "null", '"x"', "1e400"]))
            return "POST", f"/a/{ent}/_rules", {"data": raw, "content_type": "application/json"}
        payload: dict[str, Any] = {"values": draw(st.dictionaries(
            st.sampled_from(["quantity", "partner", "ship_date", "lines", "process", "customer", "photos", "x"]),
            hostile, max_size=4))}
        if draw(st.booleans()):
            payload["id"] = draw(st.sampled_from(HUGE_INTS) | json_values)
        if draw(st.integers(0, 5)) == 0:
            payload["values"] = draw(hostile)
        return "POST", f"/a/{ent}/_rules", {"json": payload}
    if kind == "import_post":
        step = draw(st.sampled_from(["upload", "upload", "run", "", "x"]))
        form: dict[str, Any] = {"step": step, "key": draw(texts), "map": draw(st.lists(texts, max_size=3))}
        if step == "upload":
            content = draw(st.sampled_from([b"name,phone\n\xe5\x8d\x8e,138\n", b"\xff\xfe\x00", b"PK\x03\x04junk",
                                            b"", "客户,数量\n宁波,1e400\n".encode(), b"a;b\n1;2\n" * 50]))
            form["file"] = (io.BytesIO(content), draw(st.sampled_from(["a.csv", "a.xlsx", "", "../x"])))
        return "POST", f"/a/{ent}/import", {"data": form, "content_type": "multipart/form-data"}
    if kind == "admin_users":
        form = {"action": draw(st.sampled_from(["add", "update", "", "x"])), "username": draw(texts),
                "password": draw(texts), "roles": draw(st.lists(st.sampled_from(["admin", "planner", "x"]), max_size=3)),
                "active": draw(st.sampled_from(["on", "", "x"])), "display_name": draw(texts)}
        return "POST", "/admin/users", {"data": form}
    if kind == "admin_tokens":
        form = {"action": draw(st.sampled_from(["revoke", "create", ""])), "id": draw(ids | texts),
                "username": draw(st.sampled_from(["boss", "plan", "nobody"]) | texts), "label": draw(texts),
                "expires_days": draw(ids | texts)}
        return "POST", "/admin/tokens", {"data": form}
    if kind == "admin_displays":
        form = {"action": draw(st.sampled_from(["revoke", "create", ""])), "id": draw(ids | texts),
                "board": draw(st.sampled_from(BOARDS) | texts), "label": draw(texts)}
        return "POST", "/admin/displays", {"data": form}
    if kind == "login":
        # (not the fuzz's own users: failed sign-ins would lock them out)
        form = {"username": draw(st.sampled_from(["ghost", "nobody"]) | texts), "password": draw(texts)}
        return "POST", f"/login?next={quote(draw(texts))}", {"data": form}
    if kind == "connectors":
        name = quote(draw(st.sampled_from(["kingdee", "nope", "..", "x" * 300]) | texts), safe="") or "x"
        tail = draw(st.sampled_from(["", "/requests", "/runs", "/reports"]))
        return "GET", f"/api/_connectors{'/' + name + tail if tail else ''}?{q}", {}
    return "GET", "/" + "/".join(quote(draw(texts), safe="") or "x" for _ in range(draw(st.integers(1, 5)))), {}


def test_pages_and_forms_fuzz_gives_no_5xx(site: dict[str, Any]) -> None:
    """Bounded fuzz (JIG_FUZZ_EXAMPLES // 4 examples): every page and form answer is below 500."""
    clients, tokens = site["clients"], site["tokens"]
    seen: Counter[str] = Counter()

    @settings(FUZZ_SETTINGS, max_examples=max(20, EXAMPLES // 4))
    @given(page_requests(), st.sampled_from(["admin", "admin", "planner", "anonymous"]), st.integers(0, 9))
    def one(req: tuple[str, str, dict[str, Any]], who: str, csrf_ok: int) -> None:
        method, url, kw = req
        headers = {}
        if method == "POST" and who in tokens:
            headers["X-CSRF-Token"] = tokens[who] if csrf_ok else "wrong"
        kw = dict(kw)
        if "data" in kw and isinstance(kw["data"], dict):  # file objects are read once: copy per request
            kw["data"] = {k: (io.BytesIO(v[0].getvalue()), v[1]) if isinstance(v, tuple) else v
                          for k, v in kw["data"].items()}
        client = clients[who]
        if url.startswith("/login"):  # a fresh session each time, so the fuzz's signed-in sessions stay
            client = site["app"].test_client()
            headers["X-CSRF-Token"] = csrf(client) if csrf_ok else "wrong"
        r = client.open(url, method=method, headers=headers, **kw)
        top = url.split("?")[0].split("/")[1]
        seen[f"{method} {top if top in KNOWN else 'other'} {r.status_code}"] += 1
        assert r.status_code < 500, f"{who} {method} {url[:200]} {str(kw)[:200]} -> {r.status_code}"

    one()
    print("UI fuzz answers:", dict(sorted(seen.items())))  # shown with pytest -s
    assert seen["POST admin 200"] and seen["GET a 200"] and seen["POST a 200"] and seen["POST login 401"], seen  # forms were really accepted
