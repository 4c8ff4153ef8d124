"""The engine's pacer: dial modes to the pacing core's policies, calls and agents to events."""

from __future__ import annotations

import dataclasses

from dialer.calls import CallRecord, Outcome
from dialer.engine.pace import (
    ABANDON_CAP,
    MIN_RING_S,
    NETWORK_HOLD_AFTER,
    NETWORK_HOLD_S,
    PREDICTIVE_AIM,
    UNREACHED_HOLD_AFTER,
    UNREACHED_HOLD_S,
    Pacer,
)
from dialer.engine.ports import CampaignPlan, DialMode
from pacing.policies import Agentless, Predictive, Preview, Progressive
from pacing.snapshot import AgentState, make_snapshot

AVAILABLE, ON_CALL, ACW = int(AgentState.AVAILABLE), int(AgentState.ON_CALL), int(AgentState.ACW)


def _plan(mode: DialMode = DialMode.PREDICTIVE, **kw: object) -> CampaignPlan:
    base: dict[str, object] = dict(
        campaign_id=7, name="Sales", dial_mode=mode, trunk_context="t", caller_id="c"
    )
    base.update(kw)
    return CampaignPlan(**base)  # type: ignore[arg-type]


def _record(
    outcome: Outcome, *, answered: bool, connected: bool, talk_s: float = 0.0
) -> CallRecord:
    return CallRecord(
        attempt_id=1,
        outcome=outcome,
        reason=None,
        hangup_cause=None,
        dial_status=None,
        amd=None,
        agent_id=None,
        dialed_at=100.0,
        answered_at=110.0 if answered else None,
        connected_at=113.0 if connected else None,
        ended_at=113.0 + talk_s if connected else 130.0,
        ring_s=10.0,
        talk_s=talk_s,
    )


def _predictive(pacer: Pacer) -> Predictive:
    policy = pacer.policy
    assert isinstance(policy, Predictive)
    return policy


def test_each_dial_mode_gets_its_policy() -> None:
    assert isinstance(Pacer(_plan(DialMode.PREVIEW)).policy, Preview)
    assert isinstance(Pacer(_plan(DialMode.PROGRESSIVE, dial_ratio=2.0)).policy, Progressive)
    assert isinstance(Pacer(_plan(DialMode.AGENTLESS)).policy, Agentless)
    assert isinstance(Pacer(_plan(DialMode.PREDICTIVE)).policy, Predictive)


def test_agentless_fills_its_channels_without_agents_under_the_trunk_limits() -> None:
    plan = _plan(DialMode.AGENTLESS, max_channels=50, max_calls_per_s=20.0)
    pacer = Pacer(plan)
    first = pacer.decide(make_snapshot(10.0, [], [], channels_in_use=40))
    assert first.calls == 10  # 50 channels, 40 busy: no agent needed for a broadcast
    assert pacer.decide(make_snapshot(10.5, [], [], channels_in_use=0)).calls == 10  # 20 calls/s
    assert pacer.decide(make_snapshot(12.0, [], [], channels_in_use=0)).calls == 20
    assert first.ring_timeout_s >= MIN_RING_S


def test_agentless_drops_are_still_counted_for_the_abandon_rate() -> None:
    pacer = Pacer(_plan(DialMode.AGENTLESS))
    pacer.routed(10.0, 8.0)
    pacer.dropped(12.0)  # pressed 1 for an agent and nobody was free
    assert pacer.guard.day.lives == 1 and pacer.guard.day.drops == 1


def test_predictive_aims_below_the_campaign_target_and_never_above_the_cap() -> None:
    assert _predictive(Pacer(_plan(abandon_target=0.02))).target == 0.02 * PREDICTIVE_AIM
    assert _predictive(Pacer(_plan(abandon_target=0.05))).target == ABANDON_CAP * PREDICTIVE_AIM


def test_calls_ring_the_campaign_setting_but_never_under_the_legal_15_s() -> None:
    assert Pacer(_plan(ring_timeout_s=30.0)).ring_timeout_s == 30.0
    assert Pacer(_plan(ring_timeout_s=8.0)).ring_timeout_s == MIN_RING_S == 15.0


