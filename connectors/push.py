"""Pushing to an ERP through the outbox: intention with the change, delivery later, exactly once.

A record event (a work order completed) or the daily schedule adds an outbox
row of kind ``erp`` in the writing transaction, keyed by the document's
external number (``number:``), so the same intention is recorded once. The
``erp`` handler performs the steps (Save → Submit → Audit) idempotently: it
first looks the document up by that number (``check:``), skips a Save that
already happened (the answer may have been lost after the ERP committed) and
steps whose effect is already there (``unless:``), and treats "already
audited" answers as success (``ok_errors:``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from runtime.context import RecordContext, row_loader
from runtime.evaluate import EvaluationError, evaluate, holds
from runtime.outbox import Item, Outcome
from runtime.reasons import Reason

from .http import CircuitOpen, Client, ErpError, dig
from .pull import connectors_of
from .spec import Connector, Operation, Step

KIND = "erp"
REMEMBERED = ("number", "erp_id")  # captured values recorded on the outbox row as soon as they are known


class PushContext(RecordContext):
    """A record's values for templates, plus vars, key and what earlier steps captured."""

    def __init__(self, ent: Any, values: dict[str, Any], loader: Any, client: Client):
        super().__init__(ent, values, None, loader)
        self.secrets = client.secrets
        self.stored = client.stored
        self["vars"] = client.vars()

    def resolve(self, path: tuple[str, ...]) -> Any:
        if path[0] == "vars":
            return (self.get("vars") or {}).get(path[1])
        return super().resolve(path)


def outbox_key(conn: Connector, op: Operation, number: Any) -> str:
    return f"erp:{conn.name}:{op.name}:{number}"


def enqueue(rt: Any, db_conn: Any, conn: Connector, op: Operation, record_id: int, row: dict[str, Any]) -> bool:
    """Record the intention to push ``row`` (in ``db_conn``'s transaction); False when already recorded."""
    ctx = RecordContext(op.entity, row, None, row_loader(db_conn, rt.tables))
    if op.when is not None:
        try:
            if holds(op.when, ctx) is not True:
                return False
        except EvaluationError:
            return False
    number = document_number(op, ctx)
    payload = {"connector": conn.name, "operation": op.name, "app": op.entity.app, "entity": op.entity.name,
               "record_id": record_id, "number": number}
    if number is None:  # a write-back that cannot be done is kept and shown, never skipped
        return rt.outbox.add(db_conn, KIND, payload, key=f"erp:{conn.name}:{op.name}:record:{record_id}",
                             app=op.entity.app, source=f"connector:{conn.name}", max_attempts=12,
                             undeliverable=no_number(op, record_id))
    return rt.outbox.add(db_conn, KIND, payload, key=outbox_key(conn, op, number), app=op.entity.app,
                         source=f"connector:{conn.name}", max_attempts=12)


def document_number(op: Operation, ctx: Any) -> str | None:
    """The external document number of a record (``number:``), or None when it is empty or cannot be had."""
    try:
        number = evaluate(op.number, ctx) if op.number is not None else None
    except EvaluationError:
        number = None
    return None if number in (None, "") else str(number)


def no_number(op: Operation, record_id: Any) -> Reason:
    title = dict(op.entity.title or {}) or op.entity.name
    return Reason("no_number", entity=title, record=record_id, expr=op.number.source if op.number else "number")


def subscribe(rt: Any) -> None:
    """Enqueue pushes on the record events their operations name."""
    def handler(event: Any) -> None:
        for conn in connectors_of(rt).values():
            for op in conn.pushes():
                if op.entity.app != event.app or op.entity.name != event.entity:
                    continue
                hit = any((t == "updated" and event.name == "record.updated") or
                          (t == "created" and event.name == "record.created") or
                          (t == f"transition:{event.transition}" and event.name == "record.transitioned")
                          for t in op.on)
                if hit:
                    t = rt.tables.for_entity(op.entity)
                    row = event.conn.execute(select(t).where(t.c.id == event.record_id)).mappings().first()
                    if row is not None:
                        enqueue(rt, event.conn, conn, op, event.record_id, dict(row))
    wanted: dict[str, set[str]] = {}
    for conn in connectors_of(rt).values():
        for op in conn.pushes():
            for t in op.on:
                name = {"updated": "record.updated", "created": "record.created"}.get(t, "record.transitioned")
                wanted.setdefault(name, set()).add(op.entity.key)
    for name in sorted(wanted):  # only what is used: bulk syncs skip building events nobody reads
        rt.hooks.subscribe(name, handler, entities=wanted[name])


def enqueue_due(rt: Any, conn: Connector, op: Operation) -> int:
    """The scheduled catch-up: enqueue every record the operation's ``when`` selects (duplicates are no-ops)."""
    t = rt.tables.for_entity(op.entity)
    n = 0
    with rt.db.write() as c:
        for row in c.execute(select(t)).mappings().all():
            if enqueue(rt, c, conn, op, row["id"], dict(row)):
                n += 1
    return n


