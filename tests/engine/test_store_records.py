"""The engine's records on the store: a call's contact stays leased from its attempt row to
its outcome's commit, however late the engine comes back to renew it, and an outcome waits for
a database that is away instead of being lost (both backends)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ami.client import AMIClient
from dialer.clock import ScaledClock
from dialer.engine.engine import Engine
from dialer.engine.inbound_records import InboundRecords, StoredOutcome
from dialer.engine.outcome_spool import OutcomeSpool
from dialer.engine.ports import AttemptResult, Outcome
from dialer.engine.records import StoreRecords
from dialer.engine.roster import Roster
from dialer.inbound_calls import InboundOutcome
from store import attempts as store_attempts
from store import inbound as store_inbound
from store.attempts import AttemptOutcome
from store.db import SessionFactory
from store.enums import CallOutcome
from store.hopper import Hopper
from store.models import Assignment, Attempt, Campaign
from tests.engine.memory_records import MemoryRecords
from tests.engine.plans import TEST_PLAN
from tests.store.builders import NOW, add_assignment, company_and_campaign
from tests.waiting import until


class StoppedClock:
    """The records' clock (retry times); the test passes every ``now`` itself."""

    def now(self) -> float:
        return NOW.timestamp()

    async def sleep(self, seconds: float) -> None:
        return None


async def a_call_at_now(
    sessions: SessionFactory,
) -> tuple[StoreRecords, Campaign, Assignment, int]:
    """A contact claimed and its attempt started at NOW, with a 15-s lease."""
    async with sessions() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        assignment = await add_assignment(session, campaign, "+573101000001")
    records = StoreRecords(sessions, StoppedClock(), owner="engine", lease_seconds=15)
    [dialable] = await records.claim(campaign.id, 1, NOW, "engine")
    [attempt] = await records.start_attempts(campaign.id, [dialable], NOW, "trunk-out")
    assert isinstance(attempt, int)
    return records, campaign, assignment, attempt


async def test_a_call_keeps_its_contact_past_its_lease_until_the_outcome_is_written(
    session_factory: SessionFactory,
) -> None:
    records, campaign, assignment, attempt = await a_call_at_now(session_factory)
    retry_s = campaign.default_retry_seconds
    # The engine stalls far past the 15 s lease without renewing it: its next claim must not
    # take the contact back for a second call while the first still rings...
    stalled = NOW + timedelta(seconds=100)
    assert await records.claim(campaign.id, 1, stalled, "engine") == []
    # ...and that claim renewed the lease, so another dialer process cannot take it either.
    other = Hopper(session_factory)
    assert await other.claim(campaign.id, 1, stalled + timedelta(seconds=10), "other") == []
    ended = stalled + timedelta(seconds=20)
    await records.finish_attempt(
        campaign.id, AttemptResult(attempt, Outcome.NO_ANSWER, dialed_at=NOW, ended_at=ended)
    )
    # Settled: the lease is given up and the contact comes back after its retry time, once.
    after_retry = ended + timedelta(seconds=retry_s + 1)
    again = await records.claim(campaign.id, 1, after_retry, "engine")
    assert [d.assignment_id for d in again] == [assignment.id]


