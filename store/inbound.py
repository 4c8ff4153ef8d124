"""Inbound calls in the campaign records (issue 6): DIDs, the caller's contact, attempts, tickets.

An inbound call shares the outbound records: one ``attempt`` (direction inbound) per call, with
its queue wait, agent, times, outcome and typification (``store.attempts.typify`` applies to it
as to any attempt), under a ``ticket``: the contact's open ticket in the campaign, else a new
one. A caller nobody knows gets an attempt without contact or ticket.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from store.attempts import record_outcome
from store.campaigns import get_campaign
from store.enums import CallOutcome, Direction, TicketState
from store.errors import InvalidSetting
from store.models import (
    AgentContact,
    Assignment,
    Attempt,
    Campaign,
    CampaignDid,
    CampaignLink,
    CampaignMember,
    Contact,
    Phone,
    Ticket,
)
from store.phones import normalise_phone
from store.work import create_ticket

UNREACHED_INBOUND_NOTE = (
    "Asterisk could not reach the dialer's FastAGI: the caller heard the unavailable message"
)


async def set_dids(session: AsyncSession, campaign_id: int, dids: list[str]) -> None:
    """The campaign's inbound numbers, replacing the ones it had. A DID belongs to one campaign."""
    await get_campaign(session, campaign_id)
    wanted = [_did(d) for d in dids]
    for did in wanted:
        other = await session.get(CampaignDid, did)
        if other is not None and other.campaign_id != campaign_id:
            raise InvalidSetting(
                "campaign", "dids", f"{did} already belongs to campaign {other.campaign_id}"
            )
    for row in await session.scalars(
        select(CampaignDid).where(CampaignDid.campaign_id == campaign_id)
    ):
        if row.did not in wanted:
            await session.delete(row)
    for did in wanted:
        if await session.get(CampaignDid, did) is None:
            session.add(CampaignDid(did=did, campaign_id=campaign_id))
    await session.flush()


def _did(value: str) -> str:
    """A DID as the dialplan passes it (``${EXTEN}``): digits, the E.164 '+' dropped."""
    digits = value.strip().lstrip("+")
    if not digits.isdigit():
        raise InvalidSetting("campaign", "dids", f"{value!r} is not a number")
    return digits


async def campaign_dids(session: AsyncSession, campaign_id: int) -> list[str]:
    """The campaign's inbound numbers, sorted."""
    await get_campaign(session, campaign_id)
    rows = await session.scalars(
        select(CampaignDid.did).where(CampaignDid.campaign_id == campaign_id)
    )
    return sorted(rows)


async def finished_inbound_calls(
    session: AsyncSession, campaign_id: int, since: datetime
) -> list[tuple[CallOutcome, float | None, datetime | None, datetime | None]]:
    """The campaign's inbound attempts created since ``since`` that have their outcome:
    (outcome, queue wait, connected at, ended at), for the supervisor's figures of the day."""
    rows = await session.execute(
        select(
            Attempt.outcome, Attempt.queue_wait_seconds, Attempt.connected_at, Attempt.ended_at
        ).where(
            Attempt.campaign_id == campaign_id,
            Attempt.direction == Direction.INBOUND,
            Attempt.created_at >= since,
            Attempt.outcome.is_not(None),
        )
    )
    return [(o, w, c, e) for o, w, c, e in rows.all() if o is not None]


async def dids(session: AsyncSession) -> dict[str, int]:
    """Every DID and its campaign."""
    rows = await session.execute(select(CampaignDid.did, CampaignDid.campaign_id))
    return {did: campaign_id for did, campaign_id in rows.all()}


async def links(session: AsyncSession) -> list[tuple[int, int, int]]:
    """Seed 000 "Call Queues linked to this Campaign": (campaign, linked campaign, penalty)."""
    rows = await session.execute(
        select(CampaignLink.campaign_id, CampaignLink.linked_campaign_id, CampaignLink.penalty)
    )
    return [(a, b, p) for a, b, p in rows.all()]


