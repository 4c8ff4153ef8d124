"""A dialer killed during calls and started again (the same owner) settles what it left open.

DESIGN.md "Data and durability": a restart never dials a contact twice or loses an outcome; the
engine reconciles with Asterisk (CoreShowChannels) before placing new calls. Both backends,
against the simulated Asterisk, whose calls outlive the dialer as a real Asterisk's do.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import select

from agi.server import FastAGIServer
from ami.client import AMIClient
from dialer.clock import ScaledClock
from dialer.demo import shift_start
from dialer.demo_seed import DemoCenter, seed_center
from dialer.engine.engine import AMI_EVENTS, PREVIOUS_RUN_ENDED, PREVIOUS_RUN_GONE, Engine
from dialer.engine.keeper import CampaignKeeper
from dialer.engine.outcome_spool import OutcomeSpool
from dialer.engine.records import StoreRecords
from dialer.engine.roster import Roster
from dialer.leases import LocalLeases
from dialer.service import active_campaigns
from dialer.simasterisk import NumberModel, SimConfig, SimulatedAsterisk
from store.campaigns import set_dialing_paused
from store.db import SessionFactory
from store.enums import AssignmentState, CallOutcome
from store.models import Assignment, Attempt
from tests.engine.plans import PATIENT_S
from tests.waiting import until

OWNER = "dialer-1"


@dataclass
class Run:
    """One run of the dialer process: its engine and what it holds open."""

    engine: Engine
    records: StoreRecords
    roster: Roster
    ami: AMIClient
    agi: FastAGIServer


async def start_run(
    sessions: SessionFactory,
    center: DemoCenter,
    clock: ScaledClock,
    ami_port: int,
    agi_port: int,
    spool: OutcomeSpool | None = None,
) -> Run:
    agi = FastAGIServer(port=agi_port)
    await agi.start()
    roster = Roster(clock)
    records = StoreRecords(sessions, clock, owner=OWNER, lease_seconds=15, spool=spool)
    ami = AMIClient("127.0.0.1", ami_port, ping_interval=None, events=AMI_EVENTS)
    engine = Engine(records, ami, roster, clock, owner=OWNER, lease_renew_s=4.0)
    agi.route("outbound", engine.handle_outbound)
    await ami.connect()  # the first connect settles the previous run's calls
    for agent in center.agents:
        roster.add(agent.user_id, agent.name, agent.interface, {center.campaign_id})
        roster.login(agent.user_id)
    return Run(engine, records, roster, ami, agi)


async def kill(run: Run) -> None:
    """The process dies: nothing more is sent, written or drained."""
    for running in run.engine.campaigns.values():
        assert running.task is not None
        running.task.cancel()
    pending = [*run.engine._writes]
    if run.records._flusher is not None:
        pending.append(run.records._flusher)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    await run.agi.close()
    await run.ami.close()
    await run.roster.close()


@contextlib.asynccontextmanager
async def center_on_sim(
    sessions: SessionFactory, talk_median_s: float = 90.0, model: NumberModel | None = None
) -> AsyncIterator[tuple[DemoCenter, ScaledClock, SimulatedAsterisk, int]]:
    start = shift_start()
    clock = ScaledClock(40, start=start.timestamp())
    center = await seed_center(sessions, agents=3, contacts=30, now=start, acw_max_s=20)
    probe = FastAGIServer(port=0)  # a free port for both runs' FastAGI
    agi_port = await probe.start()
    await probe.close()
    # Long talks, so calls are still up when the dialer dies.
    model = model or NumberModel(
        seed=11, ring_median_s=4.0, talk_median_s=talk_median_s, patience_s=PATIENT_S
    )
    sim = SimulatedAsterisk(
        SimConfig(fastagi_url=f"agi://127.0.0.1:{agi_port}", model=model), clock
    )
    await sim.start()
    try:
        yield center, clock, sim, agi_port
    finally:
        await sim.stop()


async def killed_during_calls(
    sessions: SessionFactory, center: DemoCenter, clock: ScaledClock, ami_port: int, agi_port: int
) -> None:
    """A first run dials until calls are up and agents talking, then dies."""
    first = await start_run(sessions, center, clock, ami_port, agi_port)
    await first.engine.start_campaign(center.campaign_id)
    stats = first.engine.campaigns[center.campaign_id].stats
    await until(lambda: stats.placed >= 6 and stats.connected >= 2, 60)
    await kill(first)


async def stop(run: Run) -> None:
    """A clean stop: dialing ends, the calls in flight finish and are written."""
    await run.engine.stop_dialing()
    await run.engine.drain(90)
    await run.roster.close()
    await run.ami.close()
    await run.agi.close()


async def attempts(sessions: SessionFactory) -> list[Attempt]:
    async with sessions() as session:
        return list(await session.scalars(select(Attempt).order_by(Attempt.id)))


async def test_a_restarted_dialer_settles_every_call_its_previous_run_left_open(
    session_factory: SessionFactory,
) -> None:
    async with center_on_sim(session_factory) as (center, clock, sim, agi_port):
        ami_port = sim.port
        await killed_during_calls(session_factory, center, clock, ami_port, agi_port)
        left_open = {a.id for a in await attempts(session_factory) if a.outcome is None}
        assert left_open, "the kill left no call open: nothing to settle"

        second = await start_run(session_factory, center, clock, ami_port, agi_port)
        await until(lambda: not second.engine._orphans and not second.engine._writes, 60)
        await stop(second)
    rows = {a.id: a for a in await attempts(session_factory)}
    assert all(a.outcome is not None for a in rows.values()), "an attempt without its outcome"
    settled = [rows[i] for i in sorted(left_open)]
    assert {a.outcome for a in settled} == {CallOutcome.FAILED}
    assert {a.comments for a in settled} <= {PREVIOUS_RUN_GONE, PREVIOUS_RUN_ENDED}
    assert all(a.ended_at is not None for a in settled)
    async with session_factory() as session:
        leased = await session.scalars(
            select(Assignment.id).where(Assignment.state == AssignmentState.LEASED)
        )
        assert list(leased) == []  # every settled contact's lease given up


async def test_a_contact_still_on_the_phone_at_the_restart_is_not_dialed_again_meanwhile(
    session_factory: SessionFactory,
) -> None:
    async with center_on_sim(session_factory) as (center, clock, sim, agi_port):
        ami_port = sim.port
        await killed_during_calls(session_factory, center, clock, ami_port, agi_port)
        second = await start_run(session_factory, center, clock, ami_port, agi_port)
        still_up = len(second.engine._orphans)
        # The new run dials on while the previous run's calls are still up, on leases far
        # shorter than those calls: only its renewal of their leases keeps them from a claim.
        await second.engine.start_campaign(center.campaign_id)
        again = second.engine.campaigns[center.campaign_id].stats
        await until(lambda: again.placed >= 10 and not second.engine._orphans, 90)
        await stop(second)
    assert still_up > 0, "no call outlived the kill: the test shows nothing"
    by_contact: dict[int, list[Attempt]] = {}
    for a in await attempts(session_factory):
        by_contact.setdefault(a.contact_id or 0, []).append(a)
    for calls in by_contact.values():
        calls.sort(key=lambda a: a.created_at)
        for earlier, later in itertools.pairwise(calls):
            assert earlier.ended_at is not None
            assert later.created_at >= earlier.ended_at, (
                f"contact {earlier.contact_id} dialed again (attempt {later.id}) while attempt "
                f"{earlier.id} was still on the phone"
            )


async def test_a_previous_runs_call_that_ended_during_an_outage_is_closed_at_the_reconnect(
    session_factory: SessionFactory,
) -> None:
    # Talks of 10 minutes (15 s of wall time): still up after the restart however loaded the
    # machine; the Asterisk restart below ends them.
    talks = 600.0
    async with center_on_sim(session_factory, talks) as (center, clock, sim, agi_port):
        ami_port = sim.port
        await killed_during_calls(session_factory, center, clock, ami_port, agi_port)
        second = await start_run(session_factory, center, clock, ami_port, agi_port)
        orphans = {call.attempt_id for call in second.engine._orphans.values()}
        assert orphans, "no call outlived the kill: the test shows nothing"
        # Asterisk restarts: the calls end unheard (no AMI session is up for their Hangups),
        # and CoreShowChannels after the reconnect settles them.
        await sim.restart()
        await until(lambda: second.ami.connections >= 2 and not second.engine._orphans, 30)
        await until(lambda: not second.engine._writes, 30)
        await stop(second)
    rows = {a.id: a for a in await attempts(session_factory)}
    assert {rows[i].comments for i in orphans} == {PREVIOUS_RUN_ENDED}


async def test_a_campaign_paused_before_a_restart_starts_paused_after_it(
    session_factory: SessionFactory,
) -> None:
    async with center_on_sim(session_factory) as (center, clock, sim, agi_port):
        campaign_id = center.campaign_id
        first = await start_run(session_factory, center, clock, sim.port, agi_port)
        await first.engine.start_campaign(campaign_id)
        placed = first.engine.campaigns[campaign_id].stats
        await until(lambda: placed.placed >= 2, 60)  # it dials
        async with session_factory() as session, session.begin():
            await set_dialing_paused(session, campaign_id, True, first.engine.now())
        first.engine.pause_campaign(campaign_id)  # as the API does where it is dialed
        await kill(first)
        before = len(await attempts(session_factory))

        second = await start_run(session_factory, center, clock, sim.port, agi_port)
        keeper = CampaignKeeper(
            second.engine,
            LocalLeases(OWNER),
            lambda: active_campaigns(session_factory),
            clock,
            settle_s=0,
        )
        await keeper.step()  # as dialer serve starts it: every active campaign
        running = second.engine.running(campaign_id)
        assert running is not None and running.paused is True
        await clock.sleep(30.0)  # 30 ticks: three agents logged in and free, contacts left
        assert running.stats.placed == 0 and running.pacer.history == []
        assert len(await attempts(session_factory)) == before

        async with session_factory() as session, session.begin():
            await set_dialing_paused(session, campaign_id, False, second.engine.now())
        await keeper.step()  # resumed as stored: the same rig dials again
        await until(lambda: running.stats.placed >= 1, 60)
        await stop(second)
