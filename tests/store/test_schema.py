"""The migrations create exactly the models' schema, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection

from store.db import SessionFactory, _alembic_config, current_revision, make_engine
from store.models import Base, Company
from store.statement_keys import keys_of
from tests.store.builders import company_and_campaign


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    differences = list(compare_metadata(context, Base.metadata))
    if connection.dialect.name == "postgresql":
        # Checked by statement triggers there, not declared (tests/store/test_statement_keys.py).
        by_trigger = {key.name for key in keys_of(Base.metadata)}
        differences = [
            d
            for d in differences
            if not (isinstance(d, tuple) and d[0] == "add_fk" and d[1].name in by_trigger)
        ]
    return differences


async def test_migrations_create_the_models_schema(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == []


async def test_the_database_is_at_the_newest_migration(database_url: str) -> None:
    assert await current_revision(database_url) == "0010"


def _campaign_columns(connection: Connection) -> set[str]:
    return {c["name"] for c in inspect(connection).get_columns("campaign")}


async def test_migration_0008_adds_the_pause_unpaused_and_takes_it_away_again(
    database_url: str, session_factory: SessionFactory
) -> None:
    from alembic import command

    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)  # there before the column
        campaign_id = campaign.id
    engine = make_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda s: command.downgrade(_alembic_config(s), "0007"))
            after_downgrade = await connection.run_sync(_campaign_columns)
            revision_then = await connection.run_sync(
                lambda s: s.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            )
        async with engine.begin() as connection:
            await connection.run_sync(lambda s: command.upgrade(_alembic_config(s), "0008"))
            after_upgrade = await connection.run_sync(_campaign_columns)
            paused = (
                await connection.execute(
                    text("SELECT dialing_paused FROM campaign WHERE id = :id"), {"id": campaign_id}
                )
            ).scalar_one()
    finally:
        async with engine.begin() as connection:  # the next tests need the newest schema
            await connection.run_sync(lambda s: command.upgrade(_alembic_config(s), "head"))
        await engine.dispose()
    assert revision_then == "0007"
    assert "dialing_paused" not in after_downgrade and "name" in after_downgrade
    assert "dialing_paused" in after_upgrade
    assert int(paused) == 0  # not paused (SQLite keeps a boolean as 0)


async def test_datetimes_come_back_aware_in_utc(session_factory: SessionFactory) -> None:
    bogota = timezone(timedelta(hours=-5))
    async with session_factory() as session:
        session.add(Company(name="Acme", created_at=datetime(2025, 3, 1, 7, 30, tzinfo=bogota)))
        await session.commit()
    async with session_factory() as session:
        created = (await session.scalars(select(Company.created_at))).one()
    assert created == datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
    assert created.tzinfo == UTC
