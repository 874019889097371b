"""docs/example-tooling.md is true: its app loads, and each behaviour it describes happens."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from runtime import api
from runtime.auth import SYSTEM

from .conftest import ApiClient

DOC = Path(__file__).resolve().parent.parent / "docs" / "example-tooling.md"
YAML = re.search(r"^```yaml\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL).group(1)  # type: ignore[union-attr]


@pytest.fixture
def shop(make_runtime: Any) -> Any:
    return make_runtime(texts={"tooling.yaml": YAML}, extensions=True)


def test_the_rolled_up_counter_warns_once_at_the_crossing(shop: Any) -> None:
    rt = shop
    tool, log = rt.entity("tooling", "tool"), rt.entity("tooling", "shot_log")
    rt.users.add("tr", "secret-pass", ["toolroom"])
    die = rt.records.create(SYSTEM, tool, {"code": "M-017", "life": 10000})
    seen = []
    for shots in (4000, 4500, 800, 300, 200):  # 4000, 8500, 9300 (crosses 9000), 9600, 9800
        rt.records.create(SYSTEM, log, {"tool": die["id"], "shots": shots})
        now = rt.records.get(SYSTEM, tool, die["id"])
        seen.append((now["shots"], now["warnings"]))
    assert seen == [(4000, None), (8500, None), (9300, 1), (9600, 1), (9800, 1)]
    assert now["life_used"] == "98.0"
    # the outbox delivers the notification; the rule queued exactly one
    from rules.service import rules_of
    rules_of(rt).jobs.run_once()
    assert [n["body"] or n["title"] for n in rt.notifications.latest("tr")] == ["模具 M-017 寿命已用 90%"]


def test_a_failed_calibration_takes_the_gauge_out_of_service(shop: Any) -> None:
    rt = shop
    gauge, cal = rt.entity("tooling", "gauge"), rt.entity("tooling", "calibration")
    g = rt.records.create(SYSTEM, gauge, {"code": "G-01"})
    rt.records.create(SYSTEM, cal, {"gauge": g["id"], "passed": True})
    assert rt.records.get(SYSTEM, gauge, g["id"])["state"] == "in_service"
    rt.records.create(SYSTEM, cal, {"gauge": g["id"], "passed": False})
    now = rt.records.get(SYSTEM, gauge, g["id"])
    assert (now["state"], now["reason"]) == ("out_of_service", "校准不合格")
    assert [h["via"] for h in rt.records.history(SYSTEM, gauge, g["id"])][-1] == "rule"


def test_the_dashboard_orders_by_the_computed_share_and_shows_each_role_its_widgets(shop: Any) -> None:
    from ui import dashboards as dash
    rt = shop
    tool, log = rt.entity("tooling", "tool"), rt.entity("tooling", "shot_log")
    for i, (life, shots) in enumerate([(1000, 500), (200, 150), (5000, 100), (100, 99)]):
        t = rt.records.create(SYSTEM, tool, {"code": f"M-{i}", "life": life})
        rt.records.create(SYSTEM, log, {"tool": t["id"], "shots": shots})
    board = rt.apps["tooling"].sections["dashboards"]["toolroom"]
    rt.users.add("op", "secret-pass", ["operator"])
    rt.users.add("tr", "secret-pass", ["toolroom"])
    op, tr = rt.users.actor_for("op"), rt.users.actor_for("tr")
    top = dash.compute(rt, tr, board, "zh")["widgets"]
    assert len(top) == 2
    codes = [r for r in _codes(top[0])]
    assert codes == ["M-3", "M-1", "M-0", "M-2"]  # 99 %, 75 %, 50 %, 2 %
    # the operator may not read gauges, and the second widget is for the tool room: they see the table only
    assert dash.may_open(op, board)
    assert [w["title"] for w in dash.compute(rt, op, board, "zh")["widgets"]] == ["寿命已用最高的模具"]


def _codes(widget: dict[str, Any]) -> list[str]:
    rows = widget.get("rows") or []
    out = []
    for r in rows:
        cells = r.get("cells") if isinstance(r, dict) else None
        first = cells[0] if cells else r
        out.append(first.get("text") if isinstance(first, dict) else str(first))
    return out


def test_the_operator_logs_shots_through_the_api_and_cannot_touch_the_counter(shop: Any) -> None:
    rt = shop
    app = api.create_app(rt, {"TESTING": True})
    rt.users.add("op", "secret-pass", ["operator"])
    rt.users.add("tr", "secret-pass", ["toolroom"])
    op = ApiClient(app.test_client(), rt.users.create_token("op"))
    tr = ApiClient(app.test_client(), rt.users.create_token("tr"))
    die = tr.post("/api/tooling/tool", {"code": "M-9", "life": 100}).get_json()
    assert op.post("/api/tooling/shot_log", {"tool": die["id"], "shots": 60}).status_code == 201
    r = tr.patch(f"/api/tooling/tool/{die['id']}", {"shots": 0, "version": die["version"]})
    assert r.status_code == 422
    got = op.get(f"/api/tooling/tool/{die['id']}").get_json()
    assert (got["shots"], got["life_used"], got["version"]) == (60, "60.0", die["version"])


def test_the_api_sorts_and_filters_by_the_computed_share_page_by_page(shop: Any) -> None:
    rt = shop
    app = api.create_app(rt, {"TESTING": True})
    rt.users.add("tr", "secret-pass", ["toolroom"])
    tr = ApiClient(app.test_client(), rt.users.create_token("tr"))
    log = rt.entity("tooling", "shot_log")
    for i, (life, shots) in enumerate([(1000, 500), (200, 150), (5000, 100), (100, 99), (400, 300), (10, 0)]):
        t = rt.records.create(SYSTEM, rt.entity("tooling", "tool"), {"code": f"M-{i}", "life": life})
        rt.records.create(SYSTEM, log, {"tool": t["id"], "shots": shots})
    seen, after = [], None
    while True:
        r = tr.get("/api/tooling/tool?sort=-life_used&limit=2" + (f"&after={after}" if after else ""))
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        seen += [(i["code"], i["life_used"]) for i in body["items"]]
        after = body["next"]
        if not after:
            break
    assert seen == [("M-3", "99.0"), ("M-1", "75.0"), ("M-4", "75.0"), ("M-0", "50.0"), ("M-2", "2.0"),
                    ("M-5", "0.0")] or seen == [("M-3", "99.0"), ("M-4", "75.0"), ("M-1", "75.0"), ("M-0", "50.0"),
                                                ("M-2", "2.0"), ("M-5", "0.0")]
    r = tr.get("/api/tooling/tool?life_used__gte=60&sort=life_used")
    assert [i["code"] for i in r.get_json()["items"]][-1] == "M-3" and len(r.get_json()["items"]) == 3
