"""Agent states, hand-off reservations and the ACW timer, as a pure state machine.

States (DESIGN.md domain words): logged out, available, reserved (held for a live answer),
on call, ACW (after-call work), paused (with a reason). :data:`TRANSITIONS` lists the legal
moves; anything else raises :class:`AgentStateError` naming the agent and both states.

An agent may work several campaigns (seed 000: "Call Queues linked to this Campaign") and is
one person: one state, and :meth:`AgentBook.snapshot` marks such shared agents so pacing
counts them once.

Time is passed in. Timers are deadlines checked by :meth:`AgentBook.tick`, which the engine
calls every tick (and whenever it likes): an expired reservation returns the agent to
available; an expired ACW produces an :class:`AcwTimeout` saying what to write (seed 004: "save
a default record (phone, agent, date and time only) or assign one default typification") and
the agent is available again.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
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

    def time_in_state(self, now: float) -> float:
        return max(0.0, now - self.since)


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

    # Membership ------------------------------------------------------------------------------
    def add(self, agent_id: int, campaigns: Iterable[int], now: float) -> Agent:
        if agent_id in self._agents:
            raise AgentStateError(f"agent {agent_id} is already known")
        agent = Agent(agent_id, frozenset(campaigns), since=now)
        self._agents[agent_id] = agent
        return agent

    def set_campaigns(self, agent_id: int, campaigns: Iterable[int]) -> Agent:
        agent = self.get(agent_id)
        agent.campaigns = frozenset(campaigns)
        return agent

    def set_acw_policy(self, campaign_id: int, policy: AcwPolicy) -> None:
        self._acw[campaign_id] = policy

    def get(self, agent_id: int) -> Agent:
        try:
            return self._agents[agent_id]
        except KeyError:
            raise AgentStateError(f"no agent {agent_id}") from None

    def __iter__(self) -> Iterator[Agent]:
        return iter(self._agents.values())

    # Agent actions ---------------------------------------------------------------------------
    def login(self, agent_id: int, now: float) -> Agent:
        return self._move(self.get(agent_id), AgentState.AVAILABLE, now)

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
        return self._move(self.get(agent_id), AgentState.LOGGED_OUT, now)

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
        self, agent_id: int, campaign_id: int, attempt_id: int, now: float, hold_s: float
    ) -> Agent:
        """Hold an available agent for ``attempt_id`` for at most ``hold_s`` seconds."""
        agent = self.get(agent_id)
        if campaign_id not in agent.campaigns:
            raise AgentStateError(f"agent {agent_id} does not work campaign {campaign_id}")
        self._move(agent, AgentState.RESERVED, now)
        agent.campaign_id, agent.attempt_id = campaign_id, attempt_id
        agent.reserved_until = now + hold_s
        return agent

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
        agent = self._move(self.get(agent_id), AgentState.ACW, now)
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
        """The agent typified the call: the ACW timer stops; from ACW they are available."""
        agent = self.get(agent_id)
        if agent.state is not AgentState.ACW and agent.acw is None:
            raise AgentStateError(f"agent {agent_id} is {agent.state}, not in after-call work")
        agent.acw = None
        if agent.state is AgentState.ACW:
            self._move(agent, AgentState.AVAILABLE, now)
        return agent

    # Timers ----------------------------------------------------------------------------------
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
            if pending is not None and now >= pending.deadline:
                fired.append(
                    AcwTimeout(
                        agent.agent_id,
                        pending.campaign_id,
                        pending.attempt_id,
                        pending.action,
                        pending.typification_id,
                        now,
                    )
                )
                agent.acw = None
                if agent.state is AgentState.ACW:
                    self._move(agent, AgentState.AVAILABLE, now)
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
    def _move(self, agent: Agent, state: AgentState, now: float) -> Agent:
        if state not in TRANSITIONS[agent.state]:
            raise AgentStateError(f"agent {agent.agent_id} cannot go from {agent.state} to {state}")
        agent.history.append((agent.state, now - agent.since))
        del agent.history[:-32]  # a short trail for supervisors; bounded
        agent.state = state
        agent.since = now
        agent.reserved_until = None
        if state is not AgentState.PAUSED:
            agent.pause_reason = ""
        if state in (AgentState.AVAILABLE, AgentState.LOGGED_OUT):
            agent.campaign_id = None
            agent.attempt_id = None
        return agent
