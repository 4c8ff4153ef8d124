"""Attempts (one per call): written before the Originate is sent; the outcome written
idempotently, and the assignment settled from the result's retry rule.

- :func:`start_attempt` re-checks, at originate time, what the hopper checked at claim time: the
  lease, the block list, the schedule and calling hours, the attempt limit (a number blocked a
  second ago must not ring).
- :func:`record_outcome` and :func:`typify` are idempotent: the same outcome again is a no-op; a
  conflicting one raises :class:`OutcomeConflict`, keeps the first and logs the second in the
  audit log, so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.audit import audit
from store.blocklist import is_blocked
from store.campaigns import get_campaign, require_dialable
from store.db import UTCDateTime
from store.enums import AssignmentState, CallbackState, CallOutcome, Direction, ReminderType
from store.errors import (
    AttemptRefused,
    InvalidSetting,
    MissingMandatoryFields,
    NotFound,
    OutcomeConflict,
    StoreError,
)
from store.models import (
    Assignment,
    Attempt,
    BlockedNumber,
    Callback,
    Campaign,
    Contact,
    Phone,
    TypificationResult,
)
from store.phones import UNKNOWN_TIMEZONE
from store.schedule import WeeklySchedule, within_hours, zone
from store.typifications import (
    mandatory_fields,
    no_contact_result,
    remember_no_contact_results,
    result_in_campaign,
)


def phone_zone(phone_timezone: str, campaign: Campaign) -> str:
    """The zone whose clock the contact's calling hours follow: the number's, else the
    campaign's when the number does not tell."""
    return campaign.timezone if phone_timezone == UNKNOWN_TIMEZONE else phone_timezone


async def start_attempt(
    session: AsyncSession,
    assignment_id: int,
    now: datetime,
    *,
    owner: str,
) -> Attempt:
    """Write the attempt row for a call about to be placed, and count the attempt.

    Raises AttemptRefused (nothing written) when the call must not be placed now."""
    assignment = await session.scalar(
        select(Assignment).where(Assignment.id == assignment_id).with_for_update()
    )
    if assignment is None:
        raise NotFound("assignment", assignment_id)
    where = f"assignment {assignment_id}"
    if (
        assignment.state != AssignmentState.LEASED
        or assignment.lease_owner != owner
        or assignment.lease_expires_at is None
        or assignment.lease_expires_at <= now
    ):
        raise AttemptRefused(f"{where}: not leased by {owner!r} (state {assignment.state.value})")
    campaign = await get_campaign(session, assignment.campaign_id)
    await require_dialable(session, campaign)
    phone = await session.get(Phone, assignment.phone_id) if assignment.phone_id else None
    if phone is None:
        raise AttemptRefused(f"{where}: no phone to dial")
    if await is_blocked(session, campaign.company_id, phone.e164):
        raise AttemptRefused(f"{where}: {phone.e164} is on the block list")
    if not WeeklySchedule.parse(campaign.schedule).is_open(now, zone(campaign.timezone)):
        raise AttemptRefused(f"{where}: campaign {campaign.id} is outside its schedule")
    local = zone(phone_zone(phone.timezone, campaign), "timezone", "phone")
    if not within_hours(now, local, campaign.calling_hours_start, campaign.calling_hours_end):
        raise AttemptRefused(f"{where}: outside the contact's calling hours ({local.key})")
    limit = assignment.max_attempts or campaign.default_max_attempts
    if assignment.attempts >= limit:
        raise AttemptRefused(f"{where}: {assignment.attempts} of {limit} attempts made")
    assignment.attempts += 1
    assignment.retry = True
    attempt = Attempt(
        campaign_id=campaign.id,
        assignment_id=assignment.id,
        contact_id=assignment.contact_id,
        phone_id=phone.id,
        e164=phone.e164,
        direction=Direction.OUTBOUND,
        created_at=now,
        trunk=campaign.trunk,
        lease_owner=owner,
        field_values={},
        survey_answers={},
    )
    session.add(attempt)
    await session.flush()
    return attempt


