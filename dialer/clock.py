"""Injected time: the same code runs in real time, in scaled time (the demo) and in tests.

A clock gives ``now()`` as epoch seconds and an awaitable ``sleep(seconds)`` in *its own* time.
Cores never read the system clock themselves; they are given ``now``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    # Seconds of this clock per wall-clock second: what converts a time kept outside it (a
    # Redis expiry, in wall time) into its own.
    speed: float

    def now(self) -> float:
        """Epoch seconds in this clock's time."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class RealClock:
    """Wall-clock time."""

    speed = 1.0

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """Time that runs ``speed`` times faster than the wall clock, from ``start`` (epoch s).

    ``speed=10`` turns a 30 s ring into 3 s of wall time. Monotonic underneath, so a wall-clock
    step never makes it jump.
    """

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self.speed = speed
        self._origin = time.time() if start is None else start
        self._mono0 = time.monotonic()

    def now(self) -> float:
        return self._origin + (time.monotonic() - self._mono0) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)
