"""Rule actions: signed webhooks, transitions, one record per child row, the outbox CLI."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import select

from runtime.auth import SYSTEM

ROOT = Path(__file__).resolve().parent.parent

APP = """
app: act
entities:
  order:
    fields:
      code: {type: text}
      lines:
        type: table
        fields:
          sku: {type: text}
          qty: {type: integer}
    workflow:
      initial: new
      states: {new: {}, checked: {}, shipped: {final: true}}
      transitions: {check: {from: new, to: checked}, ship: {from: checked, to: shipped}}
  pick:
    fields:
      order: {type: link, to: order}
      sku: {type: text}
      qty: {type: integer}
rules:
  on_create:
    on: {event: created, entity: order}
    do:
      - create: {entity: pick, for_each_row: lines, values: {sku: "sku", qty: "qty * 2"}}
      - transition: check
  on_check:
    on: {event: transitioned, entity: order, transition: check}
    do:
      - webhook: {url: "${HOOK_URL}", secret: "${HOOK_SECRET}", timeout: 5, body: {code: code}}
"""


class _Hook(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_webhook_signed_transition_and_rows(make_runtime: Any, monkeypatch: Any) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HOOK_URL", f"http://127.0.0.1:{server.server_port}/hook")
    monkeypatch.setenv("HOOK_SECRET", "s3cr3t")
    try:
        rt = make_runtime(texts={"act.yaml": APP}, extensions=True)
        order = rt.records.create(SYSTEM, rt.entity("act", "order"),
                                  {"code": "SO-1", "lines": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 5}]})
        picks = rt.tables["act.pick"]
        with rt.db.read() as conn:
            assert [tuple(r) for r in conn.execute(select(picks.c.sku, picks.c.qty).order_by(picks.c.id))] == [
                ("A", 4), ("B", 10)]
        assert rt.records.get(SYSTEM, rt.entity("act", "order"), order["id"])["state"] == "checked"
        assert rt.outbox.run_due("w") == {"sent": 1}
        headers, body = _Hook.received[-1]
        expected = hmac.new(b"s3cr3t", headers["X-Jig-Timestamp"].encode() + b"." + body, hashlib.sha256).hexdigest()
        assert headers["X-Jig-Signature"] == "v1=" + expected
        assert json.loads(body)["code"] == "SO-1" and headers["Idempotency-Key"].startswith("webhook:act.on_check")
    finally:
        server.shutdown()


def test_outbox_cli_lists_and_retries_dead_rows(make_runtime: Any, database_url: str) -> None:
    rt = make_runtime(extensions=True)
    rt.outbox.register("webhook", lambda item: __import__("runtime.outbox", fromlist=["Outcome"]).Outcome.dead("410"))
    with rt.db.write() as conn:
        rt.outbox.add(conn, "webhook", {"url": "http://127.0.0.1:9/x", "body": {}}, key="gone")
    rt.outbox.run_due("w")
    cmd = [sys.executable, "-m", "jig.cli", "--database", database_url, "outbox"]
    env = {**os.environ, "JIG_AUTO_MIGRATE": "0"}
    listed = subprocess.run([*cmd, "list", "--status", "dead"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "dead: 1" in listed.stdout and "gone" in listed.stdout and "410" in listed.stdout
    retried = subprocess.run([*cmd, "retry", "--all"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert "1 row(s) queued again" in retried.stdout
    assert rt.outbox.counts() == {"pending": 1}
