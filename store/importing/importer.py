"""Write a validated file into the store, in one transaction (seed 000, "Import Accounts").

The whole file is validated first (store.importing.pipeline); only then is anything written,
and a failure while writing rolls everything back. Imported contacts are assigned to the
campaign in file order.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.enums import AssignmentState, TicketState
from store.enums import TicketPriority as StoredPriority
from store.importing.options import ImportOptions, TagMode
from store.importing.pipeline import Progress, ValidationContext, validate_file
from store.importing.records import ContactRecord
from store.importing.report import ImportReport
from store.models import (
    Account,
    Assignment,
    BlockedNumber,
    Campaign,
    Contact,
    ContactTag,
    Email,
    ImportBatch,
    Phone,
    Tag,
    Ticket,
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
            writer = _Writer(session, company_id, campaign_id, options, tags, users, now, report)
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


class _Writer:
    def __init__(
        self,
        session: AsyncSession,
        company_id: int,
        campaign_id: int,
        options: ImportOptions,
        tags: dict[str, int],
        users: dict[str, int],
        now: dt.datetime,
        report: ImportReport,
    ) -> None:
        self.s = session
        self.company_id = company_id
        self.campaign_id = campaign_id
        self.options = options
        self.tags = tags
        self.users = users
        self.now = now
        self.report = report
        self.batch_id = 0
        self.order_key = 0
        self.blocked: set[str] = set()

    async def start(self, file_name: str) -> None:
        self.batch_id = int(
            await self.s.scalar(
                insert(ImportBatch)
                .values(
                    company_id=self.company_id,
                    campaign_id=self.campaign_id,
                    file_name=file_name,
                    options=self.options.as_record(),
                    rows_total=self.report.rows,
                    created_at=self.now,
                )
                .returning(ImportBatch.id)
            )
            or 0
        )
        self.report.batch_id = self.batch_id
        top = await self.s.scalar(
            select(func.max(Assignment.order_key)).where(Assignment.campaign_id == self.campaign_id)
        )
        self.order_key = int(top or 0)
        rows = await self.s.scalars(
            select(BlockedNumber.e164).where(BlockedNumber.company_id == self.company_id)
        )
        self.blocked = set(rows)
        if self.options.close_open_tickets:
            # Seed 000 "Close Open Tickets": work only the tickets this file creates.
            result = await self.s.execute(
                update(Ticket)
                .where(Ticket.campaign_id == self.campaign_id, Ticket.state == TicketState.OPEN)
                .values(state=TicketState.CLOSED, closed_at=self.now)
            )
            self.report.tickets_closed = int(getattr(result, "rowcount", 0) or 0)

    async def finish(self) -> None:
        await self.s.execute(
            update(ImportBatch)
            .where(ImportBatch.id == self.batch_id)
            .values(
                rows_inserted=self.report.created,
                rows_updated=self.report.updated,
                rows_duplicate=self.report.duplicates,
            )
        )

    def _contact_values(self, r: ContactRecord) -> dict[str, Any]:
        return {
            "customer_type": r.customer_type,
            "first_name": r.first_name,
            "middle_name": r.middle_name,
            "first_surname": r.first_surname,
            "second_surname": r.second_surname,
            "birth_date": dt.date.fromisoformat(r.birth_date) if r.birth_date else None,
            "social": r.social,
            "address": r.address,
            "city": r.city,
            "region": r.region,
            "postal_code": r.postal_code,
            "additional_data": r.additional_data,
            "assigned_user_id": self.users.get(r.assigned_user) if r.assigned_user else None,
            "updated_at": self.now,
        }

    async def write(self, chunk: Sequence[ContactRecord]) -> None:
        numbers = list({r.document_number for r in chunk})
        rows = await self.s.execute(
            select(Contact.document_type, Contact.document_number, Contact.id).where(
                Contact.company_id == self.company_id, Contact.document_number.in_(numbers)
            )
        )
        existing = {(t, n): i for t, n, i in rows}
        new = [r for r in chunk if r.document_key not in existing]
        old = [r for r in chunk if r.document_key in existing]
        ids: dict[tuple[str, str], int] = dict(existing)
        if new:
            values = [
                {
                    **self._contact_values(r),
                    "company_id": self.company_id,
                    "document_type": r.document_type,
                    "document_number": r.document_number,
                    "import_batch_id": self.batch_id,
                    "created_at": self.now,
                }
                for r in new
            ]
            result = await self.s.execute(
                insert(Contact).returning(
                    Contact.id,
                    Contact.document_type,
                    Contact.document_number,
                    sort_by_parameter_order=True,
                ),
                values,
            )
            for i, t, n in result:
                ids[(t, n)] = i
            self.report.created += len(new)
        self.report.duplicates += len(old)
        fresh = list(new)
        if old and self.options.overwrite_duplicates:
            # Seed 000 "Overwrite Data": duplicates take the file's data, phones and emails.
            await self.s.execute(
                update(Contact),
                [{"id": ids[r.document_key], **self._contact_values(r)} for r in old],
            )
            old_ids = [ids[r.document_key] for r in old]
            await self.s.execute(delete(Phone).where(Phone.contact_id.in_(old_ids)))
            await self.s.execute(delete(Email).where(Email.contact_id.in_(old_ids)))
            self.report.updated += len(old)
            fresh += old
        phones = [
            {
                "contact_id": ids[r.document_key],
                "kind": kind,
                "e164": e164,
                "timezone": tz,
                "position": p,
            }
            for r in fresh
            for p, (kind, e164, tz) in enumerate(r.phones)
        ]
        if phones:
            await self.s.execute(insert(Phone), phones)
        emails = [{"contact_id": ids[r.document_key], "address": r.email} for r in fresh if r.email]
        if emails:
            await self.s.execute(insert(Email), emails)
        contact_ids = [ids[r.document_key] for r in chunk]
        await self._accounts(chunk, ids, contact_ids)
        await self._tags(chunk, ids, contact_ids)
        await self._assign(chunk, ids, contact_ids)

    async def _accounts(
        self,
        chunk: Sequence[ContactRecord],
        ids: dict[tuple[str, str], int],
        contact_ids: list[int],
    ) -> None:
        rows = await self.s.execute(
            select(Account.contact_id, Account.number).where(Account.contact_id.in_(contact_ids))
        )
        have = {(a, b) for a, b in rows}
        add = [
            {
                "contact_id": ids[r.document_key],
                "number": r.account_number,
                "additional_data": r.additional_data,
            }
            for r in chunk
            if r.account_number and (ids[r.document_key], r.account_number) not in have
        ]
        if add:
            await self.s.execute(insert(Account), add)
        if self.options.delete_other_accounts:
            # Seed 000 "Delete Other Customer Accounts": keep only the file's accounts.
            for r in chunk:
                cid = ids[r.document_key]
                others = [n for c, n in have if c == cid and n != r.account_number]
                if others:
                    await self.s.execute(
                        delete(Account).where(Account.contact_id == cid, Account.number.in_(others))
                    )
                    self.report.accounts_deleted += len(others)

    async def _tags(
        self,
        chunk: Sequence[ContactRecord],
        ids: dict[tuple[str, str], int],
        contact_ids: list[int],
    ) -> None:
        if self.options.tag_mode is TagMode.REPLACE:
            replaced = [ids[r.document_key] for r in chunk if r.tags]
            if replaced:
                await self.s.execute(delete(ContactTag).where(ContactTag.contact_id.in_(replaced)))
            have: set[tuple[int, int]] = set()
        else:
            rows = await self.s.execute(
                select(ContactTag.contact_id, ContactTag.tag_id).where(
                    ContactTag.contact_id.in_(contact_ids)
                )
            )
            have = {(a, b) for a, b in rows}
        add = [
            {"contact_id": ids[r.document_key], "tag_id": self.tags[name]}
            for r in chunk
            for name in r.tags
            if (ids[r.document_key], self.tags[name]) not in have
        ]
        if add:
            await self.s.execute(insert(ContactTag), add)

    async def _assign(
        self,
        chunk: Sequence[ContactRecord],
        ids: dict[tuple[str, str], int],
        contact_ids: list[int],
    ) -> None:
        assigned = set(
            await self.s.scalars(
                select(Assignment.contact_id).where(
                    Assignment.campaign_id == self.campaign_id,
                    Assignment.contact_id.in_(contact_ids),
                )
            )
        )
        rows = await self.s.execute(
            select(Phone.contact_id, Phone.id, Phone.e164)
            .where(Phone.contact_id.in_(contact_ids))
            .order_by(Phone.contact_id, Phone.position, Phone.id)
        )
        first_phone: dict[int, int] = {}
        for cid, pid, e164 in rows:
            if e164 not in self.blocked:
                first_phone.setdefault(cid, pid)
        assignments = []
        tickets = []
        for r in chunk:
            cid = ids[r.document_key]
            user_id = self.users.get(r.assigned_user) if r.assigned_user else None
            if cid not in assigned:
                assigned.add(cid)
                self.order_key += 1
                assignments.append(
                    {
                        "campaign_id": self.campaign_id,
                        "contact_id": cid,
                        "phone_id": first_phone.get(cid),
                        "state": AssignmentState.PENDING,
                        "order_key": self.order_key,
                        "assigned_user_id": user_id,
                        "import_batch_id": self.batch_id,
                        "created_at": self.now,
                    }
                )
            if self.options.create_tickets:
                tickets.append(
                    {
                        "company_id": self.company_id,
                        "campaign_id": self.campaign_id,
                        "contact_id": cid,
                        "priority": StoredPriority(self.options.ticket_priority.value),
                        "state": TicketState.OPEN,
                        "assigned_user_id": user_id,
                        "import_batch_id": self.batch_id,
                        "subject": f"{self.report.file_name} row {r.row}",
                        "created_at": self.now,
                    }
                )
        if assignments:
            await self.s.execute(insert(Assignment), assignments)
            self.report.assigned += len(assignments)
        if tickets:
            await self.s.execute(insert(Ticket), tickets)
            self.report.tickets_created += len(tickets)