def test_outcomes_teach_the_answer_and_routing_rates() -> None:
    pacer = Pacer(_plan())
    est = _predictive(pacer).est
    pacer.ended(_record(Outcome.NO_ANSWER, answered=False, connected=False), False, False)
    pacer.ended(_record(Outcome.MACHINE, answered=True, connected=False), False, False)
    pacer.routed(112.0, 12.0)
    pacer.connected(113.0)
    pacer.ended(_record(Outcome.CONNECTED, answered=True, connected=True, talk_s=95.0), True, True)
    assert est.answer.count == 3 and est.routed.count == 2
    assert est.talk.count == 1 and est.route_delay.count == 1
    assert pacer.guard.day.lives == 1 and pacer.guard.day.drops == 0


def test_a_person_who_leaves_during_the_hand_off_counts_as_an_abandon() -> None:
    pacer = Pacer(_plan())
    pacer.routed(112.0, 12.0)
    gone = _record(Outcome.CUSTOMER_HUNG_UP, answered=True, connected=False)
    pacer.ended(gone, True, False)
    assert pacer.guard.day.lives == 1 and pacer.guard.day.drops == 1


def test_a_drop_already_reported_is_not_counted_again_at_the_record() -> None:
    pacer = Pacer(_plan())
    pacer.routed(112.0, 12.0)
    pacer.dropped(114.0)
    pacer.ended(_record(Outcome.DROPPED, answered=True, connected=False), True, True)
    assert pacer.guard.day.lives == 1 and pacer.guard.day.drops == 1


def _unreached(ended_at: float) -> CallRecord:
    record = _record(Outcome.DROPPED, answered=True, connected=False)
    return dataclasses.replace(record, ended_at=ended_at, unreached=True)


def test_an_answer_that_never_reached_the_fastagi_counts_as_an_abandon() -> None:
    pacer = Pacer(_plan())
    pacer.ended(_unreached(130.0), False, False)  # never routed: no handler ran
    assert pacer.guard.day.lives == 1 and pacer.guard.day.drops == 1


def test_answers_in_a_row_that_never_reached_the_fastagi_hold_dialing_for_a_while() -> None:
    pacer = Pacer(_plan(DialMode.PROGRESSIVE))
    free = make_snapshot(200.0, [AVAILABLE] * 4, [0.0] * 4)
    for n in range(UNREACHED_HOLD_AFTER):
        assert pacer.decide(free).calls == 4, n  # under the streak: dialing goes on
        pacer.ended(_unreached(200.0), False, False)
    held = pacer.decide(free)
    assert held.calls == 0 and "FastAGI" in held.reason
    assert held.inputs["unreached_in_a_row"] == UNREACHED_HOLD_AFTER
    later = make_snapshot(200.0 + UNREACHED_HOLD_S, [AVAILABLE] * 4, [0.0] * 4)
    probe = pacer.decide(later)
    assert probe.calls == 1 and "test call" in probe.reason  # then one call at a time
    ringing = make_snapshot(201.0 + UNREACHED_HOLD_S, [AVAILABLE] * 4, [0.0] * 4, [200.5 + 60])
    assert pacer.decide(ringing).calls == 0  # while the test call is up


def test_an_answer_that_reaches_the_fastagi_again_resumes_dialing() -> None:
    pacer = Pacer(_plan(DialMode.PROGRESSIVE))
    for _ in range(UNREACHED_HOLD_AFTER):
        pacer.ended(_unreached(200.0), False, False)
    pacer.routed(290.0, 10.0)
    pacer.connected(291.0)
    reached = _record(Outcome.CONNECTED, answered=True, connected=True, talk_s=5.0)
    pacer.ended(dataclasses.replace(reached, ended_at=296.0), True, True)
    free = make_snapshot(297.0, [AVAILABLE] * 4, [0.0] * 4)
    assert pacer.decide(free).calls == 4


def test_an_answer_the_fastagi_ran_ends_the_streak() -> None:
    pacer = Pacer(_plan(DialMode.PROGRESSIVE))
    for _ in range(UNREACHED_HOLD_AFTER - 1):
        pacer.ended(_unreached(200.0), False, False)
    pacer.ended(_record(Outcome.MACHINE, answered=True, connected=False), False, False)
    pacer.ended(_unreached(200.0), False, False)
    free = make_snapshot(201.0, [AVAILABLE] * 2, [0.0] * 2)
    assert pacer.unreached.count == 1 and pacer.decide(free).calls == 2


def _failed_in_the_network(ended_at: float) -> CallRecord:
    record = _record(Outcome.CONGESTION, answered=False, connected=False)
    return dataclasses.replace(record, ended_at=ended_at)


