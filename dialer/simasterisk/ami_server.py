"""The simulated Asterisk's AMI server: sessions, login, and the actions the dialer uses.

Replies use Asterisk 22's exact wording (transcripts 01-04). Events are written in batches, one
``transport.write`` per loop iteration per session, so a burst of originates does not cost a
system call per event.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import random
import re
from collections.abc import Awaitable, Callable
from typing import Any

from ami.codec import Message, Parser, ProtocolError, encode
from dialer.simasterisk.core import Asterisk, OriginateRequest
from dialer.simasterisk.queues import DEVICE_STATUS, Member, Queue

log = logging.getLogger(__name__)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
EVENT_CLASSES = {
    "system",
    "call",
    "log",
    "verbose",
    "command",
    "agent",
    "user",
    "config",
    "dtmf",
    "reporting",
    "cdr",
    "dialplan",
    "originate",
    "agi",
    "cc",
    "aoc",
    "test",
    "security",
    "message",
}
Fields = list[tuple[str, str]]


def _event_mask(value: str | None) -> set[str] | None:
    """None: all events; an empty set: none; else the classes named."""
    if value is None:
        return None
    text = value.strip().lower()
    if text in ("on", "yes", "true", "1", "all"):
        return None
    if text in ("off", "no", "false", "0", ""):
        return set()
    # manager.c get_perm(): unknown class names add nothing, so "bogus" means Events: Off.
    return {c.strip() for c in text.split(",")} & EVENT_CLASSES


def queue_show(queue: Queue, now: float) -> list[str]:
    """The CLI's ``queue show <name>`` lines, as Asterisk 22 prints them (04b)."""
    done = queue.completed
    hold = round(queue.holdtime_total / done) if done else 0
    talk = round(queue.talktime_total / done) if done else 0
    total = done + queue.abandoned
    level = 100.0 * done / total if total else 0.0
    lines = [
        f"{queue.name} has {len(queue.callers)} calls (max unlimited) in '{queue.strategy}' "
        f"strategy ({hold}s holdtime, {talk}s talktime), W:0, C:{done}, A:{queue.abandoned}, "
        f"SL:{level:.1f}%, SL2:{level:.1f}% within 0s"
    ]
    if queue.members:
        lines.append("   Members: ")
        for m in queue.members.values():
            state = "paused" if m.paused else ("In use" if m.in_call else "Not in use")
            lines.append(f"      {m.name} ({m.interface}) with penalty {m.penalty} ({state})")
    else:
        lines.append("   No Members")
    if queue.callers:
        lines.append("   Callers: ")
        for pos, caller in enumerate(queue.callers, 1):
            wait = int(now - caller.joined_at)
            lines.append(f"      {pos}. {caller.channel.name} (wait: {wait // 60}:{wait % 60:02d})")
    else:
        lines.append("   No Callers")
    lines.append("")
    return lines


_LEADING_INT = re.compile(r"\s*([+-]?\d+)")


def scan_int(text: str) -> int | None:
    """Asterisk's ``sscanf(text, "%30d", ...)``: a leading integer, or None."""
    match = _LEADING_INT.match(text)
    return int(match.group(1)) if match else None


