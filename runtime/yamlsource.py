"""YAML loading that remembers where every key and value came from.

PyYAML's composed nodes carry marks; we build plain Python data from them and
keep a map from path (tuple of keys/indexes) to (line, col) so every later
error can point at ``file:line:col``. Duplicate keys, which PyYAML silently
overwrites, are reported as errors here.

Loading is bounded, so a hostile file ends quickly with located errors: the
file's size, the nesting depth (checked while composing, before Python's
stack runs out), the number of values once aliases are expanded (a "billion
laughs" file), the pairs a merge key may produce, the length of one scalar and
the digits of one number. An alias that contains itself is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from .errors import DefinitionError

PathKey = tuple[str | int, ...]

MAX_FILE_BYTES = 1_000_000  # the largest shipped app is 26 KB
MAX_DEPTH = 64  # nested mappings and lists
MAX_VALUES = 200_000  # values after expanding aliases
MAX_MERGED_PAIRS = 10_000  # pairs of one mapping after merge keys ('<<')
MAX_SCALAR = 100_000  # characters of one value
MAX_NUMBER_DIGITS = 40
_LIMIT_HINT = "definitions are small, hand-written files; aliases and merge keys ('<<') must not multiply them"


class _TooLarge(Exception):
    def __init__(self, mark: Any, message: str, hint: str = _LIMIT_HINT):
        super().__init__(message)
        self.mark = mark
        self.message = message
        self.hint = hint


@dataclass
class SourceMap:
    """Positions of values (and of keys) by path within one file."""

    file: str
    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    # Columns between a value's position and its first character: 1 for a quoted scalar.
    text_offsets: dict[PathKey, int] = field(default_factory=dict)

    def text_position(self, path: PathKey) -> tuple[int, int]:
        """Line and column of the first character of the text at ``path`` (inside any quote)."""
        line, col = self.position(path)
        return line, col + self.text_offsets.get(path, 0)

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


try:  # libyaml's parser is about five times faster; composing stays in Python, so the bounds below hold
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _Parser = None


if _Parser is not None:
    class _Base(Composer, _Parser, SafeConstructor, Resolver):  # type: ignore[misc,valid-type]
        def __init__(self, stream: str):
            _Parser.__init__(self, stream)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            Composer.__init__(self)
else:  # pragma: no cover
    _Base = yaml.SafeLoader  # type: ignore[misc,assignment]


class _Loader(_Base):  # type: ignore[misc,valid-type]
    """Safe loading: no arbitrary Python objects, ever; nesting and merge keys bounded."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        # Composing recurses once per level: refuse deep nesting before Python's stack runs out.
        depth = self.__dict__.get("_depth", 0) + 1
        if depth > MAX_DEPTH:
            raise _TooLarge(self.peek_event().start_mark, f"nesting is deeper than {MAX_DEPTH} levels",
                            "definitions nest a few levels; flatten the structure")
        self.__dict__["_depth"] = depth
        try:
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self.__dict__["_depth"] = depth - 1

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        merging: set[int] = self.__dict__.setdefault("_merging", set())
        if id(node) in merging:
            raise _TooLarge(node.start_mark, "a merge key ('<<') merges a mapping into itself",
                            "an anchor (&name) cannot be merged inside its own value")
        merging.add(id(node))
        try:
            super().flatten_mapping(node)
        finally:
            merging.discard(id(node))
        if len(node.value) > MAX_MERGED_PAIRS:
            raise _TooLarge(node.start_mark, f"this mapping has more than {MAX_MERGED_PAIRS} entries once "
                                             "merge keys ('<<') are expanded")


@dataclass
class _Budget:
    values: int = 0
    stack: set[int] = field(default_factory=set)


