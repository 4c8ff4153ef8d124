"""What policies learn from: one small event type, fed by the engine or the simulator."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class EventKind(Enum):
    """Observed outcomes. ``seconds`` is the duration named in each comment."""

    CALL_UNANSWERED = "call_unanswered"  # no answer, busy, failed; seconds: dial to end
    CALL_MACHINE = "call_machine"  # answered, AMD hung up; seconds: dial to hang-up
    CALL_ROUTED = "call_routed"  # answered and sent to agent routing; seconds: dial to routing
    CALL_CONNECTED = "call_connected"  # routed call reached an agent within the hand-off limit
    CALL_DROPPED = "call_dropped"  # routed live call not connected within 2 s: abandoned
    TALK_ENDED = "talk_ended"  # seconds: talk time
    ACW_ENDED = "acw_ended"  # seconds: after-call work time
    AGENT_PAUSED = "agent_paused"  # an agent paused after ACW instead of becoming available
    AGENT_READY = "agent_ready"  # an agent became available after ACW
    PAUSE_ENDED = "pause_ended"  # seconds: pause length
    # Inbound queues (pacing/inbound.py, docs/blending.md); ``Event.queue`` names the queue.
    INBOUND_ARRIVED = "inbound_arrived"  # a caller entered the queue
    INBOUND_ANSWERED = "inbound_answered"  # seconds: the caller's wait in the queue
    INBOUND_ABANDONED = "inbound_abandoned"  # seconds: the wait before the caller hung up
    INBOUND_TALK_ENDED = "inbound_talk_ended"  # seconds: talk time of an inbound call
    INBOUND_ACW_ENDED = "inbound_acw_ended"  # seconds: after-call work of an inbound call


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    at: float
    seconds: float = 0.0
    queue: str = ""  # inbound events only: the queue's name
