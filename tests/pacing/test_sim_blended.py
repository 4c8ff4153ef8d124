"""The simulator with an inbound queue: every caller one outcome, inbound first, same seed same
results, and outbound dialing paused while callers wait."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacing.decision import Decision
from pacing.guard import Guard
from pacing.scenario import Scenario, load_scenario
from pacing.sim import inbound_load_erlangs, inbound_rate_per_s, make_policy, simulate, summarise
from pacing.snapshot import Snapshot

BLEND = Scenario(
    name="blend_short",
    agents=8,
    shift_hours=0.5,
    talk_mean_s=90.0,
    talk_sd_s=60.0,
    acw_mean_s=10.0,
    acw_sd_s=5.0,
    inbound_rate_per_hour=60.0,
    inbound_talk_mean_s=120.0,
    inbound_talk_sd_s=60.0,
    inbound_acw_mean_s=15.0,
    inbound_acw_sd_s=5.0,
    inbound_patience_mean_s=40.0,
)


class Recording(Guard):
    """A guard that keeps every snapshot it was asked about and its decision."""

    def __init__(self, inner: Guard) -> None:
        super().__init__(inner.policy, inner.config, campaign=inner.campaign)
        self.seen: list[tuple[Snapshot, Decision]] = []

    def decide(self, snapshot: Snapshot) -> Decision:
        decision = super().decide(snapshot)
        self.seen.append((snapshot, decision))
        return decision


def test_same_seed_same_results() -> None:
    assert simulate(BLEND, "predictive", 4) == simulate(BLEND, "predictive", 4)


@pytest.mark.parametrize("reserve", [True, False])
@pytest.mark.parametrize("policy", ["progressive", "ratio2", "predictive"])
def test_every_inbound_caller_is_answered_or_abandons_once(policy: str, reserve: bool) -> None:
    result = simulate(BLEND, make_policy(policy, BLEND, reserve=reserve), 1)
    assert result.inbound_offered > 0
    assert result.inbound_outcomes() == result.inbound_offered
    assert result.outcomes() == result.placed  # and every outbound call still ends once


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    agents=st.integers(1, 6),
    rate=st.floats(10.0, 400.0),
    patience=st.sampled_from(["exponential", "lognormal"]),
)
def test_inbound_outcomes_add_up_for_any_load(
    seed: int, agents: int, rate: float, patience: str
) -> None:
    s = dataclasses.replace(
        BLEND,
        agents=agents,
        shift_hours=0.2,
        inbound_rate_per_hour=rate,
        inbound_patience=patience,
    )
    r = simulate(s, "progressive", seed)
    assert r.inbound_outcomes() == r.inbound_offered
    assert r.inbound_answered_within <= r.inbound_answered
    assert 0.0 <= r.inbound_service_level <= 1.0


def test_service_level_is_answered_within_the_threshold_over_offered() -> None:
    r = simulate(BLEND, "predictive", 2)
    assert r.inbound_service_level == pytest.approx(r.inbound_answered_within / r.inbound_offered)
    assert r.inbound_abandon_rate == pytest.approx(r.inbound_abandoned / r.inbound_offered)


def test_callers_abandon_when_no_agent_comes() -> None:
    # one agent, six callers a minute-and-a-half talk each: the queue overflows
    crowded = dataclasses.replace(BLEND, agents=1, inbound_rate_per_hour=200.0)
    r = simulate(crowded, "preview", 0)
    assert r.inbound_abandoned > 0
    assert r.inbound_mean_wait_all_s > 0


def test_no_outbound_call_is_placed_while_inbound_callers_wait() -> None:
    busy = dataclasses.replace(BLEND, agents=4, inbound_rate_per_hour=150.0)
    pacer = Recording(make_policy("ratio2", busy))
    simulate(busy, pacer, 0)
    waited = [d.calls for snap, d in pacer.seen if snap.inbound_waiting > 0]
    assert waited, "the scenario should make callers wait sometimes"
    assert all(calls == 0 for calls in waited)


def test_inbound_callers_are_the_same_under_every_policy() -> None:
    # common random numbers: the inbound stream does not depend on the pacing
    a = simulate(BLEND, "progressive", 3)
    b = simulate(BLEND, make_policy("ratio2", BLEND, reserve=False), 3)
    assert a.inbound_offered == b.inbound_offered


def test_the_reservation_rises_with_a_mid_shift_surge() -> None:
    surge = dataclasses.replace(
        load_scenario("surge20"), shift_hours=2.0, inbound_surge_at_hours=1.0
    )
    pacer = Recording(make_policy("progressive", surge))
    simulate(surge, pacer, 0)
    before = [d.quantities["inbound_rate_per_h"] for s, d in pacer.seen if 3000 <= s.now < 3600]
    during = [d.quantities["inbound_rate_per_h"] for s, d in pacer.seen if 6600 <= s.now < 7200]
    assert max(during) > 1.5 * max(before)


def test_outbound_only_results_carry_no_inbound_figures() -> None:
    plain = dataclasses.replace(BLEND, inbound_rate_per_hour=None)
    out = simulate(plain, "progressive", 0).to_json()
    assert "inbound_service_level" not in out and "outbound_utilisation" not in out
    blended = simulate(BLEND, "progressive", 0).to_json()
    assert blended["blended"] is True and "inbound_service_level" in blended


def test_outbound_utilisation_is_outbound_talk_over_the_time_left_after_inbound() -> None:
    r = simulate(BLEND, "predictive", 0)
    logged_in = BLEND.agents * BLEND.shift_hours * 3600
    talk = r.utilisation * logged_in
    left = logged_in * (1 - r.inbound_occupancy - r.inbound_pause_share)
    assert r.outbound_utilisation == pytest.approx(talk / left)


def test_the_pause_after_an_inbound_call_is_the_callers_time_not_outbound_spare_time() -> None:
    # Every call is followed by a pause, so each answered caller leaves one behind.
    pausing = dataclasses.replace(BLEND, pause_probability=1.0, pause_mean_s=60.0, pause_sd_s=1.0)
    r = simulate(pausing, "progressive", 0)
    logged_in = BLEND.agents * BLEND.shift_hours * 3600
    assert r.inbound_answered > 10
    # about a minute per answered caller; the last ones' pauses are cut at the shift's end
    assert 0.8 * 60 * r.inbound_answered < r.inbound_pause_share * logged_in
    assert r.inbound_pause_share * logged_in <= 60.5 * r.inbound_answered
    assert simulate(BLEND, "progressive", 0).inbound_pause_share < r.inbound_pause_share


def test_the_inbound_load_counts_the_pause_a_caller_leaves_behind() -> None:
    flat = dataclasses.replace(BLEND, shift_hours=8.0, pause_probability=0.5, pause_mean_s=100.0)
    assert inbound_load_erlangs(flat) == pytest.approx(60 / 3600 * (135.0 + 50.0))


def test_the_rate_profile_follows_the_scenario() -> None:
    s = dataclasses.replace(
        BLEND,
        shift_hours=8.0,
        inbound_sine_amplitude=0.5,
        inbound_sine_period_hours=8.0,
        inbound_surge_at_hours=6.0,
        inbound_surge_hours=1.0,
        inbound_surge_factor=3.0,
    )
    assert inbound_rate_per_s(s, 0.0) * 3600 == pytest.approx(60.0)
    assert inbound_rate_per_s(s, 2 * 3600.0) * 3600 == pytest.approx(90.0)  # sine peak
    assert inbound_rate_per_s(s, 6.5 * 3600.0) * 3600 == pytest.approx(
        3 * 60 * (1 + 0.5 * math.sin(2 * math.pi * 6.5 / 8))
    )
    flat = dataclasses.replace(BLEND, shift_hours=8.0, pause_probability=0.0)
    assert inbound_load_erlangs(flat) == pytest.approx(60 / 3600 * 135.0)


def test_summary_adds_the_inbound_means() -> None:
    runs = [simulate(BLEND, "progressive", s) for s in range(2)]
    summary = summarise(runs)
    assert summary["min_inbound_service_level"] == min(r.inbound_service_level for r in runs)
    assert summary["inbound_service_level"] == pytest.approx(
        (runs[0].inbound_service_level + runs[1].inbound_service_level) / 2
    )
