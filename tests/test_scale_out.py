"""Scale-out, for real (issue 17): the outsourcing story and a planner's publish across a deployed topology
while processes die.

On loopback: two web processes (`jig serve`, gunicorn) behind a tiny round-robin client (nginx's part),
two `jig worker`, one `jig scheduler`, a redis-server of the test's own (noeviction, AOF, as
docs/deploy.md says) and a fresh PostgreSQL database. The SMS and Kingdee simulators stand in for the
providers. In the middle one worker and one web process are killed with SIGKILL and Redis restarts.

* The killed **web** process is restarted (its supervisor's `Restart=always`): while it is down the proxy
  skips it; the story-4 check needs both processes up to show both serve the publish.
* The killed **worker** is not: the other worker must take over what it held (its leased rows, once the
  lease runs out) and everything queued. A restarted worker would prove less. The kill lands wherever the
  worker is (three batches and their SMS were just queued); a worker killed while it holds a row the
  provider already took is pinned down in tests/test_faults_jobs.py.

Then nothing is lost or doubled: every SMS arrived once (per outbox key and per message), every ERP
write-back once, every answered action is in the records' history once, no outbox row is left pending or
dead, and both web processes serve the published definition. Waits are bounded polls, never timings.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bench.support.topology import Redis, RoundRobin, Topology, wait_for
from rules.service import rules_of
from runtime import clock
from runtime.auth import SYSTEM

from .conftest import APPS
from .proc_support import jig_env

SAFETY = 60  # seconds: the limit of a stuck wait, not a timing claim
LEASE, TICK = 3, 0.3


def outsourcing_app(sms_endpoint: str) -> str:
    """The shipped outsourcing app, adapted to the test: the aliyun simulator as SMS provider, the overdue
    check every minute without its 08:00-20:00 window (no wall-clock dependence; the window is tested in
    tests/test_rules.py), and the ERP number and produced quantity a Kingdee write-back sends."""
    from ruamel.yaml import YAML
    y = YAML()
    doc = y.load((APPS / "outsourcing.yaml").read_text(encoding="utf-8"))
    doc["sms"] = {"provider": "aliyun", "access_key_id": "${ALIYUN_KEY_ID}", "access_key_secret": "${ALIYUN_SECRET}",
                  "sign_name": "测试工厂", "endpoint": sms_endpoint, "timeout": 20}
    doc["rules"]["overdue_reminder"]["on"] = {"schedule": "every 1m"}
    batch = doc["entities"]["batch"]
    batch["fields"]["erp_no"] = {"type": "text", "max_length": 40}
    batch["fields"]["produced_qty"] = {"type": "integer", "readonly": True}
    batch["workflow"]["transitions"]["inspect"]["set"] = {"produced_qty": "returned_qty"}
    out = io.StringIO()
    y.dump(doc, out)
    return out.getvalue()


CONNECTOR = """
connectors:
  kingdee:
    app: outsourcing
    preset: kingdee_k3cloud
    base_url: ${KINGDEE_URL}
    vars: {acct_id: sim, user: jig, app_id: jig-app, app_secret: "${KINGDEE_APP_SECRET}"}
    timeout: {connect: 2, read: 10}
    retry: {attempts: 3, backoff: 0.05, max_backoff: 0.2}
    operations:
      production_report:
        entity: batch
        on: ["transition:inspect"]
        when: "state == 'done' and erp_no is not None"
        number: "'JIG-' + name"
