"""Pulling records from an ERP: pages in, records upserted, progress kept with the data.

The run's window (``since`` = last watermark minus the overlap, ``until`` =
now) and its position (offset, page, next link, or the last key for keyset
paging) are stored in ``jig_connector_state.cursor``. Each page is written in
one transaction together with the new position, so a crash (even SIGKILL)
loses at most the page in flight, which the next run fetches again; the
watermark moves to ``until`` only with the last page. Records changed in the
ERP during a run fall after ``until`` and are fetched by the next run.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from runtime import clock, workflow

from . import quarantine, state
from .http import Client, ErpError
from .mapping import Mapper, _norm, fast_coerce
from .pages import Bad, bad_key, disorder, extract, group, key_source, paginate, to_contexts
from .spec import Connector, Operation
from .template import Context
from .upsert import ACTOR, Counts, Mapped, Upserter

__all__ = ["Bad", "extract", "group", "paginate", "to_contexts", "sync", "find", "connectors_of", "Mapper",
           "fast_coerce"]
log = logging.getLogger("jig.connectors")
SKEW_WARN = 60.0  # seconds of clock difference worth telling the operator about


@dataclass
class SyncResult:
    connector: str
    operation: str
    status: str = "running"
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    closed: int = 0
    pages: int = 0
    rows: int = 0
    quarantined: int = 0
    disorder: int = 0
    skew_s: float | None = None
    resumed: bool = False
    since: str | None = None
    until: str | None = None
    errors: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("fetched", "created", "updated", "unchanged", "failed", "closed",
                                              "pages", "rows", "quarantined")}

    def summary(self) -> str:
        return (f"{self.connector}.{self.operation}: {self.status} — fetched {self.fetched}, created {self.created}, "
                f"updated {self.updated}, unchanged {self.unchanged}, failed {self.failed}"
                + (f", closed {self.closed}" if self.closed else "") + f" ({self.pages} pages)"
                + (f"; {self.quarantined} record(s) in quarantine (jig quarantine {self.connector})"
                   if self.quarantined else "")
                + (f"; the ERP's clock is {abs(self.skew_s):.0f} s {'behind' if self.skew_s < 0 else 'ahead of'} "
                   "Jig's" if self.skew_s is not None and abs(self.skew_s) >= SKEW_WARN else ""))


def connectors_of(rt: Any) -> dict[str, Connector]:
    out: dict[str, Connector] = {}
    for app in rt.apps.values():
        out.update(app.sections.get("connectors") or {})
    return out


def find(rt: Any, name: str) -> Connector:
    conns = connectors_of(rt)
    if name not in conns:
        raise KeyError(f"unknown connector '{name}'; known: {', '.join(sorted(conns)) or '(none)'}")
    return conns[name]


def _fmt(when: dt.datetime, op: Operation) -> str:
    return when.strftime(op.watermark["format"] if op.watermark else "%Y-%m-%d %H:%M:%S")


def _parse(text: str, op: Operation) -> dt.datetime:
    try:
        return dt.datetime.strptime(text, op.watermark["format"] if op.watermark else "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return dt.datetime.fromisoformat(text)


def _when(value: Any, op: Operation) -> dt.datetime | None:
    """A watermark value as the ERP sent it (``2026-11-02T08:00:00`` or in the watermark format)."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None, microsecond=0)
    text = str(value).strip()
    try:
        return dt.datetime.fromisoformat(text[:19]) if len(text) >= 19 else _parse(text, op)
    except ValueError:
        try:
            return _parse(text, op)
        except ValueError:
            return None


def _window(rt: Any, conn_spec: Connector, op: Operation, st: dict[str, Any], since: str | None, full: bool,
            c: Any, skew: float | None) -> dict[str, Any]:
    """A new run's window: from the ERP's own watermark (minus the overlap) or the oldest quarantined
    record, whichever is earlier, to now on the ERP's clock (as far as its Date header told us)."""
    pg = op.pagination
    if since is None:
        if full or not st["watermark"] or not op.watermark:
            since = op.watermark["initial"] if op.watermark else ""
        else:
            since = _fmt(_parse(st["watermark"], op) - dt.timedelta(seconds=op.watermark["overlap"]), op)
        if op.watermark and not full:
            held = [w for w in (_when(v, op) for v in quarantine.open_keys(c, rt, conn_spec.name, op.name).values())
                    if w is not None]
            if held:
                earliest = _fmt(min(held) - dt.timedelta(seconds=op.watermark["overlap"]), op)
                start = _when(since, op)
                if start is not None and _parse(earliest, op) < start:
                    since = earliest
    skew = skew if skew is not None else (state.last_skew(c, rt, conn_spec.name) or 0.0)
    return {"since": since, "until": _fmt(clock.now() + dt.timedelta(seconds=skew), op), "after": "",
            "offset": int(pg.get("start", 0)), "page": int(pg.get("start", 1 if pg["type"] == "page" else 0)),
            "next": None, "max_seen": None, "window": uuid.uuid4().hex[:16], "disorder": 0}


