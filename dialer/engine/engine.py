"""The dialing engine: per campaign, a tick that decides, claims, records and dials.

docs/architecture.md, "The outbound call flow". Each tick (1 s by default) of a running
campaign: take a snapshot (agents, calls in flight), ask the campaign's pacing policy how many
calls to place, claim that many contacts from the hopper, check each again (block list, calling
hours) at originate time, write the attempt row *before* sending anything, then send an async
Originate whose ActionID, ChannelId and channel variables carry the attempt id. AMI events and
the FastAGI handler's reports drive each call to exactly one outcome, which is written back.

Never re-send: an Originate whose reply was lost (LinkLost) keeps its attempt open as "dialing";
after the reconnect the resync hook asks Asterisk which calls still exist (CoreShowChannels) and
closes the rest as ``unknown``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from agi.server import AGICall
from ami.client import AMIClient
from ami.codec import Message
from ami.errors import ActionError, ActionTimeout, AMIError, LinkLost
from dialer.agents import STATE_CODES
from dialer.calls import (
    EVENTS,
    UNREACHED_DB_FAMILY,
    UNREACHED_DB_NOTE,
    CallRecord,
    CallState,
    CallTracker,
    Transition,
    action_id,
    channel_ids,
    unreached_mark,
)
from dialer.clock import Clock
from dialer.engine import live_events
from dialer.engine.outbound import AgentSeat, CallPlan, handle_outbound
from dialer.engine.pace import Pacer
from dialer.engine.ports import (
    AttemptResult,
    CampaignPlan,
    Dialable,
    DialMode,
    DialRefused,
    OpenCall,
    Outcome,
    Records,
    Typification,
)
from dialer.engine.roster import Agent, AgentState, Move, Roster
from dialer.live import LiveFeed
from pacing.snapshot import Snapshot, make_snapshot

log = logging.getLogger(__name__)

LIVE_DECISION_EVERY_S = 10.0  # a decision that places nothing and says nothing new, at most

# The AMI event classes the engine follows (the Login's ``Events``): calls (Newchannel,
# Newstate, Dial*, Hangup, Bridge*, OriginateResponse), queues (Queue*, Agent*) and user (the
# [dialer-out] fallback's UserEvent DialerUnreached, dialer/calls.py). The rest, dialplan's
# VarSet and Newexten above all (some 40 % of what Asterisk sends about a call), is not even
# sent to us.
AMI_EVENTS = "call,agent,user"
# Notes on the attempts a stopped dialer left open (Engine._settle): a previous run of this
# one, or a process of another name that died (named: its attempts are this one's now).
PREVIOUS_RUN_GONE = "the dialer restarted during the call: not on Asterisk any more"
PREVIOUS_RUN_ENDED = "the dialer restarted during the call: its end seen, the rest not"
DEAD_OWNER_GONE = "{owner}, the dialer of the call, died during it: not on Asterisk any more"
DEAD_OWNER_ENDED = "{owner}, the dialer of the call, died during it: its end seen, the rest not"

# Calls placed and not yet routed to an agent: ringing, or answered and in AMD (pacing's
# "calls in flight"; a routed call waiting for an agent is one of its "calls waiting").
_IN_FLIGHT = frozenset(
    {CallState.DIALING, CallState.RINGING, CallState.UNKNOWN, CallState.ANSWERED}
)


@dataclass
class CallMeta:
    """What the engine knows of a call beyond its tracking: whose it is and what it dials."""

    campaign_id: int
    dialable: Dialable
    dialed_at: float
    human_at: float | None = None  # routed: a live answer asked for an agent
    live_counted: bool = False  # pacing was told the live answer connected or dropped
    talked: bool | None = None  # set when the call's record arrives
    agent_leg: str | None = None  # the channel that rings the agent (for the agent's hang-up)
    survey_requested: bool = False  # the agent asked for the IVR survey (mode "agent")
    held_agent: int | None = None  # reserved before dialing (an auto-drop reminder's agent)


@dataclass
class CampaignStats:
    placed: int = 0
    answered: int = 0  # live answers (humans)
    machines: int = 0
    connected: int = 0
    dropped: int = 0
    failed: int = 0
    delivered: int = 0  # agentless: messages heard (opt-outs included)
    outcomes: dict[str, int] = field(default_factory=dict)
    last_decision: str = ""
    dial_level: float = 0.0

    @property
    def abandon_rate(self) -> float:
        return self.dropped / self.answered if self.answered else 0.0


@dataclass
class RunningCampaign:
    plan: CampaignPlan
    pacer: Pacer
    stats: CampaignStats = field(default_factory=CampaignStats)
    task: asyncio.Task[None] | None = None
    # A supervisor's pause: no new calls (stored on the campaign, so it starts so).
    paused: bool = False
    # Engine.pause_changes when ``paused`` was last set here: the keeper leaves alone a pause
    # set after it read the stored ones (its read would be older than what was applied).
    pause_change: int = 0
    leases_renewed_at: float = 0.0
    # No new call from then on, its campaign lease (dialer/leases.py) not known to be ours any
    # more: set by the keeper at each renewal; no shared leases, no end.
    lease_until: float = math.inf
    # Stopped here (its lease lost, or it is no longer active): no more ticks; kept so its
    # calls in flight still reach their outcomes with the campaign's plan and pacer.
    stopped: bool = False
    live_reason: str = ""  # the last decision published on the live feed, and when
    live_at: float = -math.inf


class Engine:
    def __init__(
        self,
        records: Records,
        ami: AMIClient,
        roster: Roster,
        clock: Clock,
        *,
        owner: str = "dialer-1",
        dialer_out_context: str = "dialer-out",
        tick_s: float = 1.0,
        pacer_factory: Callable[[CampaignPlan], Pacer] | None = None,
        lease_renew_s: float = 60.0,
        live: LiveFeed | None = None,
        fastagi_url: str | None = None,
    ) -> None:
        self.records = records
        # Where Asterisk reaches this process's FastAGI: sent with each Originate (it wins over
        # the dialplan's [globals] DIALER_FASTAGI), so with several dialer processes on one
        # Asterisk each answered call comes back to the process that dialed it.
        self.fastagi_url = fastagi_url
        # Supervisors' live view (dialer/live.py): agents' moves, calls' ends, decisions.
        self.live = live
        self.ami = ami
        self.roster = roster
        self.clock = clock
        self.owner = owner
        self.dialer_out_context = dialer_out_context
        self.tick_s = tick_s
        self.pacer_factory = pacer_factory or Pacer
        # How often the leases of calls in progress are extended: well inside the records'
        # lease (300 s by default), so a long call never loses its contact to another claim.
        self.lease_renew_s = lease_renew_s
        self.tracker = CallTracker(settle_s=5.0)
        self.started_at = clock.now()
        # Calls a stopped dialer (a previous run, or a dead process of another name) left in
        # flight and still up on Asterisk, outbound and inbound, by their channels' Uniqueids:
        # each is closed when a channel of it hangs up (_settle), unless the inbound desk
        # adopts it (adopt_orphan).
        self._orphans: dict[str, OpenCall] = {}
        self._running_owners: set[str] = set()  # others found running: logged once
        self._orphan_leases: asyncio.Task[None] | None = None  # renews their contacts' leases
        self.calls: dict[int, CallMeta] = {}
        self._ended_calls: dict[int, CallMeta] = {}
        self.campaigns: dict[int, RunningCampaign] = {}
        self.pause_changes = 0  # pauses set here so far (RunningCampaign.pause_change)
        self._writes: set[asyncio.Task[None]] = set()
        # Originates sent and not yet acknowledged, a tick's at a time: never cancelled (an
        # Originate cut off half way would be a call whose fate nobody follows).
        self._sending: set[asyncio.Future[list[None]]] = set()
        self._handlers = 0  # FastAGI handlers of outbound calls running now
        self.accepting = True
        # Inbound callers waiting for agents a campaign shares: set by the inbound side
        # (dialer/engine/inbound.py); while above 0 the campaign places no outbound call.
        self.inbound_waiting: Callable[[int], int] = _no_inbound
        roster.on_acw_timeout = self._acw_timeout
        roster.on_move = self._agent_moved
        for name in EVENTS:
            ami.on(name, self._on_call_event)
        if ami.on_resync is None:
            ami.on_resync = self.resync

    # Lifecycle -------------------------------------------------------------------------------
    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock.now(), dt.UTC)

    async def start_campaign(self, campaign_id: int) -> RunningCampaign:
        plan = await self.records.campaign(campaign_id)
        self.pause_changes += 1  # the plan was read now: newer than any earlier read
        pacer = self.pacer_factory(plan)
        # The abandon windows as they were, whoever dialed: no dialing until they are known.
        since = self.now() - dt.timedelta(seconds=Pacer.REMEMBERS_S)
        pacer.remember(await self.records.answers_since(campaign_id, since))
        running = RunningCampaign(plan, pacer, paused=plan.paused, pause_change=self.pause_changes)
        self.roster.set_acw_max(campaign_id, plan.acw_max_s)
        self.campaigns[campaign_id] = running
        running.task = asyncio.create_task(self._run(running), name=f"campaign-{campaign_id}")
        return running

    async def reload_campaign(self, campaign_id: int) -> None:
        """Take a running campaign's changed settings (pacing tuned live) from the next tick."""
        running = self.campaigns.get(campaign_id)
        if running is None:
            return
        plan = await self.records.campaign(campaign_id)
        running.plan = plan
        running.pacer.retune(plan)
        self.roster.set_acw_max(campaign_id, plan.acw_max_s)

    def pause_campaign(self, campaign_id: int, paused: bool = True) -> None:
        """Place no new calls (calls in flight go on), or again; the store keeps the pause
        (store.campaigns.set_dialing_paused), this applies it to the running campaign."""
        self.pause_changes += 1
        running = self.campaigns[campaign_id]
        running.paused = paused
        running.pause_change = self.pause_changes

    def running(self, campaign_id: int) -> RunningCampaign | None:
        """The campaign if this process dials it now (paused or not)."""
        running = self.campaigns.get(campaign_id)
        return running if running is not None and not running.stopped else None

    def movable(self, campaign_id: int) -> bool:
        """Another process could dial the campaign from now on (dialer/engine/keeper.py): no
        agent is logged in to it here (they would have to log in there). Paused or not: the
        pause is stored, and the other process starts it paused."""
        running = self.running(campaign_id)
        return running is not None and not self.roster.working(campaign_id)

    async def stop_campaign(self, campaign_id: int) -> None:
        """Place no new calls for the campaign; its calls in flight go on to their outcomes."""
        running = self.campaigns.get(campaign_id)
        if running is None or running.stopped:
            return
        running.stopped = True
        if running.task is not None:
            running.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running.task
        # Its calls in flight keep their contacts leased until they end: another process may
        # pace the campaign from now on, and must not dial a contact still on the phone here.
        running.task = asyncio.create_task(
            self._renew_until_ended(running), name=f"campaign-{campaign_id}-ending"
        )

    async def _renew_until_ended(self, running: RunningCampaign) -> None:
        campaign_id = running.plan.campaign_id
        while calls := self.in_flight(campaign_id):
            try:
                ours = [m.dialable.assignment_id for _, m, _ in calls]
                await self.records.renew(ours, self.now())
            except Exception:
                log.exception("campaign %s: renewing its calls' leases failed", campaign_id)
            await self.clock.sleep(self.lease_renew_s)

    async def stop_dialing(self) -> None:
        """Place no new calls; the calls in flight go on to their outcomes."""
        self.accepting = False
        tasks = [r.task for r in self.campaigns.values() if r.task is not None]
        if self._orphan_leases is not None:
            tasks.append(self._orphan_leases)
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def drain(self, timeout_s: float) -> None:
        """Wait (in clock time) for the calls in flight, their FastAGI handlers (a survey goes
        on after its call's outcome is known) and their writes to finish. Writes still
        waiting for an unavailable database after that (dialer/engine/records.py) are given
        ``timeout_s`` more seconds of wall time, then left: their attempts stay open, and the
        next start writes them from the spool they were kept in (outcome_spool), or, without
        one, settles their attempts."""
        waited = 0.0
        while self._busy() and waited < timeout_s:
            await self.clock.sleep(0.5)
            waited += 0.5
        if self._sending or self._writes:
            pending: set[asyncio.Future[Any]] = {*self._sending, *self._writes}
            done, late = await asyncio.wait(pending, timeout=timeout_s)
            for future in done:  # their errors were logged where they happened
                if not future.cancelled():
                    future.exception()
            if late:
                log.error(
                    "%d writes still waiting for the database at the end of the drain: their "
                    "attempts stay open; the next start writes the outcomes kept in the "
                    "outcome spool (or, without one, settles them)",
                    len(late),
                )

    def _busy(self) -> bool:
        return bool(len(self.tracker) or self._writes or self._sending or self._handlers)

    async def resync(self, client: AMIClient) -> None:
        """After every (re)connect: calls in flight are unknown until Asterisk says which
        channels it still has (CoreShowChannels); the others are closed with what was known,
        and none is ever re-dialed. After the first connect: the previous run's calls."""
        if client.connections <= 1:
            # What the last run kept on disk while the database was away is written first:
            # the settle then finds those attempts closed, with their real outcomes.
            try:
                await self.records.write_spooled()
            except Exception:
                log.exception("writing the outcomes the last run kept on disk failed")
            await self._settle(client, self.owner, _utc(self.started_at))
            return
        self._apply(self.tracker.link_lost(self.clock.now()))
        try:
            channels = await client.core_show_channels()
        except AMIError as exc:
            log.error("resync: CoreShowChannels failed: %s", exc)
            return
        live = [m.get("Uniqueid") or "" for m in channels.events]
        unreached = await self._marked_unreached(client, self.tracker.without_verdict(live))
        self._apply(self.tracker.reconcile(live, self.clock.now(), unreached))
        # A previous run's call whose Hangup fell in the outage is over too.
        up = set(live)
        for orphan in {id(c): c for c in self._orphans.values()}.values():
            if not any(u in up for u in orphan.uniqueids):
                self._close_orphan(orphan, ended=True)

    async def settle_dead_owners(
        self, campaign_ids: Collection[int] | None = None, *, running: Collection[str] = ()
    ) -> None:
        """The calls other dialers left open, when those dialers are dead: of these campaigns
        (those just taken over, before they dial: dialer/engine/keeper.py), or of any campaign
        (``None``, the keeper's sweep: dialed here, elsewhere or by nobody, inactive or ended,
        so that every attempt gets its outcome). Dead is certain, not guessed: the owner lock
        is free (a process merely cut off from Redis still holds its own). ``running``: owners
        known to run (their heartbeat is live, dialer/leases.py), not even tried: a live one's
        lock is held, and one that died since is tried once its heartbeat has lapsed.
        Each dead dialer's calls, all of them whatever their campaign, are settled as a restart
        settles its own, holding its lock meanwhile so that neither it (starting again) nor
        another process (sweeping too) settles them as well; they are this process's from then
        on. A live dialer's are left to it. Which calls are still up is asked of this process's
        Asterisk connection: every process shares one Asterisk (docs/architecture.md)."""
        try:
            owners = await self.records.open_call_owners(campaign_ids)
        except Exception:
            log.exception("reading the open attempts of other dialers failed")
            return
        for owner in owners:
            if owner in running:
                continue
            try:
                async with self.records.owner_stopped(owner) as stopped:
                    if stopped:
                        await self._settle(self.ami, owner)
            except Exception:
                log.exception("settling the calls %s left open failed", owner)
                continue
            if stopped:
                self._running_owners.discard(owner)
            elif owner not in self._running_owners:
                self._running_owners.add(owner)
                log.info(
                    "%s runs (its owner lock is held, or another process settles its calls "
                    "now): its open calls are left to it",
                    owner,
                )

    async def _settle(
        self, client: AMIClient, owner: str, before: dt.datetime | None = None
    ) -> None:
        """The attempts a stopped dialer left without an outcome: a previous run of this one
        (``owner`` is ours; its attempts started ``before`` this run), after a crash or a kill
        during calls, or a dead process of another name (DESIGN.md: no outcome is lost and no
        contact dialed twice at once). Asterisk is asked which are still up
        (CoreShowChannels: outbound by ChannelId att-<id>-1/-2, inbound by the caller's
        channel): those are closed when they hang up (a caller still queued at this run's
        first connect is adopted by the inbound desk, which follows it to its end), the others
        now, as ``unknown`` with a note; the attempts are ours from here, their contacts
        leased by us until then, and nothing is re-dialed. What happened during the call was
        not seen, so nothing more is claimed."""
        whose = "the previous run" if owner == self.owner else owner
        try:
            left = await self.records.open_calls(owner, before)
        except Exception:
            log.exception("reading the open attempts of %s failed", whose)
            return
        if not left:
            return
        try:
            channels = await client.core_show_channels()
        except AMIError as exc:
            log.error("calls of %s: CoreShowChannels failed: %s", whose, exc)
            if owner == self.owner:
                # Left open, their contacts leased by us: the next start settles them. Another
                # dialer's stay its own, tried again at the keeper's next sweep.
                await self._take_over(owner, left)
            return
        up, gone = split_up(left, {m.get("Uniqueid") or "" for m in channels.events})
        for call in up:  # watched from here: their Hangups close them
            self._orphans.update((u, call) for u in call.uniqueids)
        await self._take_over(owner, left)
        if up:
            self._keep_orphans_leased()
        # Written before we return: another dialer's before its owner lock is let go.
        await asyncio.gather(*(self._close_orphan(call, ended=False, ami=client) for call in gone))
        log.warning(
            "%s left %d calls open: %d no longer on Asterisk (closed), %d still up",
            whose,
            len(left),
            len(gone),
            len(up),
        )

    async def _take_over(self, owner: str, calls: Sequence[OpenCall]) -> None:
        try:
            await self.records.take_over(owner, calls)
        except Exception:
            # Still followed here; another dialer's are found again at the next sweep.
            log.exception("taking over the open attempts of %s failed", owner)

    def _keep_orphans_leased(self) -> None:
        if self._orphan_leases is None or self._orphan_leases.done():
            self._orphan_leases = asyncio.create_task(
                self._renew_orphans(), name="stopped-dialers-calls-leases"
            )

    async def _renew_orphans(self) -> None:
        """The contacts of a stopped dialer's calls still up stay leased, by us, until those
        calls end, whether or not this process dials their campaigns (a dead process's calls
        in a campaign nobody dials are followed here too): ``records.renew`` extends the
        leases of every call this process has an attempt for and no outcome yet."""
        while self._orphans and self.accepting:
            await self.clock.sleep(self.lease_renew_s)
            if not self._orphans:
                return
            try:
                await self.records.renew([], self.now())
            except Exception:
                log.exception("renewing the leases of a stopped dialer's calls failed")

    def adopt_orphan(self, uniqueid: str) -> OpenCall | None:
        """The previous run's call on channel ``uniqueid``, taken out of this watch: whoever
        adopts it follows it to its end (the inbound desk, for a caller still queued)."""
        call = self._orphans.get(uniqueid)
        if call is not None:
            for u in call.uniqueids:
                self._orphans.pop(u, None)
        return call

    def _close_orphan(
        self, call: OpenCall, *, ended: bool, ami: AMIClient | None = None
    ) -> asyncio.Future[None]:
        """Write the outcome of a stopped dialer's call (``ended``: its Hangup seen here):
        ``unknown``, or ``dropped`` when the [dialer-out] fallback marked it in AstDB (answered
        while no dialer's FastAGI listened, as during the restart itself)."""
        for uniqueid in call.uniqueids:
            self._orphans.pop(uniqueid, None)
        task = asyncio.ensure_future(self._finish_orphan(call, ended, ami or self.ami))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return task

    async def _finish_orphan(self, call: OpenCall, ended: bool, ami: AMIClient) -> None:
        ended_at = self.now()
        note = orphan_note(call, self.owner, ended=ended)
        outcome = Outcome.UNKNOWN
        if call.dialed_at is not None:
            marked = await self._marked_unreached(
                ami, [(call.attempt_id, call.dialed_at.timestamp())]
            )
            if marked:
                outcome, note = Outcome.DROPPED, f"{note}; {UNREACHED_DB_NOTE}"
                running = self.campaigns.get(call.campaign_id)
                if running is not None:  # an abandon the guard must count (no AMD ran)
                    running.pacer.dropped(self.clock.now())
        result = AttemptResult(
            call.attempt_id, outcome, dialed_at=call.dialed_at, ended_at=ended_at, note=note
        )
        await self._write(call.campaign_id, result)

    async def _marked_unreached(
        self, ami: AMIClient, calls: Sequence[tuple[int, float]]
    ) -> set[int]:
        """Of these (attempt id, dialed at), the attempts the [dialer-out] fallback marked in
        AstDB (dialer/calls.py, UNREACHED_DB_FAMILY). A failed read marks nothing: the call
        keeps the outcome it would have had, and the error is logged."""

        async def marked(attempt_id: int, dialed_at: float) -> int | None:
            try:
                value = await ami.db_get(UNREACHED_DB_FAMILY, str(attempt_id))
            except AMIError as exc:
                log.error("attempt %s: reading its AstDB mark failed: %s", attempt_id, exc)
                return None
            return attempt_id if unreached_mark(value, dialed_at) else None

        found = await asyncio.gather(*(marked(a, d) for a, d in calls))
        return {a for a in found if a is not None}

    # The tick --------------------------------------------------------------------------------
    async def _run(self, running: RunningCampaign) -> None:
        while self.accepting:
            started = self.clock.now()
            try:
                if not running.paused:
                    await self.tick(running)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("campaign %s: tick failed", running.plan.campaign_id)
            await self.clock.sleep(max(0.0, self.tick_s - (self.clock.now() - started)))

    def in_flight(self, campaign_id: int) -> list[tuple[int, CallMeta, CallState]]:
        out = []
        for attempt_id, meta in self.calls.items():
            state = self.tracker.state(attempt_id)
            if meta.campaign_id == campaign_id and state is not None:
                out.append((attempt_id, meta, state))
        return out

    def snapshot(self, running: RunningCampaign) -> Snapshot:
        """The pacing core's view of the campaign now (pacing/snapshot.py)."""
        plan = running.plan
        now = self.clock.now()
        agents = self.roster.working(plan.campaign_id)
        calls = self.in_flight(plan.campaign_id)
        # An agent working k dialing campaigns is one person: each counts a 1/k share of them,
        # so over all campaigns every agent is counted once (VICIdial's multi-campaign pitfall,
        # research/dialers.md).
        dialing = {c for c, r in self.campaigns.items() if not r.paused and not r.stopped}
        shares = [1.0 / max(1, len(a.campaigns & dialing)) for a in agents]
        return make_snapshot(
            now,
            [STATE_CODES[a.state] for a in agents],
            [now - a.since for a in agents],
            call_dial_times=[
                m.dialed_at for _, m, st in calls if st in _IN_FLIGHT and m.human_at is None
            ],
            calls_waiting=self.roster.waiting_for(plan.campaign_id),
            agent_share=shares,
            channels_in_use=len(calls),
        )

    async def tick(self, running: RunningCampaign) -> int:
        """One decision for one campaign; how many calls it placed."""
        plan = running.plan
        now_s = self.clock.now()
        self._apply(self.tracker.expire(now_s))
        if now_s - running.leases_renewed_at >= self.lease_renew_s:
            running.leases_renewed_at = now_s
            ours = [m.dialable.assignment_id for _, m, _ in self.in_flight(plan.campaign_id)]
            await self.records.renew(ours, self.now())
        snapshot = self.snapshot(running)
        if now_s >= running.lease_until:
            decision = running.pacer.hold(
                snapshot,
                "its campaign lease could not be renewed in time (Redis away?): no new calls "
                "until it is",
            )
        else:
            decision = running.pacer.decide(snapshot, self.inbound_waiting(plan.campaign_id))
        running.stats.last_decision = decision.reason
        running.stats.dial_level = _dial_level(snapshot, decision.calls)
        if self.live is not None and (
            decision.calls > 0
            or decision.reason != running.live_reason
            or now_s - running.live_at >= LIVE_DECISION_EVERY_S
        ):
            # Every decision that places calls or says something new, and the others every
            # few seconds: a quiet campaign does not fill the feed's window with its ticks.
            running.live_reason, running.live_at = decision.reason, now_s
            stats = running.stats
            self.live.publish(
                live_events.decided(
                    plan.campaign_id, decision, stats.dial_level, stats.abandon_rate, now_s
                )
            )
        if decision.calls <= 0:
            return 0
        now = self.now()
        leased = await self.records.claim(plan.campaign_id, decision.calls, now, self.owner)
        if not leased:
            return 0
        dialing, held = await self._hold_reminder_agents(running, leased)
        # Checked again at originate time, and the attempt rows written before anything is
        # sent: a number blocked a second ago must not ring, and no call goes out unrecorded.
        started = await self.records.start_attempts(
            plan.campaign_id, dialing, self.now(), plan.trunk_context
        )
        calls = []
        refused = []
        for dialable, attempt in zip(dialing, started, strict=True):
            agent = held.get(dialable.assignment_id)
            if isinstance(attempt, DialRefused):
                log.info("not dialing assignment %s: %s", dialable.assignment_id, attempt)
                if agent is not None:
                    self.roster.unreserve(agent.agent_id)
                refused.append(dialable.assignment_id)
            else:
                if agent is not None:
                    agent.attempt_id = attempt
                self._dialed(running, dialable, attempt, agent)
                calls.append(self._originate(running, dialable, attempt))
        if calls:
            # The Originates go out side by side (their acks overlap) while the next tick
            # goes on: the calls are tracked from here, whatever their acks say.
            sending = asyncio.ensure_future(asyncio.gather(*calls))
            self._sending.add(sending)
            sending.add_done_callback(self._sending.discard)
        for assignment_id in refused:
            await self.records.release(assignment_id, self.owner)
        return len(calls)

    async def _hold_reminder_agents(
        self, running: RunningCampaign, leased: Sequence[Dialable]
    ) -> tuple[list[Dialable], dict[int, Agent]]:
        """An auto-drop reminder (seed 004) is dialed only with its agent reserved for it, so
        the customer who asked to be called back never meets a drop; with nobody to take it
        now its lease is given back and it is first again at the next tick."""
        plan = running.plan
        dialing: list[Dialable] = []
        held: dict[int, Agent] = {}
        for dialable in leased:
            if dialable.agent_id is None:
                dialing.append(dialable)
                continue
            agent = self.roster.hold_for_reminder(
                plan.campaign_id, dialable.agent_id, plan.auto_drop_any_agent, attempt_id=0
            )
            if agent is None:
                await self.records.release(dialable.assignment_id, self.owner)
            else:
                held[dialable.assignment_id] = agent
                dialing.append(dialable)
        return dialing, held

    def _dialed(
        self,
        running: RunningCampaign,
        dialable: Dialable,
        attempt_id: int,
        held: Agent | None = None,
    ) -> None:
        """The call is tracked (and counts as placed) before its Originate is sent."""
        self.calls[attempt_id] = CallMeta(
            running.plan.campaign_id,
            dialable,
            self.clock.now(),
            held_agent=held.agent_id if held is not None else None,
        )
        self._apply(self.tracker.dialed(attempt_id, self.clock.now()))
        running.stats.placed += 1

    async def _originate(
        self, running: RunningCampaign, dialable: Dialable, attempt_id: int
    ) -> None:
        plan = running.plan
        one, two = channel_ids(attempt_id)
        try:
            await self.ami.originate(
                f"Local/{dialable.phone.lstrip('+')}@{plan.trunk_context}",
                context=self.dialer_out_context,
                exten="s",
                priority=1,
                action_id=action_id(attempt_id),
                channel_id=one,
                other_channel_id=two,
                timeout_ms=int(running.pacer.ring_timeout_s * 1000),
                caller_id=plan.caller_id,
                variables=self._call_variables(plan, dialable, attempt_id),
            )
        except LinkLost:
            # It may have dialed. Leave the attempt "dialing": the resync after the reconnect
            # finds it by ChannelId or closes it as unknown. Never re-send.
            log.warning("attempt %s: link lost during Originate, outcome unknown", attempt_id)
        except ActionTimeout:
            # No ack in time, the link still up: it may have dialed (a busy Asterisk), so the
            # call is followed by its events like any other, never marked failed (its contact
            # would be free for a second call while the first rings) and never re-sent.
            log.warning("attempt %s: Originate not acknowledged in time, following it", attempt_id)
        except (ActionError, AMIError) as exc:
            log.error("attempt %s: Originate refused: %s", attempt_id, exc)
            self._apply(self.tracker.rejected(attempt_id, str(exc), self.clock.now()))

    def _call_variables(
        self, plan: CampaignPlan, dialable: Dialable, attempt_id: int
    ) -> dict[str, str | int]:
        variables: dict[str, str | int] = {
            "CAMPAIGN_ID": plan.campaign_id,
            "ATTEMPT_ID": attempt_id,
            "CONTACT_ID": dialable.contact_id,
        }
        if self.fastagi_url:
            variables["DIALER_FASTAGI"] = self.fastagi_url
        return variables

    # AMI events ------------------------------------------------------------------------------
    def _on_call_event(self, event: Message) -> None:
        if self._orphans and event.name == "Hangup":
            orphan = self._orphans.get(event.get("Uniqueid") or "")
            if orphan is not None:
                self._close_orphan(orphan, ended=True)
                return
        if event.name == "DialBegin":
            # The agent leg of a hand-off: Dial from the customer's ;1 half (att-<id>-1).
            meta = self.calls.get(_attempt_of(event.get("Uniqueid")))
            if meta is not None and event.get("DestChannel"):
                meta.agent_leg = event.get("DestChannel")
        self._apply(self.tracker.handle(event, self.clock.now()))

    # Outcomes --------------------------------------------------------------------------------
    def _apply(self, changes: tuple[object, ...]) -> None:
        for change in changes:
            if isinstance(change, CallRecord):
                self._record(change)
            elif isinstance(change, Transition) and change.after is CallState.CONNECTED:
                # The agent's phone answered: the live answer was not abandoned.
                meta = self.calls.get(change.attempt_id)
                running = self.campaigns.get(meta.campaign_id) if meta is not None else None
                if meta is not None and running is not None and not meta.live_counted:
                    meta.live_counted = True
                    running.pacer.connected(change.at)

    def _record(self, record: CallRecord) -> None:
        meta = self.calls.get(record.attempt_id)
        if meta is None:
            return
        self._unhold(meta, record.attempt_id)
        outcome = Outcome(record.outcome.value)
        meta.talked = record.connected_at is not None
        if record.answered_at is None or record.unreached:
            # Never answered, or answered where the FastAGI could not be reached: no handler
            # will report on it.
            del self.calls[record.attempt_id]
        if record.unreached:
            log.error(
                "campaign %s attempt %s: answered, but Asterisk could not reach the dialer's "
                "FastAGI; the dialplan played the drop message (counted as dropped). "
                "Check DIALER_FASTAGI and that this process's FastAGI server listens there",
                meta.campaign_id,
                record.attempt_id,
            )
        running = self.campaigns.get(meta.campaign_id)
        if running is not None:
            stats = running.stats
            stats.outcomes[outcome.value] = stats.outcomes.get(outcome.value, 0) + 1
            if outcome in (Outcome.CONNECTED, Outcome.DROPPED, Outcome.CUSTOMER_HUNG_UP):
                stats.answered += 1
            if outcome is Outcome.CONNECTED:
                stats.connected += 1
            elif outcome is Outcome.DROPPED:
                stats.dropped += 1
            elif outcome is Outcome.MACHINE:
                stats.machines += 1
            elif outcome in (Outcome.MESSAGE_DELIVERED, Outcome.OPTED_OUT):
                stats.delivered += 1
            elif outcome is not Outcome.CUSTOMER_HUNG_UP:
                stats.failed += 1
            running.pacer.ended(record, meta.human_at is not None, meta.live_counted)
        result_id = None
        if running is not None:
            if outcome is Outcome.MESSAGE_DELIVERED:
                result_id = running.plan.broadcast_result_id
            elif outcome is Outcome.OPTED_OUT:
                result_id = running.plan.opt_out_result_id
        result = AttemptResult(
            attempt_id=record.attempt_id,
            outcome=outcome,
            result_id=result_id,
            reason=record.reason,
            hangup_cause=record.hangup_cause,
            amd=record.amd,
            agent_id=record.agent_id,
            dialed_at=_utc(record.dialed_at),
            answered_at=_utc(record.answered_at),
            connected_at=_utc(record.connected_at),
            ended_at=_utc(record.ended_at),
            # How the outcome was known, when the events alone did not say (an outage, the
            # FastAGI unreached): kept on the attempt for whoever reads it later.
            note="; ".join(record.notes) or None,
        )
        task = asyncio.ensure_future(self._write(meta.campaign_id, result))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        if self.live is not None:
            at = self.clock.now()
            self.live.publish(live_events.call_ended(meta.campaign_id, record, outcome, at))

    async def _write(self, campaign_id: int, result: AttemptResult) -> None:
        try:
            await self.records.finish_attempt(campaign_id, result)
        except Exception:
            log.exception("attempt %s: writing the outcome failed", result.attempt_id)

    # The FastAGI side (dialer.engine.outbound.OutboundCalls) ---------------------------------
    async def handle_outbound(self, call: AGICall) -> None:
        self._handlers += 1
        try:
            await handle_outbound(call, self)
        finally:
            self._handlers -= 1

    def plan(self, attempt_id: int) -> CallPlan | None:
        meta = self.calls.get(attempt_id)
        running = self.campaigns.get(meta.campaign_id) if meta is not None else None
        if running is None:
            return None
        p = running.plan
        agentless = p.dial_mode is DialMode.AGENTLESS
        return CallPlan(
            campaign_id=p.campaign_id,
            attempt_id=attempt_id,
            amd=p.amd,
            machine_message=p.machine_message,
            drop_message=p.drop_message,
            hand_off_s=p.hand_off_s,
            broadcast_message=(p.broadcast_message or "dialer/agentless") if agentless else None,
            broadcast_to_machines=p.broadcast_to_machines,
            survey=p.survey_questions if p.survey_mode != "off" else (),
            survey_thanks=p.survey_thanks,
        )

    def answered(self, attempt_id: int, channel: str) -> None:
        self._apply(self.tracker.answered(attempt_id, self.clock.now(), channel))

    def machine(self, attempt_id: int, amd_cause: str) -> None:
        self._apply(self.tracker.amd_result(attempt_id, "MACHINE", self.clock.now()))

    def human(self, attempt_id: int, amd_cause: str | None) -> None:
        now = self.clock.now()
        if amd_cause is not None:
            self._apply(self.tracker.amd_result(attempt_id, "HUMAN", now))
        meta = self.calls.get(attempt_id)
        if meta is not None:
            meta.human_at = now
            running = self.campaigns.get(meta.campaign_id)
            if running is not None:
                running.pacer.routed(now, now - meta.dialed_at)

    async def reserve_agent(self, attempt_id: int, within_s: float) -> AgentSeat | None:
        meta = self.calls.get(attempt_id)
        if meta is None:
            return None
        if meta.held_agent is not None:
            held = self.roster.get(meta.held_agent)
            if held.state is AgentState.RESERVED and held.attempt_id == attempt_id:
                return AgentSeat(held.agent_id, held.interface)
        agent = await self.roster.reserve(meta.campaign_id, attempt_id, within_s)
        if agent is None:
            return None
        return AgentSeat(agent.agent_id, agent.interface)

    def connecting(self, attempt_id: int, seat: AgentSeat) -> None:
        # The agent is busy from here; the call counts as connected when Asterisk says the
        # agent's phone answered (DialEnd ANSWER / BridgeEnter on the ;1 half).
        self.roster.on_call(seat.agent_id)
        self._apply(self.tracker.agent_reserved(attempt_id, seat.agent_id, self.clock.now()))

    def agent_failed(self, attempt_id: int, seat: AgentSeat) -> None:
        # The phone never answered: the agent is not at their desk. Pause them, so the next
        # live answer is not sent to an empty chair.
        self.roster.call_ended(seat.agent_id)
        self.roster.finish_acw(seat.agent_id)
        self.roster.pause(seat.agent_id, "no answer on the phone")

    def dropped(self, attempt_id: int) -> None:
        now = self.clock.now()
        meta = self.calls.get(attempt_id)
        running = self.campaigns.get(meta.campaign_id) if meta is not None else None
        if meta is not None and running is not None and not meta.live_counted:
            meta.live_counted = True
            running.pacer.dropped(now)
        self._apply(self.tracker.dropped(attempt_id, now))

    def ended(self, attempt_id: int, hung_up_by: str) -> None:
        talked = self.tracker.state(attempt_id) is CallState.CONNECTED
        self._apply(self.tracker.ended(attempt_id, self.clock.now()))
        meta = self.calls.pop(attempt_id, None)
        if meta is not None:
            # Kept a moment for the survey that may follow the agent's part of the call.
            self._ended_calls[attempt_id] = meta
            while len(self._ended_calls) > 1000:
                self._ended_calls.pop(next(iter(self._ended_calls)))
            if meta.talked is not None:
                talked = meta.talked
        for agent in list(self.roster.agents.values()):
            if agent.attempt_id == attempt_id and agent.state is AgentState.ON_CALL:
                self.roster.call_ended(agent.agent_id)
                if not talked:
                    # Reserved, never talked (the customer left first): no wrap-up to do.
                    self.roster.finish_acw(agent.agent_id)

    def delivered(self, attempt_id: int) -> None:
        self._finish_as(attempt_id, Outcome.MESSAGE_DELIVERED)

    async def opted_out(self, attempt_id: int) -> None:
        meta = self.calls.get(attempt_id)
        if meta is None:
            return
        await self.records.opt_out(meta.campaign_id, attempt_id)
        self._finish_as(attempt_id, Outcome.OPTED_OUT)

    def _finish_as(self, attempt_id: int, outcome: Outcome) -> None:
        self._apply(self.tracker.ended(attempt_id, self.clock.now(), outcome=outcome))
        self.calls.pop(attempt_id, None)

    def survey_wanted(self, attempt_id: int) -> bool:
        meta = self._ended_calls.get(attempt_id) or self.calls.get(attempt_id)
        running = self.campaigns.get(meta.campaign_id) if meta is not None else None
        if running is None or meta is None:
            return False
        mode = running.plan.survey_mode
        return mode == "auto" or (mode == "agent" and meta.survey_requested)

    async def survey_done(self, attempt_id: int, answers: dict[str, str], complete: bool) -> None:
        meta = self._ended_calls.pop(attempt_id, None) or self.calls.get(attempt_id)
        if meta is not None:
            await self.records.save_survey(meta.campaign_id, attempt_id, answers, complete)

    def request_survey(self, agent_id: int) -> int:
        """The agent's choice (survey mode "agent"): survey the customer after this call."""
        agent = self.roster.get(agent_id)
        meta = self.calls.get(agent.attempt_id or -1)
        if meta is None:
            raise ValueError(f"agent {agent_id} has no call to survey")
        meta.survey_requested = True
        return agent.attempt_id or 0

    async def hangup_agent(self, agent_id: int) -> None:
        """The agent ends the call from the desktop: their leg hangs up, the customer stays
        (for the survey, if any)."""
        agent = self.roster.get(agent_id)
        meta = self.calls.get(agent.attempt_id or -1)
        if meta is None or meta.agent_leg is None:
            raise ValueError(f"agent {agent_id} is not on a call")
        await self.ami.hangup(meta.agent_leg)

    # Agents ----------------------------------------------------------------------------------
    async def typify(self, typification: Typification, campaign_id: int) -> None:
        agent = self.roster.get(typification.agent_id)
        if agent.attempt_id != typification.attempt_id:
            raise ValueError(
                f"agent {agent.agent_id} is not wrapping up attempt {typification.attempt_id}"
            )
        await self.records.typify(campaign_id, typification)
        self.roster.finish_acw(agent.agent_id)

    def _unhold(self, meta: CallMeta, attempt_id: int) -> None:
        """A call placed with an agent reserved for it ended without reaching them."""
        if meta.held_agent is None:
            return
        agent = self.roster.get(meta.held_agent)
        if agent.state is AgentState.RESERVED and agent.attempt_id == attempt_id:
            self.roster.unreserve(agent.agent_id)

    def _agent_moved(self, agent: Agent, move: Move) -> None:
        """ACW and pause lengths for the pacing core (the release-time distributions), and
        the move for the supervisors' live view."""
        if self.live is not None:
            self.live.publish(live_events.agent_moved(agent, move, self.clock.now()))
        if move.before is AgentState.ACW and move.campaign_id is not None:
            running = self.campaigns.get(move.campaign_id)
            if running is not None:
                paused = move.after is AgentState.PAUSED
                running.pacer.acw_ended(self.clock.now(), move.seconds_before, paused)
        elif move.before is AgentState.PAUSED and move.after is AgentState.AVAILABLE:
            for campaign_id in agent.campaigns:
                running = self.campaigns.get(campaign_id)
                if running is not None:
                    running.pacer.pause_ended(self.clock.now(), move.seconds_before)

    async def _acw_timeout(self, agent: Agent, campaign_id: int, attempt_id: int) -> None:
        # Seed 004: the ACW timer saves the default record, or applies the campaign's default
        # typification; the store decides which from the campaign's setting (result None).
        await self.records.typify(campaign_id, Typification(attempt_id, agent.agent_id, None))


