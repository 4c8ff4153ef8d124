"""The hopper: which assignments of a campaign to dial next, leased to one claimer.

``claim(campaign_id, n, now, owner, lease_seconds)`` returns up to ``n`` dialable assignments, in
this order: due auto-drop callbacks (seed 004 caída automática), then priority (higher first),
then due retries, then fresh records in assignment order (seed 003). Only while the campaign's
schedule is open (campaign timezone) and inside the contact's calling hours (the phone's
timezone); never a blocked number (seed 003 Robinson list); never past the attempt limit.

Concurrency: on PostgreSQL the candidates are selected ``FOR UPDATE SKIP LOCKED``, so claimers
on separate connections never get the same assignment. SQLite ignores that clause: one dialer
process per SQLite file (store.db.Database takes the lock). A lease expires after
``lease_seconds``: an expired lease is claimable again, so a crashed claimer loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.attempts import record_outcome as _record_outcome
from store.attempts import start_attempt as _start_attempt
from store.campaigns import get_campaign, require_dialable
from store.db import SessionFactory
from store.enums import AssignmentState, CallOutcome
from store.errors import InvalidSetting, OutcomeConflict
from store.models import Assignment, Attempt, BlockedNumber, Campaign, Phone
from store.schedule import WeeklySchedule, zone, zones_within_hours

DEFAULT_LEASE_SECONDS = 300


@dataclass(frozen=True)
class Claimed:
    """What the engine needs to dial one assignment."""

    assignment_id: int
    contact_id: int
    phone_id: int
    e164: str
    timezone: str
    attempts: int
    priority: int
    callback: bool  # an auto-drop callback is due
    lease_expires_at: datetime


def _hours_filter(campaign: Campaign, now: datetime) -> ColumnElement[bool]:
    """Phones whose local time is inside the calling hours, as a filter on the zone name.

    Zones are a short list, so the split is computed in Python once a minute and passed as the
    shorter of IN (inside) / NOT IN (outside). A phone whose zone is unknown follows the
    campaign's clock: if the campaign's zone is inside, NOT IN lets the unknown through."""
    inside, outside = zones_within_hours(
        now, campaign.calling_hours_start, campaign.calling_hours_end
    )
    if campaign.timezone in inside:
        return Phone.timezone.not_in(sorted(outside)) if outside else true()
    return Phone.timezone.in_(sorted(inside))


async def reclaim_expired(session: AsyncSession, campaign_id: int, now: datetime) -> int:
    """Expired leases go back to pending. Rows another claimer holds are skipped."""
    expired = (
        select(Assignment.id)
        .where(
            Assignment.campaign_id == campaign_id,
            Assignment.state == AssignmentState.LEASED,
            Assignment.lease_expires_at <= now,
        )
        .with_for_update(skip_locked=True)
    )
    ids = list(await session.scalars(expired))
    if not ids:
        return 0
    await session.execute(
        update(Assignment)
        .where(Assignment.id.in_(ids))
        .values(state=AssignmentState.PENDING, lease_owner=None, lease_expires_at=None)
    )
    return len(ids)


async def claim_in(
    session: AsyncSession,
    campaign_id: int,
    n: int,
    now: datetime,
    owner: str,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> list[Claimed]:
    """:meth:`Hopper.claim` inside the caller's transaction."""
    if n < 0:
        raise InvalidSetting("claim", "n", f"{n} is negative")
    if lease_seconds <= 0:
        raise InvalidSetting("claim", "lease_seconds", f"{lease_seconds} is not positive")
    if not owner:
        raise InvalidSetting("claim", "owner", "is required")
    campaign = await get_campaign(session, campaign_id)
    await require_dialable(session, campaign)
    if n == 0 or not WeeklySchedule.parse(campaign.schedule).is_open(now, zone(campaign.timezone)):
        return []
    await reclaim_expired(session, campaign_id, now)
    blocked = exists().where(
        BlockedNumber.company_id == campaign.company_id, BlockedNumber.e164 == Phone.e164
    )
    query = (
        select(
            Assignment.id,
            Assignment.contact_id,
            Phone.id,
            Phone.e164,
            Phone.timezone,
            Assignment.attempts,
            Assignment.priority,
            Assignment.lane,
        )
        .join(Phone, Phone.id == Assignment.phone_id)
        .where(
            Assignment.campaign_id == campaign_id,
            Assignment.state == AssignmentState.PENDING,
            or_(Assignment.next_attempt_at.is_(None), Assignment.next_attempt_at <= now),
            Assignment.attempts
            < func.coalesce(Assignment.max_attempts, campaign.default_max_attempts),
            _hours_filter(campaign, now),
            ~blocked,
        )
        .order_by(
            Assignment.lane,
            Assignment.priority.desc(),
            Assignment.retry.desc(),
            Assignment.order_key,
            Assignment.id,
        )
        .limit(n)
        .with_for_update(of=Assignment, skip_locked=True)
    )
    rows = (await session.execute(query)).all()
    if not rows:
        return []
    expires = now + timedelta(seconds=lease_seconds)
    await session.execute(
        update(Assignment)
        .where(Assignment.id.in_([row[0] for row in rows]))
        .values(state=AssignmentState.LEASED, lease_owner=owner, lease_expires_at=expires)
    )
    return [
        Claimed(
            assignment_id=row[0],
            contact_id=row[1],
            phone_id=row[2],
            e164=row[3],
            timezone=row[4],
            attempts=row[5],
            priority=row[6],
            callback=row[7] == 0,
            lease_expires_at=expires,
        )
        for row in rows
    ]


