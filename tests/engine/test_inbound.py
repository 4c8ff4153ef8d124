"""Inbound queues and blended agents (issue 6) end to end: the engine, the inbound desk and the
real store (SQLite and PostgreSQL) against the simulated Asterisk.

The demo's contact center (a predictive outbound campaign and its agents) plus inbound
campaigns of the same company: each with a queue and a DID. Callers are the simulator's
inbound callers (a trunk channel into [dialer-inbound], which runs our FastAGI ``inbound``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from agi.server import FastAGIServer
from ami.client import AMIClient
from ami.codec import Message
from dialer.api import Api
from dialer.clock import ScaledClock
from dialer.demo import shift_start
from dialer.demo_seed import DemoCenter, seed_center
from dialer.engine.engine import PREVIOUS_RUN_ENDED, PREVIOUS_RUN_GONE, Engine
from dialer.engine.inbound import NO_ANSWER_PAUSE, PHONE_UNAVAILABLE_PAUSE, InboundDesk
from dialer.engine.inbound_records import InboundRecords
from dialer.engine.ports import Typification
from dialer.engine.records import ACW_TIMEOUT_NOTE, StoreRecords
from dialer.engine.roster import AgentState, Roster
from dialer.inbound_calls import InboundTracker
from dialer.metrics import Registry
from dialer.simasterisk import InboundCaller, NumberModel, SimConfig, SimulatedAsterisk
from pacing.blend import Blended
from pacing.decision import Decision
from store.audit import history
from store.campaigns import create_campaign, link_campaigns
from store.contacts import create_contact
from store.db import SessionFactory
from store.enums import CallOutcome, Direction, GroupKind, OperationType, Role, TicketState
from store.inbound import set_dids
from store.models import Attempt, Contact, Ticket
from store.typifications import add_group, add_result
from store.users import add_member, create_user, issue_token
from tests.engine.plans import PATIENT_S
from tests.waiting import until

SERVICE_DID = "5716000100"  # always open, queue "service"
NIGHT_DID = "5716000200"  # closed now, out-of-hours action "close"
AFTER_HOURS_DID = "5716000300"  # closed now, out-of-hours action "queue"
BILLING_DID = "5716000400"  # queue "billing", linked to "service" (seed 000)
KNOWN_CALLER = "573001112233"
# A window that never contains the shift's weekday 09:00 (Bogota): Sundays at midnight.
CLOSED_NOW = {"sun": [["00:00", "00:30"]]}
BOGOTA = ZoneInfo("America/Bogota")
OUT_OF_HOURS = "dialer/out-of-hours"


@dataclass
class Center:
    demo: DemoCenter
    service: int
    night: int
    after_hours: int
    billing: int
    resolved: int  # a "Resolved" result of the service campaign
    contact_id: int
    agents: list[int]
    supervisor_token: str
    agent_tokens: list[str]


async def seed_inbound(
    sessions: SessionFactory,
    now: dt.datetime,
    *,
    agents: int,
    allow_reassignment: bool,
    management: bool = False,
) -> Center:
    demo = await seed_center(sessions, agents=agents, contacts=40, now=now, acw_max_s=30)
    async with sessions() as session, session.begin():
        company = demo.company_id

        async def inbound(name: str, queue: str, did: str, **settings: Any) -> int:
            campaign = await create_campaign(
                session,
                company,
                name,
                OperationType.CUSTOMER_SERVICE,
                now,
                queue=queue,
                timezone="America/Bogota",
                acw_max_seconds=60,
                **settings,
            )
            await set_dids(session, campaign.id, [did])
            return campaign.id

        service = await inbound(
            "Service",
            "service",
            SERVICE_DID,
            allow_reassignment=allow_reassignment,
            allow_calls_in_management=management,
        )
        night = await inbound(
            "Night line",
            "night",
            NIGHT_DID,
            schedule=CLOSED_NOW,
            out_of_hours_action="close",
            out_of_hours_message=OUT_OF_HOURS,
        )
        after_hours = await inbound(
            "After hours",
            "after-hours",
            AFTER_HOURS_DID,
            schedule=CLOSED_NOW,
            out_of_hours_action="queue",
            out_of_hours_message=OUT_OF_HOURS,
        )
        billing = await inbound("Billing", "billing", BILLING_DID)
        await link_campaigns(session, service, billing, penalty=2)
        group = await add_group(session, service, "Handled", GroupKind.DIRECT_CONTACT)
        resolved = (await add_result(session, group.id, "Resolved", is_final=True)).id
        ids = [a.user_id for a in demo.agents]
        for user_id in ids:
            for campaign_id in (service, night, after_hours):
                await add_member(session, campaign_id, user_id, now)
        contact = await create_contact(
            session,
            company,
            now,
            customer_type="person",
            document_type="CC",
            document_number="1020304050",
            first_name="Marta",
            first_surname="Ruiz",
            phones=["+" + KNOWN_CALLER],
        )
        boss = await create_user(session, company, "boss", Role.SUPERVISOR, now)
        supervisor_token = await issue_token(session, boss.id, now)
        tokens = [await issue_token(session, user_id, now) for user_id in ids]
    return Center(
        demo,
        service,
        night,
        after_hours,
        billing,
        resolved,
        contact.id,
        ids,
        supervisor_token,
        tokens,
    )


@dataclass
class Floor:
    engine: Engine
    desk: InboundDesk
    center: Center
    sessions: SessionFactory
    clock: ScaledClock
    sim: SimulatedAsterisk
    api: TestClient  # type: ignore[type-arg]
    ami: AMIClient
    agi: FastAGIServer
    reserve: bool = True
    events: list[Message] = field(default_factory=list)
    alive: bool = True  # the dialer run is up (kill ends it)

    @property
    def roster(self) -> Roster:
        return self.engine.roster

    async def call(
        self, did: str, caller: str, *, patience_s: float = 120, talk_s: float = 8
    ) -> str:
        channel = await self.sim.asterisk.inbound_call(
            InboundCaller(did=did, caller_num=caller, patience_s=patience_s, talk_s=talk_s)
        )
        return channel.uniqueid

    def members(self, queue: str) -> dict[str, Any]:
        return dict(self.sim.asterisk.queues[queue].members)

    def headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@contextlib.asynccontextmanager
async def floor(
    sessions: SessionFactory,
    *,
    agents: int = 2,
    allow_reassignment: bool = True,
    reserve: bool = True,
    management: bool = False,
) -> AsyncIterator[Floor]:
    start = shift_start()
    clock = ScaledClock(20, start=start.timestamp())
    center = await seed_inbound(
        sessions,
        start,
        agents=agents,
        allow_reassignment=allow_reassignment,
        management=management,
    )
    probe = FastAGIServer(port=0)  # a free port, the same for a restarted dialer
    port = await probe.start()
    await probe.close()
    model = NumberModel(
        seed=3, ring_median_s=3.0, talk_median_s=15.0, p_machine=0.0, patience_s=PATIENT_S
    )
    sim = SimulatedAsterisk(
        SimConfig(
            fastagi_url=f"agi://127.0.0.1:{port}",
            model=model,
            queues=("service", "night", "after-hours", "billing"),
        ),
        clock,
    )
    await sim.start()
    f = await dialer_run(sessions, center, clock, sim, port, reserve)
    try:
        yield f
    finally:
        await f.engine.stop_dialing()
        await f.engine.drain(60)
        await f.desk.drain()
        await f.api.close()
        await f.engine.roster.close()
        await f.ami.close()
        await sim.stop()
        await f.agi.close()


async def dialer_run(
    sessions: SessionFactory,
    center: Center,
    clock: ScaledClock,
    sim: SimulatedAsterisk,
    agi_port: int,
    reserve: bool,
    owner: str = "test",
) -> Floor:
    """One run of the dialer process (engine, inbound desk, API) on the floor's Asterisk."""
    agi = FastAGIServer(port=agi_port)
    await agi.start()
    ami = AMIClient("127.0.0.1", sim.ami.port, ping_interval=None)
    records = StoreRecords(sessions, clock, owner=owner)
    engine = Engine(records, ami, Roster(clock), clock, owner=owner)
    desk = InboundDesk(engine, InboundRecords(records), reserve=reserve)
    agi.route("outbound", engine.handle_outbound)
    agi.route("inbound", desk.handle_inbound)
    api = TestClient(TestServer(Api(engine, sessions, Registry(), inbound=desk).app()))
    await api.start_server()
    f = Floor(engine, desk, center, sessions, clock, sim, api, ami, agi, reserve)
    ami.on("*", f.events.append)
    await desk.load()
    await ami.connect()  # the first connect settles what a previous run left open
    return f


