"""The PostgreSQL fast path of the import writer: set-based, on the import's own connection.

Validated records are copied (asyncpg's binary ``copy_records_to_table``) into TEMPORARY
staging tables (``ON COMMIT DROP``: they vanish with the transaction, commit or rollback) and
every batch is then written by a handful of set-based statements, whatever its size:

1. one join of the staged documents against ``contact`` (company + document type + number,
   the unique index) finds the customers already there; the new ones take ids from the
   contact sequence in file order (``nextval`` over the rows sorted by file row);
2. ``INSERT ... SELECT`` the new contacts, then (for new contacts, and for duplicates with
   ``overwrite_duplicates``, after an ``UPDATE`` and the removal of their phones and emails)
   their phones, emails; accounts, tags, assignments (``order_key`` in file order) and
   tickets, all joined from the staging tables to the contact ids.

Everything runs on the session's connection inside the import's transaction, so a failure
or a rejected file still writes nothing. Columns the statements leave out get the model's
Python default (COPY and INSERT ... SELECT apply no SQLAlchemy defaults).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import Sequence
from enum import Enum
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError

from store.enums import TicketPriority as StoredPriority
from store.enums import TicketState
from store.importing.options import TagMode
from store.importing.records import ContactRecord
from store.importing.writer import Writer
from store.models import Account, Assignment, Contact, ContactTag, Email, Phone, Ticket

# Rows staged before the set-based statements run: big enough that their fixed cost (a dozen
# statements, a COPY's column-type query) vanishes, small enough that validation of the next
# batch overlaps the server's work on this one (store.importing.importer).
BATCH_ROWS = 50_000
# The first batch is smaller, so that the server starts while the rest is still validated.
FIRST_BATCH_ROWS = 10_000
TEMP_BUFFERS = "64MB"
JSON_MEMO = 10_000  # distinct additional data kept encoded (files repeat a few segments)

STAGING = """
CREATE TEMPORARY TABLE import_row (
    row integer NOT NULL,
    contact_id bigint NOT NULL,
    existing boolean NOT NULL,
    phone_id bigint,
    customer_type text NOT NULL,
    document_type text NOT NULL,
    document_number text NOT NULL,
    first_name text NOT NULL,
    middle_name text NOT NULL,
    first_surname text NOT NULL,
    second_surname text NOT NULL,
    birth_date date,
    social text NOT NULL,
    address text NOT NULL,
    city text NOT NULL,
    region text NOT NULL,
    postal_code text NOT NULL,
    additional_data json NOT NULL,
    assigned_user_id bigint,
    email text NOT NULL,
    account_number text NOT NULL
) ON COMMIT DROP;
CREATE TEMPORARY TABLE import_phone (
    id bigint NOT NULL, contact_id bigint NOT NULL, position integer NOT NULL,
    kind text NOT NULL, e164 text NOT NULL, timezone text NOT NULL
) ON COMMIT DROP;
CREATE TEMPORARY TABLE import_tag (
    contact_id bigint NOT NULL, existing boolean NOT NULL, tag_id bigint NOT NULL
) ON COMMIT DROP;
"""
ROW_COLUMNS = (
    "row", "contact_id", "existing", "phone_id", "customer_type", "document_type",
    "document_number", "first_name", "middle_name", "first_surname", "second_surname",
    "birth_date", "social", "address", "city", "region", "postal_code", "additional_data",
    "assigned_user_id", "email", "account_number",
)  # fmt: skip
PHONE_COLUMNS = ("id", "contact_id", "position", "kind", "e164", "timezone")
TAG_COLUMNS = ("contact_id", "existing", "tag_id")
# The contact columns an import sets (and an overwrite replaces), from the staged row.
CONTACT_DATA = {
    "customer_type": "s.customer_type",
    "first_name": "s.first_name",
    "middle_name": "s.middle_name",
    "first_surname": "s.first_surname",
    "second_surname": "s.second_surname",
    "birth_date": "s.birth_date",
    "social": "s.social",
    "address": "s.address",
    "city": "s.city",
    "region": "s.region",
    "postal_code": "s.postal_code",
    "additional_data": "s.additional_data",
    "assigned_user_id": "s.assigned_user_id",
    "updated_at": "CAST(:now AS timestamptz)",
}
NOW = "CAST(:now AS timestamptz)"
BATCH = "CAST(:batch AS bigint)"
COMPANY = "CAST(:company AS bigint)"
CAMPAIGN = "CAST(:campaign AS bigint)"


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


def _python_defaults(table: Table) -> dict[str, Any]:
    """Column -> default value, for the columns with a scalar or callable Python default."""
    defaults: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if default is None or column.primary_key:
            continue
        if getattr(default, "is_scalar", False):
            value = default.arg  # type: ignore[attr-defined]
        elif getattr(default, "is_callable", False):
            value = default.arg(None)  # type: ignore[attr-defined]
        else:
            continue
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, dict | list):
            value = json.dumps(value)
        defaults[column.name] = value
    return defaults


def _insert_select(table: Table, values: dict[str, str], rest: str, params: dict[str, Any]) -> str:
    """``INSERT INTO table (...) SELECT <values> <rest>``; the columns ``values`` leaves out
    that have a Python default get it as a bound parameter (added to ``params``)."""
    columns = dict(values)
    for name, default in _python_defaults(table).items():
        if name not in columns:
            key = f"default_{table.name}_{name}"
            params[key] = default
            columns[name] = f"CAST(:{key} AS {table.c[name].type.compile(_PG_DIALECT)})"
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"SELECT {', '.join(columns.values())} {rest}"
    )


_PG_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def _count(status: str) -> int:
    """The row count of a command status (``INSERT 0 12``, ``UPDATE 3``, ``DELETE 1``)."""
    return int(status.rsplit(" ", 1)[-1])


class PostgresWriter(Writer):
    """:class:`Writer` that stages rows with COPY and writes them with set-based statements."""

    async def _driver(self) -> Any:
        connection = await self.s.connection()
        raw = await connection.get_raw_connection()
        return raw.driver_connection  # the asyncpg connection, in our transaction

    async def start(self, file_name: str) -> None:
        await super().start(file_name)
        # A batch's staging tables (~15 MB at 50k rows) outgrow the default 8 MB of local
        # buffers: each scan of them would read the temporary file again. The setting can
        # only change before the session's first temporary table; where it cannot, the
        # import goes on with what the session has.
        try:
            async with self.s.begin_nested():
                await self.s.execute(text(f"SET LOCAL temp_buffers = '{TEMP_BUFFERS}'"))
        except DBAPIError:
            pass
        # Every batch's statements cost more than jit_above_cost, so PostgreSQL would compile
        # each one again (10-50 ms a statement) for work that is index and heap maintenance.
        await self.s.execute(text("SET LOCAL jit = off"))
        for statement in STAGING.split(";"):
            if statement.strip():
                await self.s.execute(text(statement))
        self._staged: list[ContactRecord] = []
        self._staged_values: list[tuple[Any, ...]] = []
        self._running: asyncio.Task[None] | None = None
        self._batches = 0
        self._json: dict[tuple[tuple[str, str], ...], str] = {}
        self._sequence: dict[str, str] = {}
        for name in ("contact", "phone"):
            sequence = await self.s.scalar(
                text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": name}
            )
            self._sequence[name] = str(sequence)

    async def write(self, chunk: Sequence[ContactRecord]) -> None:
        """Stage ``chunk``; every BATCH_ROWS rows (the first time FIRST_BATCH_ROWS) the
        staged batch is written, in a task that runs while the next batch is staged (only
        one batch at a time uses the connection: a batch waits for the one before)."""
        self._staged.extend(chunk)
        self._staged_values.extend(map(self._row_values, chunk))
        limit = BATCH_ROWS if self._batches else min(FIRST_BATCH_ROWS, BATCH_ROWS)
        if len(self._staged) >= limit:
            await self._flush()

    async def finish(self) -> None:
        if self._staged:
            await self._flush()
        await self._wait()
        await super().finish()

    async def close(self) -> None:
        """A batch still being written is cancelled (the import failed; the caller rolls
        the transaction back)."""
        task, self._running = self._running, None
        if task is not None and not task.done():
            task.cancel()
        if task is not None:
            with contextlib.suppress(BaseException):
                await task

    async def _wait(self) -> None:
        task, self._running = self._running, None
        if task is not None:
            await task

    async def _flush(self) -> None:
        await self._wait()
        records, self._staged = self._staged, []
        values, self._staged_values = self._staged_values, []
        self._batches += 1
        self._running = asyncio.create_task(self._write_batch(records, values))

    def _row_values(self, r: ContactRecord) -> tuple[Any, ...]:
        """The staged row's columns after ``contact_id, existing, phone_id``: all but what
        the database decides, built while the batch before is written (the birth date as
        a date, which the server then reads without parsing; the additional data as JSON
        text, which it checks once, when copied, not once per table it goes into)."""
        extra = r.additional_data
        if extra:
            key = tuple(extra.items())
            data = self._json.get(key)
            if data is None:
                data = json.dumps(extra, ensure_ascii=False)
                if len(self._json) < JSON_MEMO:
                    self._json[key] = data
        else:
            data = "{}"
        return (
            r.customer_type, r.document_type, r.document_number, r.first_name, r.middle_name,
            r.first_surname, r.second_surname,
            dt.date.fromisoformat(r.birth_date) if r.birth_date else None,
            r.social, r.address, r.city,
            r.region, r.postal_code, data,
            self.users.get(r.assigned_user) if r.assigned_user else None,
            r.email, r.account_number,
        )  # fmt: skip

    async def _sql(self, statement: str, params: dict[str, Any] | None = None) -> int:
        """Run one statement; the number of rows it touched."""
        result = await self.s.execute(text(statement), params or {})
        return int(getattr(result, "rowcount", 0) or 0)

    async def _ids(self, driver: Any, table: str, count: int) -> list[int]:
        """``count`` new ids from ``table``'s sequence, ascending."""
        if not count:
            return []
        ids: list[int] = await driver.fetchval(
            "SELECT array(SELECT nextval($1::regclass) FROM generate_series(1, $2))",
            self._sequence[table],
            count,
        )
        ids.sort()
        return ids

    async def _write_batch(
        self, records: list[ContactRecord], values: list[tuple[Any, ...]]
    ) -> None:
        driver = await self._driver()
        opts = self.options
        # 1. Customers already in the company: each of the batch's documents looked up in the
        # unique index (company, document type, number). LATERAL ... LIMIT 1 keeps it a lookup
        # per document: the statistics still describe the table as before this transaction,
        # and a plain join was planned as a hash of every contact of the company, each batch
        # (254 ms at 200,000 contacts, growing with the table).
        found = await driver.fetch(
            "SELECT k.row, c.id FROM unnest($1::int[], $2::text[], $3::text[]) AS k(row, t, n) "
            "CROSS JOIN LATERAL (SELECT c.id FROM contact c WHERE c.company_id = $4 "
            "AND c.document_type = k.t AND c.document_number = k.n LIMIT 1) c",
            [r.row for r in records],
            [r.document_type for r in records],
            [r.document_number for r in records],
            self.company_id,
        )
        existing: dict[int, int] = {row: cid for row, cid in found}
        new_ids = iter(await self._ids(driver, "contact", len(records) - len(existing)))
        # Phones are (re)written for new contacts and for overwritten duplicates.
        overwrite = opts.overwrite_duplicates
        phone_count = sum(len(r.phones) for r in records if overwrite or r.row not in existing)
        phone_ids = iter(await self._ids(driver, "phone", phone_count))
        first_phone: dict[int, int] = {}
        untouched = [] if overwrite else list(existing.values())
        if untouched:
            # Duplicates left unchanged keep their phones: the first one not blocked.
            for cid, pid, e164 in await driver.fetch(
                "SELECT contact_id, id, e164 FROM phone WHERE contact_id = ANY($1::bigint[]) "
                "ORDER BY contact_id, position, id",
                untouched,
            ):
                if e164 not in self.blocked:
                    first_phone.setdefault(cid, pid)

        tags = self.tags
        blocked = self.blocked
        rows: list[tuple[Any, ...]] = []
        phones: list[tuple[Any, ...]] = []
        tag_rows: list[tuple[Any, ...]] = []
        for r, rest in zip(records, values, strict=True):
            n = r.row
            cid = existing.get(n)
            old = cid is not None
            if cid is None:
                cid = next(new_ids)
            first = first_phone.get(cid)
            if overwrite or not old:
                for position, (kind, e164, tz) in enumerate(r.phones):
                    pid = next(phone_ids)
                    phones.append((pid, cid, position, kind, e164, tz))
                    if first is None and e164 not in blocked:
                        first = pid
            rows.append((n, cid, old, first, *rest))
            for name in r.tags:
                tag_rows.append((cid, old, tags[name]))

        await driver.execute("TRUNCATE import_row, import_phone, import_tag")
        await driver.copy_records_to_table("import_row", records=rows, columns=ROW_COLUMNS)
        if phones:
            await driver.copy_records_to_table(
                "import_phone", records=phones, columns=PHONE_COLUMNS
            )
        if tag_rows:
            await driver.copy_records_to_table("import_tag", records=tag_rows, columns=TAG_COLUMNS)
        await self._statements(len(records), len(existing))

    async def _statements(self, batch: int, existing: int) -> None:
        """The set-based writes of one staged batch (``existing`` rows are duplicates)."""
        p: dict[str, Any] = {
            "company": self.company_id,
            "campaign": self.campaign_id,
            "batch": self.batch_id,
            "now": self.now,
        }
        opts = self.options
        new = batch - existing
        self.report.created += new
        self.report.duplicates += existing
        # Rows whose emails are (re)written: new contacts, overwritten duplicates.
        fresh = "" if opts.overwrite_duplicates else "AND NOT s.existing "

        if new:
            values = {
                "id": "s.contact_id",
                "company_id": COMPANY,
                "document_type": "s.document_type",
                "document_number": "s.document_number",
                **CONTACT_DATA,
                "import_batch_id": BATCH,
                "created_at": NOW,
            }
            await self._sql(
                _insert_select(
                    _table(Contact), values, "FROM import_row s WHERE NOT s.existing", p
                ),
                p,
            )
        if existing and opts.overwrite_duplicates:
            # Seed 000 "Overwrite Data": duplicates take the file's data, phones and emails.
            assignments = ", ".join(f"{k} = {v}" for k, v in CONTACT_DATA.items())
            self.report.updated += await self._sql(
                f"UPDATE contact c SET {assignments} FROM import_row s "
                "WHERE s.existing AND c.id = s.contact_id",
                p,
            )
            for model in (Phone, Email):
                await self._sql(
                    f"DELETE FROM {_table(model).name} WHERE contact_id IN "
                    "(SELECT contact_id FROM import_row WHERE existing)"
                )

        # 2. Phones (ids and each contact's first phone not blocked were chosen when staging).
        await self._sql(
            _insert_select(
                _table(Phone),
                {
                    "id": "ph.id",
                    "contact_id": "ph.contact_id",
                    "kind": "ph.kind",
                    "e164": "ph.e164",
                    "timezone": "ph.timezone",
                    "position": "ph.position",
                },
                "FROM import_phone ph",
                p,
            ),
            p,
        )

        # 3. Emails.
        await self._sql(
            _insert_select(
                _table(Email),
                {"contact_id": "s.contact_id", "address": "s.email"},
                f"FROM import_row s WHERE s.email <> '' {fresh}",
                p,
            ),
            p,
        )

        # 4. Accounts: the file's account unless the customer has it; with
        # delete_other_accounts, a duplicate's other accounts go (seed 000).
        if existing and opts.delete_other_accounts:
            self.report.accounts_deleted += await self._sql(
                "DELETE FROM account a USING import_row s "
                "WHERE s.existing AND a.contact_id = s.contact_id "
                "AND a.number <> s.account_number"
            )
        account_values = {
            "contact_id": "s.contact_id",
            "number": "s.account_number",
            "additional_data": "s.additional_data",
        }
        account_from = "FROM import_row s WHERE s.account_number <> '' "
        if new:
            await self._sql(
                _insert_select(
                    _table(Account), account_values, account_from + "AND NOT s.existing", p
                ),
                p,
            )
        if existing:
            await self._sql(
                _insert_select(
                    _table(Account),
                    account_values,
                    account_from + "AND s.existing AND NOT EXISTS (SELECT 1 FROM account a "
                    "WHERE a.contact_id = s.contact_id AND a.number = s.account_number)",
                    p,
                ),
                p,
            )

        # 5. Tags: added to the customer's, or replacing them (for rows that name tags).
        if existing and opts.tag_mode is TagMode.REPLACE:
            await self._sql(
                "DELETE FROM contact_tag ct WHERE ct.contact_id IN "
                "(SELECT t.contact_id FROM import_tag t WHERE t.existing)"
            )
        await self._sql(
            _insert_select(
                _table(ContactTag),
                {"contact_id": "t.contact_id", "tag_id": "t.tag_id"},
                "FROM import_tag t" + (" ON CONFLICT DO NOTHING" if existing else ""),
                p,
            ),
            p,
        )

        # 6. Assignments in file order (order_key from the file row), to contacts not yet in
        # the campaign.
        p["order_base"] = self.order_key - 1  # the first data row is row 2
        not_assigned = (
            "WHERE NOT (s.existing AND EXISTS (SELECT 1 FROM assignment a "
            "WHERE a.campaign_id = :campaign AND a.contact_id = s.contact_id))"
            if existing
            else ""
        )
        self.report.assigned += await self._sql(
            _insert_select(
                _table(Assignment),
                {
                    "campaign_id": CAMPAIGN,
                    "contact_id": "s.contact_id",
                    "phone_id": "s.phone_id",
                    "order_key": "CAST(:order_base AS bigint) + s.row",
                    "assigned_user_id": "s.assigned_user_id",
                    "import_batch_id": BATCH,
                    "created_at": NOW,
                },
                f"FROM import_row s {not_assigned}",
                p,
            ),
            p,
        )

        # 7. A ticket per record.
        if opts.create_tickets:
            p["ticket_priority"] = StoredPriority(opts.ticket_priority.value).value
            p["ticket_state"] = TicketState.OPEN.value
            p["file_name"] = self.report.file_name + " row "
            self.report.tickets_created += await self._sql(
                _insert_select(
                    _table(Ticket),
                    {
                        "company_id": COMPANY,
                        "campaign_id": CAMPAIGN,
                        "contact_id": "s.contact_id",
                        "priority": "CAST(:ticket_priority AS varchar)",
                        "state": "CAST(:ticket_state AS varchar)",
                        "assigned_user_id": "s.assigned_user_id",
                        "import_batch_id": BATCH,
                        "subject": "CAST(:file_name AS text) || s.row",
                        "created_at": NOW,
                    },
                    "FROM import_row s",
                    p,
                ),
                p,
            )
