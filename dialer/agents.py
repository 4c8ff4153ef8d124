"""Agent states, hand-off reservations and the ACW timer, as a pure state machine.

States (DESIGN.md domain words): logged out, available, reserved (held for a live answer),
on call, ACW (after-call work), paused (with a reason). :data:`TRANSITIONS` lists the legal
moves; anything else raises :class:`AgentStateError` naming the agent and both states.

An agent may work several campaigns (seed 000: "Call Queues linked to this Campaign") and is
one person: one state, and :meth:`AgentBook.snapshot` marks such shared agents so pacing
counts them once.

Time is passed in. Timers are deadlines: :meth:`AgentBook.tick` fires every one reached (an
expired reservation returns the agent to available; an expired ACW produces an
:class:`AcwTimeout` saying what to write, seed 004: "save a default record (phone, agent, date
and time only) or assign one default typification", and the agent is available again). A shell
that writes the default before freeing the agent uses the two halves, :meth:`AgentBook.acw_expired`
and :meth:`AgentBook.acw_applied`. Every change of state is also queued as a :class:`Move` in
:attr:`AgentBook.moves` for the shell to hand on (pacing learns ACW and pause lengths from them).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "STATE_CODES",
    "TRANSITIONS",
    "AcwAction",
    "AcwPolicy",
    "AcwTimeout",
    "Agent",
    "AgentBook",
    "AgentSnapshot",
    "AgentState",
    "AgentStateError",
    "Move",
    "PendingAcw",
    "ReservationExpired",
]


class AgentState(enum.StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RESERVED = "reserved"
    ON_CALL = "on_call"
    ACW = "acw"
    PAUSED = "paused"


# The integer codes of AgentSnapshot.states (stable: pacing keys its arrays on them).
STATE_CODES: Final = {
    AgentState.LOGGED_OUT: 0,
    AgentState.AVAILABLE: 1,
    AgentState.RESERVED: 2,
    AgentState.ON_CALL: 3,
    AgentState.ACW: 4,
    AgentState.PAUSED: 5,
}

TRANSITIONS: Final[dict[AgentState, frozenset[AgentState]]] = {
    AgentState.LOGGED_OUT: frozenset({AgentState.AVAILABLE, AgentState.PAUSED}),
    # AVAILABLE -> ON_CALL: a preview call or an inbound call reaches the agent directly.
    AgentState.AVAILABLE: frozenset(
        {AgentState.RESERVED, AgentState.ON_CALL, AgentState.PAUSED, AgentState.LOGGED_OUT}
    ),
    AgentState.RESERVED: frozenset({AgentState.ON_CALL, AgentState.AVAILABLE}),
    AgentState.ON_CALL: frozenset({AgentState.ACW}),
    # ACW -> PAUSED: the agent steps away before typifying; the ACW timer keeps running.
    AgentState.ACW: frozenset({AgentState.AVAILABLE, AgentState.PAUSED}),
    AgentState.PAUSED: frozenset({AgentState.AVAILABLE, AgentState.LOGGED_OUT}),
}


class AgentStateError(ValueError):
    """An agent was asked for a move its state does not allow, or is unknown."""


class AcwAction(enum.StrEnum):
    """Seed 004: on ACW timeout save a default record or apply the default typification.
    Same values as ``store.enums.AcwTimeoutAction``."""

    DEFAULT_RECORD = "default_record"
    DEFAULT_TYPIFICATION = "default_typification"


@dataclass(frozen=True)
class AcwPolicy:
    """A campaign's ACW timer. ``max_seconds`` None: no timer (the agent typifies at leisure)."""

    max_seconds: float | None = None
    action: AcwAction = AcwAction.DEFAULT_RECORD
    default_typification_id: int | None = None

    def __post_init__(self) -> None:
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise ValueError(f"acw max_seconds must be positive, got {self.max_seconds}")
        if self.action is AcwAction.DEFAULT_TYPIFICATION and self.default_typification_id is None:
            raise ValueError(
                "acw action default_typification needs default_typification_id (seed 004)"
            )


@dataclass(frozen=True)
class AcwTimeout:
    """The agent did not typify in time: write this for ``attempt_id``, then they are free."""

    agent_id: int
    campaign_id: int
    attempt_id: int
    action: AcwAction
    typification_id: int | None  # set for DEFAULT_TYPIFICATION
    at: float


@dataclass(frozen=True)
class ReservationExpired:
    """A reservation whose call never connected; the agent is available again."""

    agent_id: int
    campaign_id: int
    attempt_id: int
    at: float


@dataclass(frozen=True)
class PendingAcw:
    """A running ACW timer: the call it is for and what to apply when it fires."""

    campaign_id: int
    attempt_id: int
    deadline: float
    action: AcwAction
    typification_id: int | None


