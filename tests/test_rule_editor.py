"""The rule editor's API without a browser: picker rows <-> expression, test now (the scheduler's SQL, at a given
time, nothing sent), SMS preview, unreachable recipients, enable/disable published at once, `jig rules run --at`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from builder.extension import BuilderExtension
from runtime import api, clock
from runtime.auth import SYSTEM
from runtime.core import Runtime

APP = """app: outs
title: {zh: 外发, en: Outsourcing}
roles: [planner, supervisor]
sms: {provider: log}
templates:
  overdue:
    text: "外发单{{ batch }}已超期{{ days }}天"
entities:
  partner:
    fields:
      name: {type: text, required: true}
      phone: {type: phone}
      last_late: {type: text}
  product:
    fields:
      code: {type: text}
  bom:
    fields:
      product: {type: link, to: product}
      lines:
        type: table
        fields:
          item: {type: link, to: product}
          qty: {type: decimal}
          sub_bom: {type: link, to: bom}
  job:
    fields:
      product: {type: link, to: product}
      qty: {type: decimal}
  batch:
    naming: "WF-{####}"
    fields:
      partner: {type: link, to: partner, required: true}
      product: {type: link, to: product}
      expected_return: {type: date, required: true}
      qty: {type: integer}
      days_late: {type: computed, expr: "max(0, days_between(expected_return, today()))"}
    workflow:
      initial: shipped
      states: {shipped: {}, done: {final: true}}
      transitions: {finish: {from: shipped, to: done}}
rules:
  overdue:
    label: {zh: 超期提醒, en: Overdue}
    on: {schedule: "every 1h", between: "08:00-20:00"}
    for_each: batch
    when: "state == 'shipped' and expected_return < today()"
    once: per_day
    batch_by: partner
    do:
      - sms: {to: "partner.phone", template: overdue, params: {batch: "name", days: "days_late"}}