def _capture(step: Step, data: Any, ctx: PushContext, keep: dict[str, Any]) -> None:
    """Take the captured values; a lookup that finds nothing never erases what the ERP already told us."""
    for name, path in step.capture.items():
        value = dig(data, path)
        ctx[name] = value if value is not None or name not in keep else keep[name]


def _steps(rt: Any, client: Client, op: Operation, ctx: PushContext, item: Item) -> list[str]:
    """One pass: look the document up, then do the steps not done yet. Writes are sent once per pass."""
    known = {"number": item.result.get("erp_number"), "erp_id": item.result.get("erp_id")}
    known = {k: v for k, v in known.items() if v is not None}
    ctx["number"] = known.get("number")
    ctx["erp_number"] = _text(known.get("number"))
    ctx["erp_id"] = known.get("erp_id")
    ctx["status"] = None
    if op.check is not None:
        data = client.call(op.check.request, ctx, operation=op.name, expect=_an_answer)
        _capture(op.check, data, ctx, known)
        _remember(rt, ctx, item, known)
    done = []
    for step in op.steps:
        if step.unless is not None and holds(step.unless, ctx) is True:
            continue
        data = client.call(step.request, ctx, operation=op.name, ok_errors=step.ok_errors,
                           retry=op.check is None, expect=_an_answer)
        _capture(step, data, ctx, known)
        _remember(rt, ctx, item, known)
        done.append(step.name)
    return done


def _remember(rt: Any, ctx: PushContext, item: Item, known: dict[str, Any]) -> None:
    """The ERP's number and key for this document, recorded on the outbox row as soon as they are known."""
    got = {k: ctx.get(k) for k in REMEMBERED if ctx.get(k) is not None and ctx.get(k) != known.get(k)}
    if got:
        known.update(got)
        ctx["erp_number"] = _text(known.get("number"))
        ctx["erp_id"] = known.get("erp_id")
        rt.outbox.remember(item, erp_number=known.get("number"), erp_id=known.get("erp_id"))


def _text(v: Any) -> str | None:
    return None if v is None else str(v)


def _an_answer(data: Any) -> None:
    """A write's answer must be a JSON document (anything else: a login page, a cut-off body)."""
    if not isinstance(data, (dict, list)):
        raise ErpError(f"the answer is not a document: {str(data)[:100]}", transient=True, unexpected=True)


def deliver(rt: Any, item: Item, client: Client | None = None) -> Outcome:
    p = item.payload
    conn = connectors_of(rt).get(p.get("connector", ""))
    op = conn.operations.get(p.get("operation", "")) if conn else None
    if conn is None or op is None or op.type != "push":
        return Outcome.alert(f"unknown connector operation {p.get('connector')}.{p.get('operation')}")
    client = client or Client(rt, conn)  # per delivery: no dead session carried over
    t = rt.tables.for_entity(op.entity)
    with rt.db.read() as c:
        row = c.execute(select(t).where(t.c.id == p["record_id"])).mappings().first()
        if row is None:
            return Outcome.dead(f"{op.entity.name} {p['record_id']} no longer exists")
        ctx = PushContext(op.entity, dict(row), row_loader(c, rt.tables), client)
        if not p.get("number"):  # recorded without a number: has the record one now?
            number = document_number(op, RecordContext(op.entity, dict(row), None, row_loader(c, rt.tables)))
            if number is None:
                return Outcome.undeliverable(no_number(op, p["record_id"]))
            p = {**p, "number": number}
        ctx["key"] = p["number"]
        ctx["number"] = None
        ctx["status"] = None
        done: list[str] = []
        attempts = int(conn.retry.get("attempts", 5))
        for attempt in range(1, attempts + 1):
            try:
                done = _steps(rt, client, op, ctx, item)
                break
            except CircuitOpen as exc:
                return Outcome.retry(exc.message, after=float(conn.circuit.get("pause", 300)))
            except ErpError as exc:
                if not exc.transient:
                    return Outcome.alert(f"{p['number']}: {exc.message}")
                if attempt == attempts:
                    client._failure(exc)
                    return Outcome.retry(exc.message)
                # The write may have happened with its answer lost: start again from the check.
                client.sleep(client.wait(exc, attempt, float(conn.retry.get("backoff", 0.5)),
                                         float(conn.retry.get("max_backoff", 30))))
    erp_number = ctx.get("erp_number") or ctx.get("number")
    return Outcome.sent(f"{p['number']}: {', '.join(done) or 'already done'}"
                        + (f" (ERP {erp_number})" if erp_number and erp_number != p["number"] else ""),
                        number=p["number"], erp_number=erp_number, steps=done)


def run_pushes(rt: Any, conn: Connector, worker: str = "connector", limit: int = 100, rounds: int = 50) -> dict[str, int]:
    """Deliver due ``erp`` outbox rows (bounded rounds); counts by outcome."""
    total: dict[str, int] = {}
    for _ in range(rounds):
        got = rt.outbox.run_due(worker, limit=limit, kinds=[KIND])
        if not got:
            break
        for k, v in got.items():
            total[k] = total.get(k, 0) + v
    return total

