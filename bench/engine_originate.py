"""Sustained Originates per second of the whole engine, outcomes recorded in the database.

The engine (tick, hopper claim, attempt row written before each Originate, async Originate,
AMI events to one outcome per attempt, outcome and no-contact typification written back) runs
an agentless campaign against the simulated Asterisk on loopback, on a fresh SQLite file and on
PostgreSQL (database ``test``). The simulated called parties are busy, congested or do not
answer within a short ring timeout, so every call ends quickly and the figure is the engine's
pipeline, not the talk time. Prints:

    engine_originates_per_s: N originates/s          (SQLite, the embedded default)
    engine_originates_per_s_postgresql: N originates/s
    engine_outcomes_missing: N attempts               (attempts without an outcome; goal 0)

Run: .venv/bin/python bench/engine_originate.py [CALLS]
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import func, select, update

from agi.server import FastAGIServer
from ami.client import AMIClient
from dialer.clock import ScaledClock
from dialer.demo import shift_start
from dialer.demo_seed import seed_center
from dialer.engine.engine import AMI_EVENTS, Engine
from dialer.engine.outcome_spool import OutcomeSpool
from dialer.engine.records import StoreRecords
from dialer.engine.roster import Roster
from store.db import create_schema, make_engine, make_session_factory
from store.enums import DialMode
from store.models import Attempt, Campaign


async def run(url: str, calls: int, spool: Path) -> tuple[float, int]:
    await create_schema(url)
    db = make_engine(url)
    sessions = make_session_factory(db)
    start = shift_start()
    clock = ScaledClock(20, start=start.timestamp())
    center = await seed_center(sessions, agents=1, contacts=calls, now=start)
    async with sessions() as session, session.begin():
        await session.execute(
            update(Campaign)
            .where(Campaign.id == center.campaign_id)
            .values(
                dial_mode=DialMode.AGENTLESS,
                pacing={"max_channels": 300, "max_calls_per_s": 400, "ring_timeout_s": 2.0},
            )
        )
    agi = FastAGIServer(port=0)
    port = await agi.start()
    # The simulated Asterisk in its own process, as a real one would be: the engine's process
    # does only the engine's work.
    ami_port = free_port()
    sim = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dialer.simasterisk",
        "--port",
        str(ami_port),
        "--fastagi-url",
        f"agi://127.0.0.1:{port}",
        "--speed",
        "20",
        "--start",
        str(start.timestamp()),
        "--p-machine",
        "0",
        "--p-busy",
        "0.4",
        "--p-congestion",
        "0.2",
        "--p-invalid",
        "0.1",
        "--p-no-answer",
        "0.3",
        "--ring-median",
        "1.0",
        stdout=asyncio.subprocess.PIPE,
    )
    assert sim.stdout is not None
    await sim.stdout.readline()  # "simulated Asterisk: AMI on ..." once it listens
    # The event classes the engine follows, as dialer serve asks a real Asterisk for them.
    ami = AMIClient("127.0.0.1", ami_port, ping_interval=None, action_timeout=60, events=AMI_EVENTS)
    engine = Engine(
        # With the outcome spool, as `dialer serve` runs by default (outcome_spool_dir): its
        # watch on slow commits is on the hot path; nothing is written while commits are fast.
        StoreRecords(sessions, clock, owner="bench", spool=OutcomeSpool.of_owner(spool, "bench")),
        ami,
        Roster(clock),
        clock,
        owner="bench",
        tick_s=0.5,
    )
    agi.route("outbound", engine.handle_outbound)
    await ami.connect()
    began = time.perf_counter()
    running = await engine.start_campaign(center.campaign_id)
    while running.stats.placed < calls:  # noqa: ASYNC110 - the engine's counter, polled
        await asyncio.sleep(0.05)
    await engine.stop_dialing()
    await engine.drain(600)
    elapsed = time.perf_counter() - began
    await ami.close()
    sim.terminate()
    await sim.wait()
    await agi.close()
    async with sessions() as session:
        missing = await session.scalar(
            select(func.count()).select_from(Attempt).where(Attempt.outcome.is_(None))
        )
        written = await session.scalar(select(func.count()).select_from(Attempt))
    await db.dispose()
    return int(written or 0) / elapsed, int(missing or 0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def postgres_url() -> tuple[str, str]:
    name = f"dialer_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return name, f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


async def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    with tempfile.TemporaryDirectory() as tmp:
        rate, missing = await run(f"sqlite+aiosqlite:///{tmp}/bench.sqlite3", calls, Path(tmp))
        print(f"engine_originates_per_s: {rate:.0f} originates/s")
        name, url = await postgres_url()
        try:
            pg_rate, pg_missing = await run(url, calls, Path(tmp))
        finally:
            await drop_database(name)
    print(f"engine_originates_per_s_postgresql: {pg_rate:.0f} originates/s")
    print(f"engine_outcomes_missing: {missing + pg_missing} attempts")


if __name__ == "__main__":
    asyncio.run(main())