async def memberships(session: AsyncSession) -> list[tuple[int, int]]:
    """(campaign, user) for every campaign member: which agents campaigns share."""
    rows = await session.execute(select(CampaignMember.campaign_id, CampaignMember.user_id))
    return [(c, u) for c, u in rows.all()]


async def inbound_campaigns(session: AsyncSession) -> list[Campaign]:
    """Active campaigns with a queue: those whose queues agents join and DIDs reach."""
    return list(
        await session.scalars(
            select(Campaign)
            .where(Campaign.active, Campaign.queue.is_not(None))
            .order_by(Campaign.id)
        )
    )


@dataclass(frozen=True)
class Caller:
    """Who is calling, as the records know them."""

    contact_id: int | None
    phone_id: int | None
    assigned_user_id: int | None  # seed 000: the contact's assigned user, if any


async def identify_caller(session: AsyncSession, campaign_id: int, number: str) -> Caller:
    """The contact whose phones include ``number`` (any of their phones), in the campaign's
    company; their assigned user for this campaign: the assignment's, else an agent owning the
    contact here or in all campaigns, else the contact's own (seed 000 "Save assigned user")."""
    campaign = await get_campaign(session, campaign_id)
    e164 = _e164(number)
    if e164 is None:
        return Caller(None, None, None)
    row = (
        await session.execute(
            select(Contact, Phone.id)
            .join(Phone, Phone.contact_id == Contact.id)
            .where(Contact.company_id == campaign.company_id, Phone.e164 == e164)
            .order_by(Contact.id, Phone.position)
            .limit(1)
        )
    ).first()
    if row is None:
        return Caller(None, None, None)
    contact, phone_id = row
    user = await session.scalar(
        select(Assignment.assigned_user_id).where(
            Assignment.campaign_id == campaign_id,
            Assignment.contact_id == contact.id,
            Assignment.assigned_user_id.is_not(None),
        )
    )
    if user is None:
        user = await session.scalar(
            select(AgentContact.user_id)
            .where(
                AgentContact.contact_id == contact.id,
                AgentContact.campaign_id.is_(None) | (AgentContact.campaign_id == campaign_id),
            )
            .order_by(AgentContact.campaign_id.is_(None), AgentContact.id)
            .limit(1)
        )
    if user is None:
        user = contact.assigned_user_id
    return Caller(contact.id, phone_id, user)


def _attempt_number(caller_number: str) -> str:
    """The caller's number as an inbound attempt keeps it: E.164 when it reads as a number,
    else as written (cut to the column's 20 characters)."""
    return _e164(caller_number) or caller_number[:20]


def _e164(number: str) -> str | None:
    digits = "".join(ch for ch in number if ch.isdigit())
    if not digits:
        return None
    # Caller ids come as E.164 digits with or without '+' (the trunk's CALLERID(num)); a number
    # the phone library refuses is still matched as written.
    try:
        return normalise_phone("+" + digits).e164
    except InvalidSetting:
        return "+" + digits


async def start_inbound_attempt(
    session: AsyncSession,
    campaign_id: int,
    caller_number: str,
    caller: Caller,
    now: datetime,
    *,
    owner: str | None = None,
    channel_uniqueid: str | None = None,
) -> Attempt:
    """The attempt of an inbound call as it arrives, under the contact's open ticket in the
    campaign or a new one (issue 6: "every inbound call gets an attempt and a ticket").
    ``owner`` (the dialer process) and the caller's channel Uniqueid let a restarted dialer
    find the attempt again (store.attempts.open_attempts)."""
    campaign = await get_campaign(session, campaign_id)
    ticket_id = await _ticket_of(session, campaign, caller, now)
    attempt = Attempt(
        campaign_id=campaign_id,
        contact_id=caller.contact_id,
        phone_id=caller.phone_id,
        e164=_attempt_number(caller_number),
        direction=Direction.INBOUND,
        created_at=now,
        dialed_at=now,
        answered_at=now,
        ticket_id=ticket_id,
        lease_owner=owner,
        channel_uniqueid=channel_uniqueid,
    )
    session.add(attempt)
    await session.flush()
    return attempt


