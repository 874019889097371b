"""gunicorn settings for running Jig without `jig serve` (which sets all of this itself):

    PROMETHEUS_MULTIPROC_DIR=/run/jig/prometheus gunicorn -c deploy/gunicorn.conf.py 'jig.wsgi:application'

Empty PROMETHEUS_MULTIPROC_DIR before gunicorn starts (the systemd unit does, with RuntimeDirectory) so
counters start at zero; each worker then writes its request metrics there and every scrape sums them.
"""

import os

from jig.serving import child_exit  # noqa: F401 - gunicorn's hook: a dead worker's gauges stop counting

bind = os.environ.get("JIG_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("JIG_WORKERS", "4"))
threads = int(os.environ.get("JIG_THREADS", "4"))
worker_class = "gthread"
keepalive = 30
timeout = 120
graceful_timeout = 20
preload_app = False  # background threads do not survive the fork
accesslog = None  # Jig logs one jig.access line per request itself, with its request id
errorlog = "-"
