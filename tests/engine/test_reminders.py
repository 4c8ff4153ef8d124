"""Auto-drop reminders (seed 004 "caída automática") on the real store, end to end: dialed at
their time, with the agent who scheduled them reserved for the call, or any available agent
when the campaign says so; simple reminders are the agent's notifications."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select

from dialer.simasterisk import NumberModel
from store.db import SessionFactory
from store.enums import AutoDropTarget
from store.models import Assignment, Attempt, Campaign
from store.work import schedule_callback
from tests.engine.plans import PATIENT_S
from tests.engine.test_engine_store import Shift, shift, typifying
from tests.waiting import until

ON_TIME_S = 30.0
EVERYONE_ANSWERS = NumberModel(
    seed=5,
    p_machine=0.0,
    p_busy=0.0,
    p_no_answer=0.0,
    p_congestion=0.0,
    p_invalid=0.0,
    ring_median_s=3.0,
    talk_median_s=15.0,
    patience_s=PATIENT_S,
)


async def _remind(s: Shift, *, agent: int, after_s: float) -> tuple[int, dt.datetime]:
    """An auto-drop reminder on the campaign's last contact, due ``after_s`` from now."""
    # One "now" for both: the clock runs fast, and under load the query below can take longer
    # than ``after_s`` of it (seen in a loaded run: "due_at ... is not in the future").
    now = s.engine.now()
    due = now + dt.timedelta(seconds=after_s)
    async with s.sessions() as session, session.begin():
        assignment = await session.scalar(
            select(Assignment)
            .where(Assignment.campaign_id == s.center.campaign_id)
            .order_by(Assignment.order_key.desc())
            .limit(1)
        )
        assert assignment is not None
        await schedule_callback(session, assignment.id, due, "auto_drop", now, agent_id=agent)
        return assignment.id, due


async def _attempts_of(s: Shift, assignment_id: int) -> list[Attempt]:
    async with s.sessions() as session:
        return list(
            await session.scalars(
                select(Attempt).where(Attempt.assignment_id == assignment_id).order_by(Attempt.id)
            )
        )


async def _answered(s: Shift, assignment_id: int) -> Attempt:
    async def done() -> list[Attempt]:
        return [a for a in await _attempts_of(s, assignment_id) if a.outcome is not None]

    found: list[Attempt] = []

    async def poll() -> None:
        while not found:
            found.extend(await done())
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), 60)
    return found[0]


def _clock_s(s: Shift, wall_s: float) -> float:
    return wall_s / s.clock.speed


async def test_an_auto_drop_reminder_is_dialed_on_time_to_the_agent_who_scheduled_it(
    session_factory: SessionFactory,
) -> None:
    # The reminder is the campaign's only call, and the agent who scheduled it is back from a
    # break: the other agent has been free longer, so an ordinary call's hand-off (longest
    # available first) would go to them. Only the reservation gives it to the scheduler.
    async with shift(session_factory, agents=2, contacts=1, model=EVERYONE_ANSWERS) as s:
        scheduler, other = s.center.agents[1].user_id, s.center.agents[0].user_id
        s.engine.roster.pause(scheduler, "break")
        s.engine.roster.ready(scheduler)
        assert s.engine.roster.get(other).since < s.engine.roster.get(scheduler).since
        assignment_id, due = await _remind(s, agent=scheduler, after_s=150)
        async with typifying(s):
            await s.engine.start_campaign(s.center.campaign_id)
            attempt = await _answered(s, assignment_id)
    assert attempt.created_at >= due
    # On time: at a tick after it is due, not a minute later (ticks are 1 s of clock time; the
    # margin is for a loaded machine, where 40x clock seconds pass quickly).
    assert (attempt.created_at - due).total_seconds() <= ON_TIME_S
    assert attempt.agent_id == scheduler


async def test_a_reminder_waits_for_its_agent_while_they_are_away(
    session_factory: SessionFactory,
) -> None:
    async with shift(session_factory, agents=2, contacts=3, model=EVERYONE_ANSWERS) as s:
        scheduler = s.center.agents[1].user_id
        s.engine.roster.pause(scheduler, "training")
        assignment_id, due = await _remind(s, agent=scheduler, after_s=20)
        async with typifying(s):
            await s.engine.start_campaign(s.center.campaign_id)
            late = due.timestamp() + 60
            await until(lambda: s.clock.now() >= late, timeout=_clock_s(s, 200) + 10)
            assert await _attempts_of(s, assignment_id) == []  # nobody else takes it
            assert s.engine.roster.get(scheduler).state.value == "paused"
            s.engine.roster.ready(scheduler)
            attempt = await _answered(s, assignment_id)
    assert attempt.agent_id == scheduler
    assert attempt.created_at.timestamp() >= late


async def test_with_any_agent_set_a_reminder_goes_to_another_agent_when_its_own_is_away(
    session_factory: SessionFactory,
) -> None:
    async with shift(session_factory, agents=2, contacts=3, model=EVERYONE_ANSWERS) as s:
        async with s.sessions() as session, session.begin():
            campaign = await session.get(Campaign, s.center.campaign_id)
            assert campaign is not None
            campaign.auto_drop_target = AutoDropTarget.ANY_AGENT
        scheduler, other = s.center.agents[1].user_id, s.center.agents[0].user_id
        s.engine.roster.pause(scheduler, "training")
        assignment_id, due = await _remind(s, agent=scheduler, after_s=150)
        async with typifying(s):
            await s.engine.start_campaign(s.center.campaign_id)
            attempt = await _answered(s, assignment_id)
    assert attempt.agent_id == other
    assert due <= attempt.created_at <= due + dt.timedelta(seconds=ON_TIME_S)
