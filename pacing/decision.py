"""The explained decision: inputs, intermediate quantities, result and reason, per tick.

Supervisors in every product we compete with cannot tell why their dialer dials (research:
dialers.md §9.16); every decision here is a JSON-serialisable record, and the last N per
campaign are kept for them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Decision:
    """Calls to place now, with the reason. ``quantities`` holds the intermediate values."""

    policy: str
    at: float
    calls: int
    reason: str
    inputs: dict[str, float] = field(default_factory=dict)
    quantities: dict[str, float] = field(default_factory=dict)
    ring_timeout_s: float = 25.0
    guard: dict[str, float | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.calls < 0:
            raise ValueError(f"calls must be >= 0, got {self.calls}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class DecisionLog:
    """The last ``maxlen`` decisions of each campaign."""

    def __init__(self, maxlen: int = 300) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen must be >= 1, got {maxlen}")
        self.maxlen = maxlen
        self._by_campaign: dict[str, deque[Decision]] = {}

    def record(self, campaign: str, decision: Decision) -> None:
        log = self._by_campaign.get(campaign)
        if log is None:
            log = self._by_campaign[campaign] = deque(maxlen=self.maxlen)
        log.append(decision)

    def recent(self, campaign: str, n: int | None = None) -> list[Decision]:
        log = list(self._by_campaign.get(campaign, ()))
        return log if n is None else log[-n:]
