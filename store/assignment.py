"""Assigning contacts from the contact database to campaigns (seed 003), giving unused records
back, and the month-end regeneration of a campaign's records (seed 004).

Rules (seed 003, "Przydzielanie kontaktów do kampanii"):

- Contacts are picked by a filter: import batch, name (a fragment of any name field), region and
  city (the full name, exactly), address and postal code (a fragment), phone prefix (the start
  of the contact's first phone, E.164, ``+`` optional). Fragments ignore ASCII case.
- A contact is assigned once to a campaign (it is locked: one assignment per campaign and
  contact). Assigning again adds only contacts not yet in the campaign, and the report counts
  only those newly added.
- By default only free contacts are taken: those without a live (pending or leased) assignment
  in another campaign (seed 003 "Pokaż tylko wolne", "kontakty wolne").
- Optionally at most ``limit`` records, or the ``limit`` least recently used (oldest
  ``last_used_at`` first, never used before all).
- A contact with a phone on the block list ("Robinson" list) is never assigned; nor is a
  contact without a phone (there is nothing to dial).
- Records are dialled in assignment order, by default sorted by address, then city (the
  database's collation; ties by contact id).
- Assigning sets the contact's last used date (``last_used_at``) to now and keeps the one before
  (``previous_last_used_at``, on the contact and on the assignment). When a campaign reaches its
  success limit, its unused records (pending, never dialled) return to the pool with the
  contact's last used date restored, so the date tells the real last use.

Month-end regeneration (seed 004): every record of the campaign goes back to pending with its
attempts reset; with ``blank`` the last result and outcome are cleared, with ``keep`` they stay.

Every function works inside the caller's transaction and returns a small report of counts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from store.audit import audit
from store.campaigns import get_campaign
from store.db import UTCDateTime
from store.enums import AssignmentState, MonthEndRegeneration
from store.errors import InvalidSetting, NotFound
from store.models import (
    Assignment,
    Attempt,
    AuditEntry,
    BlockedNumber,
    Campaign,
    Contact,
    ImportBatch,
    Phone,
    TypificationResult,
)
from store.schedule import zone

# Seed 003: "domyślnie rekordy sortowane są po polach Adres i Miasto".
DEFAULT_ORDER: tuple[str, ...] = ("address", "city")
ORDER_FIELDS: dict[str, InstrumentedAttribute[Any]] = {
    "address": Contact.address,
    "city": Contact.city,
    "region": Contact.region,
    "postal_code": Contact.postal_code,
    "first_surname": Contact.first_surname,
    "first_name": Contact.first_name,
    "document_number": Contact.document_number,
    "created_at": Contact.created_at,
}
LIVE_STATES = (AssignmentState.PENDING, AssignmentState.LEASED)
_PHONE_PREFIX = re.compile(r"\+?[0-9]{1,15}")
REGENERATION_ACTION = "month_end_regeneration"


@dataclass(frozen=True)
class ContactFilter:
    """Which contacts of the company to take; ``None`` (or blank) means no condition."""

    import_batch_id: int | None = None
    name: str | None = None
    region: str | None = None
    address: str | None = None
    city: str | None = None
    postal_code: str | None = None
    phone_prefix: str | None = None


@dataclass(frozen=True)
class AssignReport:
    """What an assignment did. ``added`` counts only contacts newly added to the campaign."""

    campaign_id: int
    matched: int  # contacts of the company the filter selects
    added: int
    already_assigned: int  # already in this campaign (assigned once, locked)
    in_other_campaign: int  # live in another campaign (not free), when only free ones are taken
    blocked: int  # a phone on the block list
    without_phone: int
    not_taken: int  # eligible, but beyond the limit


@dataclass(frozen=True)
class ReturnReport:
    """Records given back to the pool (seed 003)."""

    campaign_id: int
    returned: int
    dates_restored: int  # contacts whose last used date went back to the previous one
    in_flight: int  # leased (a call may be in flight): left in the campaign


@dataclass(frozen=True)
class RegenerationReport:
    """A month-end regeneration (seed 004)."""

    campaign_id: int
    mode: MonthEndRegeneration
    regenerated: int
    results_cleared: int
    in_flight: int  # leased: left alone


@dataclass(frozen=True)
class CampaignCounts:
    """Seed 003 "Wszystkie kontakty" / "Nieużyte kontakty" of a campaign."""

    total: int
    unused: int  # pending or leased: not finished


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _phone_prefix(value: str) -> str:
    digits = re.sub(r"[\s\-().]", "", value)
    if not _PHONE_PREFIX.fullmatch(digits):
        raise InvalidSetting(
            "contact filter", "phone_prefix", f"{value!r} is not the start of a phone number"
        )
    return digits if digits.startswith("+") else "+" + digits


def first_phone_id() -> ColumnElement[int | None]:
    """The contact's first phone (``Telefon 1``): lowest position, then lowest id."""
    return (
        select(Phone.id)
        .where(Phone.contact_id == Contact.id)
        .order_by(Phone.position, Phone.id)
        .limit(1)
        .scalar_subquery()
    )


