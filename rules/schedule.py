"""Schedules: intervals ("every 1h") or cron, optionally within a daily time window.

Times are naive local times in the schedule's zone (the factory's zone unless
the rule names one). ``next_after`` gives the next due time strictly after a
moment, skipping times outside the window, so a run missed at 21:00 becomes
the first run of the next window rather than a burst of old ticks.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from runtime import clock

EVERY = re.compile(r"^every\s+(\d+)\s*(s|m|h|d)$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ScheduleError(ValueError):
    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Schedule:
    text: str
    interval: int | None = None  # seconds
    cron: str | None = None
    window: tuple[dt.time, dt.time] | None = None
    zone: str | None = None

    def now(self) -> dt.datetime:
        if self.zone is None:
            return clock.now()
        return dt.datetime.now(ZoneInfo(self.zone)).replace(tzinfo=None, microsecond=0) \
            if not clock.is_frozen() else clock.now()  # tests freeze the factory clock

    def in_window(self, t: dt.datetime) -> bool:
        if self.window is None:
            return True
        start, end = self.window
        now = t.time()
        return start <= now < end if start < end else (now >= start or now < end)

    def next_after(self, t: dt.datetime) -> dt.datetime:
        """The first due time strictly after ``t`` that falls inside the window."""
        candidate = self._raw_next(t)
        for _ in range(10000):
            if self.in_window(candidate):
                return candidate
            if self.window is not None and self.interval is not None:
                # jump to the next window start instead of stepping through the night
                start = self.window[0]
                day = candidate.date() if candidate.time() < start else candidate.date() + dt.timedelta(days=1)
                return dt.datetime.combine(day, start)
            candidate = self._raw_next(candidate)
        raise ScheduleError(f"schedule '{self.text}' never falls inside its window")

    def _raw_next(self, t: dt.datetime) -> dt.datetime:
        if self.interval is not None:
            epoch = int(t.replace(tzinfo=dt.UTC).timestamp())
            nxt = (epoch // self.interval + 1) * self.interval  # aligned: every 1h runs on the hour
            return dt.datetime.fromtimestamp(nxt, dt.UTC).replace(tzinfo=None)
        assert self.cron is not None
        return croniter(self.cron, t).get_next(dt.datetime).replace(microsecond=0)

    def due_between(self, since: dt.datetime, until: dt.datetime, cap: int = 100000) -> int:
        """How many runs fell in (since, until]: used to say how many were missed."""
        n, t = 0, since
        while n < cap:
            t = self.next_after(t)
            if t > until:
                break
            n += 1
        return n


def parse_schedule(text: str, between: str | None = None, zone: str | None = None) -> Schedule:
    raw = str(text).strip()
    window = None
    if between:
        try:
            a, b = between.split("-")
            window = (dt.time.fromisoformat(a), dt.time.fromisoformat(b))
        except ValueError:
            raise ScheduleError(f"bad time window '{between}'", "write it like 08:00-20:00") from None
        if window[0] == window[1]:
            raise ScheduleError("the time window is empty", "write it like 08:00-20:00")
    if zone:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ScheduleError(f"unknown time zone '{zone}'", "e.g. Asia/Shanghai") from None
    m = EVERY.match(raw)
    if m:
        seconds = int(m.group(1)) * UNITS[m.group(2)]
        if seconds < 60:
            raise ScheduleError("schedules run at most once a minute", "use every 1m or more")
        if seconds > 86400 * 31:
            raise ScheduleError(f"'{raw}' is too long an interval", "use a cron line for monthly runs")
        return Schedule(raw, interval=seconds, window=window, zone=zone)
    cron = raw[5:].strip() if raw.startswith("cron:") else raw
    if croniter.is_valid(cron) and len(cron.split()) == 5:
        return Schedule(raw, cron=cron, window=window, zone=zone)
    raise ScheduleError(f"cannot read schedule '{raw}'",
                        "use 'every 15m', 'every 1h', 'every 1d' or a cron line such as 'cron: 0 8 * * 1-5'")