async def kill(f: Floor) -> None:
    """The dialer process dies: it hears nothing more, and writes nothing more (its FastAGI
    handlers, cut off, would otherwise record the calls they were running)."""
    f.alive = False
    f.desk._spawn = _dead  # type: ignore[method-assign]
    pending = [*f.engine._writes, *f.desk._writes]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    await f.ami.close()
    await f.agi.close()
    await f.api.close()
    await f.engine.roster.close()


def _dead(coroutine: Any) -> None:
    coroutine.close()


async def restart(f: Floor) -> None:
    """The dialer process dies and starts again: the floor's dialer is the new run from here."""
    if f.alive:
        await kill(f)
    new = await dialer_run(f.sessions, f.center, f.clock, f.sim, f.agi.port, f.reserve)
    f.engine, f.desk, f.api, f.ami, f.agi, f.events = (
        new.engine,
        new.desk,
        new.api,
        new.ami,
        new.agi,
        new.events,
    )


async def login_all(f: Floor) -> None:
    for token in f.center.agent_tokens:
        response = await f.api.post("/api/agent/login", headers=f.headers(token))
        assert response.status == 200


async def the_agent_in_service(f: Floor) -> tuple[int, str]:
    """The floor's one agent, logged in and a member of Service's queue: (id, phone)."""
    [agent_id] = f.center.agents
    await login_all(f)
    phone = f.roster.get(agent_id).interface
    await until(lambda: phone in f.members("service"), 10)
    return agent_id, phone


@contextlib.asynccontextmanager
async def behind_the_dialers_back(f: Floor) -> AsyncIterator[AMIClient]:
    """Another AMI session on the simulated Asterisk, changing what the dialer set up."""
    other = AMIClient("127.0.0.1", f.sim.port, ping_interval=None)
    await other.connect()
    try:
        yield other
    finally:
        await other.close()


async def inbound_attempts(f: Floor) -> list[Attempt]:
    async with f.sessions() as session:
        return list(
            await session.scalars(
                select(Attempt).where(Attempt.direction == Direction.INBOUND).order_by(Attempt.id)
            )
        )


