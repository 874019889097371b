"""App definitions as versioned data in the database.

Every app's definition is kept as versions: a ``draft`` being edited, the one
``published`` version the runtime serves, and ``archived`` earlier ones. Each
version carries its YAML text, author, time and message. Publishing never
edits a version: it archives the previous one and marks a new one published,
so history is complete and a rollback is "publish an earlier text again".

Files stay first-class: ``jig_app_files`` remembers, per app, the file a
version was last imported from (or exported to) and the SHA-256 of its text,
so a start-up can tell a file that changed on disk from one that did not.

This module stores and reads; validating, migrating and swapping the
definitions the processes serve is the publisher's job
(:mod:`runtime.publishing`).
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    inspect,
    select,
    update,
)

from . import clock
from .sqltypes import LocalDateTime

DRAFT, PUBLISHED, ARCHIVED = "draft", "published", "archived"


def definition_tables(md: MetaData) -> dict[str, Table]:
    from .tables import ID
    versions = Table(
        "jig_app_versions", md,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("app", String(48), nullable=False),
        Column("number", Integer, nullable=False),
        Column("status", String(16), nullable=False),
        Column("yaml", Text, nullable=False),
        Column("sha256", String(64), nullable=False),
        Column("message", String(500), nullable=False, default=""),
        Column("author", String(64)),
        Column("source", String(16), nullable=False),  # file | browser | rollback | api
        Column("file", String(500)),
        Column("based_on", Integer),  # the published number a draft started from
        Column("created_at", LocalDateTime, nullable=False),
        Column("published_at", LocalDateTime),
        Column("published_by", String(64)),
        Index("uq_jig_app_versions_number", "app", "number", unique=True),
        Index("ix_jig_app_versions_status", "app", "status"),
    )
    files = Table(
        "jig_app_files", md,
        Column("app", String(48), primary_key=True),
        Column("path", String(500), nullable=False),
        Column("sha256", String(64), nullable=False),
        Column("synced_at", LocalDateTime, nullable=False),
    )
    return {t.name: t for t in (versions, files)}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Version:
    id: int
    app: str
    number: int
    status: str
    yaml: str
    sha256: str
    message: str
    author: str | None
    source: str
    file: str | None
    based_on: int | None
    created_at: dt.datetime
    published_at: dt.datetime | None
    published_by: str | None

    def summary(self) -> dict[str, Any]:
        """Everything but the text, as JSON-ready values."""
        return {"app": self.app, "number": self.number, "status": self.status, "message": self.message,
                "author": self.author, "source": self.source, "file": self.file, "based_on": self.based_on,
                "sha256": self.sha256, "created_at": _iso(self.created_at),
                "published_at": _iso(self.published_at), "published_by": self.published_by}


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat(sep=" ") if value is not None else None


class VersionNotFound(LookupError):
    pass


class StaleDraft(Exception):
    """A save based on a text that is no longer the draft (someone else saved in between)."""

    def __init__(self, current: Version):
        super().__init__(f"the draft of {current.app} changed: version {current.number} by {current.author}")
        self.current = current


class DefinitionStore:
    """Reads and writes versions; every method takes the caller's connection (one transaction)."""

    def __init__(self, tables: dict[str, Table]):
        self.versions = tables["jig_app_versions"]
        self.files = tables["jig_app_files"]

    def ensure(self, conn: Connection) -> None:
        """Create the store's tables if missing (they must exist before definitions can be read)."""
        for t in (self.versions, self.files):
            t.create(conn, checkfirst=True)

    def exists(self, conn: Connection) -> bool:
        return inspect(conn).has_table(self.versions.name)

    # ------------------------------------------------------------------ reading

    def _rows(self, conn: Connection, *where: Any) -> list[Version]:
        q = select(self.versions).where(*where).order_by(self.versions.c.app, self.versions.c.number)
        return [Version(**dict(r)) for r in conn.execute(q).mappings()]

    def published(self, conn: Connection) -> dict[str, Version]:
        """The published version of every app."""
        return {v.app: v for v in self._rows(conn, self.versions.c.status == PUBLISHED)}

    def revision(self, conn: Connection) -> int:
        """A number that grows by one with every publish of any app (published rows are never deleted)."""
        v = self.versions
        return int(conn.execute(select(func.count()).select_from(v).where(v.c.published_at.is_not(None))).scalar()
                   or 0)

    def history(self, conn: Connection, app: str) -> list[Version]:
        return list(reversed(self._rows(conn, self.versions.c.app == app)))

    def get(self, conn: Connection, app: str, number: int) -> Version:
        rows = self._rows(conn, self.versions.c.app == app, self.versions.c.number == number)
        if not rows:
            raise VersionNotFound(f"{app} has no version {number}")
        return rows[0]

    def current(self, conn: Connection, app: str) -> Version | None:
        rows = self._rows(conn, self.versions.c.app == app, self.versions.c.status == PUBLISHED)
        return rows[0] if rows else None

    def draft(self, conn: Connection, app: str) -> Version | None:
        rows = self._rows(conn, self.versions.c.app == app, self.versions.c.status == DRAFT)
        return rows[-1] if rows else None

    def apps_with_drafts(self, conn: Connection) -> list[str]:
        v = self.versions
        return [r[0] for r in conn.execute(select(v.c.app).where(v.c.status == DRAFT).distinct())]

    def file_state(self, conn: Connection, app: str) -> tuple[str, str] | None:
        r = conn.execute(select(self.files.c.path, self.files.c.sha256).where(self.files.c.app == app)).first()
        return (r[0], r[1]) if r else None

    def diff(self, conn: Connection, app: str, a: int, b: int) -> str:
        """Unified diff of version ``a``'s text to version ``b``'s."""
        va, vb = self.get(conn, app, a), self.get(conn, app, b)
        return "".join(difflib.unified_diff(va.yaml.splitlines(keepends=True), vb.yaml.splitlines(keepends=True),
                                            f"{app} v{a}", f"{app} v{b}"))

    # ------------------------------------------------------------------ writing

    def _next_number(self, conn: Connection, app: str) -> int:
        v = self.versions
        return int(conn.execute(select(func.max(v.c.number)).where(v.c.app == app)).scalar() or 0) + 1

    def save_draft(self, conn: Connection, app: str, yaml_text: str, author: str | None,
                   message: str = "", *, base: str | None = None) -> Version:
        """Save the app's draft (one per app: saving again replaces its text).

        With ``base`` (the SHA-256 of the text the change was made to: the
        draft's, or the published version's when there was no draft) a draft
        that changed since is not overwritten: :class:`StaleDraft` is raised
        naming the version that is there now.
        """
        v = self.versions
        now = clock.now()
        existing = self.draft(conn, app)
        if base is not None:
            there = existing or self.current(conn, app)
            if there is not None and there.sha256 != base:
                raise StaleDraft(there)
        if existing is not None:
            done = conn.execute(update(v).where(v.c.id == existing.id, v.c.sha256 == existing.sha256).values(
                yaml=yaml_text, sha256=sha256(yaml_text), message=message or existing.message, author=author,
                created_at=now))
            if done.rowcount != 1:  # changed between our read and our write
                raise StaleDraft(self.draft(conn, app) or existing)
            return self.get(conn, app, existing.number)
        current = self.current(conn, app)
        number = self._next_number(conn, app)
        conn.execute(v.insert().values(
            app=app, number=number, status=DRAFT, yaml=yaml_text, sha256=sha256(yaml_text), message=message,
            author=author, source="browser", file=current.file if current else None,
            based_on=current.number if current else None, created_at=now))
        return self.get(conn, app, number)

    def discard_draft(self, conn: Connection, app: str) -> bool:
        draft = self.draft(conn, app)
        if draft is None:
            return False
        conn.execute(self.versions.delete().where(self.versions.c.id == draft.id))
        return True

    def mark_published(self, conn: Connection, app: str, yaml_text: str, *, author: str | None, message: str,
                       source: str, file: str | None = None) -> Version:
        """Record ``yaml_text`` as the app's published version (the caller validated and migrated).

        The draft, if it holds this very text, becomes the published version;
        otherwise a new version is written. The previous one is archived.
        """
        v = self.versions
        now = clock.now()
        conn.execute(update(v).where(v.c.app == app, v.c.status == PUBLISHED).values(status=ARCHIVED))
        current_file = file
        if current_file is None:
            fs = self.file_state(conn, app)
            current_file = fs[0] if fs else None
        draft = self.draft(conn, app)
        if draft is not None and draft.yaml == yaml_text and source == "browser":
            conn.execute(update(v).where(v.c.id == draft.id).values(
                status=PUBLISHED, message=message or draft.message, published_at=now, published_by=author,
                file=current_file))
            return self.get(conn, app, draft.number)
        number = self._next_number(conn, app)
        conn.execute(v.insert().values(
            app=app, number=number, status=PUBLISHED, yaml=yaml_text, sha256=sha256(yaml_text), message=message,
            author=author, source=source, file=current_file, created_at=now, published_at=now,
            published_by=author))
        return self.get(conn, app, number)

    def record_file(self, conn: Connection, app: str, path: str, text_sha: str) -> None:
        """Remember that ``path`` (with this content) and the database agree for ``app``."""
        f = self.files
        now = clock.now()
        if conn.execute(update(f).where(f.c.app == app).values(path=path, sha256=text_sha,
                                                               synced_at=now)).rowcount == 0:
            conn.execute(f.insert().values(app=app, path=path, sha256=text_sha, synced_at=now))