async def release_in(
    session: AsyncSession, assignment_ids: list[int], owner: str, now: datetime
) -> int:
    """Give leased assignments back without a call; idempotent: only ``owner``'s live leases
    are released, anything else is left as it is. Returns how many were released."""
    if not assignment_ids:
        return 0
    result = await session.execute(
        update(Assignment)
        .where(
            Assignment.id.in_(assignment_ids),
            Assignment.state == AssignmentState.LEASED,
            Assignment.lease_owner == owner,
        )
        .values(state=AssignmentState.PENDING, lease_owner=None, lease_expires_at=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def renew_in(
    session: AsyncSession,
    assignment_ids: list[int],
    owner: str,
    now: datetime,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> int:
    """Extend ``owner``'s leases to ``now + lease_seconds``: a call in progress keeps its
    contact leased however long it lasts (an expired lease would let another claim dial the
    same contact during the call). A lease still held is extended even past its expiry (a
    stalled owner; nobody took it meanwhile); one another claimer took is not taken back.
    Returns how many were renewed."""
    if not assignment_ids:
        return 0
    result = await session.execute(
        update(Assignment)
        .where(
            Assignment.id.in_(assignment_ids),
            Assignment.state == AssignmentState.LEASED,
            Assignment.lease_owner == owner,
        )
        .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def take_over_in(
    session: AsyncSession,
    assignment_ids: list[int],
    owner: str,
    new_owner: str,
    now: datetime,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> int:
    """The leases of contacts still on the phone in calls ``owner`` placed pass to
    ``new_owner``, which follows those calls now (``owner`` stopped): leased until
    ``now + lease_seconds``, renewed by ``new_owner`` until the calls' outcomes release them.
    Lapsed ones too, still leased (nobody claimed them since) or put back to pending by a
    claim's reclaim and not dialed since: a contact on the phone must not be claimed. One
    another claimer holds is left to it. Returns how many were taken."""
    if not assignment_ids:
        return 0
    result = await session.execute(
        update(Assignment)
        .where(
            Assignment.id.in_(assignment_ids),
            or_(
                and_(
                    Assignment.state == AssignmentState.LEASED,
                    Assignment.lease_owner.in_([owner, new_owner]),
                ),
                Assignment.state == AssignmentState.PENDING,
            ),
        )
        .values(
            state=AssignmentState.LEASED,
            lease_owner=new_owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


class Hopper:
    """The hopper over a session factory; each call is one transaction."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def claim(
        self,
        campaign_id: int,
        n: int,
        now: datetime,
        owner: str,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> list[Claimed]:
        async with self._sessions() as session, session.begin():
            return await claim_in(session, campaign_id, n, now, owner, lease_seconds)

    async def release(self, assignment_ids: list[int], owner: str, now: datetime) -> int:
        async with self._sessions() as session, session.begin():
            return await release_in(session, assignment_ids, owner, now)

    async def start_attempt(self, assignment_id: int, now: datetime, owner: str) -> Attempt:
        """Write the attempt before the call is placed (raises AttemptRefused when it must
        not be placed now)."""
        async with self._sessions() as session, session.begin():
            return await _start_attempt(session, assignment_id, now, owner=owner)

    async def record_outcome(
        self,
        attempt_id: int,
        outcome: CallOutcome | str,
        now: datetime,
        *,
        result_id: int | None = None,
        hangup_cause: int | None = None,
        amd_result: str | None = None,
        agent_id: int | None = None,
    ) -> Attempt:
        """Idempotent; a conflicting outcome raises OutcomeConflict after logging it."""
        async with self._sessions() as session:
            try:
                attempt = await _record_outcome(
                    session,
                    attempt_id,
                    outcome,
                    now,
                    result_id=result_id,
                    hangup_cause=hangup_cause,
                    amd_result=amd_result,
                    agent_id=agent_id,
                )
            except OutcomeConflict:
                await session.commit()  # keep the audit entry of the refused outcome
                raise
            await session.commit()
            return attempt

    async def pending_count(self, campaign_id: int, now: datetime) -> int:
        """Assignments dialable by time and attempts (ignores hours and block list): a gauge."""
        async with self._sessions() as session:
            campaign = await get_campaign(session, campaign_id)
            count = await session.scalar(
                select(func.count())
                .select_from(Assignment)
                .where(
                    Assignment.campaign_id == campaign_id,
                    Assignment.state == AssignmentState.PENDING,
                    and_(
                        or_(
                            Assignment.next_attempt_at.is_(None), Assignment.next_attempt_at <= now
                        ),
                        Assignment.attempts
                        < func.coalesce(Assignment.max_attempts, campaign.default_max_attempts),
                    ),
                )
            )
            return int(count or 0)
