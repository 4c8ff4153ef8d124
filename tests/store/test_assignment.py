"""Assigning contacts from the database to campaigns (seed 003) and month-end regeneration
(seed 004), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from store.assignment import (
    AssignReport,
    ContactFilter,
    assign_contacts,
    campaign_counts,
    count_matching,
    regenerate,
    regenerate_if_new_month,
    return_if_success_limit_reached,
    return_unused,
)
from store.blocklist import block_number
from store.campaigns import create_campaign, create_company
from store.contacts import create_contact
from store.db import SessionFactory
from store.enums import (
    AssignmentState,
    CallOutcome,
    GroupKind,
    MonthEndRegeneration,
    OperationType,
)
from store.errors import InvalidSetting
from store.models import (
    Assignment,
    Attempt,
    Campaign,
    Contact,
    ImportBatch,
    TypificationGroup,
    TypificationResult,
)

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
EARLIER = datetime(2025, 11, 2, 9, 30, tzinfo=UTC)
EVERYONE = ContactFilter()


@dataclass
class World:
    sessions: SessionFactory
    company_id: int
    campaign_id: int
    other_campaign_id: int
    serial: int = 0

    async def contact(
        self,
        *,
        phones: Sequence[str] | None = None,
        emails: Sequence[str] = (),
        address: str = "",
        city: str = "",
        region: str = "",
        postal_code: str = "",
        first_name: str = "Ana",
        first_surname: str = "Pérez",
        last_used_at: datetime | None = None,
        import_batch_id: int | None = None,
    ) -> int:
        self.serial += 1
        if phones is None:
            phones = [f"+57310{1_000_000 + self.serial:07d}"]
        async with self.sessions() as s, s.begin():
            contact = await create_contact(
                s,
                self.company_id,
                NOW,
                customer_type="PERSON",
                document_type="CC",
                document_number=str(100 + self.serial),
                first_name=first_name,
                first_surname=first_surname,
                phones=phones,
                emails=emails,
                address=address,
                city=city,
                region=region,
                postal_code=postal_code,
            )
            contact.last_used_at = last_used_at
            contact.import_batch_id = import_batch_id
            return contact.id

    async def assigned(self, campaign_id: int | None = None) -> list[int]:
        """Contact ids of the campaign's assignments, in order_key order."""
        async with self.sessions() as s:
            rows = await s.scalars(
                select(Assignment.contact_id)
                .where(Assignment.campaign_id == (campaign_id or self.campaign_id))
                .order_by(Assignment.order_key)
            )
            return list(rows)

    async def contact_row(self, contact_id: int) -> Contact:
        async with self.sessions() as s:
            contact = await s.get(Contact, contact_id)
            assert contact is not None
            return contact


@pytest.fixture
async def world(session_factory: SessionFactory) -> World:
    async with session_factory() as s, s.begin():
        company = await create_company(s, "Acme", NOW)
        campaign = await create_campaign(
            s, company.id, "Telesales March", OperationType.TELESALES, NOW, trunk="out"
        )
        other = await create_campaign(
            s, company.id, "Collections", OperationType.COLLECTIONS, NOW, trunk="out"
        )
        return World(session_factory, company.id, campaign.id, other.id)


async def _assign(
    w: World,
    f: ContactFilter = EVERYONE,
    *,
    limit: int | None = None,
    least_recently_used: bool = False,
    only_free: bool = True,
) -> AssignReport:
    async with w.sessions() as s, s.begin():
        return await assign_contacts(
            s,
            w.campaign_id,
            NOW,
            f,
            limit=limit,
            least_recently_used=least_recently_used,
            only_free=only_free,
        )


async def test_default_order_is_address_then_city(world: World) -> None:
    c = await world.contact(address="Calle 9", city="Medellín")
    a = await world.contact(address="Calle 1", city="Medellín")
    b = await world.contact(address="Calle 1", city="Bogotá")
    report = await _assign(world)
    assert report.added == 3
    assert await world.assigned() == [b, a, c]


async def test_assigning_again_reports_only_newly_added(world: World) -> None:
    await world.contact(city="Cali")
    await world.contact(city="Cali")
    first = await _assign(world, ContactFilter(city="Cali"))
    late = await world.contact(city="Cali")
    second = await _assign(world, ContactFilter(city="Cali"))
    assert (first.added, second.added, second.already_assigned) == (2, 1, 2)
    assert (await world.assigned())[-1] == late
    assert len(await world.assigned()) == 3


