"""JSON text for what Jig writes most: API answers and history entries.

``dumps`` gives the same JSON as ``json.dumps(obj, ensure_ascii=False, separators=(",", ":"))`` --
UTF-8 text as it is, no spaces -- written by orjson (several times faster than the standard library's
encoder, which showed in every list, get and import). Whatever orjson would write differently is
handed back: date-times, dataclasses and subclasses of the basic types go to ``default`` (as with the
standard library), and a value orjson cannot write at all (an integer beyond 64 bits, a key that is not
text) is written by the standard library instead, with the same answer or the same TypeError.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


def dumps_bytes(obj: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """``obj`` as compact UTF-8 JSON bytes; ``default`` turns what JSON has no type for into what it has
    (raising TypeError when it cannot), as ``json.dumps``' ``default``."""
    try:
        return orjson.dumps(obj, default=default, option=_OPTIONS)
    except TypeError:  # not for orjson (e.g. a huge integer, a number as a key): the standard library's answer
        return json.dumps(obj, default=default, ensure_ascii=False, separators=(",", ":")).encode()


def dumps(obj: Any, default: Callable[[Any], Any] | None = None) -> str:
    """``obj`` as compact JSON text (see ``dumps_bytes``)."""
    return dumps_bytes(obj, default).decode()
