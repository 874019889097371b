"""`jig serve`: the production server that serves best where it runs.

On Linux and macOS it is gunicorn with several worker processes, each with a few threads (a process per
core serves CPU-bound requests in parallel, which threads of one Python process cannot); on Windows,
where gunicorn does not run, waitress with threads. The layout:

* workers: the number of cores, at least 2 and at most 8 (``--workers``, ``JIG_WORKERS``);
* threads per worker: 4 (``--threads``, ``JIG_THREADS``).

The parent process checks the definitions, migrates the database and settles the session secret once,
before any worker starts, so a definition error is one message and exit 2 (not a worker crash loop), and
workers started together never race to create ``var/secret_key``. Each worker then builds its own Jig
from ``jig.wsgi`` (after the fork: no database connection or thread crosses it); without Redis, the one
process holding the jobs lease in the database runs the embedded jobs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runtime import logs

from .config import Settings

DEFAULT_THREADS = 4


def default_workers() -> int:
    return max(2, min(os.cpu_count() or 1, 8))


def choose_server(requested: str | None) -> str:
    """``gunicorn`` where it runs (not on Windows), else ``waitress``; an explicit choice wins."""
    if requested:
        return requested
    if sys.platform == "win32":
        return "waitress"
    try:
        import gunicorn  # noqa: F401
    except ImportError:  # an install without it: still serve
        return "waitress"
    return "gunicorn"


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment that makes ``Settings.from_env()`` in a worker equal to ``settings``."""
    env = {
        "JIG_DATABASE_URL": settings.database_url,
        "JIG_APPS": os.pathsep.join(str(p) for p in settings.apps),
        "JIG_SECRET_KEY": settings.session_secret(),
        "JIG_VAR": settings.var_dir,
        "JIG_TIMEZONE": settings.timezone,
        "JIG_FILES_DIR": settings.files_dir,
        "JIG_PUBLIC_URL": settings.public_url,
        "JIG_PROXIES": str(settings.proxies),
        "JIG_AUTO_MIGRATE": "1" if settings.auto_migrate else "0",
    }
    if settings.redis_url:
        env["JIG_REDIS_URL"] = settings.redis_url
    return env


def metrics_dir(settings: Settings) -> str:
    """Where the gunicorn workers keep their metrics (prometheus_client's multiprocess mode), emptied now.

    ``PROMETHEUS_MULTIPROC_DIR`` when set, else ``var/prometheus``. Set in the environment before anything
    imports prometheus_client (it reads the variable once), so ``jig serve`` calls this first.
    """
    path = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or Path(settings.var_dir) / "prometheus")
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.db"):  # a previous server's counters: a restart starts them at zero
        old.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return str(path)


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn's ``child_exit`` hook: a dead worker's live gauges (its database pool) stop counting."""
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)


def run_gunicorn(settings: Settings, host: str, port: int, workers: int, threads: int) -> None:
    """Serve ``jig.wsgi:application`` with gunicorn (blocks until stopped by a signal)."""
    from gunicorn.app.base import BaseApplication

    os.environ.update(worker_env(settings))

    class JigServer(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in {
                "bind": f"{host}:{port}", "workers": workers, "threads": threads, "worker_class": "gthread",
                "keepalive": 30, "timeout": 120, "graceful_timeout": 20, "preload_app": False,
                "accesslog": None, "errorlog": "-", "loglevel": os.environ.get("JIG_LOG_LEVEL", "warning").lower(),
                "proc_name": "jig", "child_exit": child_exit,
            }.items():
                self.cfg.set(key, value)
            if logs.wants_json():  # gunicorn's own lines (start, worker exits) as JSON objects too
                self.cfg.set("logconfig_dict", {
                    "version": 1, "disable_existing_loggers": False,
                    "formatters": {"json": {"()": "runtime.logs.JsonFormatter"}},
                    "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json",
                                          "stream": "ext://sys.stderr"}},
                    "root": {"handlers": []},  # jig.wsgi sets up the root logger in each worker
                    "loggers": {"gunicorn.error": {"handlers": ["json"], "propagate": False},
                                "gunicorn.access": {"handlers": [], "propagate": False}},
                })

        def load(self) -> Callable[..., Any]:
            from .wsgi import application  # imported in each worker: builds that worker's Jig
            return application  # type: ignore[no-any-return]

    JigServer().run()


def run_waitress(app: Any, host: str, port: int, threads: int) -> None:
    import waitress
    waitress.serve(app, host=host, port=port, threads=threads, ident="jig")