async def _locked_attempt(session: AsyncSession, attempt_id: int) -> Attempt:
    attempt = await session.scalar(
        select(Attempt).where(Attempt.id == attempt_id).with_for_update()
    )
    if attempt is None:
        raise NotFound("attempt", attempt_id)
    return attempt


@dataclass(frozen=True)
class AttemptOutcome:
    """How one call ended, for :func:`record_outcomes` (the arguments of
    :func:`record_outcome`)."""

    attempt_id: int
    outcome: CallOutcome | str
    now: datetime  # when it ended
    result_id: int | None = None
    hangup_cause: int | None = None
    amd_result: str | None = None
    agent_id: int | None = None
    dialed_at: datetime | None = None
    answered_at: datetime | None = None
    connected_at: datetime | None = None
    comments: str | None = None  # a note on how the outcome was known (kept otherwise)
    queue_wait_seconds: float | None = None  # an inbound call's wait in its queue (kept otherwise)


@dataclass(frozen=True)
class OpenAttempt:
    """An attempt without its outcome, as a restarted dialer finds it."""

    attempt_id: int
    campaign_id: int
    assignment_id: int | None
    direction: Direction
    created_at: datetime
    dialed_at: datetime | None
    answered_at: datetime | None
    channel_uniqueid: str | None  # inbound: the caller's channel


async def open_attempts(
    session: AsyncSession,
    owner: str,
    before: datetime | None = None,
    direction: Direction | None = None,
) -> list[OpenAttempt]:
    """The attempts ``owner`` started (before ``before``, if given) and has not finished: the
    calls a previous run of that dialer, or a dialer of that name that died, had in flight (the
    index ix_attempt_open holds only these)."""
    query = select(
        Attempt.id,
        Attempt.campaign_id,
        Attempt.assignment_id,
        Attempt.direction,
        Attempt.created_at,
        Attempt.dialed_at,
        Attempt.answered_at,
        Attempt.channel_uniqueid,
    ).where(Attempt.outcome.is_(None), Attempt.lease_owner == owner)
    if before is not None:
        query = query.where(Attempt.created_at < before)
    if direction is not None:
        query = query.where(Attempt.direction == direction)
    return [OpenAttempt(*row) for row in await session.execute(query.order_by(Attempt.id))]


@dataclass(frozen=True)
class AnswerMinute:
    """One minute of a campaign's outbound answers, as the compliance guard counts them."""

    minute: datetime  # the minute's start, UTC
    lives: int  # live answers: connected to an agent, or dropped
    drops: int
    machines: int  # answers AMD took for machines (the guard may count some as drops)


async def answers_by_minute(
    session: AsyncSession, campaign_id: int, since: datetime
) -> list[AnswerMinute]:
    """The campaign's outbound answers that ended since ``since``, per minute, oldest first:
    what the guard's rolling 24-hour and 30-day windows held before this process started
    (dialer.engine.pace.Pacer.remember). A drop is any stored ``dropped`` (an answered person
    who hung up before an agent came is one too: the safe side of the cap); a life is a drop
    or an answer connected to an agent (an agentless message is no life: nobody was dropped
    from it, and counting it would only lower the rate)."""
    ended = Attempt.ended_at
    if session.get_bind().dialect.name == "postgresql":
        minute = func.date_trunc("minute", ended, type_=UTCDateTime())
    else:  # SQLite keeps naive UTC text (store.db.UTCDateTime)
        minute = func.strftime("%Y-%m-%d %H:%M:00", ended, type_=UTCDateTime())
    dropped = Attempt.outcome == CallOutcome.DROPPED
    connected = (Attempt.outcome == CallOutcome.ANSWERED) & Attempt.connected_at.is_not(None)
    query = (
        select(
            minute.label("minute"),
            func.sum(case((dropped | connected, 1), else_=0)),
            func.sum(case((dropped, 1), else_=0)),
            func.sum(case((Attempt.outcome == CallOutcome.MACHINE, 1), else_=0)),
        )
        .where(
            Attempt.campaign_id == campaign_id,
            Attempt.direction == Direction.OUTBOUND,
            ended >= since,
            Attempt.outcome.in_((CallOutcome.ANSWERED, CallOutcome.DROPPED, CallOutcome.MACHINE)),
        )
        .group_by(minute)
        .order_by(minute)
    )
    return [
        AnswerMinute(at, int(lives), int(drops), int(machines))
        for at, lives, drops, machines in await session.execute(query)
        if lives or machines
    ]


