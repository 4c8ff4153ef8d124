"""Reconnect backoff: exponential, capped, jittered, never below half a step."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ami.backoff import reconnect_delay


@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=0, max_value=10_000),
    st.floats(min_value=0.01, max_value=5),
    st.floats(min_value=1, max_value=20),
    st.integers(),
)
def test_a_delay_lies_between_half_a_step_and_a_whole_step(
    attempt: int, base: float, factor: float, seed: int
) -> None:
    cap = base * factor
    step = min(cap, base * 2 ** min(attempt, 64))
    delay = reconnect_delay(attempt, base=base, cap=cap, rng=random.Random(seed))
    assert step / 2 <= delay <= step


def test_steps_double_until_the_cap() -> None:
    # With the random half at its maximum the delay is the whole step.
    class Top(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    delays = [reconnect_delay(n, base=0.5, cap=30, rng=Top()) for n in range(9)]
    assert delays == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]


def test_two_dialers_do_not_retry_in_lockstep() -> None:
    a = reconnect_delay(5, base=0.5, cap=30, rng=random.Random(1))
    b = reconnect_delay(5, base=0.5, cap=30, rng=random.Random(2))
    assert a != b


@pytest.mark.parametrize(("attempt", "base", "cap"), [(-1, 1, 2), (0, 0, 2), (0, 3, 2)])
def test_nonsense_settings_are_refused(attempt: int, base: float, cap: float) -> None:
    with pytest.raises(ValueError, match=r"attempt|base"):
        reconnect_delay(attempt, base=base, cap=cap, rng=random.Random(0))
