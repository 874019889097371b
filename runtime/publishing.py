"""Validating, planning and publishing app definitions: one path for files, the builder and rollbacks.

Every way a definition becomes the one the runtime serves — a file imported
at start or by ``jig import``, a draft published from the browser, a rollback
— goes through :class:`Publisher`: the text is loaded together with the other
published apps (the same checks as ``jig check``, every error with its
position), the migration plan is computed against the database, and the plan
and the new published version are written in one transaction. A refused plan
or an invalid text changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from . import migrations, rollups
from .database import Database
from .errors import DefinitionError, DefinitionErrors
from .extensions import Extensions, ExtensionsLike
from .loader import find_definition_files, load_apps, load_texts
from .model import AppDef
from .sqlcompile import SqlCompiler
from .tables import Tables
from .versions import DefinitionStore, Version, sha256
from .yamlsource import load_text

MAX_DEFINITION_BYTES = 2 * 1024 * 1024


class DefinitionConflict(Exception):
    """A file changed on disk while the app was also published from the browser."""

    def __init__(self, conflicts: list[tuple[str, Path, Version]]):
        self.conflicts = conflicts
        lines = []
        for app, path, v in conflicts:
            when = v.published_at.strftime("%Y-%m-%d %H:%M") if v.published_at else "?"
            said = f' ("{v.message}")' if v.message else ""
            lines.append(
                f"{path}: the file changed, but app '{app}' was published from the {v.source} since it was last "
                f"imported: version {v.number} by {v.published_by or v.author or '?'} at {when}{said}.")
        lines.append("Nothing was changed. Either write the published version to the file: "
                     f"jig export {' '.join(a for a, _, _ in conflicts)}")
        lines.append("or publish the file over it: jig import --force")
        super().__init__("\n".join(lines))


def build_tables(apps: dict[str, AppDef], extensions: ExtensionsLike) -> Tables:
    """The tables of ``apps`` plus the ones extensions keep their own state in (their define_tables hook)."""
    tables = Tables(apps)
    for table in Extensions.of(extensions).define_tables(tables.metadata):
        tables.system[table.name] = table
    return tables


@dataclass
class Outcome:
    """What a validation, plan or publish found."""

    errors: list[DefinitionError] = field(default_factory=list)
    steps: list[migrations.Step] = field(default_factory=list)
    version: Version | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def refused(self) -> list[migrations.Step]:
        return [s for s in self.steps if not s.safe]


@dataclass
class Served:
    """The texts the runtime should serve, and the file imports still to be recorded."""

    texts: dict[str, tuple[str, str]]  # app -> (file name for messages, YAML text)
    imports: list[tuple[str, str, str]] = field(default_factory=list)  # (app, path, text)

    def named(self) -> dict[str, str]:
        return {name: text for name, text in self.texts.values()}


def app_name_of(text: str) -> str | None:
    """The ``app:`` of a definition text (None when the text cannot be read)."""
    data, _smap, errors = load_text(text, "<text>")
    if errors or not isinstance(data, dict) or not isinstance(data.get("app"), str):
        return None
    return data["app"]


class Publisher:
    def __init__(self, db: Database, store: DefinitionStore, extensions: ExtensionsLike,
                 table_extensions: ExtensionsLike | None = None):
        self.db = db
        self.store = store
        self.extensions = Extensions.of(extensions)  # definitions are compiled with these
        # the ones whose own tables the runtime keeps (default: the same)
        self.table_extensions = self.extensions if table_extensions is None else Extensions.of(table_extensions)

    # ------------------------------------------------------------------ reading

    def served(self, conn: Connection) -> dict[str, tuple[str, str]]:
        """app -> (file name, text) of every published app."""
        return {app: (v.file or f"{app}.yaml", v.yaml) for app, v in self.store.published(conn).items()}

    def load(self, texts: dict[str, tuple[str, str]]) -> dict[str, AppDef]:
        """Compile texts (raises DefinitionErrors listing every error)."""
        return load_texts({name: text for name, text in texts.values()}, self.extensions)

    # ------------------------------------------------------------------ checking

    def _with(self, conn: Connection, app: str, text: str) -> dict[str, tuple[str, str]]:
        texts = self.served(conn)
        name = texts[app][0] if app in texts else f"{app}.yaml"
        texts[app] = (name, text)
        return texts

    def check(self, app: str, text: str, *, plan: bool = True) -> Outcome:
        """Validate ``text`` as app ``app`` beside the other published apps; with ``plan``, the migration."""
        with self.db.read() as conn:
            return self._check(conn, app, text, plan=plan)

    def _check(self, conn: Connection, app: str, text: str, *, plan: bool) -> Outcome:
        errors = _size_errors(app, text)
        if errors:
            return Outcome(errors=errors)
        named = app_name_of(text)
        if named is not None and named != app:
            return Outcome(errors=[DefinitionError(f"{app}.yaml", 1, 1, "app", f"this text defines app '{named}'",
                                                   f"keep 'app: {app}' (apps are renamed by creating a new one)")])
        texts = self._with(conn, app, text)
        try:
            apps = self.load(texts)
        except DefinitionErrors as exc:
            return Outcome(errors=exc.errors)
        if not plan:
            return Outcome()
        return Outcome(steps=migrations.plan(conn, build_tables(apps, self.table_extensions)))

    # ------------------------------------------------------------------ publishing

    def publish(self, app: str, text: str, *, author: str | None, message: str = "", source: str = "browser",
                file: str | None = None, allow_destructive: bool = False) -> Outcome:
        """Validate, migrate and publish in one transaction; on any error nothing is changed."""
        with self.db.exclusive(migrations.LOCK) as conn:  # one publish or migration at a time, on every process
            outcome = self._check(conn, app, text, plan=True)
            if not outcome.ok:
                return outcome
            if outcome.refused and not allow_destructive:
                return outcome
            apps = self.load(self._with(conn, app, text))
            tables = build_tables(apps, self.table_extensions)
            migrations.apply(conn, tables, outcome.steps, allow_destructive=allow_destructive)
            # the definition may have changed what a roll-up counts: refill them all (publishing is rare)
            rollups.backfill(conn, tables, SqlCompiler(tables, self.db.dialect), rollups.of_app(apps[app]))
            outcome.version = self.store.mark_published(conn, app, text, author=author, message=message,
                                                        source=source, file=file)
            if file is not None:
                self.store.record_file(conn, app, file, sha256(text))
        return outcome

    def rollback(self, app: str, number: int, *, author: str | None, message: str = "",
                 allow_destructive: bool = False) -> Outcome:
        """Publish the text of an earlier version as a new version."""
        with self.db.read() as conn:
            old = self.store.get(conn, app, number)
        return self.publish(app, old.yaml, author=author, message=message or f"rollback to version {number}",
                            source="rollback", allow_destructive=allow_destructive)

    # ------------------------------------------------------------------ files

    def sync_files(self, paths: Iterable[str | Path], *, force: bool = False, write: bool = True,
                   read: dict[str, tuple[str, str]] | None = None) -> Served:
        """Decide, for each definition file, whether it or the database's published version is served.

        A file is imported when its app has no published version, when its
        text changed since it was last imported and the app was not published
        from elsewhere since (or ``force``), or when the file was last exported from
        (or imported as) the published version. A file that changed while the app
        was also published from the browser raises :class:`DefinitionConflict`.
        Files that cannot be read or parsed raise the loader's DefinitionErrors.
        With ``write=False`` (a dry run) nothing is written, not even the store's tables.
        ``read`` maps file paths the caller has already read and loaded to their (text, app name), so start-up
        reads and parses each file once.
        """
        read = read or {}
        files = find_definition_files(paths)
        with (self.db.exclusive(migrations.LOCK) if write else self.db.read()) as conn:
            present = self.store.exists(conn)
            if write and not present:
                self.store.ensure(conn)
            published = self.store.published(conn) if present else {}
            served = Served(texts=self.served(conn) if present else {})
            conflicts: list[tuple[str, Path, Version]] = []
            unreadable: list[Path] = []
            for path in files:
                text, app = read[str(path)] if str(path) in read else (None, None)
                if text is None:
                    text = _read(path)
                    app = app_name_of(text) if text is not None else None
                if text is None or app is None:
                    unreadable.append(path)
                    continue
                current = published.get(app)
                known = self.store.file_state(conn, app) if present else None
                if current is not None and current.yaml == text:
                    if write and known != (str(path), sha256(text)):
                        self.store.record_file(conn, app, str(path), sha256(text))
                    served.texts[app] = (str(path), text)
                    continue
                unchanged_on_disk = known is not None and known[1] == sha256(text)
                if current is not None and unchanged_on_disk:
                    continue  # the file is as last imported: the database's newer version is served
                synced_with_current = known is not None and known[1] == current.sha256 if current else False
                if current is not None and current.source != "file" and not force and not synced_with_current:
                    conflicts.append((app, path, current))
                    continue
                served.texts[app] = (str(path), text)
                served.imports.append((app, str(path), text))
            if unreadable:
                load_apps(unreadable, self.extensions)  # raises DefinitionErrors with every position
            if conflicts:
                raise DefinitionConflict(conflicts)
        return served

    def record_imports(self, conn: Connection, imports: Iterable[tuple[str, str, str]], *,
                       author: str | None = None) -> None:
        """Record files that were served and migrated as the apps' published versions (caller's transaction)."""
        for app, path, text in imports:
            current = self.store.current(conn, app)
            if current is None or current.yaml != text:
                self.store.mark_published(conn, app, text, author=author, message=f"imported from {path}",
                                          source="file", file=path)
            self.store.record_file(conn, app, path, sha256(text))

    def export(self, app: str, path: str | Path | None = None) -> Path:
        """Write the published version of ``app`` to its file (or ``path``); returns the path written."""
        with self.db.write() as conn:
            current = self.store.current(conn, app) if self.store.exists(conn) else None
            if current is None:
                raise LookupError(f"app '{app}' has no published version")
            known = self.store.file_state(conn, app)
            target = Path(path or (known[0] if known else None) or current.file or f"apps/{app}.yaml")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(current.yaml.encode("utf-8"))
            self.store.record_file(conn, app, str(target), current.sha256)
        return target


def _read(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_DEFINITION_BYTES:
            return None
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _size_errors(app: str, text: str) -> list[DefinitionError]:
    if len(text.encode("utf-8")) <= MAX_DEFINITION_BYTES:
        return []
    return [DefinitionError(f"{app}.yaml", 1, 1, "", f"the definition is larger than {MAX_DEFINITION_BYTES} bytes",
                            "split it into several apps")]


def describe_steps(steps: list[migrations.Step]) -> list[dict[str, Any]]:
    return [{"kind": s.kind, "table": s.table, "detail": s.detail, "safe": s.safe,
             "explanation": s.explanation} for s in steps]
