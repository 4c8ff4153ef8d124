"""Background rounds (dialer/rounds.py): a failing round does not end the loop, and a stop
ends it even when a step swallows the cancellation."""

from __future__ import annotations

import asyncio
import contextlib

from dialer.clock import RealClock
from dialer.rounds import Rounds


async def test_a_failing_round_is_logged_and_the_next_one_comes() -> None:
    calls = 0

    async def step() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("Redis away")

    rounds = Rounds("test", step, RealClock(), 0.01)
    rounds.start()
    await asyncio.sleep(0.1)
    await rounds.stop()
    assert calls >= 3


async def test_a_stop_ends_the_rounds_even_if_a_step_swallows_the_cancellation() -> None:
    calls = 0

    async def stubborn() -> None:
        nonlocal calls
        calls += 1
        # As a client library may do with a command under way: the cancel is lost.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.05)

    rounds = Rounds("test", stubborn, RealClock(), 0.0)
    rounds.start()
    await asyncio.sleep(0.02)  # a step under way
    stopping = asyncio.ensure_future(rounds.stop())
    done, _ = await asyncio.wait({stopping}, timeout=2.0)
    assert stopping in done, "the stop never returned: the rounds went on"
    ended_at = calls
    await asyncio.sleep(0.1)
    assert calls == ended_at  # no round after the stop
