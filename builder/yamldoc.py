"""Programmatic edits of a definition's YAML text that keep everything else as it was.

A team that keeps its apps in git must be able to read the diff of a change
made in the browser: adding a field changes the lines of that field, not the
indentation, quoting, comments or key order of the rest of the file.

ruamel.yaml's round-trip mode keeps comments, key order and quoting, but it
re-flows some constructs (a flow mapping written over several lines comes out
on one). So :meth:`YamlDocument.text` never returns ruamel's dump as it is:
it dumps the document twice, unedited and edited, takes the difference of the
two dumps (which is exactly the edit) and applies those hunks to the original
text. Lines outside the edit are the original's bytes.
"""

from __future__ import annotations

import copy
import difflib
import io
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from runtime.compact import short_field, type_key
from runtime.compiler import label
from runtime.fieldtypes import BUILTIN

from .yamlforms import CompactEdits, is_field_path

PathKey = tuple[str | int, ...]


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never fold long expressions
    y.indent(mapping=2, sequence=4, offset=2)
    return y


class EditError(ValueError):
    """An edit that does not fit the document (missing parent, wrong kind of node)."""


class YamlDocument(CompactEdits):
    """One YAML text, its round-trip data, and the edits made to it."""

    def __init__(self, text: str):
        self.original = text
        self._yaml = _yaml()
        self.data: Any = self._yaml.load(text)
        # A deep copy of the parsed tree dumps exactly like a second parse, at a
        # third of the cost; the unedited dump is only made when text() needs it.
        self._pristine: Any = copy.deepcopy(self.data)
        self._unedited: str | None = None

    # ------------------------------------------------------------------ reading

    def get(self, path: Sequence[str | int], default: Any = None) -> Any:
        node = self.data
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return default
        return node

    def _parent(self, path: Sequence[str | int]) -> tuple[Any, str | int]:
        if not path:
            raise EditError("the document root cannot be replaced")
        parent = self.get(path[:-1])
        if not isinstance(parent, (CommentedMap, CommentedSeq)):
            raise EditError(f"no mapping or list at {_show(path[:-1])}")
        return parent, path[-1]

    # ------------------------------------------------------------------ editing

    def set(self, path: Sequence[str | int], value: Any, *, after: str | None = None) -> None:
        """Set the value at ``path``; a new key goes after ``after`` (or last). One language of a label written
        compactly ("厂名 | Name") is set by rewriting that text, in the same form. A field written with its type as
        the key of its label (``text: 厂名 | Name``) keeps that form: its label is that key's value, a new type renames
        the key."""
        path, at = self._sectioned(path)
        if at is not None:
            self._section_label(path, at, value)
            return
        if len(path) > 3 and path[-2] == "states" and path[-3] == "workflow" and self.get(path) is None:
            value = self._new_state(path, value)
        state = self._compact_state(path)
        if state is not None:  # a state written [label, colour]: edited long, then written short again
            self._set(path, value, after)
            self._restate(state)
            return
        self._set(path, value, after)

    def _set(self, path: Sequence[str | int], value: Any, after: str | None) -> None:
        if is_field_path(path) and self.get(path) is None:  # a new field is written in the compact form
            value = short_field(value, BUILTIN)
        path, tk = self._typed(path)
        if tk is not None and len(path) == tk[0] + 1 and path[-1] == tk[1] and isinstance(value, str) \
                and tk[2] == "type":
            if value != tk[1]:
                self.rename(path, value)
            return
        if len(path) > 1 and path[-1] in ("zh", "en") and isinstance(self.get(path[:-1]), str) \
                and isinstance(value, str) and (path[-2] in LABEL_KEYS or (tk is not None and path[-2] == tk[1])):
            old = label(self.get(path[:-1]), "")
            value, path = compact_label({**old, str(path[-1]): value}), path[:-1]
        parent, key = self._parent(path)
        value = _like_siblings(parent, value)
        if isinstance(parent, CommentedSeq):
            if not isinstance(key, int) or not -len(parent) <= key < len(parent):
                raise EditError(f"no item {key!r} in the list at {_show(path[:-1])}")
            parent[key] = value
            return
        if key in parent or after is None:
            parent[key] = value
            return
        keys = list(parent.keys())
        if after not in keys:
            raise EditError(f"no key {after!r} at {_show(path[:-1])}")
        parent.insert(keys.index(after) + 1, key, value)

    def _typed(self, path: Sequence[str | int]) -> tuple[list[str | int], tuple[int, str, str] | None]:
        """``path`` with a field's ``label`` or ``type`` turned into its type key when the field is written as
        ``text: 厂名 | Name``; with (the field's path length, the type key, which of the two was meant)."""
        for i in range(len(path) - 1, 0, -1):
            if path[i] in ("label", "type"):
                tk = type_key(self.get(path[:i]), BUILTIN)
                if tk is not None:
                    return [*path[:i], tk, *path[i + 1:]], (i, tk, str(path[i]))
        return list(path), None

    def append(self, path: Sequence[str | int], value: Any) -> None:
        """Append ``value`` to the list at ``path``."""
        seq = self.get(path)
        if not isinstance(seq, CommentedSeq):
            raise EditError(f"no list at {_show(path)}")
        seq.append(_like_siblings(seq, value))

    def delete(self, path: Sequence[str | int]) -> None:
        state = self._compact_state(path)
        if state is not None:
            self._delete(path)
            self._restate(state)
            return
        self._delete(path)

    def _delete(self, path: Sequence[str | int]) -> None:
        path, at = self._sectioned(path)
        if at is not None and len(path) == at + 1:  # the section's label goes: it is written long, without one
            sec = self.get(path[:at])
            key = next(iter(sec))
            self.rename([*path[:at], key], "columns")
            return
        path, tk = self._typed(path)
        if tk is not None and len(path) == tk[0] + 1 and tk[2] == "label":  # text: 名称 becomes type: text
            parent, key = self._parent(path)
            self.rename(path, "type")
            parent["type"] = key
            return
        parent, key = self._parent(path)
        try:
            del parent[key]
        except (KeyError, IndexError, TypeError):
            raise EditError(f"nothing at {_show(path)}") from None

    def rename(self, path: Sequence[str | int], new_key: str) -> None:
        """Rename the mapping key at ``path`` in place (its value, comments and position kept)."""
        parent, key = self._parent(path)
        if not isinstance(parent, CommentedMap) or key not in parent:
            raise EditError(f"no key at {_show(path)}")
        if new_key in parent:
            raise EditError(f"{new_key!r} already exists at {_show(path[:-1])}")
        keys = list(parent.keys())
        value = parent[key]
        pos = keys.index(key)
        comment = parent.ca.items.pop(key, None)
        del parent[key]
        parent.insert(pos, new_key, value)
        if comment is not None:
            parent.ca.items[new_key] = comment

    def move(self, path: Sequence[str | int], new_index: int) -> None:
        """Move a list item or a mapping key to position ``new_index`` among its siblings."""
        parent, key = self._parent(path)
        if isinstance(parent, CommentedSeq):
            if not isinstance(key, int) or not 0 <= key < len(parent):
                raise EditError(f"no item {key!r} at {_show(path[:-1])}")
            item = parent.pop(key)
            parent.insert(max(0, min(new_index, len(parent))), item)
            return
        if key not in parent:
            raise EditError(f"no key at {_show(path)}")
        value = parent[key]
        comment = parent.ca.items.pop(key, None)
        del parent[key]
        parent.insert(max(0, min(new_index, len(parent))), key, value)
        if comment is not None:
            parent.ca.items[key] = comment

    # ------------------------------------------------------------------ output

    def _dump(self, data: Any) -> str:
        out = io.StringIO()
        self._yaml.dump(data, out)
        return _BARE.sub(r"\1", out.getvalue())  # a flag written alone ({text: 名称, required}) stays alone

    def text(self) -> str:
        """The original text with the edits applied, every other line unchanged."""
        edited = self._dump(self.data)
        if self._unedited is None:
            self._unedited = self._dump(self._pristine)
        unedited = self._unedited
        if edited == unedited:
            return self.original
        patched = _transplant(self.original, unedited, edited)
        return patched if patched is not None else edited