async def _ticket_of(
    session: AsyncSession, campaign: Campaign, caller: Caller, now: datetime
) -> int | None:
    """The known caller's open ticket in the campaign, else a new one; none for a stranger."""
    if caller.contact_id is None:
        return None
    ticket = await session.scalar(
        select(Ticket)
        .where(
            Ticket.contact_id == caller.contact_id,
            Ticket.campaign_id == campaign.id,
            Ticket.state == TicketState.OPEN,
        )
        .order_by(Ticket.id.desc())
        .limit(1)
    )
    if ticket is None:
        ticket = await create_ticket(
            session,
            campaign.company_id,
            caller.contact_id,
            now,
            campaign_id=campaign.id,
            subject="Inbound call",
            assigned_user_id=caller.assigned_user_id,
        )
    return ticket.id


async def recorded_channels(session: AsyncSession, uniqueids: Collection[str]) -> set[str]:
    """Of these caller channel Uniqueids, those some attempt already has (ux_attempt_inbound_
    channel): the calls a dialer already recorded."""
    if not uniqueids:
        return set()
    query = select(Attempt.channel_uniqueid).where(Attempt.channel_uniqueid.in_(set(uniqueids)))
    return {u for u in await session.scalars(query) if u is not None}


async def record_unreached_inbound(
    session: AsyncSession,
    campaign_id: int,
    caller_number: str,
    caller: Caller,
    now: datetime,
    *,
    channel_uniqueid: str,
    owner: str | None = None,
) -> int | None:
    """An inbound call Asterisk could not bring to any dialer's FastAGI: the caller heard
    dialer/unavailable and hung up, and no handler ran. Its attempt (outcome ``unreached``,
    under the caller's ticket) is written once, by whichever dialer heard of it first: every
    dialer on the Asterisk gets the fallback's UserEvent, and the caller's channel Uniqueid is
    unique among attempts (ux_attempt_inbound_channel). The attempt id, or None when another
    dialer has written it."""
    dialect = session.get_bind().dialect.name
    insert_into = pg_insert if dialect == "postgresql" else sqlite_insert
    values: dict[str, object] = {
        "campaign_id": campaign_id,
        "contact_id": caller.contact_id,
        "phone_id": caller.phone_id,
        "e164": _attempt_number(caller_number),
        "direction": Direction.INBOUND,
        "created_at": now,
        "dialed_at": now,
        "ended_at": now,
        "outcome": CallOutcome.UNREACHED,
        "lease_owner": owner,
        "channel_uniqueid": channel_uniqueid or None,
        "comments": UNREACHED_INBOUND_NOTE,
    }
    statement = (
        insert_into(Attempt)
        .values(values)
        .on_conflict_do_nothing(
            index_elements=[Attempt.channel_uniqueid],
            index_where=Attempt.channel_uniqueid.is_not(None),
        )
        .returning(Attempt.id)
    )
    attempt_id = await session.scalar(statement)
    if attempt_id is None:
        return None
    campaign = await get_campaign(session, campaign_id)
    attempt = await session.get(Attempt, attempt_id)
    assert attempt is not None
    attempt.ticket_id = await _ticket_of(session, campaign, caller, now)
    await session.flush()
    return attempt_id


async def finish_inbound_attempt(
    session: AsyncSession,
    attempt_id: int,
    outcome: CallOutcome,
    now: datetime,
    *,
    queue_wait_seconds: float | None,
    agent_id: int | None = None,
    connected_at: datetime | None = None,
    hangup_cause: int | None = None,
) -> Attempt:
    """How the inbound call ended: answered (talked to an agent; the typification follows),
    abandoned in the queue (with its wait) or closed out of hours. Idempotent, like any outcome
    (``store.attempts.record_outcome``)."""
    return await record_outcome(
        session,
        attempt_id,
        outcome,
        now,
        hangup_cause=hangup_cause,
        agent_id=agent_id,
        connected_at=connected_at,
        queue_wait_seconds=queue_wait_seconds,
    )
