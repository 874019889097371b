"""The designer's edits of the compact block forms (runtime/compact_blocks.py) in a YAML document: a section
written as its label (``- 基本信息 | Basics: [[name]]``) and a state written ``[label, colour]`` are edited in place,
in their form; a new field's path is recognised so that it is written compactly."""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from runtime.compact_blocks import SECTION_KEYS, state_long, state_short
from runtime.compiler import label


def _yd() -> ModuleType:
    from . import yamldoc  # the document's helpers (yamldoc imports this module)
    return yamldoc


class CompactEdits:
    """Mixed into :class:`builder.yamldoc.YamlDocument` (which gives get, _parent and rename)."""

    get: Any
    _parent: Any
    rename: Any

    def _compact_state(self, path: Sequence[str | int]) -> list[str | int] | None:
        """The path of a state written compactly (``done: [完成 | Done, green]``) that ``path`` goes into, its
        value turned into the long form for the edit; None when ``path`` is no such thing."""
        for i in range(len(path) - 2):
            if path[i] == "states" and i > 0 and path[i - 1] == "workflow":
                sp = list(path[:i + 2])
                node = self.get(sp)
                if isinstance(node, (str, CommentedSeq)):
                    parent, key = self._parent(sp)
                    parent[key] = _yd()._commented(state_long(_yd().to_plain(node)), True)
                    return sp
        return None

    def _restate(self, sp: list[str | int]) -> None:
        parent, key = self._parent(sp)
        short = state_short(_yd().to_plain(parent[key]))
        if isinstance(short, list):
            parent[key] = _yd()._commented(short, True)

    def _new_state(self, path: Sequence[str | int], value: Any) -> Any:
        """A new state among states written compactly is written so too: ``[label, colour]`` or its label."""
        states = self.get(path[:-1])
        if not isinstance(value, dict) or not isinstance(states, CommentedMap) \
                or not any(isinstance(v, (str, CommentedSeq)) for v in states.values()):
            return value
        v = dict(value)
        if isinstance(v.get("label"), dict):
            v["label"] = _yd().compact_label(v["label"])
        short = state_short(v)
        if isinstance(short, list):
            return short
        return v["label"] if set(v) == {"label"} and isinstance(v["label"], str) else value

    def _sectioned(self, path: Sequence[str | int]) -> tuple[list[Any], int | None]:
        """``path`` into a section written as its label (``- 基本信息 | Basics: [[name]]``), whose ``columns`` are
        that key's value; with the position of ``label`` in the path when the edit is of that section's label."""
        path = list(path)
        for i in range(len(path) - 2):
            if path[i] == "sections" and isinstance(path[i + 1], int) and path[i + 2] in ("columns", "fields", "label"):
                sec = self.get(path[:i + 2])
                if isinstance(sec, CommentedMap) and len(sec) == 1 and not set(sec) & SECTION_KEYS:
                    if path[i + 2] == "label":
                        return path, i + 2
                    return [*path[:i + 2], next(iter(sec)), *path[i + 3:]], None
        return path, None

    def _section_label(self, path: list[Any], at: int, value: Any) -> None:
        """A new label of a section written as its label: the key is renamed (one language or both)."""
        key = next(iter(self.get(path[:at])))
        if len(path) == at + 2 and path[-1] in ("zh", "en") and isinstance(value, str):
            value = {**label(key, ""), str(path[-1]): value}
        if isinstance(value, dict):
            value = _yd().compact_label(value)
        if not isinstance(value, str) or not value.strip():
            raise _yd().EditError("a section written as its label needs a label")
        if value != key:
            self.rename([*path[:at], key], value)


def is_field_path(path: Sequence[str | int]) -> bool:
    """An entity's field, a field of one of its tables, or a user attribute."""
    n = len(path)
    return (n in (4, 6) and path[0] == "entities" and path[2] == "fields" and (n == 4 or path[4] == "fields")) \
        or (n == 2 and path[0] == "user_attributes")
