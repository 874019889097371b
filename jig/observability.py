"""What operators watch: ``/metrics`` (Prometheus text), ``/healthz``, ``/readyz``, request ids and access logs.

Registered by :func:`jig.app.create_app`; everything it keeps lives on one :class:`Observability` object owned
by the Flask app (``app.extensions["jig_observability"]``).

* Request latency per route is a histogram of this process (``jig_http_request_duration_seconds{route,method}``,
  and ``jig_http_requests_total{route,method,status}``). Under ``jig serve``'s gunicorn, whose worker
  processes each answer some scrapes, prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``,
  set by ``jig serve``) sums every worker's files, so each scrape sees the whole server.
* Gauges about the database's state (outbox backlog, dead letters, firings, connectors' sync lag and quarantine)
  are read from the database at scrape time through the ``metrics`` hook (runtime.metrics.Sample), cached
  ``JIG_METRICS_CACHE_SECONDS`` (5 s): every process answers the same.
* ``/metrics`` answers loopback requests that did not come through a proxy, or a request with
  ``Authorization: Bearer $JIG_METRICS_TOKEN``; anything else gets 403. It never carries record data.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from runtime.api import RuntimeSource
from runtime.metrics import Sample, pool_samples, runtime_samples

from .logsetup import UNMATCHED

log = logging.getLogger("jig.observability")
access = logging.getLogger("jig.access")
REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
FORWARDED = ("X-Forwarded-For", "X-Real-Ip", "Forwarded")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class DatabaseCollector(Collector):
    """The gauges read from the database, the runtime's and every extension's, cached a few seconds."""

    def __init__(self, source: RuntimeSource, cache_seconds: float):
        self.source = source
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= self.cache_seconds:
                self._cached = (now, self._read())
            yield from self._cached[1]

    def _read(self) -> list[Metric]:
        rt = self.source.current()
        samples: list[Sample] = []
        up = 1.0
        try:
            samples += runtime_samples(rt)
        except Exception:  # noqa: BLE001 - the scrape still answers, saying the database is down
            log.warning("metrics: could not read the database", exc_info=True)
            up = 0.0
        samples.append(Sample("jig_database_up", up, {}, "1 when the last scrape could read the database"))
        errors: dict[str, float] = {}
        if up:
            for name, hook in rt.extensions.metric_sources():
                try:
                    samples += hook(runtime=rt)
                except Exception:  # noqa: BLE001 - one extension's failure costs only its own samples
                    log.warning("metrics: the %s extension's metrics failed", name, exc_info=True)
                    errors[name] = 1.0
        for name in [n for n, _ in rt.extensions.metric_sources()]:
            samples.append(Sample("jig_metrics_errors", errors.get(name, 0.0), {"extension": name},
                                  "1 when an extension's metrics could not be read at the last scrape"))
        return families(samples)


def families(samples: list[Sample]) -> list[Metric]:
    """Samples grouped into gauge families (one HELP per name; label names from the first sample)."""
    out: dict[str, GaugeMetricFamily] = {}
    for s in samples:
        fam = out.get(s.name)
        if fam is None:
            fam = out[s.name] = GaugeMetricFamily(s.name, s.help or s.name, labels=sorted(s.labels))
        fam.add_metric([s.labels[k] for k in sorted(s.labels)], s.value)
    return list(out.values())


class Observability:
    """Request ids, timing, access log lines and the three endpoints of one Flask app."""

    def __init__(self, source: RuntimeSource, *, token: str | None = None, cache_seconds: float | None = None):
        self.source = source
        self.token = token if token is not None else os.environ.get("JIG_METRICS_TOKEN", "")
        if cache_seconds is None:
            cache_seconds = float(os.environ.get("JIG_METRICS_CACHE_SECONDS", "5"))
        self.multiprocess = multiprocess_dir()
        own = None if self.multiprocess else CollectorRegistry(auto_describe=True)
        self.latency = Histogram("jig_http_request_duration_seconds", "Time to answer a request, by route",
                                 ["route", "method"], buckets=BUCKETS, registry=own)
        self.requests = Counter("jig_http_requests", "Requests answered, by route and status",
                                ["route", "method", "status"], registry=own)
        self.pool = Gauge("jig_db_pool_connections", "Database pool connections (summed over the serving processes)",
                          ["state"], registry=own, multiprocess_mode="livesum")
        self.database = DatabaseCollector(source, cache_seconds)
        self.registry = own or CollectorRegistry()
        if self.multiprocess:
            from prometheus_client import multiprocess
            multiprocess.MultiProcessCollector(self.registry, path=self.multiprocess)
        self.registry.register(self.database)
        self._redis: Any = None
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    # ------------------------------------------------------------------ per request

    def begin(self) -> None:
        given = request.headers.get("X-Request-Id", "")
        g.jig_request_id = given if REQUEST_ID.fullmatch(given) else os.urandom(16).hex()
        g.jig_started = time.perf_counter()

    def end(self, resp: Response) -> Response:
        rid = g.get("jig_request_id")
        started = g.get("jig_started")
        if rid is None or started is None:
            return resp
        resp.headers["X-Request-Id"] = rid
        seconds = time.perf_counter() - started
        route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
        method = request.method if request.method in METHODS else "OTHER"  # a client's made-up methods: one label
        key = (route, method, resp.status_code)
        children = self._children.get(key)
        if children is None:  # bounded: routes x methods x statuses
            children = self._children[key] = (self.latency.labels(route, method),
                                              self.requests.labels(route, method, str(resp.status_code)))
        children[0].observe(seconds)
        children[1].inc()
        if self.multiprocess:
            self._pool_gauges()
        g.jig_status = resp.status_code
        access.info("%s %s %s %.1f ms", method, route, resp.status_code, seconds * 1000,
                    extra={"duration_ms": round(seconds * 1000, 1)})
        return resp

    def _pool_gauges(self) -> None:
        try:
            for s in pool_samples(self.source.current()):
                self.pool.labels(s.labels["state"]).set(s.value)
        except Exception:  # noqa: BLE001 - never fail a request over a gauge
            pass

    # ------------------------------------------------------------------ endpoints

    def allowed(self) -> bool:
        header = request.headers.get("Authorization", "")
        if self.token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip().encode(),
                                                                               self.token.encode()):
            return True
        if any(h in request.headers for h in FORWARDED):
            return False  # came through a proxy on this machine: loopback says nothing about the client
        try:
            return ipaddress.ip_address(request.remote_addr or "").is_loopback
        except ValueError:
            return False

    def metrics(self) -> Response:
        if not self.allowed():
            return Response("metrics are served to loopback, or with the bearer token JIG_METRICS_TOKEN\n",
                            status=403, mimetype="text/plain")
        self._pool_gauges()
        return Response(generate_latest(self.registry), mimetype="text/plain; version=0.0.4; charset=utf-8")

    def readiness(self) -> tuple[Response, int]:
        """Ready when the database answers with the definitions revision and Redis (when configured) pings."""
        rt = self.source.current()
        try:
            with rt.db.read(snapshot=False) as conn:
                if not rt.definitions.exists(conn):
                    return jsonify({"ready": False, "reason": "database not migrated (no definitions table)"}), 503
                revision = rt.definitions.revision(conn)
        except Exception as exc:  # noqa: BLE001 - the answer says why
            log.warning("readyz: database unreachable: %s", exc.__class__.__name__)
            return jsonify({"ready": False, "reason": f"database unreachable: {exc.__class__.__name__}"}), 503
        url = rt.settings.get("redis_url")
        if url:
            try:
                if self._redis is None:
                    from redis import Redis
                    self._redis = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
                self._redis.ping()
            except Exception as exc:  # noqa: BLE001
                log.warning("readyz: Redis unreachable: %s", exc.__class__.__name__)
                return jsonify({"ready": False, "reason": f"redis unreachable: {exc.__class__.__name__}"}), 503
        return jsonify({"ready": True, "revision": revision}), 200


def init_app(app: Flask, source: RuntimeSource) -> Observability:
    obs = Observability(source)
    app.extensions["jig_observability"] = obs
    app.before_request_funcs.setdefault(None, []).insert(0, obs.begin)  # first: a refused request has an id too
    app.after_request(obs.end)
    app.add_url_rule("/healthz", "jig_healthz", lambda: jsonify({"alive": True}))
    app.add_url_rule("/readyz", "jig_readyz", lambda: current_app.extensions["jig_observability"].readiness())
    app.add_url_rule("/metrics", "jig_metrics", lambda: current_app.extensions["jig_observability"].metrics())
    return obs
