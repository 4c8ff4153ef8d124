"""Agentless voice broadcast (press 1 for an agent, 9 to opt out) and the IVR survey (seed
004: automatic after the agent's call, or at the agent's choice), end to end on the real store
and the simulated Asterisk (DTMF from the called party's model)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from agi.server import FastAGIServer
from ami.client import AMIClient
from ami.codec import Message
from dialer.clock import ScaledClock
from dialer.demo import shift_start
from dialer.demo_seed import DemoCenter, seed_center
from dialer.engine.engine import Engine
from dialer.engine.records import StoreRecords
from dialer.engine.roster import AgentState, Roster
from dialer.simasterisk import Behaviour, NumberModel, PartyKind, SimConfig, SimulatedAsterisk
from store.blocklist import is_blocked
from store.campaigns import update_campaign
from store.db import SessionFactory
from store.enums import GroupKind
from store.models import Attempt, Contact
from store.typifications import add_group, add_result
from tests.engine.plans import PATIENT_S
from tests.waiting import until

FIRST = "573101000000"  # the seed's first contact, dialed first


@dataclass
class Rig:
    engine: Engine
    center: DemoCenter
    sessions: SessionFactory
    events: list[Message]
    ami: AMIClient


@contextlib.asynccontextmanager
async def rig(
    sessions: SessionFactory, party: Behaviour, *, agents: int, **campaign: Any
) -> AsyncIterator[Rig]:
    start = shift_start()
    clock = ScaledClock(20, start=start.timestamp())
    center = await seed_center(sessions, agents=agents, contacts=1, now=start)
    async with sessions() as session, session.begin():
        await update_campaign(session, center.campaign_id, start, **campaign)
    agi = FastAGIServer(port=0)
    port = await agi.start()
    model = NumberModel(seed=1, overrides={FIRST: party})
    sim = SimulatedAsterisk(SimConfig(fastagi_url=f"agi://127.0.0.1:{port}", model=model), clock)
    _, ami_port = await sim.start()
    ami = AMIClient("127.0.0.1", ami_port, ping_interval=None)
    roster = Roster(clock)
    engine = Engine(StoreRecords(sessions, clock, owner="voice"), ami, roster, clock, owner="voice")
    agi.route("outbound", engine.handle_outbound)
    events: list[Message] = []
    ami.on("*", events.append)
    await ami.connect()
    for agent in center.agents:
        roster.add(agent.user_id, agent.name, agent.interface, {center.campaign_id})
        roster.login(agent.user_id)
    try:
        yield Rig(engine, center, sessions, events, ami)
    finally:
        await engine.stop_dialing()
        await engine.drain(30)
        await roster.close()
        await ami.close()
        await sim.stop()
        await agi.close()


async def broadcast_results(sessions: SessionFactory, center: DemoCenter) -> dict[str, int]:
    async with sessions() as session, session.begin():
        group = await add_group(
            session, center.campaign_id, "Broadcast", GroupKind.INDIRECT_CONTACT
        )
        heard = await add_result(session, group.id, "Message heard", is_final=True)
        out = await add_result(session, group.id, "Opted out", is_final=True)
        return {"heard": heard.id, "out": out.id}


async def only_attempt(sessions: SessionFactory) -> Attempt:
    async with sessions() as session:
        [attempt] = list(await session.scalars(select(Attempt)))
        return attempt


def human(keys: str = "", talk_s: float = 30.0) -> Behaviour:
    """A person who answers and stays on the line until the dialer or the agent is done with
    them. No test here is about patience, and a short one raced the wall clock: it runs from
    the answer through AMD, the message up to the key and the hand-off, and at 20x clock speed
    its 10 s left about a third of a second of wall time, beyond those, for every FastAGI round
    trip; a test process stalled that long (a loaded machine, a long garbage collection) saw
    the customer hang up before the agent came."""
    return Behaviour(PartyKind.HUMAN, ring_s=2.0, talk_s=talk_s, patience_s=PATIENT_S, keys=keys)


async def test_a_broadcast_heard_to_the_end_is_recorded_under_its_result(
    session_factory: SessionFactory,
) -> None:
    async with rig(
        session_factory, human(), agents=1, dial_mode="agentless", pacing={"max_channels": 1}
    ) as r:
        ids = await broadcast_results(session_factory, r.center)
        async with session_factory() as session, session.begin():
            await update_campaign(
                session,
                r.center.campaign_id,
                shift_start(),
                broadcast_result_id=ids["heard"],
                opt_out_result_id=ids["out"],
            )
        await r.engine.start_campaign(r.center.campaign_id)
        await until(lambda: r.engine.campaigns[r.center.campaign_id].stats.delivered == 1, 30)
        await r.engine.drain(30)
    attempt = await only_attempt(session_factory)
    assert attempt.outcome is not None and attempt.outcome.value == "answered"
    assert attempt.result_id == ids["heard"]
    assert attempt.agent_id is None


async def test_pressing_9_puts_the_number_on_the_block_list(
    session_factory: SessionFactory,
) -> None:
    async with rig(session_factory, human(keys="9"), agents=1, dial_mode="agentless") as r:
        ids = await broadcast_results(session_factory, r.center)
        async with session_factory() as session, session.begin():
            await update_campaign(
                session,
                r.center.campaign_id,
                shift_start(),
                broadcast_result_id=ids["heard"],
                opt_out_result_id=ids["out"],
            )
        await r.engine.start_campaign(r.center.campaign_id)
        await until(lambda: r.engine.campaigns[r.center.campaign_id].stats.delivered == 1, 30)
        await r.engine.drain(30)
    attempt = await only_attempt(session_factory)
    assert attempt.result_id == ids["out"]
    async with session_factory() as session:
        assert await is_blocked(session, r.center.company_id, "+" + FIRST)


async def test_pressing_1_reaches_an_agent(session_factory: SessionFactory) -> None:
    async with rig(
        session_factory, human(keys="1", talk_s=10), agents=1, dial_mode="agentless"
    ) as r:
        await r.engine.start_campaign(r.center.campaign_id)
        agent_id = r.center.agents[0].user_id
        await until(lambda: r.engine.roster.get(agent_id).state is AgentState.ACW, 30)
        await r.engine.drain(30)
    attempt = await only_attempt(session_factory)
    assert attempt.outcome is not None and attempt.outcome.value == "answered"
    assert attempt.agent_id == agent_id and attempt.connected_at is not None


QUESTIONS = [
    {
        "key": "rating",
        "prompt": "dialer/survey-question",
        "valid": "12345",
        "invalid_prompt": "dialer/survey-invalid",
        "retries": 1,
        "timeout_ms": 3000,
    },
]


def customer_gone(r: Rig) -> bool:
    """The called party's half hung up: the survey handler has finished with the call."""
    return any(m.name == "Hangup" and m.get("Uniqueid", "").endswith("-2") for m in r.events)


