"""``dialer demo``: a whole shift on the embedded default, watched live, summed up from the DB.

A fresh SQLite database gets a contact center (dialer/demo_seed.py); the simulated Asterisk
(its seeded model plays the called parties and the agents' phones) and the engine start on
loopback with the FastAGI server between them; 20 simulated agents log in and, after each call,
typify after some after-call work (sometimes too late, so the ACW timer applies the campaign's
default typification). The shift runs on a scaled clock; the terminal shows agents by state,
calls in flight, dial level, abandon rate and utilisation; the summary at the end is read back
from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from agi.server import FastAGIServer
from ami.client import AMIClient
from dialer.clock import ScaledClock
from dialer.demo_seed import CAMPAIGN_TIMEZONE, DemoCenter, seed_center
from dialer.engine.engine import AMI_EVENTS, Engine, RunningCampaign
from dialer.engine.ports import Typification
from dialer.engine.records import ACW_TIMEOUT_NOTE, StoreRecords
from dialer.engine.roster import AgentState, Roster
from dialer.live_view import CLEAR_SCREEN, CampaignView, ShiftView, render
from dialer.simasterisk import NumberModel, SimConfig, SimulatedAsterisk
from store.db import SessionFactory, create_schema, make_engine, make_session_factory
from store.models import Attempt, TypificationResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoOptions:
    agents: int = 20
    contacts: int = 3000
    shift_minutes: float = 60.0  # in the shift's own (simulated) time
    speed: float = 25.0  # simulated seconds per wall second
    seed: int = 1
    database: Path = Path("var/demo.sqlite3")
    live: bool = True
    acw_max_s: int = 45
    late_typing_share: float = 0.1  # agents who let the ACW timer fire


@dataclass(frozen=True)
class Summary:
    attempts: int
    by_outcome: dict[str, int]
    by_result: dict[str, int]
    live_answers: int
    dropped: int
    abandon_rate: float
    talk_seconds: float
    agent_seconds: float
    utilisation: float
    acw_timeouts: int
    contacts_reached: int
    wall_seconds: float

    def lines(self) -> list[str]:
        rows = [
            "Shift summary (read back from the database)",
            f"  attempts written            {self.attempts}",
        ]
        rows += [f"    {k:<26}{v}" for k, v in sorted(self.by_outcome.items())]
        rows += [
            f"  live answers                {self.live_answers}",
            f"  dropped (abandoned)         {self.dropped}",
            f"  abandon rate                {self.abandon_rate:.2%}  (cap 3.00%)",
            f"  agent utilisation           {self.utilisation:.1%}  (talk / logged-in time)",
            f"  contacts reached            {self.contacts_reached}",
            f"  ACW timer applied default   {self.acw_timeouts}",
            "  typifications:",
        ]
        rows += [f"    {k:<26}{v}" for k, v in sorted(self.by_result.items(), key=lambda i: -i[1])]
        rows.append(f"  wall time                   {self.wall_seconds:.0f} s")
        return rows


def shift_start(timezone: str = CAMPAIGN_TIMEZONE) -> dt.datetime:
    """The next weekday 09:00 in the campaign's timezone: inside schedule and calling hours."""
    zone = ZoneInfo(timezone)
    day = dt.datetime.now(zone).date() + dt.timedelta(days=1)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(9, 0), zone).astimezone(dt.UTC)


class AgentDesk:
    """The simulated agents at their desks: they typify after some after-call work."""

    def __init__(self, engine: Engine, center: DemoCenter, opts: DemoOptions) -> None:
        self.engine = engine
        self.center = center
        self.opts = opts
        self.rng = random.Random(opts.seed)
        self.handled: set[tuple[int, int]] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.results = list(center.direct_results.values())

    async def run(self, campaign_id: int) -> None:
        roster = self.engine.roster
        while True:
            for agent in roster.agents.values():
                if agent.state is AgentState.ACW and agent.attempt_id is not None:
                    key = (agent.agent_id, agent.attempt_id)
                    if key not in self.handled:
                        self.handled.add(key)
                        task = asyncio.create_task(self._wrap_up(campaign_id, *key))
                        self.tasks.add(task)
                        task.add_done_callback(self.tasks.discard)
            await asyncio.sleep(0.02)

    async def _wrap_up(self, campaign_id: int, agent_id: int, attempt_id: int) -> None:
        if self.rng.random() < self.opts.late_typing_share:
            return  # this one forgets: the ACW timer will apply the default typification
        await self.engine.clock.sleep(
            min(self.rng.lognormvariate(2.5, 0.5), self.opts.acw_max_s * 0.9)
        )
        agent = self.engine.roster.get(agent_id)
        if agent.state is not AgentState.ACW or agent.attempt_id != attempt_id:
            return
        result = self.rng.choices(self.results, weights=[2, 3, 5])[0]
        with contextlib.suppress(Exception):
            await self.engine.typify(Typification(attempt_id, agent_id, result), campaign_id)


