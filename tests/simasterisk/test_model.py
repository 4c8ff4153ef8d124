"""The seeded model of called parties."""

from __future__ import annotations

from collections import Counter

import pytest

from dialer.simasterisk.model import NumberModel, PartyKind


def test_the_same_seed_gives_the_same_calls() -> None:
    a, b = NumberModel(seed=7), NumberModel(seed=7)
    numbers = [f"1555{n:07d}" for n in range(200)]
    assert [a.decide(n) for n in numbers] == [b.decide(n) for n in numbers]


def test_another_seed_gives_other_calls() -> None:
    numbers = [f"1555{n:07d}" for n in range(200)]
    first = [NumberModel(seed=1).decide(n).kind for n in numbers]
    second = [NumberModel(seed=2).decide(n).kind for n in numbers]
    assert first != second


def test_a_retry_of_a_number_is_a_new_draw() -> None:
    model = NumberModel(
        seed=3, p_busy=0.5, p_no_answer=0.0, p_machine=0.0, p_congestion=0.0, p_invalid=0.0
    )
    kinds = {model.decide("15550000001", attempt).kind for attempt in range(1, 30)}
    assert kinds == {PartyKind.BUSY, PartyKind.HUMAN}


def test_outcome_frequencies_follow_the_probabilities() -> None:
    model = NumberModel(
        seed=11, p_machine=0.2, p_busy=0.1, p_no_answer=0.3, p_congestion=0.05, p_invalid=0.05
    )
    n = 20_000
    counts = Counter(model.decide(f"1555{i:07d}").kind for i in range(n))
    expected = {
        PartyKind.MACHINE: 0.2,
        PartyKind.BUSY: 0.1,
        PartyKind.NO_ANSWER: 0.3,
        PartyKind.CONGESTION: 0.05,
        PartyKind.INVALID: 0.05,
        PartyKind.HUMAN: 0.3,
    }
    for kind, p in expected.items():
        # 5 standard deviations of a binomial proportion: a real bias fails, noise does not.
        sd = (p * (1 - p) / n) ** 0.5
        assert abs(counts[kind] / n - p) < 5 * sd, kind


def test_overrides_pin_a_number() -> None:
    model = NumberModel(overrides={"15550000009": PartyKind.MACHINE})
    assert all(model.decide("15550000009", k).kind is PartyKind.MACHINE for k in range(1, 5))


def test_ring_and_talk_times_are_positive_with_their_medians_near_the_setting() -> None:
    model = NumberModel(seed=5, ring_median_s=10.0, talk_median_s=60.0)
    draws = [model.decide(f"1555{i:07d}") for i in range(4001)]
    humans = sorted(d.ring_s for d in draws if d.kind is PartyKind.HUMAN)
    talks = sorted(d.talk_s for d in draws if d.kind is PartyKind.HUMAN)
    assert min(humans) > 0
    assert 8.5 < humans[len(humans) // 2] < 11.5
    assert 50 < talks[len(talks) // 2] < 70


def test_probabilities_over_one_are_refused() -> None:
    with pytest.raises(ValueError, match="add up"):
        NumberModel(p_machine=0.6, p_busy=0.6)
