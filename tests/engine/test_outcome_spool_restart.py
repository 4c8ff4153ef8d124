"""A dialer stopped while its outcomes waited for the database loses none of them.

The outcomes that had to wait were kept on disk (dialer/engine/outcome_spool.py); the next
start writes them before it settles its last run's open attempts, so each call keeps the
outcome it really had instead of the settle's ``unknown``. Both backends, against the
simulated Asterisk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from dialer.engine.engine import PREVIOUS_RUN_ENDED, PREVIOUS_RUN_GONE
from dialer.engine.outcome_spool import OutcomeSpool
from store import attempts as store_attempts
from store.db import SessionFactory
from tests.engine.test_restart import OWNER, attempts, center_on_sim, kill, start_run, stop
from tests.waiting import until


async def test_outcomes_kept_on_disk_while_the_database_was_away_are_written_at_the_restart(
    session_factory: SessionFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spool = OutcomeSpool.of_owner(tmp_path, OWNER)
    real = store_attempts.record_outcomes

    async def away(session: Any, outcomes: Any) -> Any:
        raise OperationalError("UPDATE", {}, ConnectionRefusedError("connection refused"))

    async with center_on_sim(session_factory, talk_median_s=10.0) as (center, clock, sim, port):
        first = await start_run(session_factory, center, clock, sim.port, port, spool)
        await first.engine.start_campaign(center.campaign_id)
        stats = first.engine.campaigns[center.campaign_id].stats
        await until(lambda: stats.placed >= 4, 60)
        monkeypatch.setattr(store_attempts, "record_outcomes", away)  # the database goes
        await until(lambda: len(spool.read()) >= 2, 60)
        await kill(first)  # and the dialer is restarted before it comes back
        kept = {o.attempt_id: o for o in spool.read()}
        monkeypatch.setattr(store_attempts, "record_outcomes", real)
        second = await start_run(session_factory, center, clock, sim.port, port, spool)
        await until(lambda: not second.engine._writes, 30)
        await stop(second)
    rows = {a.id: a for a in await attempts(session_factory)}
    for attempt_id, outcome in kept.items():
        row = rows[attempt_id]
        assert (row.outcome, row.ended_at) == (outcome.outcome, outcome.now), attempt_id
        assert row.comments not in (PREVIOUS_RUN_GONE, PREVIOUS_RUN_ENDED)
    assert spool.read() == []
