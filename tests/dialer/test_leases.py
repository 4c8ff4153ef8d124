"""Campaign leases on a real Redis: one holder at a time, renewed and released only by it,
taken over once it lapses; and the one-process leases that are always ours."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from dialer.leases import LocalLeases, RedisLeases

pytestmark = pytest.mark.redis


@pytest.fixture
async def process(
    redis_url: str, redis_key_prefix: str
) -> AsyncIterator[Callable[..., RedisLeases]]:
    """Leases as each named dialer process opens them, on one test's keys."""
    opened: list[RedisLeases] = []

    def open_leases(owner: str, ttl_s: float = 30.0) -> RedisLeases:
        leases = RedisLeases(redis_url, owner, ttl_s=ttl_s, prefix=redis_key_prefix)
        opened.append(leases)
        return leases

    yield open_leases
    for leases in opened:
        await leases.close()


async def test_a_campaign_has_one_holder_and_the_others_learn_who(
    process: Callable[..., RedisLeases],
) -> None:
    one, two = process("dialer-1"), process("dialer-2")
    assert await one.acquire([7]) is None  # ours
    assert await two.acquire([7]) == "dialer-1"
    assert await two.holder(7) == "dialer-1"
    assert await one.acquire([7]) is None  # still ours, asked again


async def test_a_group_is_taken_whole_or_not_at_all(process: Callable[..., RedisLeases]) -> None:
    one, two = process("dialer-1"), process("dialer-2")
    assert await one.acquire([8]) is None
    assert await two.acquire([7, 8, 9]) == "dialer-1"
    assert await two.holder(7) is None  # nothing of the group taken
    assert await two.holder(9) is None
    assert await one.acquire([7, 8, 9]) is None  # 8 already ours: the rest taken with it
    assert {await one.holder(c) for c in (7, 8, 9)} == {"dialer-1"}


async def test_only_the_holder_renews_and_releases(process: Callable[..., RedisLeases]) -> None:
    one, two = process("dialer-1"), process("dialer-2")
    await one.acquire([7])
    await one.acquire([8])
    assert await two.renew({7, 8}) == set()
    await two.release(7)
    assert await two.holder(7) == "dialer-1"
    assert await one.renew({7, 8, 9}) == {7, 8}  # 9 was never ours
    await one.release(7)
    assert await one.holder(7) is None
    assert await two.acquire([7]) is None


async def test_a_lease_that_lapses_goes_to_the_next_process_and_is_lost_to_the_first(
    process: Callable[..., RedisLeases],
) -> None:
    one, two = process("dialer-1", ttl_s=0.2), process("dialer-2", ttl_s=0.2)
    await one.acquire([7])
    await asyncio.sleep(0.3)  # dialer-1 stopped renewing (it died, or Redis was away)
    assert await two.acquire([7]) is None
    assert await one.renew({7}) == set()
    assert await one.acquire([7]) == "dialer-2"


async def test_renewing_keeps_a_lease_past_its_first_expiry(
    process: Callable[..., RedisLeases],
) -> None:
    one, two = process("dialer-1", ttl_s=0.3), process("dialer-2")
    await one.acquire([7])
    for _ in range(4):
        await asyncio.sleep(0.15)
        assert await one.renew({7}) == {7}
    assert await two.acquire([7]) == "dialer-1"


async def test_a_process_restarted_under_its_name_finds_its_leases_its_own(
    process: Callable[..., RedisLeases],
) -> None:
    before = process("dialer-1")
    await before.acquire([7])
    await before.close()
    after = process("dialer-1")
    assert await after.acquire([7]) is None
    assert await after.renew({7}) == {7}


async def test_one_process_without_redis_holds_every_campaign() -> None:
    leases = LocalLeases("dialer-1")
    assert await leases.acquire([7]) is None
    assert await leases.renew({7, 8}) == {7, 8}
    assert await leases.holder(7) == "dialer-1"


async def test_the_live_processes_are_counted_until_they_leave_or_go_silent(
    process: Callable[..., RedisLeases],
) -> None:
    one, two, brief = process("dialer-1"), process("dialer-2"), process("dialer-3", ttl_s=0.2)
    assert await one.heartbeat() == {"dialer-1": 0}
    assert len(await two.heartbeat()) == 2
    assert len(await brief.heartbeat()) == 3
    assert len(await one.heartbeat()) == 3  # again: still three, not four
    await asyncio.sleep(0.3)  # dialer-3 went silent
    assert set(await one.heartbeat()) == {"dialer-1", "dialer-2"}
    await two.leave()
    assert await one.heartbeat() == {"dialer-1": 0}


async def test_each_live_process_says_how_many_campaigns_it_dials(
    process: Callable[..., RedisLeases],
) -> None:
    one, two = process("dialer-1"), process("dialer-2", ttl_s=0.2)
    await one.heartbeat(3)
    assert await two.heartbeat(1) == {"dialer-1": 3, "dialer-2": 1}
    assert await one.heartbeat(2) == {"dialer-1": 2, "dialer-2": 1}
    await asyncio.sleep(0.3)  # dialer-2 went silent: its count goes with it
    assert await one.heartbeat(2) == {"dialer-1": 2}
