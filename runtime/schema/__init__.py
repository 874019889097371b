"""The JSON Schema (draft 2020-12) of the definition language.

The core language is built here; extensions (rules, connectors, links,
dashboards) contribute their own top-level sections. The assembled schema is
written to ``app.schema.json`` beside this module (``jig schema --write``) so
editors that read ``# yaml-language-server: $schema=`` comments autocomplete
definitions; a test keeps that file in step with this code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..compact import ACTIONS, FIELD_KEYS
from ..fieldtypes import BUILTIN, FieldTypes
from ..fieldtypes.base import COLORS as _COLORS
from ..fieldtypes.choices import OPTION_LIST

SCHEMA_PATH = Path(__file__).with_name("app.schema.json")
SCHEMA_ID = "https://jig.dev/schema/app.schema.json"

IDENT = r"^[a-z][a-z0-9_]{0,47}$"

FIELD_TYPES = [*BUILTIN]  # the built-in field types, in palette order (runtime.fieldtypes)

COLORS = [*_COLORS]


def _label() -> dict[str, Any]:
    return {"$ref": "#/$defs/label"}


def _expr(description: str) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": 2000, "description": description}


def _bool_or_expr(description: str) -> dict[str, Any]:
    return {"oneOf": [{"type": "boolean"}, _expr(description)], "description": description}


def _flag(description: str) -> dict[str, Any]:
    """true/false, or the key written alone (``{text: 名称 | Name, unique}``), which means true."""
    return {"type": ["boolean", "null"], "description": description + " Written alone it means true."}


def _flag_or_expr(description: str) -> dict[str, Any]:
    return {"oneOf": [{"type": ["boolean", "null"]}, _expr(description)],
            "description": description + " Written alone it means true."}


def _field_schema(types: FieldTypes = BUILTIN) -> dict[str, Any]:
    """A field definition: the keys every field has, plus each registered type's own keys (the compiler
    refuses a key the field's type does not take, naming the type)."""
    keyed = [t for t in types if t not in FIELD_KEYS and t not in types.specific_keys]
    return {
        "type": "object",
        # the type as type: text, or as the key holding the label (text: 厂名 | Name; runtime/compact.py)
        "anyOf": [{"required": ["type"]}, *({"required": [t]} for t in keyed)],
        "additionalProperties": False,
        "properties": {
            "type": {"enum": list(types), "description": "The kind of value this field holds."},
            **{t: {**_label(), "description": f"A {t} field with this label (instead of type: {t}, label: ...)."}
               for t in keyed},
            "label": _label(),
            "help": _label(),
            "placeholder": _label(),
            "required": _flag_or_expr("Must have a value (or an expression saying when)."),
            "readonly": _flag_or_expr("Cannot be changed by users (or an expression saying when)."),
            "visible": _expr("Shown only when this expression is true."),
            "unique": _flag("No two records may share a value."),
            "index": _flag("Create a database index for fast filtering."),
            "default": {
                "description": "The value a new record starts with: a number, boolean or, for text and select "
                               "fields, the text itself; an expression starts with '=' (e.g. =today()).",
                "oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
            },
            **types.specific_keys,
            "check": _expr("Must be true for the record to be saved (empty values pass)."),
            "check_message": _label(),
            "renamed_from": {"type": "string", "pattern": IDENT, "description": "Previous name; keeps the data."},
            "naming": {"type": "string", "minLength": 1, "maxLength": 64,
                       "description": "Text fields: numbered on create by this series, e.g. LOT{YY}{MM}-{###}."},
            "rollup": {
                "type": "object",
                "required": ["from"],
                "additionalProperties": False,
                "description": "Kept equal to the sum or count of the records that belong to this one.",
                "properties": {
                    "from": {"type": "string", "pattern": "^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)?$",
                             "description": "A child table of this entity, or entity.link of records linking here."},
                    "sum": {"type": "string", "pattern": IDENT, "description": "The number field summed."},
                    "count": {"const": True, "description": "Count the records instead."},
                    "where": _expr("Only the records for which this is true."),
                },
            },
        },
    }


def _layout_schema() -> dict[str, Any]:
    section = {
        "type": "object",
        "required": ["columns"],
        "additionalProperties": False,
        "properties": {
            "label": _label(),
            "visible": _expr("Section shown only when true."),
            "columns": {
                "type": "array",
                "minItems": 1,
                "maxItems": 4,
                "items": {"type": "array", "items": {"type": "string", "pattern": IDENT}},
            },
        },
    }
    columns = section["properties"]["columns"]  # type: ignore[index]
    keyed = {"type": "object", "minProperties": 1, "maxProperties": 1,
             "propertyNames": {"not": {"enum": ["label", "columns", "visible"]}},
             "additionalProperties": columns,
             "description": "A section as its label holding its columns: - 基本信息 | Basics: [[name], [phone]]."}
    section = {"anyOf": [section, keyed]}
    return {
        "type": "object",
        "additionalProperties": False,
        "description": "Form layout: tabs holding sections holding columns of fields.",
        "properties": {
            "sections": {"type": "array", "minItems": 1, "items": section},
            "tabs": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["label", "sections"],
                    "additionalProperties": False,
                    "properties": {
                        "label": _label(),
                        "sections": {"type": "array", "minItems": 1, "items": section},
                    },
                },
            },
        },
        "oneOf": [{"required": ["sections"]}, {"required": ["tabs"]}],
    }


