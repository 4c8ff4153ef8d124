"""The campaigns this process paces: the active ones it holds the lease of (dialer/leases.py).

Every ``every_s`` (a third of the lease's life, so two renewals can fail before it lapses) the
keeper renews the leases of the campaigns the engine dials, stops those whose lease is lost
(another process took it after it lapsed) or that are no longer active, and starts the active
campaigns nobody holds: at start-up that is every campaign (one process) or an even share of
them (several: each takes ceil(active / live processes), after one lease's life to see the
others), and later a campaign just activated, or one whose process died: the calls a dead
process left open in the campaigns taken are settled first (Engine.settle_dead_owners), so no
outcome is lost and no contact still on the phone is dialed. Every SWEEP_S it also has the
calls dead processes left open in any campaign settled (dialed here, elsewhere or by nobody:
every attempt gets its outcome), leaving untried the processes whose heartbeat is live.
Campaigns linked by the agents they share go to one process together (:func:`linked_groups`),
and a group split between processes since (linked later, or an outage) is brought together
(:meth:`CampaignKeeper._mend_splits`).
A campaign that cannot dial (no trunk, predictive without its "No contact" results: seed 004)
is logged once per reason and its lease given back. A process over its share hands groups no
agent works here to one with room (:meth:`CampaignKeeper._hand_over`), so a process that joins
later gets its share too.

A supervisor's pause is kept on the campaign (store.campaigns.set_dialing_paused): a campaign
starts paused if stored so, and each round the campaigns dialed here follow the stored pauses
read with the active campaigns (:class:`Active`), so a pause asked at another process's API
reaches the process that dials the campaign within a round.

A process cut off from Redis cannot tell whether its leases lapsed and went to another process;
so each campaign places no new call past the life of its last renewed lease (the fence,
``RunningCampaign.lease_until``), and takes its lease back, if still free, once Redis answers.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from dialer.clock import Clock
from dialer.engine.engine import Engine
from dialer.engine.ports import CampaignCannotStart
from dialer.leases import Leases
from dialer.rounds import Rounds

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Active:
    """What a round reads of the campaigns (one query's worth, whatever their number): the
    active ones grouped by the agents they share (linked_groups), and those of them a
    supervisor paused."""

    groups: list[frozenset[int]]
    paused: frozenset[int] = frozenset()


ActiveCampaigns = Callable[[], Awaitable[Active]]

# A group handed over to balance is left to the others this many rounds; taken back then if
# none took it, and then nothing is handed over for KEEP_ROUNDS.
HAND_OVER_ROUNDS = 2
KEEP_ROUNDS = 12

# A group split between processes waits this many rounds for the process with the smaller
# part to give it up (it cannot while agents are logged in to it there); then the larger part
# moves instead, if it can.
SPLIT_ROUNDS = 3

# How often (wall seconds) a process looks for the calls dead processes left open in any
# campaign (Engine.settle_dead_owners): one indexed query over the calls in flight, and an
# owner-lock try per owner with open calls whose heartbeat has lapsed. Campaigns taken over
# are settled at once whatever this says, before they dial.
SWEEP_S = 30.0

# A campaign stops placing calls this long before its lease may lapse (the fence): room for
# this host's clock and Redis's running at slightly different rates, and for a tick under way.
FENCE_MARGIN_S = 1.0


def linked_groups(members: Mapping[int, Iterable[int]]) -> list[frozenset[int]]:
    """Campaigns linked through the agents they share (seed 000: one agent serves several
    campaigns), each group whole: an agent logs in to the one process that dials all of their
    campaigns, so linked campaigns go to one process together. ``members``: campaign -> its
    agents; a campaign without agents is a group of its own."""
    parent: dict[int, int] = {c: c for c in members}

    def root(c: int) -> int:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    first_campaign_of: dict[int, int] = {}
    for campaign, agents in sorted(members.items()):
        for agent in agents:
            other = first_campaign_of.setdefault(agent, campaign)
            parent[root(campaign)] = root(other)
    groups: dict[int, set[int]] = {}
    for campaign in members:
        groups.setdefault(root(campaign), set()).add(campaign)
    return sorted((frozenset(g) for g in groups.values()), key=min)


class CampaignKeeper:
    def __init__(
        self,
        engine: Engine,
        leases: Leases,
        active: ActiveCampaigns,
        clock: Clock,
        every_s: float | None = None,
        settle_s: float | None = None,
    ) -> None:
        self.engine = engine
        self.leases = leases
        self.active = active
        self.clock = clock
        # The lease's life in this clock's seconds: a shared lease's is wall time (Redis's own
        # clock); the local ones only pace the rounds that start and stop campaigns.
        life = leases.ttl_s * (clock.speed if leases.shared else 1.0)
        self.every_s = every_s if every_s is not None else life / 3
        # With shared leases, a process takes nothing for one lease's life after it starts,
        # so that processes started together see each other before they share the campaigns.
        self.settle_s = settle_s if settle_s is not None else (life if leases.shared else 0)
        self.started_at: float | None = None
        self.refused: dict[int, str] = {}  # campaigns that cannot dial, with the reason
        self._handed: dict[frozenset[int], float] = {}  # groups handed over, and when
        self._hand_over_from = 0.0  # after a group was taken back: none handed over before
        self._split: dict[frozenset[int], float] = {}  # groups split with others, since when
        self._stuck: set[frozenset[int]] = set()  # of those, the ones logged as stuck
        # The sweep for dead processes' calls, in this clock's seconds (SWEEP_S is wall time:
        # what it costs the database), and when it last ran.
        self.sweep_s = SWEEP_S * clock.speed
        self._swept_at: float | None = None
        self._rounds = Rounds("campaign leases", self.step, clock, self.every_s)

    def dialing(self) -> set[int]:
        return {c for c in self.engine.campaigns if self.engine.running(c) is not None}

    async def step(self) -> None:
        now = self.clock.now()
        if self.started_at is None:
            self.started_at = now
        mark = self.engine.pause_changes  # pauses set here after this are newer than the read
        read = await self.active()
        groups = read.groups
        active = set().union(*groups) if groups else set()
        ours = self.dialing()
        self._follow_pauses(ours, read.paused, mark)
        holding = await self.leases.heartbeat(len(ours & active))
        sent_at = self.clock.now()
        # The active campaigns are renewed too: after a restart under the same owner name,
        # Redis still holds this process's leases, and it dials them again at once instead of
        # letting them lapse to another process during its first lease's life.
        kept = await self.leases.renew(ours | active)
        for campaign_id in sorted(ours - kept):
            # Lapsed (Redis was away longer than a lease's life) and free: ours again; the
            # fence stopped its calls meanwhile. Taken by another process: lost.
            holder = await self.leases.acquire([campaign_id])
            if holder is None:
                kept.add(campaign_id)
                continue
            log.warning(
                "campaign %s: lease lost (now held by %s); no more calls from %s",
                campaign_id,
                holder,
                self.leases.owner,
            )
            await self.engine.stop_campaign(campaign_id)
        self._confirm(kept & ours, sent_at)
        for campaign_id in sorted(kept - active):
            log.info("campaign %s is no longer active: stopped", campaign_id)
            await self.engine.stop_campaign(campaign_id)
            await self.leases.release(campaign_id)
        for campaign_id in sorted((kept & active) - ours):
            log.info("campaign %s: its lease is still ours (a restart)", campaign_id)
            await self._start(campaign_id, sent_at)
        if now - self.started_at < self.settle_s:
            return
        # An even share of the active campaigns per live process, whole groups; a process
        # with none takes a group whatever its size, and one holding part of a group (a
        # restart) takes the rest of it.
        share = math.ceil(len(active) / max(1, len(holding)))
        held = len(kept & active)
        taken: list[tuple[int, float]] = []  # campaign, when its lease was asked for
        for group in groups:
            wanted = sorted(group - kept)
            if not wanted:
                continue
            handed_at = self._handed.get(group)
            if handed_at is not None and now - handed_at < HAND_OVER_ROUNDS * self.every_s:
                continue  # handed over: the others' turn to take it first
            # A group handed over and still free is taken back whatever the share.
            if handed_at is None and held > 0 and not group & kept and held + len(wanted) > share:
                continue
            sent_at = self.clock.now()
            # The whole group in one script: none of it while another process holds any
            # campaign of it (its agents log in there).
            holder = await self.leases.acquire(group)
            if handed_at is not None:
                del self._handed[group]
                if holder is None:  # nobody took it: they have no room after all, for now
                    self._hand_over_from = now + KEEP_ROUNDS * self.every_s
            if holder is None:
                taken.extend((campaign_id, sent_at) for campaign_id in wanted)
                held += len(wanted)
        # The calls dead processes left open, whatever their campaign (dialed here, elsewhere
        # or by nobody: every attempt gets its outcome), every SWEEP_S; the processes whose
        # heartbeat is live are not even tried (their owner locks are held).
        if self._swept_at is None or now - self._swept_at >= self.sweep_s:
            self._swept_at = now
            await self.engine.settle_dead_owners(running=holding.keys())
        # And in the campaigns just taken, at once, every owner tried (its heartbeat may
        # outlive its lease by a round): settled before they place a call, their contacts
        # leased by us while still on the phone.
        if taken:
            await self.engine.settle_dead_owners({c for c, _ in taken})
        for campaign_id, sent_at in taken:
            await self._start(campaign_id, sent_at)
        await self._mend_splits(groups, now)
        await self._hand_over(groups, active, holding, share, now)

    async def _mend_splits(self, groups: list[frozenset[int]], now: float) -> None:
        """A group this process dials part of while other processes hold the rest is brought
        together. Groups are taken whole, so a split comes from a change: campaigns dialed by
        two processes became linked (an administrator gave an agent campaigns of both), or an
        outage let another process take one of them. Until it mends, an agent of both sides
        can log in nowhere (api.py ``_dialed_here``). The smaller part (a tie: the process whose
        name sorts last) is given up, stopped here with its calls going on to their outcomes as
        at a hand-over, and the holder of the larger part takes it at its next round. A part
        with agents logged in here cannot move (``Engine.movable``); after SPLIT_ROUNDS the
        larger part moves instead, if it can; if neither can, it is logged once and waits for
        the agents of one side to log out."""
        owner = self.leases.owner
        dialing = self.dialing()
        split: set[frozenset[int]] = set()
        for group in groups:
            mine = group & dialing
            if not mine or mine == group:
                continue
            parts = {owner: len(mine)}
            for campaign_id in sorted(group - mine):
                holder = await self.leases.holder(campaign_id)
                if holder is not None and holder != owner:
                    parts[holder] = parts.get(holder, 0) + 1
            if len(parts) == 1:
                continue  # the rest is free: this process takes it (the round's taking, above)
            split.add(group)
            since = self._split.setdefault(group, now)
            stays = min(parts, key=lambda o: (-parts[o], o))
            if stays == owner and now - since < SPLIT_ROUNDS * self.every_s:
                continue  # the others' turn to give theirs up
            if not all(self.engine.movable(c) for c in mine):
                if group not in self._stuck:  # said once per split
                    self._stuck.add(group)
                    self._log_stuck(group, mine, parts, stays == owner)
                continue
            await self._give_up(mine, group, now)
            log.info(
                "campaigns %s given up by %s to join the rest of their group %s (%s)",
                sorted(mine),
                owner,
                sorted(group),
                ", ".join(sorted(set(parts) - {owner})),
            )
        self._split = {g: t for g, t in self._split.items() if g in split}
        self._stuck &= split

    async def _give_up(self, campaigns: frozenset[int], group: frozenset[int], now: float) -> None:
        """No more calls here for ``campaigns`` (of ``group``), their leases free for another
        process; their calls in flight go on here to their outcomes. The group is left to the
        others for HAND_OVER_ROUNDS (the round's taking, in :meth:`step`)."""
        for campaign_id in sorted(campaigns):
            await self.engine.stop_campaign(campaign_id)
            await self.leases.release(campaign_id)
        self._handed[group] = now

    def _log_stuck(
        self, group: frozenset[int], mine: frozenset[int], parts: Mapping[str, int], last: bool
    ) -> None:
        others = ", ".join(f"{o} ({n})" for o, n in sorted(parts.items()) if o != self.leases.owner)
        if not last:
            log.info(
                "campaigns %s of the split group %s stay at %s for now: agents are logged in "
                "to them here; the rest is dialed by %s, which gives its part up if it can",
                sorted(mine),
                sorted(group),
                self.leases.owner,
                others,
            )
            return
        log.warning(
            "campaigns %s share agents but are split between %s (%s) and %s, and agents are "
            "logged in on both sides: an agent of both cannot log in until one side's agents "
            "log out",
            sorted(group),
            self.leases.owner,
            ", ".join(map(str, sorted(mine))),
            others,
        )

    async def _hand_over(
        self,
        groups: list[frozenset[int]],
        active: set[int],
        holding: Mapping[str, int],
        share: int,
        now: float,
    ) -> None:
        """Over its share (a process joined since, or one came back): one whole group goes to
        a process with room for it, if it can move, that is no agent works it here (agents are
        logged in where their campaigns are dialed: this moves agentless voice campaigns, and
        those whose agents went home); a paused one moves too, and starts there paused (the
        pause is stored). Its calls in flight go on here to their outcomes; the other process
        takes it at its next round, or, if none has after a few rounds, this one takes it back
        and hands nothing over for a while.
        A group is handed only to where both sides stay at or beyond the share, so two
        processes never pass one back and forth."""
        mine = self.dialing() & active
        over = len(mine) - share
        if over <= 0 or now < self._hand_over_from:
            return
        others = [n for owner, n in holding.items() if owner != self.leases.owner]
        for group in sorted(groups, key=lambda g: (len(g), min(g))):
            if not group <= mine or len(group) > over:
                continue
            if not any(n == 0 or n + len(group) <= share for n in others):
                continue
            if not all(self.engine.movable(c) for c in group):
                continue
            await self._give_up(group, group, now)
            log.info(
                "campaigns %s handed over: %s dials %d, its share is %d",
                sorted(group),
                self.leases.owner,
                len(mine),
                share,
            )
            return  # one a round: the counts change with it

    def _follow_pauses(self, ours: Iterable[int], paused: frozenset[int], mark: int) -> None:
        """The campaigns dialed here paused or resumed as stored: a supervisor may have asked
        another process's API. One paused or resumed here since ``mark`` (this process's API,
        while the read was on its way) is left as it is: what was applied then is newer."""
        for campaign_id in sorted(ours):
            running = self.engine.running(campaign_id)
            wanted = campaign_id in paused
            if running is None or running.paused == wanted or running.pause_change > mark:
                continue
            self.engine.pause_campaign(campaign_id, wanted)
            log.info("campaign %s %s (as stored)", campaign_id, "paused" if wanted else "resumed")

    def _confirm(self, campaign_ids: Iterable[int], sent_at: float) -> None:
        """The leases were renewed by a request sent at ``sent_at``: Redis counts their life
        from when it ran it, later, so they last at least until ``sent_at + ttl``. The
        campaigns dial until a margin before that (the engine's fence, RunningCampaign.
        lease_until), however long Redis stays away. The lease's life is wall time (Redis's
        clock); the fence is in the engine's clock, which a demo or a test runs faster."""
        if not self.leases.shared:
            return
        until = sent_at + (self.leases.ttl_s - FENCE_MARGIN_S) * self.clock.speed
        for campaign_id in campaign_ids:
            running = self.engine.running(campaign_id)
            if running is not None:
                running.lease_until = until

    async def _start(self, campaign_id: int, lease_sent_at: float) -> None:
        try:
            await self.engine.start_campaign(campaign_id)
        except CampaignCannotStart as exc:
            await self.leases.release(campaign_id)
            if self.refused.get(campaign_id) != str(exc):
                log.warning("campaign %s not started: %s", campaign_id, exc)
            self.refused[campaign_id] = str(exc)
        else:
            self._confirm([campaign_id], lease_sent_at)
            self.refused.pop(campaign_id, None)
            log.info("campaign %s: dialed by %s", campaign_id, self.leases.owner)

    def start(self) -> None:
        # Redis or the database away for a moment: the campaigns go on as they are, and a
        # lease that lapses meanwhile is found lost at the next round that works.
        self._rounds.start()

    async def stop(self) -> None:
        """No more rounds; the leases are given back once the engine has drained."""
        await self._rounds.stop()

    async def release_all(self) -> None:
        """This process stops: its leases back, and it no longer counts among the live ones."""
        for campaign_id in self.engine.campaigns:
            await self.leases.release(campaign_id)
        await self.leases.leave()
