"""The roster: the asyncio side of the agent book (ACW timers on the engine's clock, seed 004)."""

from __future__ import annotations

import asyncio

from dialer.agents import Agent
from dialer.clock import ScaledClock
from dialer.engine.roster import AgentState, Roster

SALES, SUPPORT = 1, 2
ANA = 10


class Timeouts:
    """What the engine is told to write when an ACW timer fires."""

    def __init__(self) -> None:
        self.fired: list[tuple[int, int, int]] = []

    async def __call__(self, agent: Agent, campaign_id: int, attempt_id: int) -> None:
        self.fired.append((agent.agent_id, campaign_id, attempt_id))


async def _wrapping_up(acw_max_s: float | None) -> tuple[Roster, ScaledClock, Timeouts]:
    """Ana (sales) has just finished talking on attempt 7 and is in after-call work."""
    clock = ScaledClock(speed=1000.0)
    timeouts = Timeouts()
    roster = Roster(clock, on_acw_timeout=timeouts)
    roster.set_acw_max(SALES, acw_max_s)
    roster.add(ANA, "Ana", "PJSIP/ana", [SALES])
    roster.login(ANA)
    assert await roster.reserve(SALES, 7, within_s=2.0) is not None
    roster.on_call(ANA)
    roster.call_ended(ANA)
    assert roster.get(ANA).state is AgentState.ACW
    return roster, clock, timeouts


async def test_the_acw_timer_frees_an_agent_who_did_not_typify() -> None:
    roster, clock, timeouts = await _wrapping_up(5.0)
    await clock.sleep(8.0)
    assert timeouts.fired == [(ANA, SALES, 7)]
    assert roster.get(ANA).state is AgentState.AVAILABLE
    await roster.close()


async def test_an_agent_who_pauses_before_typifying_still_gets_the_default() -> None:
    roster, clock, timeouts = await _wrapping_up(5.0)
    roster.pause(ANA, "break")
    await clock.sleep(8.0)
    assert timeouts.fired == [(ANA, SALES, 7)]
    assert roster.get(ANA).state is AgentState.PAUSED
    await roster.close()


async def test_an_agent_paused_in_acw_can_still_typify_and_stays_paused() -> None:
    roster, clock, timeouts = await _wrapping_up(5.0)
    roster.pause(ANA, "break")
    roster.finish_acw(ANA)
    await clock.sleep(8.0)
    assert timeouts.fired == []
    assert roster.get(ANA).state is AgentState.PAUSED
    await roster.close()


async def test_leaving_a_pause_taken_before_typifying_applies_the_default_at_once() -> None:
    roster, clock, timeouts = await _wrapping_up(60.0)
    roster.pause(ANA, "break")
    await clock.sleep(2.0)
    roster.ready(ANA)
    await clock.sleep(1.0)
    assert timeouts.fired == [(ANA, SALES, 7)]
    assert roster.get(ANA).state is AgentState.AVAILABLE
    await roster.close()


async def test_a_campaign_without_an_acw_maximum_lets_the_agent_typify_at_leisure() -> None:
    roster, clock, timeouts = await _wrapping_up(None)
    await clock.sleep(120.0)
    assert timeouts.fired == []
    assert roster.get(ANA).state is AgentState.ACW
    roster.finish_acw(ANA)
    assert roster.get(ANA).state is AgentState.AVAILABLE
    await roster.close()


async def test_typifying_in_time_stops_the_timer() -> None:
    roster, clock, timeouts = await _wrapping_up(5.0)
    roster.finish_acw(ANA)
    await clock.sleep(8.0)
    assert timeouts.fired == []
    await roster.close()


async def test_every_move_reaches_the_observers_in_order() -> None:
    clock = ScaledClock(speed=1000.0)
    roster = Roster(clock)
    seen: list[tuple[AgentState, AgentState]] = []
    roster.listeners.append(lambda agent, move: seen.append((move.before, move.after)))
    roster.add(ANA, "Ana", "PJSIP/ana", [SALES])
    roster.login(ANA)
    roster.pause(ANA, "coaching")
    roster.ready(ANA)
    assert seen == [
        (AgentState.LOGGED_OUT, AgentState.AVAILABLE),
        (AgentState.AVAILABLE, AgentState.PAUSED),
        (AgentState.PAUSED, AgentState.AVAILABLE),
    ]


async def test_a_waiting_answer_takes_the_agent_the_moment_they_are_free() -> None:
    clock = ScaledClock(speed=1000.0)
    roster = Roster(clock)
    roster.add(ANA, "Ana", "PJSIP/ana", [SALES])
    roster.login(ANA)
    roster.pause(ANA, "break")
    waiting = asyncio.ensure_future(roster.reserve(SALES, 9, within_s=2.0))
    await asyncio.sleep(0)
    assert roster.waiting_for(SALES) == 1
    roster.ready(ANA)
    agent = await waiting
    assert agent is not None and agent.agent_id == ANA
    assert (agent.state, agent.attempt_id) == (AgentState.RESERVED, 9)


async def test_adding_a_known_agent_keeps_their_state_and_takes_the_new_campaigns() -> None:
    roster = Roster(ScaledClock(speed=1000.0))
    roster.add(ANA, "Ana", "PJSIP/ana", [SALES])
    roster.login(ANA)
    agent = roster.add(ANA, "Ana M.", "PJSIP/ana2", [SALES, SUPPORT])
    assert (agent.state, agent.campaigns, agent.interface) == (
        AgentState.AVAILABLE,
        frozenset({SALES, SUPPORT}),
        "PJSIP/ana2",
    )


async def test_leaving_a_pause_before_typifying_writes_the_default_without_a_timer_too() -> None:
    roster, clock, timeouts = await _wrapping_up(None)
    roster.pause(ANA, "break")
    await clock.sleep(30.0)
    assert timeouts.fired == []  # she may still come back and typify
    roster.ready(ANA)
    await clock.sleep(1.0)
    assert timeouts.fired == [(ANA, SALES, 7)]
    assert roster.get(ANA).state is AgentState.AVAILABLE
    await roster.close()
