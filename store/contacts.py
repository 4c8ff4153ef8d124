"""Contacts (customers), their phones, emails, accounts and tags (seed 000).

The bulk path is store.importing; these are the one-record operations (and what tests build
their data with)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.audit import audit
from store.errors import InvalidSetting, NotFound
from store.models import Account, Contact, ContactTag, Email, Phone, Tag
from store.phones import normalise_phone

# Seed 000: "The required data are CUSTOMER TYPE, DOCUMENT TYPE, DOCUMENT NUMBER,
# FIRST SURNAME, FIRST NAME."
REQUIRED = ("customer_type", "document_type", "document_number", "first_surname", "first_name")


async def get_contact(session: AsyncSession, contact_id: int) -> Contact:
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise NotFound("contact", contact_id)
    return contact


async def create_contact(
    session: AsyncSession,
    company_id: int,
    now: datetime,
    *,
    customer_type: str,
    document_type: str,
    document_number: str,
    first_name: str,
    first_surname: str,
    phones: Sequence[str] = (),
    emails: Sequence[str] = (),
    default_country: str | None = None,
    middle_name: str = "",
    second_surname: str = "",
    birth_date: date | None = None,
    social: str = "",
    address: str = "",
    city: str = "",
    region: str = "",
    postal_code: str = "",
    additional_data: dict[str, Any] | None = None,
) -> Contact:
    """A contact with its phones (normalised to E.164, with the number's timezone) and emails.

    Seed 000: the required fields, at least one contact datum, and the document type and number
    unique within the company."""
    values = {
        "customer_type": customer_type.strip(),
        "document_type": document_type.strip(),
        "document_number": document_number.strip(),
        "first_name": first_name.strip(),
        "first_surname": first_surname.strip(),
    }
    for field in REQUIRED:
        if not values[field]:
            raise InvalidSetting("contact", field, "is required")
    if not phones and not emails and not social.strip():
        raise InvalidSetting("contact", "phones", "at least one contact datum is required")
    taken = await session.scalar(
        select(Contact.id).where(
            Contact.company_id == company_id,
            Contact.document_type == values["document_type"],
            Contact.document_number == values["document_number"],
        )
    )
    if taken is not None:
        raise InvalidSetting(
            "contact",
            "document_number",
            f"{values['document_type']} {values['document_number']} is contact {taken}",
        )
    normalised = [
        normalise_phone(raw, default_country, field=f"phones[{i}]") for i, raw in enumerate(phones)
    ]
    contact = Contact(
        company_id=company_id,
        middle_name=middle_name,
        second_surname=second_surname,
        birth_date=birth_date,
        social=social,
        address=address,
        city=city,
        region=region,
        postal_code=postal_code,
        additional_data=dict(additional_data or {}),
        created_at=now,
        updated_at=now,
        **values,
    )
    session.add(contact)
    await session.flush()
    for position, phone in enumerate(normalised):
        session.add(
            Phone(
                contact_id=contact.id, e164=phone.e164, timezone=phone.timezone, position=position
            )
        )
    for address_ in emails:
        if "@" not in address_:
            raise InvalidSetting("contact", "emails", f"{address_!r} is not an email address")
        session.add(Email(contact_id=contact.id, address=address_.strip()))
    audit(session, now, "contact", contact.id, "create", values, company_id=company_id)
    await session.flush()
    return contact


async def add_phone(
    session: AsyncSession,
    contact_id: int,
    raw: str,
    *,
    default_country: str | None = None,
    kind: str = "phone",
) -> Phone:
    await get_contact(session, contact_id)
    normalised = normalise_phone(raw, default_country)
    position = await session.scalar(
        select(func.count()).select_from(Phone).where(Phone.contact_id == contact_id)
    )
    phone = Phone(
        contact_id=contact_id,
        kind=kind,
        e164=normalised.e164,
        timezone=normalised.timezone,
        position=int(position or 0),
    )
    session.add(phone)
    await session.flush()
    return phone


async def phones_of(session: AsyncSession, contact_id: int) -> list[Phone]:
    return list(
        await session.scalars(
            select(Phone).where(Phone.contact_id == contact_id).order_by(Phone.position, Phone.id)
        )
    )


async def add_account(
    session: AsyncSession,
    contact_id: int,
    number: str,
    additional_data: dict[str, Any] | None = None,
) -> Account:
    await get_contact(session, contact_id)
    if not number.strip():
        raise InvalidSetting("account", "number", "is required")
    account = Account(
        contact_id=contact_id, number=number.strip(), additional_data=dict(additional_data or {})
    )
    session.add(account)
    await session.flush()
    return account


async def create_tag(session: AsyncSession, company_id: int, name: str) -> Tag:
    name = name.strip()
    if not name:
        raise InvalidSetting("tag", "name", "is required")
    if (
        await session.scalar(select(Tag.id).where(Tag.company_id == company_id, Tag.name == name))
        is not None
    ):
        raise InvalidSetting("tag", "name", f"{name!r} exists")
    tag = Tag(company_id=company_id, name=name)
    session.add(tag)
    await session.flush()
    return tag


async def tag_contact(session: AsyncSession, contact_id: int, tag_id: int) -> None:
    contact = await get_contact(session, contact_id)
    tag = await session.get(Tag, tag_id)
    if tag is None or tag.company_id != contact.company_id:
        raise InvalidSetting("contact tag", "tag_id", f"no tag {tag_id} in the contact's company")
    if await session.get(ContactTag, (contact_id, tag_id)) is None:
        session.add(ContactTag(contact_id=contact_id, tag_id=tag_id))
        await session.flush()


async def tags_of(session: AsyncSession, contact_id: int) -> list[str]:
    return list(
        await session.scalars(
            select(Tag.name)
            .join(ContactTag, ContactTag.tag_id == Tag.id)
            .where(ContactTag.contact_id == contact_id)
            .order_by(Tag.name)
        )
    )
