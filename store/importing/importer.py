"""Write a validated file into the store, in one transaction (seed 000, "Import Accounts").

The whole file is validated first (store.importing.pipeline); only then is anything written,
and a failure while writing rolls everything back. Imported contacts are assigned to the
campaign in file order.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.importing.options import ImportOptions
from store.importing.pipeline import Progress, ValidationContext, validate_file
from store.importing.report import ImportReport
from store.importing.writer import make_writer
from store.models import (
    Campaign,
    Tag,
    User,
)


class UnknownCampaign(ValueError):
    pass


async def import_file(
    session_factory: async_sessionmaker[AsyncSession],
    path: Path,
    campaign_id: int,
    options: ImportOptions | None = None,
    *,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
) -> ImportReport:
    """Validate ``path`` whole, then write it in one transaction. Raises ImportRejected
    (nothing written) listing every problem by row and column."""
    options = options or ImportOptions()
    now = now or dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    async with session_factory() as session:
        company_id = await session.scalar(
            select(Campaign.company_id).where(Campaign.id == campaign_id)
        )
        if company_id is None:
            raise UnknownCampaign(f"no campaign with id {campaign_id}")
        tag_rows = await session.execute(
            select(Tag.name, Tag.id).where(Tag.company_id == company_id)
        )
        tags: dict[str, int] = {k: v for k, v in tag_rows}
        users: dict[str, int] = {}
        if options.save_assigned_user:
            rows = await session.execute(
                select(User.username, User.id).where(User.company_id == company_id)
            )
            users = {k: v for k, v in rows}
    context = ValidationContext(
        options.default_country, tuple(tags), tuple(users) if options.save_assigned_user else None
    )
    validated = await asyncio.to_thread(
        validate_file, path, context, options.mapping, options.workers, progress
    )
    report = ImportReport(path.name, rows=validated.rows, extra_columns=validated.extra_columns)
    try:
        async with session_factory() as session, session.begin():
            writer = make_writer(
                session, company_id, campaign_id, options, tags, users, now, report
            )
            await writer.start(path.name)
            done = 0
            for chunk in validated.staged.chunks():
                await writer.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress("writing", done, done / max(validated.staged.count, 1))
            await writer.finish()
    finally:
        validated.staged.close()
    report.seconds = time.perf_counter() - started
    return report
