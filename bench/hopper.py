"""Hopper throughput on PostgreSQL: 4 concurrent claimers drain 50,000 assignments.

Run: .venv/bin/python bench/hopper.py [--assignments N] [--claimers K] [--batch B]
Creates a scratch database beside DIALER_BENCH_POSTGRES_URL's (default the local `test`
database), migrates it, seeds it, measures, and drops it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from store.db import create_schema, make_engine, make_session_factory
from store.hopper import Hopper
from tests.store.builders import NOW, company_and_campaign, seed_assignments

MAINTENANCE_URL = os.environ.get(
    "DIALER_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(_dsn(MAINTENANCE_URL))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _drain(url: str, campaign_id: int, owner: str, batch: int) -> list[int]:
    engine = make_engine(url, pool_size=1)
    hopper = Hopper(make_session_factory(engine))
    claimed: list[int] = []
    try:
        while found := await hopper.claim(campaign_id, batch, NOW, owner, lease_seconds=3600):
            claimed.extend(c.assignment_id for c in found)
    finally:
        await engine.dispose()
    return claimed


async def main(assignments: int, claimers: int, batch: int) -> None:
    name = f"dialer_bench_{os.getpid()}_{secrets.token_hex(3)}"
    url = make_url(MAINTENANCE_URL).set(database=name).render_as_string(hide_password=False)
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        await create_schema(url)
        engine = make_engine(url)
        async with make_session_factory(engine)() as session, session.begin():
            _, campaign = await company_and_campaign(session)
            await seed_assignments(session, campaign, assignments)
        async with engine.connect() as connection:
            await connection.exec_driver_sql("ANALYZE")
        await engine.dispose()
        started = time.perf_counter()
        results = await asyncio.gather(
            *(_drain(url, campaign.id, f"bench-{i}", batch) for i in range(claimers))
        )
        elapsed = time.perf_counter() - started
        claimed = [aid for found in results for aid in found]
        print(f"hopper_assignments: {assignments} assignments")
        print(f"hopper_claimers: {claimers} claimers")
        print(f"hopper_batch: {batch} claims/call")
        print(f"hopper_claimed: {len(claimed)} claims")
        print(f"hopper_claims_per_s: {len(claimed) / elapsed:.0f} claims/s")
        print(f"hopper_duplicate_claims: {len(claimed) - len(set(claimed))} claims")
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignments", type=int, default=50_000)
    parser.add_argument("--claimers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.assignments, args.claimers, args.batch))
