"""Shared builders for the pacing tests."""

from __future__ import annotations

from typing import Protocol

from pacing.events import Event, EventKind


class Observer(Protocol):
    def observe(self, event: Event) -> None: ...


A = 1  # AgentState.AVAILABLE
ON = 3  # AgentState.ON_CALL
ACW = 4  # AgentState.ACW
PAUSED = 5  # AgentState.PAUSED


def warm(
    policy: Observer,
    *,
    calls: int = 1000,
    live_every: int = 2,
    route_s: float = 10.0,
    talk_s: float = 100.0,
    acw_s: float = 10.0,
) -> None:
    """Feed ``calls`` outcomes: one in ``live_every`` routed after ``route_s``, talks and ACWs
    of fixed length, and no pauses."""
    observe = policy.observe
    for i in range(calls):
        at = float(i)
        if i % live_every == 0:
            observe(Event(EventKind.CALL_ROUTED, at, route_s))
            observe(Event(EventKind.CALL_CONNECTED, at))
            observe(Event(EventKind.TALK_ENDED, at, talk_s))
            observe(Event(EventKind.ACW_ENDED, at, acw_s))
            observe(Event(EventKind.AGENT_READY, at))
        else:
            observe(Event(EventKind.CALL_UNANSWERED, at, 25.0))
