"""Write a validated file into the store, in one transaction (seed 000, "Import Accounts").

The whole file is validated (store.importing.pipeline) before anything is committed, and a
fault or a failure while writing rolls everything back. Imported contacts are assigned to the
campaign in file order.

On SQLite the file is validated whole, then written. On PostgreSQL validation (CPU, a thread)
and the write (the server) overlap: valid chunks stream into the import's transaction while the
rest of the file is validated, and a fault found later rolls the transaction back, so the
database still sees nothing of a rejected file. (SQLite has one writer: holding its write
transaction through validation would stall the dialer, so there the two stay apart.)
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
from store.importing.problems import ImportRejected
from store.importing.report import ImportReport
from store.importing.streaming import ValidationStream
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
        streamed = session.get_bind().dialect.name == "postgresql" and (options.workers or 1) <= 1
    context = ValidationContext(
        options.default_country, tuple(tags), tuple(users) if options.save_assigned_user else None
    )
    if streamed:
        report = await _import_streaming(
            session_factory, path, context, options, company_id, campaign_id, tags, users, now,
            progress,
        )  # fmt: skip
        report.seconds = time.perf_counter() - started
        return report
    validated = await asyncio.to_thread(
        validate_file, path, context, options.mapping, options.workers, progress
    )
    report = ImportReport(path.name, rows=validated.rows, extra_columns=validated.extra_columns)
    try:
        async with session_factory() as session, session.begin():
            writer = make_writer(
                session, company_id, campaign_id, options, tags, users, now, report
            )
            try:
                await writer.start(path.name)
                done = 0
                for chunk in validated.staged.chunks():
                    await writer.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress("writing", done, done / max(validated.staged.count, 1))
                await writer.finish()
            finally:
                await writer.close()
    finally:
        validated.staged.close()
    report.seconds = time.perf_counter() - started
    return report


QUEUE_CHUNKS = 40  # validated chunks waiting for the writer (2,000 rows each)


async def _import_streaming(
    session_factory: async_sessionmaker[AsyncSession],
    path: Path,
    context: ValidationContext,
    options: ImportOptions,
    company_id: int,
    campaign_id: int,
    tags: dict[str, int],
    users: dict[str, int],
    now: dt.datetime,
    progress: Progress | None,
) -> ImportReport:
    """Validate in a worker (store.importing.streaming) and write the valid chunks as they
    come, in one transaction that is rolled back when any row is at fault (ImportRejected
    lists every problem, as pipeline.validate_file does: same checks, same order, same
    limit)."""
    report = ImportReport(path.name)
    stream = ValidationStream(
        path,
        context,
        options.mapping,
        process=None if options.workers is None else False,
        depth=QUEUE_CHUNKS,
    )
    stream.start()
    try:
        async with session_factory() as session, session.begin():
            writer = make_writer(
                session, company_id, campaign_id, options, tags, users, now, report
            )
            try:
                await writer.start(path.name)
                done = 0
                while (chunk := await asyncio.to_thread(stream.get)) is not None:
                    report.rows = stream.rows
                    if progress is not None:
                        progress("validating", stream.rows, stream.done)
                    if stream.rejected:
                        continue  # rejected: read on for the problems; rolled back below
                    await writer.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress("writing", done, stream.done)
                report.rows = stream.rows
                report.extra_columns = stream.extra_columns
                if stream.problems:
                    raise ImportRejected(stream.problems, stream.rows)
                await writer.finish()
            finally:
                await writer.close()
    finally:
        stream.stop()
    return report
