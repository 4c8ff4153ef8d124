"""Rolling abandon rate over a window: drops (and AMD hang-ups on live answers) / live answers.

Counts live in per-bucket rings, so the rate over 24 hours or 30 days is a running sum, not a
scan (FTC TSR 310.4(b)(4): 3 % of live answers per campaign per 30 days; Ofcom: per 24 hours,
AMD false positives included).
"""

from __future__ import annotations

import numpy as np


class RollingAbandon:
    """Drops and live answers over the last ``window_s`` seconds, in ``buckets`` buckets."""

    def __init__(self, window_s: float, buckets: int) -> None:
        if window_s <= 0 or buckets < 1:
            raise ValueError("window_s must be > 0 and buckets >= 1")
        self.bucket_s = window_s / buckets
        self._drops = np.zeros(buckets, dtype=np.float64)
        self._lives = np.zeros(buckets, dtype=np.float64)
        self._head: int | None = None  # absolute index of the newest bucket
        self.drops = 0.0
        self.lives = 0.0

    def _advance(self, at: float) -> int:
        b = int(at // self.bucket_s)
        n = self._drops.shape[0]
        if self._head is None:
            self._head = b
        elif b > self._head:
            steps = min(b - self._head, n)
            for i in range(self._head + 1, self._head + 1 + steps):
                j = i % n
                self.drops -= self._drops[j]
                self.lives -= self._lives[j]
                self._drops[j] = 0.0
                self._lives[j] = 0.0
            self._head = b
        return (self._head if b < self._head else b) % n

    def add(self, at: float, lives: float, drops: float) -> None:
        """Record ``lives`` live answers, of which ``drops`` were abandoned."""
        j = self._advance(at)
        self._drops[j] += drops
        self._lives[j] += lives
        self.drops += drops
        self.lives += lives

    def roll(self, now: float) -> None:
        """Forget what fell out of the window by ``now``."""
        self._advance(now)

    def rate(self) -> float:
        return self.drops / self.lives if self.lives > 0 else 0.0
