"""The foreign keys of the tables an import fills hold on both backends: declared on SQLite,
checked once per statement on PostgreSQL (store/statement_keys.py)."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from types import ModuleType

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

import store
from store.db import SessionFactory, make_engine, make_session_factory
from store.models import Assignment, Base, Campaign, Contact, ImportBatch, Phone, Ticket
from store.statement_keys import install, keys_of, trigger_names, uninstall
from tests.backends import _asyncpg_dsn
from tests.store.builders import NOW, add_assignment, company_and_campaign

MISSING = 987_654


async def _assignment(session: AsyncSession) -> Assignment:
    _, campaign = await company_and_campaign(session)
    return await add_assignment(session, campaign, "+573101234567")


async def test_a_phone_for_a_missing_contact_is_refused(session_factory: SessionFactory) -> None:
    async with session_factory() as session, session.begin():
        await _assignment(session)
    async with session_factory() as session:
        with pytest.raises(IntegrityError):
            await session.execute(
                insert(Phone).values(
                    contact_id=MISSING, kind="phone", e164="+573100000000", timezone="UTC"
                )
            )


async def test_one_bad_row_refuses_the_whole_statement(session_factory: SessionFactory) -> None:
    async with session_factory() as session, session.begin():
        assignment = await _assignment(session)
        contact_id = assignment.contact_id
    rows = [
        {"contact_id": contact_id, "kind": "phone", "e164": "+573100000001", "timezone": "UTC"},
        {"contact_id": MISSING, "kind": "phone", "e164": "+573100000002", "timezone": "UTC"},
    ]
    async with session_factory() as session:
        with pytest.raises(IntegrityError):
            # One INSERT with both rows (an executemany would be two statements).
            await session.execute(insert(Phone).values(rows))
    async with session_factory() as session:
        phones = await session.scalar(select(func.count()).select_from(Phone))
    assert phones == 1  # the assignment's own phone only


async def test_moving_a_key_to_a_missing_parent_is_refused(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        assignment = await _assignment(session)
    async with session_factory() as session:
        with pytest.raises(IntegrityError):
            await session.execute(
                update(Assignment).where(Assignment.id == assignment.id).values(phone_id=MISSING)
            )


async def test_deleting_a_contact_deletes_its_phones_and_assignments(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        assignment = await _assignment(session)
    async with session_factory() as session, session.begin():
        await session.execute(delete(Contact).where(Contact.id == assignment.contact_id))
    async with session_factory() as session:
        phones = await session.scalar(select(func.count()).select_from(Phone))
        assignments = await session.scalar(select(func.count()).select_from(Assignment))
    assert (phones, assignments) == (0, 0)


async def test_deleting_a_phone_leaves_its_assignment_without_a_number(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        assignment = await _assignment(session)
    async with session_factory() as session, session.begin():
        await session.execute(delete(Phone).where(Phone.id == assignment.phone_id))
    async with session_factory() as session:
        phone_id = await session.scalar(
            select(Assignment.phone_id).where(Assignment.id == assignment.id)
        )
    assert phone_id is None


async def test_deleting_an_import_batch_keeps_its_contacts(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        assignment = await _assignment(session)
        company_id = await session.scalar(
            select(Contact.company_id).where(Contact.id == assignment.contact_id)
        )
        batch = ImportBatch(company_id=company_id, file_name="march.csv", created_at=NOW)
        session.add(batch)
        await session.flush()
        await session.execute(
            update(Contact)
            .where(Contact.id == assignment.contact_id)
            .values(import_batch_id=batch.id)
        )
    async with session_factory() as session, session.begin():
        await session.execute(delete(ImportBatch).where(ImportBatch.id == batch.id))
    async with session_factory() as session:
        left = (await session.execute(select(Contact.id, Contact.import_batch_id))).all()
    assert [tuple(r) for r in left] == [(assignment.contact_id, None)]


async def test_deleting_a_campaign_deletes_its_tickets(session_factory: SessionFactory) -> None:
    async with session_factory() as session, session.begin():
        assignment = await _assignment(session)
        contact = await session.get(Contact, assignment.contact_id)
        assert contact is not None
        session.add(
            Ticket(
                company_id=contact.company_id,
                campaign_id=assignment.campaign_id,
                contact_id=contact.id,
                created_at=NOW,
            )
        )
    async with session_factory() as session, session.begin():
        await session.execute(delete(Campaign).where(Campaign.id == assignment.campaign_id))
    async with session_factory() as session:
        tickets = await session.scalar(select(func.count()).select_from(Ticket))
    assert tickets == 0


# ------------------------------------------------------------------ PostgreSQL's own side


async def test_the_error_names_the_constraint_and_the_key(postgres_url: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(postgres_url))
    try:
        with pytest.raises(asyncpg.ForeignKeyViolationError) as caught:
            await connection.execute(
                "INSERT INTO phone (contact_id, kind, e164, timezone, position) "
                f"VALUES ({MISSING}, 'phone', '+573100000000', 'UTC', 0)"
            )
    finally:
        await connection.close()
    assert caught.value.constraint_name == "fk_phone_contact_id_contact"
    assert caught.value.detail == f'Key (contact_id)=({MISSING}) is not present in table "contact".'


async def test_every_key_of_the_bulk_tables_is_checked_by_its_triggers(postgres_url: str) -> None:
    keys = keys_of(Base.metadata)
    connection = await asyncpg.connect(_asyncpg_dsn(postgres_url))
    try:
        triggers = {
            r["tgname"]: r["tgrelid"]
            for r in await connection.fetch(
                "SELECT tgname, tgrelid::regclass::text AS tgrelid FROM pg_trigger "
                "WHERE NOT tgisinternal"
            )
        }
        declared = {
            r["conname"]
            for r in await connection.fetch("SELECT conname FROM pg_constraint WHERE contype = 'f'")
        }
    finally:
        await connection.close()
    assert {k.table for k in keys} == {
        "contact", "phone", "email", "account", "contact_tag", "assignment", "ticket",
    }  # fmt: skip
    assert trigger_names(keys).items() <= triggers.items()
    assert declared.isdisjoint({k.name for k in keys})


async def _seeded(url: str) -> Assignment:
    engine = make_engine(url)
    try:
        async with make_session_factory(engine)() as session, session.begin():
            return await _assignment(session)
    finally:
        await engine.dispose()


async def _waits_for_a_lock(
    observer: asyncpg.Connection, waiter: asyncpg.Connection, statement: asyncio.Task[object]
) -> None:
    """``waiter``'s statement is blocked on a lock (pg_stat_activity says so), not done."""
    pid = waiter.get_server_pid()
    for _ in range(200):
        assert not statement.done(), "the statement went through instead of waiting"
        waiting = await observer.fetchval(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid
        )
        if waiting == "Lock":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the statement never waited for a lock")


