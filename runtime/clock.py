"""The factory's clock: one time zone for every date and time Jig stores.

Factories run in one place, so times are stored as naive local times in the
configured zone (``JIG_TIMEZONE``, default Asia/Shanghai), in whole seconds.
Tests freeze the clock with :func:`frozen`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from collections.abc import Iterator
from zoneinfo import ZoneInfo

_zone = ZoneInfo(os.environ.get("JIG_TIMEZONE", "Asia/Shanghai"))
_frozen: dt.datetime | None = None


def zone() -> ZoneInfo:
    return _zone


def set_zone(name: str) -> None:
    global _zone, _last
    _zone = ZoneInfo(name)
    _last = (-1, dt.datetime.min)


_last: tuple[int, dt.datetime] = (-1, dt.datetime.min)


def now() -> dt.datetime:
    """Current local time, naive, whole seconds (computed once per second: expressions call it a lot)."""
    global _last
    if _frozen is not None:
        return _frozen
    second = int(time.time())
    if second != _last[0]:
        _last = (second, dt.datetime.fromtimestamp(second, _zone).replace(tzinfo=None))
    return _last[1]


def today() -> dt.date:
    return now().date()


def to_local(value: dt.datetime) -> dt.datetime:
    """An aware time converted to naive local; a naive one is taken as local."""
    if value.tzinfo is not None:
        value = value.astimezone(_zone).replace(tzinfo=None)
    return value.replace(microsecond=0)


def to_aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=_zone)


@contextlib.contextmanager
def frozen(at: dt.datetime) -> Iterator[None]:
    global _frozen
    before = _frozen
    _frozen = at.replace(microsecond=0)
    try:
        yield
    finally:
        _frozen = before
