"""Building a running Jig: load definitions, open the database, wire the layers."""

from __future__ import annotations

from flask import Flask, render_template_string

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
                 settings={"files_dir": settings.files_dir, "redis_url": settings.redis_url,
                           "secret_key": settings.secret_key, "public_url": settings.public_url})
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
    app.add_url_rule("/", "jig_index", lambda: render_template_string(INDEX, apps=rt.apps.values()))
    for ext in rt.extensions:
        init_web = getattr(ext, "init_web", None)
        if init_web is not None:
            init_web(app, rt)
    return app


INDEX = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Jig 治具</title>
<style>body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:2rem;max-width:60rem}
code{background:#f3f3f3;padding:0 .3em}</style></head><body>
<h1>Jig 治具</h1><p>已加载的应用（接口文档：<a href="/api/openapi.json">/api/openapi.json</a>）：</p>
{% for app in apps %}<h2>{{ app.title.zh }} <small>{{ app.title.en }}</small></h2><ul>
{% for ent in app.entities.values() %}<li>{{ ent.title.zh }} — <code>/api/{{ app.name }}/{{ ent.name }}</code></li>
{% endfor %}</ul>{% endfor %}</body></html>"""
