"""The engine on the real store (SQLite and PostgreSQL) against the simulated Asterisk.

The demo's own contact center (dialer/demo_seed.py: a predictive campaign with its "No contact"
group mapped per outcome, agents, contacts imported from a .csv), a short shift, then what the
database says.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from agi.server import FastAGIServer
from ami.client import AMIClient
from dialer.clock import ScaledClock
from dialer.demo import shift_start
from dialer.demo_seed import DemoCenter, seed_center
from dialer.engine.engine import AMI_EVENTS, Engine
from dialer.engine.ports import CampaignCannotStart, Typification
from dialer.engine.records import ACW_TIMEOUT_NOTE, StoreRecords
from dialer.engine.roster import AgentState, Roster
from dialer.simasterisk import NumberModel, SimConfig, SimulatedAsterisk
from store.blocklist import block_number
from store.db import SessionFactory
from store.enums import AssignmentState, CallOutcome, GroupKind
from store.models import Assignment, Attempt, TypificationGroup, TypificationResult
from tests.engine.plans import PATIENT_S
from tests.waiting import until


@dataclass
class Shift:
    engine: Engine
    center: DemoCenter
    sessions: SessionFactory
    clock: ScaledClock


@contextlib.asynccontextmanager
async def shift(
    sessions: SessionFactory, *, agents: int, contacts: int, model: NumberModel | None = None
) -> AsyncIterator[Shift]:
    start = shift_start()
    clock = ScaledClock(40, start=start.timestamp())
    center = await seed_center(sessions, agents=agents, contacts=contacts, now=start, acw_max_s=20)
    agi = FastAGIServer(port=0)
    port = await agi.start()
    model = model or NumberModel(
        seed=5, ring_median_s=4.0, talk_median_s=20.0, patience_s=PATIENT_S
    )
    sim = SimulatedAsterisk(SimConfig(fastagi_url=f"agi://127.0.0.1:{port}", model=model), clock)
    _, ami_port = await sim.start()
    ami = AMIClient("127.0.0.1", ami_port, ping_interval=None, events=AMI_EVENTS)  # as served
    roster = Roster(clock)
    # Leases far shorter than the calls: only renewal keeps a contact from a second dial.
    records = StoreRecords(sessions, clock, owner="test", lease_seconds=15)
    engine = Engine(records, ami, roster, clock, owner="test", lease_renew_s=4.0)
    agi.route("outbound", engine.handle_outbound)
    await ami.connect()
    for agent in center.agents:
        roster.add(agent.user_id, agent.name, agent.interface, {center.campaign_id})
        roster.login(agent.user_id)
    try:
        yield Shift(engine, center, sessions, clock)
    finally:
        await engine.stop_dialing()
        await engine.drain(60)
        await roster.close()
        await ami.close()
        await sim.stop()
        await agi.close()


@contextlib.asynccontextmanager
async def typifying(s: Shift) -> AsyncIterator[None]:
    """Agents typify at once while the block runs. They stop between two typifications, not
    in the middle of one: a write cancelled half-way can leave its connection to the
    database's teardown."""
    stop = asyncio.Event()

    async def desk() -> None:
        sale = s.center.direct_results["Sale"]
        while not stop.is_set():
            for agent in list(s.engine.roster.agents.values()):
                if agent.state is AgentState.ACW:
                    assert agent.attempt_id is not None
                    with contextlib.suppress(ValueError):
                        await s.engine.typify(
                            Typification(agent.attempt_id, agent.agent_id, sale),
                            s.center.campaign_id,
                        )
            await asyncio.sleep(0.01)

    task = asyncio.create_task(desk())
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def attempts(sessions: SessionFactory) -> list[Attempt]:
    async with sessions() as session:
        return list(await session.scalars(select(Attempt).order_by(Attempt.id)))


async def test_a_shift_writes_one_outcome_per_attempt(session_factory: SessionFactory) -> None:
    async with shift(session_factory, agents=3, contacts=25) as s, typifying(s):
        await s.engine.start_campaign(s.center.campaign_id)
        await until(lambda: s.engine.campaigns[s.center.campaign_id].stats.placed >= 25, 60)
        await s.engine.stop_dialing()
        await s.engine.drain(120)
    rows = await attempts(session_factory)
    assert len(rows) >= 25
    assert all(a.outcome is not None for a in rows), "an attempt without its outcome"
    assert all(a.result_id is not None for a in rows if a.outcome.value != "answered")  # type: ignore[union-attr]
    answered = [a for a in rows if a.outcome.value == "answered"]  # type: ignore[union-attr]
    assert answered, "nobody answered in 25 calls"
    assert all(a.agent_id is not None and a.connected_at is not None for a in answered)
    # A call never reaching an agent is typified under the campaign's "No contact" group.
    async with session_factory() as session:
        kinds = dict(
            (
                await session.execute(
                    select(TypificationResult.id, TypificationGroup.kind).join(
                        TypificationGroup, TypificationGroup.id == TypificationResult.group_id
                    )
                )
            ).all()
        )
    for a in rows:
        if a.outcome.value in ("no_answer", "busy", "machine", "congestion", "invalid"):  # type: ignore[union-attr]
            assert kinds[a.result_id] == GroupKind.NO_CONTACT