def sync(rt: Any, connector: str | Connector, operation: str | None = None, *, full: bool = False,
         since: str | None = None, progress: Callable[[SyncResult], None] | None = None,
         client: Client | None = None, max_pages: int | None = None) -> SyncResult:
    conn_spec = find(rt, connector) if isinstance(connector, str) else connector
    pulls = conn_spec.pulls()
    op = conn_spec.operations.get(operation) if operation else (pulls[0] if pulls else None)
    if op is None or op.type != "pull":
        raise KeyError(f"connector '{conn_spec.name}' has no pull operation '{operation or ''}'")
    client = client or Client(rt, conn_spec)
    res = SyncResult(conn_spec.name, op.name)
    run_id = state.start_run(rt, conn_spec.name, op.name, "pull")
    pg = op.pagination
    limit = int(pg.get("limit", 500))
    name = conn_spec.name
    with rt.db.write() as c:
        resuming = bool(state.get_state(c, rt, name, op.name)["cursor"]) and not full and since is None
    if not resuming:
        client.probe(op.name)  # the ERP's clock, from its Date header, before the window is fixed
    with rt.db.write() as c:
        st = state.get_state(c, rt, name, op.name, lock=True)
        cur = st["cursor"]
        if cur and not full and since is None:
            res.resumed = True
            cur.setdefault("window", uuid.uuid4().hex[:16])
        else:
            cur = _window(rt, conn_spec, op, st, since, full, c, client.skew)
            state.set_state(c, rt, name, op.name, cursor=cur)
        held = set(quarantine.open_keys(c, rt, name, op.name))
    res.since, res.until = cur["since"], cur["until"]
    mapper = Mapper(rt, op)
    ups = Upserter(rt, op.entity, op.key or "", {k: cm.key for k, cm in op.children.items()})
    mapped_fields = set(op.fields)
    field_keys = ",".join(op.select)
    wm_path = tuple(op.watermark["field"].split(".")) if op.watermark else None
    page_limit = limit
    fresh: list[str] = []
    try:
        while True:
            if max_pages is not None and res.pages >= max_pages:
                res.status = "paused"
                break
            values = {"since": cur["since"], "until": cur["until"], "limit": page_limit, "offset": cur["offset"],
                      "page": cur["page"], "after": cur["after"], "field_keys": field_keys}
            data = client.call(op.request, values, operation=op.name, url=cur.get("next"),
                               expect=lambda d: extract(op, d))
            recs = extract(op, data)
            rows, bad = to_contexts(op, recs)
            groups, new, done, bigger = paginate(op, cur, data, recs, group(op, rows), page_limit)
            if bigger:
                if page_limit >= limit * 64:
                    raise ErpError(f"paging does not advance after {cur['after']!r} (a record with more than "
                                   f"{page_limit} rows?)", transient=False)
                page_limit *= 2  # one record has more lines than a page: ask again for more
                continue
            new["disorder"] = cur.get("disorder", 0) + disorder(op, groups)
            bad_keys = {b.key for b in bad if b.key is not None}
            keep = [g for g in groups if _norm(_gkey(op, g)) not in bad_keys]
            seen = [_when(g[0].resolve(wm_path), op) for g in groups] if wm_path else []
            seen += [_when(b.modified, op) for b in bad]
            top = max((w for w in seen if w is not None), default=None)
            if top is not None and (not new.get("max_seen") or top > _parse(new["max_seen"], op)):
                new["max_seen"] = _fmt(top, op)
            with rt.db.write() as c:
                mapped = mapper.map_groups(c, keep)
                for m in mapped:
                    for v in [m.values, *[r for rs in m.children.values() for r in rs]]:
                        errs = v.pop("__errors__", None)
                        if errs:
                            m.errors.extend(errs)
                counts = ups.apply(c, mapped, mapped_fields)
                _closed(rt, op, c, mapped, counts)
                fresh += _hold(rt, c, op, name, cur, wm_path, keep, mapped, counts, groups, bad, held)
                if done:
                    _resolve_unseen(rt, c, op, name, cur)
                    state.set_state(c, rt, name, op.name, cursor=None,
                                    watermark=new.get("max_seen") or st["watermark"])
                else:
                    state.set_state(c, rt, name, op.name, cursor=new)
            cur = new
            page_limit = limit
            res.pages += 1
            res.rows += len(recs)
            res.fetched += len(groups) + len({b.key for b in bad if b.key not in {_norm(_gkey(op, g)) for g in groups}})
            _add(res, counts)
            res.failed += len(bad)
            state.progress_run(rt, run_id, res.counts())  # what the setup page's progress bar shows
            if progress:
                progress(res)
            if done:
                res.status = "done"
                break
    except ErpError as exc:
        res.status = "failed"
        res.errors.append(exc.message)
        _notify(rt, conn_spec, op, f"同步失败：{exc.message}")
    finally:
        res.quarantined = quarantine.count(rt, name, op.name)
        res.skew_s = client.skew
        res.disorder = int(cur.get("disorder") or 0)
        if res.status == "done":
            res.status = "ok" if not res.failed and not res.quarantined else "partial"
        elif res.status == "running":
            res.status = "failed"  # an unexpected error, on its way up
        if res.skew_s is not None and abs(res.skew_s) >= SKEW_WARN:
            log.warning("%s: the ERP's clock is %+.0f s off Jig's; the watermark follows the ERP's own data",
                        name, res.skew_s)
        state.finish_run(rt, run_id, res.status, res.counts(), {
            "errors": res.errors[:200], "since": res.since, "until": res.until, "resumed": res.resumed,
            "skew_s": res.skew_s, "quarantined": res.quarantined, "disorder": res.disorder})
    if fresh:
        _notify(rt, conn_spec, op, f"{len(fresh)} 条记录未能同步，已隔离并将在每次同步时重试：" + "; ".join(res.errors[:5]))
    return res