def view_of(
    running: RunningCampaign,
    engine: Engine,
    clock: ScaledClock,
    started: float,
    wall_started: float,
) -> ShiftView:
    plan = running.plan
    stats = running.stats
    agents = engine.roster.working(plan.campaign_id)
    logged_in = sum(clock.now() - (a.logged_in_at or clock.now()) for a in agents)
    talk = sum(a.talk_s for a in agents) + sum(
        clock.now() - a.since for a in agents if a.state is AgentState.ON_CALL
    )
    calls = engine.in_flight(plan.campaign_id)
    local = dt.datetime.fromtimestamp(clock.now(), ZoneInfo(CAMPAIGN_TIMEZONE))
    return ShiftView(
        clock=local.strftime("%a %H:%M:%S"),
        elapsed=_duration(clock.now() - started),
        speed=clock.speed,
        campaigns=[
            CampaignView(
                name=plan.name,
                dial_mode=plan.dial_mode.value,
                agents=engine.roster.counts(plan.campaign_id),
                calls_in_flight=len(calls),
                calls_waiting=engine.roster.waiting_answers,
                dial_level=stats.dial_level,
                abandon_rate=stats.abandon_rate,
                abandon_rate_24h=stats.abandon_rate,
                utilisation=talk / logged_in if logged_in else 0.0,
                placed=stats.placed,
                answered=stats.answered,
                connected=stats.connected,
                dropped=stats.dropped,
                last_reason=stats.last_decision,
            )
        ],
    )


def _duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}"


def _fresh_database_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def run_demo(opts: DemoOptions, out: TextIO = sys.stdout) -> Summary:
    wall_started = time.perf_counter()
    _fresh_database_file(opts.database)
    url = f"sqlite+aiosqlite:///{opts.database}"
    await create_schema(url)
    db = make_engine(url)
    sessions = make_session_factory(db)
    start = shift_start()
    clock = ScaledClock(opts.speed, start=start.timestamp())
    print(
        f"Seeding {opts.contacts} contacts and {opts.agents} agents into {opts.database} ...",
        file=out,
    )
    center = await seed_center(
        sessions,
        agents=opts.agents,
        contacts=opts.contacts,
        now=start,
        seed=opts.seed,
        acw_max_s=opts.acw_max_s,
    )
    agi = FastAGIServer(port=0)
    agi_port = await agi.start()
    model = NumberModel(seed=opts.seed, ring_median_s=8.0, talk_median_s=100.0)
    sim = SimulatedAsterisk(
        SimConfig(fastagi_url=f"agi://127.0.0.1:{agi_port}", model=model), clock=clock
    )
    _, ami_port = await sim.start()
    ami = AMIClient("127.0.0.1", ami_port, ping_interval=None, events=AMI_EVENTS)
    roster = Roster(clock)
    records = StoreRecords(sessions, clock, owner="demo")
    engine = Engine(records, ami, roster, clock, owner="demo")
    agi.route("outbound", engine.handle_outbound)
    ami_connected = False
    desk_task: asyncio.Task[None] | None = None
    try:
        await ami.connect()
        ami_connected = True
        for agent in center.agents:
            roster.add(agent.user_id, agent.name, agent.interface, {center.campaign_id})
            roster.login(agent.user_id)
        running = await engine.start_campaign(center.campaign_id)
        desk = AgentDesk(engine, center, opts)
        desk_task = asyncio.create_task(desk.run(center.campaign_id))
        started = clock.now()
        end = started + opts.shift_minutes * 60
        while clock.now() < end:
            await asyncio.sleep(1.0 if opts.live else 2.0)
            view = render(view_of(running, engine, clock, started, wall_started))
            if opts.live:
                print(CLEAR_SCREEN + view, file=out, flush=True)
        await engine.stop_dialing()
        await engine.drain(timeout_s=600)
    finally:
        if desk_task is not None:
            desk_task.cancel()
        await roster.close()
        if ami_connected:
            await ami.close()
        await sim.stop()
        await agi.close()
    summary = await summarise(sessions, center, opts, started, clock.now(), wall_started)
    await db.dispose()
    return summary


async def summarise(
    sessions: SessionFactory,
    center: DemoCenter,
    opts: DemoOptions,
    started: float,
    ended: float,
    wall_started: float,
) -> Summary:
    async with sessions() as session:
        outcome_rows = await session.execute(
            select(Attempt.outcome, func.count())
            .where(Attempt.campaign_id == center.campaign_id)
            .group_by(Attempt.outcome)
        )
        by_outcome = {str(o.value if o else "open"): n for o, n in outcome_rows}
        result_rows = await session.execute(
            select(TypificationResult.name, func.count())
            .join(Attempt, Attempt.result_id == TypificationResult.id)
            .where(Attempt.campaign_id == center.campaign_id)
            .group_by(TypificationResult.name)
        )
        by_result = {name: n for name, n in result_rows}
        talks = await session.execute(
            select(Attempt.connected_at, Attempt.ended_at).where(
                Attempt.campaign_id == center.campaign_id, Attempt.connected_at.is_not(None)
            )
        )
        talk = sum((e - c).total_seconds() for c, e in talks if c and e)
        reached = await session.scalar(
            select(func.count(func.distinct(Attempt.contact_id))).where(
                Attempt.campaign_id == center.campaign_id, Attempt.outcome == "answered"
            )
        )
        acw_default = await session.scalar(
            select(func.count()).where(
                Attempt.campaign_id == center.campaign_id, Attempt.comments == ACW_TIMEOUT_NOTE
            )
        )
    answered = by_outcome.get("answered", 0)
    dropped = by_outcome.get("dropped", 0)
    live = answered + dropped
    agent_seconds = opts.agents * (ended - started)
    return Summary(
        attempts=sum(by_outcome.values()),
        by_outcome=by_outcome,
        by_result=by_result,
        live_answers=live,
        dropped=dropped,
        abandon_rate=dropped / live if live else 0.0,
        talk_seconds=talk,
        agent_seconds=agent_seconds,
        utilisation=talk / agent_seconds if agent_seconds else 0.0,
        acw_timeouts=int(acw_default or 0),
        contacts_reached=int(reached or 0),
        wall_seconds=time.perf_counter() - wall_started,
    )