@dataclass
class Agent:
    agent_id: int
    campaigns: frozenset[int]
    state: AgentState = AgentState.LOGGED_OUT
    since: float = 0.0
    pause_reason: str = ""
    campaign_id: int | None = None  # of the call reserved for / on / wrapping up
    attempt_id: int | None = None
    reserved_until: float | None = None
    acw: PendingAcw | None = None  # the ACW timer, running until typified or fired
    history: list[tuple[AgentState, float]] = field(default_factory=list)
    name: str = ""
    interface: str = ""  # the phone the hand-off dials
    # An outbound reservation past its fence (the queues know the agent is busy): the
    # hand-off may dial the phone, and no queue may take the agent any more.
    committed: bool = False
    inbound: bool = False  # the call reserved, on, or wrapped up came from a queue
    calls: int = 0
    talk_s: float = 0.0
    logged_in_at: float | None = None

    def time_in_state(self, now: float) -> float:
        return max(0.0, now - self.since)


@dataclass(frozen=True)
class Move:
    """An agent's change of state: what pacing learns ACW and pause lengths from."""

    agent_id: int
    before: AgentState
    after: AgentState
    seconds_before: float  # time spent in ``before``
    campaign_id: int | None  # the campaign of the call being left (wrapped up), if any


@dataclass(frozen=True)
class AgentSnapshot:
    """What pacing needs about a campaign's logged-in agents, as parallel arrays.

    ``states`` holds :data:`STATE_CODES`; ``shared`` is True for agents who also work other
    campaigns (count them once across campaigns).
    """

    campaign_id: int
    at: float
    agent_ids: npt.NDArray[np.int64]
    states: npt.NDArray[np.int8]
    time_in_state: npt.NDArray[np.float64]
    shared: npt.NDArray[np.bool_]

    def count(self, state: AgentState) -> int:
        return int(np.count_nonzero(self.states == STATE_CODES[state]))