async def open_attempt_owners(
    session: AsyncSession, campaign_ids: Collection[int] | None, other_than: str
) -> list[str]:
    """The owners other than ``other_than`` with attempts still open: of these campaigns, or
    of any campaign (``None``; read from the index ix_attempt_open, the calls in flight)."""
    query = select(Attempt.lease_owner).where(
        Attempt.outcome.is_(None),
        Attempt.lease_owner.is_not(None),
        Attempt.lease_owner != other_than,
    )
    if campaign_ids is not None:
        if not campaign_ids:
            return []
        query = query.where(Attempt.campaign_id.in_(sorted(campaign_ids)))
    owners = await session.scalars(query.distinct().order_by(Attempt.lease_owner))
    return [owner for owner in owners if owner is not None]


async def take_over_attempts(
    session: AsyncSession, attempt_ids: Collection[int], owner: str, new_owner: str
) -> list[tuple[int, int | None]]:
    """``owner``'s open attempts among ``attempt_ids`` become ``new_owner``'s (the process
    that follows those calls to their ends from now on, and settles them if it restarts);
    those already finished are left alone. The attempts taken, with their assignments."""
    if not attempt_ids:
        return []
    taken = await session.execute(
        update(Attempt)
        .where(
            Attempt.id.in_(sorted(attempt_ids)),
            Attempt.outcome.is_(None),
            Attempt.lease_owner == owner,
        )
        .values(lease_owner=new_owner)
        .returning(Attempt.id, Attempt.assignment_id)
        .execution_options(synchronize_session=False)
    )
    return [(attempt_id, assignment_id) for attempt_id, assignment_id in taken]


async def record_outcome(
    session: AsyncSession,
    attempt_id: int,
    outcome: CallOutcome | str,
    now: datetime,
    *,
    result_id: int | None = None,
    hangup_cause: int | None = None,
    amd_result: str | None = None,
    agent_id: int | None = None,
    dialed_at: datetime | None = None,
    answered_at: datetime | None = None,
    connected_at: datetime | None = None,
    queue_wait_seconds: float | None = None,
) -> Attempt:
    """How the call ended. A call that never reached an agent is recorded under the campaign's
    no-contact result for the outcome (seed 004) unless ``result_id`` says otherwise; the
    assignment then follows that result's retry rule. An answered call waits for
    :func:`typify` (meanwhile its assignment is parked for the campaign's default retry time).

    Raises what :func:`record_outcomes` answers for it (OutcomeConflict, NotFound, ...)."""
    [recorded] = await record_outcomes(
        session,
        [
            AttemptOutcome(
                attempt_id,
                outcome,
                now,
                result_id=result_id,
                hangup_cause=hangup_cause,
                amd_result=amd_result,
                agent_id=agent_id,
                dialed_at=dialed_at,
                answered_at=answered_at,
                connected_at=connected_at,
                queue_wait_seconds=queue_wait_seconds,
            )
        ],
    )
    if isinstance(recorded, StoreError):
        raise recorded
    return recorded


async def record_outcomes(
    session: AsyncSession, outcomes: Sequence[AttemptOutcome]
) -> list[Attempt | StoreError]:
    """:func:`record_outcome` for many calls in a few statements (the engine group-commits the
    outcomes of the moment), one answer per outcome in order: the attempt, or the error for
    that one alone (OutcomeConflict after logging it, NotFound, InvalidSetting), which leaves
    the others written. Applied in order, as one call each would be: the same attempt twice
    is a no-op or a conflict the second time."""
    if not outcomes:
        return []
    found = {
        a.id: a
        for a in await session.scalars(
            select(Attempt)
            .where(Attempt.id.in_({o.attempt_id for o in outcomes}))
            .with_for_update()
        )
    }
    for campaign_id in {a.campaign_id for a in found.values()}:
        await remember_no_contact_results(session, campaign_id)
    batch = _OutcomeBatch()
    out: list[Attempt | StoreError] = []
    for o in outcomes:
        try:
            out.append(await _record_one(session, o, found, batch))
        except StoreError as exc:
            out.append(exc)
    await batch.write(session)
    return out


