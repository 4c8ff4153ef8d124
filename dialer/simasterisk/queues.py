"""Queues and their members, as app_queue keeps them (fields from transcripts 03a-03d)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dialer.simasterisk.channels import Channel

# Device state names (DEVICE_STATE, DeviceStateChange) and app_queue's member Status codes.
DEVICE_STATUS = {
    "UNKNOWN": 0,
    "NOT_INUSE": 1,
    "INUSE": 2,
    "BUSY": 3,
    "INVALID": 4,
    "UNAVAILABLE": 5,
    "RINGING": 6,
    "RINGINUSE": 7,
    "ONHOLD": 8,
}


@dataclass
class Member:
    queue: str
    interface: str
    name: str
    state_interface: str
    penalty: int = 0
    paused: bool = False
    paused_reason: str = ""
    calls_taken: int = 0
    last_call: int = 0
    last_pause: int = 0
    login_time: int = 0
    in_call: bool = False
    status: int = 1
    ringinuse: bool = False
    wrapuptime: int = 0
    last_rung: float = 0.0

    def event_fields(self) -> list[tuple[str, str]]:
        return [
            ("Queue", self.queue),
            ("MemberName", self.name),
            ("Interface", self.interface),
            ("StateInterface", self.state_interface),
            ("Membership", "dynamic"),
            ("Penalty", str(self.penalty)),
            ("CallsTaken", str(self.calls_taken)),
            ("LastCall", str(self.last_call)),
            ("LastPause", str(self.last_pause)),
            ("LoginTime", str(self.login_time)),
            ("InCall", "1" if self.in_call else "0"),
            ("Status", str(self.status)),
            ("Paused", "1" if self.paused else "0"),
            ("PausedReason", self.paused_reason),
            ("Ringinuse", "1" if self.ringinuse else "0"),
            ("Wrapuptime", str(self.wrapuptime)),
        ]

    def status_fields(self) -> list[tuple[str, str]]:
        """The QueueMember list event (QueueStatus): Name/Location instead of Member*."""
        return [
            ("Queue", self.queue),
            ("Name", self.name),
            ("Location", self.interface),
            ("StateInterface", self.state_interface),
            ("Membership", "dynamic"),
            ("Penalty", str(self.penalty)),
            ("CallsTaken", str(self.calls_taken)),
            ("LastCall", str(self.last_call)),
            ("LastPause", str(self.last_pause)),
            ("LoginTime", str(self.login_time)),
            ("InCall", "1" if self.in_call else "0"),
            ("Status", str(self.status)),
            ("Paused", "1" if self.paused else "0"),
            ("PausedReason", self.paused_reason),
            ("Wrapuptime", str(self.wrapuptime)),
        ]

    @property
    def available(self) -> bool:
        return not self.paused and not self.in_call and self.status == 1


@dataclass
class QueueCaller:
    channel: Channel
    joined_at: float
    original_position: int


@dataclass
class Queue:
    name: str
    strategy: str = "rrmemory"
    timeout_s: float = 15.0  # how long a member rings
    retry_s: float = 2.0
    members: dict[str, Member] = field(default_factory=dict)
    callers: list[QueueCaller] = field(default_factory=list)
    completed: int = 0
    abandoned: int = 0
    holdtime_total: float = 0.0
    talktime_total: float = 0.0

    def position(self, caller: QueueCaller) -> int:
        return self.callers.index(caller) + 1

    def next_member(self) -> Member | None:
        """rrmemory: the available member rung least recently (ties: order of joining)."""
        candidates = [m for m in self.members.values() if m.available]
        if not candidates:
            return None
        return min(candidates, key=lambda m: (m.penalty, m.last_rung))

    def params_fields(self) -> list[tuple[str, str]]:
        avg_hold = round(self.holdtime_total / self.completed) if self.completed else 0
        avg_talk = round(self.talktime_total / self.completed) if self.completed else 0
        return [
            ("Queue", self.name),
            ("Max", "0"),
            ("Strategy", self.strategy),
            ("Calls", str(len(self.callers))),
            ("Holdtime", str(avg_hold)),
            ("TalkTime", str(avg_talk)),
            ("Completed", str(self.completed)),
            ("Abandoned", str(self.abandoned)),
            ("ServiceLevel", "0"),
            ("ServicelevelPerf", "0.0"),
            ("ServicelevelPerf2", "0.0"),
            ("Weight", "0"),
        ]
