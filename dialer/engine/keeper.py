"""The campaigns this process paces: the active ones it holds the lease of (dialer/leases.py).

Every ``every_s`` (a third of the lease's life, so two renewals can fail before it lapses) the
keeper renews the leases of the campaigns the engine dials, stops those whose lease is lost
(another process took it after it lapsed) or that are no longer active, and starts the active
campaigns nobody holds: at start-up that is every campaign (one process) or a share of them
(several), and later a campaign just activated, or one whose process died. A campaign that
cannot dial (no trunk, predictive without its "No contact" results: seed 004) is logged once per
reason and its lease given back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from dialer.clock import Clock
from dialer.engine.engine import Engine
from dialer.engine.ports import CampaignCannotStart
from dialer.leases import Leases

log = logging.getLogger(__name__)

ActiveCampaigns = Callable[[], Awaitable[list[int]]]


class CampaignKeeper:
    def __init__(
        self,
        engine: Engine,
        leases: Leases,
        active: ActiveCampaigns,
        clock: Clock,
        every_s: float | None = None,
    ) -> None:
        self.engine = engine
        self.leases = leases
        self.active = active
        self.clock = clock
        self.every_s = every_s if every_s is not None else leases.ttl_s / 3
        self.refused: dict[int, str] = {}  # campaigns that cannot dial, with the reason
        self._task: asyncio.Task[None] | None = None

    def dialing(self) -> set[int]:
        return {c for c in self.engine.campaigns if self.engine.running(c) is not None}

    async def step(self) -> None:
        ours = self.dialing()
        kept = await self.leases.renew(ours)
        for campaign_id in sorted(ours - kept):
            holder = await self.leases.holder(campaign_id)
            log.warning(
                "campaign %s: lease lost (now held by %s); no more calls from %s",
                campaign_id,
                holder,
                self.leases.owner,
            )
            await self.engine.stop_campaign(campaign_id)
        active = set(await self.active())
        for campaign_id in sorted(kept - active):
            log.info("campaign %s is no longer active: stopped", campaign_id)
            await self.engine.stop_campaign(campaign_id)
            await self.leases.release(campaign_id)
        for campaign_id in sorted(active - kept):
            if await self.leases.acquire(campaign_id) is not None:
                continue  # another process paces it
            try:
                await self.engine.start_campaign(campaign_id)
            except CampaignCannotStart as exc:
                await self.leases.release(campaign_id)
                if self.refused.get(campaign_id) != str(exc):
                    log.warning("campaign %s not started: %s", campaign_id, exc)
                self.refused[campaign_id] = str(exc)
            else:
                self.refused.pop(campaign_id, None)
                log.info("campaign %s: dialed by %s", campaign_id, self.leases.owner)

    async def run(self) -> None:
        while True:
            try:
                await self.step()
            except Exception:
                # Redis or the database away for a moment: the campaigns go on as they are;
                # a lease that lapses meanwhile is found lost at the next step that works.
                log.exception("campaign leases: this round failed; retrying")
            await self.clock.sleep(self.every_s)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self.run())

    async def stop(self) -> None:
        """No more rounds; the leases are given back once the engine has drained."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def release_all(self) -> None:
        for campaign_id in self.engine.campaigns:
            await self.leases.release(campaign_id)
