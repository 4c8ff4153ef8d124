"""Agents as the engine follows them: states, hand-off reservations and the ACW timer.

States (DESIGN.md, domain words): logged out, available, reserved (held for a live answer),
on call, ACW (after-call work), paused. An agent may work several campaigns and is one person:
one state, counted once by pacing.

The hand-off is first come, first served: a live answer waiting for an agent of its campaign
gets the agent who has been available longest; a waiting answer is served before any new one.
The ACW timer (seed 004): an agent who has not typified within the campaign's maximum is made
available again, and the engine is told so it can save the default record or apply the default
typification.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from dialer.agents import TRANSITIONS, AgentState, AgentStateError

__all__ = ["Agent", "AgentState", "AgentStateError", "Move", "Roster"]
from dialer.clock import Clock

log = logging.getLogger(__name__)


# The states, the legal moves between them and the error for an illegal one are the pure
# core's (dialer/agents.py); this module is the asyncio side: hand-off waits and ACW timers.
_ALLOWED = TRANSITIONS


@dataclass
class Agent:
    agent_id: int
    name: str
    interface: str  # the phone the hand-off dials
    campaigns: frozenset[int]
    state: AgentState = AgentState.LOGGED_OUT
    since: float = 0.0
    pause_reason: str = ""
    attempt_id: int | None = None  # the call they are reserved for, on, or wrapping up
    campaign_id: int | None = None
    acw_timer: asyncio.Task[None] | None = None
    calls: int = 0
    talk_s: float = 0.0
    logged_in_at: float | None = None
    # An outbound reservation past its fence (the queues know the agent is busy): the
    # hand-off may dial the phone, and no queue may take the agent any more.
    committed: bool = False
    inbound: bool = False  # the call reserved, on, or wrapped up came from a queue


@dataclass
class _Waiter:
    campaign_id: int
    attempt_id: int
    future: asyncio.Future[Agent] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


AcwTimeout = Callable[[Agent, int, int], Awaitable[None]]  # agent, campaign, attempt


@dataclass(frozen=True)
class Move:
    """An agent's change of state: what pacing learns ACW and pause lengths from."""

    before: AgentState
    after: AgentState
    seconds_before: float  # time spent in ``before``
    campaign_id: int | None  # the campaign of the call being wrapped up, if any


MoveHook = Callable[[Agent, Move], None]
# Awaited after an outbound reservation, before the hand-off dials the agent's phone: the queue
# membership pauses the agent in every queue (dialer/engine/queues.py), so app_queue and the
# hand-off never ring the same agent.
Fence = Callable[[Agent], Awaitable[None]]


