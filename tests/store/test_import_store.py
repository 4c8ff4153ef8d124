"""Importing into the store (seed 000), on SQLite and PostgreSQL: nothing written on a
faulty file, options applied, contacts assigned in file order."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from store.enums import OperationType
from store.importing import ImportOptions, ImportRejected, TagMode
from store.importing.importer import import_file
from store.importing.records import ContactRecord
from store.importing.writer import Writer
from store.models import (
    Account,
    Assignment,
    Base,
    BlockedNumber,
    Campaign,
    Company,
    Contact,
    ContactTag,
    ImportBatch,
    Phone,
    Tag,
    Ticket,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "import"
NOW = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)
Factory = async_sessionmaker[AsyncSession]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Factory]:
    if request.param == "sqlite":
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
        schema = None
    else:
        schema = "t_" + uuid.uuid4().hex[:12]
        admin = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:5432/test")
        async with admin.begin() as conn:
            await conn.execute(text(f"CREATE SCHEMA {schema}"))
        await admin.dispose()
        engine = create_async_engine(
            "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
            connect_args={"server_settings": {"search_path": schema}},
        )
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    factory = async_sessionmaker(engine, expire_on_commit=False)
    async with factory() as s, s.begin():
        s.add(Company(id=1, name="Acme", created_at=NOW))
        await s.flush()
        s.add(
            Campaign(
                id=1,
                company_id=1,
                name="Outbound",
                operation_type=OperationType.TELESALES,
                created_at=NOW,
                updated_at=NOW,
            )
        )
        s.add_all([Tag(company_id=1, name="VIP"), Tag(company_id=1, name="LATE")])
    yield factory
    await engine.dispose()
    if schema:
        admin = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:5432/test")
        async with admin.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        await admin.dispose()


async def count(sessions: Factory, model: type[Base]) -> int:
    async with sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_standard_file_creates_contacts_phones_and_assignments_in_file_order(
    sessions: Factory,
) -> None:
    report = await import_file(
        sessions, FIXTURES / "standard.csv", 1, ImportOptions(default_country="CO"), now=NOW
    )
    assert (report.rows, report.created, report.assigned, report.duplicates) == (3, 3, 3, 0)
    async with sessions() as s:
        order = (
            (
                await s.execute(
                    select(Contact.document_number).join(Assignment).order_by(Assignment.order_key)
                )
            )
            .scalars()
            .all()
        )
        phones = (await s.execute(select(Phone.e164, Phone.timezone).order_by(Phone.id))).all()
        extra = await s.scalar(
            select(Contact.additional_data).where(Contact.document_number == "1001")
        )
    assert order == ["1001", "1002", "9003"]
    assert phones[:2] == [("+576013790123", "America/Bogota"), ("+573105822141", "America/Bogota")]
    assert extra == {"SEGMENT": "gold"}


async def test_faulty_file_writes_nothing(sessions: Factory) -> None:
    with pytest.raises(ImportRejected) as caught:
        await import_file(sessions, FIXTURES / "faulty.csv", 1, ImportOptions(default_country="CO"))
    assert str(caught.value.problems[0]) == "row 3, column DOCUMENT NUMBER: required value is empty"
    assert await count(sessions, Contact) == 0
    assert await count(sessions, Assignment) == 0


async def test_duplicates_stay_unchanged_unless_overwritten(
    sessions: Factory, tmp_path: Path
) -> None:
    await import_file(sessions, FIXTURES / "standard.csv", 1, ImportOptions(default_country="CO"))
    changed = tmp_path / "changed.csv"
    changed.write_text(
        (FIXTURES / "standard.csv").read_text(encoding="utf-8").replace("García", "Gómez"),
        encoding="utf-8",
    )
    again = await import_file(sessions, changed, 1, ImportOptions(default_country="CO"))
    async with sessions() as s:
        kept = await s.scalar(
            select(Contact.first_surname).where(Contact.document_number == "1001")
        )
    assert (again.created, again.duplicates, again.updated, again.assigned, kept) == (
        0,
        3,
        0,
        0,
        "García",
    )
    over = await import_file(
        sessions, changed, 1, ImportOptions(default_country="CO", overwrite_duplicates=True)
    )
    async with sessions() as s:
        new = await s.scalar(select(Contact.first_surname).where(Contact.document_number == "1001"))
    # Phones are replaced, not added twice: 2 + 1 + 0 in the file.
    assert (over.updated, new, await count(sessions, Phone)) == (3, "Gómez", 3)


async def test_tags_add_or_replace(sessions: Factory, tmp_path: Path) -> None:
    await import_file(sessions, FIXTURES / "standard.csv", 1, ImportOptions(default_country="CO"))
    retag = tmp_path / "retag.csv"
    retag.write_text(
        "CUSTOMER TYPE,DOCUMENT TYPE,DOCUMENT NUMBER,FIRST SURNAME,FIRST NAME,EMAIL,TAGS\n"
        "PERSON,CC,1002,Pérez,Luis,l@example.com,LATE\n",
        encoding="utf-8",
    )

    async def tags_of_1002() -> list[str]:
        async with sessions() as s:
            rows = await s.scalars(
                select(Tag.name)
                .join(ContactTag)
                .join(Contact)
                .where(Contact.document_number == "1002")
                .order_by(Tag.name)
            )
            return list(rows)

    assert await tags_of_1002() == ["LATE", "VIP"]
    await import_file(sessions, retag, 1, ImportOptions(tag_mode=TagMode.REPLACE))
    assert await tags_of_1002() == ["LATE"]


async def test_tickets_created_with_priority_and_old_ones_closed(sessions: Factory) -> None:
    options = ImportOptions(default_country="CO", create_tickets=True)
    await import_file(sessions, FIXTURES / "standard.csv", 1, options)
    from store.importing import TicketPriority

    second = await import_file(
        sessions,
        FIXTURES / "standard.csv",
        1,
        ImportOptions(
            default_country="CO",
            create_tickets=True,
            ticket_priority=TicketPriority.HIGH,
            close_open_tickets=True,
        ),
    )
    async with sessions() as s:
        open_ = (
            (await s.execute(select(Ticket.priority).where(Ticket.state == "open"))).scalars().all()
        )
    assert (second.tickets_closed, second.tickets_created) == (3, 3)
    assert [str(p) for p in open_] == ["high", "high", "high"]


async def test_delete_other_accounts_keeps_only_the_files(sessions: Factory) -> None:
    await import_file(sessions, FIXTURES / "standard.csv", 1, ImportOptions(default_country="CO"))
    async with sessions() as s, s.begin():
        cid = await s.scalar(select(Contact.id).where(Contact.document_number == "1001"))
        assert cid is not None
        s.add(Account(contact_id=cid, number="OLD-9"))
    report = await import_file(
        sessions,
        FIXTURES / "standard.csv",
        1,
        ImportOptions(default_country="CO", delete_other_accounts=True),
    )
    async with sessions() as s:
        numbers = list(await s.scalars(select(Account.number).where(Account.contact_id == cid)))
    assert (report.accounts_deleted, numbers) == (1, ["ACC-1"])


async def test_custom_template_with_mapping(sessions: Factory) -> None:
    from store.importing.mapping import load_mapping

    options = ImportOptions(
        default_country="CO", mapping=load_mapping(FIXTURES / "custom-mapping.toml")
    )
    report = await import_file(sessions, FIXTURES / "custom-latin1.csv", 1, options)
    async with sessions() as s:
        names = list(await s.scalars(select(Contact.first_surname).order_by(Contact.id)))
    assert (report.created, names) == (2, ["Muñoz", "Díaz"])


def _many_rows(path: Path, count: int, *, fault_at_end: bool = False) -> None:
    lines = ["CUSTOMER TYPE,DOCUMENT TYPE,DOCUMENT NUMBER,FIRST SURNAME,FIRST NAME,PHONE,MOBILE"]
    for i in range(count):
        landline = f"+57601{2000000 + i:07d}"
        lines.append(f"PERSON,CC,{5000 + i},Pérez,Ana,{landline},310{1000000 + i:07d}")
    if fault_at_end:
        lines.append("PERSON,CC,5000,Pérez,Ana,,3109999999")  # the first row's customer again
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation chunks of 5 rows and writer batches of 7: many batches in a small file."""
    from store.importing import pipeline, writer_pg

    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 5)
    monkeypatch.setattr(writer_pg, "BATCH_ROWS", 7)