async def test_a_restart_starts_the_abandon_windows_where_the_store_left_them(
    session_factory: SessionFactory,
) -> None:
    """A campaign at the cap stays at it across a restart or a takeover: the 24-hour and
    30-day windows are read back from the stored outcomes, not started empty."""
    async with shift(session_factory, agents=3, contacts=25) as s:
        start = s.engine.now()
        async with session_factory() as session, session.begin():
            for i in range(40):  # an hour before: 38 connected, 2 dropped (5 %)
                ended = start - dt.timedelta(hours=1, seconds=i)
                session.add(
                    Attempt(
                        campaign_id=s.center.campaign_id,
                        e164="+15550000001",
                        created_at=ended,
                        ended_at=ended,
                        outcome=CallOutcome.DROPPED if i < 2 else CallOutcome.ANSWERED,
                        connected_at=None if i < 2 else ended,
                    )
                )
        running = await s.engine.start_campaign(s.center.campaign_id)
        await until(lambda: bool(running.pacer.history), 30)
        await s.engine.stop_dialing()
    first = running.pacer.history[0].guard
    assert first["live_answers_24h"] == 40
    assert first["abandon_rate_24h"] == pytest.approx(0.05)
    assert first["abandon_rate_30d"] == pytest.approx(0.05)
    assert first["mode"] == "at_cap"


async def test_no_contact_is_in_two_calls_at_once(session_factory: SessionFactory) -> None:
    async with shift(session_factory, agents=4, contacts=30) as s, typifying(s):
        await s.engine.start_campaign(s.center.campaign_id)
        await until(lambda: s.engine.campaigns[s.center.campaign_id].stats.placed >= 30, 60)
        await s.engine.stop_dialing()
        await s.engine.drain(120)
    rows = await attempts(session_factory)
    by_contact: dict[int, list[Attempt]] = {}
    for a in rows:
        by_contact.setdefault(a.contact_id or 0, []).append(a)
    for calls in by_contact.values():
        calls.sort(key=lambda a: a.created_at)
        for earlier, later in itertools.pairwise(calls):
            assert earlier.ended_at is not None and earlier.ended_at <= later.created_at


async def test_the_acw_timer_applies_the_default_typification(
    session_factory: SessionFactory,
) -> None:
    async with shift(session_factory, agents=1, contacts=6) as s:
        await s.engine.start_campaign(s.center.campaign_id)  # nobody ever typifies
        agent = s.engine.roster.get(s.center.agents[0].user_id)
        # In ACW after the first call, then out of it by the timer (waiting for "not in ACW"
        # alone would pass while the first call is still being talked).
        await until(lambda: agent.state is AgentState.ACW, 60)
        await until(lambda: agent.state is not AgentState.ACW, 60)
        await s.engine.stop_dialing()
        await s.engine.drain(120)
    rows = [a for a in await attempts(session_factory) if a.outcome.value == "answered"]  # type: ignore[union-attr]
    assert rows
    first = rows[0]
    assert first.comments == ACW_TIMEOUT_NOTE
    assert first.result_id == s.center.acw_default_result


async def test_a_blocked_number_never_rings(session_factory: SessionFactory) -> None:
    async with shift(session_factory, agents=2, contacts=4) as s:
        async with session_factory() as session, session.begin():
            await block_number(session, s.center.company_id, "+573101000001", s.engine.now())
        async with typifying(s):
            await s.engine.start_campaign(s.center.campaign_id)
            await until(lambda: s.engine.campaigns[s.center.campaign_id].stats.placed >= 3, 60)
            await s.engine.stop_dialing()
            await s.engine.drain(120)
    rows = await attempts(session_factory)
    assert "+573101000001" not in {a.e164 for a in rows}


async def test_predictive_refuses_to_start_without_its_no_contact_results(
    session_factory: SessionFactory,
) -> None:
    async with shift(session_factory, agents=1, contacts=1) as s:
        async with session_factory() as session, session.begin():
            groups = await session.scalars(
                select(TypificationGroup).where(
                    TypificationGroup.campaign_id == s.center.campaign_id,
                    TypificationGroup.kind == GroupKind.NO_CONTACT,
                )
            )
            for group in groups:
                group.kind = GroupKind.INDIRECT_CONTACT
        with pytest.raises(CampaignCannotStart, match="no-contact group"):
            await s.engine.start_campaign(s.center.campaign_id)
        assert s.engine.campaigns == {}
    async with session_factory() as session:
        pending = await session.scalar(
            select(func.count()).where(Assignment.state != AssignmentState.PENDING)
        )
    assert pending == 0
