"""The live feed on a real Redis: shared by several processes' feeds, resumable, bounded, and
never in the way of a call when Redis is away."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from dialer.live import LiveEvent
from dialer.live_redis import RedisFeed

pytestmark = pytest.mark.redis


def event(n: int) -> LiveEvent:
    return LiveEvent("agent", 1000.0 + n, (7,), {"agent_id": n, "state": "available"})


@pytest.fixture
async def feeds(redis_url: str, redis_key_prefix: str) -> AsyncIterator[Callable[..., RedisFeed]]:
    """Feeds on one test's stream, as each dialer process would open its own."""
    opened: list[RedisFeed] = []
    key = f"{redis_key_prefix}live"

    def open_feed(**options: object) -> RedisFeed:
        feed = RedisFeed(redis_url, key=key, **options)  # type: ignore[arg-type]
        opened.append(feed)
        return feed

    yield open_feed
    for feed in opened:
        await feed.close()
    client = aioredis.from_url(redis_url)
    await client.delete(key, f"{key}:seq")
    await client.aclose()


async def test_an_event_published_by_one_process_reaches_a_reader_in_another(
    feeds: Callable[..., RedisFeed],
) -> None:
    one, other = feeds(), feeds()
    tail = await other.tail()
    one.publish(event(1))
    batch = await other.read(tail, 5.0)
    assert [e for _, e in batch.events] == [event(1)] and not batch.lost


async def test_ids_count_up_by_one_across_processes_in_publishing_order(
    feeds: Callable[..., RedisFeed],
) -> None:
    one, other = feeds(), feeds()
    one.publish(event(1))
    await one.flush()
    other.publish(event(2))
    await other.flush()
    one.publish(event(3))
    await one.flush()
    batch = await one.read("0", 1.0)
    assert batch.events == [("1", event(1)), ("2", event(2)), ("3", event(3))]


async def test_a_resume_gets_everything_after_the_id_it_saw(
    feeds: Callable[..., RedisFeed],
) -> None:
    feed = feeds()
    for n in range(1, 6):
        feed.publish(event(n))
    await feed.flush()
    batch = await feed.read("2", 1.0)
    assert [i for i, _ in batch.events] == ["3", "4", "5"] and not batch.lost


async def test_the_stream_keeps_the_latest_events_and_a_resume_from_before_them_is_a_loss(
    feeds: Callable[..., RedisFeed],
) -> None:
    feed = feeds(maxlen=3)
    for n in range(1, 7):
        feed.publish(event(n))
    await feed.flush()
    batch = await feed.read("1", 1.0)
    assert [i for i, _ in batch.events] == ["4", "5", "6"] and batch.lost
    assert not (await feed.read("3", 1.0)).lost


async def test_a_reader_waits_for_the_next_event_and_times_out_empty(
    feeds: Callable[..., RedisFeed],
) -> None:
    feed = feeds()
    tail = await feed.tail()
    assert (await feed.read(tail, 0.05)).events == []
    reading = asyncio.ensure_future(feed.read(tail, 5.0))
    await asyncio.sleep(0.05)
    feed.publish(event(1))
    assert [e for _, e in (await reading).events] == [event(1)]


async def test_an_id_beyond_the_stream_is_a_loss(feeds: Callable[..., RedisFeed]) -> None:
    feed = feeds()
    feed.publish(event(1))
    await feed.flush()
    assert (await feed.read("900", 0.05)).lost


async def test_without_redis_publishing_neither_blocks_nor_raises_and_keeps_the_newest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    feed = RedisFeed("redis://127.0.0.1:9/0", buffer=3, retry_s=0.01)  # nothing listens there
    try:
        with caplog.at_level(logging.WARNING, logger="dialer.live_redis"):
            for n in range(1, 6):
                feed.publish(event(n))
            await asyncio.sleep(0.1)
        assert feed.dropped == 2
        # Whether the writer is between attempts or in one, the newest three wait in order.
        assert feed.unsent() == [event(3), event(4), event(5)]
        warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
        assert len(warnings) == 1  # once per outage, not once per retry
    finally:
        await feed.close()