@pytest.mark.usefixtures("small_batches")
async def test_fault_after_written_batches_writes_nothing(
    sessions: Factory, tmp_path: Path
) -> None:
    path = tmp_path / "late-fault.csv"
    _many_rows(path, 40, fault_at_end=True)
    with pytest.raises(ImportRejected) as caught:
        await import_file(sessions, path, 1, ImportOptions(default_country="CO"))
    assert "CC 5000 is already in row 2" in str(caught.value.problems[0])
    for model in (Contact, Phone, Assignment, ImportBatch):
        assert await count(sessions, model) == 0


@pytest.mark.usefixtures("small_batches")
async def test_batches_keep_file_order_first_unblocked_phone_and_duplicates(
    sessions: Factory, tmp_path: Path
) -> None:
    path = tmp_path / "many.csv"
    _many_rows(path, 40)
    async with sessions() as s, s.begin():
        s.add(BlockedNumber(company_id=1, e164="+576012000003", created_at=NOW))
    report = await import_file(sessions, path, 1, ImportOptions(default_country="CO"), now=NOW)
    assert (report.created, report.assigned, report.duplicates) == (40, 40, 0)

    async def assigned() -> list[tuple[str, int, str | None]]:
        async with sessions() as s:
            rows = await s.execute(
                select(Contact.document_number, Assignment.order_key, Phone.e164)
                .join(Assignment, Assignment.contact_id == Contact.id)
                .outerjoin(Phone, Phone.id == Assignment.phone_id)
                .order_by(Assignment.order_key)
            )
            return [(n, k, e) for n, k, e in rows]

    first = await assigned()
    assert [n for n, _, _ in first] == [str(5000 + i) for i in range(40)]
    assert [k for _, k, _ in first] == list(range(1, 41))
    # Row 4's landline is blocked: its mobile is the number to dial.
    assert first[3][2] == "+573101000003"
    assert first[4][2] == "+576012000004"
    async with sessions() as s:
        batch = await s.scalar(select(ImportBatch).where(ImportBatch.id == report.batch_id))
    assert batch is not None
    assert (batch.rows_total, batch.rows_inserted) == (40, 40)

    again = await import_file(sessions, path, 1, ImportOptions(default_country="CO"))
    assert (again.created, again.duplicates, again.assigned) == (0, 40, 0)
    over = await import_file(
        sessions, path, 1, ImportOptions(default_country="CO", overwrite_duplicates=True)
    )
    assert (over.created, over.updated, await count(sessions, Phone)) == (0, 40, 80)
    # Overwriting leaves the campaign's order as it was.
    assert [n for n, _, _ in await assigned()] == [n for n, _, _ in first]


