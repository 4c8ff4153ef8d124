"""Inbound call tracking: AMI queue events and FastAGI progress in, transitions and one record out.

A pure state machine (no I/O, ``now`` passed in), the inbound twin of :mod:`dialer.calls`. A
call is keyed by the caller channel's Uniqueid: ``agi_uniqueid`` in the FastAGI environment and
``Uniqueid`` in every queue event about the caller (transcripts 03b-03d: QueueCallerJoin,
AgentCalled, AgentConnect, AgentComplete, QueueCallerAbandon and QueueCallerLeave all name the
caller's channel block first; the member's leg is the ``Dest*`` block and ``Interface``).

Event order (../shared/asterisk/README.md, "Queue"):
- connected: QueueCallerJoin -> AgentCalled -> ... -> QueueCallerLeave -> AgentConnect
  (HoldTime, RingTime) -> ... -> AgentComplete (HoldTime, TalkTime, Reason);
- abandoned: QueueCallerJoin -> ... -> QueueCallerAbandon (HoldTime) -> QueueCallerLeave;
- a member who does not answer: AgentCalled -> AgentRingNoAnswer (RingTime = the queue's
  timeout) -> AgentCalled again after ``retry`` (03d).

Every call gets **exactly one** :class:`InboundRecord`: on AgentComplete (talked), on
QueueCallerAbandon (abandoned in the queue, with its wait), on the caller's Hangup or the
handler's :meth:`InboundTracker.ended` otherwise. A closed call is forgotten, so late and
duplicated events find nothing. The member side of each event comes out as a
:class:`MemberEvent`, which the engine applies to the agent's one state (dialer.engine.roster).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from ami.codec import Message

__all__ = [
    "QUEUE_EVENTS",
    "InboundOutcome",
    "InboundRecord",
    "InboundState",
    "InboundTracker",
    "InboundTransition",
    "MemberEvent",
    "MemberEventKind",
]


class InboundState(enum.StrEnum):
    ROUTING = "routing"  # the FastAGI handler is deciding (DID, schedule, caller)
    DIRECT = "direct"  # waiting for, or ringing, the assigned user (seed 000)
    QUEUED = "queued"  # waiting in the campaign's queue
    RINGING = "ringing"  # a queue member's phone rings (AgentCalled)
    CONNECTED = "connected"  # talking to an agent
    ENDED = "ended"


class InboundOutcome(enum.StrEnum):
    CONNECTED = "connected"  # talked to an agent
    ABANDONED = "abandoned"  # hung up while waiting (in the queue or for the assigned user)
    CLOSED = "closed"  # out of hours with action "close" (seed 002): message, hang up
    HUNG_UP = "hung_up"  # gone before waiting for anyone (during routing or the message)


class MemberEventKind(enum.StrEnum):
    CALLED = "called"  # AgentCalled: the member's phone rings for this caller
    NO_ANSWER = "no_answer"  # AgentRingNoAnswer
    CONNECTED = "connected"  # AgentConnect
    COMPLETED = "completed"  # AgentComplete: the talk is over


@dataclass(frozen=True)
class MemberEvent:
    """What a queue did with one of its members (the agent's phone interface)."""

    kind: MemberEventKind
    queue: str
    interface: str
    uniqueid: str  # the caller's
    at: float
    agent_leg: str = ""  # the member's channel (DestChannel), to hang it up if it must not ring


@dataclass(frozen=True)
class InboundTransition:
    uniqueid: str
    before: InboundState
    after: InboundState
    at: float
    queue: str


@dataclass(frozen=True)
class InboundRecord:
    """One inbound call's outcome, once."""

    uniqueid: str
    channel: str
    caller_num: str
    queue: str
    outcome: InboundOutcome
    arrived_at: float
    ended_at: float
    waiting_since: float | None  # joined the queue (or started waiting for the assigned user)
    connected_at: float | None
    wait_s: float | None  # queue wait: until the agent answered, or until the caller left
    talk_s: float | None
    interface: str | None  # the agent's phone that took the call
    hold_time_s: int | None  # app_queue's own HoldTime (whole seconds), when it reported one
    ring_no_answers: int


QUEUE_EVENTS: Final = (
    "QueueCallerJoin",
    "QueueCallerLeave",
    "QueueCallerAbandon",
    "AgentCalled",
    "AgentRingNoAnswer",
    "AgentConnect",
    "AgentComplete",
    "Hangup",
)

Change = InboundTransition | InboundRecord | MemberEvent


@dataclass
class _Call:
    uniqueid: str
    channel: str
    caller_num: str
    arrived_at: float
    queue: str = ""
    state: InboundState = InboundState.ROUTING
    waiting_since: float | None = None
    connected_at: float | None = None
    interface: str | None = None
    hold_time_s: int | None = None
    talk_time_s: int | None = None
    ring_no_answers: int = 0
    closed_out_of_hours: bool = False


ENDED_KEPT = 10_000  # recorded calls remembered (hours of a busy queue's late events)


class InboundTracker:
    """Every inbound call in progress, by the caller channel's Uniqueid."""

    def __init__(self) -> None:
        self._calls: dict[str, _Call] = {}
        # Calls already recorded, latest last: their queue events may still come on the AMI
        # link after the FastAGI side saw the hang-up, and must not start a second call.
        self._ended: dict[str, None] = {}

    def __len__(self) -> int:
        return len(self._calls)

    def state(self, uniqueid: str) -> InboundState | None:
        call = self._calls.get(uniqueid)
        return call.state if call is not None else None

    def queue_of(self, uniqueid: str) -> str | None:
        call = self._calls.get(uniqueid)
        return call.queue if call is not None else None

    def waiting(self) -> list[tuple[str, str, float]]:
        """Callers waiting for an agent now: (queue, uniqueid, waiting since)."""
        return [
            (c.queue, c.uniqueid, c.waiting_since)
            for c in self._calls.values()
            if c.waiting_since is not None
            and c.state in (InboundState.QUEUED, InboundState.RINGING, InboundState.DIRECT)
        ]

    # FastAGI progress --------------------------------------------------------------------
    def arrived(
        self, uniqueid: str, channel: str, caller_num: str, now: float
    ) -> tuple[Change, ...]:
        if uniqueid in self._calls:
            return ()
        self._calls[uniqueid] = _Call(uniqueid, channel, caller_num, now)
        return ()

    def routed(self, uniqueid: str, queue: str, now: float) -> tuple[Change, ...]:
        """The call belongs to this campaign queue (its DID said so)."""
        call = self._calls.get(uniqueid)
        if call is not None:
            call.queue = queue
        return ()

    def queued(self, uniqueid: str, now: float) -> tuple[Change, ...]:
        """The handler sends the caller into the queue (EXEC Queue): waiting from now. Its own
        clock, not the QueueCallerJoin that follows on the AMI link, which a busy link can
        deliver late, or after the FastAGI side has seen the caller hang up."""
        call = self._calls.get(uniqueid)
        if call is None or call.state not in (InboundState.ROUTING, InboundState.DIRECT):
            return ()
        if call.waiting_since is None:
            call.waiting_since = now
        return self._move(call, InboundState.QUEUED, now)

    def waiting_for_user(self, uniqueid: str, now: float) -> tuple[Change, ...]:
        """Seed 000: the caller waits for (or rings) their assigned user, outside app_queue."""
        call = self._calls.get(uniqueid)
        if call is None:
            return ()
        if call.waiting_since is None:
            call.waiting_since = now
        return self._move(call, InboundState.DIRECT, now)

    def user_connected(self, uniqueid: str, interface: str, now: float) -> tuple[Change, ...]:
        call = self._calls.get(uniqueid)
        if call is None or call.state is InboundState.CONNECTED:
            return ()
        call.interface = interface
        call.connected_at = now
        return self._move(call, InboundState.CONNECTED, now)

    def closed(self, uniqueid: str, now: float) -> tuple[Change, ...]:
        """Out of hours with action "close": the message is played and the call ends."""
        call = self._calls.get(uniqueid)
        if call is not None:
            call.closed_out_of_hours = True
        return ()

    def ended(self, uniqueid: str, now: float) -> tuple[Change, ...]:
        """The handler is done with the call (or saw it hang up)."""
        call = self._calls.get(uniqueid)
        return self._close(call, now) if call is not None else ()

    def adopt(
        self,
        uniqueid: str,
        channel: str,
        caller_num: str,
        queue: str,
        waiting_since: float,
        now: float,
    ) -> tuple[Change, ...]:
        """A caller QueueStatus lists as waiting (QueueEntry, after a reconnect or a restart):
        tracked from then on as if its QueueCallerJoin had been seen at ``waiting_since``."""
        call = self._calls.get(uniqueid)
        if call is None:
            call = self._calls[uniqueid] = _Call(uniqueid, channel, caller_num, waiting_since)
        if call.state not in (InboundState.ROUTING, InboundState.QUEUED):
            return ()
        call.queue = queue
        if call.waiting_since is None:
            call.waiting_since = waiting_since
        return self._move(call, InboundState.QUEUED, now)

    # AMI events --------------------------------------------------------------------------
    def handle(self, event: Message, now: float) -> tuple[Change, ...]:
        name = event.name
        if name not in QUEUE_EVENTS:
            return ()
        uniqueid = event.get("Uniqueid") or ""
        call = self._calls.get(uniqueid)
        if name == "Hangup":
            return self._close(call, now) if call is not None else ()
        queue = event.get("Queue") or ""
        if call is None:
            if name != "QueueCallerJoin" or uniqueid in self._ended:
                return ()
            # A caller the handler did not announce (another route into the queue, or
            # transcripts without FastAGI): tracked from its join.
            call = self._calls[uniqueid] = _Call(
                uniqueid, event.get("Channel") or "", event.get("CallerIDNum") or "", now
            )
        if name == "QueueCallerJoin":
            call.queue = queue
            # Kept when the handler said the caller was queued (or waited for its user).
            if call.waiting_since is None or call.state not in (
                InboundState.DIRECT,
                InboundState.QUEUED,
            ):
                call.waiting_since = now
            return self._move(call, InboundState.QUEUED, now)
        interface = event.get("Interface") or ""
        leg = event.get("DestChannel") or ""
        if name == "AgentCalled":
            member = MemberEvent(MemberEventKind.CALLED, queue, interface, uniqueid, now, leg)
            return (*self._move(call, InboundState.RINGING, now), member)
        if name == "AgentRingNoAnswer":
            call.ring_no_answers += 1
            member = MemberEvent(MemberEventKind.NO_ANSWER, queue, interface, uniqueid, now, leg)
            return (*self._move(call, InboundState.QUEUED, now), member)
        if name == "AgentConnect":
            call.interface = interface
            call.connected_at = now
            call.hold_time_s = _int(event.get("HoldTime"))
            member = MemberEvent(MemberEventKind.CONNECTED, queue, interface, uniqueid, now, leg)
            return (*self._move(call, InboundState.CONNECTED, now), member)
        if name == "AgentComplete":
            call.talk_time_s = _int(event.get("TalkTime"))
            member = MemberEvent(MemberEventKind.COMPLETED, queue, interface, uniqueid, now, leg)
            return (member, *self._close(call, now))
        if name == "QueueCallerAbandon":
            call.hold_time_s = _int(event.get("HoldTime"))
            return self._close(call, now)
        return ()  # QueueCallerLeave: the caller left the queue; what follows says how

    # Internals ---------------------------------------------------------------------------
    def _move(self, call: _Call, state: InboundState, now: float) -> tuple[Change, ...]:
        if call.state is state:
            return ()
        before, call.state = call.state, state
        return (InboundTransition(call.uniqueid, before, state, now, call.queue),)

    def _close(self, call: _Call, now: float) -> tuple[Change, ...]:
        del self._calls[call.uniqueid]
        self._ended[call.uniqueid] = None
        if len(self._ended) > ENDED_KEPT:
            del self._ended[next(iter(self._ended))]
        if call.connected_at is not None:
            outcome = InboundOutcome.CONNECTED
        elif call.closed_out_of_hours:
            outcome = InboundOutcome.CLOSED
        elif call.waiting_since is not None:
            outcome = InboundOutcome.ABANDONED
        else:
            outcome = InboundOutcome.HUNG_UP
        end = call.connected_at if call.connected_at is not None else now
        wait = end - call.waiting_since if call.waiting_since is not None else None
        if wait is not None and call.hold_time_s is not None and wait < call.hold_time_s:
            # Our clock saw the join late (its event queued behind others on a busy link):
            # app_queue's own HoldTime, counted where the caller waited, is the better figure.
            wait = float(call.hold_time_s)
        talk = now - call.connected_at if call.connected_at is not None else None
        before, call.state = call.state, InboundState.ENDED
        record = InboundRecord(
            uniqueid=call.uniqueid,
            channel=call.channel,
            caller_num=call.caller_num,
            queue=call.queue,
            outcome=outcome,
            arrived_at=call.arrived_at,
            ended_at=now,
            waiting_since=call.waiting_since,
            connected_at=call.connected_at,
            wait_s=wait,
            talk_s=talk,
            interface=call.interface,
            hold_time_s=call.hold_time_s,
            ring_no_answers=call.ring_no_answers,
        )
        return (
            InboundTransition(call.uniqueid, before, InboundState.ENDED, now, call.queue),
            record,
        )


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None
