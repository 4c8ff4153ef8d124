"""Users, roles, API tokens, campaign membership and agent-contact ownership."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from store.audit import audit
from store.enums import Role
from store.errors import InvalidSetting, NotFound
from store.models import AgentContact, Campaign, CampaignMember, Contact, User


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user", user_id)
    return user


async def create_user(
    session: AsyncSession,
    company_id: int,
    username: str,
    role: Role | str,
    now: datetime,
    *,
    full_name: str = "",
    interface: str | None = None,
) -> User:
    username = username.strip()
    if not username:
        raise InvalidSetting("user", "username", "is required")
    try:
        role = Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidSetting("user", "role", f"{role!r} is not one of {allowed}") from None
    if await session.scalar(select(User.id).where(User.username == username)) is not None:
        raise InvalidSetting("user", "username", f"{username!r} is taken")
    user = User(
        company_id=company_id,
        username=username,
        role=role,
        full_name=full_name,
        interface=interface,
        active=True,
        created_at=now,
    )
    session.add(user)
    await session.flush()
    audit(
        session,
        now,
        "user",
        user.id,
        "create",
        {"username": username, "role": role},
        company_id=company_id,
    )
    return user


async def companies_of_users(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, int]:
    """Each user's company, for the ids that name a user (an agent belongs to one company)."""
    rows = await session.execute(
        select(User.id, User.company_id).where(User.id.in_(list(user_ids)))
    )
    return {user_id: company_id for user_id, company_id in rows}


async def issue_token(session: AsyncSession, user_id: int, now: datetime) -> str:
    """A new API token for the user (replacing the old one); only its hash is stored."""
    user = await get_user(session, user_id)
    token = secrets.token_urlsafe(32)
    user.token_hash = token_hash(token)
    audit(session, now, "user", user.id, "issue_token", company_id=user.company_id)
    await session.flush()
    return token


async def user_for_token(session: AsyncSession, token: str) -> User | None:
    """The active user owning ``token``, or None."""
    return await session.scalar(
        select(User).where(User.token_hash == token_hash(token), User.active)
    )


async def add_member(session: AsyncSession, campaign_id: int, user_id: int, now: datetime) -> None:
    """Seed 000: only users assigned to a campaign work it. Adding twice is a no-op."""
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound("campaign", campaign_id)
    user = await get_user(session, user_id)
    if user.company_id != campaign.company_id:
        raise InvalidSetting("campaign member", "user_id", f"user {user_id} is of another company")
    if await session.get(CampaignMember, (campaign_id, user_id)) is None:
        session.add(CampaignMember(campaign_id=campaign_id, user_id=user_id))
        audit(
            session,
            now,
            "campaign",
            campaign_id,
            "add_member",
            {"user_id": user_id},
            company_id=campaign.company_id,
        )
        await session.flush()


async def remove_member(
    session: AsyncSession, campaign_id: int, user_id: int, now: datetime
) -> None:
    member = await session.get(CampaignMember, (campaign_id, user_id))
    if member is not None:
        await session.delete(member)
        audit(session, now, "campaign", campaign_id, "remove_member", {"user_id": user_id})
        await session.flush()


async def members(session: AsyncSession, campaign_id: int, role: Role | None = None) -> list[User]:
    query = (
        select(User)
        .join(CampaignMember, CampaignMember.user_id == User.id)
        .where(CampaignMember.campaign_id == campaign_id)
        .order_by(User.id)
    )
    if role is not None:
        query = query.where(User.role == role)
    return list(await session.scalars(query))


async def assign_contact_to_agent(
    session: AsyncSession, user_id: int, contact_id: int, *, campaign_id: int | None = None
) -> None:
    """The agent owns the contact in one campaign, or in all (``campaign_id`` None)."""
    user = await get_user(session, user_id)
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise NotFound("contact", contact_id)
    if user.role != Role.AGENT:
        raise InvalidSetting("agent contact", "user_id", f"user {user_id} is not an agent")
    exists = await session.scalar(
        select(AgentContact.id).where(
            AgentContact.user_id == user_id,
            AgentContact.contact_id == contact_id,
            AgentContact.campaign_id.is_(None)
            if campaign_id is None
            else AgentContact.campaign_id == campaign_id,
        )
    )
    if exists is None:
        session.add(AgentContact(user_id=user_id, contact_id=contact_id, campaign_id=campaign_id))
        await session.flush()


async def agents_for_contact(session: AsyncSession, contact_id: int, campaign_id: int) -> list[int]:
    """Agents owning the contact in this campaign or in all campaigns."""
    rows = await session.scalars(
        select(AgentContact.user_id)
        .where(
            AgentContact.contact_id == contact_id,
            AgentContact.campaign_id.is_(None) | (AgentContact.campaign_id == campaign_id),
        )
        .order_by(AgentContact.id)
    )
    return list(dict.fromkeys(rows))