@pytest.fixture
def worker_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file validated in a worker process (PostgreSQL streams; SQLite validates whole)."""
    from store.importing import streaming

    monkeypatch.setattr(streaming, "PROCESS_MIN_BYTES", 0)


@pytest.mark.usefixtures("small_batches", "worker_process")
async def test_validation_in_a_worker_process_writes_the_same_or_nothing(
    sessions: Factory, tmp_path: Path
) -> None:
    path = tmp_path / "many.csv"
    _many_rows(path, 40)
    report = await import_file(sessions, path, 1, ImportOptions(default_country="CO"), now=NOW)
    assert (report.rows, report.created, report.assigned) == (40, 40, 40)
    async with sessions() as s:
        order = list(
            await s.scalars(
                select(Contact.document_number).join(Assignment).order_by(Assignment.order_key)
            )
        )
    assert order == [str(5000 + i) for i in range(40)]

    late = tmp_path / "late-fault.csv"
    _many_rows(late, 60, fault_at_end=True)
    with pytest.raises(ImportRejected) as caught:
        await import_file(sessions, late, 1, ImportOptions(default_country="CO"))
    assert "CC 5000 is already in row 2" in str(caught.value.problems[0])
    assert (await count(sessions, Contact), await count(sessions, ImportBatch)) == (40, 1)


async def test_a_failure_while_writing_a_batch_writes_nothing(
    sessions: Factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch that fails while it is written (the third: on PostgreSQL in the task that
    writes it while the next one is staged) rolls back every batch before it."""
    from store.importing import pipeline, writer_pg

    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 5)
    monkeypatch.setattr(writer_pg, "BATCH_ROWS", 7)
    path = tmp_path / "many.csv"
    _many_rows(path, 40)
    original = writer_pg.PostgresWriter._statements
    calls = 0

    async def failing(self: writer_pg.PostgresWriter, batch: int, existing: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("server went away")
        await original(self, batch, existing)

    monkeypatch.setattr(writer_pg.PostgresWriter, "_statements", failing)
    original_write = Writer.write
    writes = 0

    async def failing_write(self: Writer, chunk: Sequence[ContactRecord]) -> None:
        nonlocal writes
        writes += 1
        if writes == 3:
            raise RuntimeError("server went away")
        await original_write(self, chunk)

    monkeypatch.setattr(Writer, "write", failing_write)
    with pytest.raises(RuntimeError, match="server went away"):
        await import_file(sessions, path, 1, ImportOptions(default_country="CO"))
    for model in (Contact, Phone, Assignment, ImportBatch):
        assert await count(sessions, model) == 0