"""


def png() -> bytes:
    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


class Story:
    """The client side: who asks what, and every action a web process answered with success."""

    def __init__(self, bases: list[str], tokens: dict[str, str]):
        self.as_ = {who: RoundRobin(bases, {"Authorization": f"Bearer {tok}"}) for who, tok in tokens.items()}
        self.anon = RoundRobin(bases)
        self.done: Counter[tuple[int, str]] = Counter()  # (batch id, action) answered 2xx

    def create(self, body: dict[str, Any], who: str = "pl") -> dict[str, Any]:
        r = self.as_[who].post("/api/outsourcing/batch", json=body)
        assert r.status_code == 201, r.text
        rec = r.json()
        self.done[(rec["id"], "create")] += 1
        return rec  # type: ignore[no-any-return]

    def take(self, who: str, rec: dict[str, Any], name: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self.as_[who].post(f"/api/outsourcing/batch/{rec['id']}/transitions/{name}",
                               json={**(data or {}), "version": rec["version"]})
        assert r.status_code == 200, r.text
        self.done[(rec["id"], name)] += 1
        return r.json()  # type: ignore[no-any-return]

    def link(self, token: str, rec_id: int, action: str, version: int, values: dict[str, Any] | None = None,
             photo: bool = False) -> dict[str, Any]:
        page = self.anon.get(f"/l/{token}")
        assert page.status_code == 200, page.text[:300]
        csrf = re.search(r'data-csrf="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        values = dict(values or {})
        if photo:  # uploaded through one process, saved with the record through the next one
            up = self.anon.post(f"/l/{token}/files", files={"file": ("p.png", png(), "image/png")},
                                headers={"X-Link-Token": csrf})
            assert up.status_code == 201, up.text
            values["photos"] = [up.json()["key"]]
        r = self.anon.post(f"/l/{token}", json={"action": action, "version": version, "worker_name": "王厂长",
                                                 "values": values}, headers={"X-Link-Token": csrf})
        assert r.status_code == 200, r.text
        self.done[(rec_id, "update" if action == "save" else action)] += 1
        return r.json()  # type: ignore[no-any-return]


@pytest.mark.one_pass("postgresql", reason="the scaled-out deployment runs on PostgreSQL and Redis")
@pytest.mark.slow
def test_story_2_and_4_across_two_web_two_workers_a_scheduler_with_kills_and_a_redis_restart(
        make_runtime: Any, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors.simulator import Erp, Simulator
    from rules.sms import simulator as sms
    sim, sms_base, stop_sms = sms.start_simulator()
    erp = Simulator(Erp(seed=3)).start()
    apps = tmp_path / "apps"
    (apps / "connectors").mkdir(parents=True)
    (apps / "outsourcing.yaml").write_text(outsourcing_app(f"{sms_base}/aliyun"), encoding="utf-8")
    (apps / "connectors" / "kingdee.yaml").write_text(CONNECTOR, encoding="utf-8")
    env = jig_env(tmp_path, database_url, apps, JIG_POLL_SECONDS=str(TICK), JIG_LEASE_SECONDS=str(LEASE),
                  ALIYUN_KEY_ID=sms.ALIYUN_KEY_ID, ALIYUN_SECRET=sms.ALIYUN_SECRET, KINGDEE_URL=erp.url,
                  KINGDEE_APP_SECRET="sim-secret", JIG_PUBLIC_URL="https://jig.example.cn", JIG_LOG_LEVEL="INFO")
    monkeypatch.setenv("KINGDEE_URL", erp.url)  # this test's own runtime reads the connector too
    monkeypatch.setenv("KINGDEE_APP_SECRET", "sim-secret")
    rt = make_runtime(apps=[apps], extensions=True)  # migrates the fresh database; runs no jobs
    E = rt.entity
    partners = [rt.records.create(SYSTEM, E("outsourcing", "partner"), {"name": f"厂{i}", "phone": f"1380013{i:04d}"})
                for i in range(3)]
    for user, role in (("boss", "admin"), ("pl", "planner"), ("qc", "qc")):
        rt.users.add(user, f"{user}-pass-1", [role])
    tokens = {u: rt.users.create_token(u) for u in ("boss", "pl", "qc")}
    redis = Redis(tmp_path / "redis")
    top = Topology(tmp_path, dict(env, JIG_REDIS_URL=redis.url))
    try:
        redis.start()
        assert (redis.config("maxmemory-policy"), redis.config("appendonly")) == ("noeviction", "yes")
        bases = [top.web("web1", wait=False), top.web("web2", wait=False)]  # everything starts together
        top.worker()
        top.worker()
        for base in bases:
            top.ready(base)
        st = Story(bases, tokens)
        today = clock.today()
        late = {"ship_date": str(today - dt.timedelta(days=10)), "expected_return": str(today - dt.timedelta(days=2))}
        soon = {"ship_date": str(today), "expected_return": str(today + dt.timedelta(days=5))}

        # ---- story 2, first half: batches go out (3 overdue), each partner gets its link by SMS
        def send_out(i: int) -> dict[str, Any]:
            return st.create({"customer": "宁波精密", "product_no": f"P-{i}", "quantity": 100 + i,
                              "partner": partners[i % 3]["id"], "process": "plating", "sms_partner": True,
                              "erp_no": f"MO{i:04d}", **(late if i < 3 else soon)})
        batches = [send_out(i) for i in range(6)]
        top.scheduler()  # the overdue check (every minute) first runs when the scheduler first sees it: now

        def links() -> dict[str, str]:  # batch name -> link token, from the SMS the partners received
            return {d["params"]["batch"]: re.search(r"/l/([A-Za-z0-9_-]{32})", d["params"]["link"]).group(1)
                    for d in list(sim.delivered) if d["template"] == "SMS_OUTSOURCING_LINK"}
        wait_for(lambda: len(links()) == 6, SAFETY, "the six link SMS")
        wait_for(lambda: sum(d["template"] == "SMS_OUTSOURCING_OVERDUE" for d in sim.delivered) == 3, SAFETY,
                 "one overdue SMS per partner")
        tok = links()
        for b in batches[:4]:  # the partner starts processing from its phone
            r = st.link(tok[b["name"]], b["id"], "start", b["version"])
            b.update(version=r["version"], state=r["state"])

        # ---- the faults: a burst of work, then a worker and a web process die, and Redis restarts
        batches += [send_out(i) for i in range(6, 9)]
        top.kill("worker1")
        top.kill("web2")
        redis.restart()
        # the overdue check again, the same day, after the faults: every overdue batch had its SMS today
        rule = next(r for r in rules_of(rt).engine.rules if r.name == "overdue_reminder")
        again = rules_of(rt).engine.run_scheduled(rule, "test")
        assert [b["state"] for b in batches[:3]] == ["processing"] * 3  # still overdue and open...
        assert (again.scanned, again.fired) == (0, 0), again  # ...and already fired today: not picked again
        for b in batches[:2]:  # the partner reports the return (with a photo) while web2 is down
            r = st.link(tok[b["name"]], b["id"], "return", b["version"], {"returned_qty": 98}, photo=True)
            b.update(version=r["version"], state=r["state"])
        top.web("web2")  # the supervisor restarts it; the worker stays dead
        wait_for(lambda: len(links()) == 9, SAFETY, "the link SMS of the batches sent out during the faults")
        tok = links()
        for b in batches[2:4]:
            r = st.link(tok[b["name"]], b["id"], "return", b["version"], {"returned_qty": 100})
            b.update(version=r["version"], state=r["state"])

        # ---- story 4: the planner adds a field and a state in the designer's API and publishes
        boss = st.as_["boss"]
        r = boss.post("/api/builder/apps/outsourcing/draft/edits", json={"edits": [
            {"op": "set", "path": ["entities", "batch", "fields", "packing"], "after": "quantity",
             "value": {"type": "text", "max_length": 40, "label": {"zh": "包装方式", "en": "Packing"}}},
            {"op": "set", "path": ["entities", "batch", "workflow", "states", "on_hold"], "after": "processing",
             "value": {"label": {"zh": "暂停", "en": "On hold"}, "color": "grey"}},
            {"op": "set", "path": ["entities", "batch", "workflow", "transitions", "hold"],
             "value": {"label": {"zh": "暂停", "en": "Hold"}, "from": "processing", "to": "on_hold",
                       "roles": ["planner", "manager"]}},
            {"op": "set", "path": ["entities", "batch", "workflow", "transitions", "resume"],
             "value": {"label": {"zh": "恢复", "en": "Resume"}, "from": "on_hold", "to": "processing",
                       "roles": ["planner", "manager"]}},
            {"op": "append", "path": ["links", "partner_update", "edit"], "value": "packing"}]})
        assert r.status_code == 200 and not r.json().get("errors"), r.json().get("errors")
        r = boss.post("/api/builder/apps/outsourcing/publish", json={"message": "包装方式 + 暂停"})
        assert r.status_code == 200, r.text
        for base in bases:  # every web process serves it (bounded poll: each refreshes on its own)
            wait_for(lambda b=base: "packing" in boss.session.get(f"{b}/api/openapi.json", timeout=30).text,
                     SAFETY, f"{base} to serve the publish")
        for i, b in enumerate(batches[4:6]):  # the link form takes the new field, through each process
            r = st.link(tok[b["name"]], b["id"], "save", b["version"], {"packing": f"纸箱{i}"})
            assert r["version"] > b["version"]
            b["version"] = r["version"]
        held = st.take("pl", batches[6], "start") if batches[6].get("state") != "processing" else batches[6]
        held = st.take("pl", held, "hold")
        assert held["state"] == "on_hold"
        for _ in bases:
            rec = st.create({"customer": "宁波精密", "product_no": "P-NEW", "quantity": 5, "packing": "木箱",
                             "partner": partners[0]["id"], **soon})
            assert rec["packing"] == "木箱"

        # ---- the board (signed in through one process, read from each) and QC closes the returned batches
        for base in bases:
            s = RoundRobin([base])
            login = s.get("/login").text
            csrf = re.search(r'name="csrf-token" content="([^"]+)"', login).group(1)  # type: ignore[union-attr]
            assert s.post("/login", data={"username": "pl", "password": "pl-pass-1", "csrf_token": csrf},
                          allow_redirects=False).status_code == 302
            board = s.get("/board/outsourcing/board")
            assert board.status_code == 200 and batches[4]["name"] in board.text, board.text[:500]
        closed = []
        for b in batches[:4]:
            got = st.as_["qc"].get(f"/api/outsourcing/batch/{b['id']}").json()
            assert got["state"] == "awaiting_qc", got
            r = st.as_["qc"].request("PATCH", f"/api/outsourcing/batch/{b['id']}",
                                     json={"qc_result": "pass", "version": got["version"]})
            assert r.status_code == 200, r.text
            st.done[(b["id"], "update")] += 1
            closed.append(st.take("qc", r.json(), "inspect"))
        assert {c["state"] for c in closed} == {"done"}

        # ---- nothing lost, nothing twice
        outbox = rt.outbox.table

        def settled() -> bool:
            with rt.db.read() as conn:
                rows = conn.execute(select(outbox.c.status)).scalars().all()
            return bool(rows) and set(rows) == {"sent"}
        wait_for(settled, SAFETY, "every outbox row sent (none pending, retrying or dead)")
        with rt.db.read() as conn:
            rows = [dict(r) for r in conn.execute(select(outbox.c.kind, outbox.c.key)).mappings()]
        sms_keys = {r["key"] for r in rows if r["kind"] == "sms"}
        per_key = Counter(d["key"] for d in sim.delivered)
        # (the provider's OutId is the row's key, hashed when longer than aliyun allows)
        assert len(per_key) == len(sms_keys) and set(per_key.values()) == {1}, per_key.most_common(3)
        per_message = Counter((d["template"], d["to"], d["params"].get("batch")) for d in sim.delivered)
        assert set(per_message.values()) == {1}, per_message.most_common(3)
        link_sms = [d for d in sim.delivered if d["template"] == "SMS_OUTSOURCING_LINK"]
        assert len(link_sms) == len(batches)  # the two created after the publish had no sms_partner
        overdue = [d for d in sim.delivered if d["template"] == "SMS_OUTSOURCING_OVERDUE"]
        assert sorted(d["to"] for d in overdue) == sorted(p["phone"] for p in partners)  # once a day per partner
        reports = erp.erp.report_counts()
        assert sorted(reports) == sorted(f"JIG-{b['name']}" for b in batches[:4]), reports
        assert set(reports.values()) == {1}, reports
        ent = E("outsourcing", "batch")
        seen: Counter[tuple[int, str]] = Counter()
        for rec_id in {k[0] for k in st.done}:
            for h in rt.records.history(SYSTEM, ent, rec_id):
                seen[(rec_id, h.get("transition") or h["action"])] += 1
        missing = {k: n for k, n in st.done.items() if seen[k] < n}
        assert not missing, f"history entries missing: {missing}\nhistory: {dict(seen)}"
        assert all(top.alive(n) for n in ("web1", "web2", "worker2", "scheduler")), top.logs()

        # ---- what an operator sees on each machine's /metrics: the backlog drained, no dead letters
        def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
            from prometheus_client.parser import text_string_to_metric_families
            text = RoundRobin([base]).get("/metrics").text
            return {(smp.name, tuple(sorted(smp.labels.items()))): smp.value
                    for fam in text_string_to_metric_families(text) for smp in fam.samples}
        def drained(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
            got = scrape(base)
            return got if got[("jig_outbox_backlog", ())] == 0 else None
        for base in bases:
            m = wait_for(lambda b=base: drained(b), SAFETY, f"{base}/metrics to show the backlog drained (cached 5 s)")
            assert m[("jig_outbox_dead", ())] == 0 and m[("jig_jobs_queued", (("queue", "jig"),))] == 0
            assert m[("jig_rule_firings_today", (("rule", "outsourcing.partner_gets_link"),))] == len(batches)
            assert m[("jig_connector_quarantined", (("connector", "kingdee"),))] == 0
            assert m[("jig_db_pool_connections", (("state", "size"),))] > 0
            assert any(k[0] == "jig_http_request_duration_seconds_count" and ("route", "/l/<token>") in k[1]
                       for k in m), "request latency per route"
        print(f"\nserved per web process: {st.as_['pl'].served}; history entries checked: {sum(st.done.values())}")
    except AssertionError:
        print(top.logs())
        raise
    finally:
        top.stop_all()
        redis.stop()
        erp.stop()
        stop_sms()
