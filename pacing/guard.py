"""The compliance guard around every policy.

- Abandon rate per campaign over 30 days (FTC TSR 310.4(b)(4), FCC 64.1200(a)(7)) and over
  24 hours (Ofcom), counting drops plus an estimate of AMD hang-ups on live people (Ofcom 2010
  §4.70-4.73) over live answers. From ``tighten_from`` x cap the policy's risk is scaled down
  linearly; at the cap the campaign falls back to progressive 1:1.
- Per decision, even if every call beyond the progressive count were answered live and
  dropped, the window rate would stay at or under the cap.
- Ring time never under ``min_ring_s`` (FTC: 15 s or 4 rings; Ofcom: 15 s).
- Trunk channels and calls per second.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from dataclasses import dataclass

from pacing.abandon import RollingAbandon
from pacing.decision import Decision, DecisionLog
from pacing.events import Event, EventKind
from pacing.policies import Policy, progressive_calls
from pacing.snapshot import Snapshot

DAY_S = 86400.0
MONTH_S = 30 * DAY_S  # FTC TSR 310.4(b)(4): per campaign per 30 days


@dataclass(frozen=True, slots=True)
class GuardConfig:
    cap: float = 0.03
    tighten_from: float = 0.8  # fraction of the cap where tightening starts
    enforce_cap: bool = True  # False only to measure unguarded baselines
    amd_false_positive: float = 0.0  # estimated share of AMD "machine" hang-ups that were live
    min_ring_s: float = 15.0
    max_channels: int = 10_000
    max_calls_per_s: float = 1_000.0

    def __post_init__(self) -> None:
        if not 0 < self.cap < 1:
            raise ValueError(f"cap must be in (0, 1), got {self.cap}")
        if not 0 < self.tighten_from <= 1:
            raise ValueError(f"tighten_from must be in (0, 1], got {self.tighten_from}")
        if not 0 <= self.amd_false_positive < 1:
            raise ValueError(f"amd_false_positive must be in [0, 1), got {self.amd_false_positive}")
        if self.min_ring_s < 0:
            raise ValueError(f"min_ring_s must be >= 0, got {self.min_ring_s}")
        if self.max_channels < 0:
            raise ValueError(f"max_channels must be >= 0, got {self.max_channels}")
        if not self.max_calls_per_s > 0:
            raise ValueError(f"max_calls_per_s must be > 0, got {self.max_calls_per_s}")


class Guard:
    """Wraps a policy: same ``observe``/``decide`` interface, decisions clipped and logged."""

    def __init__(
        self,
        policy: Policy,
        config: GuardConfig | None = None,
        *,
        campaign: str = "campaign",
        log: DecisionLog | None = None,
    ) -> None:
        self.policy = policy
        self.config = config or GuardConfig()
        self.campaign = campaign
        self.log = log
        self.name = policy.name
        self.day = RollingAbandon(DAY_S, 1440)
        self.month = RollingAbandon(MONTH_S, 720)
        self._placed: deque[tuple[float, int]] = deque()

    def observe(self, event: Event) -> None:
        kind = event.kind
        if kind is EventKind.CALL_CONNECTED:
            self._count(event.at, 1.0, 0.0)
        elif kind is EventKind.CALL_DROPPED:
            self._count(event.at, 1.0, 1.0)
        elif kind is EventKind.CALL_MACHINE and self.config.amd_false_positive > 0:
            fp = self.config.amd_false_positive
            self._count(event.at, fp, fp)
        self.policy.observe(event)

    def remember(self, at: float, lives: float, drops: float, machines: float = 0.0) -> None:
        """Answers from before this guard existed (a process that starts dialing a campaign
        reads them back from the store), counted as :meth:`observe` would have counted them.
        Oldest first, and before any event observed: the windows only move forward."""
        fp = self.config.amd_false_positive
        self._count(at, lives + fp * machines, drops + fp * machines)

    def _count(self, at: float, lives: float, drops: float) -> None:
        self.day.add(at, lives, drops)
        self.month.add(at, lives, drops)

    def abandon_budget(self) -> float:
        """Extra live answers that could all be dropped with both windows still <= the cap."""
        cap = self.config.cap
        return min((cap * w.lives - w.drops) / (1.0 - cap) for w in (self.day, self.month))

    def decide(self, snapshot: Snapshot) -> Decision:
        cfg = self.config
        now = snapshot.now
        self.day.roll(now)
        self.month.roll(now)
        rate = max(self.day.rate(), self.month.rate())
        mode = "normal"
        if cfg.enforce_cap:
            start = cfg.tighten_from * cfg.cap
            if rate >= cfg.cap:
                mode = "at_cap"
            elif rate > start:
                mode = "tightening"
            scale = 1.0 if rate <= start else max(0.0, (cfg.cap - rate) / (cfg.cap - start))
            if scale != snapshot.risk_scale:
                # The policy inside sees the tightening in its snapshot.
                snapshot = dataclasses.replace(snapshot, risk_scale=scale)
        decision = self.policy.decide(snapshot)
        calls = decision.calls
        notes: list[str] = []
        # A blended policy (pacing.blend) holds agents for inbound queues: progressive counts
        # only the agents it offers outbound.
        view = getattr(self.policy, "outbound_view", None)
        base = progressive_calls(view(snapshot) if view is not None else snapshot)
        if cfg.enforce_cap and calls > base:
            if mode == "at_cap":
                calls = base
                notes.append(f"abandon rate {rate:.2%} at the {cfg.cap:.0%} cap: progressive")
            else:
                budget = max(0, math.floor(self.abandon_budget() + 1e-9))
                if calls > base + budget:
                    calls = base + budget
                    notes.append(f"abandon budget {budget} call(s) beyond progressive")
        room = cfg.max_channels - snapshot.channels_in_use
        if calls > room:
            calls = max(0, room)
            notes.append(f"trunk: {snapshot.channels_in_use}/{cfg.max_channels} channels busy")
        while self._placed and self._placed[0][0] <= now - 1.0:
            self._placed.popleft()
        recent = sum(n for _, n in self._placed)
        cps_room = max(0, math.floor(cfg.max_calls_per_s) - recent)
        if calls > cps_room:
            calls = cps_room
            notes.append(f"{cfg.max_calls_per_s:g} calls/s limit")
        if calls:
            self._placed.append((now, calls))
        guarded = Decision(
            decision.policy,
            decision.at,
            calls,
            decision.reason + ("; guard: " + "; ".join(notes) if notes else ""),
            decision.inputs,
            decision.quantities,
            max(decision.ring_timeout_s, cfg.min_ring_s),
            {
                "mode": mode,
                "abandon_rate_24h": self.day.rate(),
                "abandon_rate_30d": self.month.rate(),
                "live_answers_24h": self.day.lives,
                "policy_calls": decision.calls,
                "progressive_calls": base,
            },
        )
        if self.log is not None:
            self.log.record(self.campaign, guarded)
        return guarded
