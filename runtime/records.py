"""Creating, reading, updating and deleting records, with history and events.

Every write runs in one transaction: validation, the change itself, child
rows, the history entry and the record event (whose handlers may write an
outbox row) commit together or not at all. Updates carry the version the
caller saw; a stale version is refused, never silently overwritten.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from . import clock, createplan, history, naming, permissions
from .auth import SYSTEM, Actor
from .context import RecordContext, row_loader
from .errors import BadRequest, Conflict, FieldErrors, Forbidden, NotFound, StaleVersion, ValidationFailed
from .evaluate import row_function
from .fieldtypes import to_json
from .hooks import RecordEvent
from .limits import LimitExceeded
from .messages import t
from .model import SYSTEM_COLUMNS, EntityDef, pick
from .validation import coerce_input, validate

PRIVILEGED_VIA = ("rule", "connector", "system")


class Records:
    def __init__(self, runtime: Any):
        self.rt = runtime

    # ---- plumbing ----------------------------------------------------------

    @contextlib.contextmanager
    def _tx(self, conn: Connection | None, write: bool = True, snapshot: bool = True) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with (self.rt.db.write() if write else self.rt.db.read(snapshot=snapshot)) as c:
                yield c

    def context(self, conn: Connection, ent: EntityDef, values: dict[str, Any], actor: Actor) -> RecordContext:
        return RecordContext(ent, values, actor.context(), row_loader(conn, self.rt.tables))

    def for_json(self, conn: Connection, ent: EntityDef, record: dict[str, Any], actor: Actor) -> Any:
        """What serialize needs: the plain row, or a context when computed fields must be evaluated."""
        return record if json_plan(ent) is not None else self.context(conn, ent, record, actor)

    def _load(self, conn: Connection, ent: EntityDef, record_id: int, actor: Actor, *,
              lock: bool = False) -> dict[str, Any]:
        q = self._by_id(ent, actor, lock and conn.dialect.name == "postgresql")
        params = permissions.filter_params(actor, ent)
        params["jig_record_id"] = record_id
        row = conn.execute(q, params).mappings().first()
        if row is None:
            raise NotFound(t("not_found", actor.language))
        record = dict(row)
        for f in ent.child_fields():
            record[f.name] = self.children(conn, f.child, record_id)  # type: ignore[arg-type]
        return record

    def _by_id(self, ent: EntityDef, actor: Actor, lock: bool) -> Any:
        """SELECT one record by id under the actor's read filter; built once per role set."""
        cache = self.rt.statements.setdefault((ent.key, "by_id"), {})
        key = (permissions.filter_shape(actor, ent), lock)
        stmt = cache.get(key)
        if stmt is None:
            table = self.rt.tables.for_entity(ent)
            stmt = select(table).where(table.c.id == bindparam("jig_record_id"))
            flt = permissions.read_filter(actor, ent, table, self.rt.sql)
            if flt is not None:
                stmt = stmt.where(flt)
            if lock:
                stmt = stmt.with_for_update(of=table)
            cache[key] = stmt
        return stmt

    def children(self, conn: Connection, child: EntityDef, parent_id: int) -> list[dict[str, Any]]:
        """The rows of a table field (``child`` is its entity, ``field.child``) of record ``parent_id``, in order,
        as stored (Python values; no parent_id/idx). Part of the API extensions use (docs/hooks.md)."""
        table = self.rt.tables.for_entity(child)
        rows = conn.execute(select(table).where(table.c.parent_id == parent_id).order_by(table.c.idx)).mappings()
        return [{k: v for k, v in r.items() if k not in ("parent_id", "idx")} for r in rows]

    def serialize(self, ent: EntityDef, ctx: RecordContext | dict[str, Any]) -> dict[str, Any]:
        """The JSON form of a record: system columns, fields, computed values."""
        plan = json_plan(ent)
        if plan is not None:
            out = {}
            for name, conv, compute in plan:
                v = ctx.get(name) if compute is None else compute(ctx)
                out[name] = v if v is None or conv is None else conv(v)
            return out
        out = {}
        for col, conv in _SYSTEM_JSON:
            if col in ctx:
                v = ctx[col]
                out[col] = v if v is None or conv is None else conv(v)
        for f, kind, conv in field_plan(ent):
            if kind == "stored":
                v = ctx.get(f.name)
                out[f.name] = v if v is None or conv is None else conv(v)
            elif kind == "table":
                assert f.child is not None
                out[f.name] = [self.serialize(f.child, RecordContext(f.child, r, None, None))
                               for r in ctx.get(f.name) or []]
            else:
                out[f.name] = to_json(ctx[f.name]) if isinstance(ctx, RecordContext) else None
        return out

    # ---- reads -------------------------------------------------------------

    def get(self, actor: Actor, ent: EntityDef, record_id: int, conn: Connection | None = None) -> dict[str, Any]:
        with self._tx(conn, write=False, snapshot=bool(ent.child_fields())) as c:
            record = self._load(c, ent, record_id, actor)
            return self.serialize(ent, self.for_json(c, ent, record, actor))

    def history(self, actor: Actor, ent: EntityDef, record_id: int) -> list[dict[str, Any]]:
        with self.rt.db.read() as c:
            table = self.rt.tables.for_entity(ent)
            q = select(table.c.id).where(table.c.id == record_id)
            flt = permissions.read_filter(actor, ent, table, self.rt.sql)
            if flt is not None:
                q = q.where(flt)
            visible = c.execute(q, permissions.filter_params(actor, ent)).first() is not None
            entries = history.read(c, self.rt.tables.system["jig_history"], ent.app, ent.name, record_id)
        if not visible and not (actor.is_admin and entries):
            raise NotFound(t("not_found", actor.language))
        return entries

    def visible_ids(self, actor: Actor, ent: EntityDef, ids: Any) -> set[int]:
        """Which of these record ids the actor may read (for ids a client sent: link values, filters)."""
        wanted = sorted({int(i) for i in ids if isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2 ** 63})
        if not wanted:
            return set()
        table = self.rt.tables.for_entity(ent)
        q = select(table.c.id).where(table.c.id.in_(wanted))
        flt = permissions.read_filter(actor, ent, table, self.rt.sql)
        if flt is not None:
            q = q.where(flt)
        with self.rt.db.read(snapshot=False) as c:
            return {int(i) for i in c.execute(q, permissions.filter_params(actor, ent)).scalars()}

    # ---- writes ------------------------------------------------------------

    def create(self, actor: Actor, ent: EntityDef, data: dict[str, Any], conn: Connection | None = None) -> dict[str, Any]:
        lang = actor.language
        permissions.refuse_archived(ent, lang)
        if not permissions.may_create(actor, ent):
            raise Forbidden(t("no_create", lang, entity=pick(ent.title, lang)))
        errors = FieldErrors()
        values = self.prepare_values(actor, ent, data, errors)
        with self._tx(conn) as c:
            now = clock.now()
            row = self.prepare_row(c, actor, ent, values, errors, now)
            table = self.rt.tables.for_entity(ent)
            try:
                record_id = int(c.execute(table.insert(), row).inserted_primary_key[0])  # values as parameters
            except IntegrityError as exc:
                raise self._integrity(ent, exc, lang) from None
            row["id"] = record_id
            for f in ent.child_fields():
                row[f.name] = self._write_children(c, f, record_id, values.get(f.name) or [], lang)
            row.update(self.rt.rollups.own_children(c, ent, record_id))
            self.rt.rollups.after_write(c, ent, None, row)
            changes = history.created(row, history.create_plan(ent))
            history.write(c, self.rt.tables.system["jig_history"], app=ent.app, entity=ent.name,
                          record_id=record_id, action="create", actor=actor, changes=changes, version=1)
            result = self.serialize(ent, self.for_json(c, ent, row, actor))
            self._emit("record.created", ent, record_id, result, None, changes, actor, c)
            return self._as_committed(c, ent, record_id, result, actor, "record.created")

    # ---- the one path a new record takes before it is stored (create, create_many / imports) ----------

    def prepare_values(self, actor: Actor, ent: EntityDef, data: dict[str, Any], errors: FieldErrors, *,
                       memo: Any = None) -> dict[str, Any]:
        """A create's input as typed values: system columns refused, each field coerced by its type,
        read-only fields refused; problems go to ``errors`` (no database needed). ``memo``: coercions
        remembered across many records (``coerce_input``)."""
        lang = actor.language
        if data.__class__ is dict:  # every key a plain writable field: the plan's coercers (same answers)
            fast = createplan.plan(ent).coerce(data, errors, lang, memo,
                                               actor.is_admin or actor.via in PRIVILEGED_VIA)
            if fast is not None:
                return fast
        values = coerce_input(ent, _strip_system(ent, data, errors, lang, creating=True), errors, lang, memo=memo)
        self._refuse_readonly(actor, ent, values, errors, lang, creating=True)
        return values

    def prepare_row(self, c: Connection, actor: Actor, ent: EntityDef, values: dict[str, Any], errors: FieldErrors,
                    now: Any, *, names: Any = None, lookups: Any = None) -> dict[str, Any]:
        """Defaults, the initial state, series numbers, validation and the creator's scope for one new
        record: the row to insert (``values`` gets the defaults and numbers). Raises ValidationFailed /
        Forbidden. ``names(key, series)`` draws a series number (default: one at a time); ``lookups``
        answers validation's database checks many rows at a time (runtime.lookups)."""
        lang = actor.language
        draw = names or (lambda key, series: naming.next_name(c, self.rt.tables.system["jig_naming"], key,
                                                              series, now.date()))
        plan = createplan.plan(ent)
        # without an expression to read it, validation reads the typed values themselves (no context)
        ctx = self.context(c, ent, values, actor) if plan.needs_context else values
        for f, constant in plan.defaults:
            if values.get(f.name) in (None, "", []):
                try:
                    value = createplan.default_value(f, constant, ctx, lang)
                except LimitExceeded as exc:
                    raise exc.for_field(f.name, lang) from None
                if value is not createplan.NOT_CONSTANT:
                    ctx[f.name] = values[f.name] = value
        if plan.initial is not None and ctx is not values:
            ctx["state"] = plan.initial
        for fname, series in plan.naming_fields:  # numbered in this transaction
            ctx[fname] = values[fname] = draw(f"{ent.key}.{fname}", series)
        validate(c, self.rt, ent, ctx, errors, lang, actor=actor, lookups=lookups)
        if errors:
            raise ValidationFailed(t("validation_failed", lang, n=len(errors.errors)), errors.errors)
        get = values.get
        row = {name: get(name) for name in plan.stored}
        row.update(version=1, created_at=now, created_by=actor.username, updated_at=now,
                   updated_by=actor.username)
        if plan.initial is not None:
            row["state"] = plan.initial
        for name in plan.rollups:  # nothing counted yet
            row[name] = 0
        # the read filter must hold for the row as it will be stored (no creating into another's scope)
        if not plan.unscoped(actor, ent):
            permissions.refuse_outside(actor, ent, "create", self.context(c, ent, {**values, **row}, actor),
                                       values, lang)
        if ent.naming:
            row["name"] = draw(ent.key, ent.naming)
        return row

    def create_many(self, actor: Actor, ent: EntityDef, items: list[dict[str, Any]], conn: Connection,
                    progress: Any = None) -> list[int]:
        """Create many records in the caller's transaction, each checked exactly as :meth:`create` checks
        it; all or nothing (raises runtime.bulk.BulkFailed with row-indexed errors). See runtime/bulk.py."""
        from .bulk import create_many
        return create_many(self, actor, ent, items, conn, progress=progress)

    def update(self, actor: Actor, ent: EntityDef, record_id: int, data: dict[str, Any],
               version: int | None, conn: Connection | None = None) -> dict[str, Any]:
        lang = actor.language
        permissions.refuse_archived(ent, lang)
        errors = FieldErrors()
        if version is None and actor.via not in PRIVILEGED_VIA:
            raise BadRequest(t("version_required", lang), {"version": t("required", lang)})
        if "state" in data:
            errors.add("state", t("state_field", lang))
        values = coerce_input(ent, _strip_system(ent, data, errors, lang), errors, lang)
        with self._tx(conn) as c:
            before = self._load(c, ent, record_id, actor, lock=True)
            before_ctx = self.context(c, ent, before, actor)
            if not permissions.allows(actor, ent, "update", before_ctx):
                raise Forbidden(t("no_update", lang))
            current = int(before["version"])
            if version is not None and int(version) != current:
                raise StaleVersion(t("stale", lang, current=current), current_version=current)
            self._refuse_readonly(actor, ent, values, errors, lang, before_ctx=before_ctx)
            self.refuse_outside(c, actor, ent, before, values, "update")
            return self._apply(c, actor, ent, before, values, errors, current, action="update")

    def refuse_outside(self, c: Connection, actor: Actor, ent: EntityDef, before: dict[str, Any],
                       values: dict[str, Any], action: str, transition: Any = None) -> None:
        """403 when the written values would move the record out of the actor's grant (state unchanged)."""
        changed = {k for k in values if to_json(values[k]) != to_json(before.get(k))}
        if changed and not actor.is_admin:
            permissions.refuse_outside(actor, ent, action, self.context(c, ent, {**before, **values}, actor),
                                       changed, actor.language, transition)

    def _apply(self, c: Connection, actor: Actor, ent: EntityDef, before: dict[str, Any], values: dict[str, Any],
               errors: FieldErrors, current: int, *, action: str, new_state: str | None = None,
               transition: str | None = None) -> dict[str, Any]:
        """Validate and write changed values (and maybe a new state) onto a loaded record."""
        lang = actor.language
        record_id = int(before["id"])
        after = {**before, **values}
        if new_state is not None:
            after["state"] = new_state
        ctx = self.context(c, ent, after, actor)
        changed = {k for k in values if to_json(values[k]) != to_json(before.get(k))}
        if not changed and new_state is None and transition is None and not errors:
            # nothing changes: no new version, no empty history entry, no event; the record as it is
            return self.serialize(ent, self.context(c, ent, before, actor))
        validate(c, self.rt, ent, ctx, errors, lang, record_id=record_id, changed=changed, actor=actor,
                 before=before)
        if errors:
            raise ValidationFailed(t("validation_failed", lang, n=len(errors.errors)), errors.errors)
        table = self.rt.tables.for_entity(ent)
        now = clock.now()
        row = {k: v for k, v in values.items() if k in table.c and k not in SYSTEM_COLUMNS}
        if new_state is not None:
            row["state"] = new_state
        row.update(version=current + 1, updated_at=now, updated_by=actor.username)
        try:
            # the SET columns are the parameters' keys (a compiled form per set of columns, cached)
            cache = self.rt.statements.setdefault((ent.key, "update"), {})
            stmt = cache.get(None)
            if stmt is None:  # one statement; SQLAlchemy compiles it once per set of SET columns
                stmt = cache[None] = update(table).where(table.c.id == bindparam("jig_id"),
                                                         table.c.version == bindparam("jig_v"))
            n = c.execute(stmt, {**row, "jig_id": record_id, "jig_v": current}).rowcount
        except IntegrityError as exc:
            raise self._integrity(ent, exc, lang) from None
        if n == 0:
            latest = c.execute(select(table.c.version).where(table.c.id == record_id)).scalar()
            raise StaleVersion(t("stale", lang, current=latest), current_version=latest)
        for f in ent.child_fields():
            if f.name in values:
                after[f.name] = self._write_children(c, f, record_id, values[f.name], lang)
        if any(f.name in values for f in ent.child_fields()):
            after.update(self.rt.rollups.own_children(c, ent, record_id))
        self.rt.rollups.after_write(c, ent, before, after)
        after.update(version=current + 1, updated_at=now, updated_by=actor.username)
        changes = history.diff(before, after, history.keys(ent))
        history.write(c, self.rt.tables.system["jig_history"], app=ent.app, entity=ent.name, record_id=record_id,
                      action=action, actor=actor, changes=changes, version=current + 1, transition=transition)
        result = self.serialize(ent, self.context(c, ent, after, actor))
        event = "record.transitioned" if transition else "record.updated"
        if self.rt.hooks.has(event, ent.key):  # the before image is serialised only for someone to read
            self._emit(event, ent, record_id, result, self.serialize(ent, self.context(c, ent, before, actor)),
                       changes, actor, c, transition)
        return self._as_committed(c, ent, record_id, result, actor, event)

    def delete(self, actor: Actor, ent: EntityDef, record_id: int, version: int | None = None,
               conn: Connection | None = None) -> None:
        lang = actor.language
        permissions.refuse_archived(ent, lang)
        with self._tx(conn) as c:
            before = self._load(c, ent, record_id, actor, lock=True)
            ctx = self.context(c, ent, before, actor)
            if not permissions.allows(actor, ent, "delete", ctx):
                raise Forbidden(t("no_delete", lang))
            if version is not None and int(version) != int(before["version"]):
                raise StaleVersion(t("stale", lang, current=before["version"]), current_version=before["version"])
            self._refuse_if_referenced(c, ent, record_id, lang)
            snapshot = self.serialize(ent, ctx)
            table = self.rt.tables.for_entity(ent)
            for f in ent.child_fields():
                child = self.rt.tables.for_entity(f.child)
                c.execute(delete(child).where(child.c.parent_id == record_id))
            c.execute(delete(table).where(table.c.id == record_id))
            self.rt.rollups.after_write(c, ent, before, None)
            changes = {k: [v, None] for k, v in snapshot.items() if v not in (None, [], "")}
            history.write(c, self.rt.tables.system["jig_history"], app=ent.app, entity=ent.name,
                          record_id=record_id, action="delete", actor=actor, changes=changes,
                          version=int(before["version"]))
            self._emit("record.deleted", ent, record_id, snapshot, snapshot, changes, actor, c)

    # ---- helpers -----------------------------------------------------------

    def _write_children(self, c: Connection, field: Any, parent_id: int, rows: list[dict[str, Any]],
                        lang: str) -> list[dict[str, Any]]:
        """Write a record's rows of one child table: rows with the id of one of its rows change that row,
        rows without an id are new, rows left out are deleted. An id that is not one of the record's own
        rows (another record's, made up, or twice) is refused: nothing is written."""
        child: EntityDef = field.child
        table = self.rt.tables.for_entity(child)
        existing = {r: True for r in c.execute(select(table.c.id).where(table.c.parent_id == parent_id)).scalars()}
        strangers = {f"{field.name}[{i}].id": t("not_own_row", lang) for i, row in enumerate(rows)
                     if row.get("id") is not None and (row["id"] not in existing or
                                                       [r.get("id") for r in rows].count(row["id"]) > 1)}
        if strangers:
            raise ValidationFailed(t("validation_failed", lang, n=len(strangers)), strangers)
        kept: list[dict[str, Any]] = []
        for idx, row in enumerate(rows):
            values = {f.name: row.get(f.name) for f in child.stored_fields()}
            rid = row.get("id")
            if rid in existing:
                c.execute(update(table).where(table.c.id == rid).values(idx=idx, **values))
                existing.pop(rid)
            else:
                rid = int(c.execute(table.insert().values(parent_id=parent_id, idx=idx, **values))
                          .inserted_primary_key[0])
            kept.append({"id": rid, **values})
        if existing:
            c.execute(delete(table).where(table.c.id.in_(list(existing))))
        return kept

    def _refuse_readonly(self, actor: Actor, ent: EntityDef, values: dict[str, Any], errors: FieldErrors,
                         lang: str, *, creating: bool = False, before_ctx: RecordContext | None = None) -> None:
        for key in values:  # roll-ups and series numbers are the engine's alone: nobody writes them
            if key in ent.extra.get("rollups", ()) or (creating and key in ent.extra.get("naming_fields", ())):
                errors.add(key, t("readonly", lang))
        if actor.is_admin or actor.via in PRIVILEGED_VIA:
            return
        for key in values:
            f = ent.fields[key]
            locked = f.readonly
            if not locked and f.readonly_if is not None and before_ctx is not None:
                from .evaluate import holds
                locked = holds(f.readonly_if, before_ctx) is True
            if locked:
                errors.add(key, t("readonly", lang))

    def _refuse_if_referenced(self, c: Connection, ent: EntityDef, record_id: int, lang: str) -> None:
        for other in self.rt.tables.entities.values():
            if other.app != ent.app:
                continue
            for f in other.stored_fields():
                if f.type == "link" and f.to == ent.name:
                    table = self.rt.tables.for_entity(other)
                    q = select(func.count()).select_from(table).where(table.c[f.name] == record_id)
                    if other.parent is ent:  # the record's own rows go with it (a BOM line naming its own BOM)
                        q = q.where(table.c.parent_id != record_id)
                    count = c.execute(q).scalar_one()
                    if count:
                        title = pick((other.parent or other).title, lang)
                        raise Conflict(t("referenced", lang, count=count, entity=title),
                                       referenced_by=f"{other.key}.{f.name}")

    def _integrity(self, ent: EntityDef, exc: IntegrityError, lang: str) -> Exception:
        text = str(exc.orig).lower()
        for f in ent.stored_fields():
            if f.unique and f.name in text:
                return ValidationFailed(t("validation_failed", lang, n=1), {f.name: t("unique", lang, value="")})
        return Conflict(str(exc.orig).splitlines()[0])

    def _as_committed(self, c: Connection, ent: EntityDef, record_id: int, result: dict[str, Any],
                      actor: Actor, event: str) -> dict[str, Any]:
        """The answer to a write: the record as it will commit, with what event handlers (rules) wrote on it.

        Handlers run inside the write's transaction and may change the record itself (a ``created`` rule
        setting a field); each such change bumps the version, so the version tells whether to read it again.
        """
        if not self.rt.hooks.has(event, ent.key):
            return result
        table = self.rt.tables.for_entity(ent)
        cache = self.rt.statements.setdefault((ent.key, "version"), {})
        q = cache.get(None)
        if q is None:  # built once, the id bound per call
            q = cache[None] = select(table.c.version).where(table.c.id == bindparam("jig_record_id"))
        version = c.execute(q, {"jig_record_id": record_id}).scalar()
        if version is None or version == result.get("version"):
            return result
        row = c.execute(select(table).where(table.c.id == record_id)).mappings().first()
        assert row is not None
        record = dict(row)
        for f in ent.child_fields():
            record[f.name] = self.children(c, f.child, record_id)  # type: ignore[arg-type]
        return self.serialize(ent, self.for_json(c, ent, record, actor))

    def announce_engine_update(self, c: Connection, ent: EntityDef, before: dict[str, Any],
                               after: dict[str, Any], changes: dict[str, Any]) -> None:
        """A value the engine keeps (a roll-up) changed on a record: ``record.updated`` by the ``rollup``
        actor, with the record before and after. Its version does not move (no one's edit collides)."""
        if not self.rt.hooks.has("record.updated", ent.key):
            return
        actor = SYSTEM.using("rollup")
        record_id = int(after["id"])
        for f in ent.child_fields():
            before[f.name] = after[f.name] = self.children(c, f.child, record_id)  # type: ignore[arg-type]
        self._emit("record.updated", ent, record_id, self.serialize(ent, self.context(c, ent, after, actor)),
                   self.serialize(ent, self.context(c, ent, before, actor)), changes, actor, c)

    def _emit(self, name: str, ent: EntityDef, record_id: int, record: dict[str, Any],
              before: dict[str, Any] | None, changes: dict[str, Any], actor: Actor, conn: Connection,
              transition: str | None = None) -> None:
        if self.rt.hooks.has(name, ent.key):
            self.rt.hooks.emit(name, RecordEvent(name=name, app=ent.app, entity=ent.name, record_id=record_id,
                                                 record=record, before=before, changes=changes, actor=actor,
                                                 conn=conn, runtime=self.rt, transition=transition))


