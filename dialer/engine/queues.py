"""Queue membership: each agent in the queues of every campaign it works, paused while busy.

The roster (dialer/engine/roster.py) is the single source of each agent's state; app_queue only
follows it. An agent is a member of every queue of the campaigns it works and of their linked
campaigns (seed 000, "Call Queues linked to this Campaign"), with a penalty per queue: 0 in its
own campaigns' queues, the link's penalty in borrowed ones (app_queue rings lower penalties
first). Membership follows the roster's moves:

- login (out of logged out): ``QueueAdd`` in each queue (``StateInterface`` = the agent's phone:
  with ``ringinuse = no`` in queues.conf a real Asterisk does not ring a phone already in use);
- logout: ``QueueRemove`` from each;
- every other move: the member is unpaused exactly while the roster says *available* (and, in
  the queues of campaigns that allow incoming calls to users in management status, also during
  after-call work); otherwise ``QueuePause`` with a reason (``dialer: reserved``, ``dialer:
  on_call``, ``dialer: acw``, or the agent's own pause reason).

Why QueuePause and not only ``ringinuse = no``: the device state says nothing of an agent
reserved for an outbound call whose phone is not ringing yet, nor of after-call work, so only
the pause keeps app_queue from ringing them. The outbound hand-off awaits the pause's reply
(:meth:`QueueMembership.fence`) before it dials: AMI sends events in order, so an AgentCalled
for the agent sent before the pause took effect has been seen by then (the queue wins, the
hand-off looks for another agent).

After every (re)connect :meth:`QueueMembership.reconcile` compares QueueStatus with the roster
(members missing, stale, or paused wrongly) and fixes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass

from ami.client import AMIClient
from ami.codec import Message
from ami.errors import ActionError, AMIError
from dialer.engine.roster import Agent, AgentState, Move, Roster

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueSeat:
    """One queue an agent joins because of one of its campaigns."""

    queue: str
    campaign_id: int  # the campaign whose queue it is
    penalty: int
    management: bool  # the queue's campaign allows calls to agents in after-call work


@dataclass
class _Told:
    """What Asterisk was last told of one member."""

    paused: bool
    reason: str


class QueueMembership:
    def __init__(self, ami: AMIClient, roster: Roster) -> None:
        self.ami = ami
        self.roster = roster
        # The queues an agent of a campaign joins: its own and its linked campaigns'.
        self.seats: dict[int, list[QueueSeat]] = {}
        self.members: dict[int, dict[str, _Told]] = {}  # agent -> queue -> what was told
        self.by_interface: dict[str, int] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.actions_failed = 0
        roster.listeners.append(self._moved)
        roster.fence = self.fence

    def configure(self, seats: dict[int, list[QueueSeat]]) -> None:
        self.seats = seats

    def seats_of(self, agent: Agent) -> dict[str, QueueSeat]:
        """The agent's queues, each once, at the lowest penalty any of its campaigns gives."""
        out: dict[str, QueueSeat] = {}
        for campaign_id in sorted(agent.campaigns):
            for seat in self.seats.get(campaign_id, ()):
                known = out.get(seat.queue)
                if known is None or seat.penalty < known.penalty:
                    out[seat.queue] = seat
        return out

    def agent_for(self, interface: str) -> int | None:
        return self.by_interface.get(interface)

    def queues_of(self, agent_id: int) -> list[str]:
        return sorted(self.members.get(agent_id, {}))

    # What each member should be -------------------------------------------------------------
    @staticmethod
    def wanted(agent: Agent, seat: QueueSeat) -> tuple[bool, str]:
        """(paused, reason) for the agent's member in the seat's queue, from the roster."""
        state = agent.state
        if state is AgentState.AVAILABLE:
            return False, ""
        if state is AgentState.ACW and seat.management:
            return False, ""  # seed 000: "Allow incoming call to users in management status"
        if state is AgentState.PAUSED:
            return True, agent.pause_reason or "paused"
        return True, f"dialer: {state.value}"

    # Roster moves -> actions ----------------------------------------------------------------
    def _moved(self, agent: Agent, move: Move) -> None:
        task = asyncio.ensure_future(self.sync(agent.agent_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def fence(self, agent: Agent) -> None:
        """Return once Asterisk has confirmed the agent's membership as the roster has it."""
        await self.sync(agent.agent_id)

    async def sync(self, agent_id: int) -> None:
        """Bring the agent's queue memberships in line with the roster (one agent at a time,
        in order: each call sees the state of the moment and sends only the differences)."""
        lock = self._locks.setdefault(agent_id, asyncio.Lock())
        async with lock:
            agent = self.roster.agents.get(agent_id)
            if agent is None:
                return
            told = self.members.setdefault(agent_id, {})
            if agent.state is AgentState.LOGGED_OUT:
                for queue in list(told):
                    await self._act(self.ami.queue_remove(queue, agent.interface), "QueueRemove")
                    del told[queue]
                return
            self.by_interface[agent.interface] = agent_id
            seats = self.seats_of(agent)
            for queue in [q for q in told if q not in seats]:
                await self._act(self.ami.queue_remove(queue, agent.interface), "QueueRemove")
                del told[queue]
            for queue, seat in seats.items():
                paused, reason = self.wanted(agent, seat)
                known = told.get(queue)
                if known is None:
                    ok = await self._act(
                        self.ami.queue_add(
                            queue,
                            agent.interface,
                            penalty=seat.penalty,
                            paused=paused,
                            member_name=agent.name,
                            state_interface=agent.interface,
                        ),
                        "QueueAdd",
                        already="Already there",
                    )
                    if ok:
                        told[queue] = _Told(paused, reason)
                        if paused:
                            # QueueAdd takes no reason: say why with a QueuePause.
                            await self._pause(agent, queue, True, reason)
                elif known.paused != paused and await self._pause(agent, queue, paused, reason):
                    told[queue] = _Told(paused, reason)

    async def _pause(self, agent: Agent, queue: str, paused: bool, reason: str) -> bool:
        return await self._act(
            self.ami.queue_pause(
                agent.interface, paused, queue=queue, reason=reason if paused else None
            ),
            "QueuePause",
        )

    async def _act(self, action: Awaitable[object], name: str, already: str | None = None) -> bool:
        try:
            await action
        except ActionError as exc:
            if already is not None and already in exc.message:
                return True
            self.actions_failed += 1
            log.error("%s refused: %s", name, exc)
            return False
        except AMIError as exc:
            # The link is down: the reconcile after the reconnect puts it right.
            self.actions_failed += 1
            log.warning("%s not sent: %s", name, exc)
            return False
        return True

    # After a (re)connect --------------------------------------------------------------------
    async def reconcile(self, client: AMIClient, queues: Iterable[str]) -> list[Message]:
        """QueueStatus against the roster: add missing members, remove ours that should not be
        there (logged out, or no longer in a campaign of that queue), fix pauses. Returns the
        callers waiting in our queues (QueueEntry) for the inbound tracker."""
        ours = set(queues)
        try:
            status = await client.queue_status()
        except AMIError as exc:
            log.error("reconcile: QueueStatus failed: %s", exc)
            return []
        listed: dict[tuple[str, str], bool] = {}
        for event in status.events:
            if event.name == "QueueMember" and event.get("Queue") in ours:
                listed[(event.get("Queue") or "", event.get("Location") or "")] = (
                    event.get("Paused") == "1"
                )
        agents = {a.interface: a for a in self.roster.agents.values()}
        for (queue, interface), paused in listed.items():
            agent = agents.get(interface)
            if agent is None or agent.state is AgentState.LOGGED_OUT:
                await self._act(client.queue_remove(queue, interface), "QueueRemove")
                continue
            # Asterisk has it: remember what it says, and let sync fix the rest.
            self.members.setdefault(agent.agent_id, {})[queue] = _Told(paused, "")
        for agent_id, told in self.members.items():
            for queue in [q for q in told if q in ours]:
                agent = self.roster.agents.get(agent_id)
                if agent is not None and (queue, agent.interface) not in listed:
                    del told[queue]  # gone from Asterisk (a restart): added again by sync
        for agent in list(self.roster.agents.values()):
            if agent.state is not AgentState.LOGGED_OUT or self.members.get(agent.agent_id):
                await self.sync(agent.agent_id)
        return [e for e in status.events if e.name == "QueueEntry" and e.get("Queue") in ours]

    async def close(self) -> None:
        for task in list(self._tasks):
            await asyncio.gather(task, return_exceptions=True)
