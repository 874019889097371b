"""Issue 18: write answers reflect what rules did, rule updates see each other, links respect read rights."""

from __future__ import annotations

from typing import Any

from runtime import api, workflow
from runtime.auth import SYSTEM

APP = """
app: tl
roles: [operator]
entities:
  tool:
    fields:
      code: {type: text, required: true}
      shots: {type: integer}
      owner: {type: text}
      status_note: {type: text}
    workflow:
      initial: active
      states: {active: {}, worn: {}, scrapped: {final: true}}
      transitions:
        wear: {from: active, to: worn}
        scrap: {from: worn, to: scrapped}
    permissions:
      operator: {read: "owner == user.username", transition: true}
  log:
    fields:
      tool: {type: link, to: tool}
      shots: {type: integer}
      note: {type: text}
      checked: {type: text}
    permissions:
      operator: {read: true, create: true, update: true}
rules:
  stamp:
    on: {event: created, entity: log}
    do:
      - set: {note: "'logged'"}
  stamp_again:
    on: {event: updated, entity: log, fields: [checked]}
    do:
      - set: {note: "'checked ' + checked"}
  twice:
    on: {event: created, entity: log}
    when: "shots == 5"
    do:
      - update: {link: tool, set: {shots: "tool.shots + 5"}}
      - update: {link: tool, set: {shots: "tool.shots + 5"}}
  on_wear:
    on: {event: transitioned, entity: tool, transition: wear}
    do:
      - set: {status_note: "'worn'"}
"""


def _world(make_runtime: Any) -> Any:
    rt = make_runtime(texts={"tl.yaml": APP}, extensions=True)
    app = api.create_app(rt, {"TESTING": True})
    rt.users.add("op", "secret-pass", ["operator"])
    rt.users.add("boss", "secret-pass", ["admin"])
    return rt, app


def _client(rt: Any, app: Any, user: str) -> Any:
    c = app.test_client()
    token = rt.users.create_token(user)
    c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return c


def test_create_answer_includes_what_the_created_rule_wrote(make_runtime: Any) -> None:
    rt, app = _world(make_runtime)
    boss = _client(rt, app, "boss")
    tool = boss.post("/api/tl/tool", json={"code": "T1", "shots": 0, "owner": "op"}).get_json()
    r = boss.post("/api/tl/log", json={"tool": tool["id"], "shots": 1})
    assert r.status_code == 201
    created = r.get_json()
    fetched = boss.get(f"/api/tl/log/{created['id']}").get_json()
    assert created["note"] == "logged" and created["version"] == 2
    assert created == fetched
    # the answer's version is the one to send next: no 409
    r = boss.patch(f"/api/tl/log/{created['id']}", json={"version": created["version"], "checked": "ok"})
    assert r.status_code == 200, r.get_json()
    updated = r.get_json()
    assert updated["note"] == "checked ok" and updated["version"] == 4
    assert updated == boss.get(f"/api/tl/log/{created['id']}").get_json()


def test_transition_answer_includes_what_the_transition_rule_wrote(make_runtime: Any) -> None:
    rt, app = _world(make_runtime)
    boss = _client(rt, app, "boss")
    tool = boss.post("/api/tl/tool", json={"code": "T1", "shots": 7, "owner": "op"}).get_json()
    r = boss.post(f"/api/tl/tool/{tool['id']}/transitions/wear", json={"version": tool["version"]})
    assert r.status_code == 200, r.get_json()
    answer = r.get_json()
    assert answer["state"] == "worn" and answer["status_note"] == "worn" and answer["version"] == 3
    assert answer == boss.get(f"/api/tl/tool/{tool['id']}").get_json()
    # the same through the services a form or a link submit calls
    ent = rt.entity("tl", "log")
    made = rt.records.create(SYSTEM, ent, {"tool": tool["id"], "shots": 1})
    assert made == rt.records.get(SYSTEM, ent, made["id"]) and made["note"] == "logged"
    back = workflow.take(rt.records, SYSTEM, rt.entity("tl", "tool"), tool["id"], "scrap", {}, answer["version"])
    assert back["state"] == "scrapped" and back["version"] == 4


def test_two_updates_through_one_link_in_one_firing_add_up(make_runtime: Any) -> None:
    rt, _ = _world(make_runtime)
    tool = rt.records.create(SYSTEM, rt.entity("tl", "tool"), {"code": "T1", "shots": 100})
    rt.records.create(SYSTEM, rt.entity("tl", "log"), {"tool": tool["id"], "shots": 5})
    after = rt.records.get(SYSTEM, rt.entity("tl", "tool"), tool["id"])
    assert after["shots"] == 110 and after["version"] == 3
    rt.records.create(SYSTEM, rt.entity("tl", "log"), {"tool": tool["id"], "shots": 5})
    assert rt.records.get(SYSTEM, rt.entity("tl", "tool"), tool["id"])["shots"] == 120


