"""The live feed on Redis: one stream shared by every dialer process (dialer/live.py).

Each event gets the next number of a counter and goes into the stream with that number as its
id (``<n>-0``), both in one Lua script: ids then count up by one across all processes, so a
reader that was given event 41 and next sees event 45 knows three were trimmed away (a
``reset`` for the supervisor), and the ids are the same shape as :class:`MemoryFeed`'s. The
stream keeps the latest ``maxlen`` events (exact MAXLEN: at a floor's rates, a few hundred
events a second, its cost does not show).

Publishing never waits for Redis: events queue in the process (at most ``buffer``; beyond, the
oldest are dropped and counted in ``dropped``) and a writer task sends them in batches, one
script call per batch. While Redis is away the writer retries every ``retry_s`` and logs once
per outage; the calls go on, the store keeps every outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

import redis.asyncio as aioredis

from dialer.live import Batch, LiveEvent, position_of

log = logging.getLogger(__name__)

# KEYS: stream, counter. ARGV: maxlen, then one encoded event each. Returns the last id given.
_APPEND = """
local n = 0
for i = 2, #ARGV do
  n = redis.call('INCR', KEYS[2])
  redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], n .. '-0', 'e', ARGV[i])
end
return n
"""

BATCH = 500


class RedisFeed:
    def __init__(
        self,
        url: str,
        *,
        key: str = "dialer:live",
        maxlen: int = 10_000,
        buffer: int = 10_000,
        retry_s: float = 1.0,
    ) -> None:
        if maxlen < 1 or buffer < 1:
            raise ValueError("maxlen and buffer must be at least 1")
        self.url = url
        self.key = key
        self.counter_key = f"{key}:seq"
        self.maxlen = maxlen
        self.retry_s = retry_s
        self.dropped = 0  # events lost before they reached Redis (the buffer overflowed)
        self._redis = aioredis.from_url(url)
        self._append = self._redis.register_script(_APPEND)
        self._pending: deque[str] = deque()
        self._sending: list[str] = []  # the batch the writer is sending now
        self._buffer = buffer
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None

    def publish(self, event: LiveEvent) -> None:
        if len(self._pending) >= self._buffer:
            self._pending.popleft()
            self.dropped += 1
        self._pending.append(event.encode())
        self._idle.clear()
        self._wake.set()
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        failing = False
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = [self._pending.popleft() for _ in range(min(BATCH, len(self._pending)))]
                self._sending = batch
                try:
                    await self._append(
                        keys=[self.key, self.counter_key], args=[self.maxlen, *batch]
                    )
                except Exception as exc:  # Redis away, mostly; nothing may end this loop
                    self._sending = []
                    if not failing:
                        log.warning(
                            "live events: Redis at %s unavailable (%s); retrying", self.url, exc
                        )
                    failing = True
                    # Back at the front, in order; what no longer fits is the oldest.
                    self._pending.extendleft(reversed(batch))
                    while len(self._pending) > self._buffer:
                        self._pending.popleft()
                        self.dropped += 1
                    await asyncio.sleep(self.retry_s)
                    continue
                self._sending = []
                if failing:
                    log.info("live events: Redis at %s is back", self.url)
                    failing = False
            self._idle.set()

    def unsent(self) -> list[LiveEvent]:
        """The events published and not yet in Redis, oldest first (the batch being sent too)."""
        return [LiveEvent.decode(e) for e in (*self._sending, *self._pending)]

    async def flush(self, timeout_s: float = 5.0) -> None:
        """Wait until every event published so far is in Redis (tests, a clean stop)."""
        await asyncio.wait_for(self._idle.wait(), timeout_s)

    async def tail(self) -> str:
        raw = await self._redis.get(self.counter_key)
        return str(int(raw or 0))

    async def read(self, after: str, timeout_s: float) -> Batch:
        position = position_of(after)
        reply = await self._redis.xread(
            {self.key: f"{position}-0"}, count=1000, block=max(1, int(timeout_s * 1000))
        )
        if not reply:
            if position > int(await self.tail()):
                return Batch([], lost=True)  # the stream began again since that id was given
            return Batch([])
        # One stream asked for: [[key, [(id, {b"e": event}), ...]]] in RESP2, the client's
        # default; {key: [...]} in RESP3.
        raw: Any = reply
        entries: list[tuple[bytes, dict[bytes, bytes]]] = (
            next(iter(raw.values())) if isinstance(raw, dict) else raw[0][1]
        )
        events = [(_number(i), LiveEvent.decode(fields[b"e"])) for i, fields in entries]
        return Batch(events, lost=int(events[0][0]) > position + 1)

    async def close(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(TimeoutError):
                await self.flush(timeout_s=2.0)
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        await self._redis.aclose()


def _number(stream_id: bytes) -> str:
    return stream_id.decode().split("-", 1)[0]
