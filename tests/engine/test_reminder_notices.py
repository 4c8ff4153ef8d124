"""Simple reminders pushed to the agent at their time (dialer/reminder_notices.py, seed 004):
once each, not before, and not lost while the agent was away."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from dialer.demo import shift_start
from dialer.demo_seed import DemoCenter, seed_center
from dialer.engine.roster import Roster
from dialer.live import LiveEvent, MemoryFeed
from dialer.reminder_notices import ReminderNotices
from store.db import SessionFactory
from store.models import Assignment
from store.work import schedule_callback


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.t = at.timestamp()

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds


async def remind(
    sessions: SessionFactory, center: DemoCenter, agent: int, due: dt.datetime, now: dt.datetime
) -> int:
    async with sessions() as session, session.begin():
        assignment = await session.scalar(
            select(Assignment).where(Assignment.campaign_id == center.campaign_id).limit(1)
        )
        assert assignment is not None
        reminder = await schedule_callback(
            session, assignment.id, due, "simple", now, agent_id=agent, note="call back after 3"
        )
        return reminder.id


async def desk(
    sessions: SessionFactory, agents: int
) -> tuple[DemoCenter, Clock, MemoryFeed, Roster, ReminderNotices]:
    """A centre at the shift's start, its agents in the roster (logged out), the notices."""
    start = shift_start()
    center = await seed_center(sessions, agents=agents, contacts=3, now=start)
    clock, feed, roster = Clock(start), MemoryFeed(), Roster(Clock(start))  # type: ignore[arg-type]
    for a in center.agents:
        roster.add(a.user_id, a.name, a.interface, {center.campaign_id})
    notices = ReminderNotices(sessions, roster, feed, clock)  # type: ignore[arg-type]
    return center, clock, feed, roster, notices


async def published(feed: MemoryFeed) -> list[LiveEvent]:
    return [e for _, e in (await feed.read("0", 0.0)).events]


async def test_a_simple_reminder_reaches_its_agent_s_feed_at_its_time_once(
    session_factory: SessionFactory,
) -> None:
    center, clock, feed, roster, notices = await desk(session_factory, agents=2)
    start = dt.datetime.fromtimestamp(clock.t, dt.UTC)
    agent, other = center.agents
    for a in (agent, other):
        roster.login(a.user_id)
    due = start + dt.timedelta(minutes=10)
    reminder_id = await remind(session_factory, center, agent.user_id, due, start)
    assert await notices.step() == 0  # not before its time
    clock.t = (due + dt.timedelta(seconds=5)).timestamp()
    assert await notices.step() == 1
    assert await notices.step() == 0  # once
    [event] = [e for e in await published(feed) if e.kind == "reminder"]
    assert event.data["agent_id"] == agent.user_id and event.data["reminder_id"] == reminder_id
    assert event.data["note"] == "call back after 3"
    assert event.campaigns == (center.campaign_id,)
    await roster.close()


async def test_a_reminder_due_while_its_agent_was_away_comes_when_they_log_in(
    session_factory: SessionFactory,
) -> None:
    center, clock, _feed, roster, notices = await desk(session_factory, agents=1)
    start = dt.datetime.fromtimestamp(clock.t, dt.UTC)
    [agent] = center.agents
    due = start + dt.timedelta(minutes=1)
    await remind(session_factory, center, agent.user_id, due, start)
    clock.t = (due + dt.timedelta(minutes=5)).timestamp()
    assert await notices.step() == 0  # logged out: nobody to tell
    roster.login(agent.user_id)
    assert await notices.step() == 1
    assert await notices.step() == 0
    await roster.close()