def test_a_link_field_accepts_only_records_the_user_may_read(make_runtime: Any) -> None:
    rt, app = _world(make_runtime)
    boss = _client(rt, app, "boss")
    op = _client(rt, app, "op")
    mine = boss.post("/api/tl/tool", json={"code": "T1", "shots": 0, "owner": "op"}).get_json()
    other = boss.post("/api/tl/tool", json={"code": "T2", "shots": 0, "owner": "someone"}).get_json()
    assert op.get(f"/api/tl/tool/{other['id']}").status_code == 404
    r = op.post("/api/tl/log", json={"tool": other["id"], "shots": 1})
    assert r.status_code == 422
    body = r.get_json()["error"]
    assert body["code"] == "validation_failed" and set(body["fields"]) == {"tool"}
    # the same answer as for a record that does not exist: nothing is told about records one may not read
    missing = op.post("/api/tl/log", json={"tool": 999999, "shots": 1}).get_json()["error"]
    assert missing["fields"] == body["fields"]
    # relinking an own log to another's tool is refused the same way; a readable tool is fine
    own = op.post("/api/tl/log", json={"tool": mine["id"], "shots": 1})
    assert own.status_code == 201, own.get_json()
    log = own.get_json()
    r = op.patch(f"/api/tl/log/{log['id']}", json={"version": log["version"], "tool": other["id"]})
    assert r.status_code == 422 and set(r.get_json()["error"]["fields"]) == {"tool"}
    # rules, connectors and the system still link anything
    ent = rt.entity("tl", "log")
    assert rt.records.create(SYSTEM, ent, {"tool": other["id"], "shots": 1})["tool"] == other["id"]
    assert rt.records.create(SYSTEM.using("connector"), ent, {"tool": other["id"], "shots": 1})["tool"] == other["id"]
    assert rt.records.create(SYSTEM.using("rule"), ent, {"tool": other["id"], "shots": 1})["tool"] == other["id"]


LINKED = """
app: cal
entities:
  instrument:
    fields:
      code: {type: text, required: true}
      reason: {type: text}
    workflow:
      initial: in_service
      states: {in_service: {}, out_of_service: {}}
      transitions:
        take_out: {from: in_service, to: out_of_service, set: {reason: "'calibration failed'"}}
        put_back: {from: out_of_service, to: in_service}
  calibration:
    fields:
      instrument: {type: link, to: instrument, required: true}
      passed: {type: boolean}
rules:
  failed:
    on: {event: created, entity: calibration}
    when: "not passed"
    do:
      - transition: {link: instrument, name: take_out}
      - update: {link: instrument, set: {code: "instrument.code + '-X'"}}
"""


def test_a_rule_takes_a_transition_on_the_linked_record(make_runtime: Any) -> None:
    rt = make_runtime(texts={"cal.yaml": LINKED}, extensions=True)
    inst, cal = rt.entity("cal", "instrument"), rt.entity("cal", "calibration")
    meter = rt.records.create(SYSTEM, inst, {"code": "M1"})
    rt.records.create(SYSTEM, cal, {"instrument": meter["id"], "passed": True})
    assert rt.records.get(SYSTEM, inst, meter["id"])["state"] == "in_service"
    rt.records.create(SYSTEM, cal, {"instrument": meter["id"], "passed": False})
    now = rt.records.get(SYSTEM, inst, meter["id"])
    # the transition ran with its own set, and the next action saw its effect (the state moved, version 2 -> 3)
    assert (now["state"], now["reason"], now["code"], now["version"]) == ("out_of_service", "calibration failed",
                                                                        "M1-X", 3)
    hist = rt.records.history(SYSTEM, inst, meter["id"])
    assert [(h["action"], h["via"], h.get("transition")) for h in hist] == [
        ("create", "system", None), ("transition", "rule", "take_out"), ("update", "rule", None)]
    # not allowed from the state it is in: skipped (and logged), the firing's other actions still run
    rt.records.create(SYSTEM, cal, {"instrument": meter["id"], "passed": False})
    again = rt.records.get(SYSTEM, inst, meter["id"])
    assert (again["state"], again["code"]) == ("out_of_service", "M1-X-X")


