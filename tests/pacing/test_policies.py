"""Each policy's decision on hand-built snapshots."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacing.baselines import AdaptTapered
from pacing.events import Event, EventKind
from pacing.policies import Agentless, Predictive, Preview, Progressive
from pacing.snapshot import Snapshot, make_snapshot, shares_for_campaigns
from tests.pacing.helpers import ACW, ON, A, warm


def test_preview_places_nothing() -> None:
    snap = make_snapshot(0.0, [A, A, A], [5.0, 5.0, 5.0])
    assert Preview().decide(snap).calls == 0


def test_progressive_is_free_agents_less_calls_in_flight() -> None:
    snap = make_snapshot(100.0, [A, A, A, ON], [1, 1, 1, 1], call_dial_times=[95.0])
    assert Progressive(1.0).decide(snap).calls == 2


def test_progressive_ratio_multiplies_free_agents() -> None:
    snap = make_snapshot(100.0, [A, A, A, ON], [1, 1, 1, 1], call_dial_times=[95.0])
    assert Progressive(2.0).decide(snap).calls == 5


def test_progressive_counts_live_answers_waiting() -> None:
    snap = make_snapshot(100.0, [A, A, A], [1, 1, 1], calls_waiting=2)
    assert Progressive(1.0).decide(snap).calls == 1


def test_progressive_never_negative() -> None:
    snap = make_snapshot(100.0, [A, ON], [1, 1], call_dial_times=[99.0, 98.0, 97.0])
    assert Progressive(1.0).decide(snap).calls == 0


def test_agentless_fills_channels_at_its_call_rate() -> None:
    snap = make_snapshot(0.0, [], [], call_dial_times=[0.0] * 4, channels_in_use=4)
    assert Agentless(channels=10, calls_per_s=3).decide(snap).calls == 3
    full = make_snapshot(0.0, [], [], channels_in_use=9)
    assert Agentless(channels=10, calls_per_s=3).decide(full).calls == 1


def test_shared_agents_are_counted_once_over_campaigns() -> None:
    # 6 free agents, all logged in to both campaigns: each campaign counts half of each.
    campaigns = [frozenset({"sales", "renewals"})] * 6
    states, tis = [A] * 6, [1.0] * 6
    sales = make_snapshot(0, states, tis, agent_share=shares_for_campaigns(campaigns, "sales"))
    renew = make_snapshot(0, states, tis, agent_share=shares_for_campaigns(campaigns, "renewals"))
    policy = Progressive(1.0)
    assert policy.decide(sales).calls + policy.decide(renew).calls == 6


def test_shares_give_zero_to_other_campaigns_agents() -> None:
    shares = shares_for_campaigns([frozenset({"a"}), frozenset({"a", "b"}), frozenset({"b"})], "a")
    assert shares.tolist() == [1.0, 0.5, 0.0]


def test_predictive_is_progressive_while_warming_up() -> None:
    policy = Predictive()
    snap = make_snapshot(0.0, [A, A, A, ON], [1, 1, 1, 1])
    decision = policy.decide(snap)
    assert decision.calls == 3
    assert "warming up" in decision.reason


def _warm_predictive(acw_s: float = 10.0) -> Predictive:
    policy = Predictive(theta=0.03, gain=0.0)  # gain 0: hold theta still for the test
    warm(policy, acw_s=acw_s)  # live rate 0.5, routing after 10 s, talk 100 s, ACW 10 s
    return policy


def test_predictive_places_nothing_when_no_agent_can_be_free_in_time() -> None:
    policy = _warm_predictive()
    snap = make_snapshot(5000.0, [ON] * 4, [0.0] * 4)  # 110 s from release
    assert policy.decide(snap).calls == 0


def test_predictive_dials_for_agents_about_to_be_released() -> None:
    policy = _warm_predictive(acw_s=5.0)
    # Talks last 100 s and ACW 5 s: agents 99 s into their talk are free in 6 s, before
    # calls placed now are routed (10 s) plus the 2-second hand-off.
    snap = make_snapshot(5000.0, [ON] * 4, [99.0] * 4)
    calls = policy.decide(snap).calls
    # More than one call per agent (half are answered) but fewer than 4 / 0.5, whose expected
    # live answers would equal the agents exactly.
    assert 4 <= calls < 8


def test_predictive_counts_agents_in_acw_by_time_left() -> None:
    policy = _warm_predictive()
    early = policy.decide(make_snapshot(5000.0, [ACW] * 4, [0.0] * 4)).calls
    late = policy.decide(make_snapshot(5000.0, [ACW] * 4, [9.0] * 4)).calls
    # ACW lasts 10 s: 1 s left is within the answer time; 10 s left is not (routing 10 s + 2 s
    # hand-off covers it too), so both count, and never fewer calls for the later agents.
    assert late >= early > 0


def test_predictive_overdials_free_agents_by_the_live_rate() -> None:
    policy = _warm_predictive()
    calls = policy.decide(make_snapshot(5000.0, [A] * 10, [5.0] * 10)).calls
    assert 10 < calls < 20  # live rate 0.5: 20 calls would bring 10 live answers on average


def test_predictive_subtracts_live_answers_in_flight() -> None:
    policy = _warm_predictive()
    none = policy.decide(make_snapshot(5000.0, [A] * 10, [5.0] * 10)).calls
    ringing = policy.decide(
        make_snapshot(5000.0, [A] * 10, [5.0] * 10, call_dial_times=[4995.0] * 6)
    ).calls
    waiting = policy.decide(make_snapshot(5000.0, [A] * 10, [5.0] * 10, calls_waiting=3)).calls
    assert ringing < none
    assert waiting < none


def test_predictive_feedback_lowers_theta_after_drops() -> None:
    policy = _warm_predictive()
    policy.gain, policy.rate_gain = 0.1, 0.0  # the per-outcome term alone
    policy.decide(make_snapshot(5000.0, [A] * 2, [5.0] * 2))  # active: feedback applies
    before = policy.theta
    for i in range(5):
        policy.observe(Event(EventKind.CALL_DROPPED, 5000.0 + i))
    assert policy.theta == pytest.approx(before * np.exp(-0.1 * 0.98 * 5), rel=1e-9)


def test_predictive_feedback_on_the_shift_rate_raises_theta_when_under_target() -> None:
    policy = _warm_predictive()
    policy.gain, policy.rate_gain = 0.0, 0.5  # the shift-rate term alone
    policy.decide(make_snapshot(5000.0, [A] * 2, [5.0] * 2))
    before = policy.theta
    policy.observe(Event(EventKind.CALL_CONNECTED, 5001.0))
    # warm-up outcomes count in the shift rate (500 connected, no drops): rate well under 2 %
    lives = policy.shift.lives
    rate = (0.0 + 0.02 * 50.0) / (lives + 50.0)
    assert policy.theta == pytest.approx(before * np.exp(0.5 * (0.02 - rate)), rel=1e-9)


def test_oracle_uses_exact_release_times() -> None:
    policy = Predictive(theta=0.03, gain=0.0, oracle=True)
    warm(policy)
    soon = Snapshot(
        now=5000.0,
        agent_state=np.full(4, ON, dtype=np.int8),
        agent_time_in_state=np.zeros(4),
        agent_release_at=np.full(4, 5003.0),
    )
    late = Snapshot(
        now=5000.0,
        agent_state=np.full(4, ON, dtype=np.int8),
        agent_time_in_state=np.zeros(4),
        agent_release_at=np.full(4, 5100.0),
    )
    assert policy.decide(soon).calls >= 4
    assert policy.decide(late).calls == 0


def test_decision_is_a_json_record_of_inputs_and_result() -> None:
    policy = _warm_predictive()
    decision = policy.decide(make_snapshot(5000.0, [A] * 3, [5.0] * 3))
    record = json.loads(json.dumps(decision.to_json()))
    assert record["calls"] == decision.calls
    assert record["inputs"]["free_agents"] == 3
    assert record["quantities"]["live_rate"] == pytest.approx(0.5, abs=0.02)


def test_adapt_tapered_raises_its_level_while_agents_wait() -> None:
    policy = AdaptTapered()
    for t in range(16):
        decision = policy.decide(make_snapshot(float(t), [A] * 5 + [ON] * 5, [1.0] * 10))
    # differential 5 ready, 0 waiting over 10 agents: level 1.0 x (1 + 0.5) at 15 s
    assert policy.level == pytest.approx(1.5)
    assert decision.calls == round(1.5 * 10)


def test_adapt_tapered_tapers_when_over_its_drop_limit() -> None:
    policy = AdaptTapered(shift_start_hhmm=900, latest_hhmm=2100, level=2.0)
    for i in range(100):
        policy.observe(Event(EventKind.CALL_ROUTED, float(i), 10.0))
        kind = EventKind.CALL_DROPPED if i % 10 == 0 else EventKind.CALL_CONNECTED
        policy.observe(Event(kind, float(i)))
    # 10 % dropped; at 14:30 the level is multiplied by (2100 - 1430) / 1000 = 0.67
    # (one recalculation: VICIdial repeats it every 15 s while the day stays over the limit)
    policy.decide(make_snapshot(5.5 * 3600.0, [ON] * 10, [1.0] * 10))
    assert policy.level == pytest.approx(2.0 * 0.67)


@settings(max_examples=40, deadline=None)
@given(
    free=st.integers(0, 30),
    busy=st.integers(0, 30),
    in_flight=st.integers(0, 40),
    waiting=st.integers(0, 5),
)
def test_predictive_decision_is_never_negative_and_grows_with_free_agents(
    free: int, busy: int, in_flight: int, waiting: int
) -> None:
    policy = _warm_predictive()

    def snap(extra: int) -> Snapshot:
        n = free + extra + busy
        return make_snapshot(
            5000.0,
            [A] * (free + extra) + [ON] * busy,
            [5.0] * n,
            call_dial_times=[4995.0] * in_flight,
            calls_waiting=waiting,
        )

    calls = policy.decide(snap(0)).calls
    assert calls >= 0
    assert policy.decide(snap(1)).calls >= calls