class AgentBook:
    """Every agent the engine knows, by id."""

    def __init__(self) -> None:
        self._agents: dict[int, Agent] = {}
        self._acw: dict[int, AcwPolicy] = {}
        self.moves: list[Move] = []  # every move, oldest first, until the shell takes them
        self.agents: Mapping[int, Agent] = MappingProxyType(self._agents)

    # Membership ------------------------------------------------------------------------------
    def add(
        self,
        agent_id: int,
        campaigns: Iterable[int],
        now: float,
        *,
        name: str = "",
        interface: str = "",
    ) -> Agent:
        if agent_id in self._agents:
            raise AgentStateError(f"agent {agent_id} is already known")
        agent = Agent(agent_id, frozenset(campaigns), since=now, name=name, interface=interface)
        self._agents[agent_id] = agent
        return agent

    def set_campaigns(self, agent_id: int, campaigns: Iterable[int]) -> Agent:
        agent = self.get(agent_id)
        agent.campaigns = frozenset(campaigns)
        return agent

    def set_acw_policy(self, campaign_id: int, policy: AcwPolicy) -> None:
        self._acw[campaign_id] = policy

    def acw_policy(self, campaign_id: int) -> AcwPolicy | None:
        return self._acw.get(campaign_id)

    def get(self, agent_id: int) -> Agent:
        try:
            return self._agents[agent_id]
        except KeyError:
            raise AgentStateError(f"no agent {agent_id}") from None

    def __iter__(self) -> Iterator[Agent]:
        return iter(self._agents.values())

    # Agent actions ---------------------------------------------------------------------------
    def login(self, agent_id: int, now: float) -> Agent:
        agent = self._move(self.get(agent_id), AgentState.AVAILABLE, now)
        agent.logged_in_at = now
        return agent

    def pause(self, agent_id: int, reason: str, now: float) -> Agent:
        if not reason.strip():
            raise AgentStateError(f"agent {agent_id}: a pause needs a reason")
        agent = self._move(self.get(agent_id), AgentState.PAUSED, now)
        agent.pause_reason = reason.strip()
        return agent

    def ready(self, agent_id: int, now: float) -> Agent:
        """Back from a pause."""
        agent = self.get(agent_id)
        if agent.state is not AgentState.PAUSED:
            raise AgentStateError(f"agent {agent_id} is {agent.state}, not paused")
        return self._move(agent, AgentState.AVAILABLE, now)

    def logout(self, agent_id: int, now: float) -> Agent:
        agent = self._move(self.get(agent_id), AgentState.LOGGED_OUT, now)
        agent.logged_in_at = None
        return agent

    # The hand-off ----------------------------------------------------------------------------
    def pick_agent(
        self, campaign_id: int, now: float, prefer: int | None = None, fallback: bool = True
    ) -> int | None:
        """The agent to give a live answer of ``campaign_id``, or None.

        ``prefer``: the scheduling agent of a direct-contact reminder (seed 004), taken when
        available for the campaign; otherwise, if ``fallback``, the campaign setting allows any
        agent. Any agent means the one available longest (ties: lowest id), so work is spread.
        """
        if prefer is not None:
            agent = self._agents.get(prefer)
            if (
                agent is not None
                and agent.state is AgentState.AVAILABLE
                and campaign_id in agent.campaigns
            ):
                return prefer
            if not fallback:
                return None
        free = [
            (a.since, a.agent_id)
            for a in self._agents.values()
            if a.state is AgentState.AVAILABLE and campaign_id in a.campaigns
        ]
        return min(free)[1] if free else None

    def reserve(
        self,
        agent_id: int,
        campaign_id: int,
        attempt_id: int,
        now: float,
        hold_s: float | None = None,
    ) -> Agent:
        """Hold an available agent for ``attempt_id`` for at most ``hold_s`` seconds (None:
        until released or connected)."""
        agent = self.get(agent_id)
        if campaign_id not in agent.campaigns:
            raise AgentStateError(f"agent {agent_id} does not work campaign {campaign_id}")
        self._move(agent, AgentState.RESERVED, now)
        agent.campaign_id, agent.attempt_id = campaign_id, attempt_id
        agent.reserved_until = None if hold_s is None else now + hold_s
        return agent

    def hold_for_reminder(
        self, campaign_id: int, agent_id: int, any_agent: bool, attempt_id: int, now: float
    ) -> Agent | None:
        """Reserve an agent before an auto-drop reminder's call is placed (seed 004): the
        agent who scheduled it, or with ``any_agent`` the campaign's longest-available agent
        when that one is not free. None: nobody to take it now (the call waits)."""
        picked = self.pick_agent(campaign_id, now, prefer=agent_id, fallback=any_agent)
        if picked is None:
            return None
        agent = self.reserve(picked, campaign_id, attempt_id, now)
        # Held for the customer who asked to be called back: no queue takes the agent.
        agent.committed = True
        return agent

    def take_for_queue(self, agent_id: int, campaign_id: int, attempt_id: int, now: float) -> bool:
        """A queue rings the agent for an inbound call (AgentCalled): hold them for it.

        Refused (False) unless the agent is available, or reserved for an outbound call whose
        hand-off has not dialed them yet (inbound has priority; that reservation looks for
        another agent). The queue's campaign may be a linked one the agent is not a member of:
        app_queue rang them, so no membership check."""
        agent = self.get(agent_id)
        if agent.state is AgentState.RESERVED and not agent.committed and not agent.inbound:
            agent.campaign_id, agent.attempt_id, agent.inbound = campaign_id, attempt_id, True
            return True
        if agent.state is not AgentState.AVAILABLE:
            return False
        self._move(agent, AgentState.RESERVED, now)
        agent.campaign_id, agent.attempt_id, agent.inbound = campaign_id, attempt_id, True
        return True

    def release(self, agent_id: int, now: float) -> Agent:
        """A reservation that did not become a call (the customer hung up, the phone failed)."""
        return self._move(self.get(agent_id), AgentState.AVAILABLE, now)

    def connected(
        self,
        agent_id: int,
        now: float,
        campaign_id: int | None = None,
        attempt_id: int | None = None,
    ) -> Agent:
        """The call is on the agent's phone (from reserved; or available for preview/inbound)."""
        agent = self._move(self.get(agent_id), AgentState.ON_CALL, now)
        if campaign_id is not None:
            agent.campaign_id = campaign_id
        if attempt_id is not None:
            agent.attempt_id = attempt_id
        return agent

    def call_ended(self, agent_id: int, now: float) -> Agent:
        """Talk is over: ACW starts, bounded by the campaign's :class:`AcwPolicy`."""
        agent = self.get(agent_id)
        talked = now - agent.since
        self._move(agent, AgentState.ACW, now)
        agent.talk_s += talked
        agent.calls += 1
        policy = self._acw.get(agent.campaign_id) if agent.campaign_id is not None else None
        if policy is not None and policy.max_seconds is not None:
            agent.acw = PendingAcw(
                agent.campaign_id or 0,
                agent.attempt_id or 0,
                now + policy.max_seconds,
                policy.action,
                policy.default_typification_id,
            )
        return agent

    def typified(self, agent_id: int, now: float) -> Agent:
        """The agent typified the call: the ACW timer stops; from ACW they are available, and
        an agent who paused before typifying stays paused."""
        agent = self.get(agent_id)
        if agent.state is AgentState.ACW:
            agent.acw = None
            self._move(agent, AgentState.AVAILABLE, now)
        elif self._owes_typification(agent):
            agent.acw = None
            agent.campaign_id = agent.attempt_id = None
        else:
            raise AgentStateError(f"agent {agent_id} is {agent.state}, not in after-call work")
        return agent

    @staticmethod
    def _owes_typification(agent: Agent) -> bool:
        # Paused from ACW (the only way into a pause that keeps a call) before typifying it.
        return agent.state is AgentState.PAUSED and agent.attempt_id is not None

    # Timers ----------------------------------------------------------------------------------
    def acw_expired(self, agent_id: int, attempt_id: int, now: float) -> AcwTimeout | None:
        """The ACW timer of ``attempt_id`` fired: what to write (None: typified meanwhile, or
        another call's timer runs). The agent stays where they are until :meth:`acw_applied`.
        An agent who paused before typifying still gets the default (seed 004: the timer
        bounds the wrap-up of the call, whatever the agent does meanwhile)."""
        agent = self.get(agent_id)
        pending = agent.acw
        if pending is None or pending.attempt_id != attempt_id or now < pending.deadline:
            return None
        agent.acw = None
        if self._owes_typification(agent):
            agent.campaign_id = agent.attempt_id = None  # settled by the default
        return AcwTimeout(
            agent_id,
            pending.campaign_id,
            pending.attempt_id,
            pending.action,
            pending.typification_id,
            now,
        )

    def acw_applied(self, agent_id: int, attempt_id: int, now: float) -> Agent:
        """The default for ``attempt_id`` is written: an agent still wrapping it up is free."""
        agent = self.get(agent_id)
        if agent.state is AgentState.ACW and agent.attempt_id == attempt_id:
            self._move(agent, AgentState.AVAILABLE, now)
        return agent

    def tick(self, now: float) -> list[AcwTimeout | ReservationExpired]:
        """Fire every deadline reached by ``now``."""
        fired: list[AcwTimeout | ReservationExpired] = []
        for agent in self._agents.values():
            if (
                agent.state is AgentState.RESERVED
                and agent.reserved_until is not None
                and now >= agent.reserved_until
            ):
                fired.append(
                    ReservationExpired(
                        agent.agent_id, agent.campaign_id or 0, agent.attempt_id or 0, now
                    )
                )
                self._move(agent, AgentState.AVAILABLE, now)
            pending = agent.acw
            timeout = (
                None
                if pending is None
                else self.acw_expired(agent.agent_id, pending.attempt_id, now)
            )
            if timeout is not None:
                fired.append(timeout)
                self.acw_applied(agent.agent_id, timeout.attempt_id, now)
        return fired

    # What pacing needs -----------------------------------------------------------------------
    def snapshot(self, campaign_id: int, now: float) -> AgentSnapshot:
        """The campaign's logged-in agents (sorted by id) as arrays."""
        agents = sorted(
            (
                a
                for a in self._agents.values()
                if campaign_id in a.campaigns and a.state is not AgentState.LOGGED_OUT
            ),
            key=lambda a: a.agent_id,
        )
        return AgentSnapshot(
            campaign_id=campaign_id,
            at=now,
            agent_ids=np.array([a.agent_id for a in agents], dtype=np.int64),
            states=np.array([STATE_CODES[a.state] for a in agents], dtype=np.int8),
            time_in_state=np.array([a.time_in_state(now) for a in agents], dtype=np.float64),
            shared=np.array([len(a.campaigns) > 1 for a in agents], dtype=np.bool_),
        )

    # Inside ----------------------------------------------------------------------------------
    def _due_now(self, agent: Agent, now: float) -> PendingAcw:
        if agent.acw is not None:
            return replace(agent.acw, deadline=min(agent.acw.deadline, now))
        policy = self._acw.get(agent.campaign_id or 0) or AcwPolicy()
        return PendingAcw(
            agent.campaign_id or 0,
            agent.attempt_id or 0,
            now,
            policy.action,
            policy.default_typification_id,
        )

    def _move(self, agent: Agent, state: AgentState, now: float) -> Agent:
        if state not in TRANSITIONS[agent.state]:
            raise AgentStateError(f"agent {agent.agent_id} cannot go from {agent.state} to {state}")
        seconds = now - agent.since
        self.moves.append(Move(agent.agent_id, agent.state, state, seconds, agent.campaign_id))
        agent.history.append((agent.state, seconds))
        del agent.history[:-32]  # a short trail for supervisors; bounded
        if self._owes_typification(agent):
            # Back from a pause taken before typifying: that wrap-up is over and its default
            # is due now, timer or not (before the next call's ACW could replace it).
            agent.acw = self._due_now(agent, now)
        agent.state = state
        agent.since = now
        agent.reserved_until = None
        if state is not AgentState.RESERVED:
            agent.committed = False
        if state is not AgentState.PAUSED:
            agent.pause_reason = ""
        if state in (AgentState.AVAILABLE, AgentState.LOGGED_OUT):
            agent.campaign_id = None
            agent.attempt_id = None
            agent.inbound = False
        return agent
