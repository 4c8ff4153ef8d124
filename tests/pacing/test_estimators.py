"""Estimators: cold-start priors, convergence, and following a change mid-shift."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacing.estimators import CampaignEstimators, DurationEstimator, RateEstimator, erf
from pacing.events import Event, EventKind


def test_rate_starts_at_its_prior() -> None:
    assert RateEstimator(0.25).value == pytest.approx(0.25)


def test_rate_converges_to_the_observed_proportion() -> None:
    rng = np.random.default_rng(3)
    est = RateEstimator(0.5, half_life=500)
    for hit in rng.random(5000) < 0.3:
        est.observe(bool(hit))
    assert est.value == pytest.approx(0.3, abs=0.03)


def test_rate_follows_a_change_mid_shift() -> None:
    rng = np.random.default_rng(4)
    est = RateEstimator(0.3, half_life=200)
    for hit in rng.random(2000) < 0.35:
        est.observe(bool(hit))
    for hit in rng.random(1500) < 0.12:
        est.observe(bool(hit))
    assert est.value == pytest.approx(0.12, abs=0.03)


def test_duration_mean_converges() -> None:
    rng = np.random.default_rng(5)
    est = DurationEstimator(60.0, 30.0, half_life=2000)
    samples = rng.lognormal(np.log(150), 0.5, 4000)
    for s in samples:
        est.observe(float(s))
    assert est.mean() == pytest.approx(float(samples.mean()), rel=0.03)


def test_duration_follows_a_change() -> None:
    rng = np.random.default_rng(6)
    est = DurationEstimator(180.0, 120.0, half_life=200)
    for s in rng.lognormal(np.log(200), 0.4, 2000):
        est.observe(float(s))
    for s in rng.lognormal(np.log(60), 0.4, 2000):
        est.observe(float(s))
    assert est.mean() == pytest.approx(60 * math.exp(0.08), rel=0.08)


def test_duration_prior_gives_the_prior_mean() -> None:
    assert DurationEstimator(30.0, 10.0).mean() == pytest.approx(30.0, rel=0.05)


def test_negative_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="duration"):
        DurationEstimator(30.0, 10.0).observe(-1.0)


def test_campaign_estimators_learn_the_live_rate_from_outcomes() -> None:
    est = CampaignEstimators(half_life=10_000)
    for i in range(1000):
        # 40 % answered; of those, 75 % routed to agents, the rest machines
        if i % 10 < 6:
            est.observe(Event(EventKind.CALL_UNANSWERED, i, 25.0))
        elif i % 10 < 9:
            est.observe(Event(EventKind.CALL_ROUTED, i, 10.0))
        else:
            est.observe(Event(EventKind.CALL_MACHINE, i, 10.0))
    assert est.answer.value == pytest.approx(0.4, abs=0.01)
    assert est.live_rate == pytest.approx(0.3, abs=0.01)


@settings(max_examples=60, deadline=None)
@given(st.floats(-6, 6))
def test_erf_matches_the_standard_library(x: float) -> None:
    assert float(erf(np.array([x]))[0]) == pytest.approx(math.erf(x), abs=2e-7)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0, 3000), min_size=1, max_size=50))
def test_quantiles_are_ordered(samples: list[float]) -> None:
    est = DurationEstimator(100.0, 50.0)
    for s in samples:
        est.observe(s)
    q = est.quantiles(np.linspace(0.05, 0.95, 10))
    assert np.all(np.diff(q) >= 0)
