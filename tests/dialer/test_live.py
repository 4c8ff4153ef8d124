"""Live events: the codec, the in-process feed, the Server-Sent Events framing."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.live import LiveEvent, MemoryFeed, sse

texts = st.text(st.characters(codec="utf-8"), max_size=30)
values = st.one_of(st.none(), st.booleans(), st.integers(), texts)


def event(n: int, campaigns: tuple[int, ...] = (1,)) -> LiveEvent:
    return LiveEvent("call", 1000.0 + n, campaigns, {"attempt_id": n})


@given(
    kind=st.sampled_from(["agent", "call", "pacing"]),
    at=st.floats(0, 2e9),
    campaigns=st.lists(st.integers(1, 10**6), max_size=4).map(tuple),
    data=st.dictionaries(texts.filter(lambda k: k not in ("kind", "at", "campaigns")), values),
)
def test_an_event_survives_its_encoding_on_one_line(
    kind: str, at: float, campaigns: tuple[int, ...], data: dict[str, object]
) -> None:
    e = LiveEvent(kind, at, campaigns, data)
    text = e.encode()
    assert "\n" not in text and "\r" not in text  # an SSE data field ends at a line break
    assert LiveEvent.decode(text) == e


def test_an_event_concerns_the_campaigns_it_names_or_a_supervisor_watching_all() -> None:
    e = event(1, campaigns=(3, 4))
    assert e.concerns(None) and e.concerns({4, 9})
    assert not e.concerns({5})


def test_the_sse_frame_carries_the_id_the_kind_and_the_json() -> None:
    frame = sse("17", event(1)).decode()
    lines = frame.split("\n")
    assert lines[:2] == ["id: 17", "event: call"]
    assert LiveEvent.decode(lines[2].removeprefix("data: ")) == event(1)
    assert frame.endswith("\n\n")


async def test_reading_after_the_tail_gives_only_what_comes_next() -> None:
    feed = MemoryFeed()
    feed.publish(event(1))
    tail = await feed.tail()
    feed.publish(event(2))
    batch = await feed.read(tail, 1.0)
    assert [e for _, e in batch.events] == [event(2)] and not batch.lost


async def test_a_reader_waits_for_the_next_event() -> None:
    feed = MemoryFeed()
    reading = asyncio.ensure_future(feed.read(await feed.tail(), 5.0))
    await asyncio.sleep(0.01)
    assert not reading.done()
    feed.publish(event(1))
    batch = await reading
    assert batch.events == [("1", event(1))]


async def test_nothing_new_within_the_timeout_is_an_empty_batch() -> None:
    feed = MemoryFeed()
    batch = await feed.read(await feed.tail(), 0.01)
    assert batch.events == [] and not batch.lost


async def test_a_resume_gets_everything_after_the_id_it_saw() -> None:
    feed = MemoryFeed()
    for n in range(1, 6):
        feed.publish(event(n))
    batch = await feed.read("2", 1.0)
    assert [i for i, _ in batch.events] == ["3", "4", "5"] and not batch.lost


async def test_a_resume_from_before_what_is_kept_says_events_were_lost() -> None:
    feed = MemoryFeed(maxlen=3)
    for n in range(1, 7):
        feed.publish(event(n))
    batch = await feed.read("1", 1.0)  # 2 and 3 are gone
    assert [i for i, _ in batch.events] == ["4", "5", "6"] and batch.lost
    assert not (await feed.read("3", 0.01)).lost  # 4 onwards: nothing missing


async def test_an_id_from_before_the_feed_began_again_is_a_loss_not_a_wait() -> None:
    feed = MemoryFeed()
    feed.publish(event(1))
    batch = await feed.read("500", 5.0)
    assert batch.lost and batch.events == []


async def test_an_id_that_is_not_the_feeds_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="'abc'"):
        await MemoryFeed().read("abc", 0.01)
