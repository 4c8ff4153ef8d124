"""Which process paces which campaign (dialer/engine/keeper.py, dialer/leases.py): two dialer
processes on one database, one Asterisk and one Redis pace each campaign once; when one dies,
the other takes its campaign over once the lease lapses, settles the calls the dead one left
open (only once it is certainly dead: its owner lock is free), and no contact is in two calls at
once. One process alone starts what becomes active and stops what does not.

Several processes share PostgreSQL only (on SQLite the file lock admits one process), and each
holds its owner lock as ``dialer serve`` does."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select, update

from agi.server import FastAGIServer
from ami.client import AMIClient
from dialer.clock import ScaledClock
from dialer.demo import shift_start
from dialer.demo_seed import DemoCenter, seed_center
from dialer.engine.engine import AMI_EVENTS, DEAD_OWNER_ENDED, DEAD_OWNER_GONE, Engine
from dialer.engine.keeper import Active, CampaignKeeper
from dialer.engine.records import StoreRecords
from dialer.engine.roster import Roster
from dialer.leases import Leases, LocalLeases, RedisLeases
from dialer.simasterisk import NumberModel, SimConfig, SimulatedAsterisk
from store.db import Database, SessionFactory, make_engine, make_session_factory
from store.enums import AssignmentState, CallOutcome
from store.models import Assignment, Attempt, Campaign
from tests.engine.plans import PATIENT_S
from tests.waiting import until

TTL_S = 2.0  # real seconds: Redis keeps time itself (renewed many times within it)


def _utc(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)  # SQLite: naive


@dataclass
class Process:
    """One dialer process: its engine, its campaign keeper and what it holds open."""

    name: str
    engine: Engine
    keeper: CampaignKeeper
    roster: Roster
    ami: AMIClient
    agi: FastAGIServer
    db: Database
    records: StoreRecords


async def start_process(
    name: str,
    url: str,
    clock: ScaledClock,
    ami_port: int,
    leases: Leases,
    contact_lease_s: float = 300.0,
) -> Process:
    db = Database.open(url)
    _opened.append(db)
    await db.hold_owner(name)  # as dialer serve does: held as long as the process runs
    sessions = db.sessions
    agi = FastAGIServer(port=0)
    agi_port = await agi.start()
    roster = Roster(clock)
    records = StoreRecords(sessions, clock, owner=name, lease_seconds=contact_lease_s)
    ami = AMIClient("127.0.0.1", ami_port, ping_interval=None, events=AMI_EVENTS)
    engine = Engine(
        records,
        ami,
        roster,
        clock,
        owner=name,
        fastagi_url=f"agi://127.0.0.1:{agi_port}",
        lease_renew_s=min(60.0, contact_lease_s / 4),
    )
    agi.route("outbound", engine.handle_outbound)
    await ami.connect()

    async def active() -> Active:
        async with sessions() as session:
            ids = await session.scalars(select(Campaign.id).where(Campaign.active))
            return Active([frozenset([campaign_id]) for campaign_id in ids])

    keeper = CampaignKeeper(engine, leases, active, clock, settle_s=0)  # the test steps it
    return Process(name, engine, keeper, roster, ami, agi, db, records)


def log_in(process: Process, center: DemoCenter) -> None:
    for agent in center.agents:
        process.roster.add(agent.user_id, agent.name, agent.interface, {center.campaign_id})
        process.roster.login(agent.user_id)


async def close(process: Process) -> None:
    await process.keeper.stop()
    await process.engine.stop_dialing()
    await process.engine.drain(120)
    await process.roster.close()
    await process.ami.close()
    await process.agi.close()
    await process.db.close()


async def kill(process: Process, *, cut_off: bool = False) -> None:
    """The process dies: nothing more is sent, renewed or written, and its database sessions
    end (its owner lock with them). ``cut_off``: it hangs instead, still holding them."""
    await process.keeper.stop()
    for running in process.engine.campaigns.values():
        if running.task is not None:
            running.task.cancel()
    pending = [*process.engine._writes]
    if process.records._flusher is not None:
        pending.append(process.records._flusher)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    await process.agi.close()
    await process.ami.close()
    await process.roster.close()
    if not cut_off:
        await process.db.close()


_opened: list[Database] = []


@pytest.fixture(autouse=True)
async def _close_databases() -> AsyncIterator[None]:
    """A failed test's processes still hold their owner locks: let them go for the next."""
    yield
    while _opened:
        await _opened.pop().close()


