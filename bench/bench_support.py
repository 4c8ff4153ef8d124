"""What the store benchmarks share: a fresh PostgreSQL database for one run, dropped after.

    async with fresh_database(url) as (session_factory, campaign_id):
        ...

``url`` names the maintenance database (e.g. ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``);
a database ``dialer_bench_<pid>_<random>`` is created from it, migrated to the newest schema
(``store.db.create_schema``), given a company (with its default campaign) and a campaign, and
dropped when the block ends, even when the benchmark fails.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from store.campaigns import create_campaign, create_company
from store.contacts import create_tag
from store.db import SessionFactory, create_schema, make_engine, make_session_factory
from store.enums import OperationType

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(url), timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@asynccontextmanager
async def fresh_database(
    url: str = DEFAULT_URL, *, campaign_name: str = "Bench", tags: Sequence[str] = ("VIP",)
) -> AsyncIterator[tuple[SessionFactory, int]]:
    """A new, migrated database with a company, its ``tags`` and a campaign:
    (session factory, campaign id)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"--database: the benchmarks run on PostgreSQL, not {parsed.drivername}")
    name = f"dialer_bench_{os.getpid()}_{secrets.token_hex(4)}"
    bench_url = parsed.set(database=name).render_as_string(hide_password=False)
    await _admin(url, f'CREATE DATABASE "{name}"')
    try:
        await create_schema(bench_url)
        engine = make_engine(bench_url)
        try:
            sessions = make_session_factory(engine)
            now = datetime.now(UTC)
            async with sessions() as session, session.begin():
                company = await create_company(session, "Bench company", now)
                campaign = await create_campaign(
                    session, company.id, campaign_name, OperationType.TELESALES, now
                )
                campaign_id = campaign.id
                for tag in tags:
                    await create_tag(session, company.id, tag)
            yield sessions, campaign_id
        finally:
            await engine.dispose()
    finally:
        await _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
