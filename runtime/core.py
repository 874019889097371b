"""The Runtime: loaded apps, their tables, the database and the services on them.

One Runtime per process. Layers above it (rules, connectors, UI) receive it
and subscribe to its hooks; it never imports them.
"""

from __future__ import annotations

from typing import Any

from . import migrations
from .auth import Users
from .database import Database
from .errors import NotFound
from .extensions import Extensions, ExtensionsLike, ScheduledJob, Services
from .files import FileStore
from .hooks import Hooks
from .idempotency import Idempotency
from .leases import Leases
from .messages import t
from .model import AppDef, EntityDef
from .notifications import Notifications
from .outbox import Outbox
from .publishing import Publisher, build_tables
from .records import Records
from .rollups import Keeper, added, backfill, of_app
from .sqlcompile import SqlCompiler
from .versions import DefinitionStore


class Runtime:
    def __init__(self, apps: dict[str, AppDef], database_url: str, *,
                 extensions: ExtensionsLike = (), settings: dict[str, Any] | None = None,
                 definition_extensions: ExtensionsLike | None = None, db: Database | None = None):
        self.apps = apps
        self.extensions = Extensions.of(extensions)
        self.settings = settings or {}
        # a Runtime built for newly published definitions shares the database (and its pool)
        self.owns_db = db is None
        self.db = db if db is not None else Database(database_url)
        # Extensions may keep their own state in tables created and migrated with Jig's.
        self.tables = build_tables(apps, self.extensions)
        self.hooks = Hooks()
        self.sql = SqlCompiler(self.tables, self.db.dialect)
        # statements built once and reused, per entity key; they belong to this runtime's tables
        self.statements: dict[tuple[str, str], dict[Any, Any]] = {}
        self.users = Users(self.db, self.tables.system)
        self.records = Records(self)
        self.rollups = Keeper(self)
        self.files = FileStore(self.db, self.tables.system["jig_files"],
                               self.settings.get("files_dir") or "var/files")
        self.notifications = Notifications(self.db, self.tables.system)
        self.outbox = Outbox(self.db, self.tables.system, self.notifications)
        self.leases = Leases(self.db, self.tables.system["jig_leases"])
        self.idempotency = Idempotency(self.db, self.tables.system["jig_idempotency"])
        self.definitions = DefinitionStore(self.tables.system)
        # new versions are compiled with the extensions the served definitions were loaded with
        loaders = self.extensions if definition_extensions is None else Extensions.of(definition_extensions)
        self.publisher = Publisher(self.db, self.definitions, loaders, self.extensions)
        self.field_types = loaders.field_types  # the registry definitions are compiled with (runtime.fieldtypes)
        # definition files served by this runtime that migrate() records as published versions
        self.imports: list[tuple[str, str, str]] = []
        # What extensions share through this runtime, typed (docs/hooks.md): jobs to run on a schedule
        # (connectors publish, the rules scheduler runs them) and services keyed by their class.
        self.schedules: list[ScheduledJob] = []
        self.services = Services()

    def entity(self, app: str, name: str, lang: str = "zh") -> EntityDef:
        a = self.apps.get(app)
        if a is None:
            raise NotFound(t("no_app", lang, name=app))
        ent = a.entities.get(name)
        if ent is None:
            raise NotFound(t("no_entity", lang, name=name))
        return ent

    def migration_plan(self) -> list[migrations.Step]:
        with self.db.read() as conn:
            return migrations.plan(conn, self.tables)

    def migrate(self, *, allow_destructive: bool = False) -> list[migrations.Step]:
        """Apply the migration plan under the schema lock; returns the steps this process applied
        (none when another process migrated first)."""
        with self.db.exclusive(migrations.LOCK) as conn:
            steps = migrations.plan(conn, self.tables)
            migrations.apply(conn, self.tables, steps, allow_destructive=allow_destructive)
            backfill(conn, self.tables, self.sql, added([r for a in self.apps.values() for r in of_app(a)],
                                                        self.tables, steps))
            self.users.ensure_system(conn)
            self.publisher.record_imports(conn, self.imports)
            self.imports = []
        return steps

    def current(self) -> Runtime:
        """A Runtime serves itself (see runtime.api.RuntimeSource)."""
        return self

    def refresh(self) -> bool:
        """A plain Runtime never swaps (jig.app.Jig does)."""
        return False

    def close(self) -> None:
        self.hooks.emit("runtime.stopping", self)
        if self.owns_db:
            self.db.dispose()
