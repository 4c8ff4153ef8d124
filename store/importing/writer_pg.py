"""The PostgreSQL fast path of the import writer: rows go in with COPY (asyncpg's binary
``copy_records_to_table``) on the session's own connection, inside the import's transaction,
so a failure still rolls the whole import back.

COPY returns no ids, so the ids of new contacts and phones are taken from their sequences first
(one ``nextval`` round trip per chunk) and written explicitly. COPY applies no SQLAlchemy
defaults either: every column a row leaves out gets the model's Python default here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import Table, text

from store.importing.records import ContactRecord
from store.importing.writer import Key, Writer


def _python_defaults(table: Table) -> dict[str, Any]:
    """Column -> default value, for the columns with a scalar or callable Python default."""
    defaults: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if default is None or column.primary_key:
            continue
        if getattr(default, "is_scalar", False):
            defaults[column.name] = default.arg  # type: ignore[attr-defined]
        elif getattr(default, "is_callable", False):
            defaults[column.name] = default.arg(None)  # type: ignore[attr-defined]
    return defaults


def _plain(value: Any) -> Any:
    """A value as asyncpg's binary COPY wants it for our column types."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)  # JSON columns take text
    if value is None or isinstance(value, str | int | float | bool | date | datetime):
        return value
    raise TypeError(f"cannot COPY a {type(value).__name__}: {value!r}")


# Parents before children: every foreign key points to a table copied earlier.
COPY_ORDER = ("contact", "phone", "email", "account", "contact_tag", "assignment", "ticket")
FLUSH_ROWS = 50_000


class PostgresWriter(Writer):
    """:class:`Writer` with COPY for the bulk rows."""

    _sequences: dict[str, str]
    _buffers: dict[str, tuple[Table, list[dict[str, Any]]]]
    _buffered: int

    async def _driver(self) -> Any:
        connection = await self.s.connection()
        raw = await connection.get_raw_connection()
        return raw.driver_connection  # the asyncpg connection, in our transaction

    async def insert_rows(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Buffer the rows; they are copied in big batches (a COPY has a fixed cost: asyncpg
        reads the table's column types first), in the order tables depend on each other."""
        if not rows:
            return
        if not hasattr(self, "_buffers"):
            self._buffers = {}
            self._buffered = 0
        self._buffers.setdefault(table.name, (table, []))[1].extend(rows)
        self._buffered += len(rows)
        if self._buffered >= FLUSH_ROWS:
            await self.flush()

    async def flush(self) -> None:
        if not getattr(self, "_buffers", None):
            return
        driver = await self._driver()
        for name in COPY_ORDER:
            entry = self._buffers.pop(name, None)
            if entry is None:
                continue
            table, rows = entry
            defaults = _python_defaults(table)
            columns = [c.name for c in table.columns if c.name in rows[0] or c.name in defaults]
            records = [
                tuple(_plain(row[c] if c in row else defaults[c]) for c in columns) for row in rows
            ]
            await driver.copy_records_to_table(name, records=records, columns=columns)
        if self._buffers:
            raise RuntimeError(f"no COPY order for tables {sorted(self._buffers)}")
        self._buffered = 0

    async def finish(self) -> None:
        await self.flush()
        await super().finish()

    async def _existing(self, chunk: Sequence[ContactRecord]) -> dict[Key, int]:
        # One unique-index probe per document (LATERAL forces it): the planner, blind to the
        # rows this transaction has added, would otherwise scan the company's whole range.
        driver = await self._driver()
        rows = await driver.fetch(
            "SELECT k.t, k.n, c.id FROM unnest($1::text[], $2::text[]) AS k(t, n) "
            "CROSS JOIN LATERAL (SELECT id FROM contact WHERE company_id = $3 "
            "AND document_type = k.t AND document_number = k.n) AS c",
            [r.document_type for r in chunk],
            [r.document_number for r in chunk],
            self.company_id,
        )
        return {(t, n): int(i) for t, n, i in rows}

    async def insert_returning_ids(self, table: Table, rows: list[dict[str, Any]]) -> list[int]:
        if not rows:
            return []
        ids = await self._next_ids(table, len(rows))
        await self.insert_rows(table, [{**row, "id": i} for row, i in zip(rows, ids, strict=True)])
        return ids

    async def _next_ids(self, table: Table, count: int) -> list[int]:
        if not hasattr(self, "_sequences"):
            self._sequences = {}
        sequence = self._sequences.get(table.name)
        if sequence is None:
            sequence = str(
                await self.s.scalar(
                    text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}
                )
            )
            self._sequences[table.name] = sequence
        driver = await self._driver()
        rows = await driver.fetch(
            "SELECT nextval($1::regclass) FROM generate_series(1, $2)", sequence, count
        )
        return sorted(int(r[0]) for r in rows)
