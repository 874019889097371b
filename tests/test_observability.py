"""Observability: /metrics (Prometheus text) after real activity, /healthz and /readyz, request ids in JSON
log lines, the metrics endpoint's protection, and a real `jig serve` (gunicorn, 2 workers) whose scrapes add
up every worker's requests. One database and one app for the module."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import re
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from connectors import quarantine, state
from jig.logsetup import request_fields
from runtime import clock, logs
from runtime.auth import SYSTEM
from runtime.outbox import Outcome

from .conftest import BACKEND, fresh_database
from .proc_support import free_port, jig, jig_env, spawn, stop, wait_for
from .ui_support import build

SHOP = """
app: shop
title: {zh: 车间, en: Shop}
roles: [clerk]
entities:
  order:
    title: {zh: 订单, en: Order}
    fields:
      code: {type: text, required: true, unique: true}
      phone: {type: phone}
    permissions:
      clerk: {read: true, create: true}
templates:
  hello: {text: "订单 {{ code }} 已登记"}
rules:
  texted:
    on: {event: created, entity: order}
    do:
      - sms: {to: "phone", template: hello, params: {code: "code"}}
connectors:
  erp:
    preset: kingdee_k3cloud
    base_url: http://127.0.0.1:9
    vars: {acct_id: a, user: u, app_id: i, app_secret: "${OBS_TEST_ERP_SECRET}"}
    operations:
      sales_orders:
        entity: order
        key: code
        fields: {code: FBillNo}
