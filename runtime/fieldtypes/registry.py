"""The registry of field types: an immutable name → type mapping, built once.

:data:`BUILTIN` holds Jig's own types. Extensions add theirs through the
``field_types`` hook (``runtime/extensions.py``); :meth:`FieldTypes.extended`
builds the registry a set of definitions is compiled with, and the compiler
attaches each field's type to it (``f.ft``), so nothing looks types up globally.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from .base import FieldType
from .builtin import BooleanType, DateTimeType, DateType, DecimalType, EmailType, IntegerType, LongTextType, PhoneType, TextType
from .choices import LinkType, MultiSelectType, SelectType, UserType
from .structural import ComputedType, FilesType, FileType, ImagesType, ImageType, TableType


class FieldTypes(Mapping[str, FieldType]):
    """Field types by name, in palette order. Immutable: extending gives a new registry."""

    def __init__(self, types: Iterable[FieldType]):
        by_name: dict[str, FieldType] = {}
        for ft in types:
            if not isinstance(ft, FieldType) or not ft.name:
                raise ValueError(f"{ft!r} is not a named FieldType")
            if ft.name in by_name:
                raise ValueError(f"field type '{ft.name}' is declared twice")
            by_name[ft.name] = ft
        self._by_name = MappingProxyType(by_name)
        self._keys = MappingProxyType(_merged_keys(by_name.values()))

    def __getitem__(self, name: str) -> FieldType:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def __hash__(self) -> int:
        return hash(tuple(self._by_name))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldTypes) and dict(self._by_name) == dict(other._by_name)

    @property
    def specific_keys(self) -> Mapping[str, dict[str, Any]]:
        """Every type-specific definition key with its JSON Schema (the field schema accepts their union)."""
        return self._keys

    def extended(self, extra: Iterable[FieldType | type[FieldType]]) -> FieldTypes:
        """This registry plus ``extra`` (types or type classes); a name already taken is refused."""
        added = [ft() if isinstance(ft, type) else ft for ft in extra]
        if not added:
            return self
        return FieldTypes([*self._by_name.values(), *added])


def _merged_keys(types: Iterable[FieldType]) -> dict[str, dict[str, Any]]:
    keys: dict[str, dict[str, Any]] = {}
    owner: dict[str, str] = {}
    for ft in types:
        for key, schema in ft.keys().items():
            if key in keys and keys[key] != schema:
                raise ValueError(f"definition key '{key}' of field type '{ft.name}' differs from "
                                 f"the one of '{owner[key]}'")
            keys.setdefault(key, schema)
            owner.setdefault(key, ft.name)
    return keys


BUILTIN = FieldTypes([
    TextType(), LongTextType(), IntegerType(), DecimalType(), BooleanType(), DateType(), DateTimeType(),
    SelectType(), MultiSelectType(), LinkType(), TableType(), PhoneType(), EmailType(),
    ImageType(), ImagesType(), FileType(), FilesType(), ComputedType(), UserType(),
])
