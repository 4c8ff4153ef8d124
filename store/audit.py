"""The audit log: who changed what, when (seed 001 change log)."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import AuditEntry


def _plain(value: object) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def audit(
    session: AsyncSession,
    now: datetime,
    entity: str,
    entity_id: int | None,
    action: str,
    changes: dict[str, Any] | None = None,
    *,
    user_id: int | None = None,
    company_id: int | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        at=now,
        entity=entity,
        entity_id=entity_id,
        action=action,
        changes={k: _plain(v) for k, v in (changes or {}).items()},
        user_id=user_id,
        company_id=company_id,
    )
    session.add(entry)
    return entry


async def history(session: AsyncSession, entity: str, entity_id: int) -> list[AuditEntry]:
    rows = await session.scalars(
        select(AuditEntry)
        .where(AuditEntry.entity == entity, AuditEntry.entity_id == entity_id)
        .order_by(AuditEntry.id)
    )
    return list(rows)
