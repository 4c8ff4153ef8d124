"""Call tracking: AMI events and FastAGI progress in, state transitions and one outcome out.

A pure state machine (no I/O, ``now`` passed in). The engine registers each Originate with
:meth:`CallTracker.dialed`, feeds every AMI event to :meth:`CallTracker.handle` and every report
of the FastAGI handler to the progress methods; each call returns the :class:`Transition` and
:class:`CallRecord` changes it caused. Every attempt gets **exactly one** :class:`CallRecord`:
once a call is closed it is forgotten, so later, duplicated or re-ordered events find nothing.

Correlation (docs/architecture.md, ../shared/asterisk/README.md "Local channel halves"):
- the OriginateResponse carries the ActionID ``att-<id>``;
- ChannelId ``att-<id>-1`` is the ``;1`` half's Uniqueid (the originated leg that runs
  ``[dialer-out]``) and OtherChannelId ``att-<id>-2`` the ``;2`` half's (the called side);
- DialBegin/DialState/DialEnd of the Originate itself name the ``;1`` half as *Dest*Uniqueid;
  a Dial *from* the ``;1`` half (the hand-off to an agent) names it as Uniqueid;
- without a ChannelId the ``;1`` Uniqueid is learnt from a Success OriginateResponse.

Ordering ("Ordering" in the README): the OriginateResponse may come before, between or after
the Hangups, so a call closes when its evidence is complete, whatever the order:
- failed (Response Failure): once every half we saw has hung up (the called side's cause can
  tell an invalid number), at once if no channel was ever seen (unknown technology) or the
  halves cannot be known (no ChannelId: Uniqueid ``<unknown>``);
- answered: on the ``;1`` Hangup or the handler's :meth:`~CallTracker.ended`, whichever first;
  the outcome is what the progress says (connected, machine, dropped, else customer hung up).
- unreached: the dialplan could not reach the dialer's FastAGI and played the drop message
  (configs/asterisk/extensions_dialer.conf, [dialer-out]); its ``UserEvent: DialerUnreached``
  on the ``;1`` half makes the answer ``dropped``, an abandon (FTC: not connected within 2 s).
A failed call whose Hangups never come is closed by :meth:`CallTracker.expire`.

Hot path: up to ~40k events/s (README "Measured throughput"); most are VarSet, Newexten and
DeviceStateChange, dropped by name before any field is read.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Final

from ami.codec import Message
from ami.outcome import CallOutcome, call_outcome

__all__ = [
    "EVENTS",
    "CallRecord",
    "CallState",
    "CallTracker",
    "Change",
    "Outcome",
    "Transition",
    "action_id",
    "channel_ids",
]


class Outcome(enum.StrEnum):
    """How an attempt ended (one per attempt). Same values as ``dialer.engine.ports.Outcome``."""

    CONNECTED = "connected"  # talked to an agent
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    CONGESTION = "congestion"
    FAILED = "failed"
    INVALID = "invalid"
    MACHINE = "machine"
    DROPPED = "dropped"  # a live answer nobody was free for within the hand-off limit
    CUSTOMER_HUNG_UP = "customer_hung_up"  # answered, gone before reaching an agent
    UNKNOWN = "unknown"  # the link dropped and the call was not found again
    MESSAGE_DELIVERED = "message_delivered"  # agentless: a person heard the broadcast
    OPTED_OUT = "opted_out"  # agentless: a person pressed the opt-out key


class CallState(enum.StrEnum):
    DIALING = "dialing"  # Originate sent
    RINGING = "ringing"  # the called side rings
    FAILING = "failing"  # OriginateResponse Failure; waiting for the halves' Hangups
    ANSWERED = "answered"  # live: AMD, waiting for an agent
    CONNECTING = "connecting"  # an agent is reserved or their phone is being dialed
    CONNECTED = "connected"  # talking to an agent
    UNKNOWN = "unknown"  # the AMI link dropped while the call was in flight
    ENDED = "ended"


# States only move forward; FAILING and ANSWERED are two branches at the same depth.
_RANK: Final = {
    CallState.DIALING: 0,
    CallState.RINGING: 1,
    CallState.FAILING: 2,
    CallState.ANSWERED: 2,
    CallState.CONNECTING: 3,
    CallState.CONNECTED: 4,
    CallState.UNKNOWN: -1,
    CallState.ENDED: 9,
}

# The only events that can change a call; everything else is dropped by name alone.
EVENTS: Final = frozenset(
    {"OriginateResponse", "Newchannel", "Newstate", "DialBegin", "DialState", "DialEnd"}
    | {"Hangup", "BridgeEnter", "UserEvent"}
)
UNREACHED: Final = "DialerUnreached"  # the [dialer-out] fallback's UserEvent
# ... and its AstDB mark, Set(DB(dialer_unreached/<attempt id>)=${EPOCH}), read after an AMI
# outage (the UserEvent was sent to nobody) or a restart: the same network fault often cuts
# both the AMI link and the FastAGI.
UNREACHED_DB_FAMILY: Final = "dialer_unreached"
UNREACHED_DB_NOTE: Final = (
    "the dialer's FastAGI was not reached: the dialplan played the drop message "
    "(its AstDB mark, read after the AMI link came back)"
)
CLOCK_SKEW_S: Final = 60.0  # how far Asterisk's clock may be behind the dialer's

_FROM_AMI: Final = {
    CallOutcome.BUSY: Outcome.BUSY,
    CallOutcome.NO_ANSWER: Outcome.NO_ANSWER,
    CallOutcome.CONGESTION: Outcome.CONGESTION,
    CallOutcome.FAILED: Outcome.FAILED,
    CallOutcome.INVALID: Outcome.INVALID,
    CallOutcome.ANSWERED: Outcome.CUSTOMER_HUNG_UP,
}

_UP: Final = "6"  # ChannelState 6 Up
_RINGING: Final = "5"  # ChannelState 5 Ringing
_NOTHING: Final[tuple[()]] = ()


def action_id(attempt_id: int) -> str:
    """The Originate ActionID of an attempt (docs/architecture.md)."""
    return f"att-{attempt_id}"


def channel_ids(attempt_id: int) -> tuple[str, str]:
    """(ChannelId, OtherChannelId) of an attempt: the ``;1`` and ``;2`` Uniqueids."""
    return f"att-{attempt_id}-1", f"att-{attempt_id}-2"


@dataclass(frozen=True)
class Transition:
    attempt_id: int
    before: CallState
    after: CallState
    at: float


@dataclass(frozen=True)
class CallRecord:
    """The one final record of an attempt. Times are epoch seconds.

    ``hangup_cause`` is the called side's (``;2``) Hangup cause when seen, else the ``;1``
    half's (0 on busy and congestion, README table). ``ring_s`` runs from the Originate to the
    answer (or to the end, never answered); ``talk_s`` from the agent connection to the end.
    """

    attempt_id: int
    outcome: Outcome
    reason: str | None
    hangup_cause: int | None
    dial_status: str | None
    amd: str | None
    agent_id: int | None
    dialed_at: float
    answered_at: float | None
    connected_at: float | None
    ended_at: float
    ring_s: float
    talk_s: float
    channel: str | None = None
    notes: tuple[str, ...] = ()
    # Answered, and the dialplan could not reach the dialer's FastAGI: nobody ran the call.
    unreached: bool = False


Change = Transition | CallRecord


@dataclass
class _Call:
    attempt_id: int
    action_id: str
    uid1: str | None
    uid2: str | None
    dialed_at: float
    state: CallState = CallState.DIALING
    before_loss: CallState | None = None
    response: str | None = None  # "Success" / "Failure"
    reason: str | None = None
    failed_at: float | None = None
    dial_status: str | None = None
    seen1: bool = False  # a ;1 channel event was seen
    seen2: bool = False
    cause1: int | None = None  # set once that half hung up
    cause2: int | None = None
    answered_at: float | None = None
    connected_at: float | None = None
    amd: str | None = None
    agent_id: int | None = None
    dropped: bool = False
    unreached: bool = False
    channel: str | None = None
    notes: list[str] = field(default_factory=list)


class CallTracker:
    """Every call in flight, keyed by attempt id, ActionID and ``;1``/``;2`` Uniqueid.

    ``settle_s``: how long a failed call waits for its Hangups before :meth:`expire` closes it.
    """

    def __init__(self, settle_s: float = 5.0) -> None:
        self.settle_s = settle_s
        self._calls: dict[int, _Call] = {}
        self._by_action: dict[str, _Call] = {}
        self._by_uid: dict[str, _Call] = {}

    # Registration ----------------------------------------------------------------------------
    def dialed(
        self,
        attempt_id: int,
        now: float,
        *,
        action: str | None = None,
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        use_channel_ids: bool = True,
    ) -> tuple[Change, ...]:
        """An Originate is about to be sent. Defaults follow docs/architecture.md (``att-<id>``,
        ``att-<id>-1``, ``att-<id>-2``); ``use_channel_ids=False`` for an Originate sent without
        ChannelId (the ``;1`` Uniqueid is then learnt from the OriginateResponse)."""
        if attempt_id in self._calls:
            raise ValueError(f"attempt {attempt_id} is already being tracked")
        one, two = channel_ids(attempt_id)
        if use_channel_ids:
            channel_id = channel_id or one
            other_channel_id = other_channel_id or two
        call = _Call(attempt_id, action or action_id(attempt_id), channel_id, other_channel_id, now)
        self._calls[attempt_id] = call
        self._by_action[call.action_id] = call
        for uid in (call.uid1, call.uid2):
            if uid:
                self._by_uid[uid] = call
        return _NOTHING

    def rejected(self, attempt_id: int, message: str, now: float) -> tuple[Change, ...]:
        """The Originate action itself got ``Response: Error`` (README: ``Extension does not
        exist.``, ``Invalid channel``...): nothing was dialed, the outcome is ``failed``."""
        call = self._calls.get(attempt_id)
        if call is None:
            return _NOTHING
        call.notes.append(f"Originate refused: {message}")
        return self._close(call, Outcome.FAILED, now)

    # Queries ---------------------------------------------------------------------------------
    def state(self, attempt_id: int) -> CallState | None:
        """The call's state, or None once it has its outcome (or was never tracked)."""
        call = self._calls.get(attempt_id)
        return None if call is None else call.state

    def in_flight(self) -> list[int]:
        return list(self._calls)

    def __len__(self) -> int:
        return len(self._calls)

    # AMI -------------------------------------------------------------------------------------
    def handle(self, event: Message, now: float) -> tuple[Change, ...]:
        """One AMI message. Cheap for the ones that cannot concern a call (by name first)."""
        name = event.name
        if name not in EVENTS or not self._calls:
            return _NOTHING
        if name == "OriginateResponse":
            call = self._by_action.get(event.action_id or "")
            return _NOTHING if call is None else self._originate_response(call, event, now)
        if name in ("DialBegin", "DialState", "DialEnd"):
            return self._dial(event, now)
        uid = event.get("Uniqueid")
        call = self._by_uid.get(uid) if uid else None
        if call is None:
            return _NOTHING
        one = uid == call.uid1
        if name == "Hangup":
            return self._hangup(call, one, event, now)
        if one:
            call.seen1 = True
        else:
            call.seen2 = True
        if name == "Newstate":
            state = event.get("ChannelState")
            if one and state == _UP:
                return self._answered(call, now)
            if not one and state == _RINGING:
                return self._advance(call, CallState.RINGING, now)
        elif name == "BridgeEnter" and one and call.state is not CallState.FAILING:
            # The ;1 half is only ever bridged by the hand-off's Dial: the agent is on.
            return self._connected(call, None, now)
        elif name == "UserEvent" and one and event.get("UserEvent") == UNREACHED:
            if not call.unreached:
                call.unreached = True
                status = event.get("AGIStatus") or "?"
                call.notes.append(
                    f"the dialer's FastAGI was not reached (AGISTATUS {status}): "
                    "the dialplan played the drop message"
                )
            return self._answered(call, now)
        return _NOTHING

    def _originate_response(self, call: _Call, event: Message, now: float) -> tuple[Change, ...]:
        if call.response is not None:
            return _NOTHING  # a duplicate
        call.response = event.get("Response")
        call.reason = event.get("Reason")
        uid = event.get("Uniqueid")
        if call.response == "Success":
            if call.uid1 is None and uid and uid != "<unknown>":
                call.uid1 = uid
                self._by_uid[uid] = call
            call.channel = event.get("Channel") or call.channel
            return self._answered(call, now)
        call.failed_at = now
        changes = self._advance(call, CallState.FAILING, now)
        if self._failure_settled(call):
            return changes + self._close(call, self._failure_outcome(call), now)
        return changes

    def _dial(self, event: Message, now: float) -> tuple[Change, ...]:
        dest = event.get("DestUniqueid")
        call = self._by_uid.get(dest) if dest else None
        if call is not None and dest == call.uid1:
            # The Originate's own dial of the called party.
            status = event.get("DialStatus")
            if event.name == "DialEnd" and status:
                call.dial_status = status
                if status == "ANSWER":
                    return self._answered(call, now)
            elif event.name == "DialState" and status == "RINGING":
                return self._advance(call, CallState.RINGING, now)
            return _NOTHING
        uid = event.get("Uniqueid")
        call = self._by_uid.get(uid) if uid else None
        if call is None or uid != call.uid1 or call.state is CallState.FAILING:
            return _NOTHING
        # A Dial *from* the ;1 half: the FastAGI hand-off ringing an agent's phone.
        if event.name == "DialBegin":
            return self._advance(call, CallState.CONNECTING, now)
        if event.name == "DialEnd" and event.get("DialStatus") == "ANSWER":
            return self._connected(call, None, now)
        return _NOTHING

    def _hangup(self, call: _Call, one: bool, event: Message, now: float) -> tuple[Change, ...]:
        try:
            cause = int(event.get("Cause") or 0)
        except ValueError:
            cause = 0
        if one:
            if call.cause1 is not None:
                return _NOTHING
            call.seen1, call.cause1 = True, cause
        else:
            if call.cause2 is not None:
                return _NOTHING
            call.seen2, call.cause2 = True, cause
        if call.response == "Failure":
            if self._failure_settled(call):
                return self._close(call, self._failure_outcome(call), now)
            return _NOTHING
        if one and (call.response == "Success" or call.answered_at is not None):
            return self._close_answered(call, now)
        return _NOTHING  # not answered and no OriginateResponse yet: it will say why

    # FastAGI handler progress ----------------------------------------------------------------
    def answered(
        self, attempt_id: int, now: float, channel: str | None = None
    ) -> tuple[Change, ...]:
        """The FastAGI ``/outbound`` script started on the call's ``;1`` half."""
        call = self._calls.get(attempt_id)
        if call is None:
            return _NOTHING
        call.channel = channel or call.channel
        return self._answered(call, now)

    def amd_result(self, attempt_id: int, status: str, now: float) -> tuple[Change, ...]:
        """AMDSTATUS (HUMAN, MACHINE, NOTSURE, HANGUP) from ``GET VARIABLE AMDSTATUS``."""
        call = self._calls.get(attempt_id)
        if call is not None:
            call.amd = status.strip().upper()
        return _NOTHING

    def agent_reserved(self, attempt_id: int, agent_id: int, now: float) -> tuple[Change, ...]:
        call = self._calls.get(attempt_id)
        if call is None:
            return _NOTHING
        call.agent_id = agent_id
        return self._advance(call, CallState.CONNECTING, now)

    def agent_connected(self, attempt_id: int, agent_id: int, now: float) -> tuple[Change, ...]:
        call = self._calls.get(attempt_id)
        return _NOTHING if call is None else self._connected(call, agent_id, now)

    def dropped(self, attempt_id: int, now: float) -> tuple[Change, ...]:
        """No agent within the hand-off limit: the drop message plays, the call is abandoned."""
        call = self._calls.get(attempt_id)
        if call is not None and call.connected_at is None:
            call.dropped = True
        return _NOTHING

    def ended(
        self, attempt_id: int, now: float, outcome: Outcome | None = None
    ) -> tuple[Change, ...]:
        """The handler is done with the call. ``outcome`` overrides what the progress says."""
        call = self._calls.get(attempt_id)
        if call is None:
            return _NOTHING
        if outcome is not None:
            return self._close(call, outcome, now)
        if call.response == "Failure":
            return self._close(call, self._failure_outcome(call), now)
        return self._close_answered(call, now)

    # Link loss -------------------------------------------------------------------------------
    def link_lost(self, now: float) -> tuple[Change, ...]:
        """The AMI link dropped: every call in flight is ``unknown`` until :meth:`reconcile`.
        Nothing is re-sent (DESIGN.md: a double dial is the worst bug a dialer can have)."""
        changes: list[Change] = []
        for call in self._calls.values():
            if call.state is not CallState.UNKNOWN:
                call.before_loss = call.state
                changes.append(Transition(call.attempt_id, call.state, CallState.UNKNOWN, now))
                call.state = CallState.UNKNOWN
        return tuple(changes)

    def without_verdict(self, channel_ids_seen: Iterable[str]) -> list[tuple[int, float]]:
        """The calls :meth:`reconcile` would close not knowing how they ended (answered, or
        their fate unseen), with when each was dialed: the [dialer-out] fallback may have
        played them the drop message while nobody listened (ask AstDB, :func:`unreached_mark`)."""
        seen = set(channel_ids_seen)
        return [
            (call.attempt_id, call.dialed_at)
            for call in self._calls.values()
            if call.state is CallState.UNKNOWN and not _listed(call, seen) and _no_verdict(call)
        ]

    def reconcile(
        self, channel_ids_seen: Iterable[str], now: float, unreached: Collection[int] = ()
    ) -> tuple[Change, ...]:
        """After the reconnect, with the Uniqueids CoreShowChannels lists.

        A call whose ``;1`` or ``;2`` Uniqueid is listed is re-attached in its state before the
        loss; its events will come. Every other ``unknown`` call ended while we were not
        listening and is closed with what was known (never re-dialed):
        connected -> ``connected``; AMD machine -> ``machine``; dropped -> ``dropped``;
        OriginateResponse Failure -> its outcome; answered -> ``customer_hung_up``;
        anything else (the Originate's fate unseen) -> ``unknown``; but ``unreached`` (attempt
        ids whose AstDB mark says the FastAGI was not reached) -> ``dropped``.
        """
        seen = set(channel_ids_seen)
        changes: list[Change] = []
        for call in list(self._calls.values()):
            if call.state is not CallState.UNKNOWN:
                continue
            if _listed(call, seen):
                back = call.before_loss or CallState.DIALING
                changes.append(Transition(call.attempt_id, call.state, back, now))
                call.state = back
                continue
            call.notes.append("not found after the AMI link came back")
            if call.attempt_id in unreached and _no_verdict(call):
                call.unreached = True
                call.notes.append(UNREACHED_DB_NOTE)
                changes.extend(self._close_answered(call, now))
            elif call.response == "Failure":
                changes.extend(self._close(call, self._failure_outcome(call), now))
            elif call.response == "Success" or call.answered_at is not None:
                changes.extend(self._close_answered(call, now))
            else:
                changes.extend(self._close(call, Outcome.UNKNOWN, now))
        return tuple(changes)

    def expire(self, now: float) -> tuple[Change, ...]:
        """Close failed calls whose remaining Hangups did not come within ``settle_s``."""
        changes: list[Change] = []
        for call in list(self._calls.values()):
            if call.failed_at is not None and now - call.failed_at >= self.settle_s:
                changes.extend(self._close(call, self._failure_outcome(call), now))
        return tuple(changes)

    # Inside ----------------------------------------------------------------------------------
    def _advance(self, call: _Call, state: CallState, now: float) -> tuple[Change, ...]:
        if call.state is CallState.UNKNOWN:
            # Evidence after a reconnect: remember it, the call is still to be reconciled.
            if _RANK[state] > _RANK[call.before_loss or CallState.DIALING]:
                call.before_loss = state
            return _NOTHING
        if _RANK[state] <= _RANK[call.state]:
            return _NOTHING
        before, call.state = call.state, state
        return (Transition(call.attempt_id, before, state, now),)

    def _answered(self, call: _Call, now: float) -> tuple[Change, ...]:
        if call.response == "Failure":
            return _NOTHING
        if call.answered_at is None:
            call.answered_at = now
        changes = self._advance(call, CallState.ANSWERED, now)
        if call.cause1 is not None:  # the ;1 Hangup came first (README "Ordering")
            return changes + self._close_answered(call, now)
        return changes

    def _connected(self, call: _Call, agent_id: int | None, now: float) -> tuple[Change, ...]:
        if call.answered_at is None:
            call.answered_at = now
        if call.connected_at is None:
            call.connected_at = now
            call.dropped = False
        if agent_id is not None:
            call.agent_id = agent_id
        return self._advance(call, CallState.CONNECTED, now)

    def _failure_settled(self, call: _Call) -> bool:
        if call.uid1 is None or not (call.seen1 or call.seen2):
            return True  # halves unknowable, or no channel was ever created
        return (not call.seen1 or call.cause1 is not None) and (
            not call.seen2 or call.cause2 is not None
        )

    def _failure_outcome(self, call: _Call) -> Outcome:
        ami = call_outcome(call.reason, call.dial_status, call.cause2)
        return _FROM_AMI.get(ami, Outcome.FAILED)

    def _close_answered(self, call: _Call, now: float) -> tuple[Change, ...]:
        if call.connected_at is not None:
            outcome = Outcome.CONNECTED
        elif call.amd == "MACHINE":
            outcome = Outcome.MACHINE
        elif call.dropped or call.unreached:
            outcome = Outcome.DROPPED
        else:
            outcome = Outcome.CUSTOMER_HUNG_UP
        return self._close(call, outcome, now)

    def _close(self, call: _Call, outcome: Outcome, now: float) -> tuple[Change, ...]:
        if self._calls.pop(call.attempt_id, None) is None:
            return _NOTHING
        self._by_action.pop(call.action_id, None)
        for uid in (call.uid1, call.uid2):
            if uid:
                self._by_uid.pop(uid, None)
        cause = call.cause2 if call.cause2 is not None else call.cause1
        ring_end = call.answered_at if call.answered_at is not None else now
        talk = now - call.connected_at if call.connected_at is not None else 0.0
        record = CallRecord(
            attempt_id=call.attempt_id,
            outcome=outcome,
            reason=call.reason,
            hangup_cause=cause,
            dial_status=call.dial_status,
            amd=call.amd,
            agent_id=call.agent_id,
            dialed_at=call.dialed_at,
            answered_at=call.answered_at,
            connected_at=call.connected_at,
            ended_at=now,
            ring_s=max(0.0, ring_end - call.dialed_at),
            talk_s=max(0.0, talk),
            channel=call.channel,
            notes=tuple(call.notes),
            unreached=call.unreached and outcome is Outcome.DROPPED,
        )
        transition = Transition(call.attempt_id, call.state, CallState.ENDED, now)
        call.state = CallState.ENDED
        return (transition, record)


def _listed(call: _Call, seen: set[str]) -> bool:
    return bool((call.uid1 and call.uid1 in seen) or (call.uid2 and call.uid2 in seen))


def _no_verdict(call: _Call) -> bool:
    """Closed now, the call's outcome would be a guess: customer_hung_up or unknown."""
    return (
        call.response != "Failure"
        and call.connected_at is None
        and call.amd != "MACHINE"
        and not (call.dropped or call.unreached)
    )


def unreached_mark(value: str | None, dialed_at: float) -> bool:
    """Whether an AstDB ``dialer_unreached`` value (the fallback's ``${EPOCH}``) is this
    attempt's: written after it was dialed, give or take the clocks' skew, not left there by
    an attempt of the same id in another database."""
    try:
        written = float(value or "")
    except ValueError:
        return False
    return written >= dialed_at - CLOCK_SKEW_S
