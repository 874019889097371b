"""The jig command line and the production server, as a newcomer would use them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _jig(database_url: str, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jig.cli", "--database", database_url, *args], cwd=ROOT,
                          capture_output=True, text=True, input=input, timeout=120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_check_ok_on_shipped_apps(database_url: str) -> None:
    r = _jig(database_url, "check")
    assert r.returncode == 0, r.stderr
    assert "3 app(s)" in r.stdout


@pytest.mark.one_pass("sqlite", reason="the commands are the same on both databases")
def test_users_tokens_and_serve(database_url: str, tmp_path: Path) -> None:
    assert _jig(database_url, "migrate").returncode == 0
    r = _jig(database_url, "user", "add", "wang", "--password", "s3cret-pass", "--role", "planner",
             "--name", "王芳")
    assert r.returncode == 0, r.stderr
    assert "wang" in _jig(database_url, "user", "list").stdout
    token = _jig(database_url, "token", "create", "wang", "--label", "erp").stdout.strip()
    assert token.startswith("jig_")
    listed = _jig(database_url, "token", "list").stdout
    assert "wang" in listed and token not in listed  # only a prefix is ever shown again
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "jig.cli", "--database", database_url, "serve", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        body = None
        for _ in range(100):
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/api/me",
                                             headers={"Authorization": f"Bearer {token}"})
                body = json.loads(urllib.request.urlopen(req, timeout=2).read())
                break
            except OSError:
                time.sleep(0.1)
        assert body == {"username": "wang", "roles": ["planner"], "display_name": "王芳", "language": "zh"}
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
        assert "外发加工跟踪" in page
        server = urllib.request.urlopen(req, timeout=2).headers["Server"]
        assert server.startswith("gunicorn")  # Linux: worker processes, not the Flask development server
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.one_pass("sqlite", reason="the commands are the same on both databases (tests/test_kept_aggregates.py runs both)")
def test_migrate_plans_kept_aggregates_and_rebuild_checks_them(database_url: str) -> None:
    plan = _jig(database_url, "migrate", "--dry-run").stdout
    assert "create_kept" in plan and "kept counts of outsourcing.batch by partner, state" in plan, plan
    assert _jig(database_url, "migrate").returncode == 0
    r = _jig(database_url, "rebuild-aggregates", "--check")
    assert r.returncode == 0 and "jig_kept_" in r.stdout and ": ok" in r.stdout, r.stdout + r.stderr
    assert "differed" not in _jig(database_url, "rebuild-aggregates").stdout
