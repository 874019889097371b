"""The composition root: building a running Jig from settings, and swapping it when definitions are published."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask, render_template_string
from sqlalchemy import MetaData

from runtime import api, clock
from runtime.api import RuntimeSource
from runtime.core import Runtime
from runtime.database import Database
from runtime.loader import find_definition_files, load_apps, load_texts
from runtime.publishing import Publisher
from runtime.tables import system_tables
from runtime.versions import DefinitionStore

from .config import Settings
from .plugins import default_extensions

log = logging.getLogger("jig.app")


class Jig:
    """One running Jig, built from settings: definitions -> runtime -> extensions -> background work.

    The CLI, the WSGI entry point and the tests build Jig this one way. A Jig is
    also the Flask app's runtime source (:class:`runtime.api.RuntimeSource`):
    every request takes :meth:`current`, which checks the database's definitions
    revision at most every ``refresh_seconds`` and, when another process (or
    this one) published, swaps to a runtime built for the new definitions.
    Requests in flight finish on the runtime they started with; background work
    is handed from the old runtime to the new one.
    """

    def __init__(self, settings: Settings, *, migrate: bool | None = None, force_import: bool = False,
                 embedded_jobs: bool = True, refresh_seconds: float = 1.0):
        if settings.timezone != clock.zone().key:
            raise ValueError(f"the time zone is set for the whole process by JIG_TIMEZONE (now {clock.zone().key}); "
                             f"settings ask for {settings.timezone}")
        self.settings = settings
        self.extensions = default_extensions()
        self.embedded_jobs = embedded_jobs
        self.refresh_seconds = refresh_seconds
        # The files are checked before the database is opened: a bad definition changes (or creates) nothing.
        files = {str(p): p.read_bytes() for p in find_definition_files(settings.apps)}
        file_apps = load_apps(settings.apps, self.extensions) if files else {}
        self.db = Database(settings.database_url)
        self._revision = 0
        migrating = migrate if migrate is not None else settings.auto_migrate
        try:
            store = DefinitionStore(system_tables(MetaData()))
            read = {a.file: (files[a.file].decode("utf-8"), name) for name, a in file_apps.items() if a.file in files}
            served = Publisher(self.db, store, self.extensions).sync_files(settings.apps, force=force_import,
                                                                           write=migrating, read=read)
            if served.texts and all(files.get(name) == text.encode("utf-8") for name, text in served.texts.values()):
                apps = file_apps  # what is served is what the files say (the usual case): loaded once
            elif served.texts:
                apps = load_texts(served.named(), self.extensions)
            else:
                apps = load_apps(settings.apps, self.extensions)
            self.runtime = self._build(apps)
            self.runtime.imports = served.imports
            if migrating:
                self.runtime.migrate()
            self._attach(self.runtime)
        except BaseException:
            self.db.dispose()
            raise
        self._revision = self._read_revision()
        self._checked = time.monotonic()
        self._swap = threading.Lock()
        self._started = False

    # ------------------------------------------------------------------ building

    def _build(self, apps: dict[str, Any]) -> Runtime:
        return Runtime(apps, self.settings.database_url, extensions=self.extensions, db=self.db,
                       settings={"files_dir": self.settings.files_dir, "redis_url": self.settings.redis_url,
                                 "embedded_jobs": self.embedded_jobs, "secret_key": self.settings.session_secret(),
                                 "public_url": self.settings.public_url, "company": self.settings.company})

    def _attach(self, rt: Runtime) -> None:
        self.extensions.attach(rt)

    def _read_revision(self) -> int:
        try:
            with self.db.read(snapshot=False) as conn:
                return self.runtime.definitions.revision(conn) if self.runtime.definitions.exists(conn) else 0
        except Exception:  # noqa: BLE001 - a database hiccup must not fail the request that asked
            log.warning("could not read the definitions revision; serving the current definitions", exc_info=True)
            return self._revision

    # ------------------------------------------------------------------ serving

    def current(self) -> Runtime:
        """The runtime to serve with now (cheap: a clock read, and a revision query once a second)."""
        now = time.monotonic()
        if now - self._checked >= self.refresh_seconds:
            self._checked = now
            self.refresh()
        return self.runtime

    def refresh(self) -> bool:
        """Swap to the published definitions if their revision moved; True when it swapped."""
        if not self._swap.acquire(blocking=False):
            return False  # another thread is building the new runtime; serve the current one meanwhile
        try:
            revision = self._read_revision()
            if revision == self._revision:
                return False
            self._revision = revision  # a revision that fails to load is not retried on every request
            with self.db.read() as conn:
                texts = self.runtime.publisher.served(conn)
            new = self._build(load_texts({name: text for name, text in texts.values()}, self.extensions))
            self._attach(new)
            old, self.runtime = self.runtime, new
            log.info("definitions revision %d: now serving %s", revision, ", ".join(sorted(new.apps)))
            if self._started:
                threading.Thread(target=self._hand_over, args=(old, new), name="jig-handover", daemon=True).start()
            return True
        except Exception:  # noqa: BLE001 - keep serving what works; the log says why
            log.exception("could not load the published definitions; still serving the previous ones")
            return False
        finally:
            self._swap.release()

    def _hand_over(self, old: Runtime, new: Runtime) -> None:
        old.hooks.emit("runtime.stopping", old)  # e.g. the embedded jobs give up their lease...
        new.hooks.emit("runtime.started", new)  # ...and the new runtime's jobs take it

    def start(self) -> None:
        """Start background work (the embedded jobs when there is no Redis)."""
        if not self._started:
            self._started = True
            self.runtime.hooks.emit("runtime.started", self.runtime)

    def close(self) -> None:
        self.runtime.hooks.emit("runtime.stopping", self.runtime)
        self.db.dispose()

    def wsgi(self) -> Flask:
        return create_app(self.settings, self)


def build_runtime(settings: Settings, *, migrate: bool | None = None, force_import: bool = False) -> Runtime:
    """A runtime for one command (no swapping): the definitions served now, the database migrated."""
    rt = Jig(settings, migrate=migrate, force_import=force_import).runtime
    rt.owns_db = True  # closing this runtime closes the database
    return rt


def create_app(settings: Settings | None = None, source: RuntimeSource | None = None) -> Flask:
    """The WSGI application: API plus the layers' blueprints, served by ``source`` (a Jig or a Runtime)."""
    settings = settings or Settings.from_env()
    source = source or Jig(settings)
    app = api.create_app(source, {"SECRET_KEY": settings.session_secret()})
    app.add_url_rule("/", "jig_index", lambda: render_template_string(INDEX, apps=api.runtime().apps.values()))
    from . import observability  # here, not at the top: `jig serve` sets PROMETHEUS_MULTIPROC_DIR first
    observability.init_app(app, source)  # request ids, access log, /metrics, /healthz, /readyz
    rt = source.current()
    rt.extensions.init_web(app, rt)
    if settings.proxies > 0:  # behind nginx: the client's address (link rate limits) is in X-Forwarded-For
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxies, x_proto=settings.proxies)  # type: ignore[method-assign]
    return app


INDEX = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Jig 治具</title>
<style>body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:2rem;max-width:60rem}
code{background:#f3f3f3;padding:0 .3em}</style></head><body>
<h1>Jig 治具</h1><p>已加载的应用（接口文档：<a href="/api/openapi.json">/api/openapi.json</a>）：</p>
{% for app in apps %}<h2>{{ app.title.zh }} <small>{{ app.title.en }}</small></h2><ul>
{% for ent in app.entities.values() %}<li>{{ ent.title.zh }} — <code>/api/{{ app.name }}/{{ ent.name }}</code></li>
{% endfor %}</ul>{% endfor %}</body></html>"""