async def test_a_contact_whose_attempt_was_refused_is_not_kept(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        await add_assignment(session, campaign, "+573101000001")
    records = StoreRecords(session_factory, StoppedClock(), owner="engine", lease_seconds=15)
    [dialable] = await records.claim(campaign.id, 1, NOW, "engine")
    # Started after its lease ran out: refused, nothing written, nothing kept.
    late = NOW + timedelta(seconds=30)
    [refused] = await records.start_attempts(campaign.id, [dialable], late, "trunk-out")
    assert not isinstance(refused, int)
    assert [d.assignment_id for d in await records.claim(campaign.id, 1, late, "engine")] == [
        dialable.assignment_id
    ]


async def test_a_campaign_without_an_acw_maximum_plans_no_acw_timer(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session, acw_max_seconds=45)
    records = StoreRecords(session_factory, StoppedClock(), owner="engine")
    assert (await records.campaign(campaign.id)).acw_max_s == 45.0
    async with session_factory() as session, session.begin():
        await session.execute(
            update(Campaign).where(Campaign.id == campaign.id).values(acw_max_seconds=None)
        )
    # None, not 0 s: a 0-s timer would write the default record as each call ends.
    assert (await records.campaign(campaign.id)).acw_max_s is None


async def test_the_calls_leases_are_renewed_once_in_a_third_of_a_lease_however_often_asked(
    session_factory: SessionFactory,
) -> None:
    # Every running campaign renews its calls each minute, and the stopped dialers' calls are
    # renewed too: the process's calls, all of them, are renewed once in a third of a lease.
    records, _, assignment, _ = await a_call_at_now(session_factory)

    async def lease_ends() -> object:
        async with session_factory() as session:
            row = await session.get(Assignment, assignment.id)
            assert row is not None
            return row.lease_expires_at

    await records.renew([], NOW + timedelta(seconds=4))  # under 5 s after the claim's renewal
    assert await lease_ends() == NOW + timedelta(seconds=15)
    await records.renew([], NOW + timedelta(seconds=6))
    assert await lease_ends() == NOW + timedelta(seconds=21)


def failing_at_first(times: int, error: Exception, tries: list[int]) -> Any:
    """A record_outcomes that raises ``error`` its first ``times`` calls, then writes."""
    real = store_attempts.record_outcomes

    async def record_outcomes(session: Any, outcomes: Any) -> Any:
        tries.append(len(outcomes))
        if len(tries) <= times:
            raise error
        return await real(session, outcomes)

    return record_outcomes


async def stopped_while_away(records: StoreRecords, writing: asyncio.Future[None]) -> None:
    """The process stops while its outcome waits for the database: its writer with it."""
    writing.cancel()
    assert records._flusher is not None
    records._flusher.cancel()
    await asyncio.gather(writing, records._flusher, return_exceptions=True)


async def test_an_outcome_waits_for_a_database_that_is_away_instead_of_being_lost(
    session_factory: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    records, campaign, _, attempt = await a_call_at_now(session_factory)
    tries: list[int] = []
    # The batch, then that outcome alone twice: the database restarts.
    refused = OperationalError("INSERT", {}, ConnectionRefusedError("connection refused"))
    monkeypatch.setattr(store_attempts, "record_outcomes", failing_at_first(3, refused, tries))
    ended = NOW + timedelta(seconds=20)
    result = AttemptResult(attempt, Outcome.NO_ANSWER, dialed_at=NOW, ended_at=ended)
    await asyncio.wait_for(records.finish_attempt(campaign.id, result), 10)
    async with session_factory() as session:
        row = await session.get(Attempt, attempt)
        assert row is not None and row.outcome is CallOutcome.NO_ANSWER
    assert len(tries) == 4


async def test_an_outcome_the_database_refuses_is_not_tried_again(
    session_factory: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    records, campaign, _, attempt = await a_call_at_now(session_factory)
    tries: list[int] = []

    async def refused(session: Any, outcomes: Any) -> Any:
        tries.append(len(outcomes))
        raise IntegrityError("UPDATE", {}, ValueError("a constraint"))

    monkeypatch.setattr(store_attempts, "record_outcomes", refused)
    result = AttemptResult(attempt, Outcome.NO_ANSWER, dialed_at=NOW, ended_at=NOW)
    with pytest.raises(IntegrityError):
        await asyncio.wait_for(records.finish_attempt(campaign.id, result), 10)
    assert tries == [1, 1]  # the batch of one, then that outcome alone


async def test_the_drain_ends_though_a_write_waits_for_a_database_that_stays_away(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A stop while the database is down: the waiting outcomes are left (their attempts stay
    # open, and the next start settles them) instead of holding the process up for ever.
    clock = ScaledClock(100)
    never = AMIClient("127.0.0.1", 9, ping_interval=None)  # not connected: no calls
    engine = Engine(MemoryRecords(TEST_PLAN, []), never, Roster(clock), clock)
    waiting = asyncio.ensure_future(asyncio.Event().wait())  # a write that never commits
    engine._writes.add(waiting)
    try:
        await asyncio.wait_for(engine.drain(0.2), 5)
    finally:
        waiting.cancel()
    assert "1 writes still waiting for the database" in caplog.text


def database_away(tries: list[int]) -> Any:
    """A record_outcomes that finds the database away, every time."""

    async def away(session: Any, outcomes: Any) -> Any:
        tries.append(len(outcomes))
        raise OperationalError("UPDATE", {}, ConnectionRefusedError("connection refused"))

    return away


async def test_an_outcome_that_has_to_wait_is_kept_on_disk_until_it_is_written(
    session_factory: SessionFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    records, campaign, _, attempt = await a_call_at_now(session_factory)
    records.spool = spool = OutcomeSpool(tmp_path / "engine.outcomes.jsonl")
    real = store_attempts.record_outcomes
    tries: list[int] = []
    monkeypatch.setattr(store_attempts, "record_outcomes", database_away(tries))
    result = AttemptResult(attempt, Outcome.NO_ANSWER, dialed_at=NOW, ended_at=NOW)
    writing = asyncio.ensure_future(records.finish_attempt(campaign.id, result))
    await until(lambda: len(tries) >= 6, 10)  # the batch and the outcome alone, 3 times over
    [kept] = spool.read()  # once, however many tries
    assert (kept.attempt_id, kept.outcome, kept.now) == (attempt, CallOutcome.NO_ANSWER, NOW)
    monkeypatch.setattr(store_attempts, "record_outcomes", real)
    await asyncio.wait_for(writing, 10)
    await until(lambda: spool.read() == [], 10)  # written: nothing left to keep


async def test_a_restart_writes_the_outcomes_its_last_run_kept_on_disk(
    session_factory: SessionFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    records, campaign, _, attempt = await a_call_at_now(session_factory)
    records.spool = OutcomeSpool(tmp_path / "engine.outcomes.jsonl")
    real = store_attempts.record_outcomes
    tries: list[int] = []
    monkeypatch.setattr(store_attempts, "record_outcomes", database_away(tries))
    ended = NOW + timedelta(seconds=20)
    result = AttemptResult(attempt, Outcome.BUSY, dialed_at=NOW, ended_at=ended, hangup_cause=17)
    writing = asyncio.ensure_future(records.finish_attempt(campaign.id, result))
    await until(lambda: records.spool is not None and bool(records.spool.read()), 10)
    await stopped_while_away(records, writing)
    monkeypatch.setattr(store_attempts, "record_outcomes", real)
    restarted = StoreRecords(
        session_factory, StoppedClock(), owner="engine", spool=OutcomeSpool(records.spool.path)
    )
    assert await restarted.write_spooled() == 1
    async with session_factory() as session:
        row = await session.get(Attempt, attempt)
    assert row is not None and (row.outcome, row.hangup_cause) == (CallOutcome.BUSY, 17)
    assert row.ended_at == ended
    spool = restarted.spool
    assert spool is not None
    await until(lambda: spool.read() == [], 10)


async def test_a_kept_outcome_of_another_databases_attempt_is_passed_over(
    session_factory: SessionFactory, tmp_path: Path
) -> None:
    # A spool left from an earlier database: its attempt 1 is not this one's attempt 1, whose
    # call began days after that outcome's call ended.
    records, _, _, attempt = await a_call_at_now(session_factory)
    spool = OutcomeSpool(tmp_path / "engine.outcomes.jsonl")
    await spool.keep([AttemptOutcome(attempt, CallOutcome.BUSY, NOW - timedelta(days=3))])
    records.spool = spool
    assert await records.write_spooled() == 0
    async with session_factory() as session:
        row = await session.get(Attempt, attempt)
    assert row is not None and row.outcome is None  # still the call in flight it is
    assert spool.read() == []


async def test_a_kept_outcome_the_store_refuses_is_logged_with_its_attempt_and_reason(
    session_factory: SessionFactory,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Nobody waits for an outcome read back from the spool: a refusal must reach the log.
    records, _, _, attempt = await a_call_at_now(session_factory)
    spool = OutcomeSpool(tmp_path / "engine.outcomes.jsonl")
    await spool.keep([AttemptOutcome(attempt, CallOutcome.BUSY, NOW + timedelta(seconds=20))])
    records.spool = spool

    async def refused(session: Any, outcomes: Any) -> Any:
        raise IntegrityError("UPDATE", {}, ValueError("a constraint"))

    monkeypatch.setattr(store_attempts, "record_outcomes", refused)
    assert await records.write_spooled() == 0
    assert f"attempt {attempt}: the outcome kept in the spool was refused: " in caplog.text
    assert "a constraint" in caplog.text
    await until(lambda: spool.read() == [], 10)  # refused for good: not kept for the next start


async def test_outcomes_whose_commit_hangs_are_kept_on_disk_until_it_comes_back(
    session_factory: SessionFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A database that hangs rather than fails (a network partition): no error comes, yet a
    # process stopped meanwhile must not lose the outcomes waiting on it.
    records, campaign, _, attempt = await a_call_at_now(session_factory)
    records.spool = spool = OutcomeSpool(tmp_path / "engine.outcomes.jsonl")
    records.keep_after_s = 0.05
    real = store_attempts.record_outcomes
    back = asyncio.Event()

    async def hangs(session: Any, outcomes: Any) -> Any:
        await back.wait()
        return await real(session, outcomes)

    monkeypatch.setattr(store_attempts, "record_outcomes", hangs)
    result = AttemptResult(attempt, Outcome.NO_ANSWER, dialed_at=NOW, ended_at=NOW)
    writing = asyncio.ensure_future(records.finish_attempt(campaign.id, result))
    await until(lambda: bool(spool.read()), 10)
    [kept] = spool.read()
    assert (kept.attempt_id, kept.outcome) == (attempt, CallOutcome.NO_ANSWER)
    assert not writing.done()
    back.set()  # the database answers again: committed, and nothing left to keep
    await asyncio.wait_for(writing, 10)
    await until(lambda: spool.read() == [], 10)
    async with session_factory() as session:
        row = await session.get(Attempt, attempt)
    assert row is not None and row.outcome is CallOutcome.NO_ANSWER


async def test_an_outcome_waits_when_no_pooled_connection_comes_free_in_time(
    session_factory: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pool's timeout: every connection held by a database that does not answer. That is
    # the database away, not a refusal of this outcome.
    records, campaign, _, attempt = await a_call_at_now(session_factory)
    timeout = PoolTimeout("QueuePool limit of size 10 overflow 10 reached")
    monkeypatch.setattr(store_attempts, "record_outcomes", failing_at_first(2, timeout, []))
    result = AttemptResult(attempt, Outcome.NO_ANSWER, dialed_at=NOW, ended_at=NOW)
    await asyncio.wait_for(records.finish_attempt(campaign.id, result), 10)
    async with session_factory() as session:
        row = await session.get(Attempt, attempt)
    assert row is not None and row.outcome is CallOutcome.NO_ANSWER


async def test_an_inbound_outcome_kept_on_disk_is_written_with_its_queue_wait_at_the_restart(
    session_factory: SessionFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Inbound outcomes go through the same group commit: they wait, and are kept, too.
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        caller = await store_inbound.identify_caller(session, campaign.id, "+573101000009")
        attempt = await store_inbound.start_inbound_attempt(
            session, campaign.id, "+573101000009", caller, NOW, owner="engine"
        )
    spool = OutcomeSpool(tmp_path / "engine.outcomes.jsonl")
    records = StoreRecords(session_factory, StoppedClock(), owner="engine", spool=spool)
    real = store_attempts.record_outcomes
    monkeypatch.setattr(store_attempts, "record_outcomes", database_away([]))
    ended = NOW + timedelta(seconds=40)
    abandoned = StoredOutcome(attempt.id, InboundOutcome.ABANDONED, ended, 38.5, None, None)
    writing = asyncio.ensure_future(InboundRecords(records).finished(abandoned))
    await until(lambda: bool(spool.read()), 10)
    await stopped_while_away(records, writing)
    monkeypatch.setattr(store_attempts, "record_outcomes", real)
    restarted = StoreRecords(
        session_factory, StoppedClock(), owner="engine", spool=OutcomeSpool(spool.path)
    )
    assert await restarted.write_spooled() == 1
    async with session_factory() as session:
        row = await session.get(Attempt, attempt.id)
    assert row is not None
    assert (row.outcome, row.ended_at, row.queue_wait_seconds) == (
        CallOutcome.ABANDONED,
        ended,
        38.5,
    )
