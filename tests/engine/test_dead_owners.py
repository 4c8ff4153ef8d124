"""Engine.settle_dead_owners on counting records: what it reads and whose owner lock it tries.
Its effect on real processes (calls settled or left alone) is in tests/engine/test_keeper.py."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field

from ami.client import AMIClient
from dialer.clock import ScaledClock
from dialer.engine.engine import Engine
from dialer.engine.roster import Roster
from tests.engine.memory_records import MemoryRecords
from tests.engine.plans import campaign_plan


@dataclass
class OwnersRecords(MemoryRecords):
    """Other dialers with calls open (``others``) and the owner locks held (``held``): every
    read of the owners and every lock try counted."""

    others: list[str] = field(default_factory=list)
    held: set[str] = field(default_factory=set)
    owner_reads: list[Collection[int] | None] = field(default_factory=list)
    lock_tries: list[str] = field(default_factory=list)

    async def open_call_owners(self, campaign_ids: Collection[int] | None = None) -> list[str]:
        self.owner_reads.append(campaign_ids)
        return list(self.others)

    @contextlib.asynccontextmanager
    async def owner_stopped(self, owner: str) -> AsyncIterator[bool]:
        self.lock_tries.append(owner)
        yield owner not in self.held


@contextlib.asynccontextmanager
async def engine_on(records: OwnersRecords) -> AsyncIterator[Engine]:
    clock = ScaledClock(1.0)
    roster = Roster(clock)
    ami = AMIClient("127.0.0.1", 9, ping_interval=None)  # never connected: nothing to settle
    try:
        yield Engine(records, ami, roster, clock, owner="dialer-c")
    finally:
        await roster.close()


def records(others: list[str], held: set[str]) -> OwnersRecords:
    plan = campaign_plan(amd=False)
    return OwnersRecords(plan, [], others=others, held=held)


async def test_the_owners_known_to_run_are_not_tried_for_their_owner_lock() -> None:
    r = records(["dialer-a", "dialer-b", "dialer-d"], held={"dialer-a", "dialer-b"})
    async with engine_on(r) as engine:
        await engine.settle_dead_owners(running={"dialer-a", "dialer-c"})
    assert r.owner_reads == [None]  # the sweep: every campaign
    assert r.lock_tries == ["dialer-b", "dialer-d"]  # dialer-b cut off (no heartbeat), tried


async def test_settling_the_campaigns_just_taken_tries_every_owner_of_their_calls() -> None:
    r = records(["dialer-a", "dialer-b"], held={"dialer-a"})
    async with engine_on(r) as engine:
        await engine.settle_dead_owners({7})
    assert r.owner_reads == [{7}]
    assert r.lock_tries == ["dialer-a", "dialer-b"]
