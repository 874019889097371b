"""The web UI as a Jig extension: the ``dashboards:`` section and the pages.

Enabled by default (``jig.plugins.default_extensions``). ``compile`` checks
dashboards when definitions load; ``attach`` creates this layer's own table
(display tokens); ``init_web`` adds sessions, CSRF checks and the pages to
the WSGI app.
"""

from __future__ import annotations

from typing import Any

from runtime.compiler import CompileContext
from runtime.extensions import hookimpl
from runtime.model import AppDef

from . import dashboards, documents, listdecor


class UiExtension:
    name = "ui"

    @hookimpl
    def schema_sections(self) -> dict[str, dict[str, Any]]:
        return {**dashboards.schema_sections(), **documents.schema_sections()}

    @hookimpl
    def schema_defs(self) -> dict[str, dict[str, Any]]:
        return {**dashboards.schema_defs(), **documents.schema_defs()}

    @hookimpl
    def compile(self, app: AppDef, ctx: CompileContext, apps: dict[str, AppDef]) -> None:
        app.sections["dashboards"] = dashboards.compile_dashboards(app, ctx)
        listdecor.compile_lists(app, ctx)  # list.colors and list.card
        app.sections["documents"] = documents.compile_documents(app, ctx)

    @hookimpl
    def define_tables(self, metadata: Any) -> list[Any]:
        from .admin import define_tables
        return define_tables(metadata)

    @hookimpl
    def init_web(self, flask_app: Any, runtime: Any) -> None:
        from . import admin, assets, delivery_log, docprint, formrules, imports, linkstaff, session, transfer, web  # noqa: F401 - registering routes on the blueprint
        session.configure(flask_app)
        flask_app.register_blueprint(web.bp)
        assets.install(flask_app)  # every blueprint's static files: fingerprinted, cached, gzip
        if "jig_index" in flask_app.view_functions:
            flask_app.view_functions["jig_index"] = web.home
        else:
            flask_app.add_url_rule("/", "jig_index", web.home)
