"""The compiled form of definitions: what the runtime works from after loading.

Everything here is built once at load and read-only afterwards; expressions
are already parsed and checked, labels already normalised to {zh, en}.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .expressions import Expr, Scope
from .fieldtypes.base import FieldType
from .fieldtypes.registry import BUILTIN

Label = dict[str, str]
Grant = bool | Expr

SYSTEM_COLUMNS = ("id", "name", "state", "version", "created_at", "created_by", "updated_at", "updated_by")
CHILD_SYSTEM_COLUMNS = ("id", "parent_id", "idx")
# "name" is a system column only when the entity has a naming series.
RESERVED_FIELD_NAMES = frozenset(set(SYSTEM_COLUMNS + CHILD_SYSTEM_COLUMNS) - {"name"}
                                 | {"user", "parent", "q", "sort", "limit", "after", "count", "fields", "expand"})



def pick(label: Label | None, lang: str) -> str:
    """The label text in ``lang``, falling back to the other language."""
    if not label:
        return ""
    return label.get(lang) or label.get("zh") or label.get("en") or ""


@dataclass(frozen=True)
class Option:
    value: str
    label: Label
    color: str | None = None


@dataclass
class FieldDef:
    name: str
    type: str
    label: Label
    help: Label | None = None
    placeholder: Label | None = None
    required: bool = False
    required_if: Expr | None = None
    readonly: bool = False
    readonly_if: Expr | None = None
    visible: Expr | None = None
    unique: bool = False
    index: bool = False
    default: Expr | None = None
    min: Decimal | None = None
    max: Decimal | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: re.Pattern[str] | None = None
    options: list[Option] = field(default_factory=list)
    check: Expr | None = None
    check_message: Label | None = None
    scale: int = 2
    to: str | None = None  # target entity name (same app)
    child: EntityDef | None = None  # for type: table
    min_rows: int | None = None
    max_rows: int | None = None
    expr: Expr | None = None  # for type: computed
    returns: str | None = None
    max_files: int | None = None
    max_size_mb: float | None = None
    renamed_from: str | None = None
    # the field's type class (runtime.fieldtypes); the compiler sets it from its registry, else a built-in
    ft: FieldType = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.ft is None:
            self.ft = BUILTIN.get(self.type)  # type: ignore[assignment]

    @property
    def stored(self) -> bool:
        """True when the field has its own column."""
        return self.ft.stored

    @property
    def option_values(self) -> list[str]:
        return [o.value for o in self.options]

    @property
    def is_list(self) -> bool:
        return self.ft.is_list

    @property
    def max_text(self) -> int:
        return self.max_length or self.ft.max_text


@dataclass(frozen=True)
class StateDef:
    name: str
    label: Label
    color: str = "grey"
    final: bool = False


@dataclass
class TransitionDef:
    name: str
    label: Label
    sources: frozenset[str] | None  # None means from any non-final state
    to: str
    roles: tuple[str, ...] = ()
    guard: Expr | None = None
    guard_message: Label | None = None
    require: tuple[str, ...] = ()
    set: dict[str, Expr] = field(default_factory=dict)

    def allowed_from(self, state: str | None, states: dict[str, StateDef]) -> bool:
        if self.sources is None:
            return state is not None and not states[state].final if state in states else False
        return state in self.sources


@dataclass
class WorkflowDef:
    initial: str
    states: dict[str, StateDef]
    transitions: dict[str, TransitionDef]


@dataclass
class RolePermissions:
    read: Grant = False
    create: bool = False
    update: Grant = False
    delete: Grant = False
    transition: Grant | frozenset[str] = False


@dataclass
class Section:
    label: Label | None
    columns: list[list[str]]
    visible: Expr | None = None


@dataclass
class Tab:
    label: Label | None
    sections: list[Section]


@dataclass
class EntityDef:
    app: str
    name: str
    title: Label
    fields: dict[str, FieldDef]
    table_name: str
    description: Label | None = None
    title_field: str | None = None
    naming: str | None = None
    layout: list[Tab] = field(default_factory=list)
    list_columns: list[str] = field(default_factory=list)
    list_sort: str = "-id"
    search_fields: list[str] = field(default_factory=list)
    workflow: WorkflowDef | None = None
    permissions: dict[str, RolePermissions] = field(default_factory=dict)
    parent: EntityDef | None = None  # set on child tables
    renamed_from: str | None = None
    archived: bool = False  # kept with its table and data, readable; no new records or writes
    scope: Scope | None = None
    indexes: list[tuple[str, ...]] = field(default_factory=list)  # declared multi-column indexes
    # indexes extensions plan for the queries the definition declares (dashboards, rules; runtime.indexplan)
    planned_indexes: list[tuple[str, ...]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # for extensions
    owner: AppDef | None = field(default=None, repr=False, compare=False)  # the app (of the root entity)

    @property
    def key(self) -> str:
        return f"{self.app}.{self.name}"

    def sibling(self, name: str) -> EntityDef | None:
        """Another entity of the same app, by name (a link's target)."""
        root = self
        while root.parent is not None:
            root = root.parent
        return root.owner.entities.get(name) if root.owner is not None else None

    @property
    def is_child(self) -> bool:
        return self.parent is not None

    def stored_fields(self) -> list[FieldDef]:
        return [f for f in self.fields.values() if f.stored]

    def child_fields(self) -> list[FieldDef]:
        return [f for f in self.fields.values() if f.type == "table"]

    def computed_fields(self) -> list[FieldDef]:
        return [f for f in self.fields.values() if f.type == "computed"]


@dataclass
class AppDef:
    name: str
    title: Label
    file: str
    roles: dict[str, Label]
    entities: dict[str, EntityDef]
    description: Label | None = None
    user_attributes: dict[str, FieldDef] = field(default_factory=dict)
    version: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, Any] = field(default_factory=dict)  # compiled extension sections

    def entity(self, name: str) -> EntityDef:
        return self.entities[name]
