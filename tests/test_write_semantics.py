"""What a write means: a PATCH that changes nothing writes nothing; system fields are not silently dropped."""

from __future__ import annotations

from typing import Any

from .conftest import World, batch_body


def _history(w: World, batch_id: int) -> list[dict[str, Any]]:
    return w.admin.get(f"/api/outsourcing/batch/{batch_id}/history").get_json()["items"]


def test_a_patch_with_no_real_change_keeps_the_version_and_writes_no_history(world: World) -> None:
    w = world
    b = w.planner.post("/api/outsourcing/batch", batch_body(w.partners["a"])).get_json()
    before = len(_history(w, b["id"]))
    # the same values again, as a form or a client echoing what it read would send them
    r = w.planner.patch(f"/api/outsourcing/batch/{b['id']}", {"quantity": 100, "customer": "宁波精密",
                                                              "version": b["version"]})
    assert r.status_code == 200
    assert r.get_json()["version"] == b["version"]
    assert len(_history(w, b["id"])) == before
    # a real change still moves the version and is in the history
    r = w.planner.patch(f"/api/outsourcing/batch/{b['id']}", {"quantity": 120, "version": b["version"]})
    assert r.status_code == 200 and r.get_json()["version"] == b["version"] + 1
    assert len(_history(w, b["id"])) == before + 1


def test_a_client_may_echo_what_it_read(world: World) -> None:
    w = world
    b = w.planner.post("/api/outsourcing/batch", batch_body(w.partners["a"])).get_json()
    echoed = {k: v for k, v in b.items() if k in ("id", "version", "name", "quantity")}
    r = w.planner.patch(f"/api/outsourcing/batch/{b['id']}", {**echoed, "quantity": 90})
    assert r.status_code == 200 and r.get_json()["quantity"] == 90


def test_creating_with_a_system_field_is_refused_not_ignored(world: World) -> None:
    w = world
    for key, value in (("state", "returned"), ("id", 99), ("version", 7), ("name", "WF-X"), ("created_by", "x")):
        r = w.planner.post("/api/outsourcing/batch", {**batch_body(w.partners["a"]), key: value})
        assert r.status_code == 422, (key, r.get_json())
        assert key in r.get_json()["error"]["fields"], key
    msg = w.planner.post("/api/outsourcing/batch", {**batch_body(w.partners["a"]), "state": "returned"}).get_json()
    assert "流程" in msg["error"]["fields"]["state"]


LOTS = """
app: trace
entities:
  lot:
    naming: "PL{YYYY}-{####}"
    fields:
      serial_no: {type: text, naming: "SN{YY}{MM}{DD}-{###}", unique: true, required: true}
      product: {type: text}
"""


def test_a_naming_series_fills_any_text_field(make_runtime: Any) -> None:
    from runtime import clock
    from runtime.auth import SYSTEM
    from runtime.errors import ValidationFailed
    rt = make_runtime(texts={"trace.yaml": LOTS})
    lot = rt.entity("trace", "lot")
    with clock.frozen(__import__("datetime").datetime(2026, 12, 2, 9, 0)):
        a = rt.records.create(SYSTEM, lot, {"product": "A"})
        b = rt.records.create(SYSTEM, lot, {"product": "B"})
    assert (a["name"], a["serial_no"]) == ("PL2026-0001", "SN261202-001")
    assert b["serial_no"] == "SN261202-002"
    try:
        rt.records.create(SYSTEM, lot, {"product": "C", "serial_no": "MINE"})
        raise AssertionError("a series number was written by hand")
    except ValidationFailed as exc:
        assert "serial_no" in exc.fields


def test_a_naming_series_needs_a_text_field() -> None:
    import pytest

    from runtime.errors import DefinitionErrors
    from runtime.loader import load_texts
    with pytest.raises(DefinitionErrors) as err:
        load_texts({"t.yaml": LOTS.replace("serial_no: {type: text,", "serial_no: {type: integer,")})
    assert "a naming series fills a text field" in err.value.format()
    with pytest.raises(DefinitionErrors) as err:
        load_texts({"t.yaml": LOTS.replace("SN{YY}{MM}{DD}-{###}", "SN{YY}")})
    assert "exactly one counter" in err.value.format()


NOTIFY = """
app: nt
roles:
  planner: {label: {zh: 计划员, en: Planner}}
entities:
  partner:
    fields:
      title: {type: text}
  batch:
    fields:
      partner: {type: link, to: partner}
      qty: {type: integer}
rules:
  tell:
    on: {event: created, entity: batch}
    do:
      - notify: {roles: [planner], title: "{{ partner.title }}", message: "{{ partner.title }} 发出 {{ qty }} 件（{{ qty * 2 }}）"}
"""


def test_messages_follow_links_and_sms_templates_refuse_paths(make_runtime: Any) -> None:
    import pytest

    from jig.plugins import default_extensions
    from rules.service import rules_of
    from runtime.auth import SYSTEM
    from runtime.errors import DefinitionErrors
    from runtime.loader import load_texts
    rt = make_runtime(texts={"nt.yaml": NOTIFY}, extensions=True)
    rt.users.add("p", "secret-pass", ["planner"])
    partner = rt.records.create(SYSTEM, rt.entity("nt", "partner"), {"title": "华新电镀"})
    rt.records.create(SYSTEM, rt.entity("nt", "batch"), {"partner": partner["id"], "qty": 5})
    rules_of(rt).jobs.run_once()
    [note] = rt.notifications.latest("p")
    assert (note["title"], note["body"]) == ("华新电镀", "华新电镀 发出 5 件（10）")
    with pytest.raises(DefinitionErrors) as err:
        load_texts({"nt.yaml": NOTIFY.replace("{{ partner.title }} 发出", "{{ partner.titel }} 发出")},
                   default_extensions())
    assert "rules.tell.do[0].notify.message" in err.value.format() and "titel" in err.value.format()
    sms = NOTIFY + 'templates:\n  t1: {text: "{{ partner.title }} 到期"}\n'
    with pytest.raises(DefinitionErrors) as err:
        load_texts({"nt.yaml": sms}, default_extensions())
    assert "is not a template variable" in err.value.format() and "params" in err.value.format()
