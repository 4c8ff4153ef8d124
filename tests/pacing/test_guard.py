"""The compliance guard: abandon cap, tightening, ring floor, trunk and calls-per-second limits."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacing.abandon import RollingAbandon
from pacing.decision import Decision, DecisionLog
from pacing.events import Event, EventKind
from pacing.guard import Guard, GuardConfig
from pacing.policies import Predictive, progressive_calls
from pacing.snapshot import Snapshot, make_snapshot
from tests.pacing.helpers import ON, A


class Fixed:
    """A policy that always wants ``calls`` calls (to test what the guard lets through)."""

    name = "fixed"

    def __init__(self, calls: int) -> None:
        self.calls = calls
        self.risk_scale: float | None = None  # the tightening its last snapshot carried

    def observe(self, event: Event) -> None:
        return None

    def decide(self, snapshot: Snapshot) -> Decision:
        self.risk_scale = snapshot.risk_scale
        return Decision(self.name, snapshot.now, self.calls, "fixed", ring_timeout_s=10.0)


def _history(guard: Guard, lives: int, drops: int, at: float = 0.0) -> None:
    for i in range(lives - drops):
        guard.observe(Event(EventKind.CALL_CONNECTED, at + i * 1e-3))
    for i in range(drops):
        guard.observe(Event(EventKind.CALL_DROPPED, at + i * 1e-3))


SNAP = make_snapshot(100.0, [A, A, ON, ON], [1.0] * 4, call_dial_times=[99.0])


def test_at_the_cap_the_guard_falls_back_to_progressive() -> None:
    guard = Guard(Fixed(20))
    _history(guard, lives=1000, drops=30)
    decision = guard.decide(SNAP)
    assert decision.calls == progressive_calls(SNAP) == 1
    assert decision.guard["mode"] == "at_cap"
    assert decision.guard["policy_calls"] == 20


def test_below_the_cap_the_budget_limits_calls_beyond_progressive() -> None:
    guard = Guard(Fixed(50))
    _history(guard, lives=1000, drops=20)
    # (0.03 x 1000 - 20) / 0.97 = 10.3: ten extra calls could all drop and stay at 3 %
    assert guard.decide(SNAP).calls == 1 + 10


def test_with_no_live_answers_yet_the_guard_is_progressive() -> None:
    assert Guard(Fixed(50)).decide(SNAP).calls == 1


def test_the_guard_tightens_the_policy_before_the_cap() -> None:
    policy = Fixed(0)
    guard = Guard(policy, GuardConfig(cap=0.03, tighten_from=0.8))
    _history(guard, lives=1000, drops=27)  # 2.7 %: half way from 2.4 % to 3 %
    decision = guard.decide(SNAP)
    assert decision.guard["mode"] == "tightening"
    assert policy.risk_scale == pytest.approx(0.5)


def test_under_the_tightening_point_the_policy_runs_free() -> None:
    policy = Fixed(0)
    guard = Guard(policy)
    _history(guard, lives=1000, drops=10)
    assert guard.decide(SNAP).guard["mode"] == "normal"
    assert policy.risk_scale == 1.0


def test_amd_hangups_count_as_estimated_abandons() -> None:
    guard = Guard(Fixed(0), GuardConfig(amd_false_positive=0.1))
    _history(guard, lives=100, drops=0)
    for i in range(50):
        guard.observe(Event(EventKind.CALL_MACHINE, float(i), 12.0))
    assert guard.day.rate() == pytest.approx(5 / 105)


def test_the_24_hour_window_forgets_old_drops_but_30_days_do_not() -> None:
    guard = Guard(Fixed(0))
    _history(guard, lives=100, drops=10, at=0.0)
    _history(guard, lives=100, drops=0, at=90_000.0)
    guard.decide(make_snapshot(90_001.0, [A], [1.0]))
    assert guard.day.rate() == 0.0
    assert guard.month.rate() == pytest.approx(10 / 200)


def test_answers_from_before_a_restart_fill_both_windows_as_observed_ones_would() -> None:
    guard = Guard(Fixed(20), GuardConfig(amd_false_positive=0.1))
    guard.remember(0.0, lives=100, drops=1)  # 25 hours before the decision: 30 days only
    guard.remember(86_400.0, lives=100, drops=3, machines=10)
    decision = guard.decide(make_snapshot(90_000.0, [A, A, ON, ON], [1.0] * 4))
    assert guard.day.lives == pytest.approx(101) and guard.day.drops == pytest.approx(4)
    assert guard.month.rate() == pytest.approx(5 / 201)
    assert decision.guard["mode"] == "at_cap"  # 3.96 % in the last 24 hours
    assert decision.calls == 2


def test_ring_time_never_under_the_minimum() -> None:
    assert Guard(Fixed(1)).decide(SNAP).ring_timeout_s == 15.0


def test_trunk_channels_limit_the_calls() -> None:
    guard = Guard(Fixed(20), GuardConfig(enforce_cap=False, max_channels=100))
    snap = make_snapshot(0.0, [A], [1.0], channels_in_use=95)
    assert guard.decide(snap).calls == 5


def test_calls_per_second_limit_spans_decisions_in_the_same_second() -> None:
    guard = Guard(Fixed(8), GuardConfig(enforce_cap=False, max_calls_per_s=10))
    assert guard.decide(make_snapshot(0.0, [A], [1.0])).calls == 8
    assert guard.decide(make_snapshot(0.5, [A], [1.0])).calls == 2
    assert guard.decide(make_snapshot(1.2, [A], [1.0])).calls == 8


def test_the_decision_log_keeps_the_last_n_per_campaign() -> None:
    log = DecisionLog(maxlen=3)
    guard = Guard(Fixed(1), GuardConfig(enforce_cap=False), campaign="sales", log=log)
    for t in range(5):
        guard.decide(make_snapshot(float(t), [A], [1.0]))
    assert [d.at for d in log.recent("sales")] == [2.0, 3.0, 4.0]
    assert log.recent("other") == []


def test_rolling_abandon_rate() -> None:
    window = RollingAbandon(3600.0, 60)
    window.add(0.0, 10.0, 1.0)
    window.add(1800.0, 10.0, 0.0)
    assert window.rate() == pytest.approx(0.05)
    window.roll(3700.0)
    assert window.rate() == 0.0


def test_bad_config_names_the_field() -> None:
    with pytest.raises(ValueError, match="cap"):
        GuardConfig(cap=1.5)
    with pytest.raises(ValueError, match="max_channels"):
        GuardConfig(max_channels=-1)


@settings(max_examples=80, deadline=None)
@given(
    wanted=st.integers(0, 500),
    free=st.integers(0, 20),
    busy=st.integers(0, 20),
    in_flight=st.integers(0, 30),
    lives=st.integers(0, 3000),
    drop_share=st.floats(0.0, 0.06),
    max_channels=st.integers(0, 200),
    in_use=st.integers(0, 250),
)
def test_guard_invariants(
    wanted: int,
    free: int,
    busy: int,
    in_flight: int,
    lives: int,
    drop_share: float,
    max_channels: int,
    in_use: int,
) -> None:
    guard = Guard(Fixed(wanted), GuardConfig(max_channels=max_channels))
    drops = math.floor(lives * drop_share)
    _history(guard, lives=lives, drops=drops)
    snap = make_snapshot(
        1000.0,
        [A] * free + [ON] * busy,
        [1.0] * (free + busy),
        call_dial_times=[999.0] * in_flight,
        channels_in_use=in_use,
    )
    calls = guard.decide(snap).calls
    base = progressive_calls(snap)
    assert 0 <= calls <= wanted
    # never more calls than the trunk's free channels
    assert calls <= max(0, max_channels - in_use)
    # never a decision whose extra calls, all dropped, would take the rate over the cap
    extra = max(0, calls - base)
    if extra:
        assert (drops + extra) / (lives + extra) <= 0.03 + 1e-12
    if lives and drops / lives >= 0.03:
        assert calls <= base


@settings(max_examples=25, deadline=None)
@given(free=st.integers(0, 40), in_flight=st.integers(0, 60), lives=st.integers(0, 2000))
def test_guarded_predictive_respects_the_cap_budget(free: int, in_flight: int, lives: int) -> None:
    from tests.pacing.helpers import warm

    guard = Guard(Predictive())
    warm(guard)
    _history(guard, lives=lives, drops=lives // 40, at=2000.0)
    snap = make_snapshot(
        5000.0, [A] * free + [ON] * 5, [3.0] * (free + 5), call_dial_times=[4995.0] * in_flight
    )
    calls = guard.decide(snap).calls
    extra = max(0, calls - progressive_calls(snap))
    total_lives = guard.day.lives
    total_drops = guard.day.drops
    assert (total_drops + extra) / (total_lives + extra) <= 0.03 + 1e-12