"""
SECRET_CODE, SECRET_PHONE = "甲方机密单号", "13800001111"
T0 = dt.datetime(2026, 11, 20, 10, 0, 0)
DEPLOY = Path(__file__).resolve().parent.parent / "deploy"




@dataclass
class Env:
    rt: Any
    app: Any
    obs: Any
    url: str


def _database(tmp: Path) -> Iterator[str]:
    yield from fresh_database(tmp, "jt_obs_")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("obs")
    for url in _database(tmp):
        rt, app = build(url, tmp, texts={"shop.yaml": SHOP})
        rt.extensions.attach(rt)  # rules fire, as in a served Jig
        obs = app.extensions["jig_observability"]
        obs.database.cache_seconds = 0  # every scrape reads the database (the default caches 5 s)
        yield Env(rt, app, obs, url)
        rt.db.dispose()


def scrape(client: Any, **kw: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics", **kw)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.mimetype == "text/plain"
    out = {}
    for family in text_string_to_metric_families(r.get_data(as_text=True)):  # parses, or raises
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_after_activity(env: Env) -> None:
    rt, client = env.rt, env.app.test_client()
    before = scrape(client)
    healthz = ("jig_http_request_duration_seconds_count", (("method", "GET"), ("route", "/healthz")))
    with clock.frozen(T0):
        for code in (SECRET_CODE, "B-2"):  # the rule fires on each: a firing and an SMS in the outbox
            rt.records.create(SYSTEM, rt.entity("shop", "order"), {"code": code, "phone": SECRET_PHONE})
        rt.outbox.register("obs_fail", lambda item: Outcome.dead("the gateway refused it for good"))
        with rt.db.write() as conn:
            rt.outbox.add(conn, "obs_fail", {}, key="obs-dead-1")
        assert rt.outbox.run_due("w1", kinds=["obs_fail"]) == {"dead": 1}
        with rt.db.write() as conn:
            quarantine.put(conn, rt, "erp", "sales_orders", "K-1", {"FBillNo": "K-1"}, "no customer", None, "w")
        state.finish_run(rt, state.start_run(rt, "erp", "sales_orders", "pull"), "ok", {"fetched": 1})
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.open("/nowhere", method="BREW").status_code < 500  # a made-up method: one "OTHER" label
    with clock.frozen(T0 + dt.timedelta(seconds=90)):
        m = scrape(client)
    assert m[("jig_outbox_rows", (("status", "pending"),))] == 2
    assert m[("jig_outbox_backlog", ())] == 2
    assert m[("jig_outbox_dead", ())] == 1
    assert m[("jig_outbox_oldest_waiting_seconds", ())] == 90
    assert m[("jig_rule_firings_today", (("rule", "shop.texted"),))] == 2
    assert m[("jig_connector_quarantined", (("connector", "erp"),))] == 1
    lag = ("jig_connector_sync_lag_seconds", (("connector", "erp"), ("operation", "sales_orders")))
    assert m[lag] == 90
    assert m[("jig_connector_last_run_failed", (("connector", "erp"), ("operation", "sales_orders")))] == 0
    assert m[("jig_database_up", ())] == 1
    assert m[("jig_metrics_errors", (("extension", "rules"),))] == 0
    assert m[("jig_db_pool_connections", (("state", "size"),))] >= 1
    # request latency per route: the three health checks, in this process's histogram
    assert m[healthz] - before.get(healthz, 0) == 3
    ok = ("jig_http_requests_total", (("method", "GET"), ("route", "/healthz"), ("status", "200")))
    assert m[ok] - before.get(ok, 0) == 3
    assert m[("jig_http_requests_total", (("method", "OTHER"), ("route", "<unmatched>"), ("status", "404")))] >= 1
    body = client.get("/metrics").get_data(as_text=True)
    assert "BREW" not in body
    assert SECRET_CODE not in body and SECRET_PHONE not in body  # never record data
    # the shipped alerts and dashboard only use series Jig exports (these two need Redis / a schedule run)
    exported = {name for name, _ in m} | {"jig_jobs_queued", "jig_schedule_overdue_seconds"}
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    exprs = [r["expr"] for g in alerts["groups"] for r in g["rules"]]
    dashboard = json.loads((DEPLOY / "grafana" / "jig.json").read_text(encoding="utf-8"))
    exprs += [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {n for e in exprs for n in re.findall(r"\bjig_[a-z_]+", e)}
    assert used <= exported, used - exported
    assert {"jig_outbox_backlog", "jig_outbox_dead", "jig_connector_sync_lag_seconds"} <= used


def test_metrics_refuse_remote_and_proxied_callers_without_the_token(env: Env) -> None:
    client = env.app.test_client()
    remote = {"environ_base": {"REMOTE_ADDR": "10.1.2.3"}}
    assert client.get("/metrics", **remote).status_code == 403
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403  # via a proxy
    env.obs.token = "s3cret-metrics-token"
    try:
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}, **remote).status_code == 403
        scrape(client, headers={"Authorization": "Bearer s3cret-metrics-token"}, **remote)
    finally:
        env.obs.token = ""
    assert client.get("/healthz", **remote).status_code == 200  # liveness and readiness are for anyone
    assert client.get("/readyz", **remote).status_code == 200


def test_readyz_says_why_it_is_not_ready(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    client, rt = env.app.test_client(), env.rt
    r = client.get("/readyz")
    assert r.status_code == 200 and r.get_json()["ready"] is True
    redis_url = os.environ.get("JIG_TEST_REDIS_URL")
    if redis_url:
        monkeypatch.setitem(rt.settings, "redis_url", redis_url)
        env.obs._redis = None
        assert client.get("/readyz").status_code == 200
        assert scrape(client)[("jig_jobs_queued", (("queue", "jig"),))] >= 0  # the RQ queue, read from Redis
    monkeypatch.setitem(rt.settings, "redis_url", "redis://127.0.0.1:1/0")  # nothing listens there
    env.obs._redis = None
    r = client.get("/readyz")
    assert r.status_code == 503 and "redis unreachable" in r.get_json()["reason"]
    m = scrape(client)  # the rules' RQ queue gauge cannot be read: only its own samples are lost
    assert m[("jig_metrics_errors", (("extension", "rules"),))] == 1
    assert m[("jig_outbox_dead", ())] >= 0
    monkeypatch.setitem(rt.settings, "redis_url", None)
    env.obs._redis = None
    broken = create_engine(f"sqlite:///{Path(os.devnull) / 'no' / 'such.db'}")
    monkeypatch.setattr(rt.db, "engine", broken)
    r = client.get("/readyz")
    assert r.status_code == 503 and r.get_json() == {"ready": False, "reason": "database unreachable: OperationalError"}
    assert client.get("/healthz").status_code == 200  # alive: the process answers without the database
    assert scrape(client)[("jig_database_up", ())] == 0


def test_json_log_lines_carry_the_request_id(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter(request_fields))
    loggers = [logging.getLogger(n) for n in ("jig.access", "jig.observability")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    client = env.app.test_client()
    try:
        r = client.get("/healthz", headers={"X-Request-Id": "proxy-req-42"})
        assert r.headers["X-Request-Id"] == "proxy-req-42"
        bad = client.get("/healthz", headers={"X-Request-Id": "no spaces <or> markup"})
        assert re.fullmatch(r"[0-9a-f]{32}", bad.headers["X-Request-Id"])  # not well-formed: a new one
        monkeypatch.setattr(env.rt.db, "engine", create_engine(f"sqlite:///{Path(os.devnull) / 'x' / 'y.db'}"))
        client.get("/readyz", headers={"X-Request-Id": "proxy-req-43"})  # logs a warning inside the request
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    first = next(x for x in lines if x.get("request_id") == "proxy-req-42")
    assert first["logger"] == "jig.access" and first["level"] == "INFO"
    assert first["route"] == "/healthz" and first["status"] == 200 and isinstance(first["duration_ms"], float)
    assert {"time", "message"} <= set(first)
    warning = next(x for x in lines if x.get("request_id") == "proxy-req-43" and x["level"] == "WARNING")
    assert warning["route"] == "/readyz" and "database unreachable" in warning["message"]
    assert any(x.get("request_id") == bad.headers["X-Request-Id"] for x in lines)


def test_gunicorn_workers_metrics_add_up(tmp_path: Path) -> None:
    """`jig serve` with 2 gunicorn workers: every scrape, whichever worker answers it, counts every request."""
    if BACKEND != "sqlite":
        pytest.skip("the server is the same on PostgreSQL; one pass is enough")
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "shop.yaml").write_text(SHOP, encoding="utf-8")
    port = free_port()
    e = jig_env(tmp_path, f"sqlite:///{tmp_path / 'jig.db'}", apps, JIG_LOG_FORMAT="json", JIG_LOG_LEVEL="INFO",
                JIG_METRICS_CACHE_SECONDS="0")
    e.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "serve.log"
    proc = spawn(jig("serve", "--port", str(port), "--workers", "2", "--threads", "2"), e, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: urllib.request.urlopen(f"{base}/readyz", timeout=5).status == 200, 60, "jig serve")
        n = 0
        while len(_healthz_pids(log)) < 2:  # until both workers have answered some (each its own histogram)
            req = urllib.request.Request(f"{base}/healthz", headers={"X-Request-Id": f"gunicorn-{n}"})
            assert urllib.request.urlopen(req, timeout=5).status == 200
            n += 1
            assert n < 500, "one worker answered every request"
        for _ in range(4):  # each scrape may reach either worker: every one says n
            body = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
            found = {(s.name, tuple(sorted(s.labels.items()))): s.value
                     for f in text_string_to_metric_families(body) for s in f.samples}
            assert found[("jig_http_requests_total", (("method", "GET"), ("route", "/healthz"), ("status", "200")))] == n
            assert found[("jig_outbox_backlog", ())] == 0
            assert found[("jig_db_pool_connections", (("state", "size"),))] > 0  # the live workers' pools
    finally:
        stop(proc, signal.SIGINT)  # gunicorn's quick shutdown
    assert (tmp_path / "var" / "prometheus").is_dir()


def _healthz_pids(log: Path) -> set[int]:
    """The worker processes whose JSON access lines show a /healthz request with a test's request id."""
    lines = [json.loads(x) for x in log.read_text(encoding="utf-8", errors="replace").splitlines() if x.startswith("{")]
    return {x["pid"] for x in lines if x.get("route") == "/healthz" and str(x.get("request_id")).startswith("gunicorn-")}


def test_scheduler_logs_json_lines(tmp_path: Path) -> None:
    """`jig scheduler` (and `jig worker`, same setup) with JIG_LOG_FORMAT=json: every log line is one JSON object."""
    if BACKEND != "sqlite":
        pytest.skip("the same logging on PostgreSQL; one pass is enough")
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "shop.yaml").write_text(SHOP, encoding="utf-8")
    e = jig_env(tmp_path, f"sqlite:///{tmp_path / 'jig.db'}", apps, JIG_LOG_FORMAT="json")
    r = subprocess.run(jig("scheduler", "--once"), env=e, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [json.loads(line) for line in r.stderr.splitlines()]  # each parses, or this fails
    assert any(x["logger"] == "jig.connectors" and "OBS_TEST_ERP_SECRET" in x["message"] for x in lines), lines
    assert all({"time", "level", "logger", "message", "pid"} <= set(x) for x in lines)
