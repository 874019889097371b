"""Command-line tools for rules and jobs: jig worker, jig scheduler, jig outbox, jig rules."""

from __future__ import annotations

from typing import Any

import click

from runtime import logs

from .service import rules_of


def _runtime(ctx: click.Context, *, embedded_jobs: bool = True) -> Any:
    return ctx.obj.runtime(embedded_jobs=embedded_jobs)  # the command's runtime (jig.cli.CliContext)


def _logging() -> None:
    logs.configure("INFO")  # JIG_LOG_FORMAT=json: one JSON object per line


@click.command()
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.pass_context
def worker(ctx: click.Context, burst: bool) -> None:
    """Run an RQ worker for Jig's jobs (needs JIG_REDIS_URL)."""
    _logging()
    url = ctx.obj.settings.redis_url
    if not url:
        raise click.ClickException("set JIG_REDIS_URL (e.g. redis://127.0.0.1:6379/0) to use RQ workers")
    from . import jobs
    jobs.run_worker(ctx.obj.jig(embedded_jobs=False), url, burst=burst)


@click.command()
@click.option("--once", is_flag=True, help="One tick, then exit.")
@click.pass_context
def scheduler(ctx: click.Context, once: bool) -> None:
    """Turn due schedules and outbox rows into jobs: RQ jobs with JIG_REDIS_URL, else run them here."""
    _logging()
    rt = _runtime(ctx, embedded_jobs=False)
    from . import jobs
    if ctx.obj.settings.redis_url:
        jobs.scheduler_loop(rt, ctx.obj.settings.redis_url, once=once)
        return
    embedded = jobs.EmbeddedJobs(rt, rules_of(rt).scheduler)
    if once:
        click.echo(repr(embedded.run_once()))
        return
    try:
        embedded.run_forever()  # foreground (runs jobs while it holds the lease, like `jig serve`)
    except KeyboardInterrupt:
        embedded.keeper.stop()


@click.group()
def outbox() -> None:
    """Side effects waiting, sent or failed (SMS, webhooks, ERP write-backs)."""


@outbox.command("list")
@click.option("--status", type=click.Choice(["pending", "retry", "sending", "sent", "dead"]), default=None)
@click.option("--limit", default=50)
@click.pass_context
def outbox_list(ctx: click.Context, status: str | None, limit: int) -> None:
    rt = _runtime(ctx)
    counts = rt.outbox.counts()
    click.echo("  ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "outbox is empty")
    for row in rt.outbox.list(status, limit):
        err = f"  ({row['last_error'][:80]})" if row["last_error"] else ""
        click.echo(f"{row['id']:6} {row['status']:8} {row['kind']:8} tries={row['attempts']} "
                   f"{row['available_at']:%Y-%m-%d %H:%M} {row['key'][:60]}{err}")


@outbox.command("retry")
@click.argument("item_id", type=int, required=False)
@click.option("--all", "all_dead", is_flag=True, help="Retry every dead row.")
@click.pass_context
def outbox_retry(ctx: click.Context, item_id: int | None, all_dead: bool) -> None:
    """Send a row again now: a dead one, one waiting for its next attempt, or a `sending` one whose worker died."""
    if item_id is None and not all_dead:
        raise click.UsageError("give an outbox id, or --all")
    rt = _runtime(ctx)
    n = rt.outbox.retry(None if all_dead else item_id)
    click.echo(f"{n} row(s) queued again")
    if item_id is not None and not n:
        row = rt.outbox.get(item_id)
        if row is None:
            raise click.ClickException(f"no outbox row {item_id}")
        if row["status"] == "sending":
            raise click.ClickException(f"row {item_id} is being sent by {row['leased_by']} (lease until "
                                       f"{row['lease_until']:%Y-%m-%d %H:%M:%S}); retry it after the lease runs out")
        if row["status"] == "sent":
            raise click.ClickException(f"row {item_id} was sent at {row['sent_at']:%Y-%m-%d %H:%M:%S}")
        raise click.ClickException(f"row {item_id} is {row['status']}, already due")


@click.group()
def rules() -> None:
    """Inspect and run rules."""


@rules.command("list")
@click.pass_context
def rules_list(ctx: click.Context) -> None:
    rt = _runtime(ctx)
    state = {s["name"]: s for s in rules_of(rt).scheduler.state()}
    for r in rules_of(rt).rules:
        trig = f"on {r.event} {r.entity.name}" if r.event else f"{r.schedule.text}" if r.schedule else "?"
        s = state.get(f"rule:{r.key}")
        extra = f" next {s['next_run_at']} last {s['last_status']}" if s else ""
        click.echo(f"{r.key:40} {trig}{extra}")


@rules.command("run")
@click.argument("name")
@click.pass_context
def rules_run(ctx: click.Context, name: str) -> None:
    """Run a scheduled rule now (ignores its schedule; still fires each occurrence once)."""
    _logging()
    rt = _runtime(ctx)
    engine = rules_of(rt).engine
    rule = next((r for r in engine.rules if r.key == name or r.name == name), None)
    if rule is None:
        raise click.ClickException(f"no rule '{name}'")
    from .jobs import drain_outbox, worker_id
    report = engine.run_scheduled(rule, worker_id("cli"))
    click.echo(f"scanned {report.scanned}, fired {report.fired}, already fired {report.skipped}")
    click.echo(f"delivered: {drain_outbox(rt, worker_id('cli'))}")


@rules.command("preview")
@click.argument("template")
@click.argument("params", nargs=-1)
@click.pass_context
def rules_preview(ctx: click.Context, template: str, params: tuple[str, ...]) -> None:
    """Show a message template rendered: jig rules preview outsourcing.outsourcing_overdue batch=WF-1 days=3"""
    from runtime.loader import load_apps

    from .actions import render
    app_name, _, name = template.partition(".")
    apps = load_apps(ctx.obj.settings.apps, ctx.obj.extensions)
    tpl = apps.get(app_name).sections.get("templates", {}).get(name) if app_name in apps else None
    if tpl is None:
        raise click.ClickException(f"no template '{template}' (write it as app.template)")
    values: dict[str, Any] = dict(p.split("=", 1) for p in params if "=" in p)
    values.setdefault("count", 1)
    text = render(tpl.text, values)
    click.echo(text)
    click.echo(f"({len(text)} characters; messages over 70 characters are sent as several SMS)")


def commands() -> list[Any]:
    return [worker, scheduler, outbox, rules]