async def filter_conditions(
    session: AsyncSession, company_id: int, contact_filter: ContactFilter
) -> list[ColumnElement[bool]]:
    """The WHERE conditions on :class:`Contact` for ``contact_filter`` within the company.

    Raises InvalidSetting naming the field for a value that cannot match anything sensible."""
    f = contact_filter
    where: list[ColumnElement[bool]] = [Contact.company_id == company_id]
    if f.import_batch_id is not None:
        batch_company = await session.scalar(
            select(ImportBatch.company_id).where(ImportBatch.id == f.import_batch_id)
        )
        if batch_company != company_id:
            raise InvalidSetting(
                "contact filter",
                "import_batch_id",
                f"no import batch {f.import_batch_id} in company {company_id}",
            )
        where.append(Contact.import_batch_id == f.import_batch_id)
    name = _text(f.name)
    if name is not None:
        names = (Contact.first_name, Contact.middle_name, Contact.first_surname)
        for word in name.split():
            where.append(
                or_(
                    *(c.icontains(word, autoescape=True) for c in names),
                    Contact.second_surname.icontains(word, autoescape=True),
                )
            )
    region = _text(f.region)
    if region is not None:
        where.append(Contact.region == region)
    city = _text(f.city)
    if city is not None:
        where.append(Contact.city == city)
    address = _text(f.address)
    if address is not None:
        where.append(Contact.address.icontains(address, autoescape=True))
    postal_code = _text(f.postal_code)
    if postal_code is not None:
        where.append(Contact.postal_code.icontains(postal_code, autoescape=True))
    prefix = _text(f.phone_prefix)
    if prefix is not None:
        first = (
            select(Phone.e164)
            .where(Phone.contact_id == Contact.id)
            .order_by(Phone.position, Phone.id)
            .limit(1)
            .scalar_subquery()
        )
        where.append(first.startswith(_phone_prefix(prefix), autoescape=True))
    return where


async def count_matching(
    session: AsyncSession, company_id: int, contact_filter: ContactFilter = ContactFilter()
) -> int:
    """How many contacts of the company the filter selects (seed 003 "Odśwież liczbę")."""
    where = await filter_conditions(session, company_id, contact_filter)
    return int(await session.scalar(select(func.count()).select_from(Contact).where(*where)) or 0)


def _order_columns(order: Sequence[str]) -> list[InstrumentedAttribute[Any]]:
    unknown = [name for name in order if name not in ORDER_FIELDS]
    if unknown:
        raise InvalidSetting(
            "assignment",
            "order",
            f"{unknown[0]!r} is not a sort field (one of {', '.join(sorted(ORDER_FIELDS))})",
        )
    return [ORDER_FIELDS[name] for name in order]


