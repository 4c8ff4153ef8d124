"""One campaign at one instant: the input of every pacing decision.

Arrays, not objects, so a decision for hundreds of agents is a handful of numpy operations.
The engine builds it from its roster and call tracker; the simulator from its own state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int8]


class AgentState(IntEnum):
    """Agent states as small integers (the domain's agent states, DESIGN.md)."""

    LOGGED_OUT = 0
    AVAILABLE = 1
    RESERVED = 2  # picked for a call that is being connected
    ON_CALL = 3
    ACW = 4
    PAUSED = 5


_EMPTY_F = np.zeros(0, dtype=np.float64)


def _empty_float() -> FloatArray:
    return _EMPTY_F


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A campaign's agents and calls at ``now`` (seconds, any epoch).

    ``agent_share`` is the part of each agent this campaign may count: an agent logged in to
    k campaigns is passed to each campaign's decision with share 1/k (see
    :func:`shares_for_campaigns`), so over all campaigns every agent is counted once.
    ``inbound_waiting`` is the number of inbound callers queued for these agents: while it is
    above 0 a blended campaign places no outbound calls (:mod:`pacing.blend`).
    ``agent_release_at`` is for the simulator's oracle mode only: each agent's exact release
    time (NaN when unknown); real snapshots leave it empty.
    """

    now: float
    agent_state: IntArray
    agent_time_in_state: FloatArray
    call_dial_times: FloatArray = field(default_factory=_empty_float)
    calls_waiting: int = 0
    agent_share: FloatArray | None = None
    channels_in_use: int = 0
    agent_release_at: FloatArray | None = None
    inbound_waiting: int = 0  # inbound callers waiting now for these agents (docs/blending.md)
    # Set by the wrappers around a policy for the policy inside, never by the engine:
    risk_scale: float = 1.0  # the guard's tightening near the abandon cap: 1 none, 0 at the cap
    priority_rate: float = 0.0  # callers/s (inbound) who take agents before the calls placed now
    priority_absorbed: int = 0  # how many of those callers the agents held out of this view take

    def __post_init__(self) -> None:
        n = self.agent_state.shape[0]
        if self.agent_state.ndim != 1:
            raise ValueError("agent_state must be a 1-d array")
        if self.agent_time_in_state.shape != (n,):
            raise ValueError(
                f"agent_time_in_state has shape {self.agent_time_in_state.shape}, "
                f"agent_state has {n} agents"
            )
        if self.agent_share is not None and self.agent_share.shape != (n,):
            raise ValueError(f"agent_share must have one value per agent ({n})")
        if self.agent_release_at is not None and self.agent_release_at.shape != (n,):
            raise ValueError(f"agent_release_at must have one value per agent ({n})")
        if self.calls_waiting < 0:
            raise ValueError(f"calls_waiting must be >= 0, got {self.calls_waiting}")
        if self.channels_in_use < 0:
            raise ValueError(f"channels_in_use must be >= 0, got {self.channels_in_use}")
        if self.inbound_waiting < 0:
            raise ValueError(f"inbound_waiting must be >= 0, got {self.inbound_waiting}")
        if not 0.0 <= self.risk_scale <= 1.0:
            raise ValueError(f"risk_scale must be in [0, 1], got {self.risk_scale}")
        if self.priority_rate < 0 or self.priority_absorbed < 0:
            raise ValueError("priority_rate and priority_absorbed must be >= 0")

    @property
    def shares(self) -> FloatArray:
        if self.agent_share is None:
            return np.ones(self.agent_state.shape[0], dtype=np.float64)
        return self.agent_share

    def available_agents(self) -> float:
        """Agents free now, each counted by its share."""
        free = self.agent_state == AgentState.AVAILABLE
        if self.agent_share is None:
            return float(np.count_nonzero(free))
        return float(self.agent_share[free].sum())

    def in_flight(self) -> int:
        """Calls placed and not yet routed to an agent nor ended."""
        return int(self.call_dial_times.shape[0])


def shares_for_campaigns(agent_campaigns: list[frozenset[str]], campaign: str) -> FloatArray:
    """Each agent's share for ``campaign``: 1/k for an agent logged in to k campaigns, else 0.

    Passing these to every campaign's snapshot counts a shared agent once over all campaigns
    (VICIdial warns that multi-campaign agents otherwise inflate the drop rate,
    docs/AGENT_MULTI-CAMPAIGN_DIALING.txt).
    """
    return np.array(
        [1.0 / len(c) if campaign in c else 0.0 for c in agent_campaigns], dtype=np.float64
    )


def make_snapshot(
    now: float,
    states: Sequence[int] | IntArray,
    times_in_state: Sequence[float] | FloatArray,
    call_dial_times: Sequence[float] | FloatArray = (),
    calls_waiting: int = 0,
    agent_share: Sequence[float] | FloatArray | None = None,
    channels_in_use: int = 0,
    inbound_waiting: int = 0,
) -> Snapshot:
    """A snapshot from plain lists (for the engine and for tests)."""
    return Snapshot(
        now=float(now),
        agent_state=np.asarray(states, dtype=np.int8),
        agent_time_in_state=np.asarray(times_in_state, dtype=np.float64),
        call_dial_times=np.asarray(call_dial_times, dtype=np.float64),
        calls_waiting=calls_waiting,
        agent_share=None if agent_share is None else np.asarray(agent_share, dtype=np.float64),
        channels_in_use=channels_in_use,
        inbound_waiting=inbound_waiting,
    )
