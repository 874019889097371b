"""Shared links as a Jig extension: the ``links:`` section, its tables, the service and the pages.

``attach`` (jig serve, jig worker) and ``init_web`` register the link store as
``rt.services["links"]`` — rules use it to put a record's link into an SMS.
The store needs the server's secret key (tokens are HMACs under it).
"""

from __future__ import annotations

from typing import Any

from runtime.compiler import CompileContext
from runtime.model import AppDef

from . import linkspec


class LinksExtension:
    name = "links"

    def schema_sections(self) -> dict[str, dict[str, Any]]:
        return linkspec.schema_sections()

    def schema_defs(self) -> dict[str, dict[str, Any]]:
        return linkspec.schema_defs()

    def compile(self, app: AppDef, ctx: CompileContext, apps: dict[str, AppDef]) -> None:
        app.sections["links"] = linkspec.compile_links(app, ctx)

    def define_tables(self, md: Any) -> list[Any]:
        from .linkstore import define_tables
        return define_tables(md)

    def attach(self, rt: Any) -> None:
        if rt.settings.get("secret_key") and "links" not in rt.services:
            from .linkstore import LinkStore
            rt.services["links"] = LinkStore(rt, rt.settings["secret_key"])

    def init_web(self, app: Any, rt: Any) -> None:
        from . import linkweb
        from .linkstore import LinkStore
        if "links" not in rt.services:
            rt.settings.setdefault("secret_key", app.secret_key)
            rt.services["links"] = LinkStore(rt, rt.settings["secret_key"] or "")
        app.register_blueprint(linkweb.bp)
