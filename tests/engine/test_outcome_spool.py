"""The outcome spool's file (dialer/engine/outcome_spool.py): what is kept is read back whole."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.engine.outcome_spool import OutcomeSpool, SpoolLineError, decode, encode
from store.attempts import AttemptOutcome
from store.enums import CallOutcome

ENDED = dt.datetime(2026, 12, 4, 15, 30, 12, 345678, tzinfo=dt.UTC)

times = st.none() | st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)
small = st.none() | st.integers(min_value=0, max_value=2**31)
outcomes = st.builds(
    AttemptOutcome,
    attempt_id=st.integers(min_value=1, max_value=2**62),
    outcome=st.sampled_from(CallOutcome),
    now=st.datetimes(timezones=st.just(dt.UTC)),
    result_id=small,
    hangup_cause=small,
    amd_result=st.none() | st.text(),
    agent_id=small,
    dialed_at=times,
    answered_at=times,
    connected_at=times,
    comments=st.none() | st.text(),
)


@given(outcomes)
def test_an_outcome_comes_back_from_its_line_as_it_went_in(outcome: AttemptOutcome) -> None:
    line = encode(outcome)
    assert "\n" not in line
    assert decode(line, "line 1") == outcome


def test_a_line_that_is_not_an_outcome_is_refused_naming_the_line() -> None:
    good = encode(AttemptOutcome(7, CallOutcome.NO_ANSWER, ENDED))
    for line, why in (
        ('{"attempt_id": 7, "outcome": "no_ans', "not JSON"),
        ("[7]", "not a JSON object"),
        (good.replace('"comments"', '"colour"'), "unknown fields ['colour']"),
        (good.replace("no_answer", "maybe"), "maybe"),
        (good.replace('"now":"2026', '"now":"yesterday'), "yesterday"),
    ):
        with pytest.raises(SpoolLineError) as refused:
            decode(line, "spool line 3")
        assert str(refused.value).startswith("spool line 3: ") and why in str(refused.value)


async def test_a_line_torn_by_a_crash_is_passed_over_and_the_others_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = OutcomeSpool(tmp_path / "dialer-1.outcomes.jsonl")
    first = AttemptOutcome(7, CallOutcome.NO_ANSWER, ENDED)
    second = AttemptOutcome(8, CallOutcome.BUSY, ENDED, hangup_cause=17)
    await spool.keep([first])
    with spool.path.open("a", encoding="utf-8") as f:
        f.write(encode(second)[:20] + "\n")  # the process died mid-write
    await spool.keep([second])
    with caplog.at_level(logging.WARNING, logger="dialer.engine.outcome_spool"):
        kept = spool.read()
    assert kept == [first, second]
    assert f"{spool.path} line 2: not JSON" in caplog.text


async def test_a_cleared_spool_reads_empty_and_a_missing_one_too(tmp_path: Path) -> None:
    spool = OutcomeSpool(tmp_path / "spool" / "dialer-1.outcomes.jsonl")
    assert spool.read() == []
    await spool.keep([AttemptOutcome(7, CallOutcome.NO_ANSWER, ENDED)])
    await spool.clear()
    assert spool.read() == [] and spool.path.exists()


def test_each_process_has_its_own_file_named_safely(tmp_path: Path) -> None:
    assert OutcomeSpool.of_owner(tmp_path, "dialer-1").path == tmp_path / "dialer-1.outcomes.jsonl"
    assert OutcomeSpool.of_owner(tmp_path, "../a b").path.name == ".._a_b.outcomes.jsonl"
