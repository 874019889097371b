"""WSGI entry point for servers such as gunicorn: ``gunicorn 'jig.wsgi:application'``.

Each server process builds its runtime here (migrating under the database lock) and starts its
background work, as `jig serve` does: without Redis, the embedded jobs, of which the one process
holding their lease in the database runs them. Do not use gunicorn's ``--preload``: threads do not
survive the fork into workers.
"""

from __future__ import annotations

import atexit

from .app import Jig
from .config import Settings
from .logsetup import configure_logging

configure_logging()  # JIG_LOG_FORMAT=json: one JSON object per line, with the request's id
jig = Jig(Settings.from_env())
application = jig.wsgi()
jig.start()
atexit.register(jig.close)  # stops the jobs thread and hands its lease over at once
