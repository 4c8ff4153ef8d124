"""Engines, sessions and the schema, for the two backends the store supports.

- ``sqlite+aiosqlite:///path/to/dialer.db``: the embedded default, a file. WAL journal, foreign
  keys on, a busy timeout. SQLite ignores ``FOR UPDATE SKIP LOCKED``, so only one dialer process
  may use a SQLite database: :class:`Database` takes an OS file lock beside the file
  (:mod:`store.process_lock`) and a second process fails with a clear error.
- ``postgresql+asyncpg://user@host:port/db``: production; several processes may share it.

Datetimes are timezone-aware on both backends (:class:`UTCDateTime`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import DateTime, TypeDecorator

from store.process_lock import ProcessLock

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///dialer.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000

SessionFactory = async_sessionmaker[AsyncSession]


class DatabaseURLError(ValueError):
    """The database URL names a backend the store does not support, or is malformed."""


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored as UTC, returned as aware UTC on both backends.

    SQLite has no timezone type and aiosqlite returns naive values: store naive UTC there (so
    text comparisons in SQL order correctly) and put the UTC zone back on the way out. Naive
    values are refused: a naive "now" is a bug in the caller.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; pass an aware datetime")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def parse_database_url(url: str | URL) -> URL:
    """The URL, checked: only the two supported async drivers."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseURLError(f"malformed database URL {str(url)!r}: {exc}") from exc
    if parsed.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise DatabaseURLError(
            f"unsupported database URL scheme {parsed.drivername!r}: use "
            "'sqlite+aiosqlite:///path/to/file.db' or 'postgresql+asyncpg://user@host/db'"
        )
    if parsed.drivername == "sqlite+aiosqlite" and parsed.database in (None, "", ":memory:"):
        raise DatabaseURLError(
            "a SQLite database must be a file (sqlite+aiosqlite:///path/to/file.db): an "
            "in-memory database is private to one connection"
        )
    return parsed


def sqlite_path(url: str | URL) -> Path | None:
    """The file of a SQLite URL, or None for PostgreSQL."""
    parsed = parse_database_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    assert parsed.database is not None
    return Path(parsed.database)


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str | URL, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine for ``url`` with the backend's settings applied."""
    parsed = parse_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(
            parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        return engine
    return create_async_engine(parsed, pool_size=pool_size, max_overflow=pool_size)


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    # expire_on_commit=False: rows read in one transaction stay readable after commit, which is
    # what async code needs (no lazy refresh outside a greenlet).
    return async_sessionmaker(engine, expire_on_commit=False)


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    here = Path(__file__).parent / "migrations"
    config = Config(str(here / "alembic.ini"))
    config.set_main_option("script_location", str(here))
    config.attributes["connection"] = connection
    return config


async def create_schema(url: str | URL) -> None:
    """Bring the database at ``url`` up to the newest migration (creating it when empty)."""
    from alembic import command

    engine = make_engine(url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "head"))
    finally:
        await engine.dispose()


async def current_revision(url: str | URL) -> str | None:
    """The migration the database at ``url`` is at, or None when it has none."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()


class OwnerInUse(RuntimeError):
    """Another running dialer process has the same owner name (PostgreSQL)."""


# The owner lock: a session advisory lock on the owner's name, held by the process running
# under that name for as long as it runs (Database.hold_owner).
_TRY_OWNER_LOCK = text("SELECT pg_try_advisory_lock(hashtextextended(:name, 0))")
_OWNER_UNLOCK = text("SELECT pg_advisory_unlock(hashtextextended(:name, 0))")


def _owner_lock_name(owner: str) -> dict[str, str]:
    return {"name": f"dialer owner {owner}"}


@contextlib.asynccontextmanager
async def owner_stopped(engine: AsyncEngine, owner: str) -> AsyncIterator[bool]:
    """Whether no dialer process runs as ``owner`` now; if none does, none can start under
    that name until the block ends (its :meth:`Database.hold_owner` is refused), so the block
    may settle the calls that owner left open without meeting it doing the same.

    PostgreSQL: the owner's advisory lock, taken here if free (a process that runs holds it,
    whatever else it is cut off from), let go at the end. SQLite: the file lock admits one
    process only, so a process that holds the database knows every other owner has stopped."""
    if engine.url.get_backend_name() != "postgresql":
        yield True
        return
    async with engine.connect() as connection:
        got = bool(await connection.scalar(_TRY_OWNER_LOCK, _owner_lock_name(owner)))
        await connection.commit()  # the lock is the session's; no transaction left open
        try:
            yield got
        finally:
            if got:
                try:
                    await connection.execute(_OWNER_UNLOCK, _owner_lock_name(owner))
                    await connection.commit()
                except BaseException:
                    # Not back to the pool with the lock: closing the session lets it go.
                    await connection.invalidate()
                    raise


@dataclass
class Database:
    """An open database: the engine, a session factory and, on SQLite, the process lock."""

    url: URL
    engine: AsyncEngine
    sessions: SessionFactory
    _lock: ProcessLock | None = field(default=None, repr=False)
    _owner: AsyncConnection | None = field(default=None, repr=False)

    @classmethod
    def open(cls, url: str | URL, *, exclusive: bool = True) -> Database:
        """Open ``url``. On SQLite, ``exclusive`` takes the single-process lock
        (raises :class:`store.process_lock.DatabaseInUse` when another process holds it)."""
        parsed = parse_database_url(url)
        lock: ProcessLock | None = None
        path = sqlite_path(parsed)
        if path is not None and exclusive:
            lock = ProcessLock.acquire(path)
        engine = make_engine(parsed)
        return cls(parsed, engine, make_session_factory(engine), lock)

    async def hold_owner(self, owner: str) -> None:
        """Hold ``owner`` (the name a dialer process leases contacts and writes attempts
        under) for as long as this database is open: on PostgreSQL a session advisory lock,
        so a second running process with the same name is refused (raises
        :class:`OwnerInUse`) instead of renewing the first one's leases and settling its
        calls as a restart would; and a process taking this one's campaigns over settles
        its calls only once the lock is free (:func:`owner_stopped`). SQLite already admits
        one process only."""
        if self.url.get_backend_name() != "postgresql" or self._owner is not None:
            return
        connection = await self.engine.connect()
        got = await connection.scalar(_TRY_OWNER_LOCK, _owner_lock_name(owner))
        await connection.commit()  # the lock is the session's; no transaction left open
        if not got:
            await connection.close()
            raise OwnerInUse(
                f"another dialer process runs as {owner!r} on this database: give each "
                "process its own name (dialer serve --owner), the same across its restarts"
            )
        self._owner = connection

    async def close(self) -> None:
        if self._owner is not None:
            await self._owner.close()  # the session ends: its advisory lock goes with it
            self._owner = None
        await self.engine.dispose()
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def upgrade(url: str | URL) -> None:
    """Synchronous entry point for the CLI: migrate ``url`` to the newest schema."""
    asyncio.run(create_schema(url))


def utcnow() -> datetime:
    """Only for edges (CLI, service main loop); cores take ``now`` as an argument."""
    return datetime.now(UTC)