class Session:
    def __init__(self, server: AMIServer, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.writer = writer
        self.authenticated = False
        self.username = ""
        self.mask: set[str] | None = set()
        self.challenge: str | None = None
        self.hold = 0  # > 0 while a synchronous Originate blocks this session
        self.held: list[bytes] = []
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self.session_id = f"0x{random.getrandbits(44):x}"
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        local = writer.get_extra_info("sockname") or ("127.0.0.1", 0)
        self.remote = f"IPV4/TCP/{peer[0]}/{peer[1]}"
        self.local = f"IPV4/TCP/{local[0]}/{local[1]}"
        self.closed = False

    def deliver(self, event_class: str, data: bytes) -> None:
        if not self.authenticated or self.closed:
            return
        if self.mask is not None and event_class not in self.mask:
            return
        if self.hold:
            self.held.append(data)
        else:
            self.write(data)

    def write(self, data: bytes) -> None:
        self._out.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._out and not self.closed:
            self.writer.write(b"".join(self._out))
        self._out.clear()

    def release(self) -> None:
        self.hold -= 1
        if self.hold == 0 and self.held:
            for data in self.held:
                self.write(data)
            self.held.clear()

    def reply(
        self, action: Message, response: str = "Success", fields: Fields | None = None
    ) -> None:
        headers: Fields = [("Response", response)]
        if action.action_id is not None:
            headers.append(("ActionID", action.action_id))
        headers.extend(fields or ())
        self.write(encode(headers))

    def error(self, action: Message, message: str) -> None:
        self.reply(action, "Error", [("Message", message)])

    def close(self) -> None:
        self._flush()
        self.closed = True
        self.writer.close()


Handler = Callable[[Session, Message], Awaitable[None] | None]


class AMIServer:
    def __init__(self, ast: Asterisk, host: str, port: int, username: str, secret: str) -> None:
        self.ast = ast
        self.host = host
        self.port = port
        self.username = username
        self.secret = secret
        self.sessions: list[Session] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.handlers: dict[str, Handler] = {
            "login": self.login,
            "challenge": self.challenge,
            "logoff": self.logoff,
            "ping": self.ping,
            "events": self.events,
            "originate": self.originate,
            "hangup": self.hangup,
            "redirect": self.redirect,
            "getvar": self.getvar,
            "setvar": self.setvar,
            "status": self.status,
            "coreshowchannels": self.core_show_channels,
            "queueadd": self.queue_add,
            "queueremove": self.queue_remove,
            "queuepause": self.queue_pause,
            "queuestatus": self.queue_status,
            "queuesummary": self.queue_summary,
            "command": self.command,
            "userevent": self.user_event,
            "corestatus": self.core_status,
            "coresettings": self.core_settings,
            "extensionstate": self.extension_state,
            "devicestatelist": self.device_state_list,
            "dbget": self.db_get,
            "dbgettree": self.db_get_tree,
        }

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.close()
        # Closed sockets end each session's read loop; wait for them rather than cancel them
        # (a cancelled connection callback is logged as an error by asyncio), but bounded: a
        # session blocked in a synchronous Originate is cancelled after a moment.
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=1.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    def drop_all(self) -> None:
        """Abort every session, as an Asterisk restart would (for reconnect tests)."""
        for session in list(self.sessions):
            session.closed = True
            session.writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(self, writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self.sessions.append(session)
        self.ast.sinks.append(session)
        writer.write(BANNER)
        parser = Parser(expect_banner=False)
        try:
            while not session.closed:
                data = await reader.read(65536)
                if not data:
                    break
                for action in parser.feed(data):
                    assert isinstance(action, Message)
                    await self._dispatch(session, action)
        except (ConnectionError, OSError, ProtocolError, asyncio.CancelledError):
            pass
        finally:
            session.closed = True
            with contextlib.suppress(ValueError):
                self.sessions.remove(session)
            with contextlib.suppress(ValueError):
                self.ast.sinks.remove(session)
            writer.close()

    async def _dispatch(self, session: Session, action: Message) -> None:
        name = (action.get("Action") or "").strip().lower()
        if not name:
            # manager.c process_message(): no (or an empty) Action header, checked before the
            # login; the security event is queued, so it follows the reply on the wire (01).
            session.error(action, "Missing action in request")
            self._security(session, "RequestBadFormat", "Error", [("RequestType", "NONE")])
            return
        if not session.authenticated and name not in ("login", "challenge", "logoff"):
            session.error(action, "Permission denied")
            return
        handler = self.handlers.get(name)
        if handler is None:
            session.error(
                action,
                f"Invalid/unknown command: {action.name}. "
                "Use Action: ListCommands to show available commands.",
            )
            self._security(
                session, "RequestBadFormat", "Error", [("RequestType", f"Action: {action.name}")]
            )
            return
        try:
            result = handler(session, action)
            if result is not None:
                await result
        except Exception:  # a simulator bug or an input we do not model: keep the session
            log.exception("simulated AMI: %s failed", action.name)
            session.error(action, f"Failed to process {action.name}")

    def _now_tv(self) -> str:
        now = dt.datetime.fromtimestamp(self.ast.clock.now(), dt.UTC)
        return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"

    def _security(
        self, session: Session, event: str, severity: str, extra: Fields, version: str = "1"
    ) -> None:
        tv = self._now_tv()
        headers: Fields = [
            ("EventTV", tv),
            ("Severity", severity),
            ("Service", "AMI"),
            ("EventVersion", version),
        ]
        if event != "RequestBadFormat":
            headers.append(("AccountID", session.username or self.username))
        headers += [
            ("SessionID", session.session_id),
            ("LocalAddress", session.local),
            ("RemoteAddress", session.remote),
        ]
        headers += extra
        headers.append(
            ("SessionTV", tv if event != "InvalidPassword" else "1970-01-01T00:00:00.000+0000")
        )
        if event == "RequestBadFormat":
            headers.append(("AccountID", session.username))
        self.ast.emit(event, "security,all", headers)

    # Session actions -------------------------------------------------------------------------
    async def login(self, session: Session, action: Message) -> None:
        user = action.get("Username") or ""
        if (action.get("AuthType") or "").lower() == "md5":
            expected = hashlib.md5(((session.challenge or "") + self.secret).encode()).hexdigest()
            ok = user == self.username and action.get("Key") == expected
        else:
            ok = user == self.username and action.get("Secret") == self.secret
        if not ok:
            session.username = user
            # Only the *other* sessions hear of it; this one is not logged in.
            self._security(session, "InvalidPassword", "Error", [], version="2")
            await self.ast.clock.sleep(self.ast.config.login_failure_delay_s)
            session.error(action, "Authentication failed")
            session.close()
            return
        session.username = user
        session.authenticated = True
        session.mask = _event_mask(action.get("Events"))
        session.reply(action, fields=[("Message", "Authentication accepted")])
        uptime = str(int(self.ast.clock.now() - self.ast.started_at))
        session.deliver(
            "system",
            encode(
                [
                    ("Event", "FullyBooted"),
                    ("Privilege", "system,all"),
                    ("Uptime", uptime),
                    ("LastReload", uptime),
                    ("Status", "Fully Booted"),
                ]
            ),
        )
        self._security(session, "SuccessfulAuth", "Informational", [("UsingPassword", "0")])

    def challenge(self, session: Session, action: Message) -> None:
        session.challenge = self.ast.config.challenge or str(random.randrange(10**8, 10**9))
        session.reply(action, fields=[("Challenge", session.challenge)])

    def logoff(self, session: Session, action: Message) -> None:
        session.reply(action, "Goodbye", [("Message", "Thanks for all the fish.")])
        session.close()

    def ping(self, session: Session, action: Message) -> None:
        session.reply(
            action, fields=[("Ping", "Pong"), ("Timestamp", f"{self.ast.clock.now():.6f}")]
        )

    def events(self, session: Session, action: Message) -> None:
        session.mask = _event_mask(action.get("EventMask"))
        session.reply(action, fields=[("Events", "Off" if session.mask == set() else "On")])

    # Calls -----------------------------------------------------------------------------------
    async def originate(self, session: Session, action: Message) -> None:
        variables: list[tuple[str, str]] = []
        for header in action.get_all("Variable"):
            for pair in header.split(","):
                key, _, value = pair.partition("=")
                if key:
                    variables.append((key, value))
        priority = action.get("Priority")
        try:
            timeout = int(action.get("Timeout") or 30000)
        except ValueError:
            timeout = 30000
        req = OriginateRequest(
            channel=action.get("Channel") or "",
            context=action.get("Context"),
            exten=action.get("Exten"),
            priority=int(priority) if priority and priority.isdigit() else None,
            application=action.get("Application"),
            data=action.get("Data") or "",
            timeout_ms=timeout,
            caller_id=action.get("CallerID"),
            variables=tuple(variables),
            action_id=action.action_id,
            channel_id=action.get("ChannelId"),
            other_channel_id=action.get("OtherChannelId"),
        )
        problem = self.ast.validate_originate(req)
        if problem is not None:
            session.error(action, problem)
            return
        is_async = (action.get("Async") or "").lower() in ("true", "yes", "1")
        if is_async:
            session.reply(action, fields=[("Message", "Originate successfully queued")])
            self.ast.spawn(self.ast.originate(req))
            return
        # Synchronous: the session waits; that call's events reach it after the response.
        session.hold += 1
        answered: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def on_result(success: bool) -> None:
            if not answered.done():
                answered.set_result(success)

        call = self.ast.spawn(self.ast.originate(req, on_result=on_result))
        call.add_done_callback(lambda _: on_result(False))
        try:
            if await answered:
                session.reply(action, fields=[("Message", "Originate successfully queued")])
            else:
                session.error(action, "Originate failed")
        finally:
            session.release()

    def hangup(self, session: Session, action: Message) -> None:
        ch = self.ast.find_channel(action.get("Channel") or "")
        if ch is None:
            session.error(action, "No such channel")
            return
        cause = action.get("Cause")
        ch.hangupcause = int(cause) if cause and cause.isdigit() else 16
        session.reply(action, fields=[("Message", "Channel Hungup")])
        # Whoever runs the channel (its dialplan, an Originate or a Dial) sees the request and
        # finishes it, which hangs up the other Local half too.
        self.ast.request_hangup(ch, 16, event="SoftHangupRequest")

    def redirect(self, session: Session, action: Message) -> None:
        name = action.get("Channel") or ""
        priority = scan_int(action.get("Priority") or "1")
        if priority is None:
            # manager.c action_redirect(): checked before the channel (no labels here).
            session.error(action, "Invalid priority")
            return
        ch = self.ast.find_channel(name)
        if ch is None:
            session.error(action, f"Channel does not exist: {name}")
            return
        session.reply(action, fields=[("Message", "Redirect successful")])
        ch.redirect_to = (
            action.get("Context") or ch.context,
            action.get("Exten") or ch.exten,
            priority,
        )
        ch.wake.set()

    def getvar(self, session: Session, action: Message) -> None:
        variable = action.get("Variable")
        if not variable:
            session.error(action, "No variable specified")
            return
        channel = action.get("Channel")
        if channel:
            ch = self.ast.find_channel(channel)
            if ch is None:
                session.error(action, "No such channel")
                return
            value = ch.lookup(variable)
        else:
            value = self.ast.globals.get(variable, "")
        session.reply(action, fields=[("Variable", variable), ("Value", value)])

    def setvar(self, session: Session, action: Message) -> None:
        variable = action.get("Variable")
        if not variable:
            session.error(action, "No variable specified")
            return
        value = action.get("Value") or ""
        channel = action.get("Channel")
        if variable.startswith("DEVICE_STATE(") and variable.endswith(")"):
            session.reply(action, fields=[("Message", "Variable Set")])
            device = variable[len("DEVICE_STATE(") : -1]
            # Custom devices start NOT_INUSE; setting the state a device has changes nothing.
            if self.ast.device_states.get(device, "NOT_INUSE") != value:
                self.ast.device_state_change(device, value)
            return
        if channel:
            ch = self.ast.find_channel(channel)
            if ch is None:
                session.error(action, "No such channel")
                return
            session.reply(action, fields=[("Message", "Variable Set")])
            self.ast.set_variable(ch, variable, value)
            return
        self.ast.globals[variable] = value
        session.reply(action, fields=[("Message", "Variable Set")])
        self.ast.emit(
            "VarSet",
            "dialplan,all",
            [
                ("Channel", "none"),
                ("Uniqueid", "none"),
                ("Variable", variable),
                ("Value", value),
            ],
        )

    def _duration(self, created: float) -> str:
        seconds = int(max(0.0, self.ast.clock.now() - created))
        return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

    def core_show_channels(self, session: Session, action: Message) -> None:
        aid = action.action_id or ""
        session.reply(action, fields=[("EventList", "start"), ("Message", "Channels will follow")])
        channels = sorted(self.ast.channels.values(), key=lambda c: c.name)
        for ch in channels:
            fields = ch.fields()
            session.write(
                encode(
                    [
                        ("Event", "CoreShowChannel"),
                        ("ActionID", aid),
                        *fields,
                        ("Application", ch.app),
                        ("ApplicationData", ch.appdata),
                        ("Duration", self._duration(ch.created_at)),
                        ("BridgeId", ch.bridge_id),
                    ]
                )
            )
        session.write(
            encode(
                [
                    ("Event", "CoreShowChannelsComplete"),
                    ("ActionID", aid),
                    ("EventList", "Complete"),
                    ("ListItems", str(len(channels))),
                ]
            )
        )

    # AstDB (main/db.c: manager_dbget, manager_db_tree_get) ---------------------------------
    def db_get(self, session: Session, action: Message) -> None:
        """A list of one: the ack, DBGetResponse (ActionID last, as db.c appends it), then
        DBGetComplete; a missing key is an error, not an empty list."""
        family, key = action.get("Family") or "", action.get("Key") or ""
        if not family:
            session.error(action, "No family specified.")
            return
        if not key:
            session.error(action, "No key specified.")
            return
        value = self.ast.astdb.get((family, key))
        if value is None:
            session.error(action, "Database entry not found")
            return
        session.reply(action, fields=[("EventList", "start"), ("Message", "Result will follow")])
        aid: Fields = [("ActionID", action.action_id)] if action.action_id else []
        session.write(
            encode(
                [("Event", "DBGetResponse"), ("Family", family), ("Key", key), ("Val", value), *aid]
            )
        )
        session.write(
            encode(
                [("Event", "DBGetComplete"), *aid, ("EventList", "Complete"), ("ListItems", "1")]
            )
        )

    def db_get_tree(self, session: Session, action: Message) -> None:
        """main/db.c manager_db_tree_get: the entries whose full key is ``/family[/key]`` or
        under it, in key order (Key is the full key; no Family header, ActionID last), then
        DBGetTreeComplete; no family lists the whole database, and none found is an empty
        list, not an error."""
        family, key = action.get("Family") or "", action.get("Key") or ""
        prefix = f"/{family}/{key}" if family and key else f"/{family}" if family else ""
        # db.c's query: key || '/' LIKE prefix || '/' || '%', a whole-component prefix.
        everything = sorted((f"/{fam}/{k}", value) for (fam, k), value in self.ast.astdb.items())
        entries = [(full, v) for full, v in everything if f"{full}/".startswith(f"{prefix}/")]
        session.reply(action, fields=[("EventList", "start"), ("Message", "Result will follow")])
        aid: Fields = [("ActionID", action.action_id)] if action.action_id else []
        for full, value in entries:
            session.write(
                encode([("Event", "DBGetTreeResponse"), ("Key", full), ("Val", value), *aid])
            )
        session.write(
            encode(
                [
                    ("Event", "DBGetTreeComplete"),
                    *aid,
                    ("EventList", "Complete"),
                    ("ListItems", str(len(entries))),
                ]
            )
        )

    def status(self, session: Session, action: Message) -> None:
        name = action.get("Channel")
        if name:
            ch = self.ast.find_channel(name)
            if ch is None:
                session.error(action, "No such channel")
                return
            channels = [ch]
        else:
            channels = sorted(self.ast.channels.values(), key=lambda c: c.name)
        session.reply(
            action, fields=[("EventList", "start"), ("Message", "Channel status will follow")]
        )
        wanted = [v for v in (action.get("Variables") or "").split(",") if v]
        aid = action.action_id or ""
        for ch in channels:
            fmt = "slin" if ch.name.startswith("Local/") else "ulaw"
            headers: Fields = [("Event", "Status"), ("Privilege", "Call"), *ch.fields()]
            headers += [
                ("Type", ch.name.split("/", 1)[0]),
                ("DNID", ""),
                ("EffectiveConnectedLineNum", ch.connected_num),
                ("EffectiveConnectedLineName", ch.connected_name),
                ("TimeToHangup", "0"),
                ("BridgeID", ch.bridge_id),
                ("Application", ch.app),
                ("Data", ch.appdata),
                # A Local channel carries signed linear (04a: "(slin)"); a trunk leg its codec.
                ("Nativeformats", f"({fmt})"),
                ("Readformat", fmt),
                ("Readtrans", ""),
                ("Writeformat", fmt),
                ("Writetrans", ""),
                ("Callgroup", "0"),
                ("Pickupgroup", "0"),
                ("Seconds", str(int(self.ast.clock.now() - ch.created_at))),
            ]
            headers += [("Variable", f"{v}={ch.lookup(v)}") for v in wanted]
            headers.append(("ActionID", aid))
            session.write(encode(headers))
        session.write(
            encode(
                [
                    ("Event", "StatusComplete"),
                    ("ActionID", aid),
                    ("EventList", "Complete"),
                    ("ListItems", str(len(channels))),
                    ("Items", str(len(channels))),
                ]
            )
        )

    # Queues ----------------------------------------------------------------------------------
    def queue_add(self, session: Session, action: Message) -> None:
        queue = self.ast.queues.get(action.get("Queue") or "")
        interface = action.get("Interface") or ""
        if queue is None:
            session.error(action, "Unable to add interface to queue: No such queue")
            return
        if interface in queue.members:
            session.error(action, "Unable to add interface: Already there")
            return
        state_interface = action.get("StateInterface") or interface
        paused = (action.get("Paused") or "").lower() in ("true", "yes", "1")
        now = int(self.ast.clock.now())
        state = self.ast.device_states.get(state_interface, "NOT_INUSE")
        member = Member(
            queue=queue.name,
            interface=interface,
            name=action.get("MemberName") or interface,
            state_interface=state_interface,
            # app_queue: a penalty that does not scan as a number, or is negative, is 0.
            penalty=max(0, scan_int(action.get("Penalty") or "0") or 0),
            paused=paused,
            paused_reason=(action.get("Reason") or "") if paused else "",
            last_pause=now if paused else 0,
            login_time=now,
            status=DEVICE_STATUS.get(state, 1),
        )
        queue.members[interface] = member
        session.reply(action, fields=[("Message", "Added interface to queue")])
        self.ast.device_state_change(
            f"Queue:{queue.name}_pause_{interface}", "INUSE" if paused else "NOT_INUSE"
        )
        self.ast.member_fields_event("QueueMemberAdded", member)
        self._queue_avail(queue.name)

    def _queue_avail(self, name: str) -> None:
        self.ast.queue_availability(name)

    def queue_remove(self, session: Session, action: Message) -> None:
        queue = self.ast.queues.get(action.get("Queue") or "")
        interface = action.get("Interface") or ""
        if queue is None or interface not in queue.members:
            session.error(action, "Unable to remove interface: Not there")
            return
        member = queue.members.pop(interface)
        session.reply(action, fields=[("Message", "Removed interface from queue")])
        self.ast.member_fields_event("QueueMemberRemoved", member)
        if member.paused:
            self.ast.device_state_change(f"Queue:{queue.name}_pause_{interface}", "NOT_INUSE")
        else:
            self._queue_avail(queue.name)

    def queue_pause(self, session: Session, action: Message) -> None:
        interface = action.get("Interface") or ""
        paused = (action.get("Paused") or "").lower() in ("true", "yes", "1")
        names = [action.get("Queue")] if action.get("Queue") else list(self.ast.queues)
        members = [
            self.ast.queues[n].members[interface]
            for n in names
            if n in self.ast.queues and interface in self.ast.queues[n].members
        ]
        if not members:
            session.error(action, "Interface not found")
            return
        session.reply(
            action,
            fields=[("Message", f"Interface {'paused' if paused else 'unpaused'} successfully")],
        )
        for member in members:
            member.paused = paused
            member.paused_reason = (action.get("Reason") or "") if paused else ""
            if paused:
                member.last_pause = int(self.ast.clock.now())
            self.ast.device_state_change(
                f"Queue:{member.queue}_pause_{interface}", "INUSE" if paused else "NOT_INUSE"
            )
            self._queue_avail(member.queue)
            self.ast.member_fields_event("QueueMemberPause", member)

    def queue_status(self, session: Session, action: Message) -> None:
        aid = action.action_id or ""
        session.reply(
            action, fields=[("EventList", "start"), ("Message", "Queue status will follow")]
        )
        wanted = action.get("Queue")
        items = 0
        for queue in self.ast.queues.values():
            if wanted and queue.name != wanted:
                continue
            session.write(
                encode([("Event", "QueueParams"), *queue.params_fields(), ("ActionID", aid)])
            )
            items += 1
            for member in queue.members.values():
                session.write(
                    encode([("Event", "QueueMember"), *member.status_fields(), ("ActionID", aid)])
                )
                items += 1
            for pos, caller in enumerate(queue.callers, 1):
                ch = caller.channel
                session.write(
                    encode(
                        [
                            ("Event", "QueueEntry"),
                            ("Queue", queue.name),
                            ("Position", str(pos)),
                            ("Channel", ch.name),
                            ("Uniqueid", ch.uniqueid),
                            ("CallerIDNum", ch.caller_num),
                            ("CallerIDName", ch.caller_name),
                            ("ConnectedLineNum", ch.connected_num),
                            ("ConnectedLineName", ch.connected_name),
                            ("Wait", str(int(self.ast.clock.now() - caller.joined_at))),
                            ("Priority", "0"),
                            ("ActionID", aid),
                        ]
                    )
                )
                items += 1
        session.write(
            encode(
                [
                    ("Event", "QueueStatusComplete"),
                    ("ActionID", aid),
                    ("EventList", "Complete"),
                    ("ListItems", str(items)),
                ]
            )
        )

    def queue_summary(self, session: Session, action: Message) -> None:
        aid = action.action_id or ""
        session.reply(
            action, fields=[("EventList", "start"), ("Message", "Queue summary will follow")]
        )
        wanted = action.get("Queue")
        items = 0
        for queue in self.ast.queues.values():
            if wanted and queue.name != wanted:
                continue
            now = self.ast.clock.now()
            longest = max((int(now - c.joined_at) for c in queue.callers), default=0)
            avail = sum(1 for m in queue.members.values() if m.available)
            hold = round(queue.holdtime_total / queue.completed) if queue.completed else 0
            talk = round(queue.talktime_total / queue.completed) if queue.completed else 0
            session.write(
                encode(
                    [
                        ("Event", "QueueSummary"),
                        ("Queue", queue.name),
                        ("LoggedIn", str(len(queue.members))),
                        ("Available", str(avail)),
                        ("Callers", str(len(queue.callers))),
                        ("HoldTime", str(hold)),
                        ("TalkTime", str(talk)),
                        ("LongestHoldTime", str(longest)),
                        ("ActionID", aid),
                    ]
                )
            )
            items += 1
        session.write(
            encode(
                [
                    ("Event", "QueueSummaryComplete"),
                    ("ActionID", aid),
                    ("EventList", "Complete"),
                    ("ListItems", str(items)),
                ]
            )
        )

    # Misc ------------------------------------------------------------------------------------
    def _version_line(self) -> str:
        # The shape of 04b's line; the build host and date are the simulator's own.
        built = dt.datetime.fromtimestamp(self.ast.started_at, dt.UTC)
        return (
            "Asterisk 22.10.1 built by root @ sim on a x86_64 running Linux on "
            f"{built:%Y-%m-%d %H:%M:%S} UTC"
        )

    def command(self, session: Session, action: Message) -> None:
        cmd = (action.get("Command") or "").strip()
        if not cmd:
            session.error(action, "No command provided")  # manager.c action_command()
            return
        if cmd == "core show version":
            session.reply(
                action,
                fields=[
                    ("Message", "Command output follows"),
                    ("Output", self._version_line()),
                ],
            )
            return
        if cmd.startswith("queue show"):
            name = cmd[len("queue show") :].strip()
            out: Fields = [("Message", "Command output follows")]
            for queue in self.ast.queues.values():
                if name and queue.name != name:
                    continue
                out.extend(("Output", line) for line in queue_show(queue, self.ast.clock.now()))
            session.reply(action, fields=out)
            return
        session.reply(
            action,
            "Error",
            [
                ("Message", "Command output follows"),
                (
                    "Output",
                    f"No such command '{cmd}' (type 'core show help "
                    f"{' '.join(cmd.split()[:2])}' for other possible commands)",
                ),
            ],
        )

    def user_event(self, session: Session, action: Message) -> None:
        name = action.get("UserEvent") or ""
        session.reply(action, fields=[("Message", "Event Sent")])
        # The event copies every header of the action, ActionID included (transcript 04b).
        extra = [(k, v) for k, v in action.headers if k.lower() not in ("action", "userevent")]
        self.ast.emit("UserEvent", "user,all", [("UserEvent", name), *extra])

    def core_settings(self, session: Session, action: Message) -> None:
        session.reply(
            action,
            fields=[
                ("AMIversion", "11.0.0"),
                ("AsteriskVersion", "22.10.1"),
                ("SystemName", ""),
                ("CoreMaxCalls", "0"),
                ("CoreMaxLoadAvg", "0.000000"),
                ("CoreRunUser", ""),
                ("CoreRunGroup", ""),
                ("CoreMaxFilehandles", "0"),
                ("CoreRealTimeEnabled", "No"),
                ("CoreCDRenabled", "No"),
                ("CoreHTTPenabled", "No"),
                ("SoundsSearchCustomDir", "No"),
            ],
        )

    def extension_state(self, session: Session, action: Message) -> None:
        # No hints in the simulated dialplans: Asterisk then says -1 / Unknown (04b).
        session.reply(
            action,
            fields=[
                ("Message", "Extension Status"),
                ("Exten", action.get("Exten") or ""),
                ("Context", action.get("Context") or ""),
                ("Hint", ""),
                ("Status", "-1"),
                ("StatusText", "Unknown"),
            ],
        )

    def device_state_list(self, session: Session, action: Message) -> None:
        aid = action.action_id or ""
        session.reply(
            action, fields=[("EventList", "start"), ("Message", "Device State Changes will follow")]
        )
        states = [(d, s) for d, s in self.ast.device_states.items() if not d.startswith("Local/")]
        for device, state in states:
            session.write(
                encode(
                    [
                        ("Event", "DeviceStateChange"),
                        ("ActionID", aid),
                        ("Device", device),
                        ("State", state),
                    ]
                )
            )
        session.write(
            encode(
                [
                    ("Event", "DeviceStateListComplete"),
                    ("ActionID", aid),
                    ("EventList", "Complete"),
                    ("ListItems", str(len(states))),
                ]
            )
        )

    def core_status(self, session: Session, action: Message) -> None:
        started = dt.datetime.fromtimestamp(self.ast.started_at, dt.UTC)
        session.reply(
            action,
            fields=[
                ("CoreStartupDate", started.strftime("%Y-%m-%d")),
                ("CoreStartupTime", started.strftime("%H:%M:%S")),
                ("CoreReloadDate", started.strftime("%Y-%m-%d")),
                ("CoreReloadTime", started.strftime("%H:%M:%S")),
                (
                    "CoreCurrentCalls",
                    str(sum(1 for c in self.ast.channels.values() if c.name.endswith(";1"))),
                ),
                ("CoreProcessedCalls", str(self.ast.originates)),
            ],
        )