async def test_a_parent_deleted_while_a_child_is_written_waits_and_cascades(
    postgres_url: str,
) -> None:
    assignment = await _seeded(postgres_url)
    writer = await asyncpg.connect(_asyncpg_dsn(postgres_url))
    deleter = await asyncpg.connect(_asyncpg_dsn(postgres_url))
    try:
        transaction = writer.transaction()
        await transaction.start()
        await writer.execute(
            "INSERT INTO phone (contact_id, kind, e164, timezone, position) "
            f"VALUES ({assignment.contact_id}, 'mobile', '+573100000009', 'UTC', 1)"
        )
        deleting = asyncio.create_task(
            deleter.execute(f"DELETE FROM contact WHERE id = {assignment.contact_id}")
        )
        # The writer's lock on the contact holds the delete.
        await _waits_for_a_lock(writer, deleter, deleting)
        await transaction.commit()
        await asyncio.wait_for(deleting, 10)
        phones = await writer.fetchval("SELECT count(*) FROM phone")
    finally:
        await writer.close()
        await deleter.close()
    assert phones == 0  # the committed phone went with its contact


async def test_a_child_written_while_its_parent_is_deleted_is_refused(postgres_url: str) -> None:
    assignment = await _seeded(postgres_url)
    writer = await asyncpg.connect(_asyncpg_dsn(postgres_url))
    deleter = await asyncpg.connect(_asyncpg_dsn(postgres_url))
    try:
        transaction = deleter.transaction()
        await transaction.start()
        await deleter.execute(f"DELETE FROM contact WHERE id = {assignment.contact_id}")
        writing = asyncio.create_task(
            writer.execute(
                "INSERT INTO phone (contact_id, kind, e164, timezone, position) "
                f"VALUES ({assignment.contact_id}, 'mobile', '+573100000009', 'UTC', 1)"
            )
        )
        # It waits for the delete to commit or roll back.
        await _waits_for_a_lock(deleter, writer, writing)
        await transaction.commit()
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await asyncio.wait_for(writing, 10)
    finally:
        await writer.close()
        await deleter.close()


