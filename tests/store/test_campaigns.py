"""Companies, campaigns, the typification tree, users and contacts (both backends)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from store.attempts import record_outcome, start_attempt, typify
from store.campaigns import (
    create_campaign,
    create_company,
    default_campaign,
    dial_problems,
    set_active,
    set_dialing_paused,
    update_campaign,
)
from store.contacts import create_contact
from store.db import SessionFactory
from store.enums import CallOutcome, DialMode, GroupKind, OperationType, Role
from store.errors import CampaignInUse, InvalidSetting, MissingMandatoryFields
from store.hopper import claim_in
from store.models import AuditEntry, Campaign, Phone
from store.typifications import (
    add_form,
    add_form_field,
    add_group,
    add_result,
    delete_result,
    map_outcome,
    no_contact_result,
)
from store.users import add_member, create_user, issue_token, user_for_token
from tests.store.builders import NOW, add_assignment, company_and_campaign


async def test_a_new_company_gets_a_default_campaign(session_factory: SessionFactory) -> None:
    async with session_factory() as session, session.begin():
        company = await create_company(session, "Acme", NOW)
        campaign = await default_campaign(session, company.id)
    assert (campaign.name, campaign.is_default, campaign.active) == ("Default", True, True)
    assert campaign.operation_type == OperationType.CUSTOMER_SERVICE


async def test_an_invalid_setting_is_refused_naming_the_field(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        company = await create_company(session, "Acme", NOW)
        with pytest.raises(InvalidSetting, match="dial_mode: 'turbo' is not one of"):
            await create_campaign(session, company.id, "X", "telesales", NOW, dial_mode="turbo")
        with pytest.raises(InvalidSetting, match="timezone: unknown IANA timezone 'Mars/Base'"):
            await create_campaign(session, company.id, "X", "telesales", NOW, timezone="Mars/Base")
        with pytest.raises(InvalidSetting, match=r"schedule.wed\[0\]: start 18:00 is not before"):
            await create_campaign(
                session, company.id, "X", "telesales", NOW, schedule={"wed": [["18:00", "08:00"]]}
            )


async def test_a_predictive_campaign_gets_a_no_contact_group_with_a_result(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session, dial_mode=DialMode.PREDICTIVE)
        result = await no_contact_result(session, campaign.id, CallOutcome.BUSY)
        assert result is not None and result.name == "No contact"
        assert await dial_problems(session, campaign) == []
        with pytest.raises(InvalidSetting, match="last no-contact result of predictive"):
            await delete_result(session, result.id)


async def test_outcomes_map_to_their_own_no_contact_results(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        group = await add_group(session, campaign.id, "No contact", GroupKind.NO_CONTACT)
        generic = await add_result(session, group.id, "Not reached")
        machine = await add_result(session, group.id, "Answering machine")
        await map_outcome(session, campaign.id, CallOutcome.MACHINE, machine.id)
        assert (await no_contact_result(session, campaign.id, CallOutcome.MACHINE)) == machine
        assert (await no_contact_result(session, campaign.id, CallOutcome.BUSY)) == generic
        direct = await add_group(session, campaign.id, "Contact", GroupKind.DIRECT_CONTACT)
        sale = await add_result(session, direct.id, "Sale")
        with pytest.raises(InvalidSetting, match=r"not in campaign .*no-contact group"):
            await map_outcome(session, campaign.id, CallOutcome.BUSY, sale.id)


async def test_deactivation_is_refused_while_an_agent_is_assigned(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        company, campaign = await company_and_campaign(session)
        agent = await create_user(session, company.id, "ana", Role.AGENT, NOW)
        await add_member(session, campaign.id, agent.id, NOW)
        with pytest.raises(CampaignInUse, match=r"1 agent\(s\) assigned and 0 active call"):
            await set_active(session, campaign.id, False, NOW)
        assert campaign.active is True


async def test_deactivation_is_refused_while_a_call_is_active(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        await add_assignment(session, campaign, "+573101000001")
        await claim_in(session, campaign.id, 1, NOW, "dialer-1")
        with pytest.raises(CampaignInUse, match=r"0 agent\(s\) assigned and 1 active call"):
            await set_active(session, campaign.id, False, NOW)


async def test_an_idle_campaign_is_deactivated_and_audited(session_factory: SessionFactory) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        supervisor = await create_user(session, campaign.company_id, "sup", Role.SUPERVISOR, NOW)
        await add_member(session, campaign.id, supervisor.id, NOW)
        await set_active(session, campaign.id, False, NOW)
        await update_campaign(session, campaign.id, NOW, trunk="trunk-2")
        actions = list(
            await session.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.entity_id == campaign.id, AuditEntry.entity == "campaign"
                )
            )
        )
        assert await dial_problems(session, campaign) == ["the campaign is inactive"]
    assert actions[-2:] == ["deactivate", "update"]


async def test_a_pause_is_kept_on_the_campaign_and_each_change_audited_once(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        boss = await create_user(session, campaign.company_id, "boss", Role.SUPERVISOR, NOW)
        changed = [
            await set_dialing_paused(session, campaign.id, paused, NOW, user_id=boss.id)
            for paused in (True, True, False)
        ]
        campaign_id, company_id, boss_id = campaign.id, campaign.company_id, boss.id
    async with session_factory() as session:
        stored = await session.get(Campaign, campaign_id)
        entries = list(
            await session.scalars(
                select(AuditEntry)
                .where(
                    AuditEntry.entity == "campaign",
                    AuditEntry.entity_id == campaign_id,
                    AuditEntry.action.in_(("pause", "resume")),
                )
                .order_by(AuditEntry.id)
            )
        )
    assert changed == [True, False, True]  # the second pause changed nothing
    assert stored is not None and stored.dialing_paused is False
    assert [(e.action, e.changes, e.user_id, e.company_id, e.at) for e in entries] == [
        ("pause", {"dialing_paused": {"old": False, "new": True}}, boss_id, company_id, NOW),
        ("resume", {"dialing_paused": {"old": True, "new": False}}, boss_id, company_id, NOW),
    ]


async def test_mandatory_dynamic_fields_must_be_filled_to_typify(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        _, campaign = await company_and_campaign(session)
        form = await add_form(session, campaign.id, "Promise to pay")
        await add_form_field(session, form.id, "amount", mandatory=True, field_type="number")
        group = await add_group(session, campaign.id, "Contact", GroupKind.DIRECT_CONTACT)
        promise = await add_result(session, group.id, "Promise", form_id=form.id, is_final=True)
        assignment = await add_assignment(session, campaign, "+573101000001")
        await claim_in(session, campaign.id, 1, NOW, "d1")
        attempt = await start_attempt(session, assignment.id, NOW, owner="d1")
        await record_outcome(session, attempt.id, CallOutcome.ANSWERED, NOW)
        with pytest.raises(MissingMandatoryFields, match="mandatory fields missing: amount"):
            await typify(session, attempt.id, promise.id, NOW)
        await typify(session, attempt.id, promise.id, NOW, field_values={"amount": 120})
        assert attempt.field_values == {"amount": 120}


async def test_a_contact_phone_is_stored_in_e164_with_its_timezone(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        company = await create_company(session, "Acme", NOW)
        contact = await create_contact(
            session,
            company.id,
            NOW,
            customer_type="person",
            document_type="CC",
            document_number="123",
            first_name="Ana",
            first_surname="Pérez",
            phones=["310 582 2141"],
            default_country="CO",
        )
        phone = (await session.scalars(select(Phone).where(Phone.contact_id == contact.id))).one()
        assert (phone.e164, phone.timezone) == ("+573105822141", "America/Bogota")
        with pytest.raises(InvalidSetting, match="document_number: CC 123 is contact"):
            await create_contact(
                session,
                company.id,
                NOW,
                customer_type="person",
                document_type="CC",
                document_number="123",
                first_name="Eva",
                first_surname="Gil",
                emails=["e@x.co"],
            )
        with pytest.raises(InvalidSetting, match="contact: first_surname: is required"):
            await create_contact(
                session,
                company.id,
                NOW,
                customer_type="person",
                document_type="CC",
                document_number="9",
                first_name="Eva",
                first_surname=" ",
                emails=["e@x.co"],
            )


async def test_an_api_token_finds_its_user_and_only_its_hash_is_stored(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session, session.begin():
        company = await create_company(session, "Acme", NOW)
        admin = await create_user(session, company.id, "root", "administrator", NOW)
        token = await issue_token(session, admin.id, NOW)
        assert admin.token_hash is not None and token not in admin.token_hash
        assert await user_for_token(session, token) == admin
        assert await user_for_token(session, token + "x") is None
        with pytest.raises(InvalidSetting, match="role: 'boss' is not one of"):
            await create_user(session, company.id, "x", "boss", NOW)
