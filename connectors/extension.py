"""The connectors extension: definition section, state tables, hooks, outbox handler, schedules, CLI, API."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import MetaData, Table

from runtime.compiler import CompileContext
from runtime.model import AppDef

from . import spec, state


class ConnectorsExtension:
    name = "connectors"

    def schema_sections(self) -> dict[str, dict[str, Any]]:
        return spec.schema_sections()

    def schema_defs(self) -> dict[str, dict[str, Any]]:
        return spec.schema_defs()

    def compile(self, app: AppDef, ctx: CompileContext, apps: dict[str, AppDef]) -> None:
        spec.compile_app(app, ctx, apps)

    def define_tables(self, metadata: MetaData) -> list[Table]:
        return state.define_tables(metadata)

    def attach(self, rt: Any) -> None:
        from . import jobs, push
        push.subscribe(rt)
        rt.outbox.register(push.KIND, lambda item: push.deliver(rt, item))
        rt.services.setdefault("schedules", []).extend(jobs.schedules(rt))
        rt.services["connectors"] = jobs.Service(rt)

    def init_web(self, flask_app: Any, rt: Any) -> None:
        from .web import blueprint
        flask_app.register_blueprint(blueprint())

    def cli_commands(self) -> list[click.Command]:
        from .cli import commands
        return commands()


extension = ConnectorsExtension()
