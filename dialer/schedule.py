"""When a campaign may dial, and when a contact may be called: pure functions of ``now``.

Campaign schedule (seed 002 "horario"): weekly windows of local wall-clock time in the
campaign's timezone, in the store's JSON form, weekday -> list of ``[start, end]``::

    {"mon": [["08:00", "13:00"], ["14:00", "18:00"]], "sat": [["09:00", "12:00"]]}

``end`` may be ``"24:00"``; a window never crosses midnight (split it over two days); an
empty schedule is open around the clock. Windows are wall-clock times, so across a DST change
an 08:00-18:00 day stays 08:00-18:00 local (its length in UTC changes), and a window start that
falls in a spring-forward gap opens at the first instant after the gap.

Contact calling hours: daily ``[start, end)`` in the *number's* timezone (the store keeps the
phone's IANA zone); ``start > end`` is a window across midnight.

DESIGN.md: check the block list, the calling hours and the attempt limits at originate time,
not only when a contact is claimed: :func:`may_dial` is that check.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "WEEKDAYS",
    "CallingHours",
    "DialCheck",
    "ScheduleError",
    "WeeklySchedule",
    "is_open",
    "load_zone",
    "may_dial",
    "next_open",
    "parse_schedule",
    "within_calling_hours",
]

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_MINUTES: Final = 24 * 60


class ScheduleError(ValueError):
    """A schedule, calling-hours or timezone setting is malformed; the message names it."""


def load_zone(name: str, field: str = "timezone") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"{field}: unknown IANA timezone {name!r}") from None


def _minutes(text: object, field: str) -> int:
    """Minutes since midnight of ``"HH:MM"`` (``"24:00"`` allowed, as an end)."""
    if not isinstance(text, str) or len(text) != 5 or text[2] != ":":
        raise ScheduleError(f"{field}: {text!r} is not a time HH:MM")
    try:
        hours, minutes = int(text[:2]), int(text[3:])
    except ValueError:
        raise ScheduleError(f"{field}: {text!r} is not a time HH:MM") from None
    if not (0 <= minutes < 60 and (0 <= hours < 24 or (hours == 24 and minutes == 0))):
        raise ScheduleError(f"{field}: {text!r} is not a time of day")
    return hours * 60 + minutes


@dataclass(frozen=True)
class WeeklySchedule:
    """Opening windows per weekday (0 = Monday) in minutes since local midnight."""

    timezone: ZoneInfo
    windows: tuple[tuple[tuple[int, int], ...], ...]  # 7 days
    always_open: bool = False


def parse_schedule(data: Mapping[str, Any] | None, timezone: str) -> WeeklySchedule:
    """A campaign's schedule from its stored JSON form and IANA timezone name."""
    tz = load_zone(timezone)
    if not data:
        return WeeklySchedule(tz, ((),) * 7, always_open=True)
    unknown = sorted(set(data) - set(WEEKDAYS))
    if unknown:
        raise ScheduleError(f"schedule: unknown weekday {unknown[0]!r} (use {', '.join(WEEKDAYS)})")
    days: list[tuple[tuple[int, int], ...]] = []
    for day in WEEKDAYS:
        spans = data.get(day, [])
        if not isinstance(spans, list):
            raise ScheduleError(f"schedule.{day}: must be a list of [start, end]")
        windows = []
        for i, span in enumerate(spans):
            where = f"schedule.{day}[{i}]"
            if not isinstance(span, list | tuple) or len(span) != 2:
                raise ScheduleError(f"{where}: {span!r} is not [start, end]")
            start, end = _minutes(span[0], where), _minutes(span[1], where)
            if start >= end:
                raise ScheduleError(f"{where}: start {span[0]} is not before end {span[1]}")
            windows.append((start, end))
        days.append(tuple(sorted(windows)))
    return WeeklySchedule(tz, tuple(days))


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ScheduleError("now must be timezone-aware (UTC)")
    return now


