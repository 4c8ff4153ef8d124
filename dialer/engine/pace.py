"""The engine's side of pacing: a snapshot in, a number of calls out, with the reason.

``Pacer`` is the progressive rule every campaign falls back to (calls = free agents x ratio,
less the calls already ringing for them), used until the pacing core's predictive policy is
wired in for the campaign's dial mode (pacing/).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dialer.engine.ports import CampaignPlan, DialMode

if TYPE_CHECKING:
    from dialer.calls import CallRecord


@dataclass(frozen=True)
class PacingSnapshot:
    now: float
    agent_states: list[str]
    agent_seconds_in_state: list[float]
    agent_campaign_count: list[int]  # agents shared by several campaigns count once overall
    dialing_seconds: list[float]  # calls placed and not answered yet, by age
    answered_unconnected: int  # answered, in AMD or about to ask for an agent
    waiting_for_agent: int  # live answers waiting for an agent right now


@dataclass(frozen=True)
class Decision:
    calls: int
    dial_level: float
    reason: str


@dataclass
class Pacer:
    plan: CampaignPlan
    answered: int = 0
    placed: int = 0
    history: list[Decision] = field(default_factory=list)

    def decide(self, snapshot: PacingSnapshot) -> Decision:
        free = sum(1 for s in snapshot.agent_states if s == "available")
        if self.plan.dial_mode is DialMode.PREVIEW:
            return self._keep(Decision(0, 0.0, "preview: agents ask for their next contact"))
        if self.plan.dial_mode is DialMode.AGENTLESS:
            # No agents: keep the campaign's channels full, at most its calls per second.
            busy = len(snapshot.dialing_seconds) + snapshot.answered_unconnected
            wanted = max(0, min(self.plan.max_channels - busy, int(self.plan.max_calls_per_s)))
            return self._keep(
                Decision(
                    wanted,
                    0.0,
                    f"agentless: {busy} of {self.plan.max_channels} channels busy -> {wanted}",
                )
            )
        if snapshot.waiting_for_agent:
            return self._keep(
                Decision(0, 0.0, f"{snapshot.waiting_for_agent} live answers waiting: hold")
            )
        # Calls already placed will each want an agent if they answer: count them against the
        # free agents, whether still ringing or answered and in AMD.
        ringing = len(snapshot.dialing_seconds) + snapshot.answered_unconnected
        ratio = self.plan.dial_ratio
        wanted = max(0, math.floor(free * ratio) - ringing)
        level = (wanted + ringing) / free if free else 0.0
        return self._keep(
            Decision(
                wanted,
                level,
                f"progressive x{ratio:g}: {free} free agents, {ringing} ringing -> {wanted}",
            )
        )

    def observe(self, call: CallRecord, now: float) -> None:
        self.placed += 1
        if call.answered_at is not None:
            self.answered += 1

    def _keep(self, decision: Decision) -> Decision:
        self.history.append(decision)
        del self.history[:-100]
        return decision