class Roster:
    def __init__(self, clock: Clock, on_acw_timeout: AcwTimeout | None = None) -> None:
        self.clock = clock
        self.agents: dict[int, Agent] = {}
        self._waiters: list[_Waiter] = []
        self.on_acw_timeout = on_acw_timeout
        self.acw_max_s: dict[int, float] = {}  # per campaign
        self.on_move: MoveHook | None = None
        self.listeners: list[MoveHook] = []  # more observers of every move (queue membership)
        self.fence: Fence | None = None

    # Membership ------------------------------------------------------------------------------
    def add(self, agent_id: int, name: str, interface: str, campaigns: Iterable[int]) -> Agent:
        agent = Agent(agent_id, name, interface, frozenset(campaigns), since=self.clock.now())
        self.agents[agent_id] = agent
        return agent

    def get(self, agent_id: int) -> Agent:
        try:
            return self.agents[agent_id]
        except KeyError:
            raise AgentStateError(f"no agent {agent_id}") from None

    def _move(self, agent: Agent, state: AgentState) -> None:
        if state not in _ALLOWED[agent.state]:
            raise AgentStateError(f"agent {agent.agent_id} cannot go from {agent.state} to {state}")
        move = Move(agent.state, state, self.clock.now() - agent.since, agent.campaign_id)
        agent.state = state
        agent.since = self.clock.now()
        if state is not AgentState.RESERVED:
            agent.committed = False
        if state is AgentState.AVAILABLE:
            agent.attempt_id = None
            agent.campaign_id = None
            agent.inbound = False
        if self.on_move is not None:
            self.on_move(agent, move)
        for listener in self.listeners:
            listener(agent, move)
        if state is AgentState.AVAILABLE:
            self._serve_waiters(agent)

    # Agent actions ---------------------------------------------------------------------------
    def login(self, agent_id: int) -> Agent:
        agent = self.get(agent_id)
        if agent.state is AgentState.LOGGED_OUT:
            agent.logged_in_at = self.clock.now()
            self._move(agent, AgentState.AVAILABLE)
        return agent

    def ready(self, agent_id: int) -> Agent:
        agent = self.get(agent_id)
        if agent.state is AgentState.PAUSED:
            agent.pause_reason = ""
            self._move(agent, AgentState.AVAILABLE)
        elif agent.state is not AgentState.AVAILABLE:
            raise AgentStateError(f"agent {agent_id} is {agent.state}, not paused")
        return agent

    def pause(self, agent_id: int, reason: str) -> Agent:
        agent = self.get(agent_id)
        if agent.state is AgentState.ACW:
            self._stop_acw_timer(agent)
        self._move(agent, AgentState.PAUSED)
        agent.pause_reason = reason
        return agent

    def logout(self, agent_id: int) -> Agent:
        agent = self.get(agent_id)
        if agent.state is AgentState.AVAILABLE or agent.state is AgentState.PAUSED:
            self._move(agent, AgentState.LOGGED_OUT)
            agent.logged_in_at = None
            return agent
        raise AgentStateError(f"agent {agent_id} is {agent.state}: finish the call first")

    # The hand-off ----------------------------------------------------------------------------
    def free_for(self, campaign_id: int) -> list[Agent]:
        return [
            a
            for a in self.agents.values()
            if a.state is AgentState.AVAILABLE and campaign_id in a.campaigns
        ]

    async def reserve(self, campaign_id: int, attempt_id: int, within_s: float) -> Agent | None:
        """The longest-available agent of the campaign, waiting at most ``within_s``.

        With a :attr:`fence`, the agent is the call's only once the fence has passed and no
        queue took them meanwhile (inbound has priority: a queue that rang the agent before
        the fence passed keeps them, and another agent is looked for in the time left)."""
        deadline = self.clock.now() + within_s
        while True:
            agent = await self._reserve_once(campaign_id, attempt_id, within_s)
            if agent is None or self.fence is None:
                return agent
            await self.fence(agent)
            if agent.state is AgentState.RESERVED and agent.attempt_id == attempt_id:
                agent.committed = True
                return agent
            within_s = deadline - self.clock.now()
            if within_s <= 0:
                return None

    async def _reserve_once(
        self, campaign_id: int, attempt_id: int, within_s: float
    ) -> Agent | None:
        free = self.free_for(campaign_id)
        if free and not any(w.campaign_id == campaign_id for w in self._waiters):
            agent = min(free, key=lambda a: a.since)
            self._hold(agent, campaign_id, attempt_id)
            return agent
        waiter = _Waiter(campaign_id, attempt_id)
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(within_s / float(getattr(self.clock, "speed", 1.0))):
                return await waiter.future
        except TimeoutError:
            return None
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def hold_for_reminder(
        self, campaign_id: int, agent_id: int, any_agent: bool, attempt_id: int
    ) -> Agent | None:
        """Reserve an agent before an auto-drop reminder's call is placed (seed 004): the
        agent who scheduled it, or with ``any_agent`` the campaign's longest-available agent
        when that one is not free. None: nobody to take it now (the call waits)."""
        agent = self.agents.get(agent_id)
        if (
            agent is None
            or agent.state is not AgentState.AVAILABLE
            or campaign_id not in agent.campaigns
        ):
            agent = None
        if agent is None and any_agent:
            free = self.free_for(campaign_id)
            agent = min(free, key=lambda a: a.since) if free else None
        if agent is not None:
            self._hold(agent, campaign_id, attempt_id)
            # Held for the customer who asked to be called back: no queue takes the agent
            # (their pause reaches the queues long before the reminder's call is answered).
            agent.committed = True
        return agent

    def _hold(self, agent: Agent, campaign_id: int, attempt_id: int) -> None:
        agent.campaign_id = campaign_id
        agent.attempt_id = attempt_id
        self._move(agent, AgentState.RESERVED)

    def take_for_queue(self, agent_id: int, campaign_id: int, attempt_id: int) -> bool:
        """A queue rings the agent for an inbound call (AgentCalled): hold them for it.

        Refused (False) unless the agent is available, or reserved for an outbound call whose
        hand-off has not dialed them yet (inbound has priority; that reservation looks for
        another agent, :meth:`reserve`)."""
        agent = self.get(agent_id)
        if agent.state is AgentState.RESERVED and not agent.committed and not agent.inbound:
            log.info("agent %s: taken by a queue before the outbound hand-off", agent_id)
            agent.campaign_id = campaign_id
            agent.attempt_id = attempt_id
            agent.inbound = True
            return True
        if agent.state is not AgentState.AVAILABLE:
            return False
        agent.inbound = True
        self._hold(agent, campaign_id, attempt_id)
        return True

    def _serve_waiters(self, agent: Agent) -> None:
        for waiter in list(self._waiters):
            if waiter.campaign_id in agent.campaigns and not waiter.future.done():
                self._waiters.remove(waiter)
                self._hold(agent, waiter.campaign_id, waiter.attempt_id)
                waiter.future.set_result(agent)
                return

    def unreserve(self, agent_id: int) -> None:
        """A reservation that did not become a call (the phone did not answer)."""
        agent = self.get(agent_id)
        if agent.state is AgentState.RESERVED:
            self._move(agent, AgentState.AVAILABLE)

    def on_call(self, agent_id: int) -> Agent:
        agent = self.get(agent_id)
        self._move(agent, AgentState.ON_CALL)
        return agent

    def call_ended(self, agent_id: int) -> Agent:
        """Talk is over: after-call work starts, bounded by the campaign's ACW maximum."""
        agent = self.get(agent_id)
        agent.talk_s += self.clock.now() - agent.since
        agent.calls += 1
        self._move(agent, AgentState.ACW)
        campaign_id = agent.campaign_id or 0
        attempt_id = agent.attempt_id or 0
        limit = self.acw_max_s.get(campaign_id)
        if limit is not None:
            agent.acw_timer = asyncio.ensure_future(
                self._acw_timer(agent, campaign_id, attempt_id, limit)
            )
        return agent

    def finish_acw(self, agent_id: int) -> Agent:
        """The agent typified: back to available."""
        agent = self.get(agent_id)
        if agent.state is not AgentState.ACW:
            raise AgentStateError(f"agent {agent_id} is {agent.state}, not in after-call work")
        self._stop_acw_timer(agent)
        self._move(agent, AgentState.AVAILABLE)
        return agent

    def _stop_acw_timer(self, agent: Agent) -> None:
        timer = agent.acw_timer
        agent.acw_timer = None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    async def _acw_timer(
        self, agent: Agent, campaign_id: int, attempt_id: int, limit: float
    ) -> None:
        await self.clock.sleep(limit)
        if agent.state is not AgentState.ACW or agent.attempt_id != attempt_id:
            return
        agent.acw_timer = None
        log.info(
            "agent %s: ACW timer after %.0f s on attempt %s", agent.agent_id, limit, attempt_id
        )
        if self.on_acw_timeout is not None:
            try:
                await self.on_acw_timeout(agent, campaign_id, attempt_id)
            except Exception:
                log.exception("ACW timeout action failed for attempt %s", attempt_id)
        if agent.state is AgentState.ACW and agent.attempt_id == attempt_id:
            self._move(agent, AgentState.AVAILABLE)

    # What pacing needs -----------------------------------------------------------------------
    def counts(self, campaign_id: int | None = None) -> dict[str, int]:
        out = {s.value: 0 for s in AgentState}
        for agent in self.agents.values():
            if campaign_id is None or campaign_id in agent.campaigns:
                out[agent.state.value] += 1
        return out

    def working(self, campaign_id: int) -> list[Agent]:
        """Logged-in agents of the campaign (any state but logged out)."""
        return [
            a
            for a in self.agents.values()
            if campaign_id in a.campaigns and a.state is not AgentState.LOGGED_OUT
        ]

    @property
    def waiting_answers(self) -> int:
        return len(self._waiters)

    def waiting_for(self, campaign_id: int) -> int:
        """Live answers of the campaign waiting for an agent right now."""
        return sum(1 for w in self._waiters if w.campaign_id == campaign_id)

    async def close(self) -> None:
        for agent in self.agents.values():
            self._stop_acw_timer(agent)
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.cancel()
