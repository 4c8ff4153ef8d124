"""Inbound calls and blended agents: the FastAGI ``/inbound`` handler and its engine side.

docs/inbound.md. A DID's call runs ``AGI(agi://<dialer>/inbound,${EXTEN})`` in
``[dialer-inbound]`` (configs/asterisk/extensions_dialer.conf). Here:

1. the DID selects the campaign and its schedule decides (dialer/inbound_routing.py): inside
   it the call joins the campaign's queue; outside it the out-of-hours action applies (close
   with the message, or queue with it; seed 002);
2. the caller is identified by number across contacts' phones, and the call gets its attempt
   and ticket (the contact's open one in the campaign, else a new one) before anything else;
3. a known caller with an assigned user goes to that user first (``EXEC Dial`` from here,
   with the agent reserved in the roster and paused in its queues first); when the user is
   not available, to the queue if the campaign allows it, else the caller waits for the user
   (seed 000);
4. ``EXEC Queue <campaign queue>``: app_queue rings the members; its AMI events
   (QueueCallerJoin, AgentCalled, AgentRingNoAnswer, AgentConnect, AgentComplete,
   QueueCallerAbandon) drive the inbound tracker (dialer/inbound_calls.py) and, for the member
   side, the agent's one state in the roster;
5. the tracker's one record per call is written back: answered (agent, connected time; the
   agent's typification and the ACW timer follow as for outbound calls), abandoned in the
   queue with its wait, or closed out of hours.

Blended agents never get two calls: the roster is the only state; queue membership
(dialer/engine/queues.py) keeps an agent unpaused only while the roster says available, the
outbound hand-off waits for that pause before dialing, and a queue ringing an agent the roster
does not give it (a race) has its agent leg hung up so app_queue tries another member.
Inbound priority: :meth:`InboundDesk.waiting_for` tells the engine how many inbound callers
wait for agents a campaign shares; while any do, that campaign places no outbound call
(dialer/engine/pace.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from agi.server import AGICall, ChannelHungUp
from ami.client import AMIClient
from ami.codec import Message
from ami.errors import AMIError
from dialer.calls import CLOCK_SKEW_S
from dialer.engine.engine import Engine
from dialer.engine.inbound_records import (
    Caller,
    Directory,
    InboundRecords,
    StoredOutcome,
)
from dialer.engine.outbound import AGENT_DIAL_OPTIONS
from dialer.engine.pace import Pacer
from dialer.engine.ports import CampaignPlan
from dialer.engine.queues import QueueMembership
from dialer.engine.roster import Agent, AgentState, Move
from dialer.inbound_calls import (
    QUEUE_EVENTS,
    InboundOutcome,
    InboundRecord,
    InboundState,
    InboundTracker,
    InboundTransition,
    MemberEvent,
    MemberEventKind,
)
from dialer.inbound_marks import (
    LOOKBACK_S,
    UNREACHED_INBOUND_DB_FAMILY,
    InboundMark,
    mark_days,
    parse_mark,
)
from dialer.inbound_routing import (
    AssignedUser,
    InboundCampaign,
    RouteAction,
    Target,
    TargetKind,
    first_target,
    route,
)
from dialer.queue_stats import QueueStats
from pacing.events import Event, EventKind
from pacing.inbound import Inbound, QueueTarget

log = logging.getLogger(__name__)
# The UserEvent of [dialer-inbound]'s fallback when the FastAGI cannot be reached.
UNREACHED_INBOUND = "DialerUnreachedInbound"

NO_ANSWER_PAUSE = "no answer on the phone"
NO_ATTEMPT = 0  # an inbound call whose attempt could not be written
PHONE_UNAVAILABLE_PAUSE = "phone unavailable"
# QueueMemberStatus Status (the member's device state, ../shared/asterisk/README.md "Queue"):
# 4 invalid, 5 unavailable: the phone is not registered, so no call can reach the agent.
_PHONE_GONE = frozenset({"4", "5"})
# A caller waiting for an assigned user who never comes free is not held for ever.
MAX_WAIT_FOR_USER_S = 3600.0


@dataclass
class InboundCall:
    """What the desk knows of one inbound call beyond its tracking."""

    campaign_id: int
    attempt_id: int
    queue: str
    caller: Caller
    agent_id: int | None = None  # the agent reserved for, or talking to, the caller


class InboundDesk:
    def __init__(self, engine: Engine, records: InboundRecords, *, reserve: bool = True) -> None:
        """``reserve``: campaigns whose agents serve queues dial only for the agents the
        queues' service levels can spare (pacing.blend); False keeps only the hard rule (no
        outbound call while inbound callers wait for shared agents)."""
        self.engine = engine
        self.roster = engine.roster
        self.ami: AMIClient = engine.ami
        self.clock = engine.clock
        self.records = records
        self.tracker = InboundTracker()
        self.membership = QueueMembership(self.ami, self.roster)
        self.directory = Directory({}, {}, {}, {})
        self.campaign_of_queue: dict[str, InboundCampaign] = {}
        self.calls: dict[str, InboundCall] = {}
        self.stats: dict[str, QueueStats] = {}
        self.refused_rings = 0  # queue rings of an agent the roster had given elsewhere
        self._writes: set[asyncio.Task[None]] = set()
        self._marks_read_at: float | None = None  # AstDB marks of unreached calls read until
        # The pacing core's inbound model, one per set of queues a campaign's agents serve
        # (one pool of agents), each fed every inbound event of its queues once.
        self.reserve = reserve
        self.pools: dict[frozenset[str], Inbound] = {}
        if reserve and engine.pacer_factory is Pacer:
            engine.pacer_factory = self._pacer
        self.roster.listeners.append(self._agent_moved)
        for name in (*QUEUE_EVENTS, "DialEnd", "QueueMemberStatus", "UserEvent"):
            self.ami.on(name, self._on_event)
        self._previous_resync = self.ami.on_resync
        self.ami.on_resync = self.resync
        engine.inbound_waiting = self.waiting_for

    # Settings ---------------------------------------------------------------------------------
    async def load(self) -> None:
        """Read DIDs, queues, links and settings from the store (at start, and after changes);
        agents already logged in are put in the queues the new settings give them."""
        self.directory = await self.records.directory()
        self.campaign_of_queue = {c.queue: c for c in self.directory.by_campaign.values()}
        for campaign in self.directory.by_campaign.values():
            if campaign.queue not in self.stats:
                await self._start_day(campaign.queue, self.clock.now())
            stats = self.stats[campaign.queue]
            stats.threshold_s, stats.target = campaign.service_level_s, campaign.service_level
        for campaign_id, seconds in self.directory.acw_max_s.items():
            if not self.roster.has_acw_max(campaign_id):  # a running campaign's plan set it
                self.roster.set_acw_max(campaign_id, seconds)
        self.membership.configure(self.directory.seats)
        for agent in list(self.roster.agents.values()):
            if agent.state is not AgentState.LOGGED_OUT:
                await self.membership.sync(agent.agent_id)

    # The pacing core (docs/blending.md) ----------------------------------------------------
    def pool_for(self, campaign_id: int) -> Inbound | None:
        """The inbound model of the queues the campaign's agents also serve; None: none."""
        queues = self.directory.shared_queues.get(campaign_id, frozenset())
        if not queues:
            return None
        pool = self.pools.get(queues)
        if pool is None:
            targets = {}
            for queue in queues:
                c = self.campaign_of_queue[queue]
                targets[queue] = QueueTarget(c.service_level, c.service_level_s)
            pool = self.pools[queues] = Inbound(targets)
            pool.open(self.clock.now())
        return pool

    def _pacer(self, plan: CampaignPlan) -> Pacer:
        return Pacer(plan, inbound=self.pool_for(plan.campaign_id))

    def _observe(self, queue: str, kind: EventKind, at: float, seconds: float = 0.0) -> None:
        event = Event(kind, at, max(0.0, seconds), queue)
        for queues, pool in self.pools.items():
            if queue in queues:
                pool.observe(event)

    def _agent_moved(self, agent: Agent, move: Move) -> None:
        if move.before is AgentState.ACW and move.campaign_id is not None:
            campaign = self.directory.by_campaign.get(move.campaign_id)
            if campaign is not None:
                at = self.clock.now()
                self._observe(campaign.queue, EventKind.INBOUND_ACW_ENDED, at, move.seconds_before)

    async def resync(self, client: AMIClient) -> None:
        """After every (re)connect: the engine's own resync, then queue membership against
        QueueStatus (DESIGN.md: reconcile with QueueStatus before going on), then the calls
        no dialer took while the link was down."""
        if self._previous_resync is not None:
            await self._previous_resync(client)
        waiting = await self.membership.reconcile(client, self.campaign_of_queue)
        now = self.clock.now()
        if client.connections <= 1:
            self._adopt_previous_run(waiting)
        for entry in waiting:
            # Callers queued while the link was down (or before a restart) count for inbound
            # priority and the supervisor's view; QueueEntry's Wait is whole seconds.
            wait = float(entry.get("Wait") or 0)
            self._apply(
                self.tracker.adopt(
                    entry.get("Uniqueid") or "",
                    entry.get("Channel") or "",
                    entry.get("CallerIDNum") or "",
                    entry.get("Queue") or "",
                    now - wait,
                    now,
                )
            )
        await self._read_unreached_marks(client)

    def _adopt_previous_run(self, waiting: list[Message]) -> None:
        """Callers still queued whose attempt a previous run of this dialer wrote: the
        engine's restart settling (Engine._settle) found them up; taken from it,
        they are followed to their end like any caller, on that attempt (docs/inbound.md)."""
        for entry in waiting:
            uniqueid = entry.get("Uniqueid") or ""
            call = self.engine.adopt_orphan(uniqueid)
            if call is not None:
                self.calls[uniqueid] = InboundCall(
                    call.campaign_id,
                    call.attempt_id,
                    entry.get("Queue") or "",
                    Caller(None, None, None),
                )

    # Inbound priority (dialer/engine/pace.py) -------------------------------------------------
    def waiting_for(self, campaign_id: int) -> int:
        """Inbound callers waiting now for agents who also work ``campaign_id``."""
        waiting = self.tracker.waiting()
        if not waiting:
            return 0
        queues = {q for q, _, _ in waiting}
        shared: set[str] = set()
        for agent in self.roster.agents.values():
            if campaign_id in agent.campaigns and agent.state is not AgentState.LOGGED_OUT:
                shared.update(q for q in self.membership.seats_of(agent) if q in queues)
        return sum(1 for q, _, _ in waiting if q in shared)

    # The FastAGI handler ---------------------------------------------------------------------
    async def handle_inbound(self, call: AGICall) -> None:
        """Run one inbound call to its end. Never raises for a caller hanging up."""
        uid = call.uniqueid
        now = self.clock.now()
        did = call.arguments[0] if call.arguments else call.extension
        self._apply(self.tracker.arrived(uid, call.channel, call.callerid, now))
        decision = route(did, self.directory.by_did, _utc(now))
        campaign = decision.campaign
        if decision.action is RouteAction.UNKNOWN or campaign is None:
            log.warning("inbound call on %s: %s", call.channel, decision.why)
            self._apply(self.tracker.ended(uid, now))
            await _hang_up(call)
            return
        self._apply(self.tracker.routed(uid, campaign.queue, now))
        try:
            attempt_id, caller = await self.records.arrived(
                campaign.campaign_id, call.callerid, _utc(now), uid
            )
        except Exception:
            # The records cannot be written now: the caller is still served (an agent is
            # better than a record), the call just has no attempt.
            log.exception("inbound call %s: the attempt could not be written", uid)
            attempt_id, caller = NO_ATTEMPT, Caller(None, None, None)
        meta = InboundCall(campaign.campaign_id, attempt_id, campaign.queue, caller)
        self.calls[uid] = meta
        try:
            await call.answer()
            if decision.message:
                await call.stream_file(decision.message)
            if decision.action is RouteAction.CLOSE:
                self._apply(self.tracker.closed(uid, self.clock.now()))
                await call.hangup()
                return
            target = first_target(self._assigned(caller, campaign), campaign)
            if target.kind is not TargetKind.QUEUE and await self._to_user(call, meta, target):
                await call.hangup()
                return
            args: list[str | int] = [campaign.queue]
            if campaign.max_wait_s:
                args += ["", "", "", int(campaign.max_wait_s)]
            self._apply(self.tracker.queued(uid, self.clock.now()))
            await call.exec("Queue", *args)
            await call.hangup()
        except ChannelHungUp:
            pass
        finally:
            self._apply(self.tracker.ended(uid, self.clock.now()))
            self._release(meta)

    def _assigned(self, caller: Caller, campaign: InboundCampaign) -> AssignedUser | None:
        if caller.assigned_user_id is None:
            return None
        agent = self.roster.agents.get(caller.assigned_user_id)
        available = (
            agent is not None
            and agent.state is AgentState.AVAILABLE
            and campaign.queue in self.membership.seats_of(agent)
        )
        return AssignedUser(caller.assigned_user_id, available)

    async def _to_user(self, call: AGICall, meta: InboundCall, target: Target) -> bool:
        """Seed 000: the assigned user first. True: the call was served (or is over); False:
        on to the queue (the user did not answer, and the campaign allows another agent)."""
        assert target.agent_id is not None
        uid = call.uniqueid
        campaign = self.directory.by_campaign[meta.campaign_id]
        self._apply(self.tracker.waiting_for_user(uid, self.clock.now()))
        while True:
            agent = await self._take_user(call, target.agent_id, meta)
            if agent is None:
                return call.hung_up
            meta.agent_id = agent.agent_id
            self.roster.on_call(agent.agent_id)
            await call.exec("Dial", agent.interface, campaign.user_ring_s, AGENT_DIAL_OPTIONS)
            if await call.get_variable("DIALSTATUS") == "ANSWER":
                return True  # the talk is over (the agent hung up first)
            # The phone did not answer: the user is not at their desk (as for outbound).
            meta.agent_id = None
            self.roster.call_ended(agent.agent_id)
            self.roster.finish_acw(agent.agent_id)
            self.roster.pause(agent.agent_id, NO_ANSWER_PAUSE)
            if target.fallback:
                return False

    async def _take_user(self, call: AGICall, agent_id: int, meta: InboundCall) -> Agent | None:
        """Reserve the assigned user as soon as they are free (paused in their queues before
        their phone rings). None: the caller hung up, or waited too long."""
        waited = 0.0
        music = False
        try:
            while not call.hung_up and waited < MAX_WAIT_FOR_USER_S:
                agent = self.roster.agents.get(agent_id)
                if agent is not None and self.roster.take_for_queue(
                    agent_id, meta.campaign_id, meta.attempt_id
                ):
                    await self.membership.fence(agent)
                    if agent.state is AgentState.RESERVED and agent.attempt_id == meta.attempt_id:
                        agent.committed = True
                        return agent
                if not music:
                    # Not free at once: hold music while the caller waits for their user (a
                    # queue plays its own).
                    music = True
                    await call.set_music(True)
                await self.clock.sleep(0.5)
                waited += 0.5
            return None
        finally:
            if music and not call.hung_up:
                await call.set_music(False)

    def _release(self, meta: InboundCall) -> None:
        """The call is over: its agent goes to after-call work (talked) or back (did not)."""
        if meta.agent_id is None:
            return
        agent = self.roster.agents.get(meta.agent_id)
        if agent is None or agent.attempt_id != meta.attempt_id:
            return
        if agent.state is AgentState.RESERVED:
            self.roster.unreserve(agent.agent_id)
        elif agent.state is AgentState.ON_CALL:
            self.roster.call_ended(agent.agent_id)

    # AMI events ------------------------------------------------------------------------------
    def _on_event(self, event: Message) -> None:
        if event.name == "QueueMemberStatus":
            self._member_status(event)
            return
        if event.name == "UserEvent":
            if event.get("UserEvent") == UNREACHED_INBOUND:
                self._spawn(self._unreached(event))
            return
        if event.name == "DialEnd":
            # The assigned user's phone answered the handler's Dial (from the caller's channel).
            meta = self.calls.get(event.get("Uniqueid") or "")
            if (
                meta is not None
                and meta.agent_id is not None
                and event.get("DialStatus") == "ANSWER"
            ):
                agent = self.roster.agents.get(meta.agent_id)
                interface = agent.interface if agent is not None else ""
                uid = event.get("Uniqueid") or ""
                self._apply(self.tracker.user_connected(uid, interface, self.clock.now()))
            return
        self._apply(self.tracker.handle(event, self.clock.now()))

    async def _unreached(self, event: Message) -> None:
        """[dialer-inbound]'s fallback (configs/asterisk/extensions_dialer.conf): the caller
        heard dialer/unavailable; no handler ran, so nothing else tells of the call."""
        number = event.get("CallerIDNum") or "?"
        uniqueid = event.get("Uniqueid") or ""
        did = event.get("DID") or "?"
        await self._record_unreached(did, number, self.clock.now(), uniqueid, "")

    async def _read_unreached_marks(self, client: AMIClient) -> None:
        """The fallback's AstDB marks of the calls no dialer heard of (the AMI link was down
        too, or every dialer was): each recorded as its UserEvent would have been, by a task
        of the desk's writes (the drain waits for it). At the first connect the last
        LOOKBACK_S are read; after, the days since the last read."""
        now = self.clock.now()
        if self._marks_read_at is None:
            since = now - LOOKBACK_S
        else:
            since = self._marks_read_at - CLOCK_SKEW_S
        marks: list[InboundMark] = []
        for day in mark_days(since, now):
            try:
                entries = await client.db_get_tree(UNREACHED_INBOUND_DB_FAMILY, day)
            except AMIError as exc:
                log.warning("reading the marks of unreached inbound calls (%s): %s", day, exc)
                return  # read again, from the same moment, at the next connect
            for key, value in entries.items():
                mark = parse_mark(key, value)
                if mark is not None and mark.at >= since:
                    marks.append(mark)
        self._marks_read_at = now
        if marks:
            self._spawn(self._record_marks(marks))

    async def _record_marks(self, marks: list[InboundMark]) -> None:
        try:  # one read, not a write per mark, for the marks a start reads again
            recorded = await self.records.recorded({m.uniqueid for m in marks})
        except Exception:
            log.exception("reading which of %d unreached inbound calls are recorded", len(marks))
            recorded = set()
        for mark in marks:
            if mark.uniqueid in recorded:
                continue
            number = mark.caller_num or "?"
            told = f" at {_utc(mark.at):%Y-%m-%d %H:%M:%S} UTC (its AstDB mark)"
            if not await self._record_unreached(mark.did, number, mark.at, mark.uniqueid, told):
                # Not lost: the next connect, or the next start, reads it again.
                read_at = self._marks_read_at
                self._marks_read_at = mark.at if read_at is None else min(read_at, mark.at)

    async def _record_unreached(
        self, did: str, number: str, at: float, uniqueid: str, told: str
    ) -> bool:
        """A call the dialplan could not bring to the FastAGI, recorded once: every dialer on
        this Asterisk hears of it (UserEvent or mark); the one whose record is written first
        logs it (``told``: when and how, for a call not heard as it happened). False when the
        record could not be written."""
        campaign = self.directory.by_did.get(did)
        where = f"inbound call{told} on DID {did} from {number}"
        if campaign is None:
            log.error(
                "%s: Asterisk could not reach the dialer's FastAGI (no campaign has that DID)",
                where,
            )
            return True
        try:
            attempt_id = await self.records.unreached(
                campaign.campaign_id, number, _utc(at), uniqueid
            )
        except Exception:
            log.exception("%s: recording the call the FastAGI never took failed", where)
            return False
        if attempt_id is None:
            return True  # another dialer recorded (and logged) it, or an earlier read did
        stats = self._stats_for(campaign.queue, self.clock.now())
        day = self._local_day(campaign.queue, at)
        if stats.day is None or (day is not None and day[0] == stats.day):  # not an earlier day's
            stats.count(unreached=True, closed=False, connected=False, wait_s=None, talk_s=None)
        log.error(
            "%s (campaign %s, attempt %s): Asterisk could not reach the dialer's FastAGI; the "
            "caller heard the unavailable message. Check DIALER_FASTAGI",
            where,
            campaign.campaign_id,
            attempt_id,
        )
        return True

    def _member_status(self, event: Message) -> None:
        """An available agent whose phone goes unavailable (unregistered) is paused, for
        outbound hand-offs as for the queues; they come back with "ready"."""
        if event.get("Status") not in _PHONE_GONE:
            return
        agent_id = self.membership.agent_for(event.get("Interface") or "")
        agent = self.roster.agents.get(agent_id) if agent_id is not None else None
        if agent is not None and agent.state is AgentState.AVAILABLE:
            log.warning("agent %s: phone %s unavailable, paused", agent.agent_id, agent.interface)
            self.roster.pause(agent.agent_id, PHONE_UNAVAILABLE_PAUSE)

    def _apply(self, changes: tuple[Any, ...]) -> None:
        for change in changes:
            if isinstance(change, MemberEvent):
                self._member(change)
            elif isinstance(change, InboundRecord):
                self._record(change)
            elif isinstance(change, InboundTransition) and _arrival(change):
                self._observe(change.queue, EventKind.INBOUND_ARRIVED, change.at)

    def _member(self, event: MemberEvent) -> None:
        """A queue's event about one of its members, applied to the agent's one state."""
        agent_id = self.membership.agent_for(event.interface)
        if agent_id is None:
            return
        agent = self.roster.agents[agent_id]
        meta = self.calls.get(event.uniqueid)
        campaign = self.campaign_of_queue.get(event.queue)
        campaign_id = campaign.campaign_id if campaign is not None else 0
        attempt_id = meta.attempt_id if meta is not None else 0
        ours = agent.inbound and agent.attempt_id == attempt_id
        kind = event.kind
        if kind is MemberEventKind.CALLED:
            if (
                agent.state is AgentState.ACW
                and campaign is not None
                and campaign.allow_calls_in_management
            ):
                # Seed 000 "Allow incoming call to users in management status": the wrap-up of
                # the last call is closed as the ACW timer would close it, and the agent takes
                # this one.
                self._close_wrap_up(agent)
            if self.roster.take_for_queue(agent_id, campaign_id, attempt_id):
                if meta is not None:
                    meta.agent_id = agent_id
                return
            self.refused_rings += 1
            log.warning(
                "queue %s rang agent %s who is %s: hanging up that ring",
                event.queue,
                agent_id,
                agent.state,
            )
            if event.agent_leg:
                self._spawn(self._hang_up_leg(event.agent_leg))
        elif kind is MemberEventKind.NO_ANSWER and ours and agent.state is AgentState.RESERVED:
            if meta is not None:
                meta.agent_id = None
            self.roster.unreserve(agent_id)
            self.roster.pause(agent_id, NO_ANSWER_PAUSE)
        elif kind is MemberEventKind.CONNECTED and ours and agent.state is AgentState.RESERVED:
            self.roster.on_call(agent_id)
        elif kind is MemberEventKind.COMPLETED and ours and agent.state is AgentState.ON_CALL:
            self.roster.call_ended(agent_id)

    def _close_wrap_up(self, agent: Agent) -> None:
        hook = self.roster.on_acw_timeout
        if hook is not None and agent.campaign_id is not None and agent.attempt_id is not None:
            self._spawn(hook(agent, agent.campaign_id, agent.attempt_id))
        self.roster.finish_acw(agent.agent_id)

    async def _hang_up_leg(self, channel: str) -> None:
        try:
            await self.ami.hangup(channel)
        except AMIError as exc:
            log.info("hanging up %s: %s", channel, exc)

    # The supervisor's figures are the campaign's day (its timezone): read back from the
    # store at start, so a restart keeps them, and begun afresh at local midnight.
    def _local_day(self, queue: str, now: float) -> tuple[dt.date, dt.datetime] | None:
        campaign = self.campaign_of_queue.get(queue)
        if campaign is None:
            return None
        local = _utc(now).astimezone(campaign.schedule.timezone)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return local.date(), midnight.astimezone(dt.UTC)

    async def _start_day(self, queue: str, now: float) -> None:
        stats = self.stats[queue] = QueueStats()
        day = self._local_day(queue, now)
        campaign = self.campaign_of_queue.get(queue)
        if day is None or campaign is None:
            return
        stats.day = day[0]
        stats.threshold_s, stats.target = campaign.service_level_s, campaign.service_level
        try:
            await self.records.day_of_queue(campaign.campaign_id, day[1], stats)
        except Exception:  # the figures start from zero; calls are still served
            log.exception("reading the day's inbound calls of queue %s", queue)

    def _stats_for(self, queue: str, at: float) -> QueueStats:
        stats = self.stats.setdefault(queue, QueueStats())
        day = self._local_day(queue, at)
        if day is not None and stats.day is not None and day[0] != stats.day:
            stats = self.stats[queue] = QueueStats(
                threshold_s=stats.threshold_s, target=stats.target, day=day[0]
            )
        return stats

    def _record(self, record: InboundRecord) -> None:
        self._stats_for(record.queue, record.ended_at).add(record)
        if record.outcome is InboundOutcome.CONNECTED and record.connected_at is not None:
            wait = record.wait_s or 0.0
            self._observe(record.queue, EventKind.INBOUND_ANSWERED, record.connected_at, wait)
            talk = record.talk_s or 0.0
            self._observe(record.queue, EventKind.INBOUND_TALK_ENDED, record.ended_at, talk)
        elif record.outcome is InboundOutcome.ABANDONED and record.waiting_since is not None:
            wait = record.wait_s or 0.0
            self._observe(record.queue, EventKind.INBOUND_ABANDONED, record.ended_at, wait)
        meta = self.calls.pop(record.uniqueid, None)
        if meta is None:
            return
        if meta.agent_id is not None and record.connected_at is None:
            # Rung, never answered before the caller left (03d): the agent is free again.
            agent = self.roster.agents.get(meta.agent_id)
            if (
                agent is not None
                and agent.state is AgentState.RESERVED
                and agent.attempt_id == meta.attempt_id
            ):
                self.roster.unreserve(agent.agent_id)
        agent_id = None
        if record.interface is not None:
            agent_id = self.membership.agent_for(record.interface) or meta.agent_id
        outcome = StoredOutcome(
            attempt_id=meta.attempt_id,
            outcome=record.outcome,
            ended_at=_utc(record.ended_at),
            queue_wait_s=record.wait_s,
            agent_id=agent_id,
            connected_at=_utc(record.connected_at) if record.connected_at is not None else None,
        )
        if meta.attempt_id != NO_ATTEMPT:
            self._spawn(self._write(outcome))

    async def _write(self, outcome: StoredOutcome) -> None:
        try:
            await self.records.finished(outcome)
        except Exception:
            log.exception("inbound attempt %s: writing the outcome failed", outcome.attempt_id)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def drain(self, timeout_s: float = 60.0) -> None:
        """Wait for the outcome writes and queue actions in progress; writes still waiting
        for an unavailable database after ``timeout_s`` (wall) are left: the outcome spool
        holds them for the next start to write (StoreRecords.write_spooled); without one,
        their attempts stay open for it to settle."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._writes and (left := deadline - loop.time()) > 0:
            await asyncio.wait(set(self._writes), timeout=left)  # and those they start
        if self._writes:
            log.error(
                "%d inbound outcome writes still waiting for the database at the end of the "
                "drain: left to the next start (the outcome spool's, or its settle)",
                len(self._writes),
            )
        await self.membership.close()

    # The supervisor's view -------------------------------------------------------------------
    def queue_view(self, queue: str) -> dict[str, Any]:
        """Per queue: calls waiting, longest wait, service level, abandon rate, agents by state."""
        now = self.clock.now()
        waits = [now - since for q, _, since in self.tracker.waiting() if q == queue]
        stats = self._stats_for(queue, now) if queue in self.stats else QueueStats()
        agents = {s.value: 0 for s in AgentState}
        for agent in self.roster.agents.values():
            if queue in self.membership.queues_of(agent.agent_id):
                agents[agent.state.value] += 1
        return {
            "queue": queue,
            "calls_waiting": len(waits),
            "longest_wait_s": round(max(waits), 1) if waits else 0.0,
            "service_level_target": stats.target,
            "service_level_threshold_s": stats.threshold_s,
            **stats.figures(),
            "agents": agents,
        }


def _arrival(change: InboundTransition) -> bool:
    """A caller starts waiting for an agent: in the queue, or for their assigned user."""
    return change.before is InboundState.ROUTING and change.after in (
        InboundState.QUEUED,
        InboundState.DIRECT,
    )


async def _hang_up(call: AGICall) -> None:
    with contextlib.suppress(ChannelHungUp):
        await call.hangup()


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)
