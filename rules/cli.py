"""Command-line tools for rules and jobs: jig worker, jig scheduler, jig outbox, jig rules."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

import click

from runtime import clock, logs, reasons
from runtime.outbox import STATES

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


LANG = click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", envvar="JIG_LANG", show_default=True,
                    help="Language of the reasons shown (also JIG_LANG).")


@outbox.command("list")
@click.option("--status", type=click.Choice(list(STATES)), default=None)
@click.option("--limit", default=50)
@LANG
@click.pass_context
def outbox_list(ctx: click.Context, status: str | None, limit: int, lang: str) -> None:
    rt = _runtime(ctx)
    counts = rt.outbox.counts()
    click.echo("  ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "outbox is empty")
    for row in rt.outbox.list(status, limit):
        shown = reasons.render(_reason_of(row), row["last_error"], lang) if row["last_error"] else ""
        err = f"  ({shown[:80]})" if shown else ""
        click.echo(f"{row['id']:6} {row['status']:8} {row['kind']:8} tries={row['attempts']} "
                   f"{row['available_at']:%Y-%m-%d %H:%M} {row['key'][:60]}{err}")


def _reason_of(row: dict[str, Any]) -> Any:
    import json
    try:
        return (json.loads(row.get("result") or "{}") or {}).get("reason")
    except (ValueError, AttributeError):
        return None


@outbox.command("retry")
@click.argument("item_id", type=int, required=False)
@click.option("--all", "all_dead", is_flag=True, help="Retry every dead or undeliverable row.")
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


@outbox.command("cancel")
@click.argument("item_id", type=int)
@click.pass_context
def outbox_cancel(ctx: click.Context, item_id: int) -> None:
    """Give up on a row not sent yet (dead, undeliverable or waiting): it stays in the log, cancelled."""
    rt = _runtime(ctx)
    if not rt.outbox.cancel(item_id, "cancelled from the command line"):
        row = rt.outbox.get(item_id)
        raise click.ClickException(f"no outbox row {item_id}" if row is None else f"row {item_id} is {row['status']}")
    click.echo(f"row {item_id} cancelled")


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


def _at(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value.strip().replace("T", " "))
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a time; write it like \"2026-12-07 09:00\"",
                                 param_hint="--at") from None


AT_HELP = "Run as if it were this local time, e.g. \"2026-12-07 09:00\" (default: now)."


def _rule(rt: Any, name: str) -> Any:
    rule = next((r for r in rules_of(rt).engine.rules if r.key == name or r.name == name), None)
    if rule is None:
        raise click.ClickException(f"no rule '{name}'")
    return rule


@rules.command("run")
@click.argument("name")
@click.option("--at", "at", default=None, help=AT_HELP)
@LANG
@click.pass_context
def rules_run(ctx: click.Context, name: str, at: str | None, lang: str) -> None:
    """Run a scheduled rule now (ignores its schedule; still fires each occurrence once).

    With --at the run, its firing keys ("once per day" is that day) and the deliveries happen as if it were
    that time: what fired is recorded, as in a real run. To only look, use `jig rules test`.
    """
    _logging()
    when = _at(at)
    rt = _runtime(ctx)
    rule = _rule(rt, name)
    from .jobs import drain_outbox, worker_id
    with clock.as_of(when) if when is not None else contextlib.nullcontext():
        report = rules_of(rt).engine.run_scheduled(rule, worker_id("cli"))
        click.echo(f"scanned {report.scanned}, fired {report.fired}, already fired {report.skipped}"
                   + (f" (as of {clock.now():%Y-%m-%d %H:%M})" if when is not None else ""))
        delivered = drain_outbox(rt, worker_id("cli"))
        click.echo(f"delivered: {delivered}")
    for problem in report.undeliverable:
        click.echo(f"undeliverable: {problem.in_lang(lang) if isinstance(problem, reasons.Reason) else problem}",
                   err=True)
    for error in report.errors:
        click.echo(f"error: {error}", err=True)
    failed = {k: v for k, v in delivered.items() if k in ("dead", "alert", "undeliverable")}
    if report.undeliverable or report.errors or failed:
        raise click.ClickException(
            f"{len(report.undeliverable)} recipient(s) could not be reached, {len(report.errors)} error(s), "
            f"failed deliveries {failed or '{}'}; kept in the delivery log (/admin/deliveries, jig outbox list)")


@rules.command("test")
@click.argument("name")
@click.option("--at", "at", default=None, help=AT_HELP)
@click.pass_context
def rules_test(ctx: click.Context, name: str, at: str | None) -> None:
    """Show what a rule would do now (or --at a time) without firing it: the rule editor's "test now"."""
    from .trial import TrialError, trial
    when = _at(at)
    rt = _runtime(ctx, embedded_jobs=False)
    rule = _rule(rt, name)
    try:
        result = trial(rt, rt.apps[rule.app], rule, when)
    except TrialError as exc:
        raise click.ClickException(exc.message) from None
    window = "" if result.get("in_window", True) else " (outside its daily window: a scheduled run would wait)"
    click.echo(f"{rule.key} as of {result['at']}{window}: {len(result['records'])} record(s) match"
               + (" (more not shown)" if result["more"] else ""))
    for r in result["records"]:
        click.echo(f"  {r['name']}" + ("  (already fired for this occurrence)" if r["fired"] else ""))
    for m in result["messages"]:
        click.echo(f"  SMS to {m['to']}: {m['text']}")
    for n in result["notifications"]:
        click.echo(f"  notify {', '.join(n['users']) or '(nobody)'}: {n['text']}")
    for u in result["unreachable"]:
        who = u.get("user") or u.get("role") or u.get("record") or "?"
        click.echo(f"  cannot reach {who}: {u['kind']}")


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