async def test_new_records_go_after_the_campaigns_last(world: World) -> None:
    first = await world.contact(address="Z street")
    await _assign(world)
    second = await world.contact(address="A street")
    await _assign(world)
    assert await world.assigned() == [first, second]


async def test_contact_with_a_blocked_phone_is_never_assigned(world: World) -> None:
    blocked = await world.contact(phones=["+573101111111", "+573102222222"])
    free = await world.contact()
    async with world.sessions() as s, s.begin():
        await block_number(s, world.company_id, "+573102222222", NOW, reason="Robinson")
    report = await _assign(world)
    assert (report.added, report.blocked) == (1, 1)
    assert blocked not in await world.assigned()
    assert await world.assigned() == [free]


async def test_contact_without_phone_is_not_assigned(world: World) -> None:
    await world.contact(phones=[], emails=["ana@example.com"])
    report = await _assign(world)
    assert (report.matched, report.added, report.without_phone) == (1, 0, 1)


async def test_city_and_region_match_the_full_name_only(world: World) -> None:
    bogota = await world.contact(city="Bogotá", region="Cundinamarca")
    await world.contact(city="Bogotá Norte", region="Cundinamarca")
    await world.contact(city="Bogotá", region="Antioquia")
    report = await _assign(world, ContactFilter(city="Bogotá", region="Cundinamarca"))
    assert report.matched == 1
    assert await world.assigned() == [bogota]


async def test_address_and_postal_code_match_a_fragment(world: World) -> None:
    hit = await world.contact(address="Calle Mayor 12", postal_code="110111")
    await world.contact(address="Calle Mayor 14", postal_code="050001")
    await world.contact(address="Avenida 3", postal_code="110112")
    report = await _assign(world, ContactFilter(address="mayor", postal_code="1101"))
    assert report.added == 1
    assert await world.assigned() == [hit]


async def test_name_matches_fragments_of_any_name_field(world: World) -> None:
    hit = await world.contact(first_name="Lucía", first_surname="Gómez")
    await world.contact(first_name="Lucía", first_surname="Ramírez")
    await world.contact(first_name="Jorge", first_surname="Gómez")
    report = await _assign(world, ContactFilter(name="Luc góm"))
    assert report.added == 1
    assert await world.assigned() == [hit]


async def test_phone_prefix_matches_the_first_phone(world: World) -> None:
    hit = await world.contact(phones=["+573154444444"])
    await world.contact(phones=["+573101234567", "+573155555555"])
    report = await _assign(world, ContactFilter(phone_prefix="57315"))
    assert report.matched == 1
    assert await world.assigned() == [hit]


async def test_filter_by_import_batch(world: World) -> None:
    async with world.sessions() as s, s.begin():
        batch = ImportBatch(company_id=world.company_id, file_name="march.csv", created_at=NOW)
        s.add(batch)
        await s.flush()
        batch_id = batch.id
    hit = await world.contact(import_batch_id=batch_id)
    await world.contact()
    report = await _assign(world, ContactFilter(import_batch_id=batch_id))
    assert report.added == 1
    assert await world.assigned() == [hit]


async def test_limit_takes_the_first_n_in_order(world: World) -> None:
    ids = [await world.contact(address=f"Calle {n}") for n in (3, 1, 2)]
    report = await _assign(world, limit=2)
    assert (report.added, report.not_taken) == (2, 1)
    assert await world.assigned() == [ids[1], ids[2]]


async def test_least_recently_used_takes_never_used_then_oldest(world: World) -> None:
    recent = await world.contact(address="A", last_used_at=NOW - timedelta(days=1))
    old = await world.contact(address="B", last_used_at=NOW - timedelta(days=90))
    never = await world.contact(address="C")
    await _assign(world, limit=2, least_recently_used=True)
    assert recent not in await world.assigned()
    assert await world.assigned() == [old, never]  # then in address order


