"""Shared links as a Jig extension: the ``links:`` section, its tables, the service and the pages.

``attach`` (jig serve, jig worker) and ``init_web`` register the link store as a
service (``rt.services.find(LinkIssuer)``) — rules use it to put a record's link into an SMS.
The store needs the server's secret key (tokens are HMACs under it).
"""

from __future__ import annotations

from typing import Any

from runtime.compiler import CompileContext
from runtime.extensions import hookimpl
from runtime.model import AppDef

from . import linkspec


class LinksExtension:
    name = "links"

    @hookimpl
    def schema_sections(self) -> dict[str, dict[str, Any]]:
        return linkspec.schema_sections()

    @hookimpl
    def schema_defs(self) -> dict[str, dict[str, Any]]:
        return linkspec.schema_defs()

    @hookimpl
    def compile(self, app: AppDef, ctx: CompileContext, apps: dict[str, AppDef]) -> None:
        app.sections["links"] = linkspec.compile_links(app, ctx)

    @hookimpl
    def define_tables(self, metadata: Any) -> list[Any]:
        from .linkstore import define_tables
        return define_tables(metadata)

    @hookimpl
    def attach(self, runtime: Any) -> None:
        from .linkstore import LinkStore
        if runtime.settings.get("secret_key") and LinkStore not in runtime.services:
            runtime.services.put(LinkStore(runtime, runtime.settings["secret_key"]))

    @hookimpl
    def init_web(self, flask_app: Any, runtime: Any) -> None:
        from . import assets, linkweb
        from .linkstore import LinkStore
        assets.install(flask_app)  # the link pages link their styles with asset_url
        if LinkStore not in runtime.services:
            runtime.settings.setdefault("secret_key", flask_app.secret_key)
            runtime.services.put(LinkStore(runtime, runtime.settings["secret_key"] or ""))
        flask_app.register_blueprint(linkweb.bp)
