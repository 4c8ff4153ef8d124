"""Supervisors' views shared between dialer processes (dialer/shared_views.py): one process
alone answers from its engine; on Redis each process's snapshot reaches the others until it
expires; a queue seen from several processes adds up; Redis away never reaches the engine."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from ami.client import AMIClient
from dialer.clock import ScaledClock
from dialer.engine.engine import Engine
from dialer.engine.ports import CampaignPlan
from dialer.engine.roster import Roster
from dialer.shared_views import (
    LocalViews,
    RedisViews,
    Snapshot,
    ViewPublisher,
    merge_queue_views,
    snapshot_of,
)
from tests.engine.memory_records import MemoryRecords
from tests.engine.plans import campaign_plan

CAMPAIGN = 7
AGENT = 21


def plan() -> CampaignPlan:
    return campaign_plan(campaign_id=CAMPAIGN, name="Sales")


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    """A process's engine with one agent of the campaign logged in; never connected to an
    Asterisk (no call is placed here)."""
    clock = ScaledClock(1)
    roster = Roster(clock)
    ami = AMIClient("127.0.0.1", 9, ping_interval=None)
    engine = Engine(MemoryRecords(plan(), []), ami, roster, clock, owner="dialer-1")
    roster.add(AGENT, "Ana", "PJSIP/ana", {CAMPAIGN})
    roster.login(AGENT)
    yield engine
    await roster.close()


def queue_view(**figures: object) -> dict[str, object]:
    view: dict[str, object] = {
        "campaign_id": 9,
        "queue": "service",
        "calls_waiting": 0,
        "longest_wait_s": 0.0,
        "service_level": None,
        "service_level_target": 0.8,
        "service_level_threshold_s": 20.0,
        "abandon_rate": None,
        "offered": 0,
        "answered": 0,
        "answered_within_threshold": 0,
        "abandoned": 0,
        "closed_out_of_hours": 0,
        "unreached": 0,
        "average_wait_s": None,
        "day": "2025-03-03",
        "agents": {"available": 0, "paused": 0},
    }
    view.update(figures)
    return view


async def test_the_local_views_answer_from_the_engine_as_it_is_when_asked(
    engine: Engine,
) -> None:
    views = LocalViews("dialer-1", lambda: snapshot_of(engine, None))
    before = await views.published("dialer-1")
    engine.roster.pause(AGENT, "coffee")
    after = await views.published("dialer-1")
    assert before is not None and after is not None
    assert before.campaigns[CAMPAIGN]["agents"]["available"] == 1
    assert after.campaigns[CAMPAIGN]["agents"]["paused"] == 1
    assert await views.published("dialer-2") is None  # alone: no other process to know of


async def test_a_campaign_dialed_here_shows_its_calls_and_pacing(engine: Engine) -> None:
    await engine.start_campaign(CAMPAIGN)
    try:
        view = snapshot_of(engine, None).campaigns[CAMPAIGN]
    finally:
        await engine.stop_campaign(CAMPAIGN)
    assert view["running"] is True and view["paused"] is False
    assert view["calls_in_flight"] == 0 and view["abandon_rate"] == 0.0


def test_a_snapshot_reads_back_as_it_was_written(engine: Engine) -> None:
    snapshot = snapshot_of(engine, None)
    assert Snapshot.decode(snapshot.encode()) == snapshot


def test_a_queue_seen_from_two_processes_adds_up_and_its_rates_are_worked_out_again() -> None:
    inbound_side = queue_view(
        calls_waiting=2,
        longest_wait_s=12.5,
        offered=4,
        answered=3,
        answered_within_threshold=2,
        abandoned=1,
        average_wait_s=10.0,
        agents={"available": 0, "paused": 1},
    )
    agents_side = queue_view(agents={"available": 2, "paused": 0}, unreached=1)
    merged = merge_queue_views([agents_side, inbound_side])
    assert merged["offered"] == 4 and merged["unreached"] == 1
    assert merged["calls_waiting"] == 2 and merged["longest_wait_s"] == 12.5
    assert merged["agents"] == {"available": 2, "paused": 1}
    assert merged["service_level"] == 0.5 and merged["abandon_rate"] == 0.25
    assert merged["average_wait_s"] == 10.0


def test_a_process_s_figures_of_an_earlier_day_are_left_out_but_its_agents_count() -> None:
    yesterday = queue_view(day="2025-03-02", offered=9, abandoned=9, agents={"available": 1})
    today = queue_view(offered=1, answered=1, answered_within_threshold=1, average_wait_s=3.0)
    merged = merge_queue_views([yesterday, today])
    assert merged["day"] == "2025-03-03" and merged["offered"] == 1
    assert merged["service_level"] == 1.0 and merged["agents"]["available"] == 1


@pytest.fixture
async def processes(
    redis_url: str, redis_key_prefix: str
) -> AsyncIterator[Callable[..., RedisViews]]:
    """Shared views as each named dialer process opens them, on one test's keys."""
    opened: list[RedisViews] = []

    def open_views(owner: str, ttl_s: float = 30.0) -> RedisViews:
        views = RedisViews(redis_url, owner, ttl_s=ttl_s, prefix=redis_key_prefix)
        opened.append(views)
        return views

    yield open_views
    for views in opened:
        await views.close()


@pytest.mark.redis
async def test_a_process_s_snapshot_reaches_the_others(
    processes: Callable[..., RedisViews], engine: Engine
) -> None:
    here, there = processes("dialer-1"), processes("dialer-2")
    snapshot = snapshot_of(engine, None)
    await here.publish(snapshot)
    assert await there.published("dialer-1") == snapshot
    assert await there.published("dialer-3") is None
    assert [s.process for s in await there.live()] == ["dialer-1"]


@pytest.mark.redis
async def test_a_snapshot_not_published_again_expires(
    processes: Callable[..., RedisViews],
) -> None:
    dying, other = processes("dialer-1", ttl_s=0.2), processes("dialer-2")
    await dying.publish(Snapshot("dialer-1", 1000.0, {CAMPAIGN: {"running": True}}))
    await other.publish(Snapshot("dialer-2", 1000.0))
    await asyncio.sleep(0.3)  # dialer-1 died: no round published since
    assert await other.published("dialer-1") is None
    assert [s.process for s in await other.live()] == ["dialer-2"]


@pytest.mark.redis
async def test_a_process_that_stops_withdraws_its_snapshot_at_once(
    processes: Callable[..., RedisViews], engine: Engine
) -> None:
    stopping, other = processes("dialer-1"), processes("dialer-2")
    publisher = ViewPublisher(stopping, lambda: snapshot_of(engine, None), engine.clock, 0.05)
    publisher.start()
    await asyncio.sleep(0.1)
    assert await other.published("dialer-1") is not None
    await publisher.stop()
    assert await other.published("dialer-1") is None and await other.live() == []


async def test_redis_away_is_logged_once_and_never_reaches_the_engine(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    views = RedisViews("redis://127.0.0.1:9/0", "dialer-1", timeout_s=0.2)  # nobody listens
    publisher = ViewPublisher(views, lambda: snapshot_of(engine, None), engine.clock, 0.02)
    try:
        with caplog.at_level(logging.INFO, logger="dialer.shared_views"):
            publisher.start()
            await asyncio.sleep(0.2)  # several rounds
            engine.roster.pause(AGENT, "coffee")  # the engine goes on meanwhile
            await publisher.stop()  # its withdraw fails too, quietly
    finally:
        await views.close()
    assert publisher.failing
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Redis unavailable" in warnings[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no round failed
