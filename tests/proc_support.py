"""Helpers for tests that run Jig's real processes (web, workers, scheduler, redis-server) on loopback."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from bench.support.topology import free_port, wait_for  # noqa: F401 - one copy, shared with bench/load.py

ROOT = Path(__file__).resolve().parent.parent
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"



def jig_env(tmp: Path, database_url: str, apps: list[Path] | Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("JIG_REDIS_URL", "JIG_APPS", "JIG_DATABASE_URL"):
        env.pop(name, None)
    paths = apps if isinstance(apps, list) else [apps]
    env.update(JIG_DATABASE_URL=database_url, JIG_APPS=os.pathsep.join(str(p) for p in paths), JIG_VAR=str(tmp / "var"),
               JIG_FILES_DIR=str(tmp / "files"), JIG_SECRET_KEY="test-secret", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a process with its output in ``log`` (read it when an assertion fails)."""
    out = log.open("ab")
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def jig(*args: str) -> list[str]:
    return [sys.executable, "-m", "jig.cli", *args]


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class RedisServer:
    """A throwaway redis-server on a free loopback port, started and stopped at will (empty on every start)."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # no persistence: a restart comes back empty, the worst case for the jobs it carried
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from redis import Redis
        wait_for(lambda: Redis.from_url(self.url).ping(), 20, "redis-server")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None
