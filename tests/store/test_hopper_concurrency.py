"""Several claimers on separate PostgreSQL connections never get the same assignment."""

from __future__ import annotations

import asyncio

from store.db import make_engine, make_session_factory
from store.hopper import Hopper
from tests.store.builders import NOW, company_and_campaign, seed_assignments

ASSIGNMENTS = 3000
CLAIMERS = 4
BATCH = 25


async def _drain(url: str, campaign_id: int, owner: str) -> list[int]:
    engine = make_engine(url, pool_size=1)
    hopper = Hopper(make_session_factory(engine))
    claimed: list[int] = []
    try:
        while batch := await hopper.claim(campaign_id, BATCH, NOW, owner, lease_seconds=3600):
            claimed.extend(c.assignment_id for c in batch)
    finally:
        await engine.dispose()
    return claimed


async def test_concurrent_claimers_share_the_work_without_duplicates(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    async with make_session_factory(engine)() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        await seed_assignments(session, campaign, ASSIGNMENTS)
    await engine.dispose()
    results = await asyncio.gather(
        *(_drain(postgres_url, campaign.id, f"dialer-{i}") for i in range(CLAIMERS))
    )
    everything = [aid for claimed in results for aid in claimed]
    assert len(everything) == ASSIGNMENTS
    assert len(set(everything)) == ASSIGNMENTS
