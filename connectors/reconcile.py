"""Reconciliation: do both sides agree? A report of differences with suggested fixes.

For a window (records the ERP changed in the last N days, or everything with
``full``), fetch the ERP side through the pull operation without writing,
map it exactly as a sync would, and compare the key fields with Jig's records.

The listing is independent of the sync's paging, so that one bug cannot hide in
both: where the sync pages by key (``after``) and the request can page by
position (it uses ``{{ offset }}``), reconciliation lists the window by
position with no key condition at all, collects every row, and groups them
only at the end. Rows not of the expected shape are differences, never a crash.
Write-backs are checked too: pushes still waiting or dead in the outbox are
differences. The report is stored (``jig_connector_reports``) and visible
through the API; a report with differences raises an admin notification.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select

from runtime import clock
from runtime.fieldtypes import to_json

from . import quarantine, state
from .http import Client, ErpError
from .pages import Bad, extract, group, key_source, paginate, to_contexts
from .pull import Mapper, _fmt, connectors_of, find
from .push import KIND
from .spec import Connector


def _close_deleted(rt: Any, op: Any, row: dict[str, Any]) -> str | None:
    """Take the on_deleted transition for a record the ERP no longer has (history says via=connector)."""
    from runtime import workflow
    from runtime.auth import SYSTEM
    from runtime.errors import RecordError
    name = op.on_deleted["transition"]
    try:
        workflow.take(rt.records, SYSTEM.using("connector"), op.entity, int(row["id"]), name)
    except RecordError:
        return None  # already closed, or not allowed from its state: reported as a difference instead
    return str(name)


def reconcile(rt: Any, connector: str | Connector, *, days: int | None = None, full: bool = False,
              client: Client | None = None) -> dict[str, Any]:
    conn = find(rt, connector) if isinstance(connector, str) else connector
    spec = conn.reconcile or ({"operation": conn.pulls()[0].name, "window_days": 30, "compare": None}
                              if conn.pulls() else None)
    if spec is None:
        raise KeyError(f"connector '{conn.name}' has nothing to reconcile")
    op = conn.operations[spec["operation"]]
    compare = spec.get("compare") or [*op.fields, *op.children]
    client = client or Client(rt, conn)
    run_id = state.start_run(rt, conn.name, op.name, "reconcile")
    now = clock.now()
    since = op.watermark["initial"] if full or not op.watermark else \
        _fmt(now - dt.timedelta(days=days or int(spec.get("window_days") or 30)), op)
    with rt.db.read() as c:
        skew = state.last_skew(c, rt, conn.name) or 0.0
    until = _fmt(now + dt.timedelta(seconds=max(0.0, skew), days=1), op)  # whatever the ERP's clock says
    try:
        rows, bad = _list(client, op, since, until)
        erp: dict[Any, Any] = {}
        bad_keys = {b.key for b in bad if b.key is not None}
        ksrc = key_source(op)
        rows = [r for r in rows if ksrc is None or str(r.resolve(tuple(ksrc.split(".")))).strip() not in bad_keys]
        mapper = Mapper(rt, op, readonly=True)  # reconciliation never writes
        with rt.db.read() as c:
            for m in mapper.map_groups(c, group(op, rows)):
                erp[m.key] = m
    except ErpError as exc:
        state.finish_run(rt, run_id, "failed", {}, {"error": exc.message})
        raise
    except Exception as exc:
        state.finish_run(rt, run_id, "failed", {}, {"error": f"{type(exc).__name__}: {exc}"})
        raise
    diffs: list[dict[str, Any]] = []
    for b in bad:
        diffs.append({"key": b.key or "?", "kind": "malformed_in_erp", "error": b.reason,
                      "suggestion": "the ERP sent a row that is not of the expected shape: fix it in the ERP; "
                                    "the sync keeps the record in quarantine until then"})
    ent = op.entity
    t = rt.tables.for_entity(ent)
    local: dict[Any, dict[str, Any]] = {}
    kids: dict[str, dict[int, list[dict[str, Any]]]] = {}
    with rt.db.read() as c:
        keys = list(erp)
        for i in range(0, len(keys), 900):
            for r in c.execute(select(t).where(t.c[op.key].in_(keys[i:i + 900]))).mappings():
                local[r[op.key]] = dict(r)
        if full:
            for r in c.execute(select(t).where(t.c[op.key].is_not(None))).mappings():
                local.setdefault(r[op.key], dict(r))
        ids = [r["id"] for r in local.values()]
        for cname in op.children:
            ct = rt.tables.for_entity(ent.fields[cname].child)
            kids[cname] = {}
            for i in range(0, len(ids), 900):
                for r in c.execute(select(ct).where(ct.c.parent_id.in_(ids[i:i + 900]))
                                   .order_by(ct.c.parent_id, ct.c.idx)).mappings():
                    kids[cname].setdefault(r["parent_id"], []).append(dict(r))
        outbox = rt.outbox.table
        stuck = c.execute(select(outbox.c.key, outbox.c.status, outbox.c.last_error).where(
            outbox.c.kind == KIND, outbox.c.source == f"connector:{conn.name}",
            outbox.c.status.in_(["dead", "retry", "pending", "sending"]))).all()
    sync_hint = f"jig sync {conn.name} --since '{since}'"
    for key, m in erp.items():
        row = local.get(key)
        if row is None:
            diffs.append({"key": key, "kind": "missing_in_jig", "suggestion": f"run {sync_hint}"})
            continue
        for fname in compare:
            if fname in op.children:
                cm = op.children[fname]
                mine = kids.get(fname, {}).get(row["id"], [])
                theirs = m.children.get(fname, [])
                ck = cm.key
                a = {str(r.get(ck)): r for r in mine} if ck else dict(enumerate(mine))
                b = {str(r.get(ck)): r for r in theirs} if ck else dict(enumerate(theirs))
                for k in sorted(set(a) | set(b), key=str):
                    if k not in a:
                        diffs.append({"key": key, "kind": "line_missing_in_jig", "field": fname, "line": k,
                                      "suggestion": f"run {sync_hint}"})
                    elif k not in b:
                        diffs.append({"key": key, "kind": "line_missing_in_erp", "field": fname, "line": k,
                                      "suggestion": "the ERP deleted this line: re-sync, or remove it in Jig"})
                    else:
                        for cf in cm.fields:
                            if _ne(a[k].get(cf), b[k].get(cf)):
                                diffs.append({"key": key, "kind": "different", "field": f"{fname}.{cf}", "line": k,
                                              "jig": to_json(a[k].get(cf)), "erp": to_json(b[k].get(cf)),
                                              "suggestion": f"the ERP is the source: run {sync_hint}"})
            elif fname in m.values and _ne(row.get(fname), m.values.get(fname)):
                diffs.append({"key": key, "kind": "different", "field": fname, "jig": to_json(row.get(fname)),
                              "erp": to_json(m.values.get(fname)), "suggestion": f"the ERP is the source: run {sync_hint}"})
    if full:
        for key in sorted(set(local) - set(erp) - {b.key for b in bad}, key=str):
            closed = _close_deleted(rt, op, local[key]) if op.on_deleted.get("transition") else None
            if closed:
                diffs.append({"key": key, "kind": "deleted_in_erp_closed", "transition": closed,
                              "suggestion": "the ERP deleted it; Jig took the on_deleted transition"})
            else:
                diffs.append({"key": key, "kind": "missing_in_erp",
                              "suggestion": "deleted in the ERP? close or delete the record in Jig"})
    listed = {str(d["key"]) for d in diffs}
    with rt.db.read() as c:
        held = quarantine.open_keys(c, rt, conn.name, op.name)
    for k in sorted(set(held) - listed):
        diffs.append({"key": k, "kind": "quarantined", "suggestion": f"see jig quarantine {conn.name}"})
    for k, status, err in stuck:
        diffs.append({"key": k, "kind": f"write_back_{status}", "error": err,
                      "suggestion": "retry from the outbox (admin) once the cause is fixed" if status == "dead"
                      else "will be retried automatically"})
    report = {"connector": conn.name, "operation": op.name, "since": since, "until": until,
              "erp_count": len(erp), "local_count": len(local), "differences": diffs[:5000],
              "difference_count": len(diffs)}
    with rt.db.write() as c:
        c.execute(rt.tables.system["jig_connector_reports"].insert().values(
            connector=conn.name, operation=op.name, at=clock.now(), window_from=since, window_to=until,
            erp_count=len(erp), local_count=len(local), differences=len(diffs),
            report=json.dumps(report, ensure_ascii=False, default=str)))
        if diffs:
            rt.notifications.add(c, title=f"ERP 对账差异：{conn.title} {len(diffs)} 处"[:200],
                                 body="; ".join(f"{d['key']} {d['kind']}" for d in diffs[:10]), roles=["admin"],
                                 app=conn.app, source=f"connector:{conn.name}")
    state.finish_run(rt, run_id, "ok" if not diffs else "differences",
                     {"erp": len(erp), "local": len(local), "differences": len(diffs)})
    return report


def _by_position(client: Client, op: Any) -> bool:
    """Can this request list by position? (It renders ``{{ offset }}`` somewhere.)"""
    if op.pagination.get("type") != "keyset" or op.request is None:
        return False
    probe = {"since": "", "until": "", "after": "", "limit": 1, "offset": 987654321, "page": 1, "field_keys": ""}
    ctx = client.context(probe)
    parts = [op.request.path(ctx), op.request.query(ctx) if op.request.query else None,
             op.request.body(ctx) if op.request.body is not None else None]
    return "987654321" in json.dumps(parts, default=str)


def _list(client: Client, op: Any, since: str, until: str) -> tuple[list[Any], list[Bad]]:
    """Every row of the window and the rows not of the expected shape, by a path of its own."""
    pg = op.pagination
    by_position = _by_position(client, op)
    cur = {"since": since, "until": until, "after": "", "offset": int(pg.get("start", 0)),
           "page": int(pg.get("start", 1 if pg["type"] == "page" else 0)), "next": None}
    limit = int(pg.get("limit", 500))
    page_limit = limit
    rows: list[Any] = []
    bad: list[Bad] = []
    for _ in range(100000):
        values = {**{k: cur[k] for k in ("since", "until", "offset", "page", "after")}, "limit": page_limit,
                  "field_keys": ",".join(op.select)}
        data = client.call(op.request, values, operation=op.name, url=cur.get("next"),
                           expect=lambda d: extract(op, d))
        recs = extract(op, data)
        got, wrong = to_contexts(op, recs)
        if by_position:
            rows += got
            bad += wrong
            cur = {**cur, "offset": cur["offset"] + len(recs)}
            if len(recs) < page_limit:
                break
            continue
        _, new, done, bigger = paginate(op, cur, data, recs, group(op, got), page_limit)
        if bigger:
            if page_limit >= limit * 64:
                raise ErpError("paging does not advance", transient=False)
            page_limit *= 2
            continue
        rows += got
        bad += wrong
        page_limit = limit
        cur = new
        if done:
            break
    return rows, bad


def _ne(a: Any, b: Any) -> bool:
    if a in (None, "") and b in (None, ""):
        return False
    try:
        return bool(a != b)
    except TypeError:
        return to_json(a) != to_json(b)


def all_reports(rt: Any) -> list[str]:
    return sorted(connectors_of(rt))
