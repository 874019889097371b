"""Who may upload and download files: the rules behind ``/api/files``.

Uploading is for users who may create or update some record with an image or file field.

A file key is unguessable, but keys are not secrets users keep: they sit in
records, history and exports. So a download is allowed only to an admin, to
the user who uploaded the file (a form shows a photo before the record is
saved), and to a user who may read a record (or the parent of a child row)
whose image/file field holds the key. Anyone else gets 404, as for a key
that does not exist.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Text, exists, func, literal, or_, select, type_coerce

from . import permissions
from .auth import Actor
from .model import EntityDef


def may_upload(rt: Any, actor: Actor) -> bool:
    for ent in rt.tables.entities.values():
        owner: EntityDef = ent.parent or ent
        if any(f.ft.is_file for f in ent.stored_fields()) and (
                permissions.may_create(actor, owner) or permissions.may_at_all(actor, owner, "update")):
            return True
    return actor.is_admin


def may_download(rt: Any, actor: Actor, key: str, uploaded_by: str | None) -> bool:
    if actor.is_admin or (uploaded_by is not None and uploaded_by == actor.username):
        return True
    needle = literal(json.dumps(key), Text())
    with rt.db.read(snapshot=False) as conn:
        for ent in rt.tables.entities.values():
            fields = [f.name for f in ent.stored_fields() if f.ft.is_file]
            owner: EntityDef = ent.parent or ent
            if not fields or not permissions.may_at_all(actor, owner, "read"):
                continue
            table = rt.tables.for_entity(ent)
            owner_table = rt.tables.for_entity(owner)
            q = select(literal(1))
            if ent.parent is not None:
                q = q.select_from(table.join(owner_table, owner_table.c.id == table.c.parent_id))
            else:
                q = q.select_from(table)
            found = [_contains(conn, type_coerce(table.c[n], Text()), needle) for n in fields]
            q = q.where(or_(*found))
            flt = permissions.read_filter(actor, owner, owner_table, rt.sql)
            if flt is not None:
                q = q.where(flt)
            if conn.execute(select(exists(q)), permissions.filter_params(actor, owner)).scalar():
                return True
    return False


def _contains(conn: Any, column: Any, needle: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return func.strpos(column, needle) > 0
    return func.instr(column, needle) > 0
