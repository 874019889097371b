"""WSGI entry point for servers such as gunicorn: ``gunicorn 'jig.wsgi:application'``.

Each server process builds its runtime here (migrating under the database lock) and starts its
background work, as `jig serve` does: without Redis, the embedded jobs, of which the one process
holding their lease in the database runs them. Do not use gunicorn's ``--preload``: threads do not
survive the fork into workers.
"""

from __future__ import annotations

import atexit

from .app import build_runtime, create_app
from .config import Settings

_settings = Settings.from_env()
runtime = build_runtime(_settings)
application = create_app(_settings, runtime)
runtime.hooks.emit("runtime.started", runtime)
atexit.register(runtime.close)  # stops the jobs thread and hands its lease over at once