def _resolve_unseen(rt: Any, c: Any, op: Operation, name: str, cur: dict[str, Any]) -> None:
    """A complete run resolves the entries its window covered that it did not see failing again."""
    start = _when(cur["since"], op)
    gone = [k for k, since, seen_in in quarantine.open_entries(c, rt, name, op.name)
            if seen_in != cur["window"] and (start is None or ((w := _when(since, op)) is not None and w >= start))]
    if gone:
        quarantine.resolve_keys(c, rt, name, op.name, gone)


def _gkey(op: Operation, g: list[Context]) -> Any:
    src = key_source(op)
    return g[0].resolve(tuple(src.split("."))) if src else None


def _hold(rt: Any, c: Any, op: Operation, name: str, cur: dict[str, Any], wm_path: tuple[str, ...] | None,
          keep: list[list[Context]], mapped: list[Mapped], counts: Counts, groups: list[list[Context]],
          bad: list[Bad], held: set[str]) -> list[str]:
    """Quarantine this page's failed and malformed records, resolve the held ones that came in cleanly."""
    fresh: list[str] = []
    window = cur["window"]
    rows_of = {_norm(m.key): g for m, g in zip(mapped, keep, strict=True)}

    def since_of(g: list[Any]) -> str:
        w = _when(g[0].resolve(wm_path), op) if wm_path and g else None
        return _fmt(w, op) if w is not None else cur["since"]

    failed = set()
    for key, reason in counts.failures:
        k = _norm(key)
        g = rows_of.get(k, [])
        k = k or bad_key([dict(r) for r in g])
        failed.add(k)
        if quarantine.put(c, rt, name, op.name, k, [dict(r) for r in g], reason, since_of(g), window):
            fresh.append(k)
    by_key: dict[str, list[Bad]] = {}
    for b in bad:
        by_key.setdefault(b.key or bad_key(b.raw), []).append(b)
    good_rows = {_norm(_gkey(op, g)): g for g in groups}
    for k, bs in by_key.items():
        w = next((x for x in (_when(b.modified, op) for b in bs) if x is not None), None)
        payload = {"malformed": [b.raw for b in bs], "rows": [dict(r) for r in good_rows.get(k, [])]}
        failed.add(k)
        if quarantine.put(c, rt, name, op.name, k, payload, bs[0].reason, _fmt(w, op) if w else cur["since"],
                          window):
            fresh.append(k)
    held.update(failed)
    cleared = [k for k in rows_of if k in held and k not in failed]
    if cleared:
        quarantine.resolve_keys(c, rt, name, op.name, cleared)
        held.difference_update(cleared)
    return fresh


def _add(res: SyncResult, c: Counts) -> None:
    res.created += c.created
    res.updated += c.updated
    res.unchanged += c.unchanged
    res.failed += c.failed
    res.closed += c.closed
    res.errors.extend(c.errors[: max(0, 200 - len(res.errors))])


def _closed(rt: Any, op: Operation, conn: Any, mapped: list[Mapped], counts: Counts) -> None:
    name = op.on_closed.get("transition")
    wf = op.entity.workflow
    if not name or wf is None:
        return
    tr = wf.transitions[name]
    t = rt.tables.for_entity(op.entity)
    todo = [counts.ids[m.key] for m in mapped if m.closed and m.key in counts.ids]
    if not todo:
        return
    for rid, st in conn.execute(select(t.c.id, t.c.state).where(t.c.id.in_(todo))):
        if tr.allowed_from(st, wf.states):
            workflow.take(rt.records, ACTOR, op.entity, rid, name, conn=conn)
            counts.closed += 1


def _notify(rt: Any, conn_spec: Connector, op: Operation, body: str) -> None:
    with rt.db.write() as c:
        rt.notifications.add(c, title=f"ERP 同步：{conn_spec.title} {op.title}"[:200], body=body[:2000],
                             roles=["admin"], app=conn_spec.app, source=f"connector:{conn_spec.name}")
