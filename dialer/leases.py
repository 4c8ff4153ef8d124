"""Campaign leases: which dialer process paces which campaign.

A campaign paced by two processes at once would be dialed at twice the level its pacing chose
(each counts the same agents), and its abandon rate would be nobody's to keep under the cap; the
hopper still hands a contact to one of them only, but that is not enough. So a process paces a
campaign only while it holds the campaign's lease (DESIGN.md: with Redis, "several dialer
processes share ... campaign leases (with expiry)"):

- :class:`LocalLeases` (no Redis): one process holds everything, every lease is its own;
- :class:`RedisLeases`: a key per campaign holding the owner's name with an expiry (``ttl_s``),
  taken a group at a time (all free or ours, or none taken), renewed and released only by its
  holder (compare-and-set scripts). A process that dies stops renewing, and another one takes
  the campaign once the lease lapses; a restarted process under the same owner name finds its
  leases still its own. The live processes are counted too (a heartbeat with the same expiry),
  so that they share the campaigns out evenly.

The engine side (:mod:`dialer.engine.keeper`) renews the leases of the campaigns it runs, stops
those it lost, starts the active campaigns nobody holds, and fences its own: a campaign whose
lease it could not renew (Redis away) places no new call once the lease may have lapsed.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

import redis.asyncio as aioredis


class Leases(Protocol):
    owner: str
    ttl_s: float
    shared: bool  # other processes may hold leases too (then they share the campaigns)

    async def heartbeat(self, holding: int = 0) -> dict[str, int]:
        """Say this process is alive (for ``ttl_s``), dialing ``holding`` campaigns; every live
        process (this one too) with the campaigns it said it dials."""

    async def leave(self) -> None:
        """This process stops: it no longer counts among the live ones."""

    async def acquire(self, campaign_ids: Collection[int]) -> str | None:
        """All the campaigns' leases, or none: None when every one is ours now (taken, or
        already ours); otherwise the name of a process that holds one of them (then nothing
        was taken). Linked campaigns go to one process whole (engine/keeper.py)."""

    async def renew(self, campaign_ids: Collection[int]) -> set[int]:
        """Push the expiry of our leases on; the ones still ours (not lapsed and taken)."""

    async def release(self, campaign_id: int) -> None:
        """Give the campaign up now, if it is ours (another process may take it at once)."""

    async def holder(self, campaign_id: int) -> str | None:
        """The process that holds the campaign, or None."""

    async def close(self) -> None: ...


class LocalLeases:
    """One process holds everything: every campaign is ours."""

    ttl_s = 30.0
    shared = False

    def __init__(self, owner: str) -> None:
        self.owner = owner

    async def heartbeat(self, holding: int = 0) -> dict[str, int]:
        return {self.owner: holding}

    async def leave(self) -> None:
        return None

    async def acquire(self, campaign_ids: Collection[int]) -> str | None:
        return None

    async def renew(self, campaign_ids: Collection[int]) -> set[int]:
        return set(campaign_ids)

    async def release(self, campaign_id: int) -> None:
        return None

    async def holder(self, campaign_id: int) -> str | None:
        return self.owner

    async def close(self) -> None:
        return None


# KEYS: the leases of a group. ARGV: owner, ttl ms. All taken (or renewed, those already ours)
# and the owner returned, or none and the holder of one returned: one script, so two processes
# can never split a group between them.
_ACQUIRE = """
for _, key in ipairs(KEYS) do
  local holder = redis.call('GET', key)
  if holder and holder ~= ARGV[1] then
    return holder
  end
end
for _, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
end
return ARGV[1]
"""

# KEYS: leases. ARGV: owner, ttl ms. The positions (1-based) of the ones renewed.
_RENEW = """
local kept = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    table.insert(kept, i)
  end
end
return kept
"""

# KEYS[1]: the live processes (a sorted set: owner -> expiry, Redis's own clock, so the hosts'
# clocks do not matter); KEYS[2]: how many campaigns each says it dials (a hash). ARGV: owner,
# ttl ms, campaigns dialed. Every live process and its count, flat: owner, count, ...
_HEARTBEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local out = {}
local live = {}
for _, owner in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  live[owner] = true
  table.insert(out, owner)
  table.insert(out, redis.call('HGET', KEYS[2], owner) or '0')
end
for _, owner in ipairs(redis.call('HKEYS', KEYS[2])) do
  if not live[owner] then
    redis.call('HDEL', KEYS[2], owner)
  end
end
return out
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLeases:
    shared = True

    def __init__(
        self, url: str, owner: str, *, ttl_s: float = 15.0, prefix: str = "dialer:lease:"
    ) -> None:
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be > 0, got {ttl_s}")
        self.owner = owner
        self.ttl_s = ttl_s
        self.prefix = prefix
        self._redis = aioredis.from_url(url, decode_responses=True)
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)
        self._heartbeat = self._redis.register_script(_HEARTBEAT)
        self.processes_key = f"{prefix}processes"
        self.holding_key = f"{prefix}holding"

    def key(self, campaign_id: int) -> str:
        return f"{self.prefix}campaign:{campaign_id}"

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl_s * 1000))

    async def acquire(self, campaign_ids: Collection[int]) -> str | None:
        keys = [self.key(c) for c in sorted(campaign_ids)]
        if not keys:
            return None
        holder = await self._acquire(keys=keys, args=[self.owner, self._ttl_ms])
        return None if holder == self.owner else str(holder)

    async def renew(self, campaign_ids: Collection[int]) -> set[int]:
        ids = sorted(campaign_ids)
        if not ids:
            return set()
        kept = await self._renew(keys=[self.key(c) for c in ids], args=[self.owner, self._ttl_ms])
        return {ids[int(i) - 1] for i in kept}

    async def release(self, campaign_id: int) -> None:
        await self._release(keys=[self.key(campaign_id)], args=[self.owner])

    async def heartbeat(self, holding: int = 0) -> dict[str, int]:
        flat = await self._heartbeat(
            keys=[self.processes_key, self.holding_key], args=[self.owner, self._ttl_ms, holding]
        )
        return {str(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}

    async def leave(self) -> None:
        await self._redis.zrem(self.processes_key, self.owner)
        await self._redis.hdel(self.holding_key, self.owner)

    async def holder(self, campaign_id: int) -> str | None:
        holder = await self._redis.get(self.key(campaign_id))
        return None if holder is None else str(holder)

    async def close(self) -> None:
        await self._redis.aclose()
