"""The extension interface: every hook an extension may implement, declared in one place.

Extensions (rules, connectors, ui, builder, and third-party ones found through
the ``jig.extensions`` entry-point group) are plain objects or modules whose
methods are marked with :data:`hookimpl`; :class:`ExtensionSpec` declares the
hooks (pluggy hookspecs) and :class:`Extensions` calls them. The runtime only
knows this module, never the layers above it. ``docs/hooks.md`` documents every hook.

:class:`Services` and :class:`ScheduledJob` are what extensions share through
a runtime (``rt.services``, ``rt.schedules``), typed instead of string-keyed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

if TYPE_CHECKING:
    from sqlalchemy import MetaData, Table

    from .compiler import CompileContext
    from .fieldtypes import FieldTypes
    from .model import AppDef

PROJECT = "jig"
ENTRY_POINTS = "jig.extensions"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class ExtensionSpec:
    """The hooks of a Jig extension. An extension implements any subset, each marked ``@hookimpl``;
    the argument names are part of the interface (pluggy passes arguments by name)."""

    @hookspec
    def schema_sections(self) -> dict[str, dict[str, Any]]:  # type: ignore[empty-body]
        """Top-level definition keys this extension owns, with their JSON Schema."""

    @hookspec
    def schema_defs(self) -> dict[str, dict[str, Any]]:  # type: ignore[empty-body]
        """Extra ``$defs`` its sections' schema refers to."""

    @hookspec
    def field_types(self) -> list[Any]:  # type: ignore[empty-body]
        """Extra field types: :class:`runtime.fieldtypes.FieldType` subclasses (or instances), one class
        per type (docs/fieldtypes.md). A name already taken (built-in or another extension's) is refused."""

    @hookspec
    def compile(self, app: AppDef, ctx: CompileContext, apps: dict[str, AppDef]) -> None:
        """Check and compile its sections of ``app`` (raw data in ``app.raw``, results in ``app.sections``);
        report problems through ``ctx.error`` so ``jig check`` lists them with file:line:col."""

    @hookspec
    def define_tables(self, metadata: MetaData) -> list[Table]:  # type: ignore[empty-body]
        """Tables for the extension's own state, created and migrated with Jig's system tables."""

    @hookspec
    def attach(self, runtime: Any) -> None:
        """A runtime was built for a set of definitions: subscribe to its events, register outbox handlers,
        publish schedules (``runtime.schedules``) and services (``runtime.services``)."""

    @hookspec
    def init_web(self, flask_app: Any, runtime: Any) -> None:
        """The WSGI app is being built: register blueprints."""

    @hookspec
    def cli_commands(self) -> list[Any]:  # type: ignore[empty-body]
        """Extra ``jig`` subcommands (click commands); they receive the CLI context as ``ctx.obj``."""

    @hookspec
    def metrics(self, runtime: Any) -> list[Any]:  # type: ignore[empty-body]
        """Gauges for ``/metrics`` (a list of :class:`runtime.metrics.Sample`), read from the database at
        scrape time with bounded queries, so every serving process answers the same."""


HOOKS = tuple(name for name in vars(ExtensionSpec) if not name.startswith("_"))


