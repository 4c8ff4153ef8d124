"""The simulated Asterisk's engine: channels, Local pairs, the dialplan, applications, queues.

It runs the dialplan text it is given (the lab's and the product's ``extensions.conf``) and emits
the AMI events a real Asterisk 22.10.1 emits for the same steps, in the per-channel order of the
recorded transcripts (../shared/asterisk/README.md, "Protocol facts"; tests/simasterisk compares).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import logging
import random
import re
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from ami.codec import encode
from dialer.clock import Clock
from dialer.simasterisk.agi_client import run_agi
from dialer.simasterisk.channels import CAUSE_TEXT, UNKNOWN, Channel, Headers, parse_caller_id
from dialer.simasterisk.dialplan import Dialplan, expand, split_args
from dialer.simasterisk.model import InboundCaller, InboundModel, PartyKind
from dialer.simasterisk.queues import DEVICE_STATUS, Member, Queue, QueueCaller

if TYPE_CHECKING:
    from dialer.simasterisk.config import SimConfig

log = logging.getLogger(__name__)

JUMP = "jump"
_SUBSTRING = re.compile(r"([^:()]+):(-?\d+)(?::(-?\d+))?")
# Lengths of the sound files the dialplans play, in seconds (others play for 2 s).
SOUND_SECONDS = {"hello-world": 1.42, "demo-congrats": 25.0, "beep": 0.44}


def _lookup_in(env: dict[str, str], lookup: Callable[[str], str]) -> Callable[[str], str]:
    return lambda name: env[name] if name in env else lookup(name)


class EventSink(Protocol):
    def deliver(self, event_class: str, data: bytes) -> None: ...


@dataclass
class OriginateRequest:
    channel: str
    context: str | None = None
    exten: str | None = None
    priority: int | None = None
    application: str | None = None
    data: str = ""
    timeout_ms: int = 30000
    caller_id: str | None = None
    variables: tuple[tuple[str, str], ...] = ()
    action_id: str | None = None
    channel_id: str | None = None
    other_channel_id: str | None = None


App = Callable[[Channel, str], Awaitable[str | None]]


class Asterisk:
    """All state of one simulated Asterisk; the AMI server and the tests drive it."""

    def __init__(
        self, config: SimConfig, clock: Clock, dialplan: Dialplan, *, after: Asterisk | None = None
    ) -> None:
        self.config = config
        self.clock = clock
        self.speed = float(getattr(clock, "speed", 1.0))
        self.dialplan = dialplan
        self.sinks: list[EventSink] = []
        self.listeners: list[Callable[[str, bytes], None]] = []
        self.channels: dict[str, Channel] = {}
        self.device_states: dict[str, str] = {}
        # AstDB (main/db.c): (family, key) -> value. It is on disk in Asterisk, so a restarted
        # core keeps the old one's.
        self.astdb: dict[tuple[str, str], str] = after.astdb if after is not None else {}
        # [globals] of the product's extensions.conf: where answered calls reach the dialer's
        # FastAGI (an Originate's own DIALER_FASTAGI variable wins, as in Asterisk).
        self.globals: dict[str, str] = {"DIALER_FASTAGI": config.fastagi_url.rstrip("/")}
        self.queues: dict[str, Queue] = {
            name: Queue(name, timeout_s=config.queue_ring_timeout_s, retry_s=config.queue_retry_s)
            for name in config.queues
        }
        self.started_at = clock.now()
        # Uniqueids are "<epoch>.<n>" from the start time; a core started after another one
        # (a restart) starts a later epoch, so no uniqueid of the old core comes again.
        self._epoch: int = int(self.started_at)
        if after is not None:
            self._epoch = max(self._epoch, after._epoch + 1)
        self._uid = itertools.count()
        self._local = itertools.count(config.first_local_channel)
        self._bridge_ids = itertools.count(1)
        self._rng = random.Random(config.model.seed)
        self.attempts: Counter[str] = Counter()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.originates = 0
        self.calls_completed = 0
        self.events_emitted = 0
        self.apps: dict[str, App] = {
            "noop": self._app_noop,
            "answer": self._app_answer,
            "ringing": self._app_ringing,
            "wait": self._app_wait,
            "playback": self._app_playback,
            "hangup": self._app_hangup,
            "busy": self._app_busy,
            "congestion": self._app_congestion,
            "agi": self._app_agi,
            "amd": self._app_amd,
            "gotoif": self._app_gotoif,
            "goto": self._app_goto,
            "userevent": self._app_userevent,
            "set": self._app_set,
            "return": self._app_noop,
            "queue": self._app_queue,
            "dial": self._app_dial,
            "simparty": self._app_simparty,
        }

    # Events ---------------------------------------------------------------------------------
    def emit(self, name: str, privilege: str, headers: Headers) -> None:
        data = encode([("Event", name), ("Privilege", privilege), *headers])
        event_class = privilege.split(",", 1)[0]
        self.events_emitted += 1
        for sink in self.sinks:
            sink.deliver(event_class, data)
        for listener in self.listeners:
            listener(name, data)

    def channel_event(
        self, name: str, ch: Channel, extra: Headers | None = None, privilege: str = "call,all"
    ) -> None:
        self.emit(name, privilege, [*ch.fields(), *(extra or ())])

    def new_uid(self) -> str:
        return f"{self._epoch}.{next(self._uid)}"

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("simulated Asterisk task failed", exc_info=task.exception())

    async def wait(self, ch: Channel, seconds: float) -> bool:
        """Wait ``seconds`` of sim time; False if the channel was hung up meanwhile."""
        if ch.hung_up:
            return False
        if seconds <= 0:
            await asyncio.sleep(0)
            return not ch.wake.is_set()
        try:
            await asyncio.wait_for(ch.wake.wait(), seconds / self.speed)
        except TimeoutError:
            return not ch.wake.is_set()
        return False

    def set_state(self, ch: Channel, state: int) -> None:
        if ch.state == state:
            return
        ch.state = state
        self.channel_event("Newstate", ch)
        if ch.name.startswith("Local/"):
            self.device_state_change(ch.device, "INUSE")

    def device_state_change(self, device: str, state: str) -> None:
        if device.startswith("Queue:") and self.device_states.get(device) == state:
            return  # app_queue's own devices only report changes
        self.device_states[device] = state
        self.emit("DeviceStateChange", "call,all", [("Device", device), ("State", state)])
        for queue in self.queues.values():
            for member in queue.members.values():
                if member.state_interface == device:
                    status = DEVICE_STATUS.get(state, 0)
                    if member.status != status:
                        member.status = status
                        self.emit("QueueMemberStatus", "agent,all", member.event_fields())
                        self.queue_availability(queue.name)

    def queue_availability(self, name: str) -> None:
        """``Queue:<name>_avail``: NOT_INUSE while a member could take a call, else INUSE."""
        queue = self.queues[name]
        available = any(m.available for m in queue.members.values())
        self.device_state_change(f"Queue:{name}_avail", "NOT_INUSE" if available else "INUSE")

    def lookup_for(self, ch: Channel) -> Callable[[str], str]:
        """``${NAME}`` on the channel: its own variable first, then the [globals] one (pbx.c,
        pbx_retrieve_variable), so an Originate's variable overrides a global."""

        def lookup(name: str) -> str:
            cut = _SUBSTRING.fullmatch(name)
            if cut:  # ${NAME:offset[:length]} (pbx_substitute_variables' substring)
                value = lookup(cut[1])
                offset = int(cut[2])
                start = max(0, len(value) + offset if offset < 0 else offset)
                if cut[3] is None:
                    return value[start:]
                length = int(cut[3])
                return value[start : start + length] if length >= 0 else value[start:length]
            if name == "EPOCH" and name not in ch.variables:  # pbx_variables.c: now, in s
                return str(int(self.clock.now()))
            if name.startswith("STRFTIME(") and name.endswith(")"):
                return self._strftime(name[len("STRFTIME(") : -1])
            if name in ch.variables or name not in self.globals:
                return ch.lookup(name)
            return self.globals[name]

        return lookup

    def _strftime(self, data: str) -> str:
        """func_strings.c STRFTIME([epoch][,timezone[,format]]): the epoch (default now) in
        the zone (default this system's, UTC here) by the strftime format (default %c)."""
        epoch, zone, fmt = (*split_args(data), "", "")[:3]
        when = float(epoch) if epoch.strip() else self.clock.now()
        tz = ZoneInfo(zone) if zone.strip() else dt.UTC
        return dt.datetime.fromtimestamp(when, tz).strftime(fmt or "%c")

    def set_variable(self, ch: Channel, name: str, value: str) -> None:
        ch.variables[name] = value
        self.channel_event("VarSet", ch, [("Variable", name), ("Value", value)], "dialplan,all")

    # Local channel pairs ---------------------------------------------------------------------
    def new_local_pair(
        self,
        exten: str,
        context: str,
        *,
        uid1: str | None = None,
        uid2: str | None = None,
        linkedid: str | None = None,
    ) -> tuple[Channel, Channel]:
        n = next(self._local)
        now = self.clock.now()
        base = f"Local/{exten}@{context}-{n:08x}"
        one_uid = uid1 or self.new_uid()
        two_uid = uid2 or self.new_uid()
        link = linkedid or one_uid
        one = Channel(f"{base};1", one_uid, link, context, exten, state=0, created_at=now)
        two = Channel(f"{base};2", two_uid, link, context, exten, state=4, created_at=now)
        one.peer, two.peer = two, one
        self.channels[one.name] = one
        self.channels[two.name] = two
        self.channel_event("Newchannel", one)
        self.channel_event("Newchannel", two)
        return one, two

    def local_bridge(self, one: Channel, two: Channel) -> None:
        self.emit(
            "LocalBridge",
            "call,all",
            [
                *one.fields("LocalOne"),
                *two.fields("LocalTwo"),
                ("Context", two.context),
                ("Exten", two.exten),
                ("LocalOptimization", "Yes"),
            ],
        )

    def find_channel(self, name_or_uid: str) -> Channel | None:
        ch = self.channels.get(name_or_uid)
        if ch is not None:
            return ch
        return next((c for c in self.channels.values() if c.uniqueid == name_or_uid), None)

    # Hangups ---------------------------------------------------------------------------------
    def request_hangup(self, ch: Channel, cause: int, *, event: str = "HangupRequest") -> None:
        if ch.gone or ch.hangup_requested.is_set():
            return
        self.channel_event(event, ch, [("Cause", str(cause))])
        if event == "SoftHangupRequest":
            ch.soft_hangup_sent = True
        if cause and not ch.hangupcause:
            ch.hangupcause = cause
        ch.hangup_requested.set()
        ch.wake.set()

    def finish_channel(self, ch: Channel) -> None:
        """The channel is done: soft hangup (if it ran dialplan), hang up its peer, Hangup."""
        if ch.gone:
            return
        if ch.in_pbx and not ch.soft_hangup_sent:
            self.channel_event("SoftHangupRequest", ch, [("Cause", "16")])
            ch.soft_hangup_sent = True
        ch.hangup_requested.set()
        ch.wake.set()
        self._run_hangup_handlers(ch)
        peer = ch.peer
        if peer is not None and not peer.gone and peer.linked:
            self.request_hangup(peer, ch.hangupcause)
        ch.gone = True
        self.channel_event(
            "Hangup",
            ch,
            [
                ("Cause", str(ch.hangupcause)),
                ("Cause-txt", CAUSE_TEXT.get(ch.hangupcause, "Unknown")),
            ],
        )
        self.channels.pop(ch.name, None)
        if ch.name.startswith("Local/"):
            exten, _, context = ch.device.partition("/")[2].partition("@")
            exists = self.dialplan.find(context, exten) is not None
            self.device_state_change(ch.device, "NOT_INUSE" if exists else "INVALID")
        if ch.peer is not None and ch.peer.gone:
            self.calls_completed += 1

    def _run_hangup_handlers(self, ch: Channel) -> None:
        for handler in ch.hangup_handlers:
            self.channel_event("HangupHandlerRun", ch, [("Handler", handler)], "dialplan,all")
            target, _, args = handler.partition("(")
            ctx, exten, prio = [*target.split(","), "s", "1"][:3]
            arguments = args.rstrip(")").split(",") if args else []
            for i, value in enumerate(arguments, 1):
                self.set_variable(ch, f"LOCAL(ARG{i})", value)
            self.set_variable(ch, "LOCAL(ARGC)", str(len(arguments)))
            lookup = dict(ch.variables)
            for i, value in enumerate(arguments, 1):
                lookup[f"ARG{i}"] = value
            priority = int(prio)
            saved = (ch.context, ch.exten, ch.priority)
            while (step := self.dialplan.step(ctx, exten, priority)) is not None:
                data = expand(step.data, _lookup_in(lookup, self.lookup_for(ch)))
                ch.context, ch.exten, ch.priority = ctx, exten, priority
                self.channel_event(
                    "Newexten",
                    ch,
                    [("Extension", exten), ("Application", step.app), ("AppData", data)],
                    "dialplan,all",
                )
                if step.app.lower() == "set":
                    self._set(ch, data)
                if step.app.lower() == "return":
                    for name in ("ARGC", *(f"ARG{i}" for i in range(len(arguments), 0, -1))):
                        self.set_variable(ch, name, "")
                    self.set_variable(ch, "GOSUB_RETVAL", "")
                    break
                priority += 1
            ch.context, ch.exten, ch.priority = saved
        ch.hangup_handlers.clear()

    # The dialplan ----------------------------------------------------------------------------
    async def run_pbx(self, ch: Channel, context: str, exten: str, priority: int = 1) -> None:
        ch.in_pbx = True
        ch.context, ch.exten, ch.priority = context, exten, priority
        try:
            while not ch.hung_up:
                step = self.dialplan.step(ch.context, ch.exten, ch.priority)
                if step is None:
                    break
                data = expand(step.data, self.lookup_for(ch))
                ch.app, ch.appdata = step.app, data
                self.channel_event(
                    "Newexten",
                    ch,
                    [("Extension", ch.exten), ("Application", step.app), ("AppData", data)],
                    "dialplan,all",
                )
                app = self.apps.get(step.app.lower())
                if app is None:
                    log.warning("simulated dialplan: unknown application %s", step.app)
                    break
                result = await app(ch, data)
                if ch.redirect_to is not None and not ch.hangup_requested.is_set():
                    # A Redirect interrupted the application: go on where it points.
                    ch.context, ch.exten, ch.priority = ch.redirect_to
                    ch.redirect_to = None
                    ch.wake.clear()
                    continue
                if result == JUMP:
                    continue
                if result == "hangup":
                    break
                ch.priority += 1
        finally:
            self.finish_channel(ch)

    async def _app_noop(self, ch: Channel, data: str) -> str | None:
        return None

    async def _app_answer(self, ch: Channel, data: str) -> str | None:
        if ch.state != 6:
            self.set_state(ch, 6)
            self._indicate(ch, "answer")
            if ch.peer is not None and not await self.wait(ch, self.config.answer_media_wait_s):
                return "hangup"
        return None

    async def _app_ringing(self, ch: Channel, data: str) -> str | None:
        self._indicate(ch, "ringing")
        return None

    def _indicate(self, ch: Channel, what: str) -> None:
        peer = ch.peer
        if peer is not None and not peer.linked:
            if what == "answer":
                # From the answer on, a hangup of either half ends the other.
                ch.linked = peer.linked = True
            peer.dial_indication.put_nowait(what)

    async def _app_wait(self, ch: Channel, data: str) -> str | None:
        seconds = float(data or 0)
        return None if await self.wait(ch, seconds) else "hangup"

    async def _app_playback(self, ch: Channel, data: str) -> str | None:
        name = split_args(data)[0]
        seconds = SOUND_SECONDS.get(name)
        if seconds is None and name.startswith("silence/"):
            seconds = float(name.split("/", 1)[1])
        completed = await self.wait(ch, 2.0 if seconds is None else seconds)
        self.set_variable(ch, "PLAYBACKSTATUS", "SUCCESS")
        return None if completed else "hangup"

    async def _app_hangup(self, ch: Channel, data: str) -> str | None:
        cause = int(data) if data.strip().isdigit() else 16
        if not ch.hangupcause:
            ch.hangupcause = cause
        return "hangup"

    async def _app_busy(self, ch: Channel, data: str) -> str | None:
        return await self._fail_with(ch, data, 17, "busy")

    async def _app_congestion(self, ch: Channel, data: str) -> str | None:
        return await self._fail_with(ch, data, 34, "congestion")

    async def _fail_with(self, ch: Channel, data: str, cause: int, what: str) -> str | None:
        ch.hangupcause = cause
        self.set_state(ch, 7)
        self._indicate(ch, what)
        await self.wait(ch, float(data or 30))
        return "hangup"

    async def _app_gotoif(self, ch: Channel, data: str) -> str | None:
        condition, _, targets = data.partition("?")
        true_target, _, false_target = targets.partition(":")
        target = true_target if condition.strip() not in ("", "0") else false_target
        return self._jump(ch, target) if target else None

    async def _app_goto(self, ch: Channel, data: str) -> str | None:
        return self._jump(ch, data)

    def _jump(self, ch: Channel, target: str) -> str:
        """Goto's [[context,]exten,]priority|label."""
        ext = self.dialplan.find(ch.context, ch.exten)
        parts = target.split(",")
        if len(parts) == 1:
            label = parts[0]
            if ext is not None and label in ext.labels:
                ch.priority = ext.labels[label]
            else:
                ch.priority = int(label)
        else:
            ch.context, ch.exten = (
                (parts[0], parts[1]) if len(parts) == 3 else (ch.context, parts[0])
            )
            ch.priority = int(parts[-1])
        return JUMP

    async def _app_userevent(self, ch: Channel, data: str) -> str | None:
        name, *pairs = split_args(data)
        extra: Headers = [("UserEvent", name)]
        for pair in pairs:
            key, _, value = pair.partition(":")
            extra.append((key.strip(), value.strip()))
        self.channel_event("UserEvent", ch, extra, "user,all")
        return None

    async def _app_set(self, ch: Channel, data: str) -> str | None:
        self._set(ch, data)
        return None

    def _set(self, ch: Channel, data: str) -> None:
        name, _, value = data.partition("=")
        if name.startswith("DEVICE_STATE(") and name.endswith(")"):
            self.device_state_change(name[len("DEVICE_STATE(") : -1], value)
        elif name.startswith("DB(") and name.endswith(")"):
            # func_db.c: DB(family/key), split at the first '/'; a function write, so no VarSet.
            family, _, key = name[3:-1].partition("/")
            self.astdb[(family, key)] = value
        elif name == "CHANNEL(hangup_handler_push)":
            ch.hangup_handlers.append(value)
            # A dialplan-class event (03b: "Privilege: dialplan,all"), so a session reading
            # only "call" does not get it.
            self.channel_event("HangupHandlerPush", ch, [("Handler", value)], "dialplan,all")
        else:
            self.set_variable(ch, name, value)

    async def _app_amd(self, ch: Channel, data: str) -> str | None:
        peer = ch.peer
        machine = peer is not None and peer.machine
        # AMD listens ~1.7 s to a human's short greeting, ~1.9 s to a machine's long one.
        if not await self.wait(ch, 1.9 if machine else 1.7):
            self.set_variable(ch, "AMDSTATUS", "HANGUP")
            self.set_variable(ch, "AMDCAUSE", "")
            return "hangup"
        self.set_variable(ch, "AMDSTATUS", "MACHINE" if machine else "HUMAN")
        self.set_variable(ch, "AMDCAUSE", "MAXWORDS-3-2" if machine else "HUMAN-800-800")
        return None

    async def _app_agi(self, ch: Channel, data: str) -> str | None:
        url, *args = split_args(data)
        status = await run_agi(self, ch, url, args)
        self.set_variable(ch, "AGISTATUS", status)
        return "hangup" if ch.hung_up else None

    async def _app_simparty(self, ch: Channel, data: str) -> str | None:
        """The called party behind the product's trunk context, driven by the seeded model."""
        number = ch.exten
        self.attempts[number] += 1
        behaviour = self.config.model.decide(number, self.attempts[number])
        ch.party = behaviour
        kind = behaviour.kind
        if kind is PartyKind.BUSY:
            return await self._fail_with(ch, "30", 17, "busy")
        if kind in (PartyKind.CONGESTION, PartyKind.INVALID):
            return await self._fail_with(
                ch, "30", 1 if kind is PartyKind.INVALID else 34, "congestion"
            )
        self._indicate(ch, "ringing")
        if kind is PartyKind.NO_ANSWER:
            await self.wait(ch, 3600)
            return "hangup"
        if not await self.wait(ch, behaviour.ring_s):
            return "hangup"
        ch.machine = kind is PartyKind.MACHINE
        if behaviour.keys and not ch.machine:
            # Known before the answer: the caller's side starts its AGI while Answer() is still
            # waiting for media, and its first prompt must already find them.
            ch.pending_digits.extend(behaviour.keys)
        await self._app_answer(ch, "")
        if ch.machine:
            await self.wait(ch, behaviour.message_s)
            return "hangup"
        # A human waits a little for someone to speak; once an agent is on the line they talk.
        # The caller's side hanging up (the drop message played to them) ends the wait too.
        spoken = asyncio.ensure_future(ch.connected_to_agent.wait())
        gone = asyncio.ensure_future(ch.hangup_requested.wait())
        await asyncio.wait(
            (spoken, gone), timeout=behaviour.patience_s / self.speed, return_when="FIRST_COMPLETED"
        )
        for waiting in (spoken, gone):
            waiting.cancel()
        if not ch.connected_to_agent.is_set() or ch.hangup_requested.is_set():
            return "hangup"
        await self.wait(ch, behaviour.talk_s)
        return "hangup"

    # Inbound calls --------------------------------------------------------------------------
    async def inbound_call(self, caller: InboundCaller) -> Channel:
        """A call from the carrier on a DID: a trunk channel into ``[dialer-inbound]``.

        The caller hangs up after their patience unless an agent is on the line by then, and
        after their talk time once one is. Returns the channel (its dialplan runs on).
        """
        n = next(self._local)
        uid = self.new_uid()
        ch = Channel(
            f"PJSIP/{self.config.trunk_context}-{n:08x}",
            uid,
            uid,
            self.config.inbound_context,
            caller.did,
            state=4,
            caller_num=caller.caller_num,
            caller_name=caller.caller_num,
            created_at=self.clock.now(),
        )
        self.channels[ch.name] = ch
        self.channel_event("Newchannel", ch)
        ch.task = self.spawn(self.run_pbx(ch, ch.context, ch.exten, 1))
        self.spawn(self._inbound_party(ch, caller))
        return ch

    async def _inbound_party(self, ch: Channel, caller: InboundCaller) -> None:
        try:
            await asyncio.wait_for(ch.connected_to_agent.wait(), caller.patience_s / self.speed)
        except TimeoutError:
            if not ch.gone:
                ch.hangupcause = ch.hangupcause or 16
                self.request_hangup(ch, 16)
            return
        if await self.wait(ch, caller.talk_s) and not ch.gone:
            ch.hangupcause = ch.hangupcause or 16
            self.request_hangup(ch, 16)

    async def run_inbound(self, model: InboundModel, duration_s: float) -> int:
        """Place the model's arrivals for ``duration_s`` of clock time; how many came."""
        start = self.clock.now()
        placed = 0
        for at, caller in model.arrivals(start, start + duration_s):
            delay = at - self.clock.now()
            if delay > 0:
                await self.clock.sleep(delay)
            await self.inbound_call(caller)
            placed += 1
        return placed

    # Dialing a Local pair and waiting for it (Originate, Dial, Queue) -------------------------
    async def dial_local(self, one: Channel, timeout_s: float) -> str:
        """Wait for the ``;2`` side's indications: answer/busy/congestion/noanswer/hangup.

        For an agent leg (Dial, Queue) a hangup of the caller cancels the dial: ``cancel``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s / self.speed
        caller = one.dialed_by
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return "noanswer"
            getter = asyncio.ensure_future(one.dial_indication.get())
            hangup = asyncio.ensure_future(one.hangup_requested.wait())
            waiting = {getter, hangup}
            cancel = None
            if caller is not None:
                cancel = asyncio.ensure_future(caller.hangup_requested.wait())
                waiting.add(cancel)
            done, _ = await asyncio.wait(
                waiting, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            for fut in waiting:
                if fut not in done:
                    fut.cancel()
            if cancel is not None and cancel in done:
                return "cancel"
            if getter in done:
                what = getter.result()
                if what == "ringing":
                    if one.state != 5:
                        self.set_state(one, 5)
                        self._leg_progress(one)
                        self.emit(
                            "DialState",
                            "call,all",
                            [
                                *self._dial_caller(one),
                                *one.fields("Dest"),
                                ("DialStatus", "RINGING"),
                            ],
                        )
                    continue
                return what
            if hangup in done:
                return "hangup"
            if not done:
                return "noanswer"

    def _leg_progress(self, one: Channel) -> None:
        """An agent leg's first progress: its Outgoing Line step and the caller's line (03b/d)."""
        caller = one.dialed_by
        if caller is None or one.progress_reported:
            return
        one.progress_reported = True
        self.channel_event(
            "Newexten",
            one,
            [("Extension", one.exten), ("Application", one.app), ("AppData", "(Outgoing Line)")],
            "dialplan,all",
        )
        self.channel_event("NewConnectedLine", one)

    def _dial_caller(self, one: Channel) -> Headers:
        return one.dialed_by.fields() if one.dialed_by is not None else []

    def dial_end(self, one: Channel, status: str) -> None:
        self.emit(
            "DialEnd",
            "call,all",
            [*self._dial_caller(one), *one.fields("Dest"), ("DialStatus", status)],
        )

    # Originate -------------------------------------------------------------------------------
    def validate_originate(self, req: OriginateRequest) -> str | None:
        if not req.channel:
            return "Channel not specified"
        if "/" not in req.channel:
            return "Invalid channel"
        if req.application is None:
            if req.exten is not None and (req.context is None or req.priority is None):
                return "Originate with 'Exten' requires 'Context' and 'Priority'"
            if (
                req.context is not None
                and req.exten is not None
                and self.dialplan.step(req.context, req.exten, req.priority or 1) is None
            ):
                return "Extension does not exist."
        return None

    async def originate(
        self, req: OriginateRequest, on_result: Callable[[bool], None] | None = None
    ) -> None:
        """Place the call. ``on_result`` (sync Originate) is told success or failure at once."""
        self.originates += 1
        tech, _, dest = req.channel.partition("/")
        target = req.application is None
        response_tail: Headers
        if target:
            response_tail = [("Context", req.context or ""), ("Exten", req.exten or "")]
        else:
            response_tail = [("Application", req.application or ""), ("Data", req.data)]
        num, name = parse_caller_id(req.caller_id) if req.caller_id else ("<unknown>", "<unknown>")

        def respond(success: bool, reason: int, channel: str, uniqueid: str) -> None:
            if on_result is not None:
                on_result(success)
                return
            headers: Headers = []
            if req.action_id is not None:
                headers.append(("ActionID", req.action_id))
            headers += [
                ("Response", "Success" if success else "Failure"),
                ("Channel", channel),
                *response_tail,
                ("Reason", str(reason)),
                ("Uniqueid", uniqueid),
                ("CallerIDNum", num),
                ("CallerIDName", name),
            ]
            self.emit("OriginateResponse", "call,all", headers)

        failed_uid = req.channel_id or "<unknown>"
        if tech.lower() != "local" or "@" not in dest:
            respond(False, 0, req.channel, failed_uid)
            return
        exten, _, context = dest.partition("@")
        one, two = self.new_local_pair(
            exten, context, uid1=req.channel_id, uid2=req.other_channel_id
        )
        self.channel_event(
            "Newexten",
            one,
            [("Extension", exten), ("Application", "AppDial2"), ("AppData", "(Outgoing Line)")],
            "dialplan,all",
        )
        for key, value in reversed(req.variables):
            self.set_variable(one, key, value)
        if req.caller_id:
            one.caller_num, one.caller_name = num, name
            self.channel_event(
                "NewCallerid", one, [("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")]
            )
            one.connected_num, one.connected_name = num, name
            self.channel_event("NewConnectedLine", one)
        for key, value in req.variables:
            self.set_variable(two, key, value)
        if req.caller_id:
            two.caller_num, two.caller_name = num, name
            two.connected_num, two.connected_name = num, name
            self.channel_event(
                "NewCallerid", two, [("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")]
            )
            self.channel_event("NewConnectedLine", two)
        if self.dialplan.find(context, exten) is None:
            two.in_pbx = False
            self.finish_channel(two)
            respond(False, 0, req.channel, failed_uid)
            self.finish_channel(one)
            return
        self.local_bridge(one, two)
        self.emit("DialBegin", "call,all", [*one.fields("Dest"), ("DialString", dest)])
        if exten.startswith("5") and context == "sim-pstn":
            two.machine = True  # the lab's 5XXX numbers are answering machines
        two.task = self.spawn(self.run_pbx(two, context, exten, 1))
        result = await self.dial_local(one, req.timeout_ms / 1000)
        if result == "answer":
            one.linked = two.linked = True
            respond(True, 4, one.name, one.uniqueid)
            self.set_state(one, 6)
            self.dial_end(one, "ANSWER")
            if target:
                await self.run_pbx(one, req.context or "", req.exten or "", req.priority or 1)
            else:
                app = self.apps.get((req.application or "").lower())
                if app is not None:
                    one.app, one.appdata = req.application or "", req.data
                    await app(one, req.data)
                self.finish_channel(one)
            return
        if result in ("busy", "congestion"):
            self.dial_end(one, result.upper())
            self.request_hangup(two, 0)
            if two.task is not None:
                await two.task
            respond(False, 5 if result == "busy" else 8, req.channel, failed_uid)
            self.finish_channel(one)
            return
        if result == "noanswer":
            self.request_hangup(two, 19)
            respond(False, 3, req.channel, failed_uid)
            if two.task is not None:
                await two.task
            one.hangupcause = 19
            self.finish_channel(one)
            return
        # The called side hung up before answering (AST_CONTROL_HANGUP).
        self.dial_end(one, "CANCEL")
        if two.task is not None:
            await two.task
        respond(False, 1, req.channel, failed_uid)
        self.finish_channel(one)

    # Dial and Queue: connecting a channel to an agent phone ----------------------------------
    def _bridge(self, a: Channel, b: Channel) -> str:
        bridge_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        base = [
            ("BridgeUniqueid", bridge_id),
            ("BridgeType", "basic"),
            ("BridgeTechnology", "simple_bridge"),
            ("BridgeCreator", "<unknown>"),
            ("BridgeName", "<unknown>"),
        ]
        self.emit(
            "BridgeCreate",
            "call,all",
            [*base, ("BridgeNumChannels", "0"), ("BridgeVideoSourceMode", "none")],
        )
        for n, ch in enumerate((b, a), 1):
            ch.bridge_id = bridge_id
            self.emit(
                "BridgeEnter",
                "call,all",
                [
                    *base,
                    ("BridgeNumChannels", str(n)),
                    ("BridgeVideoSourceMode", "none"),
                    *ch.fields(),
                ],
            )
        a.bridged_to, b.bridged_to = b, a
        self.set_variable(b, "BRIDGEPEER", a.name)
        self.set_variable(a, "BRIDGEPEER", b.name)
        # The called party (the far half of the caller's Local pair) now hears an agent.
        for far in (a.peer or a, b.peer or b):
            far.connected_to_agent.set()
        return bridge_id

    def _unbridge(self, a: Channel, b: Channel, bridge_id: str, after_caller: Headers) -> None:
        base = [
            ("BridgeUniqueid", bridge_id),
            ("BridgeType", "basic"),
            ("BridgeTechnology", "simple_bridge"),
            ("BridgeCreator", "<unknown>"),
            ("BridgeName", "<unknown>"),
        ]
        self.set_variable(a, "BRIDGEPEER", "")
        self.set_variable(b, "BRIDGEPEER", "")
        for n, ch in ((1, a), (0, b)):
            self.emit(
                "BridgeLeave",
                "call,all",
                [
                    *base,
                    ("BridgeNumChannels", str(n)),
                    ("BridgeVideoSourceMode", "none"),
                    *ch.fields(),
                ],
            )
            ch.bridge_id = ""
            ch.bridged_to = None
            if ch is a:
                for name, value in after_caller:
                    self.set_variable(a, name, value)
        self.emit(
            "BridgeDestroy",
            "call,all",
            [*base, ("BridgeNumChannels", "0"), ("BridgeVideoSourceMode", "none")],
        )

    def _start_agent_leg(
        self, caller: Channel, interface: str, app_name: str
    ) -> tuple[Channel, Channel] | None:
        tech, _, dest = interface.partition("/")
        exten, _, context = dest.partition("@")
        if tech.lower() != "local" or self.dialplan.find(context, exten) is None:
            return None
        one, two = self.new_local_pair(exten, context, linkedid=caller.linkedid)
        one.dialed_by = caller
        # CoreShowChannel/Status of a dialed leg: its application's data is "(Outgoing Line)".
        one.app, one.appdata = app_name, "(Outgoing Line)"
        one.caller_num, one.caller_name = caller.caller_num, caller.caller_name
        self.channel_event(
            "Newexten",
            one,
            [("Extension", exten), ("Application", app_name), ("AppData", "(Outgoing Line)")],
            "dialplan,all",
        )
        cid = [("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")]
        self.channel_event("NewCallerid", one, cid)
        self.set_variable(one, "DIALEDPEERNUMBER", dest)
        self.set_variable(two, "DIALEDPEERNUMBER", dest)
        two.caller_num, two.caller_name = caller.caller_num, caller.caller_name
        two.connected_num, two.connected_name = caller.caller_num, caller.caller_name
        self.channel_event("NewCallerid", two, cid)
        self.channel_event("NewConnectedLine", two)
        self.local_bridge(one, two)
        one.connected_num, one.connected_name = caller.caller_num, caller.caller_name
        return one, two

    def _leg_dialed(self, one: Channel, caller: Channel, dial_string: str) -> None:
        """DialBegin for an agent leg; from then on the outgoing half reports the caller's
        extension (03b, 03d: Newstate and later events say ``Exten: queue``)."""
        dest = one.fields("Dest")
        if one.app == "AppQueue":
            # app_queue publishes DialBegin with the member leg's connected line not yet set
            # (03b, 03d: DestConnectedLine* <unknown>), though AgentCalled just before and
            # everything after show the caller's. app_dial was not recorded: left as it is.
            dest = [
                (k, UNKNOWN) if k in ("DestConnectedLineNum", "DestConnectedLineName") else (k, v)
                for k, v in dest
            ]
        self.emit("DialBegin", "call,all", [*caller.fields(), *dest, ("DialString", dial_string)])
        one.exten = caller.exten

    async def _talk(self, caller: Channel, agent: Channel) -> tuple[str, str]:
        """Bridge caller and agent leg until one hangs up: (who hung up first, bridge id)."""
        bridge_id = self._bridge(caller, agent)
        a = asyncio.ensure_future(caller.hangup_requested.wait())
        b = asyncio.ensure_future(agent.hangup_requested.wait())
        done, pending = await asyncio.wait({a, b}, return_when=asyncio.FIRST_COMPLETED)
        for fut in pending:
            fut.cancel()
        return ("caller" if a in done else "agent"), bridge_id

    def _end_agent_leg(self, one: Channel) -> None:
        """Hang up an agent leg the caller's Dial/Queue owns (its ;2 hears cause 16)."""
        if not one.hangupcause:
            one.hangupcause = 16
        self.finish_channel(one)

    async def _app_dial(self, ch: Channel, data: str) -> str | None:
        args = split_args(data)
        interface = args[0]
        timeout = float(args[1]) if len(args) > 1 and args[1] else 60.0
        started = self.clock.now()
        leg = self._start_agent_leg(ch, interface, "AppDial")
        if leg is None:
            self.set_variable(ch, "DIALSTATUS", "CHANUNAVAIL")
            return None
        one, two = leg
        self._leg_dialed(one, ch, interface.partition("/")[2])
        two.task = self.spawn(self.run_pbx(two, two.context, two.exten, 1))
        result = await self.dial_local(one, timeout)
        if result != "answer":
            status = {"busy": "BUSY", "congestion": "CONGESTION", "noanswer": "NOANSWER"}.get(
                result, "CANCEL"
            )
            if ch.hung_up:
                status = "CANCEL"
            self._cancel_agent_leg(one, two, status, hangup_reports_cancel=False)
            self.set_variable(ch, "DIALSTATUS", status)
            return "hangup" if ch.hung_up else None
        one.linked = two.linked = True
        self.set_state(one, 6)
        self._leg_progress(one)
        self.dial_end(one, "ANSWER")
        answered = self.clock.now()
        _, bridge_id = await self._talk(ch, one)
        self._unbridge(ch, one, bridge_id, self._call_times(answered, started))
        self._end_agent_leg(one)
        self.set_variable(ch, "DIALSTATUS", "ANSWER")
        return "hangup" if ch.hung_up else None

    def _call_times(self, answered: float, started: float) -> Headers:
        now = self.clock.now()
        answered_ms = int((now - answered) * 1000)
        dialed_ms = int((now - started) * 1000)
        return [
            ("ANSWEREDTIME", str(answered_ms // 1000)),
            ("ANSWEREDTIME_MS", str(answered_ms)),
            ("DIALEDTIME", str(dialed_ms // 1000)),
            ("DIALEDTIME_MS", str(dialed_ms)),
        ]

    def _cancel_agent_leg(
        self, one: Channel, two: Channel, status: str, *, hangup_reports_cancel: bool = True
    ) -> None:
        """A leg that was not answered: DialEnd with the status, then CANCEL as it is torn
        down, and its ;2 is told with cause 0. app_queue's hangupcalls() reports that CANCEL
        (03d); app_dial's hanguptree() does not, so Dial reports its status once."""
        self.dial_end(one, status)
        if hangup_reports_cancel:
            self.dial_end(one, "CANCEL")
        self.request_hangup(two, 0)
        self.finish_channel(one)

    async def _app_queue(self, ch: Channel, data: str) -> str | None:
        args = split_args(data)
        queue = self.queues.get(args[0])
        if queue is None:
            self.set_variable(ch, "QUEUESTATUS", "UNKNOWN")
            return None
        max_wait = float(args[4]) if len(args) > 4 and args[4] else 0.0
        for name in (
            "ANSWEREDTIME",
            "ANSWEREDTIME_MS",
            "DIALEDTIME",
            "DIALEDTIME_MS",
            "QUEUEWAIT",
            "QUEUEWAIT_MS",
        ):
            self.set_variable(ch, name, "")
        joined = self.clock.now()
        caller = QueueCaller(ch, joined, len(queue.callers) + 1)
        queue.callers.append(caller)
        ch.queue_caller = caller
        self.device_state_change(f"Queue:{queue.name}", "RINGING")
        self.channel_event(
            "QueueCallerJoin",
            ch,
            [
                ("Queue", queue.name),
                ("Position", str(queue.position(caller))),
                ("Count", str(len(queue.callers))),
            ],
            "agent,all",
        )
        self.channel_event("MusicOnHoldStart", ch, [("Class", "default")])
        status = "TIMEOUT"
        try:
            while not ch.hung_up:
                waited = self.clock.now() - joined
                if max_wait and waited >= max_wait:
                    break
                member = queue.next_member() if queue.position(caller) == 1 else None
                if member is None:
                    if not await self.wait(ch, 0.5):
                        break
                    continue
                outcome = await self._ring_member(ch, queue, caller, member, joined)
                if outcome == "connected":
                    status = "CONNECTED"
                    break
                if not await self.wait(ch, queue.retry_s):
                    break
            if status != "CONNECTED":
                if not ch.moh_stopped:
                    self.channel_event("MusicOnHoldStop", ch)
                left_at = self.clock.now()  # one reading: HoldTime and QUEUEWAIT_MS agree
                held = int(left_at - joined)
                if ch.hung_up:
                    status = "ABANDON"
                    queue.abandoned += 1
                    waited_ms = int((left_at - joined) * 1000)
                    dialed_ms = int((left_at - ch.created_at) * 1000)
                    for name, value in (
                        ("QUEUEWAIT", str(waited_ms // 1000)),
                        ("QUEUEWAIT_MS", str(waited_ms)),
                        ("DIALEDTIME", str(dialed_ms // 1000)),
                        ("DIALEDTIME_MS", str(dialed_ms)),
                        ("ANSWEREDTIME", "0"),
                        ("ANSWEREDTIME_MS", "0"),
                        ("ABANDONED", "TRUE"),
                    ):
                        self.set_variable(ch, name, value)
                    self.channel_event(
                        "QueueCallerAbandon",
                        ch,
                        [
                            ("Queue", queue.name),
                            ("Position", str(queue.position(caller))),
                            ("OriginalPosition", str(caller.original_position)),
                            ("HoldTime", str(held)),
                        ],
                        "agent,all",
                    )
                self._leave(queue, caller)
                self.set_variable(ch, "QUEUEPOSITION", str(caller.original_position))
        finally:
            if caller in queue.callers:
                self._leave(queue, caller)
            ch.queue_caller = None
        if ch.hung_up:
            return "hangup"
        self.set_variable(ch, "QUEUESTATUS", status)
        return None

    def _leave(self, queue: Queue, caller: QueueCaller) -> None:
        position = queue.position(caller)
        queue.callers.remove(caller)
        if not queue.callers:
            self.device_state_change(f"Queue:{queue.name}", "NOT_INUSE")
        self.channel_event(
            "QueueCallerLeave",
            caller.channel,
            [
                ("Queue", queue.name),
                ("Position", str(position)),
                ("Count", str(len(queue.callers))),
            ],
            "agent,all",
        )

    async def _ring_member(
        self, ch: Channel, queue: Queue, caller: QueueCaller, member: Member, joined: float
    ) -> str:
        member.last_rung = self.clock.now()
        leg = self._start_agent_leg(ch, member.interface, "AppQueue")
        if leg is None:
            return "failed"
        one, two = leg
        member_fields = [
            ("Queue", queue.name),
            ("Interface", member.interface),
            ("MemberName", member.name),
        ]
        # AgentCalled already shows the caller's extension on the member's leg; DialBegin,
        # sent after it, still the member's own (03b).
        own_exten, one.exten = one.exten, ch.exten
        self.emit("AgentCalled", "agent,all", [*ch.fields(), *one.fields("Dest"), *member_fields])
        one.exten = own_exten
        self._leg_dialed(one, ch, member.interface)
        rang_at = self.clock.now()
        two.task = self.spawn(self.run_pbx(two, two.context, two.exten, 1))
        result = await self.dial_local(one, queue.timeout_s)
        if result == "cancel":
            self.channel_event("MusicOnHoldStop", ch)
            ch.moh_stopped = True
        if result != "answer" or ch.hung_up:
            if result == "noanswer":
                self.emit(
                    "AgentRingNoAnswer",
                    "agent,all",
                    [
                        *ch.fields(),
                        *one.fields("Dest"),
                        *member_fields,
                        ("RingTime", str(int(queue.timeout_s * 1000))),
                    ],
                )
            self._cancel_agent_leg(one, two, "NOANSWER" if result == "noanswer" else "CANCEL")
            return "failed"
        one.linked = two.linked = True
        self.set_state(one, 6)
        self._leg_progress(one)
        self.dial_end(one, "ANSWER")
        self.channel_event("MusicOnHoldStop", ch)
        self._leave(queue, caller)
        hold = int(self.clock.now() - joined)
        self.set_variable(ch, "QUEUEPOSITION", "1")
        self.set_variable(ch, "QUEUEWAIT", str(hold))
        self.set_variable(ch, "QUEUEWAIT_MS", str(hold * 1000))
        ring = int(self.clock.now() - rang_at)
        self.emit(
            "AgentConnect",
            "agent,all",
            [
                *ch.fields(),
                *one.fields("Dest"),
                *member_fields,
                ("HoldTime", str(hold)),
                ("RingTime", str(ring)),
            ],
        )
        member.in_call = True
        connected = self.clock.now()
        who, bridge_id = await self._talk(ch, one)
        talk = int(self.clock.now() - connected)
        member.in_call = False
        member.calls_taken += 1
        member.last_call = int(self.clock.now())
        queue.completed += 1
        queue.holdtime_total += hold
        queue.talktime_total += talk
        self.emit(
            "AgentComplete",
            "agent,all",
            [
                *ch.fields(),
                *one.fields("Dest"),
                *member_fields,
                ("HoldTime", str(hold)),
                ("TalkTime", str(talk)),
                ("Reason", who),
            ],
        )
        self._unbridge(ch, one, bridge_id, self._call_times(connected, ch.created_at))
        self._end_agent_leg(one)
        return "connected"

    # Queue members (AMI actions) -------------------------------------------------------------
    def member_fields_event(self, name: str, member: Member) -> None:
        self.emit(name, "agent,all", member.event_fields())

    async def shutdown(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(BaseException):
                await task
