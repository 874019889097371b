"""The ``jig`` command line."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from runtime import migrations
from runtime.errors import DefinitionErrors, RecordError
from runtime.loader import load_apps, schema_for
from runtime.migrations import MigrationRefused

from .config import Settings

EXIT_DEFINITION = 2
EXIT_REFUSED = 3
EXIT_CONFLICT = 4


class CliContext:
    """What every command receives as ``ctx.obj`` (extensions' commands too, without importing jig):
    the settings, and the runtime built on first use, with definition errors, refused migrations and
    file/browser conflicts reported as one message and their exit codes."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._runtime: Any = None

    @property
    def extensions(self) -> Any:
        """The extensions definitions load with (a runtime.extensions.Extensions)."""
        from .plugins import default_extensions
        return default_extensions()

    def jig(self, *, migrate: bool | None = None, force_import: bool = False, embedded_jobs: bool = True) -> Any:
        """A :class:`jig.app.Jig` (swaps runtimes when definitions are published); exits on errors."""
        from runtime.publishing import DefinitionConflict

        from .app import Jig
        try:
            return Jig(self.settings, migrate=migrate, force_import=force_import, embedded_jobs=embedded_jobs)
        except DefinitionConflict as exc:
            click.echo(str(exc), err=True)
            sys.exit(EXIT_CONFLICT)
        except DefinitionErrors as exc:
            click.echo(exc.format(), err=True)
            sys.exit(EXIT_DEFINITION)
        except MigrationRefused as exc:
            click.echo(str(exc), err=True)
            sys.exit(EXIT_REFUSED)

    def runtime(self, *, migrate: bool | None = None, force_import: bool = False, embedded_jobs: bool = True) -> Any:
        """The runtime of this command (built once)."""
        if self._runtime is None:
            self._runtime = self.jig(migrate=migrate, force_import=force_import, embedded_jobs=embedded_jobs).runtime
            self._runtime.owns_db = True
        return self._runtime


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj.settings  # type: ignore[no-any-return]


def _runtime(ctx: click.Context, *, migrate: bool | None = None, force_import: bool = False) -> Any:
    return ctx.obj.runtime(migrate=migrate, force_import=force_import)


@click.group()
@click.option("--apps", "apps", multiple=True, help="Definition file or folder (default: JIG_APPS or ./apps).")
@click.option("--database", "database", help="Database URL (default: JIG_DATABASE_URL or sqlite:///var/jig.db).")
@click.pass_context
def cli(ctx: click.Context, apps: tuple[str, ...], database: str | None) -> None:
    """Jig (治具): low-code apps for the shop floor."""
    s = Settings.from_env()
    if apps:
        s.apps = list(apps)
    if database:
        s.database_url = database
    ctx.obj = CliContext(s)


@cli.command()
@click.argument("paths", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print errors as JSON.")
@click.pass_context
def check(ctx: click.Context, paths: tuple[str, ...], as_json: bool) -> None:
    """Validate definitions; exit 2 listing every error. Touches no database."""
    from .plugins import default_extensions
    targets = list(paths) or _settings(ctx).apps
    try:
        apps = load_apps(targets, default_extensions())
    except DefinitionErrors as exc:
        if as_json:
            click.echo(json.dumps({"ok": False, "errors": [e.as_dict() for e in exc.errors]},
                                  ensure_ascii=False, indent=2))
        else:
            click.echo(exc.format(), err=True)
        sys.exit(EXIT_DEFINITION)
    n = sum(len(a.entities) for a in apps.values())
    if as_json:
        click.echo(json.dumps({"ok": True, "errors": [], "apps": sorted(apps), "entities": n}, ensure_ascii=False,
                              indent=2))
        return
    click.echo(f"ok: {len(apps)} app(s), {n} entities: {', '.join(sorted(apps))}")


@cli.command()
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@click.option("--allow-destructive", is_flag=True, help="Also apply type changes that may not convert every value.")
@click.pass_context
def migrate(ctx: click.Context, dry_run: bool, allow_destructive: bool) -> None:
    """Bring the database in line with the definitions (never drops data)."""
    rt = _runtime(ctx, migrate=False)
    steps = rt.migration_plan()
    if not steps:
        click.echo("database is up to date")
        return
    click.echo(f"plan ({len(steps)} step{'s' if len(steps) != 1 else ''}):")
    for s in steps:
        click.echo("  " + s.describe())
    if dry_run:
        click.echo("dry run: nothing changed")
        return
    try:
        applied = rt.migrate(allow_destructive=allow_destructive)
    except MigrationRefused as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_REFUSED)
    # migrations run under a database lock: a process that waited for another one finds nothing left to do
    click.echo("applied" if applied else "database is up to date (another process migrated it meanwhile)")


@cli.command("rebuild-aggregates")
@click.option("--check", "check_only", is_flag=True, help="Only compare the kept counts with a recount; exit 1 on drift.")
@click.pass_context
def rebuild_aggregates(ctx: click.Context, check_only: bool) -> None:
    """Recount the kept aggregates (dashboard counts kept by triggers) from the records."""
    from runtime import keptstore
    rt = _runtime(ctx, migrate=False)
    with rt.db.exclusive(migrations.LOCK) as conn:  # no migration or publish meanwhile
        found = keptstore.rebuild(conn, rt.tables, check_only=check_only)
    drifted = 0
    for name, drift in found:
        state = "missing (run jig migrate)" if drift < 0 else "ok" if drift == 0 else \
            f"{drift} group(s) differed" + ("" if check_only else ", recounted")
        click.echo(f"{name}: {state}")
        drifted += drift != 0
    if not found:
        click.echo("no kept aggregates")
    if check_only and drifted:
        sys.exit(1)


@cli.command("import")
@click.option("--force", is_flag=True, help="Publish changed files even over versions published from the browser.")
@click.option("--allow-destructive", is_flag=True, help="Also apply type changes that may not convert every value.")
@click.pass_context
def import_(ctx: click.Context, force: bool, allow_destructive: bool) -> None:
    """Import changed definition files: validate, migrate and publish them as new versions."""
    rt = _runtime(ctx, migrate=False, force_import=force)
    imports = list(rt.imports)
    try:
        rt.migrate(allow_destructive=allow_destructive)
    except MigrationRefused as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_REFUSED)
    if not imports:
        click.echo("every definition file is as last imported; nothing to do")
    with rt.db.read() as conn:
        for app, path, _text in imports:
            v = rt.definitions.current(conn, app)
            click.echo(f"{app}: published version {v.number if v else '?'} from {path}")


