"""Inbound queues: Erlang C against published figures, the blended pool's reserve, estimators."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacing.events import Event, EventKind
from pacing.inbound import (
    ArrivalRate,
    Inbound,
    InboundPriors,
    MeanEstimator,
    QueueTarget,
    agents_for_service_level,
    blended_service_level,
    erlang_c,
    reserve_for,
    service_level,
)

# -- Erlang C, a dedicated group -----------------------------------------------------------


def test_erlang_c_matches_the_textbook_table_for_ten_erlangs() -> None:
    # P(wait) for A = 10 erlangs, the values printed in Erlang C tables (e.g. 11 agents: 68.2 %)
    assert erlang_c(11, 10.0) == pytest.approx(0.6821, abs=1e-4)
    assert erlang_c(12, 10.0) == pytest.approx(0.4494, abs=1e-4)
    assert erlang_c(13, 10.0) == pytest.approx(0.2853, abs=1e-4)


def test_the_classic_staffing_example_needs_fourteen_agents() -> None:
    # 100 calls per half hour, 180 s handle time, 80 % within 20 s: 13 agents give 79.6 %,
    # 14 agents 88.8 %
    rate = 100 / 1800
    assert service_level(13, rate, 180.0, 20.0) == pytest.approx(0.7956, abs=1e-3)
    assert service_level(14, rate, 180.0, 20.0) == pytest.approx(0.8884, abs=1e-3)
    assert agents_for_service_level(rate, 180.0, 0.8, 20.0) == 14


def test_the_footbridge_call_calc_example() -> None:
    # al911.org, "Erlang C Call Calc": 2 call takers, 30 calls/h of 60 s: fewer than 8 % wait
    # over 10 s; with 20 s of record work after each call (80 s) it rises to 14 %.
    assert 1 - service_level(2, 30 / 3600, 60.0, 10.0) == pytest.approx(0.078, abs=1e-3)
    assert 1 - service_level(2, 30 / 3600, 80.0, 10.0) == pytest.approx(0.141, abs=1e-3)


def test_an_overloaded_group_never_meets_any_service_level() -> None:
    assert erlang_c(5, 5.0) == 1.0
    assert service_level(5, 1.0, 6.0, 20.0) == 0.0


# -- the blended pool ----------------------------------------------------------------------


def test_with_no_idle_agent_held_a_caller_waits_for_the_next_release() -> None:
    # all 20 agents busy, releases at 20 / 230 s: the wait is exponential at nu - lambda
    rate, nu = 60 / 3600, 20 / 230
    sl = blended_service_level(4, 20.0, rate, 230.0, 20.0)
    assert sl[0] == pytest.approx(1 - math.exp(-(nu - rate) * 20.0))


def test_holding_more_idle_agents_raises_the_service_level() -> None:
    sl = blended_service_level(6, 20.0, 80 / 3600, 230.0, 20.0)
    assert np.all(np.diff(sl) > 0)
    assert sl[-1] > 0.999


def test_a_pool_releasing_slower_than_callers_arrive_cannot_hold_any_level() -> None:
    assert np.all(blended_service_level(3, 2.0, 1 / 60, 300.0, 20.0) == 0.0)


def test_a_blended_pool_holds_fewer_agents_than_a_dedicated_group_needs() -> None:
    # the pool's releases serve the queue too, so the idle reserve is below the dedicated
    # Erlang C group minus the load
    r = reserve_for({"": (QueueTarget(0.8, 20.0), 90 / 3600)}, 270.0, 230.0, 20.0)
    assert r.reserve < r.dedicated_agents - r.load_erlangs
    assert r.predicted_service_level >= 0.8


@settings(max_examples=60, deadline=None)
@given(
    low=st.floats(1.0, 300.0),
    factor=st.floats(1.0, 3.0),
    agents=st.integers(5, 200),
    target=st.floats(0.5, 0.95),
)
def test_the_reserve_grows_with_the_arrival_rate(
    low: float, factor: float, agents: int, target: float
) -> None:
    q = QueueTarget(target, 20.0)

    def reserve(per_hour: float) -> int:
        return reserve_for({"": (q, per_hour / 3600)}, 270.0, 230.0, float(agents)).reserve

    assert reserve(low) <= reserve(low * factor)


def test_every_queue_target_is_met_by_the_shared_reserve() -> None:
    strict, loose = QueueTarget(0.9, 10.0), QueueTarget(0.8, 30.0)
    both = reserve_for({"vip": (strict, 0.01), "general": (loose, 0.01)}, 270.0, 230.0, 20.0)
    alone = reserve_for({"vip": (strict, 0.02)}, 270.0, 230.0, 20.0)
    assert both.binding_queue == "vip"
    assert both.reserve == alone.reserve  # first come, first served: the merged stream counts
    assert all(sl >= 0.8 for sl in both.per_queue.values())


# -- estimators ----------------------------------------------------------------------------


def test_the_arrival_rate_follows_a_change_in_the_rate() -> None:
    rng = np.random.default_rng(0)
    est = ArrivalRate(60 / 3600, half_life_s=600.0)
    est.start(0.0)
    t = 0.0
    while t < 7200:  # two hours at 60/h
        t += rng.exponential(60.0)
        est.observe(t)
    assert est.value(7200.0) * 3600 == pytest.approx(60, rel=0.35)
    while t < 10800:  # then an hour at 240/h
        t += rng.exponential(15.0)
        est.observe(t)
    assert est.value(10800.0) * 3600 == pytest.approx(240, rel=0.3)


def test_a_silent_queue_decays_towards_zero() -> None:
    est = ArrivalRate(60 / 3600, half_life_s=600.0)
    est.start(0.0)
    assert est.value(0.0) * 3600 == pytest.approx(60)
    assert est.value(7200.0) * 3600 < 1  # the prior fades with the observations' weight


def test_the_prior_fades_so_a_steady_rate_is_estimated_without_its_bias() -> None:
    # a prior of 60/h against a queue that gets 25/h (one caller every 144 s) for two hours
    est = ArrivalRate(60 / 3600, half_life_s=600.0)
    est.start(0.0)
    for i in range(1, 51):
        est.observe(144.0 * i)
    assert est.value(7272.0) * 3600 == pytest.approx(25, rel=0.05)  # half-way to the next


def test_the_mean_estimator_follows_recent_observations() -> None:
    est = MeanEstimator(100.0, half_life=200.0)
    for _ in range(1000):
        est.observe(200.0)
    for _ in range(1000):
        est.observe(300.0)
    assert est.value == pytest.approx(300.0, rel=0.03)  # the old values and the prior fade
    with pytest.raises(ValueError):
        est.observe(float("nan"))


def test_handle_time_is_talk_plus_acw_per_queue() -> None:
    inbound = Inbound({"sales": QueueTarget()})
    for i in range(400):
        inbound.observe(Event(EventKind.INBOUND_TALK_ENDED, float(i), 200.0, "sales"))
        inbound.observe(Event(EventKind.INBOUND_ACW_ENDED, float(i), 40.0, "sales"))
    assert inbound.queues["sales"].handle_s == pytest.approx(240.0, rel=0.02)
    assert inbound.pool_handle_s == pytest.approx(240.0, rel=0.05)


def test_late_answers_and_abandons_add_agents_to_the_models_reserve() -> None:
    inbound = Inbound(priors=InboundPriors(rate_per_hour=120.0))
    model = inbound.reservation(0.0, 20.0).reserve
    for i in range(20):
        inbound.observe(Event(EventKind.INBOUND_ABANDONED, float(i), 30.0))
        inbound.reservation(float(i), 20.0)
    assert inbound.queues[""].offset > 0
    assert inbound.reservation(20.0, 20.0).reserve > model


def test_prompt_answers_take_agents_off_the_reserve_down_to_none() -> None:
    inbound = Inbound(priors=InboundPriors(rate_per_hour=120.0))
    assert inbound.reservation(0.0, 20.0).reserve > 0
    for i in range(1000):
        inbound.observe(Event(EventKind.INBOUND_ANSWERED, float(i), 0.0))
        inbound.reservation(0.0, 20.0)
    r = inbound.reservation(0.0, 20.0)
    assert r.reserve == 0
    # no wind-up below nothing held: one reserve's worth of misses brings agents back
    assert r.model_reserve + inbound.queues[""].offset > -0.2


def test_a_fraction_of_an_agent_can_be_held() -> None:
    r = reserve_for({"": (QueueTarget(0.8, 20.0), 60 / 3600)}, 270.0, 230.0, 20.0)
    assert 0 < r.reserve < 1  # between holding none (75 %) and one (95 %)
    assert r.predicted_service_level == pytest.approx(0.8)


def test_inbound_outcomes_are_counted_per_queue() -> None:
    inbound = Inbound()
    inbound.observe(Event(EventKind.INBOUND_ARRIVED, 1.0, queue="a"))
    inbound.observe(Event(EventKind.INBOUND_ANSWERED, 5.0, 4.0, "a"))
    inbound.observe(Event(EventKind.INBOUND_ARRIVED, 2.0, queue="b"))
    inbound.observe(Event(EventKind.INBOUND_ABANDONED, 40.0, 38.0, "b"))
    a, b = inbound.queues["a"], inbound.queues["b"]
    assert (a.offered, a.answered, a.within, a.abandoned) == (1, 1, 1, 0)
    assert (b.offered, b.answered, b.abandoned) == (1, 0, 1)


def test_targets_are_validated() -> None:
    with pytest.raises(ValueError, match="service_level"):
        QueueTarget(1.2, 20.0)
    with pytest.raises(ValueError, match="threshold_s"):
        QueueTarget(0.8, -1.0)