@pytest.fixture
async def shared_db(postgres_url: str) -> AsyncIterator[tuple[str, SessionFactory]]:
    """The database the processes share (their URL) and the test's own sessions on it."""
    engine = make_engine(postgres_url)
    try:
        yield postgres_url, make_session_factory(engine)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def floor(
    sessions: SessionFactory, talk_median_s: float = 20.0
) -> AsyncIterator[tuple[DemoCenter, ScaledClock, SimulatedAsterisk]]:
    start = shift_start()
    clock = ScaledClock(20, start=start.timestamp())
    center = await seed_center(sessions, agents=2, contacts=60, now=start, acw_max_s=5)
    model = NumberModel(
        seed=5, ring_median_s=3.0, talk_median_s=talk_median_s, patience_s=PATIENT_S
    )
    # The dialplan's own FastAGI leads nowhere: each process's Originates name their own.
    sim = SimulatedAsterisk(SimConfig(fastagi_url="agi://127.0.0.1:9", model=model), clock)
    await sim.start()
    try:
        yield center, clock, sim
    finally:
        await sim.stop()


@pytest.fixture
async def leases_for(redis_url: str, redis_key_prefix: str) -> AsyncIterator[dict[str, Leases]]:
    made: dict[str, Leases] = {
        name: RedisLeases(redis_url, name, ttl_s=TTL_S, prefix=redis_key_prefix)
        for name in ("dialer-a", "dialer-b")
    }
    yield made
    for leases in made.values():
        await leases.close()


async def attempts(sessions: SessionFactory) -> list[Attempt]:
    async with sessions() as session:
        return list(await session.scalars(select(Attempt).order_by(Attempt.id)))


@pytest.mark.redis
async def test_one_process_paces_a_campaign_and_another_takes_it_over_when_it_dies(
    shared_db: tuple[str, SessionFactory], leases_for: dict[str, Leases]
) -> None:
    url, sessions = shared_db
    async with floor(sessions) as (center, clock, sim):
        a = await start_process("dialer-a", url, clock, sim.port, leases_for["dialer-a"])
        b = await start_process("dialer-b", url, clock, sim.port, leases_for["dialer-b"])
        log_in(a, center)
        await a.keeper.step()
        a.keeper.start()  # renewing from here on
        await b.keeper.step()
        assert a.keeper.dialing() == {center.campaign_id} and b.keeper.dialing() == set()
        assert await leases_for["dialer-b"].holder(center.campaign_id) == "dialer-a"
        stats = a.engine.campaigns[center.campaign_id].stats
        await until(lambda: stats.placed >= 4, 60)
        # dialer-a stops dialing and renewing (its engine still follows its calls to their
        # ends, and it holds its owner lock: dialer-b leaves its calls to it).
        await a.keeper.stop()
        running = a.engine.campaigns[center.campaign_id]
        assert running.task is not None
        running.task.cancel()
        await b.keeper.step()
        assert b.keeper.dialing() == set()  # not before the lease lapses
        await asyncio.sleep(TTL_S + 0.2)
        log_in(b, center)  # the agents log in to the process that now dials their campaign
        await b.keeper.step()
        assert b.keeper.dialing() == {center.campaign_id}
        b.keeper.start()
        taken = b.engine.campaigns[center.campaign_id].stats
        await until(lambda: taken.placed >= 4, 60)
        await b.keeper.stop()
        await close(b)
        await close(a)
    rows = await attempts(sessions)
    assert {a.lease_owner for a in rows} >= {"dialer-a", "dialer-b"}
    assert_no_contact_in_two_calls_at_once(rows)


def assert_no_contact_in_two_calls_at_once(rows: list[Attempt]) -> None:
    by_contact: dict[int, list[Attempt]] = {}
    for row in rows:
        by_contact.setdefault(row.contact_id or 0, []).append(row)
    for calls in by_contact.values():
        calls.sort(key=lambda row: row.created_at)
        for earlier, later in itertools.pairwise(calls):
            assert earlier.ended_at is not None and earlier.ended_at <= later.created_at, (
                f"contact {earlier.contact_id}: attempt {later.id} ({later.lease_owner}) began "
                f"while attempt {earlier.id} ({earlier.lease_owner}) was still on the phone"
            )


