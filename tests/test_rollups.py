"""Roll-ups: counters kept exact by the engine, in the writing transaction, without moving the parent's version."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest

from runtime import api
from runtime.auth import SYSTEM
from runtime.errors import DefinitionErrors, StaleVersion, ValidationFailed
from runtime.loader import load_texts

from .conftest import ApiClient

TOOLING = """
app: tooling
title: {zh: 工装, en: Tooling}
roles:
  operator: {label: {zh: 操作工, en: Operator}}
entities:
  tool:
    title: {zh: 模具, en: Tool}
    fields:
      code: {type: text, required: true, unique: true}
      life: {type: integer, required: true}
      note: {type: text}
      shots: {type: integer, label: {zh: 累计冲次, en: Shots}, rollup: {from: shot_log.tool, sum: shots}}
      runs: {type: integer, rollup: {from: shot_log.tool, count: true, where: "shots > 0"}}
      shots_dec: {type: decimal, scale: 1, rollup: {from: shot_log.tool, sum: shots}}
      alerts: {type: integer}
      parts_cost: {type: decimal, scale: 2, rollup: {from: parts, sum: cost}}
      parts:
        type: table
        fields:
          part: {type: text}
          cost: {type: decimal, scale: 2}
    permissions:
      operator: {read: true, update: true}
  shot_log:
    title: {zh: 冲次记录, en: Shot log}
    fields:
      tool: {type: link, to: tool, required: true}
      shots: {type: integer, required: true}
    permissions:
      operator: {read: true, create: true, update: true, delete: true}
rules:
  nearly_worn:
    on: {event: updated, entity: tool, fields: [shots]}
    when: "before.shots < life * 0.9 and shots >= life * 0.9"
    do:
      - set: {alerts: "coalesce(alerts, 0) + 1"}
