"""The live terminal view of a running shift: a pure renderer from a status snapshot to text.

The demo (and `dialer serve --live`) redraws it once a second; keeping it pure means it is tested
on values, not on a terminal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

AGENT_STATES = ("available", "reserved", "on_call", "acw", "paused", "logged_out")


@dataclass(frozen=True)
class CampaignView:
    """What a supervisor watches for one campaign, at one instant."""

    name: str
    dial_mode: str
    agents: Mapping[str, int]  # state -> count
    calls_in_flight: int
    calls_waiting: int
    dial_level: float  # lines (in flight, waiting, just placed) per agent not paused
    abandon_rate: float  # drops / live answers, over the shift so far
    abandon_rate_24h: float
    utilisation: float  # talk time / logged-in time, over the shift so far
    placed: int
    answered: int
    connected: int
    dropped: int
    last_reason: str = ""


@dataclass(frozen=True)
class ShiftView:
    clock: str  # the shift's own time, already formatted
    elapsed: str
    speed: float
    campaigns: list[CampaignView] = field(default_factory=list)


def _bar(value: float, width: int = 20) -> str:
    filled = max(0, min(width, round(value * width)))
    return "█" * filled + "·" * (width - filled)


def render(view: ShiftView, *, width: int = 78) -> str:
    """The whole screen as text (no ANSI codes: the caller clears and redraws)."""
    lines = [
        f"dialer · shift time {view.clock} · elapsed {view.elapsed} · speed x{view.speed:g}",
        "─" * width,
    ]
    for c in view.campaigns:
        states = "  ".join(f"{s.replace('_', ' ')} {c.agents.get(s, 0)}" for s in AGENT_STATES[:5])
        cap = " OVER CAP" if c.abandon_rate > 0.03 else ""
        lines += [
            f"{c.name} [{c.dial_mode}]",
            f"  agents      {states}",
            f"  calls       in flight {c.calls_in_flight}  waiting for agent {c.calls_waiting}"
            f"  dial level {c.dial_level:.2f}",
            f"  placed {c.placed}  answered {c.answered}  connected {c.connected}"
            f"  dropped {c.dropped}",
            f"  abandon     {c.abandon_rate:6.2%} shift  {c.abandon_rate_24h:6.2%} 24 h"
            f"  (cap 3.00%){cap}",
            f"  utilisation {_bar(c.utilisation)} {c.utilisation:6.1%}",
        ]
        if c.last_reason:
            lines.append(f"  pacing      {c.last_reason[: width - 14]}")
        lines.append("")
    return "\n".join(lines)


CLEAR_SCREEN = "\x1b[H\x1b[2J"
