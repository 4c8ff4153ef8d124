"""dialer.schedule: weekly windows in the campaign's timezone (DST edges), calling hours in the
number's timezone, and the originate-time check."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.schedule import (
    WEEKDAYS,
    CallingHours,
    DialCheck,
    ScheduleError,
    is_open,
    may_dial,
    next_open,
    parse_schedule,
    within_calling_hours,
)

WEEKDAYS_9_TO_5 = {day: [["09:00", "17:00"]] for day in WEEKDAYS[:5]}
NEW_YORK = ZoneInfo("America/New_York")
BOGOTA = ZoneInfo("America/Bogota")
MADRID = ZoneInfo("Europe/Madrid")


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_open_follows_the_campaigns_local_time() -> None:
    s = parse_schedule({"mon": [["08:00", "18:00"]]}, "America/Bogota")  # UTC-5, no DST
    assert is_open(s, utc(2026, 3, 9, 12, 59)) is False  # 07:59 local
    assert is_open(s, utc(2026, 3, 9, 13, 0)) is True
    assert is_open(s, utc(2026, 3, 9, 22, 59)) is True  # 17:59
    assert is_open(s, utc(2026, 3, 9, 23, 0)) is False  # end is exclusive


def test_windows_keep_their_wall_clock_hours_across_dst() -> None:
    s = parse_schedule(WEEKDAYS_9_TO_5, "America/New_York")
    # Friday 6 March 2026 is EST (UTC-5); Monday 9 March, after the 8 March change, EDT (UTC-4).
    assert next_open(s, utc(2026, 3, 6, 12, 0)) == utc(2026, 3, 6, 14, 0)
    assert next_open(s, utc(2026, 3, 9, 12, 0)) == utc(2026, 3, 9, 13, 0)


def test_next_open_skips_the_weekend() -> None:
    s = parse_schedule(WEEKDAYS_9_TO_5, "America/New_York")
    friday_evening = utc(2026, 3, 6, 22, 30)  # 17:30 EST
    assert next_open(s, friday_evening) == utc(2026, 3, 9, 13, 0)  # Monday 09:00 EDT


def test_next_open_is_now_when_open() -> None:
    s = parse_schedule(WEEKDAYS_9_TO_5, "America/New_York")
    now = utc(2026, 3, 9, 15, 0)
    assert next_open(s, now) == now


def test_a_window_starting_in_the_spring_forward_gap_opens_at_the_jump() -> None:
    s = parse_schedule({"sun": [["02:30", "05:00"]]}, "America/New_York")
    # 8 March 2026: 02:00 EST jumps to 03:00 EDT (07:00 UTC); 02:30 never happens.
    opened = next_open(s, utc(2026, 3, 8, 0, 0))
    assert opened == utc(2026, 3, 8, 7, 0)
    assert opened.astimezone(NEW_YORK).hour == 3


def test_a_window_starting_in_the_fall_back_overlap_opens_at_the_first_occurrence() -> None:
    s = parse_schedule({"sun": [["01:30", "04:00"]]}, "America/New_York")
    # 1 November 2026: 01:30 EDT (05:30 UTC) comes first, 01:30 EST an hour later.
    assert next_open(s, utc(2026, 11, 1, 0, 0)) == utc(2026, 11, 1, 5, 30)


def test_a_day_ending_at_24_00_is_open_until_midnight() -> None:
    s = parse_schedule({"mon": [["22:00", "24:00"]]}, "UTC")
    assert is_open(s, utc(2026, 3, 9, 23, 59)) is True
    assert is_open(s, utc(2026, 3, 10, 0, 0)) is False


def test_an_empty_schedule_is_always_open_and_one_without_windows_never_opens() -> None:
    assert is_open(parse_schedule({}, "UTC"), utc(2026, 3, 8, 3, 0)) is True
    assert next_open(parse_schedule({"mon": []}, "UTC"), utc(2026, 3, 8, 3, 0)) is None


@pytest.mark.parametrize(
    ("data", "tz", "message"),
    [
        ({"monday": []}, "UTC", "unknown weekday 'monday'"),
        ({"mon": [["8:00", "12:00"]]}, "UTC", r"schedule.mon\[0\]: '8:00' is not a time HH:MM"),
        ({"tue": [["12:00", "09:00"]]}, "UTC", r"schedule.tue\[0\]: start 12:00 is not before"),
        ({"wed": [["25:00", "26:00"]]}, "UTC", "is not a time of day"),
        ({"thu": "09:00-17:00"}, "UTC", "schedule.thu: must be a list"),
        ({}, "Mars/Olympus", "timezone: unknown IANA timezone 'Mars/Olympus'"),
    ],
)
def test_malformed_schedules_name_the_field(data: dict[str, object], tz: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(data, tz)


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ScheduleError, match="timezone-aware"):
        is_open(parse_schedule(WEEKDAYS_9_TO_5, "UTC"), datetime(2026, 3, 9, 12, 0))


def test_calling_hours_are_the_numbers_local_time() -> None:
    hours = CallingHours(time(8, 0), time(21, 0))
    summer_evening = utc(2026, 7, 1, 20, 30)
    assert within_calling_hours(hours, MADRID, summer_evening) is False  # 22:30 in Madrid
    assert within_calling_hours(hours, BOGOTA, summer_evening) is True  # 15:30 in Bogotá


def test_calling_hours_across_midnight() -> None:
    night = CallingHours(time(22, 0), time(2, 0))
    assert within_calling_hours(night, ZoneInfo("UTC"), utc(2026, 3, 9, 23, 0)) is True
    assert within_calling_hours(night, ZoneInfo("UTC"), utc(2026, 3, 10, 1, 59)) is True
    assert within_calling_hours(night, ZoneInfo("UTC"), utc(2026, 3, 10, 2, 0)) is False


def check(now: datetime, *, blocked: bool = False, attempts: int = 0) -> tuple[bool, DialCheck]:
    return may_dial(
        now,
        schedule=parse_schedule(WEEKDAYS_9_TO_5, "America/Bogota"),
        calling_hours=CallingHours(time(8, 0), time(21, 0)),
        phone_timezone=MADRID,
        blocked=blocked,
        attempts_made=attempts,
        max_attempts=3,
    )


def test_may_dial_says_why_not_in_order() -> None:
    open_and_in_hours = utc(2026, 3, 9, 15, 0)  # 10:00 Bogotá, 16:00 Madrid
    assert check(open_and_in_hours) == (True, DialCheck.OK)
    assert check(open_and_in_hours, blocked=True, attempts=3) == (False, DialCheck.BLOCKED)
    assert check(open_and_in_hours, attempts=3) == (False, DialCheck.MAX_ATTEMPTS)
    assert check(utc(2026, 3, 8, 15, 0)) == (False, DialCheck.CAMPAIGN_CLOSED)  # Sunday
    # 16:30 Bogotá (open) is 22:30 in Madrid: too late for the contact.
    assert check(utc(2026, 3, 9, 21, 30)) == (False, DialCheck.OUTSIDE_CALLING_HOURS)


ZONES = ["UTC", "America/New_York", "Europe/Madrid", "Australia/Sydney", "America/Bogota"]
CLOCK = st.integers(0, 23 * 4).map(lambda q: f"{q // 4:02d}:{q % 4 * 15:02d}")


@st.composite
def schedules(draw: st.DrawFn) -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = {}
    for day in draw(st.sets(st.sampled_from(WEEKDAYS), min_size=1)):
        start = draw(CLOCK)
        length = draw(st.integers(1, 8)) * 30
        end_minute = min(24 * 60, int(start[:2]) * 60 + int(start[3:]) + length)
        end = f"{end_minute // 60:02d}:{end_minute % 60:02d}"
        out[day] = [[start, end]]
    return out


@settings(max_examples=60, deadline=None)
@given(
    data=schedules(),
    tz=st.sampled_from(ZONES),
    now=st.datetimes(datetime(2026, 1, 1), datetime(2027, 1, 1)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
)
def test_next_open_is_open_and_not_open_just_before(
    data: dict[str, list[list[str]]], tz: str, now: datetime
) -> None:
    s = parse_schedule(data, tz)
    opened = next_open(s, now)
    assert opened is not None
    assert opened >= now and opened - now <= timedelta(days=8)
    assert is_open(s, opened)
    if opened != now:
        assert not is_open(s, max(now, opened - timedelta(seconds=1)))