class _OutcomeBatch:
    """Outcomes decided and not yet written: one UPDATE of many rows for the attempts, then
    their assignments settled together."""

    def __init__(self) -> None:
        self.attempts: dict[int, dict[str, Any]] = {}
        self.settles: list[_Settle] = []

    def ended(self, attempt: Attempt) -> tuple[CallOutcome | None, int | None]:
        """The attempt's outcome and result, counting this batch's."""
        row = self.attempts.get(attempt.id)
        if row is None:
            return attempt.outcome, attempt.result_id
        return row["outcome"], row["result_id"]

    async def write(self, session: AsyncSession) -> None:
        if self.attempts:
            # ORM bulk UPDATE by primary key: every row sets the same columns, so it is one
            # executemany; the attempts already loaded in the session are updated too.
            await session.execute(update(Attempt), list(self.attempts.values()))
        await _settle_all(session, self.settles)
        self.attempts = {}
        self.settles = []


async def _record_one(
    session: AsyncSession, o: AttemptOutcome, found: dict[int, Attempt], batch: _OutcomeBatch
) -> Attempt:
    try:
        outcome = CallOutcome(o.outcome)
    except ValueError:
        raise InvalidSetting("attempt", "outcome", f"unknown outcome {o.outcome!r}") from None
    attempt = found.get(o.attempt_id)
    if attempt is None:
        raise NotFound("attempt", o.attempt_id)
    now, result_id = o.now, o.result_id
    ended, ended_result = batch.ended(attempt)
    if ended is not None:
        if ended == outcome and result_id in (None, ended_result):
            return attempt
        if ended == outcome and ended_result is None and result_id is not None:
            await batch.write(session)  # what came before first, in order
            return await typify(session, o.attempt_id, result_id, now, agent_id=o.agent_id)
        _log_conflict(
            session,
            attempt.id,
            ended,
            ended_result,
            now,
            {"outcome": outcome.value, "result_id": result_id},
        )
        raise OutcomeConflict(
            f"attempt {o.attempt_id} already ended {ended.value!r} (result "
            f"{ended_result}); {outcome.value!r} (result {result_id}) is refused and logged"
        )
    campaign = await get_campaign(session, attempt.campaign_id)
    result: TypificationResult | None
    # Typified before its outcome came (the agent's form can beat the outcome's group
    # commit): the agent's result stands, and typify has settled the assignment with it.
    typified_first = result_id is None and attempt.result_id is not None
    if result_id is not None:
        result = await result_in_campaign(session, campaign.id, result_id)
    elif typified_first:
        result = None
    else:
        result = await no_contact_result(session, campaign.id, outcome)
    batch.attempts[attempt.id] = {
        "id": attempt.id,
        "outcome": outcome,
        "result_id": attempt.result_id if typified_first else (result.id if result else None),
        "hangup_cause": o.hangup_cause,
        "amd_result": o.amd_result,
        "agent_id": o.agent_id or attempt.agent_id,
        "dialed_at": o.dialed_at or attempt.dialed_at,
        "answered_at": o.answered_at or attempt.answered_at,
        "connected_at": o.connected_at or attempt.connected_at,
        "ended_at": now,
        "comments": o.comments or attempt.comments,
        "queue_wait_seconds": (
            o.queue_wait_seconds if o.queue_wait_seconds is not None else attempt.queue_wait_seconds
        ),
    }
    if attempt.assignment_id is not None and not typified_first:
        batch.settles.append(_Settle(attempt.assignment_id, campaign, result, outcome, now))
    return attempt


