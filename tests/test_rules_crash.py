"""A worker killed with SIGKILL mid-run loses nothing and sends nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from runtime.auth import SYSTEM

ROOT = Path(__file__).resolve().parent.parent
COUNT = 120

APP = """
app: crash
sms:
  provider: aliyun
  access_key_id: ${ALIYUN_KEY_ID}
  access_key_secret: ${ALIYUN_SECRET}
  sign_name: 测试工厂
  endpoint: {endpoint}
templates:
  overdue: {text: "外发单{{ batch }}已超期", provider_template: SMS_1}
entities:
  partner:
    fields:
      name: {type: text}
      phone: {type: phone}
  batch:
    naming: "WF{####}"
    fields:
      partner: {type: link, to: partner}
      expected_return: {type: date}
rules:
  overdue:
    on: {schedule: "every 1m"}
    for_each: batch
    when: "expected_return < today()"
    once: per_day
    do:
      - sms: {to: "partner.phone", template: overdue, params: {batch: "name"}}
"""


def _worker(apps: Path, url: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "jig.cli", "--apps", str(apps), "--database", url, "scheduler"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.slow
def test_sigkill_mid_run_then_restart_delivers_each_reminder_exactly_once(
        make_runtime: Any, database_url: str, tmp_path: Path) -> None:
    from rules.sms import simulator
    sim, base, stop = simulator.start_simulator()
    try:
        apps = tmp_path / "apps"
        apps.mkdir()
        (apps / "crash.yaml").write_text(APP.replace("{endpoint}", f"{base}/aliyun"), encoding="utf-8")
        env = {**os.environ, "ALIYUN_KEY_ID": simulator.ALIYUN_KEY_ID, "ALIYUN_SECRET": simulator.ALIYUN_SECRET,
               "JIG_POLL_SECONDS": "0.2", "JIG_LEASE_SECONDS": "2",
               "JIG_RULE_CHUNK": "10", "JIG_REDIS_URL": "", "JIG_LOG_LEVEL": "WARNING",
               "JIG_JOBS_LEASE_SECONDS": "3"}  # the restarted worker takes over the jobs once this runs out
        os.environ.update({k: env[k] for k in ("ALIYUN_KEY_ID", "ALIYUN_SECRET")})
        rt = make_runtime(apps=[apps], extensions=True)
        partner, batch = rt.entity("crash", "partner"), rt.entity("crash", "batch")
        for i in range(COUNT):
            p = rt.records.create(SYSTEM, partner, {"name": f"P{i}", "phone": f"1380000{i:04d}"})
            rt.records.create(SYSTEM, batch, {"partner": p["id"], "expected_return": "2020-01-01"})
        first = _worker(apps, database_url, env)
        deadline = time.time() + 60
        while len(sim.delivered) < COUNT // 4 and time.time() < deadline:
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        at_kill = len(sim.delivered)
        assert 0 < at_kill < COUNT, "the kill must land in the middle of the run"
        second = _worker(apps, database_url, env)
        try:
            outbox = rt.outbox.table
            deadline = time.time() + 90
            while time.time() < deadline:
                with rt.db.read() as conn:
                    left = conn.execute(select(func.count()).where(outbox.c.status != "sent")).scalar_one()
                    total = conn.execute(select(func.count()).select_from(outbox)).scalar_one()
                if total == COUNT and left == 0:
                    break
                time.sleep(0.2)
        finally:
            second.terminate()
            second.wait(10)
        per_number = Counter(d["to"] for d in sim.delivered)
        assert len(per_number) == COUNT, f"{COUNT - len(per_number)} reminders never arrived"
        assert set(per_number.values()) == {1}, "a reminder arrived twice"
        firings = rt.tables.system["jig_rule_firings"]
        with rt.db.read() as conn:
            assert conn.execute(select(func.count()).select_from(firings)).scalar_one() == COUNT
        print(f"\nkilled after {at_kill}/{COUNT} deliveries; provider calls in all: {len(sim.requests)}")
    finally:
        stop()
