"""Live events for supervisors: what the floor is doing, as it happens.

The engine and the roster publish small events (an agent's move, a call's end, a campaign's
pacing decision); the API streams them to supervisors (``GET /api/live``, Server-Sent Events)
from any process that shares the feed, each supervisor their own company's events only
(dialer/live_scope.py). The store stays the record: a live event is a view, so
publishing never blocks nor raises, and a feed keeps only the latest ``maxlen`` events. A
supervisor who reconnects with the last event id they saw gets what came after it, or a
``reset`` when some of it is no longer kept (then they read the state again from the API).

Two feeds with the same interface: :class:`MemoryFeed` (one process, the default) and
``dialer.live_redis.RedisFeed`` (a Redis stream, shared by every dialer process on it;
DESIGN.md: "present, several dialer processes share ... live events through it").
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class LiveEvent:
    """One thing that happened. ``campaigns``: the campaigns it concerns (an agent's move
    concerns every campaign the agent works), for a supervisor watching some of them."""

    kind: str  # "agent", "call", "pacing", ...
    at: float  # the engine's clock, Unix seconds
    campaigns: tuple[int, ...]
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "at": self.at, "campaigns": list(self.campaigns), **self.data}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> LiveEvent:
        data = {k: v for k, v in raw.items() if k not in ("kind", "at", "campaigns")}
        return cls(
            str(raw["kind"]), float(raw["at"]), tuple(int(c) for c in raw["campaigns"]), data
        )

    def encode(self) -> str:
        # One line, whatever the values hold: an SSE data field ends at a newline.
        return json.dumps(self.to_json(), separators=(",", ":"), default=str)

    @classmethod
    def decode(cls, text: str | bytes) -> LiveEvent:
        return cls.from_json(json.loads(text))

    def concerns(self, campaigns: Iterable[int] | None) -> bool:
        """True when a supervisor watching ``campaigns`` (None: all) should see it; an event
        that names no campaign passes (whose company it is, is dialer/live_scope.py's test)."""
        return campaigns is None or not self.campaigns or bool(set(self.campaigns) & set(campaigns))


@dataclass(frozen=True)
class Batch:
    """Events after a position, oldest first, and whether some after it are no longer kept."""

    events: list[tuple[str, LiveEvent]]
    lost: bool = False


class LiveFeed(Protocol):
    # Events lost before any reader could have them (a shared feed's buffer overflowed while
    # its store was away); exported at /metrics.
    dropped: int

    def publish(self, event: LiveEvent) -> None:
        """Queue the event; never blocks, never raises (a live view must not stop a call)."""

    async def tail(self) -> str:
        """The position of the latest event: reading after it gives only what comes next."""

    async def read(self, after: str, timeout_s: float) -> Batch:
        """The events after ``after``, waiting up to ``timeout_s`` for one (then empty)."""

    async def close(self) -> None: ...


class MemoryFeed:
    """The feed of one process: the latest ``maxlen`` events, ids counting up from 1."""

    def __init__(self, maxlen: int = 10_000) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen must be at least 1, got {maxlen}")
        self._events: deque[tuple[int, LiveEvent]] = deque(maxlen=maxlen)
        self._last = 0
        self.dropped = 0  # none: an event is kept until newer ones push it out (readers reset)
        self._changed = asyncio.Event()

    def publish(self, event: LiveEvent) -> None:
        self._last += 1
        self._events.append((self._last, event))
        self._changed.set()
        self._changed = asyncio.Event()

    async def tail(self) -> str:
        return str(self._last)

    async def read(self, after: str, timeout_s: float) -> Batch:
        position = position_of(after)
        if position > self._last:
            return Batch([], lost=True)  # an id of an earlier run: this feed began again
        if position == self._last:
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), timeout_s)
            except TimeoutError:
                return Batch([])
        first = self._events[0][0]
        events = [(str(i), e) for i, e in self._events if i > position]
        return Batch(events, lost=position < first - 1)

    async def close(self) -> None:
        return None


def position_of(after: str) -> int:
    """A feed position from an event id (a supervisor's Last-Event-ID)."""
    try:
        return int(after)
    except ValueError:
        raise ValueError(f"event id {after!r} is not one of this feed's ids") from None


def sse(event_id: str, event: LiveEvent) -> bytes:
    """One Server-Sent Event (the WHATWG format): the id a reconnect sends back, the kind as
    the event type, the JSON as data."""
    return f"id: {event_id}\nevent: {event.kind}\ndata: {event.encode()}\n\n".encode()


RESET = b"event: reset\ndata: {}\n\n"
KEEPALIVE = b": keepalive\n\n"
