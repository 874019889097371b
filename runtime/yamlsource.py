"""YAML loading that remembers where every key and value came from.

PyYAML's composed nodes carry marks; we build plain Python data from them and
keep a map from path (tuple of keys/indexes) to (line, col) so every later
error can point at ``file:line:col``. Duplicate keys, which PyYAML silently
overwrites, are reported as errors here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import DefinitionError

PathKey = tuple[str | int, ...]


@dataclass
class SourceMap:
    """Positions of values (and of keys) by path within one file."""

    file: str
    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: PathKey, *, key: bool = False) -> tuple[int, int]:
        """Line and column of the closest known ancestor of ``path`` (1-based)."""
        probe = tuple(path)
        while True:
            table = self.keys if key and probe in self.keys else self.values
            if probe in table:
                return table[probe]
            if not probe:
                return (1, 1)
            probe = probe[:-1]

    def error(self, path: PathKey, message: str, hint: str = "", *, key: bool = False) -> DefinitionError:
        line, col = self.position(path, key=key)
        return DefinitionError(self.file, line, col, format_path(path), message, hint)


def format_path(path: PathKey) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class _Loader(yaml.SafeLoader):
    """SafeLoader: no arbitrary Python objects, ever."""


def load_text(text: str, file: str) -> tuple[Any, SourceMap, list[DefinitionError]]:
    """Parse YAML text; return data, its source map and problems found."""
    smap = SourceMap(file)
    errors: list[DefinitionError] = []
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = _build(loader, node, (), smap, errors) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        errors.append(DefinitionError(file, line, col, "", f"YAML syntax error: {problem}",
                                      "check indentation and that ':' is followed by a space"))
        return None, smap, errors
    except yaml.YAMLError as exc:  # pragma: no cover - non-marked errors are rare
        errors.append(DefinitionError(file, 1, 1, "", f"YAML error: {exc}"))
        return None, smap, errors
    return data, smap, errors


def load_file(path: str | Path) -> tuple[Any, SourceMap, list[DefinitionError]]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, SourceMap(str(path)), [DefinitionError(str(path), 1, 1, "", f"cannot read file: {exc}",
                                                             "definitions are UTF-8 text files")]
    return load_text(text, str(path))


def _build(loader: _Loader, node: yaml.Node, path: PathKey, smap: SourceMap,
           errors: list[DefinitionError]) -> Any:
    smap.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        loader.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                errors.append(DefinitionError(
                    smap.file, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                    format_path(path), f"keys must be plain names, not {type(key).__name__}"))
                continue
            if isinstance(key, bool) or not isinstance(key, str):
                # YAML 1.1 turns on/off/yes/no into booleans; keep them as written.
                key = key_node.value
            child = (*path, key)
            smap.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in result:
                errors.append(DefinitionError(
                    smap.file, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                    format_path(child), f"duplicate key '{key}'",
                    "each name may appear once; the second one would silently replace the first"))
                continue
            result[key] = _build(loader, value_node, child, smap, errors)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, i), smap, errors) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