async def assign_contacts(
    session: AsyncSession,
    campaign_id: int,
    now: datetime,
    contact_filter: ContactFilter = ContactFilter(),
    *,
    limit: int | None = None,
    least_recently_used: bool = False,
    order: Sequence[str] = DEFAULT_ORDER,
    only_free: bool = True,
    user_id: int | None = None,
) -> AssignReport:
    """Assign the contacts ``contact_filter`` selects to the campaign (seed 003).

    ``limit``: at most that many new records; with ``least_recently_used`` the ``limit`` whose
    last use is oldest (never used first). New records get order keys after the campaign's
    last, sorted by ``order``."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidSetting("assignment", "limit", f"{limit!r} is not a positive whole number")
    if least_recently_used and limit is None:
        raise InvalidSetting("assignment", "limit", "least_recently_used needs a limit")
    order_columns = _order_columns(order)
    # Lock the campaign row: concurrent assignments to one campaign queue up here, so order
    # keys never collide and the once-per-campaign rule holds (PostgreSQL; SQLite has one
    # writer anyway).
    campaign = await session.scalar(
        select(Campaign).where(Campaign.id == campaign_id).with_for_update()
    )
    if campaign is None:
        raise NotFound("campaign", campaign_id)
    where = await filter_conditions(session, campaign.company_id, contact_filter)

    in_campaign = exists().where(
        Assignment.contact_id == Contact.id, Assignment.campaign_id == campaign_id
    )
    other = Assignment.__table__.alias("other")
    busy: ColumnElement[bool] = exists().where(
        other.c.contact_id == Contact.id,
        other.c.campaign_id != campaign_id,
        other.c.state.in_(LIVE_STATES),
    )
    if not only_free:
        busy = false()
    blocked = exists().where(
        Phone.contact_id == Contact.id,
        BlockedNumber.company_id == campaign.company_id,
        BlockedNumber.e164 == Phone.e164,
    )
    phoneless = ~exists().where(Phone.contact_id == Contact.id)

    def flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    # Each skipped contact is counted once, under the first reason that applies.
    counts = (
        await session.execute(
            select(
                func.count(),
                flag(in_campaign),
                flag(and_(~in_campaign, blocked)),
                flag(and_(~in_campaign, ~blocked, busy)),
                flag(and_(~in_campaign, ~blocked, ~busy, phoneless)),
            )
            .select_from(Contact)
            .where(*where)
        )
    ).one()
    matched, already, n_blocked, n_busy, n_phoneless = (int(v) for v in counts)
    eligible_total = matched - already - n_blocked - n_busy - n_phoneless

    top = int(
        await session.scalar(
            select(func.max(Assignment.order_key)).where(Assignment.campaign_id == campaign_id)
        )
        or 0
    )
    picked = (
        select(Contact.id)
        .where(*where, ~in_campaign, ~blocked, ~busy, ~phoneless)
        .order_by(
            *([Contact.last_used_at.asc().nulls_first()] if least_recently_used else []),
            *order_columns,
            Contact.id,
        )
    )
    if limit is not None:
        picked = picked.limit(limit)
    chosen = picked.subquery("chosen")
    position = func.row_number().over(order_by=[*order_columns, Contact.id])
    rows = (
        select(
            literal(campaign_id).label("campaign_id"),
            Contact.id.label("contact_id"),
            first_phone_id().label("phone_id"),
            literal(AssignmentState.PENDING.value).label("state"),
            literal(1).label("lane"),
            literal(0).label("priority"),
            literal(False).label("retry"),
            (position + top).label("order_key"),
            literal(0).label("attempts"),
            literal(now, UTCDateTime()).label("last_used_at"),
            Contact.last_used_at.label("previous_last_used_at"),
            literal(now, UTCDateTime()).label("created_at"),
        )
        .select_from(Contact)
        .join(chosen, chosen.c.id == Contact.id)
    )
    columns = [
        "campaign_id",
        "contact_id",
        "phone_id",
        "state",
        "lane",
        "priority",
        "retry",
        "order_key",
        "attempts",
        "last_used_at",
        "previous_last_used_at",
        "created_at",
    ]
    await session.execute(insert(Assignment).from_select(columns, rows))
    new_contacts = select(Assignment.contact_id).where(
        Assignment.campaign_id == campaign_id, Assignment.order_key > top
    )
    added = int(
        await session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.campaign_id == campaign_id, Assignment.order_key > top)
        )
        or 0
    )
    if added:
        await session.execute(
            update(Contact)
            .where(Contact.id.in_(new_contacts))
            .values(previous_last_used_at=Contact.last_used_at, last_used_at=now)
            .execution_options(synchronize_session=False)
        )
    report = AssignReport(
        campaign_id=campaign_id,
        matched=matched,
        added=added,
        already_assigned=already,
        in_other_campaign=n_busy,
        blocked=n_blocked,
        without_phone=n_phoneless,
        not_taken=eligible_total - added,
    )
    audit(
        session,
        now,
        "campaign",
        campaign_id,
        "assign_contacts",
        {
            "filter": {f.name: getattr(contact_filter, f.name) for f in fields(contact_filter)},
            "limit": limit,
            "least_recently_used": least_recently_used,
            "order": list(order),
            "only_free": only_free,
            "added": added,
        },
        user_id=user_id,
        company_id=campaign.company_id,
    )
    await session.flush()
    return report


async def return_unused(
    session: AsyncSession, campaign_id: int, now: datetime, *, user_id: int | None = None
) -> ReturnReport:
    """Give the campaign's pending records back to the pool (state ``returned``; the hopper
    never claims them). A record never dialled gets its contact's last used date restored to
    the one before the assignment, unless the contact was used elsewhere since. Leased records
    (a call may be in flight) stay. Calling it again returns nothing more."""
    campaign = await get_campaign(session, campaign_id)
    pending = and_(
        Assignment.campaign_id == campaign_id, Assignment.state == AssignmentState.PENDING
    )
    unused = (
        select(Assignment.previous_last_used_at)
        .where(
            pending,
            Assignment.contact_id == Contact.id,
            Assignment.attempts == 0,
            Assignment.last_used_at == Contact.last_used_at,
        )
        .limit(1)
        .scalar_subquery()
    )
    restorable = exists().where(
        pending,
        Assignment.contact_id == Contact.id,
        Assignment.attempts == 0,
        Assignment.last_used_at == Contact.last_used_at,
    )
    restored = await session.execute(
        update(Contact)
        .where(restorable)
        .values(last_used_at=unused)
        .execution_options(synchronize_session=False)
    )
    returned = await session.execute(
        update(Assignment)
        .where(pending)
        .values(
            state=AssignmentState.RETURNED,
            lease_owner=None,
            lease_expires_at=None,
            next_attempt_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    in_flight = await _leased_count(session, campaign_id)
    report = ReturnReport(
        campaign_id=campaign_id,
        returned=int(getattr(returned, "rowcount", 0) or 0),
        dates_restored=int(getattr(restored, "rowcount", 0) or 0),
        in_flight=in_flight,
    )
    if report.returned:
        audit(
            session,
            now,
            "campaign",
            campaign_id,
            "return_unused",
            {"returned": report.returned, "dates_restored": report.dates_restored},
            user_id=user_id,
            company_id=campaign.company_id,
        )
    await session.flush()
    return report


async def _leased_count(session: AsyncSession, campaign_id: int) -> int:
    """Assignments of the campaign leased to a dialer now: their calls are in flight."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(
                Assignment.campaign_id == campaign_id,
                Assignment.state == AssignmentState.LEASED,
            )
        )
        or 0
    )


