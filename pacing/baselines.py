"""Baselines re-implemented from their published behaviour, to measure the predictive policy.

Progressive 1:1 and fixed ratios are :class:`pacing.policies.Progressive`. This module holds
VICIdial's ADAPT_TAPERED (``bin/AST_VDadapt.pl`` ``calculate_dial_level`` and
``bin/AST_VDauto_dial.pl``; pseudocode in research/dialers.md §2.3), with its defaults: drop
limit 3 %, maximum level 3.0, latest server time 21:00, intensity 0, differential target 0.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from pacing.decision import Decision
from pacing.events import Event, EventKind
from pacing.snapshot import AgentState, Snapshot


class AdaptTapered:
    """VICIdial's adaptive dial level, tapered towards the end of the day."""

    name = "adapt_tapered"

    def __init__(
        self,
        *,
        shift_start_hhmm: int = 900,
        latest_hhmm: int = 2100,
        dropped_percentage: float = 3.0,
        maximum_level: float = 3.0,
        intensity: float = 0.0,
        diff_target: float = 0.0,
        level: float = 1.0,
    ) -> None:
        self.shift_start_hhmm = shift_start_hhmm
        self.latest_hhmm = latest_hhmm
        self.dropped_percentage = dropped_percentage
        self.maximum_level = maximum_level
        self.intensity = intensity
        self.diff_target = diff_target
        self.level = level
        self._samples: deque[tuple[float, float, float]] = deque(maxlen=15)  # stat_it = 15
        self._last_sample = -np.inf
        self._last_adapt = 0.0
        self._last_drops = 0.0
        # "today" counters and the last minute's (time, placed, dropped) events
        self.calls_today = 0
        self.answers_today = 0
        self.drops_today = 0
        self._minute: deque[tuple[float, bool]] = deque()

    def observe(self, event: Event) -> None:
        kind = event.kind
        if kind in (EventKind.CALL_UNANSWERED, EventKind.CALL_MACHINE, EventKind.CALL_ROUTED):
            self.calls_today += 1
            self._minute.append((event.at, False))
        elif kind is EventKind.CALL_CONNECTED:
            self.answers_today += 1
        elif kind is EventKind.CALL_DROPPED:
            self.drops_today += 1
            self.answers_today += 1  # DROP is a human-answered status in VICIdial
            self._minute.append((event.at, True))

    def _hhmm(self, now: float) -> int:
        start = (self.shift_start_hhmm // 100) * 60 + self.shift_start_hhmm % 100
        minutes = int(start + now // 60)
        return (minutes // 60) * 100 + minutes % 60

    def _calculate_dial_level(self, now: float) -> None:
        ready = float(np.mean([s[0] for s in self._samples]))
        waiting = float(np.mean([s[1] for s in self._samples]))
        total = float(np.mean([s[2] for s in self._samples]))
        d = ready - waiting + self.diff_target
        m = d / total if d != 0 and total != 0 else 0.0
        k = self.intensity / 100.0
        m = m * abs(k - 1.0) if m < 0 else m * (k + 1.0)
        level = min(self.level * (1.0 + m), self.maximum_level)
        level = max(level, 1.0)
        while self._minute and self._minute[0][0] < now - 60.0:
            self._minute.popleft()
        calls_1min = sum(1 for _, dropped in self._minute if not dropped)
        drops_1min = sum(1 for _, dropped in self._minute if dropped)
        if calls_1min > 20 and drops_1min * 100.0 / calls_1min > 50:
            level /= 2
        pct = self.drops_today * 100.0 / max(self.answers_today, 1)
        if self.calls_today > 50 and pct > self.dropped_percentage:
            left = self.latest_hhmm - self._hhmm(now)  # HHMM arithmetic, as VICIdial does
            level = 1.0 if left < 0 else level * (1.0 if left > 1000 else left / 1000.0)
        self.level = max(level, 1.0)

    def decide(self, snapshot: Snapshot) -> Decision:
        now = snapshot.now
        state = snapshot.agent_state
        ready = float(np.count_nonzero(state == AgentState.AVAILABLE))
        incall = float(
            np.count_nonzero((state == AgentState.ON_CALL) | (state == AgentState.RESERVED))
        )
        total = float(np.count_nonzero(state != AgentState.LOGGED_OUT))  # paused included
        if now - self._last_sample >= 1.0:
            self._samples.append((ready, float(snapshot.calls_waiting), total))
            self._last_sample = now
        if now - self._last_adapt >= 15.0 and self._samples:
            self._calculate_dial_level(now)
            self._last_adapt = now
        # AST_VDauto_dial: goal = round(level x (ready + incall)), minus the calls that exist;
        # agents in wrap-up ("dead" calls) and paused agents are not counted.
        count = ready + incall
        goal = round(self.level * count)
        exist = snapshot.in_flight() + snapshot.calls_waiting
        calls = max(0, goal - exist)
        return Decision(
            self.name,
            now,
            calls,
            f"level {self.level:.2f} x ({ready:g} ready + {incall:g} in call) = {goal} "
            f"- {exist} existing -> {calls}",
            inputs={"ready": ready, "incall": incall, "existing": exist},
            quantities={"dial_level": self.level, "drops_today": self.drops_today},
        )
