"""A tick's attempts and the outcomes of the moment, each written in a few statements
(store.attempts.start_attempts / record_outcomes), with the answers of one call at a time
(both backends)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from store.attempts import (
    AnswerMinute,
    AttemptOutcome,
    answers_by_minute,
    open_attempt_owners,
    open_attempts,
    record_outcomes,
    start_attempts,
    take_over_attempts,
    typify,
)
from store.blocklist import block_number
from store.campaigns import create_campaign
from store.db import SessionFactory
from store.enums import (
    AssignmentState,
    CallbackState,
    CallOutcome,
    Direction,
    GroupKind,
    OperationType,
    ReminderType,
)
from store.errors import AttemptRefused, InvalidSetting, NotFound, OutcomeConflict
from store.hopper import claim_in, take_over_in
from store.models import Assignment, Attempt, AuditEntry, Callback, Contact
from store.typifications import add_group, add_result, map_outcome
from store.work import schedule_callback
from tests.store.builders import NOW, add_assignment, company_and_campaign

OWNER = "dialer-1"


async def test_a_batch_of_attempts_is_written_in_order_with_each_refusal_in_its_place(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        company, campaign = await company_and_campaign(session)
        first = await add_assignment(session, campaign, "+573101000001", order_key=1)
        blocked = await add_assignment(session, campaign, "+573101000002", order_key=2)
        third = await add_assignment(session, campaign, "+573101000003", order_key=3)
        await claim_in(session, campaign.id, 3, NOW, OWNER)
        # Blocked after the claim: refused at originate time, nothing written for it.
        await block_number(session, company.id, "+573101000002", NOW)
    async with session_factory() as session, session.begin():
        started = await start_attempts(
            session, [third.id, blocked.id, first.id, 999_999], NOW, owner=OWNER
        )
    assert isinstance(started[0], int) and isinstance(started[2], int)
    assert isinstance(started[1], AttemptRefused) and "block list" in str(started[1])
    assert isinstance(started[3], AttemptRefused) and "no such assignment" in str(started[3])
    async with session_factory() as session:
        rows = {a.id: a for a in await session.scalars(select(Attempt))}
        counts = dict((await session.execute(select(Assignment.id, Assignment.attempts))).all())
    assert sorted(rows) == sorted([started[0], started[2]])
    assert rows[started[0]].assignment_id == third.id  # ids match their assignments
    assert rows[started[0]].e164 == "+573101000003"
    assert rows[started[2]].assignment_id == first.id
    assert rows[started[2]].dialed_at == NOW and rows[started[2]].outcome is None
    assert counts == {first.id: 1, blocked.id: 0, third.id: 1}


async def test_an_assignment_named_twice_in_a_batch_is_dialled_once(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        assignment = await add_assignment(session, campaign, "+573101000001")
        await claim_in(session, campaign.id, 1, NOW, OWNER)
    async with session_factory() as session, session.begin():
        once, twice = await start_attempts(
            session, [assignment.id, assignment.id], NOW, owner=OWNER
        )
    assert isinstance(once, int)
    assert isinstance(twice, AttemptRefused) and "already dialled" in str(twice)
    async with session_factory() as session:
        assert len((await session.scalars(select(Attempt))).all()) == 1
        row = await session.get(Assignment, assignment.id)
    assert row is not None and row.attempts == 1


async def _three_calls(session_factory: SessionFactory) -> tuple[list[int], list[int], dict]:  # type: ignore[type-arg]
    """Three leased assignments with an attempt each; the no-contact results by name."""
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        group = await add_group(session, campaign.id, "No contact", GroupKind.NO_CONTACT)
        results = {
            "No answer": await add_result(session, group.id, "No answer", retry_after_seconds=600),
            "Busy": await add_result(session, group.id, "Busy", retry_after_seconds=900),
            "Wrong number": await add_result(session, group.id, "Wrong number", is_final=True),
        }
        await map_outcome(session, campaign.id, CallOutcome.BUSY, results["Busy"].id)
        await map_outcome(session, campaign.id, CallOutcome.INVALID, results["Wrong number"].id)
        assignments = [
            (await add_assignment(session, campaign, f"+57310100000{i}", order_key=i)).id
            for i in (1, 2, 3)
        ]
        await claim_in(session, campaign.id, 3, NOW, OWNER)
        started = await start_attempts(session, assignments, NOW, owner=OWNER)
    attempts = [a for a in started if isinstance(a, int)]
    assert len(attempts) == 3
    return assignments, attempts, {name: r.id for name, r in results.items()}


async def test_a_batch_of_outcomes_settles_each_assignment_by_its_result(
    session_factory: SessionFactory,
) -> None:
    assignments, attempts, results = await _three_calls(session_factory)
    ended = NOW + timedelta(seconds=30)
    async with session_factory() as session, session.begin():
        answers = await record_outcomes(
            session,
            [
                AttemptOutcome(attempts[0], CallOutcome.NO_ANSWER, ended, hangup_cause=19),
                AttemptOutcome(attempts[1], CallOutcome.BUSY, ended, hangup_cause=17),
                AttemptOutcome(attempts[2], "invalid", ended, hangup_cause=1),
            ],
        )
    assert [a.id for a in answers if isinstance(a, Attempt)] == attempts
    async with session_factory() as session:
        stored = {a.id: a for a in await session.scalars(select(Attempt))}
        rows = {a.id: a for a in await session.scalars(select(Assignment))}
        used = dict((await session.execute(select(Contact.id, Contact.last_used_at))).all())
    assert [stored[a].outcome for a in attempts] == [
        CallOutcome.NO_ANSWER,
        CallOutcome.BUSY,
        CallOutcome.INVALID,
    ]
    # Unmapped: the group's first result; mapped: its own.
    assert [stored[a].result_id for a in attempts] == [
        results["No answer"],
        results["Busy"],
        results["Wrong number"],
    ]
    assert [stored[a].hangup_cause for a in attempts] == [19, 17, 1]
    assert all(stored[a].ended_at == ended and stored[a].dialed_at == NOW for a in attempts)
    first, second, third = (rows[a] for a in assignments)
    assert (first.state, first.next_attempt_at) == (
        AssignmentState.PENDING,
        ended + timedelta(seconds=600),
    )
    assert second.next_attempt_at == ended + timedelta(seconds=900)
    assert (third.state, third.next_attempt_at) == (AssignmentState.DONE, None)  # final result
    assert all(r.lease_owner is None and r.last_used_at == ended for r in rows.values())
    assert [rows[a].last_outcome for a in assignments] == [
        CallOutcome.NO_ANSWER,
        CallOutcome.BUSY,
        CallOutcome.INVALID,
    ]
    assert set(used.values()) == {ended}


async def test_a_bad_outcome_in_a_batch_is_answered_alone_and_the_others_are_written(
    session_factory: SessionFactory,
) -> None:
    _, attempts, _ = await _three_calls(session_factory)
    async with session_factory() as session, session.begin():
        await record_outcomes(session, [AttemptOutcome(attempts[0], CallOutcome.NO_ANSWER, NOW)])
    later = NOW + timedelta(seconds=5)
    async with session_factory() as session, session.begin():
        answers = await record_outcomes(
            session,
            [
                AttemptOutcome(attempts[0], CallOutcome.BUSY, later),  # already no answer
                AttemptOutcome(999_999, CallOutcome.BUSY, later),
                AttemptOutcome(attempts[1], "ringing forever", later),
                AttemptOutcome(attempts[2], CallOutcome.BUSY, later),
            ],
        )
    assert isinstance(answers[0], OutcomeConflict)
    assert isinstance(answers[1], NotFound)
    assert isinstance(answers[2], InvalidSetting)
    assert isinstance(answers[3], Attempt) and answers[3].outcome == CallOutcome.BUSY
    async with session_factory() as session:
        stored = {a.id: a.outcome for a in await session.scalars(select(Attempt))}
        logged = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "outcome_conflict"))
        ).one()
    assert stored == {
        attempts[0]: CallOutcome.NO_ANSWER,
        attempts[1]: None,
        attempts[2]: CallOutcome.BUSY,
    }
    assert logged.entity_id == attempts[0]
    assert logged.changes["kept"]["outcome"] == "no_answer"
    assert logged.changes["refused"]["outcome"] == "busy"


async def test_the_same_attempt_twice_in_a_batch_is_applied_in_order(
    session_factory: SessionFactory,
) -> None:
    _, attempts, _ = await _three_calls(session_factory)
    async with session_factory() as session, session.begin():
        first, again, conflict = await record_outcomes(
            session,
            [
                AttemptOutcome(attempts[0], CallOutcome.BUSY, NOW, hangup_cause=17),
                AttemptOutcome(attempts[0], CallOutcome.BUSY, NOW + timedelta(seconds=1)),
                AttemptOutcome(attempts[0], CallOutcome.NO_ANSWER, NOW + timedelta(seconds=2)),
            ],
        )
    assert isinstance(first, Attempt) and isinstance(again, Attempt)
    assert isinstance(conflict, OutcomeConflict)
    async with session_factory() as session:
        stored = await session.get(Attempt, attempts[0])
    assert stored is not None
    assert (stored.outcome, stored.hangup_cause, stored.ended_at) == (CallOutcome.BUSY, 17, NOW)


async def test_an_answered_call_typified_later_in_the_same_batch_takes_its_result(
    session_factory: SessionFactory,
) -> None:
    _, attempts, results = await _three_calls(session_factory)
    async with session_factory() as session, session.begin():
        answers = await record_outcomes(
            session,
            [
                AttemptOutcome(attempts[0], CallOutcome.ANSWERED, NOW),
                AttemptOutcome(attempts[0], CallOutcome.ANSWERED, NOW, result_id=results["Busy"]),
            ],
        )
    assert all(isinstance(a, Attempt) for a in answers)
    async with session_factory() as session:
        stored = await session.get(Attempt, attempts[0])
    assert stored is not None and stored.result_id == results["Busy"]


async def test_outcomes_in_a_batch_close_the_auto_drop_callbacks_they_dialled(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        due = await add_assignment(session, campaign, "+573101000001", order_key=1)
        later = await add_assignment(session, campaign, "+573101000002", order_key=2)
        before = NOW - timedelta(hours=2)
        hour_ago, in_3_hours = NOW - timedelta(hours=1), NOW + timedelta(hours=3)
        await schedule_callback(session, due.id, hour_ago, ReminderType.AUTO_DROP, before)
        await schedule_callback(session, later.id, hour_ago, ReminderType.AUTO_DROP, before)
        await schedule_callback(session, later.id, in_3_hours, ReminderType.AUTO_DROP, before)
        await claim_in(session, campaign.id, 2, NOW, OWNER)
        started = await start_attempts(session, [due.id, later.id], NOW, owner=OWNER)
    ended = NOW + timedelta(seconds=40)
    async with session_factory() as session, session.begin():
        await record_outcomes(
            session,
            [AttemptOutcome(a, CallOutcome.NO_ANSWER, ended) for a in started],  # type: ignore[arg-type]
        )
    async with session_factory() as session:
        callbacks = (
            await session.execute(
                select(Callback.assignment_id, Callback.state, Callback.done_at).order_by(
                    Callback.id
                )
            )
        ).all()
        rows = {a.id: a for a in await session.scalars(select(Assignment))}
    assert [tuple(c) for c in callbacks] == [
        (due.id, CallbackState.DONE, ended),
        (later.id, CallbackState.DONE, ended),
        (later.id, CallbackState.PENDING, None),
    ]
    # The one with a callback still to come stays first, due then.
    assert (rows[later.id].lane, rows[later.id].next_attempt_at) == (0, NOW + timedelta(hours=3))
    assert rows[due.id].lane == 1


async def test_open_attempts_are_the_owners_unfinished_calls_from_before_its_start(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        rows = [
            await add_assignment(session, campaign, f"+57310100000{i}", order_key=i)
            for i in range(4)
        ]
        await claim_in(session, campaign.id, 2, NOW, OWNER)
        await claim_in(session, campaign.id, 2, NOW, "dialer-2")
    async with session_factory() as session, session.begin():
        ours = await start_attempts(session, [rows[0].id, rows[1].id], NOW, owner=OWNER)
        theirs = await start_attempts(session, [rows[2].id], NOW, owner="dialer-2")
        later = NOW + timedelta(seconds=30)
        await record_outcomes(session, [AttemptOutcome(ours[1], CallOutcome.NO_ANSWER, later)])
    async with session_factory() as session:
        before_start = await open_attempts(session, OWNER, NOW + timedelta(seconds=60))
        started_since = await open_attempts(session, OWNER, NOW)
    assert [(a.attempt_id, a.assignment_id) for a in before_start] == [(ours[0], rows[0].id)]
    assert theirs[0] not in [a.attempt_id for a in before_start]
    assert started_since == []  # this run's own calls are not a previous run's


async def test_a_dead_owners_open_attempts_pass_to_the_taker_with_their_contacts_leases(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        rows = [
            await add_assignment(session, campaign, f"+57310100000{i}", order_key=i)
            for i in range(4)
        ]
        await claim_in(session, campaign.id, 3, NOW, "dialer-a", lease_seconds=15)
        await claim_in(session, campaign.id, 1, NOW, "dialer-c")
    async with session_factory() as session, session.begin():
        dead = await start_attempts(session, [r.id for r in rows[:3]], NOW, owner="dialer-a")
        [alive] = await start_attempts(session, [rows[3].id], NOW, owner="dialer-c")
        ended = NOW + timedelta(seconds=5)
        await record_outcomes(session, [AttemptOutcome(dead[2], CallOutcome.NO_ANSWER, ended)])
        # One lapsed lease a claim took back (pending, not dialed since); one lapsed, kept.
        await session.execute(
            update(Assignment)
            .where(Assignment.id == rows[1].id)
            .values(state=AssignmentState.PENDING, lease_owner=None, lease_expires_at=None)
        )
    later = NOW + timedelta(seconds=60)
    async with session_factory() as session, session.begin():
        owners = await open_attempt_owners(session, [campaign.id], "dialer-b")
        taken = await take_over_attempts(session, [*dead, alive], "dialer-a", "dialer-b")
        # The contacts of the attempts taken; dialer-c's too, by mistake: left to it.
        contacts = [assignment for _, assignment in taken if assignment is not None]
        moved = await take_over_in(
            session, [*contacts, rows[3].id], "dialer-a", "dialer-b", later, lease_seconds=300
        )
    assert owners == ["dialer-a", "dialer-c"]
    assert taken == [(dead[0], rows[0].id), (dead[1], rows[1].id)]  # open and dialer-a's
    assert moved == 2
    async with session_factory() as session:
        leases = dict((await session.execute(select(Assignment.id, Assignment.lease_owner))).all())
        expiry = await session.get(Assignment, rows[0].id)
        followed = await open_attempts(session, "dialer-b")
    assert leases == {
        rows[0].id: "dialer-b",
        rows[1].id: "dialer-b",
        rows[2].id: None,
        rows[3].id: "dialer-c",
    }
    assert expiry is not None and expiry.lease_expires_at == later + timedelta(seconds=300)
    assert [a.attempt_id for a in followed] == dead[:2]


async def test_the_owners_of_open_attempts_are_found_over_every_campaign_when_none_is_named(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        company, dialed = await company_and_campaign(session)
        ended = await create_campaign(
            session, company.id, "Sales", OperationType.TELESALES, NOW, trunk="trunk-out"
        )
        rows = [
            await add_assignment(session, campaign, f"+57310100000{i}", order_key=i)
            for i, campaign in enumerate([dialed, ended, ended, dialed])
        ]
        for row, owner in zip(rows, ["dialer-a", "dialer-b", "dialer-c", "dialer-d"], strict=True):
            [claimed] = await claim_in(session, row.campaign_id, 1, NOW, owner)
            [attempt] = await start_attempts(session, [claimed.assignment_id], NOW, owner=owner)
            if owner == "dialer-c":
                assert isinstance(attempt, int)
                await record_outcomes(session, [AttemptOutcome(attempt, CallOutcome.BUSY, NOW)])
    async with session_factory() as session:
        everywhere = await open_attempt_owners(session, None, "dialer-d")
        in_dialed = await open_attempt_owners(session, [dialed.id], "dialer-d")
        in_none = await open_attempt_owners(session, [], "dialer-d")
    assert everywhere == ["dialer-a", "dialer-b"]  # dialer-c's is finished, dialer-d is us
    assert in_dialed == ["dialer-a"]
    assert in_none == []


async def test_an_outcome_can_carry_a_note_and_keeps_the_one_there_otherwise(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        first = await add_assignment(session, campaign, "+573101000001", order_key=1)
        second = await add_assignment(session, campaign, "+573101000002", order_key=2)
        await claim_in(session, campaign.id, 2, NOW, OWNER)
    async with session_factory() as session, session.begin():
        noted, plain = await start_attempts(session, [first.id, second.id], NOW, owner=OWNER)
        assert isinstance(noted, int) and isinstance(plain, int)
        attempt = await session.get(Attempt, plain)
        assert attempt is not None
        attempt.comments = "called back at the customer's request"
    async with session_factory() as session, session.begin():
        await record_outcomes(
            session,
            [
                AttemptOutcome(
                    noted, CallOutcome.FAILED, NOW, comments="seen ending after a restart"
                ),
                AttemptOutcome(plain, CallOutcome.NO_ANSWER, NOW),
            ],
        )
    async with session_factory() as session:
        notes = {a.id: a.comments for a in await session.scalars(select(Attempt))}
    assert notes == {
        noted: "seen ending after a restart",
        plain: "called back at the customer's request",
    }


async def test_a_typification_written_before_its_outcome_stands(
    session_factory: SessionFactory,
) -> None:
    # The agent's form can beat the outcome's group commit: the outcome must not undo it.
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        group = await add_group(session, campaign.id, "Contact", GroupKind.DIRECT_CONTACT)
        sale = await add_result(session, group.id, "Sale", is_final=True)
        assignment = await add_assignment(session, campaign, "+573101000001")
        await claim_in(session, campaign.id, 1, NOW, OWNER)
    async with session_factory() as session, session.begin():
        [attempt_id] = await start_attempts(session, [assignment.id], NOW, owner=OWNER)
        assert isinstance(attempt_id, int)
        await typify(session, attempt_id, sale.id, NOW + timedelta(seconds=90), agent_id=None)
    async with session_factory() as session, session.begin():
        later = NOW + timedelta(seconds=91)
        [written] = await record_outcomes(
            session, [AttemptOutcome(attempt_id, CallOutcome.ANSWERED, later)]
        )
        assert isinstance(written, Attempt)
    async with session_factory() as session:
        attempt = await session.get(Attempt, attempt_id)
        settled = await session.get(Assignment, assignment.id)
    assert attempt is not None and settled is not None
    assert (attempt.outcome, attempt.result_id) == (CallOutcome.ANSWERED, sale.id)
    assert settled.state is AssignmentState.DONE  # the final result's rule, not a retry


async def test_a_campaigns_answers_are_read_back_per_minute_as_the_guard_counts_them(
    session_factory: SessionFactory,
) -> None:
    def attempt(campaign_id: int, ended: timedelta, outcome: CallOutcome, **kw: object) -> Attempt:
        return Attempt(
            campaign_id=campaign_id,
            e164="+573101000001",
            created_at=NOW - timedelta(days=40),
            ended_at=NOW + ended,
            outcome=outcome,
            **kw,
        )

    connected = {"connected_at": NOW}
    async with session_factory() as session, session.begin():
        company, campaign = await company_and_campaign(session)
        other = await create_campaign(
            session, company.id, "Other", OperationType.COLLECTIONS, NOW, trunk="t"
        )
        session.add_all(
            [
                # 10:00: two connected, one dropped, one machine, one no answer.
                attempt(campaign.id, timedelta(seconds=5), CallOutcome.ANSWERED, **connected),
                attempt(campaign.id, timedelta(seconds=59), CallOutcome.ANSWERED, **connected),
                attempt(campaign.id, timedelta(seconds=30), CallOutcome.DROPPED),
                attempt(campaign.id, timedelta(seconds=31), CallOutcome.MACHINE),
                attempt(campaign.id, timedelta(seconds=32), CallOutcome.NO_ANSWER),
                # 10:01: an agentless message (answered, nobody connected) is no live answer.
                attempt(campaign.id, timedelta(seconds=61), CallOutcome.ANSWERED),
                attempt(campaign.id, timedelta(seconds=62), CallOutcome.DROPPED),
                # Before the window, another campaign's, an inbound caller's: not counted.
                attempt(campaign.id, timedelta(days=-31), CallOutcome.DROPPED),
                attempt(other.id, timedelta(seconds=5), CallOutcome.DROPPED),
                attempt(
                    campaign.id,
                    timedelta(seconds=5),
                    CallOutcome.ANSWERED,
                    direction=Direction.INBOUND,
                    **connected,
                ),
            ]
        )
    async with session_factory() as session:
        minutes = await answers_by_minute(session, campaign.id, NOW - timedelta(days=30))
    assert minutes == [
        AnswerMinute(NOW, lives=3, drops=1, machines=1),
        AnswerMinute(NOW + timedelta(minutes=1), lives=1, drops=1, machines=0),
    ]
    assert minutes[0].minute.tzinfo is not None