def test_a_linked_transition_names_a_link_and_a_transition_of_its_target() -> None:
    import pytest

    from jig.plugins import default_extensions
    from runtime.errors import DefinitionErrors
    from runtime.loader import load_texts
    for wrong, said in [("{link: instrumen, name: take_out}", "transition.link: 'instrumen' is not a link field"),
                        ("{link: instrument, name: take_outt}", "transition.name: unknown transition 'take_outt'"),
                        ("{link: instrument}", "transition: ")]:
        with pytest.raises(DefinitionErrors) as err:
            load_texts({"cal.yaml": LINKED.replace("{link: instrument, name: take_out}", wrong)},
                       default_extensions())
        assert said in err.value.format()
    assert "did you mean 'take_out'" in str(pytest.raises(DefinitionErrors, load_texts, {
        "cal.yaml": LINKED.replace("name: take_out}", "name: take_outt}")}, default_extensions()).value.format())


THRESHOLD = """
app: th
entities:
  tool:
    fields:
      code: {type: text}
      shots: {type: integer}
      life: {type: integer}
      alerts: {type: integer}
      before_note: {type: text}
rules:
  nearly_worn:
    on: {event: updated, entity: tool, fields: [shots]}
    when: "before.shots < life * 0.9 and shots >= life * 0.9"
    do:
      - set: {alerts: "coalesce(alerts, 0) + 1", before_note: "'was ' + code"}
"""


def test_an_updated_rule_compares_before_and_after_and_fires_at_the_crossing(make_runtime: Any) -> None:
    rt = make_runtime(texts={"th.yaml": THRESHOLD}, extensions=True)
    ent = rt.entity("th", "tool")
    tool = rt.records.create(SYSTEM, ent, {"code": "T1", "shots": 50, "life": 100})
    seen = []
    for shots in (85, 95, 99, 80, 91):
        tool = rt.records.update(SYSTEM, ent, tool["id"], {"shots": shots}, tool["version"])
        seen.append(tool["alerts"])
    # below, crossing, still above, back below (a reset), crossing again
    assert seen == [None, 1, 1, 1, 2]


def test_before_is_only_for_updated_and_transitioned_rules() -> None:
    import pytest

    from jig.plugins import default_extensions
    from runtime.errors import DefinitionErrors
    from runtime.loader import load_texts
    with pytest.raises(DefinitionErrors) as err:
        load_texts({"th.yaml": THRESHOLD.replace("event: updated", "event: created")}, default_extensions())
    assert "unknown name 'before'" in err.value.format()
    with pytest.raises(DefinitionErrors) as err:
        load_texts({"th.yaml": THRESHOLD.replace("before.shots", "before.shotz")}, default_extensions())
    assert "unknown name 'shotz' of before" in err.value.format()


def test_a_transitioned_rule_sees_the_state_it_left(make_runtime: Any) -> None:
    text = LINKED + """
  back:
    on: {event: transitioned, entity: instrument}
    when: "before.state == 'out_of_service' and before.reason == 'calibration failed'"
    do:
      - set: {reason: "'back after ' + before_code"}
"""
    text = text.replace("reason: {type: text}", "reason: {type: text}\n      before_code: {type: text}")
    rt = make_runtime(texts={"cal.yaml": text}, extensions=True)
    inst, cal = rt.entity("cal", "instrument"), rt.entity("cal", "calibration")
    meter = rt.records.create(SYSTEM, inst, {"code": "M1", "before_code": "M1"})
    rt.records.create(SYSTEM, cal, {"instrument": meter["id"], "passed": False})
    out = rt.records.get(SYSTEM, inst, meter["id"])
    assert (out["state"], out["reason"]) == ("out_of_service", "calibration failed")
    back = workflow.take(rt.records, SYSTEM, inst, meter["id"], "put_back", {}, out["version"])
    assert (back["state"], back["reason"]) == ("in_service", "back after M1")


def test_once_works_for_event_rules(make_runtime: Any) -> None:
    text = THRESHOLD.replace('    when: "before.shots < life * 0.9 and shots >= life * 0.9"\n',
                             '    when: "shots >= life * 0.9"\n    once: per_record\n')
    rt = make_runtime(texts={"th.yaml": text}, extensions=True)
    ent = rt.entity("th", "tool")
    tool = rt.records.create(SYSTEM, ent, {"code": "T1", "shots": 50, "life": 100})
    seen = []
    for shots in (95, 99, 80, 91):
        tool = rt.records.update(SYSTEM, ent, tool["id"], {"shots": shots}, tool["version"])
        seen.append(tool["alerts"])
    assert seen == [1, 1, 1, 1]  # per_record: once for the record, whatever events follow
    import pytest

    from jig.plugins import default_extensions
    from runtime.errors import DefinitionErrors
    from runtime.loader import load_texts
    with pytest.raises(DefinitionErrors) as err:
        load_texts({"th.yaml": text.replace("once: per_record", "once: always")}, default_extensions())
    assert "rules.nearly_worn.once: an event rule fires once per event at most" in err.value.format()