async def test_a_parent_delete_under_repeatable_read_is_refused(postgres_url: str) -> None:
    assignment = await _seeded(postgres_url)
    connection = await asyncpg.connect(_asyncpg_dsn(postgres_url))
    try:
        with pytest.raises(asyncpg.FeatureNotSupportedError, match="READ COMMITTED"):
            async with connection.transaction(isolation="repeatable_read"):
                await connection.execute(f"DELETE FROM contact WHERE id = {assignment.contact_id}")
        left = await connection.fetchval("SELECT count(*) FROM contact")
    finally:
        await connection.close()
    assert left == 1


async def test_a_referenced_parent_keeps_its_key(postgres_url: str) -> None:
    assignment = await _seeded(postgres_url)
    engine = make_engine(postgres_url)
    try:
        async with make_session_factory(engine)() as session:
            with pytest.raises(IntegrityError, match='constraint "fk_phone_contact_id_contact"'):
                await session.execute(
                    update(Contact).where(Contact.id == assignment.contact_id).values(id=MISSING)
                )
    finally:
        await engine.dispose()


async def test_downgrading_declares_the_keys_again(postgres_url: str) -> None:
    from alembic import command

    from store.db import _alembic_config

    def declared(sync: object) -> set[str]:
        rows = sync.exec_driver_sql(  # type: ignore[attr-defined]
            "SELECT conname FROM pg_constraint WHERE contype = 'f'"
        )
        return {r[0] for r in rows}

    names = {key.name for key in keys_of(Base.metadata)}
    engine = make_engine(postgres_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda s: command.downgrade(_alembic_config(s), "0004"))
            after_downgrade = await connection.run_sync(declared)
            await connection.run_sync(lambda s: command.upgrade(_alembic_config(s), "head"))
            after_upgrade = await connection.run_sync(declared)
    finally:
        await engine.dispose()
    assert names <= after_downgrade
    assert after_upgrade.isdisjoint(names)


def _migration_0005() -> ModuleType:
    path = Path(store.__file__).parent / "migrations" / "versions" / "0005_statement_keys.py"
    spec = importlib.util.spec_from_file_location("migration_0005", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_migration_0005_runs_the_statements_the_generator_builds_for_its_keys() -> None:
    # The migration runs frozen statements, so that a later change to the generator does not
    # change what it does; a generator that no longer builds them needs a new migration.
    migration = _migration_0005()
    assert migration.statements("upgrade") == install(migration.KEYS)
    assert migration.statements("downgrade") == uninstall(migration.KEYS)


def test_migration_0005_covers_every_declared_key_of_the_bulk_tables() -> None:
    assert set(_migration_0005().KEYS) == set(keys_of(Base.metadata))