def test_calls_failing_in_the_network_in_a_row_hold_dialing_then_test_one_at_a_time() -> None:
    pacer = Pacer(_plan(DialMode.PREDICTIVE))
    for _ in range(NETWORK_HOLD_AFTER):
        pacer.ended(_failed_in_the_network(300.0), False, False)
    free = make_snapshot(301.0, [AVAILABLE] * 5, [0.0] * 5)
    held = pacer.decide(free)
    assert held.calls == 0 and "trunk" in held.reason
    assert held.inputs["network_failures_in_a_row"] == NETWORK_HOLD_AFTER
    later = make_snapshot(300.0 + NETWORK_HOLD_S, [AVAILABLE] * 5, [0.0] * 5)
    assert pacer.decide(later).calls == 1


def test_a_call_that_reaches_the_called_party_ends_the_network_streak() -> None:
    pacer = Pacer(_plan(DialMode.PROGRESSIVE))
    for _ in range(NETWORK_HOLD_AFTER - 1):
        pacer.ended(_failed_in_the_network(300.0), False, False)
    pacer.ended(_record(Outcome.BUSY, answered=False, connected=False), False, False)
    pacer.ended(_failed_in_the_network(300.0), False, False)
    free = make_snapshot(301.0, [AVAILABLE] * 2, [0.0] * 2)
    assert pacer.network.count == 1 and pacer.decide(free).calls == 2


def test_agent_wrap_ups_and_pauses_teach_the_release_times() -> None:
    pacer = Pacer(_plan())
    est = _predictive(pacer).est
    pacer.acw_ended(200.0, 25.0, paused=False)
    pacer.acw_ended(300.0, 40.0, paused=True)
    pacer.pause_ended(600.0, 300.0)
    assert est.acw.count == 2 and est.pause.count == 2 and est.pause_length.count == 1
    assert 0 < est.pause.value < 1


def test_after_its_warm_up_predictive_dials_ahead_of_the_free_agents() -> None:
    pacer = Pacer(_plan(max_calls_per_s=100.0))
    t = 0.0
    for _ in range(400):  # a campaign with 25 % live answers and 3-minute talks, no drops
        t += 1.0
        pacer.ended(_record(Outcome.NO_ANSWER, answered=False, connected=False), False, False)
        pacer.ended(_record(Outcome.NO_ANSWER, answered=False, connected=False), False, False)
        pacer.ended(_record(Outcome.MACHINE, answered=True, connected=False), False, False)
        pacer.routed(t, 12.0)
        pacer.connected(t)
        pacer.ended(
            _record(Outcome.CONNECTED, answered=True, connected=True, talk_s=180.0), True, True
        )
        pacer.acw_ended(t, 20.0, paused=False)
    # 20 agents: 2 free, 15 well into their talk, 3 finishing their ACW.
    states = [AVAILABLE] * 2 + [ON_CALL] * 15 + [ACW] * 3
    times = [10.0] * 2 + [170.0] * 15 + [18.0] * 3
    decision = pacer.decide(make_snapshot(t, states, times))
    assert "warming up" not in decision.reason
    assert decision.calls > 2  # more than progressive 1:1 would place
    assert decision.guard["progressive_calls"] == 2


def test_retuning_keeps_what_predictive_learned() -> None:
    pacer = Pacer(_plan(abandon_target=0.03))
    before = _predictive(pacer)
    pacer.routed(1.0, 10.0)
    pacer.retune(dataclasses.replace(pacer.plan, abandon_target=0.01, max_channels=7))
    after = _predictive(pacer)
    assert after is before and after.est.routed.count == 1
    assert after.target == 0.01 * PREDICTIVE_AIM
    assert pacer.guard.config.max_channels == 7


def test_retuning_to_another_dial_mode_changes_the_policy() -> None:
    pacer = Pacer(_plan(DialMode.PROGRESSIVE, dial_ratio=1.0))
    pacer.retune(dataclasses.replace(pacer.plan, dial_mode=DialMode.PROGRESSIVE, dial_ratio=2.5))
    assert isinstance(pacer.policy, Progressive) and pacer.policy.ratio == 2.5
    pacer.retune(dataclasses.replace(pacer.plan, dial_mode=DialMode.PREDICTIVE))
    assert isinstance(pacer.policy, Predictive)
    assert pacer.guard.name == "predictive"


def test_decisions_are_kept_for_supervisors_as_json() -> None:
    pacer = Pacer(_plan(DialMode.PROGRESSIVE))
    pacer.decide(make_snapshot(5.0, [AVAILABLE, ON_CALL], [1.0, 30.0]))
    (decision,) = pacer.history
    assert decision.to_json()["calls"] == 1 and decision.to_json()["guard"]["mode"] == "normal"