@pytest.mark.redis
async def test_a_process_whose_lease_went_to_another_stops_dialing_that_campaign(
    shared_db: tuple[str, SessionFactory],
    leases_for: dict[str, Leases],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, sessions = shared_db
    # Contact leases of 15 s, shorter than the calls (2 min): only their renewal keeps a
    # contact still on the phone with dialer-a from being dialed again by dialer-b.
    async with floor(sessions, talk_median_s=120.0) as (center, clock, sim):
        a, b = [
            await start_process(name, url, clock, sim.port, leases_for[name], contact_lease_s=15.0)
            for name in ("dialer-a", "dialer-b")
        ]
        log_in(a, center)
        await a.keeper.step()
        a.keeper.start()
        stats = a.engine.campaigns[center.campaign_id].stats
        await until(lambda: stats.placed >= 4 and stats.connected >= 1, 60)
        await a.keeper.stop()  # renewals missed from here: Redis away, say
        await asyncio.sleep(TTL_S + 0.2)
        # Its lease may have lapsed: from then on it places nothing (the fence).
        assert "lease" in stats.last_decision
        fenced_at = stats.placed
        await clock.sleep(5.0)
        assert stats.placed == fenced_at
        log_in(b, center)
        await b.keeper.step()
        assert b.keeper.dialing() == {center.campaign_id}
        b.keeper.start()
        with caplog.at_level(logging.WARNING, logger="dialer.engine.keeper"):
            await a.keeper.step()  # Redis answers again
        assert a.engine.running(center.campaign_id) is None
        assert a.keeper.dialing() == set()
        assert "held by dialer-b" in caplog.text
        placed = stats.placed
        talking = [m.dialable.assignment_id for _, m, _ in a.engine.in_flight(center.campaign_id)]
        assert talking, "no call of dialer-a outlived its lease: the test shows nothing"
        await clock.sleep(40)  # well past the 15-s contact leases
        async with sessions() as session:
            expiries = list(
                await session.scalars(
                    select(Assignment.lease_expires_at).where(Assignment.id.in_(talking))
                )
            )
        still = {m.dialable.assignment_id for _, m, _ in a.engine.in_flight(center.campaign_id)}
        assert still, "dialer-a's calls all ended: the test shows nothing"
        assert all(e is not None and _utc(e) > a.engine.now() for e in expiries if e is not None)
        taken = b.engine.campaigns[center.campaign_id].stats
        await until(lambda: taken.placed >= 6, 60)
        assert stats.placed == placed  # dialer-a placed nothing more
        await b.keeper.stop()
        await close(b)
        await close(a)
    assert_no_contact_in_two_calls_at_once(await attempts(sessions))


async def dies_during_calls(
    a: Process,
    center: DemoCenter,
    sessions: SessionFactory,
    *,
    connected: int = 0,
    cut_off: bool = False,
) -> set[int]:
    """dialer-a dials until calls are up, then dies (``cut_off``: hangs, its owner lock still
    held); the attempts it left open."""
    log_in(a, center)
    await a.keeper.step()
    a.keeper.start()  # renewing (a campaign whose lease is not renewed stops dialing)
    stats = a.engine.campaigns[center.campaign_id].stats
    await until(lambda: stats.placed >= 4 and stats.connected >= connected, 60)
    await kill(a, cut_off=cut_off)
    left = {row.id for row in await attempts(sessions) if row.outcome is None}
    assert left, "dialer-a left no call open: the test shows nothing"
    return left


async def leases_of(
    sessions: SessionFactory, attempt_ids: set[int]
) -> list[tuple[str, dt.datetime]]:
    """The leases of these attempts' contacts still leased: owner, expiry."""
    async with sessions() as session:
        rows = await session.execute(
            select(Assignment.lease_owner, Assignment.lease_expires_at)
            .join(Attempt, Attempt.assignment_id == Assignment.id)
            .where(Attempt.id.in_(attempt_ids), Assignment.state == AssignmentState.LEASED)
        )
        return [(owner or "", _utc(expires)) for owner, expires in rows]


def assert_closed_as_gone_with_dialer_a(settled: list[Attempt]) -> None:
    """Closed as the engine's unknown (stored as failed), with the note for a dead dialer-a's
    calls no longer on Asterisk."""
    assert {row.outcome for row in settled} == {CallOutcome.FAILED}
    assert {row.comments for row in settled} == {DEAD_OWNER_GONE.format(owner="dialer-a")}
    assert all(row.ended_at is not None for row in settled)


async def customers_hang_up(sim: SimulatedAsterisk, taker: Process, up: set[int]) -> None:
    """The customers of these calls still up hang up; the taker writes their outcomes."""
    for attempt_id in up:
        channel = sim.asterisk.find_channel(f"att-{attempt_id}-1")
        # None: the call ended on its own since the last look (talk times are random, and a
        # loaded machine stretches the virtual time between two steps); the taker follows
        # that end the same way.
        if channel is not None:
            sim.asterisk.request_hangup(channel, 16, event="SoftHangupRequest")
    await until(lambda: not taker.engine._orphans and not taker.engine._writes, 30)


async def assert_still_followed_and_leased_by(
    taker: Process, sessions: SessionFactory, up: set[int]
) -> None:
    """The taker still follows exactly these calls, their contacts leased by it, unexpired."""
    assert {call.attempt_id for call in taker.engine._orphans.values()} == up
    leases = await leases_of(sessions, up)
    assert len(leases) == len(up)
    assert all(
        owner == taker.engine.owner and expiry > taker.engine.now() for owner, expiry in leases
    )


@pytest.mark.redis
async def test_taking_over_from_a_dead_process_closes_its_calls_no_longer_on_asterisk(
    shared_db: tuple[str, SessionFactory], leases_for: dict[str, Leases]
) -> None:
    url, sessions = shared_db
    async with floor(sessions) as (center, clock, sim):
        a = await start_process("dialer-a", url, clock, sim.port, leases_for["dialer-a"])
        b = await start_process("dialer-b", url, clock, sim.port, leases_for["dialer-b"])
        left = await dies_during_calls(a, center, sessions)
        await until(lambda: sim.active_channels == 0, 60)  # they all ended, unseen
        await asyncio.sleep(TTL_S + 0.2)
        await b.keeper.step()
        assert b.keeper.dialing() == {center.campaign_id}
        # Settled as dialer-b took the campaign over (before it placed a call).
        rows = {row.id: row for row in await attempts(sessions)}
        await close(b)
    settled = [rows[i] for i in sorted(left)]
    assert_closed_as_gone_with_dialer_a(settled)
    assert await leases_of(sessions, left) == []  # their contacts free again


@pytest.mark.redis
async def test_a_dead_process_s_call_still_up_keeps_its_contact_leased_by_the_taker_to_its_end(
    shared_db: tuple[str, SessionFactory], leases_for: dict[str, Leases]
) -> None:
    url, sessions = shared_db
    # Calls far longer than the test (their customers hang up when it says), contact leases
    # of 15 s, lapsed before dialer-b takes over (40 s at this clock): only dialer-b's renewal
    # keeps them from its own claims, which take lapsed leases back, retries first.
    async with floor(sessions, talk_median_s=600.0) as (center, clock, sim):
        a, b = [
            await start_process(name, url, clock, sim.port, leases_for[name], contact_lease_s=15)
            for name in ("dialer-a", "dialer-b")
        ]
        await dies_during_calls(a, center, sessions, connected=1)
        await asyncio.sleep(TTL_S + 0.2)
        log_in(b, center)
        await b.keeper.step()
        up = {call.attempt_id for call in b.engine._orphans.values()}
        assert up, "no call of dialer-a outlived it: the test shows nothing"
        assert {owner for owner, _ in await leases_of(sessions, up)} == {"dialer-b"}
        b.keeper.start()
        taken = b.engine.campaigns[center.campaign_id].stats
        await until(lambda: taken.placed >= 4, 60)
        await clock.sleep(40)  # well past the 15-s leases, dialer-b dialing on
        await assert_still_followed_and_leased_by(b, sessions, up)
        await customers_hang_up(sim, b, up)
        assert await leases_of(sessions, up) == []  # given up with the outcomes
        await close(b)
    rows = await attempts(sessions)
    ended = [row for row in rows if row.id in up]
    assert {row.outcome for row in ended} == {CallOutcome.FAILED}
    assert {row.comments for row in ended} == {DEAD_OWNER_ENDED.format(owner="dialer-a")}
    assert_no_contact_in_two_calls_at_once(rows)


@pytest.mark.redis
async def test_the_calls_of_a_process_that_still_holds_its_owner_lock_are_left_to_it(
    shared_db: tuple[str, SessionFactory],
    leases_for: dict[str, Leases],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, sessions = shared_db
    async with floor(sessions) as (center, clock, sim):
        a = await start_process("dialer-a", url, clock, sim.port, leases_for["dialer-a"])
        b = await start_process("dialer-b", url, clock, sim.port, leases_for["dialer-b"])
        # Cut off from Redis and Asterisk, not dead: it still holds its database session.
        left = await dies_during_calls(a, center, sessions, cut_off=True)
        await asyncio.sleep(TTL_S + 0.2)
        with caplog.at_level(logging.INFO, logger="dialer.engine.engine"):
            await b.keeper.step()
        assert b.keeper.dialing() == {center.campaign_id}
        rows = {row.id: row for row in await attempts(sessions)}
        orphans = dict(b.engine._orphans)
        await close(b)
        await a.db.close()
    assert "dialer-a runs (its owner lock is held" in caplog.text
    assert orphans == {}
    assert all(rows[i].outcome is None and rows[i].lease_owner == "dialer-a" for i in left)


async def deactivate(sessions: SessionFactory, campaign_id: int) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            update(Campaign).where(Campaign.id == campaign_id).values(active=False)
        )


@pytest.mark.redis
async def test_a_dead_process_s_calls_in_a_campaign_nobody_dials_get_their_outcome_and_note(
    shared_db: tuple[str, SessionFactory], leases_for: dict[str, Leases]
) -> None:
    url, sessions = shared_db
    async with floor(sessions) as (center, clock, sim):
        a = await start_process("dialer-a", url, clock, sim.port, leases_for["dialer-a"])
        b = await start_process("dialer-b", url, clock, sim.port, leases_for["dialer-b"])
        left = await dies_during_calls(a, center, sessions)
        await deactivate(sessions, center.campaign_id)  # before anyone took it over
        await until(lambda: sim.active_channels == 0, 60)  # they all ended, unseen
        await asyncio.sleep(TTL_S + 0.2)  # dialer-a's heartbeat lapsed
        await b.keeper.step()
        assert b.keeper.dialing() == set()  # nobody dials the campaign
        rows = {row.id: row for row in await attempts(sessions)}
        await close(b)
    settled = [rows[i] for i in sorted(left)]
    assert_closed_as_gone_with_dialer_a(settled)
    assert {row.lease_owner for row in settled} == {"dialer-b"}
    assert await leases_of(sessions, left) == []  # their contacts free again


@pytest.mark.redis
async def test_a_dead_process_s_call_still_up_in_a_campaign_nobody_dials_is_followed_to_its_end(
    shared_db: tuple[str, SessionFactory], leases_for: dict[str, Leases]
) -> None:
    url, sessions = shared_db
    # Calls far longer than the test, contact leases of 15 s: dialer-b dials nothing, so only
    # its renewal of the calls it follows keeps their contacts leased while on the phone.
    async with floor(sessions, talk_median_s=600.0) as (center, clock, sim):
        a, b = [
            await start_process(name, url, clock, sim.port, leases_for[name], contact_lease_s=15)
            for name in ("dialer-a", "dialer-b")
        ]
        await dies_during_calls(a, center, sessions, connected=1)
        await deactivate(sessions, center.campaign_id)
        await asyncio.sleep(TTL_S + 0.2)
        await b.keeper.step()
        assert b.keeper.dialing() == set()
        up = {call.attempt_id for call in b.engine._orphans.values()}
        assert up, "no call of dialer-a outlived it: the test shows nothing"
        await clock.sleep(40)  # well past the 15-s leases
        await assert_still_followed_and_leased_by(b, sessions, up)
        await customers_hang_up(sim, b, up)
        assert await leases_of(sessions, up) == []  # given up with the outcomes
        await close(b)
    ended = [row for row in await attempts(sessions) if row.id in up]
    assert {row.outcome for row in ended} == {CallOutcome.FAILED}
    assert {row.comments for row in ended} == {DEAD_OWNER_ENDED.format(owner="dialer-a")}


@pytest.mark.redis
async def test_a_running_process_s_calls_in_a_campaign_nobody_dials_are_left_to_it(
    shared_db: tuple[str, SessionFactory], leases_for: dict[str, Leases]
) -> None:
    url, sessions = shared_db
    async with floor(sessions) as (center, clock, sim):
        a = await start_process("dialer-a", url, clock, sim.port, leases_for["dialer-a"])
        b = await start_process("dialer-b", url, clock, sim.port, leases_for["dialer-b"])
        # Cut off from Redis and Asterisk, not dead: it still holds its owner lock.
        left = await dies_during_calls(a, center, sessions, cut_off=True)
        await deactivate(sessions, center.campaign_id)
        await asyncio.sleep(TTL_S + 0.2)  # its heartbeat lapsed: its lock is tried
        await b.keeper.step()
        rows = {row.id: row for row in await attempts(sessions)}
        orphans = dict(b.engine._orphans)
        await close(b)
        await a.db.close()
    assert orphans == {}
    assert all(rows[i].outcome is None and rows[i].lease_owner == "dialer-a" for i in left)
    assert {owner for owner, _ in await leases_of(sessions, left)} == {"dialer-a"}


@pytest.mark.redis
async def test_a_campaign_taken_between_sweeps_settles_the_dead_process_s_calls_before_it_dials(
    shared_db: tuple[str, SessionFactory], leases_for: dict[str, Leases]
) -> None:
    url, sessions = shared_db
    async with floor(sessions) as (center, clock, sim):
        a = await start_process("dialer-a", url, clock, sim.port, leases_for["dialer-a"])
        b = await start_process("dialer-b", url, clock, sim.port, leases_for["dialer-b"])
        log_in(a, center)
        await a.keeper.step()
        a.keeper.start()
        await b.keeper.step()  # dialer-b's sweep: dialer-a runs; the campaign is dialer-a's
        assert b.keeper.dialing() == set()
        b.keeper.sweep_s = math.inf  # no sweep again: only the takeover can settle them
        stats = a.engine.campaigns[center.campaign_id].stats
        await until(lambda: stats.placed >= 4, 60)
        await kill(a)
        left = {row.id for row in await attempts(sessions) if row.outcome is None}
        assert left, "dialer-a left no call open: the test shows nothing"
        await until(lambda: sim.active_channels == 0, 60)
        await asyncio.sleep(TTL_S + 0.2)
        log_in(b, center)
        await b.keeper.step()
        assert b.keeper.dialing() == {center.campaign_id}
        taken = b.engine.campaigns[center.campaign_id].stats
        await until(lambda: taken.placed >= 2, 60)
        rows = await attempts(sessions)
        await close(b)
    settled = [row for row in rows if row.id in left]
    assert {row.comments for row in settled} == {DEAD_OWNER_GONE.format(owner="dialer-a")}
    ours = [row for row in rows if row.lease_owner == "dialer-b" and row.id not in left]
    first_dial = min(row.created_at for row in ours)
    assert all(row.ended_at is not None and row.ended_at <= first_dial for row in settled)


async def test_alone_a_process_starts_what_becomes_active_and_stops_what_does_not(
    database_url: str, session_factory: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async with floor(session_factory) as (center, clock, sim):
        a = await start_process("dialer-a", database_url, clock, sim.port, LocalLeases("a"))

        async def campaign_set(**values: object) -> None:
            async with session_factory() as session, session.begin():
                await session.execute(
                    update(Campaign).where(Campaign.id == center.campaign_id).values(**values)
                )

        await campaign_set(active=False)
        await a.keeper.step()
        assert a.keeper.dialing() == set()
        await campaign_set(active=True)
        await a.keeper.step()
        assert a.keeper.dialing() == {center.campaign_id}
        await campaign_set(active=False)
        await a.keeper.step()
        assert a.keeper.dialing() == set()
        # A campaign that cannot dial is refused with its reason, logged once, not every round.
        await campaign_set(active=True, trunk=None)
        with caplog.at_level(logging.WARNING, logger="dialer.engine.keeper"):
            await a.keeper.step()
            await a.keeper.step()
        assert a.keeper.dialing() == set()
        assert center.campaign_id in a.keeper.refused
        assert caplog.text.count(f"campaign {center.campaign_id} not started") == 1
        await close(a)
