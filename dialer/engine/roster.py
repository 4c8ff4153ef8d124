"""Agents as the engine follows them: the asyncio side of the pure agent book.

States, legal moves, the hand-off pick, queue takes, reminder holds and ACW deadlines are the
pure core's (dialer/agents.py, :class:`~dialer.agents.AgentBook`); this module adds what needs
the event loop: live answers waiting up to 2 s for an agent (first come, first served: a waiting
answer is served before any new one), the fence before the hand-off dials, the ACW timers as
tasks on the engine's clock, and handing each :class:`~dialer.agents.Move` on to its observers.

The ACW timer (seed 004): an agent who has not typified within the campaign's maximum gets the
default record or the default typification (the engine writes it), and is available again; an
agent who paused before typifying gets the default too and stays paused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from dialer.agents import AcwPolicy, Agent, AgentBook, AgentState, AgentStateError, Move
from dialer.clock import Clock

__all__ = ["Agent", "AgentState", "AgentStateError", "Move", "Roster"]

log = logging.getLogger(__name__)


@dataclass
class _Waiter:
    campaign_id: int
    attempt_id: int
    future: asyncio.Future[Agent] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


AcwTimeout = Callable[[Agent, int, int], Awaitable[None]]  # agent, campaign, attempt
MoveHook = Callable[[Agent, Move], None]
# Awaited after an outbound reservation, before the hand-off dials the agent's phone: the queue
# membership pauses the agent in every queue (dialer/engine/queues.py), so app_queue and the
# hand-off never ring the same agent.
Fence = Callable[[Agent], Awaitable[None]]


class Roster:
    def __init__(self, clock: Clock, on_acw_timeout: AcwTimeout | None = None) -> None:
        self.clock = clock
        self.book = AgentBook()
        self._waiters: list[_Waiter] = []
        self._acw_timers: dict[int, asyncio.Task[None]] = {}
        self.on_acw_timeout = on_acw_timeout
        self.on_move: MoveHook | None = None
        self.listeners: list[MoveHook] = []  # more observers of every move (queue membership)
        self.fence: Fence | None = None

    @property
    def agents(self) -> Mapping[int, Agent]:
        return self.book.agents

    # Membership and settings -----------------------------------------------------------------
    def add(self, agent_id: int, name: str, interface: str, campaigns: Iterable[int]) -> Agent:
        """A new agent, logged out; an agent already known keeps their state and gets the new
        name, phone and campaigns."""
        if agent_id in self.book.agents:
            agent = self.book.set_campaigns(agent_id, campaigns)
            agent.name, agent.interface = name, interface
            return agent
        return self.book.add(agent_id, campaigns, self.clock.now(), name=name, interface=interface)

    def get(self, agent_id: int) -> Agent:
        return self.book.get(agent_id)

    def set_acw_max(self, campaign_id: int, seconds: float | None) -> None:
        """The campaign's ACW maximum (None or 0: no timer, the agent typifies at leisure)."""
        self.book.set_acw_policy(campaign_id, AcwPolicy(seconds or None))

    def has_acw_max(self, campaign_id: int) -> bool:
        return self.book.acw_policy(campaign_id) is not None

    def _publish(self) -> None:
        """Hand the book's moves on, oldest first (a move made by an observer, or by serving a
        waiting answer, joins the end of the line)."""
        moves = self.book.moves
        while moves:
            move = moves.pop(0)
            agent = self.book.get(move.agent_id)
            if self.on_move is not None:
                self.on_move(agent, move)
            for listener in self.listeners:
                listener(agent, move)
            if move.after is AgentState.AVAILABLE and agent.state is AgentState.AVAILABLE:
                self._serve_waiters(agent)
            if agent.acw is not None and agent.acw.deadline <= self.clock.now():
                self._start_acw_timer(agent)  # a pause left before typifying: due now

    # Agent actions ---------------------------------------------------------------------------
    def login(self, agent_id: int) -> Agent:
        agent = self.get(agent_id)
        if agent.state is AgentState.LOGGED_OUT:
            self.book.login(agent_id, self.clock.now())
            self._publish()
        return agent

    def ready(self, agent_id: int) -> Agent:
        agent = self.get(agent_id)
        if agent.state is AgentState.PAUSED:
            self.book.ready(agent_id, self.clock.now())
            self._publish()
        elif agent.state is not AgentState.AVAILABLE:
            raise AgentStateError(f"agent {agent_id} is {agent.state}, not paused")
        return agent

    def pause(self, agent_id: int, reason: str) -> Agent:
        """Paused with a reason; from ACW the wrap-up's timer keeps running (seed 004)."""
        agent = self.book.pause(agent_id, reason, self.clock.now())
        self._publish()
        return agent

    def logout(self, agent_id: int) -> Agent:
        agent = self.get(agent_id)
        if agent.state is AgentState.AVAILABLE or agent.state is AgentState.PAUSED:
            self.book.logout(agent_id, self.clock.now())
            self._publish()
            return agent
        raise AgentStateError(f"agent {agent_id} is {agent.state}: finish the call first")

    # The hand-off ----------------------------------------------------------------------------
    def free_for(self, campaign_id: int) -> list[Agent]:
        return [
            a for a in self.book if a.state is AgentState.AVAILABLE and campaign_id in a.campaigns
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
        now = self.clock.now()
        picked = self.book.pick_agent(campaign_id, now)
        if picked is not None and not any(w.campaign_id == campaign_id for w in self._waiters):
            agent = self.book.reserve(picked, campaign_id, attempt_id, now)
            self._publish()
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
        """Reserve an agent before an auto-drop reminder's call is placed (seed 004): see
        :meth:`AgentBook.hold_for_reminder`. None: nobody to take it now (the call waits)."""
        agent = self.book.hold_for_reminder(
            campaign_id, agent_id, any_agent, attempt_id, self.clock.now()
        )
        self._publish()
        return agent

    def take_for_queue(self, agent_id: int, campaign_id: int, attempt_id: int) -> bool:
        """A queue rings the agent for an inbound call (AgentCalled): hold them for it
        (:meth:`AgentBook.take_for_queue`; an outbound reservation it takes over looks for
        another agent, :meth:`reserve`)."""
        agent = self.get(agent_id)
        took_over = agent.state is AgentState.RESERVED
        taken = self.book.take_for_queue(agent_id, campaign_id, attempt_id, self.clock.now())
        if taken and took_over:
            log.info("agent %s: taken by a queue before the outbound hand-off", agent_id)
        self._publish()
        return taken

    def _serve_waiters(self, agent: Agent) -> None:
        for waiter in list(self._waiters):
            if waiter.campaign_id in agent.campaigns and not waiter.future.done():
                self._waiters.remove(waiter)
                self.book.reserve(
                    agent.agent_id, waiter.campaign_id, waiter.attempt_id, self.clock.now()
                )
                waiter.future.set_result(agent)
                return

    def unreserve(self, agent_id: int) -> None:
        """A reservation that did not become a call (the phone did not answer)."""
        if self.get(agent_id).state is AgentState.RESERVED:
            self.book.release(agent_id, self.clock.now())
            self._publish()

    def on_call(self, agent_id: int) -> Agent:
        agent = self.book.connected(agent_id, self.clock.now())
        self._publish()
        return agent

    def call_ended(self, agent_id: int) -> Agent:
        """Talk is over: after-call work starts, bounded by the campaign's ACW maximum."""
        agent = self.book.call_ended(agent_id, self.clock.now())
        if agent.acw is not None:
            self._start_acw_timer(agent)
        self._publish()
        return agent

    def finish_acw(self, agent_id: int) -> Agent:
        """The agent typified: back to available (a paused agent stays paused)."""
        agent = self.book.typified(agent_id, self.clock.now())
        self._stop_acw_timer(agent_id)
        self._publish()
        return agent

    # ACW timers ------------------------------------------------------------------------------
    def _start_acw_timer(self, agent: Agent) -> None:
        pending = agent.acw
        if pending is None:
            return
        self._stop_acw_timer(agent.agent_id)
        self._acw_timers[agent.agent_id] = asyncio.ensure_future(
            self._acw_timer(agent, pending.attempt_id, pending.deadline - self.clock.now())
        )

    def _stop_acw_timer(self, agent_id: int) -> None:
        timer = self._acw_timers.pop(agent_id, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    async def _acw_timer(self, agent: Agent, attempt_id: int, wait_s: float) -> None:
        if wait_s > 0:
            await self.clock.sleep(wait_s)
        if self._acw_timers.get(agent.agent_id) is asyncio.current_task():
            del self._acw_timers[agent.agent_id]
        fired = self.book.acw_expired(agent.agent_id, attempt_id, self.clock.now())
        if fired is None:
            return
        log.info("agent %s: ACW timer on attempt %s", agent.agent_id, attempt_id)
        if self.on_acw_timeout is not None:
            try:
                await self.on_acw_timeout(agent, fired.campaign_id, attempt_id)
            except Exception:
                log.exception("ACW timeout action failed for attempt %s", attempt_id)
        self.book.acw_applied(agent.agent_id, attempt_id, self.clock.now())
        self._publish()

    # What pacing needs -----------------------------------------------------------------------
    def counts(self, campaign_id: int | None = None) -> dict[str, int]:
        out = {s.value: 0 for s in AgentState}
        for agent in self.book:
            if campaign_id is None or campaign_id in agent.campaigns:
                out[agent.state.value] += 1
        return out

    def working(self, campaign_id: int) -> list[Agent]:
        """Logged-in agents of the campaign (any state but logged out)."""
        return [
            a
            for a in self.book
            if campaign_id in a.campaigns and a.state is not AgentState.LOGGED_OUT
        ]

    @property
    def waiting_answers(self) -> int:
        return len(self._waiters)

    def waiting_for(self, campaign_id: int) -> int:
        """Live answers of the campaign waiting for an agent right now."""
        return sum(1 for w in self._waiters if w.campaign_id == campaign_id)

    async def close(self) -> None:
        for agent_id in list(self._acw_timers):
            self._stop_acw_timer(agent_id)
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.cancel()
