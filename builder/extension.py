"""The builder as a Jig extension: the JSON API that drafts, checks and publishes app definitions.

It adds no definition sections; ``init_web`` registers the ``/api/builder``
blueprint and, with the web UI, the designer's pages under ``/builder``. The pages of the designer, the rule editor and connector setup
build on this API.
"""

from __future__ import annotations

from typing import Any

from runtime.compiler import CompileContext
from runtime.extensions import hookimpl
from runtime.model import AppDef


class BuilderExtension:
    name = "builder"

    @hookimpl
    def schema_sections(self) -> dict[str, dict[str, Any]]:
        return {}

    @hookimpl
    def schema_defs(self) -> dict[str, dict[str, Any]]:
        return {}

    @hookimpl
    def compile(self, app: AppDef, ctx: CompileContext, apps: dict[str, AppDef]) -> None:
        return None

    @hookimpl
    def init_web(self, flask_app: Any, runtime: Any) -> None:
        from . import expressions, rules_api, sheets  # noqa: F401 - their routes are on the API's blueprint
        from .api import bp
        flask_app.register_blueprint(bp)
        if "jig_ui" in flask_app.blueprints:  # the designer's pages use the web UI's sessions and page frame
            from . import rules_pages  # noqa: F401 - the rule editor's page is on the designer's blueprint
            from .pages import bp as pages
            from .preview import bp as preview
            flask_app.register_blueprint(pages)
            flask_app.register_blueprint(preview)
