"""Calls in flight, as the engine follows them from the Originate to the one outcome.

A pure state holder: the engine feeds it AMI events (OriginateResponse, Hangup) and the
FastAGI handler's reports, with ``now``; it says when a call has its outcome. Exactly one
outcome per attempt: the first way a call ends wins, later reports of the same call are ignored.

Correlation (docs/architecture.md): the Originate's ActionID is ``att-<attempt id>``, its
ChannelId ``att-<id>-1`` (the ``;1`` half's Uniqueid, so also every Linkedid of the call) and
OtherChannelId ``att-<id>-2`` (the called side). A failed call's cause is the called side's
(``;2``) Hangup cause: the ``;1`` half hangs up with cause 0 on busy and congestion.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from ami.codec import Message
from ami.outcome import CallOutcome, call_outcome
from dialer.engine.ports import Dialable, Outcome


class Stage(enum.StrEnum):
    DIALING = "dialing"  # Originate sent, not answered yet
    FAILED = "failed"  # OriginateResponse Failure; waiting for the called side's cause
    ANSWERED = "answered"  # in the FastAGI handler, AMD / waiting for an agent
    CONNECTED = "connected"  # talking to an agent
    DONE = "done"


_FROM_AMI = {
    CallOutcome.BUSY: Outcome.BUSY,
    CallOutcome.NO_ANSWER: Outcome.NO_ANSWER,
    CallOutcome.CONGESTION: Outcome.CONGESTION,
    CallOutcome.FAILED: Outcome.FAILED,
    CallOutcome.INVALID: Outcome.INVALID,
}


def action_id(attempt_id: int) -> str:
    return f"att-{attempt_id}"


def channel_ids(attempt_id: int) -> tuple[str, str]:
    return f"att-{attempt_id}-1", f"att-{attempt_id}-2"


def attempt_of(uniqueid_or_action_id: str | None) -> int | None:
    """``att-17``, ``att-17-1`` and ``att-17-2`` all name attempt 17."""
    if not uniqueid_or_action_id or not uniqueid_or_action_id.startswith("att-"):
        return None
    number = uniqueid_or_action_id[4:].split("-", 1)[0]
    return int(number) if number.isdigit() else None


@dataclass
class Call:
    attempt_id: int
    campaign_id: int
    dialable: Dialable
    dialed_at: float
    stage: Stage = Stage.DIALING
    reason: str | None = None
    called_cause: int | None = None
    answered_at: float | None = None
    human_at: float | None = None  # when AMD (or the answer, without AMD) said "a person"
    connected_at: float | None = None
    ended_at: float | None = None
    agent_id: int | None = None
    amd: str | None = None
    channel: str | None = None
    outcome: Outcome | None = None
    notes: list[str] = field(default_factory=list)


class CallBook:
    """Every call in flight, by attempt id."""

    def __init__(self) -> None:
        self.calls: dict[int, Call] = {}

    def dialed(self, attempt_id: int, campaign_id: int, dialable: Dialable, now: float) -> Call:
        call = Call(attempt_id, campaign_id, dialable, now)
        self.calls[attempt_id] = call
        return call

    def get(self, attempt_id: int) -> Call | None:
        return self.calls.get(attempt_id)

    def in_flight(self, campaign_id: int) -> list[Call]:
        return [c for c in self.calls.values() if c.campaign_id == campaign_id]

    # AMI -------------------------------------------------------------------------------------
    def originate_response(self, event: Message, now: float) -> Call | None:
        """A failed call whose outcome is now known, or None (answered, unknown, not yet)."""
        call = self.calls.get(attempt_of(event.action_id) or -1)
        if call is None or call.stage is not Stage.DIALING:
            return None
        if event.get("Response") == "Success":
            return None  # the FastAGI handler takes it from here
        call.reason = event.get("Reason")
        call.stage = Stage.FAILED
        if call.called_cause is not None or event.get("Uniqueid") in (None, "<unknown>"):
            # Either the called side already hung up, or there never was a channel (an
            # unknown technology): nothing more will come.
            return self._fail(call, now)
        return None

    def hangup(self, event: Message, now: float) -> Call | None:
        """The called side's Hangup gives a failed call its cause; the ``;1`` half's Hangup
        ends an answered call the handler never finished (it crashed or never ran)."""
        uniqueid = event.get("Uniqueid")
        call = self.calls.get(attempt_of(uniqueid) or -1)
        if call is None:
            return None
        try:
            cause = int(event.get("Cause") or 0)
        except ValueError:
            cause = 0
        if uniqueid is not None and uniqueid.endswith("-2"):
            call.called_cause = cause
            if call.stage is Stage.FAILED:
                return self._fail(call, now)
            return None
        if call.stage in (Stage.ANSWERED, Stage.CONNECTED):
            call.notes.append("ended on the ;1 Hangup: the FastAGI handler did not finish it")
            outcome = (
                Outcome.CONNECTED if call.stage is Stage.CONNECTED else Outcome.CUSTOMER_HUNG_UP
            )
            return self.finish(call.attempt_id, outcome, now)
        return None

    def _fail(self, call: Call, now: float) -> Call | None:
        ami = call_outcome(call.reason, None, call.called_cause)
        return self.finish(call.attempt_id, _FROM_AMI.get(ami, Outcome.FAILED), now)

    # FastAGI handler reports -----------------------------------------------------------------
    def answered(self, attempt_id: int, channel: str, now: float) -> Call | None:
        call = self.calls.get(attempt_id)
        if call is None or call.stage is Stage.DONE:
            return None
        call.stage = Stage.ANSWERED
        call.answered_at = now
        call.channel = channel
        return call

    def human(self, attempt_id: int, amd: str | None, now: float) -> None:
        call = self.calls.get(attempt_id)
        if call is not None:
            call.amd = "HUMAN" if amd is not None else None
            call.human_at = now

    def connected(self, attempt_id: int, agent_id: int, now: float) -> None:
        call = self.calls.get(attempt_id)
        if call is not None and call.stage is Stage.ANSWERED:
            call.stage = Stage.CONNECTED
            call.connected_at = now
            call.agent_id = agent_id

    def finish(self, attempt_id: int, outcome: Outcome, now: float) -> Call | None:
        """Give the call its outcome (once); the finished call, or None if it already had one."""
        call = self.calls.get(attempt_id)
        if call is None or call.stage is Stage.DONE:
            return None
        call.stage = Stage.DONE
        call.outcome = outcome
        call.ended_at = now
        del self.calls[attempt_id]
        return call

    # After a reconnect -----------------------------------------------------------------------
    def reconcile(self, live_uniqueids: Iterable[str], now: float) -> list[Call]:
        """Calls still dialing whose channel Asterisk no longer has: their outcome is unknown.

        Called after an AMI reconnect with the Uniqueids CoreShowChannels lists. A call still
        found there goes on (its events will come); one not found ended while we were not
        listening, so its outcome is ``unknown``: recorded as such, never re-dialed on our own.
        """
        live = set(live_uniqueids)
        lost = []
        for call in list(self.calls.values()):
            one, two = channel_ids(call.attempt_id)
            if call.stage in (Stage.DIALING, Stage.FAILED) and one not in live and two not in live:
                finished = self.finish(call.attempt_id, Outcome.UNKNOWN, now)
                if finished is not None:
                    lost.append(finished)
        return lost
