"""The connectors extension: definition section, state tables, hooks, outbox handler, schedules, CLI, API."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import MetaData, Table

from runtime.compiler import CompileContext
from runtime.extensions import hookimpl
from runtime.model import AppDef

from . import spec, state


class ConnectorsExtension:
    name = "connectors"

    @hookimpl
    def schema_sections(self) -> dict[str, dict[str, Any]]:
        return spec.schema_sections()

    @hookimpl
    def schema_defs(self) -> dict[str, dict[str, Any]]:
        return spec.schema_defs()

    @hookimpl
    def compile(self, app: AppDef, ctx: CompileContext, apps: dict[str, AppDef]) -> None:
        spec.compile_app(app, ctx, apps)

    @hookimpl
    def define_tables(self, metadata: MetaData) -> list[Table]:
        return state.define_tables(metadata)

    @hookimpl
    def attach(self, runtime: Any) -> None:
        from . import jobs, push
        rt = runtime
        push.subscribe(rt)
        rt.outbox.register(push.KIND, lambda item: push.deliver(rt, item))
        rt.schedules.extend(jobs.schedules(rt))  # run by the rules scheduler
        rt.services.put(jobs.Service(rt))

    @hookimpl
    def init_web(self, flask_app: Any, runtime: Any) -> None:
        from . import setup_api
        from .web import blueprint
        flask_app.register_blueprint(blueprint())
        flask_app.register_blueprint(setup_api.blueprint())
        from .setup_page import bp as pages  # answers 404 when the web UI (its sessions, page frame) is not served
        flask_app.register_blueprint(pages)

    @hookimpl
    def cli_commands(self) -> list[click.Command]:
        from .cli import commands
        return commands()

    @hookimpl
    def metrics(self, runtime: Any) -> list[Any]:
        from .metrics import samples
        return samples(runtime)


extension = ConnectorsExtension()