"""


@pytest.fixture
def tooling(make_runtime: Any) -> Any:
    return make_runtime(texts={"tooling.yaml": TOOLING}, extensions=True)


def _tool(rt: Any, tool_id: int) -> dict[str, Any]:
    return rt.records.get(SYSTEM, rt.entity("tooling", "tool"), tool_id)


def test_create_change_relink_and_delete_keep_the_counter_exact(tooling: Any) -> None:
    rt = tooling
    tool, log = rt.entity("tooling", "tool"), rt.entity("tooling", "shot_log")
    a = rt.records.create(SYSTEM, tool, {"code": "T1", "life": 1000})
    b = rt.records.create(SYSTEM, tool, {"code": "T2", "life": 1000})
    assert (a["shots"], a["runs"]) == (0, 0)
    l1 = rt.records.create(SYSTEM, log, {"tool": a["id"], "shots": 100})
    l2 = rt.records.create(SYSTEM, log, {"tool": a["id"], "shots": 0})
    assert (_tool(rt, a["id"])["shots"], _tool(rt, a["id"])["runs"]) == (100, 1)
    l2 = rt.records.update(SYSTEM, log, l2["id"], {"shots": 30}, l2["version"])
    assert (_tool(rt, a["id"])["shots"], _tool(rt, a["id"])["runs"]) == (130, 2)
    rt.records.update(SYSTEM, log, l1["id"], {"tool": b["id"]}, l1["version"])  # relinked to the other tool
    assert (_tool(rt, a["id"])["shots"], _tool(rt, b["id"])["shots"]) == (30, 100)
    # an integer sum kept in a decimal field: computed, then stored as a decimal of the field's scale
    assert (_tool(rt, a["id"])["shots_dec"], _tool(rt, b["id"])["shots_dec"]) == ("30.0", "100.0")
    rt.records.delete(SYSTEM, log, l2["id"])
    assert (_tool(rt, a["id"])["shots"], _tool(rt, a["id"])["runs"], _tool(rt, a["id"])["shots_dec"]) == (0, 0, "0.0")
    # the parent's version never moved: nobody editing a tool collides with the counter
    assert _tool(rt, a["id"])["version"] == a["version"]


def test_child_rows_roll_up_into_their_record(tooling: Any) -> None:
    rt = tooling
    tool = rt.entity("tooling", "tool")
    t = rt.records.create(SYSTEM, tool, {"code": "T1", "life": 10, "parts": [
        {"part": "冲头", "cost": "12.50"}, {"part": "弹簧", "cost": "3.20"}]})
    assert t["parts_cost"] == "15.70"
    t = rt.records.update(SYSTEM, tool, t["id"], {"parts": [{"part": "冲头", "cost": "12.50"}]}, t["version"])
    assert t["parts_cost"] == "12.50" and _tool(rt, t["id"])["parts_cost"] == "12.50"


def test_the_threshold_rule_fires_once_at_the_crossing_of_a_rolled_up_counter(tooling: Any) -> None:
    rt = tooling
    tool, log = rt.entity("tooling", "tool"), rt.entity("tooling", "shot_log")
    t = rt.records.create(SYSTEM, tool, {"code": "T1", "life": 1000})
    alerts = []
    for shots in (500, 300, 150, 40):  # 500, 800, 950 (crossing 900), 990
        rt.records.create(SYSTEM, log, {"tool": t["id"], "shots": shots})
        alerts.append(_tool(rt, t["id"])["alerts"])
    assert alerts == [None, None, 1, 1]


def test_nobody_writes_a_rollup_and_a_person_editing_the_parent_is_not_refused(tooling: Any) -> None:
    rt = tooling
    app = api.create_app(rt, {"TESTING": True})
    rt.users.add("op", "secret-pass", ["operator"])
    op = ApiClient(app.test_client(), rt.users.create_token("op"))
    t = rt.records.create(SYSTEM, rt.entity("tooling", "tool"), {"code": "T1", "life": 1000})
    r = op.patch(f"/api/tooling/tool/{t['id']}", {"shots": 5, "version": t["version"]})
    assert r.status_code == 422 and "shots" in r.get_json()["error"]["fields"]
    with pytest.raises(ValidationFailed):
        rt.records.update(SYSTEM, rt.entity("tooling", "tool"), t["id"], {"shots": 5}, t["version"])
    # the operator opened the tool at version 1; meanwhile shots were logged; their save goes through
    assert op.post("/api/tooling/shot_log", {"tool": t["id"], "shots": 7}).status_code == 201
    r = op.patch(f"/api/tooling/tool/{t['id']}", {"note": "换模", "version": t["version"]})
    assert r.status_code == 200 and r.get_json()["shots"] == 7 and r.get_json()["note"] == "换模"


def test_concurrent_logs_on_one_tool_all_count(tooling: Any) -> None:
    rt = tooling
    tool, log = rt.entity("tooling", "tool"), rt.entity("tooling", "shot_log")
    t = rt.records.create(SYSTEM, tool, {"code": "T1", "life": 100000})
    errors: list[BaseException] = []

    def writer() -> None:
        for _ in range(10):
            try:
                rt.records.create(SYSTEM, log, {"tool": t["id"], "shots": 1})
            except StaleVersion:  # never expected: logs are new records
                errors.append(AssertionError("stale"))
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert _tool(rt, t["id"])["shots"] == 40


def test_a_new_rollup_field_is_filled_from_existing_records(make_runtime: Any, database_url: str) -> None:
    without = TOOLING.replace("      runs: {type: integer, rollup: {from: shot_log.tool, count: true, where: \"shots > 0\"}}\n",
                              "")
    rt = make_runtime(texts={"tooling.yaml": without}, extensions=True)
    tool, log = rt.entity("tooling", "tool"), rt.entity("tooling", "shot_log")
    t = rt.records.create(SYSTEM, tool, {"code": "T1", "life": 1000})
    for s in (3, 0, 4):
        rt.records.create(SYSTEM, log, {"tool": t["id"], "shots": s})
    outcome = rt.publisher.publish("tooling", TOOLING, author="test")
    assert outcome.ok, outcome.errors
    rt2 = make_runtime(texts={"tooling.yaml": TOOLING}, extensions=True, migrate=False)
    got = rt2.records.get(SYSTEM, rt2.entity("tooling", "tool"), t["id"])
    assert (got["runs"], got["shots"]) == (2, 7)


@pytest.mark.parametrize("listened", [True, False])
def test_a_write_waiting_on_another_counts_what_that_one_committed(make_runtime: Any, listened: bool) -> None:
    """Two writes to one parent's sources overlap: the second waits on the first, and its roll-up UPDATE
    sees the first's row once that commits (on PostgreSQL, a lone UPDATE would recount from a snapshot
    taken before the wait and lose it). With and without a rule listening to the parent's changes (the
    parent's row is read, or only locked)."""
    rt = make_runtime(texts={"tooling.yaml": TOOLING if listened else TOOLING.split("rules:")[0]},
                      extensions=True)
    tool, log = rt.entity("tooling", "tool"), rt.entity("tooling", "shot_log")
    t = rt.records.create(SYSTEM, tool, {"code": "T1", "life": 100000})
    idle = rt.records.create(SYSTEM, log, {"tool": t["id"], "shots": 0})
    done: list[Any] = []
    second = threading.Thread(target=lambda: done.append(
        rt.records.create(SYSTEM, log, {"tool": t["id"], "shots": 3})))
    with rt.db.write() as c:  # the first write: the idle log now counts (shots and runs both move)
        rt.records.update(SYSTEM, log, idle["id"], {"shots": 5}, idle["version"], conn=c)
        second.start()
        second.join(0.5)  # the second write is waiting for this one
        assert done == []
    second.join()
    assert len(done) == 1
    got = _tool(rt, t["id"])
    assert (got["shots"], got["runs"], got["version"]) == (8, 2, t["version"])
    # a write that leaves what the roll-ups read as it was refreshes nothing, and changes nothing
    rt.records.update(SYSTEM, log, idle["id"], {"shots": 5}, idle["version"] + 1)
    assert (_tool(rt, t["id"])["shots"], _tool(rt, t["id"])["runs"]) == (8, 2)


