"""The exact drop risk for small teams (Poisson-binomial by convolution) against brute force,
and against the Normal approximation where both apply."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacing.policies import Predictive, _exact_calls, _spill_pmf
from pacing.snapshot import make_snapshot
from tests.pacing.helpers import ACW, ON, A, warm

K = 4
WEIGHTS = np.full(K, 1.0 / K)


def _brute_risk(
    p_sup: np.ndarray, p_dem: np.ndarray, waiting: float, f: np.ndarray, m: int
) -> float:
    """P(the (m+1)-th new call finds no agent): every outcome of every term enumerated."""
    risks = []
    for k in range(K):
        probs = [*p_sup[:, k], *p_dem[:, k], *([f[k]] * m)]
        signs = [-1] * p_sup.shape[0] + [1] * (p_dem.shape[0] + m)
        total = 0.0
        for outcome in itertools.product((0, 1), repeat=len(probs)):
            weight = 1.0
            for o, p in zip(outcome, probs, strict=True):
                weight *= p if o else 1.0 - p
            if waiting + sum(s * o for s, o in zip(signs, outcome, strict=True)) >= 0:
                total += weight
        risks.append(total)
    return float(np.mean(risks))


probability = st.floats(0.0, 1.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(probability, min_size=K, max_size=K), min_size=0, max_size=4),
    st.lists(st.lists(probability, min_size=K, max_size=K), min_size=0, max_size=3),
    st.integers(0, 2),
    st.lists(st.floats(0.01, 0.9), min_size=K, max_size=K),
    st.floats(0.001, 0.6),
)
def test_exact_calls_match_brute_force_enumeration(
    sup: list[list[float]], dem: list[list[float]], waiting: int, f: list[float], theta: float
) -> None:
    p_sup = np.array(sup, dtype=np.float64).reshape(-1, K)
    p_dem = np.array(dem, dtype=np.float64).reshape(-1, K)
    f_new = np.array(f)
    calls, risk = _exact_calls(p_sup, p_dem, float(waiting), f_new, WEIGHTS, theta, limit=6)
    # Every call placed had a risk within theta; the next one (if not at the limit) did not.
    for m in range(calls):
        assert _brute_risk(p_sup, p_dem, waiting, f_new, m) <= theta + 1e-9
    if calls < 6:
        assert abs(_brute_risk(p_sup, p_dem, waiting, f_new, calls) - risk) < 1e-9
        assert risk > theta


def test_one_free_agent_takes_one_call_when_two_would_risk_a_drop() -> None:
    p_sup = np.ones((1, K))
    f_new = np.full(K, 0.4)  # each new call is live and routed before horizon k with p 0.4
    # First call: nobody else competes (risk 0); second: dropped if the first was live (0.4).
    assert _exact_calls(p_sup, np.zeros((0, K)), 0.0, f_new, WEIGHTS, theta=0.3) == (1, 0.4)
    calls, _ = _exact_calls(p_sup, np.zeros((0, K)), 0.0, f_new, WEIGHTS, theta=0.5)
    assert calls >= 2


def test_a_caller_already_waiting_uses_up_the_free_agent() -> None:
    # The risk is the call's, if it is live: here it would surely find nobody.
    p_sup = np.ones((1, K))
    calls, risk = _exact_calls(p_sup, np.zeros((0, K)), 1.0, np.full(K, 0.4), WEIGHTS, 0.3)
    assert calls == 0 and risk == 1.0


def _busy_snapshot(agents: int, calls: int) -> tuple[list[int], list[float], list[float]]:
    rng = np.random.default_rng(agents)
    states = [A if i % 10 == 0 else (ON if i % 3 else ACW) for i in range(agents)]
    times = [float(t) for t in rng.uniform(0, 150, agents)]
    dials = [float(t) for t in 1000.0 - rng.uniform(0, 20, calls)]
    return states, times, dials


def test_small_teams_use_the_exact_risk_and_large_ones_the_normal() -> None:
    small, large = Predictive(), Predictive()
    for policy in (small, large):
        warm(policy)
    s_states, s_times, s_dials = _busy_snapshot(5, 6)
    l_states, l_times, l_dials = _busy_snapshot(200, 150)
    assert (
        small.decide(make_snapshot(1000.0, s_states, s_times, s_dials)).quantities["exact_risk"]
        == 1.0
    )
    assert (
        large.decide(make_snapshot(1000.0, l_states, l_times, l_dials)).quantities["exact_risk"]
        == 0.0
    )


def test_exact_and_normal_agree_closely_on_a_mid_sized_team() -> None:
    # Same policy state, same snapshot: 60 agents and 5 calls in flight, where the Normal
    # approximation is good; the two ways of computing the risk place nearly the same calls.
    exact, normal = Predictive(exact_max_terms=10_000), Predictive(exact_max_terms=0)
    for policy in (exact, normal):
        warm(policy)
    states, times, dials = _busy_snapshot(60, 5)
    snap = make_snapshot(1000.0, states, times, dials)
    a, b = exact.decide(snap).calls, normal.decide(snap).calls
    assert a > 0 and b > 0
    assert abs(a - b) <= max(2, 0.15 * max(a, b))


# -- callers with priority (inbound arrivals, pacing.blend) as a Poisson demand ------------


def test_spill_pmf_is_the_poisson_count_beyond_the_absorbed_agents() -> None:
    mean = np.array([0.0, 0.1, 0.5, 2.0])
    pmf = _spill_pmf(mean)
    assert np.allclose(pmf.sum(axis=1), 1.0)
    for k, mu in enumerate(mean):
        for j in range(6):
            assert pmf[k, j] == pytest.approx(math.exp(-mu) * mu**j / math.factorial(j))
    one = _spill_pmf(mean, absorbed=1)
    # max(0, A - 1): P(0) = P(A <= 1), P(j) = P(A = j + 1); its mean is E[A] - 1 + P(A = 0)
    assert one[2, 0] == pytest.approx(math.exp(-0.5) * 1.5)
    assert one[3, 1] == pytest.approx(math.exp(-2.0) * 2.0**2 / 2)
    j = np.arange(one.shape[1])
    assert one @ j == pytest.approx(mean - 1.0 + np.exp(-mean))


def _brute_risk_with_extra(
    p_sup: np.ndarray, waiting: float, f: np.ndarray, m: int, extra: np.ndarray
) -> float:
    """As _brute_risk, with an independent extra demand of pmf ``extra[k]`` added."""
    risks = []
    for k in range(K):
        probs = [*p_sup[:, k], *([f[k]] * m)]
        signs = [-1] * p_sup.shape[0] + [1] * m
        total = 0.0
        for outcome in itertools.product((0, 1), repeat=len(probs)):
            weight = 1.0
            for o, p in zip(outcome, probs, strict=True):
                weight *= p if o else 1.0 - p
            y = waiting + sum(s * o for s, o in zip(signs, outcome, strict=True))
            total += weight * float(extra[k, max(0, math.ceil(-y)) :].sum())
        risks.append(total)
    return float(np.mean(risks))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(probability, min_size=K, max_size=K), min_size=0, max_size=4),
    st.integers(0, 1),
    st.lists(st.floats(0.01, 0.9), min_size=K, max_size=K),
    st.floats(0.001, 0.6),
    st.lists(st.floats(0.0, 1.5), min_size=K, max_size=K),
    st.integers(0, 2),
)
def test_exact_calls_with_priority_demand_match_brute_force(
    sup: list[list[float]],
    waiting: int,
    f: list[float],
    theta: float,
    means: list[float],
    absorbed: int,
) -> None:
    p_sup = np.array(sup, dtype=np.float64).reshape(-1, K)
    f_new = np.array(f)
    extra = _spill_pmf(np.array(means), absorbed)
    calls, risk = _exact_calls(
        p_sup, np.zeros((0, K)), float(waiting), f_new, WEIGHTS, theta, limit=5, extra=extra
    )
    for m in range(calls):
        assert _brute_risk_with_extra(p_sup, waiting, f_new, m, extra) <= theta + 1e-9
    if calls < 5:
        assert abs(_brute_risk_with_extra(p_sup, waiting, f_new, calls, extra) - risk) < 1e-9
        assert risk > theta


def test_one_free_agent_and_an_expected_caller_risk_the_first_call() -> None:
    # One sure agent: without callers the first call is safe; a caller arriving with
    # probability 1 - e^-0.2 takes the agent first, so the first call risks exactly that.
    p_sup = np.ones((1, K))
    extra = _spill_pmf(np.full(K, 0.2))
    calls, risk = _exact_calls(
        p_sup, np.zeros((0, K)), 0.0, np.full(K, 1.0), WEIGHTS, 0.1, extra=extra
    )
    assert (calls, risk) == (0, pytest.approx(1.0 - math.exp(-0.2)))
    # ... unless an agent held idle for the callers takes the first of them
    held = _spill_pmf(np.full(K, 0.2), absorbed=1)
    calls, risk = _exact_calls(
        p_sup, np.zeros((0, K)), 0.0, np.full(K, 1.0), WEIGHTS, 0.1, extra=held
    )
    assert calls == 1 and risk == pytest.approx(1.0)


def test_no_priority_rate_leaves_the_decision_unchanged() -> None:
    plain, zero = Predictive(), Predictive()
    for policy in (plain, zero):
        warm(policy)
    for agents, calls in ((5, 6), (200, 150)):
        states, times, dials = _busy_snapshot(agents, calls)
        snap = make_snapshot(1000.0, states, times, dials)
        none = dataclasses.replace(snap, priority_rate=0.0, priority_absorbed=3)
        a, b = plain.decide(snap), zero.decide(none)
        assert (a.calls, a.quantities) == (b.calls, b.quantities)


def test_expected_callers_with_priority_mean_fewer_calls_exact_and_normal() -> None:
    small = make_snapshot(1000.0, [A] * 3 + [ON] * 2, [5.0] * 3 + [90.0] * 2)
    large = make_snapshot(1000.0, *_busy_snapshot(200, 150))
    for snap, method in ((small, 1.0), (large, 0.0)):
        plain, busy = Predictive(), Predictive()
        for policy in (plain, busy):
            warm(policy)
        callers = dataclasses.replace(snap, priority_rate=0.5)  # a caller every 2 s first
        a, b = plain.decide(snap), busy.decide(callers)
        assert b.quantities["exact_risk"] == a.quantities["exact_risk"] == method
        assert b.calls < a.calls
