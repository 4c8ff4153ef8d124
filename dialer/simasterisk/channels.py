"""Channels of the simulated Asterisk and the header blocks their events carry.

Field names and order follow the Asterisk 22 transcripts: every channel event starts with the
same 14-header block (Channel ... Linkedid); Dial events repeat it with a ``Dest`` prefix and
LocalBridge with ``LocalOne``/``LocalTwo``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dialer.simasterisk.model import Behaviour

if TYPE_CHECKING:
    from dialer.simasterisk.queues import QueueCaller

STATE_DESC = {
    0: "Down",
    1: "Rsrvd",
    2: "OffHook",
    3: "Dialing",
    4: "Ring",
    5: "Ringing",
    6: "Up",
    7: "Busy",
}
CAUSE_TEXT = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    34: "Circuit/channel congestion",
}
UNKNOWN = "<unknown>"
Headers = list[tuple[str, str]]


@dataclass(eq=False)
class Channel:
    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    priority: int = 1
    state: int = 0
    caller_num: str = UNKNOWN
    caller_name: str = UNKNOWN
    connected_num: str = UNKNOWN
    connected_name: str = UNKNOWN
    language: str = "en"
    accountcode: str = ""
    created_at: float = 0.0
    variables: dict[str, str] = field(default_factory=dict)
    app: str = ""
    appdata: str = ""
    bridge_id: str = ""
    peer: Channel | None = None  # the other half of a Local channel pair
    bridged_to: Channel | None = None  # the channel it talks to through a bridge
    hangupcause: int = 0
    hangup_requested: asyncio.Event = field(default_factory=asyncio.Event)
    gone: bool = False
    party: Behaviour | None = None  # who answers on this half (called-party side)
    machine: bool = False
    connected_to_agent: asyncio.Event = field(default_factory=asyncio.Event)
    pending_digits: list[str] = field(default_factory=list)
    hangup_handlers: list[str] = field(default_factory=list)
    dial_indication: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    queue_caller: QueueCaller | None = None
    in_pbx: bool = False  # runs dialplan (Local ;2, or ;1 after answer in the Exten form)
    task: asyncio.Task[Any] | None = None
    soft_hangup_sent: bool = False
    linked: bool = False  # the Local pair is answered: a hangup of one half ends the other
    dialed_by: Channel | None = None  # the caller whose Dial/Queue created this agent leg
    redirect_to: tuple[str, str, int] | None = None
    progress_reported: bool = False  # an agent leg's first ring/answer was reported
    moh_stopped: bool = False  # Queue: hold music already stopped for this caller
    moh_on: bool = False  # AGI SET MUSIC on (the handler's own hold music)
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # hangup or redirect

    @property
    def device(self) -> str:
        """The device a Local channel belongs to: ``Local/1001@sim-pstn``."""
        return self.name.rsplit("-", 1)[0]

    @property
    def hung_up(self) -> bool:
        return self.hangup_requested.is_set() or self.gone

    def fields(self, prefix: str = "") -> Headers:
        return [
            (f"{prefix}Channel", self.name),
            (f"{prefix}ChannelState", str(self.state)),
            (f"{prefix}ChannelStateDesc", STATE_DESC.get(self.state, "Unknown")),
            (f"{prefix}CallerIDNum", self.caller_num),
            (f"{prefix}CallerIDName", self.caller_name),
            (f"{prefix}ConnectedLineNum", self.connected_num),
            (f"{prefix}ConnectedLineName", self.connected_name),
            (f"{prefix}Language", self.language),
            (f"{prefix}AccountCode", self.accountcode),
            (f"{prefix}Context", self.context),
            (f"{prefix}Exten", self.exten),
            (f"{prefix}Priority", str(self.priority)),
            (f"{prefix}Uniqueid", self.uniqueid),
            (f"{prefix}Linkedid", self.linkedid),
        ]

    def lookup(self, name: str) -> str:
        """A variable or a few dialplan functions, as ``${...}`` would expand them."""
        if name == "EXTEN":
            return self.exten
        if name == "CONTEXT":
            return self.context
        if name == "CHANNEL":
            return self.name
        if name == "UNIQUEID":
            return self.uniqueid
        if name == "CALLERID(num)":  # events show "<unknown>" for none; the function, ""
            return "" if self.caller_num == UNKNOWN else self.caller_num
        if name == "CHANNEL(state)":
            return STATE_DESC.get(self.state, "Unknown")
        if name.startswith("ARG") and name[3:].isdigit():
            return self.variables.get(f"LOCAL({name})", self.variables.get(name, ""))
        return self.variables.get(name, "")


def parse_caller_id(text: str) -> tuple[str, str]:
    """``"Campaign 7" <5551000>`` -> (number, name)."""
    text = text.strip()
    if "<" in text and text.endswith(">"):
        name, _, num = text[:-1].partition("<")
        return num.strip(), name.strip().strip('"')
    return text, ""
