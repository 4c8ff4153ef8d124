"""Test data for the store tests: a company, a campaign that can dial, contacts in it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.campaigns import create_campaign, create_company
from store.contacts import create_contact
from store.enums import OperationType
from store.models import Assignment, Campaign, Company, Contact, Phone

# A Wednesday: 10:00 in Bogotá (UTC-5, no DST) and in New York (EST, UTC-5).
NOW = datetime(2025, 3, 5, 15, 0, tzinfo=UTC)

BOGOTA_MOBILES = [f"+57310{n:07d}" for n in range(1_000_000, 1_100_000)]


async def company_and_campaign(session: AsyncSession, **settings: Any) -> tuple[Company, Campaign]:
    company = await create_company(session, "Acme", NOW)
    settings.setdefault("trunk", "trunk-out")
    settings.setdefault("timezone", "America/Bogota")
    campaign = await create_campaign(
        session, company.id, "Collections March", OperationType.COLLECTIONS, NOW, **settings
    )
    return company, campaign


async def add_assignment(
    session: AsyncSession,
    campaign: Campaign,
    number: str,
    *,
    document: str | None = None,
    order_key: int = 0,
    priority: int = 0,
    **fields: Any,
) -> Assignment:
    """A contact with one phone, assigned to ``campaign``."""
    contact = await create_contact(
        session,
        campaign.company_id,
        NOW,
        customer_type="person",
        document_type="CC",
        document_number=document or number,
        first_name="Ana",
        first_surname="Pérez",
        phones=[number],
    )
    phone = await session.scalar(select(Phone.id).where(Phone.contact_id == contact.id))
    assert phone is not None
    assignment = Assignment(
        campaign_id=campaign.id,
        contact_id=contact.id,
        phone_id=phone,
        order_key=order_key,
        priority=priority,
        created_at=NOW,
        **fields,
    )
    session.add(assignment)
    await session.flush()
    return assignment


async def seed_assignments(session: AsyncSession, campaign: Campaign, count: int) -> None:
    """``count`` contacts, each with one Bogotá mobile, assigned in order (bulk inserts)."""
    contacts = [
        {
            "company_id": campaign.company_id,
            "customer_type": "person",
            "document_type": "CC",
            "document_number": str(10_000_000 + i),
            "first_name": "Ana",
            "first_surname": "Pérez",
            "additional_data": {},
            "created_at": NOW,
            "updated_at": NOW,
        }
        for i in range(count)
    ]
    contact_ids = list(await session.scalars(insert(Contact).returning(Contact.id), contacts))
    phones = [
        {"contact_id": cid, "e164": f"+57310{2_000_000 + i}", "timezone": "America/Bogota"}
        for i, cid in enumerate(contact_ids)
    ]
    phone_ids = list(await session.scalars(insert(Phone).returning(Phone.id), phones))
    await session.execute(
        insert(Assignment),
        [
            {
                "campaign_id": campaign.id,
                "contact_id": cid,
                "phone_id": pid,
                "order_key": i,
                "created_at": NOW,
            }
            for i, (cid, pid) in enumerate(zip(contact_ids, phone_ids, strict=True))
        ],
    )
