"""The AstDB marks of inbound calls no dialer took (dialer/inbound_marks.py)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from dialer.inbound_marks import InboundMark, mark_days, parse_mark

DAY = "20261204"
UNIQUEID = "1796392828.41"


def test_a_mark_tells_the_call_its_time_did_and_number() -> None:
    mark = parse_mark(f"/dialer_unreached_inbound/{DAY}/{UNIQUEID}", "1796392828 6015550100 5730")
    assert mark == InboundMark(UNIQUEID, 1796392828.0, "6015550100", "5730")


def test_a_call_without_a_number_has_an_empty_one() -> None:
    # ${CALLERID(num)} expands to nothing: the value ends with the DID and a space.
    mark = parse_mark(f"/dialer_unreached_inbound/{DAY}/{UNIQUEID}", "1796392828 6015550100 ")
    assert mark is not None and mark.caller_num == ""


def test_entries_that_are_not_marks_are_passed_over() -> None:
    for key, value in (
        (f"/dialer_unreached_inbound/{DAY}", "1796392828 6015550100 5730"),  # no call
        (f"/dialer_unreached_inbound/{DAY}/{UNIQUEID}/x", "1796392828 6015550100 5730"),
        (f"/dialer_unreached/{DAY}/{UNIQUEID}", "1796392828 6015550100 5730"),  # other family
        (f"/dialer_unreached_inbound/{DAY}/{UNIQUEID}", "yesterday 6015550100 5730"),
        (f"/dialer_unreached_inbound/{DAY}/{UNIQUEID}", "1796392828"),  # no DID
    ):
        assert parse_mark(key, value) is None, (key, value)


def test_the_days_read_are_the_utc_days_of_the_span() -> None:
    late = dt.datetime(2026, 12, 3, 23, 59, 30, tzinfo=dt.UTC).timestamp()
    assert mark_days(late, late + 60) == ["20261203", "20261204"]
    assert mark_days(late, late) == ["20261203"]
    assert mark_days(late + 60, late) == ["20261204"]  # a clock stepped back: the one day


@given(
    since=st.floats(min_value=1.6e9, max_value=1.9e9),
    span=st.floats(min_value=0, max_value=10 * 86400),
    share=st.floats(min_value=0, max_value=1),
)
def test_every_moment_of_the_span_falls_in_a_day_read(
    since: float, span: float, share: float
) -> None:
    days = mark_days(since, since + span)
    written = since + share * span
    assert dt.datetime.fromtimestamp(written, dt.UTC).strftime("%Y%m%d") in days
    assert days == sorted(set(days)) and len(days) <= span // 86400 + 2
