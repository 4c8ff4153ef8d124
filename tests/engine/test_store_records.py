"""The engine's records on the store: a call's contact stays leased from its attempt row to
its outcome's commit, however late the engine comes back to renew it (both backends)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from dialer.engine.ports import AttemptResult, Outcome
from dialer.engine.records import StoreRecords
from store.db import SessionFactory
from store.hopper import Hopper
from store.models import Assignment, Campaign
from tests.store.builders import NOW, add_assignment, company_and_campaign


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
