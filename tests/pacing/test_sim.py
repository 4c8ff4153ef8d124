"""The simulator: deterministic per seed, every call ends once, the 2-second rule, AMD."""

from __future__ import annotations

import dataclasses

import pytest

from pacing.events import Event, EventKind
from pacing.guard import Guard, GuardConfig
from pacing.policies import Progressive
from pacing.scenario import Scenario, load_scenario
from pacing.sim import make_policy, simulate, summarise

SHORT = Scenario(
    name="short",
    agents=6,
    shift_hours=0.5,
    answer_rate=0.3,
    machine_rate=0.2,
    talk_mean_s=90.0,
    talk_sd_s=60.0,
    acw_mean_s=10.0,
    acw_sd_s=5.0,
    pause_probability=0.1,
    pause_mean_s=60.0,
    pause_sd_s=30.0,
)


def test_same_seed_same_results() -> None:
    assert simulate(SHORT, "predictive", 7) == simulate(SHORT, "predictive", 7)


def test_different_seeds_differ() -> None:
    assert simulate(SHORT, "ratio2", 1) != simulate(SHORT, "ratio2", 2)


@pytest.mark.parametrize(
    "policy",
    ["preview", "progressive", "ratio2", "ratio3", "adapt_tapered", "predictive", "oracle"],
)
def test_every_placed_call_ends_exactly_once(policy: str) -> None:
    result = simulate(SHORT, policy, 3)
    assert result.placed > 0
    assert result.outcomes() == result.placed


def test_a_live_answer_with_no_free_agent_is_dropped() -> None:
    # one agent, three calls per free agent: answers arrive while the agent talks
    one = dataclasses.replace(SHORT, agents=1, answer_rate=0.9, amd=False, machine_rate=0.0)
    result = simulate(one, "ratio3", 0)
    assert result.dropped_live > 0
    assert result.abandon_rate == pytest.approx(
        result.dropped_live / (result.dropped_live + result.connected_live)
    )


def test_progressive_without_pauses_never_drops() -> None:
    calm = dataclasses.replace(SHORT, pause_probability=0.0, amd=False)
    assert simulate(calm, "progressive", 0).dropped_live == 0


def test_amd_false_positives_count_as_abandons() -> None:
    fp = dataclasses.replace(SHORT, amd_false_positive=0.5, pause_probability=0.0)
    result = simulate(fp, "progressive", 0)
    lives = result.connected_live + result.dropped_live + result.amd_false_positive
    assert result.amd_false_positive > 0
    assert result.abandon_rate == pytest.approx(
        (result.dropped_live + result.amd_false_positive) / lives
    )


def test_utilisation_is_talk_within_occupancy() -> None:
    result = simulate(SHORT, "ratio2", 0)
    assert 0 < result.utilisation < result.occupancy <= 1


def test_preview_agents_dial_their_own_calls() -> None:
    result = simulate(SHORT, "preview", 0)
    assert result.dropped_live == 0
    assert result.connected_live > 0


def test_estimators_follow_a_mid_shift_answer_rate_drop() -> None:
    change = dataclasses.replace(
        SHORT, agents=20, shift_hours=1.0, change_at_hours=0.5, change_answer_rate=0.1
    )
    pacer = make_policy("predictive", change)
    simulate(change, pacer, 0)
    answer = pacer.policy.est.answer.value  # type: ignore[attr-defined]
    assert answer == pytest.approx(0.1, abs=0.04)


def test_the_oracle_beats_or_matches_progressive() -> None:
    base = dataclasses.replace(SHORT, agents=20, shift_hours=1.0)
    oracle = simulate(base, "oracle", 0)
    progressive = simulate(base, "progressive", 0)
    assert oracle.utilisation > progressive.utilisation


def test_summary_averages_runs() -> None:
    runs = [simulate(SHORT, "progressive", s) for s in range(2)]
    summary = summarise(runs)
    assert summary["utilisation"] == pytest.approx((runs[0].utilisation + runs[1].utilisation) / 2)
    assert summary["max_abandon_rate"] == max(r.abandon_rate for r in runs)


def test_unknown_policy_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="nonesuch"):
        make_policy("nonesuch", SHORT)


def test_builtin_scenario_runs_through_the_same_code() -> None:
    small = dataclasses.replace(load_scenario("small5"), shift_hours=0.25)
    assert simulate(small, "predictive", 0).outcomes() == simulate(small, "predictive", 0).placed


class _Recording(Progressive):
    """Progressive 1:1 that keeps every event it is told."""

    def __init__(self) -> None:
        super().__init__(1.0)
        self.events: list[Event] = []

    def observe(self, event: Event) -> None:
        self.events.append(event)


def _acw_lengths(scenario: Scenario) -> list[float]:
    recording = _Recording()
    simulate(scenario, Guard(recording, GuardConfig(enforce_cap=False)), 0)
    return [e.seconds for e in recording.events if e.kind is EventKind.ACW_ENDED]


def test_the_acw_timer_releases_an_agent_at_the_campaigns_maximum() -> None:
    long_acw = dataclasses.replace(SHORT, acw_mean_s=20.0, acw_sd_s=10.0)
    untimed = _acw_lengths(long_acw)
    timed = _acw_lengths(dataclasses.replace(long_acw, acw_max_s=25.0))
    assert max(untimed) > 25.0
    assert max(timed) == 25.0  # the timer fired: never longer, and some reached it
    assert min(timed) < 25.0
