"""The factory's clock: one time zone for every date and time Jig stores.

Factories run in one place, so times are stored as naive local times in the
configured zone (``JIG_TIMEZONE``, default Asia/Shanghai), in whole seconds.
The zone is read once from the environment: a process serves one factory.
Tests freeze the clock with :func:`frozen`, and so does the demo generator (``jig/demo``, back-dating
a month of history before anything serves); nothing else changes this module.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import os
import time
from collections.abc import Iterator
from zoneinfo import ZoneInfo

ZONE = ZoneInfo(os.environ.get("JIG_TIMEZONE", "Asia/Shanghai"))  # fixed for the process: one factory, one zone
_frozen: dt.datetime | None = None  # the test seam (see frozen); production code never sets it
# "as if it were then", for the caller's thread (or task) only: see as_of
_AS_OF: contextvars.ContextVar[dt.datetime | None] = contextvars.ContextVar("jig_as_of", default=None)


def zone() -> ZoneInfo:
    return ZONE


@functools.lru_cache(maxsize=4)
def _local(second: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(second, ZONE).replace(tzinfo=None)


def now() -> dt.datetime:
    """Current local time, naive, whole seconds (converted once per second: expressions call it a lot)."""
    at = _AS_OF.get()
    if at is not None:
        return at
    if _frozen is not None:
        return _frozen
    return _local(int(time.time()))


def is_frozen() -> bool:
    """True when the clock is not the real one (frozen by a test, or ``as_of`` a given time)."""
    return _frozen is not None or _AS_OF.get() is not None


def today() -> dt.date:
    return now().date()


def to_local(value: dt.datetime) -> dt.datetime:
    """An aware time converted to naive local; a naive one is taken as local."""
    if value.tzinfo is not None:
        value = value.astimezone(ZONE).replace(tzinfo=None)
    return value.replace(microsecond=0)


def to_aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=ZONE)


@contextlib.contextmanager
def frozen(at: dt.datetime) -> Iterator[None]:
    global _frozen
    before = _frozen
    _frozen = at.replace(microsecond=0)
    try:
        yield
    finally:
        _frozen = before


@contextlib.contextmanager
def as_of(at: dt.datetime) -> Iterator[None]:
    """Run the block as if it were ``at`` (naive local, or aware): ``now()``, ``today()`` and the SQL
    ``now()``/``today()`` parameters see it, in this thread only (other requests keep the real time).
    Used by ``jig rules run --at`` and the rule editor's test ("as if it were Monday 09:00")."""
    token = _AS_OF.set(to_local(at))
    try:
        yield
    finally:
        _AS_OF.reset(token)
