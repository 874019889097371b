"""``jig sync``, ``jig push``, ``jig reconcile`` and ``jig mock-erp``."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click


def _rt(ctx: click.Context) -> Any:
    return ctx.obj.runtime()  # the command's runtime: definitions checked, database migrated (jig.cli.CliContext)


@click.command("sync")
@click.argument("connector")
@click.option("--operation", "-o", help="Pull operation (default: the connector's first).")
@click.option("--full", is_flag=True, help="Ignore the watermark: fetch everything.")
@click.option("--since", help="Fetch records changed since this time (ERP format, e.g. '2026-11-01 00:00:00').")
@click.pass_context
def sync_cmd(ctx: click.Context, connector: str, operation: str | None, full: bool, since: str | None) -> None:
    """Pull records from an ERP connector, with progress and a summary."""
    from .pull import sync
    rt = _rt(ctx)
    started = time.monotonic()
    tty = sys.stderr.isatty()

    def progress(r: Any) -> None:
        rate = r.rows / max(time.monotonic() - started, 1e-6)
        line = (f"page {r.pages:>4}  fetched {r.fetched:>8}  created {r.created:>7}  updated {r.updated:>7}  "
                f"unchanged {r.unchanged:>7}  failed {r.failed:>5}  {rate:,.0f} rows/s")
        click.echo(("\r" if tty else "") + line, nl=not tty, err=True)
    try:
        res = sync(rt, connector, operation, full=full, since=since, progress=progress)
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0])) from None
    if tty:
        click.echo("", err=True)
    took = time.monotonic() - started
    click.echo(res.summary() + f" in {took:.1f} s" + (" (resumed an interrupted run)" if res.resumed else ""))
    for e in res.errors[:10]:
        click.echo(f"  ! {e}")
    if res.status != "ok":  # failed, or records kept in quarantine: never a silent success
        sys.exit(1)


@click.command("quarantine")
@click.argument("connector")
@click.option("--resolved", is_flag=True, help="List resolved entries instead of open ones.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def quarantine_cmd(ctx: click.Context, connector: str, resolved: bool, as_json: bool) -> None:
    """ERP records a sync could not take in (retried on every sync); exits 1 while any are open."""
    from . import quarantine
    from .pull import find
    rt = _rt(ctx)
    try:
        find(rt, connector)
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0])) from None
    items = quarantine.entries(rt, connector, resolved=resolved, limit=1000)
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False, indent=2, default=str))
    else:
        click.echo(f"{connector}: {len(items)} {'resolved' if resolved else 'open'} quarantine entr"
                   f"{'y' if len(items) == 1 else 'ies'}")
        for q in items:
            click.echo(f"  {q['operation']}  {q['key']}  x{q['attempts']}  since {q['first_seen']}: {q['reason']}")
    if not resolved and items:
        sys.exit(1)


@click.command("push")
@click.argument("connector")
@click.option("--operation", "-o")
@click.pass_context
def push_cmd(ctx: click.Context, connector: str, operation: str | None) -> None:
    """Enqueue due write-backs of a connector and deliver them."""
    from .jobs import push_now
    rt = _rt(ctx)
    click.echo(json.dumps(push_now(rt, connector, operation), ensure_ascii=False))


@click.command("reconcile")
@click.argument("connector")
@click.option("--days", type=int, help="Window: records the ERP changed in the last N days.")
@click.option("--full", is_flag=True, help="Compare everything (also finds records deleted in the ERP).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def reconcile_cmd(ctx: click.Context, connector: str, days: int | None, full: bool, as_json: bool) -> None:
    """Compare both sides and store a report of differences with suggested fixes."""
    from .reconcile import reconcile
    rt = _rt(ctx)
    from .http import ErpError
    try:
        rep = reconcile(rt, connector, days=days, full=full)
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0])) from None
    except ErpError as exc:
        raise click.ClickException(f"reconciliation failed: {exc.message}") from None
    if as_json:
        click.echo(json.dumps(rep, ensure_ascii=False, indent=2))
        return
    click.echo(f"{connector}: ERP {rep['erp_count']}, Jig {rep['local_count']}, "
               f"{rep['difference_count']} difference(s) ({rep['since']} .. {rep['until']})")
    for d in rep["differences"][:50]:
        extra = f" {d.get('field')}: jig={d.get('jig')!r} erp={d.get('erp')!r}" if d.get("field") else ""
        click.echo(f"  {d['key']}  {d['kind']}{extra}  → {d['suggestion']}")
    if rep["difference_count"]:
        sys.exit(1)


@click.command("mock-erp")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8900, type=int)
@click.option("--orders", default=200, type=int, help="Sales orders to start with.")
@click.option("--fault-rate", default=0.0, type=float, help="Share of requests that fail (0..1).")
@click.option("--faults", default="", help="Comma-separated kinds (default: all).")
@click.option("--switch", "switches", multiple=True,
              help="Misbehave persistently: skew, collation, invalid, malformed, html_session, own_numbers, "
                   "retry_after (repeat the option for several).")
@click.option("--skew", "skew_s", default=-600.0, type=float, help="With --switch skew: the ERP's clock offset (s).")
@click.option("--app-secret", default="sim-secret", envvar="KINGDEE_APP_SECRET")
def mock_erp_cmd(host: str, port: int, orders: int, fault_rate: float, faults: str, switches: tuple[str, ...],
                 skew_s: float, app_secret: str) -> None:
    """Run the ERP simulator (Kingdee, U8, SAP B1 endpoints; faults via POST /_sim/faults)."""
    from .simulator import Erp, Simulator
    erp = Erp(app_secret=app_secret)
    try:
        erp.set_switches(switches, skew_s=skew_s)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--switch") from None
    erp.seed(orders)
    erp.set_faults(fault_rate, [k for k in faults.split(",") if k] or None)
    sim = Simulator(erp, host, port)
    click.echo(f"mock ERP on {sim.url}  (Kingdee: {sim.url}/K3Cloud/..., U8: /api/saleorderlist/batch_get, "
               f"SAP B1: /b1s/v1/Orders; control: POST /_sim/faults)")
    sim.server.serve_forever()


def commands() -> list[click.Command]:
    return [sync_cmd, push_cmd, reconcile_cmd, quarantine_cmd, mock_erp_cmd]
