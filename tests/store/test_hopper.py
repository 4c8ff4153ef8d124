"""The hopper: what is dialable, in which order, leased to whom (both backends)."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from sqlalchemy import select

from store.attempts import record_outcome, start_attempt
from store.blocklist import block_number
from store.db import SessionFactory
from store.enums import AssignmentState, CallOutcome, GroupKind, ReminderType
from store.errors import AttemptRefused, CannotDial, OutcomeConflict
from store.hopper import Hopper, claim_in, renew_in
from store.models import Assignment, Attempt, AuditEntry
from store.typifications import add_group, add_result
from store.work import schedule_callback
from tests.store.builders import NOW, add_assignment, company_and_campaign

OWNER = "dialer-1"


def ids(claimed: list) -> list[int]:  # type: ignore[type-arg]
    return [c.assignment_id for c in claimed]


async def test_claim_returns_fresh_records_in_assignment_order_with_what_to_dial(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        third = await add_assignment(session, campaign, "+573101000003", order_key=3)
        first = await add_assignment(session, campaign, "+573101000001", order_key=1)
        second = await add_assignment(session, campaign, "+573101000002", order_key=2)
    claimed = await Hopper(session_factory).claim(campaign.id, 2, NOW, OWNER, 60)
    assert ids(claimed) == [first.id, second.id]
    assert claimed[0].e164 == "+573101000001"
    assert claimed[0].timezone == "America/Bogota"
    assert claimed[0].contact_id == first.contact_id
    assert claimed[0].lease_expires_at == NOW + timedelta(seconds=60)
    again = await Hopper(session_factory).claim(campaign.id, 5, NOW, "dialer-2", 60)
    assert ids(again) == [third.id]


async def test_due_callbacks_come_first_then_priority_then_retries_then_fresh(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        fresh = await add_assignment(session, campaign, "+573101000001", order_key=1)
        retry = await add_assignment(
            session,
            campaign,
            "+573101000002",
            order_key=2,
            retry=True,
            attempts=1,
            next_attempt_at=NOW - timedelta(minutes=5),
        )
        urgent = await add_assignment(session, campaign, "+573101000003", order_key=3, priority=5)
        called_back = await add_assignment(session, campaign, "+573101000004", order_key=4)
        await schedule_callback(
            session,
            called_back.id,
            NOW - timedelta(minutes=1),
            ReminderType.AUTO_DROP,
            NOW - timedelta(hours=1),
        )
    claimed = await Hopper(session_factory).claim(campaign.id, 10, NOW, OWNER)
    assert ids(claimed) == [called_back.id, urgent.id, retry.id, fresh.id]
    assert [c.callback for c in claimed] == [True, False, False, False]


async def test_retries_and_callbacks_that_are_not_due_wait(session_factory: SessionFactory) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        await add_assignment(
            session,
            campaign,
            "+573101000001",
            retry=True,
            attempts=1,
            next_attempt_at=NOW + timedelta(minutes=5),
        )
        later = await add_assignment(session, campaign, "+573101000002")
        await schedule_callback(
            session, later.id, NOW + timedelta(hours=1), ReminderType.AUTO_DROP, NOW
        )
    assert await Hopper(session_factory).claim(campaign.id, 10, NOW, OWNER) == []


async def test_nothing_is_claimed_outside_the_campaign_schedule(
    session_factory: SessionFactory,
) -> None:
    # Bogotá opens at 11:00 on Wednesdays; NOW is 10:00 there.
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session, schedule={"wed": [["11:00", "18:00"]]})
        assignment = await add_assignment(session, campaign, "+573101000001")
    hopper = Hopper(session_factory)
    assert await hopper.claim(campaign.id, 5, NOW, OWNER) == []
    assert ids(await hopper.claim(campaign.id, 5, NOW + timedelta(hours=1), OWNER)) == [
        assignment.id
    ]


async def test_only_contacts_inside_their_local_calling_hours_are_claimed(
    session_factory: SessionFactory,
) -> None:
    # 15:00 UTC: 10:00 in Bogotá and New York, 07:00 in Los Angeles (before 08:00).
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(
            session, calling_hours_start=time(8, 0), calling_hours_end=time(20, 0)
        )
        bogota = await add_assignment(session, campaign, "+573101000001", order_key=1)
        los_angeles = await add_assignment(session, campaign, "+13105550123", order_key=2)
        new_york = await add_assignment(session, campaign, "+12125550123", order_key=3)
    hopper = Hopper(session_factory)
    assert ids(await hopper.claim(campaign.id, 5, NOW, OWNER, 7200)) == [bogota.id, new_york.id]
    assert ids(await hopper.claim(campaign.id, 5, NOW + timedelta(hours=1), OWNER, 7200)) == [
        los_angeles.id
    ]


async def test_a_blocked_number_is_never_claimed(session_factory: SessionFactory) -> None:
    async with session_factory() as session, session.begin():
        company, campaign = await company_and_campaign(session)
        await add_assignment(session, campaign, "+573101000001")
        allowed = await add_assignment(session, campaign, "+573101000002")
        await block_number(session, company.id, "310 1000001", NOW, default_country="CO")
    assert ids(await Hopper(session_factory).claim(campaign.id, 5, NOW, OWNER)) == [allowed.id]


async def test_a_number_blocked_after_the_claim_is_refused_at_originate_time(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        company, campaign = await company_and_campaign(session)
        assignment = await add_assignment(session, campaign, "+573101000001")
    hopper = Hopper(session_factory)
    await hopper.claim(campaign.id, 1, NOW, OWNER)
    async with session_factory() as session, session.begin():
        await block_number(session, company.id, "+573101000001", NOW)
    with pytest.raises(AttemptRefused, match=r"\+573101000001 is on the block list"):
        await hopper.start_attempt(assignment.id, NOW, OWNER)


async def test_assignments_at_their_attempt_limit_are_not_claimed(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session, default_max_attempts=2)
        await add_assignment(session, campaign, "+573101000001", attempts=2, retry=True)
        own_limit = await add_assignment(
            session, campaign, "+573101000002", attempts=2, max_attempts=3, retry=True
        )
        await add_assignment(session, campaign, "+573101000003", attempts=1, max_attempts=1)
    assert ids(await Hopper(session_factory).claim(campaign.id, 5, NOW, OWNER)) == [own_limit.id]


async def test_an_expired_lease_is_claimable_again(session_factory: SessionFactory) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        assignment = await add_assignment(session, campaign, "+573101000001")
    hopper = Hopper(session_factory)
    assert ids(await hopper.claim(campaign.id, 1, NOW, "crashed", 30)) == [assignment.id]
    assert await hopper.claim(campaign.id, 1, NOW + timedelta(seconds=29), OWNER) == []
    later = NOW + timedelta(seconds=30)
    assert ids(await hopper.claim(campaign.id, 1, later, OWNER)) == [assignment.id]
    # The crashed claimer's lease is gone: it can no longer place the call.
    with pytest.raises(AttemptRefused, match="not leased by 'crashed'"):
        await hopper.start_attempt(assignment.id, later, "crashed")


async def test_release_is_idempotent_and_only_touches_the_owners_leases(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        mine = await add_assignment(session, campaign, "+573101000001", order_key=1)
        theirs = await add_assignment(session, campaign, "+573101000002", order_key=2)
    hopper = Hopper(session_factory)
    await hopper.claim(campaign.id, 1, NOW, OWNER)
    await hopper.claim(campaign.id, 1, NOW, "dialer-2")
    assert await hopper.release([mine.id, theirs.id], OWNER, NOW) == 1
    assert await hopper.release([mine.id, theirs.id], OWNER, NOW) == 0
    async with session_factory() as session:
        states = dict((await session.execute(select(Assignment.id, Assignment.state))).all())
    assert states == {mine.id: AssignmentState.PENDING, theirs.id: AssignmentState.LEASED}


async def test_a_campaign_without_a_trunk_cannot_claim(session_factory: SessionFactory) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session, trunk=None)
        await add_assignment(session, campaign, "+573101000001")
    with pytest.raises(CannotDial, match="no trunk"):
        await Hopper(session_factory).claim(campaign.id, 1, NOW, OWNER)


async def test_an_outcome_sets_the_retry_from_the_results_rule(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        group = await add_group(session, campaign.id, "Sin contacto", GroupKind.NO_CONTACT)
        busy = await add_result(session, group.id, "Busy", retry_after_seconds=900, max_attempts=4)
        assignment = await add_assignment(session, campaign, "+573101000001")
    hopper = Hopper(session_factory)
    await hopper.claim(campaign.id, 1, NOW, OWNER)
    attempt = await hopper.start_attempt(assignment.id, NOW, OWNER)
    ended = NOW + timedelta(seconds=20)
    recorded = await hopper.record_outcome(attempt.id, CallOutcome.BUSY, ended, result_id=busy.id)
    assert recorded.outcome == CallOutcome.BUSY
    async with session_factory() as session:
        row = await session.get(Assignment, assignment.id)
    assert row is not None
    assert (row.state, row.attempts, row.max_attempts) == (AssignmentState.PENDING, 1, 4)
    assert row.next_attempt_at == ended + timedelta(seconds=900)
    assert row.lease_owner is None
    assert row.last_result_id == busy.id


async def test_a_no_contact_outcome_uses_the_mapped_result(session_factory: SessionFactory) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        group = await add_group(session, campaign.id, "No contact", GroupKind.NO_CONTACT)
        await add_result(session, group.id, "No answer", retry_after_seconds=600)
        assignment = await add_assignment(session, campaign, "+573101000001")
    hopper = Hopper(session_factory)
    await hopper.claim(campaign.id, 1, NOW, OWNER)
    attempt = await hopper.start_attempt(assignment.id, NOW, OWNER)
    await hopper.record_outcome(attempt.id, "no_answer", NOW)
    async with session_factory() as session:
        row = await session.get(Assignment, assignment.id)
    assert row is not None and row.next_attempt_at == NOW + timedelta(seconds=600)


async def test_a_final_result_or_the_last_attempt_closes_the_assignment(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session, default_max_attempts=1)
        group = await add_group(session, campaign.id, "Contacto", GroupKind.DIRECT_CONTACT)
        sale = await add_result(session, group.id, "Sale", is_final=True, max_attempts=9)
        retryable = await add_result(session, group.id, "Call later", retry_after_seconds=60)
        sold = await add_assignment(session, campaign, "+573101000001", order_key=1)
        exhausted = await add_assignment(session, campaign, "+573101000002", order_key=2)
    hopper = Hopper(session_factory)
    await hopper.claim(campaign.id, 2, NOW, OWNER)
    first = await hopper.start_attempt(sold.id, NOW, OWNER)
    second = await hopper.start_attempt(exhausted.id, NOW, OWNER)
    await hopper.record_outcome(first.id, CallOutcome.ANSWERED, NOW, result_id=sale.id)
    await hopper.record_outcome(second.id, CallOutcome.ANSWERED, NOW, result_id=retryable.id)
    async with session_factory() as session:
        rows = dict((await session.execute(select(Assignment.id, Assignment.state))).all())
    assert rows == {sold.id: AssignmentState.DONE, exhausted.id: AssignmentState.DONE}
    assert await hopper.claim(campaign.id, 2, NOW + timedelta(days=1), OWNER) == []


async def test_the_same_outcome_twice_is_a_no_op_and_a_conflicting_one_is_refused_and_logged(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        assignment = await add_assignment(session, campaign, "+573101000001")
    hopper = Hopper(session_factory)
    await hopper.claim(campaign.id, 1, NOW, OWNER)
    attempt = await hopper.start_attempt(assignment.id, NOW, OWNER)
    await hopper.record_outcome(attempt.id, CallOutcome.NO_ANSWER, NOW, hangup_cause=19)
    again = await hopper.record_outcome(
        attempt.id, CallOutcome.NO_ANSWER, NOW + timedelta(seconds=5)
    )
    assert again.ended_at == NOW
    with pytest.raises(OutcomeConflict, match="already ended 'no_answer'"):
        await hopper.record_outcome(attempt.id, CallOutcome.BUSY, NOW + timedelta(seconds=9))
    async with session_factory() as session:
        stored = await session.get(Attempt, attempt.id)
        logged = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "outcome_conflict"))
        ).one()
        row = await session.get(Assignment, assignment.id)
    assert stored is not None and stored.outcome == CallOutcome.NO_ANSWER
    assert stored.hangup_cause == 19
    assert logged.changes["refused"]["outcome"] == "busy"
    assert row is not None and row.attempts == 1


async def test_an_auto_drop_callback_is_closed_once_dialled(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        assignment = await add_assignment(session, campaign, "+573101000001")
        await schedule_callback(
            session, assignment.id, NOW, ReminderType.AUTO_DROP, NOW - timedelta(hours=2)
        )
    hopper = Hopper(session_factory)
    assert [c.callback for c in await hopper.claim(campaign.id, 1, NOW, OWNER)] == [True]
    attempt = await hopper.start_attempt(assignment.id, NOW, OWNER)
    await hopper.record_outcome(attempt.id, CallOutcome.NO_ANSWER, NOW)
    async with session_factory() as session:
        row = await session.get(Assignment, assignment.id)
    assert row is not None and row.lane == 1


async def test_start_attempt_counts_the_attempt_and_writes_the_row_before_dialling(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        assignment = await add_assignment(session, campaign, "+573101000001")
        await claim_in(session, campaign.id, 1, NOW, OWNER)
        attempt = await start_attempt(session, assignment.id, NOW, owner=OWNER)
        assert (attempt.e164, attempt.trunk, attempt.outcome) == (
            "+573101000001",
            "trunk-out",
            None,
        )
        assert assignment.attempts == 1
        await record_outcome(session, attempt.id, CallOutcome.FAILED, NOW)


async def test_renewing_keeps_a_long_call_s_contact_leased(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        first = await add_assignment(session, campaign, "+573101000001", order_key=1)
    hopper = Hopper(session_factory)
    assert ids(await hopper.claim(campaign.id, 1, NOW, OWNER, 60)) == [first.id]
    async with session_factory() as session, session.begin():
        assert await renew_in(session, [first.id], OWNER, NOW + timedelta(seconds=50), 60) == 1
    # 100 s after the claim the original lease is long gone, the renewed one is not.
    assert await hopper.claim(campaign.id, 1, NOW + timedelta(seconds=100), "dialer-2", 60) == []
    async with session_factory() as session, session.begin():
        # Another owner's lease is not renewed.
        assert await renew_in(session, [first.id], "dialer-2", NOW, 60) == 0
        # Past its expiry and nobody took it: the owner keeps it.
        later = NOW + timedelta(seconds=500)
        assert await renew_in(session, [first.id], OWNER, later, 60) == 1
    # Expired again, and taken by another claimer: not taken back.
    much_later = NOW + timedelta(seconds=1000)
    taken = await hopper.claim(campaign.id, 1, much_later, "dialer-2", 60)
    assert ids(taken) == [first.id]
    async with session_factory() as session, session.begin():
        assert await renew_in(session, [first.id], OWNER, much_later, 60) == 0
