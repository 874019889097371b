"""Server-side validation of a whole record, answering one message per field.

Runs the same checks whatever the channel (API, web form, shared link,
import, rule, connector): coercion, required (with visibility), links and
users that exist, files that exist, uniqueness, and ``check`` expressions.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, func, select

from . import checkinputs
from .bounds import MAX_CHILD_ROWS, id_in_range
from .errors import FieldErrors
from .evaluate import EvaluationError, holds
from .fieldtypes import FieldValueError, to_json
from .limits import LimitExceeded
from .messages import t
from .model import EntityDef, FieldDef, pick

MEMO_INPUTS = (str, int, float, bool)
MEMO_SIZE = 2000  # distinct inputs remembered per field (options, quantities, dates repeat; codes do not)


def coerce_input(ent: EntityDef, data: dict[str, Any], errors: FieldErrors, lang: str, *,
                 prefix: str = "", memo: dict[Any, dict[Any, Any]] | None = None) -> dict[str, Any]:
    """Typed values for the fields present in ``data``; problems go to ``errors``.

    ``memo`` (a dict the caller keeps for many records, ``Records.create_many``): each field's answer
    for an input seen before -- the value or the message -- is reused instead of coercing it again."""
    out: dict[str, Any] = {}
    for key, raw in data.items():
        f = ent.fields.get(key)
        if f is None:
            errors.add(prefix + key, t("unknown_field", lang))
            continue
        if f.type == "computed":
            errors.add(prefix + key, t("computed", lang))
            continue
        if f.type == "table":
            out[key] = table_rows(f, raw, errors, lang, prefix + key, memo)
            continue
        if memo is not None and raw.__class__ in MEMO_INPUTS and f.ft.pure_coerce:
            seen = memo.setdefault((ent.key, key, lang), {})
            answer = seen.get((raw.__class__, raw))
            if answer is None:
                try:
                    answer = (True, f.ft.coerce(f, raw, lang))
                except FieldValueError as exc:
                    answer = (False, exc.message)
                if len(seen) < MEMO_SIZE:
                    seen[(raw.__class__, raw)] = answer
            if answer[0]:
                out[key] = answer[1]
            else:
                errors.add(prefix + key, answer[1])
            continue
        try:
            out[key] = f.ft.coerce(f, raw, lang)
        except FieldValueError as exc:
            errors.add(prefix + key, exc.message)
    return out


def table_rows(f: FieldDef, raw: Any, errors: FieldErrors, lang: str, prefix: str,
          memo: dict[Any, dict[Any, Any]] | None = None) -> list[dict[str, Any]]:
    assert f.child is not None
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        errors.add(prefix, t("rows", lang))
        return []
    limit = f.max_rows if f.max_rows is not None else MAX_CHILD_ROWS
    if len(raw) > limit:  # before any work on the rows
        errors.add(prefix, t("max_rows", lang, max=limit))
        return []
    rows = []
    for i, r in enumerate(raw):
        row_id = r.get("id")
        body = {k: v for k, v in r.items() if k not in ("id", "idx", "parent_id")}
        typed = coerce_input(f.child, body, errors, lang, prefix=f"{prefix}[{i}].", memo=memo)
        if id_in_range(row_id):
            typed["id"] = row_id
        elif isinstance(row_id, int) and not isinstance(row_id, bool):
            errors.add(f"{prefix}[{i}].id", t("too_big_number" if row_id > 0 else "integer", lang))
        elif row_id is not None:
            errors.add(f"{prefix}[{i}].id", t("not_own_row", lang))
        rows.append(typed)
    return rows


def validate(conn: Connection, runtime: Any, ent: EntityDef, ctx: Any, errors: FieldErrors, lang: str, *,
             record_id: int | None = None, changed: set[str] | None = None, prefix: str = "",
             actor: Any = None, before: dict[str, Any] | None = None,
             known: dict[str, set[Any]] | None = None, lookups: Any = None) -> None:
    """Check a complete record (values in ``ctx``); add messages to ``errors``.

    ``lookups`` (a runtime.lookups.Lookups) answers the database checks -- links, users, uniqueness --
    from what it fetched for many rows at once (imports, ``Records.create_many``); the checks are the same.

    With ``actor``, a link must name a record the actor may read (row filters included); the answer
    is the same as for a record that does not exist. Links already stored (``before``: the record as
    loaded, child rows included; ``known``: for child rows, the targets the stored rows name) are not
    re-checked, and rules, connectors and the system link anything.
    """
    reader = link_reader(actor)
    get = ctx.get
    for f, kind, conditional in field_specs(ent):
        key = prefix + f.name
        if kind == "computed":
            if f.expr is not None and hasattr(ctx, "limits"):
                ctx[f.name]  # noqa: B018 - evaluates it; a record whose computed field passes a bound is not stored
                if f.name in ctx.limits:
                    raise ctx.limits[f.name].for_field(key, lang)
            continue
        value = get(f.name)
        if conditional:
            visible = f.visible is None or _holds(f.visible, ctx, key, lang) is not False
            required = f.required or (f.required_if is not None and _holds(f.required_if, ctx, key, lang) is True)
        else:
            visible, required = True, f.required
        if kind == "table":
            rows = value or []
            if required and not rows:
                errors.add(key, t("required", lang))
            if f.min_rows is not None and len(rows) < f.min_rows:
                errors.add(key, t("min_rows", lang, min=f.min_rows))
            if f.max_rows is not None and len(rows) > f.max_rows:
                errors.add(key, t("max_rows", lang, max=f.max_rows))
            assert f.child is not None
            kept = _stored_links(f.child, (before or {}).get(f.name)) if reader is not None else {}
            stored = _stored_rows((before or {}).get(f.name)) if changed is not None else {}
            plain_rows = not needs_context(f.child)
            for i, row in enumerate(rows):
                from .context import RecordContext
                # a row no expression reads is checked as it is (validate only reads its values then)
                rctx = row if plain_rows else RecordContext(f.child, row, ctx.user, ctx.loader)
                old = stored.get(row.get("id")) if row.get("id") is not None else None
                # a stored row is re-checked on what changed in it; a new row on everything
                row_changed = None if old is None else {k for k in row if to_json(row[k]) != to_json(old.get(k))}
                validate(conn, runtime, f.child, rctx, errors, lang, prefix=f"{key}[{i}].", actor=reader,
                         known=kept, lookups=lookups, changed=row_changed, before=old)
            continue
        if value is None or value == "" or value == []:  # fieldtypes.empty
            if required and visible:
                errors.add(key, t("required", lang))
            continue
        if changed is not None and f.name not in changed:
            continue  # unchanged values were valid when saved; re-check only checks below
        if kind == "plain":
            pass
        elif f.type == "link" and f.to:
            target_ent = ent_by_name(runtime, ent, f.to)
            scoped = reader if reader is not None and value not in (known or {}).get(f.name, ()) else None
            if not (lookups.link_ok(conn, target_ent, value, scoped) if lookups is not None
                    else link_ok(conn, runtime, target_ent, value, scoped)):
                errors.add(key, t("link_missing", lang))
        elif f.type == "user":
            if actor is not None and actor.user_id is not None and value == actor.username:
                pass  # the acting user: signed in as a row of jig_users (no query for it)
            elif not (lookups.user_ok(conn, value) if lookups is not None else user_ok(conn, runtime, value)):
                errors.add(key, t("user_missing", lang))
        elif f.ft.is_file:
            files = runtime.tables.system["jig_files"]
            found = conn.execute(select(func.count()).where(files.c.key.in_(value))).scalar_one()
            if found != len(set(value)):
                errors.add(key, t("file_missing", lang))
        if f.unique and not ent.is_child:
            if lookups is not None and record_id is None:
                taken = lookups.unique_taken(conn, ent, f.name, value)
            else:
                table = runtime.tables.for_entity(ent)
                q = select(table.c.id).where(table.c[f.name] == value)
                if record_id is not None:
                    q = q.where(table.c.id != record_id)
                taken = conn.execute(q.limit(1)).first() is not None
            if taken:
                errors.add(key, t("unique", lang, value=value))
    for f in check_fields(ent):
        if f.name not in errors.errors and checkinputs.runs(ent, f, changed, ctx, before) \
                and _holds(f.check, ctx, prefix + f.name, lang) is False:
            msg = pick(f.check_message, lang) if f.check_message else t("check", lang, expr=f.check.source)
            errors.add(prefix + f.name, msg)


def field_specs(ent: EntityDef) -> list[tuple[FieldDef, str, bool]]:
    """(field, kind, whether ``visible``/``required_if`` are set) per field, decided once per entity: kind
    ``computed``, ``table``, or ``plain`` for a stored field with no database check but uniqueness (not a
    link, user or file), ``other`` otherwise. A plain field that is neither required, unique nor
    conditional has nothing to check (its type checked it) and is left out."""
    specs = ent.extra.get("validate_specs")
    if specs is None:
        specs = ent.extra["validate_specs"] = [
            (f, kind, conditional) for f, kind, conditional in
            ((f, _kind(f), f.visible is not None or f.required_if is not None) for f in ent.fields.values())
            if kind != "plain" or conditional or f.required or f.unique]
    return specs  # type: ignore[no-any-return]


def needs_context(ent: EntityDef) -> bool:
    """Whether validate needs a record context (``RecordContext``) for a record of ``ent``: a computed
    field, a ``visible``/``required_if``/``check`` expression, or a table whose rows need one. Otherwise it
    reads nothing but the values, and a plain dict of them will do. Decided once per entity."""
    known = ent.extra.get("validate_context")
    if known is None:
        known = ent.extra["validate_context"] = any(
            needs_context(f.child) if f.type == "table" and f.child is not None
            else not f.stored or f.visible is not None or f.required_if is not None or f.check is not None
            for f in ent.fields.values())
    return known  # type: ignore[no-any-return]


def _kind(f: FieldDef) -> str:
    """How validate treats the field (the branches below): computed, table, other (a database check), plain."""
    if f.type == "computed" or f.type == "table":
        return f.type
    return "other" if f.type == "link" or f.type == "user" or f.ft.is_file else "plain"


def check_fields(ent: EntityDef) -> list[FieldDef]:
    """The fields with a ``check``, in order; decided once per entity."""
    out = ent.extra.get("validate_checks")
    if out is None:
        out = ent.extra["validate_checks"] = [f for f in ent.fields.values() if f.check is not None]
    return out  # type: ignore[no-any-return]


def link_reader(actor: Any) -> Any:
    """Whose read permission a link value must pass: the actor's, or nobody's (admins, rules, connectors,
    the system, shared links) -- then any existing record will do."""
    return actor if actor is not None and not (actor.is_admin or actor.via in _PRIVILEGED) \
        and actor.link is None else None


def link_ok(conn: Connection, runtime: Any, target_ent: EntityDef, value: Any, reader: Any) -> bool:
    """Whether the record ``value`` of ``target_ent`` exists (and, with ``reader``, is one it may read)."""
    target = runtime.tables.for_entity(target_ent)
    cache = runtime.statements.setdefault((target_ent.key, "exists"), {})
    q = cache.get(None)
    if q is None:  # built once, the id bound per call
        q = cache[None] = select(target.c.id).where(target.c.id == bindparam("jig_link_id"))
    params: dict[str, Any] = {}
    if reader is not None:
        from . import permissions
        flt = permissions.read_filter(reader, target_ent, target, runtime.sql)
        if flt is not None:
            q = q.where(flt)
            params = permissions.filter_params(reader, target_ent)
    params["jig_link_id"] = value
    return conn.execute(q, params).first() is not None


def user_ok(conn: Connection, runtime: Any, username: Any) -> bool:
    cache = runtime.statements.setdefault(("jig_users", "exists"), {})
    q = cache.get(None)
    if q is None:
        users = runtime.tables.system["jig_users"]
        q = cache[None] = select(users.c.id).where(users.c.username == bindparam("jig_username"))
    return conn.execute(q, {"jig_username": username}).first() is not None


_PRIVILEGED = ("rule", "connector", "system")  # as records.PRIVILEGED_VIA: they act for the system


def _stored_links(child: EntityDef, rows: Any) -> dict[str, set[Any]]:
    """Per link field of a child table, the targets its stored rows already name."""
    out: dict[str, set[Any]] = {}
    for cf in child.fields.values():
        if cf.type == "link":
            out[cf.name] = {r.get(cf.name) for r in rows or [] if isinstance(r, dict)}
    return out


def _stored_rows(rows: Any) -> dict[Any, dict[str, Any]]:
    """A table field's stored rows by id."""
    return {r.get("id"): r for r in rows or [] if isinstance(r, dict) and r.get("id") is not None}


def _holds(expr: Any, ctx: Any, key: str, lang: str) -> bool | None:
    try:
        return holds(expr, ctx)
    except EvaluationError:
        return None
    except LimitExceeded as exc:
        raise exc.for_field(key, lang) from None


def ent_by_name(runtime: Any, ent: EntityDef, name: str) -> EntityDef:
    return runtime.apps[ent.app].entities[name]