@cli.command("export")
@click.argument("apps", nargs=-1, required=True)
@click.option("--output", "output", default=None, help="File to write (one app only; default: the app's file).")
@click.pass_context
def export(ctx: click.Context, apps: tuple[str, ...], output: str | None) -> None:
    """Write the published version of each app to its definition file (comments and order as published)."""
    from sqlalchemy import MetaData

    from runtime.database import Database
    from runtime.publishing import Publisher
    from runtime.tables import system_tables
    from runtime.versions import DefinitionStore

    from .plugins import default_extensions
    if output and len(apps) > 1:
        raise click.UsageError("--output takes one app")
    db = Database(_settings(ctx).database_url)
    try:
        publisher = Publisher(db, DefinitionStore(system_tables(MetaData())), default_extensions())
        for app in apps:
            try:
                path = publisher.export(app, output)
            except LookupError as exc:
                raise click.ClickException(str(exc)) from None
            click.echo(f"{app}: wrote {path}")
    finally:
        db.dispose()


@cli.command()
@click.option("--host", default=None)
@click.option("--port", default=None, type=int)
@click.option("--workers", default=None, type=int, help="Worker processes (gunicorn; default: the cores, 2 to 8).")
@click.option("--threads", default=None, type=int, help="Request threads per process (default 4; waitress: 8).")
@click.option("--server", type=click.Choice(["gunicorn", "waitress"]), default=None,
              help="Default: gunicorn where it runs (Linux, macOS), waitress on Windows.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None, threads: int | None,
          server: str | None) -> None:
    """Serve every app with the production server (see jig/serving.py and docs/deploy.md)."""
    import os

    from . import serving

    s = _settings(ctx)
    h, p = host or s.host, port or s.port
    kind = serving.choose_server(server or os.environ.get("JIG_SERVER"))
    from .logsetup import configure_logging
    configure_logging()
    jig = ctx.obj.jig()  # definitions checked and the database migrated once, before any worker starts
    names = ", ".join(sorted(jig.runtime.apps))
    if kind == "gunicorn":
        jig.close()
        serving.metrics_dir(s)  # before anything imports prometheus_client: the workers' metrics add up
        n = workers or int(os.environ.get("JIG_WORKERS", 0)) or serving.default_workers()
        t = threads or (int(os.environ["JIG_THREADS"]) if "JIG_THREADS" in os.environ else serving.DEFAULT_THREADS)
        click.echo(f"Jig serving {names} on http://{h}:{p}/  (gunicorn, {n} processes x {t} threads; "
                   f"database: {jig.db.dialect})")
        serving.run_gunicorn(s, h, p, n, t)
        return
    app = jig.wsgi()
    jig.start()
    click.echo(f"Jig serving {names} on http://{h}:{p}/  (waitress; database: {jig.db.dialect})")
    try:
        serving.run_waitress(app, h, p, threads or s.threads)
    finally:
        jig.close()


@cli.group()
def user() -> None:
    """Manage users."""


def _parse_attrs(items: tuple[str, ...]) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        attrs[key] = int(value) if value.isdigit() else value
    return attrs


@user.command("add")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--role", "roles", multiple=True, help="Role name; repeat for several.")
@click.option("--attr", "attrs", multiple=True, help="User attribute key=value (e.g. partner=3).")
@click.option("--name", "display_name", default=None)
@click.option("--phone", default=None)
@click.pass_context
def user_add(ctx: click.Context, username: str, password: str, roles: tuple[str, ...], attrs: tuple[str, ...],
             display_name: str | None, phone: str | None) -> None:
    rt = _runtime(ctx)
    try:
        rt.users.add(username, password, list(roles), display_name=display_name, attributes=_parse_attrs(attrs),
                     phone=phone)
    except RecordError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"user {username} added with roles: {', '.join(roles) or '(none)'}")


