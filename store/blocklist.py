"""The block list ("Robinson" list, seed 003): blocked numbers are never assigned nor dialled.

Per company, by E.164 number. The hopper filters on it when claiming, and store.attempts checks
it again when the call is about to be placed (a number blocked a second ago must not ring)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from store.audit import audit
from store.models import BlockedNumber
from store.phones import normalise_phone


async def block_number(
    session: AsyncSession,
    company_id: int,
    number: str,
    now: datetime,
    *,
    reason: str = "",
    default_country: str | None = None,
    user_id: int | None = None,
) -> BlockedNumber:
    """Block ``number`` (any format phonenumbers reads); blocking twice keeps the first entry."""
    e164 = normalise_phone(number, default_country, field="number").e164
    existing = await session.scalar(
        select(BlockedNumber).where(
            BlockedNumber.company_id == company_id, BlockedNumber.e164 == e164
        )
    )
    if existing is not None:
        return existing
    entry = BlockedNumber(company_id=company_id, e164=e164, reason=reason, created_at=now)
    session.add(entry)
    await session.flush()
    audit(
        session,
        now,
        "blocked_number",
        entry.id,
        "block",
        {"e164": e164, "reason": reason},
        user_id=user_id,
        company_id=company_id,
    )
    return entry


async def unblock_number(
    session: AsyncSession, company_id: int, e164: str, now: datetime, *, user_id: int | None = None
) -> bool:
    entry = await session.scalar(
        select(BlockedNumber).where(
            BlockedNumber.company_id == company_id, BlockedNumber.e164 == e164
        )
    )
    if entry is None:
        return False
    audit(
        session,
        now,
        "blocked_number",
        entry.id,
        "unblock",
        {"e164": e164},
        user_id=user_id,
        company_id=company_id,
    )
    await session.delete(entry)
    await session.flush()
    return True


async def is_blocked(session: AsyncSession, company_id: int, e164: str) -> bool:
    return (
        await session.scalar(
            select(BlockedNumber.id).where(
                BlockedNumber.company_id == company_id, BlockedNumber.e164 == e164
            )
        )
    ) is not None