def json_plan(ent: EntityDef) -> list[tuple[str, Any, Any]] | None:
    """(field, converter, computation) triples for serialising a plain row without a record context: the
    computation is None for a stored value, else ``evaluate.row_function`` of a computed field that reads
    only the record's own stored fields. None when a table field, or a computed field reading more (links,
    the user, other computed fields), needs contexts."""
    if "json_plan" not in ent.extra:
        plan: list[tuple[str, Any, Any]] | None = [("id", None, None)]
        if ent.naming:
            plan.append(("name", None, None))  # type: ignore[union-attr]
        if ent.workflow:
            plan.append(("state", None, None))  # type: ignore[union-attr]
        if not ent.is_child:
            plan += [("version", None, None), ("created_at", to_json, None),  # type: ignore[operator]
                     ("created_by", None, None), ("updated_at", to_json, None), ("updated_by", None, None)]
        for f in ent.fields.values():
            if f.stored:
                plan.append((f.name, f.ft.json_converter(f), None))  # type: ignore[union-attr]
                continue
            compute = row_function(f.expr, ent) if f.type == "computed" and f.expr is not None else None
            if compute is None:  # a table field, or a computed one that needs a context
                plan = None
                break
            plan.append((f.name, to_json, compute))  # type: ignore[union-attr]
        ent.extra["json_plan"] = plan
    return ent.extra["json_plan"]  # type: ignore[no-any-return]


