"""An inbound call's outcome waits for a database that is away instead of being lost, and a
stop does not wait for ever on it (both backends, against the simulated Asterisk)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from store import attempts as store_attempts
from store.db import SessionFactory
from store.enums import CallOutcome
from tests.engine.test_inbound import KNOWN_CALLER, SERVICE_DID, floor, login_all, until_written


async def test_an_inbound_outcome_waits_for_a_database_that_is_away(
    session_factory: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = store_attempts.record_outcomes
    tries: list[int] = []

    async def away_twice(session: Any, outcomes: Any) -> Any:
        tries.append(len(outcomes))
        if len(tries) <= 2:  # the database restarts: the batch, then the outcome alone
            raise OperationalError("UPDATE", {}, ConnectionRefusedError("connection refused"))
        return await real(session, outcomes)

    monkeypatch.setattr(store_attempts, "record_outcomes", away_twice)
    async with floor(session_factory) as f:
        await login_all(f)
        for agent_id in f.center.agents:
            f.roster.pause(agent_id, "training")  # nobody answers: the caller abandons
        await f.call(SERVICE_DID, KNOWN_CALLER, patience_s=4)
        [attempt] = await until_written(f, 1)
    assert attempt.outcome is CallOutcome.ABANDONED and attempt.queue_wait_seconds
    assert len(tries) == 3


async def test_the_desks_drain_ends_though_a_write_waits_for_a_database_that_stays_away(
    session_factory: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async with floor(session_factory) as f:
        waiting = asyncio.ensure_future(asyncio.Event().wait())  # a write that never commits
        f.desk._writes.add(waiting)
        try:
            with caplog.at_level(logging.ERROR, logger="dialer.engine.inbound"):
                await asyncio.wait_for(f.desk.drain(0.2), 5)
        finally:
            waiting.cancel()
            f.desk._writes.discard(waiting)
    assert "1 inbound outcome writes still waiting for the database" in caplog.text
