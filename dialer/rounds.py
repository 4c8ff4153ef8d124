"""A step run every so often in the background, on the injected clock: a failing round is
logged and the next one comes as planned (the database or Redis away for a moment must not
end the loop)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from dialer.clock import Clock

log = logging.getLogger(__name__)


class Rounds:
    def __init__(
        self, name: str, step: Callable[[], Awaitable[object]], clock: Clock, every_s: float
    ) -> None:
        self.name = name
        self.step = step
        self.clock = clock
        self.every_s = every_s
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def run(self) -> None:
        # Ended by the flag as well as by the cancel: a step's client may swallow the
        # CancelledError (seen once: a shared-views round went on and its stop never returned).
        while not self._stopping:
            try:
                await self.step()
            except Exception:
                log.exception(
                    "%s: this round failed; the next one comes in %gs", self.name, self.every_s
                )
            await self.clock.sleep(self.every_s)

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.ensure_future(self.run())

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