async def test_assigning_stamps_last_used_and_keeps_the_previous(world: World) -> None:
    cid = await world.contact(last_used_at=EARLIER)
    await _assign(world)
    contact = await world.contact_row(cid)
    assert (contact.last_used_at, contact.previous_last_used_at) == (NOW, EARLIER)
    async with world.sessions() as s:
        assignment = await s.scalar(select(Assignment).where(Assignment.contact_id == cid))
    assert assignment is not None
    assert (assignment.last_used_at, assignment.previous_last_used_at) == (NOW, EARLIER)


async def test_contact_live_in_another_campaign_is_not_free(world: World) -> None:
    cid = await world.contact()
    async with world.sessions() as s, s.begin():
        await assign_contacts(s, world.other_campaign_id, NOW)
    report = await _assign(world)
    assert (report.added, report.in_other_campaign) == (0, 1)
    forced = await _assign(world, only_free=False)
    assert forced.added == 1
    assert await world.assigned() == [cid]


async def test_return_unused_restores_the_last_used_date(world: World) -> None:
    cid = await world.contact(last_used_at=EARLIER)
    await _assign(world)
    async with world.sessions() as s, s.begin():
        report = await return_unused(s, world.campaign_id, NOW + timedelta(hours=2))
    assert (report.returned, report.dates_restored) == (1, 1)
    assert (await world.contact_row(cid)).last_used_at == EARLIER


async def test_returned_records_are_free_for_another_campaign(world: World) -> None:
    cid = await world.contact()
    await _assign(world)
    async with world.sessions() as s, s.begin():
        await return_unused(s, world.campaign_id, NOW)
        report = await assign_contacts(s, world.other_campaign_id, NOW)
    assert report.added == 1
    assert await world.assigned(world.other_campaign_id) == [cid]


async def test_return_keeps_dialled_dates_and_leased_records(world: World) -> None:
    dialled = await world.contact(address="A", last_used_at=EARLIER)
    leased = await world.contact(address="B")
    await _assign(world)
    called_at = NOW + timedelta(minutes=5)
    async with world.sessions() as s, s.begin():
        rows = {a.contact_id: a for a in await s.scalars(select(Assignment))}
        rows[dialled].attempts = 1
        rows[dialled].last_used_at = called_at
        contact = await s.get(Contact, dialled)
        assert contact is not None
        contact.last_used_at = called_at
        rows[leased].state = AssignmentState.LEASED
    async with world.sessions() as s, s.begin():
        report = await return_unused(s, world.campaign_id, NOW + timedelta(hours=1))
    assert (report.returned, report.dates_restored, report.in_flight) == (1, 0, 1)
    assert (await world.contact_row(dialled)).last_used_at == called_at


async def _success(world: World, contact_id: int) -> None:
    async with world.sessions() as s, s.begin():
        group = TypificationGroup(
            campaign_id=world.campaign_id, name="Contact", kind=GroupKind.DIRECT_CONTACT
        )
        s.add(group)
        await s.flush()
        result = TypificationResult(group_id=group.id, name="Sale", is_success=True)
        s.add(result)
        await s.flush()
        assignment = await s.scalar(select(Assignment).where(Assignment.contact_id == contact_id))
        assert assignment is not None
        assignment.state = AssignmentState.DONE
        s.add(
            Attempt(
                campaign_id=world.campaign_id,
                assignment_id=assignment.id,
                contact_id=contact_id,
                e164="+573101000001",
                created_at=NOW,
                outcome=CallOutcome.ANSWERED,
                result_id=result.id,
                field_values={},
                survey_answers={},
            )
        )


async def test_success_limit_reached_returns_unused_records(world: World) -> None:
    async with world.sessions() as s, s.begin():
        campaign = await s.get(Campaign, world.campaign_id)
        assert campaign is not None
        campaign.success_limit = 1
    sold = await world.contact(address="A")
    waiting = await world.contact(address="B", last_used_at=EARLIER)
    await _assign(world)
    async with world.sessions() as s, s.begin():
        assert await return_if_success_limit_reached(s, world.campaign_id, NOW) is None
    await _success(world, sold)
    async with world.sessions() as s, s.begin():
        report = await return_if_success_limit_reached(s, world.campaign_id, NOW)
    assert report is not None and report.returned == 1
    assert (await world.contact_row(waiting)).last_used_at == EARLIER


