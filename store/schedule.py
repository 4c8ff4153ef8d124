"""Weekly opening hours and contact calling hours: pure functions of ``now``.

A campaign's schedule (seed 002 "horario") is stored as JSON, weekday -> list of ``[start, end]``
local times in the campaign's timezone, e.g. ``{"mon": [["08:00", "13:00"], ["14:00", "18:00"]]}``;
``end`` may be ``"24:00"``. An empty schedule means open around the clock. A window never crosses
midnight: split it into two days.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from store.errors import InvalidSetting

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MINUTES_PER_DAY = 24 * 60


def parse_clock(text: object, field: str, entity: str = "campaign") -> int:
    """Minutes since midnight of ``"HH:MM"`` (``"24:00"`` allowed, as an end)."""
    if not isinstance(text, str) or len(text) != 5 or text[2] != ":":
        raise InvalidSetting(entity, field, f"{text!r} is not a time HH:MM")
    try:
        hours, minutes = int(text[:2]), int(text[3:])
    except ValueError:
        raise InvalidSetting(entity, field, f"{text!r} is not a time HH:MM") from None
    if not (0 <= minutes < 60 and (0 <= hours < 24 or (hours == 24 and minutes == 0))):
        raise InvalidSetting(entity, field, f"{text!r} is not a time of day")
    return hours * 60 + minutes


def zone(name: str, field: str = "timezone", entity: str = "campaign") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSetting(entity, field, f"unknown IANA timezone {name!r}") from None


@dataclass(frozen=True)
class WeeklySchedule:
    """Opening windows per weekday (0 = Monday) in minutes since local midnight."""

    windows: tuple[tuple[tuple[int, int], ...], ...]  # 7 days
    always_open: bool

    @classmethod
    def parse(cls, data: Mapping[str, Any] | None) -> WeeklySchedule:
        if not data:
            return cls(((),) * 7, True)
        unknown = sorted(set(data) - set(WEEKDAYS))
        if unknown:
            raise InvalidSetting(
                "campaign", "schedule", f"unknown weekday {unknown[0]!r} (use {WEEKDAYS})"
            )
        days: list[tuple[tuple[int, int], ...]] = []
        for day in WEEKDAYS:
            spans = data.get(day, [])
            if not isinstance(spans, list):
                raise InvalidSetting(
                    "campaign", f"schedule.{day}", "must be a list of [start, end]"
                )
            day_windows = []
            for i, span in enumerate(spans):
                where = f"schedule.{day}[{i}]"
                if not isinstance(span, list | tuple) or len(span) != 2:
                    raise InvalidSetting("campaign", where, f"{span!r} is not [start, end]")
                start, end = parse_clock(span[0], where), parse_clock(span[1], where)
                if start >= end:
                    raise InvalidSetting(
                        "campaign", where, f"start {span[0]} is not before end {span[1]}"
                    )
                day_windows.append((start, end))
            days.append(tuple(sorted(day_windows)))
        return cls(tuple(days), False)

    def is_open(self, now: datetime, timezone: ZoneInfo) -> bool:
        if self.always_open:
            return True
        local = now.astimezone(timezone)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.windows[local.weekday()])


def within_hours(now: datetime, timezone: ZoneInfo, start: time, end: time) -> bool:
    """Whether local time at ``now`` in ``timezone`` is in [start, end) (daily hours)."""
    local = now.astimezone(timezone).time().replace(tzinfo=None)
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # a window across midnight


@lru_cache(maxsize=1)
def _all_zones() -> tuple[tuple[str, ZoneInfo], ...]:
    return tuple((name, ZoneInfo(name)) for name in sorted(available_timezones()))


@lru_cache(maxsize=64)
def _zones_split(
    minute_stamp: int, start: time, end: time
) -> tuple[frozenset[str], frozenset[str]]:
    now = datetime.fromtimestamp(minute_stamp * 60, UTC)
    inside: set[str] = set()
    outside: set[str] = set()
    for name, tz in _all_zones():
        (inside if within_hours(now, tz, start, end) else outside).add(name)
    return frozenset(inside), frozenset(outside)


def zones_within_hours(
    now: datetime, start: time, end: time
) -> tuple[frozenset[str], frozenset[str]]:
    """(zones whose local time is within [start, end), the other zones) at ``now``'s minute.

    Cached per minute: the hopper filters phones by their timezone name with it, in SQL.
    """
    return _zones_split(int(now.timestamp() // 60), start, end)
