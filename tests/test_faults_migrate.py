"""Processes that start together migrate one after the other under a database lock (issue 19, item 3).

Three `jig migrate` at once, and three gunicorn workers booting at once, on a fresh database:
every one succeeds and exactly one applies the plan; after a field is added, the same again
(no DuplicateColumn). Runs on SQLite and PostgreSQL (where the race was seen).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, inspect

from .proc_support import ROOT, free_port, jig, jig_env, spawn, stop, wait_for

APPS = ROOT / "apps"
NEW_FIELD = "      name: {type: text, label: {zh: 厂名, en: Name}, required: true, unique: true, max_length: 100}\n"


def _apps(tmp_path: Path, extra_field: bool = False) -> Path:
    d = tmp_path / "apps"
    d.mkdir(exist_ok=True)
    text = (APPS / "outsourcing.yaml").read_text(encoding="utf-8")
    assert NEW_FIELD in text
    if extra_field:
        text = text.replace(NEW_FIELD, NEW_FIELD + "      wechat: {type: text, max_length: 40}\n", 1)
    (d / "outsourcing.yaml").write_text(text, encoding="utf-8")
    return d


full: list[str] = []  # the last run's whole outputs, for the assertion messages


def _migrate_three(tmp_path: Path, database_url: str, apps: Path) -> list[str]:
    env = jig_env(tmp_path, database_url, apps)
    procs = [subprocess.Popen(jig("migrate"), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for _ in range(3)]
    outs: list[str] = []
    full.clear()
    for p in procs:
        out, _ = p.communicate(timeout=180)
        text = out.decode()
        assert p.returncode == 0, text
        outs.append(text.strip().splitlines()[-1])
        full.append(text)
    return outs


@pytest.mark.slow
def test_three_migrations_at_once_all_succeed_and_one_migrates(database_url: str, tmp_path: Path) -> None:
    outs = _migrate_three(tmp_path, database_url, _apps(tmp_path))
    assert sorted(outs)[0] == "applied" and outs.count("applied") == 1, "\n=====\n".join(full)
    # a field added: again three at once, one adds the column, nobody hits DuplicateColumn
    outs = _migrate_three(tmp_path, database_url, _apps(tmp_path, extra_field=True))
    assert outs.count("applied") == 1, "\n=====\n".join(full)
    engine = create_engine(database_url)
    try:
        cols = [c["name"] for c in inspect(engine).get_columns("outsourcing__partner")]
    finally:
        engine.dispose()
    assert cols.count("wechat") == 1


def _boot_gunicorn(tmp_path: Path, database_url: str, apps: Path, tag: str) -> None:
    """Start `gunicorn -w 3 jig.wsgi:application`; every worker must load the app (each migrates at start)."""
    booted = tmp_path / f"booted-{tag}"
    booted.mkdir()
    conf = tmp_path / f"gunicorn-{tag}.py"
    conf.write_text(f"def post_worker_init(worker):\n    open('{booted}/' + str(worker.pid), 'w').close()\n")
    port = free_port()
    log = tmp_path / f"gunicorn-{tag}.log"
    proc = spawn([sys.executable, "-m", "gunicorn", "-w", "3", "-b", f"127.0.0.1:{port}", "-c", str(conf),
                  "--timeout", "120", "jig.wsgi:application"], jig_env(tmp_path, database_url, apps), log)
    try:
        def ready() -> bool:
            assert proc.poll() is None, log.read_text()  # gunicorn halts when a worker fails to boot
            return len(list(booted.iterdir())) == 3
        wait_for(ready, 180, "three gunicorn workers to boot")
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=30).status_code == 200
        assert "Traceback" not in log.read_text(), log.read_text()
    finally:
        stop(proc)


@pytest.mark.one_pass("postgresql", reason="several web processes are a PostgreSQL deployment")
@pytest.mark.slow
def test_three_web_processes_boot_together_on_a_fresh_database(database_url: str, tmp_path: Path) -> None:
    _boot_gunicorn(tmp_path, database_url, _apps(tmp_path), "fresh")
    _boot_gunicorn(tmp_path, database_url, _apps(tmp_path, extra_field=True), "field-added")