def _workflow_schema() -> dict[str, Any]:
    state_list = {
        "oneOf": [
            {"type": "string", "pattern": r"^([a-z][a-z0-9_]{0,47}|\*)$"},
            {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": IDENT}},
        ]
    }
    return {
        "type": "object",
        "required": ["initial", "states", "transitions"],
        "additionalProperties": False,
        "properties": {
            "initial": {"type": "string", "pattern": IDENT},
            "roles": {"type": "array", "items": {"type": "string", "pattern": IDENT},
                      "description": "The roles of every transition that lists none itself."},
            "states": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"pattern": IDENT},
                "additionalProperties": {"anyOf": [
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "label": _label(),
                            "color": {"enum": COLORS},
                            "final": _flag("No transition leaves this state."),
                        },
                    },
                    {"type": "string", "minLength": 1, "description": "The state's label: 完成 | Done."},
                    {"type": "array", "minItems": 2, "maxItems": 3,
                     "prefixItems": [{"type": "string", "minLength": 1}, {"enum": COLORS}, {"const": "final"}],
                     "description": "[label, colour] or [label, colour, final]: [完成 | Done, green, final]."},
                ]},
            },
            "transitions": {
                "type": "object",
                "propertyNames": {"pattern": IDENT},
                "additionalProperties": {
                    "type": "object",
                    "required": ["from", "to"],
                    "additionalProperties": False,
                    "properties": {
                        "label": _label(),
                        "from": state_list,
                        "to": {"type": "string", "pattern": IDENT},
                        "roles": {"type": "array", "items": {"type": "string", "pattern": IDENT}},
                        "guard": _expr("The transition is allowed only when this is true."),
                        "guard_message": _label(),
                        "require": {"type": "array", "items": {"type": "string", "pattern": IDENT}},
                        "set": {
                            "type": "object",
                            "propertyNames": {"pattern": IDENT},
                            "additionalProperties": {"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]},
                        },
                    },
                },
            },
        },
    }


def _role_grant() -> dict[str, Any]:
    """One role's permissions: all, a list of actions, one action or preset name, or the long mapping."""
    return {"oneOf": [
        {"type": "string", "pattern": IDENT,
         "description": "all, none, one action (read) or a role_presets name."},
        {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": list(ACTIONS)},
         "description": "The actions allowed on every record, e.g. [read, create, update]."},
        _role_grant_mapping()]}


def _permissions_schema() -> dict[str, Any]:
    return {"type": "object", "propertyNames": {"pattern": IDENT}, "additionalProperties": _role_grant()}


def _role_grant_mapping() -> dict[str, Any]:
    grant = _bool_or_expr("true, false, or a row filter expression.")
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "read": grant,
            "create": {"type": "boolean"},
            "update": grant,
            "delete": grant,
            "transition": {
                "oneOf": [
                    {"type": "boolean"},
                    _expr("Row filter"),
                    {"type": "array", "items": {"type": "string", "pattern": IDENT}},
                ]
            },
        },
    }


def _entity_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["fields"],
        "additionalProperties": False,
        "properties": {
            "title": _label(),
            "description": _label(),
            "title_field": {"type": "string", "pattern": IDENT},
            "naming": {"type": "string", "minLength": 1, "maxLength": 64,
                       "description": "Naming series, e.g. WF{YYYY}{MM}-{####}."},
            "renamed_from": {"type": "string", "pattern": IDENT},
            "archived": {"type": "boolean", "description": "Archived: table and data kept and readable; hidden from "
                         "navigation, no new records, no writes. false (or removing it) brings it back."},
            "fields": {"$ref": "#/$defs/fields"},
            "layout": _layout_schema(),
            "indexes": {
                "type": "array",
                "description": "Extra indexes over several fields, for filters used together, e.g. [[partner, state]].",
                "items": {"type": "array", "minItems": 1, "maxItems": 4, "items": {"type": "string", "pattern": IDENT}},
            },
            "list": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "columns": {"type": "array", "items": {"type": "string", "pattern": IDENT}},
                    "sort": {"type": "string"},
                    "search": {"type": "array", "items": {"type": "string", "pattern": IDENT}},
                    "filters": {"type": "array", "maxItems": 20, "description": "Extra filters on the list page "
                                "across links and child tables, e.g. [materials.material_batch, partner.city].",
                                "items": {"type": "string", "pattern": r"^[a-z][a-z0-9_]{0,47}(\.[a-z][a-z0-9_]{0,47}){1,3}$"}},
                    "colors": {
                        "type": "array",
                        "description": "Row colours in lists and on kanban cards; the first rule that holds wins, "
                                       "e.g. [{when: \"days_late > 0\", color: red}].",
                        "items": {"type": "object", "additionalProperties": False, "required": ["when", "color"],
                                  "properties": {"when": {"type": "string"},
                                                 "color": {"enum": COLORS}}},
                    },
                    "overdue": {"type": "string", "description": "When a record is overdue (a condition); "
                                "the home page lists overdue records to whoever may read them."},
                    "card": {
                        "type": "array", "maxItems": 6,
                        "description": "The fields a kanban card shows (default: the first list columns).",
                        "items": {"type": "string", "pattern": IDENT},
                    },
                },
            },
            "workflow": _workflow_schema(),
            "permissions": _permissions_schema(),
            "related": {
                "type": "array", "maxItems": 50,
                "description": "Records linking here, shown on the record's page with counts (all such links are "
                               "shown; these come first, with these labels): {from: inspection.lot, label: ...}.",
                "items": {"type": "object", "additionalProperties": False, "required": ["from"], "properties": {
                    "from": {"type": "string", "pattern": r"^[a-z][a-z0-9_]{0,47}(\.[a-z][a-z0-9_]{0,47}){1,2}$",
                             "description": "entity.link_field, or entity.child_table.link_field"},
                    "label": _label()}},
            },
            "filters": {
                "type": "object",
                "description": "Named conditions on this entity's records, used by their name in permissions, "
                               "guards, rules and dashboards, e.g. overdue: \"expected_return < today()\".",
                "propertyNames": {"pattern": IDENT},
                "additionalProperties": _expr("A condition on one record."),
            },
        },
    }