@user.command("list")
@click.pass_context
def user_list(ctx: click.Context) -> None:
    rt = _runtime(ctx)
    for u in rt.users.all():
        state = "" if u["active"] else " (disabled)"
        click.echo(f"{u['username']:20} {u['display_name'] or '':12} {u['phone'] or '-':14} "
                   f"{','.join(u['roles']):30} {u['attributes']}{state}")


@user.command("set")
@click.argument("username")
@click.option("--role", "roles", multiple=True, help="Role name (replaces the roles); repeat for several.")
@click.option("--attr", "attrs", multiple=True, help="Attribute key=value, kept with the others; key= removes it.")
@click.option("--name", "--display-name", "display_name", default=None, help="Display name (e.g. 李四).")
@click.option("--phone", default=None, help="Mobile number for SMS; --phone '' removes it.")
@click.option("--password", default=None)
@click.option("--disable", is_flag=True)
@click.option("--enable", is_flag=True)
@click.pass_context
def user_set(ctx: click.Context, username: str, roles: tuple[str, ...], attrs: tuple[str, ...],
             display_name: str | None, phone: str | None, password: str | None, disable: bool, enable: bool) -> None:
    rt = _runtime(ctx)
    try:
        attributes = None
        if attrs:
            row = rt.users.get(username)
            if row is None:
                raise click.ClickException(f"no user '{username}'")
            attributes = {**json.loads(row["attributes"] or "{}"), **_parse_attrs(attrs)}
            attributes = {k: v for k, v in attributes.items() if v != ""}
        rt.users.update(username, roles=list(roles) or None, attributes=attributes, display_name=display_name,
                        phone=phone, password=password, active=False if disable else (True if enable else None))
    except RecordError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"user {username} updated")


@cli.group()
def token() -> None:
    """Manage API tokens (stored hashed; shown once)."""


@token.command("create")
@click.argument("username")
@click.option("--label", default="")
@click.option("--days", type=int, default=None, help="Expire after this many days.")
@click.pass_context
def token_create(ctx: click.Context, username: str, label: str, days: int | None) -> None:
    rt = _runtime(ctx)
    try:
        value = rt.users.create_token(username, label, days)
    except RecordError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(value)


@token.command("list")
@click.option("--user", "username", default=None)
@click.pass_context
def token_list(ctx: click.Context, username: str | None) -> None:
    rt = _runtime(ctx)
    for tk in rt.users.tokens_of(username):
        status = "revoked" if tk["revoked"] else "active"
        click.echo(f"{tk['id']:5} {tk['username']:16} {tk['prefix']}…  {tk['label'] or '':20} {status}")


@token.command("revoke")
@click.argument("token_id", type=int)
@click.pass_context
def token_revoke(ctx: click.Context, token_id: int) -> None:
    rt = _runtime(ctx)
    rt.users.revoke_token(token_id)
    click.echo(f"token {token_id} revoked")


@cli.command()
@click.option("--write", is_flag=True, help="Write runtime/schema/app.schema.json.")
def schema(write: bool) -> None:
    """Print (or write) the JSON Schema of the definition language."""
    from runtime.schema import SCHEMA_PATH, dump

    from .plugins import default_extensions
    text = dump(schema_for(default_extensions()))
    if write:
        SCHEMA_PATH.write_text(text, encoding="utf-8")
        click.echo(f"wrote {SCHEMA_PATH}")
    else:
        click.echo(text, nl=False)


@cli.command()
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8000, type=int)
@click.option("--no-serve", is_flag=True, help="Prepare the demo database and exit.")
@click.pass_context
def demo(ctx: click.Context, host: str, port: int, no_serve: bool) -> None:
    """Create a demo database with users and sample data, then serve it."""
    from .demo import prepare
    s = _settings(ctx)
    jig = ctx.obj.jig()
    logins = prepare(jig.runtime, factory=True)
    click.echo("Demo users (username / password / roles):")
    for name, pw, roles in logins:
        click.echo(f"  {name:12} {pw:14} {', '.join(roles)}")
    if no_serve:
        return
    import waitress

    app = jig.wsgi()
    jig.start()
    click.echo(f"Open http://{host}:{port}/  (API: http://{host}:{port}/api/openapi.json)")
    waitress.serve(app, host=host, port=port, threads=s.threads, ident="jig")


def _extension_commands() -> None:
    """Extensions add their own commands (jig sync, jig worker, ...) through their ``cli_commands`` hook."""
    from .plugins import default_extensions
    for command in default_extensions().cli_commands():
        cli.add_command(command)


_extension_commands()


def main() -> None:
    cli(prog_name="jig")


if __name__ == "__main__":  # pragma: no cover
    main()
