"""The base class of a field type: everything Jig needs to know about one kind of value.

A field type is one class. The compiler attaches the class (an instance, shared and
stateless) to every :class:`~runtime.model.FieldDef` as ``f.ft``; the rest of Jig asks it
instead of branching on the type's name: ``f.ft.coerce(f, value, lang)``,
``f.ft.sql_type(f)``, ``f.ft.openapi(f)``, ``f.ft.widget``, ``f.ft.filter_ops(f)``...
``docs/fieldtypes.md`` lists the capabilities and shows how to add a type.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from ..messages import t
from .parsing import FieldValueError, to_json

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement
    from sqlalchemy.types import TypeEngine

    from ..model import FieldDef

# list-query operators: every one, and the ones that make sense for ordered non-text values
OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "startswith", "isnull")
ORDER_OPS = tuple(op for op in OPS if op not in ("contains", "startswith"))

COLORS = ("grey", "blue", "green", "yellow", "orange", "red", "purple", "cyan")
LABEL_REF = {"$ref": "#/$defs/label"}

# definition keys more than one type accepts: one fragment each, so the merged schema agrees with itself
MIN_KEY = {"type": "number"}
MAX_KEY = {"type": "number", "description": "Largest value; for images/files the most files."}
TEXT_KEYS: dict[str, dict[str, Any]] = {
    "min_length": {"type": "integer", "minimum": 0},
    "max_length": {"type": "integer", "minimum": 1, "maximum": 100000},
    "pattern": {"type": "string", "minLength": 1, "description": "Regular expression the value must match."},
}


class FieldType:
    """One kind of field value. Subclasses set the class attributes and override what differs.

    The attributes are read-only declarations (never changed at run time); the methods are pure.
    """

    name: ClassVar[str] = ""
    label: ClassVar[tuple[str, str]] = ("", "")  # the designer's palette: (zh, en)
    stored: ClassVar[bool] = True  # has its own column (computed and table do not)
    is_list: ClassVar[bool] = False  # the value is a list (kept as JSON)
    is_file: ClassVar[bool] = False  # the value is uploaded file keys
    expr_type: ClassVar[str] = "any"  # its type in expressions: text int dec bool date datetime list any
    text_like: ClassVar[bool] = False  # compared as text: contains/startswith filters, free-text search
    json_type: ClassVar[type] = str  # what a list cursor carries for it: str, int or bool
    max_text: ClassVar[int] = 255  # longest text without max_length (text-like types)
    searchable: ClassVar[bool] = False  # a list's free-text search may look in it
    default_search: ClassVar[bool] = False  # searched when the definition names no search fields
    required_keys: ClassVar[tuple[str, ...]] = ()  # definition keys a field of this type must have
    indexable: ClassVar[bool] = True  # a database index on it makes sense
    may_be_unique: ClassVar[bool] = True  # a unique index on it makes sense
    always_indexed: ClassVar[bool] = False  # every column of it gets an index (links: joins and lookups)
    list_filter_index: ClassVar[bool] = False  # lists shown with it filter on it by equality: index it
    groupable: ClassVar[bool] = False  # dashboards may group records by it (few distinct values)
    sortable: ClassVar[bool] = True  # lists may sort by it
    importable: ClassVar[bool] = True  # spreadsheet imports may fill it
    in_list: ClassVar[bool] = True  # a default list column
    whole_cells: ClassVar[bool] = False  # a spreadsheet number 3.0 imports as 3 (else as exact text)
    number_cells: ClassVar[bool] = False  # a spreadsheet integer imports as a number (else as text)
    widget: ClassVar[str] = "text"  # the form widget: text longtext number boolean date datetime select
    #                                 multiselect link files computed table (templates and jig.js know each)
    filter_control: ClassVar[str] = ""  # a list page's filter for it: text option options yesno date number
    #                                     link, or "" for none
    input_type: ClassVar[str] = "text"  # the <input type> of a text or number widget
    step: ClassVar[str] = "any"  # the step of a number widget
    multi: ClassVar[bool] = False  # a files widget takes several files
    image: ClassVar[bool] = False  # a files widget takes images (and may use the camera)

    # ---- definition
    def keys(self) -> dict[str, dict[str, Any]]:
        """The definition keys only this type (and maybe others) accepts, with their JSON Schema."""
        return {}

    def start(self) -> dict[str, Any]:
        """The properties a new field of this type starts with in the designer (valid as dropped)."""
        return {}

    def prepare(self, f: FieldDef) -> None:
        """Finish a compiled field from its definition keys (e.g. how many files it takes)."""

    def palette_label(self, lang: str) -> str:
        return self.label[1] if lang == "en" else self.label[0]

    # ---- storage
    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        """The column type (the same values the same way on SQLite and PostgreSQL; see runtime.sqltypes)."""
        raise NotImplementedError(f"a {self.name} field has no column")

    def type_signature(self, f: FieldDef) -> str:
        """A short text naming how the field is stored; a change means a type migration."""
        return self.name

    # ---- values
    blank_is_none: ClassVar[bool] = True  # input "  " means no value
    # coerce's answer for a text/number/yes-no input depends on the field and the input alone (no clock, no
    # database): a bulk create remembers it per distinct input (runtime.validation.coerce_input's memo);
    # a subclass whose coerce asks anything else sets it False
    pure_coerce: ClassVar[bool] = False

    def coerce(self, f: FieldDef, value: Any, lang: str = "zh") -> Any:
        """The typed, validated value for ``value`` entered into ``f``; raises FieldValueError."""
        if value is None or (self.blank_is_none and isinstance(value, str) and value.strip() == ""):
            return None
        return self.parse(f, value, lang)

    def parse(self, f: FieldDef, value: Any, lang: str) -> Any:
        """Parse and validate a present value (min/max, pattern, options...)."""
        raise FieldValueError(t("computed", lang))

    plain_json: ClassVar[bool] = False  # its stored values are JSON already

    def json_converter(self, f: FieldDef) -> Callable[[Any], Any] | None:
        """The function turning a stored value into JSON (API answers, history, outbox payloads);
        None when the value is JSON as it is. Records serialise through it without a call per field."""
        return None if self.plain_json else to_json

    def to_json(self, f: FieldDef, value: Any) -> Any:
        conv = self.json_converter(f)
        return value if conv is None or value is None else conv(value)

    def filter_value(self, f: FieldDef, raw: str, lang: str) -> Any:
        """The typed value a list filter ``?field=raw`` compares with (the field's own coercion, wider scale)."""
        from ..model import FieldDef as _FieldDef
        probe = _FieldDef(name=f.name, type=f.type, label=f.label, scale=max(f.scale, 8), options=f.options, ft=f.ft)
        return self.coerce(probe, raw, lang)

    # ---- API
    def openapi(self, f: FieldDef) -> dict[str, Any]:
        """The OpenAPI (JSON Schema) of a value, before the title and null are added."""
        return {"type": "string"}

    def filter_ops(self, f: FieldDef | None) -> tuple[str, ...]:
        """The list-query operators that make sense for it (others are a 400, never a database error)."""
        return OPS if self.text_like else ORDER_OPS

    def condition(self, col: ColumnElement[Any], op: str, value: Any) -> ColumnElement[Any] | None:
        """A list filter this type compares its own way; None for the usual column comparison."""
        return None

    cached_filter: ClassVar[bool] = True  # its list filters may reuse a cached first-page statement

    # ---- UI
    def cell(self, f: FieldDef | None, value: Any, lang: str) -> dict[str, Any]:
        """A list cell for a present value: ``{"text", "badge"}`` (ui.values adds states and link titles)."""
        return {"text": str(value), "badge": None}

    def value_label(self, f: FieldDef | None, value: Any, lang: str) -> str:
        """A present value as a chart or board labels it."""
        return str(to_json(value))

    def input_value(self, f: FieldDef, value: Any) -> Any:
        """The value a form <input> holds for a JSON value."""
        return value

    # ---- spreadsheets
    def from_cell(self, f: FieldDef, raw: Any, lookup: Any = None) -> Any:
        """An Excel/CSV cell as API input (``coerce`` checks it afterwards). ``lookup(text)`` finds a
        linked record's id by its title (imports give it; None elsewhere)."""
        if isinstance(raw, dt.datetime):
            return raw.isoformat(sep="T")
        if isinstance(raw, dt.date):
            return raw.isoformat()
        if isinstance(raw, float):
            return int(raw) if raw.is_integer() and self.whole_cells else str(Decimal(repr(raw)))
        text = str(raw).strip()
        value = self.from_text(f, text, lookup)
        if value is not text:
            return value
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw if self.number_cells else str(raw)
        return text

    def from_text(self, f: FieldDef, text: str, lookup: Any) -> Any:
        """A cell's text as API input; ``text`` itself (the same object) when nothing is to change."""
        return text

    def to_cell(self, f: FieldDef, value: Any, text: str) -> Any:
        """An export cell for a present value; ``text`` is its list rendering."""
        return text

    def __repr__(self) -> str:
        return f"<field type {self.name}>"


class UnknownType(FieldType):
    """Stands in for a type no registry knows (the schema has already refused it), so compiling goes on
    and reports every other problem of the file too."""

    name = "unknown"


UNKNOWN = UnknownType()

# what every type answers (tests/test_fieldtypes.py asks each registered type for each)
CAPABILITIES = (
    "name", "label", "keys", "start", "prepare", "palette_label", "sql_type", "type_signature", "coerce",
    "json_converter", "to_json", "filter_value", "openapi", "filter_ops", "condition", "cell", "value_label",
    "filter_control", "input_value", "from_cell", "to_cell", "widget", "sortable", "importable", "searchable",
    "groupable", "expr_type", "stored",
)