def load_text(text: str, file: str) -> tuple[Any, SourceMap, list[DefinitionError]]:
    """Parse YAML text; return data, its source map and problems found."""
    smap = SourceMap(file)
    errors: list[DefinitionError] = []
    if len(text) > MAX_FILE_BYTES:
        return None, smap, [_too_big(file, len(text.encode("utf-8", "surrogatepass")))]
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = _build(loader, node, (), smap, errors, _Budget()) if node is not None else None
        finally:
            loader.dispose()
    except _TooLarge as exc:
        line, col = (exc.mark.line + 1, exc.mark.column + 1) if exc.mark else (1, 1)
        return None, smap, [DefinitionError(file, line, col, "", exc.message, exc.hint)]
    except RecursionError:  # pragma: no cover - the prescan and the alias check come first
        return None, smap, [DefinitionError(file, 1, 1, "", "the file nests too deeply", _LIMIT_HINT)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        if mark is not None and problem == "found character that cannot start any token" and \
                0 <= mark.index < len(text):
            problem = f"found character {text[mark.index]!r} that cannot start any token"  # as PyYAML says it
        hint = "check indentation and that ':' is followed by a space"
        if "nesting depth" in problem:
            hint = "definitions nest a few levels; flatten the structure"
        errors.append(DefinitionError(file, line, col, "", f"YAML syntax error: {problem}", hint))
        return None, smap, errors
    except yaml.YAMLError as exc:  # pragma: no cover - non-marked errors are rare
        errors.append(DefinitionError(file, 1, 1, "", f"YAML error: {exc}"))
        return None, smap, errors
    return data, smap, errors


def _too_big(file: str, size: int) -> DefinitionError:
    return DefinitionError(file, 1, 1, "", f"the file is too large ({size} bytes, at most {MAX_FILE_BYTES})",
                           "a definition is a hand-written file of some kilobytes; split apps into several files")


def load_file(path: str | Path) -> tuple[Any, SourceMap, list[DefinitionError]]:
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, SourceMap(str(path)), [_too_big(str(path), size)]
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, SourceMap(str(path)), [DefinitionError(str(path), 1, 1, "", f"cannot read file: {exc}",
                                                             "definitions are UTF-8 text files")]
    return load_text(text, str(path))


def _build(loader: _Loader, node: yaml.Node, path: PathKey, smap: SourceMap,
           errors: list[DefinitionError], budget: _Budget) -> Any:
    budget.values += 1
    if budget.values > MAX_VALUES:
        raise _TooLarge(node.start_mark, f"the file holds more than {MAX_VALUES} values once aliases (*name) "
                                         "are expanded")
    smap.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        if id(node) in budget.stack:
            raise _TooLarge(node.start_mark, "an alias (*name) refers to a value that contains it",
                            "an anchor (&name) cannot be used inside its own value")
        budget.stack.add(id(node))
        try:
            return _build_collection(loader, node, path, smap, errors, budget)
        finally:
            budget.stack.discard(id(node))
    if isinstance(node, yaml.ScalarNode) and len(node.value) > MAX_SCALAR:
        raise _TooLarge(node.start_mark, f"this value is longer than {MAX_SCALAR} characters",
                        "keep long texts out of definitions")
    if isinstance(node, yaml.ScalarNode) and node.style in ("'", '"'):
        smap.text_offsets[path] = 1
    return _scalar(loader, node)


def _scalar(loader: _Loader, node: yaml.Node) -> Any:
    if node.tag == "tag:yaml.org,2002:int" and len(str(node.value)) > MAX_NUMBER_DIGITS:
        raise _TooLarge(node.start_mark, f"this number is too large (at most {MAX_NUMBER_DIGITS} digits)",
                        "use a smaller number, or quote it if it is a text")
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, OverflowError):
        raise _TooLarge(node.start_mark, "this value cannot be read as a number or date",
                        "quote it if it is a text") from None


def _build_collection(loader: _Loader, node: yaml.Node, path: PathKey, smap: SourceMap,
                      errors: list[DefinitionError], budget: _Budget) -> Any:
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        loader.flatten_mapping(node)
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                errors.append(DefinitionError(
                    smap.file, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                    format_path(path), "keys must be plain names, not lists or mappings"))
                continue
            key = _scalar(loader, key_node)
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
            result[key] = _build(loader, value_node, child, smap, errors, budget)
        return result
    return [_build(loader, item, (*path, i), smap, errors, budget) for i, item in enumerate(node.value)]