def _transplant(original: str, unedited: str, edited: str) -> str | None:
    """Apply the hunks that turn ``unedited`` into ``edited`` onto ``original``.

    ``unedited`` is ruamel's rendering of ``original``; where the two differ
    (re-flowed lines) a hunk touching them cannot be placed and None is
    returned (the caller then falls back to the full rendering).
    """
    o_lines = original.splitlines(keepends=True)
    n_lines = unedited.splitlines(keepends=True)
    e_lines = edited.splitlines(keepends=True)
    n_to_o: dict[int, int] = {}
    for tag, i1, i2, j1, _j2 in difflib.SequenceMatcher(None, n_lines, o_lines, autojunk=False).get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                n_to_o[i1 + k] = j1 + k
    hunks: list[tuple[int, int, list[str]]] = []
    for tag, i1, i2, j1, j2 in _edits(n_lines, e_lines):
        if tag == "equal":
            continue
        span = _place(n_to_o, i1, i2, len(n_lines), len(o_lines))
        if span is None:
            return None
        hunks.append((span[0], span[1], e_lines[j1:j2]))
    for start, stop, lines in reversed(hunks):
        o_lines[start:stop] = lines
    return "".join(o_lines)


def _edits(a: list[str], b: list[str]) -> Iterator[tuple[str, int, int, int, int]]:
    yield from difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()