async def until_started(f: Floor, n: int, timeout: float = 10) -> list[Attempt]:
    """The first ``n`` inbound attempts, once written (outcome or not)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        found = await inbound_attempts(f)
        if len(found) >= n:
            return found[:n]
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {n} inbound attempts written")


async def until_written(f: Floor, n: int, timeout: float = 30) -> list[Attempt]:
    """The first ``n`` inbound attempts, once each has its outcome."""
    found: list[Attempt] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        found = await inbound_attempts(f)
        if len(found) >= n and all(a.outcome is not None for a in found[:n]):
            return found[:n]
        await asyncio.sleep(0.05)
    raise AssertionError(f"inbound attempts not written: {[(a.id, a.outcome) for a in found]}")


async def until_state(f: Floor, agent_id: int, state: AgentState, timeout: float = 20) -> None:
    await until(lambda: f.roster.get(agent_id).state is state, timeout)


async def typify(f: Floor, agent_id: int) -> None:
    agent = f.roster.get(agent_id)
    assert agent.attempt_id is not None and agent.campaign_id is not None
    await f.engine.typify(
        Typification(agent.attempt_id, agent_id, f.center.resolved), agent.campaign_id
    )


def played(f: Floor, sound: str) -> bool:
    return any(m.name == "AGIExecStart" and sound in (m.get("Command") or "") for m in f.events)


# -- routing by DID and schedule -------------------------------------------------------------


async def test_in_hours_a_did_call_joins_its_campaign_queue_reaches_an_agent_and_is_recorded(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory) as f:
        await login_all(f)
        first = f.center.agents[0]
        await f.call(SERVICE_DID, KNOWN_CALLER, talk_s=6)
        await until(lambda: any(a.state is AgentState.ACW for a in f.roster.agents.values()), 20)
        agent = next(a for a in f.roster.agents.values() if a.state is AgentState.ACW)
        assert agent.inbound and agent.campaign_id == f.center.service
        # The agent typifies the inbound call as any other.
        await typify(f, agent.agent_id)
        [attempt] = await until_written(f, 1)
        assert f.roster.get(agent.agent_id).state is AgentState.AVAILABLE
        assert first in f.center.agents
    assert attempt.campaign_id == f.center.service
    assert attempt.outcome is CallOutcome.ANSWERED
    assert attempt.agent_id == agent.agent_id
    assert attempt.result_id == f.center.resolved
    assert attempt.contact_id == f.center.contact_id
    assert attempt.connected_at is not None and attempt.ended_at is not None
    # The wait ended when the agent answered; the talk followed.
    wait = attempt.queue_wait_seconds
    assert (
        wait is not None
        and 0 <= wait <= (attempt.connected_at - attempt.created_at).total_seconds()
    )
    assert attempt.ended_at > attempt.connected_at
    async with session_factory() as session:
        ticket = await session.get(Ticket, attempt.ticket_id)
    assert ticket is not None and ticket.contact_id == f.center.contact_id
    assert ticket.campaign_id == f.center.service and ticket.state is TicketState.OPEN


async def test_a_second_call_of_the_contact_goes_under_its_open_ticket_and_a_stranger_has_none(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory) as f:
        await login_all(f)
        await f.call(SERVICE_DID, KNOWN_CALLER, talk_s=3)
        await until_written(f, 1)
        await f.call(SERVICE_DID, KNOWN_CALLER, talk_s=3)
        await f.call(SERVICE_DID, "573009990000", talk_s=3)
        rows = await until_written(f, 3)
    known = [a for a in rows if a.contact_id == f.center.contact_id]
    assert len(known) == 2 and known[0].ticket_id == known[1].ticket_id is not None
    [stranger] = [a for a in rows if a.contact_id is None]
    assert stranger.ticket_id is None and stranger.outcome is CallOutcome.ANSWERED


async def test_a_caller_is_still_served_when_the_attempt_cannot_be_written(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory) as f:
        await login_all(f)

        async def records_down(*args: object) -> tuple[int, object]:
            raise OSError("database unreachable")

        f.desk.records.arrived = records_down  # type: ignore[method-assign,assignment]
        await f.call(SERVICE_DID, KNOWN_CALLER, talk_s=3)
        await until(lambda: any(a.state is AgentState.ACW for a in f.roster.agents.values()), 20)
        assert any(m.name == "AgentConnect" for m in f.events)
    assert await inbound_attempts(f) == []


async def test_out_of_hours_close_plays_the_message_and_no_agent_is_rung(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory) as f:
        await login_all(f)
        await f.call(NIGHT_DID, KNOWN_CALLER)
        [attempt] = await until_written(f, 1)
        assert played(f, OUT_OF_HOURS)
        assert not any(m.name == "AgentCalled" for m in f.events)
        assert not any(m.name == "QueueCallerJoin" for m in f.events)
    assert attempt.campaign_id == f.center.night
    assert attempt.outcome is CallOutcome.CLOSED
    assert attempt.agent_id is None and attempt.queue_wait_seconds is None


async def test_a_caller_asterisk_cannot_bring_to_the_dialer_hears_why_and_is_logged(
    session_factory: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # [dialer-inbound]'s fallback (configs/asterisk/extensions_dialer.conf): the FastAGI
    # listener is down while the AMI link stays up.
    async with floor(session_factory) as f:
        await login_all(f)
        await f.agi.close()
        heard: list[bytes] = []
        f.sim.asterisk.listeners.append(
            lambda name, data: (
                heard.append(data)
                if name == "Newexten" and b"AppData: dialer/unavailable\r\n" in data
                else None
            )
        )
        with caplog.at_level(logging.ERROR, logger="dialer.engine.inbound"):
            uniqueid = await f.call(SERVICE_DID, KNOWN_CALLER)
            await until(lambda: bool(heard), 10)
            await until(lambda: any("FastAGI" in r.getMessage() for r in caplog.records), 10)
        assert not any(m.name == "QueueCallerJoin" for m in f.events)
        figures = f.desk.stats["service"].figures()
        [attempt] = await inbound_attempts(f)
    [logged] = [r.getMessage() for r in caplog.records if "FastAGI" in r.getMessage()]
    assert SERVICE_DID in logged and KNOWN_CALLER in logged and f"attempt {attempt.id}" in logged
    # Recorded, not only logged: the campaign's lost call, under the caller's ticket.
    assert attempt.outcome is CallOutcome.UNREACHED
    assert (attempt.campaign_id, attempt.e164) == (f.center.service, "+" + KNOWN_CALLER)
    assert attempt.contact_id == f.center.contact_id and attempt.ticket_id is not None
    assert attempt.channel_uniqueid == uniqueid and attempt.ended_at is not None
    assert (figures["unreached"], figures["offered"]) == (1, 0)


def unreached(*desks: InboundDesk) -> int:
    return sum(stats.unreached for desk in desks for stats in desk.stats.values())


async def test_a_call_no_dialer_could_take_is_recorded_once_by_all_the_dialers_told_of_it(
    session_factory: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # Two dialer processes on one Asterisk, each hearing the fallback's UserEvent.
    async with floor(session_factory) as f:
        other = await dialer_run(f.sessions, f.center, f.clock, f.sim, 0, f.reserve, owner="test-2")
        try:
            await f.agi.close()  # where [globals] DIALER_FASTAGI points
            with caplog.at_level(logging.ERROR, logger="dialer.engine.inbound"):
                await f.call(SERVICE_DID, KNOWN_CALLER)
                await until(lambda: unreached(f.desk, other.desk) == 1, 10)
                await f.desk.drain()
                await other.desk.drain()
            attempts = await inbound_attempts(f)
            assert unreached(f.desk, other.desk) == 1  # counted by the one that wrote it
        finally:
            await kill(other)
    assert [a.outcome for a in attempts] == [CallOutcome.UNREACHED]
    logged = [r for r in caplog.records if "could not reach the dialer's FastAGI" in r.getMessage()]
    assert len(logged) == 1


async def test_out_of_hours_queue_plays_the_message_then_queues_the_call(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory) as f:
        await login_all(f)
        await f.call(AFTER_HOURS_DID, KNOWN_CALLER, talk_s=3)
        [attempt] = await until_written(f, 1)
        assert played(f, OUT_OF_HOURS)
        join = next(m for m in f.events if m.name == "QueueCallerJoin")
        assert join["Queue"] == "after-hours"
    assert attempt.campaign_id == f.center.after_hours
    assert attempt.outcome is CallOutcome.ANSWERED and attempt.agent_id in f.center.agents


# -- the assigned user first (seed 000) ------------------------------------------------------


async def assign_contact(f: Floor, agent_id: int) -> None:
    async with f.sessions() as session, session.begin():
        contact = await session.get(Contact, f.center.contact_id)
        assert contact is not None
        contact.assigned_user_id = agent_id


async def test_a_known_caller_goes_to_their_assigned_user_first(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory) as f:
        await login_all(f)
        longest, assigned = f.center.agents  # the queue alone would pick the first
        await assign_contact(f, assigned)
        await f.call(SERVICE_DID, KNOWN_CALLER, talk_s=3)
        [attempt] = await until_written(f, 1)
        assert f.roster.get(longest).calls == 0
        # Not through the queue: the handler dialed the user's phone.
        assert not any(m.name == "QueueCallerJoin" for m in f.events)
    assert attempt.agent_id == assigned and attempt.outcome is CallOutcome.ANSWERED
    assert attempt.queue_wait_seconds is not None


async def test_a_busy_assigned_user_falls_back_to_the_first_available_agent(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory) as f:
        await login_all(f)
        other, assigned = f.center.agents
        await assign_contact(f, assigned)
        f.roster.pause(assigned, "meeting")
        await f.call(SERVICE_DID, KNOWN_CALLER, talk_s=3)
        [attempt] = await until_written(f, 1)
    assert attempt.agent_id == other and attempt.outcome is CallOutcome.ANSWERED


async def test_without_reassignment_the_caller_waits_for_their_assigned_user(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory, allow_reassignment=False) as f:
        await login_all(f)
        other, assigned = f.center.agents
        await assign_contact(f, assigned)
        f.roster.pause(assigned, "meeting")
        await f.call(SERVICE_DID, KNOWN_CALLER, talk_s=3)
        await until(lambda: len(f.desk.tracker.waiting()) == 1, 10)
        # The other agent stays free; the waiting caller is shown in the queue.
        await f.clock.sleep(5)
        assert f.roster.get(other).state is AgentState.AVAILABLE
        view = await (
            await f.api.get("/api/queues", headers=f.headers(f.center.supervisor_token))
        ).json()
        service = next(q for q in view["queues"] if q["queue"] == "service")
        assert service["calls_waiting"] == 1 and service["longest_wait_s"] >= 4
        f.roster.ready(assigned)
        [attempt] = await until_written(f, 1)
        assert f.roster.get(other).calls == 0
    assert attempt.agent_id == assigned and attempt.outcome is CallOutcome.ANSWERED
    assert attempt.queue_wait_seconds is not None and attempt.queue_wait_seconds >= 4
    # The caller heard hold music while waiting, stopped before their user's phone rang.
    heard = [
        m.name for m in f.events if m.name in ("MusicOnHoldStart", "MusicOnHoldStop", "DialBegin")
    ]
    assert heard[:3] == ["MusicOnHoldStart", "MusicOnHoldStop", "DialBegin"]


async def test_a_supervisor_gives_a_campaign_a_new_did_and_its_next_call_is_routed_there(
    session_factory: SessionFactory,
) -> None:
    new_did = "5716000499"
    async with floor(session_factory) as f:
        await login_all(f)
        supervisor = f.headers(f.center.supervisor_token)
        response = await f.api.put(
            f"/api/campaigns/{f.center.billing}/dids",
            headers=supervisor,
            json={"dids": [BILLING_DID, "+" + new_did]},
        )
        assert response.status == 200
        assert (await response.json())["dids"] == [BILLING_DID, new_did]
        await f.call(new_did, KNOWN_CALLER, talk_s=3)
        [attempt] = await until_written(f, 1)
        listed = await (
            await f.api.get(f"/api/campaigns/{f.center.billing}/dids", headers=supervisor)
        ).json()
    assert attempt.campaign_id == f.center.billing
    assert listed == {"campaign_id": f.center.billing, "dids": [BILLING_DID, new_did]}
    async with session_factory() as session:
        entries = await history(session, "campaign", f.center.billing)
    [entry] = [e for e in entries if e.action == "dids"]
    assert entry.user_id is not None and entry.changes == {
        "before": [BILLING_DID],
        "after": [BILLING_DID, new_did],
    }


async def test_a_did_that_belongs_to_another_campaign_is_refused_by_name(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory) as f:
        url = f"/api/campaigns/{f.center.billing}/dids"
        supervisor = f.headers(f.center.supervisor_token)
        taken = await f.api.put(url, headers=supervisor, json={"dids": [SERVICE_DID]})
        taken_body = await taken.json()
        not_a_number = await f.api.put(url, headers=supervisor, json={"dids": ["billing"]})
        not_a_number_body = await not_a_number.json()
        as_agent = await f.api.put(
            url, headers=f.headers(f.center.agent_tokens[0]), json={"dids": []}
        )
        outbound = await f.api.put(
            f"/api/campaigns/{f.center.demo.campaign_id}/dids",
            headers=supervisor,
            json={"dids": ["5716000999"]},
        )
        outbound_body = await outbound.json()
        left = await (await f.api.get(url, headers=supervisor)).json()
    assert outbound.status == 400 and "has no queue" in outbound_body["error"]
    assert taken.status == 400
    assert taken_body["field"] == "dids"
    assert taken_body["error"].endswith(
        f"{SERVICE_DID} already belongs to campaign {f.center.service}"
    )
    assert not_a_number.status == 400 and "'billing' is not a number" in not_a_number_body["error"]
    assert as_agent.status == 403
    assert left["dids"] == [BILLING_DID]  # nothing changed


# -- agents across campaigns' queues ---------------------------------------------------------


async def test_an_agent_working_two_campaigns_is_in_both_queues_paused_and_removed_from_both(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory, agents=1) as f:
        [agent_id] = f.center.agents
        token = f.center.agent_tokens[0]
        interface = f.roster.agents.get(agent_id)
        assert interface is None  # not logged in yet
        await f.api.post("/api/agent/login", headers=f.headers(token))
        phone = f.roster.get(agent_id).interface
        # Its campaigns' queues, and the queue linked to Service (seed 000) at the link's penalty.
        await until(lambda: all(phone in f.members(q) for q in ("service", "billing")), 10)
        assert f.members("service")[phone].penalty == 0
        assert f.members("billing")[phone].penalty == 2
        assert f.members("service")[phone].state_interface == phone
        assert not f.members("service")[phone].paused
        await f.api.post("/api/agent/pause", headers=f.headers(token), json={"reason": "lunch"})
        queues = ("service", "billing", "night", "after-hours")
        await until(lambda: all(f.members(q)[phone].paused for q in queues), 10)
        assert f.members("billing")[phone].paused_reason == "lunch"
        await f.api.post("/api/agent/ready", headers=f.headers(token))
        await until(lambda: not any(f.members(q)[phone].paused for q in queues), 10)
        # A call of the linked campaign reaches the agent too.
        await f.call(BILLING_DID, "573005550000", talk_s=3)
        await until_state(f, agent_id, AgentState.ACW)
        # In after-call work the agent is paused in every queue (no management-status calls).
        await until(lambda: all(f.members(q)[phone].paused for q in queues), 10)
        await typify_billing(f, agent_id)
        await f.api.post("/api/agent/logout", headers=f.headers(token))
        await until(lambda: not any(phone in f.members(q) for q in queues), 10)
        [attempt] = await until_written(f, 1)
    assert attempt.campaign_id == f.center.billing and attempt.agent_id == agent_id


async def typify_billing(f: Floor, agent_id: int) -> None:
    # Billing has no typification tree: the ACW timer's default record stands for it.
    await f.engine._acw_timeout(f.roster.get(agent_id), f.center.billing, 0)
    f.roster.finish_acw(agent_id)


async def test_queue_membership_is_reconciled_with_queue_status_after_a_reconnect(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory, agents=1) as f:
        _, phone = await the_agent_in_service(f)
        # The member leaves one queue, a stranger joins another.
        async with behind_the_dialers_back(f) as other:
            await other.queue_remove("service", phone)
            await other.queue_add("billing", "Local/7099@agents")
        # The link drops; after the reconnect the resync hook compares QueueStatus with the
        # roster and puts it right.
        f.sim.drop_sessions()
        await until(lambda: f.engine.ami.connections >= 2, 20)
        await until(lambda: phone in f.members("service"), 20)
        await until(lambda: "Local/7099@agents" not in f.members("billing"), 20)
        assert not f.members("service")[phone].paused


async def test_an_agent_whose_phone_becomes_unavailable_is_paused(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory, agents=1) as f:
        agent_id, phone = await the_agent_in_service(f)
        # The phone unregisters: QueueMemberStatus Status 5 (UNAVAILABLE) in each queue.
        async with behind_the_dialers_back(f) as other:
            await other.setvar(f"DEVICE_STATE({phone})", "UNAVAILABLE")
        await until_state(f, agent_id, AgentState.PAUSED, 10)
        assert f.roster.get(agent_id).pause_reason == PHONE_UNAVAILABLE_PAUSE


async def test_with_management_status_calls_an_agent_in_after_call_work_takes_the_next_call(
    session_factory: SessionFactory,
) -> None:
    # Seed 000 "Allow incoming call to users in management status".
    async with floor(session_factory, agents=1, management=True) as f:
        [agent_id] = f.center.agents
        await login_all(f)
        phone = f.roster.get(agent_id).interface
        await f.call(SERVICE_DID, KNOWN_CALLER, talk_s=3)
        await until_state(f, agent_id, AgentState.ACW)
        first = f.roster.get(agent_id).attempt_id
        # Wrapping up, unpaused in Service's queue (and paused in the others). Both are
        # QueuePause actions the roster's move sends; "night" may already be paused from the
        # call, so wait for Service's own.
        await until(lambda: f.members("night")[phone].paused, 10)
        await until(lambda: not f.members("service")[phone].paused, 10)
        assert f.roster.get(agent_id).state is AgentState.ACW
        await f.call(SERVICE_DID, "573004440000", talk_s=3)
        await until(lambda: f.roster.get(agent_id).attempt_id not in (None, first), 20)
        rows = await until_written(f, 2)
        await until_state(f, agent_id, AgentState.ACW)
        async with f.sessions() as session:
            closed = await session.get(Attempt, first)
    assert [a.agent_id for a in rows] == [agent_id, agent_id]
    # The first call's wrap-up was closed as the ACW timer closes it (the default record).
    assert closed is not None and closed.comments == ACW_TIMEOUT_NOTE


async def test_without_management_status_calls_an_agent_in_after_call_work_is_not_rung(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory, agents=1) as f:
        [agent_id] = f.center.agents
        await login_all(f)
        await f.call(SERVICE_DID, KNOWN_CALLER, talk_s=3)
        await until_state(f, agent_id, AgentState.ACW)
        await f.call(SERVICE_DID, "573004440000", talk_s=3)
        await until(lambda: len(f.desk.tracker.waiting()) == 1, 10)
        await f.clock.sleep(5)
        assert sum(1 for m in f.events if m.name == "AgentCalled") == 1
        await typify(f, agent_id)
        rows = await until_written(f, 2)
    assert [a.agent_id for a in rows] == [agent_id, agent_id]


async def test_callers_queued_before_a_restart_count_for_inbound_priority_after_it(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory) as f:
        await login_all(f)
        for agent_id in f.center.agents:
            f.roster.pause(agent_id, "training")
        await f.call(SERVICE_DID, KNOWN_CALLER, patience_s=600)
        await until(lambda: len(f.desk.tracker.waiting()) == 1, 10)
        f.desk.tracker = InboundTracker()  # what a restarted dialer knows
        f.sim.drop_sessions()
        # After the reconnect QueueStatus lists the caller (QueueEntry): waiting again, for
        # the queue's agents and the outbound campaign sharing them.
        await until(lambda: len(f.desk.tracker.waiting()) == 1, 20)
        assert f.desk.waiting_for(f.center.demo.campaign_id) == 1


async def a_caller_waiting(f: Floor, patience_s: float) -> tuple[int, Attempt]:
    """The floor's one agent logged in and paused; a caller queued for Service, their attempt
    written: (agent id, attempt)."""
    await login_all(f)
    [agent_id] = f.center.agents
    f.roster.pause(agent_id, "training")
    await f.call(SERVICE_DID, KNOWN_CALLER, patience_s=patience_s, talk_s=3)
    [written] = await until_started(f, 1)
    return agent_id, written


async def test_a_caller_queued_when_the_dialer_restarts_is_recorded_on_their_attempt(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory, agents=1) as f:
        agent_id, written = await a_caller_waiting(f, patience_s=600)
        await until(lambda: len(f.desk.tracker.waiting()) == 1, 10)
        await restart(f)
        # The new run knows the waiting caller's attempt; the agent logs in again and the
        # caller, still in the queue all along, reaches them.
        assert [m.attempt_id for m in f.desk.calls.values()] == [written.id]
        await login_all(f)
        await until_state(f, agent_id, AgentState.ACW)
        await typify(f, agent_id)
        rows = await until_written(f, 1)
    assert [a.id for a in rows] == [written.id]  # no second attempt for the same call
    [attempt] = rows
    assert attempt.outcome is CallOutcome.ANSWERED and attempt.agent_id == agent_id
    assert attempt.queue_wait_seconds is not None and attempt.queue_wait_seconds > 0
    assert attempt.result_id == f.center.resolved


async def test_a_caller_talking_when_the_dialer_restarts_is_closed_with_a_note_as_they_hang_up(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory, agents=1) as f:
        await login_all(f)
        [agent_id] = f.center.agents
        await f.call(SERVICE_DID, KNOWN_CALLER, talk_s=40)
        await until_state(f, agent_id, AgentState.ON_CALL)
        [written] = await until_started(f, 1)
        await restart(f)
        # Up with the agent, not in a queue: followed until the caller's channel hangs up.
        assert [c.attempt_id for c in f.engine._orphans.values()] == [written.id]
        [attempt] = await until_written(f, 1, timeout=60)
        assert f.engine._orphans == {}
    assert attempt.outcome is CallOutcome.FAILED and attempt.comments == PREVIOUS_RUN_ENDED
    assert attempt.ended_at is not None
    assert (attempt.ended_at - attempt.created_at).total_seconds() >= 30  # at its real end


async def test_an_inbound_call_gone_during_the_restart_is_closed_with_a_note(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory, agents=1) as f:
        _, written = await a_caller_waiting(f, patience_s=4)
        await kill(f)  # the caller gives up while the dialer is down
        await until(lambda: not f.sim.asterisk.queues["service"].callers, 30)
        await restart(f)
        [attempt] = await until_written(f, 1)
    assert attempt.id == written.id
    assert attempt.outcome is CallOutcome.FAILED and attempt.comments == PREVIOUS_RUN_GONE


# -- abandons and the supervisor's view ------------------------------------------------------


async def test_an_abandon_in_queue_is_recorded_with_its_wait_and_shown_per_queue(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory) as f:
        await login_all(f)
        for agent_id in f.center.agents:
            f.roster.pause(agent_id, "training")
        # Patience enough to be in the queue before giving up: 6 s (0.3 s of wall time at
        # 20x) could end while a loaded machine was still writing the attempt, and the caller
        # then hung up during routing, never abandoning the queue.
        await f.call(SERVICE_DID, KNOWN_CALLER, patience_s=30)
        [attempt] = await until_written(f, 1)
        view = await (
            await f.api.get(
                f"/api/campaigns/{f.center.service}/queue",
                headers=f.headers(f.center.supervisor_token),
            )
        ).json()
        # The FastAGI handler's end can record the abandon before the AMI event reaches us
        # (two sockets): wait for the event itself.
        await until(lambda: any(m.name == "QueueCallerAbandon" for m in f.events), 10)
        abandon = next(m for m in f.events if m.name == "QueueCallerAbandon")
    assert attempt.outcome is CallOutcome.ABANDONED and attempt.agent_id is None
    # The wait in the queue, on the engine's clock: at least what app_queue reported
    # (HoldTime, whole seconds, taken a moment before the event reached us), and inside the
    # call.
    wait = attempt.queue_wait_seconds
    assert wait is not None and wait >= int(abandon["HoldTime"]) and wait > 0
    assert attempt.ended_at is not None
    assert wait <= (attempt.ended_at - attempt.created_at).total_seconds()
    assert view["offered"] == 1 and view["abandoned"] == 1
    assert view["abandon_rate"] == 1.0 and view["service_level"] == 0.0
    assert view["calls_waiting"] == 0
    assert view["agents"]["paused"] == 2


async def test_the_days_queue_figures_are_read_back_from_the_store_after_a_restart(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory) as f:
        await login_all(f)
        await f.call(SERVICE_DID, KNOWN_CALLER, talk_s=3)
        await until_written(f, 1)
        for agent_id in f.center.agents:
            f.roster.pause(agent_id, "training")
        await f.call(SERVICE_DID, "573004440000", patience_s=4)
        await until_written(f, 2)
        await f.agi.close()  # and one Asterisk could not bring to the dialer
        await f.call(SERVICE_DID, "573004440001")
        await until(lambda: unreached(f.desk) == 1, 10)
        before = f.desk.queue_view("service")
        f.desk.stats.clear()  # what a new process starts with
        await f.desk.load()
        after = f.desk.queue_view("service")
        today = dt.datetime.fromtimestamp(f.clock.now(), dt.UTC).astimezone(BOGOTA).date()
    figures = ("offered", "answered", "answered_within_threshold", "abandoned", "unreached")
    assert [after[k] for k in figures] == [before[k] for k in figures] == [2, 1, 1, 1, 1]
    assert after["service_level"] == 0.5 and after["abandon_rate"] == 0.5
    assert after["day"] == today.isoformat()


async def test_the_queue_figures_begin_afresh_at_the_campaigns_midnight(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory) as f:
        await login_all(f)
        await f.call(SERVICE_DID, KNOWN_CALLER, talk_s=3)
        await until_written(f, 1)
        now = f.clock.now()
        local = dt.datetime.fromtimestamp(now, dt.UTC).astimezone(BOGOTA)
        tomorrow = local.replace(hour=0, minute=0, second=1) + dt.timedelta(days=1)
        today_stats = f.desk._stats_for("service", now)
        next_stats = f.desk._stats_for("service", tomorrow.timestamp())
    assert today_stats.offered == 1 and today_stats.day == local.date()
    assert next_stats.offered == 0 and next_stats.day == tomorrow.date()
    assert next_stats.threshold_s == today_stats.threshold_s


async def test_an_agent_whose_phone_does_not_answer_the_queue_is_paused(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory, agents=1) as f:
        [agent_id] = f.center.agents
        async with f.sessions() as session, session.begin():
            from store.models import User

            user = await session.get(User, agent_id)
            assert user is not None
            user.interface = "Local/7901@agents"  # a phone that never answers (lab dialplan)
        await login_all(f)
        await f.call(SERVICE_DID, KNOWN_CALLER, patience_s=40)
        await until_state(f, agent_id, AgentState.PAUSED, 40)
        assert f.roster.get(agent_id).pause_reason == NO_ANSWER_PAUSE
        [attempt] = await until_written(f, 1, 60)
    assert attempt.outcome is CallOutcome.ABANDONED


# -- blended agents: inbound first -----------------------------------------------------------


def busy_legs(f: Floor) -> Callable[[], dict[str, int]]:
    """Agent phone legs open now, per agent device: more than one would be a double booking."""
    open_legs: dict[str, str] = {}
    most: dict[str, int] = {}

    def seen(m: Message) -> None:
        name = m.get("Channel") or ""
        if not name.startswith("Local/70") or "@agents-" not in name or not name.endswith(";1"):
            return
        device = name.split("-")[0]
        if m.name == "Newchannel":
            open_legs[name] = device
        elif m.name == "Hangup":
            open_legs.pop(name, None)
        count = sum(1 for d in open_legs.values() if d == device)
        most[device] = max(most.get(device, 0), count)

    f.engine.ami.on("Newchannel", seen)
    f.engine.ami.on("Hangup", seen)
    return lambda: most


async def test_inbound_callers_waiting_pause_outbound_for_the_shared_agents(
    session_factory: SessionFactory,
) -> None:
    # The hard rule alone (no reservation: outbound may keep both agents busy).
    async with floor(session_factory, reserve=False) as f:
        most = busy_legs(f)
        await login_all(f)
        campaign = f.center.demo.campaign_id
        desk = asyncio.create_task(typify_everything(f))
        running = await f.engine.start_campaign(campaign)
        # Both shared agents busy with outbound calls; they stop typifying (so they stay in
        # after-call work until the ACW timer), then a caller arrives on the queue.
        await until(
            lambda: all(a.state is not AgentState.AVAILABLE for a in f.roster.agents.values()),
            30,
        )
        await cancelled(desk)
        await f.call(SERVICE_DID, KNOWN_CALLER, patience_s=900, talk_s=3)
        await until(lambda: f.desk.waiting_for(campaign) == 1, 10)
        [(_, _, joined)] = f.desk.tracker.waiting()
        await until(lambda: any(_paused_for_inbound(d) for d in running.pacer.history), 30)
        desk = asyncio.create_task(typify_everything(f))
        [attempt] = await until_written(f, 1, 90)
        await f.engine.stop_dialing()
        await cancelled(desk)
    assert attempt.outcome is CallOutcome.ANSWERED and attempt.agent_id in f.center.agents
    assert attempt.connected_at is not None
    # Every outbound decision while the caller waited placed nothing, and said why.
    answered = attempt.connected_at.timestamp()
    waiting = [d for d in running.pacer.history if joined <= d.at < answered]
    assert waiting and all(d.calls == 0 and _paused_for_inbound(d) for d in waiting)
    assert all(n <= 1 for n in most().values()), most()


def _paused_for_inbound(decision: Decision) -> bool:
    return "inbound caller(s) waiting for shared agents" in decision.reason


async def cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_the_pacing_core_holds_the_agents_the_queue_needs_out_of_outbound(
    session_factory: SessionFactory,
) -> None:
    # Before any inbound call the queue's model starts from the pacing core's priors (60 calls
    # an hour, 3.5 erlangs): more than the two shared agents can serve, so both are held.
    async with floor(session_factory) as f:
        await login_all(f)
        running = await f.engine.start_campaign(f.center.demo.campaign_id)
        assert isinstance(running.pacer.policy, Blended)
        await until(lambda: len(running.pacer.history) >= 3, 30)
        await f.engine.stop_dialing()
        decisions = running.pacer.history
        assert running.stats.placed == 0
        assert all(d.calls == 0 and d.quantities["reserved_agents"] == 2 for d in decisions)
        assert "idle agent(s) held" in decisions[-1].reason


async def test_without_the_reservation_only_the_hard_rule_holds_outbound_back(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory, reserve=False) as f:
        await login_all(f)
        running = await f.engine.start_campaign(f.center.demo.campaign_id)
        assert not isinstance(running.pacer.policy, Blended)
        await until(lambda: running.stats.placed >= 1, 30)
        await f.engine.stop_dialing()


async def typify_everything(f: Floor) -> None:
    sale = f.center.demo.direct_results["Sale"]
    while True:
        for agent in list(f.roster.agents.values()):
            if agent.state is AgentState.ACW and agent.attempt_id is not None:
                result = f.center.resolved if agent.inbound else sale
                with contextlib.suppress(ValueError):
                    await f.engine.typify(
                        Typification(agent.attempt_id, agent.agent_id, result),
                        agent.campaign_id or 0,
                    )
        await asyncio.sleep(0.01)


async def test_an_agent_on_an_outbound_call_is_never_rung_by_its_queue(
    session_factory: SessionFactory,
) -> None:
    async with floor(session_factory, agents=1, reserve=False) as f:
        most = busy_legs(f)
        [agent_id] = f.center.agents
        await login_all(f)
        phone = f.roster.get(agent_id).interface
        running = await f.engine.start_campaign(f.center.demo.campaign_id)
        await until_state(f, agent_id, AgentState.ON_CALL, 30)
        await f.engine.stop_dialing()
        assert f.members("service")[phone].paused
        # Paused when the hand-off reserved the agent, before their phone rang.
        assert f.members("service")[phone].paused_reason == "dialer: reserved"
        await f.call(SERVICE_DID, KNOWN_CALLER, talk_s=3)
        await until_state(f, agent_id, AgentState.ACW, 60)
        outbound = f.roster.get(agent_id).attempt_id
        assert not f.roster.get(agent_id).inbound
        await f.engine.typify(
            Typification(outbound or 0, agent_id, f.center.demo.direct_results["Sale"]),
            f.center.demo.campaign_id,
        )
        # Free again: the queue's caller, waiting all along, is the agent's next call.
        await until(lambda: f.roster.get(agent_id).inbound, 20)
        [attempt] = await until_written(f, 1, 60)
        assert running.stats.placed >= 1
    assert attempt.agent_id == agent_id and attempt.outcome is CallOutcome.ANSWERED
    assert attempt.queue_wait_seconds is not None and attempt.queue_wait_seconds > 0
    assert all(n <= 1 for n in most().values()), most()
