"""Building a running Jig: load definitions, open the database, wire the layers."""

from __future__ import annotations

from flask import Flask

from runtime import api, clock
from runtime.core import Runtime
from runtime.loader import load_apps

from .config import Settings
from .plugins import default_extensions


def build_runtime(settings: Settings, *, migrate: bool | None = None) -> Runtime:
    """Load and validate definitions (raising DefinitionErrors), then open the database."""
    clock.set_zone(settings.timezone)
    extensions = default_extensions()
    apps = load_apps(settings.apps, extensions)
    rt = Runtime(apps, settings.database_url, extensions=extensions,
                 settings={"files_dir": settings.files_dir, "redis_url": settings.redis_url})
    if migrate if migrate is not None else settings.auto_migrate:
        rt.migrate()
    for ext in extensions:
        attach = getattr(ext, "attach", None)
        if attach is not None:
            attach(rt)
    return rt


def create_app(settings: Settings | None = None, rt: Runtime | None = None) -> Flask:
    """The WSGI application: API plus the layers' blueprints."""
    settings = settings or Settings.from_env()
    rt = rt or build_runtime(settings)
    app = api.create_app(rt, {"SECRET_KEY": settings.secret_key})
    for ext in rt.extensions:
        init_web = getattr(ext, "init_web", None)
        if init_web is not None:
            init_web(app, rt)
    return app