async def test_campaign_without_success_limit_keeps_its_records(world: World) -> None:
    sold = await world.contact()
    await _assign(world)
    await _success(world, sold)
    async with world.sessions() as s, s.begin():
        assert await return_if_success_limit_reached(s, world.campaign_id, NOW) is None


async def _worked(world: World, mode: MonthEndRegeneration) -> int:
    async with world.sessions() as s, s.begin():
        campaign = await s.get(Campaign, world.campaign_id)
        assert campaign is not None
        campaign.month_end_regeneration = mode
        group = TypificationGroup(
            campaign_id=world.campaign_id, name="No contact", kind=GroupKind.NO_CONTACT
        )
        s.add(group)
        await s.flush()
        result = TypificationResult(group_id=group.id, name="Busy", is_final=True)
        s.add(result)
        await s.flush()
        result_id = result.id
    await world.contact()
    await _assign(world)
    async with world.sessions() as s, s.begin():
        assignment = await s.scalar(select(Assignment))
        assert assignment is not None
        assignment.state = AssignmentState.DONE
        assignment.attempts = 3
        assignment.retry = True
        assignment.last_result_id = result_id
        assignment.last_outcome = CallOutcome.BUSY
    return result_id


async def _only_assignment(world: World) -> Assignment:
    async with world.sessions() as s:
        assignment: Assignment | None = await s.scalar(select(Assignment))
        assert assignment is not None
        return assignment


async def test_month_end_blank_clears_results_and_resets_attempts(world: World) -> None:
    await _worked(world, MonthEndRegeneration.BLANK)
    async with world.sessions() as s, s.begin():
        report = await regenerate(s, world.campaign_id, NOW)
    a = await _only_assignment(world)
    assert (report.regenerated, report.results_cleared) == (1, 1)
    assert (a.state, a.attempts, a.retry) == (AssignmentState.PENDING, 0, False)
    assert (a.last_result_id, a.last_outcome) == (None, None)


async def test_month_end_keep_keeps_results_and_resets_attempts(world: World) -> None:
    result_id = await _worked(world, MonthEndRegeneration.KEEP)
    async with world.sessions() as s, s.begin():
        report = await regenerate(s, world.campaign_id, NOW)
    a = await _only_assignment(world)
    assert (report.regenerated, report.results_cleared) == (1, 0)
    assert (a.state, a.attempts) == (AssignmentState.PENDING, 0)
    assert (a.last_result_id, a.last_outcome) == (result_id, CallOutcome.BUSY)


async def test_regeneration_runs_once_per_month(world: World) -> None:
    await _worked(world, MonthEndRegeneration.BLANK)
    same_month = NOW + timedelta(days=5)
    next_month = datetime(2026, 4, 1, 5, 30, tzinfo=UTC)  # the campaign's clock is UTC
    async with world.sessions() as s, s.begin():
        assert await regenerate_if_new_month(s, world.campaign_id, same_month) is None
        first = await regenerate_if_new_month(s, world.campaign_id, next_month)
        again = await regenerate_if_new_month(s, world.campaign_id, next_month + timedelta(days=1))
    assert first is not None and first.regenerated == 1
    assert again is None


async def test_campaign_counts_all_and_unused(world: World) -> None:
    sold = await world.contact(address="A")
    await world.contact(address="B")
    await _assign(world)
    await _success(world, sold)
    async with world.sessions() as s:
        counts = await campaign_counts(s, world.campaign_id)
    assert (counts.total, counts.unused) == (2, 1)


async def test_count_matching_counts_the_filter(world: World) -> None:
    await world.contact(city="Cali")
    await world.contact(city="Cali")
    await world.contact(city="Pasto")
    async with world.sessions() as s:
        assert await count_matching(s, world.company_id, ContactFilter(city="Cali")) == 2


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"least_recently_used": True}, "limit"),
        ({"order": ["address", "shoe size"]}, "order"),
        ({"contact_filter": ContactFilter(phone_prefix="57-ABC")}, "phone_prefix"),
        ({"contact_filter": ContactFilter(import_batch_id=999)}, "import_batch_id"),
    ],
)
async def test_bad_input_names_the_field(
    world: World, options: dict[str, object], field: str
) -> None:
    await world.contact()
    async with world.sessions() as s:
        with pytest.raises(InvalidSetting) as caught:
            await assign_contacts(s, world.campaign_id, NOW, **options)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert await world.assigned() == []
