"""SQLAlchemy Core tables: Jig's own system tables and one table per entity."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    literal_column,
)
from sqlalchemy.types import TypeEngine

from . import keptstore
from .model import AppDef, EntityDef, FieldDef
from .sqltypes import JSONList, LocalDateTime

ID = BigInteger().with_variant(Integer(), "sqlite")


def index_name(prefix: str, table: str, *cols: str) -> str:
    """Index names under PostgreSQL's 63-character limit, stable across runs."""
    name = f"{prefix}_{table}_{'_'.join(cols)}"
    if len(name) <= 60:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[:51]}_{digest}"


def system_tables(md: MetaData) -> dict[str, Table]:
    users = Table(
        "jig_users", md,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("username", String(64), nullable=False, unique=True),
        Column("display_name", String(128)),
        Column("password_hash", String(256)),
        Column("roles", JSONList, nullable=False, default=list),
        Column("attributes", Text, nullable=False, default="{}"),
        Column("phone", String(32)),
        Column("language", String(8), nullable=False, default="zh"),
        Column("active", Boolean, nullable=False, default=True),
        Column("failed_logins", Integer, nullable=False, default=0),
        Column("locked_until", LocalDateTime),
        Column("created_at", LocalDateTime, nullable=False),
    )
    tokens = Table(
        "jig_tokens", md,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("user_id", BigInteger, nullable=False, index=True),
        Column("token_hash", String(64), nullable=False, unique=True),
        Column("label", String(128)),
        Column("prefix", String(12), nullable=False),
        Column("created_at", LocalDateTime, nullable=False),
        Column("expires_at", LocalDateTime),
        Column("last_used_at", LocalDateTime),
        Column("revoked", Boolean, nullable=False, default=False),
    )
    history = Table(
        "jig_history", md,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("app", String(48), nullable=False),
        Column("entity", String(48), nullable=False),
        Column("record_id", BigInteger, nullable=False),
        Column("action", String(16), nullable=False),
        Column("transition", String(48)),
        Column("via", String(16), nullable=False),
        Column("username", String(64)),
        Column("at", LocalDateTime, nullable=False),
        Column("version", Integer),
        Column("diff", Text, nullable=False),
        Index("ix_jig_history_record", "app", "entity", "record_id", "id"),
    )
    naming = Table(
        "jig_naming", md,
        Column("key", String(160), primary_key=True),
        Column("value", BigInteger, nullable=False),
    )
    schema_state = Table(
        "jig_schema", md,
        Column("table_name", String(160), primary_key=True),
        Column("entity", String(100), nullable=False),
        Column("columns", Text, nullable=False),
        Column("retired", Text, nullable=False, default="[]"),
        Column("updated_at", LocalDateTime, nullable=False),
    )
    files = Table(
        "jig_files", md,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("key", String(64), nullable=False, unique=True),
        Column("filename", String(255), nullable=False),
        Column("content_type", String(100), nullable=False),
        Column("size", BigInteger, nullable=False),
        Column("sha256", String(64), nullable=False),
        Column("width", Integer),
        Column("height", Integer),
        Column("uploaded_by", String(64)),
        Column("created_at", LocalDateTime, nullable=False),
    )
    notifications = Table(
        "jig_notifications", md,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("username", String(64), nullable=False),
        Column("app", String(48)),
        Column("title", String(200), nullable=False),
        Column("body", Text),
        Column("link", String(300)),
        Column("source", String(120)),
        Column("created_at", LocalDateTime, nullable=False),
        Column("read_at", LocalDateTime),
        Index("ix_jig_notifications_user", "username", "read_at", "id"),
    )
    outbox = Table(
        "jig_outbox", md,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("key", String(200), nullable=False, unique=True),
        Column("kind", String(32), nullable=False),
        Column("payload", Text, nullable=False),
        Column("status", String(16), nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
        Column("max_attempts", Integer, nullable=False, default=8),
        Column("available_at", LocalDateTime, nullable=False),
        Column("lease_until", LocalDateTime),
        Column("leased_by", String(64)),
        Column("last_error", Text),
        Column("result", Text),
        Column("app", String(48)),
        Column("source", String(120)),
        Column("created_at", LocalDateTime, nullable=False),
        Column("sent_at", LocalDateTime),
        Index("ix_jig_outbox_due", "status", "available_at"),
    )
    leases = Table(  # who runs what now (runtime/leases.py): e.g. the embedded jobs when there is no Redis
        "jig_leases", md,
        Column("name", String(64), primary_key=True),
        Column("holder", String(128)),
        Column("until", LocalDateTime),
        Column("since", LocalDateTime),
    )
    idempotency = Table(  # answers to POSTs sent with an Idempotency-Key (runtime/idempotency.py), kept a day
        "jig_idempotency", md,
        Column("scope", String(64), primary_key=True),
        Column("key", String(200), primary_key=True),
        Column("fingerprint", String(64), nullable=False),
        Column("status", Integer, nullable=False),
        Column("response", Text, nullable=False),
        Column("created_at", LocalDateTime, nullable=False),
        Index("ix_jig_idempotency_created", "created_at"),
    )
    from .versions import definition_tables
    return {**{t.name: t for t in (users, tokens, history, naming, schema_state, files, notifications, outbox,
                                   leases, idempotency)},
            **definition_tables(md)}


def column_type(f: FieldDef) -> TypeEngine[Any]:
    """The column of a stored field, as its type declares it (runtime.fieldtypes)."""
    return f.ft.sql_type(f)


def type_signature(f: FieldDef) -> str:
    """A short text naming how a field is stored; a change means a type migration."""
    return f.ft.type_signature(f)


def entity_columns(ent: EntityDef) -> list[Column[Any]]:
    cols: list[Column[Any]] = [Column("id", ID, primary_key=True, autoincrement=True)]
    if ent.is_child:
        cols += [Column("parent_id", BigInteger, nullable=False), Column("idx", Integer, nullable=False)]
    else:
        if ent.naming:
            cols.append(Column("name", String(64)))
        if ent.workflow:
            cols.append(Column("state", String(48)))
        cols += [
            Column("version", Integer, nullable=False),
            Column("created_at", LocalDateTime, nullable=False),
            Column("created_by", String(64)),
            Column("updated_at", LocalDateTime, nullable=False),
            Column("updated_by", String(64)),
        ]
    for f in ent.stored_fields():
        cols.append(Column(f.name, column_type(f), nullable=True))
    return cols


def entity_indexes(ent: EntityDef) -> list[Index]:
    t = ent.table_name
    idx: list[Index] = []
    if ent.is_child:
        idx.append(Index(index_name("ix", t, "parent_id"), "parent_id", "idx"))
    else:
        if ent.naming:
            idx.append(Index(index_name("uq", t, "name"), "name", unique=True))
            idx.append(search_index(t))
        if ent.workflow:
            idx.append(Index(index_name("ix", t, "state"), "state"))
        idx.append(Index(index_name("ix", t, "updated_at"), "updated_at"))
    for f in ent.stored_fields():
        if f.unique:
            idx.append(Index(index_name("uq", t, f.name), f.name, unique=True))
        elif f.index or f.ft.always_indexed:
            idx.append(Index(index_name("ix", t, f.name), f.name))
    names = {i.name for i in idx}
    leading = {next(iter(i.expressions)).name if hasattr(next(iter(i.expressions)), "name")  # type: ignore[attr-defined]
               else str(next(iter(i.expressions))) for i in idx}
    sort_col = (ent.list_sort or "").split(",")[0].strip().lstrip("-+")
    stored = {f.name for f in ent.stored_fields()} | {"created_at", "updated_at", "name", "state"}
    if sort_col and sort_col != "id" and sort_col in stored and sort_col not in leading and not ent.is_child:
        # a list's first page reads the index in order instead of sorting the whole table
        idx.append(Index(index_name("ix", t, sort_col), sort_col))
        names.add(index_name("ix", t, sort_col))
    for cols in ent.indexes:
        name = index_name("ix", t, *cols)
        if name not in names:  # a one-column index may already exist for a link or unique field
            idx.append(Index(name, *cols))
            names.add(name)
    if not ent.is_child:
        for cols in list_indexes(ent):
            name = index_name("ix", t, *cols)
            if name not in names:
                idx.append(Index(name, *cols))
                names.add(name)
        # dashboards' and scheduled rules' queries (runtime.indexplan), unless another index starts with them
        planned = ent.planned_indexes
        have = [index_columns(i) for i in idx]
        for cols in planned:
            longer = [c for c in [*have, *planned] if len(c) > len(cols) and c[:len(cols)] == cols]
            name = index_name("ix", t, *cols)
            if longer:
                continue
            plain = next((i for i in idx if len(cols) > 1 and index_columns(i) == cols and not i.unique
                          and "only" not in i.info), None)
            if plain is not None:  # declared as well: the planned form (same name on SQLite) replaces it
                idx.remove(plain)
            elif name in names or cols in have:
                continue
            idx += planned_index(t, cols)
            names.add(name)
    return _without_prefixes(idx)


def planned_index(table_name: str, cols: tuple[str, ...]) -> list[Index]:
    """A planned index (runtime.indexplan) as each database wants it. Dashboards order ascending with empty
    values first and descending with them last, as SQLite orders by itself; PostgreSQL puts them the other
    way round, so there its index holds the columns NULLS FIRST (read backwards: descending, NULLS LAST)
    and serves the order instead of sorting every matching row (a board at 1,000,000 batches: 28.6 ms of
    sorting against 0.8 ms). Equalities and ranges use it the same either way."""
    return [Index(index_name("ix", table_name, *cols), *cols, info={"only": "sqlite", "columns": cols})
            .ddl_if(dialect="sqlite"),
            Index(index_name("ix", table_name, *cols, "nf"), *(literal_column(c).asc().nulls_first() for c in cols),
                  info={"only": "postgresql", "columns": cols}).ddl_if(dialect="postgresql")]


def search_index(table_name: str) -> Index:
    """PostgreSQL only: ``lower(name)``, serving the search's case-blind prefix match on a record's number
    (runtime/search.py ``ci_like``). SQLite's ``LIKE`` ignores case by itself and needs none."""
    expr = func.lower(literal_column("name")).label("name_lower")
    return Index(index_name("ix", table_name, "name_lower"), expr, postgresql_ops={"name_lower": "text_pattern_ops"},
                 info={"only": "postgresql"}).ddl_if(dialect="postgresql")


def index_applies(idx: Index, dialect: str) -> bool:
    """Whether ``idx`` exists on ``dialect`` (a few are PostgreSQL's only)."""
    return idx.info.get("only", dialect) == dialect


def list_sort_columns(ent: EntityDef) -> list[str]:
    """The columns of the list's default sort, as listquery.parse_args orders by them (``id`` comes last)."""
    out: list[str] = []
    for part in (ent.list_sort or "-id").split(","):
        name = part.strip().lstrip("-+")
        if name and name != "id" and name not in out:
            out.append(name)
    return out


def list_filter_fields(ent: EntityDef) -> list[str]:
    """The fields a list is filtered on by equality: the workflow state and every select or link column it shows."""
    out = ["state"] if ent.workflow else []
    for name in ent.list_columns:
        f = ent.fields.get(name)
        if f is not None and f.stored and f.ft.list_filter_index and name not in out:
            out.append(name)
    return out


def list_indexes(ent: EntityDef) -> list[tuple[str, ...]]:
    """Composite indexes planned from the definition for the list shapes the UI uses.

    ``?state=X`` (or any select/link column shown in the list) with the default sort: an index on
    (field, sort columns..., id) finds the matches already in list order, so the first page reads
    ``limit`` index entries instead of sorting every match. A link column combined with the state
    (``?partner=Y&state=X``, the usual "a partner's open batches" shape) gets (link, state, sort..., id).
    Sorts on a nullable column (``NULLS FIRST/LAST``) are served on SQLite; PostgreSQL may still sort.
    """
    sort = list_sort_columns(ent)
    known = {f.name for f in ent.stored_fields()} | {"created_at", "updated_at", "name", "state"}
    if any(c not in known for c in sort):
        return []
    fields = list_filter_fields(ent)
    out = [(f, *[c for c in sort if c != f], "id") for f in fields]
    if ent.workflow:
        out += [(f, "state", *[c for c in sort if c not in (f, "state")], "id")
                for f in fields if ent.fields.get(f) is not None and ent.fields[f].type == "link"]
    return out


def index_columns(i: Index) -> tuple[str, ...]:
    """The columns an index is on, in order (an expression index names its expression's label)."""
    cols: tuple[str, ...] | None = i.info.get("columns")
    return cols if cols is not None else tuple(c if isinstance(c, str) else c.name  # type: ignore[attr-defined]
                                               for c in i.expressions)


def _without_prefixes(idx: list[Index]) -> list[Index]:
    """Drop a plain index on (c...) when another is on (c..., id): it serves the same lookups and orders.

    Only then: (state) also hands out a state's rows in id order (every index ends in the row id on
    SQLite; the UI's bounded count reads ``ORDER BY id DESC``), which (state, created_at, id) does not.
    """
    cols = [index_columns(i) for i in idx]
    return [i for i, c in zip(idx, cols, strict=True) if i.unique or (*c, "id") not in cols]


def entity_table(ent: EntityDef, md: MetaData) -> Table:
    return Table(ent.table_name, md, *entity_columns(ent), *entity_indexes(ent))


class Tables:
    """All tables of a set of apps, looked up by entity key ('app.entity' or 'app.parent.field')."""

    def __init__(self, apps: dict[str, AppDef]):
        self.metadata = MetaData()
        self.system = system_tables(self.metadata)
        self.by_key: dict[str, Table] = {}
        self.entities: dict[str, EntityDef] = {}
        for app in apps.values():
            for ent in app.entities.values():
                self._add(ent)
                for f in ent.child_fields():
                    assert f.child is not None
                    self._add(f.child)
        keptstore.define(self)  # the tables of the counts kept for dashboards (runtime/kept.py)

    def _add(self, ent: EntityDef) -> None:
        self.by_key[ent.key] = entity_table(ent, self.metadata)
        self.entities[ent.key] = ent

    def __getitem__(self, key: str) -> Table:
        return self.by_key[key]

    def for_entity(self, ent: EntityDef) -> Table:
        return self.by_key[ent.key]

