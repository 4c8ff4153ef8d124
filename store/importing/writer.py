"""Write validated records into the store, chunk by chunk, inside the caller's transaction.

:class:`Writer` is the portable path (SQLAlchemy bulk INSERTs, SQLite and PostgreSQL);
:class:`store.importing.writer_pg.PostgresWriter` replaces its row-writing step with COPY on
PostgreSQL. :func:`make_writer` picks one by the session's backend. Both write through the
same connection and transaction, so a failed import writes nothing.

Per chunk: existing customers are found by their document (company, type, number: the unique
index); new ones are inserted with their phones, emails, accounts, tags; duplicates are
overwritten or counted (seed 000 options); every contact is assigned to the campaign in file
order, with its first phone not on the block list.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.enums import AssignmentState, TicketState
from store.enums import TicketPriority as StoredPriority
from store.importing.options import ImportOptions, TagMode
from store.importing.records import ContactRecord
from store.importing.report import ImportReport
from store.models import (
    Account,
    Assignment,
    Base,
    BlockedNumber,
    Contact,
    ContactTag,
    Email,
    ImportBatch,
    Phone,
    Ticket,
)

Key = tuple[str, str]  # (document type, document number)


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


class Writer:
    """The portable writer. Subclasses override :meth:`insert_rows` and :meth:`new_ids`."""

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

    # ------------------------------------------------------------------ backend-specific steps

    async def insert_rows(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Insert ``rows`` (dicts of column values) into ``table``."""
        await self.s.execute(insert(table), rows)

    async def insert_returning_ids(self, table: Table, rows: list[dict[str, Any]]) -> list[int]:
        """Insert ``rows`` into ``table``; their new ids, in the order of ``rows``."""
        result = await self.s.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
        )
        return [int(i) for i in result.scalars()]

    # ----------------------------------------------------------------------------- the steps

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

    async def close(self) -> None:
        """Called when the import ends, written or not (before a rollback)."""

    async def finish(self) -> None:
        await self.s.execute(
            update(ImportBatch)
            .where(ImportBatch.id == self.batch_id)
            .values(
                rows_total=self.report.rows,
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

    async def _existing(self, chunk: Sequence[ContactRecord]) -> dict[Key, int]:
        # Both document columns are constrained, so the unique index (company, type, number)
        # answers: a lookup on the number alone would scan the company's whole index range.
        types = list({r.document_type for r in chunk})
        numbers = list({r.document_number for r in chunk})
        rows = await self.s.execute(
            select(Contact.document_type, Contact.document_number, Contact.id).where(
                Contact.company_id == self.company_id,
                Contact.document_type.in_(types),
                Contact.document_number.in_(numbers),
            )
        )
        wanted = {r.document_key for r in chunk}
        return {(t, n): i for t, n, i in rows if (t, n) in wanted}

    async def write(self, chunk: Sequence[ContactRecord]) -> None:
        existing = await self._existing(chunk)
        new = [r for r in chunk if r.document_key not in existing]
        old = [r for r in chunk if r.document_key in existing]
        ids: dict[Key, int] = dict(existing)
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
            new_ids = await self.insert_returning_ids(_table(Contact), values)
            ids.update(zip((r.document_key for r in new), new_ids, strict=True))
            self.report.created += len(new)
        self.report.duplicates += len(old)
        fresh = list(new)
        untouched: list[ContactRecord] = []
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
        else:
            untouched = old
        phones: list[dict[str, Any]] = [
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
        first_phone: dict[int, int] = {}
        if phones:
            phone_ids = await self.insert_returning_ids(_table(Phone), phones)
            for row, pid in zip(phones, phone_ids, strict=True):
                if row["e164"] not in self.blocked:
                    first_phone.setdefault(row["contact_id"], pid)
        emails = [{"contact_id": ids[r.document_key], "address": r.email} for r in fresh if r.email]
        if emails:
            await self.insert_rows(_table(Email), emails)
        old_ids = [ids[r.document_key] for r in old]
        if untouched:
            first_phone.update(await self._first_phones([ids[r.document_key] for r in untouched]))
        await self._accounts(chunk, ids, old_ids)
        await self._tags(chunk, ids, old_ids)
        await self._assign(chunk, ids, old_ids, first_phone)

    async def _first_phones(self, contact_ids: list[int]) -> dict[int, int]:
        rows = await self.s.execute(
            select(Phone.contact_id, Phone.id, Phone.e164)
            .where(Phone.contact_id.in_(contact_ids))
            .order_by(Phone.contact_id, Phone.position, Phone.id)
        )
        first: dict[int, int] = {}
        for cid, pid, e164 in rows:
            if e164 not in self.blocked:
                first.setdefault(cid, pid)
        return first

    async def _accounts(
        self, chunk: Sequence[ContactRecord], ids: dict[Key, int], old_ids: list[int]
    ) -> None:
        have: set[tuple[int, str]] = set()
        if old_ids:  # new contacts have no accounts yet
            rows = await self.s.execute(
                select(Account.contact_id, Account.number).where(Account.contact_id.in_(old_ids))
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
            await self.insert_rows(_table(Account), add)
        if self.options.delete_other_accounts and have:
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
        self, chunk: Sequence[ContactRecord], ids: dict[Key, int], old_ids: list[int]
    ) -> None:
        have: set[tuple[int, int]] = set()
        if self.options.tag_mode is TagMode.REPLACE:
            replaced = [ids[r.document_key] for r in chunk if r.tags and ids[r.document_key]]
            replaced = [cid for cid in replaced if cid in set(old_ids)]
            if replaced:
                await self.s.execute(delete(ContactTag).where(ContactTag.contact_id.in_(replaced)))
        elif old_ids:
            rows = await self.s.execute(
                select(ContactTag.contact_id, ContactTag.tag_id).where(
                    ContactTag.contact_id.in_(old_ids)
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
            await self.insert_rows(_table(ContactTag), add)

    async def _assign(
        self,
        chunk: Sequence[ContactRecord],
        ids: dict[Key, int],
        old_ids: list[int],
        first_phone: dict[int, int],
    ) -> None:
        assigned: set[int] = set()
        if old_ids:  # only customers already in the database can be in the campaign
            assigned = set(
                await self.s.scalars(
                    select(Assignment.contact_id).where(
                        Assignment.campaign_id == self.campaign_id,
                        Assignment.contact_id.in_(old_ids),
                    )
                )
            )
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
            await self.insert_rows(_table(Assignment), assignments)
            self.report.assigned += len(assignments)
        if tickets:
            await self.insert_rows(_table(Ticket), tickets)
            self.report.tickets_created += len(tickets)


def make_writer(
    session: AsyncSession,
    company_id: int,
    campaign_id: int,
    options: ImportOptions,
    tags: dict[str, int],
    users: dict[str, int],
    now: dt.datetime,
    report: ImportReport,
) -> Writer:
    """The COPY writer on PostgreSQL, the portable one elsewhere."""
    cls: type[Writer] = Writer
    if session.get_bind().dialect.name == "postgresql":
        from store.importing.writer_pg import PostgresWriter

        cls = PostgresWriter
    return cls(session, company_id, campaign_id, options, tags, users, now, report)
