"""ERP rows -> records: values typed for the entity, links (a customer by its code) looked up in batches."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from runtime.evaluate import EvaluationError, evaluate, holds
from runtime.fieldtypes import FieldValueError, coerce
from runtime.model import EntityDef

from .spec import ChildMap, FieldMap, Operation
from .template import Context
from .upsert import ACTOR, Mapped


class Mapper:
    """ERP rows -> Mapped records (values typed for the entity, links looked up in batches)."""

    def __init__(self, rt: Any, op: Operation, *, readonly: bool = False):
        self.rt = rt
        self.op = op
        self.readonly = readonly
        self.cache: dict[tuple[str, str], dict[Any, int]] = {}
        self.plans: dict[int, list[Any]] = {}

    @staticmethod
    def value(fm: FieldMap, ctx: Context) -> Any:
        if fm.path is not None:
            return ctx.resolve(fm.path) if len(fm.path) > 1 else ctx.get(fm.path[0])
        if fm.expr is not None:
            try:
                return evaluate(fm.expr, ctx)
            except EvaluationError:
                return None
        return fm.constant

    @staticmethod
    def getter(fm: FieldMap) -> Callable[[Context], Any]:
        """``value`` precompiled for one field: dotted keys joined once, expressions only where written."""
        if fm.path is not None:
            path = fm.path
            if len(path) == 1:
                name = path[0]
                return lambda ctx: ctx.get(name)
            flat = ".".join(path)

            def dotted(ctx: Context) -> Any:
                if flat in ctx:
                    return dict.__getitem__(ctx, flat)
                return ctx.resolve(path)
            return dotted
        if fm.expr is not None:
            return lambda ctx: Mapper.value(fm, ctx)
        const = fm.constant
        return lambda ctx: const

    def _plan(self, ent: EntityDef, fmaps: dict[str, FieldMap]) -> list[tuple[str, Callable[[Context], Any],
                                                                         Callable[[Any], Any] | None, FieldMap]]:
        key = id(fmaps)
        plan = self.plans.get(key)
        if plan is None:
            plan = [(fname, self.getter(fm), None if fm.lookup is not None else fast_coerce(ent.fields[fname]), fm)
                    for fname, fm in fmaps.items()]
            self.plans[key] = plan
        return plan

    def _typed(self, ent: EntityDef, fmaps: dict[str, FieldMap], ctx: Context, errors: list[str],
               links: list[tuple[dict[str, Any], str, FieldMap, Context]], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for fname, get, conv, fm in self._plan(ent, fmaps):
            raw = get(ctx)
            if conv is None:
                out[fname] = raw
                links.append((out, fname, fm, ctx))
                continue
            try:
                out[fname] = conv(raw)
            except FieldValueError as exc:
                out[fname] = None
                errors.append(f"{prefix}{fname}: {exc.message} ({raw!r})")
        return out

    def map_groups(self, conn: Any, groups: list[list[Context]]) -> list[Mapped]:
        op = self.op
        out: list[Mapped] = []
        links: list[tuple[dict[str, Any], str, FieldMap, Context]] = []
        owners: list[tuple[Mapped, list[str]]] = []
        for rows in groups:
            head = rows[0]
            errors: list[str] = []
            values = self._typed(op.entity, op.fields, head, errors, links)
            children: dict[str, list[dict[str, Any]]] = {}
            for cname, cm in op.children.items():
                seen: set[Any] = set()
                crs = []
                for r in child_rows(cm, rows):
                    cv = self._typed(cm.entity, cm.fields, r, errors, links, prefix=f"{cname}.")
                    ck = cv.get(cm.key) if cm.key else None
                    if cm.key:
                        if ck is None or ck in seen:
                            continue  # empty line or the same line twice (duplicated rows across pages)
                        seen.add(ck)
                    crs.append(cv)
                children[cname] = crs
            closed = False
            if op.closed is not None:
                try:
                    closed = holds(op.closed, head) is True
                except EvaluationError:
                    closed = False
            m = Mapped(key=values.get(op.key or ""), values=values, children=children, closed=closed, errors=errors)
            if m.key in (None, ""):
                m.errors.append(f"no value for the key field {op.key}")
            out.append(m)
            owners.append((m, errors))
        self._resolve(conn, links)
        return out

    def _resolve(self, conn: Any, links: list[tuple[dict[str, Any], str, FieldMap, Context]]) -> None:
        """Replace looked-up values (a customer number) with record ids, one query per target per page."""
        wanted: dict[tuple[str, str], set[Any]] = {}
        for target, fname, fm, _ctx in links:
            v = target[fname]
            if v in (None, ""):
                continue
            assert fm.lookup is not None and fm.by is not None
            wanted.setdefault((fm.lookup.name, fm.by), set()).add(_norm(v))
        for (ename, by), vals in wanted.items():
            cache = self.cache.setdefault((ename, by), {})
            missing = [v for v in vals if v not in cache]
            if missing:
                ent = self.rt.apps[self.op.entity.app].entities[ename]
                t = self.rt.tables.for_entity(ent)
                for i in range(0, len(missing), 900):
                    for rid, k in conn.execute(select(t.c.id, t.c[by]).where(t.c[by].in_(missing[i:i + 900]))):
                        cache[_norm(k)] = rid
        for target, fname, fm, ctx in links:
            v = target[fname]
            if v in (None, ""):
                target[fname] = None
                continue
            assert fm.lookup is not None and fm.by is not None
            cache = self.cache[(fm.lookup.name, fm.by)]
            rid = cache.get(_norm(v))
            if rid is None and fm.create and not self.readonly:
                data = {fm.by: v, **{k: self.value(c, ctx) for k, c in fm.create.items()}}
                try:
                    rid = self.rt.records.create(ACTOR, fm.lookup, data, conn=conn)["id"]
                except Exception as exc:  # noqa: BLE001 - reported on the record that needed it
                    target.setdefault("__errors__", []).append(f"{fname}: cannot create {fm.lookup.name} {v}: {exc}")
                else:
                    cache[_norm(v)] = rid
            if rid is None and (not fm.create or self.readonly):
                target.setdefault("__errors__", []).append(f"{fname}: no {fm.lookup.name} with {fm.by} = {v}")
            target[fname] = rid


def fast_coerce(f: Any) -> Callable[[Any], Any]:
    """runtime.fieldtypes.coerce, with shortcuts for the common shapes of ERP values (cached per field)."""
    fn = f.__dict__.get("_jig_fast_coerce")
    if fn is not None:
        return fn  # type: ignore[no-any-return]

    def general(v: Any) -> Any:
        return coerce(f, v)
    fn = general
    if f.type == "text" and f.pattern is None and not f.min_length:
        limit = f.max_text

        def text(v: Any) -> Any:
            if isinstance(v, str):
                s = v.strip()
                if s and len(s) <= limit:
                    return s
            elif isinstance(v, int) and not isinstance(v, bool):
                return str(v)
            return coerce(f, v)
        fn = text
    elif f.type == "date":
        def date(v: Any) -> Any:
            if isinstance(v, str) and len(v) in (10, 19) and v[4:5] == "-" and (len(v) == 10 or v[10] in "T "):
                try:
                    return dt.date.fromisoformat(v[:10])
                except ValueError:
                    pass
            return coerce(f, v)
        fn = date
    elif f.type == "decimal":
        q = Decimal(1).scaleb(-f.scale)
        lo, hi = f.min, f.max

        def decimal(v: Any) -> Any:
            if type(v) is int and abs(v) < 10 ** 12:
                d = Decimal(v).quantize(q)
                if (lo is None or d >= lo) and (hi is None or d <= hi):
                    return d
            return coerce(f, v)
        fn = decimal
    f.__dict__["_jig_fast_coerce"] = fn
    return fn


def child_rows(cm: ChildMap, rows: list[Context]) -> list[Context]:
    """The ERP rows one child table is mapped from: the group's rows, or (``from:``) the list inside each
    record, each row seeing its own fields and the record's."""
    if not cm.source:
        return rows
    out = []
    for r in rows:
        items = r.resolve(cm.source)
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict):
                out.append(Context({**r, **item}, r.secrets, r.stored))
    return out


def _norm(v: Any) -> Any:
    return str(v).strip() if v is not None else None


def preview(op: Operation, groups: list[list[Context]]) -> list[dict[str, Any]]:
    """What a sync would make of these ERP records, without the database: typed values, each error at
    its field, lookups shown as what they look up (``customer.code = C0001``)."""
    mapper = Mapper(None, op, readonly=True)
    out = []
    for rows in groups:
        errors: list[str] = []
        links: list[tuple[dict[str, Any], str, FieldMap, Context]] = []
        values = mapper._typed(op.entity, op.fields, rows[0], errors, links)
        children = {cname: [mapper._typed(cm.entity, cm.fields, r, errors, links, prefix=f"{cname}.")
                            for r in child_rows(cm, rows)] for cname, cm in op.children.items()}
        for target, fname, fm, _ctx in links:
            if target[fname] not in (None, "") and fm.lookup is not None:
                target[fname] = f"{fm.lookup.name}.{fm.by} = {target[fname]}"
        key = values.get(op.key or "")
        if key in (None, ""):
            errors.append(f"no value for the key field {op.key}")
        out.append({"key": key, "values": values, "children": children, "errors": errors})
    return out