async def success_count(session: AsyncSession, campaign_id: int) -> int:
    """Contacts of the campaign with a call typified under a success result."""
    return int(
        await session.scalar(
            select(func.count(func.distinct(Attempt.contact_id)))
            .join(TypificationResult, TypificationResult.id == Attempt.result_id)
            .where(Attempt.campaign_id == campaign_id, TypificationResult.is_success)
        )
        or 0
    )


async def return_if_success_limit_reached(
    session: AsyncSession, campaign_id: int, now: datetime
) -> ReturnReport | None:
    """Seed 003: once the campaign has ``success_limit`` successes its unused records return to
    the pool. None when the campaign has no limit or has not reached it."""
    campaign = await get_campaign(session, campaign_id)
    if campaign.success_limit is None:
        return None
    if await success_count(session, campaign_id) < campaign.success_limit:
        return None
    return await return_unused(session, campaign_id, now)


async def regenerate(
    session: AsyncSession, campaign_id: int, now: datetime, *, user_id: int | None = None
) -> RegenerationReport:
    """Seed 004 month-end regeneration, per the campaign's ``month_end_regeneration``: every
    record not in flight and not returned to the pool goes back to pending with its attempts
    reset; ``blank`` also clears its last result and outcome (and the attempt limit a result
    set), ``keep`` keeps them."""
    campaign = await get_campaign(session, campaign_id)
    mode = MonthEndRegeneration(campaign.month_end_regeneration)
    target = and_(
        Assignment.campaign_id == campaign_id,
        Assignment.state.in_([AssignmentState.PENDING, AssignmentState.DONE]),
    )
    cleared = 0
    if mode is MonthEndRegeneration.BLANK:
        cleared = int(
            await session.scalar(
                select(func.count())
                .select_from(Assignment)
                .where(
                    target,
                    or_(
                        Assignment.last_result_id.is_not(None), Assignment.last_outcome.is_not(None)
                    ),
                )
            )
            or 0
        )
    values: dict[str, object] = {
        "state": AssignmentState.PENDING,
        "attempts": 0,
        "retry": False,
        "next_attempt_at": None,
    }
    if mode is MonthEndRegeneration.BLANK:
        values.update(last_result_id=None, last_outcome=None, max_attempts=None)
    result = await session.execute(
        update(Assignment)
        .where(target)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    in_flight = await _leased_count(session, campaign_id)
    report = RegenerationReport(
        campaign_id=campaign_id,
        mode=mode,
        regenerated=int(getattr(result, "rowcount", 0) or 0),
        results_cleared=cleared,
        in_flight=in_flight,
    )
    audit(
        session,
        now,
        "campaign",
        campaign_id,
        REGENERATION_ACTION,
        {"mode": mode, "regenerated": report.regenerated, "results_cleared": cleared},
        user_id=user_id,
        company_id=campaign.company_id,
    )
    await session.flush()
    return report


async def regenerate_if_new_month(
    session: AsyncSession, campaign_id: int, now: datetime
) -> RegenerationReport | None:
    """Regenerate once per calendar month in the campaign's timezone: when the last
    regeneration (or, before the first, the campaign's creation) fell in an earlier month.
    None when nothing was due. Safe to call on every tick."""
    campaign = await get_campaign(session, campaign_id)
    last = await session.scalar(
        select(func.max(AuditEntry.at)).where(
            AuditEntry.entity == "campaign",
            AuditEntry.entity_id == campaign_id,
            AuditEntry.action == REGENERATION_ACTION,
        )
    )
    tz = zone(campaign.timezone)
    since = (last or campaign.created_at).astimezone(tz)
    here = now.astimezone(tz)
    if (here.year, here.month) <= (since.year, since.month):
        return None
    return await regenerate(session, campaign_id, now)


async def campaign_counts(session: AsyncSession, campaign_id: int) -> CampaignCounts:
    """All records of the campaign and the unused ones (not finished, not returned)."""
    total, unused = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((Assignment.state.in_(LIVE_STATES), 1), else_=0)), 0),
            ).where(Assignment.campaign_id == campaign_id)
        )
    ).one()
    return CampaignCounts(total=int(total), unused=int(unused))
