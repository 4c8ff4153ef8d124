"""Supervisors' views of campaigns and queues, whichever dialer process answers.

A campaign's live state (agents by state, calls in flight, dial level, abandon rate) is in the
engine of the one process that dials it (dialer/leases.py), and its agents log in there too;
an inbound queue's callers wait at the process taking the inbound side, its agents are spread
over the processes they logged in to. So each process publishes, every round, a
:class:`Snapshot` of the views of what it serves, and the API answers a campaign held elsewhere
from its holder's snapshot, and a queue from every live process's snapshots merged:

- :func:`campaign_view`, :func:`snapshot_of` and :func:`merge_queue_views` build the views, pure
  (the engine's state in, plain JSON-able data out: no I/O);
- :class:`LocalViews` (no Redis): one process, every view is its own engine's, built when asked;
- :class:`RedisViews`: one key per process holding its latest snapshot, with an expiry of a few
  rounds so that a dead process's snapshot goes with it, and a sorted set of the processes that
  published (expiries on Redis's own clock, as the leases' heartbeat);
- :class:`ViewPublisher`: the rounds that publish. Redis away never reaches the engine: the
  round is logged once per outage and the next one tries again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from dialer.clock import Clock
from dialer.engine.engine import Engine
from dialer.engine.inbound import InboundDesk
from dialer.engine.roster import AgentState
from dialer.queue_stats import QueueStats
from dialer.rounds import Rounds

log = logging.getLogger(__name__)

View = dict[str, Any]

# How often a process publishes, and how many rounds its snapshot outlives it.
EVERY_S = 2.0
ROUNDS_KEPT = 3


@dataclass(frozen=True)
class Snapshot:
    """What one process serves, as of ``as_of`` (its clock, epoch seconds)."""

    process: str
    as_of: float
    campaigns: dict[int, View] = field(default_factory=dict)
    queues: dict[str, View] = field(default_factory=dict)

    def encode(self) -> str:
        return json.dumps(asdict(self), default=str)

    @classmethod
    def decode(cls, raw: str | bytes) -> Snapshot:
        data = json.loads(raw)
        return cls(
            str(data["process"]),
            float(data["as_of"]),
            {int(c): v for c, v in data["campaigns"].items()},  # JSON keys are text
            dict(data["queues"]),
        )

    @property
    def as_of_iso(self) -> str:
        return dt.datetime.fromtimestamp(self.as_of, dt.UTC).isoformat()


def campaign_view(engine: Engine, campaign_id: int) -> View:
    """The campaign as this process's engine sees it: its agents, and while it dials here its
    calls, pacing and results."""
    view: View = {
        "running": engine.running(campaign_id) is not None,
        "agents": engine.roster.counts(campaign_id),
    }
    running = engine.running(campaign_id)
    if running is not None:
        stats = running.stats
        view.update(
            paused=running.paused,
            calls_in_flight=len(engine.in_flight(campaign_id)),
            waiting_for_agent=engine.roster.waiting_for(campaign_id),
            stats={k: v for k, v in asdict(stats).items() if k != "outcomes"},
            outcomes=dict(stats.outcomes),
            abandon_rate=stats.abandon_rate,
            decisions=[d.to_json() for d in running.pacer.history[-20:]],
        )
    return view


def served_campaigns(engine: Engine) -> set[int]:
    """The campaigns this process dials, and those its logged-in agents work (an agent logs in
    where their campaigns are dialed, so the holder's snapshot has all of them)."""
    dialed = {c for c in engine.campaigns if engine.running(c) is not None}
    worked = {
        c
        for agent in engine.roster.agents.values()
        if agent.state is not AgentState.LOGGED_OUT
        for c in agent.campaigns
    }
    return dialed | worked


def queue_views(inbound: InboundDesk | None) -> dict[str, View]:
    """Each inbound queue as this process sees it: its callers waiting here, its agents
    logged in here, its day's figures of the calls taken here."""
    if inbound is None:
        return {}
    return {
        queue: {"campaign_id": campaign.campaign_id, **inbound.queue_view(queue)}
        for queue, campaign in sorted(inbound.campaign_of_queue.items())
    }


def snapshot_of(engine: Engine, inbound: InboundDesk | None) -> Snapshot:
    return Snapshot(
        engine.owner,
        engine.clock.now(),
        {c: campaign_view(engine, c) for c in sorted(served_campaigns(engine))},
        queue_views(inbound),
    )


def merge_queue_views(views: Sequence[View]) -> View:
    """One queue seen from several processes: its callers wait at one (the inbound side), its
    agents at those they logged in to; so counts add up, the longest wait is the longest, and
    the rates are worked out again from the sums (QueueStats' definitions). A process whose
    figures are of an earlier day (not asked since midnight) adds its agents and callers, not
    its day's figures. The first view's settings win (the answering process's, read fresh)."""
    if not views:
        raise ValueError("no view to merge")
    first = views[0]
    days = [v["day"] for v in views if v.get("day") is not None]
    day = max(days) if days else None
    today = [v for v in views if v.get("day") in (day, None)]
    answered = sum(v["answered"] for v in today)
    stats = QueueStats(
        threshold_s=first["service_level_threshold_s"],
        target=first["service_level_target"],
        offered=sum(v["offered"] for v in today),
        answered=answered,
        answered_within=sum(v["answered_within_threshold"] for v in today),
        abandoned=sum(v["abandoned"] for v in today),
        closed=sum(v["closed_out_of_hours"] for v in today),
        # A process of the version before it counted none (a rolling upgrade).
        unreached=sum(v.get("unreached", 0) for v in today),
        wait_total_s=sum((v["average_wait_s"] or 0.0) * v["answered"] for v in today),
    )
    return {
        **first,
        "calls_waiting": sum(v["calls_waiting"] for v in views),
        "longest_wait_s": max(v["longest_wait_s"] for v in views),
        **stats.figures(),
        "day": day,  # the latest of the views' days (text already)
        "agents": add_agents(views),
    }


def add_agents(views: Sequence[View]) -> dict[str, int]:
    """The agents by state of views from several processes: each agent is logged in at one,
    so the counts add up."""
    agents: dict[str, int] = {}
    for v in views:
        for state, count in v["agents"].items():
            agents[state] = agents.get(state, 0) + count
    return agents


class SharedViews(Protocol):
    owner: str

    async def publish(self, snapshot: Snapshot) -> None:
        """Make this process's snapshot the one others read (until it expires)."""

    async def published(self, process: str) -> Snapshot | None:
        """The process's latest snapshot; None when it published none that is still kept."""

    async def live(self) -> list[Snapshot]:
        """The latest snapshot of every process still publishing, this one's too."""

    async def withdraw(self) -> None:
        """This process stops: its snapshot goes now rather than at its expiry."""

    async def close(self) -> None: ...


class LocalViews:
    """One process: every view is its own engine's, built when asked."""

    def __init__(self, owner: str, build: Callable[[], Snapshot]) -> None:
        self.owner = owner
        self.build = build

    async def publish(self, snapshot: Snapshot) -> None:
        return None

    async def published(self, process: str) -> Snapshot | None:
        return self.build() if process == self.owner else None

    async def live(self) -> list[Snapshot]:
        return [self.build()]

    async def withdraw(self) -> None:
        return None

    async def close(self) -> None:
        return None


# KEYS: the process's snapshot, the publishing processes (owner -> expiry, Redis's clock).
# ARGV: the snapshot, ttl ms, owner.
_PUBLISH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
return 1
"""

# KEYS[1]: the publishing processes. The ones whose snapshot has not expired.
_LIVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""


class RedisViews:
    def __init__(
        self,
        url: str,
        owner: str,
        *,
        ttl_s: float = EVERY_S * ROUNDS_KEPT,
        prefix: str = "dialer:views:",
        timeout_s: float = 1.0,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be > 0, got {ttl_s}")
        self.url = url
        self.owner = owner
        self.ttl_s = ttl_s
        self.prefix = prefix
        # A Redis that hangs must not hold a round (or a supervisor's request) for long.
        self._redis = aioredis.from_url(
            url, decode_responses=True, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._publish = self._redis.register_script(_PUBLISH)
        self._live = self._redis.register_script(_LIVE)
        self.processes_key = f"{prefix}processes"

    def key(self, process: str) -> str:
        return f"{self.prefix}process:{process}"

    async def publish(self, snapshot: Snapshot) -> None:
        ttl_ms = max(1, int(self.ttl_s * 1000))
        await self._publish(
            keys=[self.key(self.owner), self.processes_key],
            args=[snapshot.encode(), ttl_ms, self.owner],
        )

    async def published(self, process: str) -> Snapshot | None:
        raw = await self._redis.get(self.key(process))
        return None if raw is None else Snapshot.decode(raw)

    async def live(self) -> list[Snapshot]:
        processes = [str(p) for p in await self._live(keys=[self.processes_key])]
        if not processes:
            return []
        raws = await self._redis.mget([self.key(p) for p in processes])
        return [Snapshot.decode(raw) for raw in raws if raw is not None]

    async def withdraw(self) -> None:
        await self._redis.delete(self.key(self.owner))
        await self._redis.zrem(self.processes_key, self.owner)

    async def close(self) -> None:
        await self._redis.aclose()


class ViewPublisher:
    """Publishes this process's snapshot every ``every_s``, in its own task: a slow or absent
    Redis delays only the next snapshot, never a call."""

    def __init__(
        self,
        views: SharedViews,
        build: Callable[[], Snapshot],
        clock: Clock,
        every_s: float = EVERY_S,
    ) -> None:
        self.views = views
        self.build = build
        self.failing = False
        self._rounds = Rounds("shared views", self.step, clock, every_s)

    async def step(self) -> None:
        snapshot = self.build()  # a bug here is not an outage: Rounds logs it every round
        try:
            await self.views.publish(snapshot)
        except (RedisError, OSError) as exc:
            if not self.failing:
                log.warning("shared views: Redis unavailable (%s); publishing again later", exc)
            self.failing = True
            return
        if self.failing:
            log.info("shared views: Redis is back")
            self.failing = False

    def start(self) -> None:
        self._rounds.start()

    async def stop(self) -> None:
        """No more rounds, and the snapshot withdrawn (if Redis answers)."""
        await self._rounds.stop()
        try:
            await self.views.withdraw()
        except (RedisError, OSError) as exc:
            log.info("shared views: snapshot left to expire (%s)", exc)
