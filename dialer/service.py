"""``dialer serve``: the engine, the FastAGI server and the API against a real Asterisk.

Everything comes from the settings (dialer/settings.py: TOML file and ``DIALER_*`` variables).
On SQLite the database is locked to this one process (the store refuses a second: SQLite has no
``SKIP LOCKED``). Every active campaign that can dial is started (dialer/engine/keeper.py; with
Redis, those whose lease this process holds: several processes share the campaigns, and one
takes over the campaigns of another that died); one that cannot (no trunk, predictive without
its "No contact" results) is logged with the reason and left alone. Agents log in through the
API; supervisors watch ``GET /api/live`` (through Redis when ``redis_url`` is set, so every
process's events reach every process's API), and the campaign and queue views answer for the
whole floor whichever process is asked (dialer/shared_views.py). SIGTERM/SIGINT: stop dialing,
let the calls in flight finish, give the leases back, exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from aiohttp import web
from sqlalchemy import select

from agi.server import FastAGIServer
from ami.client import AMIClient
from dialer.api import Api
from dialer.clock import Clock, RealClock
from dialer.engine.engine import AMI_EVENTS, Engine
from dialer.engine.inbound import InboundDesk
from dialer.engine.inbound_records import InboundRecords
from dialer.engine.keeper import Active, CampaignKeeper, linked_groups
from dialer.engine.outcome_spool import OutcomeSpool
from dialer.engine.records import StoreRecords
from dialer.engine.roster import Roster
from dialer.leases import Leases, LocalLeases, RedisLeases
from dialer.live import LiveFeed, MemoryFeed
from dialer.live_redis import RedisFeed
from dialer.metrics import Registry
from dialer.reminder_notices import ReminderNotices
from dialer.settings import Settings
from dialer.shared_views import LocalViews, RedisViews, SharedViews, ViewPublisher, snapshot_of
from store.db import Database, SessionFactory
from store.enums import DialMode
from store.models import Campaign, CampaignMember

log = logging.getLogger(__name__)


async def active_campaigns(sessions: SessionFactory) -> Active:
    """The keeper's read each round (dialer/engine/keeper.py): the active campaigns that dial
    (not preview), grouped by the agents they share, and which of them are paused."""
    async with sessions() as session:
        # The pauses come with the ids, in the same query: a supervisor's pause asked at
        # another process reaches this one within a round, for no query more.
        rows = list(
            await session.execute(
                select(Campaign.id, Campaign.dialing_paused).where(
                    Campaign.active, Campaign.dial_mode != DialMode.PREVIEW
                )
            )
        )
        ids = [campaign_id for campaign_id, _ in rows]
        members = await session.execute(
            select(CampaignMember.campaign_id, CampaignMember.user_id).where(
                CampaignMember.campaign_id.in_(ids)
            )
        )
    agents: dict[int, set[int]] = {campaign_id: set() for campaign_id in ids}
    for campaign_id, user_id in members:
        agents[campaign_id].add(user_id)
    paused = frozenset(campaign_id for campaign_id, is_paused in rows if is_paused)
    return Active(linked_groups(agents), paused)


async def serve(
    settings: Settings,
    *,
    owner: str = "dialer-1",
    stop: asyncio.Event | None = None,
    clock: Clock | None = None,
) -> None:
    """Run until SIGTERM/SIGINT, or until ``stop`` is set (then no signal is taken over).
    ``clock``: the engine's time, real unless a test gives a scaled one."""
    db = Database.open(settings.database_url)
    try:
        await db.hold_owner(owner)  # a restart settles this owner's calls: one process each
    except BaseException:
        await db.close()
        raise
    clock = clock or RealClock()
    ami = AMIClient(
        settings.ami.host,
        settings.ami.port,
        settings.ami.username,
        settings.ami.secret,
        events=AMI_EVENTS,
    )
    roster = Roster(clock)
    # Live events for supervisors: shared by every dialer process on the same Redis.
    live: LiveFeed = MemoryFeed()
    leases: Leases = LocalLeases(owner)
    redis_views: RedisViews | None = None
    if settings.redis_url:
        prefix = settings.redis_key_prefix
        live = RedisFeed(settings.redis_url, key=f"{prefix}live")
        leases = RedisLeases(
            settings.redis_url,
            owner,
            ttl_s=settings.campaign_lease_seconds,
            prefix=f"{prefix}lease:",
        )
        redis_views = RedisViews(settings.redis_url, owner, prefix=f"{prefix}views:")
    spool = None
    if settings.outcome_spool_dir is not None:
        spool = OutcomeSpool.of_owner(settings.outcome_spool_dir, owner)
    records = StoreRecords(db.sessions, clock, owner=owner, spool=spool)
    engine = Engine(
        records,
        ami,
        roster,
        clock,
        owner=owner,
        dialer_out_context=settings.dialer_out_context,
        tick_s=settings.tick_seconds,
        live=live,
        fastagi_url=settings.fastagi.originate_url,
    )
    # Inbound queues and blended agents (docs/inbound.md): the /inbound FastAGI handler, queue
    # membership following the roster, reconciled with QueueStatus after every reconnect.
    inbound = InboundDesk(engine, InboundRecords(records))
    agi = FastAGIServer(
        {"outbound": engine.handle_outbound, "inbound": inbound.handle_inbound},
        host=settings.fastagi.host,
        port=settings.fastagi.port,
        exec_timeout=settings.fastagi.exec_timeout_s,
    )
    # Supervisors' views of the campaigns and queues served here, for every process's API;
    # alone (no Redis), the API reads this engine and nothing is published.
    views: SharedViews = redis_views or LocalViews(owner, lambda: snapshot_of(engine, inbound))
    publisher = None
    if redis_views is not None:
        publisher = ViewPublisher(redis_views, lambda: snapshot_of(engine, inbound), clock)
    runner = web.AppRunner(
        Api(engine, db.sessions, Registry(), inbound=inbound, leases=leases, views=views).app()
    )
    await agi.start()
    await inbound.load()
    await ami.connect()
    await runner.setup()
    await web.TCPSite(runner, settings.api.host, settings.api.port).start()
    log.info(
        "serving: AMI %s:%s, FastAGI %s:%s, API %s:%s",
        settings.ami.host,
        settings.ami.port,
        settings.fastagi.host,
        agi.port,
        settings.api.host,
        settings.api.port,
    )

    # The campaigns this process paces: every active one that can dial, or with Redis the
    # ones whose lease it holds (one process per campaign; another takes over if it dies).
    # Its first round runs at once; a failing round (Redis away) is logged and tried again.
    keeper = CampaignKeeper(engine, leases, lambda: active_campaigns(db.sessions), clock)
    keeper.start()
    notices = ReminderNotices(db.sessions, roster, live, clock)
    notices.start()
    if publisher is not None:
        publisher.start()
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await notices.stop()
        await keeper.stop()
        await engine.stop_dialing()
        await engine.drain(timeout_s=120)
        if publisher is not None:  # after the drain: its calls' ends were shown till the last
            await publisher.stop()
        await keeper.release_all()  # another process may take them over at once
        await inbound.drain()
        await runner.cleanup()
        await roster.close()
        await ami.close()
        await agi.close()
        await live.close()
        await leases.close()
        await views.close()
        await db.close()