def _place(n_to_o: dict[int, int], i1: int, i2: int, n_len: int, o_len: int) -> tuple[int, int] | None:
    """Where the unedited lines [i1, i2) are in the original, if they are there verbatim."""
    if i1 == i2:  # an insertion before unedited line i1
        if i1 in n_to_o:
            return n_to_o[i1], n_to_o[i1]
        if i1 - 1 in n_to_o:
            return n_to_o[i1 - 1] + 1, n_to_o[i1 - 1] + 1
        if i1 == n_len:
            return o_len, o_len
        return None
    if any(i not in n_to_o for i in range(i1, i2)):
        return None
    start, last = n_to_o[i1], n_to_o[i2 - 1]
    if last - start != i2 - 1 - i1:
        return None
    return start, last + 1


LABEL_KEYS = frozenset({"label", "title", "description", "help", "placeholder", "check_message", "guard_message"})


def compact_label(value: dict[str, str]) -> str:
    """A {zh, en} label as its compact text, "zh | en" (one text when both are the same)."""
    zh, en = str(value.get("zh") or value.get("en") or ""), str(value.get("en") or value.get("zh") or "")
    return zh if zh == en else f"{zh} | {en}"


_BARE = re.compile(r"(?<=[{,] )([a-z_]+): null(?=[,}])")


def _like_siblings(parent: Any, value: Any) -> Any:
    """Give a new value the flow/block style of its siblings, so it reads like its neighbours.

    A large value (a whole layout, a long field) is written as a block whatever its siblings, with its
    small parts (labels, lists of field names) in flow style, as people write them by hand; a list of
    names stays in flow style however long. A value nested deeper than its flow-style siblings (a whole
    connector beside ``title: {zh, en}``) is a block too. Texts YAML would read as something else are quoted.
    """
    if isinstance(value, str):
        return _text(value)
    if not isinstance(value, (dict, list)) or isinstance(value, (CommentedMap, CommentedSeq)):
        return value
    kind = CommentedMap if isinstance(value, dict) else CommentedSeq
    siblings = list(parent.values()) if isinstance(parent, CommentedMap) else list(parent)
    flows = [_depth(s) for s in siblings if isinstance(s, kind) and s.fa.flow_style()]
    flow = bool(flows) and _depth(value) <= max(flows) and (_small(value, FLOW_WIDTH) or _scalars(value))
    return _commented(value, flow)


def _depth(value: Any) -> int:
    if isinstance(value, dict) and value and set(value) <= {"zh", "en"}:
        return 0  # a {zh, en} label counts like its compact text, "zh | en"
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


FLOW_WIDTH = 120  # a new value longer than this (as JSON) is written as a block
PART_WIDTH = 100  # inside a block, parts up to this long are written in flow style


def _small(value: Any, width: int) -> bool:
    return len(json.dumps(value, ensure_ascii=False, default=str)) <= width


def _scalars(value: Any) -> bool:
    return isinstance(value, list) and not any(isinstance(v, (dict, list)) for v in value)


def _part(value: Any) -> bool:
    """A part of a block written in flow style: a list of names, or short and not a list of mappings."""
    return _scalars(value) or (_small(value, PART_WIDTH) and
                               not (isinstance(value, list) and any(isinstance(v, dict) for v in value)))


def _commented(value: Any, flow: bool = False) -> Any:
    if isinstance(value, dict):
        m = CommentedMap((k, _commented(v, flow or _part(v))) for k, v in value.items())
        if flow:
            m.fa.set_flow_style()
        return m
    if isinstance(value, list):
        s = CommentedSeq(_commented(v, flow or _part(v)) for v in value)
        if flow:
            s.fa.set_flow_style()
        return s
    return _text(value) if isinstance(value, str) else value


_RESOLVER = pyyaml.resolver.Resolver()


def _text(value: str) -> str:
    """A text the loader (PyYAML, YAML 1.1) would read as something else (no, on, 1e3, 2026-11-02, ~) is
    written quoted: ruamel writes YAML 1.2, where ``no`` is a text, but definitions are read as 1.1."""
    if type(value) is not str:
        return value  # already styled (quoted on purpose)
    if _RESOLVER.resolve(pyyaml.ScalarNode, value, (True, False)) != "tag:yaml.org,2002:str":
        return DoubleQuotedScalarString(value)
    return value


def _show(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out or "(root)"


def to_plain(node: Any) -> Any:
    """ruamel's round-trip data as plain dicts and lists (for the definition loader)."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    return node