@pytest.mark.parametrize(("change", "message"), [
    ("rollup: {from: shot_log.tool, sum: shots}}", None),
    ("rollup: {from: shot_log.tol, sum: shots}}", "'shot_log.tol' is not a link from shot_log to tool"),
    ("rollup: {from: shot_logs.tool, sum: shots}}", "unknown entity 'shot_logs'"),
    ("rollup: {from: shot_log.tool, sum: tool}}", "'tool' is not a number field of shot_log"),
    ("rollup: {from: shot_log.tool}}", "a roll-up either sums a field or counts records"),
    ("rollup: {from: shot_log.tool, sum: shots, where: \"user.username == 'a'\"}}",
     "cannot depend on who is looking or on the time"),
    ("rollup: {from: nothere, count: true}}", "'nothere' is not a child table of tool"),
])
def test_rollups_are_checked_at_load(change: str, message: str | None) -> None:
    from jig.plugins import default_extensions
    text = TOOLING.replace("rollup: {from: shot_log.tool, sum: shots}}", change, 1)
    if message is None:
        load_texts({"tooling.yaml": text}, default_extensions())
        return
    with pytest.raises(DefinitionErrors) as err:
        load_texts({"tooling.yaml": text}, default_extensions())
    assert message in err.value.format()
    assert "tooling.yaml:" in err.value.format()


def test_decimal_sums_keep_their_scale(tooling: Any) -> None:
    rt = tooling
    t = rt.records.create(SYSTEM, rt.entity("tooling", "tool"), {"code": "T9", "life": 1, "parts": [
        {"part": "a", "cost": "0.10"}, {"part": "b", "cost": "0.20"}]})
    assert Decimal(t["parts_cost"]) == Decimal("0.30")