async def _agent_ends_call(r: Rig) -> None:
    agent_id = r.center.agents[0].user_id
    await until(lambda: any(m.name == "BridgeEnter" for m in r.events), 30)
    await until(lambda: r.engine.roster.get(agent_id).state is AgentState.ON_CALL, 30)
    await asyncio.sleep(0.2)
    await r.engine.hangup_agent(agent_id)


async def test_the_automatic_survey_stores_the_answer_on_the_attempt_and_the_contact(
    session_factory: SessionFactory,
) -> None:
    async with rig(
        session_factory,
        human(keys="4", talk_s=600),
        agents=1,
        survey_mode="auto",
        survey_questions=QUESTIONS,
    ) as r:
        await r.engine.start_campaign(r.center.campaign_id)
        await _agent_ends_call(r)
        await until(lambda: customer_gone(r), 30)
        await r.engine.drain(30)
    attempt = await only_attempt(session_factory)
    assert attempt.survey_answers["answers"] == {"rating": "4"}
    assert attempt.survey_answers["complete"] is True
    async with session_factory() as session:
        contact = await session.get(Contact, attempt.contact_id)
    assert contact is not None
    assert contact.additional_data["last_survey"]["answers"] == {"rating": "4"}


async def test_no_survey_in_agent_mode_unless_the_agent_asks(
    session_factory: SessionFactory,
) -> None:
    async with rig(
        session_factory,
        human(keys="5", talk_s=600),
        agents=1,
        survey_mode="agent",
        survey_questions=QUESTIONS,
    ) as r:
        await r.engine.start_campaign(r.center.campaign_id)
        await _agent_ends_call(r)
        await until(lambda: customer_gone(r), 30)
        await r.engine.drain(30)
    attempt = await only_attempt(session_factory)
    assert attempt.survey_answers == {}
    assert not any("GET DATA" in m.get("Command", "") for m in r.events)


async def test_the_survey_at_the_agent_s_choice_runs_when_asked(
    session_factory: SessionFactory,
) -> None:
    async with rig(
        session_factory,
        human(keys="5", talk_s=600),
        agents=1,
        survey_mode="agent",
        survey_questions=QUESTIONS,
    ) as r:
        await r.engine.start_campaign(r.center.campaign_id)
        agent_id = r.center.agents[0].user_id
        await until(lambda: r.engine.roster.get(agent_id).state is AgentState.ON_CALL, 30)
        r.engine.request_survey(agent_id)
        await _agent_ends_call(r)
        await until(lambda: customer_gone(r), 30)
        await r.engine.drain(30)
    attempt = await only_attempt(session_factory)
    assert attempt.survey_answers["answers"] == {"rating": "5"}


async def test_a_hang_up_in_the_middle_of_the_survey_keeps_what_was_answered(
    session_factory: SessionFactory,
) -> None:
    # Two questions; the customer answers the first (4) and hangs up during the second.
    questions = [*QUESTIONS, {**QUESTIONS[0], "key": "recommend"}]
    async with rig(
        session_factory,
        human(keys="4", talk_s=600),
        agents=1,
        survey_mode="auto",
        survey_questions=questions,
    ) as r:
        await r.engine.start_campaign(r.center.campaign_id)
        await _agent_ends_call(r)

        def asked() -> list[Message]:
            return [
                m
                for m in r.events
                if m.name == "AGIExecStart" and "GET DATA" in m.get("Command", "")
            ]

        await until(lambda: len(asked()) == 2, 30)
        await r.ami.hangup(asked()[1]["Channel"])
        # Wait here, with everything still running, for the handler to store what it has: the
        # attempt left the engine's calls when the agent's part ended, so drain() does not wait
        # for the survey, and leaving the rig would cancel the handler instead of testing the
        # hang-up.
        for _ in range(500):
            attempt = await only_attempt(session_factory)
            if attempt.survey_answers:
                break
            await asyncio.sleep(0.02)
    assert attempt.survey_answers["complete"] is False
    assert attempt.survey_answers["answers"] == {"rating": "4"}
    async with session_factory() as session:
        contact = await session.get(Contact, attempt.contact_id)
    assert contact is not None
    assert contact.additional_data["last_survey"]["answers"] == {"rating": "4"}
