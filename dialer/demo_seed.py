"""The demo's contact center, written through the store's own repositories and importer.

A company, a predictive campaign on the simulated trunk with AMD and an ACW timer whose timeout
applies a default typification (seed 004), a typification tree with its "No contact" group
mapped per call outcome (seed 004: the predictive strategy needs it), agents who are members of
the campaign, and contacts that arrive the way users bring them: a generated .csv in the
seed-000 template, through ``dialer import``'s importer.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

from store.campaigns import create_campaign, create_company, set_default_typification
from store.db import SessionFactory
from store.enums import CallOutcome, GroupKind, OperationType, Role
from store.importing.importer import import_file
from store.importing.options import ImportOptions
from store.models import DefaultPurpose
from store.typifications import add_group, add_result, map_outcome
from store.users import add_member, create_user

CAMPAIGN_TIMEZONE = "America/Bogota"

# (name, retry after seconds, max attempts, final, success) for the agent's results.
DIRECT_RESULTS = [
    ("Sale", None, None, True, True),
    ("Call back later", 3 * 3600, None, False, False),
    ("Not interested", None, None, True, False),
]
# How calls that never reach an agent are recorded, with each result's retry rule.
NO_CONTACT_RESULTS = {
    CallOutcome.NO_ANSWER: ("No answer", 2 * 3600, 4, False),
    CallOutcome.BUSY: ("Busy", 20 * 60, 5, False),
    CallOutcome.CONGESTION: ("Network congestion", 30 * 60, 4, False),
    CallOutcome.FAILED: ("Call failed", 3600, 3, False),
    CallOutcome.INVALID: ("Invalid number", None, None, True),
    CallOutcome.MACHINE: ("Answering machine", 4 * 3600, 3, False),
    CallOutcome.DROPPED: ("Dropped (no agent free)", 3600, 4, False),
}


@dataclass(frozen=True)
class DemoAgent:
    user_id: int
    name: str
    interface: str


@dataclass(frozen=True)
class DemoCenter:
    company_id: int
    campaign_id: int
    agents: list[DemoAgent]
    direct_results: dict[str, int]  # result name -> id
    acw_default_result: int
    contacts: int


async def seed_center(
    sessions: SessionFactory,
    *,
    agents: int,
    contacts: int,
    now: dt.datetime,
    seed: int = 1,
    acw_max_s: int = 45,
    pacing: dict[str, float] | None = None,
) -> DemoCenter:
    async with sessions() as session, session.begin():
        company = await create_company(session, "Demo Contact Center", now)
        campaign = await create_campaign(
            session,
            company.id,
            "Demo predictive",
            OperationType.TELESALES,
            now,
            dial_mode="predictive",
            trunk="dialer-trunk",
            caller_id='"Demo Telesales" <5551000>',
            timezone=CAMPAIGN_TIMEZONE,
            amd_enabled=True,
            machine_action="hangup",
            drop_message="dialer/drop",
            acw_max_seconds=acw_max_s,
            acw_timeout_action="default_typification",
            default_max_attempts=4,
            pacing=dict(pacing or {}),
        )
        direct = await add_group(session, campaign.id, "Direct contact", GroupKind.DIRECT_CONTACT)
        results: dict[str, int] = {}
        for position, (name, retry, attempts, final, success) in enumerate(DIRECT_RESULTS):
            result = await add_result(
                session,
                direct.id,
                name,
                retry_after_seconds=retry,
                max_attempts=attempts,
                is_final=final,
                is_success=success,
                position=position,
            )
            results[name] = result.id
        no_contact = await add_group(
            session, campaign.id, "No contact (dialer)", GroupKind.NO_CONTACT, position=1
        )
        for position, (outcome, (name, retry, attempts, final)) in enumerate(
            NO_CONTACT_RESULTS.items()
        ):
            result = await add_result(
                session,
                no_contact.id,
                name,
                retry_after_seconds=retry,
                max_attempts=attempts,
                is_final=final,
                position=position,
            )
            await map_outcome(session, campaign.id, outcome, result.id)
        default = results["Call back later"]
        await set_default_typification(session, campaign.id, DefaultPurpose.ACW_TIMEOUT, default)
        people = []
        for n in range(1, agents + 1):
            user = await create_user(
                session,
                company.id,
                f"agent{n:02d}",
                Role.AGENT,
                now,
                full_name=f"Agent {n:02d}",
                interface=f"Local/70{n:02d}@agents",
            )
            await add_member(session, campaign.id, user.id, now)
            people.append(DemoAgent(user.id, user.full_name, user.interface or ""))
        campaign_id, company_id = campaign.id, company.id
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo-contacts.csv"
        write_contacts_csv(path, contacts, seed)
        await import_file(sessions, path, campaign_id, ImportOptions(default_country="CO"), now=now)
    return DemoCenter(company_id, campaign_id, people, results, default, contacts)


FIRST_NAMES = ["Ana", "Luis", "María", "Carlos", "Sofía", "Andrés", "Valentina", "Juan", "Laura"]
SURNAMES = ["García", "Rodríguez", "López", "Martínez", "Gómez", "Díaz", "Torres", "Rojas"]
CITIES = ["Bogotá", "Medellín", "Cali", "Barranquilla", "Cartagena", "Bucaramanga"]


def write_contacts_csv(path: Path, rows: int, seed: int) -> None:
    """``rows`` customers in the seed-000 template, each with a Colombian mobile."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "CUSTOMER TYPE",
                "DOCUMENT TYPE",
                "DOCUMENT NUMBER",
                "FIRST SURNAME",
                "FIRST NAME",
                "MOBILE",
                "CITY",
                "ADDRESS",
            ]
        )
        for n in range(rows):
            writer.writerow(
                [
                    "PERSON",
                    "CC",
                    str(1_000_000_000 + n),
                    rng.choice(SURNAMES),
                    rng.choice(FIRST_NAMES),
                    f"+57310{1_000_000 + n:07d}",
                    rng.choice(CITIES),
                    f"Calle {rng.randrange(1, 200)} # "
                    f"{rng.randrange(1, 99)}-{rng.randrange(1, 99)}",
                ]
            )
