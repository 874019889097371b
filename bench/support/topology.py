"""A scaled-out Jig on one machine, on loopback: web processes (`jig serve`), `jig worker`s, one
`jig scheduler` and a redis-server configured as docs/deploy.md says (noeviction, AOF), against one
database. Used by tests/test_scale_out.py and bench/load.py; processes are started, killed (SIGKILL to
the whole process group: a gunicorn master with its workers) and restarted at will.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
REDIS_SERVER = "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; ``timeout`` is a safety limit, not a measurement."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except AssertionError:
            raise
        except Exception:  # noqa: BLE001 - not ready yet (connection refused...)
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


class Redis:
    """redis-server as deployed: ``maxmemory-policy noeviction``, ``appendonly yes``, ``appendfsync everysec``."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
             "--appendfsync", "everysec", "--maxmemory", "256mb", "--maxmemory-policy", "noeviction",
             "--dir", str(self.dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from redis import Redis as Client
        wait_for(lambda: Client.from_url(self.url).ping(), 30, "redis-server")

    def config(self, key: str) -> str:
        from redis import Redis as Client
        return str(Client.from_url(self.url, decode_responses=True).config_get(key)[key])

    def restart(self) -> None:
        """A clean restart (SIGTERM: redis writes its AOF and exits), as ``systemctl restart redis`` does."""
        self.stop(signal.SIGTERM)
        self.start()

    def stop(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
            self.proc = None


class Topology:
    """The processes of one deployment; each writes its output to ``<tmp>/<name>.log``."""

    def __init__(self, tmp: Path, env: dict[str, str], web_args: tuple[str, ...] = ("--workers", "1",
                                                                                    "--threads", "4")):
        self.tmp = tmp
        self.env = env
        self.web_args = web_args
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}
        self._n = itertools.count(1)

    @staticmethod
    def jig(*args: str) -> list[str]:
        return [sys.executable, "-m", "jig.cli", *args]

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        out = (self.tmp / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(args, cwd=ROOT, env=env or self.env, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        return self.procs[name]

    def web(self, name: str, port: int | None = None, wait: bool = True) -> str:
        """`jig serve` on loopback (its own metrics folder); returns its base URL, by default once it answers
        /readyz (``wait=False``: at once; call ``ready`` later, so that several processes start together)."""
        port = port or self.ports.get(name) or free_port()
        self.ports[name] = port
        env = dict(self.env, PROMETHEUS_MULTIPROC_DIR=str(self.tmp / f"prom-{name}"))
        self.start(name, self.jig("serve", "--host", "127.0.0.1", "--port", str(port), *self.web_args), env)
        base = f"http://127.0.0.1:{port}"
        if wait:
            self.ready(base)
        return base

    @staticmethod
    def ready(base: str) -> None:
        import requests
        wait_for(lambda: requests.get(f"{base}/readyz", timeout=5).status_code == 200, 120, f"{base}/readyz")

    def worker(self) -> str:
        name = f"worker{next(self._n)}"
        self.start(name, self.jig("worker"))
        return name

    def scheduler(self) -> None:
        self.start("scheduler", self.jig("scheduler"))

    def kill(self, name: str) -> None:
        """SIGKILL the process and everything it started (a gunicorn master with its workers)."""
        proc = self.procs[name]
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(30)

    def alive(self, name: str) -> bool:
        return self.procs[name].poll() is None

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(30)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    proc.wait(10)

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(f"---- {p.name}\n{p.read_text(errors='replace')[-tail:]}" for p in sorted(self.tmp.glob("*.log")))


class RoundRobin:
    """What nginx does in front of the web processes, reduced to the test's needs: each request goes to the
    next live backend; a backend that refuses the connection is skipped (nginx's ``proxy_next_upstream
    error``: safe, the request never reached it)."""

    def __init__(self, bases: list[str], headers: dict[str, str] | None = None):
        import requests
        self.bases = list(bases)
        self.session = requests.Session()
        if headers:
            self.session.headers.update(headers)
        self._i = itertools.count()
        self.served: dict[str, int] = {b: 0 for b in bases}

    def request(self, method: str, path: str, **kw: Any) -> Any:
        import requests
        kw.setdefault("timeout", 60)
        last: Exception | None = None
        for _ in range(len(self.bases)):
            base = self.bases[next(self._i) % len(self.bases)]
            try:
                r = self.session.request(method, base + path, **kw)
            except requests.ConnectionError as exc:  # refused: the process is down, try the next one
                last = exc
                continue
            self.served[base] += 1
            return r
        raise AssertionError(f"no web process answered {method} {path}: {last}")

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.request("POST", path, **kw)