# system columns and how each turns into JSON: ids, versions, states and usernames are stored as they answer
_SYSTEM_JSON = tuple((col, None if col in ("id", "state", "version", "created_by", "updated_by") else to_json)
                     for col in SYSTEM_COLUMNS)


def field_plan(ent: EntityDef) -> list[tuple[Any, str, Any]]:
    """(field, kind, converter) per field, kind ``stored`` / ``table`` / ``computed``: what serialize does for
    each field of an entity json_plan cannot serve, decided once (a stored value converts as in json_plan)."""
    if "field_plan" not in ent.extra:
        ent.extra["field_plan"] = [
            (f, "table", None) if f.type == "table" else (f, "computed", None) if f.type == "computed"
            else (f, "stored", f.ft.json_converter(f)) for f in ent.fields.values()]
    return ent.extra["field_plan"]  # type: ignore[no-any-return]


def _strip_system(ent: EntityDef, data: dict[str, Any], errors: FieldErrors, lang: str, *,
                  creating: bool = False) -> dict[str, Any]:
    """The body without system columns. Creating, any system column is refused (the state comes from the
    workflow, the number from the naming series); updating, the ``id``, ``version`` and ``name`` a client
    echoes back from a read are ignored (``state`` is refused by :meth:`Records.update`)."""
    if not isinstance(data, dict):
        raise BadRequest(t("bad_json", lang))
    out = {}
    for k, v in data.items():
        if k in SYSTEM_COLUMNS and k not in ent.fields:
            if creating and k == "state":
                errors.add(k, t("state_field", lang))
            elif creating or k not in ("id", "version", "state", "name"):
                errors.add(k, t("system_field", lang))
            continue
        out[k] = v
    return out