async def typify(
    session: AsyncSession,
    attempt_id: int,
    result_id: int,
    now: datetime,
    *,
    motive_id: int | None = None,
    submotive_id: int | None = None,
    field_values: dict[str, Any] | None = None,
    agent_id: int | None = None,
    comments: str | None = None,
) -> Attempt:
    """The agent's typification of a call (seed 004); mandatory dynamic fields (seed 002) must
    be filled. The same typification again is a no-op; a different one raises."""
    attempt = await _locked_attempt(session, attempt_id)
    if attempt.result_id is not None:
        if attempt.result_id == result_id:
            return attempt
        _log_conflict(
            session, attempt.id, attempt.outcome, attempt.result_id, now, {"result_id": result_id}
        )
        raise OutcomeConflict(
            f"attempt {attempt_id} is already typified as result {attempt.result_id}; "
            f"result {result_id} is refused and logged"
        )
    campaign = await get_campaign(session, attempt.campaign_id)
    result = await result_in_campaign(session, campaign.id, result_id)
    values = dict(field_values or {})
    missing = [
        name
        for name in await mandatory_fields(session, campaign.id, result_id)
        if values.get(name) in (None, "")
    ]
    if missing:
        raise MissingMandatoryFields(attempt_id, missing)
    attempt.result_id = result.id
    attempt.motive_id = motive_id
    attempt.submotive_id = submotive_id
    attempt.field_values = values
    attempt.agent_id = agent_id or attempt.agent_id
    attempt.comments = comments
    if attempt.ended_at is None:
        attempt.ended_at = now
    if attempt.assignment_id is not None:
        await _settle(session, attempt.assignment_id, campaign, result, attempt.outcome, now)
    await session.flush()
    return attempt


def _log_conflict(
    session: AsyncSession,
    attempt_id: int,
    outcome: CallOutcome | None,
    result_id: int | None,
    now: datetime,
    refused: dict[str, Any],
) -> None:
    audit(
        session,
        now,
        "attempt",
        attempt_id,
        "outcome_conflict",
        {
            "kept": {"outcome": outcome.value if outcome else None, "result_id": result_id},
            "refused": refused,
        },
    )


@dataclass(frozen=True)
class _Settle:
    """An assignment to settle after one of its attempts got its result."""

    assignment_id: int
    campaign: Campaign
    result: TypificationResult | None
    outcome: CallOutcome | None
    now: datetime


async def _settle(
    session: AsyncSession,
    assignment_id: int,
    campaign: Campaign,
    result: TypificationResult | None,
    outcome: CallOutcome | None,
    now: datetime,
) -> None:
    """Retry or close the assignment per the result's retry rule; release its lease."""
    await _settle_all(session, [_Settle(assignment_id, campaign, result, outcome, now)])


