"""Reconnect delays: exponential backoff with jitter. Pure (the random source is injected)."""

from __future__ import annotations

import random


def reconnect_delay(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait before reconnect ``attempt`` (0 for the first retry).

    "Equal jitter": the exponential step is capped at ``cap``, half of it is fixed and half is
    random, so a fleet of dialers that lost the same Asterisk does not reconnect in lockstep,
    yet no one retries sooner than half the step.
    """
    if attempt < 0:
        raise ValueError(f"reconnect attempt must be >= 0, got {attempt}")
    if base <= 0 or cap < base:
        raise ValueError(f"need 0 < base <= cap, got base={base} cap={cap}")
    # 2**attempt overflows a float after ~1000 attempts; the cap is reached long before.
    step = cap if attempt >= 64 else min(cap, base * 2**attempt)
    return step / 2 + rng.uniform(0, step / 2)