def is_open(schedule: WeeklySchedule, now: datetime) -> bool:
    """Whether the campaign's local wall-clock time at ``now`` is inside a window."""
    if schedule.always_open:
        return True
    local = _aware(now).astimezone(schedule.timezone)
    minute = local.hour * 60 + local.minute
    return any(start <= minute < end for start, end in schedule.windows[local.weekday()])


def _at(day: date, minute: int, tz: ZoneInfo) -> datetime:
    """The UTC instant of local wall time ``minute`` on ``day``.

    In a fall-back overlap the first occurrence (``fold=0``). A wall time inside a
    spring-forward gap never happens: the window opens when the clocks jump over it.
    """
    naive = datetime.combine(day, time(0)) + timedelta(minutes=minute)
    after = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if after.astimezone(tz).replace(tzinfo=None) == naive:
        return after
    # In the gap: fold=1 maps before the jump, fold=0 after it; find the jump (to the second).
    low, high = naive.replace(tzinfo=tz, fold=1).astimezone(UTC), after
    while high - low > timedelta(seconds=1):
        mid = low + (high - low) / 2
        if mid.astimezone(tz).replace(tzinfo=None) >= naive:
            high = mid
        else:
            low = mid
    return high.replace(microsecond=0)


def next_open(schedule: WeeklySchedule, now: datetime) -> datetime | None:
    """``now`` if open, else the next instant the schedule opens (UTC), or None if it never
    does (no windows at all)."""
    if is_open(schedule, now):
        return now
    tz = schedule.timezone
    today = _aware(now).astimezone(tz).date()
    best: datetime | None = None
    for offset in range(8):
        day = today + timedelta(days=offset)
        for start, _end in schedule.windows[day.weekday()]:
            candidate = _at(day, start, tz)
            # A start inside a spring-forward gap lands after it; keep it only if open there.
            if candidate > now and is_open(schedule, candidate):
                best = candidate if best is None or candidate < best else best
        if best is not None:
            return best
    return None


@dataclass(frozen=True)
class CallingHours:
    """Daily hours a contact may be called, in the number's own timezone."""

    start: time = time(8, 0)
    end: time = time(21, 0)

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ScheduleError("calling_hours: start and end are equal (an empty window)")


def within_calling_hours(hours: CallingHours, phone_timezone: ZoneInfo, now: datetime) -> bool:
    local = _aware(now).astimezone(phone_timezone).time().replace(tzinfo=None)
    if hours.start < hours.end:
        return hours.start <= local < hours.end
    return local >= hours.start or local < hours.end  # across midnight


class DialCheck(enum.StrEnum):
    """Why :func:`may_dial` said yes or no (first failing check, in this order)."""

    OK = "ok"
    BLOCKED = "blocked"  # the number is on the block list (seed 003 "Robinson" list)
    MAX_ATTEMPTS = "max_attempts"
    CAMPAIGN_CLOSED = "campaign_closed"
    OUTSIDE_CALLING_HOURS = "outside_calling_hours"


def may_dial(
    now: datetime,
    *,
    schedule: WeeklySchedule,
    calling_hours: CallingHours,
    phone_timezone: ZoneInfo,
    blocked: bool,
    attempts_made: int,
    max_attempts: int,
) -> tuple[bool, DialCheck]:
    """Whether a call to this number may go out at ``now``, and why not.

    Run when a contact is claimed and again just before the Originate (DESIGN.md).
    ``attempts_made`` counts the attempts already placed for the assignment.
    """
    if blocked:
        return False, DialCheck.BLOCKED
    if attempts_made >= max_attempts:
        return False, DialCheck.MAX_ATTEMPTS
    if not is_open(schedule, now):
        return False, DialCheck.CAMPAIGN_CLOSED
    if not within_calling_hours(calling_hours, phone_timezone, now):
        return False, DialCheck.OUTSIDE_CALLING_HOURS
    return True, DialCheck.OK
