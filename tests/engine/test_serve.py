"""``dialer serve`` end to end on PostgreSQL and Redis against the simulated Asterisk: it takes
its campaign's lease, dials once an agent logs in through the API, hands answers to the agent
through its own FastAGI, and on stop lets its calls end, writes every outcome and gives its
lease back."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from dialer.clock import ScaledClock
from dialer.demo import shift_start
from dialer.demo_seed import seed_center
from dialer.service import serve
from dialer.settings import AmiSettings, ApiSettings, FastAgiSettings, Settings
from dialer.shared_views import Snapshot
from dialer.simasterisk import NumberModel, SimConfig, SimulatedAsterisk
from store.db import make_engine, make_session_factory
from store.models import Attempt
from store.users import issue_token
from tests.engine.plans import PATIENT_S
from tests.waiting import until

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_serve_dials_its_leased_campaign_and_stops_cleanly(
    postgres_url: str, redis_url: str, redis_key_prefix: str
) -> None:
    start = shift_start()
    clock = ScaledClock(20, start=start.timestamp())
    engine = make_engine(postgres_url)
    sessions = make_session_factory(engine)
    center = await seed_center(sessions, agents=1, contacts=20, now=start)
    async with sessions() as session, session.begin():
        token = await issue_token(session, center.agents[0].user_id, start)
    # Half the numbers busy, half people who talk 10 s: the stop waits on little. The
    # dialplan's own FastAGI leads nowhere, so answered calls reach the agent only through
    # the Originate's DIALER_FASTAGI (fastagi.url).
    model = NumberModel(
        seed=2,
        p_machine=0.0,
        p_busy=0.5,
        p_no_answer=0.0,
        p_congestion=0.0,
        p_invalid=0.0,
        ring_median_s=2.0,
        talk_median_s=10.0,
        patience_s=PATIENT_S,
    )
    sim = SimulatedAsterisk(SimConfig(fastagi_url="agi://127.0.0.1:9", model=model), clock)
    _, ami_port = await sim.start()
    api_port, agi_port = free_port(), free_port()
    settings = Settings(
        database_url=postgres_url,
        redis_url=redis_url,
        redis_key_prefix=redis_key_prefix,
        campaign_lease_seconds=3.0,  # wall seconds: the keeper waits one before it takes
        ami=AmiSettings(port=ami_port),
        fastagi=FastAgiSettings(port=agi_port, url=f"agi://127.0.0.1:{agi_port}"),
        api=ApiSettings(port=api_port),
    )
    lease = f"{redis_key_prefix}lease:campaign:{center.campaign_id}"
    views = f"{redis_key_prefix}views:process:dialer-t"
    client = aioredis.from_url(redis_url, decode_responses=True)
    stop = asyncio.Event()
    running = asyncio.ensure_future(serve(settings, owner="dialer-t", stop=stop, clock=clock))
    base = f"http://127.0.0.1:{api_port}"
    try:
        async with aiohttp.ClientSession() as http:

            async def answers() -> bool:
                try:
                    async with http.get(f"{base}/health") as r:
                        return r.status == 200
                except aiohttp.ClientError:
                    return False

            for _ in range(100):
                if running.done() or await answers():
                    break
                await asyncio.sleep(0.1)
            assert not running.done(), running.exception()
            # Taken once the keeper has settled (one lease's life, to see other processes).
            for _ in range(200):
                if await client.get(lease) == "dialer-t":
                    break
                await asyncio.sleep(0.05)
            assert await client.get(lease) == "dialer-t"
            headers = {"Authorization": f"Bearer {token}"}
            async with http.post(f"{base}/api/agent/login", headers=headers) as r:
                assert r.status == 200
            await until(lambda: sim.originates >= 6, 30)
            # What it dials is published for every process's API (dialer/shared_views.py).
            published = await client.get(views)
            assert published is not None
            campaign = Snapshot.decode(published).campaigns[center.campaign_id]
            assert campaign["running"] is True
            agents = campaign["agents"]  # the one agent, logged in here (on a call or not)
            assert sum(agents.values()) == 1 and agents["logged_out"] == 0
        stop.set()
        await asyncio.wait_for(running, 60)
        assert await client.get(views) is None  # withdrawn, not left to expire
        assert await client.get(lease) is None  # given back: another process may take it
        assert await client.zscore(f"{redis_key_prefix}lease:processes", "dialer-t") is None
    finally:
        stop.set()
        if not running.done():
            running.cancel()
        await sim.stop()
        await client.aclose()
    async with sessions() as session:
        rows = list(await session.scalars(select(Attempt)))
    await engine.dispose()
    assert len(rows) == sim.originates
    assert all(a.outcome is not None for a in rows)  # every call's outcome, written at the stop
    assert {a.lease_owner for a in rows} == {"dialer-t"}
    talked = [a for a in rows if a.agent_id == center.agents[0].user_id]
    assert talked and all(a.connected_at is not None for a in talked)
