"""Servers and the Python load client shared by bench/crud.py's modes."""

from __future__ import annotations

import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CONFIG_ENV = "JIG_BENCH_CONFIG"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])




class Server:
    def __init__(self, name: str, factory: str, cfg_path: Path, log: Path, extra_path: str | None = None,
                 ready_path: str = "/api/bench/item/1"):
        self.ready_path = ready_path
        self.name = name
        self.port = free_port()
        env = dict(os.environ, **{CONFIG_ENV: str(cfg_path)})
        gunicorn = Path(sys.executable).parent / "gunicorn"
        cmd = [str(gunicorn) if gunicorn.exists() else "gunicorn", "--worker-class", "gthread", "--workers", "1",
               "--threads", "1", "--keep-alive", "30", "--bind", f"127.0.0.1:{self.port}", "--log-level", "warning",
               # bench/ is imported as a namespace package, not put on the path: bench/rules.py would
               # otherwise shadow the rules package
               "--pythonpath", ",".join([*([extra_path] if extra_path else []), str(ROOT)]),
               f"{factory}()"]
        self.log = log.open("wb")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, token: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} server exited; see {self.log.name}")
            try:
                status, _ = request(self.port, "GET", self.ready_path, token)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} server not ready after {timeout} s")

    def cpu(self) -> float:
        """CPU seconds used so far by the server (gunicorn master and workers)."""
        return tree_cpu(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def request(port: int, method: str, path: str, token: str | None, body: Any = None) -> tuple[int, Any]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        c.request(method, path, body=None if body is None else
                  (body if isinstance(body, (str, bytes)) else json.dumps(body)), headers=headers)
        r = c.getresponse()
        raw = r.read()
        try:
            return r.status, json.loads(raw) if raw else None
        except ValueError:
            return r.status, raw
    finally:
        c.close()


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children, from /proc (Linux); 0.0 elsewhere.

    On a shared machine the wall-clock throughput swings with the other load; the CPU time a server spends
    per request does not (much): bench/crud.py reports both."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    stats: dict[int, tuple[int, float]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0.0
    for e in entries:
        if not e.isdigit():
            continue
        try:
            raw = Path(f"/proc/{e}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        stats[int(e)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    todo, total = [pid], 0.0
    while todo:
        p = todo.pop()
        total += stats.get(p, (0, 0.0))[1]
        todo.extend(c for c, (ppid, _) in stats.items() if ppid == p)
    return total


Maker = Callable[[random.Random], tuple[str, str, Any]]


class Pool:
    """Record ids handed out one by one to the load threads (transitions consume their record)."""

    def __init__(self, first: int, last: int):
        self.next, self.last = first, last
        self.lock = threading.Lock()

    def take(self) -> int | None:
        with self.lock:
            if self.next > self.last:
                return None
            self.next += 1
            return self.next - 1


def drive(port: int, token: str, maker: Maker, duration: float, conns: int, seed: int = 0,
          headers: dict[str, str] | None = None) -> tuple[float, int, int]:
    """Requests from ``maker`` over ``conns`` keep-alive connections for ``duration`` s: (req/s, failures, count).
    A maker that raises StopIteration (an exhausted pool) ends its thread early; the rate counts the time used."""
    hdrs = {"Content-Type": "application/json", **(headers or {"Authorization": f"Bearer {token}"})}
    counts = [0] * conns
    errors = [0] * conns
    ends = [0.0] * conns
    start = time.monotonic()
    stop = start + duration

    def worker(i: int) -> None:
        rnd = random.Random(seed * 1000 + i)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        n = 0
        try:
            while time.monotonic() < stop:
                try:
                    method, path, body = maker(rnd)
                except StopIteration:
                    break
                c.request(method, path, body=None if body is None else json.dumps(body), headers=hdrs)
                r = c.getresponse()
                r.read()
                if r.status >= 300:
                    errors[i] += 1
                n += 1
        except OSError:
            errors[i] += 1
        finally:
            c.close()
            counts[i] = n
            ends[i] = time.monotonic()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + 60)
    elapsed = max(max(ends) - start, 1e-6)
    return sum(counts) / elapsed, sum(errors), sum(counts)
