"""The designer's palette: every field type with its label and the starting properties of a new field.

:func:`field_palette` is the one place the designer learns which field types
exist: it lists the registry (``runtime.fieldtypes``; each type class carries its
palette label and starting properties), extension types included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runtime.fieldtypes import BUILTIN, FieldType


def field_palette(lang: str = "zh", types: Mapping[str, FieldType] = BUILTIN) -> list[dict[str, Any]]:
    """``[{"type", "label", "start"}]`` for every field type, in the registry's order."""
    return [{"type": name, "label": ft.palette_label(lang), "start": ft.start()} for name, ft in types.items()]
