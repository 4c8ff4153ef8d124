"""Waiting for a condition in tests without fixed sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Return as soon as ``condition()`` is true; fail after ``timeout`` seconds."""

    async def poll() -> None:
        while not condition():  # noqa: ASYNC110 - the condition is not an event we own
            await asyncio.sleep(0.002)

    try:
        await asyncio.wait_for(poll(), timeout)
    except TimeoutError:
        raise AssertionError(f"condition still false after {timeout} s") from None