class Extensions:
    """A set of extensions, called through their declared hooks.

    Hooks run in the order the extensions are given (then entry-point extensions); results of
    extensions that do not implement a hook are simply absent. Built once per Jig (cheap to build).
    """

    def __init__(self, plugins: Iterable[object] = (), *, entry_points: str | None = None):
        self.manager = pluggy.PluginManager(PROJECT)
        self.manager.add_hookspecs(ExtensionSpec)
        # pluggy calls the last registered first: entry points first, then the given ones in reverse
        if entry_points:
            self.manager.load_setuptools_entrypoints(entry_points)
        self._given = list(plugins)
        for plugin in reversed(self._given):
            self.manager.register(plugin, name=getattr(plugin, "name", None))
        self.manager.check_pending()  # a hookimpl no hookspec declares is a mistake, said at once

    @classmethod
    def of(cls, extensions: Extensions | Sequence[object] | None) -> Extensions:
        """Accept an Extensions or a plain list of extension objects (tests, one-off tools)."""
        if isinstance(extensions, Extensions):
            return extensions
        return cls(extensions or ())

    @property
    def plugins(self) -> list[object]:
        """The extension objects, in the order their hooks run."""
        return [*self._given, *(p for _, p in reversed(self.manager.list_name_plugin()) if p not in self._given)]

    @property
    def names(self) -> list[str]:
        return [self.manager.get_name(p) or "" for p in self.plugins]

    def __iter__(self) -> Iterator[object]:
        return iter(self.plugins)

    def __len__(self) -> int:
        return len(self.manager.get_plugins())

    def schema_sections(self) -> dict[str, dict[str, Any]]:
        """Every extension's sections; a key claimed by two extensions is refused, naming both."""
        return self._merged("schema_sections", "definition section")

    def schema_defs(self) -> dict[str, dict[str, Any]]:
        return self._merged("schema_defs", "schema $def")

    def _merged(self, hook: str, what: str) -> dict[str, dict[str, Any]]:
        merged: dict[str, dict[str, Any]] = {}
        owner: dict[str, str] = {}
        for impl in reversed(getattr(self.manager.hook, hook).get_hookimpls()):
            for key, schema in (impl.function() or {}).items():
                if key in owner:
                    raise ValueError(f"{what} '{key}' is claimed by two extensions: "
                                     f"'{owner[key]}' and '{impl.plugin_name}'")
                merged[key], owner[key] = schema, impl.plugin_name
        return merged

    @functools.cached_property
    def field_types(self) -> FieldTypes:
        """The registry of field types definitions are compiled with: the built-in ones, then each
        extension's (built once per Extensions; immutable)."""
        from .fieldtypes import BUILTIN
        extra = [ft for impl in reversed(self.manager.hook.field_types.get_hookimpls()) for ft in impl.function() or ()]
        return BUILTIN.extended(extra)

    def compilers(self) -> list[Callable[[AppDef, CompileContext, dict[str, AppDef]], None]]:
        """Each extension's compile hook, in order (the loader attributes errors to each in turn)."""
        return [impl.function for impl in reversed(self.manager.hook.compile.get_hookimpls())]

    def define_tables(self, metadata: MetaData) -> list[Table]:
        return [table for tables in self.manager.hook.define_tables(metadata=metadata) for table in tables]

    def attach(self, runtime: Any) -> None:
        self.manager.hook.attach(runtime=runtime)

    def init_web(self, flask_app: Any, runtime: Any) -> None:
        self.manager.hook.init_web(flask_app=flask_app, runtime=runtime)

    def cli_commands(self) -> list[Any]:
        return [command for commands in self.manager.hook.cli_commands() for command in commands]

    def metric_sources(self) -> list[tuple[str, Callable[..., list[Any]]]]:
        """Each extension's metrics hook with its name, in order: a scrape calls each on its own, so one
        that fails (a table not migrated yet) costs only its own samples."""
        return [(impl.plugin_name, impl.function) for impl in reversed(self.manager.hook.metrics.get_hookimpls())]


# What the loader, publisher and runtime accept: an Extensions, or a list of extension objects.
ExtensionsLike = Extensions | Sequence[object]

T = TypeVar("T")


class Services:
    """What extensions offer each other through a runtime, keyed by type: ``rt.services.put(engine)``,
    ``rt.services.get(RuleEngine)``. A typed lookup instead of a string-keyed dict."""

    def __init__(self) -> None:
        self._by_type: dict[type, object] = {}

    def put(self, service: T) -> T:
        self._by_type[type(service)] = service
        return service

    def get(self, kind: type[T]) -> T:
        found = self.find(kind)
        if found is None:
            raise LookupError(f"no {kind.__name__} on this runtime (is its extension attached?)")
        return found

    def find(self, kind: type[T]) -> T | None:
        """The service of exactly this type, else one that is an instance of it (e.g. a base class the
        runtime declares, so a layer can use another's service without importing it)."""
        service = self._by_type.get(kind)
        if service is None:
            service = next((s for s in self._by_type.values() if isinstance(s, kind)), None)
        return service if isinstance(service, kind) else None

    def __contains__(self, kind: type) -> bool:
        return kind in self._by_type


@dataclass(frozen=True)
class ScheduledJob:
    """A job another layer wants run on a schedule (``runtime.schedules``): the rules scheduler adopts
    every one, leases it to one worker at a time and records its runs in ``jig_schedules``."""

    name: str  # unique, e.g. "connector:kingdee:production_report"
    cron: str  # the rules' schedule syntax: "cron: 0 18 * * *", "every 1h", ...
    run: Callable[[], Any]  # returns a report (logged)
