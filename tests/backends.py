"""Database and Redis fixtures shared by the whole suite (imported by tests/conftest.py).

Fixtures
--------
``database_url`` (function scope, parametrised ``[sqlite]`` and ``[postgresql]``)
    The URL of an empty database with the newest schema, for one test:
    - sqlite: ``sqlite+aiosqlite:///<tmp>/dialer.db``, a private copy of a file migrated once
      per session;
    - postgresql: ``postgresql+asyncpg://...``, a database created (and migrated) once per test
      session, named ``dialer_test_<pid>_<random>`` so parallel sessions never meet; every table
      is truncated (identities restarted) before each test. Dispose of your engines before the
      test ends (``session_factory`` does), or the next truncation waits for your locks.
    Open it with ``store.db.make_engine`` / ``store.db.Database.open``.
``session_factory`` (function scope, follows ``database_url``'s parameters)
    An ``async_sessionmaker[AsyncSession]`` on ``database_url``; the engine is disposed after.
``postgres_url`` (function scope)
    Like ``database_url`` but PostgreSQL only (concurrency tests: ``SKIP LOCKED``).
``redis_url`` (function scope) and ``redis_key_prefix``
    ``redis://127.0.0.1:6379/0`` (or ``DIALER_TEST_REDIS_URL``); the database is shared with
    other sessions, so prefix every key with ``redis_key_prefix`` (unique per test).

Services
--------
PostgreSQL is ``DIALER_TEST_POSTGRES_URL`` (default
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``, the maintenance database the per-session
one is created from); Redis is ``DIALER_TEST_REDIS_URL``. When a service does not answer the test
is skipped with the reason, except with ``DIALER_TEST_REQUIRE_SERVICES=1`` (set by .ci/run),
where it FAILS: CI must never pass by skipping.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]
import pytest
import redis.asyncio as aioredis
from sqlalchemy.engine import make_url

from store.db import SessionFactory, create_schema, make_engine, make_session_factory
from store.models import Base

POSTGRES_URL = os.environ.get(
    "DIALER_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("DIALER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

T = TypeVar("T")


def _run_apart(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on its own loop in a thread: session fixtures may be first
    requested from inside a test's running loop, where asyncio.run is refused."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def services_required() -> bool:
    return os.environ.get("DIALER_TEST_REQUIRE_SERVICES") == "1"


def missing_service(reason: str) -> None:
    """Skip the test, or fail it when CI requires every service."""
    if services_required():
        pytest.fail(f"{reason} (DIALER_TEST_REQUIRE_SERVICES=1: a missing service fails)")
    pytest.skip(reason)


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _truncate_statement() -> str:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    return f"TRUNCATE {tables} RESTART IDENTITY CASCADE"


async def _create_postgres_database(maintenance_url: str) -> str:
    name = f"dialer_test_{os.getpid()}_{secrets.token_hex(4)}"
    connection = await asyncpg.connect(_asyncpg_dsn(maintenance_url), timeout=5)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    url = make_url(maintenance_url).set(database=name).render_as_string(hide_password=False)
    await create_schema(url)
    return url


async def _drop_postgres_database(maintenance_url: str, url: str) -> None:
    name = make_url(url).database
    connection = await asyncpg.connect(_asyncpg_dsn(maintenance_url), timeout=5)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def _postgres_session_database() -> Iterator[str | None]:
    """The per-session PostgreSQL database, or None (with the reason kept) when unreachable."""
    try:
        url = _run_apart(_create_postgres_database(POSTGRES_URL))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        _postgres_unreachable.append(f"PostgreSQL at {POSTGRES_URL} is not reachable: {exc}")
        yield None
        return
    try:
        yield url
    finally:
        _run_apart(_drop_postgres_database(POSTGRES_URL, url))


_postgres_unreachable: list[str] = []


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "dialer.db"
    _run_apart(create_schema(f"sqlite+aiosqlite:///{path}"))
    return path


async def _fresh_postgres(session_url: str | None) -> str:
    if session_url is None:
        missing_service(_postgres_unreachable[-1])
        raise AssertionError("unreachable")  # missing_service always raises
    connection = await asyncpg.connect(_asyncpg_dsn(session_url), timeout=5)
    try:
        await connection.execute("SET lock_timeout = '20s'")
        await connection.execute(_truncate_statement())
    finally:
        await connection.close()
    return session_url


def _fresh_sqlite(template: Path, tmp_path: Path) -> str:
    path = tmp_path / "dialer.db"
    shutil.copyfile(template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    _sqlite_template: Path,
) -> str:
    if request.param == "sqlite":
        return _fresh_sqlite(_sqlite_template, tmp_path)
    session_url: str | None = request.getfixturevalue("_postgres_session_database")
    return await _fresh_postgres(session_url)


@pytest.fixture
async def postgres_url(_postgres_session_database: str | None) -> str:
    return await _fresh_postgres(_postgres_session_database)


@pytest.fixture
async def session_factory(database_url: str) -> AsyncIterator[SessionFactory]:
    engine = make_engine(database_url)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()


def _redis_answers(url: str) -> str | None:
    """None when Redis answers PING, else why not."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError as exc:
        return f"Redis at {url} is not reachable: {exc}"
    if not reply.startswith(b"+PONG"):
        return f"Redis at {url} answered PING with {reply!r}"
    return None


@pytest.fixture(scope="session")
def _redis_problem() -> str | None:
    return _redis_answers(REDIS_URL)


@pytest.fixture
def redis_url(_redis_problem: str | None) -> str:
    if _redis_problem is not None:
        missing_service(_redis_problem)
    return REDIS_URL


@pytest.fixture
async def redis_key_prefix(redis_url: str) -> AsyncIterator[str]:
    """One test's Redis keys, and what it left under them deleted after it (torn down after
    the fixtures that use the prefix, so after their clients close)."""
    prefix = f"dialer-test:{os.getpid()}:{secrets.token_hex(4)}:"
    yield prefix
    client = aioredis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
