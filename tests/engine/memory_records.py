"""An in-memory stand-in for the campaign records, for the engine's own tests.

It keeps what the engine's contract with the store promises (docs/architecture.md): an attempt
row exists before its Originate, each attempt gets exactly one outcome (a second, different one
is an error), a contact is leased while in flight. The store's own tests check the real thing;
tests/engine/test_engine_store.py runs the engine on the real store.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass, field

from dialer.calls import channel_ids
from dialer.engine.ports import (
    Answers,
    AttemptResult,
    CampaignPlan,
    Dialable,
    DialRefused,
    OpenCall,
    Typification,
)


@dataclass
class MemoryRecords:
    plan: CampaignPlan
    contacts: list[Dialable]
    blocked: set[str] = field(default_factory=set)
    attempts: dict[int, tuple[Dialable, dt.datetime]] = field(default_factory=dict)
    results: dict[int, AttemptResult] = field(default_factory=dict)
    typified: dict[int, Typification] = field(default_factory=dict)
    leased: set[int] = field(default_factory=set)
    lease_log: list[tuple[str, int]] = field(default_factory=list)
    surveys: dict[int, tuple[dict[str, str], bool]] = field(default_factory=dict)
    answers: list[Answers] = field(default_factory=list)  # the store's, from before the test
    _next: int = 1

    async def campaign(self, campaign_id: int) -> CampaignPlan:
        return self.plan

    async def claim(
        self, campaign_id: int, n: int, now: dt.datetime, owner: str
    ) -> Sequence[Dialable]:
        out = []
        while self.contacts and len(out) < n:
            d = self.contacts.pop(0)
            assert d.assignment_id not in self.leased, "leased twice"
            self.leased.add(d.assignment_id)
            self.lease_log.append(("lease", d.assignment_id))
            out.append(d)
        return out

    async def release(self, assignment_id: int, owner: str) -> None:
        self.leased.discard(assignment_id)
        self.lease_log.append(("release", assignment_id))

    async def renew(self, assignment_ids: Sequence[int], now: dt.datetime) -> None:
        self.lease_log.extend(("renew", a) for a in assignment_ids)

    async def may_dial(self, campaign_id: int, dialable: Dialable, now: dt.datetime) -> str | None:
        return "blocked" if dialable.phone in self.blocked else None

    async def start_attempt(
        self, campaign_id: int, dialable: Dialable, now: dt.datetime, trunk: str
    ) -> int:
        attempt_id = self._next
        self._next += 1
        self.attempts[attempt_id] = (dialable, now)
        return attempt_id

    async def start_attempts(
        self, campaign_id: int, dialables: Sequence[Dialable], now: dt.datetime, trunk: str
    ) -> list[int | DialRefused]:
        out: list[int | DialRefused] = []
        for dialable in dialables:
            refusal = await self.may_dial(campaign_id, dialable, now)
            if refusal is not None:
                out.append(DialRefused(refusal))
            else:
                out.append(await self.start_attempt(campaign_id, dialable, now, trunk))
        return out

    async def write_spooled(self, wait_s: float = 10.0) -> int:
        return 0  # in memory: nothing outlives the run

    async def finish_attempt(self, campaign_id: int, result: AttemptResult) -> None:
        old = self.results.get(result.attempt_id)
        if old is not None and old.outcome != result.outcome:
            raise AssertionError(
                f"attempt {result.attempt_id}: {old.outcome} then {result.outcome}"
            )
        self.results[result.attempt_id] = result
        dialable = self.attempts[result.attempt_id][0]
        self.leased.discard(dialable.assignment_id)
        self.lease_log.append(("release", dialable.assignment_id))

    async def answers_since(self, campaign_id: int, since: dt.datetime) -> list[Answers]:
        return [a for a in self.answers if a.minute >= since]

    async def open_calls(self, owner: str, before: dt.datetime | None = None) -> list[OpenCall]:
        """Attempts started before ``before`` without a result (a previous run's calls): one
        owner only here."""
        return [
            OpenCall(attempt_id, self.plan.campaign_id, started, channel_ids(attempt_id), owner)
            for attempt_id, (_, started) in self.attempts.items()
            if attempt_id not in self.results and (before is None or started < before)
        ]

    async def open_call_owners(self, campaign_ids: Collection[int] | None = None) -> list[str]:
        return []  # one dialer only

    @contextlib.asynccontextmanager
    async def owner_stopped(self, owner: str) -> AsyncIterator[bool]:
        yield True

    async def take_over(self, owner: str, calls: Sequence[OpenCall]) -> None:
        return None  # one dialer only: its calls are already its own

    async def typify(self, campaign_id: int, typification: Typification) -> None:
        self.typified[typification.attempt_id] = typification

    async def opt_out(self, campaign_id: int, attempt_id: int) -> None:
        self.blocked.add(self.attempts[attempt_id][0].phone)

    async def save_survey(
        self, campaign_id: int, attempt_id: int, answers: dict[str, str], complete: bool
    ) -> None:
        self.surveys[attempt_id] = (dict(answers), complete)
