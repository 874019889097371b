"""An SMS whose recipient cannot be reached is kept as `undeliverable` with the reason, never dropped.

`jig rules run` reports it and exits non-zero; once the cause is fixed (the user gets a phone number,
the role a holder, the record a number), a retry resolves the recipient again and delivers it; a
second run of the rule sends nothing twice.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from runtime import clock
from runtime.auth import SYSTEM

APP = """
app: dl
roles:
  planner: {label: {zh: 计划员, en: Planner}}
  supervisor: {label: {zh: 车间主管, en: Supervisor}}
  qc: {label: {zh: 质检员, en: QC}}
entities:
  job:
    fields:
      code: {type: text}
      contact: {type: text}
sms:
  provider: log
templates:
  late:
    text: "工单{{ code }}延误"
    limit_per_day: 5
rules:
  late:
    on: {schedule: "every 5m"}
    for_each: job
    once: per_record
    do:
      - sms: {to_roles: [planner, supervisor, qc], template: late, params: {code: "code"}}
      - sms: {to: "contact", template: late, params: {code: "code"}}
"""


def _rows(rt: Any) -> list[dict[str, Any]]:
    return sorted(({**r, "payload": json.loads(r["payload"])} for r in rt.outbox.search(limit=100)),
                  key=lambda r: r["id"])


def _sms_log(rt: Any) -> list[tuple[str, str]]:
    log = rt.tables.system["jig_sms_log"]
    with rt.db.read() as conn:
        return [(r.to, r.status) for r in conn.execute(select(log.c.to, log.c.status).order_by(log.c.id))]


def test_unreachable_recipients_are_kept_reported_and_retried(make_runtime: Any, database_url: str,
                                                               tmp_path: Path) -> None:
    (tmp_path / "dl.yaml").write_text(APP, encoding="utf-8")
    rt = make_runtime(texts={"dl.yaml": APP}, extensions=True)
    rt.users.add("ann", "pw-123456", ["planner"], phone="137 0000 0001")
    rt.users.add("bob", "pw-123456", ["supervisor"], display_name="王工")
    rt.users.add("root", "pw-123456", ["admin"])
    rt.users.add("eve", "pw-123456", ["admin"], language="en")
    rt.records.create(SYSTEM, rt.entity("dl", "job"), {"code": "J-1", "contact": ""})

    from jig.cli import cli
    base = ["--apps", str(tmp_path), "--database", database_url]
    out = CliRunner().invoke(cli, [*base, "rules", "run", "dl.late"])
    assert out.exit_code == 1, out.output
    assert "fired 1" in out.output and "'sent': 1" in out.output
    assert "王工 (bob): 没有手机号" in out.output and "角色 质检员: 没有用户" in out.output
    assert "#1 contact: 没有手机号" in out.output and "could not be reached" in out.output

    rows = _rows(rt)
    assert [(r["status"], r["payload"]["to"], r["payload"]["recipient"].get("label")) for r in rows] == [
        ("sent", "13700000001", "ann"), ("undeliverable", None, "王工 (bob)"),
        ("undeliverable", None, "质检员"), ("undeliverable", None, "contact")]
    assert all(r["last_error"] for r in rows[1:]) and all(r["source"] == "rule:late" for r in rows)
    assert _sms_log(rt) == [("13700000001", "sent")]
    told = rt.notifications.latest("root")
    assert [n["title"] for n in told] == ["短信无法送达：late"] and "王工 (bob)" in told[0]["body"]
    # the reasons are kept as codes: each reader sees them in their language; rows with only text still show
    told_en = rt.notifications.latest("eve")
    assert [n["title"] for n in told_en] == ["SMS cannot be delivered: Late"]
    assert "User 王工 (bob): no phone number" in told_en[0]["body"] and "Role QC: nobody holds it" in told_en[0]["body"]
    assert json.loads(rt.outbox.get(rows[2]["id"])["result"])["reason"]["code"] == "no_one"
    listed = CliRunner().invoke(cli, [*base, "outbox", "list", "--status", "undeliverable", "--lang", "en"])
    assert "Record #1 contact: no phone number" in listed.output and "Role QC: nobody holds it" in listed.output

    # the same run again: nothing is sent twice, nothing new is undeliverable
    again = CliRunner().invoke(cli, [*base, "rules", "run", "dl.late"])
    assert again.exit_code == 0, again.output
    assert "fired 0" in again.output and len(_rows(rt)) == 4

    # bob gets a phone number (only `user set` was missing it), the role a holder, the record a number
    got = CliRunner().invoke(cli, [*base, "user", "set", "bob", "--phone", "13700000002", "--attr", "team=A"])
    assert got.exit_code == 0, got.output
    bad = CliRunner().invoke(cli, [*base, "user", "set", "bob", "--phone", "call me"])
    assert bad.exit_code == 1 and "not a phone number" in bad.output
    assert json.loads(rt.users.get("bob")["attributes"]) == {"team": "A"}
    bob_row, qc_row, field_row = rows[1]["id"], rows[2]["id"], rows[3]["id"]
    assert rt.outbox.retry(bob_row) == 1 and rt.outbox.retry(qc_row) == 1
    assert rt.outbox.run_due("w") == {"sent": 1, "undeliverable": 1}  # bob's now; nobody holds qc yet
    assert rt.outbox.get(qc_row)["status"] == "undeliverable"
    rt.users.add("cai", "pw-123456", ["qc"], phone="13700000003")
    rt.users.add("dan", "pw-123456", ["qc"])
    rt.outbox.retry(qc_row)
    assert rt.outbox.run_due("w") == {"sent": 1}  # forwarded: one row per holder of the role
    assert rt.outbox.run_due("w") == {"sent": 1}
    job = rt.entity("dl", "job")
    rt.records.update(SYSTEM, job, 1, {"contact": "13900000009"}, None)
    rt.outbox.retry(field_row)
    assert rt.outbox.run_due("w") == {"sent": 1}
    assert _sms_log(rt) == [("13700000001", "sent"), ("13700000002", "sent"), ("13700000003", "sent"),
                            ("13900000009", "sent")]
    by_status = {r["payload"]["recipient"].get("label"): r["status"] for r in _rows(rt)}
    assert by_status["dan"] == "undeliverable" and by_status["cai"] == "sent"
    assert rt.outbox.get(bob_row)["status"] == "sent" and json.loads(rt.outbox.get(bob_row)["payload"])["to"] \
        == "13700000002"

    # an admin gives up on dan's message: it stays in the log, cancelled; a sent row cannot be cancelled
    dan = next(r for r in _rows(rt) if r["payload"]["recipient"].get("user") == "dan")
    assert rt.outbox.cancel(dan["id"]) and not rt.outbox.cancel(bob_row)
    assert rt.outbox.counts() == {"sent": 5, "cancelled": 1}
    assert [r["id"] for r in rt.outbox.search(status="cancelled")] == [dan["id"]]
    assert [len(rt.outbox.search(text="1370000000", limit=2)), len(rt.outbox.search(source="rule:nope"))] == [2, 0]
    first = rt.outbox.search(limit=3)
    assert [r["id"] for r in rt.outbox.search(before=first[-1]["id"], limit=100)] == [
        r["id"] for r in _rows(rt)[::-1][3:]]

    # a scheduled run that kept undeliverable messages records a warning, not "ok", as its last status
    from rules.service import rules_of
    rt.records.create(SYSTEM, job, {"code": "J-2", "contact": ""})
    with clock.frozen(clock.now() + dt.timedelta(days=1)):
        rules_of(rt).scheduler.tick("w")
    state = {s["name"]: s for s in rules_of(rt).scheduler.state()}["rule:dl.late"]
    assert state["last_status"].startswith("warning: 2 undeliverable, 0 error(s): late: 用户 dan: 没有手机号")
    from ui.delivery_log import _view
    with rt.db.write() as conn:
        rt.outbox.add(conn, "sms", {"to": None}, key="old-row", undeliverable="用户 老王: 没有手机号")
    views = {r["key"]: _view(r, {}, "en")["message"] for r in rt.outbox.search(status="undeliverable", limit=10)}
    assert views.pop("old-row") == "用户 老王: 没有手机号"  # written before reason codes: its text as it is
    assert sorted(views.values()) == ["Record #2 contact: no phone number", "User dan: no phone number"]
    assert sorted(_view(r, {}, "zh")["message"] for r in rt.outbox.search(status="undeliverable", limit=10)) == [
        "用户 dan: 没有手机号", "用户 老王: 没有手机号", "记录 #2 contact: 没有手机号"]


def test_reasons_are_codes_rendered_in_the_readers_language() -> None:
    from runtime.reasons import Reason, joined, render
    both = joined([Reason("no_phone", who="王工 (bob)"), Reason("no_one", role={"zh": "质检员", "en": "QC"})])
    assert str(both) == "用户 王工 (bob): 没有手机号; 角色 质检员: 没有用户"  # the text kept for logs and old readers
    stored = json.loads(json.dumps(both.as_dict(), ensure_ascii=False))
    assert render(stored, str(both), "en") == "User 王工 (bob): no phone number; Role QC: nobody holds it"
    assert render({"code": "unknown"}, "老的文字", "en") == "老的文字" and render(None, "老的文字", "en") == "老的文字"
    assert joined([]) is None and joined(["纯文字"]) == "纯文字"
