"""Blending: inbound first; outbound sees only the agents the inbound queues can spare."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacing.blend import Blended
from pacing.events import Event, EventKind
from pacing.guard import Guard, GuardConfig
from pacing.inbound import Inbound, InboundPriors, QueueTarget
from pacing.policies import Predictive, Progressive
from pacing.snapshot import AgentState, Snapshot, make_snapshot, shares_for_campaigns
from tests.pacing.helpers import ACW, ON, PAUSED, A, warm


def held_agents(snapshot: Snapshot, view: Snapshot) -> set[int]:
    """The agents the outbound view leaves out (logged out there, not in the snapshot)."""
    out = (view.agent_state == AgentState.LOGGED_OUT) & (
        snapshot.agent_state != AgentState.LOGGED_OUT
    )
    return set(np.flatnonzero(out).tolist())


BUSY_QUEUE = InboundPriors(rate_per_hour=200.0, talk_mean_s=240.0, acw_mean_s=30.0)


def busy_inbound() -> Inbound:
    """A queue busy enough (about 15 erlangs) that a 20-agent pool must hold idle agents."""
    return Inbound({"": QueueTarget(0.8, 20.0)}, priors=BUSY_QUEUE)


def test_no_outbound_call_while_inbound_callers_wait() -> None:
    snap = make_snapshot(0.0, [A] * 5 + [ON] * 15, [10.0] * 20, inbound_waiting=1)
    decision = Blended(Progressive(2.0)).decide(snap)
    assert decision.calls == 0
    assert "waiting: outbound paused" in decision.reason


@settings(max_examples=40, deadline=None)
@given(
    free=st.integers(0, 20),
    waiting=st.integers(1, 10),
    ratio=st.floats(1.0, 3.0),
)
def test_any_inbound_caller_waiting_pauses_outbound(free: int, waiting: int, ratio: float) -> None:
    snap = make_snapshot(0.0, [A] * free + [ON] * 5, [1.0] * (free + 5), inbound_waiting=waiting)
    assert Blended(Progressive(ratio), busy_inbound()).decide(snap).calls == 0


def test_outbound_sees_only_the_agents_not_held_for_inbound() -> None:
    blended = Blended(Progressive(1.0), busy_inbound())
    snap = make_snapshot(0.0, [A] * 6 + [ON] * 14, [30.0] * 20)
    decision = blended.decide(snap)
    # the idle reserve, and the part of an agent the next 16 s of callers will take
    held = decision.quantities["reserved_agents"] + decision.quantities["held_for_arrivals"]
    assert held >= 1
    view = blended.outbound_view(snap)
    # whole agents: the fraction of the next one is held in that share of the ticks
    assert len(held_agents(snap, view)) in (math.floor(held), math.ceil(held))
    assert decision.calls == view.available_agents() == 6 - len(held_agents(snap, view))


def test_the_fraction_of_an_agent_is_held_in_that_share_of_the_ticks() -> None:
    blended = Blended(Progressive(1.0), busy_inbound())
    counts = []
    for t in range(600):
        snap = make_snapshot(float(t), [A] * 6 + [ON] * 14, [30.0] * 20)
        counts.append(len(held_agents(snap, blended.outbound_view(snap))))
    q = blended.decide(make_snapshot(0.0, [A] * 6 + [ON] * 14, [30.0] * 20)).quantities
    held = q["reserved_agents"] + q["held_for_arrivals"]
    assert set(counts) == {math.floor(held), math.ceil(held)}
    assert np.mean(counts) == pytest.approx(held, abs=0.01)


def tightening(snapshot: Snapshot, scale: float = 0.5) -> Snapshot:
    """The snapshot as the guard passes it on while it tightens near the abandon cap."""
    return dataclasses.replace(snapshot, risk_scale=scale)


def test_near_the_abandon_cap_the_fraction_of_an_agent_is_held_whole() -> None:
    blended = Blended(Predictive(), busy_inbound())
    snap0 = tightening(make_snapshot(0.0, [A] * 6 + [ON] * 14, [30.0] * 20))
    q = blended.decide(snap0).quantities
    held = q["reserved_agents"] + q["held_for_arrivals"]
    for t in range(50):
        snap = tightening(make_snapshot(float(t), [A] * 6 + [ON] * 14, [30.0] * 20))
        assert len(held_agents(snap, blended.outbound_view(snap))) == math.ceil(held)


def test_the_view_of_whole_agents_keeps_whole_agents() -> None:
    # no fractional shares: the predictive policy's exact drop risk still applies
    blended = Blended(Progressive(1.0), busy_inbound())
    for t in range(20):
        snap = make_snapshot(float(t), [A] * 6 + [ON] * 14, [30.0] * 20)
        assert blended.outbound_view(snap).agent_share is None


def test_the_longest_idle_agents_are_held_first_then_the_likeliest_releases() -> None:
    blended = Blended(Progressive(1.0), busy_inbound())
    states = [ON, A, ACW, ON, A] + [ON] * 15
    times = [500.0, 5.0, 10.0, 20.0, 50.0] + [1.0] * 15
    snap = make_snapshot(0.0, states, times)
    held = held_agents(snap, blended.outbound_view(snap))
    order = [4, 1, 2, 0]  # idle 50 s, idle 5 s, ACW, the longest talk
    assert len(held) >= 2
    assert held == set(order[: len(held)])


def test_paused_agents_are_neither_counted_nor_held() -> None:
    blended = Blended(Progressive(1.0), busy_inbound())
    snap = make_snapshot(0.0, [A] * 4 + [PAUSED] * 16, [1.0] * 20)
    decision = blended.decide(snap)
    assert decision.quantities["active_agents"] == 4
    view = blended.outbound_view(snap)
    assert bool(np.all(view.agent_state[4:] == PAUSED))


def test_the_reservation_grows_when_more_callers_arrive() -> None:
    quiet = Blended(Progressive(1.0), Inbound(priors=InboundPriors(rate_per_hour=20.0)))
    busy = Blended(Progressive(1.0), busy_inbound())
    snap = make_snapshot(0.0, [A] * 8 + [ON] * 12, [1.0] * 20)
    q, b = quiet.decide(snap), busy.decide(snap)
    assert q.quantities["reserved_agents"] < b.quantities["reserved_agents"]
    assert q.calls > b.calls


def test_every_decision_explains_the_reservation() -> None:
    decision = Blended(Progressive(1.0), busy_inbound()).decide(
        make_snapshot(0.0, [A] * 6 + [ON] * 14, [30.0] * 20)
    )
    q = decision.quantities
    for key in (
        "reserved_agents",
        "inbound_rate_per_h",
        "inbound_handle_s",
        "predicted_service_level",
        "model_reserve",
        "reserve_offset",
        "erlang_c_dedicated_agents",
    ):
        assert key in q
    assert q["inbound_rate_per_h"] == pytest.approx(200.0)
    assert q["predicted_service_level"] >= 0.8
    assert "idle agent(s) held" in decision.reason
    json.dumps(decision.to_json())


def test_the_baseline_holds_nothing_and_does_not_pause() -> None:
    baseline = Blended(Progressive(1.0), busy_inbound(), reserve=False)
    snap = make_snapshot(0.0, [A] * 6 + [ON] * 14, [30.0] * 20, inbound_waiting=2)
    assert baseline.name == "progressive_unreserved"
    assert baseline.decide(snap).calls == 6


def test_a_shared_agent_is_held_once_over_campaigns() -> None:
    # 10 free agents in both campaigns; one Inbound for the pool: both campaigns hold the same
    # agents, so together they dial for the free agents less the reserve, once.
    inbound = busy_inbound()
    campaigns = [frozenset({"sales", "renewals"})] * 10 + [frozenset({"sales"})] * 10
    states, times = [A] * 10 + [ON] * 10, [5.0] * 20
    sales = Blended(Progressive(1.0), inbound)
    renewals = Blended(Progressive(1.0), inbound)
    s_snap = make_snapshot(0, states, times, agent_share=shares_for_campaigns(campaigns, "sales"))
    r_snap = make_snapshot(
        0, states, times, agent_share=shares_for_campaigns(campaigns, "renewals")
    )
    s_view, r_view = sales.outbound_view(s_snap), renewals.outbound_view(r_snap)
    held = held_agents(s_snap, s_view)
    assert held and held == held_agents(r_snap, r_view)
    total_free = s_view.available_agents() + r_view.available_agents()
    assert total_free == pytest.approx(10 - len(held))


def test_the_guard_counts_progressive_on_the_agents_offered_to_outbound() -> None:
    guard = Guard(Blended(Progressive(1.0), busy_inbound()), GuardConfig())
    snap = make_snapshot(0.0, [A] * 6 + [ON] * 14, [30.0] * 20)
    decision = guard.decide(snap)
    assert decision.guard["progressive_calls"] == decision.calls < 6


def test_the_guard_tightening_reaches_the_wrapped_policy() -> None:
    blended = Blended(Predictive(), busy_inbound())
    snap = tightening(make_snapshot(0.0, [A] * 6 + [ON] * 14, [30.0] * 20), 0.25)
    assert blended.outbound_view(snap).risk_scale == 0.25


def test_inbound_talk_and_acw_teach_the_wrapped_policy_agent_releases() -> None:
    predictive = Predictive()
    blended = Blended(predictive)
    blended.observe(Event(EventKind.INBOUND_TALK_ENDED, 1.0, 200.0))
    blended.observe(Event(EventKind.INBOUND_ACW_ENDED, 2.0, 30.0))
    assert predictive.est.talk.count == 1
    assert predictive.est.acw.count == 1
    # and inbound answers are not outbound live answers: no abandon-rate feedback from them
    blended.observe(Event(EventKind.INBOUND_ANSWERED, 3.0, 4.0))
    assert predictive.shift.lives == 0


def test_a_warm_predictive_policy_dials_less_when_agents_are_held() -> None:
    # 500 inbound calls/h against 20 agents releasing every 110 s / 20 (the warm-up's calls)
    plain = Predictive()
    held = Blended(Predictive(), Inbound(priors=InboundPriors(rate_per_hour=500.0)))
    warm(plain)
    warm(held)
    snap = make_snapshot(
        1000.0, [A] * 4 + [ON] * 12 + [ACW] * 4, [20.0] * 20, call_dial_times=[995.0] * 3
    )
    assert held.decide(snap).calls < plain.decide(snap).calls


def test_a_quiet_queue_leaves_outbound_every_agent() -> None:
    quiet = Inbound(priors=InboundPriors(rate_per_hour=0.0))
    snap = make_snapshot(0.0, [A] * 6 + [ON] * 14, [30.0] * 20)
    decision = Blended(Progressive(1.0), quiet).decide(snap)
    assert decision.quantities["reserved_agents"] == 0
    assert decision.calls == 6


def test_a_predictive_policy_takes_the_expected_callers_into_its_drop_risk() -> None:
    # With a policy that has a priority demand term, only the reserve is held: the callers
    # expected before the calls placed now are routed enter the policy's drop risk, the first
    # of them taking the idle agents held for them.
    blended = Blended(Predictive(), busy_inbound())
    counts = []
    for t in range(300):
        snap = make_snapshot(float(t), [A] * 6 + [ON] * 14, [30.0] * 20)
        decision = blended.decide(snap)
        view = blended.outbound_view(snap)
        held = held_agents(snap, view)
        counts.append(len(held))
        assert view.priority_rate == pytest.approx(200.0 / 3600.0)
        assert view.priority_absorbed == len(held)  # all of them idle here
    reserve = decision.quantities["reserved_agents"]
    assert set(counts) <= {math.floor(reserve), math.ceil(reserve)}
    assert np.mean(counts) == pytest.approx(reserve, abs=0.01)
    assert decision.quantities["held_for_arrivals"] == pytest.approx(200.0 / 3600.0 * 16.0)


def test_only_idle_held_agents_absorb_the_expected_callers() -> None:
    blended = Blended(Predictive(), busy_inbound())
    snap = make_snapshot(0.0, [ACW] * 6 + [ON] * 14, [30.0] * 20)  # nobody idle
    view = blended.outbound_view(snap)
    assert held_agents(snap, view)
    assert view.priority_rate > 0 and view.priority_absorbed == 0


def test_near_the_abandon_cap_the_expected_callers_are_held_as_agents_again() -> None:
    # The guard tightening: a Poisson demand would never let the risk reach 0, so near the cap
    # the callers' part is held as an agent, whole, and the policy's demand term is off.
    blended = Blended(Predictive(), busy_inbound())
    snap0 = tightening(make_snapshot(0.0, [A] * 6 + [ON] * 14, [30.0] * 20))
    q = blended.decide(snap0).quantities
    assert blended.outbound_view(snap0).priority_rate == 0.0
    for t in range(20):
        snap = tightening(make_snapshot(float(t), [A] * 6 + [ON] * 14, [30.0] * 20))
        held = len(held_agents(snap, blended.outbound_view(snap)))
        assert held == math.ceil(q["reserved_agents"] + q["held_for_arrivals"])


def test_the_baseline_leaves_the_policy_without_priority_demand() -> None:
    baseline = Blended(Predictive(), busy_inbound(), reserve=False)
    view = baseline.outbound_view(make_snapshot(0.0, [A] * 6 + [ON] * 14, [30.0] * 20))
    assert view.priority_rate == 0.0