def _no_inbound(campaign_id: int) -> int:
    return 0


def split_up(calls: Sequence[OpenCall], live: set[str]) -> tuple[list[OpenCall], list[OpenCall]]:
    """A stopped dialer's calls: those still up (a channel of theirs among Asterisk's ``live``
    Uniqueids), and those gone."""
    up = [call for call in calls if any(u in live for u in call.uniqueids)]
    gone = [call for call in calls if not any(u in live for u in call.uniqueids)]
    return up, gone


def orphan_note(call: OpenCall, ours: str, *, ended: bool) -> str:
    """How a stopped dialer's call was closed: its end seen (``ended``) or found gone; by its
    own dialer's next run, or by another that took over from a dead one (named)."""
    if call.owner == ours:
        return PREVIOUS_RUN_ENDED if ended else PREVIOUS_RUN_GONE
    return (DEAD_OWNER_ENDED if ended else DEAD_OWNER_GONE).format(owner=call.owner)


def _attempt_of(uniqueid: str | None) -> int:
    """``att-17-1`` -> 17; -1 for anything else."""
    if not uniqueid or not uniqueid.startswith("att-"):
        return -1
    number = uniqueid[4:].split("-", 1)[0]
    return int(number) if number.isdigit() else -1


def _dial_level(snapshot: Snapshot, new_calls: int) -> float:
    """Lines per working agent: calls in flight, waiting and just placed over the agents not
    paused (VICIdial's "dial level", so supervisors coming from it read the same number)."""
    not_paused = snapshot.agent_state != STATE_CODES[AgentState.PAUSED]
    active = float(snapshot.shares[not_paused].sum())
    lines = snapshot.in_flight() + snapshot.calls_waiting + new_calls
    return lines / active if active > 0 else 0.0


def _utc(ts: float | None) -> dt.datetime | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC)
