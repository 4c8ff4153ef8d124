"""The engine end to end against the simulated Asterisk: AMI, FastAGI, agents, outcomes."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from agi.server import FastAGIServer
from ami.client import AMIClient
from dialer.calls import CallState
from dialer.clock import ScaledClock
from dialer.engine.engine import AMI_EVENTS, LIVE_DECISION_EVERY_S, Engine, RunningCampaign
from dialer.engine.pace import NETWORK_HOLD_AFTER
from dialer.engine.ports import CampaignPlan, Dialable, Outcome, Typification
from dialer.engine.roster import AgentState, Roster
from dialer.live import MemoryFeed
from dialer.simasterisk import NumberModel, PartyKind, SimConfig, SimulatedAsterisk
from tests.engine.memory_records import MemoryRecords
from tests.engine.plans import PATIENT_S, campaign_plan
from tests.waiting import until

SPEED = 40.0


@dataclass
class Rig:
    engine: Engine
    records: MemoryRecords
    roster: Roster
    sim: SimulatedAsterisk


@contextlib.asynccontextmanager
async def _rig(
    plan: CampaignPlan,
    numbers: dict[str, PartyKind],
    agents: int,
    blocked: set[str] | None = None,
    action_timeout: float = 10.0,
    fastagi_in_originate: bool = False,
    fastagi_unreachable: bool = False,
) -> AsyncIterator[Rig]:
    clock = ScaledClock(SPEED)
    contacts = [Dialable(i + 1, 100 + i, number) for i, number in enumerate(numbers)]
    records = MemoryRecords(plan, contacts, blocked=blocked or set())
    roster = Roster(clock)
    agi = FastAGIServer(port=0)
    agi_port = await agi.start()
    model = NumberModel(
        seed=3, ring_median_s=3.0, talk_median_s=20.0, patience_s=PATIENT_S, overrides=numbers
    )
    ours = f"agi://127.0.0.1:{agi_port}"
    # With fastagi_in_originate the dialplan's global FastAGI leads nowhere (nothing listens
    # on port 9): only the engine's Originate variable can bring the answers back.
    # With fastagi_unreachable it leads nowhere and the Originates name nothing better.
    dialplan_agi = "agi://127.0.0.1:9" if fastagi_in_originate or fastagi_unreachable else ours
    sim = SimulatedAsterisk(SimConfig(fastagi_url=dialplan_agi, model=model), clock=clock)
    _, port = await sim.start()
    ami = AMIClient(  # the event classes the service asks for
        "127.0.0.1", port, ping_interval=None, action_timeout=action_timeout, events=AMI_EVENTS
    )
    engine = Engine(
        records,
        ami,
        roster,
        clock,
        tick_s=1.0,
        live=MemoryFeed(),
        fastagi_url=ours if fastagi_in_originate else None,
    )
    agi.route("outbound", engine.handle_outbound)
    await ami.connect()
    for n in range(agents):
        roster.add(n + 1, f"agent {n + 1}", f"Local/70{n + 1:02d}@agents", {plan.campaign_id})
        roster.login(n + 1)
    try:
        yield Rig(engine, records, roster, sim)
    finally:
        await engine.stop_dialing()
        await roster.close()
        await ami.close()
        await sim.stop()
        await agi.close()


async def _typify_when_in_acw(rig: Rig, skip: set[int] = frozenset()) -> None:  # type: ignore[assignment]
    """A desk of agents who typify as soon as their call ends (except those in ``skip``)."""
    while True:
        for agent in rig.roster.agents.values():
            if agent.state is AgentState.ACW and agent.agent_id not in skip:
                assert agent.attempt_id is not None
                await rig.engine.typify(
                    Typification(agent.attempt_id, agent.agent_id, result_id=1), 1
                )
        await asyncio.sleep(0.01)


MIX = {
    "15550000001": PartyKind.HUMAN,
    "15550000002": PartyKind.BUSY,
    "15550000003": PartyKind.NO_ANSWER,
    "15550000004": PartyKind.MACHINE,
    "15550000005": PartyKind.CONGESTION,
    "15550000006": PartyKind.INVALID,
    "15550000007": PartyKind.HUMAN,
    "15550000008": PartyKind.HUMAN,
}
EXPECTED = {
    1: Outcome.CONNECTED,
    2: Outcome.BUSY,
    3: Outcome.NO_ANSWER,
    4: Outcome.MACHINE,
    5: Outcome.CONGESTION,
    6: Outcome.INVALID,
    7: Outcome.CONNECTED,
    8: Outcome.CONNECTED,
}


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with _rig(campaign_plan(), MIX, agents=3) as r:
        yield r


async def test_every_attempt_gets_exactly_its_one_outcome(rig: Rig) -> None:
    desk = asyncio.create_task(_typify_when_in_acw(rig))
    await rig.engine.start_campaign(1)
    await until(lambda: len(rig.records.results) == len(MIX), timeout=60)
    desk.cancel()
    by_contact = {
        rig.records.attempts[a][0].assignment_id: r.outcome for a, r in rig.records.results.items()
    }
    assert by_contact == EXPECTED
    assert len(rig.records.attempts) == len(MIX)  # each contact dialed once
    assert rig.records.leased == set()
    connected = [r for r in rig.records.results.values() if r.outcome is Outcome.CONNECTED]
    assert all(r.agent_id is not None and r.connected_at is not None for r in connected)
    assert all(r.answered_at is not None and r.connected_at >= r.answered_at for r in connected)  # type: ignore[operator]
    machine = next(r for r in rig.records.results.values() if r.outcome is Outcome.MACHINE)
    assert machine.amd == "MACHINE"


async def test_the_live_feed_shows_each_call_end_once_with_its_outcome_and_each_decision(
    rig: Rig,
) -> None:
    desk = asyncio.create_task(_typify_when_in_acw(rig))
    await rig.engine.start_campaign(1)
    await until(lambda: len(rig.records.results) == len(MIX), timeout=60)
    desk.cancel()
    assert rig.engine.live is not None
    events = [e for _, e in (await rig.engine.live.read("0", 0.01)).events]
    ends = [e.data for e in events if e.kind == "call"]
    assert sorted(d["attempt_id"] for d in ends) == sorted(rig.records.results)  # once each
    assert {d["attempt_id"]: d["outcome"] for d in ends} == {
        a: r.outcome.value for a, r in rig.records.results.items()
    }
    decisions = [e for e in events if e.kind == "pacing"]
    assert decisions and all(e.campaigns == (1,) for e in decisions)
    placed = sum(int(e.data["calls"]) for e in decisions)
    assert placed >= len(MIX)  # every call placed came from a decision shown
    # A decision placing nothing and saying nothing new is shown at most every 10 s.
    for before, after in itertools.pairwise(decisions):
        same = before.data["decision"]["reason"] == after.data["decision"]["reason"]
        if after.data["calls"] == 0 and same:
            assert after.at - before.at >= LIVE_DECISION_EVERY_S - 1e-6
    on_call = {
        e.data["agent_id"] for e in events if e.kind == "agent" and e.data["state"] == "on_call"
    }
    assert on_call and on_call <= {1, 2, 3}


async def test_answered_calls_come_back_to_the_fastagi_the_originate_names() -> None:
    # Several dialer processes on one Asterisk (dialer/engine/keeper.py): each names its own
    # FastAGI in its Originates, whatever the dialplan's [globals] say.
    async with _rig(campaign_plan(), MIX, agents=3, fastagi_in_originate=True) as rig:
        desk = asyncio.create_task(_typify_when_in_acw(rig))
        await rig.engine.start_campaign(1)
        await until(lambda: len(rig.records.results) == len(MIX), timeout=60)
        desk.cancel()
        by_contact = {
            rig.records.attempts[a][0].assignment_id: r.outcome
            for a, r in rig.records.results.items()
        }
    assert by_contact == EXPECTED  # connected to agents: the handler ran for every answer


async def dialing_held(rig: Rig, running: RunningCampaign, because: str) -> int:
    """The campaign's decisions hold, saying ``because``, and nothing is placed meanwhile
    (0.4 s, 16 s at 40x: inside the holds). Returns the calls placed so far."""
    await asyncio.sleep(0.2)
    held = running.pacer.history[-1]
    assert held.calls == 0 and because in held.reason
    placed = rig.sim.originates
    await asyncio.sleep(0.2)
    assert rig.sim.originates == placed
    return placed


async def test_answers_asterisk_cannot_bring_to_the_dialer_are_dropped_and_dialing_holds() -> None:
    # A wrong DIALER_FASTAGI: the dialplan's fallback plays the drop message to every answer
    # (configs/asterisk/extensions_dialer.conf). Each is an abandon, and after three in a row
    # the campaign stops placing calls that could only be dropped.
    async with _rig(campaign_plan(), MIX, agents=3, fastagi_unreachable=True) as rig:
        played: list[int] = []
        rig.sim.asterisk.listeners.append(
            lambda name, data: (
                played.append(1)
                if name == "Newexten" and b"AppData: dialer/drop\r\n" in data
                else None
            )
        )
        await rig.engine.start_campaign(1)
        running = rig.engine.campaigns[1]
        await until(lambda: running.stats.dropped >= 3, timeout=60)
        await dialing_held(rig, running, "FastAGI")  # for 60 s
        await rig.engine.stop_dialing()  # (after 60 s it would place one test call at a time)
        await until(lambda: len(rig.records.results) == rig.sim.originates, timeout=60)
        answered = [r for r in rig.records.results.values() if r.answered_at is not None]
    assert answered and all(r.outcome is Outcome.DROPPED for r in answered)
    assert len(played) == len(answered)  # each heard the drop message
    assert all(r.agent_id is None for r in answered)
    assert running.stats.abandon_rate == 1.0
    assert all(a.state is AgentState.AVAILABLE for a in rig.roster.agents.values())


async def test_a_trunk_that_fails_every_call_stops_the_campaign_spending_contacts() -> None:
    # Every call congested (a trunk unregistered gives CHANUNAVAIL, which [dialer-trunk] turns
    # into Congestion): after NETWORK_HOLD_AFTER in a row the campaign holds, and the rest of
    # the list is not dialed (each call would have spent a contact's attempt).
    numbers = {f"155500001{i:02d}": PartyKind.CONGESTION for i in range(30)}
    async with _rig(campaign_plan(), numbers, agents=3) as rig:
        await rig.engine.start_campaign(1)
        running = rig.engine.campaigns[1]
        await until(lambda: running.pacer.network.holding, timeout=60)
        placed = await dialing_held(rig, running, "trunk")  # for 30 s
        await rig.engine.stop_dialing()
    assert NETWORK_HOLD_AFTER <= placed <= NETWORK_HOLD_AFTER + 3  # + the calls in flight
    assert placed < len(numbers)


async def test_no_contact_is_leased_twice_at_once(rig: Rig) -> None:
    desk = asyncio.create_task(_typify_when_in_acw(rig))
    await rig.engine.start_campaign(1)
    await until(lambda: len(rig.records.results) == len(MIX), timeout=60)
    desk.cancel()
    held: set[int] = set()
    for what, assignment in rig.records.lease_log:
        if what == "lease":
            assert assignment not in held
            held.add(assignment)
        elif what == "release":
            held.discard(assignment)


async def test_a_campaign_whose_lease_may_have_lapsed_places_no_call_until_renewed(
    rig: Rig,
) -> None:
    running = await rig.engine.start_campaign(1)
    running.lease_until = -math.inf  # the keeper could not renew it in time (Redis away)
    clock = rig.engine.clock
    await clock.sleep(3.0)  # three ticks
    assert rig.records.attempts == {}
    assert "lease" in running.stats.last_decision
    assert running.pacer.history[-1].calls == 0
    running.lease_until = math.inf  # renewed
    await until(lambda: len(rig.records.attempts) > 0, timeout=10)


async def test_a_campaign_can_move_to_another_process_only_with_no_agent_here_paused_or_not(
    rig: Rig,
) -> None:
    await rig.engine.start_campaign(1)
    await rig.engine.stop_dialing()  # no calls: this is about the agents and the pause
    assert not rig.engine.movable(1)  # three agents logged in to it here
    for agent_id in list(rig.roster.agents):
        rig.roster.logout(agent_id)
    assert rig.engine.movable(1)
    rig.engine.pause_campaign(1)  # the pause is stored: the other process starts it paused
    assert rig.engine.movable(1)


async def test_progressive_never_has_more_calls_wanting_an_agent_than_agents(rig: Rig) -> None:
    peak = 0

    def watch() -> bool:
        nonlocal peak
        # Calls that may still need an agent: ringing, or answered with none reserved yet.
        open_states = (CallState.DIALING, CallState.RINGING, CallState.ANSWERED)
        wanting = [c for c in rig.engine.in_flight(1) if c[2] in open_states]
        talking = sum(1 for a in rig.roster.agents.values() if a.state is not AgentState.AVAILABLE)
        peak = max(peak, len(wanting) + talking)
        return len(rig.records.results) == len(MIX)

    desk = asyncio.create_task(_typify_when_in_acw(rig))
    await rig.engine.start_campaign(1)
    await until(watch, timeout=60)
    desk.cancel()
    assert 1 <= peak <= 3


async def test_the_acw_timer_applies_the_default_when_the_agent_does_not_typify() -> None:
    async with _rig(
        campaign_plan(acw_max_s=5.0), {"15550000001": PartyKind.HUMAN}, agents=1
    ) as rig:
        await rig.engine.start_campaign(1)
        await until(lambda: 1 in rig.records.typified, timeout=60)
        default = rig.records.typified[1]
        assert default.result_id is None and default.agent_id == 1
        await until(lambda: rig.roster.get(1).state is AgentState.AVAILABLE, timeout=10)


async def test_a_live_answer_with_no_free_agent_is_dropped() -> None:
    numbers = {"15550000001": PartyKind.HUMAN, "15550000002": PartyKind.HUMAN}
    async with _rig(campaign_plan(), numbers, agents=1) as rig:
        await rig.engine.start_campaign(1)
        await asyncio.sleep(0)
        rig.roster.pause(1, "lunch")  # gone after the first call was placed for them
        await until(lambda: len(rig.records.results) == 1, timeout=60)
        assert [r.outcome for r in rig.records.results.values()] == [Outcome.DROPPED]
        assert rig.engine.campaigns[1].stats.abandon_rate == 1.0
        assert rig.sim.originates == 1  # nobody free: nothing more is dialed


async def test_a_ratio_campaign_with_no_live_answers_yet_dials_one_call_per_free_agent() -> None:
    # The guard's abandon budget: calls beyond progressive 1:1 only while every one of them
    # could be dropped with the campaign still under the 3 % cap (docs/pacing.md, "The guard").
    numbers = {f"155500000{i:02d}": PartyKind.HUMAN for i in range(1, 7)}
    async with _rig(campaign_plan(dial_ratio=3.0), numbers, agents=2) as rig:
        await rig.engine.start_campaign(1)
        await until(lambda: rig.sim.originates >= 2, timeout=30)
        await rig.engine.stop_dialing()
        assert rig.sim.originates == 2
        decision = rig.engine.campaigns[1].pacer.history[0]
        assert decision.guard["policy_calls"] == 6 and decision.calls == 2
        assert "abandon budget 0" in decision.reason


async def test_a_blocked_number_is_not_dialed() -> None:
    numbers = {"15550000001": PartyKind.HUMAN, "15550000002": PartyKind.HUMAN}
    async with _rig(campaign_plan(), numbers, agents=2, blocked={"15550000002"}) as rig:
        desk = asyncio.create_task(_typify_when_in_acw(rig))
        await rig.engine.start_campaign(1)
        await until(lambda: len(rig.records.results) == 1, timeout=60)
        await asyncio.sleep(0.1)
        desk.cancel()
        assert [d.phone for d, _ in rig.records.attempts.values()] == ["15550000001"]
        assert rig.sim.originates == 1
        assert ("release", 2) in rig.records.lease_log


async def test_an_originate_not_acknowledged_in_time_is_followed_to_its_outcome() -> None:
    """An ack that does not come in time (a busy Asterisk) says nothing of the call, which may
    be ringing: it keeps its contact and gets the outcome Asterisk's events give it, never a
    "failed" of our own, and it is not sent again."""
    numbers = {"15550000002": PartyKind.BUSY, "15550000003": PartyKind.NO_ANSWER}
    async with _rig(campaign_plan(), numbers, agents=2, action_timeout=0.0) as rig:
        await rig.engine.start_campaign(1)
        await until(lambda: len(rig.records.results) == 2, timeout=60)
        by_contact = {
            rig.records.attempts[a][0].assignment_id: r.outcome
            for a, r in rig.records.results.items()
        }
        assert by_contact == {1: Outcome.BUSY, 2: Outcome.NO_ANSWER}
        assert len(rig.records.attempts) == 2  # each contact dialed once
        assert rig.sim.originates == 2  # and sent once each


async def test_drain_waits_for_a_fastagi_handler_still_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A survey goes on after its call's outcome is known: stopping must not cut it off.
    clock = ScaledClock(1000.0)
    engine = Engine(
        MemoryRecords(campaign_plan(), []),
        AMIClient("127.0.0.1", 9, ping_interval=None),
        Roster(clock),
        clock,
    )
    survey_over = asyncio.Event()

    async def handler(call: object, calls: object) -> None:
        await survey_over.wait()

    monkeypatch.setattr("dialer.engine.engine.handle_outbound", handler)
    running = asyncio.create_task(engine.handle_outbound(None))  # type: ignore[arg-type]
    draining = asyncio.create_task(engine.drain(timeout_s=3600))
    await asyncio.sleep(0.05)
    assert not draining.done()
    survey_over.set()
    await asyncio.wait_for(draining, 5)
    await running