async def _settle_all(session: AsyncSession, settles: Sequence[_Settle]) -> None:
    """:func:`_settle` for many assignments, in order, in a few statements: the assignments
    and their pending auto-drop callbacks read at once; the assignments, the contacts' last
    use and the callbacks now dialled written with one statement each."""
    if not settles:
        return
    ids = {s.assignment_id for s in settles}
    loaded = {
        a.id: a for a in await session.scalars(select(Assignment).where(Assignment.id.in_(ids)))
    }
    # Pending auto-drop callbacks, earliest first per assignment.
    pending: dict[int, list[tuple[datetime, int]]] = {}
    for callback_id, assignment_id, due_at in await session.execute(
        select(Callback.id, Callback.assignment_id, Callback.due_at)
        .where(
            Callback.assignment_id.in_(ids),
            Callback.kind == ReminderType.AUTO_DROP,
            Callback.state == CallbackState.PENDING,
        )
        .order_by(Callback.due_at, Callback.id)
    ):
        pending.setdefault(assignment_id, []).append((due_at, callback_id))
    rows: dict[int, dict[str, Any]] = {}  # each assignment's columns as the settles leave them
    contacts_used: list[dict[str, Any]] = []
    callbacks_done: list[dict[str, Any]] = []
    for s in settles:
        assignment = loaded.get(s.assignment_id)
        if assignment is None:
            continue
        row = rows.get(assignment.id)
        if row is None:
            row = rows[assignment.id] = {
                "id": assignment.id,
                "max_attempts": assignment.max_attempts,
                "last_used_at": assignment.last_used_at,
                "previous_last_used_at": assignment.previous_last_used_at,
            }
        result, campaign, now = s.result, s.campaign, s.now
        if result is not None and result.max_attempts is not None:
            row["max_attempts"] = result.max_attempts
        limit = row["max_attempts"] or campaign.default_max_attempts
        retry_after = campaign.default_retry_seconds
        if result is not None and result.retry_after_seconds is not None:
            retry_after = result.retry_after_seconds
        row["last_outcome"] = s.outcome
        row["last_result_id"] = result.id if result else None
        if row["last_used_at"] != now:
            row["previous_last_used_at"] = row["last_used_at"]
            row["last_used_at"] = now
        contacts_used.append({"contact": assignment.contact_id, "now": now})
        row["lease_owner"] = None
        row["lease_expires_at"] = None
        row["retry"] = True
        # A due auto-drop callback has now been dialled; a later one keeps the assignment first.
        callbacks = pending.get(assignment.id, [])
        callbacks_done.extend({"callback": cid, "now": now} for due, cid in callbacks if due <= now)
        callbacks[:] = [c for c in callbacks if c[0] > now]
        next_callback = callbacks[0][0] if callbacks else None
        if assignment.attempts >= limit:
            row.update(state=AssignmentState.DONE, next_attempt_at=None, lane=1)
        elif next_callback is not None:
            row.update(state=AssignmentState.PENDING, next_attempt_at=next_callback, lane=0)
        elif result is not None and result.is_final:
            row.update(state=AssignmentState.DONE, next_attempt_at=None, lane=1)
        else:
            next_at = now + timedelta(seconds=retry_after)
            row.update(state=AssignmentState.PENDING, next_attempt_at=next_at, lane=1)
    if rows:
        # Bulk UPDATE by primary key (one executemany; loaded assignments follow).
        await session.execute(update(Assignment), list(rows.values()))
    # The others copy a column or match on another key: Core statements, one parameter set
    # per row.
    connection = await session.connection()
    if contacts_used:
        await connection.execute(
            update(Contact)
            .where(Contact.id == bindparam("contact"))
            .values(
                previous_last_used_at=Contact.last_used_at,
                last_used_at=bindparam("now", type_=UTCDateTime()),
            ),
            contacts_used,
        )
    if callbacks_done:
        await connection.execute(
            update(Callback)
            .where(Callback.id == bindparam("callback"))
            .values(state=CallbackState.DONE, done_at=bindparam("now", type_=UTCDateTime())),
            callbacks_done,
        )


async def save_survey(
    session: AsyncSession,
    attempt_id: int,
    answers: dict[str, str],
    now: datetime,
    *,
    complete: bool,
) -> Attempt:
    """The IVR survey's answers (seed 004), on the attempt and, latest first, on the contact's
    additional data. A survey cut short by a hang-up keeps the answers given (``complete``
    False)."""
    attempt = await _locked_attempt(session, attempt_id)
    attempt.survey_answers = {
        "answers": dict(answers),
        "complete": complete,
        "at": now.isoformat(),
    }
    if attempt.contact_id is not None:
        contact = await session.get(Contact, attempt.contact_id)
        if contact is not None:
            data = dict(contact.additional_data or {})
            data["last_survey"] = {"attempt_id": attempt_id, **attempt.survey_answers}
            contact.additional_data = data
    await session.flush()
    return attempt