def core_schema(field_types: FieldTypes = BUILTIN) -> dict[str, Any]:
    """The schema of the core language, with no extension sections (field types: the built-in ones
    unless an extension adds its own)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Jig app definition",
        "type": "object",
        "required": ["app", "entities"],
        "additionalProperties": False,
        "properties": {
            "app": {"type": "string", "pattern": IDENT, "description": "The app's identifier."},
            "title": _label(),
            "description": _label(),
            "version": {"type": ["string", "integer"]},
            "roles": {
                "description": "Roles this app uses; users are given roles.",
                "oneOf": [
                    {"type": "array", "items": {"type": "string", "pattern": IDENT}},
                    {
                        "type": "object",
                        "propertyNames": {"pattern": IDENT},
                        "additionalProperties": {"oneOf": [
                            _label(),  # planner: 计划员 | Planner
                            {"type": "object", "additionalProperties": False, "properties": {"label": _label()}},
                        ]},
                    },
                ],
            },
            "option_sets": {
                "type": "object",
                "description": "Option lists shared by several fields, used as options: <name>.",
                "propertyNames": {"pattern": IDENT},
                "additionalProperties": OPTION_LIST,
            },
            "permissions": {
                "type": "object",
                "description": "Grants every entity gives a role unless the entity lists the role itself "
                               "(there, none gives it nothing), e.g. manager: all.",
                "propertyNames": {"pattern": IDENT},
                "additionalProperties": _role_grant(),
            },
            "role_presets": {
                "type": "object",
                "description": "Named permissions used by several entities, e.g. office: [read, create, update].",
                "propertyNames": {"pattern": IDENT},
                "additionalProperties": _role_grant(),
            },
            "user_attributes": {
                "type": "object",
                "description": "Attributes users carry for row filters, e.g. the partner a user works for.",
                "propertyNames": {"pattern": IDENT},
                "additionalProperties": {"$ref": "#/$defs/field"},
            },
            "entities": {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 200,
                "propertyNames": {"pattern": IDENT},
                "additionalProperties": {"$ref": "#/$defs/entity"},
            },
        },
        "$defs": {
            "label": {
                "description": "Text shown to users: 'zh | en' (e.g. 厂名 | Name), one text for both, or {zh, en}.",
                "oneOf": [
                    {"type": "string", "minLength": 1},
                    {
                        "type": "object",
                        "minProperties": 1,
                        "additionalProperties": False,
                        "properties": {"zh": {"type": "string"}, "en": {"type": "string"}},
                    },
                ],
            },
            "field": _field_schema(field_types),
            "fields": {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 300,
                "propertyNames": {"pattern": IDENT},
                "additionalProperties": {"$ref": "#/$defs/field"},
            },
            "entity": _entity_schema(),
        },
    }


def build_schema(sections: dict[str, dict[str, Any]] | None = None,
                 defs: dict[str, dict[str, Any]] | None = None,
                 field_types: FieldTypes = BUILTIN) -> dict[str, Any]:
    """Core schema plus extension sections (top-level keys), their $defs and their field types."""
    schema = core_schema(field_types)
    for name, fragment in (sections or {}).items():
        if name in schema["properties"]:
            raise ValueError(f"definition section '{name}' belongs to the core language; an extension cannot "
                             "redefine it")
        schema["properties"][name] = fragment
    for name, fragment in (defs or {}).items():
        if name in schema["$defs"]:
            raise ValueError(f"schema $def '{name}' belongs to the core language; an extension cannot redefine it")
        schema["$defs"][name] = fragment
    return schema


def dump(schema: dict[str, Any]) -> str:
    return json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=False) + "\n"
