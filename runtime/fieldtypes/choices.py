"""The built-in choice field types: select, multi-select, link (to another record) and user."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, String

from ..bounds import MAX_LIST_ITEMS, bad_text
from ..messages import t
from ..sqltypes import JSONList
from .base import COLORS, LABEL_REF, FieldType
from .builtin import TextType
from .parsing import FieldValueError, integer

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement
    from sqlalchemy.types import TypeEngine

    from ..model import FieldDef

OPTION = {
    "oneOf": [
        {"type": "string", "minLength": 1},
        {
            "type": "object",
            "required": ["value"],
            "additionalProperties": False,
            "properties": {"value": {"type": "string", "minLength": 1}, "label": LABEL_REF,
                           "color": {"enum": list(COLORS)}},
        },
    ]
}
OPTION["oneOf"].append({  # compact: {plating: 电镀 | Plating} with an optional color
    "type": "object", "minProperties": 1, "maxProperties": 2, "not": {"required": ["value"]},
    "propertyNames": {"pattern": r"^(?!label$)[^\s].{0,99}$"},
    "properties": {"color": {"enum": list(COLORS)}},
    "additionalProperties": {"anyOf": [LABEL_REF, {  # or with its colour: plating: [电镀 | Plating, blue]
        "type": "array", "minItems": 2, "maxItems": 2,
        "prefixItems": [{"type": "string", "minLength": 1}, {"enum": list(COLORS)}]}]},
    "if": {"minProperties": 2}, "then": {"required": ["color"]},
})
OPTION_LIST = {"type": "array", "minItems": 1, "maxItems": 1000, "items": OPTION}
OPTIONS_KEY = {"oneOf": [OPTION_LIST, {"type": "string", "pattern": r"^[a-z][a-z0-9_]{0,47}$",
                                       "description": "The name of a shared list under option_sets:."}]}


def _labels(f: FieldDef) -> dict[str, str]:
    """Option value for each lower-cased value and label (imports accept either)."""
    labels = {}
    for o in f.options:
        labels[o.value.lower()] = o.value
        for lab in o.label.values():
            labels[lab.lower()] = o.value
    return labels


def _pick(label: dict[str, str], lang: str) -> str:
    return label.get(lang) or label.get("zh") or label.get("en") or ""


def _option_text(f: FieldDef | None, values: list[Any], lang: str) -> str:
    opts = {o.value: o for o in f.options} if f is not None else {}
    return "、".join(_pick(opts[v].label, lang) if v in opts else str(v) for v in values)


class SelectType(FieldType):
    name = "select"
    pure_coerce = True
    label = ("单选", "Select")
    filter_control = "option"
    expr_type = "text"
    text_like = True
    searchable = True
    groupable = True
    list_filter_index = True
    required_keys = ("options",)
    plain_json = True
    widget = "select"

    def keys(self) -> dict[str, dict[str, Any]]:
        return {"options": OPTIONS_KEY}

    def start(self) -> dict[str, Any]:
        return {"options": [{"a": "选项一 | Option 1", "color": "blue"}]}  # the compact option form

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        return String(64)

    def type_signature(self, f: FieldDef) -> str:
        return "varchar(64)"

    def parse(self, f: FieldDef, value: Any, lang: str) -> Any:
        text = str(value).strip()
        if text not in f.option_values:
            raise FieldValueError(t("option", lang, options=", ".join(f.option_values)))
        return text

    def filter_value(self, f: FieldDef, raw: str, lang: str) -> Any:
        return raw  # filtering by an unknown option simply finds nothing

    def openapi(self, f: FieldDef) -> dict[str, Any]:
        return {"type": "string", "enum": f.option_values}

    def cell(self, f: FieldDef | None, value: Any, lang: str) -> dict[str, Any]:
        opts = {o.value: o for o in f.options} if f is not None else {}
        return {"text": _option_text(f, [value], lang), "badge": opts[value].color if value in opts else None}

    def value_label(self, f: FieldDef | None, value: Any, lang: str) -> str:
        return _option_text(f, [value], lang)

    def from_text(self, f: FieldDef, text: str, lookup: Any) -> Any:
        return _labels(f).get(text.lower(), text)


class MultiSelectType(FieldType):
    name = "multiselect"
    label = ("多选", "Multi-select")
    filter_control = "options"
    required_keys = ("options",)
    is_list = True
    expr_type = "list"
    indexable = False
    may_be_unique = False
    sortable = False
    blank_is_none = False
    cached_filter = False
    widget = "multiselect"

    def keys(self) -> dict[str, dict[str, Any]]:
        return {"options": OPTIONS_KEY}

    def start(self) -> dict[str, Any]:
        return {"options": [{"a": "选项一 | Option 1"}]}

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        return JSONList()

    def type_signature(self, f: FieldDef) -> str:
        return "json"

    def parse(self, f: FieldDef, value: Any, lang: str) -> Any:
        items = [s.strip() for s in value.split(",") if s.strip()] if isinstance(value, str) else value
        if not isinstance(items, list):
            raise FieldValueError(t("list", lang))
        if len(items) > MAX_LIST_ITEMS:
            raise FieldValueError(t("too_many_values", lang, max=MAX_LIST_ITEMS))
        bad = [str(x) for x in items if str(x) not in f.option_values]
        if bad:
            raise FieldValueError(t("option", lang, options=", ".join(f.option_values)))
        seen: list[str] = []
        for x in items:
            if str(x) not in seen:
                seen.append(str(x))
        return [v for v in f.option_values if v in seen]

    def openapi(self, f: FieldDef) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "string", "enum": f.option_values}}

    def filter_ops(self, f: FieldDef | None) -> tuple[str, ...]:
        return ("eq", "contains", "isnull")

    def condition(self, col: ColumnElement[Any], op: str, value: Any) -> ColumnElement[Any] | None:
        if op in ("eq", "contains"):  # one chosen option among the stored JSON list
            return col.contains(json.dumps(value, ensure_ascii=False), autoescape=True)
        return None

    def cell(self, f: FieldDef | None, value: Any, lang: str) -> dict[str, Any]:
        return {"text": _option_text(f, value if isinstance(value, list) else [value], lang), "badge": None}

    def from_text(self, f: FieldDef, text: str, lookup: Any) -> Any:
        labels = _labels(f)
        return [labels.get(p.strip().lower(), p.strip())
                for p in text.replace("，", ",").replace("、", ",").split(",") if p.strip()]


class LinkType(FieldType):
    name = "link"
    pure_coerce = True
    label = ("关联", "Link")
    filter_control = "link"
    required_keys = ("to",)
    always_indexed = True
    list_filter_index = True
    groupable = True
    expr_type = "int"
    json_type = int
    plain_json = True
    whole_cells = True
    number_cells = True
    widget = "link"

    def keys(self) -> dict[str, dict[str, Any]]:
        return {"to": {"type": "string", "pattern": r"^[a-z][a-z0-9_]{0,47}$", "description": "Entity a link points to."}}

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        return BigInteger()

    def parse(self, f: FieldDef, value: Any, lang: str) -> Any:
        if isinstance(value, dict) and "id" in value:
            value = value["id"]
        return integer(value, lang, key="link")

    def openapi(self, f: FieldDef) -> dict[str, Any]:
        return {"type": "integer", "description": f"id of a {f.to} record"}

    def cell(self, f: FieldDef | None, value: Any, lang: str) -> dict[str, Any]:
        return {"text": f"#{value}", "badge": None, "link": value}

    def from_text(self, f: FieldDef, text: str, lookup: Callable[[str], Any] | None) -> Any:
        if not f.to:
            return text
        if text.isascii() and text.isdigit():
            return int(text) if len(text) <= 19 else text  # (a longer number is refused as too big by the field)
        if bad_text(text) or lookup is None:
            return text  # no lookup: the field refuses it
        return lookup(text)


class UserType(TextType):
    name = "user"
    label = ("用户", "User")
    searchable = False
    default_search = False
    whole_cells = False

    def keys(self) -> dict[str, dict[str, Any]]:
        return {}

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        return String(64)

    def type_signature(self, f: FieldDef) -> str:
        return "varchar(64)"