async def start_attempts(
    session: AsyncSession, assignment_ids: list[int], now: datetime, *, owner: str
) -> list[int | AttemptRefused]:
    """:func:`start_attempt` for a batch of leased assignments in a few statements: the same
    checks (lease, dialable campaign, phone, block list, schedule, calling hours, attempt
    limit), one answer per id in order: the id of the attempt written, or why it was refused
    (nothing written for that one). An assignment named twice is dialled once."""
    if not assignment_ids:
        return []
    rows = (
        await session.execute(
            select(Assignment, Phone)
            .outerjoin(Phone, Phone.id == Assignment.phone_id)
            .where(Assignment.id.in_(assignment_ids))
            .with_for_update(of=Assignment)
        )
    ).all()
    found = {assignment.id: (assignment, phone) for assignment, phone in rows}
    campaigns: dict[int, Campaign] = {}
    for assignment, _ in rows:
        if assignment.campaign_id not in campaigns:
            campaign = await get_campaign(session, assignment.campaign_id)
            await require_dialable(session, campaign)
            campaigns[campaign.id] = campaign
    numbers = {phone.e164 for _, phone in rows if phone is not None}
    blocked: set[tuple[int, str]] = set()
    if numbers:
        blocked = {
            (company_id, e164)
            for company_id, e164 in await session.execute(
                select(BlockedNumber.company_id, BlockedNumber.e164).where(
                    BlockedNumber.e164.in_(numbers)
                )
            )
        }
    open_now = {
        cid: WeeklySchedule.parse(c.schedule).is_open(now, zone(c.timezone))
        for cid, c in campaigns.items()
    }
    out: list[int | AttemptRefused] = []
    attempts: list[dict[str, Any]] = []
    counted: list[dict[str, Any]] = []
    seen: set[int] = set()
    for assignment_id in assignment_ids:
        where = f"assignment {assignment_id}"
        if assignment_id not in found:
            out.append(AttemptRefused(f"{where}: no such assignment"))
            continue
        if assignment_id in seen:
            out.append(AttemptRefused(f"{where}: already dialled in this batch"))
            continue
        seen.add(assignment_id)
        assignment, phone = found[assignment_id]
        campaign = campaigns[assignment.campaign_id]
        refusal = None
        if (
            assignment.state != AssignmentState.LEASED
            or assignment.lease_owner != owner
            or assignment.lease_expires_at is None
            or assignment.lease_expires_at <= now
        ):
            refusal = f"{where}: not leased by {owner!r} (state {assignment.state.value})"
        elif phone is None:
            refusal = f"{where}: no phone to dial"
        elif (campaign.company_id, phone.e164) in blocked:
            refusal = f"{where}: {phone.e164} is on the block list"
        elif not open_now[campaign.id]:
            refusal = f"{where}: campaign {campaign.id} is outside its schedule"
        else:
            local = zone(phone_zone(phone.timezone, campaign), "timezone", "phone")
            limit = assignment.max_attempts or campaign.default_max_attempts
            if not within_hours(
                now, local, campaign.calling_hours_start, campaign.calling_hours_end
            ):
                refusal = f"{where}: outside the contact's calling hours ({local.key})"
            elif assignment.attempts >= limit:
                refusal = f"{where}: {assignment.attempts} of {limit} attempts made"
        if refusal is not None or phone is None:
            out.append(AttemptRefused(refusal or f"{where}: no phone to dial"))
            continue
        counted.append({"id": assignment.id, "attempts": assignment.attempts + 1, "retry": True})
        attempts.append(
            {
                "campaign_id": campaign.id,
                "assignment_id": assignment.id,
                "contact_id": assignment.contact_id,
                "phone_id": phone.id,
                "e164": phone.e164,
                "direction": Direction.OUTBOUND,
                "created_at": now,
                "dialed_at": now,
                "trunk": campaign.trunk,
                "lease_owner": owner,
                "field_values": {},
                "survey_answers": {},
            }
        )
        out.append(assignment.id)  # replaced by the attempt's id once written
    if attempts:
        # Bulk statements: one INSERT of many rows (its RETURNING order is not promised, so
        # the ids are matched by assignment) and one UPDATE by primary key for the counts.
        returned = await session.execute(
            insert(Attempt).returning(Attempt.assignment_id, Attempt.id), attempts
        )
        written = {assignment_id: attempt_id for assignment_id, attempt_id in returned}
        await session.execute(update(Assignment), counted)
        out = [a if isinstance(a, AttemptRefused) else written[a] for a in out]
    return out