"""
MONDAY = dt.datetime(2026, 12, 7, 9, 0)
BASE = "/api/builder/apps/outs"


@pytest.fixture
def rt(make_runtime: Callable[..., Runtime]) -> Runtime:
    runtime = make_runtime(texts={"outs.yaml": APP}, extensions=True, settings={"embedded_jobs": False})
    with runtime.db.write() as conn:
        runtime.publisher.record_imports(conn, [("outs", "outs.yaml", APP)])
    actor = SYSTEM.using("system")
    with clock.frozen(dt.datetime(2026, 12, 2, 10, 0)):
        a = runtime.records.create(actor, runtime.entity("outs", "partner"), {"name": "华新", "phone": "13800001111"})
        b = runtime.records.create(actor, runtime.entity("outs", "partner"), {"name": "永盛"})  # no phone
        for partner, due in ((a, "2026-12-01"), (a, "2026-12-04"), (b, "2026-11-30"), (a, "2026-12-20")):
            runtime.records.create(actor, runtime.entity("outs", "batch"),
                                   {"partner": partner["id"], "expected_return": due, "qty": 5})
    runtime.users.add("li", "secret-pass", ["builder"])
    runtime.users.add("wang", "secret-pass", ["planner"], phone="13900002222")
    runtime.users.add("zhao", "secret-pass", ["planner"], display_name="赵师傅")  # no phone
    return runtime


@pytest.fixture
def client(rt: Runtime) -> Any:
    app = api.create_app(rt, {"TESTING": True})
    BuilderExtension().init_web(app, rt)
    c = app.test_client()
    c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {rt.users.create_token('li')}"
    return c


def _picker_rows_become_an_expression_checked_and_compiled_to_sql(client: Any) -> None:
    rows = [{"field": "state", "op": "in", "value": "shipped, done"},
            {"field": "expected_return", "op": "<", "value": "today"},
            {"field": "qty", "op": ">=", "value": "3"}]
    r = client.post(f"{BASE}/condition", json={"entity": "batch", "rows": rows})
    body = r.get_json()
    assert r.status_code == 200 and body["ok"] and body["sql"] is True, body
    assert body["expr"] == "state in ('shipped', 'done') and expected_return < today() and qty >= 3"
    assert body["picker"]["rows"] == [{**rows[0], "value": "shipped, done"}, rows[1], rows[2]]
    r = client.post(f"{BASE}/condition", json={"entity": "batch", "rows": [
        {"field": "expected_return", "op": "overdue_days", "value": "2"}]}).get_json()
    assert r["expr"] == "days_since(expected_return) >= 2" and r["sql"] is True
    assert r["picker"]["rows"][0]["op"] == "overdue_days"
    # mistakes are said at once, at the row or the column
    bad = client.post(f"{BASE}/condition", json={"entity": "batch", "rows": [
        {"field": "qty", "op": ">", "value": "many"}]}).get_json()
    assert not bad["ok"] and bad["errors"][0]["row"] == 0 and "number" in bad["errors"][0]["message"]
    bad = client.post(f"{BASE}/condition", json={"entity": "batch", "expr": "expected_retrun < today()"}).get_json()
    assert not bad["ok"] and "expected_return" in (bad["errors"][0]["hint"] + bad["errors"][0]["message"])
    assert client.post(f"{BASE}/condition", json={"entity": "nope", "expr": "1"}).status_code == 404
    assert client.post(f"{BASE}/condition", json={"entity": "batch"}).status_code == 400


def _test_now_lists_matches_messages_and_who_cannot_be_reached_without_sending(rt: Runtime, client: Any) -> None:
    r = client.post(f"{BASE}/rules/overdue/test", json={"at": "2026-12-07 09:00"})
    body = r.get_json()
    assert r.status_code == 200, body
    assert body["at"].startswith("2026-12-07 09:00") and body["in_window"] is True
    assert [x["name"] for x in body["records"]] == ["WF-0001", "WF-0002", "WF-0003"]  # WF-0004 is due on the 20th
    assert [(m["to"], m["text"]) for m in body["messages"]] == [("13800001111", "外发单WF-0001、WF-0002已超期6、3天")]
    assert [u for u in body["unreachable"] if u["kind"] == "no_number"] == [
        {"kind": "no_number", "action": 0, "record": "WF-0003", "expr": "partner.phone"}]
    # the day before: the one due on the 4th is not overdue yet; at 21:00 the window is closed
    body = client.post(f"{BASE}/rules/overdue/test", json={"at": "2026-12-04T21:00"}).get_json()
    assert [x["name"] for x in body["records"]] == ["WF-0001", "WF-0003"] and body["in_window"] is False
    outbox = rt.tables.system["jig_outbox"]
    with rt.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 0  # nothing sent
    # an unsaved version of the rule: to the planners, one of whom has no phone
    spec = {"on": {"schedule": "every 1h"}, "for_each": "batch", "when": "days_since(expected_return) >= 5",
            "do": [{"sms": {"to_roles": ["planner"], "template": "late", "params": {"batch": "name"}}}]}
    body = client.post(f"{BASE}/rules/late_planners/test", json={
        "rule": spec, "templates": {"late": {"text": "超期：{{ batch }}"}}, "at": "2026-12-07 09:00"}).get_json()
    assert [x["name"] for x in body["records"]] == ["WF-0001", "WF-0003"]
    assert [(m["to"], m["text"]) for m in body["messages"]] == [("13900002222", "超期：WF-0001"),
                                                                ("13900002222", "超期：WF-0003")]
    assert {"kind": "no_phone", "user": "zhao", "name": "赵师傅", "roles": ["planner"], "action": 0} in body["unreachable"]
    # a rule with errors: 422 with every error at its path
    r = client.post(f"{BASE}/rules/broken/test", json={"rule": {**spec, "for_each": "batchh"}})
    assert r.status_code == 422 and any("batchh" in e["message"] for e in r.get_json()["error"]["errors"])
    assert client.post(f"{BASE}/rules/overdue/test", json={"at": "next monday"}).status_code == 400


def _preview_and_recipient_warnings(client: Any) -> None:
    r = client.post(f"{BASE}/rules/overdue/preview", json={"record": 2, "at": "2026-12-07 09:00"}).get_json()
    assert r["items"] == [{"action": 0, "to": ["13800001111"], "text": "外发单WF-0002已超期3天", "chars": 15}]
    assert client.post(f"{BASE}/rules/overdue/preview", json={"record": 999}).status_code == 404
    assert client.post(f"{BASE}/rules/overdue/preview", json={"record": "x"}).status_code == 400
    r = client.post(f"{BASE}/recipients", json={"roles": ["planner", "supervisor"], "users": ["ghost"]}).get_json()
    kinds = sorted((u["kind"], u.get("user") or u.get("role")) for u in r["unreachable"])
    assert kinds == [("no_one", "supervisor"), ("no_phone", "zhao"), ("no_user", "ghost")]
    items = client.get(f"{BASE}/records/batch").get_json()["items"]
    assert [i["name"] for i in items][:2] == ["WF-0004", "WF-0003"]


UPDATE_EXPLODE = {"on": {"schedule": "every 1h"}, "for_each": "batch", "when": "days_since(expected_return) >= 5",
                  "do": [{"update": {"link": "partner", "set": {"last_late": "name"}}},
                         {"explode": {"item": "product", "qty": "qty",
                                      "bom": {"entity": "bom", "product": "product", "lines": "lines", "item": "item",
                                              "qty": "qty", "sub_bom": "sub_bom"},
                                      "create": {"entity": "job", "values": {"product": "item", "qty": "qty"}}}}]}


def _update_and_explode_round_trip_and_say_what_they_would_do(rt: Runtime, client: Any) -> None:
    """The editor's `update` (a linked record) and `explode` (through the BOM) actions: saved as the rule's
    YAML, checked at their paths, and "test now" says what they would change and create, writing nothing."""
    actor = SYSTEM.using("system")
    p1 = rt.records.create(actor, rt.entity("outs", "product"), {"code": "P1"})["id"]
    p2 = rt.records.create(actor, rt.entity("outs", "product"), {"code": "P2"})["id"]
    sub = rt.records.create(actor, rt.entity("outs", "bom"), {"product": p2, "lines": []})["id"]
    rt.records.create(actor, rt.entity("outs", "bom"), {"product": p1, "lines": [
        {"item": p2, "qty": "2", "sub_bom": sub}]})
    rt.records.update(actor, rt.entity("outs", "batch"), 1, {"product": p1}, None)
    r = client.post(f"{BASE}/draft/edits", json={"edits": [
        {"op": "set", "path": ["rules", "late_work"], "value": UPDATE_EXPLODE}], "plan": False}).get_json()
    assert r["errors"] == [], r["errors"]
    assert "explode:" in r["draft"]["yaml"] and "sub_bom: sub_bom" in r["draft"]["yaml"]
    body = client.post(f"{BASE}/rules/late_work/test", json={"at": "2026-12-07 09:00"}).get_json()
    upd, exp = body["other"]
    assert upd["kind"] == "update" and [(d["record"], d["target_id"], d["values"]) for d in upd["details"]] == [
        ("WF-0001", 1, {"last_late": "WF-0001"}), ("WF-0003", 2, {"last_late": "WF-0003"})]
    assert exp["kind"] == "explode" and exp["creates"] == {"job": 2}  # P1 x5, then its sub-assembly P2 x10
    assert [(d["record"], d["values"]["product"], float(d["values"]["qty"])) for d in exp["details"]] == [
        ("WF-0001", p1, 5.0), ("WF-0001", p2, 10.0)]
    with rt.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(rt.tables.for_entity(rt.entity("outs", "job")))
                            ).scalar_one() == 0
    # mistakes in the forms' values are errors at their paths
    bad = {**UPDATE_EXPLODE, "do": [{"update": {"link": "product", "set": {"nope": "1"}}},
                                    {"explode": {**UPDATE_EXPLODE["do"][1]["explode"], "qty": "qtty"}}]}
    r = client.post(f"{BASE}/draft/edits", json={"edits": [
        {"op": "set", "path": ["rules", "late_work"], "value": bad}], "plan": False}).get_json()
    paths = sorted(e["path"] for e in r["errors"])
    assert paths == ["rules.late_work.do[0].update.set.nope", "rules.late_work.do[1].explode.qty"], r["errors"]
    assert client.post(f"{BASE}/draft/edits", json={"edits": [{"op": "delete", "path": ["rules", "late_work"]}],
                                                   "plan": False}).status_code == 200


def _enable_and_disable_are_published_at_once_as_versions(rt: Runtime, client: Any) -> None:
    state = client.get(f"{BASE}/rules").get_json()["items"]
    assert [(s["name"], s["enabled"], s["published"], s["firings_today"]) for s in state] == [
        ("overdue", True, True, 0)]
    r = client.post(f"{BASE}/rules/overdue/enabled", json={"enabled": False})
    assert r.status_code == 200 and r.get_json()["changed"], r.get_json()
    with rt.db.read() as conn:
        current = rt.definitions.current(conn, "outs")
        diff = rt.definitions.diff(conn, "outs", 1, current.number)
    assert current.author == "li" and "停用规则 overdue" in current.message
    assert [line for line in diff.splitlines() if line.startswith(("+ ", "- ", "+", "-"))
            and not line.startswith(("+++", "---"))] == ["+    enabled: false"]
    r = client.post(f"{BASE}/rules/overdue/enabled", json={"enabled": True}).get_json()
    with rt.db.read() as conn:
        assert rt.definitions.current(conn, "outs").yaml == APP and r["changed"]
    assert client.post(f"{BASE}/rules/nope/enabled", json={"enabled": True}).status_code == 404
    assert client.post(f"{BASE}/rules/overdue/enabled", json={"enabled": "no"}).status_code == 400


def test_the_editor_api(rt: Runtime, client: Any) -> None:
    """One runtime for the editor's calls (each part leaves the published rule as it found it, then the last
    toggles it): picker rows, bad input (4xx), preview and recipients, test now, enable/disable."""
    _picker_rows_become_an_expression_checked_and_compiled_to_sql(client)
    _bad_rules_and_templates_are_4xx(client)
    _preview_and_recipient_warnings(client)
    _test_now_lists_matches_messages_and_who_cannot_be_reached_without_sending(rt, client)
    _update_and_explode_round_trip_and_say_what_they_would_do(rt, client)
    _enable_and_disable_are_published_at_once_as_versions(rt, client)


def test_rules_run_at_a_time_fires_once_per_batch_per_day(rt: Runtime) -> None:
    from rules.service import rules_of
    from rules.trial import find_rule
    rule = find_rule(rt.apps["outs"], "overdue")
    engine = rules_of(rt).engine
    with clock.as_of(MONDAY):
        first = engine.run_scheduled(rule, "t")
        again = engine.run_scheduled(rule, "t")
        assert clock.today() == MONDAY.date()
    assert clock.now() != MONDAY
    assert (first.fired, again.fired, again.scanned) == (3, 0, 0)
    firings = rt.tables.system["jig_rule_firings"]
    with rt.db.read() as conn:
        assert set(conn.execute(select(firings.c.occurrence)).scalars()) == {"2026-12-07"}


def test_jig_rules_test_and_run_at_a_time(make_runtime: Callable[..., Runtime], tmp_path: Any, database_url: str
                                          ) -> None:
    from click.testing import CliRunner

    from jig.cli import cli as main
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "outs.yaml").write_text(APP, encoding="utf-8")
    rt = make_runtime(texts={"outs.yaml": APP})
    actor = SYSTEM.using("system")
    with clock.frozen(dt.datetime(2026, 12, 2, 10, 0)):
        a = rt.records.create(actor, rt.entity("outs", "partner"), {"name": "华新", "phone": "13800001111"})
        for due in ("2026-12-01", "2026-12-06"):
            rt.records.create(actor, rt.entity("outs", "batch"), {"partner": a["id"], "expected_return": due})
    base = ["--database", database_url, "--apps", str(apps), "rules"]
    runner = CliRunner()
    looked = runner.invoke(main, [*base, "test", "overdue", "--at", "2026-12-07 09:00"])
    assert looked.exit_code == 0, looked.output
    assert "2 record(s) match" in looked.output and "SMS to 13800001111: 外发单WF-0001、WF-0002已超期6、1天" in looked.output
    ran = runner.invoke(main, [*base, "run", "overdue", "--at", "2026-12-07 09:00"])
    assert ran.exit_code == 0 and "fired 2" in ran.output and "as of 2026-12-07 09:00" in ran.output, ran.output
    again = runner.invoke(main, [*base, "test", "overdue", "--at", "2026-12-07T15:00"])
    assert again.output.count("already fired for this occurrence") == 2, again.output
    bad = runner.invoke(main, [*base, "run", "overdue", "--at", "monday"])
    assert bad.exit_code == 2 and "2026-12-07 09:00" in bad.output


def _bad_rules_and_templates_are_4xx(client: Any) -> None:
    spec = {"on": {"schedule": "every 1h"}, "for_each": "batch",
            "do": [{"sms": {"to": "partner.phone", "template": "t"}}, {"notify": {"message": "{{ name"}}]}
    for body in ({"rule": spec, "templates": {"t": {"text": "{% if %}"}}}, {"rule": spec, "templates": {"t": 5}},
                 {"rule": {"on": 5}}, {"rule": []}, {"rule": {}, "templates": {"Bad-Name": {"text": "x"}}},
                 {"at": 5}, {"at": "2026-02-30 09:00"}):
        r = client.post(f"{BASE}/rules/x/test", json=body)
        assert 400 <= r.status_code < 500, (body, r.status_code, r.get_data(as_text=True)[:300])
        r = client.post(f"{BASE}/rules/x/preview", json={**body, "record": 1})
        assert 400 <= r.status_code < 500, (body, r.status_code, r.get_data(as_text=True)[:300])
    for body in ({"entity": "batch", "rows": "x"}, {"entity": "batch", "rows": [{"field": "qty", "op": "in"}]},
                 {"entity": "batch", "rows": [{"field": 5}], "join": []}, {"entity": "batch", "expr": "qty +"}):
        r = client.post(f"{BASE}/condition", json=body)
        assert r.status_code == 200 and not r.get_json()["ok"], (body, r.get_json())
    assert client.post(f"{BASE}/recipients", json={"roles": "planner"}).status_code == 400
    assert client.post(f"{BASE}/rules/Bad-Name/test", json={}).status_code == 404
